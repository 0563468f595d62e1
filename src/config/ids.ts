// Stable identifiers derived from the config: the VM's UUID (v5 of its name) and NIC MAC
// addresses (from the UUID and the NIC id), so two runs of one config produce the same plan.

import { createHash } from "node:crypto";

/** The fixed qemu-jail namespace for UUIDv5 names. Never change it: UUIDs would change. */
export const UUID_NAMESPACE = "6bf8a71f-fe15-4d9d-9326-8b6d0df99ff2";

/** RFC 9562 UUIDv5 of `name` in `namespace`. */
export function uuidV5(name: string, namespace = UUID_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const h = createHash("sha1").update(ns).update(name, "utf8").digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** A MAC in QEMU's 52:54:00 prefix (locally administered, unicast), stable per (uuid, nic id). */
export function stableMac(uuid: string, nicId: string): string {
  const h = createHash("sha256").update(`${uuid}/${nicId}`).digest();
  const tail = [h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, "0"));
  return ["52", "54", "00", ...tail].join(":");
}
