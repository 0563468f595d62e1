import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { splitDev } from "../../../src/host/devices.js";
import { parseImageHeader, probeImage } from "../../../src/host/images.js";
import { LDCACHE_FLAGS, ldCacheIndex, parseLdCache } from "../../../src/host/ldcache.js";
import { landlockAbiFrom, probeLsm } from "../../../src/host/lsm.js";
import { parseQemuVersion, probeFirmware, virtiofsdFlavour } from "../../../src/host/qemu.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function tmp() {
  const d = await mkdtemp(join(tmpdir(), "qj-host-"));
  dirs.push(d);
  return d;
}

/** Builds a new-format ld.so.cache image (optionally behind a legacy table) from entries. */
function buildCache(entries: Array<[number, string, string]>, legacy = false): Buffer {
  const header = 48;
  const strings: Buffer[] = [];
  const offs: Array<[number, number]> = [];
  let strOff = header + entries.length * 24;
  for (const [, k, v] of entries) {
    const kb = Buffer.from(`${k}\0`);
    const vb = Buffer.from(`${v}\0`);
    offs.push([strOff, strOff + kb.length]);
    strings.push(kb, vb);
    strOff += kb.length + vb.length;
  }
  const h = Buffer.alloc(header);
  h.write("glibc-ld.so.cache1.1", 0, "latin1");
  h.writeUInt32LE(entries.length, 20);
  h.writeUInt32LE(strOff - header - entries.length * 24, 24);
  h[28] = 2;
  const es = entries.map(([flags], i) => {
    const e = Buffer.alloc(24);
    e.writeInt32LE(flags, 0);
    e.writeUInt32LE(offs[i]![0], 4);
    e.writeUInt32LE(offs[i]![1], 8);
    return e;
  });
  const neu = Buffer.concat([h, ...es, ...strings]);
  if (!legacy) return neu;
  const old = Buffer.alloc(16 + 12 * 2); // "ld.so-1.7.0\0" + nlibs + 2 ignored entries, 8-aligned
  old.write("ld.so-1.7.0", 0, "latin1");
  old.writeUInt32LE(2, 12);
  return Buffer.concat([old, Buffer.alloc((8 - (old.length % 8)) % 8), neu]);
}

