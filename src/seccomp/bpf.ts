// Classic BPF as seccomp uses it: opcodes, the 8-byte `struct sock_filter` encoding (host
// little-endian layout: u16 code, u8 jt, u8 jf, u32 k) and the seccomp_data offsets.

/** One classic BPF instruction. */
export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Instruction classes and fields (linux/bpf_common.h).
export const BPF = {
  LD: 0x00,
  LDX: 0x01,
  ST: 0x02,
  STX: 0x03,
  ALU: 0x04,
  JMP: 0x05,
  RET: 0x06,
  MISC: 0x07,
  W: 0x00,
  H: 0x08,
  B: 0x10,
  IMM: 0x00,
  ABS: 0x20,
  IND: 0x40,
  MEM: 0x60,
  LEN: 0x80,
  MSH: 0xa0,
  ADD: 0x00,
  SUB: 0x10,
  MUL: 0x20,
  DIV: 0x30,
  OR: 0x40,
  AND: 0x50,
  LSH: 0x60,
  RSH: 0x70,
  NEG: 0x80,
  MOD: 0x90,
  XOR: 0xa0,
  JA: 0x00,
  JEQ: 0x10,
  JGT: 0x20,
  JGE: 0x30,
  JSET: 0x40,
  K: 0x00,
  X: 0x08,
  A: 0x10,
  TAX: 0x00,
  TXA: 0x80,
} as const;

/** Offsets into struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }. */
export const SECCOMP_DATA = { nr: 0, arch: 4, ip: 8, args: 16, size: 64 } as const;

/** Offset of the low (lo=true) or high 32-bit word of argument `i` (both arches are little-endian). */
export function argOffset(i: number, hi: boolean): number {
  return SECCOMP_DATA.args + 8 * i + (hi ? 4 : 0);
}

/** The kernel's limit on a filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** Encodes instructions as the kernel takes them: 8 bytes each, little-endian. */
export function encodeProgram(insns: readonly Insn[]): Uint8Array {
  const out = new Uint8Array(insns.length * 8);
  const view = new DataView(out.buffer);
  insns.forEach((ins, i) => {
    view.setUint16(i * 8, ins.code, true);
    view.setUint8(i * 8 + 2, ins.jt);
    view.setUint8(i * 8 + 3, ins.jf);
    view.setUint32(i * 8 + 4, ins.k >>> 0, true);
  });
  return out;
}

/** Decodes a raw program; its length must be a multiple of 8. */
export function decodeProgram(program: Uint8Array): Insn[] {
  if (program.length % 8 !== 0)
    throw new RangeError(`BPF program length ${program.length} is not a multiple of 8`);
  const view = new DataView(program.buffer, program.byteOffset, program.byteLength);
  const out: Insn[] = [];
  for (let off = 0; off < program.length; off += 8) {
    out.push({
      code: view.getUint16(off, true),
      jt: view.getUint8(off + 2),
      jf: view.getUint8(off + 3),
      k: view.getUint32(off + 4, true),
    });
  }
  return out;
}
