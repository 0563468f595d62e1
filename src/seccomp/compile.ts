// The BPF compiler. Layout of every program:
//   1. load arch; foreign arch → KILL_PROCESS. Nothing else may run first: syscall numbers
//      mean different things on different arches.
//   2. load nr; a search tree over intervals of syscall numbers (adjacent numbers with the
//      same unconditional verdict share an interval; on x86_64 the x32 range ≥ 0x40000000 is an
//      interval of its own with the deny action). The tree uses only JEQ/JGE on the number,
//      so every unconditionally allowed syscall stays constant-allow for the kernel's action
//      cache (kernel/seccomp.c seccomp_is_const_allow).
//   3. arguments are loaded only inside the leaf of a syscall that has conditions.

import { QemuJailError } from "../errors.js";
import { actionToRet, actionToString, sameAction } from "./actions.js";
import { AUDIT_ARCH, syscallNumber, X32_SYSCALL_BIT } from "./arch.js";
import { Asm, type Label } from "./asm.js";
import { argOffset, BPF, BPF_MAXINSNS, encodeProgram, type Insn, SECCOMP_DATA } from "./bpf.js";
import type { ArgCond, CompiledProgram, Policy, Rule, SeccompAction } from "./types.js";

/** Syscalls QEMU's threads run constantly: their leaves sit shallower in the tree. */
export const HOT_SYSCALLS = new Set([
  "ppoll",
  "futex",
  "read",
  "write",
  "ioctl",
  "io_uring_enter",
  "recvmsg",
  "sendmsg",
  "io_getevents",
  "preadv",
  "pwritev",
  "pread64",
  "pwrite64",
  "epoll_wait",
  "epoll_pwait",
]);

type Verdict =
  | { t: "ret"; action: SeccompAction }
  | { t: "block"; syscall: string; rules: Rule[]; fallback: SeccompAction };

interface Interval {
  lo: number;
  hi: number;
  v: Verdict;
  weight: number;
}

/** Compiles `policy` to a raw seccomp program. */
export function compilePolicy(policy: Policy): CompiledProgram {
  const insns = compileToInsns(policy);
  return { program: encodeProgram(insns), length: insns.length, arch: policy.arch };
}

/** The x32 verdict: the default when it denies, otherwise kill (an allow-by-default policy must not open x32). */
function x32Action(policy: Policy): SeccompAction {
  const k = policy.defaultAction.kind;
  return k === "allow" || k === "log" ? { kind: "kill_process" } : policy.defaultAction;
}

