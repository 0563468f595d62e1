// plan(config, host, fragments): the whole jail of every process of a VM, as plain data. PURE:
// no filesystem, clock or randomness; the same inputs give a byte-identical plan.
//
// Phases: resolve the accelerator and the LSM → order the backends and allocate the VM's id
// block → run the device catalogue → refuse items whose fragment is missing → build each
// backend's process, then QEMU's (last, after the backends).

import type { VmConfig } from "../config/types.js";
import { resolveAccel } from "../devices/accel.js";
import { qsdId } from "../devices/disk.js";
import { catalogue } from "../devices/index.js";
import { qmpPath } from "../devices/qmp.js";
import { virtiofsdId } from "../devices/share.js";
import type { BackendRequest, CatalogueContext, Contribution } from "../devices/types.js";
import { QemuJailError } from "../errors.js";
import type { HostFacts } from "../host/types.js";
import { apparmorProfile, landlockRules, selinuxLabels } from "../lsm/index.js";
import { qemuArgv } from "../qemu/argv.js";
import { seccompModeToAction } from "../seccomp/actions.js";
import { composePolicy } from "../seccomp/compose.js";
import type { FragmentSet } from "../seccomp/types.js";
import { argvContext } from "./argv.js";
import { allocateIds, type IdBlock } from "./ids.js";
import { decideLsm, type LsmDecision } from "./lsm.js";
import {
  mergeCaps,
  mergeDevices,
  mergeFragments,
  mergeLandlock,
  mergeRlimits,
  mergeRoot,
  numberFds,
} from "./merge.js";
import type { CgroupPlan, JailPlan, LsmPlan, Namespaces, ProcessPlan, RootEntry } from "./types.js";

/** Options of `plan`. */
export interface PlanOptions {
  /** Use this id block base instead of the one derived from the VM name (collision handling). */
  idBase?: number;
}

/** The VM's cgroup directory name. */
export function vmCgroupName(name: string): string {
  return `qemu-jail-${name}`;
}

/** Backend process ids in start order: one virtiofsd per share, then one storage daemon per vhost-user disk. */
export function backendIds(config: VmConfig): string[] {
  return [
    ...config.share.map((s) => virtiofsdId(s.id)),
    ...config.disk.filter((d) => d.backend === "vhost-user").map((d) => qsdId(d.id)),
  ];
}

/** Every fragment any contribution uses must exist: never a silently wider (or narrower) policy. */
function checkFragments(parts: Contribution[], set: FragmentSet): void {
  for (const c of parts) {
    for (const f of c.fragments ?? []) {
      if (!set.fragments.has(f.fragment)) {
        throw new QemuJailError(
          "POLICY_FRAGMENT_MISSING",
          `${f.need.item} needs policy fragment "${f.fragment}", which ${set.dir} does not have`,
          {
            exit: "policy",
            location: { key: f.need.item },
            hint: `${f.need.reason}: add policies/${f.fragment}.json (each rule with a why), or remove ${f.need.item} from the config`,
            detail: { item: f.need.item, fragment: f.fragment },
          },
        );
      }
    }
  }
}

function namespaces(config: VmConfig, uid: number, gid: number, hostNet: boolean): Namespaces {
  return {
    mount: true,
    pid: true,
    net: hostNet ? "host" : "new",
    ipc: true,
    uts: true,
    cgroup: true,
    user: config.jail.user_namespace ? { uidMap: [[uid, uid, 1]], gidMap: [[gid, gid, 1]] } : false,
  };
}

interface Built {
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

function buildProcess(
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
    namespaces: namespaces(config, uid, gid, hostNet !== undefined),
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

function qemuLimits(config: VmConfig): Built["cgroup"] {
  const c = config.jail.cgroup;
  return {
    ...(c.cpu_weight !== undefined ? { cpuWeight: c.cpu_weight } : {}),
    ...(c.cpu_max ? { cpuMax: { quotaUs: c.cpu_max.quota_us, periodUs: c.cpu_max.period_us } } : {}),
    memoryMax: c.memory_max ?? config.vm.memory + c.memory_overhead,
    pidsMax: c.pids_max,
    ...(c.io_weight !== undefined ? { ioWeight: c.io_weight } : {}),
  };
}

/** Plans every process of the VM `config` on `host`, with policies from `fragments`. */
export function plan(
  config: VmConfig,
  host: HostFacts,
  fragments: FragmentSet,
  opts: PlanOptions = {},
): JailPlan {
  const accel = resolveAccel(config.vm.accel, host, config.vm.arch);
  const lsm = decideLsm(config, host);
  const backends = backendIds(config);
  const ids: IdBlock = allocateIds(config, 1 + backends.length, opts.idBase);
  const stateDir = `${config.jail.state_dir}/${config.vm.name}`;
  const ctx: CatalogueContext = {
    config,
    host,
    accel: accel.accel,
    accelReason: accel.reason,
    ids: { uid: ids.uid, gid: ids.gid },
    backendIndex: Object.fromEntries(backends.map((id, i) => [id, i + 1])),
    stateDir,
    memfd: backends.length > 0,
  };
  const parts = catalogue.flatMap((k) => k.contribute(ctx));
  checkFragments(parts, fragments);

  const processes: ProcessPlan[] = [];
  for (const id of backends) {
    const mine = parts.filter((c) => c.target === id);
    const req = mine.find((c) => c.backend)?.backend as BackendRequest;
    const i = ctx.backendIndex[id]!;
    processes.push(
      buildProcess(
        {
          id,
          role: req.role,
          exe: req.exe,
          parts: mine,
          uid: ids.uid[i]!,
          gid: ids.gid[i]!,
          cgroup: {
            ...(req.limits.memoryMax !== undefined ? { memoryMax: req.limits.memoryMax } : {}),
            ...(req.limits.pidsMax !== undefined ? { pidsMax: req.limits.pidsMax } : {}),
          },
          argv: (f) => req.args(f.map),
          after: [],
        },
        config,
        host,
        fragments,
        lsm,
      ),
    );
  }
  const qemuParts = parts.filter((c) => c.target === "qemu");
  processes.push(
    buildProcess(
      {
        id: "qemu",
        role: "qemu",
        exe: host.qemu.path,
        parts: qemuParts,
        uid: ids.uid[0]!,
        gid: ids.gid[0]!,
        cgroup: qemuLimits(config),
        argv: (f) => qemuArgv(config, host, argvContext(qemuParts, f.fds, f.map, f.fdsets, stateDir)),
        after: backends,
      },
      config,
      host,
      fragments,
      lsm,
    ),
  );
  return {
    version: 1,
    vm: {
      name: config.vm.name,
      uuid: config.vm.uuid,
      arch: config.vm.arch,
      ...(config.source ? { source: config.source } : {}),
    },
    stateDir,
    cgroup: {
      ...(config.jail.cgroup.parent ? { parent: config.jail.cgroup.parent } : {}),
      path: vmCgroupName(config.vm.name),
    },
    ids: { base: ids.base, count: ids.count, auto: ids.auto },
    processes,
    taps: parts.flatMap((c) => c.taps ?? []),
    ownership: parts.flatMap((c) => c.ownership ?? []),
    qmp: { path: qmpPath(ctx) },
    warnings: [
      ...(config.vm.accel === "auto" && accel.accel === "tcg"
        ? [{ code: "ACCEL_TCG_FALLBACK", item: "vm.accel", message: accel.reason }]
        : []),
      ...parts.flatMap((c) => c.warnings ?? []),
    ],
  };
}
