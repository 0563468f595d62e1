// Semantic diff of two plans: what a config change (or a host or policy change) does to each
// jail. Compares processes by id and, within a process, entries by identity (a root path, a
// device path, what an fd is, a syscall rule), not by position, so renumbering is not noise.

import type { JailPlan, Need, ProcessPlan } from "../plan/types.js";
import { actionToString } from "../seccomp/actions.js";
import { argsKey } from "../seccomp/compose.js";
import { bytes, deviceText, fdSourceText, needText, rlimitText, rootText, ruleText } from "./describe.js";

/** One difference inside a process (or the plan, with process "*"). */
export interface Change {
  process: string;
  area:
    | "process"
    | "argv"
    | "uid"
    | "namespaces"
    | "cgroup"
    | "capabilities"
    | "rlimits"
    | "root"
    | "devices"
    | "fds"
    | "syscalls"
    | "lsm"
    | "warnings"
    | "ownership"
    | "taps";
  kind: "added" | "removed" | "changed";
  what: string;
  from?: string;
  to?: string;
  need?: Need;
}

/** All differences, in a stable order (plan-level, then per process in b's start order). */
export interface PlanDiff {
  changes: Change[];
}

type Keyed = { key: string; text: string; need?: Need };

function setDiff(process: string, area: Change["area"], a: Keyed[], b: Keyed[], out: Change[]): void {
  const am = new Map(a.map((x) => [x.key, x]));
  const bm = new Map(b.map((x) => [x.key, x]));
  for (const x of a) {
    const y = bm.get(x.key);
    if (!y) out.push({ process, area, kind: "removed", what: x.text, ...(x.need ? { need: x.need } : {}) });
    else if (y.text !== x.text)
      out.push({
        process,
        area,
        kind: "changed",
        what: x.key,
        from: x.text,
        to: y.text,
        ...(y.need ? { need: y.need } : {}),
      });
  }
  for (const y of b)
    if (!am.has(y.key))
      out.push({ process, area, kind: "added", what: y.text, ...(y.need ? { need: y.need } : {}) });
}

function value(
  process: string,
  area: Change["area"],
  what: string,
  a: string,
  b: string,
  out: Change[],
): void {
  if (a !== b) out.push({ process, area, kind: "changed", what, from: a, to: b });
}

function processDiff(a: ProcessPlan, b: ProcessPlan, out: Change[]): void {
  const id = b.id;
  value(id, "argv", "argv", a.argv.join(" "), b.argv.join(" "), out);
  value(id, "uid", "uid:gid", `${a.uid}:${a.gid}`, `${b.uid}:${b.gid}`, out);
  value(id, "namespaces", "namespaces", JSON.stringify(a.namespaces), JSON.stringify(b.namespaces), out);
  const lim = (p: ProcessPlan) => ({
    "memory.max": p.cgroup.memoryMax === undefined ? "none" : bytes(p.cgroup.memoryMax),
    "pids.max": String(p.cgroup.pidsMax ?? "none"),
    "cpu.weight": String(p.cgroup.cpuWeight ?? "none"),
    "cpu.max": p.cgroup.cpuMax ? `${p.cgroup.cpuMax.quotaUs}/${p.cgroup.cpuMax.periodUs}` : "none",
    "io.weight": String(p.cgroup.ioWeight ?? "none"),
    path: p.cgroup.path,
  });
  const la = lim(a);
  const lb = lim(b);
  for (const k of Object.keys(lb) as Array<keyof typeof lb>) value(id, "cgroup", k, la[k], lb[k], out);
  setDiff(
    id,
    "cgroup",
    a.cgroup.devices.map((d) => ({ key: `dev ${d.rule}`, text: `device allow ${d.rule}`, need: d.need })),
    b.cgroup.devices.map((d) => ({ key: `dev ${d.rule}`, text: `device allow ${d.rule}`, need: d.need })),
    out,
  );
  const caps = (p: ProcessPlan) => p.capabilities.map((c) => ({ key: c.name, text: c.name, need: c.need }));
  setDiff(id, "capabilities", caps(a), caps(b), out);
  const rl = (p: ProcessPlan) =>
    p.rlimits.map((r) => ({ key: r.resource, text: `${r.resource} ${rlimitText(r)}`, need: r.need }));
  setDiff(id, "rlimits", rl(a), rl(b), out);
  const root = (p: ProcessPlan) => p.root.map((e) => ({ key: e.path, text: rootText(e), need: e.need }));
  setDiff(id, "root", root(a), root(b), out);
  const dev = (p: ProcessPlan) => p.devices.map((d) => ({ key: d.path, text: deviceText(d), need: d.need }));
  setDiff(id, "devices", dev(a), dev(b), out);
  const fds = (p: ProcessPlan) =>
    p.fds.map((f) => ({ key: fdSourceText(f.source), text: fdSourceText(f.source), need: f.need }));
  setDiff(id, "fds", fds(a), fds(b), out);
  const rules = (p: ProcessPlan) =>
    p.seccomp.rules.map((r) => ({
      key: `${r.syscall}|${argsKey(r.args)}`,
      text: ruleText(r),
      need: r.provenance[0]
        ? { item: r.provenance[0].need ?? r.provenance[0].fragment, reason: r.provenance[0].why }
        : undefined,
    }));
  setDiff(id, "syscalls", rules(a), rules(b), out);
  value(id, "syscalls", "fragments", a.seccomp.fragments.join(", "), b.seccomp.fragments.join(", "), out);
  value(
    id,
    "syscalls",
    "default action",
    actionToString(a.seccomp.defaultAction),
    actionToString(b.seccomp.defaultAction),
    out,
  );
  const lsm = (p: ProcessPlan) =>
    [
      p.lsm.selinux ? { key: "selinux", text: `selinux ${p.lsm.selinux.processLabel}` } : undefined,
      p.lsm.apparmor ? { key: "apparmor", text: `apparmor ${p.lsm.apparmor.profileName}` } : undefined,
      p.lsm.landlock
        ? { key: "landlock", text: `landlock ${p.lsm.landlock.required ? "required" : "best effort"}` }
        : undefined,
    ].filter((x): x is Keyed => x !== undefined);
  setDiff(id, "lsm", lsm(a), lsm(b), out);
}

