// One process's jail from its contributions: merged root, device nodes and cgroup rules, numbered
// fds, rlimits, capabilities, namespaces, the composed seccomp policy and LSM settings (derived by
// src/lsm from the finished root, so they cover exactly what the process can see).

import type { VmConfig } from "../config/types.js";
import type { Contribution } from "../devices/types.js";
import type { HostFacts } from "../host/types.js";
import { apparmorProfile, landlockRules, selinuxLabels } from "../lsm/index.js";
import { seccompModeToAction } from "../seccomp/actions.js";
import { composePolicy } from "../seccomp/compose.js";
import type { FragmentSet } from "../seccomp/types.js";
import type { LsmDecision } from "./lsm.js";
import {
  mergeCaps,
  mergeDevices,
  mergeFragments,
  mergeLandlock,
  mergeRlimits,
  mergeRoot,
  numberFds,
} from "./merge.js";
import type { CgroupPlan, LsmPlan, Namespaces, Need, ProcessPlan, RootEntry } from "./types.js";

/** The VM's cgroup directory name. */
export function vmCgroupName(name: string): string {
  return `qemu-jail-${name}`;
}

function namespaces(config: VmConfig, uid: number, gid: number, hostNet: Need | undefined): Namespaces {
  return {
    mount: true,
    pid: true,
    net: hostNet ? "host" : "new",
    ...(hostNet ? { netNeed: hostNet } : {}),
    ipc: true,
    uts: true,
    cgroup: true,
    user: config.jail.user_namespace ? { uidMap: [[uid, uid, 1]], gidMap: [[gid, gid, 1]] } : false,
  };
}

/** What the planner knows about a process before merging its contributions. */
export interface Built {
  id: string;
  role: ProcessPlan["role"];
  exe: string;
  parts: Contribution[];
  uid: number;
  gid: number;
  cgroup: Omit<CgroupPlan, "devices" | "path">;
  argv: (map: ReturnType<typeof numberFds>) => string[];
  after: string[];
}

/** Builds one process's plan. */
export function buildProcess(
  b: Built,
  config: VmConfig,
  host: HostFacts,
  set: FragmentSet,
  lsm: LsmDecision,
): ProcessPlan {
  const { parts, uid, gid } = b;
  const root: RootEntry[] = mergeRoot(parts);
  const procNeed = parts.find((c) => c.proc)?.proc;
  if (procNeed) root.push({ kind: "proc", path: "/proc", need: procNeed });
  const dev = mergeDevices(parts, host, uid, gid);
  const fds = numberFds(parts);
  const hostNet = parts.find((c) => c.hostNet)?.hostNet;
  const uses = mergeFragments(parts);
  const seccomp = composePolicy(
    set,
    uses.map((u) => ({ fragment: u.fragment, need: u.need.item })),
    { arch: host.arch, defaultAction: seccompModeToAction(config.jail.seccomp) },
  );
  const proc: ProcessPlan = {
    id: b.id,
    role: b.role,
    exe: b.exe,
    argv: b.argv(fds),
    env: {},
    cwd: "/",
    uid,
    gid,
    groups: [],
    hostname: config.vm.name,
    namespaces: namespaces(config, uid, gid, hostNet),
    root,
    devices: dev.nodes,
    fds: fds.fds,
    rlimits: mergeRlimits(parts),
    capabilities: mergeCaps(parts),
    cgroup: { path: `${vmCgroupName(config.vm.name)}/${b.id}`, ...b.cgroup, devices: dev.rules },
    lsm: {},
    seccomp,
    after: b.after,
  };
  proc.lsm = lsmPlan(proc, parts, config, lsm);
  return proc;
}

/** The process's LSM settings, derived (by src/lsm) from its finished root, devices and fds. */
function lsmPlan(proc: ProcessPlan, parts: Contribution[], config: VmConfig, lsm: LsmDecision): LsmPlan {
  const out: LsmPlan = {};
  // Every process of the VM shares one MCS pair: they share its images.
  if (lsm.mac === "selinux") out.selinux = selinuxLabels(config.vm.name);
  if (lsm.mac === "apparmor") out.apparmor = apparmorProfile(proc, config.vm.name);
  if (lsm.landlock) {
    out.landlock = {
      required: lsm.landlock.required,
      rules: [...landlockRules(proc), ...mergeLandlock(parts)],
    };
  }
  return out;
}

/** QEMU's cgroup limits from the config (memory max default: guest RAM + overhead). */
export function qemuLimits(config: VmConfig): Built["cgroup"] {
  const c = config.jail.cgroup;
  return {
    ...(c.cpu_weight !== undefined ? { cpuWeight: c.cpu_weight } : {}),
    ...(c.cpu_max ? { cpuMax: { quotaUs: c.cpu_max.quota_us, periodUs: c.cpu_max.period_us } } : {}),
    memoryMax: c.memory_max ?? config.vm.memory + c.memory_overhead,
    pidsMax: c.pids_max,
    ...(c.io_weight !== undefined ? { ioWeight: c.io_weight } : {}),
  };
}
