// Disks: an explicit -blockdev graph per disk (protocol node "<id>.file", format node "<id>",
// each backing image as its own read-only pair "<id>.b<n>.file"/"<id>.b<n>", the chain's end
// closed with backing=null so QEMU never opens a file the config did not name), then the
// guest-visible -device. vhost-user disks get a vhost-user-blk-pci device and a client socket.

import type { DiskCache, DiskConfig } from "../config/types.js";
import { type ArgvEnv, clientSocket } from "./env.js";
import { json, kv } from "./opts.js";

/** QEMU's cache.direct / cache.no-flush / device write-cache for each cache mode. */
export const CACHE_MODES: Record<DiskCache, { direct: boolean; noFlush: boolean; writeCache: boolean }> = {
  none: { direct: true, noFlush: false, writeCache: true },
  writeback: { direct: false, noFlush: false, writeCache: true },
  writethrough: { direct: false, noFlush: false, writeCache: false },
  directsync: { direct: true, noFlush: false, writeCache: false },
  unsafe: { direct: false, noFlush: true, writeCache: true },
};

/** Node names of a disk's graph, top first: [format node, file node] per image. */
export function diskNodeNames(d: DiskConfig): string[] {
  const out = [d.id, `${d.id}.file`];
  for (let n = 0; n < d.backing.length; n++) out.push(`${d.id}.b${n}`, `${d.id}.b${n}.file`);
  return out;
}

/** -blockdev and -device (and -chardev for vhost-user) arguments for every disk. */
export function diskArgs(env: ArgvEnv): string[] {
  const out: string[] = [];
  const disks = env.config.disk;
  if (disks.some((d) => d.bus === "virtio-scsi" && d.backend === "qemu"))
    out.push("-device", kv("virtio-scsi-pci", [["id", "scsi0"]]));
  for (const d of disks) out.push(...(d.backend === "vhost-user" ? vhostUserDisk(d, env) : qemuDisk(d, env)));
  return out;
}

function qemuDisk(d: DiskConfig, env: ArgvEnv): string[] {
  const cache = CACHE_MODES[d.cache];
  const images = [
    { path: d.path, format: d.format, ro: d.readonly },
    ...d.backing.map((b) => ({ ...b, ro: true })),
  ];
  const names = (n: number) => (n === 0 ? d.id : `${d.id}.b${n - 1}`);
  const out: string[] = [];
  // Backing nodes first: a format node's `backing` must name a node that already exists.
  for (let n = images.length - 1; n >= 0; n--) {
    const img = images[n]!;
    const name = names(n);
    const common = {
      "read-only": img.ro,
      discard: d.discard && !img.ro ? "unmap" : "ignore",
      cache: { direct: cache.direct, "no-flush": cache.noFlush },
    };
    out.push(
      "-blockdev",
      json({
        driver: "file",
        "node-name": `${name}.file`,
        filename: env.openable(img.path),
        aio: d.aio,
        ...common,
      }),
    );
    const fmt: Record<string, unknown> = {
      driver: img.format,
      "node-name": name,
      file: `${name}.file`,
      ...common,
    };
    if (img.format === "qcow2") fmt.backing = n + 1 < images.length ? names(n + 1) : null;
    out.push("-blockdev", json(fmt));
  }
  const common: Array<[string, string | number | boolean | undefined]> = [
    ["id", d.id],
    ["drive", d.id],
    ["serial", d.bus === "nvme" ? (d.serial ?? d.id) : d.serial],
    ["bootindex", d.boot_index],
    ["write-cache", cache.writeCache],
  ];
  if (d.bus === "virtio-blk") out.push("-device", kv("virtio-blk-pci", common));
  else if (d.bus === "nvme") out.push("-device", kv("nvme", common));
  else out.push("-device", kv("scsi-hd", [...common, ["bus", "scsi0.0"]]));
  return out;
}

function vhostUserDisk(d: DiskConfig, env: ArgvEnv): string[] {
  const sock = `${d.id}.sock`;
  return [
    "-chardev",
    clientSocket(sock, env.ctx.vhostUser?.[d.id], `${env.runDir}/${d.id}.vhost-user-blk.sock`, env),
    "-device",
    kv("vhost-user-blk-pci", [
      ["id", d.id],
      ["chardev", sock],
      ["bootindex", d.boot_index],
    ]),
  ];
}
