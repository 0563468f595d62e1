// Facts about the QEMU binary and its vhost-user backends: version, ELF library closure, the
// module dir (accelerators, UIs... loaded with dlopen, so not in DT_NEEDED) with each module's own
// closure, and the firmware search dirs with every file they hold, symlinks followed.

import { readdir, realpath } from "node:fs/promises";
import { join } from "node:path";
import { QemuJailError } from "../errors.js";
import type { ProbeCache } from "./cache.js";
import { elfDependencies } from "./deps.js";
import type { ElfHeaderInfo } from "./elf.js";
import { findExecutable, runQuery } from "./exec.js";
import type { BackendBinaryFacts, ElfInfo, FirmwareFile, QemuBinaryFacts } from "./types.js";

/** Debian's QEMU 7.2 firmware path (configure --firmwarepath), searched in this order. */
export const DEFAULT_FIRMWARE_DIRS = ["/usr/share/qemu", "/usr/share/seabios", "/usr/lib/ipxe/qemu"];

/** Module dirs QEMU builds commonly use; the first holding modules wins. */
export function defaultModuleDirs(triplet: string): string[] {
  return [`/usr/lib/${triplet}/qemu`, "/usr/lib64/qemu", "/usr/lib/qemu"];
}

/** "QEMU emulator version 7.2.22 (Debian ...)" → "7.2.22" and its parts. */
export function parseQemuVersion(
  text: string,
): { version: string; parts: [number, number, number] } | undefined {
  const m = /version (\d+)\.(\d+)\.(\d+)/.exec(text) ?? /\b(\d+)\.(\d+)(?:\.(\d+))?\b/.exec(text);
  if (!m) return undefined;
  const parts: [number, number, number] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  return { version: parts.join("."), parts };
}

/** virtiofsd flavour from its --version text: QEMU's C daemon or the Rust one. */
export function virtiofsdFlavour(versionText: string, helpText = ""): "c" | "rust" | undefined {
  if (/FUSE kernel interface|^virtiofsd version \d/m.test(versionText)) return "c";
  if (/^virtiofsd v?\d+\.\d+/m.test(versionText) || /--shared-dir/.test(helpText)) return "rust";
  if (/-o source=/.test(helpText)) return "c";
  return undefined;
}

/** `elfDependencies`, answered from `cache` while the binary, ld.so.cache and every library are unchanged. */
export function cachedElf(
  cache: ProbeCache | undefined,
  path: string,
  memo: Map<string, ElfHeaderInfo | undefined>,
  ldCachePath?: string,
): ElfInfo {
  const key = `elf:${path}:${ldCachePath ?? ""}`;
  const hit = cache?.get<ElfInfo>(key);
  if (hit) return hit;
  const info = elfDependencies(path, { memo, ldCachePath });
  const files = [path, ldCachePath ?? "/etc/ld.so.cache", ...(info.resolved ?? []).map((r) => r.realPath)];
  if (info.interpreterRealPath) files.push(info.interpreterRealPath);
  cache?.set(key, files, info);
  return info;
}

/** `path args` output, answered from `cache` while the binary is unchanged. */
export async function cachedQuery(
  cache: ProbeCache | undefined,
  path: string,
  args: string[],
): Promise<string> {
  const key = `run:${path}:${args.join(" ")}`;
  const hit = cache?.get<string>(key);
  if (hit !== undefined) return hit;
  const out = await runQuery(path, args);
  cache?.set(key, [path], out);
  return out;
}

/** Options for the QEMU probe. */
export interface QemuProbeOptions {
  binary: string;
  triplet: string;
  firmwareDirs?: string[];
  moduleDirs?: string[];
  ldCachePath?: string;
  memo?: Map<string, ElfHeaderInfo | undefined>;
  /**
   * Modules whose library closure is resolved: "accel" (default: accel-*.so, the only modules the
   * catalogue's devices make QEMU load) or "all" (adds ~40 ms for the spice/GL/USB ones).
   */
  moduleClosures?: "accel" | "all";
  cache?: ProbeCache;
}

