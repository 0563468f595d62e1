// The compiler on its own: layout properties, 64-bit comparisons for every operator against
// the rules' meaning, far jumps through trampolines, the 4096-instruction limit, cacheability,
// and the emulator's program checks.

import { describe, expect, it } from "vitest";
import { QemuJailError } from "../../../src/errors.js";
import { parseAction } from "../../../src/seccomp/actions.js";
import { AUDIT_ARCH, syscallNames, syscallNumber } from "../../../src/seccomp/arch.js";
import { BPF, decodeProgram, encodeProgram, type Insn } from "../../../src/seccomp/bpf.js";
import { cacheableSyscalls } from "../../../src/seccomp/cache.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy, condsHold, policyVerdict } from "../../../src/seccomp/compose.js";
import { disassemble } from "../../../src/seccomp/disasm.js";
import { checkProgram, emulate } from "../../../src/seccomp/emulate.js";
import { fragmentSetFrom } from "../../../src/seccomp/fragments.js";
import type { ArgCond, CondOp, Policy, RawRule, SeccompArch } from "../../../src/seccomp/types.js";

const kill = { kind: "kill_process" } as const;
function policyOf(
  rules: RawRule[],
  arch: SeccompArch = "x86_64",
  defaultAction: Policy["defaultAction"] = kill,
): Policy {
  return composePolicy(fragmentSetFrom([{ name: "t", description: "t", rules }]), [{ fragment: "t" }], {
    arch,
    defaultAction,
  });
}