/** The semantic differences from plan `a` to plan `b`. */
export function diffPlans(a: JailPlan, b: JailPlan): PlanDiff {
  const out: Change[] = [];
  const w = (p: JailPlan) =>
    p.warnings.map((x) => ({ key: `${x.code}|${x.item}`, text: `${x.code} [${x.item}] ${x.message}` }));
  setDiff("*", "warnings", w(a), w(b), out);
  const own = (p: JailPlan) =>
    p.ownership.map((o) => ({ key: o.path, text: `${o.path} -> ${o.uid}:${o.gid}`, need: o.need }));
  setDiff("*", "ownership", own(a), own(b), out);
  const taps = (p: JailPlan) =>
    p.taps.map((t) => ({ key: t.name, text: `${t.name}${t.netns ? ` in ${t.netns}` : ""}`, need: t.need }));
  setDiff("*", "taps", taps(a), taps(b), out);
  const am = new Map(a.processes.map((p) => [p.id, p]));
  const bm = new Map(b.processes.map((p) => [p.id, p]));
  for (const p of a.processes)
    if (!bm.has(p.id))
      out.push({ process: p.id, area: "process", kind: "removed", what: `${p.id} (${p.role})` });
  for (const p of b.processes) {
    const q = am.get(p.id);
    if (!q)
      out.push({
        process: p.id,
        area: "process",
        kind: "added",
        what: `${p.id} (${p.role}), uid ${p.uid}, ${p.root.length} paths, ${p.seccomp.rules.length} rules`,
      });
    else processDiff(q, p, out);
  }
  return { changes: out };
}

/** The diff as text: "+" added, "-" removed, "~" changed, grouped per process. */
export function renderDiff(d: PlanDiff): string {
  if (d.changes.length === 0) return "no differences\n";
  const out: string[] = [];
  let last = "";
  for (const c of d.changes) {
    if (c.process !== last) {
      out.push(c.process === "*" ? "== plan" : `== ${c.process}`);
      last = c.process;
    }
    const mark = c.kind === "added" ? "+" : c.kind === "removed" ? "-" : "~";
    const body = c.kind === "changed" ? `${c.what}: ${c.from} => ${c.to}` : c.what;
    out.push(`  ${mark} ${c.area.padEnd(12)} ${body}${c.need ? `    [${needText(c.need)}]` : ""}`);
  }
  return `${out.join("\n")}\n`;
}
