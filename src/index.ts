// qemu-jail library API. This file only re-exports; see each module for what it does.

export type * from "./config/types.js";
export type { ExitClass, SourceLocation } from "./errors.js";
export { ExitCode, isQemuJailError, QemuJailError } from "./errors.js";
// Test/demo guests (GUEST+LSM).
export * from "./guest/index.js";
export type * from "./host/types.js";
// LSM derivation: AppArmor profile, SELinux MCS labels, Landlock rules (GUEST+LSM).
export * from "./lsm/index.js";
export type * from "./plan/types.js";
export type * from "./seccomp/types.js";
