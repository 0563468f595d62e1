// Where the installed Debian kernel is, and its uncompressed ELF image for fast PVH boots.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { QemuJailError } from "../errors.js";
import { hasPvhNote, kernelImageInfoOf } from "../host/kernel-image.js";
import type { KernelImageFacts } from "../host/types.js";

export { hasPvhNote };

/** An installed kernel usable as a guest kernel: the bzImage and its module tree. */
export interface GuestKernel {
  version: string;
  /** The compressed bzImage, e.g. /boot/vmlinuz-6.1.0-56-amd64. */
  vmlinuz: string;
  /** /lib/modules/<version>. */
  modulesDir: string;
}

/** Compare Debian kernel versions such as "6.1.0-56-amd64" numerically, field by field. */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  const pb = b.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? -1;
    const y = pb[i] ?? -1;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

/**
 * Find the newest /boot/vmlinuz-<v> that has a /lib/modules/<v> (or exactly `version`).
 * `bootDir`/`modulesRoot` are injectable for tests.
 */
export function findKernel(
  opts: { version?: string; bootDir?: string; modulesRoot?: string } = {},
): GuestKernel {
  const bootDir = opts.bootDir ?? "/boot";
  const modulesRoot = opts.modulesRoot ?? "/lib/modules";
  const candidates = existsSync(bootDir)
    ? readdirSync(bootDir)
        .filter((f) => f.startsWith("vmlinuz-"))
        .map((f) => f.slice("vmlinuz-".length))
        .filter((v) => existsSync(join(modulesRoot, v, "modules.dep")))
        .filter((v) => opts.version === undefined || v === opts.version)
        .sort(compareVersions)
    : [];
  const version = candidates.at(-1);
  if (version === undefined) {
    throw new QemuJailError(
      "GUEST_NO_KERNEL",
      `no usable kernel in ${bootDir}${opts.version ? ` for version ${opts.version}` : ""} (need vmlinuz-<v> and ${modulesRoot}/<v>/modules.dep)`,
      {
        exit: "host",
        hint: "install the Debian kernel: apt-get install linux-image-amd64 (scripts/setup-host.sh)",
      },
    );
  }
  return { version, vmlinuz: join(bootDir, `vmlinuz-${version}`), modulesDir: join(modulesRoot, version) };
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/**
 * Extract the uncompressed ELF vmlinux from a bzImage: find the compressed payload by its magic
 * and decompress it (xz/zstd via their CLI, gzip via the same). Returns null when no payload
 * decompresses to an ELF. QEMU boots such an ELF through its PVH entry note, which skips the
 * in-guest decompression (seconds under TCG).
 */
export function extractVmlinux(bzImage: Buffer): Buffer | null {
  const tools: Array<[Buffer, string[]]> = [
    [XZ_MAGIC, ["xz", "-dc", "--single-stream"]],
    [ZSTD_MAGIC, ["zstd", "-dcq"]],
    [GZIP_MAGIC, ["gzip", "-dcq"]],
  ];
  for (const [magic, cmd] of tools) {
    for (let off = bzImage.indexOf(magic); off >= 0; off = bzImage.indexOf(magic, off + 1)) {
      let out: Buffer;
      try {
        out = execFileSync(cmd[0]!, cmd.slice(1), {
          input: bzImage.subarray(off),
          maxBuffer: 512 << 20,
          stdio: ["pipe", "pipe", "ignore"],
        });
      } catch (e) {
        // Trailing data after the stream makes some tools exit non-zero though the output is whole.
        out = (e as { stdout?: Buffer }).stdout ?? Buffer.alloc(0);
      }
      if (out.length > 4 && out.subarray(0, 4).equals(ELF_MAGIC)) return out;
    }
  }
  return null;
}

/** Read a file fully (small helper so callers can inject paths). */
export function readKernelImage(path: string): Buffer {
  return readFileSync(path);
}

/**
 * What QEMU will do with a -kernel file: an ELF with a PVH note boots through the pvh.bin option
 * ROM, a bzImage through linuxboot_dma.bin (detection shared with the host probe, which the
 * planner uses to put the right ROM in the jail).
 */
export function kernelImageInfo(path: string): Pick<KernelImageFacts, "format" | "pvh"> {
  return kernelImageInfoOf(readFileSync(path));
}