describe("compilePolicy", () => {
  it("checks the arch first and kills foreign arches; x32 numbers get the default deny", () => {
    const p = policyOf([{ syscall: "read", why: "x" }], "x86_64", { kind: "errno", errno: 1 });
    const insns = decodeProgram(compilePolicy(p).program);
    expect(insns[0]).toEqual({ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 4 });
    expect(emulate(insns, { arch: AUDIT_ARCH.aarch64, nr: 0 }).action).toEqual(kill);
    expect(emulate(insns, { arch: "x86_64", nr: 0 }).action).toEqual({ kind: "allow" });
    expect(emulate(insns, { arch: "x86_64", nr: 0x4000_0000 }).action).toEqual({ kind: "errno", errno: 1 });
    // An allow-by-default policy still refuses x32.
    const open = policyOf([{ syscall: "ptrace", action: "kill_process", why: "x" }], "x86_64", {
      kind: "allow",
    });
    expect(emulate(compilePolicy(open).program, { arch: "x86_64", nr: 0x4000_0000 }).action).toEqual(kill);
  });

  const ops: CondOp[] = ["eq", "ne", "lt", "le", "gt", "ge", "masked_eq"];
  const values = [
    0n,
    1n,
    0xffff_ffffn,
    0x1_0000_0000n,
    0x1_0000_0001n,
    0x8000_0000_0000_0000n,
    0xffff_ffff_ffff_ffffn,
    0x1234_5678_9abc_def0n,
  ];
  it.each(ops)("64-bit %s agrees with the rule's meaning on both words", (op) => {
    const probes = values
      .flatMap((v) => [v - 1n, v, v + 1n, v + (1n << 32n), v - (1n << 32n)])
      .map((x) => BigInt.asUintN(64, x));
    for (const v of values) {
      for (const mask of op === "masked_eq"
        ? [0xffff_ffff_0000_0000n, 0xffn, 0xffff_ffff_ffff_ffffn, 0x1_0000_0001n]
        : [undefined]) {
        const value = mask === undefined ? v : v & mask;
        const rule: RawRule = {
          syscall: "lseek",
          args: [
            {
              arg: 1,
              op,
              value: `0x${value.toString(16)}`,
              ...(mask === undefined ? {} : { mask: `0x${mask.toString(16)}` }),
            },
          ],
          why: "x",
        };
        const p = policyOf([rule]);
        const { program } = compilePolicy(p);
        const cond: ArgCond = { arg: 1, op, value, ...(mask === undefined ? {} : { mask }) };
        for (const a of probes) {
          const got = emulate(program, { arch: "x86_64", nr: 8, args: [0n, a] }).action.kind;
          expect(got, `${op} ${value.toString(16)} on ${a.toString(16)}`).toBe(
            condsHold([cond], [0n, a]) ? "allow" : "kill_process",
          );
        }
      }
    }
  });

  it("reaches far targets through trampolines (conditional jumps only have 8 bits)", () => {
    // Many conditional syscalls make subtrees longer than 255 instructions.
    const names = syscallNames("x86_64").slice(0, 200);
    const rules: RawRule[] = names.map((s, i) => ({
      syscall: s,
      args: [
        { arg: 0, op: "gt", value: i },
        { arg: 1, op: "ne", value: `0x${(i * 0x1_0000_0001).toString(16)}` },
      ],
      why: "x",
    }));
    const p = policyOf(rules);
    const { program, length } = compilePolicy(p);
    expect(length).toBeGreaterThan(1000);
    const insns = decodeProgram(program);
    expect(checkProgram(insns)).toBeUndefined();
    expect(insns.some((x) => x.code === (BPF.JMP | BPF.JA))).toBe(true);
    for (const [i, s] of names.entries()) {
      const nr = syscallNumber("x86_64", s)!;
      for (const args of [
        [BigInt(i + 1), 5n],
        [BigInt(i), 5n],
        [BigInt(i + 1), BigInt(i * 0x1_0000_0001)],
      ]) {
        expect(emulate(insns, { arch: "x86_64", nr, args }).action).toEqual(policyVerdict(p, s, args));
      }
    }
  });

  it("refuses programs over 4096 instructions with a clear error", () => {
    const rules: RawRule[] = [];
    for (let i = 0; i < 700; i++)
      rules.push({
        syscall: "ioctl",
        args: [
          { arg: 1, op: "gt", value: i * 7 },
          { arg: 2, op: "lt", value: i },
        ],
        why: "x",
      });
    let err: QemuJailError | undefined;
    try {
      compilePolicy(policyOf(rules));
    } catch (e) {
      err = e as QemuJailError;
    }
    expect(err?.code).toBe("SECCOMP_PROGRAM_TOO_LONG");
    expect(err?.message).toMatch(/at most 4096/);
  });

  it("keeps every unconditional allow constant-allow in a ~300-syscall policy with conditions", () => {
    for (const arch of ["x86_64", "aarch64"] as const) {
      const names = syscallNames(arch).filter((_, i) => i % 7 !== 3);
      const rules: RawRule[] = names.map((s, i) =>
        i % 9 === 0
          ? { syscall: s, args: [{ arg: 0, op: "eq", value: i }], why: "x" }
          : { syscall: s, why: "x" },
      );
      const p = policyOf(rules, arch);
      const uncond = p.rules
        .filter((r) => !r.args.length)
        .map((r) => r.syscall)
        .sort();
      expect(cacheableSyscalls(compilePolicy(p).program, arch).sort()).toEqual(uncond);
    }
  });

  it("uses a search over the low words for lists of ioctl requests (one high-word check)", () => {
    const reqs = [
      "FIONBIO",
      "FIONREAD",
      "TCGETS",
      "TCSETS",
      "TUNSETIFF",
      "KVM_RUN",
      "KVM_IRQFD",
      "BLKGETSIZE64",
    ];
    const p = policyOf(
      reqs.map((r) => ({ syscall: "ioctl", args: [{ arg: 1, op: "eq", value: r }], why: r })),
    );
    const { program } = compilePolicy(p);
    const hiLoads = decodeProgram(program).filter(
      (x) => x.code === (BPF.LD | BPF.W | BPF.ABS) && x.k === 16 + 8 + 4,
    );
    expect(hiLoads).toHaveLength(1);
    const worst = Math.max(
      ...[0x5421n, 0x5422n, 0xae80n, 0x1_0000_ae80n].map(
        (r) => emulate(program, { arch: "x86_64", nr: 16, args: [0n, r] }).executed,
      ),
    );
    expect(worst).toBeLessThanOrEqual(12);
  });
});

