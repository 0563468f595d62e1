// Fragment loading: every malformed fragment is a QemuJailError of class "policy" with file,
// key path, line:col where the file has one, and a hint.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { QemuJailError } from "../../../src/errors.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";
import { fragmentJsonSchema } from "../../../src/seccomp/schema.js";

let dir = "";
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

function load(files: Record<string, string>) {
  dir = mkdtempSync(join(tmpdir(), "qj-frag-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return loadFragments(dir);
}

function frag(name: string, rules: string, extra = ""): string {
  return `{\n  "name": "${name}",\n  "description": "d",${extra}\n  "rules": [\n${rules}\n  ]\n}\n`;
}

const cases: Array<{
  name: string;
  files: Record<string, string>;
  code: string;
  key?: string;
  line?: number;
  hint?: RegExp;
}> = [
  { name: "not JSON", files: { "a.json": '{ "name": "a", }' }, code: "SECCOMP_FRAGMENT_JSON", line: 1 },
  {
    name: "unknown key (typo) in a rule",
    files: { "a.json": frag("a", '    { "syscall": "read", "wyh": "x", "why": "y" }') },
    code: "SECCOMP_FRAGMENT_UNKNOWN_KEY",
    key: "rules[0].wyh",
    line: 5,
    hint: /why/,
  },
  {
    name: "missing why",
    files: { "a.json": frag("a", '    { "syscall": "read" }') },
    code: "SECCOMP_FRAGMENT_INVALID",
    key: "rules[0].why",
  },
  {
    name: "empty why",
    files: { "a.json": frag("a", '    { "syscall": "read", "why": "  " }') },
    code: "SECCOMP_FRAGMENT_INVALID",
    key: "rules[0].why",
    line: 5,
  },
  {
    name: "unknown syscall",
    files: {
      "a.json": frag("a", '    { "syscall": "read", "why": "x" },\n    { "syscall": "iocl", "why": "x" }'),
    },
    code: "SECCOMP_UNKNOWN_SYSCALL",
    key: "rules[1].syscall",
    line: 6,
    hint: /ioctl/,
  },
  {
    name: "unknown constant",
    files: {
      "a.json": frag(
        "a",
        '    { "syscall": "ioctl", "args": [{ "arg": 1, "op": "eq", "value": "FIONBOI" }], "why": "x" }',
      ),
    },
    code: "SECCOMP_UNKNOWN_CONSTANT",
    key: "rules[0].args[0].value",
    line: 5,
    hint: /FIONBIO/,
  },
  {
    name: "a libc name that is not a compile-time constant",
    files: {
      "a.json": frag(
        "a",
        '    { "syscall": "kill", "args": [{ "arg": 1, "op": "eq", "value": "SIGRTMIN" }], "why": "x" }',
      ),
    },
    code: "SECCOMP_UNKNOWN_CONSTANT",
    key: "rules[0].args[0].value",
    hint: /run time/,
  },
  {
    name: "bad value syntax",
    files: {
      "a.json": frag(
        "a",
        '    { "syscall": "ioctl", "args": [{ "arg": 1, "op": "eq", "value": "12abc" }], "why": "x" }',
      ),
    },
    code: "SECCOMP_BAD_VALUE",
  },
  {
    name: "arg index out of range",
    files: {
      "a.json": frag(
        "a",
        '    { "syscall": "ioctl", "args": [{ "arg": 6, "op": "eq", "value": 1 }], "why": "x" }',
      ),
    },
    code: "SECCOMP_FRAGMENT_INVALID",
    key: "rules[0].args[0].arg",
  },
  {
    name: "masked_eq without mask",
    files: {
      "a.json": frag(
        "a",
        '    { "syscall": "mmap", "args": [{ "arg": 2, "op": "masked_eq", "value": 0 }], "why": "x" }',
      ),
    },
    code: "SECCOMP_BAD_CONDITION",
  },
  {
    name: "bad action",
    files: { "a.json": frag("a", '    { "syscall": "read", "action": "deny", "why": "x" }') },
    code: "SECCOMP_BAD_ACTION",
    key: "rules[0].action",
  },
  {
    name: "name differs from file",
    files: { "a.json": frag("b", '    { "syscall": "read", "why": "x" }') },
    code: "SECCOMP_FRAGMENT_NAME",
    key: "name",
    line: 2,
  },
  {
    name: "unknown include",
    files: {
      "a.json": frag("a", '    { "syscall": "read", "why": "x" }', '\n  "includes": ["bse"],'),
      "base.json": frag("base", ""),
    },
    code: "SECCOMP_UNKNOWN_INCLUDE",
    key: "includes[0]",
    hint: /base/,
  },
  {
    name: "include cycle",
    files: {
      "a.json": frag("a", "", '\n  "includes": ["b"],'),
      "b.json": frag("b", "", '\n  "includes": ["c"],'),
      "c.json": frag("c", "", '\n  "includes": ["a"],'),
    },
    code: "SECCOMP_INCLUDE_CYCLE",
  },
];

describe("loadFragments errors", () => {
  it.each(cases)("$name", ({ files, code, key, line, hint }) => {
    let err: unknown;
    try {
      load(files);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QemuJailError);
    const e = err as QemuJailError;
    expect(e.code).toBe(code);
    expect(e.exit).toBe("policy");
    expect(e.location?.file).toMatch(/\.json$/);
    if (key) expect(e.location?.key).toBe(key);
    if (line) expect(e.location?.line).toBe(line);
    if (hint) expect(e.hint).toMatch(hint);
  });

  it("loads valid fragments with includes, constants joined with |, numbers and hex strings", () => {
    const set = load({
      "base.json": frag("base", '    { "syscall": "read", "why": "x" }'),
      "net.json": frag(
        "net",
        '    { "syscall": "clone", "args": [{ "arg": 0, "op": "masked_eq", "mask": "CLONE_THREAD|CLONE_VM", "value": "CLONE_THREAD | CLONE_VM" }], "why": "threads" },\n    { "syscall": "ioctl", "action": "errno:EPERM", "args": [{ "arg": 1, "op": "eq", "value": "0x5421" }], "why": "x" },\n    { "syscall": "lseek", "args": [{ "arg": 1, "op": "le", "value": 4096 }], "why": "x" }',
        '\n  "includes": ["base"],\n  "$schema": "./fragment.schema.json",',
      ),
    });
    expect([...set.fragments.keys()]).toEqual(["base", "net"]);
    expect(set.fragments.get("net")!.raw.includes).toEqual(["base"]);
  });

  it("exports a JSON Schema that requires why", () => {
    const s = fragmentJsonSchema() as { properties: { rules: { items: { required: string[] } } } };
    expect(s.properties.rules.items.required).toContain("why");
  });
});
