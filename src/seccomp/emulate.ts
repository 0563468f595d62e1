// A classic BPF interpreter with the kernel's semantics for seccomp filters: the program is
// checked first as the kernel checks it (bpf_check_classic + seccomp_check_filter), then run
// on a struct seccomp_data. Used by tests (against libseccomp's programs and the real kernel),
// the CLI and the benchmark (it counts executed instructions).

import { retToAction } from "./actions.js";
import { AUDIT_ARCH } from "./arch.js";
import { BPF, BPF_MAXINSNS, decodeProgram, type Insn, SECCOMP_DATA } from "./bpf.js";
import type { SeccompAction, SeccompArch } from "./types.js";

/** Input of one emulated syscall. */
export interface EmulateInput {
  /** Arch name, or a raw AUDIT_ARCH value (to test foreign arches). */
  arch: SeccompArch | number;
  nr: number;
  args?: ReadonlyArray<bigint | number>;
  ip?: bigint;
}

/** Result: the action, the raw return value, and how many instructions ran. */
export interface EmulateResult {
  action: SeccompAction;
  ret: number;
  executed: number;
}

/** Why the kernel would refuse a program (EINVAL), or undefined when it is acceptable. */
export function checkProgram(insns: readonly Insn[]): string | undefined {
  if (insns.length === 0 || insns.length > BPF_MAXINSNS)
    return `length ${insns.length} outside 1..${BPF_MAXINSNS}`;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    const cls = code & 0x07;
    switch (code) {
      case BPF.LD | BPF.W | BPF.ABS:
        if (k >= SECCOMP_DATA.size || k & 3) return `pc ${pc}: load outside seccomp_data (offset ${k})`;
        break;
      case BPF.LD | BPF.W | BPF.LEN:
      case BPF.LDX | BPF.W | BPF.LEN:
      case BPF.LD | BPF.IMM:
      case BPF.LDX | BPF.IMM:
      case BPF.MISC | BPF.TAX:
      case BPF.MISC | BPF.TXA:
      case BPF.RET | BPF.K:
      case BPF.RET | BPF.A:
        break;
      case BPF.LD | BPF.MEM:
      case BPF.LDX | BPF.MEM:
      case BPF.ST:
      case BPF.STX:
        if (k >= 16) return `pc ${pc}: scratch memory index ${k} out of range`;
        break;
      default:
        if (cls === BPF.ALU) {
          const op = code & 0xf0;
          if (
            ![
              BPF.ADD,
              BPF.SUB,
              BPF.MUL,
              BPF.DIV,
              BPF.OR,
              BPF.AND,
              BPF.LSH,
              BPF.RSH,
              BPF.NEG,
              BPF.MOD,
              BPF.XOR,
            ].includes(op as 0)
          )
            return `pc ${pc}: bad ALU op 0x${code.toString(16)}`;
          if ((op === BPF.DIV || op === BPF.MOD) && (code & BPF.X) === 0 && k === 0)
            return `pc ${pc}: division by constant zero`;
          if ((op === BPF.LSH || op === BPF.RSH) && (code & BPF.X) === 0 && k >= 32)
            return `pc ${pc}: shift by ${k}`;
          break;
        }
        if (cls === BPF.JMP) {
          const op = code & 0xf0;
          if (op === BPF.JA) {
            if (k >= insns.length - pc - 1) return `pc ${pc}: ja out of range`;
            break;
          }
          if (![BPF.JEQ, BPF.JGT, BPF.JGE, BPF.JSET].includes(op as 0x10))
            return `pc ${pc}: bad jump 0x${code.toString(16)}`;
          if (pc + jt + 1 >= insns.length || pc + jf + 1 >= insns.length)
            return `pc ${pc}: jump out of range`;
          break;
        }
        return `pc ${pc}: instruction 0x${code.toString(16)} not allowed in seccomp filters`;
    }
  }
  const last = insns[insns.length - 1]!.code;
  if (last !== (BPF.RET | BPF.K) && last !== (BPF.RET | BPF.A)) return "the last instruction is not a return";
  return undefined;
}

