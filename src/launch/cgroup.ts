// cgroups for a VM: one cgroup per VM below the launcher's own cgroup (or jail.cgroup.parent), a
// leaf per jailed process, with its limits, on v2, v1 and hybrid hosts. `planCgroupOps` is pure;
// `createVmCgroups` performs it and returns the dirs each process joins (the native helper writes
// the pid into each dir's cgroup.procs) plus an undo.

import type { CgroupFacts } from "../host/types.js";
import { type ApplyCgroupOptions, applyCgroupOps, type VmCgroups } from "./cgroup/apply.js";
import { planCgroupOps, type VmCgroupRequest } from "./cgroup/ops.js";

export type { ApplyCgroupOptions, VmCgroups } from "./cgroup/apply.js";
export { applyCgroupOps } from "./cgroup/apply.js";
export {
  controllersFor,
  cpuWeightToShares,
  ioWeightToBlkio,
  type LimitWrite,
  limitWrites,
  sharesToCpuWeight,
} from "./cgroup/limits.js";
export {
  type CgroupOp,
  type CgroupOps,
  type CgroupWarning,
  planCgroupOps,
  type VmCgroupRequest,
} from "./cgroup/ops.js";

/** Creates the VM's cgroup tree with limits; on failure nothing is left behind. */
export async function createVmCgroups(
  facts: CgroupFacts,
  req: VmCgroupRequest,
  opts?: ApplyCgroupOptions,
): Promise<VmCgroups> {
  return applyCgroupOps(planCgroupOps(facts, req), opts);
}
