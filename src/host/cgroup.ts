// cgroup layout of the host, as the launcher sees it: which hierarchies are mounted where
// (/proc/self/mountinfo), where the launcher itself sits in each (/proc/self/cgroup), and on v2
// which controllers its cgroup offers. Pure parsers plus one reader with injectable roots.

import { readFile } from "node:fs/promises";
import { join, posix } from "node:path";
import { QemuJailError } from "../errors.js";
import type { CgroupFacts, CgroupV1Hierarchy } from "./types.js";

/** One line of /proc/PID/mountinfo, fields we use. */
export interface MountInfoEntry {
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string[];
}

/** Parses mountinfo text (proc(5)); octal escapes such as \040 are decoded. */
export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const f = line.split(" ");
    const dash = f.indexOf("-", 6);
    if (dash < 0 || f.length < dash + 4) continue;
    out.push({
      root: decodeOctal(f[3]!),
      mountPoint: decodeOctal(f[4]!),
      fsType: f[dash + 1]!,
      source: decodeOctal(f[dash + 2]!),
      superOptions: f[dash + 3]!.split(","),
    });
  }
  return out;
}

/** One line of /proc/PID/cgroup: hierarchy id, controllers ("" on v2) and path. */
export interface ProcCgroupEntry {
  id: number;
  controllers: string[];
  path: string;
}

/** Parses /proc/PID/cgroup. */
export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const a = line.indexOf(":");
    const b = line.indexOf(":", a + 1);
    if (a < 0 || b < 0) continue;
    const ctl = line.slice(a + 1, b);
    out.push({
      id: Number(line.slice(0, a)),
      controllers: ctl ? ctl.split(",") : [],
      path: line.slice(b + 1),
    });
  }
  return out;
}

/** v1 super options that are not controllers. */
const V1_NON_CONTROLLER = new Set([
  "rw",
  "ro",
  "noprefix",
  "xattr",
  "clone_children",
  "cpuset_v2_mode",
  "favordynmods",
]);

function v1Controllers(opts: string[]): string[] {
  return opts.filter((o) => !V1_NON_CONTROLLER.has(o) && !o.startsWith("release_agent=")).sort();
}

const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().every((x, i) => x === [...b].sort()[i]);

/**
 * Combines mountinfo and /proc/self/cgroup into CgroupFacts (v2 controllers left empty: the
 * caller reads them from cgroupfs). A hierarchy mounted twice is taken at its first mount that
 * shows the launcher's own cgroup.
 */
export function cgroupLayout(mounts: MountInfoEntry[], self: ProcCgroupEntry[]): CgroupFacts {
  const v1: CgroupV1Hierarchy[] = [];
  let v2: CgroupFacts["v2"];
  for (const e of self) {
    if (e.id === 0 && e.controllers.length === 0) {
      const m = mounts.find((x) => x.fsType === "cgroup2" && within(e.path, x.root));
      if (m && !v2) v2 = { mountPoint: m.mountPoint, ownPath: e.path, controllers: [], mountRoot: m.root };
      continue;
    }
    const want = [...e.controllers].sort();
    const m = mounts.find(
      (x) => x.fsType === "cgroup" && sameSet(v1Controllers(x.superOptions), want) && within(e.path, x.root),
    );
    if (!m) continue; // hierarchy not mounted in this mount namespace: not usable
    v1.push({ controllers: want, mountPoint: m.mountPoint, ownPath: e.path, mountRoot: m.root });
  }
  v1.sort((a, b) => a.mountPoint.localeCompare(b.mountPoint));
  const realV1 = v1.some((h) => h.controllers.some((c) => !c.startsWith("name=")));
  const mode = v2 ? (realV1 ? "hybrid" : "v2") : "v1";
  return v2 ? { mode, v2, v1 } : { mode, v1 };
}

/** Absolute directory of cgroup `path` (a hierarchy path such as "/process_api/x") in a mount. */
export function cgroupDir(mountPoint: string, mountRoot: string | undefined, path: string): string {
  const rel = posix.relative(mountRoot ?? "/", posix.resolve("/", path));
  return rel ? join(mountPoint, rel) : mountPoint;
}

function within(path: string, root: string): boolean {
  return root === "/" || path === root || path.startsWith(`${root}/`);
}

function decodeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Reads the launcher's cgroup layout from `procRoot` (default /proc). */
export async function probeCgroups(procRoot = "/proc"): Promise<CgroupFacts> {
  const [mi, cg] = await Promise.all([
    readText(join(procRoot, "self/mountinfo")),
    readText(join(procRoot, "self/cgroup")),
  ]);
  const facts = cgroupLayout(parseMountInfo(mi), parseProcCgroup(cg));
  if (!facts.v2 && facts.v1.length === 0) {
    throw new QemuJailError("HOST_NO_CGROUPS", "no cgroup hierarchy is mounted", {
      exit: "host",
      hint: "mount cgroup2 at /sys/fs/cgroup (or the v1 controllers) before launching",
    });
  }
  if (facts.v2) {
    const dir = cgroupDir(facts.v2.mountPoint, facts.v2.mountRoot, facts.v2.ownPath);
    const [ctl, sub] = await Promise.all([
      readText(join(dir, "cgroup.controllers")).catch(() => ""),
      readText(join(dir, "cgroup.subtree_control")).catch(() => ""),
    ]);
    facts.v2.controllers = words(ctl);
    facts.v2.subtreeControl = words(sub);
  }
  return facts;
}

function words(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new QemuJailError(
      "HOST_PROC_UNREADABLE",
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code}`,
      {
        exit: "host",
        hint: "qemu-jail needs /proc mounted (and the launcher running as root)",
        cause: e,
      },
    );
  }
}
