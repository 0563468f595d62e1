// JSON form of a plan. Seccomp argument values are 64-bit BigInts in memory; in JSON they are
// "0x..." strings (JSON numbers lose precision above 2^53). planFromJson restores them.

import { QemuJailError } from "../errors.js";
import type { JailPlan } from "./types.js";

/** The plan as JSON text (stable: same plan, same bytes). */
export function planToJson(plan: JailPlan, space = 2): string {
  return JSON.stringify(plan, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v), space);
}

/** Parses a plan written by planToJson (e.g. for `audit diff`). */
export function planFromJson(text: string, source = "<plan>"): JailPlan {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new QemuJailError("PLAN_JSON_INVALID", `${source} is not JSON`, {
      exit: "usage",
      location: { file: source },
      hint: "pass the output of `qemu-jail plan vm.toml --json`",
      cause: e,
    });
  }
  const plan = raw as JailPlan;
  if (!plan || typeof plan !== "object" || plan.version !== 1 || !Array.isArray(plan.processes)) {
    throw new QemuJailError("PLAN_JSON_INVALID", `${source} is not a qemu-jail plan (version 1)`, {
      exit: "usage",
      location: { file: source },
      hint: "pass the output of `qemu-jail plan vm.toml --json`",
    });
  }
  for (const p of plan.processes) {
    for (const r of p.seccomp?.rules ?? []) {
      for (const a of r.args ?? []) {
        a.value = BigInt(a.value as unknown as string);
        if (a.mask !== undefined) a.mask = BigInt(a.mask as unknown as string);
      }
    }
  }
  return plan;
}