/** Compiles `policy` to instructions (see compilePolicy). */
export function compileToInsns(policy: Policy): Insn[] {
  const { arch } = policy;
  // Per syscall number: its verdict.
  const bySys = new Map<string, Rule[]>();
  for (const r of policy.rules) {
    const list = bySys.get(r.syscall);
    if (list) list.push(r);
    else bySys.set(r.syscall, [r]);
  }
  const points: Array<{ nr: number; v: Verdict; hot: boolean }> = [];
  for (const [name, rules] of bySys) {
    const nr = syscallNumber(arch, name);
    if (nr === undefined) continue;
    if (arch === "x86_64" && nr >= X32_SYSCALL_BIT)
      throw new Error(`internal: syscall ${name} in the x32 range`);
    const uncond = rules.find((r) => r.args.length === 0);
    const fallback = uncond?.action ?? policy.defaultAction;
    // First matching rule wins (policy order). Trailing rules whose action equals the fallback
    // change nothing; earlier ones must stay, since they shadow later rules of other actions.
    const conditional = rules.filter((r) => r.args.length > 0);
    while (conditional.length && sameAction(conditional[conditional.length - 1]!.action, fallback))
      conditional.pop();
    const v: Verdict = conditional.length
      ? { t: "block", syscall: name, rules: conditional, fallback }
      : { t: "ret", action: fallback };
    points.push({ nr, v, hot: HOT_SYSCALLS.has(name) });
  }
  points.sort((a, b) => a.nr - b.nr);

  // Intervals covering [0, 2^32).
  const top = arch === "x86_64" ? X32_SYSCALL_BIT : 0x1_0000_0000;
  const iv: Interval[] = [];
  const push = (lo: number, hi: number, v: Verdict, weight: number) => {
    if (lo > hi) return;
    const last = iv[iv.length - 1];
    if (
      last &&
      last.v.t === "ret" &&
      v.t === "ret" &&
      sameAction(last.v.action, v.action) &&
      last.hi + 1 === lo
    ) {
      last.hi = hi;
      last.weight += weight;
    } else iv.push({ lo, hi, v, weight });
  };
  const deflt: Verdict = { t: "ret", action: policy.defaultAction };
  let cur = 0;
  for (const p of points) {
    push(cur, p.nr - 1, deflt, 1);
    push(p.nr, p.nr, p.v, p.v.t === "block" && p.hot ? 4 : 1);
    cur = p.nr + 1;
  }
  push(cur, top - 1, deflt, 1);
  if (top < 0x1_0000_0000) push(top, 0xffff_ffff, { t: "ret", action: x32Action(policy) }, 1);

  const a = new Asm();
  // 1. Architecture.
  const lNr = a.label();
  const lBadArch = a.label();
  a.ins(BPF.LD | BPF.W | BPF.ABS, SECCOMP_DATA.arch);
  a.jmp(BPF.JEQ, AUDIT_ARCH[arch], lNr, lBadArch);
  a.place(lBadArch);
  a.ins(BPF.RET | BPF.K, actionToRet({ kind: "kill_process" }));
  // 2. Syscall number.
  a.place(lNr);
  a.ins(BPF.LD | BPF.W | BPF.ABS, SECCOMP_DATA.nr);
  emitTree<Interval, Verdict>(a, iv, 0, iv.length - 1, (v) => emitVerdict(a, v));
  const insns = a.assemble();
  if (insns.length > BPF_MAXINSNS) {
    throw new QemuJailError(
      "SECCOMP_PROGRAM_TOO_LONG",
      `the compiled ${arch} filter has ${insns.length} instructions; the kernel accepts at most ${BPF_MAXINSNS}`,
      {
        exit: "policy",
        hint: "merge argument conditions (e.g. masked_eq) or split the process's policy",
        detail: { length: insns.length },
      },
    );
  }
  return insns;
}

/** Emits a search tree over intervals lo..hi (indices). Register A holds the 32-bit key. */
function emitTree<T extends { lo: number; hi: number; weight: number; v: V }, V>(
  a: Asm,
  iv: readonly T[],
  lo: number,
  hi: number,
  leaf: (v: V) => void,
  same: (x: V, y: V) => boolean = () => false,
): void {
  if (lo === hi) {
    leaf(iv[lo]!.v);
    return;
  }
  // [X][k][X] where the middle is a single key: one JEQ.
  if (
    hi - lo === 2 &&
    iv[lo + 1]!.lo === iv[lo + 1]!.hi &&
    (iv[lo]!.v === iv[hi]!.v || same(iv[lo]!.v, iv[hi]!.v))
  ) {
    const lMid = a.label();
    const lOut = a.label();
    a.jmp(BPF.JEQ, iv[lo + 1]!.lo, lMid, lOut);
    a.place(lOut);
    leaf(iv[lo]!.v);
    a.place(lMid);
    leaf(iv[lo + 1]!.v);
    return;
  }
  // Split where the weights of both sides are closest.
  let total = 0;
  for (let i = lo; i <= hi; i++) total += iv[i]!.weight;
  let best = lo + 1;
  let bestDiff = Number.POSITIVE_INFINITY;
  let left = 0;
  for (let s = lo + 1; s <= hi; s++) {
    left += iv[s - 1]!.weight;
    const d = Math.abs(total - 2 * left);
    if (d < bestDiff) {
      bestDiff = d;
      best = s;
    }
  }
  // Two intervals whose right one is a single key: JEQ reads better than JGE; same cost.
  const lRight = a.label();
  const lLeft = a.label();
  a.jmp(BPF.JGE, iv[best]!.lo, lRight, lLeft);
  a.place(lLeft);
  emitTree(a, iv, lo, best - 1, leaf, same);
  a.place(lRight);
  emitTree(a, iv, best, hi, leaf, same);
}

function emitVerdict(a: Asm, v: Verdict): void {
  if (v.t === "ret") {
    a.ins(BPF.RET | BPF.K, actionToRet(v.action));
    return;
  }
  if (emitSwitch(a, v)) return;
  // General case: rules in order, first match wins; each rule is an AND of 64-bit conditions.
  emitSequential(a, v.rules, v.fallback);
}

