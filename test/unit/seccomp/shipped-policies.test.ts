// The fragments shipped in policies/ (written by the POLICIES engineer): each loads, composes
// and compiles for every arch it applies to, and every unconditional allow stays cacheable
// (except where a conditional refusal makes the verdict depend on the arguments).

import { existsSync, readdirSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ARCHES } from "../../../src/seccomp/arch.js";
import { cacheableSyscalls } from "../../../src/seccomp/cache.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy } from "../../../src/seccomp/compose.js";
import { defaultPolicyDir, loadFragments } from "../../../src/seccomp/fragments.js";

const dir = defaultPolicyDir();
const shipped =
  existsSync(dir) && readdirSync(dir).some((f) => f.endsWith(".json") && !f.endsWith(".schema.json"));

describe.skipIf(!shipped)("shipped policy fragments", () => {
  it("load, compose and compile for each arch they apply to", () => {
    const set = loadFragments(dir);
    for (const [name, { raw }] of set.fragments) {
      for (const arch of raw.arches ?? ARCHES) {
        const policy = composePolicy(set, [{ fragment: name }], {
          arch,
          defaultAction: { kind: "kill_process" },
        });
        const { program } = compilePolicy(policy);
        // A syscall with a conditional rule of another action (virtiofsd-rw's EPERM for setuid
        // modes) depends on its arguments: it must NOT be constant-allow, or the kernel's action
        // cache would skip the filter and the refusal with it.
        const argDependent = new Set(
          policy.rules.filter((r) => r.args.length && r.action.kind !== "allow").map((r) => r.syscall),
        );
        const uncond = policy.rules
          .filter((r) => !r.args.length && r.action.kind === "allow" && !argDependent.has(r.syscall))
          .map((r) => r.syscall);
        const cached = new Set(cacheableSyscalls(program, arch));
        expect(
          uncond.filter((s) => !cached.has(s)),
          `${name} on ${arch}`,
        ).toEqual([]);
        expect(
          [...argDependent].filter((s) => cached.has(s)),
          `${name} on ${arch}: argument-dependent yet cacheable`,
        ).toEqual([]);
      }
    }
  });
});
