// Loading policies/*.json: parse, validate against the schema, check every syscall and named
// constant against the generated tables, resolve includes and detect cycles. Every failure is
// a QemuJailError of exit class "policy" with file, key path, line:col and a hint.

import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { QemuJailError } from "../errors.js";
import { parseAction } from "./actions.js";
import { ARCHES, syscallNames, syscallNumber } from "./arch.js";
import { locateJson } from "./json-locate.js";
import { rawFragmentSchema } from "./schema.js";
import type { FragmentSet, LoadedFragment, RawFragment } from "./types.js";
import { allConstantNames, isProblem, resolveValue, suggest } from "./values.js";

/** Names people reach for that the headers do not define as integer constants, with what to write instead. */
const NOT_CONSTANT: Record<string, string> = {
  SIGRTMIN:
    "glibc computes it at run time (34: glibc reserves 32 and 33); the kernel's is 32; write the number you mean",
  SIGRTMAX: "glibc computes it at run time; the kernel's is 64; write the number",
};

/** The policies/ directory shipped with the package. */
export function defaultPolicyDir(): string {
  // src/seccomp/ or dist/seccomp/ → <repo>/policies
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "policies");
}

function fail(
  code: string,
  message: string,
  file: string,
  text: string,
  path: Array<string | number>,
  hint?: string,
): never {
  const pos = text ? locateJson(text, path) : undefined;
  throw new QemuJailError(code, message, {
    exit: "policy",
    location: { file, key: keyPath(path), ...(pos ?? {}) },
    ...(hint ? { hint } : {}),
  });
}

function keyPath(path: Array<string | number>): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** Parses and validates one fragment's text (everything but includes, which need the whole set). */
export function parseFragment(text: string, file: string): RawFragment {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec(String(e));
    const pos = m ? Number(m[1]) : undefined;
    const before = pos === undefined ? "" : text.slice(0, pos);
    throw new QemuJailError("SECCOMP_FRAGMENT_JSON", `not valid JSON: ${(e as Error).message}`, {
      exit: "policy",
      location:
        pos === undefined
          ? { file }
          : { file, line: before.split("\n").length, column: pos - before.lastIndexOf("\n") },
      hint: "fragments are plain JSON: no comments, no trailing commas",
      cause: e,
    });
  }
  const parsed = rawFragmentSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    let hint: string | undefined;
    if (issue.code === "unrecognized_keys") {
      const keys = (issue as { keys?: string[] }).keys ?? [];
      const allowed = [
        "name",
        "description",
        "includes",
        "arches",
        "rules",
        "syscall",
        "action",
        "args",
        "why",
        "arg",
        "op",
        "value",
        "mask",
      ];
      const s = keys.flatMap((k) => suggest(k, allowed));
      hint = s.length ? `did you mean ${s.map((x) => `"${x}"`).join(" or ")}?` : "remove the key";
      return fail(
        "SECCOMP_FRAGMENT_UNKNOWN_KEY",
        `unknown key ${keys.map((k) => `"${k}"`).join(", ")}`,
        file,
        text,
        [...path, ...keys.slice(0, 1)],
        hint,
      );
    }
    return fail("SECCOMP_FRAGMENT_INVALID", issue.message, file, text, path, hint);
  }
  const frag = parsed.data as RawFragment & { $schema?: string };
  delete frag.$schema;
  const arches = frag.arches ?? ARCHES;
  const consts = allConstantNames();
  frag.rules.forEach((rule, ri) => {
    const at = ["rules", ri];
    if (!arches.some((a) => syscallNumber(a, rule.syscall) !== undefined)) {
      const s = suggest(rule.syscall, new Set(arches.flatMap((a) => syscallNames(a))));
      fail(
        "SECCOMP_UNKNOWN_SYSCALL",
        `unknown syscall "${rule.syscall}" on ${arches.join(", ")}`,
        file,
        text,
        [...at, "syscall"],
        s.length ? `did you mean ${s.join(", ")}?` : "see the generated tables in src/seccomp/tables/",
      );
    }
    if (rule.action !== undefined && parseAction(rule.action) === undefined) {
      fail(
        "SECCOMP_BAD_ACTION",
        `unknown action "${rule.action}"`,
        file,
        text,
        [...at, "action"],
        'use allow, kill_process, kill_thread, trap, log, user_notif, or "errno:EPERM" / "errno:38"',
      );
    }
    (rule.args ?? []).forEach((cond, ci) => {
      if (cond.op === "masked_eq" && cond.mask === undefined)
        fail(
          "SECCOMP_BAD_CONDITION",
          "masked_eq needs a mask",
          file,
          text,
          [...at, "args", ci],
          'add "mask"',
        );
      if (cond.op !== "masked_eq" && cond.mask !== undefined)
        fail(
          "SECCOMP_BAD_CONDITION",
          `"mask" only applies to masked_eq`,
          file,
          text,
          [...at, "args", ci, "mask"],
          "remove the mask or use op masked_eq",
        );
      for (const key of ["value", "mask"] as const) {
        const raw = cond[key];
        if (raw === undefined) continue;
        // Valid when it resolves on at least one arch the fragment applies to; composing for an
        // arch whose headers lack the constant is refused there (never guessed).
        const results = arches.map((a) => resolveValue(raw, a));
        if (results.some((r) => !isProblem(r))) continue;
        const p = results[0]!;
        if (isProblem(p) && p.kind === "unknown") {
          if (NOT_CONSTANT[p.name])
            fail(
              "SECCOMP_UNKNOWN_CONSTANT",
              `"${p.name}" is not a compile-time constant`,
              file,
              text,
              [...at, "args", ci, key],
              NOT_CONSTANT[p.name],
            );
          const s = suggest(p.name, consts);
          fail(
            "SECCOMP_UNKNOWN_CONSTANT",
            `unknown constant "${p.name}"`,
            file,
            text,
            [...at, "args", ci, key],
            s.length
              ? `did you mean ${s.join(", ")}?`
              : "constants come from the generated tables (scripts/gen-seccomp-tables.mjs)",
          );
        }
        fail(
          "SECCOMP_BAD_VALUE",
          `cannot read value ${JSON.stringify(raw)}`,
          file,
          text,
          [...at, "args", ci, key],
          'write a number, a "0x..." string, a constant name, or names joined with "|"',
        );
      }
    });
  });
  return frag;
}

