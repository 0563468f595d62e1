// Pure part of cgroup setup: from the host's CgroupFacts, the VM cgroup and each process's
// CgroupPlan, compute the ordered filesystem operations that create the tree and write limits,
// the dirs each process must join, and what cannot be enforced on this host. `applyCgroupOps`
// performs them; unit tests check this list for v1, v2 and hybrid layouts without a kernel.

import { posix } from "node:path";
import { QemuJailError } from "../../errors.js";
import { cgroupDir } from "../../host/cgroup.js";
import type { CgroupFacts } from "../../host/types.js";
import type { CgroupPlan } from "../../plan/types.js";
import { controllersFor, limitWrites } from "./limits.js";

/** v1 hierarchies the VM gets a cgroup in: limits, accounting, and systemd's membership tracking. */
const MANAGED_V1 = new Set(["memory", "pids", "cpu", "cpuacct", "blkio", "devices", "name=systemd"]);

/** One step of cgroup setup. */
export type CgroupOp =
  /** Create a cgroup. `fresh`: it must not exist yet (the VM's own cgroup and every leaf). */
  | { op: "mkdir"; dir: string; fresh: boolean; hierarchy: string }
  /** v2: enable controllers for the children of `dir` (cgroup.subtree_control "+c"). */
  | { op: "enable"; dir: string; controllers: string[]; hierarchy: string; isOwn: boolean }
  /** Write a limit; `files` are alternatives, the first existing one is written. */
  | {
      op: "write";
      dir: string;
      files: string[];
      value: string;
      hard: boolean;
      hierarchy: string;
      process: string;
    };

/** Something a plan asks for that this host's cgroups cannot enforce. */
export interface CgroupWarning {
  code: string;
  message: string;
  process?: string;
}

/** The complete, ordered cgroup setup for one VM. */
export interface CgroupOps {
  ops: CgroupOp[];
  /** Per process id: the cgroup dirs its pid is written into (cgroup.procs), one per hierarchy. */
  join: Record<string, string[]>;
  /** Per hierarchy ("v2", "v1:memory", "v1:cpu,cpuacct"...): the VM's own cgroup dir. */
  vmDirs: Record<string, string>;
  warnings: CgroupWarning[];
}

/** The VM cgroup (JailPlan.cgroup) and its processes (id + CgroupPlan). */
export interface VmCgroupRequest {
  parent?: string;
  path: string;
  processes: Array<{ id: string; cgroup: CgroupPlan }>;
}

const COMPONENT = /^[A-Za-z0-9_][A-Za-z0-9_.:@-]{0,127}$/;

function badPath(what: string, path: string, why: string): QemuJailError {
  return new QemuJailError("CGROUP_BAD_PATH", `${what} cgroup path ${JSON.stringify(path)} ${why}`, {
    exit: "config",
    location: { key: "jail.cgroup" },
    hint: "cgroup paths are relative, '/'-separated names of [A-Za-z0-9_.:@-] (no '.', '..' or empty parts)",
  });
}

function checkRelative(what: string, path: string): string[] {
  const parts = path.split("/");
  if (parts.some((p) => !COMPONENT.test(p) || p === "." || p === ".."))
    throw badPath(what, path, "is not a safe relative path");
  return parts;
}

