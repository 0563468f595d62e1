// Network interfaces. A tap is opened by the launcher in its network namespace and passed as an
// fd (QEMU's netdev `fd=`), so QEMU needs neither /dev/net/tun nor the host's network: its own
// netns stays empty. vhost-net likewise is opened by the launcher and passed (`vhostfd=`).
// User-mode networking (slirp) is the one case where QEMU's sockets live in the host's stack.
// A virtio-net-pci device would load efi-virtio.rom (measured: required unless romfile= is
// given); qemuArgv always gives `romfile=` (empty), so no option ROM enters the root. A test pins
// that argv choice, so a change there shows up as a failing plan test, not a hanging guest.

import type { NicConfig } from "../config/types.js";
import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

function one(ctx: CatalogueContext, n: NicConfig, item: string): Contribution {
  if (n.mode === "user") {
    const fwd = n.forward.map((f) => `${f.proto}:${f.host_addr}:${f.host_port}->${f.guest_port}`).join(", ");
    return {
      item,
      target: "qemu",
      hostNet: need(
        item,
        `user-mode networking uses the host's network stack${fwd ? ` (forwards ${fwd})` : ""}`,
      ),
      fragments: [{ fragment: "net-user", need: need(item, "user-mode networking (slirp sockets)") }],
    };
  }
  const c: Contribution = {
    item,
    target: "qemu",
    fds: [
      {
        key: `tap:${n.id}`,
        source: n.netns ? { kind: "tap", name: n.tap, netns: n.netns } : { kind: "tap", name: n.tap },
        need: need(item, `tap ${n.tap}${n.netns ? ` in netns ${n.netns}` : ""}, opened by the launcher`),
      },
    ],
    fragments: [{ fragment: "net-tap", need: need(item, "tap read/write and offload ioctls") }],
    warnings: [],
  };
  if (n.create) {
    c.taps = [
      {
        name: n.tap,
        ...(n.netns ? { netns: n.netns } : {}),
        ...(n.bridge ? { bridge: n.bridge } : {}),
        owner: { uid: ctx.ids.uid[0]!, gid: ctx.ids.gid[0]! },
        need: need(item, "create = true: the launcher makes the tap and removes it after"),
      },
    ];
  }
  if (n.vhost) {
    if (ctx.host.devices["/dev/vhost-net"]) {
      c.fds!.push({
        key: `vhost-net:${n.id}`,
        source: { kind: "vhost-net" },
        need: need(`${item}.vhost`, "vhost-net moves the datapath into the kernel"),
      });
      c.fragments!.push({ fragment: "net-vhost-net", need: need(`${item}.vhost`, "vhost-net ioctls") });
    } else {
      c.warnings!.push({
        code: "VHOST_NET_UNAVAILABLE",
        item: `${item}.vhost`,
        message: `${item}: this host has no /dev/vhost-net; the tap is served by QEMU itself`,
      });
    }
  }
  return c;
}

function contribute(ctx: CatalogueContext): Contribution[] {
  return ctx.config.nic.map((n, i) => one(ctx, n, `nic[${i}]`));
}

/** Network interfaces (user, tap, vhost-net). */
export const nicKind: DeviceKind = { kind: "nic", contribute };
