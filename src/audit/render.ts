// The plan for people: every process with its uid, namespaces, cgroup and limits, root manifest,
// device nodes, fds, rlimits, capabilities, seccomp rules with provenance and LSM settings, each
// entry with the config item that needs it. Warnings come first and loud.

import type { JailPlan, ProcessPlan } from "../plan/types.js";
import { shellLine } from "../qemu/quote.js";
import { actionToString } from "../seccomp/actions.js";
import { bytes, deviceText, fdText, needText, rlimitText, rootText, ruleText } from "./describe.js";

/** Rendering options. */
export interface RenderOptions {
  /** List every seccomp rule with its provenance (default true); false: counts per fragment. */
  rules?: boolean;
}

function nsText(p: ProcessPlan): string {
  const ns = p.namespaces;
  const fresh = (["mount", "pid", "ipc", "uts", "cgroup"] as const).filter((k) => ns[k]);
  const why = ns.netNeed ? ` [${needText(ns.netNeed)}]` : "";
  const net =
    ns.net === "new"
      ? "new (empty)"
      : `${ns.net === "host" ? "HOST's network stack" : `join ${ns.net.join}`}${why}`;
  const user = ns.user ? `uid map ${ns.user.uidMap.map((m) => m.join(" ")).join(", ")}` : "none";
  return `new ${fresh.join(", ")}; net: ${net}; user ns: ${user}`;
}

function cgroupText(p: ProcessPlan): string {
  const c = p.cgroup;
  const parts = [c.path];
  if (c.memoryMax !== undefined) parts.push(`memory.max ${bytes(c.memoryMax)}`);
  if (c.pidsMax !== undefined) parts.push(`pids.max ${c.pidsMax}`);
  if (c.cpuWeight !== undefined) parts.push(`cpu.weight ${c.cpuWeight}`);
  if (c.cpuMax) parts.push(`cpu.max ${c.cpuMax.quotaUs}/${c.cpuMax.periodUs}us`);
  if (c.ioWeight !== undefined) parts.push(`io.weight ${c.ioWeight}`);
  return parts.join("  ");
}

function processText(p: ProcessPlan, opts: RenderOptions): string[] {
  const out: string[] = [];
  const w = (s: string) => out.push(s);
  w(
    `== ${p.id} (${p.role})  uid ${p.uid} gid ${p.gid}${p.groups.length ? ` groups ${p.groups.join(",")}` : ""}${p.after.length ? `  starts after: ${p.after.join(", ")}` : ""}`,
  );
  w(`  exe          ${p.exe}`);
  w(`  argv         ${shellLine(p.argv)}`);
  w(
    `  env          ${
      Object.keys(p.env).length
        ? Object.entries(p.env)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")
        : "(empty)"
    }   cwd ${p.cwd}   hostname ${p.hostname}`,
  );
  w(`  namespaces   ${nsText(p)}`);
  w(`  cgroup       ${cgroupText(p)}`);
  for (const d of p.cgroup.devices) w(`    device allow ${d.rule}    [${needText(d.need)}]`);
  w(`  capabilities ${p.capabilities.length ? "" : "none"}`);
  for (const c of p.capabilities) w(`    ${c.name}    [${needText(c.need)}]`);
  w("  rlimits");
  for (const r of p.rlimits)
    w(`    ${r.resource.padEnd(8)} ${rlimitText(r).padEnd(12)} [${needText(r.need)}]`);
  w(`  root (${p.root.length} entries; everything else absent; read-only unless rw)`);
  for (const e of p.root) w(`    ${rootText(e)}    [${needText(e.need)}]`);
  w(`  devices (${p.devices.length})`);
  for (const d of p.devices) w(`    ${deviceText(d)}    [${needText(d.need)}]`);
  w(`  fds (${p.fds.length}; opened by the launcher, passed at these numbers)`);
  for (const f of p.fds) w(`    ${fdText(f)}    [${needText(f.need)}]`);
  const s = p.seccomp;
  w(
    `  seccomp      ${s.rules.length} rules, default ${actionToString(s.defaultAction)}, arch ${s.arch}, fragments ${s.fragments.join(", ")}`,
  );
  if (opts.rules !== false) {
    for (const r of s.rules) {
      const prov = r.provenance
        .map((v) => `${v.fragment}${v.need ? ` (${v.need})` : ""}: ${v.why}`)
        .join("; ");
      w(`    ${ruleText(r)}    [${prov}]`);
    }
  }
  const l = p.lsm;
  if (l.selinux) w(`  selinux      process ${l.selinux.processLabel}  images ${l.selinux.imageLabel}`);
  if (l.apparmor)
    w(`  apparmor     profile ${l.apparmor.profileName} (${l.apparmor.profile.split("\n").length} lines)`);
  if (l.landlock)
    w(
      `  landlock     ${l.landlock.rules.length} rules (${l.landlock.required ? "required" : "best effort"})`,
    );
  if (!l.selinux && !l.apparmor && !l.landlock) w("  lsm          none");
  return out;
}

/** The whole plan as text for people. */
export function renderPlan(plan: JailPlan, opts: RenderOptions = {}): string {
  const out: string[] = [];
  const w = (s: string) => out.push(s);
  w(
    `VM ${plan.vm.name}  uuid ${plan.vm.uuid}  guest ${plan.vm.arch}${plan.vm.source ? `  from ${plan.vm.source}` : ""}`,
  );
  if (plan.warnings.length) {
    w("");
    w(`!!! ${plan.warnings.length} WARNING(S): parts of this jail were not derived or are weaker than usual`);
    for (const x of plan.warnings) w(`!!! ${x.code} [${x.item}] ${x.message}`);
  }
  w("");
  w(`state dir    ${plan.stateDir}`);
  w(`cgroup       ${plan.cgroup.parent ?? "<launcher's own cgroup>"}/${plan.cgroup.path}`);
  w(
    `ids          ${plan.ids.base}..${plan.ids.base + plan.ids.count - 1}${plan.ids.auto ? " (auto, from the VM name)" : ""}`,
  );
  w(`qmp          ${plan.qmp.path}`);
  w(`start order  ${plan.processes.map((p) => p.id).join(" -> ")}`);
  for (const t of plan.taps)
    w(
      `tap          ${t.name}${t.netns ? ` in netns ${t.netns}` : ""}${t.bridge ? ` on ${t.bridge}` : ""} owner ${t.owner.uid}:${t.owner.gid}    [${needText(t.need)}]`,
    );
  for (const o of plan.ownership)
    w(`chown        ${o.path} -> ${o.uid}:${o.gid} (restored after)    [${needText(o.need)}]`);
  for (const p of plan.processes) {
    w("");
    out.push(...processText(p, opts));
  }
  return `${out.join("\n")}\n`;
}

/** A few figures per process (the demo's closing summary and `plan --summary`). */
export function summarizePlan(plan: JailPlan): string {
  const lines = plan.processes.map(
    (p) =>
      `${p.id}: uid ${p.uid}, ${p.root.length} paths, ${p.devices.length} devices, ${p.fds.length} fds, ${p.seccomp.rules.length} seccomp rules, net ${typeof p.namespaces.net === "string" ? p.namespaces.net : "join"}, cgroup ${p.cgroup.path}`,
  );
  const warn = plan.warnings.map((x) => `WARNING ${x.code} [${x.item}] ${x.message}`);
  return `${[...warn, ...lines].join("\n")}\n`;
}
