// The BPF compiler. Layout of every program:
//   1. load arch; foreign arch → KILL_PROCESS. Nothing else may run first: syscall numbers
//      mean different things on different arches.
//   2. load nr; a search tree over intervals of syscall numbers (adjacent numbers with the
//      same unconditional verdict share an interval; on x86_64 the x32 range ≥ 0x40000000 is an
//      interval of its own with the deny action). The tree uses only JEQ/JGE on the number,
//      so every unconditionally allowed syscall stays constant-allow for the kernel's action
//      cache (kernel/seccomp.c seccomp_is_const_allow).
//   3. arguments are loaded only inside the leaf of a syscall that has conditions. There its
//      rules form groups (groupRules) run in sequence: a switch for rules sharing a first
//      condition form (`eq`/`masked_eq` with one mask on one argument), else a linear scan.

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

/**
 * Emits a search tree over intervals lo..hi (indices). Register A holds the 32-bit key. A leaf
 * for which `target` names a label (a jump elsewhere) is not emitted: the tree jumps there.
 */
function emitTree<T extends { lo: number; hi: number; weight: number; v: V }, V>(
  a: Asm,
  iv: readonly T[],
  lo: number,
  hi: number,
  leaf: (v: V) => void,
  same: (x: V, y: V) => boolean = () => false,
  target: (v: V) => Label | undefined = () => undefined,
): void {
  if (lo === hi) {
    leaf(iv[lo]!.v);
    return;
  }
  // Where a jump into iv[l..h] goes: the leaf's own target, or a fresh label placed by `enter`.
  const dest = (l: number, h: number) => (l === h ? target(iv[l]!.v) : undefined) ?? a.label();
  const enter = (label: Label, l: number, h: number) => {
    if (l === h && target(iv[l]!.v) !== undefined) return;
    a.place(label);
    emitTree(a, iv, l, h, leaf, same, target);
  };
  // [X][k][X] where the middle is a single key: one JEQ.
  if (
    hi - lo === 2 &&
    iv[lo + 1]!.lo === iv[lo + 1]!.hi &&
    (iv[lo]!.v === iv[hi]!.v || same(iv[lo]!.v, iv[hi]!.v))
  ) {
    const lMid = dest(lo + 1, lo + 1);
    const lOut = dest(lo, lo);
    a.jmp(BPF.JEQ, iv[lo + 1]!.lo, lMid, lOut);
    enter(lOut, lo, lo);
    enter(lMid, lo + 1, lo + 1);
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
  const lRight = dest(best, hi);
  const lLeft = dest(lo, best - 1);
  a.jmp(BPF.JGE, iv[best]!.lo, lRight, lLeft);
  enter(lLeft, lo, best - 1);
  enter(lRight, best, hi);
}

function emitVerdict(a: Asm, v: Verdict): void {
  if (v.t === "ret") {
    a.ins(BPF.RET | BPF.K, actionToRet(v.action));
    return;
  }
  // Groups run in sequence: a group that matches nothing falls out at its bottom (or jumps to
  // its end) into the next one; after the last group, the syscall's fallback.
  const groups = groupRules(v.rules);
  const ret: Exit = { t: "ret", action: v.fallback };
  let open = false;
  groups.forEach((g, i) => {
    const last = i === groups.length - 1;
    const lNext = a.label();
    const exit: Exit = last ? ret : { t: "goto", label: lNext };
    open = g.mask !== undefined ? emitSwitch(a, g.arg, g.mask, g.rules, exit) : emitRules(a, g.rules);
    if (!last) a.place(lNext);
  });
  if (open) emitExit(a, ret);
}

const hiWord = (v: bigint) => Number((v >> 32n) & 0xffff_ffffn);
const loWord = (v: bigint) => Number(v & 0xffff_ffffn);

type SubRule = { args: ArgCond[]; action: SeccompAction };
/** Where a rule group goes when none of its rules match: the fallback, or the next group. */
type Exit = { t: "ret"; action: SeccompAction } | { t: "goto"; label: Label };
type Leaf = { t: "exit"; exit: Exit } | { t: "seq"; rules: SubRule[] };

function emitExit(a: Asm, e: Exit): void {
  if (e.t === "ret") a.ins(BPF.RET | BPF.K, actionToRet(e.action));
  else a.ja(e.label);
}

/**
 * Rules in order, first match wins; each an AND of 64-bit conditions. Returns true when control
 * can fall out at the bottom (no rule matched), false when a rule without conditions ended it.
 */
function emitRules(a: Asm, rules: readonly SubRule[]): boolean {
  for (const r of rules) {
    const lNext = a.label();
    for (const c of r.args) emitCond(a, c, lNext);
    a.ins(BPF.RET | BPF.K, actionToRet(r.action));
    a.place(lNext);
    // A rule without conditions always matches: nothing after it can run.
    if (!r.args.length) return false;
  }
  return true;
}

const ALL64 = 0xffff_ffff_ffff_ffffn;

/** The mask a switch compares `c`'s argument under: `eq` is `masked_eq` with all bits. */
const switchMask = (c: ArgCond | undefined) =>
  c === undefined ? undefined : c.op === "eq" ? ALL64 : c.op === "masked_eq" ? (c.mask ?? 0n) : undefined;

type Group = { arg: number; mask: bigint | undefined; rules: SubRule[] };

/**
 * Partitions a syscall's conditional rules (policy order, first match wins) into groups compiled
 * one after the other. A group either admits a switch (every rule's first condition is `eq`, or
 * `masked_eq` with one non-zero mask, on one argument: `mask` set) or is scanned linearly.
 *
 * Rules may only move where the verdict cannot change: within a run of consecutive rules with
 * the same action, whichever of them matches first, the verdict is that action, so such a run
 * is regrouped by switch form (stable within a form; the form of the group just before the run
 * goes first, to extend it, then larger forms first). Across different actions the
 * order is kept. Then consecutive rules of one form, whatever their actions, form one group
 * (the switch keeps the order of the rules that share a value, and rules with different values
 * are disjoint). With one form per syscall this is the single switch it always was.
 */
function groupRules(rules: readonly Rule[]): Group[] {
  const keyOf = (r: Rule) => {
    const m = switchMask(r.args[0]);
    return m === undefined || m === 0n ? "linear" : `${r.args[0]!.arg}/${m}`;
  };
  const groups: Array<Group & { key: string }> = [];
  const append = (r: Rule, key: string) => {
    const sub = { args: r.args, action: r.action };
    const last = groups[groups.length - 1];
    if (last && last.key === key) last.rules.push(sub);
    else {
      const m = key === "linear" ? undefined : switchMask(r.args[0]);
      groups.push({ key, arg: r.args[0]!.arg, mask: m, rules: [sub] });
    }
  };
  for (let i = 0; i < rules.length; ) {
    // One run of the same action.
    let j = i;
    while (j < rules.length && sameAction(rules[j]!.action, rules[i]!.action)) j++;
    const buckets = new Map<string, Rule[]>();
    const prev = groups[groups.length - 1]?.key;
    if (prev !== undefined) buckets.set(prev, []);
    for (const r of rules.slice(i, j)) {
      const k = keyOf(r);
      buckets.set(k, [...(buckets.get(k) ?? []), r]);
    }
    // The form extending the previous group first, then larger groups first (most arguments
    // are found in fewer switches); sort is stable.
    const order = [...buckets].sort(([ka, ra], [kb, rb]) =>
      ka === prev ? -1 : kb === prev ? 1 : rb.length - ra.length,
    );
    for (const [k, rs] of order) for (const r of rs) append(r, k);
    i = j;
  }
  // Among several groups, a switch over one rule costs what its condition costs in a linear
  // scan: fold such groups into their linear neighbours (order kept), the code they always
  // compiled to. A lone group stays as it is (a single form was always one switch).
  if (groups.length === 1) return groups;
  const out: Group[] = [];
  for (const g of groups) {
    const linear = g.mask === undefined || g.rules.length === 1;
    const last = out[out.length - 1];
    if (linear && last && last.mask === undefined) last.rules.push(...g.rules);
    else out.push(linear ? { ...g, mask: undefined } : g);
  }
  return out;
}

/**
 * A switch over one group (see groupRules): compare the (masked) high word once, then a search
 * tree over the (masked) low words; each value's remaining conditions follow in its leaf, in
 * policy order (rules with different values are disjoint, so only rules of one value can
 * compete). A value with no rule, or whose rules all fail, takes `exit`. Returns true when
 * control can also fall out at the bottom (a high word with no rule), which means the same.
 */
function emitSwitch(a: Asm, arg: number, mask: bigint, rules: readonly SubRule[], exit: Exit): boolean {
  // value → rules (rest of their conditions), in policy order.
  const byValue = new Map<bigint, SubRule[]>();
  for (const r of rules) {
    const c = r.args[0]!;
    if ((c.value & ~mask & ALL64) !== 0n) continue; // can never match
    const list = byValue.get(c.value) ?? [];
    list.push({ args: r.args.slice(1), action: r.action });
    byValue.set(c.value, list);
  }
  const mh = hiWord(mask);
  const ml = loWord(mask);
  const byHi = new Map<number, Array<{ lo: number; rules: SubRule[] }>>();
  for (const [value, rules] of byValue) {
    const g = byHi.get(hiWord(value)) ?? [];
    g.push({ lo: loWord(value), rules });
    byHi.set(hiWord(value), g);
  }
  const his = [...byHi.keys()].sort((x, y) => x - y);
  const exitRet = (r: SubRule): Exit => ({ t: "ret", action: r.action });
  const leafOf = (rules: SubRule[]): Leaf =>
    rules[0]!.args.length === 0 ? { t: "exit", exit: exitRet(rules[0]!) } : { t: "seq", rules };
  const sameExit = (x: Exit, y: Exit) =>
    x.t === "ret" ? y.t === "ret" && sameAction(x.action, y.action) : y.t === "goto" && x.label === y.label;
  const sameLeaf = (x: Leaf, y: Leaf) => x.t === "exit" && y.t === "exit" && sameExit(x.exit, y.exit);
  const emitLeaf = (l: Leaf) => {
    if (l.t === "exit") emitExit(a, l.exit);
    else if (emitRules(a, l.rules)) emitExit(a, exit);
  };
  const ldHi = () => {
    a.ins(BPF.LD | BPF.W | BPF.ABS, argOffset(arg, true));
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
    a.ins(BPF.LD | BPF.W | BPF.ABS, argOffset(arg, false));
    if (ml !== 0xffff_ffff) a.ins(BPF.ALU | BPF.AND | BPF.K, ml);
    const vals = byHi.get(h)!.sort((x, y) => x.lo - y.lo);
    const iv: Array<{ lo: number; hi: number; weight: number; v: Leaf }> = [];
    const dflt: Leaf = { t: "exit", exit };
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
    // A miss jumps straight to the next group (no `ja` leaf per gap between values).
    const goto = (l: Leaf) => (l.t === "exit" && l.exit.t === "goto" ? l.exit.label : undefined);
    emitTree<(typeof iv)[number], Leaf>(a, iv, 0, iv.length - 1, emitLeaf, sameLeaf, goto);
    if (mh !== 0) {
      a.place(lNextHi);
      // Another high word: reload it (A now holds the low word).
      if (i + 1 < his.length) ldHi();
    }
  });
  return mh !== 0 || his.length === 0;
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