/** Computes the ordered operations for `req` on a host with cgroup layout `facts`. */
export function planCgroupOps(facts: CgroupFacts, req: VmCgroupRequest): CgroupOps {
  const vmParts = checkRelative("VM", req.path);
  if (
    req.parent !== undefined &&
    (!req.parent.startsWith("/") ||
      req.parent.split("/").some((p) => p === "..") ||
      req.parent.includes("\0"))
  ) {
    throw badPath("parent", req.parent, "must be absolute (from each hierarchy's root) without '..'");
  }
  const procs = req.processes.map((p) => {
    const parts = checkRelative(`process ${p.id}`, p.cgroup.path);
    if (parts.length <= vmParts.length || vmParts.some((v, i) => parts[i] !== v)) {
      throw badPath(`process ${p.id}`, p.cgroup.path, `is not below the VM cgroup ${req.path}`);
    }
    return { ...p, parts };
  });
  const leafSet = new Set(procs.map((p) => p.cgroup.path));
  if (leafSet.size !== procs.length)
    throw badPath("process", [...leafSet].join(","), "is shared by two processes");
  for (const leaf of leafSet) {
    for (const other of leafSet) {
      if (other.startsWith(`${leaf}/`))
        throw badPath("process", leaf, `has another process's cgroup ${other} below it (leaves only)`);
    }
  }

  // Where does each controller a limit needs live? v1 if a hierarchy has it, else v2 if offered.
  const warnings: CgroupWarning[] = [];
  const v2Use = new Set<string>();
  for (const p of procs) {
    for (const c of controllersFor(p.cgroup)) {
      const v1name = c === "io" ? "blkio" : c;
      if (facts.v1.some((h) => h.controllers.includes(v1name))) continue;
      if (c !== "devices" && facts.v2?.controllers.includes(c)) {
        v2Use.add(c);
        continue;
      }
      if (c === "devices") {
        warnings.push({
          code: "CGROUP_DEVICES_UNENFORCED",
          process: p.id,
          message:
            "device rules are not enforced by cgroups here: v2 needs a BPF_CGROUP_DEVICE program, which qemu-jail does not attach (the jail's private /dev holds only the listed nodes)",
        });
      } else if (c === "cpu" && p.cgroup.cpuMax === undefined) {
        warnings.push({
          code: "CGROUP_CONTROLLER_MISSING",
          process: p.id,
          message: "cpu weight not applied: no cpu controller available",
        });
      } else if (c === "io") {
        warnings.push({
          code: "CGROUP_CONTROLLER_MISSING",
          process: p.id,
          message: "io weight not applied: no io/blkio controller available",
        });
      } else {
        throw new QemuJailError(
          "CGROUP_CONTROLLER_MISSING",
          `the ${c} controller is not available for process ${p.id}'s limits`,
          {
            exit: "host",
            location: { key: "jail.cgroup" },
            hint: `delegate it to the launcher's cgroup (systemd: Delegate=yes; or "+${c}" in the parent's cgroup.subtree_control), or drop the limit`,
          },
        );
      }
    }
  }

  const ops: CgroupOp[] = [];
  const join: Record<string, string[]> = Object.fromEntries(procs.map((p) => [p.id, [] as string[]]));
  const vmDirs: Record<string, string> = {};
  const targets: Array<{
    key: string;
    version: "v1" | "v2";
    controllers: string[];
    mountPoint: string;
    mountRoot?: string;
    ownPath: string;
  }> = [];
  if (facts.v2) targets.push({ ...facts.v2, key: "v2", version: "v2", controllers: [...v2Use].sort() });
  for (const h of facts.v1) {
    if (h.controllers.some((c) => MANAGED_V1.has(c)))
      targets.push({ key: `v1:${h.controllers.join(",")}`, version: "v1", ...h });
  }

  for (const t of targets) {
    const parentPath = req.parent ?? t.ownPath;
    const parentDir = cgroupDir(t.mountPoint, t.mountRoot, parentPath);
    const vmDir = posix.join(parentDir, ...vmParts);
    vmDirs[t.key] = vmDir;
    const made = new Set<string>();
    const enabled = new Set<string>();
    const mk = (dir: string, fresh: boolean) => {
      if (made.has(dir)) return;
      made.add(dir);
      ops.push({ op: "mkdir", dir, fresh, hierarchy: t.key });
    };
    // v2: a cgroup's controllers come from its parent's subtree_control, all the way down; the
    // dirs we enable them in then may hold no process (no-internal-process rule), so processes
    // only ever go into leaves.
    const enable = (dir: string) => {
      if (t.version !== "v2" || t.controllers.length === 0 || enabled.has(dir)) return;
      enabled.add(dir);
      ops.push({
        op: "enable",
        dir,
        controllers: t.controllers,
        hierarchy: t.key,
        isOwn: parentPath === t.ownPath && dir === parentDir,
      });
    };
    enable(parentDir);
    vmParts.forEach((_, i) => {
      const dir = posix.join(parentDir, ...vmParts.slice(0, i + 1));
      mk(dir, i === vmParts.length - 1);
      enable(dir);
    });
    for (const p of procs) {
      for (let i = vmParts.length; i < p.parts.length; i++) {
        enable(posix.join(parentDir, ...p.parts.slice(0, i)));
        mk(posix.join(parentDir, ...p.parts.slice(0, i + 1)), true);
      }
      const leaf = posix.join(parentDir, ...p.parts);
      for (const w of limitWrites(p.cgroup, t.version)) {
        if (t.controllers.includes(w.controller))
          ops.push({
            op: "write",
            dir: leaf,
            files: w.files,
            value: w.value,
            hard: w.hard,
            hierarchy: t.key,
            process: p.id,
          });
      }
      join[p.id]!.push(leaf);
    }
  }
  return { ops, join, vmDirs, warnings };
}
