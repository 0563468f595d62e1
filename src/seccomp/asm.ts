// A tiny assembler for forward-only classic BPF with symbolic labels. Conditional jumps carry
// 8-bit offsets; a target farther than 255 instructions is reached through a trampoline (an
// unconditional `ja`, which has a 32-bit offset) inserted right after the jump.

import { BPF, type Insn } from "./bpf.js";

/** A label id. */
export type Label = number;

/** A symbolic instruction. */
export type Sym =
  | { t: "label"; id: Label }
  | { t: "ins"; code: number; k: number }
  | { t: "jmp"; code: number; k: number; jt: Label; jf: Label }
  | { t: "ja"; target: Label };

/** Collects symbolic code. */
export class Asm {
  readonly code: Sym[] = [];
  private next = 0;

  /** A fresh label. */
  label(): Label {
    return this.next++;
  }

  /** Places `l` here. */
  place(l: Label): void {
    this.code.push({ t: "label", id: l });
  }

  /** A non-jump instruction. */
  ins(code: number, k = 0): void {
    this.code.push({ t: "ins", code, k: k >>> 0 });
  }

  /** A conditional jump (op: BPF.JEQ/JGT/JGE/JSET, against K). */
  jmp(op: number, k: number, jt: Label, jf: Label): void {
    this.code.push({ t: "jmp", code: BPF.JMP | op | BPF.K, k: k >>> 0, jt, jf });
  }

  /** An unconditional jump. */
  ja(target: Label): void {
    this.code.push({ t: "ja", target });
  }

  /** Resolves labels into real instructions, inserting trampolines where needed. */
  assemble(): Insn[] {
    let code = this.code.slice();
    for (;;) {
      const pos = new Map<Label, number>();
      let n = 0;
      for (const s of code) {
        if (s.t === "label") pos.set(s.id, n);
        else n++;
      }
      const out: Sym[] = [];
      let changed = false;
      n = 0;
      for (const s of code) {
        if (s.t !== "jmp") {
          out.push(s);
          if (s.t !== "label") n++;
          continue;
        }
        let { jt, jf } = s;
        const tramps: Sym[] = [];
        const far = (l: Label) => pos.get(l)! - (n + 1) > 255;
        if (far(jt)) {
          const t = this.label();
          tramps.push({ t: "label", id: t }, { t: "ja", target: jt });
          jt = t;
        }
        if (far(jf)) {
          const t = this.label();
          tramps.push({ t: "label", id: t }, { t: "ja", target: jf });
          jf = t;
        }
        out.push({ ...s, jt, jf }, ...tramps);
        if (tramps.length) changed = true;
        n++;
      }
      code = out;
      if (changed) continue;
      // Final pass: encode.
      const insns: Insn[] = [];
      for (const s of code) {
        if (s.t === "label") continue;
        const here = insns.length;
        const off = (l: Label) => {
          const d = pos.get(l)! - (here + 1);
          if (d < 0) throw new Error(`internal: backward jump to label ${l}`);
          return d;
        };
        if (s.t === "ins") insns.push({ code: s.code, jt: 0, jf: 0, k: s.k });
        else if (s.t === "ja") insns.push({ code: BPF.JMP | BPF.JA, jt: 0, jf: 0, k: off(s.target) });
        else insns.push({ code: s.code, jt: off(s.jt), jf: off(s.jf), k: s.k });
      }
      return insns;
    }
  }
}