describe("ld.so.cache", () => {
  const entries: Array<[number, string, string]> = [
    [0x0303, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"],
    [0x0a03, "libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1"],
    [0x0303, "libz.so.1", "/usr/local/lib/libz.so.1"],
    [0x0803, "libx.so", "/libx32/libx.so"],
  ];
  it.each([false, true])("parses the new format (legacy prefix: %s)", (legacy) => {
    const parsed = parseLdCache(buildCache(entries, legacy));
    expect(parsed.map((e) => [e.flags, e.name, e.path])).toEqual(entries);
    const idx = ldCacheIndex(parsed, LDCACHE_FLAGS.x86_64);
    expect(idx.get("libz.so.1")).toBe("/lib/x86_64-linux-gnu/libz.so.1"); // first entry wins
    expect(idx.has("libx.so")).toBe(false); // x32 is another ABI
    expect(ldCacheIndex(parsed, LDCACHE_FLAGS.aarch64).get("libz.so.1")).toBe(
      "/lib/aarch64-linux-gnu/libz.so.1",
    );
  });
  it("refuses other formats and truncation", () => {
    expect(() => parseLdCache(Buffer.from("not a cache at all, really not"))).toThrow(/glibc-ld.so.cache1.1/);
    expect(() => parseLdCache(buildCache(entries).subarray(0, 60))).toThrow(/truncated/);
  });
});

describe("images", () => {
  it("detects qcow2 and its backing file; raw otherwise", async () => {
    const d = await tmp();
    const q = Buffer.alloc(512);
    q.writeUInt32BE(0x514649fb, 0);
    q.writeUInt32BE(3, 4);
    q.writeBigUInt64BE(200n, 8);
    q.writeUInt32BE(8, 16);
    q.writeBigUInt64BE(1n << 30n, 24);
    q.write("base.img", 200);
    await writeFile(join(d, "a.qcow2"), q, { mode: 0o640 });
    await writeFile(join(d, "b.raw"), Buffer.alloc(4096));
    const a = await probeImage(join(d, "a.qcow2"));
    expect(a).toMatchObject({
      detectedFormat: "qcow2",
      backingFile: "base.img",
      virtualSize: 1 << 30,
      size: 512,
      mode: 0o640,
    });
    const b = await probeImage(join(d, "b.raw"));
    expect(b).toMatchObject({ detectedFormat: "raw", size: 4096 });
    expect(b.backingFile).toBeUndefined();
    expect(parseImageHeader(Buffer.from("QFI"))).toEqual({ format: "raw" });
  });
  it("a missing image is a config error naming the key", async () => {
    await expect(probeImage("/nonexistent/x.img", "disk[0].path")).rejects.toMatchObject({
      code: "HOST_IMAGE_UNREADABLE",
      exit: "config",
      location: { key: "disk[0].path" },
    });
  });
  it("a directory is refused", async () => {
    await expect(probeImage(await tmp())).rejects.toMatchObject({ code: "HOST_IMAGE_NOT_FILE" });
  });
});

describe("versions and flavours", () => {
  it.each([
    ["QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n", "7.2.22"],
    ["qemu-storage-daemon version 8.1.0\n", "8.1.0"],
    ["QEMU emulator version 9.0\n", "9.0.0"],
  ])("parses %j", (text, v) => {
    expect(parseQemuVersion(text)?.version).toBe(v);
  });
  it.each([
    ["virtiofsd version 7.2.22 (Debian)\nusing FUSE kernel interface version 7.36\n", "", "c"],
    ["virtiofsd 1.10.1\n", "", "rust"],
    ["", "Usage: virtiofsd [OPTIONS] --shared-dir <shared-dir>", "rust"],
    ["", "usage: virtiofsd [options]\n    -o source=PATH", "c"],
    ["something else", "", undefined],
  ])("virtiofsd flavour of %j", (v, h, want) => {
    expect(virtiofsdFlavour(v, h)).toBe(want);
  });
});

describe("device numbers", () => {
  // glibc's makedev: 12 low major bits at 8..19, the rest from bit 44; 8 low minor bits at 0..7,
  // the rest from bit 20.
  const makedev = (ma: number, mi: number) =>
    ((BigInt(ma) & 0xfffn) << 8n) |
    ((BigInt(ma) & ~0xfffn) << 32n) |
    (BigInt(mi) & 0xffn) |
    ((BigInt(mi) & ~0xffn) << 12n);
  it("reads the classic encoding", () => {
    expect(splitDev(0x0ae8n)).toEqual({ major: 10, minor: 232 }); // /dev/kvm
  });
  it.each([
    [1, 9],
    [259, 0x1200],
    [0x123abc, 0x45],
    [4095, 0xfffff],
  ])("round-trips major %i minor %i", (major, minor) => {
    expect(splitDev(makedev(major, minor))).toEqual({ major, minor });
  });
});

describe("LSM", () => {
  it.each([
    [{ landlock_abi: "7" }, ["landlock"], 7],
    [{ landlock_abi: "0" }, undefined, 0],
    [undefined, ["capability", "landlock", "yama"], -1],
    [undefined, ["capability", "yama"], 0],
    [undefined, undefined, -1],
  ])("landlock ABI from helper %j and list %j", (helper, list, abi) => {
    expect(landlockAbiFrom(helper as Record<string, string> | undefined, list)).toBe(abi);
  });

  it("reads SELinux and AppArmor state from a fake /sys", async () => {
    const sys = await tmp();
    await mkdir(join(sys, "kernel/security"), { recursive: true });
    await mkdir(join(sys, "fs/selinux"), { recursive: true });
    await mkdir(join(sys, "module/apparmor/parameters"), { recursive: true });
    await mkdir(join(sys, "sbin"));
    await writeFile(join(sys, "kernel/security/lsm"), "capability,landlock,selinux\n");
    await writeFile(join(sys, "fs/selinux/enforce"), "1");
    await writeFile(join(sys, "fs/selinux/mls"), "1");
    await writeFile(join(sys, "module/apparmor/parameters/enabled"), "Y\n"); // built in but not in the list
    await writeFile(join(sys, "sbin/apparmor_parser"), "");
    const f = await probeLsm({ sysRoot: sys, parserDirs: [join(sys, "nope"), join(sys, "sbin")] });
    expect(f).toEqual({
      active: ["capability", "landlock", "selinux"],
      selinux: { enabled: true, enforcing: true, mcsAvailable: true },
      apparmor: { enabled: false, parser: join(sys, "sbin/apparmor_parser") },
      landlockAbi: -1,
    });
  });

  it("an empty /sys means nothing active", async () => {
    const f = await probeLsm({ sysRoot: await tmp(), parserDirs: [], helperProbe: { landlock_abi: "3" } });
    expect(f).toEqual({
      active: [],
      selinux: { enabled: false, enforcing: false, mcsAvailable: false },
      apparmor: { enabled: false },
      landlockAbi: 3,
    });
  });
});

describe("firmware", () => {
  it("first dir wins; symlinks into other dirs are resolved; dangling ones dropped", async () => {
    const d = await tmp();
    await mkdir(join(d, "a"));
    await mkdir(join(d, "b"));
    await mkdir(join(d, "pkg"));
    await writeFile(join(d, "pkg/real.rom"), "x");
    await writeFile(join(d, "b/bios.bin"), "b");
    await writeFile(join(d, "a/bios.bin"), "a");
    const { symlink } = await import("node:fs/promises");
    await symlink("../pkg/real.rom", join(d, "a/efi.rom"));
    await symlink("../pkg/gone.rom", join(d, "b/dangling.rom"));
    const fw = await probeFirmware([join(d, "a"), join(d, "missing"), join(d, "b")]);
    expect(fw.dirs).toEqual([join(d, "a"), join(d, "b")]);
    expect(fw.files).toEqual({
      "bios.bin": { path: join(d, "a/bios.bin"), realPath: join(d, "a/bios.bin") },
      "efi.rom": { path: join(d, "a/efi.rom"), realPath: join(d, "pkg/real.rom") },
    });
  });
});
