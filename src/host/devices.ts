// Device nodes the device catalogue may bind into a jail, with the type and numbers stat reports
// (the native helper re-creates them with mknod inside the jail root).

import { stat } from "node:fs/promises";
import { join } from "node:path";
import type { DeviceNodeFacts } from "./types.js";

/** Every node the catalogue may need. */
export const KNOWN_DEVICE_NODES = [
  "/dev/kvm",
  "/dev/net/tun",
  "/dev/vhost-net",
  "/dev/vhost-vsock",
  "/dev/urandom",
  "/dev/random",
  "/dev/null",
  "/dev/zero",
] as const;

/** Linux dev_t split (new encoding: 12-bit major, 20-bit minor spread over 64 bits). */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
  return { major, minor };
}

/** Stats each known node under `devRoot` (default "/" so paths are the real ones); absent ones are left out. */
export async function probeDevices(
  root = "/",
  paths: readonly string[] = KNOWN_DEVICE_NODES,
): Promise<Record<string, DeviceNodeFacts>> {
  const out: Record<string, DeviceNodeFacts> = {};
  await Promise.all(
    paths.map(async (p) => {
      const st = await stat(join(root, p), { bigint: true }).catch(() => undefined);
      if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) return;
      out[p] = { path: p, type: st.isCharacterDevice() ? "c" : "b", ...splitDev(st.rdev) };
    }),
  );
  return Object.fromEntries(paths.filter((p) => out[p]).map((p) => [p, out[p]!]));
}
