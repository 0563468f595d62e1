// Guest memory. With a vhost-user backend present, guest RAM is a memfd with share=on (the
// backend maps it through fds QEMU sends), sealed against shrinking. ftruncate of the memfd is
// bounded by RLIMIT_FSIZE, so the limit must admit the guest's RAM.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  if (!ctx.memfd) return [];
  const bytes = ctx.config.vm.memory;
  const n = need("vm.memory", "guest RAM is a shared memfd because a vhost-user backend maps it");
  return [
    {
      item: "vm.memory",
      target: "qemu",
      fragments: [{ fragment: "memfd-shared", need: n }],
      rlimits: [
        {
          resource: "FSIZE",
          soft: bytes,
          hard: bytes,
          need: need("vm.memory", "ftruncate of the memfd to guest RAM size"),
        },
      ],
    },
  ];
}

/** Guest memory backend (memfd when shared). */
export const memoryKind: DeviceKind = { kind: "memory", contribute };
