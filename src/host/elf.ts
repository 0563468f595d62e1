// A minimal ELF reader: just what the dynamic loader looks at to decide which files a binary
// needs (PT_INTERP, and in PT_DYNAMIC the DT_NEEDED names and DT_RPATH/DT_RUNPATH search lists).
// Reads only the header, the program headers, the dynamic segment and its string table, so a
// 20 MiB QEMU costs a few small reads.

import { closeSync, openSync, readSync } from "node:fs";
import { QemuJailError } from "../errors.js";

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;
const DT_SONAME = 14n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

/** What the dynamic loader reads from one ELF file. */
export interface ElfHeaderInfo {
  /** 32 or 64 (EI_CLASS). */
  bits: 32 | 64;
  /** e_machine: 62 x86_64, 183 aarch64, 3 i386. */
  machine: number;
  /** e_type: 2 EXEC, 3 DYN. */
  type: number;
  interpreter?: string;
  needed: string[];
  soname?: string;
  /** DT_RPATH entries, unexpanded (":"-split). Ignored by the loader when DT_RUNPATH is present. */
  rpath: string[];
  /** DT_RUNPATH entries, unexpanded. */
  runpath: string[];
}

/** e_machine of each architecture qemu-jail knows. */
export const ELF_MACHINE = { x86_64: 62, aarch64: 183 } as const;

function notElf(path: string, why: string): QemuJailError {
  return new QemuJailError("HOST_ELF_INVALID", `${path} is not a usable ELF file: ${why}`, {
    exit: "host",
    hint: "point the config at the real binary (not a script or wrapper)",
    detail: { path },
  });
}

/** Reads (at most `len` bytes at `pos`) into a fresh buffer, tolerating short files. */
function readAt(fd: number, pos: number, len: number): Buffer {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return buf.subarray(0, got);
}

interface Phdr {
  type: number;
  offset: number;
  vaddr: bigint;
  filesz: number;
}

/** Parses the loader-relevant parts of the ELF file at `path`. */
export function readElf(path: string): ElfHeaderInfo {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new QemuJailError("HOST_ELF_UNREADABLE", `cannot open ${path}: ${code}`, {
      exit: "host",
      hint: "is the package providing it installed?",
      cause: e,
      detail: { path },
    });
  }
  try {
    return parse(fd, path);
  } finally {
    closeSync(fd);
  }
}

function parse(fd: number, path: string): ElfHeaderInfo {
  const eh = readAt(fd, 0, 64);
  if (eh.length < 52 || eh.readUInt32BE(0) !== 0x7f454c46) throw notElf(path, "bad magic");
  const bits = eh[4] === 2 ? 64 : eh[4] === 1 ? 32 : 0;
  if (bits === 0) throw notElf(path, `unknown class ${eh[4]}`);
  if (eh[5] !== 1) throw notElf(path, "big-endian ELF is not supported");
  const is64 = bits === 64;
  const type = eh.readUInt16LE(16);
  const machine = eh.readUInt16LE(18);
  const phoff = is64 ? Number(eh.readBigUInt64LE(32)) : eh.readUInt32LE(28);
  const phentsize = eh.readUInt16LE(is64 ? 54 : 42);
  const phnum = eh.readUInt16LE(is64 ? 56 : 44);
  if (phentsize < (is64 ? 56 : 32) || phnum > 4096) throw notElf(path, "bad program header table");

  const ph = readAt(fd, phoff, phentsize * phnum);
  const phdrs: Phdr[] = [];
  for (let i = 0; i < phnum && (i + 1) * phentsize <= ph.length; i++) {
    const o = i * phentsize;
    phdrs.push(
      is64
        ? {
            type: ph.readUInt32LE(o),
            offset: Number(ph.readBigUInt64LE(o + 8)),
            vaddr: ph.readBigUInt64LE(o + 16),
            filesz: Number(ph.readBigUInt64LE(o + 32)),
          }
        : {
            type: ph.readUInt32LE(o),
            offset: ph.readUInt32LE(o + 4),
            vaddr: BigInt(ph.readUInt32LE(o + 8)),
            filesz: ph.readUInt32LE(o + 16),
          },
    );
  }

  const info: ElfHeaderInfo = { bits, machine, type, needed: [], rpath: [], runpath: [] };
  const interp = phdrs.find((p) => p.type === PT_INTERP);
  if (interp) info.interpreter = cString(readAt(fd, interp.offset, Math.min(interp.filesz, 4096)), 0);

  const dyn = phdrs.find((p) => p.type === PT_DYNAMIC);
  if (!dyn) return info; // static binary
  const d = readAt(fd, dyn.offset, Math.min(dyn.filesz, 1 << 20));
  const ent = is64 ? 16 : 8;
  const tags: Array<[bigint, bigint]> = [];
  for (let o = 0; o + ent <= d.length; o += ent) {
    const tag = is64 ? d.readBigInt64LE(o) : BigInt(d.readInt32LE(o));
    const val = is64 ? d.readBigUInt64LE(o + 8) : BigInt(d.readUInt32LE(o + 4));
    if (tag === DT_NULL) break;
    tags.push([tag, val]);
  }
  const strtabAddr = tags.find(([t]) => t === DT_STRTAB)?.[1];
  const strsz = Number(tags.find(([t]) => t === DT_STRSZ)?.[1] ?? 0n);
  if (strtabAddr === undefined) return info;
  // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD covering it.
  const load = phdrs.find(
    (p) => p.type === PT_LOAD && strtabAddr >= p.vaddr && strtabAddr < p.vaddr + BigInt(p.filesz),
  );
  if (!load) throw notElf(path, "DT_STRTAB outside every PT_LOAD segment");
  const strOff = load.offset + Number(strtabAddr - load.vaddr);
  const strtab = readAt(fd, strOff, Math.min(strsz || 65536, 1 << 22));
  for (const [tag, val] of tags) {
    const off = Number(val);
    if (tag === DT_NEEDED) info.needed.push(cString(strtab, off));
    else if (tag === DT_SONAME) info.soname = cString(strtab, off);
    else if (tag === DT_RPATH) info.rpath.push(...splitPath(cString(strtab, off)));
    else if (tag === DT_RUNPATH) info.runpath.push(...splitPath(cString(strtab, off)));
  }
  return info;
}

function cString(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString("utf8", off, end < 0 ? buf.length : end);
}

function splitPath(s: string): string[] {
  return s.split(":").filter((x) => x.length > 0);
}