describe("emulator program checks and disassembler", () => {
  const ret = (k: number): Insn => ({ code: BPF.RET | BPF.K, jt: 0, jf: 0, k });
  it.each([
    ["empty program", [], /length/],
    [
      "load outside seccomp_data",
      [{ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 64 }, ret(0)],
      /outside/,
    ],
    ["unaligned load", [{ code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 2 }, ret(0)], /outside/],
    ["byte load", [{ code: BPF.LD | BPF.B | BPF.ABS, jt: 0, jf: 0, k: 0 }, ret(0)], /not allowed/],
    ["jump past the end", [{ code: BPF.JMP | BPF.JEQ | BPF.K, jt: 5, jf: 0, k: 0 }, ret(0)], /out of range/],
    ["no final return", [ret(0), { code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 0 }], /last instruction/],
    [
      "division by constant zero",
      [{ code: BPF.ALU | BPF.DIV | BPF.K, jt: 0, jf: 0, k: 0 }, ret(0)],
      /division/,
    ],
  ] as Array<[string, Insn[], RegExp]>)("refuses %s", (_, insns, re) => {
    expect(checkProgram(insns)).toMatch(re);
  });

  it("runs ALU, scratch memory and X like the kernel", () => {
    const prog: Insn[] = [
      { code: BPF.LD | BPF.W | BPF.ABS, jt: 0, jf: 0, k: 0 }, // A = nr
      { code: BPF.ALU | BPF.ADD | BPF.K, jt: 0, jf: 0, k: 5 },
      { code: BPF.ST, jt: 0, jf: 0, k: 3 },
      { code: BPF.LDX | BPF.MEM, jt: 0, jf: 0, k: 3 },
      { code: BPF.MISC | BPF.TXA, jt: 0, jf: 0, k: 0 },
      { code: BPF.ALU | BPF.OR | BPF.K, jt: 0, jf: 0, k: 0x50000 }, // errno(nr + 5)
      { code: BPF.RET | BPF.A, jt: 0, jf: 0, k: 0 },
    ];
    expect(emulate(encodeProgram(prog), { arch: "x86_64", nr: 7 })).toMatchObject({
      action: { kind: "errno", errno: 12 },
      executed: 7,
    });
  });

  it("disassembles with labels, fields, actions and syscall names", () => {
    const p = policyOf([
      { syscall: "read", why: "x" },
      { syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "FIONREAD" }], why: "y" },
    ]);
    const text = disassemble(compilePolicy(p).program, "x86_64");
    expect(text).toMatch(/ld arch/);
    expect(text).toMatch(/AUDIT_ARCH_X86_64/);
    expect(text).toMatch(/ld args\[1\]\.hi/);
    expect(text).toMatch(/jeq #0x541b|jge #0x541b/);
    expect(text).toMatch(/L\d+:/);
    expect(text).toMatch(/; kill_process/);
  });
});

describe("compiled programs follow the rules' meaning (property)", () => {
  it("random policies with several actions per syscall: first matching rule wins, then the unconditional rule, then the default", async () => {
    const fc = (await import("fast-check")).default;
    const actions = [
      "allow",
      "kill_process",
      "kill_thread",
      "trap",
      "log",
      "errno:1",
      "errno:38",
      "user_notif",
    ];
    const val = fc.oneof(
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.constantFrom(0n, 1n, 2n, 0xffff_ffffn, 0x1_0000_0000n),
    );
    const cond = fc.record({
      arg: fc.integer({ min: 0, max: 2 }),
      op: fc.constantFrom(...(["eq", "ne", "lt", "le", "gt", "ge", "masked_eq"] as const)),
      value: val,
      mask: val,
    });
    const rule = fc.record({
      sys: fc.integer({ min: 0, max: 5 }),
      action: fc.constantFrom(...actions),
      conds: fc.array(cond, { maxLength: 3 }),
    });
    fc.assert(
      fc.property(
        fc.array(rule, { minLength: 1, maxLength: 25 }),
        fc.constantFrom(...actions.filter((a) => a !== "allow")),
        fc.array(fc.tuple(val, val, val), { minLength: 20, maxLength: 20 }),
        (rs, def, argSets) => {
          const names = ["read", "write", "ioctl", "mmap", "socket", "futex"];
          const raw: RawRule[] = rs.map((r) => ({
            syscall: names[r.sys]!,
            action: r.action,
            args: r.conds.map((c) =>
              c.op === "masked_eq"
                ? {
                    arg: c.arg,
                    op: c.op,
                    mask: `0x${c.mask.toString(16)}`,
                    value: `0x${(c.value & c.mask).toString(16)}`,
                  }
                : { arg: c.arg, op: c.op, value: `0x${c.value.toString(16)}` },
            ),
            why: "p",
          }));
          let p: Policy;
          try {
            p = policyOf(raw, "x86_64", parseAction(def)!);
          } catch (e) {
            if (e instanceof QemuJailError && e.code === "SECCOMP_CONFLICT") return; // same conditions, two actions: refused
            throw e;
          }
          const { program } = compilePolicy(p);
          const insns = decodeProgram(program);
          for (const name of names) {
            const nr = syscallNumber("x86_64", name)!;
            const pool = p.rules.filter((r) => r.syscall === name).flatMap((r) => r.args.map((c) => c.value));
            const vectors = [
              ...argSets.map(([a, b, c]) => [a, b, c]),
              ...pool.map((v) => [v, v, v]),
              ...pool.map((v) => [BigInt.asUintN(64, v + 1n), v, BigInt.asUintN(64, v - 1n)]),
            ];
            for (const args of vectors)
              expect(emulate(insns, { arch: "x86_64", nr, args }).action).toEqual(
                policyVerdict(p, name, args),
              );
          }
        },
      ),
      { numRuns: 150, seed: 42 },
    );
  });
});
