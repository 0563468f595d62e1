// The emulator against the real kernel: compiled filters are loaded in a child process (a tiny
// C loader built here: no_new_privs + seccomp(SECCOMP_SET_MODE_FILTER)), which then performs
// one syscall; the kernel's verdict (ran / errno / SIGSYS handler / killed by SIGSYS) must be
// what the emulator predicts, for allowed, errno'd, trapped and killed syscalls, including
// 64-bit argument conditions on both words.

import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { actionToString } from "../../../src/seccomp/actions.js";
import { syscallNumber } from "../../../src/seccomp/arch.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy } from "../../../src/seccomp/compose.js";
import { emulate } from "../../../src/seccomp/emulate.js";
import { fragmentSetFrom } from "../../../src/seccomp/fragments.js";
import type { RawRule, SeccompAction } from "../../../src/seccomp/types.js";
import { libseccompPrograms } from "./harness.js";

let dir = "";
let loader = "";

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-seccomp-kernel-"));
  loader = join(dir, "loader");
  execFileSync("gcc", [
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-o",
    loader,
    join(import.meta.dirname, "loader.c"),
  ]);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** What the kernel did, in the emulator's vocabulary. */
function kernelVerdict(program: Uint8Array, nr: number, args: bigint[]): string {
  const file = join(dir, "f.bpf");
  writeFileSync(file, program);
  const r = spawnSync(loader, [file, String(nr), ...args.map((a) => `0x${a.toString(16)}`)], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.signal === "SIGSYS") return "killed";
  if (r.status !== 0) throw new Error(`loader failed: status ${r.status} signal ${r.signal}: ${r.stderr}`);
  const out = r.stdout.trim();
  if (out === "trap") return "trap";
  const m = /^ret (-?\d+) errno (\d+)$/.exec(out);
  if (!m) throw new Error(`unexpected loader output: ${out}`);
  return m[2] === "0" ? "ran" : `errno ${m[2]}`;
}

/** The same vocabulary from an emulated action; `natural` is the errno the syscall itself fails with when it runs. */
function expectedVerdict(a: SeccompAction, natural: number | undefined): string {
  switch (a.kind) {
    case "allow":
    case "log":
      return natural === undefined ? "ran" : `errno ${natural}`;
    case "errno":
      return `errno ${a.errno}`;
    case "trap":
      return "trap";
    case "user_notif":
      return "errno 38"; // no listener: the kernel answers ENOSYS
    default:
      return "killed";
  }
}

const EBADF = 9;
const BADFD = 0xffff_ffff_ffff_ff00n; // low word 0xffffff00: never an open fd

