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

  /**
   * Shares identical `ret` instructions: a ret reached only by jumps is dropped when a later
   * identical ret is within reach of every jump to it (distances only shrink as instructions are
   * removed, so this never creates a far jump). The same instructions execute on every path;
   * only the program gets shorter.
   */
  private dedupeReturns(code: Sym[]): Sym[] {
    const idxOf = new Map<Label, number>();
    const at: number[] = []; // code position → instruction index
    let n = 0;
    for (const s of code) {
      at.push(n);
      if (s.t === "label") idxOf.set(s.id, n);
      else n++;
    }
    const refs = new Map<Label, number[]>(); // label → indices of conditional jumps to it
    code.forEach((s, ci) => {
      if (s.t !== "jmp") return;
      for (const l of [s.jt, s.jf]) refs.set(l, [...(refs.get(l) ?? []), at[ci]!]);
    });
    const alias = new Map<Label, Label>();
    const drop = new Set<number>(); // code positions removed
    const lastRet = new Map<number, { idx: number; label: Label }>(); // K → the nearest kept ret after
    const extraLabels = new Map<number, Label>(); // code position of a ret → label added in front of it
    for (let ci = code.length - 1; ci >= 0; ci--) {
      const s = code[ci]!;
      if (s.t !== "ins" || (s.code & 0x07) !== BPF.RET) continue;
      // Labels directly in front of this ret; the instruction before them must not fall through.
      const labels: Label[] = [];
      let pi = ci - 1;
      while (pi >= 0 && code[pi]!.t === "label") {
        labels.push((code[pi] as { id: Label }).id);
        pi--;
      }
      const prev = pi >= 0 ? code[pi]! : undefined;
      const fallsIn = prev !== undefined && prev.t === "ins" && (prev.code & 0x07) !== BPF.RET;
      const later = lastRet.get(s.k);
      const idx = at[ci]!;
      const reachable =
        later !== undefined &&
        !fallsIn &&
        labels.every((l) => (refs.get(l) ?? []).every((from) => later.idx - from - 1 <= 255));
      if (reachable && labels.length) {
        for (const l of labels) alias.set(l, later.label);
        drop.add(ci);
        for (let k = ci - labels.length; k < ci; k++) drop.add(k);
        continue;
      }
      let own = labels[0];
      if (own === undefined) {
        own = this.label();
        extraLabels.set(ci, own);
      }
      lastRet.set(s.k, { idx, label: own });
    }
    const out: Sym[] = [];
    code.forEach((s, ci) => {
      if (drop.has(ci)) return;
      const extra = extraLabels.get(ci);
      if (extra !== undefined) out.push({ t: "label", id: extra });
      out.push(s);
    });
    const resolve = (l: Label): Label => {
      let x = l;
      while (alias.has(x)) x = alias.get(x)!;
      return x;
    };
    return out.map((s) =>
      s.t === "jmp"
        ? { ...s, jt: resolve(s.jt), jf: resolve(s.jf) }
        : s.t === "ja"
          ? { ...s, target: resolve(s.target) }
          : s,
    );
  }

  /** Resolves labels into real instructions, inserting trampolines where needed. */
  assemble(): Insn[] {
    let code = this.dedupeReturns(this.code.slice());
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
