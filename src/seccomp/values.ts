// Resolution of condition values as written in fragments: a number, "0x..." / decimal string,
// a named constant from the generated tables, or several joined with "|".

import { ARCHES, constantNames, constantValue } from "./arch.js";
import type { RawValue, SeccompArch } from "./types.js";

const U64 = (1n << 64n) - 1n;

/** Why a value did not resolve: "syntax", "range", or a constant unknown on an arch. */
export type ValueProblem =
  | { kind: "syntax"; text: string }
  | { kind: "range"; text: string }
  | { kind: "unknown"; name: string }
  | { kind: "missing-on-arch"; name: string; arch: SeccompArch };

/** Resolves `raw` for `arch`; returns a bigint in [0, 2^64) or the problem. */
export function resolveValue(raw: RawValue, arch: SeccompArch): bigint | ValueProblem {
  if (typeof raw === "number") {
    if (!Number.isSafeInteger(raw)) return { kind: "range", text: String(raw) };
    // Negative numbers are two's complement, as a register holding (long)-1 would be.
    return BigInt.asUintN(64, BigInt(raw));
  }
  let acc = 0n;
  const parts = raw.split("|").map((p) => p.trim());
  for (const part of parts) {
    if (part === "") return { kind: "syntax", text: raw };
    let v: bigint | undefined;
    if (/^-?(0x[0-9a-fA-F]+|\d+)$/.test(part)) {
      v = part.startsWith("-") ? -BigInt(part.slice(1)) : BigInt(part);
      if (v > U64 || v < -(1n << 63n)) return { kind: "range", text: part };
      v = BigInt.asUintN(64, v);
    } else if (/^[A-Z_][A-Z0-9_]*$/.test(part)) {
      v = constantValue(arch, part);
      if (v === undefined) {
        const known = ARCHES.some((a) => constantValue(a, part) !== undefined);
        return known ? { kind: "missing-on-arch", name: part, arch } : { kind: "unknown", name: part };
      }
    } else return { kind: "syntax", text: raw };
    acc |= v;
  }
  return acc;
}

/** True when resolveValue returned a problem. */
export function isProblem(v: bigint | ValueProblem): v is ValueProblem {
  return typeof v !== "bigint";
}

/** Up to three known names close to `name` (edit distance), for "did you mean" hints. */
export function suggest(name: string, candidates: Iterable<string>): string[] {
  const scored: Array<[number, string]> = [];
  const limit = Math.max(2, Math.floor(name.length / 3));
  for (const c of candidates) {
    if (Math.abs(c.length - name.length) > limit) continue;
    const d = distance(name.toUpperCase(), c.toUpperCase());
    if (d <= limit) scored.push([d, c]);
  }
  return scored
    .sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1))
    .slice(0, 3)
    .map(([, c]) => c);
}

/** Known constant names on any arch (for hints). */
export function allConstantNames(): Set<string> {
  return new Set(ARCHES.flatMap((a) => constantNames(a)));
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
