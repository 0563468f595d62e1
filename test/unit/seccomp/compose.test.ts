// Composition: union with provenance, merge and absorption rules, conflicts naming both
// sources, per-arch resolution, deterministic output.

import { describe, expect, it } from "vitest";
import { QemuJailError } from "../../../src/errors.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy, policyVerdict } from "../../../src/seccomp/compose.js";
import { fragmentSetFrom } from "../../../src/seccomp/fragments.js";
import type { RawFragment, SeccompAction } from "../../../src/seccomp/types.js";

const kill: SeccompAction = { kind: "kill_process" };
const fr = (name: string, rules: RawFragment["rules"], extra: Partial<RawFragment> = {}): RawFragment => ({
  name,
  description: name,
  rules,
  ...extra,
});

describe("composePolicy", () => {
  it("keeps provenance of every fragment, why and need that put a rule there", () => {
    const set = fragmentSetFrom([
      fr("base", [{ syscall: "read", why: "main loop" }]),
      fr("disk", [{ syscall: "read", why: "block reads" }], { includes: ["base"] }),
    ]);
    const p = composePolicy(
      set,
      [
        { fragment: "disk", need: "disk[0]" },
        { fragment: "base", need: "vm" },
      ],
      { arch: "x86_64", defaultAction: kill },
    );
    expect(p.fragments).toEqual(["base", "disk"]);
    expect(p.rules).toHaveLength(1);
    expect(p.rules[0]!.provenance).toEqual([
      { fragment: "base", why: "main loop", need: "disk[0]" },
      { fragment: "base", why: "main loop", need: "vm" },
      { fragment: "disk", why: "block reads", need: "disk[0]" },
    ]);
  });

  it("an unconditional allow absorbs conditional allows (keeping their provenance)", () => {
    const set = fragmentSetFrom([
      fr("a", [{ syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "FIONBIO" }], why: "nonblocking" }]),
      fr("b", [{ syscall: "ioctl", why: "everything" }]),
    ]);
    const p = composePolicy(set, [{ fragment: "a" }, { fragment: "b" }], {
      arch: "x86_64",
      defaultAction: kill,
    });
    expect(p.rules).toHaveLength(1);
    expect(p.rules[0]!.args).toEqual([]);
    expect(p.rules[0]!.provenance.map((x) => x.why).sort()).toEqual(["everything", "nonblocking"]);
  });

  it("merges OR of ANDs: a rule with a subset of another's conditions absorbs it; duplicates merge", () => {
    const set = fragmentSetFrom([
      fr("a", [
        { syscall: "socket", args: [{ arg: 0, op: "eq", value: "AF_UNIX" }], why: "unix" },
        {
          syscall: "socket",
          args: [
            { arg: 0, op: "eq", value: "AF_UNIX" },
            { arg: 1, op: "eq", value: "SOCK_STREAM" },
          ],
          why: "unix stream",
        },
        { syscall: "socket", args: [{ arg: 0, op: "eq", value: 2 }], why: "inet" },
        { syscall: "socket", args: [{ arg: 0, op: "eq", value: "AF_INET" }], why: "inet again" },
      ]),
    ]);
    const p = composePolicy(set, [{ fragment: "a" }], { arch: "x86_64", defaultAction: kill });
    expect(p.rules.map((r) => r.args.map((c) => c.value))).toEqual([[1n], [2n]]);
    expect(p.rules[1]!.provenance.map((x) => x.why)).toEqual(["inet", "inet again"]);
  });

  it("conflicting actions for the same syscall and conditions name both sources", () => {
    const set = fragmentSetFrom([
      fr("a", [{ syscall: "openat", why: "open images" }]),
      fr("b", [{ syscall: "openat", action: "errno:EACCES", why: "no opens" }]),
    ]);
    let err: QemuJailError | undefined;
    try {
      composePolicy(set, [{ fragment: "a" }, { fragment: "b" }], { arch: "x86_64", defaultAction: kill });
    } catch (e) {
      err = e as QemuJailError;
    }
    expect(err?.code).toBe("SECCOMP_CONFLICT");
    expect(err?.exit).toBe("policy");
    expect(err?.message).toMatch(/"a".*open images.*"b".*no opens/);
  });

  it("conditional rules of another action take precedence over the syscall's unconditional rule", () => {
    const set = fragmentSetFrom([
      fr("a", [
        { syscall: "ioctl", action: "errno:ENOTTY", why: "others fail softly" },
        { syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "FIONREAD" }], why: "pending bytes" },
      ]),
    ]);
    const p = composePolicy(set, [{ fragment: "a" }], { arch: "x86_64", defaultAction: kill });
    expect(policyVerdict(p, "ioctl", [0n, 0x541bn])).toEqual({ kind: "allow" });
    expect(policyVerdict(p, "ioctl", [0n, 0x5421n])).toEqual({ kind: "errno", errno: 25 });
  });

  it("skips syscalls the arch lacks, and refuses constants its headers lack", () => {
    const set = fragmentSetFrom([
      fr("a", [
        { syscall: "open", why: "legacy open (x86_64 only)" },
        { syscall: "read", why: "x" },
      ]),
      fr("b", [
        {
          syscall: "mmap",
          args: [{ arg: 3, op: "masked_eq", mask: "MAP_32BIT", value: 0 }],
          why: "x86-only flag",
        },
      ]),
    ]);
    const p = composePolicy(set, [{ fragment: "a" }], { arch: "aarch64", defaultAction: kill });
    expect(p.rules.map((r) => r.syscall)).toEqual(["read"]);
    expect(() => composePolicy(set, [{ fragment: "b" }], { arch: "aarch64", defaultAction: kill })).toThrow(
      /MAP_32BIT has no value from the aarch64 headers/,
    );
  });

  it("honours a fragment's arches", () => {
    const set = fragmentSetFrom([fr("x", [{ syscall: "arch_prctl", why: "TLS" }], { arches: ["x86_64"] })]);
    expect(composePolicy(set, [{ fragment: "x" }], { arch: "aarch64", defaultAction: kill }).rules).toEqual(
      [],
    );
  });

  it("unknown fragment → error with a suggestion", () => {
    const set = fragmentSetFrom([fr("accel-tcg", [{ syscall: "read", why: "x" }])]);
    expect(() =>
      composePolicy(set, [{ fragment: "accel-tgc" }], { arch: "x86_64", defaultAction: kill }),
    ).toThrow(QemuJailError);
  });

  it("is deterministic: fragment and rule order do not change the program", () => {
    const rules: RawFragment["rules"] = [
      { syscall: "read", why: "a" },
      { syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "FIONREAD" }], why: "b" },
      { syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "FIONBIO" }], why: "c" },
      { syscall: "write", why: "d" },
    ];
    const one = fragmentSetFrom([fr("a", rules), fr("b", [{ syscall: "futex", why: "e" }])]);
    const two = fragmentSetFrom([fr("b", [{ syscall: "futex", why: "e" }]), fr("a", [...rules].reverse())]);
    const p1 = composePolicy(one, [{ fragment: "a" }, { fragment: "b" }], {
      arch: "x86_64",
      defaultAction: kill,
    });
    const p2 = composePolicy(two, [{ fragment: "b" }, { fragment: "a" }], {
      arch: "x86_64",
      defaultAction: kill,
    });
    expect(p2).toEqual(p1);
    expect(Buffer.from(compilePolicy(p2).program)).toEqual(Buffer.from(compilePolicy(p1).program));
  });
});
