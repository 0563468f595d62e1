// The config commands through the real CLI entry (bin/qemu-jail.js → the esbuild bundle): output,
// exit status classes, and no stack traces for user errors.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
beforeAll(() => {
  if (!existsSync("dist/bundle/cli.cjs")) execFileSync("node", ["scripts/bundle-cli.mjs"]);
  dir = mkdtempSync(join(tmpdir(), "qj-config-cli-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  const r = spawnSync("node", ["bin/qemu-jail.js", ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

const NO_STACK = /\n\s+at |Error: .*\n.*node:internal/;

describe("qemu-jail CLI: config commands", () => {
  it("argv prints one argument per line, then a shell line", () => {
    const r = cli("argv", "examples/minimal.toml");
    expect(r.status).toBe(0);
    const [lines, shell] = r.stdout.split("\n\n");
    const argv = lines!.split("\n");
    expect(argv[0]).toBe("/usr/bin/qemu-system-x86_64");
    expect(argv).toContain("-nodefaults");
    expect(argv).toContain("guest=minimal,debug-threads=on");
    expect(shell!.trim().startsWith("/usr/bin/qemu-system-x86_64 -nodefaults -no-user-config")).toBe(true);
  });

  it("argv --json", () => {
    const r = cli("argv", "--json", "examples/minimal.toml");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as { argv: string[]; shell: string };
    expect(j.argv).toContain("-kernel");
    expect(j.shell).toContain("-append console=ttyS0");
  });

  it("argv --accel overrides vm.accel; a bad choice is a usage error", () => {
    const r = cli("argv", "--accel", "tcg", "examples/minimal.toml");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("\n-accel\ntcg\n-cpu\n");
    expect(r.stdout).not.toContain("\nkvm\n");
    expect(cli("argv", "--accel", "hvf", "examples/minimal.toml").status).toBe(2);
  });

  it("argv --no-files works on a config whose images do not exist", () => {
    expect(cli("argv", "examples/full.toml").status).toBe(3);
    const r = cli("argv", "--no-files", "examples/full.toml");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("vhost-user-fs-pci,id=src,chardev=src.sock,tag=src");
  });

  it("validate: ok, then a typo with location and hint, exit 3, no stack", () => {
    expect(cli("validate", "examples/minimal.toml")).toMatchObject({
      status: 0,
      stdout: 'examples/minimal.toml: ok (vm "minimal")\n',
    });
    const f = write("typo.toml", '[vm]\nname = "t"\nmemroy = "1G"\n[boot]\nkernel = "/vmlinuz"\n');
    const r = cli("validate", f);
    expect(r.status).toBe(3);
    expect(r.stderr).toBe(
      `qemu-jail: ${f}:3:1: vm.memroy: unknown key "memroy" in [vm]\n  hint: did you mean "memory"? (valid keys: name, uuid, arch, machine, accel, cpus, memory, cpu_model)\n`,
    );
    expect(r.stderr).not.toMatch(NO_STACK);
  });

  it("validate lists every problem", () => {
    const f = write("many.toml", '[vm]\nname = "T"\ncpus = 0\n[boot]\nkernel = "/nope"\n');
    const r = cli("validate", f);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/vm\.name/);
    expect(r.stderr).toMatch(/vm\.cpus/);
    expect(r.stderr).toMatch(/2 problems/);
  });

  it.each([
    ["malformed TOML", "[vm\n", 3, /:1:\d+: TOML syntax error/],
    ["missing file", null, 3, /does not exist/],
    [
      "missing referenced file",
      '[vm]\nname = "t"\n[boot]\nkernel = "/nonexistent/k"\n',
      3,
      /boot\.kernel: \/nonexistent\/k does not exist/,
    ],
  ])("%s is a config error", (_n, text, status, msg) => {
    const f = text === null ? join(dir, "absent.toml") : write("bad.toml", text as string);
    for (const cmd of ["validate", "argv"]) {
      const r = cli(cmd, f);
      expect(r.status).toBe(status);
      expect(r.stderr).toMatch(msg as RegExp);
      expect(r.stderr).not.toMatch(NO_STACK);
    }
  });

  it.each([[["argv"]], [["validate", "a", "b"]], [["argv", "--bogus", "x.toml"]], [["nosuchcommand"]]])(
    "usage error %j → exit 2",
    (args) => {
      const r = cli(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).not.toMatch(NO_STACK);
    },
  );

  it("schema prints a JSON Schema that knows every section", () => {
    const r = cli("schema");
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as {
      $schema: string;
      properties: Record<string, unknown>;
      additionalProperties: boolean;
    };
    expect(s.$schema).toMatch(/draft-07/);
    expect(Object.keys(s.properties).sort()).toEqual([
      "boot",
      "disk",
      "jail",
      "nic",
      "qemu",
      "qmp",
      "rng",
      "serial",
      "share",
      "vm",
      "vsock",
    ]);
    expect(s.additionalProperties).toBe(false);
  });
});
