// Serializer: HelperSpec → the helper's binary spec (native/README.md). Little-endian integers,
// strings as u32 length + bytes, one length-prefixed record per step, then END. Steps are
// stably sorted into the helper's stage order, so callers may list them in any order while
// the relative order inside a stage (e.g. root entries) is kept. Deterministic: golden-tested.

import { QemuJailError } from "../errors.js";
import {
  BindFlag,
  CapabilityNumber,
  LandlockAccessBit,
  LandlockFlag,
  NO_FD,
  NsBit,
  Rec,
  RLIM_INFINITY,
  RlimitNumber,
  SPEC_MAGIC,
  SPEC_VERSION,
  STR_MAX,
} from "./format.js";
import type { FdRef, HelperSpec, HelperStep } from "./spec.js";

/** Maps an FdRef to the fd number it has inside the helper process. */
export type FdResolver = (ref: FdRef) => number;

class Writer {
  private chunks: Buffer[] = [];
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.chunks.push(b);
    return this;
  }
  u32(v: number, what = "value"): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) invalid(`${what} ${v} is not a u32`);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.chunks.push(b);
    return this;
  }
  u64(v: number | bigint, what = "value"): this {
    const big = typeof v === "bigint" ? v : BigInt(v);
    if ((typeof v === "number" && !Number.isSafeInteger(v)) || big < 0n || big > RLIM_INFINITY)
      invalid(`${what} ${v} is not a u64`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(big);
    this.chunks.push(b);
    return this;
  }
  str(s: string, what = "string"): this {
    const bytes = Buffer.from(s, "utf8");
    if (bytes.length > STR_MAX) invalid(`${what} is longer than ${STR_MAX} bytes`);
    if (bytes.includes(0)) invalid(`${what} contains a NUL byte`);
    this.u32(bytes.length);
    this.chunks.push(bytes);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.chunks.push(Buffer.from(b));
    return this;
  }
  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

function invalid(message: string): never {
  throw new QemuJailError("HELPER_SPEC_INVALID", `cannot encode helper spec: ${message}`, {
    exit: "jail",
    hint: "this is a bug in whoever built the HelperSpec",
  });
}

const recordOf: Record<HelperStep["step"], number> = {
  fd: Rec.fd,
  env: Rec.env,
  pdeathsig: Rec.pdeathsig,
  cgroup: Rec.cgroup,
  netns: Rec.netns,
  unshare: Rec.unshare,
  uidmap: Rec.uidmap,
  gidmap: Rec.gidmap,
  propagation: Rec.propagation,
  root: Rec.root,
  bind: Rec.bind,
  mkdir: Rec.mkdir,
  symlink: Rec.symlink,
  tmpfs: Rec.tmpfs,
  mknod: Rec.mknod,
  proc: Rec.proc,
  "selinux-exec": Rec.selinuxExec,
  "apparmor-exec": Rec.apparmorExec,
  rlimit: Rec.rlimit,
  hostname: Rec.hostname,
  groups: Rec.groups,
  ids: Rec.ids,
  caps: Rec.caps,
  cwd: Rec.cwd,
  landlock: Rec.landlock,
  "landlock-path": Rec.landlockPath,
  seccomp: Rec.seccomp,
  exec: Rec.exec,
  "fail-after": Rec.failAfter,
  trace: Rec.trace,
};

/** The order rank of a step: its record type, except root entries, which share one rank. */
export function stepRank(step: HelperStep): number {
  const t = recordOf[step.step];
  if (t === Rec.failAfter) return 1000;
  return t >= Rec.bind && t <= Rec.mknod ? Rec.bind : t;
}

function limit(v: number | "unlimited"): bigint {
  return v === "unlimited" ? RLIM_INFINITY : BigInt(v);
}

function body(step: HelperStep, fd: FdResolver): Buffer {
  const w = new Writer();
  switch (step.step) {
    case "fd":
      return w.u32(fd(step.source), "fd source").u32(step.target, "fd target").done();
    case "env":
      if (!step.name || step.name.includes("=")) invalid(`bad environment name ${JSON.stringify(step.name)}`);
      return w.str(`${step.name}=${step.value}`, "env").done();
    case "pdeathsig":
      return w.u32(step.signal, "signal").done();
    case "cgroup":
      return w.str(step.dir, "cgroup dir").done();
    case "netns":
      return "path" in step
        ? w.u32(NO_FD).str(step.path, "netns path").done()
        : w.u32(fd(step.fd)).str("").done();
    case "unshare":
      return w.u32(step.namespaces.reduce((m, n) => m | NsBit[n], 0)).done();
    case "uidmap":
    case "gidmap":
      return w.u32(step.inside).u32(step.outside).u32(step.count).done();
    case "propagation":
      return w.u32(step.mode === "slave" ? 1 : 0).done();
    case "root":
      return w.u64(step.sizeBytes, "root size").u32(step.mode).str(step.mountpoint, "root mountpoint").done();
    case "bind": {
      const flags =
        (step.rw ? BindFlag.rw : 0) |
        (step.type === "dir" ? BindFlag.dir : 0) |
        (step.exec ? BindFlag.exec : 0);
      return w.u32(flags).str(step.source, "bind source").str(step.path, "bind path").done();
    }
    case "mkdir":
      return w.u32(step.mode).str(step.path, "dir path").done();
    case "symlink":
      return w.str(step.target, "symlink target").str(step.path, "symlink path").done();
    case "tmpfs":
      return w
        .u32(step.mode)
        .u32(step.uid)
        .u32(step.gid)
        .u64(step.sizeBytes)
        .str(step.path, "tmpfs path")
        .done();
    case "mknod":
      return w
        .u32(step.type.charCodeAt(0))
        .u32(step.major)
        .u32(step.minor)
        .u32(step.mode)
        .u32(step.uid)
        .u32(step.gid)
        .str(step.path, "device path")
        .done();
    case "proc":
      return w
        .u32(step.hidepid)
        .u32(step.subsetPid ? 1 : 0)
        .str(step.path, "proc path")
        .done();
    case "selinux-exec":
      return w.str(step.context, "selinux context").done();
    case "apparmor-exec":
      return w.str(step.profile, "apparmor profile").done();
    case "rlimit":
      return w.u32(RlimitNumber[step.resource]).u64(limit(step.soft)).u64(limit(step.hard)).done();
    case "hostname":
      return w.str(step.name, "hostname").done();
    case "groups":
      w.u32(step.gids.length);
      for (const g of step.gids) w.u32(g, "gid");
      return w.done();
    case "ids":
      return w.u32(step.uid, "uid").u32(step.gid, "gid").done();
    case "caps": {
      let mask = 0n;
      for (const name of step.keep) {
        const n = CapabilityNumber[name];
        if (n === undefined) invalid(`unknown capability ${name}`);
        mask |= 1n << BigInt(n);
      }
      return w.u64(mask).done();
    }
    case "cwd":
      return w.str(step.path, "cwd").done();
    case "landlock":
      return w
        .u32(
          (step.required ? LandlockFlag.required : 0) |
            (step.scopeSignal ? LandlockFlag.scopeSignal : 0) |
            (step.scopeAbstractUnix ? LandlockFlag.scopeAbstractUnix : 0),
        )
        .done();
    case "landlock-path": {
      let mask = 0n;
      for (const a of step.access) mask |= 1n << BigInt(LandlockAccessBit[a]);
      return w.u64(mask).str(step.path, "landlock path").done();
    }
    case "seccomp":
      if ("program" in step) return w.u32(NO_FD).u32(step.program.length).bytes(step.program).done();
      return w.u32(fd(step.fd)).u32(0).done();
    case "exec":
      w.u32(step.fd ? fd(step.fd) : NO_FD)
        .u32(step.argv.length, "argc")
        .str(step.path, "exec path");
      for (const a of step.argv) w.str(a, "argv");
      return w.done();
    case "trace":
      return w.done();
    case "fail-after":
      return w
        .u32(step.mode === "stop" ? 1 : 0)
        .str(step.stage)
        .done();
  }
}

/** The default FdResolver for specs that use only stdio refs or already-resolved helper fds. */
export const identityFds: FdResolver = (ref) => ("stdio" in ref ? ref.stdio : ref.parent);

/** Encodes `spec` for the helper. `fd` maps each FdRef to its fd number inside the helper. */
export function serializeSpec(spec: HelperSpec, fd: FdResolver = identityFds): Buffer {
  const sorted = spec.steps
    .map((step, i) => ({ step, i }))
    .sort((a, b) => stepRank(a.step) - stepRank(b.step) || a.i - b.i)
    .map((x) => x.step);
  const out = new Writer().bytes(Buffer.from(SPEC_MAGIC, "ascii")).u32(SPEC_VERSION);
  for (const step of sorted) {
    const b = body(step, fd);
    out.u16(recordOf[step.step]).u16(0).u32(b.length).bytes(b);
  }
  return out.u16(Rec.end).u16(0).u32(0).done();
}
