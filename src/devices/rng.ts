// virtio-rng: QEMU reads the configured host entropy source itself.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  const r = ctx.config.rng;
  if (!r) return [];
  return [
    {
      item: "rng",
      target: "qemu",
      devices: [{ path: r.source, access: "r", need: need("rng", `virtio-rng entropy source ${r.source}`) }],
      fragments: [{ fragment: "rng", need: need("rng", "virtio-rng backend reads host entropy") }],
    },
  ];
}

/** virtio-rng. */
export const rngKind: DeviceKind = { kind: "rng", contribute };
