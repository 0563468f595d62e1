// The generated tables are current (the generator reproduces them byte for byte from this
// machine's headers), and the syscall numbers agree with libseccomp's own resolver.

import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { constantValue, syscallNames, syscallNumber } from "../../../src/seccomp/arch.js";

const root = join(import.meta.dirname, "../../..");

describe("generated seccomp tables", () => {
  it("regenerating them from the headers gives the committed files", () => {
    const r = spawnSync(process.execPath, [join(root, "scripts/gen-seccomp-tables.mjs"), "--check"], {
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it.each(["x86_64", "aarch64"] as const)("%s syscall numbers match libseccomp's resolver", (arch) => {
    const names = syscallNames(arch);
    expect(names.length).toBeGreaterThan(290);
    const script = `import json,sys,seccomp as S
a = S.Arch.X86_64 if sys.argv[1] == "x86_64" else S.Arch.AARCH64
out = {}
for n in json.load(sys.stdin):
    try: out[n] = S.resolve_syscall(a, n)
    except Exception: pass
json.dump(out, sys.stdout)`;
    const theirs = JSON.parse(
      execFileSync("/usr/bin/python3", ["-c", script, arch], {
        input: JSON.stringify(names),
        encoding: "utf8",
      }),
    ) as Record<string, number>;
    const known = Object.entries(theirs).filter(([, v]) => v >= 0);
    expect(known.length).toBeGreaterThan(280);
    for (const [n, v] of known) expect(syscallNumber(arch, n), n).toBe(v);
  });

  it.each([
    ["x86_64", "KVM_RUN", 0xae80n],
    ["x86_64", "TUNSETIFF", 0x400454can],
    ["x86_64", "FIONBIO", 0x5421n],
    ["x86_64", "O_DIRECT", 0x4000n],
    ["aarch64", "O_DIRECT", 0x10000n],
    ["aarch64", "O_DIRECTORY", 0x4000n],
    ["x86_64", "O_DIRECTORY", 0x10000n],
    ["x86_64", "KVM_GET_REGS", 0x8090ae81n],
    ["aarch64", "KVM_GET_REGS", 0x8360ae81n],
    ["x86_64", "MAP_32BIT", 0x40n],
    ["aarch64", "MAP_32BIT", undefined],
    ["x86_64", "AT_FDCWD", 0xffff_ffff_ffff_ff9cn],
  ] as const)("%s %s = %s (per-arch values, from that arch's headers)", (arch, name, want) => {
    expect(constantValue(arch, name)).toBe(want);
  });
});
