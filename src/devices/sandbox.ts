// QEMU's own -sandbox, layered on top of our filter: it needs the syscalls its installation makes
// (seccomp, prctl) and clone, and after it execve kills QEMU even if our filter allowed it.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  if (!ctx.config.qemu.sandbox) return [];
  return [
    {
      item: "qemu.sandbox",
      target: "qemu",
      fragments: [
        {
          fragment: "qemu-sandbox",
          need: need("qemu.sandbox", "QEMU installs its own -sandbox filter on top"),
        },
      ],
    },
  ];
}

/** QEMU's -sandbox layer. */
export const sandboxKind: DeviceKind = { kind: "qemu-sandbox", contribute };