const hiWord = (v: bigint) => Number((v >> 32n) & 0xffff_ffffn);
const loWord = (v: bigint) => Number(v & 0xffff_ffffn);

type SubRule = { args: ArgCond[]; action: SeccompAction };
type Leaf = { t: "ret"; action: SeccompAction } | { t: "seq"; rules: SubRule[] };

/** Rules in order, first match wins; each an AND of 64-bit conditions; then the fallback. */
function emitSequential(a: Asm, rules: readonly SubRule[], fallback: SeccompAction): void {
  for (const r of rules) {
    const lNext = a.label();
    for (const c of r.args) emitCond(a, c, lNext);
    a.ins(BPF.RET | BPF.K, actionToRet(r.action));
    a.place(lNext);
    // A rule without conditions always matches: nothing after it can run.
    if (!r.args.length) return;
  }
  a.ins(BPF.RET | BPF.K, actionToRet(fallback));
}

const ALL64 = 0xffff_ffff_ffff_ffffn;

/**
 * The common shape "every rule starts with an `eq` (or a `masked_eq` with one shared mask) on
 * the same argument" (ioctl request lists, socket families, futex ops, prctl options): compare
 * the (masked) high word once, then a search tree over the (masked) low words; each value's
 * remaining conditions follow in its leaf. Rules with different values are disjoint, so only
 * rules of one value can compete and their order is kept.
 */
function emitSwitch(a: Asm, v: Extract<Verdict, { t: "block" }>): boolean {
  const first = v.rules[0]!.args[0]!;
  const maskOf = (c: ArgCond) => (c.op === "eq" ? ALL64 : c.op === "masked_eq" ? (c.mask ?? 0n) : undefined);
  const mask = maskOf(first);
  if (mask === undefined || mask === 0n) return false;
  if (!v.rules.every((r) => r.args[0]!.arg === first.arg && maskOf(r.args[0]!) === mask)) return false;
  // value → rules (rest of their conditions), in policy order.
  const byValue = new Map<bigint, SubRule[]>();
  for (const r of v.rules) {
    const c = r.args[0]!;
    if ((c.value & ~mask & ALL64) !== 0n) continue; // can never match
    const list = byValue.get(c.value) ?? [];
    list.push({ args: r.args.slice(1), action: r.action });
    byValue.set(c.value, list);
  }
  const fallback = v.fallback;
  const mh = hiWord(mask);
  const ml = loWord(mask);
  const byHi = new Map<number, Array<{ lo: number; rules: SubRule[] }>>();
  for (const [value, rules] of byValue) {
    const g = byHi.get(hiWord(value)) ?? [];
    g.push({ lo: loWord(value), rules });
    byHi.set(hiWord(value), g);
  }
  const his = [...byHi.keys()].sort((x, y) => x - y);
  const leafOf = (rules: SubRule[]): Leaf =>
    rules[0]!.args.length === 0 ? { t: "ret", action: rules[0]!.action } : { t: "seq", rules };
  const sameLeaf = (x: Leaf, y: Leaf) => x.t === "ret" && y.t === "ret" && sameAction(x.action, y.action);
  const emitLeaf = (l: Leaf) =>
    l.t === "ret" ? a.ins(BPF.RET | BPF.K, actionToRet(l.action)) : emitSequential(a, l.rules, fallback);
  const ldHi = () => {
    a.ins(BPF.LD | BPF.W | BPF.ABS, argOffset(first.arg, true));
    if (mh !== 0xffff_ffff) a.ins(BPF.ALU | BPF.AND | BPF.K, mh);
  };
  // With a zero high mask the high word cannot differ: no load, no compare.
  if (mh !== 0) ldHi();
  his.forEach((h, i) => {
    const lGroup = a.label();
    const lNextHi = a.label();
    if (mh !== 0) {
      a.jmp(BPF.JEQ, h, lGroup, lNextHi);
      a.place(lGroup);
    }
    a.ins(BPF.LD | BPF.W | BPF.ABS, argOffset(first.arg, false));
    if (ml !== 0xffff_ffff) a.ins(BPF.ALU | BPF.AND | BPF.K, ml);
    const vals = byHi.get(h)!.sort((x, y) => x.lo - y.lo);
    const iv: Array<{ lo: number; hi: number; weight: number; v: Leaf }> = [];
    const dflt: Leaf = { t: "ret", action: fallback };
    let cur = 0;
    const push = (lo: number, hi: number, leaf: Leaf) => {
      if (lo > hi) return;
      const last = iv[iv.length - 1];
      if (last && sameLeaf(last.v, leaf) && last.hi + 1 === lo) last.hi = hi;
      else iv.push({ lo, hi, v: leaf, weight: 1 });
    };
    for (const x of vals) {
      push(cur, x.lo - 1, dflt);
      push(x.lo, x.lo, leafOf(x.rules));
      cur = x.lo + 1;
    }
    push(cur, 0xffff_ffff, dflt);
    emitTree<(typeof iv)[number], Leaf>(a, iv, 0, iv.length - 1, emitLeaf, sameLeaf);
    if (mh !== 0) {
      a.place(lNextHi);
      // Another high word: reload it (A now holds the low word).
      if (i + 1 < his.length) ldHi();
    }
  });
  if (mh !== 0 || his.length === 0) a.ins(BPF.RET | BPF.K, actionToRet(fallback));
  return true;
}

