// buildGuest: a bootable test/demo guest from the installed Debian kernel and busybox-static.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { QemuJailError } from "../errors.js";
import { cached, contentHash, defaultCacheDir } from "./cache.js";
import { type CpioEntry, writeCpio } from "./cpio.js";
import { DEFAULT_GUEST_SCRIPT, INIT_PATHS, initScript } from "./init.js";
import { extractVmlinux, findKernel, hasPvhNote } from "./kernel.js";
import { DEFAULT_GUEST_MODULES, resolveModules } from "./modules.js";

/** Bump when the layout of the initramfs changes, so cached archives are rebuilt. */
const FORMAT = "qj-guest-1";

export interface GuestFile {
  /** Absolute path inside the guest, e.g. "/etc/marker". */
  path: string;
  /** Contents, or `source` to copy a host file. */
  data?: string | Uint8Array;
  source?: string;
  mode?: number;
}

export interface BuildGuestOptions {
  /** Shell script (busybox sh) run after the prelude; its exit status is printed. Default: device checks. */
  script?: string;
  /** Replace PID 1 by the script (`exec`) instead of running it as a child; it must power off itself. */
  exec?: boolean;
  /** Modules to load (with dependencies). Default DEFAULT_GUEST_MODULES. */
  modules?: readonly string[];
  /** Extra files in the initramfs. */
  files?: GuestFile[];
  /** Kernel version; default the newest installed with modules. */
  kernelVersion?: string;
  /** Boot the extracted uncompressed vmlinux via PVH when possible (default true: saves seconds under TCG). */
  uncompressedKernel?: boolean;
  /** gzip the initramfs (default false: an uncompressed one unpacks faster under TCG). */
  gzip?: boolean;
  busybox?: string;
  cacheDir?: string;
}

/** A built guest: pass `kernel` to -kernel, `initrd` to -initrd, `cmdline` (plus yours) to -append. */
export interface BuiltGuest {
  kernel: string;
  initrd: string;
  kernelVersion: string;
  /** The installed bzImage the kernel came from. */
  vmlinuz: string;
  modulesDir: string;
  /** True when `kernel` is the uncompressed ELF booted through its PVH note. */
  pvh: boolean;
  /** The .ko files loaded at boot, in order. */
  modules: string[];
  /** Kernel command line the init expects (serial console on ttyS0, power off on panic). */
  cmdline: string;
}

/** Build (or reuse from the cache) the guest kernel image and initramfs. */
export function buildGuest(opts: BuildGuestOptions = {}): BuiltGuest {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const k = findKernel(opts.kernelVersion === undefined ? {} : { version: opts.kernelVersion });
  const modules = resolveModules(k.version, opts.modules ?? DEFAULT_GUEST_MODULES);
  const busyboxPath = opts.busybox ?? "/bin/busybox";
  const busybox = readBusybox(busyboxPath);
  const kernel = guestKernel(k.vmlinuz, k.version, cacheDir, opts.uncompressedKernel ?? true);
  const entries = initramfsEntries(busyboxPath, busybox, modules, {
    script: opts.script ?? DEFAULT_GUEST_SCRIPT,
    exec: opts.exec ?? false,
    files: opts.files ?? [],
  });
  const gzip = opts.gzip ?? false;
  const key = contentHash([FORMAT, String(gzip), ...entries.flatMap(entryKey)]);
  const initrd = cached(cacheDir, `initrd-${key.slice(0, 24)}.cpio${gzip ? ".gz" : ""}`, () => {
    const cpio = writeCpio(entries);
    return gzip ? gzipSync(cpio, { level: 6 }) : cpio;
  });
  return {
    kernel: kernel.path,
    initrd,
    kernelVersion: k.version,
    vmlinuz: k.vmlinuz,
    modulesDir: k.modulesDir,
    pvh: kernel.pvh,
    modules,
    cmdline: "console=ttyS0 panic=-1 rdinit=/init",
  };
}

function entryKey(e: CpioEntry): Array<string | Uint8Array> {
  if (e.type === "file") return [e.type, e.path, String(e.mode ?? 0), e.data];
  return [JSON.stringify(e)];
}

function readBusybox(path: string): Buffer {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new QemuJailError("GUEST_NO_BUSYBOX", `cannot read busybox at ${path}`, {
      exit: "host",
      hint: "install busybox-static (scripts/setup-host.sh)",
      cause: e,
    });
  }
  // A dynamically linked busybox would need its libraries in the initramfs: refuse it.
  if (data.includes(Buffer.from("/lib64/ld-linux"))) {
    throw new QemuJailError("GUEST_NO_BUSYBOX", `${path} is not statically linked`, {
      exit: "host",
      hint: "install busybox-static instead of busybox",
    });
  }
  return data;
}

/** The kernel to boot: the cached uncompressed vmlinux when it has a PVH note, else the bzImage. */
function guestKernel(vmlinuz: string, version: string, cacheDir: string, uncompressed: boolean) {
  if (!uncompressed) return { path: vmlinuz, pvh: false };
  const bz = readFileSync(vmlinuz);
  const key = contentHash([bz]).slice(0, 16);
  let pvh = false;
  try {
    const path = cached(cacheDir, `vmlinux-${version}-${key}`, () => {
      const elf = extractVmlinux(bz);
      if (!elf || !hasPvhNote(elf)) throw new Error("no PVH-bootable ELF payload");
      return elf;
    });
    pvh = true;
    return { path, pvh };
  } catch {
    return { path: vmlinuz, pvh };
  }
}

/** Applet names, asked from the busybox binary we package. */
function applets(busyboxPath: string): string[] {
  const out = execFileSync(busyboxPath, ["--list"], { encoding: "utf8" });
  return out.split("\n").filter((a) => /^[\w.[-]+$/.test(a) && a !== "busybox");
}

function initramfsEntries(
  busyboxPath: string,
  busybox: Buffer,
  modules: string[],
  { script, exec, files }: { script: string; exec: boolean; files: GuestFile[] },
): CpioEntry[] {
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const mkdirs = (path: string) => {
    const parts = path.split("/").filter(Boolean);
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join("/");
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ type: "dir", path: d });
      }
    }
  };
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "run", "mnt"]) {
    mkdirs(`${d}/x`);
  }
  entries.push({ type: "char", path: "dev/console", major: 5, minor: 1, mode: 0o600 });
  entries.push({ type: "file", path: "bin/busybox", data: busybox, mode: 0o755 });
  // Applets as symlinks in /bin, so scripts can call `mount`, `insmod`, `poweroff`... directly.
  for (const a of applets(busyboxPath))
    entries.push({ type: "symlink", path: `bin/${a}`, target: "busybox" });
  entries.push({ type: "file", path: "init", data: Buffer.from(initScript(exec)), mode: 0o755 });
  for (const ko of modules) {
    mkdirs(ko);
    entries.push({ type: "file", path: ko.slice(1), data: readFileSync(ko), mode: 0o644 });
  }
  entries.push({ type: "file", path: INIT_PATHS.modules, data: Buffer.from(`${modules.join("\n")}\n`) });
  entries.push({ type: "file", path: INIT_PATHS.script, data: Buffer.from(script), mode: 0o755 });
  for (const f of files) {
    const path = f.path.replace(/^\/+/, "");
    mkdirs(path);
    const data = f.source !== undefined ? readFileSync(f.source) : Buffer.from(f.data ?? "");
    entries.push({ type: "file", path, data, mode: f.mode ?? 0o644 });
  }
  return entries;
}
