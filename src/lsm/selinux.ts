// sVirt-style SELinux labels: each VM gets a unique MCS category pair; its processes run as
// svirt_t and its images are svirt_image_t with the same pair, so the MCS constraint keeps one VM
// from reading another's images even though both share the same type.

import { createHash } from "node:crypto";
import { QemuJailError } from "../errors.js";
import type { Need, ProcessPlan } from "../plan/types.js";
import { isSystemPath } from "./paths.js";

/** Two categories c0 < lo < hi <= c1023 (c0 is left to the host, as libvirt does). */
export interface McsPair {
  lo: number;
  hi: number;
}

export const MCS_MAX = 1023;

/** "s0:c12,c345" */
export function mcsString(p: McsPair): string {
  return `s0:c${p.lo},c${p.hi}`;
}

/** Parse "s0:cX,cY" back into a pair (for inUse lists read from running VMs). */
export function parseMcs(s: string): McsPair | undefined {
  const m = /^s0:c(\d+),c(\d+)$/.exec(s);
  if (!m) return undefined;
  const pair = { lo: Number(m[1]), hi: Number(m[2]) };
  return validPair(pair) ? pair : undefined;
}

function validPair(p: McsPair): boolean {
  return Number.isInteger(p.lo) && Number.isInteger(p.hi) && p.lo > 0 && p.lo < p.hi && p.hi <= MCS_MAX;
}

/**
 * A category pair that looks random but follows from `seed` (e.g. the VM's uuid), so a plan is
 * reproducible, and that is not in `inUse` (pairs of running VMs). Walks a hash chain until free.
 */
export function allocateMcs(seed: string, inUse: Iterable<McsPair | string> = []): McsPair {
  const used = new Set<string>();
  for (const u of inUse) {
    const p = typeof u === "string" ? parseMcs(u) : u;
    if (p) used.add(mcsString(p));
  }
  const total = (MCS_MAX * (MCS_MAX - 1)) / 2;
  if (used.size >= total) {
    throw new QemuJailError("LSM_MCS_EXHAUSTED", "every SELinux MCS category pair is in use", {
      exit: "host",
      hint: "stop a VM or gc stale state",
    });
  }
  for (let i = 0; ; i++) {
    const d = createHash("sha256").update(`qemu-jail-mcs\0${seed}\0${i}`).digest();
    const a = 1 + (d.readUInt32BE(0) % MCS_MAX);
    const b = 1 + (d.readUInt32BE(4) % MCS_MAX);
    if (a === b) continue;
    const pair = { lo: Math.min(a, b), hi: Math.max(a, b) };
    if (!used.has(mcsString(pair))) return pair;
  }
}

/** The process and image contexts of one VM (what LsmPlan.selinux holds). */
export interface SelinuxLabels {
  processLabel: string;
  imageLabel: string;
  mcs: string;
}

/**
 * Labels for VM `vmName` with category pair `mcs` (default: allocated from the name with nothing
 * in use). Every process of the VM (QEMU and its backends) shares the pair: they share its images.
 */
export function selinuxLabels(vmName: string, mcs: McsPair = allocateMcs(vmName)): SelinuxLabels {
  if (!validPair(mcs)) {
    throw new QemuJailError("LSM_MCS_INVALID", `invalid MCS pair c${mcs.lo},c${mcs.hi}`, {
      exit: "config",
      hint: `need 0 < lo < hi <= ${MCS_MAX}`,
    });
  }
  const level = mcsString(mcs);
  return {
    processLabel: `system_u:system_r:svirt_t:${level}`,
    imageLabel: `system_u:object_r:svirt_image_t:${level}`,
    mcs: level,
  };
}

/** A file the launcher labels before the VM starts (and restores after). */
export interface Relabel {
  path: string;
  context: string;
  need: Need;
}

/** Read-only content any VM may read (kernels, initrds, shared read-only images): libvirt's choice too. */
export const SELINUX_CONTENT_LABEL = "system_u:object_r:virt_content_t:s0";

/**
 * The VM's own files and the labels they need: writable ones get the VM's image label (only its
 * MCS pair may touch them); read-only inputs outside the OS tree (kernel, initrd, read-only
 * images) get the shared read-only content label, so two VMs may boot the same kernel. OS files
 * (binaries, libraries, firmware under /usr, /lib, /etc...) keep their system labels. Sockets are
 * not listed: the launcher creates them after relabelling and passes them as fds.
 */
export function selinuxRelabels(proc: ProcessPlan, labels: SelinuxLabels): Relabel[] {
  const out = new Map<string, Relabel>();
  const add = (path: string, rw: boolean, need: Need) => {
    const context = rw ? labels.imageLabel : SELINUX_CONTENT_LABEL;
    const had = out.get(path);
    // A file both read-only and writable for this VM is the VM's own: the image label wins.
    if (!had || (rw && had.context !== labels.imageLabel)) out.set(path, { path, context, need });
  };
  for (const e of proc.root) {
    if (e.kind === "bind" && (e.rw || !isSystemPath(e.source))) add(e.source, e.rw, e.need);
  }
  for (const f of proc.fds) {
    if (f.source.kind === "file" && (f.source.write || !isSystemPath(f.source.path)))
      add(f.source.path, f.source.write, f.need);
  }
  return [...out.values()];
}
