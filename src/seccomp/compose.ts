// Composition: the union of the fragments a process uses, with provenance for every rule.
// Rules of one syscall are an OR of AND-rules; identical condition sets merge (same action) or
// conflict (different actions: an error naming both sources); an unconditional rule absorbs
// conditional rules of the same action, and a rule absorbs any rule of the same action whose
// conditions are a superset of its own. The result is sorted, so output is deterministic.

import { QemuJailError } from "../errors.js";
import { actionSeverity, actionToString, parseAction, sameAction } from "./actions.js";
import { syscallNumber } from "./arch.js";
import type { ArgCond, FragmentSet, Policy, Provenance, Rule, SeccompAction, SeccompArch } from "./types.js";
import { isProblem, resolveValue, suggest } from "./values.js";

/** One fragment a process uses, and the config item (Need) that asked for it. */
export interface FragmentUse {
  fragment: string;
  need?: string;
}

/** Target and default action of a composition. */
export interface ComposeOptions {
  arch: SeccompArch;
  defaultAction: SeccompAction;
}

/** Canonical text of a condition, used to compare and sort. */
export function condKey(c: ArgCond): string {
  const hex = (v: bigint) => v.toString(16).padStart(16, "0");
  return `${c.arg}:${c.op}:${hex(c.value)}${c.mask === undefined ? "" : `/${hex(c.mask)}`}`;
}

/** Canonical text of an AND of conditions. */
export function argsKey(args: readonly ArgCond[]): string {
  return args.map(condKey).join("&");
}

function provKey(p: Provenance): string {
  return `${p.fragment}\u0000${p.need ?? ""}\u0000${p.why}`;
}

function mergeProvenance(a: Provenance[], b: Provenance[]): Provenance[] {
  const m = new Map<string, Provenance>();
  for (const p of [...a, ...b]) m.set(provKey(p), p);
  return [...m.entries()].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)).map(([, p]) => p);
}

/** Expands `uses` through includes: fragment name → needs that reached it (deterministic order). */
function expand(set: FragmentSet, uses: readonly FragmentUse[]): Map<string, Set<string | undefined>> {
  const reached = new Map<string, Set<string | undefined>>();
  const visit = (name: string, need: string | undefined, seen: Set<string>) => {
    if (seen.has(name)) return;
    seen.add(name);
    const f = set.fragments.get(name)!;
    let needs = reached.get(name);
    if (!needs) {
      needs = new Set();
      reached.set(name, needs);
    }
    needs.add(need);
    for (const inc of f.raw.includes ?? []) visit(inc, need, seen);
  };
  for (const u of uses) {
    if (!set.fragments.has(u.fragment)) {
      const s = suggest(u.fragment, set.fragments.keys());
      throw new QemuJailError(
        "SECCOMP_UNKNOWN_FRAGMENT",
        `no policy fragment named "${u.fragment}" in ${set.dir}`,
        {
          exit: "policy",
          location: { file: set.dir, ...(u.need ? { key: u.need } : {}) },
          hint: s.length
            ? `did you mean ${s.join(", ")}?`
            : `known: ${[...set.fragments.keys()].sort().join(", ")}`,
        },
      );
    }
    visit(u.fragment, u.need, new Set());
  }
  return reached;
}

