// What "the host is clean" means in tests: mounts, the cgroup trees below our own cgroups, links
// (in the host and in a test netns), and QEMU processes that are our children's.

import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cgroupDir, probeCgroups } from "../../../src/host/cgroup.js";

function tree(dir: string, depth = 0): string[] {
  if (depth > 6) return [];
  let entries: string[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
  return entries.flatMap((e) => [join(dir, e), ...tree(join(dir, e), depth + 1)]);
}

/**
 * A comparable snapshot of host state the launcher may touch. The machine is shared (other
 * launches and tests create cgroups, links and mounts meanwhile), so `only` keeps the entries
 * that can be ours: names of the test's VMs, taps and temp dirs.
 */
export async function hostSnapshot(
  netns?: string,
  only: RegExp = /qemu-jail|qj/,
): Promise<Record<string, unknown>> {
  const keep = (xs: string[]) => xs.filter((x) => only.test(x)).sort();
  const facts = await probeCgroups();
  const cgroups: string[] = [];
  for (const h of facts.v1) cgroups.push(...tree(cgroupDir(h.mountPoint, h.mountRoot, h.ownPath)));
  if (facts.v2) cgroups.push(...tree(cgroupDir(facts.v2.mountPoint, facts.v2.mountRoot, facts.v2.ownPath)));
  const links = (ns?: string) =>
    execFileSync("ip", [...(ns ? ["-n", ns] : []), "-o", "link", "show"])
      .toString()
      .split("\n")
      .map((l) => l.split(":")[1]?.trim())
      .filter((x): x is string => Boolean(x))
      .sort();
  return {
    mounts: keep(
      readFileSync("/proc/self/mountinfo", "utf8")
        .split("\n")
        .map((l) => l.split(" ").slice(4, 5).join("")),
    ),
    cgroups: keep(cgroups),
    links: keep(links()),
    netnsLinks: netns ? links(netns) : [],
  };
}
