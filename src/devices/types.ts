// The device catalogue's vocabulary. Each device kind is one module that maps config items to
// Contributions: what a process needs for that item (root entries, device nodes, passed fds,
// policy fragments, rlimits, cgroup device rules, capabilities, LSM file rules, QEMU argv
// context) and which backend processes it brings. Contributions are plain data plus, for
// backends, an argv builder; the planner merges them per process and numbers the fds.

import type { VmConfig } from "../config/types.js";
import type { HostFacts } from "../host/types.js";
import type {
  FdSource,
  LandlockRule,
  Need,
  OwnershipChange,
  PlanWarning,
  ProcessRole,
  Rlimit,
  RootEntry,
  TapPlan,
} from "../plan/types.js";

/** A fragment of policies/ a process uses, and the config item that needs it. */
export interface FragmentUse {
  fragment: string;
  need: Need;
}

/** A device node the process opens itself (so it must exist in its root and be allowed by the cgroup). */
export interface DeviceRequest {
  path: string;
  /** Access for the cgroup device rule. */
  access: "r" | "w" | "rw";
  need: Need;
}

/**
 * A file descriptor the launcher opens and passes. `key` names it for the argv builders
 * ("image:/srv/a.qcow2", "tap:net0", "qmp", ...); the planner gives it its number. `fdset`
 * asks for an `-add-fd` set so QEMU opens `/dev/fdset/N` instead of a path.
 */
export interface FdRequest {
  key: string;
  source: FdSource;
  need: Need;
  fdset?: boolean;
  /** Wanted fd number (stdio: 0/1); otherwise the planner numbers from 3. */
  fixed?: number;
}

/** A capability a backend keeps (ambient), with the reason. */
export interface CapabilityUse {
  name: string;
  need: Need;
}

/** The fd numbers of one process after numbering, by key, plus fdset ids for `fdset` requests. */
export interface FdMap {
  fd: Record<string, number>;
  fdset: Record<string, number>;
}

/** A vhost-user backend (or other helper process) a config item brings, in its own jail. */
export interface BackendRequest {
  /** Process id in the plan: "virtiofsd-share0", "qsd-disk1". */
  id: string;
  role: Exclude<ProcessRole, "qemu">;
  item: string;
  /** Host path of the binary; bound at the same path in its root, argv[0] absolute. */
  exe: string;
  /** Built once the fds are numbered. */
  args: (fds: FdMap) => string[];
  /** The backend's own cgroup limits (it is a sibling of QEMU's leaf). */
  limits: { memoryMax?: number; pidsMax?: number };
}

/** Where a contribution goes: QEMU, or the backend with this id. */
export type Target = "qemu" | string;

/** One config item's share of a process's jail. Every field optional; every entry has a need. */
export interface Contribution {
  /** Key path of the config item: "disk[0]", "vm.accel", "qemu". */
  item: string;
  target: Target;
  root?: RootEntry[];
  devices?: DeviceRequest[];
  fds?: FdRequest[];
  fragments?: FragmentUse[];
  rlimits?: Rlimit[];
  capabilities?: CapabilityUse[];
  landlock?: LandlockRule[];
  /** In-jail paths QEMU's argv should use instead of host paths (kernel, initrd...). */
  paths?: Record<string, string>;
  /** A private /proc (only backends that cannot work without it). */
  proc?: Need;
  /** QEMU must share the host's network stack (user-mode networking). */
  hostNet?: Need;
  backend?: BackendRequest;
  taps?: TapPlan[];
  ownership?: OwnershipChange[];
  warnings?: PlanWarning[];
}

/** What every device module sees: the config, host facts and decisions made before the catalogue runs. */
export interface CatalogueContext {
  config: VmConfig;
  host: HostFacts;
  /** The accelerator after resolving "auto". */
  accel: "kvm" | "tcg";
  /** Why that accelerator (for "auto"). */
  accelReason: string;
  /** Ids of the VM's block: QEMU uses ids[0], backends the next ones, in backend order. */
  ids: { uid: number[]; gid: number[] };
  /** Backend index → its ids; assigned in catalogue order (shares, then vhost-user disks). */
  backendIndex: Record<string, number>;
  /** Per-VM state dir on the host (the launcher's, never inside a jail). */
  stateDir: string;
  /** Guest RAM must be a shareable memfd (a vhost-user backend is present). */
  memfd: boolean;
}

/** A device kind: one module of the catalogue. */
export interface DeviceKind {
  kind: string;
  contribute(ctx: CatalogueContext): Contribution[];
}
