// One-call entry points for tools: compose and compile a fragment list, and parse the CLI's
// syscall/argument notation. The planner compiles a process's policy with compilePolicy(proc.seccomp).

import { QemuJailError } from "../errors.js";
import { parseAction } from "./actions.js";
import { isArch, syscallNames, syscallNumber } from "./arch.js";
import { compilePolicy } from "./compile.js";
import { composePolicy, type FragmentUse } from "./compose.js";
import { loadFragments } from "./fragments.js";
import type { CompiledProgram, Policy, SeccompAction, SeccompArch } from "./types.js";
import { suggest } from "./values.js";

/** Options of compileFragments. */
export interface CompileFragmentsOptions {
  fragments: readonly FragmentUse[];
  arch: SeccompArch;
  defaultAction: SeccompAction;
  /** policies/ directory; default: the package's own. */
  dir?: string;
}

/** Loads the fragments, composes them and compiles the policy: the policy and its program. */
export function compileFragments(opts: CompileFragmentsOptions): {
  policy: Policy;
  compiled: CompiledProgram;
} {
  const set = loadFragments(opts.dir);
  const policy = composePolicy(set, opts.fragments, { arch: opts.arch, defaultAction: opts.defaultAction });
  return { policy, compiled: compilePolicy(policy) };
}

function usage(code: string, message: string, hint?: string): QemuJailError {
  return new QemuJailError(code, message, { exit: "usage", ...(hint ? { hint } : {}) });
}

/** Parses an --arch value. */
export function parseArch(s: string): SeccompArch {
  if (isArch(s)) return s;
  throw usage("SECCOMP_BAD_ARCH", `unknown architecture "${s}"`, "use x86_64 or aarch64");
}

/** Parses a --default value: kill, kill_process, kill_thread, trap, log, errno (EPERM) or errno:NAME. */
export function parseDefaultAction(s: string): SeccompAction {
  const a = s === "errno" ? { kind: "errno" as const, errno: 1 } : parseAction(s);
  if (!a)
    throw usage(
      "SECCOMP_BAD_ACTION",
      `unknown action "${s}"`,
      "use kill, kill_thread, trap, log, errno, errno:EACCES, user_notif or allow",
    );
  return a;
}

/** A syscall given by name or number. */
export function parseSyscall(arch: SeccompArch, s: string): number {
  if (/^(0x[0-9a-f]+|\d+)$/i.test(s)) return Number(s);
  const nr = syscallNumber(arch, s);
  if (nr !== undefined) return nr;
  const sug = suggest(s, syscallNames(arch));
  throw usage(
    "SECCOMP_UNKNOWN_SYSCALL",
    `unknown syscall "${s}" on ${arch}`,
    sug.length ? `did you mean ${sug.join(", ")}?` : undefined,
  );
}

/** "3,0x541b,-1" → six 64-bit arguments (missing ones are 0; negatives are two's complement). */
export function parseArgs(s: string | undefined): bigint[] {
  const out = [0n, 0n, 0n, 0n, 0n, 0n];
  if (!s) return out;
  const parts = s.split(",");
  if (parts.length > 6) throw usage("SECCOMP_BAD_ARGS", "at most six syscall arguments");
  parts.forEach((p, i) => {
    const t = p.trim();
    if (!/^-?(0x[0-9a-f]+|\d+)$/i.test(t))
      throw usage(
        "SECCOMP_BAD_ARGS",
        `argument ${i} "${t}" is not a number`,
        "write decimal or 0x-hex values separated by commas",
      );
    const v = t.startsWith("-") ? -BigInt(t.slice(1)) : BigInt(t);
    out[i] = BigInt.asUintN(64, v);
  });
  return out;
}

/** Parses "--fragments base,tcg" (each entry may carry a need: "block-raw=disk[0]"). */
export function parseFragmentList(s: string): FragmentUse[] {
  const list = s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);
  if (!list.length)
    throw usage("SECCOMP_NO_FRAGMENTS", "no fragments given", "e.g. --fragments base,accel-tcg");
  return list.map((x) => {
    const [fragment, need] = x.split("=", 2);
    return need ? { fragment: fragment!, need } : { fragment: fragment! };
  });
}
