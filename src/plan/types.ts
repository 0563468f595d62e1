// JailPlan: everything `launch` will do, as plain JSON-serialisable data. `plan()` is pure, so
// a plan can be printed, diffed, golden-tested and audited without touching the host.
//
// Every host resource a jail gets carries a `Need`: the config item that requires it. A contract
// shared by the planner, the launcher, audits and the CLI. Change it deliberately.

import type { Arch } from "../config/types.js";
import type { FileIdentity } from "../host/types.js";
import type { Policy } from "../seccomp/types.js";

/** Why something is in the plan: the config item (a key path such as "disk[0]" / "vm.accel") and a reason. */
export interface Need {
  item: string;
  reason: string;
}

/** One path inside a process's private root. */
export type RootEntry =
  | { kind: "bind"; path: string; source: string; type: "file" | "dir"; rw: boolean; need: Need }
  | { kind: "dir"; path: string; mode: number; need: Need }
  | { kind: "tmpfs"; path: string; mode: number; sizeBytes: number; uid: number; gid: number; need: Need }
  | { kind: "symlink"; path: string; target: string; need: Need }
  /** A private procfs (new pid namespace: shows only the jail's own processes). Only where a need forces it. */
  | { kind: "proc"; path: string; need: Need };

/** A device node created (mknod) inside the root. */
export interface DeviceNode {
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
  mode: number;
  uid: number;
  gid: number;
  need: Need;
}

/** A file descriptor the launcher opens before jailing and passes at a fixed number. */
export type FdSource =
  /** `copyOf`: the launcher first creates `path` as a copy of that file (e.g. OVMF vars from the template). */
  /**
   * `identity`: the file the host probe saw; the launcher refuses an fd that is not this very
   * file (a swap between planning and opening). Without it, the launcher opens `path` with
   * O_NOFOLLOW and accepts only a regular file.
   */
  | {
      kind: "file";
      path: string;
      write: boolean;
      copyOf?: string;
      append?: boolean;
      identity?: FileIdentity;
    }
  /**
   * A unix socket the launcher binds and listens on. `blocking`: the consumer accept()s in blocking
   * mode (C virtiofsd exits on EAGAIN), so the fd must be passed without O_NONBLOCK.
   */
  | { kind: "listen-unix"; path: string; blocking?: boolean }
  | { kind: "tap"; name: string; netns?: string }
  | { kind: "vhost-net" }
  /**
   * A connected client end to the listening socket the launcher made for `process` (its fd keyed
   * `endpoint` = the host path of that listening socket): the launcher connects before starting
   * this process, so neither jail needs the path.
   */
  | { kind: "socket-of"; process: string; endpoint: string }
  /** A device node the launcher opens (read-write) and passes, e.g. /dev/vhost-vsock for vhostfd=. */
  | { kind: "device"; path: string }
  /** The launcher's own stdin/stdout (serial on stdio). */
  | { kind: "stdio"; stream: "stdin" | "stdout" };

export interface PassedFd {
  /** fd number in the jailed process. */
  fd: number;
  source: FdSource;
  need: Need;
}

export type NamespaceMode = "new" | "host" | { join: string };

export interface Namespaces {
  mount: boolean;
  pid: boolean;
  net: NamespaceMode;
  ipc: boolean;
  uts: boolean;
  cgroup: boolean;
  /** A user namespace; only mappings to unprivileged host ids are ever planned. */
  user: false | { uidMap: Array<[number, number, number]>; gidMap: Array<[number, number, number]> };
  /** Why `net` is not a new, empty namespace (e.g. user-mode networking needs the host's stack). */
  netNeed?: Need;
}

export interface Rlimit {
  resource: "NOFILE" | "NPROC" | "FSIZE" | "MEMLOCK" | "CORE" | "AS" | "STACK";
  soft: number | "unlimited";
  hard: number | "unlimited";
  need: Need;
}

/** Limits in neutral units; the launcher maps them to v2 files or v1 controller files. */
export interface CgroupPlan {
  /** Path relative to the parent (the launcher's own cgroup or jail.cgroup.parent), e.g. "qemu-jail-vm1/qemu". */
  path: string;
  cpuWeight?: number;
  cpuMax?: { quotaUs: number; periodUs: number };
  memoryMax?: number;
  pidsMax?: number;
  ioWeight?: number;
  /** Device access rules (v1 devices.allow / v2 BPF device program), "c 10:200 rwm" style. */
  devices: Array<{ rule: string; need: Need }>;
}

export interface LandlockRule {
  path: string;
  /** Landlock filesystem rights (LANDLOCK_ACCESS_FS_*, lower-cased); make_reg..refer added for rw shares. */
  access: Array<
    | "read_file"
    | "write_file"
    | "read_dir"
    | "execute"
    | "make_sock"
    | "truncate"
    | "ioctl_dev"
    | "make_reg"
    | "make_dir"
    | "make_sym"
    | "remove_file"
    | "remove_dir"
    | "refer"
  >;
  need: Need;
}

export interface LsmPlan {
  selinux?: { processLabel: string; imageLabel: string; mcs: string };
  apparmor?: { profileName: string; profile: string };
  landlock?: { required: boolean; rules: LandlockRule[] };
}

export type ProcessRole = "qemu" | "virtiofsd" | "qemu-storage-daemon";

export interface ProcessPlan {
  /** Unique in the plan: "qemu", "virtiofsd-share0", "qsd-disk1". */
  id: string;
  role: ProcessRole;
  /** Absolute path of the binary inside the root. */
  exe: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  hostname: string;
  namespaces: Namespaces;
  root: RootEntry[];
  devices: DeviceNode[];
  fds: PassedFd[];
  rlimits: Rlimit[];
  /** Capabilities kept (normally none), each with its need. */
  capabilities: Array<{ name: string; need: Need }>;
  cgroup: CgroupPlan;
  lsm: LsmPlan;
  seccomp: Policy;
  /** Processes that must be ready before this one starts. */
  after: string[];
}

export interface TapPlan {
  name: string;
  netns?: string;
  bridge?: string;
  owner: { uid: number; gid: number };
  need: Need;
}

export interface OwnershipChange {
  path: string;
  uid: number;
  gid: number;
  need: Need;
}

export interface PlanWarning {
  code: string;
  message: string;
  item: string;
}

export interface JailPlan {
  version: 1;
  vm: { name: string; uuid: string; arch: Arch; source?: string };
  /** Per-VM state dir (locked during a run): /run/qemu-jail/<name>. */
  stateDir: string;
  /** The VM's own cgroup, parent of each process's. */
  cgroup: { parent?: string; path: string };
  /**
   * The VM's id block: process i runs as base+i (uid and gid). `auto`: the slot was derived from the
   * VM name in jail.id_range; the launcher may move the block on a collision with a running VM.
   */
  ids: { base: number; count: number; auto: boolean };
  /** Start order: backends first, QEMU last. */
  processes: ProcessPlan[];
  taps: TapPlan[];
  ownership: OwnershipChange[];
  qmp: { path: string };
  warnings: PlanWarning[];
}