const rules: RawRule[] = [
  { syscall: "write", why: "loader reports" },
  { syscall: "exit_group", why: "loader exits" },
  { syscall: "getppid", why: "plain allow" },
  { syscall: "getpid", action: "errno:777", why: "errno action" },
  { syscall: "gettid", action: "trap", why: "trap action" },
  { syscall: "getuid", action: "kill_thread", why: "kill_thread action" },
  { syscall: "getgid", action: "user_notif", why: "user_notif without listener" },
  { syscall: "close", args: [{ arg: 0, op: "eq", value: "0x100003039" }], why: "eq on both words" },
  {
    syscall: "lseek",
    args: [
      { arg: 1, op: "gt", value: "0x100000000" },
      { arg: 1, op: "le", value: "0x7fffffffffff0000" },
    ],
    why: "range across words",
  },
  {
    syscall: "dup",
    args: [{ arg: 0, op: "masked_eq", mask: "0xffff000000000000", value: "0xabcd000000000000" }],
    why: "masked_eq on the high word",
  },
  { syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "FIONREAD" }], why: "ioctl allow" },
  {
    syscall: "ioctl",
    action: "errno:555",
    args: [{ arg: 1, op: "eq", value: "FIONBIO" }],
    why: "ioctl errno",
  },
  // Mixed forms on ioctl's request: low-word masked_eq rules beside the eq ones above compile
  // to two switches in sequence (0x5421: the eq errno rule wins when the high word is 0).
  ...["0x541a", "0x541c", "0x5421"].map(
    (value): RawRule => ({
      syscall: "ioctl",
      args: [{ arg: 1, op: "masked_eq", mask: "0xffffffff", value }],
      why: "ioctl allow, low word only",
    }),
  ),
  { syscall: "fcntl", args: [{ arg: 1, op: "ne", value: "F_SETFL" }], why: "ne" },
  { syscall: "read", args: [{ arg: 2, op: "lt", value: "0x100000000" }], why: "lt" },
  { syscall: "pread64", args: [{ arg: 3, op: "ge", value: "0x8000000000000000" }], why: "ge" },
  // A masked switch with mixed actions and a second condition in one value's leaf.
  {
    syscall: "getpriority",
    args: [
      { arg: 0, op: "masked_eq", mask: "0xff", value: 0 },
      { arg: 1, op: "eq", value: "0x100000000" },
    ],
    why: "masked switch + rest condition",
  },
  {
    syscall: "getpriority",
    args: [{ arg: 0, op: "masked_eq", mask: "0xff", value: 2 }],
    why: "masked switch",
  },
  {
    syscall: "getpriority",
    action: "errno:444",
    args: [{ arg: 0, op: "masked_eq", mask: "0xff", value: 1 }],
    why: "masked switch, errno",
  },
];

const around = (v: bigint) =>
  [v - 1n, v, v + 1n, v + (1n << 32n), v - (1n << 32n), v ^ (1n << 63n), 0n, (1n << 64n) - 1n].map((x) =>
    BigInt.asUintN(64, x),
  );

/** [syscall, args, errno the syscall fails with when it runs (undefined: succeeds)]. */
function probes(): Array<[string, bigint[], number | undefined]> {
  const out: Array<[string, bigint[], number | undefined]> = [];
  for (const s of ["getppid", "getpid", "gettid", "getuid", "getgid", "getegid", "geteuid"])
    out.push([s, [0n, 0n, 0n, 0n, 0n, 0n], undefined]);
  // close/dup on fds whose low word is never open (fd 12344..12346 or ≥ 0xffffff00): EBADF.
  for (const v of around(0x1_0000_3039n).filter((x) => (x & 0xffff_ffffn) > 1000n))
    out.push(["close", [v, 0n, 0n, 0n, 0n, 0n], EBADF]);
  for (const v of [
    0xabcd_0000_ffff_ff00n,
    0xabcc_0000_ffff_ff00n,
    0xabcd_ffff_ffff_ff00n,
    0xbbcd_0000_ffff_ff00n,
    0x0000_0000_ffff_ff00n,
  ])
    out.push(["dup", [v, 0n, 0n, 0n, 0n, 0n], EBADF]);
  for (const v of [...around(0x1_0000_0000n), ...around(0x7fff_ffff_ffff_0000n)])
    out.push(["lseek", [BADFD, v, 0n, 0n, 0n, 0n], EBADF]);
  for (const req of [
    0x541bn,
    0x541an,
    0x541cn,
    0x5421n,
    0x5420n,
    0x1_0000_541bn,
    0x1_0000_541cn,
    0xffff_ffff_0000_5421n,
  ])
    out.push(["ioctl", [BADFD, req, 0n, 0n, 0n, 0n], EBADF]);
  for (const cmd of [3n, 4n, 5n, 0x1_0000_0004n]) out.push(["fcntl", [BADFD, cmd, 0n, 0n, 0n, 0n], EBADF]);
  for (const v of around(0x1_0000_0000n)) out.push(["read", [BADFD, 0n, v, 0n, 0n, 0n], EBADF]);
  // A negative offset fails with EINVAL before the fd is looked at.
  for (const v of around(0x8000_0000_0000_0000n))
    out.push(["pread64", [BADFD, 0n, 0n, v, 0n, 0n], v >= 1n << 63n ? 22 : EBADF]);
  // getpriority(which, who): which 0..2 with who's low word 0 (self) succeeds; other which: EINVAL.
  for (const which of [0n, 1n, 2n, 3n, 0x100n, 0x101n, 0x102n, 0x1_0000_0000n, 0x1_0000_0002n])
    for (const who of [0n, 0x1_0000_0000n, 0x2_0000_0000n])
      out.push(["getpriority", [which, who, 0n, 0n, 0n, 0n], (which & 0xffff_ffffn) <= 2n ? undefined : 22]);
  return out;
}

