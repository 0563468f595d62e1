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
import { qemuArgv } from "../qemu/argv.js";
import type { FragmentSet } from "../seccomp/types.js";
import { argvContext } from "./argv.js";
import { allocateIds, type IdBlock } from "./ids.js";
import { decideLsm } from "./lsm.js";
import { buildProcess, qemuLimits, vmCgroupName } from "./process.js";
import type { JailPlan, ProcessPlan } from "./types.js";

export { vmCgroupName };

/** Options of `plan`. */
export interface PlanOptions {
  /** Use this id block base instead of the one derived from the VM name (collision handling). */
  idBase?: number;
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
