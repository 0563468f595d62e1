// The kernel's seccomp action cache (kernel/seccomp.c, 5.11+): when a filter is attached, the
// kernel emulates it for every syscall number of the native arch with only nr and arch known;
// a syscall whose path reaches `ret ALLOW` through nothing but loads of nr/arch, JEQ/JGE/JGT/
// JSET against constants, JA and AND is cached as always-allowed and never runs the filter.
// This is a transcription of that algorithm's rules (not its code) for analysis and tests.

import { RET } from "./actions.js";
import { AUDIT_ARCH, syscallNames, syscallNumber } from "./arch.js";
import { BPF, decodeProgram, type Insn, SECCOMP_DATA } from "./bpf.js";
import type { SeccompArch } from "./types.js";

/** Whether the kernel's analysis proves `insns` always allows (nr, arch). */
export function isConstAllow(insns: readonly Insn[], nr: number, arch: number): boolean {
  let reg = 0;
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc]!;
    switch (code) {
      case BPF.LD | BPF.W | BPF.ABS:
        if (k === SECCOMP_DATA.nr) reg = nr >>> 0;
        else if (k === SECCOMP_DATA.arch) reg = arch >>> 0;
        else return false;
        break;
      case BPF.RET | BPF.K:
        return k >>> 0 === RET.ALLOW;
      case BPF.JMP | BPF.JA:
        pc += k;
        break;
      case BPF.JMP | BPF.JEQ | BPF.K:
      case BPF.JMP | BPF.JGE | BPF.K:
      case BPF.JMP | BPF.JGT | BPF.K:
      case BPF.JMP | BPF.JSET | BPF.K: {
        const op = code & 0xf0;
        const res =
          op === BPF.JEQ ? reg === k : op === BPF.JGE ? reg >= k : op === BPF.JGT ? reg > k : (reg & k) !== 0;
        pc += res ? jt : jf;
        break;
      }
      case BPF.ALU | BPF.AND | BPF.K:
        reg = (reg & k) >>> 0;
        break;
      default:
        return false;
    }
  }
  return false;
}

/** Syscall names of `arch` the kernel would cache as always-allowed for `program`. */
export function cacheableSyscalls(program: Uint8Array | readonly Insn[], arch: SeccompArch): string[] {
  const insns = program instanceof Uint8Array ? decodeProgram(program) : program;
  return syscallNames(arch).filter((name) =>
    isConstAllow(insns, syscallNumber(arch, name)!, AUDIT_ARCH[arch]),
  );
}
