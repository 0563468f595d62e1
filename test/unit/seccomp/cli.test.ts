// The `seccomp` command group end to end through main(): compile to a file, disassemble,
// emulate, show, export, and exit classes for bad input.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/errors.js";

let dir = "";
let pol = "";
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-cli-seccomp-"));
  pol = join(dir, "policies");
  mkdirSync(pol);
  copyFileSync(
    join(import.meta.dirname, "../../fixtures/seccomp/qemu-like.json"),
    join(pol, "qemu-like.json"),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
    err += String(s);
    return true;
  });
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = undefined;
  }
}

describe("qemu-jail seccomp", () => {
  it("compiles, disassembles and emulates", async () => {
    const bpf = join(dir, "q.bpf");
    const c = await cli(
      "seccomp",
      "compile",
      "--fragments",
      "qemu-like=test",
      "--policies",
      pol,
      "--arch",
      "x86_64",
      "--default",
      "kill",
      "-o",
      bpf,
    );
    expect(c.code).toBe(0);
    expect(readFileSync(bpf).length % 8).toBe(0);
    expect((await cli("seccomp", "disasm", bpf, "--arch", "x86_64")).out).toMatch(/ld arch/);
    expect((await cli("seccomp", "emulate", bpf, "--syscall", "ioctl", "--args", "3,0x541b")).out).toMatch(
      /^allow/,
    );
    expect((await cli("seccomp", "emulate", bpf, "--syscall", "ioctl", "--args", "3,0x541c")).out).toMatch(
      /^kill_process/,
    );
    expect((await cli("seccomp", "emulate", bpf, "--syscall", "openat")).out).toMatch(/^errno\(13\)/);
    expect((await cli("seccomp", "cache", bpf)).out).toMatch(/\bppoll\b/);
  });

  it("compiles the policy the plan derives for a config's process", async () => {
    const bpf = join(dir, "cfg.bpf");
    const cfg = join(import.meta.dirname, "../../../examples/minimal.toml");
    const c = await cli("seccomp", "compile", "--config", cfg, "--process", "qemu", "-o", bpf);
    expect(c.err).toBe("");
    expect(c.code).toBe(0);
    expect(readFileSync(bpf).length).toBeGreaterThan(8 * 20);
    const bad = await cli("seccomp", "show", "--config", cfg, "--process", "nope");
    expect(bad.code).toBe(ExitCode.usage);
    expect(bad.err).toMatch(/processes: .*qemu/);
  });

  it("shows provenance and exports, saying what an export cannot express", async () => {
    const show = await cli("seccomp", "show", "--fragments", "qemu-like=vm", "--policies", pol);
    expect(show.out).toMatch(/ioctl allow if arg1 eq 0x541b\n {4}qemu-like \[vm\]: pending bytes on sockets/);
    const sd = await cli(
      "seccomp",
      "export",
      "--format",
      "systemd",
      "--fragments",
      "qemu-like",
      "--policies",
      pol,
    );
    expect(sd.out).toMatch(/^SystemCallFilter=.*\bppoll\b/m);
    expect(sd.out).toMatch(/# cannot express: ioctl: OMITTED/);
    const oci = await cli(
      "seccomp",
      "export",
      "--format",
      "oci",
      "--fragments",
      "qemu-like",
      "--policies",
      pol,
    );
    expect(JSON.parse(oci.out).defaultAction).toBe("SCMP_ACT_KILL_PROCESS");
    expect(oci.err).toMatch(/cannot express/);
  });

  it.each([
    [
      ["seccomp", "compile", "--fragments", "qemu-lik", "--policies", "POL", "-o", "OUT"],
      ExitCode.policy,
      /did you mean qemu-like/,
    ],
    [
      ["seccomp", "compile", "--fragments", "qemu-like", "--policies", "POL", "--arch", "riscv", "-o", "OUT"],
      ExitCode.usage,
      /unknown architecture/,
    ],
    [
      [
        "seccomp",
        "compile",
        "--fragments",
        "qemu-like",
        "--policies",
        "POL",
        "--default",
        "deny",
        "-o",
        "OUT",
      ],
      ExitCode.usage,
      /unknown action/,
    ],
    [["seccomp", "emulate", "OUT", "--syscall", "iocl"], ExitCode.usage, /did you mean ioctl/],
    [
      ["seccomp", "export", "--format", "yaml", "--fragments", "qemu-like", "--policies", "POL"],
      ExitCode.usage,
      /unknown export format/,
    ],
  ])("%j → exit %i", async (args, code, msg) => {
    const bpf = join(dir, "e.bpf");
    await cli("seccomp", "compile", "--fragments", "qemu-like", "--policies", pol, "-o", bpf);
    const r = await cli(...args.map((a) => (a === "POL" ? pol : a === "OUT" ? bpf : a)));
    expect(r.code).toBe(code);
    expect(r.err).toMatch(msg);
  });
});
