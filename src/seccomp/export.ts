// Exports of a composed policy for other tools, each saying what it cannot express, and a
// text view of a policy with provenance for reviewers.

import { actionToString } from "./actions.js";
import { condKey } from "./compose.js";
import type { ArgCond, Policy, SeccompAction } from "./types.js";

const OCI_OPS: Record<ArgCond["op"], string> = {
  eq: "SCMP_CMP_EQ",
  ne: "SCMP_CMP_NE",
  lt: "SCMP_CMP_LT",
  le: "SCMP_CMP_LE",
  gt: "SCMP_CMP_GT",
  ge: "SCMP_CMP_GE",
  masked_eq: "SCMP_CMP_MASKED_EQ",
};

function ociAction(a: SeccompAction): { action: string; errnoRet?: number } {
  switch (a.kind) {
    case "allow":
      return { action: "SCMP_ACT_ALLOW" };
    case "kill_process":
      return { action: "SCMP_ACT_KILL_PROCESS" };
    case "kill_thread":
      return { action: "SCMP_ACT_KILL_THREAD" };
    case "trap":
      return { action: "SCMP_ACT_TRAP" };
    case "log":
      return { action: "SCMP_ACT_LOG" };
    case "user_notif":
      return { action: "SCMP_ACT_NOTIFY" };
    case "errno":
      return { action: "SCMP_ACT_ERRNO", errnoRet: a.errno };
  }
}

/** An OCI/Docker seccomp profile; values are written as exact 64-bit integers; `notes` lists what it cannot say. */
export function exportOci(policy: Policy): { json: string; notes: string[] } {
  const notes: string[] = [
    "the runtime (libseccomp) builds its own arch check and layout; qemu-jail's x32 handling and search tree are not carried over",
  ];
  const def = ociAction(policy.defaultAction);
  const entries: string[] = [];
  // Group unconditional rules with the same action into one entry.
  const groups = new Map<string, string[]>();
  const conditional: string[] = [];
  for (const r of policy.rules) {
    const act = ociAction(r.action);
    const why = [...new Set(r.provenance.map((p) => `${p.fragment}: ${p.why}`))].join("; ");
    if (r.args.length === 0) {
      const key = JSON.stringify(act);
      groups.set(key, [...(groups.get(key) ?? []), r.syscall]);
      continue;
    }
    const perArg = new Map<number, number>();
    for (const c of r.args) perArg.set(c.arg, (perArg.get(c.arg) ?? 0) + 1);
    if ([...perArg.values()].some((n) => n > 1))
      notes.push(
        `${r.syscall}: several conditions on one argument; libseccomp before 2.6 may refuse such a rule`,
      );
    const args = r.args.map((c) => {
      const [value, valueTwo] = c.op === "masked_eq" ? [c.mask ?? 0n, c.value] : [c.value, 0n];
      return `{"index":${c.arg},"value":${value},"valueTwo":${valueTwo},"op":"${OCI_OPS[c.op]}"}`;
    });
    conditional.push(
      `{"names":[${JSON.stringify(r.syscall)}],"action":"${act.action}"${act.errnoRet === undefined ? "" : `,"errnoRet":${act.errnoRet}`},"args":[${args.join(",")}],"comment":${JSON.stringify(why)}}`,
    );
  }
  for (const [key, names] of [...groups.entries()].sort()) {
    const act = JSON.parse(key) as { action: string; errnoRet?: number };
    entries.push(
      `{"names":${JSON.stringify(names)},"action":"${act.action}"${act.errnoRet === undefined ? "" : `,"errnoRet":${act.errnoRet}`}}`,
    );
  }
  entries.push(...conditional);
  if (policy.rules.some((r) => r.args.length > 0 && r.action.kind !== "allow"))
    notes.push(
      "rules of one syscall with different actions rely on libseccomp's precedence, which may differ from qemu-jail's (conditional rules first)",
    );
  const arch = policy.arch === "x86_64" ? "SCMP_ARCH_X86_64" : "SCMP_ARCH_AARCH64";
  const json = `{\n  "defaultAction": "${def.action}",${def.errnoRet === undefined ? "" : `\n  "defaultErrnoRet": ${def.errnoRet},`}\n  "architectures": ["${arch}"],\n  "syscalls": [\n    ${entries.join(",\n    ")}\n  ]\n}\n`;
  return { json, notes };
}

/** systemd unit lines (SystemCallFilter= etc.); argument conditions cannot be expressed there. */
export function exportSystemd(policy: Policy): { lines: string[]; notes: string[] } {
  const notes: string[] = [];
  const allow: string[] = [];
  const bySys = new Map<string, typeof policy.rules>();
  for (const r of policy.rules) bySys.set(r.syscall, [...(bySys.get(r.syscall) ?? []), r]);
  for (const [sys, rules] of bySys) {
    const uncond = rules.find((r) => r.args.length === 0);
    const cond = rules.filter((r) => r.args.length > 0);
    if (uncond && uncond.action.kind === "allow" && cond.length === 0) allow.push(sys);
    else if (uncond && uncond.action.kind === "allow")
      notes.push(
        `${sys}: allowed without its argument exceptions (${cond.map((r) => actionToString(r.action)).join(", ")}): systemd cannot express argument conditions`,
      );
    else if (cond.length)
      notes.push(
        `${sys}: OMITTED (denied): it is only allowed with argument conditions (${cond.map((r) => r.args.map(condKey).join("&")).join(" | ")}), which SystemCallFilter= cannot express`,
      );
    else if (uncond)
      notes.push(
        `${sys}: action ${actionToString(uncond.action)} not expressible per syscall; falls to the default`,
      );
  }
  const lines = ["SystemCallArchitectures=native", `SystemCallFilter=${allow.sort().join(" ")}`];
  const d = policy.defaultAction;
  if (d.kind === "errno") lines.push(`SystemCallErrorNumber=${d.errno}`);
  else if (d.kind === "log")
    notes.push("default action log: use SystemCallLog= instead; SystemCallFilter= denies");
  else if (d.kind !== "kill_process")
    notes.push(`default action ${actionToString(d)}: systemd kills the process instead`);
  notes.push(
    "systemd adds the syscalls its own exec path needs; x32 is refused by SystemCallArchitectures=native",
  );
  return { lines, notes };
}

/** A text view of a policy: each rule with its conditions and where it came from. */
export function renderPolicy(policy: Policy): string {
  const out = [
    `# seccomp policy for ${policy.arch}; default ${actionToString(policy.defaultAction)}`,
    `# fragments: ${policy.fragments.join(", ")}`,
  ];
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  for (const r of policy.rules) {
    const conds = r.args.map((c) =>
      c.op === "masked_eq"
        ? `(arg${c.arg} & ${hex(c.mask ?? 0n)}) == ${hex(c.value)}`
        : `arg${c.arg} ${c.op} ${hex(c.value)}`,
    );
    out.push(`${r.syscall} ${actionToString(r.action)}${conds.length ? ` if ${conds.join(" && ")}` : ""}`);
    for (const p of r.provenance) out.push(`    ${p.fragment}${p.need ? ` [${p.need}]` : ""}: ${p.why}`);
  }
  return `${out.join("\n")}\n`;
}
