// Disks. Served by QEMU: the launcher opens the image (O_RDWR, or O_RDONLY for read-only disks
// and every backing file) and passes it as an fdset, so no image path is in QEMU's root. Served
// by vhost-user (issue 6): a jailed qemu-storage-daemon gets the image bound in its own root
// (QSD 7.2 has no --add-fd), exports it on a listening socket the launcher made, and QEMU gets a
// connected end of that socket.

import type { DiskConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";
import type { OwnershipChange, RootEntry } from "../plan/types.js";
import { elfEntries } from "./elf.js";
import type { CatalogueContext, Contribution, DeviceKind, FdRequest, FragmentUse } from "./types.js";
import { imageKey, need } from "./util.js";
import { BACKEND_LIMITS, vhostUserFrontend } from "./vhost-user.js";

/** Process id of the storage daemon serving disk `id`. */
export function qsdId(id: string): string {
  return `qsd-${id}`;
}

function blockFragments(d: DiskConfig, item: string): FragmentUse[] {
  const out: FragmentUse[] = [
    { fragment: "block", need: need(item, `${d.format} image I/O`) },
    { fragment: `block-aio-${d.aio.replace("_", "-")}`, need: need(item, `aio = "${d.aio}"`) },
  ];
  if (d.discard) out.push({ fragment: "block-discard", need: need(item, "discard = true (punch holes)") });
  return out;
}

function ioUringWarning(d: DiskConfig, item: string) {
  return d.aio === "io_uring"
    ? [
        {
          code: "IO_URING",
          item,
          message: `${item} uses aio = "io_uring": io_uring operations run in the kernel without passing through seccomp`,
        },
      ]
    : [];
}

/** An image opened by the launcher, pinned to the file the host probe saw (see FileIdentity). */
function imageSource(ctx: CatalogueContext, path: string, write: boolean): FdRequest["source"] {
  const identity = ctx.host.images[path]?.identity;
  return identity ? { kind: "file", path, write, identity } : { kind: "file", path, write };
}

function qemuDisk(ctx: CatalogueContext, d: DiskConfig, item: string): Contribution {
  const fds: FdRequest[] = [
    {
      key: imageKey(d.path),
      source: imageSource(ctx, d.path, !d.readonly),
      need: need(item, `disk image (${d.readonly ? "read-only" : "read-write"}, ${d.format})`),
      fdset: true,
    },
  ];
  d.backing.forEach((b, i) => {
    fds.push({
      key: imageKey(b.path),
      source: imageSource(ctx, b.path, false),
      need: need(`${item}.backing[${i}]`, `backing image of ${d.id} (read-only, ${b.format})`),
      fdset: true,
    });
  });
  return {
    item,
    target: "qemu",
    fds,
    fragments: blockFragments(d, item),
    rlimits: d.readonly
      ? []
      : [
          {
            resource: "FSIZE",
            soft: "unlimited",
            hard: "unlimited",
            need: need(item, "a writable image may grow"),
          },
        ],
    warnings: ioUringWarning(d, item),
  };
}

/** In-jail path of a storage daemon's image (top = index -1, else backing index). */
function qsdImagePath(d: DiskConfig, k: number): string {
  return k < 0 ? `/images/${d.id}` : `/images/${d.id}.backing${k}`;
}

function cacheOpts(d: DiskConfig): { direct: boolean; "no-flush": boolean } {
  return { direct: d.cache === "none" || d.cache === "directsync", "no-flush": d.cache === "unsafe" };
}

/**
 * qemu-storage-daemon's arguments: explicit nodes for the whole chain in JSON form (so the deepest
 * qcow2 node says `"backing": null` and QSD never opens the host path an image header names; the
 * dotted form cannot express null), then one vhost-user-blk export on the listening fd.
 */
export function qsdArgs(d: DiskConfig, exe: string, listenFd: number): string[] {
  const args = [exe];
  const node = (o: Record<string, unknown>) => args.push("--blockdev", JSON.stringify(o));
  const discard = d.discard ? "unmap" : "ignore";
  // Backing nodes deepest first, so each names an already defined node as its backing.
  for (let k = d.backing.length - 1; k >= 0; k--) {
    const b = d.backing[k]!;
    const name = `${d.id}-b${k}`;
    const next = k + 1 < d.backing.length ? `${d.id}-b${k + 1}` : null;
    node({
      driver: "file",
      "node-name": `${name}-file`,
      filename: qsdImagePath(d, k),
      "read-only": true,
      aio: d.aio,
      cache: cacheOpts(d),
    });
    node({
      driver: b.format,
      "node-name": name,
      file: `${name}-file`,
      "read-only": true,
      ...(b.format === "qcow2" ? { backing: next } : {}),
    });
  }
  node({
    driver: "file",
    "node-name": `${d.id}-file`,
    filename: qsdImagePath(d, -1),
    "read-only": d.readonly,
    aio: d.aio,
    cache: cacheOpts(d),
    discard,
  });
  const backing = d.backing.length > 0 ? `${d.id}-b0` : null;
  node({
    driver: d.format,
    "node-name": d.id,
    file: `${d.id}-file`,
    "read-only": d.readonly,
    discard,
    ...(d.format === "qcow2" ? { backing } : {}),
  });
  args.push(
    "--export",
    `type=vhost-user-blk,id=${d.id}-export,node-name=${d.id},addr.type=fd,addr.str=${listenFd},writable=${d.readonly ? "off" : "on"}`,
  );
  return args;
}

/** Hands an image to the backend's uid when that uid could not otherwise open it as asked. */
function ownership(
  ctx: CatalogueContext,
  path: string,
  write: boolean,
  uid: number,
  gid: number,
  item: string,
) {
  const f = ctx.host.images[path];
  if (!f) return [];
  const other = f.mode & 0o7;
  const ok = f.uid === uid || (!write && other & 0o4);
  return ok
    ? []
    : [{ path, uid, gid, need: need(item, `the storage daemon's uid must ${write ? "write" : "read"} it`) }];
}

function vhostUserDisk(ctx: CatalogueContext, d: DiskConfig, item: string): Contribution[] {
  const sd = ctx.host.storageDaemon;
  if (!sd) {
    throw new QemuJailError("HOST_NO_STORAGE_DAEMON", "qemu-storage-daemon is not installed", {
      exit: "host",
      location: { key: `${item}.backend` },
      hint: 'install qemu-utils (it ships qemu-storage-daemon), or set backend = "qemu"',
    });
  }
  const id = qsdId(d.id);
  const idx = ctx.backendIndex[id]!;
  const uid = ctx.ids.uid[idx]!;
  const gid = ctx.ids.gid[idx]!;
  const bin = need(item, "qemu-storage-daemon serves this disk (backend = vhost-user)");
  const root: RootEntry[] = [
    { kind: "bind", path: sd.path, source: sd.path, type: "file", rw: false, need: bin },
    ...elfEntries(sd.elf, item),
    {
      kind: "bind",
      path: qsdImagePath(d, -1),
      source: d.path,
      type: "file",
      rw: !d.readonly,
      need: need(item, `disk image (${d.readonly ? "read-only" : "read-write"}, ${d.format})`),
    },
  ];
  const own: OwnershipChange[] = [...ownership(ctx, d.path, !d.readonly, uid, gid, item)];
  d.backing.forEach((b, k) => {
    const bi = `${item}.backing[${k}]`;
    root.push({
      kind: "bind",
      path: qsdImagePath(d, k),
      source: b.path,
      type: "file",
      rw: false,
      need: need(bi, `backing image of ${d.id} (read-only, ${b.format})`),
    });
    own.push(...ownership(ctx, b.path, false, uid, gid, bi));
  });
  const sock = `${ctx.stateDir}/${d.id}.vhost-user.sock`;
  const backend: Contribution = {
    item,
    target: id,
    root,
    fds: [
      {
        key: "vhost-user",
        source: { kind: "listen-unix", path: sock },
        need: need(item, "listening vhost-user socket made by the launcher (no path in either jail)"),
      },
    ],
    fragments: [
      { fragment: "qemu-storage-daemon", need: bin },
      { fragment: "exec", need: need(item, "the filter is loaded before execve") },
      ...blockFragments(d, item),
    ],
    rlimits: [
      {
        resource: "NOFILE",
        soft: 1024,
        hard: 1024,
        need: need(item, "the image, the socket, a few event fds"),
      },
      { resource: "CORE", soft: 0, hard: 0, need: need(item, "no core dumps of guest data") },
      ...(d.readonly
        ? []
        : [
            {
              resource: "FSIZE" as const,
              soft: "unlimited" as const,
              hard: "unlimited" as const,
              need: need(item, "a writable image may grow"),
            },
          ]),
    ],
    devices: [{ path: "/dev/null", access: "rw", need: need(item, "QEMU's start-up code opens /dev/null") }],
    ownership: own,
    warnings: ioUringWarning(d, item),
    backend: {
      id,
      role: "qemu-storage-daemon",
      item,
      exe: sd.path,
      args: (fds) => qsdArgs(d, sd.path, fds.fd["vhost-user"]!),
      limits: BACKEND_LIMITS,
    },
  };
  const frontend = vhostUserFrontend(item, d.id, id, sock, {
    socket: "the storage daemon's vhost-user socket",
    frontend: "vhost-user-blk frontend",
  });
  return [backend, frontend];
}

function contribute(ctx: CatalogueContext): Contribution[] {
  return ctx.config.disk.flatMap((d, i) => {
    const item = `disk[${i}]`;
    return d.backend === "vhost-user" ? vhostUserDisk(ctx, d, item) : [qemuDisk(ctx, d, item)];
  });
}

/** Disks (QEMU-served via fdsets, or vhost-user via a jailed storage daemon). */
export const diskKind: DeviceKind = { kind: "disk", contribute };
