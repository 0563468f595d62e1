// The escape hatch. Extra QEMU arguments are appended verbatim; nothing was derived for them (no
// fragment, no root entry, no fd), so the plan carries a loud warning that every output shows.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  const extra = ctx.config.qemu.extra_args;
  if (extra.length === 0) return [];
  return [
    {
      item: "qemu.extra_args",
      target: "qemu",
      warnings: [
        {
          code: "EXTRA_ARGS",
          item: "qemu.extra_args",
          message: `qemu.extra_args (${extra.join(" ")}) bypass the catalogue: no policy, root entry or fd was derived for them; they may fail under the jail or need more than it grants`,
        },
      ],
    },
  ];
}

/** qemu.extra_args: flagged, nothing derived. */
export const extraArgsKind: DeviceKind = { kind: "extra-args", contribute };
