// Finding F5: the rw share's virtiofsd keeps CAP_FSETID/CAP_SETUID and serves guest root as host
// root, so its filter must refuse every guest-chosen mode with S_ISUID (and S_ISGID except on
// mkdirat) with EPERM — an errno, not a kill — and allow the same calls without those bits.
// Checked on the compiled BPF of the policy the planner composes (virtiofsd-rw + exec), through
// the emulator, on both arches.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { syscallNumber } from "../../../src/seccomp/arch.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy, policyVerdict } from "../../../src/seccomp/compose.js";
import { emulate } from "../../../src/seccomp/emulate.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";
import type { SeccompArch } from "../../../src/seccomp/types.js";

const set = loadFragments(join(import.meta.dirname, "../../../policies"));

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFIFO = 0o010000;
const O_CREAT = 0o100;
const O_EXCL = 0o200;
const O_RDWR = 2;
const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;

type Verdict = "allow" | "EPERM";

/** [syscall, args, expected] — args as virtiofsd 7.2 passes them (mode at the documented index). */
const CASES: [string, number[], Verdict][] = [
  // lo_setattr on an open file: fchmod(fd, mode), mode in arg 1 (type bits included, from FUSE).
  ["fchmod", [7, S_IFREG | 0o4755], "EPERM"],
  ["fchmod", [7, S_IFREG | 0o2755], "EPERM"],
  ["fchmod", [7, 0o6755], "EPERM"],
  ["fchmod", [7, S_IFREG | 0o755], "allow"],
  ["fchmod", [7, 0o1777], "allow"],
  // lo_setattr by inode: fchmodat(proc_self_fd, "N", mode, 0), mode in arg 2.
  ["fchmodat", [5, 0, S_IFREG | 0o4755, 0], "EPERM"],
  ["fchmodat", [5, 0, S_IFREG | 0o2755, 0], "EPERM"],
  ["fchmodat", [5, 0, 0o4000, 0], "EPERM"],
  ["fchmodat", [5, 0, S_IFREG | 0o644, 0], "allow"],
  ["fchmodat", [5, 0, S_IFDIR | 0o1777, 0], "allow"],
  // lo_create / mknod_wrapper (regular files): openat(dir, name, flags|O_CREAT, mode), mode in arg 3.
  ["openat", [9, 0, O_CREAT | O_EXCL | O_RDWR, 0o4755], "EPERM"],
  ["openat", [9, 0, O_CREAT | O_EXCL | O_RDWR, S_IFREG | 0o2755], "EPERM"],
  ["openat", [9, 0, O_CREAT | O_EXCL | O_RDWR, 0o644], "allow"],
  // Lookups and opens: glibc passes mode 0 without O_CREAT.
  ["openat", [9, 0, O_PATH | O_NOFOLLOW, 0], "allow"],
  ["openat", [AT_FDCWD, 0, O_RDWR | O_CLOEXEC, 0], "allow"],
  // mkdirat(dir, name, mode): S_ISUID refused, S_ISGID left alone (setgid directories).
  ["mkdirat", [9, 0, 0o4755], "EPERM"],
  ["mkdirat", [9, 0, 0o2775], "allow"],
  ["mkdirat", [9, 0, 0o755], "allow"],
  // mknodat(dir, name, mode, rdev): fifos etc.
  ["mknodat", [9, 0, S_IFIFO | 0o4644, 0], "EPERM"],
  ["mknodat", [9, 0, S_IFIFO | 0o2644, 0], "EPERM"],
  ["mknodat", [9, 0, S_IFIFO | 0o644, 0], "allow"],
];

const EPERM = 1;

describe.each(["x86_64", "aarch64"] as const)("virtiofsd-rw refuses setuid/setgid modes (%s)", (arch) => {
  const policy = composePolicy(set, [{ fragment: "virtiofsd-rw" }, { fragment: "exec" }], {
    arch: arch as SeccompArch,
    defaultAction: { kind: "kill_process" },
  });
  const { program } = compilePolicy(policy);

  it.each(CASES)("%s(%j) → %s", (name, args, want) => {
    const nr = syscallNumber(arch, name);
    expect(nr, name).toBeDefined();
    const a = args.map((v) => BigInt.asUintN(64, BigInt(v)));
    const got = emulate(program, { arch, nr: nr!, args: a }).action;
    const expected = want === "allow" ? { kind: "allow" } : { kind: "errno", errno: EPERM };
    expect(got).toEqual(expected);
    // The composed policy's meaning agrees with its compiled program.
    expect(policyVerdict(policy, name, a)).toEqual(expected);
  });

  it("the high word of a mode does not matter (the kernel reads a 32-bit umode_t)", () => {
    const nr = syscallNumber(arch, "fchmod")!;
    const hi = 1n << 32n;
    expect(emulate(program, { arch, nr, args: [7n, hi | 0o4755n] }).action).toEqual({
      kind: "errno",
      errno: EPERM,
    });
  });

  it("a read-only share's virtiofsd refuses every chmod with EROFS, whatever the mode", () => {
    const ro = composePolicy(set, [{ fragment: "virtiofsd-ro" }], {
      arch,
      defaultAction: { kind: "kill_process" },
    });
    for (const mode of [0o755n, 0o4755n])
      expect(policyVerdict(ro, "fchmodat", [5n, 0n, mode, 0n, 0n, 0n]).kind).toBe("errno");
  });
});
