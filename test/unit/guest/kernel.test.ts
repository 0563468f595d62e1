import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findKernel, hasPvhNote, kernelImageInfo } from "../../../src/guest/kernel.js";

describe("findKernel", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const fakeRoot = (versions: string[], withModules: string[]) => {
    const root = mkdtempSync(join(tmpdir(), "qj-kernel-"));
    dirs.push(root);
    mkdirSync(join(root, "boot"));
    for (const v of versions) writeFileSync(join(root, "boot", `vmlinuz-${v}`), "");
    for (const v of withModules) {
      mkdirSync(join(root, "modules", v), { recursive: true });
      writeFileSync(join(root, "modules", v, "modules.dep"), "");
    }
    return { bootDir: join(root, "boot"), modulesRoot: join(root, "modules") };
  };

  it("picks the newest kernel that has modules, comparing numerically", () => {
    const r = fakeRoot(
      ["6.1.0-9-amd64", "6.1.0-56-amd64", "6.10.0-1-amd64"],
      ["6.1.0-9-amd64", "6.1.0-56-amd64"],
    );
    expect(findKernel(r).version).toBe("6.1.0-56-amd64");
    expect(findKernel({ ...r, version: "6.1.0-9-amd64" }).vmlinuz).toBe(
      join(r.bootDir, "vmlinuz-6.1.0-9-amd64"),
    );
  });

  it("fails with a host error and a hint when none is usable", () => {
    const r = fakeRoot(["6.1.0-1-amd64"], []);
    expect(() => findKernel(r)).toThrow(expect.objectContaining({ code: "GUEST_NO_KERNEL", exit: "host" }));
  });
});

/** A minimal ELF64 with one PT_NOTE segment holding one note (name, type). */
function elfWithNote(name: string, type: number): Buffer {
  const nameBuf = Buffer.from(`${name}\0`);
  const namePad = (nameBuf.length + 3) & ~3;
  const note = Buffer.alloc(12 + namePad + 4);
  note.writeUInt32LE(nameBuf.length, 0);
  note.writeUInt32LE(4, 4);
  note.writeUInt32LE(type, 8);
  nameBuf.copy(note, 12);
  const elf = Buffer.alloc(64 + 56);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(elf);
  elf.writeBigUInt64LE(64n, 32); // e_phoff
  elf.writeUInt16LE(56, 54); // e_phentsize
  elf.writeUInt16LE(1, 56); // e_phnum
  elf.writeUInt32LE(4, 64); // PT_NOTE
  elf.writeBigUInt64LE(BigInt(elf.length), 64 + 8); // p_offset
  elf.writeBigUInt64LE(BigInt(note.length), 64 + 32); // p_filesz
  return Buffer.concat([elf, note]);
}

describe("PVH detection", () => {
  it.each([
    ["Xen", 18, true],
    ["Xen", 17, false],
    ["GNU", 18, false],
  ])("note %s type %d → pvh %s", (name, type, want) => {
    expect(hasPvhNote(elfWithNote(name as string, type as number))).toBe(want);
  });

  it("tells an ELF with a PVH note from a bzImage and from anything else", () => {
    const root = mkdtempSync(join(tmpdir(), "qj-kimg-"));
    try {
      const elf = join(root, "vmlinux");
      writeFileSync(elf, elfWithNote("Xen", 18));
      const bz = join(root, "bzImage");
      const b = Buffer.alloc(0x300);
      b.write("HdrS", 0x202, "latin1");
      writeFileSync(bz, b);
      const junk = join(root, "junk");
      writeFileSync(junk, "not a kernel");
      expect(kernelImageInfo(elf)).toEqual({ format: "elf", pvh: true });
      expect(kernelImageInfo(bz)).toEqual({ format: "bzImage", pvh: false });
      expect(kernelImageInfo(junk)).toEqual({ format: "unknown", pvh: false });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
