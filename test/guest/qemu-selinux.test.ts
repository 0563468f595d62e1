import { execFileSync } from "node:child_process";
import { mkdirSync, realpathSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGuest } from "../../src/guest/index.js";
import { runInGuest } from "../guest-vm/run.js";
import { bundleDriver } from "./drivers/bundle.js";

// Real QEMU launched by the real launcher with lsm = "selinux", in an SELinux guest: the helper's
// selinux-exec step makes it svirt_t with the VM's MCS pair, it answers QMP, labels are restored.
// PERMISSIVE on purpose: under enforcing the jail does not start yet. The denials this run logs
// are what remains to do (they are printed; see the GUEST+LSM report):
//  - virtd_t -> svirt_t needs process2 nnp_transition: the helper sets no_new_privs before execve;
//  - nodes the helper mknods in its root tmpfs are virt_tmpfs_t: svirt_t may not open /dev/urandom;
//  - the QMP socket is the launcher's (virtd_t): svirt_t may not listen on it (libvirt uses
//    setsockcreatecon for this);
//  - the launcher domain may not mount on its own root tmpfs (virt_tmpfs_t) nor read nr_open.
// The MCS separation itself is enforced and tested in selinux.test.ts.

/** The policy's label for a host path (matchpathcon reads file_contexts; no SELinux kernel needed). */
function fileContext(path: string): string {
  return execFileSync("matchpathcon", ["-n", path], { encoding: "utf8" }).trim();
}

/** chcon lines giving QEMU's binary, its ELF closure and its modules their policy labels. */
function systemLabels(): string[] {
  const qemu = "/usr/bin/qemu-system-x86_64";
  const files = new Set<string>([qemu, realpathSync(process.execPath)]);
  for (const bin of [qemu, "/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so"]) {
    const ldd = execFileSync("ldd", [bin], { encoding: "utf8" });
    for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) files.add(realpathSync(m[1]!));
  }
  files.add("/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so");
  const lines = [...files].map((f) => `chcon ${fileContext(f)} ${f}`);
  // The launcher runs as virtd_t: node is given libvirtd's entrypoint label for the test.
  lines.push(`chcon system_u:object_r:virtd_exec_t:s0 ${realpathSync(process.execPath)}`);
  // devtmpfs nodes carry a generic label until udev's restorecon; the jail's stdio is /dev/null.
  lines.push("chcon system_u:object_r:null_device_t:s0 /dev/null");
  // Test plumbing only: the harness's output ports take the null device's label, which every
  // domain may write, so the launcher's and QEMU's stdio reach the host.
  lines.push("chcon system_u:object_r:null_device_t:s0 /dev/vport*");
  // The user's image, where libvirt would keep it (matchpathcon of /var/lib/libvirt/images/*).
  lines.push(`chcon ${fileContext("/var/lib/libvirt/images/x")} /var/tmp/qj-se/data.raw`);
  return lines;
}

describe("QEMU as svirt_t with its MCS pair (SELinux guest, nested QEMU)", () => {
  const dir = join(import.meta.dirname, "../../.cache/guest-drivers");
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, `qemu-selinux-${process.pid}.mjs`);
  afterAll(() => rmSync(bundle, { force: true }));

  it("launches under the plan's label and answers QMP", async () => {
    await bundleDriver("qemu-selinux-driver.ts", bundle);
    const g = buildGuest({ uncompressedKernel: false });
    const toml = `[vm]
name = "se"
accel = "tcg"
cpus = 1
memory = "128M"

[boot]
kernel = "${g.kernel}"
initrd = "${g.initrd}"
cmdline = "console=ttyS0 quiet"

[[disk]]
id = "data"
path = "/var/tmp/qj-se/data.raw"
format = "raw"

[rng]
source = "/dev/urandom"

[jail]
lsm = "selinux"
seccomp = "log"
`;
    const r = await runInGuest(
      [
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup",
        "mkdir -p /var/tmp/qj-se && truncate -s 8M /var/tmp/qj-se/data.raw",
        ...systemLabels(),
        // Boot files where libvirt keeps them would already be read-only VM content.
        `chcon ${fileContext("/var/lib/libvirt/boot/x")} ${g.kernel} ${g.initrd}`,
        // The state dir where libvirt keeps its runtime files, so the launcher domain may make sockets.
        `mkdir -p /run/libvirt/qemu && chcon ${fileContext("/run/libvirt/qemu/x")} /run/libvirt/qemu`,
        // The overlay's root and the guest's /run tmpfs get the labels a host's would have.
        `chcon ${fileContext("/")} / && chcon ${fileContext("/run")} /run`,
        "dmesg -c > /dev/null",
        `runcon system_u:system_r:virtd_t:s0-s0:c0.c1023 ${realpathSync(process.execPath)} ${bundle} /opt/qj-se/vm.toml /run/libvirt/qemu`,
        "echo driver=$?",
        "dmesg | grep -o 'avc:  denied.*' | sed 's/ pid=[0-9]*//; s/ ino=[0-9]*//' | sort | uniq -c",
      ].join("\n"),
      {
        selinux: { rootContext: process.env.QJ_ROOTCTX ?? "system_u:object_r:bin_t:s0" },
        files: { "/opt/qj-se/vm.toml": toml },
        timeoutMs: 300_000,
      },
    );
    console.log(`QEMU-under-SELinux guest run: ${r.bootMs} ms\n${r.stdout}${r.stderr.slice(-3000)}`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("driver=0");
    const steps = Object.fromEntries(
      r.stdout
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice(7)) as { step: string; data: Record<string, unknown> })
        .map((x) => [x.step, x.data]),
    );
    const procs = (steps.plan?.processes ?? []) as Array<{ selinux: string }>;
    const label = procs[0]?.selinux ?? "";
    expect(label).toMatch(/^system_u:system_r:svirt_t:s0:c\d+,c\d+$/);
    expect(steps.plan?.relabels).toEqual(
      expect.arrayContaining([
        `/var/tmp/qj-se/data.raw=${label.replace("system_r:svirt_t", "object_r:svirt_image_t")}`,
      ]),
    );
    // The real transition happened: QEMU runs with exactly the plan's context.
    expect(steps.ready?.labels).toEqual([{ comm: "qemu-system-x86", label }]);
    expect(steps.end).toMatchObject({ reason: "stopped", code: 0, undoFailures: 0 });
    expect(steps.labelled).toEqual({ ok: true, n: 3 });
    expect(steps.restored).toEqual({ n: 3 });
  });
});
