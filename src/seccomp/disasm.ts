// Disassembly of a raw seccomp program to readable text: one instruction per line with its
// index, labels on jump targets, named seccomp_data fields, actions and (with an arch) syscall
// names next to the numbers they are compared with.

import { actionToString, retToAction } from "./actions.js";
import { AUDIT_ARCH, syscallName } from "./arch.js";
import { BPF, decodeProgram, type Insn, SECCOMP_DATA } from "./bpf.js";
import type { SeccompArch } from "./types.js";

function field(k: number): string {
  if (k === SECCOMP_DATA.nr) return "nr";
  if (k === SECCOMP_DATA.arch) return "arch";
  if (k === SECCOMP_DATA.ip) return "ip.lo";
  if (k === SECCOMP_DATA.ip + 4) return "ip.hi";
  if (k >= SECCOMP_DATA.args && k < SECCOMP_DATA.size) {
    const i = (k - SECCOMP_DATA.args) >> 3;
    return `args[${i}].${(k - SECCOMP_DATA.args) & 4 ? "hi" : "lo"}`;
  }
  return `[${k}]`;
}

const JOPS: Record<number, string> = {
  [BPF.JEQ]: "jeq",
  [BPF.JGT]: "jgt",
  [BPF.JGE]: "jge",
  [BPF.JSET]: "jset",
};
const AOPS: Record<number, string> = {
  [BPF.ADD]: "add",
  [BPF.SUB]: "sub",
  [BPF.MUL]: "mul",
  [BPF.DIV]: "div",
  [BPF.OR]: "or",
  [BPF.AND]: "and",
  [BPF.LSH]: "lsh",
  [BPF.RSH]: "rsh",
  [BPF.NEG]: "neg",
  [BPF.MOD]: "mod",
  [BPF.XOR]: "xor",
};

/** Readable text of a program; pass `arch` to annotate syscall numbers. */
export function disassemble(program: Uint8Array | readonly Insn[], arch?: SeccompArch): string {
  const insns = program instanceof Uint8Array ? decodeProgram(program) : program;
  const targets = new Set<number>();
  insns.forEach((ins, pc) => {
    if ((ins.code & 0x07) !== BPF.JMP) return;
    if ((ins.code & 0xf0) === BPF.JA) targets.add(pc + 1 + ins.k);
    else {
      targets.add(pc + 1 + ins.jt);
      targets.add(pc + 1 + ins.jf);
    }
  });
  const label = (pc: number) => `L${pc}`;
  const width = String(insns.length).length;
  let lastLoad = "";
  const lines: string[] = [];
  insns.forEach((ins, pc) => {
    const { code, jt, jf, k } = ins;
    let text: string;
    let note = "";
    const cls = code & 0x07;
    if (code === (BPF.LD | BPF.W | BPF.ABS)) {
      lastLoad = field(k);
      text = `ld ${lastLoad}`;
    } else if (cls === BPF.JMP) {
      const op = code & 0xf0;
      if (op === BPF.JA) text = `ja ${label(pc + 1 + k)}`;
      else {
        const src = code & BPF.X ? "x" : `#0x${k.toString(16)}`;
        text = `${JOPS[op] ?? `j?${op}`} ${src}, ${label(pc + 1 + jt)}, ${label(pc + 1 + jf)}`;
        if (!(code & BPF.X) && lastLoad === "nr" && arch) {
          const n = syscallName(arch, k);
          if (n) note = `${n}`;
        }
        if (!(code & BPF.X) && lastLoad === "arch") {
          const a = Object.entries(AUDIT_ARCH).find(([, v]) => v === k);
          if (a) note = `AUDIT_ARCH_${a[0].toUpperCase()}`;
        }
      }
    } else if (cls === BPF.RET) {
      if ((code & 0x18) === BPF.A) text = "ret a";
      else {
        text = `ret #0x${(k >>> 0).toString(16)}`;
        note = actionToString(retToAction(k));
      }
    } else if (cls === BPF.ALU) {
      text = `${AOPS[code & 0xf0] ?? "alu?"} ${code & BPF.X ? "x" : `#0x${k.toString(16)}`}`;
      if ((code & 0xf0) === BPF.AND) lastLoad += "&";
    } else if (code === (BPF.LD | BPF.IMM)) text = `ld #0x${k.toString(16)}`;
    else if (code === (BPF.LDX | BPF.IMM)) text = `ldx #0x${k.toString(16)}`;
    else if (code === (BPF.LD | BPF.MEM)) text = `ld M[${k}]`;
    else if (code === (BPF.LDX | BPF.MEM)) text = `ldx M[${k}]`;
    else if (code === BPF.ST) text = `st M[${k}]`;
    else if (code === BPF.STX) text = `stx M[${k}]`;
    else if (code === (BPF.LD | BPF.W | BPF.LEN)) text = "ld #len";
    else if (code === (BPF.LDX | BPF.W | BPF.LEN)) text = "ldx #len";
    else if (code === (BPF.MISC | BPF.TAX)) text = "tax";
    else if (code === (BPF.MISC | BPF.TXA)) text = "txa";
    else text = `.insn 0x${code.toString(16)} ${jt} ${jf} 0x${k.toString(16)}`;
    const lab = targets.has(pc) ? `${label(pc)}:` : "";
    lines.push(`${String(pc).padStart(width)} ${lab.padEnd(width + 2)} ${text}${note ? `  ; ${note}` : ""}`);
  });
  return `${lines.join("\n")}\n`;
}
