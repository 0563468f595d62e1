// Boot: a direct kernel boot binds the kernel and initrd read-only at fixed in-jail paths
// (/vm/kernel, /vm/initrd), so the jail shows nothing of the host's layout. Firmware boot passes
// the OVMF code read-only and a per-VM copy of the vars template read-write, both as fdsets.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { imageKey, need, roFile } from "./util.js";

/** In-jail paths of the direct-boot files. */
export const KERNEL_PATH = "/vm/kernel";
export const INITRD_PATH = "/vm/initrd";

function contribute(ctx: CatalogueContext): Contribution[] {
  const { boot } = ctx.config;
  if (boot.mode === "kernel") {
    const root = [roFile(KERNEL_PATH, boot.kernel, need("boot.kernel", "guest kernel for direct boot"))];
    const paths: Record<string, string> = { [boot.kernel]: KERNEL_PATH };
    if (boot.initrd) {
      root.push(roFile(INITRD_PATH, boot.initrd, need("boot.initrd", "guest initrd for direct boot")));
      paths[boot.initrd] = INITRD_PATH;
    }
    return [{ item: "boot", target: "qemu", root, paths }];
  }
  const fds = [
    {
      key: imageKey(boot.code),
      source: { kind: "file" as const, path: boot.code, write: false },
      need: need("boot.code", "UEFI firmware code (pflash 0, read-only)"),
      fdset: true,
    },
  ];
  const out: Contribution[] = [{ item: "boot.code", target: "qemu", fds }];
  if (boot.vars_template) {
    const vars = `${ctx.stateDir}/OVMF_VARS.fd`;
    out.push({
      item: "boot.vars_template",
      target: "qemu",
      fds: [
        {
          key: imageKey(boot.vars_template),
          source: { kind: "file", path: vars, write: true, copyOf: boot.vars_template },
          need: need("boot.vars_template", "per-VM copy of the UEFI variable store (pflash 1, read-write)"),
          fdset: true,
        },
      ],
      rlimits: [
        {
          resource: "FSIZE",
          soft: "unlimited",
          hard: "unlimited",
          need: need("boot.vars_template", "QEMU writes the UEFI variable store"),
        },
      ],
    });
  }
  return out;
}

/** Kernel/initrd or UEFI firmware. */
export const bootKind: DeviceKind = { kind: "boot", contribute };
