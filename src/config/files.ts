// The cheap checks loadConfig makes on the files a config names: they exist, have the right type,
// can be read (and written, for rw disks), and each image's header agrees with its declared
// format and backing chain (a qcow2 naming a backing file the config does not declare would make
// QEMU open a path of its own choosing).

import { accessSync, closeSync, constants, openSync, readSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { KeyPath } from "./locate.js";
import type { Problem } from "./problems.js";
import type { DiskFormat, VmConfig } from "./types.js";

type Kind = "file" | "dir" | "image" | "exec";

/** Problems with the files `config` references (empty when all is well). */
export function checkFiles(config: VmConfig): Problem[] {
  const problems: Problem[] = [];
  const check = (path: string, key: KeyPath, kind: Kind, write = false) => {
    const p = checkOne(path, key, kind, write);
    if (p) problems.push(p);
    return !p;
  };
  if (config.boot.mode === "kernel") {
    check(config.boot.kernel, ["boot", "kernel"], "file");
    if (config.boot.initrd) check(config.boot.initrd, ["boot", "initrd"], "file");
  } else {
    check(config.boot.code, ["boot", "code"], "file");
    if (config.boot.vars_template) check(config.boot.vars_template, ["boot", "vars_template"], "file");
  }
  config.disk.forEach((d, i) => {
    if (!check(d.path, ["disk", i, "path"], "image", !d.readonly)) return;
    const chain = [{ path: d.path, format: d.format, key: ["disk", i] as KeyPath }];
    d.backing.forEach((b, j) => {
      if (check(b.path, ["disk", i, "backing", j, "path"], "image"))
        chain.push({ ...b, key: ["disk", i, "backing", j] });
    });
    if (chain.length !== d.backing.length + 1) return;
    chain.forEach((img, n) => {
      const p = checkHeader(img.path, img.format, img.key, chain[n + 1]?.path);
      if (p) problems.push(p);
    });
  });
  for (const [i, s] of config.share.entries()) check(s.path, ["share", i, "path"], "dir", !s.readonly);
  config.jail.extra_ro_paths.forEach((p, i) => {
    if (!exists(p)) problems.push(missing(p, ["jail", "extra_ro_paths", i]));
  });
  check(config.qemu.binary, ["qemu", "binary"], "exec");
  return problems;
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function missing(path: string, key: KeyPath): Problem {
  return {
    code: "CONFIG_FILE_MISSING",
    path: key,
    message: `${path} does not exist`,
    hint: "fix the path (relative paths resolve against the vm.toml's directory)",
  };
}

function checkOne(path: string, key: KeyPath, kind: Kind, write: boolean): Problem | undefined {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return missing(path, key);
    return { code: "CONFIG_FILE_UNREADABLE", path: key, message: `cannot stat ${path}: ${code}` };
  }
  const want =
    kind === "dir" ? "a directory" : kind === "image" ? "a regular file or block device" : "a regular file";
  const ok =
    kind === "dir" ? st.isDirectory() : kind === "image" ? st.isFile() || st.isBlockDevice() : st.isFile();
  if (!ok) return { code: "CONFIG_FILE_TYPE", path: key, message: `${path} is not ${want}` };
  const mode =
    (kind === "exec" ? constants.X_OK : constants.R_OK) |
    (write ? constants.W_OK : 0) |
    (kind === "dir" ? constants.X_OK : 0);
  try {
    accessSync(path, mode);
  } catch (err) {
    const what = kind === "exec" ? "executable" : write ? "readable and writable" : "readable";
    return {
      code: "CONFIG_FILE_UNREADABLE",
      path: key,
      message: `${path} is not ${what} (${(err as NodeJS.ErrnoException).code})`,
      hint: write ? "fix its permissions, or set readonly = true" : "fix its permissions",
    };
  }
  return undefined;
}

const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

/** Reads the header: detected format and, for qcow2, the backing file name written in it. */
export function readImageHeader(path: string): { format: DiskFormat; backingFile?: string } {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(20);
    const n = readSync(fd, head, 0, 20, 0);
    if (n < 4 || !head.subarray(0, 4).equals(QCOW2_MAGIC)) return { format: "raw" };
    if (n < 20) return { format: "qcow2" };
    const offset = Number(head.readBigUInt64BE(8));
    const size = head.readUInt32BE(16);
    if (offset === 0 || size === 0 || size > 4096) return { format: "qcow2" };
    const name = Buffer.alloc(size);
    readSync(fd, name, 0, size, offset);
    return { format: "qcow2", backingFile: name.toString("utf8") };
  } finally {
    closeSync(fd);
  }
}

function checkHeader(
  path: string,
  declared: DiskFormat,
  key: KeyPath,
  nextDeclared?: string,
): Problem | undefined {
  let h: ReturnType<typeof readImageHeader>;
  try {
    h = readImageHeader(path);
  } catch (err) {
    return {
      code: "CONFIG_FILE_UNREADABLE",
      path: key,
      message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code}`,
    };
  }
  const fmtKey = [...key, "format"];
  if (h.format !== declared) {
    return {
      code: "CONFIG_FORMAT_MISMATCH",
      path: fmtKey,
      message:
        h.format === "qcow2"
          ? `${path} is a qcow2 image, but format is "raw"`
          : `${path} has no qcow2 header, but format is "qcow2"`,
      hint: `set format = "${h.format}"${h.format === "qcow2" ? " (exposing a qcow2 file as raw shows the guest its metadata)" : ""}`,
    };
  }
  const named = h.backingFile !== undefined ? resolve(dirname(path), h.backingFile) : undefined;
  if (named !== nextDeclared) {
    const bkKey = key.length === 2 ? [...key, "backing"] : key;
    if (named === undefined)
      return {
        code: "CONFIG_BACKING_MISMATCH",
        path: bkKey,
        message: `${path} has no backing file, but the config declares ${nextDeclared}`,
        hint: "remove the extra backing entry",
      };
    return {
      code: "CONFIG_BACKING_MISMATCH",
      path: bkKey,
      message:
        nextDeclared === undefined
          ? `${path} has backing file ${named}, which the config does not declare`
          : `${path} has backing file ${named}, but the config declares ${nextDeclared}`,
      hint: `declare the chain explicitly: backing = [{ path = "${named}", format = "..." }] (QEMU must not open undeclared files)`,
    };
  }
  return undefined;
}
