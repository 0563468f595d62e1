// probeHost: the one place qemu-jail looks at the host. Every part runs concurrently (the
// `--version` queries are child processes; ELF parsing runs meanwhile), each part's time is
// recorded in `timings`, and every failure is a QemuJailError of the host class with a hint.

import { access, constants, open, readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Arch, VmConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";
import { ProbeCache } from "./cache.js";
import { probeCgroups } from "./cgroup.js";
import { probeDevices } from "./devices.js";
import type { ElfHeaderInfo } from "./elf.js";
import { parseKeyValues, runQuery } from "./exec.js";
import { probeImage } from "./images.js";
import { probeKernelImage } from "./kernel-image.js";
import { probeLsm } from "./lsm.js";
import { probeBackend, probeQemu } from "./qemu.js";
import type { HostFacts, ImageFacts, KernelImageFacts } from "./types.js";

/** Where probeHost looks; each root is injectable so tests can point it at a fake tree. */
export interface ProbeOptions {
  /** Default /proc (self/mountinfo, self/cgroup, sys/kernel/osrelease). */
  procRoot?: string;
  /** Default /sys (kernel/security/lsm, fs/selinux, module/apparmor). */
  sysRoot?: string;
  /** Prefix for device nodes; default "/" (facts are keyed by the real /dev/... path). */
  devRoot?: string;
  /** Default /etc/ld.so.cache. */
  ldCachePath?: string;
  /** Default native/build/qemu-jail-helper in this package. */
  helperPath?: string;
  firmwareDirs?: string[];
  moduleDirs?: string[];
  virtiofsdCandidates?: string[];
  storageDaemonCandidates?: string[];
  apparmorParserDirs?: string[];
  /** Which QEMU modules get their library closure resolved (see QemuProbeOptions). */
  moduleClosures?: "accel" | "all";
  /**
   * A file caching `--version` answers and ELF closures between runs, each entry valid while the
   * files it depends on are unchanged (see cache.ts). Absent: no cache, nothing written.
   */
  cacheFile?: string;
}

const TRIPLET: Record<Arch, string> = { x86_64: "x86_64-linux-gnu", aarch64: "aarch64-linux-gnu" };

/** Architecture of this Node process, in qemu-jail's naming. */
export function hostArch(): Arch {
  if (process.arch === "x64") return "x86_64";
  if (process.arch === "arm64") return "aarch64";
  throw new QemuJailError("HOST_ARCH_UNSUPPORTED", `unsupported host architecture ${process.arch}`, {
    exit: "host",
    hint: "qemu-jail supports x86_64 and aarch64 hosts",
  });
}

/** Default location of the native helper (same relative place from src/host and dist/host). */
export function defaultHelperPath(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../native/build/qemu-jail-helper");
}

/** Probes everything `plan` needs; with a config, also its images and the backends it uses. */
export async function probeHost(config?: VmConfig, opts: ProbeOptions = {}): Promise<HostFacts> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const timed = <T>(name: string, p: Promise<T>): Promise<T> =>
    p.finally(() => {
      timings[name] = Math.round((performance.now() - t0) * 10) / 10;
    });
  const arch = hostArch();
  const procRoot = opts.procRoot ?? "/proc";
  const sysRoot = opts.sysRoot ?? "/sys";
  const helperPath = opts.helperPath ?? defaultHelperPath();
  const memo = new Map<string, ElfHeaderInfo | undefined>();
  const cache = opts.cacheFile ? new ProbeCache(opts.cacheFile) : undefined;
  const needFs = config ? config.share.length > 0 : undefined;
  const needQsd = config ? config.disk.some((d) => d.backend === "vhost-user") : undefined;

  // Child processes first, so they run while this process parses files.
  const helperP = timed("helper", probeHelper(helperPath));
  const kernelP = timed("kernel", readKernelRelease(procRoot));
  const nofileP = timed("nofile", nofileMax(procRoot));
  const cgroupP = timed("cgroup", probeCgroups(procRoot));
  const devicesP = timed("devices", probeDevices(opts.devRoot ?? "/"));
  const kvmP = timed(
    "kvm",
    Promise.all([canOpenKvm(join(opts.devRoot ?? "/", "dev/kvm")), cpuCanVirtualize(procRoot, arch)]).then(
      ([opens, cpu]) => opens && cpu,
    ),
  );
  const imagesP = timed("images", config ? probeImages(config) : Promise.resolve({}));
  const kernelsP = timed("kernels", config ? probeKernels(config) : Promise.resolve(undefined));
  const qemuP = timed(
    "qemu",
    probeQemu({
      binary: config?.qemu.binary ?? `qemu-system-${arch}`,
      triplet: TRIPLET[arch],
      firmwareDirs: opts.firmwareDirs,
      moduleDirs: opts.moduleDirs,
      ldCachePath: opts.ldCachePath,
      moduleClosures: opts.moduleClosures,
      memo,
      cache,
    }),
  );
  const fsP = timed(
    "virtiofsd",
    needFs === false
      ? Promise.resolve(undefined)
      : probeBackend(
          "virtiofsd",
          opts.virtiofsdCandidates ?? ["/usr/lib/qemu/virtiofsd", "/usr/libexec/virtiofsd", "virtiofsd"],
          memo,
          opts.ldCachePath,
          cache,
        ),
  );
  const qsdP = timed(
    "storageDaemon",
    needQsd === false
      ? Promise.resolve(undefined)
      : probeBackend(
          "qemu-storage-daemon",
          opts.storageDaemonCandidates ?? ["qemu-storage-daemon"],
          memo,
          opts.ldCachePath,
          cache,
        ),
  );
  const lsmP = timed(
    "lsm",
    helperP.then((helperProbe) =>
      probeLsm({
        sysRoot,
        helperProbe,
        parserDirs: opts.apparmorParserDirs ?? ["/usr/sbin", "/sbin", "/usr/bin", "/bin"],
      }),
    ),
  );

  const [
    kernelRelease,
    cgroup,
    devices,
    images,
    qemu,
    virtiofsd,
    storageDaemon,
    lsm,
    kvmOpens,
    helper,
    kernels,
  ] = await Promise.all([
    kernelP,
    cgroupP,
    devicesP,
    imagesP,
    qemuP,
    fsP,
    qsdP,
    lsmP,
    kvmP,
    helperP,
    kernelsP,
  ]);
  const nofile = await nofileP;
  if (needFs && !virtiofsd)
    throw missingBackend("virtiofsd", "share", "apt-get install qemu-system-common (Debian 12) or virtiofsd");
  if (needQsd && !storageDaemon)
    throw missingBackend("qemu-storage-daemon", "disk", "apt-get install qemu-utils");

  const facts: HostFacts = {
    arch,
    kernelRelease,
    // The node can exist without a usable KVM (module unloaded: open fails with ENXIO/ENODEV);
    // the helper's probe, when built, may also report `kvm=0|1` from KVM_GET_API_VERSION.
    hasKvm: devices["/dev/kvm"] !== undefined && kvmOpens && helper?.kvm !== "0",
    devices,
    cgroup,
    lsm,
    qemu,
    images,
    helperPath,
    timings,
  };
  cache?.save();
  if (virtiofsd) facts.virtiofsd = virtiofsd;
  if (storageDaemon) facts.storageDaemon = storageDaemon;
  if (nofile !== undefined) facts.nofileMax = nofile;
  if (kernels) facts.kernels = kernels;
  timings.total = Math.round((performance.now() - t0) * 10) / 10;
  return facts;
}

