import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  hasPvhNote,
  kernelFormat,
  kernelImageInfoOf,
  probeKernelImage,
} from "../../../src/host/kernel-image.js";

/** An ELF64 LE whose one PT_NOTE segment (placed at `noteAt`) holds the notes (name, type). */
function elf(notes: Array<[string, number]>, noteAt = 120): Buffer {
  const parts = notes.map(([name, type]) => {
    const n = Buffer.from(`${name}\0`);
    const note = Buffer.alloc(12 + ((n.length + 3) & ~3) + 8);
    note.writeUInt32LE(n.length, 0);
    note.writeUInt32LE(8, 4);
    note.writeUInt32LE(type, 8);
    n.copy(note, 12);
    return note;
  });
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(noteAt + body.length);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(out);
  out.writeBigUInt64LE(64n, 32); // e_phoff
  out.writeUInt16LE(56, 54); // e_phentsize
  out.writeUInt16LE(1, 56); // e_phnum
  out.writeUInt32LE(4, 64); // PT_NOTE
  out.writeBigUInt64LE(BigInt(noteAt), 64 + 8);
  out.writeBigUInt64LE(BigInt(body.length), 64 + 32);
  body.copy(out, noteAt);
  return out;
}

function bzImage(): Buffer {
  const b = Buffer.alloc(0x400);
  b.write("HdrS", 0x202, "latin1");
  return b;
}

/** A Multiboot v1 header at `at`: magic, flags, checksum (sum 0 mod 2^32 when `valid`). */
function multiboot(at: number, valid = true): Buffer {
  const b = Buffer.alloc(at + 64);
  b.writeUInt32LE(0x1badb002, at);
  b.writeUInt32LE(0x00010003, at + 4);
  b.writeUInt32LE((-(0x1badb002 + 0x00010003) + (valid ? 0 : 1)) >>> 0, at + 8);
  return b;
}

/** An ELF that also has "HdrS" at 0x202: QEMU checks the boot protocol magic first. */
function elfWithHdrS(): Buffer {
  const b = Buffer.concat([elf([["Xen", 18]]), Buffer.alloc(0x400)]);
  b.write("HdrS", 0x202, "latin1");
  return b;
}

describe("kernel image detection (QEMU 7.2 x86 loader order)", () => {
  it.each([
    ["bzImage", bzImage(), "bzImage", false],
    ["ELF with Xen PVH note", elf([["Xen", 18]]), "elf", true],
    [
      "ELF with PVH note after others",
      elf([
        ["GNU", 3],
        ["Xen", 18],
      ]),
      "elf",
      true,
    ],
    ["ELF with another Xen note", elf([["Xen", 17]]), "elf", false],
    ["ELF with type 18 under another name", elf([["GNU", 18]]), "elf", false],
    ["Multiboot header", multiboot(512), "multiboot", false],
    ["bad Multiboot checksum", multiboot(512, false), "unknown", false],
    ["HdrS wins over an ELF magic", elfWithHdrS(), "bzImage", false],
    ["junk", Buffer.from("not a kernel"), "unknown", false],
    ["empty", Buffer.alloc(0), "unknown", false],
  ] as const)("%s", (_name, data, format, pvh) => {
    expect(kernelImageInfoOf(data as Buffer)).toEqual({ format, pvh });
  });

  it("a Multiboot header past QEMU's 8 KiB window does not count", () => {
    expect(kernelFormat(multiboot(9000).subarray(0, 8192))).toBe("unknown");
  });

  it("truncated program headers or notes are not a PVH note (no throw)", () => {
    const e = elf([["Xen", 18]]);
    expect(hasPvhNote(e.subarray(0, 100))).toBe(false);
    expect(hasPvhNote(e.subarray(0, 130))).toBe(false);
  });
});

describe("probeKernelImage", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-kimage-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads the notes even when they lie far past the header, like a real vmlinux's", async () => {
    const file = join(dir, "vmlinux");
    writeFileSync(
      file,
      elf(
        [
          ["Linux", 1],
          ["Xen", 18],
        ],
        3 << 20,
      ),
    );
    expect(await probeKernelImage(file)).toEqual({ path: file, format: "elf", pvh: true });
  });

  it("classifies a bzImage and a file shorter than the header", async () => {
    writeFileSync(join(dir, "bz"), bzImage());
    writeFileSync(join(dir, "tiny"), "x");
    expect(await probeKernelImage(join(dir, "bz"))).toMatchObject({ format: "bzImage", pvh: false });
    expect(await probeKernelImage(join(dir, "tiny"))).toMatchObject({ format: "unknown", pvh: false });
  });

  it("a missing file rejects with ENOENT (probeHost turns it into a config error on boot.kernel)", async () => {
    await expect(probeKernelImage(join(dir, "none"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
