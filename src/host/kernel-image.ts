// What kind of -kernel image a file is, decided the way QEMU 7.2's x86 loader (x86_load_linux)
// decides, because that picks the option ROM QEMU loads by name and the jail must contain:
//   1. "HdrS" at 0x202 (x86 boot protocol)        → bzImage, linuxboot_dma.bin
//   2. a Multiboot header in the first 8 KiB       → multiboot, multiboot_dma.bin
//   3. an ELF with a Xen PVH entry note            → elf + pvh, pvh.bin
//      (an ELF without the note makes QEMU exit: "Error loading uncompressed kernel without PVH
//      ELF Note")
//   4. anything else: loaded as an old zImage      → linuxboot_dma.bin
// Pure detection over bytes, shared by src/guest (which builds PVH guests) and the host probe
// (which reads only the header, the program headers and the note segments of a kernel file).

import { open } from "node:fs/promises";
import type { KernelImageFacts } from "./types.js";

/** Bytes of the file QEMU inspects before choosing a loader (its `header[8192]`). */
export const KERNEL_HEAD_BYTES = 8192;

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const MULTIBOOT_MAGIC = 0x1badb002;
const PT_NOTE = 4;
/** XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit PVH entry point. */
const XEN_ELFNOTE_PHYS32_ENTRY = 18;

/** The loader QEMU picks from the file's first bytes (PVH still to be checked for "elf"). */
export function kernelFormat(head: Buffer): KernelImageFacts["format"] {
  if (head.length >= 0x206 && head.toString("latin1", 0x202, 0x206) === "HdrS") return "bzImage";
  if (hasMultibootHeader(head)) return "multiboot";
  if (head.length >= 4 && head.subarray(0, 4).equals(ELF_MAGIC)) return "elf";
  return "unknown";
}

/** A Multiboot (v1) header: magic, flags, checksum summing to 0, 4-aligned in the first 8 KiB. */
function hasMultibootHeader(head: Buffer): boolean {
  const end = Math.min(head.length, KERNEL_HEAD_BYTES) - 12;
  for (let i = 0; i <= end; i += 4) {
    if (head.readUInt32LE(i) !== MULTIBOOT_MAGIC) continue;
    if (((MULTIBOOT_MAGIC + head.readUInt32LE(i + 4) + head.readUInt32LE(i + 8)) & 0xffffffff) >>> 0 === 0)
      return true;
  }
  return false;
}

/** Where the program header table is (ELF64 little-endian only; x86_64 kernels are). */
export function elfProgramHeaders(head: Buffer): { offset: number; entsize: number; count: number } | null {
  if (head.length < 64 || !head.subarray(0, 4).equals(ELF_MAGIC) || head[4] !== 2 || head[5] !== 1)
    return null;
  return {
    offset: Number(head.readBigUInt64LE(32)),
    entsize: head.readUInt16LE(54),
    count: head.readUInt16LE(56),
  };
}

/** The PT_NOTE segments (file offset, size) listed in a program header table. */
export function noteSegments(
  phdrs: Buffer,
  entsize: number,
  count: number,
): Array<{ offset: number; size: number }> {
  const out: Array<{ offset: number; size: number }> = [];
  for (let i = 0; i < count && (i + 1) * entsize <= phdrs.length; i++) {
    const ph = i * entsize;
    if (phdrs.readUInt32LE(ph) !== PT_NOTE) continue;
    out.push({ offset: Number(phdrs.readBigUInt64LE(ph + 8)), size: Number(phdrs.readBigUInt64LE(ph + 32)) });
  }
  return out;
}

/** True when a note segment's bytes hold a "Xen" note of type XEN_ELFNOTE_PHYS32_ENTRY. */
export function notesHavePvhEntry(notes: Buffer): boolean {
  let p = 0;
  while (p + 12 <= notes.length) {
    const namesz = notes.readUInt32LE(p);
    const descsz = notes.readUInt32LE(p + 4);
    const type = notes.readUInt32LE(p + 8);
    const name = notes.toString("latin1", p + 12, Math.min(notes.length, p + 12 + namesz));
    if (type === XEN_ELFNOTE_PHYS32_ENTRY && name.startsWith("Xen")) return true;
    p += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
  }
  return false;
}

/** True when a whole ELF image carries a Xen PVH entry note, so QEMU can boot it directly. */
export function hasPvhNote(elf: Buffer): boolean {
  const ph = elfProgramHeaders(elf);
  if (!ph) return false;
  const table = elf.subarray(ph.offset, ph.offset + ph.entsize * ph.count);
  return noteSegments(table, ph.entsize, ph.count).some((s) =>
    notesHavePvhEntry(elf.subarray(s.offset, s.offset + s.size)),
  );
}

/** Format and PVH note of a whole image in memory. */
export function kernelImageInfoOf(data: Buffer): Pick<KernelImageFacts, "format" | "pvh"> {
  const format = kernelFormat(data.subarray(0, KERNEL_HEAD_BYTES));
  return { format, pvh: format === "elf" && hasPvhNote(data) };
}

/**
 * Probes a kernel file, reading only what QEMU's loader choice depends on: the header, and for
 * an ELF its program headers and note segments (a vmlinux is ~60 MiB; its notes a few hundred bytes).
 */
export async function probeKernelImage(path: string): Promise<KernelImageFacts> {
  const fh = await open(path, "r");
  try {
    const read = async (offset: number, length: number): Promise<Buffer> => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    };
    const head = await read(0, KERNEL_HEAD_BYTES);
    const format = kernelFormat(head);
    let pvh = false;
    const ph = format === "elf" ? elfProgramHeaders(head) : null;
    if (ph && ph.count > 0 && ph.entsize >= 56) {
      const table = await read(ph.offset, ph.entsize * ph.count);
      for (const s of noteSegments(table, ph.entsize, ph.count)) {
        if (s.size > 1 << 20) continue; // not a note segment any kernel has; do not read it
        if (notesHavePvhEntry(await read(s.offset, s.size))) {
          pvh = true;
          break;
        }
      }
    }
    return { path, format, pvh };
  } finally {
    await fh.close();
  }
}