/** Opening /dev/kvm read-write is harmless (no VM is created until an ioctl) and tells us it works. */
async function canOpenKvm(path: string): Promise<boolean> {
  try {
    const fh = await open(path, "r+");
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * On x86 a /dev/kvm that opens is not enough: under some nested setups the node exists and
 * answers KVM_GET_API_VERSION, but the CPU exposes no vmx/svm and QEMU aborts when it creates a
 * vCPU ("failed to set MSR"). Require the CPU flag, as libvirt's capability probe does.
 */
async function cpuCanVirtualize(procRoot: string, arch: string): Promise<boolean> {
  if (arch !== "x86_64") return true;
  try {
    const cpuinfo = await readFile(join(procRoot, "cpuinfo"), "utf8");
    return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo);
  } catch {
    return false;
  }
}

function missingBackend(bin: string, key: string, hint: string): QemuJailError {
  return new QemuJailError("HOST_BACKEND_MISSING", `the config needs ${bin}, which is not installed`, {
    exit: "host",
    location: { key },
    hint,
  });
}

/** See HostFacts.nofileMax: fs.nr_open with CAP_SYS_RESOURCE (bit 24), else our own hard limit. */
async function nofileMax(procRoot: string): Promise<number | undefined> {
  try {
    const status = await readFile(join(procRoot, "self/status"), "utf8");
    const eff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? "0"}`);
    if (eff & (1n << 24n)) return Number((await readFile(join(procRoot, "sys/fs/nr_open"), "utf8")).trim());
    const limits = await readFile(join(procRoot, "self/limits"), "utf8");
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
    return hard === undefined || hard === "unlimited" ? undefined : Number(hard);
  } catch {
    return undefined;
  }
}

async function readKernelRelease(procRoot: string): Promise<string> {
  try {
    return (await readFile(join(procRoot, "sys/kernel/osrelease"), "utf8")).trim();
  } catch (e) {
    throw new QemuJailError("HOST_PROC_UNREADABLE", `cannot read ${procRoot}/sys/kernel/osrelease`, {
      exit: "host",
      hint: "qemu-jail needs /proc mounted",
      cause: e,
    });
  }
}

/** key=value facts from `qemu-jail-helper --probe`; undefined when the helper is not built yet. */
async function probeHelper(path: string): Promise<Record<string, string> | undefined> {
  const exists = await access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
  if (!exists) return undefined;
  try {
    return parseKeyValues(await runQuery(path, ["--probe"], 3000));
  } catch (e) {
    throw new QemuJailError("HOST_HELPER_PROBE", `${path} --probe failed`, {
      exit: "host",
      hint: "rebuild the native helper: make -C native",
      cause: e,
    });
  }
}

/** The direct-boot kernel's format and PVH note (they decide QEMU's option ROM); none for firmware boot. */
async function probeKernels(config: VmConfig): Promise<Record<string, KernelImageFacts> | undefined> {
  const { boot } = config;
  if (boot.mode !== "kernel") return undefined;
  try {
    return { [boot.kernel]: await probeKernelImage(boot.kernel) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QemuJailError("HOST_KERNEL_UNREADABLE", `cannot read kernel ${boot.kernel}: ${code ?? e}`, {
      exit: "config",
      location: { key: "boot.kernel" },
      hint: code === "ENOENT" ? "fix the path (a bzImage or a PVH vmlinux)" : "check its permissions",
      cause: e,
      detail: { path: boot.kernel },
    });
  }
}

async function probeImages(config: VmConfig): Promise<Record<string, ImageFacts>> {
  const jobs: Array<[string, string]> = [];
  config.disk.forEach((d, i) => {
    jobs.push([d.path, `disk[${i}].path`]);
    d.backing.forEach((b, j) => {
      jobs.push([b.path, `disk[${i}].backing[${j}].path`]);
    });
  });
  const facts = await Promise.all(jobs.map(([p, k]) => probeImage(p, k)));
  return Object.fromEntries(facts.map((f) => [f.path, f]));
}