describe("emulator vs the real kernel (x86_64)", () => {
  const defaults: SeccompAction[] = [
    { kind: "kill_process" },
    { kind: "errno", errno: 1234 },
    { kind: "trap" },
  ];
  for (const def of defaults) {
    it(`verdicts agree, default ${actionToString(def)}`, () => {
      const policy = composePolicy(
        fragmentSetFrom([{ name: "k", description: "kernel test", rules }]),
        [{ fragment: "k" }],
        {
          arch: "x86_64",
          defaultAction: def,
        },
      );
      const { program } = compilePolicy(policy);
      const rows: string[] = [];
      const seen = new Set<string>();
      for (const [name, args, natural] of probes()) {
        const nr = syscallNumber("x86_64", name)!;
        const want = expectedVerdict(emulate(program, { arch: "x86_64", nr, args }).action, natural);
        const got = kernelVerdict(program, nr, args);
        seen.add(got);
        if (got !== want)
          rows.push(
            `${name}(${args.map((a) => `0x${a.toString(16)}`).join(",")}): kernel ${got}, emulator ${want}`,
          );
      }
      expect(rows).toEqual([]);
      // The probes reach every kind of verdict.
      expect(seen).toContain("killed");
      expect(seen).toContain("trap");
      expect(seen).toContain("errno 777");
      expect(seen).toContain("errno 555");
      expect(seen).toContain("errno 444");
      expect(seen).toContain(`errno ${EBADF}`);
    });
  }

  it("a libseccomp 2.5.4 program that contradicts its rules behaves in the kernel as our emulator says", () => {
    // read allowed if a4 >= 1, or (a5 == 0 and a4 <= 0). With a4 = 0 and a5 = 0xff..fe neither
    // holds, yet libseccomp's program compares a5's high word where it meant a4's low word.
    const policy = composePolicy(
      fragmentSetFrom([
        {
          name: "l",
          description: "libseccomp defect",
          rules: [
            { syscall: "write", why: "report" },
            { syscall: "exit_group", why: "exit" },
            { syscall: "read", args: [{ arg: 4, op: "ge", value: 1 }], why: "x" },
            {
              syscall: "read",
              args: [
                { arg: 5, op: "eq", value: 0 },
                { arg: 4, op: "le", value: 0 },
              ],
              why: "y",
            },
          ],
        },
      ]),
      [{ fragment: "l" }],
      { arch: "x86_64", defaultAction: { kind: "errno", errno: 1234 } },
    );
    const args = [BADFD, 0n, 0n, 0n, 0n, 0xffff_ffff_ffff_fffen];
    const [theirs] = libseccompPrograms([{ policy, optimize: 1 }]);
    const ours = compilePolicy(policy).program;
    expect(kernelVerdict(theirs!, 0, args)).toBe(
      expectedVerdict(emulate(theirs!, { arch: "x86_64", nr: 0, args }).action, EBADF),
    );
    expect(kernelVerdict(theirs!, 0, args)).toBe(`errno ${EBADF}`); // libseccomp: allowed (wrong)
    expect(kernelVerdict(ours, 0, args)).toBe("errno 1234"); // ours: denied, as the rules say
  });
});
