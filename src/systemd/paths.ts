// The host paths a VM's launcher touches, derived from its config alone (pure). The unit
// generator turns them into ReadWritePaths= and decides ProtectHome=, PrivateTmp= and
// ProtectKernelModules= from where they lie, so a hardening option is only set when the
// config cannot trip over it.

import { dirname } from "node:path";
import type { VmConfig } from "../config/types.js";

/** One host path the service needs, and why. */
export interface ServicePath {
  path: string;
  /** true: the launcher (or a jailed process it starts) writes there or creates files in it. */
  write: boolean;
  /** The config key it comes from. */
  key: string;
}

/** Every host path `config` makes the launcher read or write (images, shares, logs, sockets...). */
export function servicePaths(config: VmConfig): ServicePath[] {
  const out: ServicePath[] = [];
  const add = (path: string, write: boolean, key: string): void => {
    out.push({ path, write, key });
  };
  if (config.source) add(config.source, false, "config file");
  const b = config.boot;
  if (b.mode === "kernel") {
    add(b.kernel, false, "boot.kernel");
    if (b.initrd) add(b.initrd, false, "boot.initrd");
  } else {
    add(b.code, false, "boot.code");
    if (b.vars_template) add(b.vars_template, false, "boot.vars_template");
  }
  for (const [i, d] of config.disk.entries()) {
    // A rw image is written by QEMU or qemu-storage-daemon and chowned to the VM's uid.
    add(d.path, !d.readonly, `disk[${i}].path`);
    for (const [j, k] of d.backing.entries()) add(k.path, false, `disk[${i}].backing[${j}]`);
  }
  for (const [i, s] of config.share.entries()) add(s.path, !s.readonly, `share[${i}].path`);
  // Files the launcher creates (log, sockets): their dir must be writable, not just the file.
  if (config.serial.mode === "file" || config.serial.mode === "socket")
    add(dirname(config.serial.path), true, "serial.path");
  if (config.qmp.path) add(dirname(config.qmp.path), true, "qmp.path");
  for (const [i, p] of config.jail.extra_ro_paths.entries()) add(p, false, `jail.extra_ro_paths[${i}]`);
  add(config.qemu.binary, false, "qemu.binary");
  return out;
}

/** Whether `path` is `dir` or below it. */
export function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith("/") ? dir.slice(0, -1) : dir;
  return path === d || path.startsWith(`${d}/`);
}

/** The dirs ProtectHome= hides or makes read-only. */
export const HOME_DIRS = ["/home", "/root", "/run/user"];
/** The dirs PrivateTmp= replaces. */
export const TMP_DIRS = ["/tmp", "/var/tmp"];
/** The dirs ProtectKernelModules= makes inaccessible. */
export const MODULE_DIRS = ["/lib/modules", "/usr/lib/modules"];

/** The paths among `paths` that lie under any of `dirs`. */
export function under(paths: readonly string[], dirs: readonly string[]): string[] {
  return paths.filter((p) => dirs.some((d) => isUnder(p, d)));
}
