// Per-architecture facts: the AUDIT_ARCH value seccomp_data.arch carries, and the generated
// syscall and constant tables (src/seccomp/tables/, from scripts/gen-seccomp-tables.mjs).

import * as aarch64 from "./tables/aarch64.js";
import * as x86_64 from "./tables/x86_64.js";
import type { SeccompArch } from "./types.js";

/** Every architecture the compiler targets. */
export const ARCHES: readonly SeccompArch[] = ["x86_64", "aarch64"];

/** AUDIT_ARCH_* (linux/audit.h): EM_X86_64 / EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE. */
export const AUDIT_ARCH: Readonly<Record<SeccompArch, number>> = {
  x86_64: 0xc000003e,
  aarch64: 0xc00000b7,
};

/** On x86_64, syscall numbers with this bit set belong to the x32 ABI. */
export const X32_SYSCALL_BIT = 0x40000000;

const TABLES = { x86_64, aarch64 } as const;

const byNumber = new Map<SeccompArch, Map<number, string>>();

/** True when `s` names a supported architecture. */
export function isArch(s: string): s is SeccompArch {
  return s === "x86_64" || s === "aarch64";
}

/** The syscall number of `name` on `arch`, or undefined when the arch has no such syscall. */
export function syscallNumber(arch: SeccompArch, name: string): number | undefined {
  const t = TABLES[arch].syscalls;
  return Object.hasOwn(t, name) ? t[name] : undefined;
}

/** The syscall name for `nr` on `arch`, or undefined. */
export function syscallName(arch: SeccompArch, nr: number): string | undefined {
  let m = byNumber.get(arch);
  if (!m) {
    m = new Map(Object.entries(TABLES[arch].syscalls).map(([k, v]) => [v, k]));
    byNumber.set(arch, m);
  }
  return m.get(nr);
}

/** All syscall names of `arch`, sorted by number. */
export function syscallNames(arch: SeccompArch): string[] {
  return Object.entries(TABLES[arch].syscalls)
    .sort((a, b) => a[1] - b[1])
    .map(([k]) => k);
}

/** The value of a named constant on `arch` (64-bit unsigned), or undefined when the arch's headers lack it. */
export function constantValue(arch: SeccompArch, name: string): bigint | undefined {
  const t = TABLES[arch].constants;
  return Object.hasOwn(t, name) ? BigInt(t[name]!) : undefined;
}

/** All constant names of `arch`. */
export function constantNames(arch: SeccompArch): string[] {
  return Object.keys(TABLES[arch].constants);
}
