// Differential test against libseccomp: the same policy compiled by qemu-jail and by
// libseccomp (optimize levels 1 and 2) must give the same action for every probe, as run by
// our emulator; libseccomp's programs must also match the policy's rules directly, which
// checks the emulator itself on programs we did not write.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { actionToString } from "../../../src/seccomp/actions.js";
import {
  AUDIT_ARCH,
  syscallName,
  syscallNames,
  syscallNumber,
  X32_SYSCALL_BIT,
} from "../../../src/seccomp/arch.js";
import { decodeProgram, type Insn } from "../../../src/seccomp/bpf.js";
import { isConstAllow } from "../../../src/seccomp/cache.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy, policyVerdict } from "../../../src/seccomp/compose.js";
import { checkProgram, run, seccompData } from "../../../src/seccomp/emulate.js";
import { fragmentSetFrom } from "../../../src/seccomp/fragments.js";
import type { Policy, RawFragment, RawRule, SeccompAction, SeccompArch } from "../../../src/seccomp/types.js";
import { libseccompPrograms, type Probe, probes } from "./harness.js";

const fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../fixtures/seccomp/qemu-like.json"), "utf8"),
) as RawFragment;

function actionOf(insns: Insn[], p: Probe): string {
  return actionToString(run(insns, seccompData({ arch: p.arch, nr: p.nr, args: p.args })).action);
}

/** What the policy means for a probe, independent of any BPF. */
function expected(policy: Policy, p: Probe): string | undefined {
  if (p.arch >>> 0 !== AUDIT_ARCH[policy.arch]) return "kill_process";
  const nr = p.nr >>> 0;
  if (policy.arch === "x86_64" && nr >= X32_SYSCALL_BIT) return undefined; // checked separately
  const name = syscallName(policy.arch, nr);
  if (!name) return actionToString(policy.defaultAction);
  return actionToString(policyVerdict(policy, name, p.args));
}

/**
 * Compares ours, libseccomp -O1 and -O2 and the rules on every probe. With `tolerateLibseccomp`,
 * a probe where libseccomp contradicts the rules themselves while we follow them is counted as
 * a libseccomp defect instead of a disagreement (libseccomp 2.5.4 loses the accumulator in some
 * multi-argument chains; see kernel.test.ts for a kernel-confirmed case).
 */
function compare(
  policy: Policy,
  tolerateLibseccomp = false,
): { disagreements: string[]; checked: number; libseccompDefects: number } {
  const mine = decodeProgram(compilePolicy(policy).program);
  const [o1, o2] = libseccompPrograms([
    { policy, optimize: 1 },
    { policy, optimize: 2 },
  ]).map((p) => decodeProgram(p));
  for (const prog of [mine, o1!, o2!]) expect(checkProgram(prog)).toBeUndefined();
  const disagreements: string[] = [];
  let libseccompDefects = 0;
  const list = probes(policy);
  for (const p of list) {
    const a = actionOf(mine, p);
    const b1 = actionOf(o1!, p);
    const b2 = actionOf(o2!, p);
    const want = expected(policy, p);
    const isX32 =
      policy.arch === "x86_64" && p.arch >>> 0 === AUDIT_ARCH.x86_64 && p.nr >>> 0 >= X32_SYSCALL_BIT;
    if (isX32) {
      // libseccomp sends x32 numbers to its bad-arch action (set to kill_process); we send them to
      // the default action when it denies. Both deny; they agree whenever the default is kill_process.
      const deny =
        policy.defaultAction.kind === "allow" || policy.defaultAction.kind === "log"
          ? "kill_process"
          : actionToString(policy.defaultAction);
      if (a !== deny) disagreements.push(`x32 nr=${p.nr >>> 0}: ours ${a}, want ${deny}`);
      // libseccomp sends nr -1 (a tracer's "skip") to the default action, other x32 numbers to bad-arch.
      const theirs = p.nr >>> 0 === 0xffff_ffff ? actionToString(policy.defaultAction) : "kill_process";
      if (theirs === deny && (b1 !== a || b2 !== a))
        disagreements.push(`x32 nr=${p.nr >>> 0}: ours ${a}, libseccomp ${b1}/${b2}`);
      if (b1 !== theirs || b2 !== theirs)
        disagreements.push(`x32 nr=${p.nr >>> 0}: libseccomp ${b1}/${b2}, expected ${theirs}`);
      continue;
    }
    if (a !== want) disagreements.push(`nr=${p.nr} args=${p.args.join(",")}: ours ${a}, rules ${want}`);
    else if (tolerateLibseccomp && (b1 !== want || b2 !== want)) libseccompDefects++;
    else if (a !== b1 || a !== b2)
      disagreements.push(
        `arch=0x${(p.arch >>> 0).toString(16)} nr=${p.nr} args=${p.args.map((x) => `0x${x.toString(16)}`).join(",")}: ours ${a}, libseccomp -O1 ${b1}, -O2 ${b2}, rules ${want}`,
      );
    if (disagreements.length > 20) break;
  }
  return { disagreements, checked: list.length, libseccompDefects };
}

