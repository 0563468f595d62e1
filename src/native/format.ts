// Wire constants of the helper spec format (native/README.md). Kept in one place so the
// serializer, the golden tests and the C side (native/src/qj.h) can be compared line by line.

export const SPEC_MAGIC = "QJSP";
export const SPEC_VERSION = 1;
/** Largest string the helper accepts (PATH_MAX - 1). */
export const STR_MAX = 4095;
export const NO_FD = 0xffffffff;
export const RLIM_INFINITY = 0xffffffffffffffffn;

/** Record types; the number is also the order the helper requires (root records share one rank). */
export const Rec = {
  end: 0,
  fd: 1,
  env: 2,
  pdeathsig: 3,
  cgroup: 4,
  netns: 5,
  unshare: 6,
  uidmap: 7,
  gidmap: 8,
  propagation: 9,
  root: 10,
  bind: 11,
  mkdir: 12,
  symlink: 13,
  tmpfs: 14,
  mknod: 15,
  proc: 16,
  selinuxExec: 17,
  apparmorExec: 18,
  rlimit: 19,
  hostname: 20,
  groups: 21,
  ids: 22,
  caps: 23,
  cwd: 24,
  landlock: 25,
  landlockPath: 26,
  seccomp: 27,
  exec: 28,
  failAfter: 29,
  trace: 30,
} as const;

/** Namespace bits of the UNSHARE record. */
export const NsBit = { mount: 1, pid: 2, net: 4, ipc: 8, uts: 16, cgroup: 32, user: 64 } as const;
export type NamespaceName = keyof typeof NsBit;

export const BindFlag = { rw: 1, dir: 2, exec: 4 } as const;
export const LandlockFlag = { required: 1, scopeSignal: 2, scopeAbstractUnix: 4 } as const;

/** Kernel RLIMIT_* numbers (identical on x86_64 and aarch64). */
export const RlimitNumber = {
  CPU: 0,
  FSIZE: 1,
  DATA: 2,
  STACK: 3,
  CORE: 4,
  RSS: 5,
  NPROC: 6,
  NOFILE: 7,
  MEMLOCK: 8,
  AS: 9,
} as const;
export type RlimitName = keyof typeof RlimitNumber;

/** Landlock filesystem access rights, LANDLOCK_ACCESS_FS_* bit numbers. */
export const LandlockAccessBit = {
  execute: 0,
  write_file: 1,
  read_file: 2,
  read_dir: 3,
  remove_dir: 4,
  remove_file: 5,
  make_char: 6,
  make_dir: 7,
  make_reg: 8,
  make_sock: 9,
  make_fifo: 10,
  make_block: 11,
  make_sym: 12,
  refer: 13,
  truncate: 14,
  ioctl_dev: 15,
} as const;
export type LandlockAccess = keyof typeof LandlockAccessBit;

/** Linux capability numbers (include/uapi/linux/capability.h). */
export const CapabilityNumber: Record<string, number> = Object.fromEntries(
  [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
  ].map((n, i) => [`CAP_${n}`, i]),
);

/** Stage names, in the order the helper runs them (the status lines use these). */
export const STAGES = [
  "parse",
  "prepare",
  "fds",
  "cgroup",
  "netns",
  "unshare",
  "idmap",
  "propagation",
  "root",
  "proc",
  "lsm",
  "pivot",
  "remount",
  "rlimits",
  "hostname",
  "creds",
  "pdeathsig",
  "cwd",
  "nnp",
  "landlock",
  "seccomp",
] as const;
export type StageName = (typeof STAGES)[number];
