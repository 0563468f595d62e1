// Neutral cgroup limits (CgroupPlan) → the files each cgroup version uses.
//
// Mapping (the same systemd uses, so a unit's CPUWeight=/IOWeight= and ours agree):
//   cpu weight 1..10000 (default 100)  v2 cpu.weight as is
//                                       v1 cpu.shares = round(weight * 1024 / 100), clamped 2..262144
//                                       (100 → 1024, the v1 default; 1 → 10; 10000 → 102400)
//   io weight 1..10000 (default 100)   v2 io.weight "default N"
//                                       v1 blkio.weight = weight * 5, clamped 10..1000 (100 → 500);
//                                       blkio.bfq.weight when only BFQ's file exists
//   cpu max quota/period µs            v2 cpu.max "QUOTA PERIOD"; v1 cpu.cfs_period_us then cpu.cfs_quota_us
//   memory max bytes                   v2 memory.max; v1 memory.limit_in_bytes
//   pids max                           pids.max on both
//   device rules "c 10:200 rwm"        v1 devices.deny "a" then one devices.allow per rule;
//                                       v2 has no file for them (a BPF_CGROUP_DEVICE program must be
//                                       attached): reported as not enforced, never faked.

import type { CgroupPlan } from "../../plan/types.js";

/** One limit to write: controller, file (first existing of `file` alternatives), value. */
export interface LimitWrite {
  controller: string;
  /** Alternatives, first existing wins (e.g. blkio.weight, blkio.bfq.weight). */
  files: string[];
  value: string;
  /** Hard limits fail the launch when they cannot be written; soft ones become warnings. */
  hard: boolean;
}

/** v1 cpu.shares for a cgroup v2 style cpu weight. */
export function cpuWeightToShares(weight: number): number {
  return Math.min(262144, Math.max(2, Math.round((weight * 1024) / 100)));
}

/** Inverse of cpuWeightToShares (up to rounding), for reading limits back. */
export function sharesToCpuWeight(shares: number): number {
  return Math.min(10000, Math.max(1, Math.round((shares * 100) / 1024)));
}

/** v1 blkio.weight for a cgroup v2 style io weight. */
export function ioWeightToBlkio(weight: number): number {
  return Math.min(1000, Math.max(10, Math.round(weight * 5)));
}

/** The controllers a plan's limits need (devices only on v1: v2 has no devices controller file). */
export function controllersFor(p: CgroupPlan): string[] {
  const c: string[] = [];
  if (p.memoryMax !== undefined) c.push("memory");
  if (p.pidsMax !== undefined) c.push("pids");
  if (p.cpuWeight !== undefined || p.cpuMax !== undefined) c.push("cpu");
  if (p.ioWeight !== undefined) c.push("io");
  if (p.devices.length > 0) c.push("devices");
  return c;
}

/** The writes for one process cgroup, in the order they must happen. */
export function limitWrites(p: CgroupPlan, version: "v1" | "v2"): LimitWrite[] {
  const w: LimitWrite[] = [];
  const v1 = version === "v1";
  if (p.memoryMax !== undefined) {
    w.push({
      controller: "memory",
      files: [v1 ? "memory.limit_in_bytes" : "memory.max"],
      value: String(p.memoryMax),
      hard: true,
    });
  }
  if (p.pidsMax !== undefined)
    w.push({ controller: "pids", files: ["pids.max"], value: String(p.pidsMax), hard: true });
  if (p.cpuWeight !== undefined) {
    w.push(
      v1
        ? {
            controller: "cpu",
            files: ["cpu.shares"],
            value: String(cpuWeightToShares(p.cpuWeight)),
            hard: false,
          }
        : { controller: "cpu", files: ["cpu.weight"], value: String(p.cpuWeight), hard: false },
    );
  }
  if (p.cpuMax !== undefined) {
    if (v1) {
      // Period first: the kernel checks the quota against the period in force.
      w.push({
        controller: "cpu",
        files: ["cpu.cfs_period_us"],
        value: String(p.cpuMax.periodUs),
        hard: true,
      });
      w.push({ controller: "cpu", files: ["cpu.cfs_quota_us"], value: String(p.cpuMax.quotaUs), hard: true });
    } else {
      w.push({
        controller: "cpu",
        files: ["cpu.max"],
        value: `${p.cpuMax.quotaUs} ${p.cpuMax.periodUs}`,
        hard: true,
      });
    }
  }
  if (p.ioWeight !== undefined) {
    w.push(
      v1
        ? {
            controller: "blkio",
            files: ["blkio.weight", "blkio.bfq.weight"],
            value: String(ioWeightToBlkio(p.ioWeight)),
            hard: false,
          }
        : {
            controller: "io",
            files: ["io.weight", "io.bfq.weight"],
            value: `default ${p.ioWeight}`,
            hard: false,
          },
    );
  }
  if (v1 && p.devices.length > 0) {
    // Deny everything first, then allow exactly the listed nodes: the process joins afterwards.
    w.push({ controller: "devices", files: ["devices.deny"], value: "a", hard: true });
    for (const d of p.devices)
      w.push({ controller: "devices", files: ["devices.allow"], value: d.rule, hard: true });
  }
  return w;
}
