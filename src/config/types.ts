// The validated guest configuration, as `parseConfig` returns it: every default applied, every
// size in bytes, every path absolute (relative paths in vm.toml resolve against the file's dir).
// Field names are the vm.toml keys, so an error's key path and the TOML the user wrote agree.
//
// This is a contract shared by the config loader, the device catalogue, the planner and the
// launcher. Change it deliberately.

export type Arch = "x86_64" | "aarch64";
export type MachineType = "q35" | "pc" | "microvm" | "virt";
export type Accel = "kvm" | "tcg" | "auto";

export interface VmSection {
  /** Safe path component and cgroup name: ^[a-z0-9][a-z0-9_.-]{0,62}$, not "." or "..". */
  name: string;
  /** From the config, or a UUIDv5 of the name (stable across runs, so plans are reproducible). */
  uuid: string;
  arch: Arch;
  machine: MachineType;
  accel: Accel;
  cpus: number;
  /** Guest RAM in bytes ("512M", "4G" in vm.toml). */
  memory: number;
  /** -cpu model; default "max" under TCG and "host" under KVM. */
  cpu_model: string;
}

export type BootConfig =
  | { mode: "kernel"; kernel: string; initrd?: string; cmdline: string }
  | { mode: "firmware"; code: string; vars_template?: string };

export type DiskFormat = "raw" | "qcow2";
export type DiskBus = "virtio-blk" | "nvme" | "virtio-scsi";
export type DiskCache = "none" | "writeback" | "writethrough" | "directsync" | "unsafe";
export type DiskAio = "threads" | "native" | "io_uring";

export interface BackingImage {
  path: string;
  format: DiskFormat;
}

export interface DiskConfig {
  id: string;
  path: string;
  format: DiskFormat;
  readonly: boolean;
  bus: DiskBus;
  cache: DiskCache;
  aio: DiskAio;
  discard: boolean;
  serial?: string;
  boot_index?: number;
  /** qcow2 backing chain, nearest first, each an explicit -blockdev node (always read-only). */
  backing: BackingImage[];
  /** "qemu": QEMU opens the image. "vhost-user": a jailed qemu-storage-daemon serves it. */
  backend: "qemu" | "vhost-user";
}

export interface PortForward {
  proto: "tcp" | "udp";
  host_addr: string;
  host_port: number;
  guest_port: number;
}

export type NicConfig =
  | { id: string; mode: "user"; mac: string; model: "virtio-net-pci"; forward: PortForward[] }
  | {
      id: string;
      mode: "tap";
      mac: string;
      model: "virtio-net-pci";
      /** Tap interface name on the host (or in `netns`). */
      tap: string;
      /** true: the launcher creates the tap (and removes it after); false: it must exist. */
      create: boolean;
      /** Network namespace (name under /run/netns) holding the tap; absent: the host's. */
      netns?: string;
      /** Bridge to enslave a created tap to. */
      bridge?: string;
      /** Use /dev/vhost-net when the host has it. */
      vhost: boolean;
    };

export interface ShareConfig {
  id: string;
  path: string;
  tag: string;
  readonly: boolean;
}

export type SerialConfig =
  | { mode: "file"; path: string }
  | { mode: "socket"; path: string }
  | { mode: "stdio" }
  | { mode: "none" };

export interface QmpConfig {
  /** Where the launcher exposes QMP; absent: <state_dir>/<name>/qmp.sock. */
  path?: string;
}

export interface RngConfig {
  /** Host entropy source for virtio-rng-pci. */
  source: "/dev/urandom" | "/dev/random";
}

export interface VsockConfig {
  cid: number;
}

export interface CgroupLimits {
  /** Parent cgroup (relative to each hierarchy's root); absent: the launcher's own cgroup. */
  parent?: string;
  cpu_weight?: number;
  /** CPU bandwidth: quota per period, in microseconds. */
  cpu_max?: { quota_us: number; period_us: number };
  /** Bytes. Absent: guest memory plus `memory_overhead`. */
  memory_max?: number;
  memory_overhead: number;
  pids_max: number;
  io_weight?: number;
}

export type SeccompMode = "kill" | "trap" | "log" | "errno";
export type LsmChoice = "auto" | "selinux" | "apparmor" | "none";

export interface JailConfig {
  /** A fixed host uid, or "auto": a dedicated block of ids per VM from `id_range`. */
  uid: number | "auto";
  gid: number | "auto";
  /** [first, count] of the ids "auto" allocates from. */
  id_range: [number, number];
  cgroup: CgroupLimits;
  /** What a syscall outside the allowlist gets. */
  seccomp: SeccompMode;
  lsm: LsmChoice;
  /** "auto": use Landlock when the kernel has it; "on": fail without it. */
  landlock: "auto" | "on" | "off";
  user_namespace: boolean;
  /** Extra host paths bound read-only into QEMU's root (flagged in audits). */
  extra_ro_paths: string[];
  state_dir: string;
}

export interface QemuSection {
  binary: string;
  /** Layer QEMU's own `-sandbox` (spawn/elevateprivileges/obsolete/resourcecontrol=deny) on top. */
  sandbox: boolean;
  /** Escape hatch: appended verbatim; no policy was derived for them, so every output flags them. */
  extra_args: string[];
}

export interface VmConfig {
  /** The file it came from, when loaded from one. */
  source?: string;
  vm: VmSection;
  boot: BootConfig;
  disk: DiskConfig[];
  nic: NicConfig[];
  share: ShareConfig[];
  serial: SerialConfig;
  qmp: QmpConfig;
  rng: RngConfig | null;
  vsock: VsockConfig | null;
  jail: JailConfig;
  qemu: QemuSection;
}
