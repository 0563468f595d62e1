// Transitive shared-library closure of an ELF binary, resolved the way glibc's ld.so resolves it,
// by reading the ELF files ourselves (no ldd: ldd runs the loader, which runs code from the binary
// on some setups, and costs a process per file).
//
// Search order for a DT_NEEDED name without a slash (glibc, LD_LIBRARY_PATH ignored because jailed
// processes get a clean environment):
//   1. DT_RPATH of the requesting object, then of the executable — only if the requester has no
//      DT_RUNPATH;
//   2. DT_RUNPATH of the requesting object;
//   3. /etc/ld.so.cache;
//   4. the default dirs (/lib/<triplet>, /usr/lib/<triplet>, /lib, /usr/lib).
// A candidate counts only if it is an ELF of the same class and machine (the loader skips others).
// $ORIGIN (and ${ORIGIN}) expands to the directory of the requesting object (the executable's
// real dir); $LIB to the multiarch lib dir. Paths are reported normalised (".." folded). A name already loaded (by soname or DT_NEEDED name) is not searched again.

import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { QemuJailError } from "../errors.js";
import { ELF_MACHINE, type ElfHeaderInfo, readElf } from "./elf.js";
import { LDCACHE_FLAGS, ldCacheIndex, parseLdCache } from "./ldcache.js";
import type { ElfInfo } from "./types.js";

/** Options for `elfDependencies`. */
export interface ElfDependencyOptions {
  /** ld.so.cache to consult; default /etc/ld.so.cache. `null`: none. */
  ldCachePath?: string | null;
  /** Default search dirs after the cache; default the multiarch dirs of the binary's machine. */
  defaultDirs?: string[];
  /** Shared between calls (e.g. QEMU and its modules) so each library is parsed once. */
  memo?: Map<string, ElfHeaderInfo | undefined>;
}

const TRIPLET: Record<number, string> = {
  [ELF_MACHINE.x86_64]: "x86_64-linux-gnu",
  [ELF_MACHINE.aarch64]: "aarch64-linux-gnu",
};
const CACHE_FLAGS: Record<number, number> = {
  [ELF_MACHINE.x86_64]: LDCACHE_FLAGS.x86_64,
  [ELF_MACHINE.aarch64]: LDCACHE_FLAGS.aarch64,
};

/** The dynamic loader's path per e_machine, for modules and libraries that have no PT_INTERP. */
const DEFAULT_INTERPRETER: Record<number, string> = {
  [ELF_MACHINE.x86_64]: "/lib64/ld-linux-x86-64.so.2",
  [ELF_MACHINE.aarch64]: "/lib/ld-linux-aarch64.so.1",
};

const cacheMemo = new Map<
  string,
  { mtimeMs: number; size: number; entries: ReturnType<typeof parseLdCache> }
>();

function loadCache(path: string): ReturnType<typeof parseLdCache> {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return [];
  }
  const hit = cacheMemo.get(path);
  if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.entries;
  let entries: ReturnType<typeof parseLdCache>;
  try {
    entries = parseLdCache(readFileSync(path));
  } catch (e) {
    throw new QemuJailError("HOST_LDCACHE_INVALID", `cannot parse ${path}: ${(e as Error).message}`, {
      exit: "host",
      hint: "run `ldconfig` to regenerate the loader cache",
      cause: e,
    });
  }
  cacheMemo.set(path, { mtimeMs: st.mtimeMs, size: st.size, entries });
  return entries;
}

interface Loaded {
  path: string;
  info: ElfHeaderInfo;
  origin: string;
}

