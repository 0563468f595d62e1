// Reader for glibc's /etc/ld.so.cache (the "glibc-ld.so.cache1.1" format ldconfig writes since
// glibc 2.32; older files prefix it with the legacy "ld.so-1.7.0" table, which we skip).
//
// Layout (little-endian on the hosts we support):
//   header   magic[17] "glibc-ld.so.cache" + version[3] "1.1", u32 nlibs, u32 len_strings,
//            u8 flags, u8 pad[3], u32 extension_offset, u32 unused[3]            (48 bytes)
//   entries  nlibs x { i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap }  (24 bytes)
//   strings  key/value are offsets from the start of this new-format header.

const NEW_MAGIC = "glibc-ld.so.cache1.1";
const OLD_MAGIC = "ld.so-1.7.0";
const HEADER = 48;
const ENTRY = 24;

/** ld.so.cache entry flags: the ELF libc6 type plus an architecture qualifier. */
export const LDCACHE_FLAGS = { x86_64: 0x0303, aarch64: 0x0a03 } as const;

/** One library the cache knows: its soname and the path the loader would open. */
export interface LdCacheEntry {
  name: string;
  path: string;
  flags: number;
  hwcap: bigint;
}

/** Parses an ld.so.cache image. Throws on a file in an unknown format. */
export function parseLdCache(buf: Buffer): LdCacheEntry[] {
  let base = 0;
  if (buf.toString("latin1", 0, OLD_MAGIC.length) === OLD_MAGIC) {
    // Legacy table: u32 nlibs then 12-byte entries; the new header follows, 8-byte aligned.
    const n = buf.readUInt32LE(OLD_MAGIC.length + 1);
    base = (OLD_MAGIC.length + 1 + 4 + n * 12 + 7) & ~7;
  }
  if (buf.toString("latin1", base, base + NEW_MAGIC.length) !== NEW_MAGIC) {
    throw new Error("not a glibc-ld.so.cache1.1 file");
  }
  const nlibs = buf.readUInt32LE(base + 20);
  if (base + HEADER + nlibs * ENTRY > buf.length) throw new Error("truncated ld.so.cache");
  const out: LdCacheEntry[] = [];
  for (let i = 0; i < nlibs; i++) {
    const o = base + HEADER + i * ENTRY;
    out.push({
      flags: buf.readInt32LE(o),
      name: cstr(buf, base + buf.readUInt32LE(o + 4)),
      path: cstr(buf, base + buf.readUInt32LE(o + 8)),
      hwcap: buf.readBigUInt64LE(o + 16),
    });
  }
  return out;
}

/** soname → path for one architecture, first entry wins (the order the loader searches). */
export function ldCacheIndex(entries: LdCacheEntry[], flags: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of entries) {
    if (e.flags === flags && !m.has(e.name)) m.set(e.name, e.path);
  }
  return m;
}

function cstr(buf: Buffer, off: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString("utf8", off, end < 0 ? buf.length : end);
}