/** Loads and validates every policies/*.json of `dir`. */
export function loadFragments(dir: string = defaultPolicyDir()): FragmentSet {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith(".json") && !f.endsWith(".schema.json"))
      .sort();
  } catch (e) {
    throw new QemuJailError("SECCOMP_POLICY_DIR", `cannot read policy directory ${dir}`, {
      exit: "policy",
      location: { file: dir },
      hint: "pass the directory holding the *.json fragments",
      cause: e,
    });
  }
  const fragments = new Map<string, LoadedFragment & { text: string }>();
  for (const f of files) {
    const file = join(dir, f);
    const text = readFileSync(file, "utf8");
    const raw = parseFragment(text, file);
    if (raw.name !== basename(f, ".json"))
      fail(
        "SECCOMP_FRAGMENT_NAME",
        `fragment name "${raw.name}" differs from its file name`,
        file,
        text,
        ["name"],
        `rename the file to ${raw.name}.json or set "name": "${basename(f, ".json")}"`,
      );
    fragments.set(raw.name, { raw, file, text });
  }
  // Includes must name known fragments and must not form a cycle.
  for (const { raw, file, text } of fragments.values()) {
    (raw.includes ?? []).forEach((inc, i) => {
      if (!fragments.has(inc)) {
        const s = suggest(inc, fragments.keys());
        fail(
          "SECCOMP_UNKNOWN_INCLUDE",
          `includes unknown fragment "${inc}"`,
          file,
          text,
          ["includes", i],
          s.length ? `did you mean ${s.join(", ")}?` : `known: ${[...fragments.keys()].join(", ")}`,
        );
      }
    });
  }
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]): void => {
    if (state.get(name) === "done") return;
    const f = fragments.get(name)!;
    if (state.get(name) === "visiting") {
      const cycle = [...chain.slice(chain.indexOf(name)), name];
      fail(
        "SECCOMP_INCLUDE_CYCLE",
        `include cycle: ${cycle.join(" → ")}`,
        f.file,
        f.text,
        ["includes"],
        "remove one of the includes",
      );
    }
    state.set(name, "visiting");
    for (const inc of f.raw.includes ?? []) visit(inc, [...chain, name]);
    state.set(name, "done");
  };
  for (const name of fragments.keys()) visit(name, []);
  const out = new Map<string, LoadedFragment>();
  for (const [k, { raw, file }] of fragments) out.set(k, { raw, file });
  return { dir, fragments: out };
}

/** Builds a FragmentSet from in-memory fragments (tests, tools); validated like files. */
export function fragmentSetFrom(raws: RawFragment[], dir = "<memory>"): FragmentSet {
  const fragments = new Map<string, LoadedFragment>();
  for (const r of raws) {
    const file = join(dir, `${r.name}.json`);
    fragments.set(r.name, { raw: parseFragment(JSON.stringify(r, null, 2), file), file });
  }
  for (const { raw, file } of fragments.values())
    for (const inc of raw.includes ?? [])
      if (!fragments.has(inc))
        throw new QemuJailError("SECCOMP_UNKNOWN_INCLUDE", `includes unknown fragment "${inc}"`, {
          exit: "policy",
          location: { file, key: "includes" },
        });
  return { dir, fragments };
}
