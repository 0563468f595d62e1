// Malformed, out-of-range and hostile input: refused with a clear error before anything
// changes (malformed specs never even fork), and nothing is left on the host.

import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isQemuJailError } from "../../../src/errors.js";
import { helperPath } from "../../../src/native/paths.js";
import { serializeSpec } from "../../../src/native/serialize.js";
import type { HelperStep } from "../../../src/native/spec.js";
import { hostSnapshot, isRoot, probeSteps, runJail, runRaw, tempDir } from "./harness.js";

function rec(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(type, 0);
  h.writeUInt32LE(body.length, 4);
  return Buffer.concat([h, body]);
}
const u32 = (...v: number[]) => Buffer.concat(v.map((x) => Buffer.from(new Uint32Array([x]).buffer)));
const str = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s);
  return Buffer.concat([u32(b.length), b]);
};
const HEADER = Buffer.concat([Buffer.from("QJSP"), u32(1)]);
const END = rec(0, Buffer.alloc(0));
const EXEC = rec(28, Buffer.concat([u32(0xffffffff, 1), str("/probe"), str("/probe")]));
const spec = (...records: Buffer[]) => Buffer.concat([HEADER, ...records, EXEC, END]);
const valid = serializeSpec({ steps: probeSteps(["ids"]) });

const MALFORMED: Array<[string, Buffer, string]> = [
  ["empty input", Buffer.alloc(0), "bad-magic"],
  ["bad magic", Buffer.concat([Buffer.from("QJSX"), valid.subarray(4)]), "bad-magic"],
  [
    "an unknown version",
    Buffer.concat([Buffer.from("QJSP"), u32(2), valid.subarray(8)]),
    "unsupported-version",
  ],
  ["a truncated spec", valid.subarray(0, valid.length - 13), "truncated"],
  ["no END record", valid.subarray(0, valid.length - 8), "truncated"],
  ["bytes after END", Buffer.concat([valid, Buffer.from([0])]), "trailing-bytes"],
  ["an unknown record type", spec(rec(99, Buffer.alloc(0))), "unknown-record"],
  [
    "reserved bits set",
    Buffer.concat([HEADER, Buffer.from([1, 0, 1, 0]), u32(8), u32(1, 1), EXEC, END]),
    "reserved-bits",
  ],
  ["records out of order", spec(rec(22, u32(1000, 1000)), rec(1, u32(1, 1))), "out-of-order"],
  ["a record longer than its fields", spec(rec(1, u32(1, 1, 1))), "record-length"],
  ["a string longer than PATH_MAX-1", spec(rec(24, str(`/${"a".repeat(4095)}`))), "too-long"],
  ["a NUL byte in a path", spec(rec(24, str(Buffer.from("/a\0b")))), "nul-byte"],
  ["a relative path", spec(rec(24, str("tmp"))), "bad-path"],
  [
    "a '..' component",
    spec(
      rec(6, u32(1)),
      rec(10, Buffer.concat([u32(0, 0, 0o755), str("/tmp")])),
      rec(12, Buffer.concat([u32(0o755), str("/a/../../etc")])),
    ),
    "bad-path",
  ],
  ["a '//' path", spec(rec(24, str("//etc"))), "bad-path"],
  ["a string length past the end", spec(rec(24, u32(1000))), "truncated"],
  ["an unknown namespace bit", spec(rec(6, u32(0x80))), "unknown-namespace"],
  [
    "a uid map onto host root",
    spec(rec(6, u32(64)), rec(7, u32(0, 0, 1)), rec(8, u32(0, 100000, 1))),
    "idmap-host-root",
  ],
  ["a hostname without a uts namespace", spec(rec(20, str("x"))), "needs-utsns"],
  [
    "a root without a mount namespace",
    spec(rec(10, Buffer.concat([u32(0, 0, 0o755), str("/tmp")]))),
    "needs-mountns",
  ],
  [
    "a private /proc without a pid namespace",
    spec(
      rec(6, u32(1)),
      rec(10, Buffer.concat([u32(0, 0, 0o755), str("/tmp")])),
      rec(16, Buffer.concat([u32(2, 0), str("/proc")])),
    ),
    "needs-pidns",
  ],
  [
    "a device mode with type bits",
    spec(
      rec(6, u32(1)),
      rec(10, Buffer.concat([u32(0, 0, 0o755), str("/tmp")])),
      rec(15, Buffer.concat([u32(99, 1, 3, 0o20666, 0, 0), str("/dev/null")])),
    ),
    "bad-mode",
  ],
  [
    "a seccomp program of 7 bytes",
    spec(rec(27, Buffer.concat([u32(0xffffffff, 7), Buffer.alloc(7)]))),
    "seccomp-size",
  ],
  [
    "a seccomp program over 4096 insns",
    spec(rec(27, Buffer.concat([u32(0xffffffff, 4097 * 8), Buffer.alloc(4097 * 8)]))),
    "seccomp-size",
  ],
  [
    "an rlimit soft > hard",
    spec(rec(19, Buffer.concat([u32(7), Buffer.alloc(8, 0xff), Buffer.alloc(8)]))),
    "bad-value",
  ],
  ["an fd that is not open", spec(rec(1, u32(77, 3))), "fd-not-open"],
  ["a duplicate fd target", spec(rec(1, u32(0, 1)), rec(1, u32(2, 1))), "fd-duplicate"],
  ["no EXEC record", Buffer.concat([HEADER, END]), "missing"],
  [
    "a spec over 1 MiB",
    Buffer.concat([HEADER, ...Array.from({ length: 300 }, () => rec(2, str(`A=${"x".repeat(4000)}`)))]),
    "read-spec",
  ],
  ["FAIL_AFTER in a release build", spec(rec(29, Buffer.concat([u32(0), str("root")]))), "test-only-record"],
];