const ACTIONS: SeccompAction[] = [
  { kind: "allow" },
  { kind: "kill_process" },
  { kind: "kill_thread" },
  { kind: "trap" },
  { kind: "log" },
  { kind: "errno", errno: 1 },
  { kind: "errno", errno: 38 },
  { kind: "user_notif" },
];

describe("differential against libseccomp", () => {
  for (const arch of ["x86_64", "aarch64"] as SeccompArch[]) {
    for (const def of [
      { kind: "kill_process" },
      { kind: "errno", errno: 1 },
      { kind: "trap" },
    ] as SeccompAction[]) {
      it(`qemu-like policy, ${arch}, default ${actionToString(def)}`, () => {
        const policy = composePolicy(fragmentSetFrom([fixture]), [{ fragment: "qemu-like" }], {
          arch,
          defaultAction: def,
        });
        const { disagreements, checked } = compare(policy);
        expect(checked).toBeGreaterThan(3000);
        expect(disagreements).toEqual([]);
      });
    }
  }

  it("every unconditional allow of the compiled qemu-like policy is constant-allow (kernel cache)", () => {
    for (const arch of ["x86_64", "aarch64"] as SeccompArch[]) {
      const policy = composePolicy(fragmentSetFrom([fixture]), [{ fragment: "qemu-like" }], {
        arch,
        defaultAction: { kind: "kill_process" },
      });
      const insns = decodeProgram(compilePolicy(policy).program);
      const uncond = policy.rules
        .filter((r) => r.args.length === 0 && r.action.kind === "allow")
        .map((r) => r.syscall);
      expect(uncond.length).toBeGreaterThan(30);
      for (const name of syscallNames(arch)) {
        const nr = syscallNumber(arch, name)!;
        expect(isConstAllow(insns, nr, AUDIT_ARCH[arch]), `${arch} ${name}`).toBe(uncond.includes(name));
      }
    }
  });

  it("mixed condition forms on one argument (switch groups in sequence), both arches", () => {
    // ioctl: a low-word masked request list, plain eq requests (one with a high word), and
    // refusals of either form; socket: eq and masked_eq families on arg 0 plus a type mask on arg 1.
    const lo = (v: string, action = "allow"): RawRule => ({
      syscall: "ioctl",
      action,
      args: [{ arg: 1, op: "masked_eq", mask: "0xffffffff", value: v }],
      why: "mixed",
    });
    const eq = (
      syscall: string,
      arg: number,
      v: string,
      action = "allow",
      more: RawRule["args"] = [],
    ): RawRule => ({
      syscall,
      action,
      args: [{ arg: arg as 0, op: "eq", value: v }, ...(more ?? [])],
      why: "mixed",
    });
    const rules: RawRule[] = [
      ...["0x5401", "0x5402", "0x5413", "0x541b", "0x5421", "0xae80", "0x4004ae86"].map((v) => lo(v)),
      eq("ioctl", 1, "0x5414"),
      eq("ioctl", 1, "0x100005415"),
      eq("ioctl", 1, "0x5412", "errno:1"),
      lo("0x541c", "errno:1"),
      eq("ioctl", 1, "0x5401", "trap", [{ arg: 0, op: "eq", value: 3 }]),
      eq("socket", 0, "1"),
      eq("socket", 0, "16", "allow", [{ arg: 2, op: "eq", value: 0 }]),
      { syscall: "socket", args: [{ arg: 0, op: "masked_eq", mask: "0xff", value: "2" }], why: "mixed" },
      { syscall: "socket", args: [{ arg: 0, op: "masked_eq", mask: "0xff", value: "10" }], why: "mixed" },
      { syscall: "socket", args: [{ arg: 1, op: "masked_eq", mask: "0xf", value: "1" }], why: "mixed" },
      eq("socket", 0, "17", "errno:97"),
    ];
    for (const arch of ["x86_64", "aarch64"] as SeccompArch[]) {
      const policy = composePolicy(
        fragmentSetFrom([{ name: "m", description: "mixed", rules }]),
        [{ fragment: "m" }],
        {
          arch,
          defaultAction: { kind: "kill_process" },
        },
      );
      const { disagreements } = compare(policy, true);
      expect(disagreements).toEqual([]);
    }
  });

  it("random policies: ours follows the rules everywhere and agrees with libseccomp wherever libseccomp does (fast-check)", () => {
    let defects = 0;
    const ops = ["eq", "ne", "lt", "le", "gt", "ge", "masked_eq"] as const;
    const interesting = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.bigInt({ min: 0n, max: 0xffffn }),
      fc.constantFrom(0n, 1n, 0xffff_ffffn, 0x1_0000_0000n, (1n << 64n) - 1n, 1n << 63n),
    );
    const cond = fc.record({
      arg: fc.integer({ min: 0, max: 5 }),
      op: fc.constantFrom(...ops),
      value: interesting,
      mask: interesting,
    });
    const policyArb = fc.record({
      arch: fc.constantFrom<SeccompArch>("x86_64", "aarch64"),
      def: fc.constantFrom(...ACTIONS.filter((a) => a.kind !== "allow")),
      syscalls: fc.uniqueArray(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 40 }),
      perSyscall: fc.array(
        fc.record({
          action: fc.constantFrom(...ACTIONS),
          rules: fc.array(fc.array(cond, { maxLength: 3 }), { minLength: 1, maxLength: 4 }),
        }),
        { minLength: 40, maxLength: 40 },
      ),
    });
    fc.assert(
      fc.property(policyArb, ({ arch, def, syscalls, perSyscall }) => {
        const names = syscallNames(arch);
        const rules: RawRule[] = [];
        syscalls.forEach((i, k) => {
          const name = names[i % names.length]!;
          const spec = perSyscall[k]!;
          const action = spec.action.kind === "errno" ? `errno:${spec.action.errno}` : spec.action.kind;
          for (const conds of spec.rules) {
            // One condition per argument per rule (libseccomp 2.5 refuses several on one argument).
            const seen = new Set<number>();
            const args = conds
              .filter((c) => !seen.has(c.arg) && seen.add(c.arg))
              .map((c) =>
                c.op === "masked_eq"
                  ? {
                      arg: c.arg,
                      op: c.op,
                      mask: `0x${c.mask.toString(16)}`,
                      value: `0x${(c.value & c.mask).toString(16)}`,
                    }
                  : { arg: c.arg, op: c.op, value: `0x${c.value.toString(16)}` },
              );
            rules.push({ syscall: name, action, args, why: "random" });
          }
        });
        const policy = composePolicy(
          fragmentSetFrom([{ name: "r", description: "random", rules }]),
          [{ fragment: "r" }],
          { arch, defaultAction: def },
        );
        const { disagreements, libseccompDefects } = compare(policy, true);
        defects += libseccompDefects;
        expect(disagreements).toEqual([]);
      }),
      { numRuns: 50, seed: 20261127 },
    );
    if (defects)
      console.log(`libseccomp contradicted its own rules on ${defects} probes (ours followed the rules)`);
  });
});
