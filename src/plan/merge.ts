// Merging the contributions of one process: root entries deduplicated by path (a conflict is an
// error), device requests resolved against host facts into nodes and cgroup rules, fds numbered
// (fixed ones first, then from 3, in catalogue order), rlimits reduced to the largest need.

import type { CapabilityUse, Contribution, FdMap, FragmentUse } from "../devices/types.js";
import { QemuJailError } from "../errors.js";
import type { HostFacts } from "../host/types.js";
import type { DeviceNode, LandlockRule, Need, PassedFd, Rlimit, RootEntry } from "./types.js";

function sameEntry(a: RootEntry, b: RootEntry): boolean {
  const { need: _a, ...ra } = a;
  const { need: _b, ...rb } = b;
  return JSON.stringify(ra) === JSON.stringify(rb);
}

/** Root entries by path (first need wins for identical duplicates), sorted so parents come first. */
export function mergeRoot(parts: Contribution[]): RootEntry[] {
  const byPath = new Map<string, RootEntry>();
  for (const c of parts) {
    for (const e of c.root ?? []) {
      const prev = byPath.get(e.path);
      if (!prev) byPath.set(e.path, e);
      else if (!sameEntry(prev, e)) {
        throw new QemuJailError("PLAN_ROOT_CONFLICT", `${e.path} is wanted twice in one jail, differently`, {
          exit: "config",
          location: { key: e.need.item },
          hint: `${prev.need.item} (${prev.need.reason}) and ${e.need.item} (${e.need.reason}) disagree`,
        });
      }
    }
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Device nodes (owned by the process's uid, mode by access) and their cgroup rules. */
export function mergeDevices(
  parts: Contribution[],
  host: HostFacts,
  uid: number,
  gid: number,
): { nodes: DeviceNode[]; rules: Array<{ rule: string; need: Need }> } {
  const byPath = new Map<string, { access: Set<string>; need: Need }>();
  for (const c of parts) {
    for (const d of c.devices ?? []) {
      const prev = byPath.get(d.path);
      if (prev) for (const ch of d.access) prev.access.add(ch);
      else byPath.set(d.path, { access: new Set(d.access), need: d.need });
    }
  }
  const nodes: DeviceNode[] = [];
  const rules: Array<{ rule: string; need: Need }> = [];
  for (const path of [...byPath.keys()].sort()) {
    const { access, need } = byPath.get(path)!;
    const f = host.devices[path];
    if (!f) {
      throw new QemuJailError("HOST_DEVICE_MISSING", `${path} is missing on this host`, {
        exit: "host",
        location: { key: need.item },
        hint: `${need.item} needs it (${need.reason})`,
      });
    }
    const acc = ["r", "w"].filter((ch) => access.has(ch)).join("");
    const mode = (access.has("r") ? 0o400 : 0) | (access.has("w") ? 0o200 : 0);
    nodes.push({ path, type: f.type, major: f.major, minor: f.minor, mode, uid, gid, need });
    rules.push({ rule: `${f.type} ${f.major}:${f.minor} ${acc}`, need });
  }
  return { nodes, rules };
}

/** Numbers the fds of one process and records fdset ids. */
export function numberFds(parts: Contribution[]): {
  fds: PassedFd[];
  map: FdMap;
  fdsets: Array<{ set: number; fd: number; key: string }>;
} {
  const fds: PassedFd[] = [];
  const map: FdMap = { fd: {}, fdset: {} };
  const fdsets: Array<{ set: number; fd: number; key: string }> = [];
  const reqs = parts.flatMap((c) => c.fds ?? []);
  for (const r of reqs.filter((r) => r.fixed !== undefined)) {
    fds.push({ fd: r.fixed!, source: r.source, need: r.need });
    map.fd[r.key] = r.fixed!;
  }
  let next = 3;
  let set = 1;
  for (const r of reqs.filter((r) => r.fixed === undefined)) {
    if (map.fd[r.key] !== undefined) continue; // the same image named twice: one fd
    const fd = next++;
    fds.push({ fd, source: r.source, need: r.need });
    map.fd[r.key] = fd;
    if (r.fdset) {
      map.fdset[r.key] = set;
      fdsets.push({ set, fd, key: r.key });
      set++;
    }
  }
  return { fds, map, fdsets };
}

const order: Rlimit["resource"][] = ["AS", "CORE", "FSIZE", "MEMLOCK", "NOFILE", "NPROC", "STACK"];

function bigger(a: number | "unlimited", b: number | "unlimited"): boolean {
  return a === "unlimited" ? b !== "unlimited" : b !== "unlimited" && a > b;
}

/** One rlimit per resource: the largest any item needs, with that item's need. */
export function mergeRlimits(parts: Contribution[]): Rlimit[] {
  const by = new Map<string, Rlimit>();
  for (const c of parts) {
    for (const r of c.rlimits ?? []) {
      const prev = by.get(r.resource);
      if (!prev || bigger(r.hard, prev.hard)) by.set(r.resource, r);
    }
  }
  return order.filter((k) => by.has(k)).map((k) => by.get(k)!);
}

/** Fragment uses in catalogue order, one per (fragment, item): a fragment two items need keeps both needs. */
export function mergeFragments(parts: Contribution[]): FragmentUse[] {
  const seen = new Map<string, FragmentUse>();
  for (const c of parts) {
    for (const f of c.fragments ?? []) {
      const key = `${f.fragment}\u0000${f.need.item}`;
      if (!seen.has(key)) seen.set(key, f);
    }
  }
  return [...seen.values()];
}

/** Capabilities kept, deduplicated and sorted. */
export function mergeCaps(parts: Contribution[]): CapabilityUse[] {
  const seen = new Map<string, CapabilityUse>();
  for (const c of parts) for (const k of c.capabilities ?? []) if (!seen.has(k.name)) seen.set(k.name, k);
  return [...seen.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Landlock rules contributed directly by device modules. */
export function mergeLandlock(parts: Contribution[]): LandlockRule[] {
  return parts.flatMap((c) => c.landlock ?? []);
}