/** Probes the QEMU system emulator. */
export async function probeQemu(opts: QemuProbeOptions): Promise<QemuBinaryFacts> {
  const path = await findExecutable(opts.binary);
  if (!path) {
    throw new QemuJailError("HOST_QEMU_MISSING", `QEMU binary ${opts.binary} not found`, {
      exit: "host",
      location: { key: "qemu.binary" },
      hint: "apt-get install qemu-system-x86 (or set qemu.binary to its absolute path)",
    });
  }
  const memo = opts.memo ?? new Map();
  // Start the version query first: it runs while we parse ELF files in this process.
  const versionP = cachedQuery(opts.cache, path, ["--version"]);
  const firmwareP = probeFirmware(opts.firmwareDirs ?? DEFAULT_FIRMWARE_DIRS);
  const elf = cachedElf(opts.cache, path, memo, opts.ldCachePath);
  const mods = await probeModules(
    opts.moduleDirs ?? defaultModuleDirs(opts.triplet),
    memo,
    opts.ldCachePath,
    opts.moduleClosures === "all" ? () => true : (n) => n.startsWith("accel-"),
    opts.cache,
  );
  const [versionText, fw] = await Promise.all([versionP, firmwareP]);
  const v = parseQemuVersion(versionText);
  if (!v) {
    throw new QemuJailError(
      "HOST_QEMU_VERSION",
      `cannot read the version of ${path} from: ${versionText.slice(0, 200)}`,
      {
        exit: "host",
        hint: "is this a QEMU system emulator?",
      },
    );
  }
  const facts: QemuBinaryFacts = {
    path,
    version: v.version,
    versionParts: v.parts,
    elf,
    modules: mods.modules,
    moduleElf: mods.moduleElf,
    firmwareDirs: fw.dirs,
    firmware: fw.files,
  };
  if (mods.dir) facts.moduleDir = mods.dir;
  return facts;
}

async function probeModules(
  dirs: string[],
  memo: Map<string, ElfHeaderInfo | undefined>,
  ldCachePath: string | undefined,
  resolveClosure: (name: string) => boolean,
  cache: ProbeCache | undefined,
): Promise<{ dir?: string; modules: string[]; moduleElf: Record<string, ElfInfo> }> {
  for (const dir of dirs) {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith(".so")).sort();
    if (names.length === 0) continue;
    const moduleElf: Record<string, ElfInfo> = {};
    for (const n of names.filter(resolveClosure))
      moduleElf[n] = cachedElf(cache, join(dir, n), memo, ldCachePath);
    return { dir, modules: names, moduleElf };
  }
  return { modules: [], moduleElf: {} };
}

/** Every file in the firmware dirs by name (first dir wins), with its symlink target resolved. */
export async function probeFirmware(
  dirs: string[],
): Promise<{ dirs: string[]; files: Record<string, FirmwareFile> }> {
  const listed = await Promise.all(
    dirs.map(async (d) => ({ d, entries: await readdir(d, { withFileTypes: true }).catch(() => undefined) })),
  );
  const present = listed.filter((x) => x.entries !== undefined);
  const files: Record<string, FirmwareFile> = {};
  const pending: Array<Promise<void>> = [];
  for (const { d, entries } of present) {
    for (const e of entries!) {
      if (!(e.isFile() || e.isSymbolicLink()) || e.name in files) continue;
      const path = join(d, e.name);
      const f: FirmwareFile = { path, realPath: path };
      files[e.name] = f;
      if (e.isSymbolicLink()) {
        pending.push(
          realpath(path).then(
            (r) => {
              f.realPath = r;
            },
            () => {
              delete files[e.name]; // dangling link: QEMU could not load it either
            },
          ),
        );
      }
    }
  }
  await Promise.all(pending);
  const sorted = Object.fromEntries(
    Object.keys(files)
      .sort()
      .map((k) => [k, files[k]!]),
  );
  return { dirs: present.map((x) => x.d), files: sorted };
}

/** Probes a vhost-user backend binary (virtiofsd or qemu-storage-daemon). */
export async function probeBackend(
  kind: "virtiofsd" | "qemu-storage-daemon",
  candidates: string[],
  memo: Map<string, ElfHeaderInfo | undefined>,
  ldCachePath?: string,
  cache?: ProbeCache,
): Promise<BackendBinaryFacts | undefined> {
  let path: string | undefined;
  for (const c of candidates) {
    path = await findExecutable(c);
    if (path) break;
  }
  if (!path) return undefined;
  const versionP = cachedQuery(cache, path, ["--version"]);
  const elf = cachedElf(cache, path, memo, ldCachePath);
  const text = await versionP;
  const v = parseQemuVersion(text);
  const facts: BackendBinaryFacts = { path, version: v?.version ?? text.split("\n")[0]!.trim(), elf };
  if (kind === "virtiofsd") {
    let flavour = virtiofsdFlavour(text);
    if (!flavour)
      flavour = virtiofsdFlavour(text, await cachedQuery(cache, path, ["--help"]).catch(() => ""));
    if (flavour) facts.flavour = flavour;
  }
  return facts;
}