/** Composes the policy of one process from the fragments it uses. */
export function composePolicy(set: FragmentSet, uses: readonly FragmentUse[], opts: ComposeOptions): Policy {
  const { arch } = opts;
  const reached = expand(set, uses);
  // syscall → argsKey → rule
  const table = new Map<string, Map<string, Rule>>();
  const fragmentsUsed: string[] = [];
  for (const name of [...reached.keys()].sort()) {
    const { raw, file } = set.fragments.get(name)!;
    if (raw.arches && !raw.arches.includes(arch)) continue;
    fragmentsUsed.push(name);
    const needs = [...reached.get(name)!].sort((a, b) => String(a ?? "").localeCompare(String(b ?? "")));
    raw.rules.forEach((r, ri) => {
      // A syscall this arch does not have (e.g. open on aarch64) cannot be called: nothing to allow.
      if (syscallNumber(arch, r.syscall) === undefined) return;
      const action = parseAction(r.action ?? "allow");
      if (!action)
        throw new QemuJailError("SECCOMP_BAD_ACTION", `unknown action "${r.action}"`, {
          exit: "policy",
          location: { file, key: `rules[${ri}].action` },
        });
      const conds = new Map<string, ArgCond>();
      (r.args ?? []).forEach((c, ci) => {
        const get = (key: "value" | "mask"): bigint | undefined => {
          const rawV = c[key];
          if (rawV === undefined) return undefined;
          const v = resolveValue(rawV, arch);
          if (!isProblem(v)) return v;
          const where = { file, key: `rules[${ri}].args[${ci}].${key}` };
          if (v.kind === "missing-on-arch")
            throw new QemuJailError(
              "SECCOMP_CONSTANT_NOT_ON_ARCH",
              `constant ${v.name} has no value from the ${arch} headers, so it cannot be used for ${arch}`,
              {
                exit: "policy",
                location: where,
                hint: `restrict the fragment with "arches", or give the ${arch} value as a number if you have verified it`,
              },
            );
          throw new QemuJailError("SECCOMP_BAD_VALUE", `cannot resolve ${JSON.stringify(rawV)} for ${arch}`, {
            exit: "policy",
            location: where,
          });
        };
        const value = get("value")!;
        const mask = get("mask");
        const cond: ArgCond = {
          arg: c.arg as ArgCond["arg"],
          op: c.op,
          value,
          ...(mask === undefined ? {} : { mask }),
        };
        conds.set(condKey(cond), cond);
      });
      const args = [...conds.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, c]) => c);
      const key = argsKey(args);
      const prov: Provenance[] = needs.map((need) => ({
        fragment: name,
        why: r.why,
        ...(need === undefined ? {} : { need }),
      }));
      let bySys = table.get(r.syscall);
      if (!bySys) {
        bySys = new Map();
        table.set(r.syscall, bySys);
      }
      const existing = bySys.get(key);
      if (!existing) {
        bySys.set(key, { syscall: r.syscall, action, args, provenance: prov });
      } else if (sameAction(existing.action, action)) {
        existing.provenance = mergeProvenance(existing.provenance, prov);
      } else {
        const other = existing.provenance[0]!;
        throw new QemuJailError(
          "SECCOMP_CONFLICT",
          `conflicting actions for ${r.syscall}${key ? ` when ${key}` : ""}: ${actionToString(existing.action)} from fragment "${other.fragment}" (${other.why}) vs ${actionToString(action)} from fragment "${name}" (${r.why})`,
          {
            exit: "policy",
            location: { file, key: `rules[${ri}]` },
            hint: "make the conditions disjoint or agree on one action",
          },
        );
      }
    });
  }
  const rules: Rule[] = [];
  for (const sys of [...table.keys()].sort()) {
    rules.push(...absorb([...table.get(sys)!.values()]));
  }
  return { arch, defaultAction: opts.defaultAction, rules, fragments: fragmentsUsed };
}

/** Drops rules implied by a rule of the same action with a subset of its conditions; keeps their provenance. */
function absorb(rules: Rule[]): Rule[] {
  const sorted = [...rules].sort((a, b) => a.args.length - b.args.length || cmpRule(a, b));
  const kept: Rule[] = [];
  for (const r of sorted) {
    const keys = new Set(r.args.map(condKey));
    const by = kept.find((k) => sameAction(k.action, r.action) && k.args.every((c) => keys.has(condKey(c))));
    if (by) by.provenance = mergeProvenance(by.provenance, r.provenance);
    else kept.push({ ...r, provenance: [...r.provenance] });
  }
  return kept.sort(cmpRule);
}

/** Order inside one syscall: conditional rules first by severity, then the unconditional one. */
export function cmpRule(a: Rule, b: Rule): number {
  if (a.syscall !== b.syscall) return a.syscall < b.syscall ? -1 : 1;
  const ua = a.args.length === 0 ? 1 : 0;
  const ub = b.args.length === 0 ? 1 : 0;
  if (ua !== ub) return ua - ub;
  const s = actionSeverity(a.action) - actionSeverity(b.action);
  if (s !== 0) return s;
  const ka = `${actionToString(a.action)} ${argsKey(a.args)}`;
  const kb = `${actionToString(b.action)} ${argsKey(b.args)}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** True when `args` satisfy every condition (64-bit unsigned). */
export function condsHold(conds: readonly ArgCond[], args: readonly bigint[]): boolean {
  return conds.every((c) => {
    const a = BigInt.asUintN(64, args[c.arg] ?? 0n);
    switch (c.op) {
      case "eq":
        return a === c.value;
      case "ne":
        return a !== c.value;
      case "lt":
        return a < c.value;
      case "le":
        return a <= c.value;
      case "gt":
        return a > c.value;
      case "ge":
        return a >= c.value;
      case "masked_eq":
        return (a & (c.mask ?? 0n)) === c.value;
      default:
        return false;
    }
  });
}

/**
 * The intended action of `policy` for syscall `name` with `args`, straight from the rules
 * (no BPF): conditional rules in policy order, first match wins, then the unconditional rule,
 * then the default. The compiler must agree with this on every input.
 */
export function policyVerdict(policy: Policy, name: string, args: readonly bigint[]): SeccompAction {
  let fallback: SeccompAction = policy.defaultAction;
  for (const r of policy.rules) {
    if (r.syscall !== name) continue;
    if (r.args.length === 0) fallback = r.action;
    else if (condsHold(r.args, args)) return r.action;
  }
  return fallback;
}
