// Shared by the differential tests and the benchmark: builds the same policy with libseccomp
// (python3-seccomp through libseccomp-export.py), and generates syscall inputs that probe
// every syscall number, the x32 range, foreign arches and argument boundaries.

import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { actionToString } from "../../../src/seccomp/actions.js";
import { AUDIT_ARCH, syscallNames, syscallNumber, X32_SYSCALL_BIT } from "../../../src/seccomp/arch.js";
import type { Policy, SeccompAction } from "../../../src/seccomp/types.js";

const here = dirname(fileURLToPath(import.meta.url));
/** Debian's python with the seccomp module (the pyenv python3 on PATH lacks it). */
export const SYSTEM_PYTHON = "/usr/bin/python3";

function actionSpec(a: SeccompAction): string {
  return a.kind === "errno" ? `errno:${a.errno}` : a.kind;
}

/** The libseccomp spec of a policy (rules whose action equals the default are left out, as libseccomp requires). */
export function libseccompSpec(policy: Policy, optimize: 1 | 2): unknown {
  return {
    arch: policy.arch,
    default: actionSpec(policy.defaultAction),
    optimize,
    rules: policy.rules
      .filter((r) => actionToString(r.action) !== actionToString(policy.defaultAction))
      .map((r) => ({
        syscall: r.syscall,
        action: actionSpec(r.action),
        args: r.args.map((c) => ({
          arg: c.arg,
          op: c.op,
          value: c.value.toString(),
          mask: c.mask?.toString(),
        })),
      })),
  };
}

/** Builds programs with libseccomp for each (policy, optimize) pair, in one python run. */
export function libseccompPrograms(jobs: Array<{ policy: Policy; optimize: 1 | 2 }>): Uint8Array[] {
  // Big integers travel as decimal strings; the helper calls int() on them.
  const input = JSON.stringify(jobs.map((j) => libseccompSpec(j.policy, j.optimize)));
  const out = execFileSync(SYSTEM_PYTHON, [join(here, "libseccomp-export.py")], {
    input,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  return (JSON.parse(out) as string[]).map((hex) => Uint8Array.from(Buffer.from(hex, "hex")));
}

const U64 = (1n << 64n) - 1n;

/** Interesting 64-bit values for one argument: around every constant the policy compares it with. */
export function boundaryValues(policy: Policy, arg: number, random: () => bigint, extra = 8): bigint[] {
  const vals = new Set<bigint>([0n, 1n, U64, U64 - 1n, 0xffff_ffffn, 0x1_0000_0000n, 1n << 63n]);
  for (const r of policy.rules)
    for (const c of r.args) {
      if (c.arg !== arg) continue;
      for (const base of [c.value, c.mask ?? 0n, c.value | (c.mask ?? 0n)]) {
        for (const d of [-1n, 0n, 1n, 1n << 32n, -(1n << 32n)]) vals.add(BigInt.asUintN(64, base + d));
        vals.add(BigInt.asUintN(64, base ^ (1n << 63n)));
        vals.add(BigInt.asUintN(64, base | 0xffff_ffff_0000_0000n));
      }
    }
  for (let i = 0; i < extra; i++) vals.add(random());
  return [...vals];
}

/** A deterministic 64-bit PRNG (splitmix64) so failures reproduce. */
export function prng(seed: bigint): () => bigint {
  let s = seed;
  return () => {
    s = BigInt.asUintN(64, s + 0x9e3779b97f4a7c15n);
    let z = s;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    return z ^ (z >> 31n);
  };
}

/** One probe: which arch value, syscall number and arguments. */
export interface Probe {
  arch: number;
  nr: number;
  args: bigint[];
}

/** Every syscall number of the policy's arch (and gaps around them), x32 numbers, foreign arches; argument vectors for conditional syscalls. */
export function probes(policy: Policy, seed = 1n, vectorsPerSyscall = 300): Probe[] {
  const arch = AUDIT_ARCH[policy.arch];
  const rnd = prng(seed);
  const out: Probe[] = [];
  const zero = [0n, 0n, 0n, 0n, 0n, 0n];
  const maxNr = Math.max(...syscallNames(policy.arch).map((n) => syscallNumber(policy.arch, n)!));
  for (let nr = -1; nr <= maxNr + 64; nr++) out.push({ arch, nr, args: zero });
  for (const nr of [0x3fff_ffff, 0x7fff_ffff, 0xffff_fffe, 0xffff_ffff, 0x8000_0000])
    out.push({ arch, nr: nr | 0, args: zero });
  if (policy.arch === "x86_64")
    for (let nr = 0; nr <= 600; nr++) out.push({ arch, nr: (X32_SYSCALL_BIT + nr) | 0, args: zero });
  for (const foreign of [0x40000003, 0xc00000b7, 0xc000003e, 0x4000003e, 0, 0xffffffff]) {
    if (foreign === arch) continue;
    for (const nr of [0, 1, 16, 56, 63, 222, 257]) out.push({ arch: foreign, nr, args: zero });
  }
  const condSyscalls = [...new Set(policy.rules.filter((r) => r.args.length).map((r) => r.syscall))];
  const pools = [0, 1, 2, 3, 4, 5].map((i) => boundaryValues(policy, i, rnd));
  for (const name of condSyscalls) {
    const nr = syscallNumber(policy.arch, name)!;
    // Systematic: each boundary value of each argument with the others at rule values.
    for (const r of policy.rules.filter((x) => x.syscall === name && x.args.length)) {
      const base = [0n, 0n, 0n, 0n, 0n, 0n];
      for (const c of r.args) base[c.arg] = c.op === "masked_eq" ? c.value : c.value;
      for (const c of r.args)
        for (const v of pools[c.arg]!) {
          const args = base.slice();
          args[c.arg] = v;
          out.push({ arch, nr, args });
        }
    }
    // Random mixes from the pools.
    for (let i = 0; i < vectorsPerSyscall; i++) {
      const args = pools.map((p) => p[Number(rnd() % BigInt(p.length))]!);
      out.push({ arch, nr, args });
    }
  }
  return out;
}
