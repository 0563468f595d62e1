// Network interfaces: -netdev user (with host port forwards) or tap (an fd from the launcher, or
// an interface name QEMU opens itself), each with a virtio-net-pci device.

import type { NicConfig } from "../config/types.js";
import type { HostFacts } from "../host/types.js";
import type { ArgvEnv } from "./env.js";
import { kv } from "./opts.js";

/** -netdev and -device arguments for every nic. */
export function nicArgs(env: ArgvEnv, host?: HostFacts): string[] {
  const out: string[] = [];
  // No PXE option ROM (romfile= empty): direct kernel boot never uses it, OVMF brings its own
  // virtio-net driver, and without it the jail needs no efi-virtio.rom. The planner relies on this.
  const romfile = "";
  for (const n of env.config.nic) {
    out.push("-netdev", netdev(n, env, host));
    out.push(
      "-device",
      kv(n.model, [
        ["id", n.id],
        ["netdev", n.id],
        ["mac", n.mac],
        ["romfile", romfile],
      ]),
    );
  }
  return out;
}

function netdev(n: NicConfig, env: ArgvEnv, host?: HostFacts): string {
  if (n.mode === "user") {
    const fwd = n.forward.map((f): [string, string] => [
      "hostfwd",
      `${f.proto}:${f.host_addr}:${f.host_port}-:${f.guest_port}`,
    ]);
    return kv("user", [["id", n.id], ...fwd]);
  }
  const fds = env.ctx.taps?.[n.id];
  if (fds) {
    const vhost = n.vhost && fds.vhostfd !== undefined;
    return kv("tap", [
      ["id", n.id],
      ["fd", fds.fd],
      ["vhost", vhost],
      ["vhostfd", vhost ? fds.vhostfd : undefined],
    ]);
  }
  const vhost = n.vhost && (host ? "/dev/vhost-net" in host.devices : true);
  return kv("tap", [
    ["id", n.id],
    ["ifname", n.tap],
    ["script", "no"],
    ["downscript", "no"],
    ["vhost", vhost],
  ]);
}
