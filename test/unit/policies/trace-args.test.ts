// Argument-level evidence check: every argument vector a trace recorded for a restricted syscall
// (ioctl request, socket domain/type, mmap/mprotect prot, clone flags, prctl option, fcntl cmd,
// futex op, madvise advice, seccomp op/flags...) must not hit the kill default of the policy
// composed for that scenario. strace's symbolic renderings are turned back into numbers with the
// generated constant tables.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { qemuFragments, SCENARIO_FRAGMENTS } from "../../../scripts/trace/fragments.js";
import { SCENARIOS } from "../../../scripts/trace/scenarios.js";
import { ARG_PICKS } from "../../../scripts/trace/summary.js";
import { constantValue } from "../../../src/seccomp/arch.js";
import { composePolicy, policyVerdict } from "../../../src/seccomp/compose.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";

const ROOT = join(import.meta.dirname, "../../..");
const set = loadFragments(join(ROOT, "policies"));

/**
 * Which argument positions the summary recorded, per syscall: the summariser's own table, plus
 * clone, whose flags it records through a special case (first argument).
 */
const POSITIONS: Record<string, number[]> = { ...ARG_PICKS, clone: [0] };

const IOC_DIR: Record<string, bigint> = { _IOC_NONE: 0n, _IOC_WRITE: 1n, _IOC_READ: 2n };

/** One symbolic token ("PROT_READ", "0x1f", "12", "FUTEX_WAIT_PRIVATE", "SIGUSR1") → value. */
function token(t: string): bigint | undefined {
  if (/^-?\d+$/.test(t)) return BigInt.asUintN(64, BigInt(t));
  if (/^0x[0-9a-f]+$/i.test(t)) return BigInt(t);
  const v = constantValue("x86_64", t);
  if (v !== undefined) return v;
  const priv = /^(FUTEX_[A-Z_]+)_PRIVATE$/.exec(t);
  if (priv) {
    const b = constantValue("x86_64", priv[1]!);
    return b === undefined ? undefined : b | 128n;
  }
  if (t === "IPPROTO_IP") return 0n;
  return undefined;
}

/** One rendered argument → candidate values (strace prints "A or B" for ambiguous ioctls). */
function values(text: string): bigint[] | undefined {
  const ioc = /^_IOC\((_IOC_[A-Z|_]+), (0x[0-9a-f]+), (0x[0-9a-f]+), (0x[0-9a-f]+)\)$/.exec(text);
  if (ioc) {
    const dir = ioc[1]!.split("|").reduce((a, d) => a | (IOC_DIR[d] ?? 0n), 0n);
    return [(dir << 30n) | (BigInt(ioc[4]!) << 16n) | (BigInt(ioc[2]!) << 8n) | BigInt(ioc[3]!)];
  }
  const out: bigint[] = [];
  for (const alt of text.split(" or ")) {
    let acc: bigint | undefined = 0n;
    for (const part of alt.split("|")) {
      const v = token(part.trim());
      acc = v === undefined || acc === undefined ? undefined : acc | v;
    }
    if (acc !== undefined) out.push(acc);
  }
  return out.length ? out : undefined;
}

describe("every argument vector in the traces passes its scenario's policy", () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))("%s", (_n, s) => {
    const fx = JSON.parse(readFileSync(join(ROOT, "test/fixtures/traces", `${s.name}.json`), "utf8")) as {
      processes: Record<string, { args: Record<string, Record<string, number>> }>;
    };
    const lists: Record<string, string[]> = {
      qemu: qemuFragments(s),
      ...SCENARIO_FRAGMENTS[s.name]!.backends,
    };
    let checked = 0;
    for (const [proc, trace] of Object.entries(fx.processes)) {
      const policy = composePolicy(
        set,
        lists[proc]!.map((fragment) => ({ fragment })),
        { arch: "x86_64", defaultAction: { kind: "kill_process" } },
      );
      for (const [sys, seen] of Object.entries(trace.args)) {
        const pos = POSITIONS[sys];
        if (!pos) continue;
        for (const rendering of Object.keys(seen)) {
          const parts = pos.length === 1 ? [rendering] : rendering.split(", ");
          const args: bigint[][] = [[0n, 0n, 0n, 0n, 0n, 0n]];
          pos.forEach((p, i) => {
            // Strings (thread names) and pointers stay 0: no rule conditions on them.
            const vs = values(parts[i] ?? "") ?? [0n];
            const next: bigint[][] = [];
            for (const a of args)
              for (const v of vs) {
                const b = [...a];
                b[p] = v;
                next.push(b);
              }
            args.splice(0, args.length, ...next);
          });
          const verdicts = args.map((a) => policyVerdict(policy, sys, a).kind);
          expect(
            verdicts.some((k) => k !== "kill_process"),
            `${s.name}/${proc}: ${sys}(${rendering}) would be killed`,
          ).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10);
  });
});