/** Builds the 64-byte struct seccomp_data as the filter sees it (little-endian). */
export function seccompData(input: EmulateInput): DataView {
  const view = new DataView(new ArrayBuffer(SECCOMP_DATA.size));
  view.setInt32(SECCOMP_DATA.nr, input.nr | 0, true);
  view.setUint32(
    SECCOMP_DATA.arch,
    typeof input.arch === "number" ? input.arch >>> 0 : AUDIT_ARCH[input.arch],
    true,
  );
  view.setBigUint64(SECCOMP_DATA.ip, BigInt.asUintN(64, input.ip ?? 0n), true);
  for (let i = 0; i < 6; i++)
    view.setBigUint64(SECCOMP_DATA.args + 8 * i, BigInt.asUintN(64, BigInt(input.args?.[i] ?? 0)), true);
  return view;
}

/** Runs a program (raw bytes or decoded) on one syscall, as the kernel would. */
export function emulate(program: Uint8Array | readonly Insn[], input: EmulateInput): EmulateResult {
  const insns = program instanceof Uint8Array ? decodeProgram(program) : program;
  const bad = checkProgram(insns);
  if (bad) throw new Error(`the kernel would refuse this program: ${bad}`);
  return run(insns, seccompData(input));
}

/** Runs an already-checked program on prepared seccomp_data. */
export function run(insns: readonly Insn[], data: DataView): EmulateResult {
  let A = 0;
  let X = 0;
  const M = new Uint32Array(16);
  let executed = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    executed++;
    switch (code & 0x07) {
      case BPF.LD:
        switch (code & 0xe0) {
          case BPF.ABS:
            A = data.getUint32(k, true);
            break;
          case BPF.LEN:
            A = SECCOMP_DATA.size;
            break;
          case BPF.IMM:
            A = k;
            break;
          case BPF.MEM:
            A = M[k]!;
            break;
        }
        break;
      case BPF.LDX:
        X = (code & 0xe0) === BPF.LEN ? SECCOMP_DATA.size : (code & 0xe0) === BPF.MEM ? M[k]! : k;
        break;
      case BPF.ST:
        M[k] = A;
        break;
      case BPF.STX:
        M[k] = X;
        break;
      case BPF.ALU: {
        const src = code & BPF.X ? X : k;
        switch (code & 0xf0) {
          case BPF.ADD:
            A = (A + src) >>> 0;
            break;
          case BPF.SUB:
            A = (A - src) >>> 0;
            break;
          case BPF.MUL:
            A = Math.imul(A, src) >>> 0;
            break;
          case BPF.DIV:
            // Division by a zero X ends the program with 0 (kill_thread), as the kernel does.
            if (src === 0) return { action: retToAction(0), ret: 0, executed };
            A = Math.floor(A / src) >>> 0;
            break;
          case BPF.MOD:
            if (src === 0) return { action: retToAction(0), ret: 0, executed };
            A = (A % src) >>> 0;
            break;
          case BPF.OR:
            A = (A | src) >>> 0;
            break;
          case BPF.AND:
            A = (A & src) >>> 0;
            break;
          case BPF.XOR:
            A = (A ^ src) >>> 0;
            break;
          case BPF.LSH:
            A = src >= 32 ? 0 : (A << src) >>> 0;
            break;
          case BPF.RSH:
            A = src >= 32 ? 0 : A >>> src;
            break;
          case BPF.NEG:
            A = -A >>> 0;
            break;
        }
        break;
      }
      case BPF.JMP: {
        const op = code & 0xf0;
        if (op === BPF.JA) {
          pc += k;
          break;
        }
        const src = code & BPF.X ? X : k;
        const res =
          op === BPF.JEQ ? A === src : op === BPF.JGT ? A > src : op === BPF.JGE ? A >= src : (A & src) !== 0;
        pc += res ? jt : jf;
        break;
      }
      case BPF.RET: {
        const ret = (code & 0x18) === BPF.A ? A : k;
        return { action: retToAction(ret), ret: ret >>> 0, executed };
      }
      case BPF.MISC:
        if ((code & 0xf8) === BPF.TXA) A = X;
        else X = A;
        break;
    }
  }
  throw new Error("internal: ran off the end of a checked program");
}
