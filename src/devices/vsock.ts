// vsock: vhost-vsock-pci takes `vhostfd=`, so the launcher opens /dev/vhost-vsock and passes it;
// the node is not in the root. The host must have it (there is no fallback).

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need, requireDevice } from "./util.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  const v = ctx.config.vsock;
  if (!v) return [];
  const n = need("vsock", `vhost-vsock device for guest cid ${v.cid}`);
  requireDevice(ctx.host, "/dev/vhost-vsock", n, "load the vhost_vsock module, or remove [vsock]");
  return [
    {
      item: "vsock",
      target: "qemu",
      fds: [{ key: "vsock", source: { kind: "device", path: "/dev/vhost-vsock" }, need: n }],
      fragments: [{ fragment: "vsock", need: need("vsock", "vhost-vsock ioctls") }],
    },
  ];
}

/** vsock (vhost-vsock). */
export const vsockKind: DeviceKind = { kind: "vsock", contribute };