/** Resolves the interpreter and every shared library `path` loads, transitively, in load order. */
export function elfDependencies(path: string, opts: ElfDependencyOptions = {}): ElfInfo {
  const memo = opts.memo ?? new Map<string, ElfHeaderInfo | undefined>();
  const readOnce = (p: string) => {
    if (!memo.has(p)) memo.set(p, safeReadElf(p));
    return memo.get(p);
  };
  const exe = readElf(path);
  const triplet = TRIPLET[exe.machine];
  const cache =
    opts.ldCachePath === null
      ? new Map<string, string>()
      : ldCacheIndex(loadCache(opts.ldCachePath ?? "/etc/ld.so.cache"), CACHE_FLAGS[exe.machine] ?? -1);
  const defaults =
    opts.defaultDirs ??
    (triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`, "/lib", "/usr/lib"] : ["/lib", "/usr/lib"]);

  const result: ElfInfo = { libraries: [], resolved: [] };
  const byName = new Map<string, string>();
  if (exe.interpreter) {
    result.interpreter = exe.interpreter;
    result.interpreterRealPath = realOrSelf(exe.interpreter);
  }
  // The loader is already mapped (it runs the program, or the program that dlopens a module):
  // a DT_NEEDED on it (libc has one) resolves to it under its soname and is not a library to add.
  const loader = exe.interpreter ?? DEFAULT_INTERPRETER[exe.machine];
  if (loader) {
    const ld = readOnce(loader);
    byName.set(ld?.soname ?? basename(loader), loader);
    byName.set(basename(loader), loader);
  }

  // $ORIGIN: the executable's real dir (the kernel gives ld.so its resolved path); for libraries
  // the dir of the path they were found at, as ld.so does.
  const main: Loaded = { path, info: exe, origin: dirname(realOrSelf(path)) };
  const queue: Loaded[] = [main];
  while (queue.length > 0) {
    const obj = queue.shift()!;
    for (const name of obj.info.needed) {
      if (byName.has(name)) continue;
      const found = search(name, obj, main, cache, defaults, triplet, readOnce);
      if (!found) {
        throw new QemuJailError(
          "HOST_ELF_MISSING_LIB",
          `${obj.path} needs ${name}, which the loader cannot find`,
          {
            exit: "host",
            hint: "install the package providing it, or run `ldconfig`",
            detail: { binary: path, neededBy: obj.path, name },
          },
        );
      }
      byName.set(name, found.path);
      if (found.info.soname) byName.set(found.info.soname, found.path);
      result.libraries.push(found.path);
      result.resolved!.push({ name, path: found.path, realPath: realOrSelf(found.path), neededBy: obj.path });
      queue.push({ path: found.path, info: found.info, origin: dirname(found.path) });
    }
  }
  return result;
}

function search(
  name: string,
  obj: Loaded,
  main: Loaded,
  cache: Map<string, string>,
  defaults: string[],
  triplet: string | undefined,
  readOnce: (p: string) => ElfHeaderInfo | undefined,
): { path: string; info: ElfHeaderInfo } | undefined {
  const want = main.info;
  const accept = (p: string) => {
    const info = readOnce(p);
    return info && info.bits === want.bits && info.machine === want.machine ? { path: p, info } : undefined;
  };
  if (name.includes("/")) return accept(name);
  const expand = (dir: string, o: Loaded) =>
    dir
      .replace(/\$\{ORIGIN\}|\$ORIGIN/g, o.origin)
      .replace(/\$\{LIB\}|\$LIB/g, triplet ? `lib/${triplet}` : "lib");
  const dirs: string[] = [];
  if (obj.info.runpath.length === 0) {
    dirs.push(...obj.info.rpath.map((d) => expand(d, obj)));
    if (obj !== main && main.info.runpath.length === 0)
      dirs.push(...main.info.rpath.map((d) => expand(d, main)));
  }
  dirs.push(...obj.info.runpath.map((d) => expand(d, obj)));
  for (const d of dirs) {
    const hit = accept(join(d, name));
    if (hit) return hit;
  }
  const cached = cache.get(name);
  if (cached) {
    const hit = accept(cached);
    if (hit) return hit;
  }
  for (const d of defaults) {
    const hit = accept(join(d, name));
    if (hit) return hit;
  }
  return undefined;
}

function safeReadElf(p: string): ElfHeaderInfo | undefined {
  try {
    return readElf(p);
  } catch {
    return undefined;
  }
}

function realOrSelf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}
