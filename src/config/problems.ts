// Turning what went wrong in a vm.toml into QemuJailErrors a person can act on: the key path as
// written ("disk[1].format"), file:line:col, what was expected, and a hint ("did you mean ...").

import type * as z from "zod";
import { QemuJailError } from "../errors.js";
import { type KeyPath, locate, type Position } from "./locate.js";

/** One problem found in a config, before it is located in the text. */
export interface Problem {
  code: string;
  path: KeyPath;
  message: string;
  hint?: string;
}

/** Where the text came from and the positions of its keys. */
export interface SourceText {
  file?: string;
  positions: Map<string, Position>;
}

/** "disk[1].format" from ["disk", 1, "format"]. */
export function renderKey(path: KeyPath): string {
  let out = "";
  for (const seg of path) out += typeof seg === "number" ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/** The one error thrown for a bad config: the first problem, with the others in `detail.problems`. */
export function configError(problems: Problem[], src: SourceText): QemuJailError {
  // Unknown keys first (a typo usually also causes a "missing key"), then in text order.
  const errs = problems
    .map((p) => toError(p, src))
    .sort(
      (a, b) =>
        rank(a) - rank(b) || line(a) - line(b) || (a.location?.column ?? 0) - (b.location?.column ?? 0),
    );
  const first = errs[0]!;
  if (errs.length === 1) return first;
  return new QemuJailError(first.code, first.message, {
    exit: "config",
    location: first.location,
    hint: first.hint,
    detail: { problems: errs.map((e) => e.render()) },
  });
}

const rank = (e: QemuJailError) => (e.code === "CONFIG_UNKNOWN_KEY" ? 0 : 1);
const line = (e: QemuJailError) => e.location?.line ?? 0;

function toError(p: Problem, src: SourceText): QemuJailError {
  const at = locate(src.positions, p.path);
  return new QemuJailError(p.code, p.message, {
    exit: "config",
    location: { file: src.file, line: at?.line, column: at?.column, key: renderKey(p.path) || undefined },
    hint: p.hint,
  });
}

/** Levenshtein distance, for "did you mean". */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** The closest candidate within a typo's reach, if any. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

type AnySchema = z.core.$ZodType;

/** The keys an object schema at `path` accepts (looking through defaults, pipes, arrays, unions). */
export function keysAt(schema: AnySchema, path: KeyPath): string[] {
  const objects = schemasAt(schema, path).flatMap(objectShapes);
  return [...new Set(objects.flatMap((s) => Object.keys(s)))];
}

function unwrap(s: AnySchema): AnySchema[] {
  const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
  switch (def.type) {
    case "optional":
    case "default":
    case "prefault":
    case "nullable":
    case "readonly":
      return unwrap(def.innerType as AnySchema);
    case "pipe":
      return unwrap(def.in as AnySchema);
    case "union":
      return (def.options as AnySchema[]).flatMap(unwrap);
    default:
      return [s];
  }
}

function objectShapes(s: AnySchema): Record<string, AnySchema>[] {
  return unwrap(s)
    .filter((u) => u._zod.def.type === "object")
    .map((u) => (u._zod.def as unknown as { shape: Record<string, AnySchema> }).shape);
}

function schemasAt(schema: AnySchema, path: KeyPath): AnySchema[] {
  let cur = [schema];
  for (const seg of path) {
    const next: AnySchema[] = [];
    for (const s of cur.flatMap(unwrap)) {
      const def = s._zod.def as unknown as Record<string, unknown> & { type: string };
      if (typeof seg === "number" && def.type === "array") next.push(def.element as AnySchema);
      else if (typeof seg === "number" && def.type === "tuple") {
        const item = (def.items as AnySchema[])[seg];
        if (item) next.push(item);
      } else if (typeof seg === "string" && def.type === "object") {
        const child = (def.shape as Record<string, AnySchema>)[seg];
        if (child) next.push(child);
      }
    }
    cur = next;
  }
  return cur;
}

/** The value at `path` in the parsed TOML, for "got ..." in messages. */
export function valueAt(root: unknown, path: KeyPath): unknown {
  let cur: unknown = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return cur;
}

/** A short description of a TOML value's type and content. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (typeof v === "object" && v !== null) {
    if ("isDate" in v || "isTime" in v) return "a date";
    return "a table";
  }
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
  if (typeof v === "bigint") return `the integer ${v}`;
  if (typeof v === "number") return Number.isInteger(v) ? `the integer ${v}` : `the float ${v}`;
  return `${typeof v} ${String(v)}`;
}

const TYPE_WORDS: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "an integer",
  boolean: "a boolean (true or false)",
  object: "a table",
  array: "an array",
};

/** Problems from a zod issue list, with did-you-mean hints from the schema. */
export function problemsFromZod(issues: z.core.$ZodIssue[], schema: AnySchema, root: unknown): Problem[] {
  return issues.flatMap((iss) => fromIssue(iss, schema, root));
}

function fromIssue(iss: z.core.$ZodIssue, schema: AnySchema, root: unknown): Problem[] {
  const path = iss.path as (string | number)[];
  const got = valueAt(root, path);
  switch (iss.code) {
    case "unrecognized_keys": {
      const known = keysAt(schema, path);
      return iss.keys.map((k) => {
        const near = didYouMean(k, known);
        const where = renderKey(path) ? `[${renderKey(path)}]` : "the top level";
        return {
          code: "CONFIG_UNKNOWN_KEY",
          path: [...path, k],
          message: `unknown key "${k}" in ${where}`,
          hint: near
            ? `did you mean "${near}"? (valid keys: ${known.join(", ")})`
            : `valid keys: ${known.join(", ")}`,
        };
      });
    }
    case "invalid_type": {
      if (got === undefined) {
        const last = path[path.length - 1];
        return [
          {
            code: "CONFIG_MISSING_KEY",
            path,
            message: `missing required key "${String(last)}" (${TYPE_WORDS[iss.expected] ?? iss.expected})`,
            hint: `add ${String(last)} = ... ${path.length > 1 ? `under [${renderKey(path.slice(0, -1))}]` : ""}`.trim(),
          },
        ];
      }
      const expected = TYPE_WORDS[iss.expected] ?? iss.expected;
      return [
        {
          code: "CONFIG_TYPE",
          path,
          message: `expected ${expected}, got ${describeValue(got)}`,
          hint: typeHint(iss.expected, got),
        },
      ];
    }
    case "invalid_value": {
      const values = iss.values.map((v) => JSON.stringify(v));
      const near = typeof got === "string" ? didYouMean(got, iss.values.map(String)) : undefined;
      return [
        {
          code: "CONFIG_BAD_VALUE",
          path,
          message: `expected one of ${values.join(", ")}, got ${describeValue(got)}`,
          hint: near ? `did you mean "${near}"?` : undefined,
        },
      ];
    }
    case "too_small":
    case "too_big": {
      const bound = iss.code === "too_small" ? `>= ${iss.minimum}` : `<= ${iss.maximum}`;
      const what =
        iss.origin === "array" ? "an array length" : iss.origin === "string" ? "a length" : "a value";
      return [
        {
          code: "CONFIG_OUT_OF_RANGE",
          path,
          message: `expected ${what} ${bound}, got ${Array.isArray(got) ? `${got.length} items` : describeValue(got)}`,
          hint: rangeHint(path),
        },
      ];
    }
    case "invalid_union": {
      // Prefer the branch that got furthest (its issues sit deeper than the union itself).
      const branches = iss.errors.filter((b) => b.some((x) => x.path.length > 0));
      if (branches.length === 1) {
        return branches[0]!.flatMap((x) =>
          fromIssue({ ...x, path: [...path, ...x.path] } as z.core.$ZodIssue, schema, root),
        );
      }
      const desc = (schemasAt(schema, path)[0] as { description?: string } | undefined)?.description;
      return [
        {
          code: "CONFIG_TYPE",
          path,
          message: `unexpected ${describeValue(got)}`,
          hint: desc ? `expected ${desc}` : undefined,
        },
      ];
    }
    case "custom": {
      const params = (iss.params ?? {}) as { code?: string; hint?: string };
      return [{ code: params.code ?? "CONFIG_INVALID", path, message: iss.message, hint: params.hint }];
    }
    case "invalid_format":
      return [
        {
          code: "CONFIG_INVALID",
          path,
          message: iss.message.startsWith("Invalid")
            ? `expected ${iss.format}, got ${describeValue(got)}`
            : `${iss.message}, got ${describeValue(got)}`,
        },
      ];
    default:
      return [{ code: "CONFIG_INVALID", path, message: iss.message }];
  }
}

function typeHint(expected: string, got: unknown): string | undefined {
  if (expected === "boolean" && typeof got === "string") return `write ${got} without quotes: true or false`;
  if ((expected === "number" || expected === "int") && typeof got === "string" && /^\d+$/.test(got))
    return `write ${got} without quotes`;
  if (expected === "int" && typeof got === "number") return "write a whole number";
  if (expected === "string" && (typeof got === "number" || typeof got === "boolean"))
    return `quote it: "${String(got)}"`;
  if (expected === "array") return "write a list in brackets: [ ... ]";
  return undefined;
}

function rangeHint(path: KeyPath): string | undefined {
  const key = path[path.length - 1];
  if (key === "cid") return "CIDs 0-2 are reserved (hypervisor, local, host)";
  if (key === "cpus") return "between 1 and 255 vCPUs";
  if (key === "host_port" || key === "guest_port") return "a port between 1 and 65535";
  if (key === "uid" || key === "gid") return 'QEMU never runs as root; use a dedicated id or "auto"';
  return undefined;
}
