// jail.extra_ro_paths: host paths the user binds read-only into QEMU's root. Flagged, because
// nothing in the catalogue asked for them.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  return ctx.config.jail.extra_ro_paths.map((p, i) => {
    const item = `jail.extra_ro_paths[${i}]`;
    const type = ctx.host.images[p] ? "file" : "dir";
    return {
      item,
      target: "qemu",
      root: [{ kind: "bind", path: p, source: p, type, rw: false, need: need(item, "listed by the user") }],
      warnings: [
        {
          code: "EXTRA_RO_PATH",
          item,
          message: `${p} is bound read-only into QEMU's root by request, not derived`,
        },
      ],
    };
  });
}

/** jail.extra_ro_paths. */
export const extraPathsKind: DeviceKind = { kind: "extra-ro-paths", contribute };
