// Smaller devices: virtio-rng, vhost-vsock, and virtiofs shares (vhost-user-fs-pci, whose
// backend is a jailed virtiofsd reached over a socket).

import type { ArgvEnv } from "./env.js";
import { clientSocket } from "./env.js";
import { kv } from "./opts.js";

/** -object rng-random + virtio-rng-pci. */
export function rngArgs(env: ArgvEnv): string[] {
  const rng = env.config.rng;
  if (!rng) return [];
  return [
    "-object",
    kv("rng-random", [
      ["id", "rng0"],
      ["filename", env.openable(rng.source)],
    ]),
    "-device",
    kv("virtio-rng-pci", [
      ["id", "rng0"],
      ["rng", "rng0"],
    ]),
  ];
}

/** vhost-vsock-pci with the guest's CID. */
export function vsockArgs(env: ArgvEnv): string[] {
  const v = env.config.vsock;
  if (!v) return [];
  return [
    "-device",
    kv("vhost-vsock-pci", [
      ["id", "vsock0"],
      ["guest-cid", v.cid],
      ["vhostfd", env.ctx.vsock?.vhostfd],
    ]),
  ];
}

/** A client chardev and a vhost-user-fs-pci device per share. */
export function shareArgs(env: ArgvEnv): string[] {
  return env.config.share.flatMap((s) => {
    const sock = `${s.id}.sock`;
    return [
      "-chardev",
      clientSocket(sock, env.ctx.vhostUser?.[s.id], `${env.runDir}/${s.id}.virtiofs.sock`, env),
      "-device",
      kv("vhost-user-fs-pci", [
        ["id", s.id],
        ["chardev", sock],
        ["tag", s.tag],
      ]),
    ];
  });
}