describe.skipIf(!isRoot)("the helper refuses bad input before any change", () => {
  let before: ReturnType<typeof hostSnapshot>;
  beforeAll(() => {
    before = hostSnapshot();
  });
  afterAll(() => expect(hostSnapshot()).toEqual(before));

  it.each(MALFORMED)("%s", async (_, bytes, op) => {
    const { lines, code } = await runRaw(bytes, helperPath());
    expect(code).toBe(125);
    expect(lines).toHaveLength(1); // nothing but the refusal: no "pid", no stage
    expect(lines[0]).toMatch(new RegExp(`^fail parse ${op} \\S+ E[A-Z0-9]+ \\d+$`));
  });

  it("accepts the valid spec those were made from", async () => {
    const { lines, code } = await runRaw(valid, helperPath());
    expect(lines.at(-1)).toBe("exit code 0");
    expect(code).toBe(0);
  });
});

describe.skipIf(!isRoot)("hostile bind sources are refused with the failing stage", () => {
  let before: ReturnType<typeof hostSnapshot>;
  let dir: ReturnType<typeof tempDir>;
  const server = createServer();
  beforeAll(async () => {
    before = hostSnapshot();
    dir = tempDir();
    writeFileSync(join(dir.path, "file"), "x");
    mkdirSync(join(dir.path, "dir"));
    symlinkSync("/etc/shadow", join(dir.path, "link"));
    symlinkSync(join(dir.path, "dir"), join(dir.path, "dirlink"));
    execFileSync("mkfifo", [join(dir.path, "fifo")]);
    await new Promise<void>((r) => server.listen(join(dir.path, "sock"), r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    dir.remove();
    // mkdtemp made one entry in /tmp and it is gone again; nothing else changed.
    expect(hostSnapshot()).toEqual(before);
  });

  const cases: Array<[string, string, "file" | "dir", string, string]> = [
    ["a symlink (file)", "link", "file", "source-is-symlink", "ELOOP"],
    ["a symlink to a dir (dir)", "dirlink", "dir", "source-is-symlink", "ELOOP"],
    ["a unix socket declared as file", "sock", "file", "source-type", "EINVAL"],
    ["a fifo declared as file", "fifo", "file", "source-type", "EINVAL"],
    ["a directory declared as file", "dir", "file", "source-type", "EISDIR"],
    ["a file declared as dir", "file", "dir", "source-type", "ENOTDIR"],
    ["a missing source", "nope", "file", "open-source", "ENOENT"],
  ];
  it.each(cases)("%s", async (_, name, type, op, errnoName) => {
    const bind: HelperStep = {
      step: "bind",
      source: join(dir.path, name),
      path: "/x",
      type,
      rw: false,
      exec: false,
    };
    const run = await runJail({ steps: probeSteps(["ids"], [bind]) });
    expect(run.exit.ran).toBe(false);
    expect(run.lines).toEqual([]);
    expect(isQemuJailError(run.error)).toBe(true);
    const err = run.error as import("../../../src/errors.js").QemuJailError;
    expect(err.code).toBe("HELPER_STAGE_FAILED");
    expect(err.exit).toBe("jail");
    expect(err.detail).toMatchObject({ stage: "root", op, path: join(dir.path, name), errnoName });
    expect(err.message).toContain(join(dir.path, name));
  });

  it("never creates anything inside a directory bound from the host, even an rw one", async () => {
    const share: HelperStep = {
      step: "bind",
      source: join(dir.path, "dir"),
      path: "/share",
      type: "dir",
      rw: true,
      exec: false,
    };
    for (const inner of [
      {
        step: "bind",
        source: join(dir.path, "file"),
        path: "/share/sub/x",
        type: "file",
        rw: false,
        exec: false,
      },
      { step: "mkdir", path: "/share/newdir", mode: 0o700 },
      { step: "symlink", path: "/share/link", target: "/etc/shadow" },
      { step: "tmpfs", path: "/share/tmp", mode: 0o700, uid: 0, gid: 0, sizeBytes: 4096 },
    ] satisfies HelperStep[]) {
      const run = await runJail({ steps: probeSteps(["ids"], [share, inner]) });
      expect((run.error as { detail?: unknown }).detail).toMatchObject({
        stage: "root",
        op: "create-in-bind",
        errnoName: "EXDEV",
      });
    }
    expect(readdirSync(join(dir.path, "dir"))).toEqual([]);
  });

  it("a mount over an existing entry inside a bound directory is fine (nothing is created)", async () => {
    writeFileSync(join(dir.path, "dir", "present"), "host");
    try {
      const steps = probeSteps(
        ["read", "/share/present"],
        [
          {
            step: "bind",
            source: join(dir.path, "dir"),
            path: "/share",
            type: "dir",
            rw: false,
            exec: false,
          },
          {
            step: "bind",
            source: join(dir.path, "file"),
            path: "/share/present",
            type: "file",
            rw: false,
            exec: false,
          },
        ],
      );
      const run = await runJail({ steps });
      expect(run.exit).toMatchObject({ ran: true, code: 0 });
    } finally {
      rmSync(join(dir.path, "dir", "present"));
    }
  });

  it("a device declared as file", async () => {
    const bind: HelperStep = {
      step: "bind",
      source: "/dev/null",
      path: "/x",
      type: "file",
      rw: false,
      exec: false,
    };
    const run = await runJail({ steps: probeSteps(["ids"], [bind]) });
    expect((run.error as { detail?: unknown }).detail).toMatchObject({
      stage: "root",
      op: "source-type",
      errnoName: "EINVAL",
    });
  });

  it("a missing cgroup dir fails in prepare, before fork", async () => {
    const run = await runJail({
      steps: probeSteps(["ids"], [{ step: "cgroup", dir: join(dir.path, "no-cgroup") }]),
    });
    expect((run.error as { detail?: unknown }).detail).toMatchObject({ stage: "prepare", op: "open-cgroup" });
    expect(run.events.some((e) => e.kind === "pid")).toBe(false);
  });

  it("an LSM label on a host without that LSM fails the lsm stage", async () => {
    const run = await runJail({
      steps: probeSteps(["ids"], [{ step: "apparmor-exec", profile: "qemu-jail-x" }]),
    });
    expect(run.exit.ran).toBe(false);
    expect((run.error as { detail?: unknown }).detail).toMatchObject({ stage: "lsm" });
  });
});
