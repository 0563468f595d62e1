// probeHost on this very host: every part answers, agrees with what other tools say, and a host
// lacking something the config needs is a host-class error with a hint.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { VmConfig } from "../../../src/config/types.js";
import { extractVmlinux, findKernel } from "../../../src/guest/kernel.js";
import { probeHost } from "../../../src/host/probe.js";

const hasQemu = existsSync("/usr/bin/qemu-system-x86_64") && process.arch === "x64";

/** Just the config fields probeHost reads. */
function config(over: {
  binary?: string;
  disks?: VmConfig["disk"];
  shares?: number;
  kernel?: string;
}): VmConfig {
  return {
    boot: over.kernel
      ? { mode: "kernel", kernel: over.kernel, cmdline: "" }
      : { mode: "firmware", code: "/usr/share/OVMF/OVMF_CODE.fd" },
    qemu: { binary: over.binary ?? "qemu-system-x86_64", sandbox: false, extra_args: [] },
    disk: over.disks ?? [],
    share: Array.from({ length: over.shares ?? 0 }, (_, i) => ({
      id: `s${i}`,
      path: "/tmp",
      tag: `s${i}`,
      readonly: true,
    })),
  } as unknown as VmConfig;
}

describe.skipIf(!hasQemu)("probeHost on this host", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-probe-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports kernel, devices, cgroups, LSM, QEMU and backends", async () => {
    const f = await probeHost();
    expect(f.arch).toBe("x86_64");
    expect(f.kernelRelease).toBe(release());
    expect(f.devices["/dev/null"]).toEqual({ path: "/dev/null", type: "c", major: 1, minor: 3 });
    expect(f.devices["/dev/urandom"]).toEqual({ path: "/dev/urandom", type: "c", major: 1, minor: 9 });
    // cgroups: own paths agree with /proc/self/cgroup
    const self = readFileSync("/proc/self/cgroup", "utf8");
    for (const h of f.cgroup.v1) expect(self).toContain(`:${h.controllers.join(",")}:${h.ownPath}\n`);
    if (f.cgroup.v2) expect(self).toContain(`0::${f.cgroup.v2.ownPath}\n`);
    // QEMU: version as the binary prints it; closure contains libc; TCG module and its closure
    const v = execFileSync("/usr/bin/qemu-system-x86_64", ["--version"], { encoding: "utf8" });
    expect(v).toContain(`version ${f.qemu.version}`);
    expect(f.qemu.elf.libraries).toContain("/lib/x86_64-linux-gnu/libc.so.6");
    expect(f.qemu.modules).toContain("accel-tcg-x86_64.so");
    expect(f.qemu.moduleElf?.["accel-tcg-x86_64.so"]?.libraries).toEqual(["/lib/x86_64-linux-gnu/libc.so.6"]);
    // firmware: Debian's bios-256k.bin lives in seabios' dir; every realPath exists
    expect(f.qemu.firmwareDirs[0]).toBe("/usr/share/qemu");
    expect(f.qemu.firmware?.["bios-256k.bin"]?.realPath).toMatch(/^\/usr\/share\/(seabios|qemu)\//);
    expect(f.qemu.firmware?.["linuxboot_dma.bin"]).toBeDefined();
    for (const fw of Object.values(f.qemu.firmware ?? {})) expect(existsSync(fw.realPath)).toBe(true);
    if (existsSync("/usr/lib/qemu/virtiofsd"))
      expect(f.virtiofsd).toMatchObject({ path: "/usr/lib/qemu/virtiofsd", flavour: "c" });
    expect(f.storageDaemon?.version).toBe(f.qemu.version);
    expect(f.timings?.total).toBeGreaterThan(0);
  });

  it("asks the native helper for the Landlock ABI when it is built", async () => {
    const f = await probeHost();
    if (!existsSync(f.helperPath)) {
      // fallback documented in LsmFacts: -1 = landlock listed (or list unreadable), version unknown
      expect(f.lsm.landlockAbi === -1 || f.lsm.landlockAbi === 0).toBe(true);
      return;
    }
    const out = execFileSync(f.helperPath, ["--probe"], { encoding: "utf8" });
    const abi = Number(/^landlock_abi=(-?\d+)$/m.exec(out)?.[1]);
    expect(f.lsm.landlockAbi).toBe(Math.max(0, abi));
    expect(f.lsm.landlockAbi).toBeGreaterThan(0); // this host's kernel has Landlock (ABI 7)
  });

  it("probes the config's images: qcow2 with its backing file, raw", async () => {
    const base = join(dir, "base.raw");
    const top = join(dir, "top.qcow2");
    execFileSync("qemu-img", ["create", "-q", "-f", "raw", base, "1M"]);
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "raw", "-b", "base.raw", top, "2M"]);
    const disk = {
      id: "d0",
      path: top,
      format: "qcow2",
      backing: [{ path: base, format: "raw" }],
      backend: "qemu",
    };
    const f = await probeHost(config({ disks: [disk as unknown as VmConfig["disk"][number]], shares: 0 }));
    expect(f.images[top]).toMatchObject({
      detectedFormat: "qcow2",
      backingFile: "base.raw",
      virtualSize: 2 * 1024 * 1024,
      uid: 0,
    });
    expect(f.images[base]).toMatchObject({ detectedFormat: "raw", size: 1024 * 1024 });
    expect(f.virtiofsd).toBeUndefined(); // the config has no share: not probed
    expect(f.storageDaemon).toBeUndefined();
  });

  it("hasKvm needs both an openable /dev/kvm and a CPU with vmx/svm", async () => {
    // A /dev/kvm that opens on a CPU without vmx/svm (a nested setup seen on these machines)
    // makes QEMU abort at vCPU creation; the probe must call that "no KVM".
    const cpuFlags = /^flags\s*:.*\b(vmx|svm)\b/m.test(readFileSync("/proc/cpuinfo", "utf8"));
    const f = await probeHost();
    if (!cpuFlags) expect(f.hasKvm).toBe(false);
    const fakeProc = join(dir, "proc-novmx");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(join(fakeProc, "sys/kernel"), { recursive: true });
    writeFileSync(join(fakeProc, "sys/kernel/osrelease"), `${release()}\n`);
    writeFileSync(join(fakeProc, "cpuinfo"), "processor\t: 0\nflags\t\t: fpu sse2 hypervisor\n");
    for (const f of ["self/mountinfo", "self/cgroup"]) {
      mkdirSync(join(fakeProc, f, ".."), { recursive: true });
      // /proc files report size 0, so copy by reading, not cpSync.
      writeFileSync(join(fakeProc, f), readFileSync(`/proc/${f}`));
    }
    expect((await probeHost(undefined, { procRoot: fakeProc })).hasKvm).toBe(false);
  });

  it("classifies the config's kernel as QEMU will: Debian's bzImage, its PVH vmlinux; a missing one is a config error", async () => {
    // The real images: the installed bzImage, and the ELF vmlinux inside it (as src/guest extracts).
    const bz = findKernel().vmlinuz;
    const elf = extractVmlinux(readFileSync(bz));
    expect(elf).not.toBeNull();
    const vmlinux = join(dir, "vmlinux");
    writeFileSync(vmlinux, elf!);
    expect((await probeHost(config({ kernel: bz }))).kernels).toEqual({
      [bz]: { path: bz, format: "bzImage", pvh: false },
    });
    expect((await probeHost(config({ kernel: vmlinux }))).kernels?.[vmlinux]).toEqual({
      path: vmlinux,
      format: "elf",
      pvh: true,
    });
    expect((await probeHost(config({}))).kernels).toBeUndefined(); // firmware boot: nothing to probe
    await expect(probeHost(config({ kernel: join(dir, "nope") }))).rejects.toMatchObject({
      code: "HOST_KERNEL_UNREADABLE",
      exit: "config",
      location: { key: "boot.kernel" },
    });
  });

  it("a missing QEMU binary or a needed backend that is absent is a host error", async () => {
    await expect(probeHost(config({ binary: "/nonexistent/qemu" }))).rejects.toMatchObject({
      code: "HOST_QEMU_MISSING",
      exit: "host",
    });
    await expect(
      probeHost(config({ shares: 1 }), { virtiofsdCandidates: ["/nonexistent/virtiofsd"] }),
    ).rejects.toMatchObject({
      code: "HOST_BACKEND_MISSING",
      exit: "host",
      location: { key: "share" },
    });
    await expect(probeHost(undefined, { procRoot: join(dir, "no-proc") })).rejects.toMatchObject({
      exit: "host",
    });
  });
});
