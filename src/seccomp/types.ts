// The seccomp policy model shared by fragment loading, composition, the BPF compiler, the
// emulator, the exporters, the planner and audits. A contract: change it deliberately.

export type SeccompArch = "x86_64" | "aarch64";

/** What the kernel does with a matching syscall (SECCOMP_RET_*). */
export type SeccompAction =
  | { kind: "allow" }
  | { kind: "kill_process" }
  | { kind: "kill_thread" }
  | { kind: "trap" }
  | { kind: "log" }
  | { kind: "user_notif" }
  | { kind: "errno"; errno: number };

export type CondOp = "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "masked_eq";

/** A 64-bit unsigned comparison on one syscall argument; values are BigInt after resolution. */
export interface ArgCond {
  arg: 0 | 1 | 2 | 3 | 4 | 5;
  op: CondOp;
  value: bigint;
  /** Only for masked_eq: (arg & mask) == value. */
  mask?: bigint;
}

// ---- As written in policies/*.json (before constant resolution) ----

/** A value as written: a number, a "0x..." string, or a named constant ("KVM_RUN", "AF_UNIX", "CLONE_THREAD|CLONE_VM"). */
export type RawValue = number | string;

export interface RawCond {
  arg: number;
  op: CondOp;
  value: RawValue;
  mask?: RawValue;
}

export interface RawRule {
  syscall: string;
  /** "allow" (default), "kill_process", "kill_thread", "trap", "log", "user_notif", or "errno:EPERM" / "errno:38". */
  action?: string;
  /** All conditions must hold (AND). Several rules for one syscall are OR'ed. */
  args?: RawCond[];
  /** Mandatory: the feature that needs this syscall, in words a security reviewer can check. */
  why: string;
}

export interface RawFragment {
  name: string;
  description: string;
  /** Other fragments this one builds on (by name). */
  includes?: string[];
  /** Architectures this fragment applies to; absent: all. */
  arches?: SeccompArch[];
  rules: RawRule[];
}

// ---- Resolved and composed ----

/** Where a rule came from: fragment name, the `why`, and (filled by the planner) the config item. */
export interface Provenance {
  fragment: string;
  why: string;
  need?: string;
}

export interface Rule {
  syscall: string;
  action: SeccompAction;
  /** AND of conditions; empty = unconditional. */
  args: ArgCond[];
  provenance: Provenance[];
}

/** The composed policy of one process: per syscall, OR of AND-rules, plus the default action. */
export interface Policy {
  arch: SeccompArch;
  /** Action for a syscall no rule matches (from jail.seccomp: kill/trap/log/errno). */
  defaultAction: SeccompAction;
  /** Sorted by syscall name, then deterministically within; the compiler relies on determinism. */
  rules: Rule[];
  fragments: string[];
}

// ---- Added by the seccomp module (loading and compiling) ----

/** One validated fragment as loaded from policies/<name>.json. */
export interface LoadedFragment {
  raw: RawFragment;
  /** Path of the JSON file it came from. */
  file: string;
}

/** All fragments of a policies/ directory, validated (names, syscalls, constants, includes, no cycles). */
export interface FragmentSet {
  dir: string;
  fragments: Map<string, LoadedFragment>;
}

/** The raw seccomp program: `length` struct sock_filter entries of 8 bytes each, as the kernel takes them. */
export interface CompiledProgram {
  program: Uint8Array;
  length: number;
  arch: SeccompArch;
}
