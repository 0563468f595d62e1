// The launcher's use of HOST's cgroup module (./cgroup.ts): the dirs a plan will create (recorded
// before creation), creation with limits, and removal. A live launch removes through the module's
// own undo; `gc` (whose launcher, and so that undo, is gone) removes the recorded dirs from data:
// the processes still in them are killed first (they belong to a VM whose launcher is dead),
// then the dirs go deepest first.

import { readFile, rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { CgroupFacts } from "../host/types.js";
import type { JailPlan } from "../plan/types.js";
import { createVmCgroups, planCgroupOps, type VmCgroupRequest, type VmCgroups } from "./cgroup.js";
import type { CgroupDriver } from "./launch.js";

/**
 * The helper joins the cgroup first and creates the jail's device nodes from inside it, so each
 * listed node also needs mknod ("m") there. Only nodes the plan lists; after the jail is built
 * the process has no CAP_MKNOD, so the extra bit gives it nothing.
 */
export function withMknod(rule: string): string {
  const m = /^([cb]) (\S+) ([rwm]+)$/.exec(rule);
  return m && !m[3]!.includes("m") ? `${m[1]} ${m[2]} ${m[3]}m` : rule;
}

function request(plan: JailPlan): VmCgroupRequest {
  return {
    parent: plan.cgroup.parent,
    path: plan.cgroup.path,
    processes: plan.processes.map((p) => ({
      id: p.id,
      cgroup: { ...p.cgroup, devices: p.cgroup.devices.map((d) => ({ ...d, rule: withMknod(d.rule) })) },
    })),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Removes cgroup dirs (any order given; removed deepest first), killing tasks left in them. */
export async function removeCgroupDirs(dirs: string[], timeoutMs = 3000): Promise<void> {
  const sorted = [...new Set(dirs)].sort((a, b) => b.split("/").length - a.split("/").length);
  for (const dir of sorted) {
    const pids = await readFile(join(dir, "cgroup.procs"), "utf8").then(
      (t) => t.split("\n").filter(Boolean).map(Number),
      () => [] as number[],
    );
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }
  const left: string[] = [];
  for (const dir of sorted) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await rmdir(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") break;
        if (code !== "EBUSY" || Date.now() > deadline) {
          left.push(`${dir} (${code})`);
          break;
        }
        await sleep(20);
      }
    }
  }
  if (left.length) throw new Error(`cgroups left: ${left.join(", ")}`);
}

/** A CgroupDriver over HOST's module for a host with cgroup layout `facts`. */
export function cgroupDriver(facts: CgroupFacts): CgroupDriver {
  let created: VmCgroups | undefined;
  return {
    plannedDirs: (plan) =>
      planCgroupOps(facts, request(plan))
        .ops.filter((o) => o.op === "mkdir" && o.fresh)
        .map((o) => o.dir),
    create: async (plan) => {
      created = await createVmCgroups(facts, request(plan));
      return new Map(Object.entries(created.join));
    },
    remove: async (dirs) => {
      if (created) {
        const c = created;
        created = undefined;
        await c.undo({ killRemaining: true });
      } else await removeCgroupDirs(dirs);
    },
  };
}
