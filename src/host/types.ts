// HostFacts: everything `plan` needs to know about the host, probed once up front by
// `probeHost()` (src/host/), and passed in as plain data so planning stays pure and tests can
// hand in any host they like. A contract: change it deliberately.

import type { Arch } from "../config/types.js";

export interface CgroupV1Hierarchy {
  /** Controllers on this hierarchy, e.g. ["memory"] or ["cpu","cpuacct"]; named ones as "name=systemd". */
  controllers: string[];
  mountPoint: string;
  /** The launcher's own cgroup in this hierarchy (from /proc/self/cgroup), e.g. "/process_api/abc". */
  ownPath: string;
  /** Root of the hierarchy this mount shows (mountinfo field 4); "/" unless a sub-tree is mounted. */
  mountRoot?: string;
}

export interface CgroupFacts {
  /** "v2": unified only; "v1": legacy only; "hybrid": v1 controllers plus a v2 mount. */
  mode: "v1" | "v2" | "hybrid";
  v2?: {
    mountPoint: string;
    ownPath: string;
    /** Controllers available at the launcher's cgroup (cgroup.controllers). */
    controllers: string[];
    /** Controllers already enabled for the launcher's children (cgroup.subtree_control). */
    subtreeControl?: string[];
    mountRoot?: string;
  };
  v1: CgroupV1Hierarchy[];
}

export interface LsmFacts {
  /** /sys/kernel/security/lsm, split. */
  active: string[];
  selinux: { enabled: boolean; enforcing: boolean; mcsAvailable: boolean };
  apparmor: { enabled: boolean; parser?: string };
  /**
   * Landlock ABI version, 0 when unsupported. -1: "landlock" is in the LSM list but the ABI could
   * not be asked (the native helper's `--probe` is not built); treat as "present, version unknown".
   */
  landlockAbi: number;
}

export interface ElfInfo {
  /** Absolute path of the ELF interpreter (dynamic loader). */
  interpreter?: string;
  /** Resolved absolute paths of every shared library the binary loads (transitively). */
  libraries: string[];
  /** The interpreter with symlinks resolved (the file a jail must contain at `interpreter`). */
  interpreterRealPath?: string;
  /** Per library: the DT_NEEDED name, the path the loader opens, the real file, and who needs it. */
  resolved?: Array<{ name: string; path: string; realPath: string; neededBy: string }>;
}

/** A firmware/option-ROM file QEMU may load by name from its search dirs. */
export interface FirmwareFile {
  /** Where QEMU finds it (first firmware dir holding the name). */
  path: string;
  /** Symlinks followed: the file the jail needs (often in another package's dir). */
  realPath: string;
}

export interface QemuBinaryFacts {
  path: string;
  version: string;
  /** [major, minor, micro] */
  versionParts: [number, number, number];
  elf: ElfInfo;
  /** Module dir (e.g. /usr/lib/x86_64-linux-gnu/qemu) and the modules present in it. */
  moduleDir?: string;
  modules: string[];
  /** Firmware search dirs (-L), in order (e.g. /usr/share/qemu, /usr/share/seabios). */
  firmwareDirs: string[];
  /** Full library closure of each module (keyed by module file name); the jail needs these too. */
  moduleElf?: Record<string, ElfInfo>;
  /** Every firmware file by name (first dir wins, as QEMU's search does), symlinks resolved. */
  firmware?: Record<string, FirmwareFile>;
}

export interface BackendBinaryFacts {
  path: string;
  /** "c": QEMU 7.x's C virtiofsd; "rust": the Rust virtiofsd (different options). */
  flavour?: "c" | "rust";
  version: string;
  elf: ElfInfo;
}

export interface DeviceNodeFacts {
  path: string;
  type: "c" | "b";
  major: number;
  minor: number;
}

export interface ImageFacts {
  path: string;
  /** From the header: "qcow2" by magic, otherwise "raw". */
  detectedFormat: "raw" | "qcow2";
  size: number;
  uid: number;
  gid: number;
  mode: number;
  /** Backing file named in a qcow2 header, if any (as written in the image). */
  backingFile?: string;
  /** qcow2: the virtual disk size from the header (size is the file's size). */
  virtualSize?: number;
  /** Symlinks resolved. */
  realPath?: string;
  /**
   * Which file was probed (st_dev, st_ino as decimal strings, exact beyond 2^53) and its type:
   * the launcher opens the image later and refuses it if it is no longer this very file.
   */
  identity?: FileIdentity;
}

/** A file's identity, to detect a swap between probing and opening it. */
export interface FileIdentity {
  dev: string;
  ino: string;
  type: "file" | "block";
}

/**
 * A -kernel file as QEMU's x86 loader classifies it (src/host/kernel-image.ts); it decides the
 * option ROM QEMU loads: pvh.bin (ELF with PVH note), linuxboot_dma.bin (bzImage, or anything
 * QEMU loads as an old zImage), multiboot_dma.bin (Multiboot header).
 */
export interface KernelImageFacts {
  path: string;
  /** "bzImage": "HdrS" at 0x202; "multiboot": a Multiboot header; "elf": an ELF; "unknown": none. */
  format: "bzImage" | "multiboot" | "elf" | "unknown";
  /** An ELF carrying a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY). */
  pvh: boolean;
}

export interface HostFacts {
  arch: Arch;
  kernelRelease: string;
  hasKvm: boolean;
  /** Device nodes the catalogue may bind, keyed by path, as stat() reports them. */
  devices: Record<string, DeviceNodeFacts>;
  cgroup: CgroupFacts;
  lsm: LsmFacts;
  qemu: QemuBinaryFacts;
  virtiofsd?: BackendBinaryFacts;
  storageDaemon?: BackendBinaryFacts;
  /** Facts about every image the config names (disks and backing files), keyed by path. */
  images: Record<string, ImageFacts>;
  /** The config's boot.kernel (direct kernel boot), keyed by path. Absent: not probed. */
  kernels?: Record<string, KernelImageFacts>;
  /** Absolute path of the native helper binary. */
  helperPath: string;
  /**
   * Highest RLIMIT_NOFILE a jailed process can be given: fs.nr_open when the launcher has
   * CAP_SYS_RESOURCE, else its own hard limit (raising above it fails with EPERM). Absent: unknown.
   */
  nofileMax?: number;
  /** When each probe part finished, in ms since probeHost started (parts overlap), plus "total". */
  timings?: Record<string, number>;
}
