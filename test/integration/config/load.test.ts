// loadConfig against real files: images made with qemu-img, directories, missing paths. Each
// problem is located at the key that names the file.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import { QemuJailError } from "../../../src/errors.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-config-load-"));
  const img = (...a: string[]) => execFileSync("qemu-img", ["create", "-q", ...a], { cwd: dir });
  img("-f", "qcow2", "base.qcow2", "16M");
  img("-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2");
  img("-f", "qcow2", "other.qcow2", "16M");
  img("-f", "raw", "disk.raw", "4M");
  writeFileSync(join(dir, "kernel"), "not really a kernel");
  mkdirSync(join(dir, "share"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAD = '[vm]\nname = "t"\n[boot]\nkernel = "kernel"\n[qemu]\nbinary = "/usr/bin/qemu-system-x86_64"\n';

function load(body: string): unknown {
  const file = join(dir, "vm.toml");
  writeFileSync(file, HEAD + body);
  try {
    return loadConfig(file);
  } catch (e) {
    return e;
  }
}

const cases = [
  {
    name: "missing disk image",
    body: '[[disk]]\nid = "d"\npath = "nope.raw"\n',
    code: "CONFIG_FILE_MISSING",
    key: "disk[0].path",
    line: 9,
    message: /nope\.raw does not exist/,
    hint: /relative paths resolve/,
  },
  {
    name: "qcow2 declared raw",
    body: '[[disk]]\nid = "d"\npath = "other.qcow2"\n',
    code: "CONFIG_FORMAT_MISMATCH",
    key: "disk[0].format",
    line: 7,
    message: /is a qcow2 image, but format is "raw"/,
    hint: /format = "qcow2"/,
  },
  {
    name: "raw declared qcow2",
    body: '[[disk]]\nid = "d"\npath = "disk.raw"\nformat = "qcow2"\n',
    code: "CONFIG_FORMAT_MISMATCH",
    key: "disk[0].format",
    line: 10,
    message: /no qcow2 header/,
    hint: /format = "raw"/,
  },
  {
    name: "undeclared backing file",
    body: '[[disk]]\nid = "d"\npath = "top.qcow2"\nformat = "qcow2"\n',
    code: "CONFIG_BACKING_MISMATCH",
    key: "disk[0].backing",
    line: 7,
    message: /has backing file .*base\.qcow2, which the config does not declare/,
    hint: /declare the chain/,
  },
  {
    name: "wrong backing file",
    body: '[[disk]]\nid = "d"\npath = "top.qcow2"\nformat = "qcow2"\nbacking = [{ path = "other.qcow2" }]\n',
    code: "CONFIG_BACKING_MISMATCH",
    key: "disk[0].backing",
    line: 11,
    message: /but the config declares .*other\.qcow2/,
  },
  {
    name: "extra backing entry",
    body: '[[disk]]\nid = "d"\npath = "other.qcow2"\nformat = "qcow2"\nbacking = [{ path = "base.qcow2" }]\n',
    code: "CONFIG_BACKING_MISMATCH",
    key: "disk[0].backing",
    line: 11,
    message: /has no backing file/,
  },
  {
    name: "backing format mismatch",
    body: '[[disk]]\nid = "d"\npath = "top.qcow2"\nformat = "qcow2"\nbacking = [{ path = "base.qcow2", format = "raw" }]\n',
    code: "CONFIG_FORMAT_MISMATCH",
    key: "disk[0].backing[0].format",
    line: 11,
    message: /is a qcow2 image, but format is "raw"/,
  },
  {
    name: "share is a file",
    body: '[[share]]\nid = "s"\npath = "kernel"\n',
    code: "CONFIG_FILE_TYPE",
    key: "share[0].path",
    line: 9,
    message: /is not a directory/,
  },
  {
    name: "disk is a directory",
    body: '[[disk]]\nid = "d"\npath = "share"\n',
    code: "CONFIG_FILE_TYPE",
    key: "disk[0].path",
    line: 9,
    message: /not a regular file or block device/,
  },
  {
    name: "missing initrd",
    body: "",
    code: "CONFIG_FILE_MISSING",
    key: "boot.initrd",
    line: 5,
    message: /initrd\.img does not exist/,
    extra: 'initrd = "initrd.img"\n',
  },
];

describe("loadConfig file checks", () => {
  it.each(cases)("$name", (c) => {
    const file = join(dir, "vm.toml");
    const text = c.extra
      ? HEAD.replace('kernel = "kernel"\n', `kernel = "kernel"\n${c.extra}`) + c.body
      : HEAD + c.body;
    writeFileSync(file, text);
    let err: unknown;
    try {
      loadConfig(file);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QemuJailError);
    const e = err as QemuJailError;
    expect(e.exit).toBe("config");
    expect(e.code).toBe(c.code);
    expect(e.location).toMatchObject({ file, key: c.key, line: c.line });
    expect(e.message).toMatch(c.message);
    if (c.hint) expect(e.hint).toMatch(c.hint);
  });

  it("accepts a correct chain and resolves paths against the config's directory", () => {
    const c = load(
      '[[disk]]\nid = "d"\npath = "top.qcow2"\nformat = "qcow2"\nbacking = [{ path = "base.qcow2" }]\n[[share]]\nid = "s"\npath = "share"\n',
    );
    expect(c).not.toBeInstanceOf(Error);
    const cfg = c as ReturnType<typeof loadConfig>;
    expect(cfg.disk[0]!.path).toBe(join(dir, "top.qcow2"));
    expect(cfg.disk[0]!.backing).toEqual([{ path: join(dir, "base.qcow2"), format: "qcow2" }]);
    expect(cfg.share[0]!.path).toBe(join(dir, "share"));
    expect(cfg.source).toBe(join(dir, "vm.toml"));
  });

  it("a missing config file is a config error", () => {
    expect(() => loadConfig(join(dir, "absent.toml"))).toThrow(
      expect.objectContaining({ code: "CONFIG_FILE_MISSING", exit: "config" }),
    );
  });
});