/**
 * One unsigned 64-bit comparison, from the two 32-bit words: the high words decide unless they
 * are equal, then the low words decide. Falls through when the condition holds, jumps to
 * `fail` otherwise.
 */
function emitCond(a: Asm, c: ArgCond, fail: Label): void {
  const pass = a.label();
  const cont = a.label();
  const vh = hiWord(c.value);
  const vl = loWord(c.value);
  const ldHi = () => a.ins(BPF.LD | BPF.W | BPF.ABS, argOffset(c.arg, true));
  const ldLo = () => a.ins(BPF.LD | BPF.W | BPF.ABS, argOffset(c.arg, false));
  switch (c.op) {
    case "eq":
      ldHi();
      a.jmp(BPF.JEQ, vh, cont, fail);
      a.place(cont);
      ldLo();
      a.jmp(BPF.JEQ, vl, pass, fail);
      break;
    case "ne":
      ldHi();
      a.jmp(BPF.JEQ, vh, cont, pass);
      a.place(cont);
      ldLo();
      a.jmp(BPF.JEQ, vl, fail, pass);
      break;
    case "gt":
    case "ge": {
      const lEq = a.label();
      ldHi();
      a.jmp(BPF.JGT, vh, pass, lEq);
      a.place(lEq);
      a.jmp(BPF.JEQ, vh, cont, fail);
      a.place(cont);
      ldLo();
      a.jmp(c.op === "gt" ? BPF.JGT : BPF.JGE, vl, pass, fail);
      break;
    }
    case "lt":
    case "le": {
      const lEq = a.label();
      ldHi();
      a.jmp(BPF.JGT, vh, fail, lEq);
      a.place(lEq);
      a.jmp(BPF.JEQ, vh, cont, pass);
      a.place(cont);
      ldLo();
      // lt: fail when lo >= vl; le: fail when lo > vl.
      a.jmp(c.op === "lt" ? BPF.JGE : BPF.JGT, vl, fail, pass);
      break;
    }
    case "masked_eq": {
      const m = c.mask ?? 0n;
      const mh = hiWord(m);
      const ml = loWord(m);
      // (arg & mask) == value can never hold when value has bits outside the mask.
      if ((c.value & ~m & 0xffff_ffff_ffff_ffffn) !== 0n) {
        a.ja(fail);
        break;
      }
      if (mh !== 0) {
        ldHi();
        if (mh !== 0xffff_ffff) a.ins(BPF.ALU | BPF.AND | BPF.K, mh);
        a.jmp(BPF.JEQ, vh, cont, fail);
      }
      a.place(cont);
      if (ml !== 0) {
        ldLo();
        if (ml !== 0xffff_ffff) a.ins(BPF.ALU | BPF.AND | BPF.K, ml);
        a.jmp(BPF.JEQ, vl, pass, fail);
      }
      break;
    }
  }
  a.place(pass);
}

/** Human summary of a compile, for logs: "x86_64: 123 instructions, 57 syscalls". */
export function describeProgram(policy: Policy, p: CompiledProgram): string {
  const n = new Set(policy.rules.map((r) => r.syscall)).size;
  return `${policy.arch}: ${p.length} instructions, ${n} syscalls, default ${actionToString(policy.defaultAction)}`;
}
