// The per-call helper the device modules share: turns host paths into what QEMU should see
// (an fdset, an in-jail path, or the host path) and collects the -add-fd arguments they need.

import type { VmConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";
import type { ArgvContext, SocketSource } from "./context.js";
import { kv } from "./opts.js";

/** What device modules use to name files and sockets. */
export interface ArgvEnv {
  config: VmConfig;
  ctx: ArgvContext;
  runDir: string;
  /** A file QEMU opens with qemu_open(): fdset if the context has one, else the mapped path. */
  openable(hostPath: string): string;
  /** A file QEMU opens by name only (kernel, initrd): the mapped path. */
  mapped(hostPath: string): string;
  /** `-add-fd` arguments for the fdsets used so far, in first-use order. */
  addFdArgs(): string[];
}

/** Builds the env, validating the context's fds. */
export function makeEnv(config: VmConfig, ctx: ArgvContext = {}): ArgvEnv {
  validateContext(ctx);
  const runDir = ctx.runDir ?? `${config.jail.state_dir}/${config.vm.name}`;
  const used: number[] = [];
  const addFd: string[] = [];
  const mapped = (p: string) => ctx.paths?.[p] ?? p;
  return {
    config,
    ctx,
    runDir,
    mapped,
    openable(p) {
      const set = ctx.fdsets?.[p];
      if (!set) return mapped(p);
      if (!used.includes(set.set)) {
        used.push(set.set);
        for (const f of set.fds)
          addFd.push(
            "-add-fd",
            kv(undefined, [
              ["fd", f.fd],
              ["set", set.set],
              ["opaque", f.opaque],
            ]),
          );
      }
      return `/dev/fdset/${set.set}`;
    },
    addFdArgs: () => addFd,
  };
}

/** `-chardev socket` options for a socket QEMU listens on (QMP, serial). */
export function listenSocket(
  id: string,
  src: SocketSource | undefined,
  defaultPath: string,
  env: ArgvEnv,
): string {
  if (src && "fd" in src)
    return kv("socket", [
      ["id", id],
      ["fd", src.fd],
      ["server", true],
      ["wait", false],
    ]);
  const path = src && "path" in src ? src.path : defaultPath;
  return kv("socket", [
    ["id", id],
    ["path", env.mapped(path)],
    ["server", true],
    ["wait", false],
  ]);
}

/** `-chardev socket` options for a vhost-user backend socket QEMU connects to. */
export function clientSocket(
  id: string,
  src: SocketSource | undefined,
  defaultPath: string,
  env: ArgvEnv,
): string {
  if (src && "fd" in src)
    return kv("socket", [
      ["id", id],
      ["fd", src.fd],
    ]);
  const path = src && "path" in src ? src.path : defaultPath;
  return kv("socket", [
    ["id", id],
    ["path", env.mapped(path)],
  ]);
}

function validateContext(ctx: ArgvContext): void {
  const fds: Array<[string, number | undefined]> = [];
  for (const [p, s] of Object.entries(ctx.fdsets ?? {})) {
    if (!Number.isInteger(s.set) || s.set < 0) bad(`fdsets[${p}].set must be a non-negative integer`);
    if (s.fds.length === 0) bad(`fdsets[${p}] has no fds`);
    for (const [i, f] of s.fds.entries()) fds.push([`fdsets[${p}].fds[${i}]`, f.fd]);
  }
  if (ctx.qmp && "fd" in ctx.qmp) fds.push(["qmp.fd", ctx.qmp.fd]);
  if (ctx.serial) fds.push(["serial.fd", ctx.serial.fd]);
  for (const [id, t] of Object.entries(ctx.taps ?? {}))
    fds.push([`taps.${id}.fd`, t.fd], [`taps.${id}.vhostfd`, t.vhostfd]);
  for (const [id, s] of Object.entries(ctx.vhostUser ?? {}))
    if ("fd" in s) fds.push([`vhostUser.${id}.fd`, s.fd]);
  if (ctx.vsock) fds.push(["vsock.vhostfd", ctx.vsock.vhostfd]);
  for (const [where, fd] of fds) {
    if (fd === undefined) continue;
    if (!Number.isInteger(fd) || fd < 3) bad(`${where} must be an fd number >= 3, got ${fd}`);
  }
}

function bad(message: string): never {
  throw new QemuJailError("ARGV_BAD_CONTEXT", `invalid ArgvContext: ${message}`, { exit: "runtime" });
}
