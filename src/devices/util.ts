// Small helpers shared by the device modules: building needs, read-only binds and host-fact
// look-ups that fail with a host-class error naming the config item.

import { QemuJailError } from "../errors.js";
import type { HostFacts } from "../host/types.js";
import type { Need, RootEntry } from "../plan/types.js";

/** A Need for a config item. */
export function need(item: string, reason: string): Need {
  return { item, reason };
}

/** A read-only bind of a host file at `path` in the root (the source with symlinks resolved). */
export function roFile(path: string, source: string, n: Need): RootEntry {
  return { kind: "bind", path, source, type: "file", rw: false, need: n };
}

/** Firmware/option ROM `name` as QEMU will find it: bound at the path QEMU opens, from its real file. */
export function firmwareEntry(host: HostFacts, name: string, n: Need): RootEntry {
  const fw = host.qemu.firmware?.[name];
  if (!fw) {
    throw new QemuJailError("HOST_FIRMWARE_MISSING", `QEMU firmware ${name} not found in its search dirs`, {
      exit: "host",
      location: { key: n.item },
      hint: `${n.item} needs it (${n.reason}); searched ${host.qemu.firmwareDirs.join(", ") || "no dirs"}. Install the package that ships it (seabios, ipxe-qemu, ovmf).`,
    });
  }
  return roFile(fw.path, fw.realPath, n);
}

/** Fails with a host error unless the host has the device node. */
export function requireDevice(host: HostFacts, path: string, n: Need, hint: string): void {
  if (!host.devices[path]) {
    throw new QemuJailError("HOST_DEVICE_MISSING", `${path} is missing on this host`, {
      exit: "host",
      location: { key: n.item },
      hint: `${n.item} needs it (${n.reason}). ${hint}`,
    });
  }
}

/** A qemu-jail internal key for an image fd ("image:<host path>"). */
export function imageKey(path: string): string {
  return `image:${path}`;
}
