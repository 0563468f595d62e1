// qemu-jail library API. This file only re-exports; see each module for what it does.

// Planning (pure), the device catalogue, plan JSON and audit views (PLAN).
export * from "./audit/index.js";
// Config loading, validation and the QEMU command line (CONFIG).
export { configJsonSchema } from "./config/jsonschema.js";
export { loadConfig } from "./config/load.js";
export { type ParseOptions, parseConfig } from "./config/parse.js";
export type * from "./config/types.js";
export { catalogue } from "./devices/index.js";
export type * from "./devices/types.js";
export type { ExitClass, SourceLocation } from "./errors.js";
export { ExitCode, isQemuJailError, QemuJailError } from "./errors.js";
// Test/demo guests (GUEST+LSM).
export * from "./guest/index.js";
// Host probing (the only code that looks at the host) and per-VM cgroups (HOST).
export { cgroupLayout, parseMountInfo, parseProcCgroup, probeCgroups } from "./host/cgroup.js";
export { type ElfDependencyOptions, elfDependencies } from "./host/deps.js";
export { probeKernelImage } from "./host/kernel-image.js";
export { defaultHelperPath, hostArch, type ProbeOptions, probeHost } from "./host/probe.js";
export type * from "./host/types.js";
export {
  type ApplyCgroupOptions,
  applyCgroupOps,
  type CgroupOp,
  type CgroupOps,
  type CgroupWarning,
  cpuWeightToShares,
  createVmCgroups,
  ioWeightToBlkio,
  planCgroupOps,
  type VmCgroupRequest,
  type VmCgroups,
} from "./launch/cgroup.js";
// Launch, supervision, state (ps/stop/gc), QMP client and logs (LAUNCH).
export { cgroupDriver, removeCgroupDirs } from "./launch/cgroups.js";
export { type GcOptions, type GcResult, gc } from "./launch/gc.js";
export {
  type CgroupDriver,
  type LaunchedVm,
  type LaunchOptions,
  launch,
  rebasePlan,
} from "./launch/launch.js";
export { nativeSpawner } from "./launch/native-spawner.js";
export { notifyReady } from "./launch/notify.js";
export { type Effect, type LaunchRecord, readRecord } from "./launch/record.js";
export { type RunOptions, type RunResult, runVm } from "./launch/run.js";
export { findSeccompAudit, parseSeccompAudit, type SigsysReport, sigsysReport } from "./launch/sigsys.js";
export {
  bareSpawner,
  type ExitStatus as LaunchExitStatus,
  type JailedProcess as LaunchedProcess,
  type Spawner,
} from "./launch/spawn.js";
export { DEFAULT_STATE_ROOT, listVms, type VmState } from "./launch/state.js";
export {
  type EndReason,
  type SuperviseOptions,
  type Supervision,
  supervise,
  type VmExit,
} from "./launch/supervise.js";
export { UndoStack } from "./launch/undo.js";
export { createLogger, type LogOptions } from "./log.js";
// LSM derivation: AppArmor profile, SELinux MCS labels, Landlock rules (GUEST+LSM).
export * from "./lsm/index.js";
// Native jail helper: spec, spawner, probe, plan mapping (NATIVE).
export * from "./native/index.js";
export { allocateIds, ID_BLOCK, type IdBlock } from "./plan/ids.js";
export { planFromJson, planToJson } from "./plan/json.js";
export { backendIds, type PlanOptions, plan, vmCgroupName } from "./plan/plan.js";
export type * from "./plan/types.js";
export { qemuArgv } from "./qemu/argv.js";
export type { ArgvContext, Fdset, FdsetFd, SocketSource } from "./qemu/context.js";
export { shellLine, shellQuote } from "./qemu/quote.js";
export { QmpClient, type QmpEvent } from "./qmp/client.js";
// Seccomp: fragments, composition with provenance, the BPF compiler, emulator and exports (SECCOMP).
export {
  actionToRet,
  actionToString,
  parseAction,
  retToAction,
  seccompModeToAction,
} from "./seccomp/actions.js";
export { AUDIT_ARCH, constantValue, syscallName, syscallNames, syscallNumber } from "./seccomp/arch.js";
export { decodeProgram, encodeProgram, type Insn } from "./seccomp/bpf.js";
export { cacheableSyscalls, isConstAllow } from "./seccomp/cache.js";
export { compilePolicy, compileToInsns, describeProgram, HOT_SYSCALLS } from "./seccomp/compile.js";
export {
  argsKey,
  type ComposeOptions,
  composePolicy,
  condKey,
  type FragmentUse,
  policyVerdict,
} from "./seccomp/compose.js";
export { disassemble } from "./seccomp/disasm.js";
export { checkProgram, type EmulateInput, type EmulateResult, emulate } from "./seccomp/emulate.js";
export { exportOci, exportSystemd, renderPolicy } from "./seccomp/export.js";
export { defaultPolicyDir, fragmentSetFrom, loadFragments, parseFragment } from "./seccomp/fragments.js";
export { fragmentJsonSchema, rawFragmentSchema } from "./seccomp/schema.js";
export { type CompileFragmentsOptions, compileFragments } from "./seccomp/tools.js";
export type * from "./seccomp/types.js";
// systemd unit generation (SYSTEMD).
export { type ServicePath, servicePaths } from "./systemd/paths.js";
export {
  CAPS_DROPPED,
  defaultExec,
  LAUNCHER_TIMEOUTS,
  SYSCALL_DENY_GROUPS,
  systemdUnit,
  systemdWord,
  type UnitOptions,
  unitName,
} from "./systemd/unit.js";
