// Resolve kernel modules and their dependencies, in load order, with the host's modprobe.

import { execFileSync } from "node:child_process";
import { QemuJailError } from "../errors.js";

/** Modules a test/demo guest usually needs: virtio transports and devices, 9p, virtiofs, nvme, scsi disks. */
export const DEFAULT_GUEST_MODULES = [
  "virtio_pci",
  "virtio_blk",
  "virtio_net",
  "virtio_rng",
  "virtio_console",
  "virtiofs",
  "9p",
  "9pnet_virtio",
  "nvme",
  "virtio_scsi",
  "sd_mod",
] as const;

/**
 * Absolute paths of the .ko files to insmod, dependencies first, each once, for `names` on kernel
 * `version` (modules built into the kernel need no file and are skipped).
 */
export function resolveModules(version: string, names: readonly string[]): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    let out: string;
    try {
      out = execFileSync("modprobe", ["-S", version, "--show-depends", name], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      });
    } catch (e) {
      const stderr = String((e as { stderr?: unknown }).stderr ?? "").trim();
      throw new QemuJailError(
        "GUEST_MODULE_UNKNOWN",
        `kernel module ${name} not found for ${version}: ${stderr}`,
        {
          exit: "host",
          hint: "check the name with `modinfo -k <version> <module>`; modprobe comes from the kmod package",
          cause: e,
        },
      );
    }
    for (const line of out.split("\n")) {
      const m = /^insmod (\S+)/.exec(line.trim());
      if (m && !seen.has(m[1]!)) {
        seen.add(m[1]!);
        order.push(m[1]!);
      }
    }
  }
  return order;
}
