import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGuest } from "../../src/guest/index.js";
import { runInGuest } from "../guest-vm/run.js";
import { bundleDriver } from "./drivers/bundle.js";

// Real QEMU and virtiofsd under the AppArmor profiles the plan derived for them, launched by the
// real launcher in a guest with AppArmor on (nested TCG). Zero DENIED lines is the claim.
describe("QEMU confined by its generated AppArmor profile (TCG guest, nested QEMU)", () => {
  // The bundle sits two levels below the repository, like src/<area>/x.ts: the code it bundles
  // finds policies/ and native/build/ relative to itself. The guest sees it through the host root.
  const dir = join(import.meta.dirname, "../../.cache/guest-drivers");
  mkdirSync(dir, { recursive: true });
  const bundle = join(dir, `qemu-apparmor-${process.pid}.mjs`);
  afterAll(() => rmSync(bundle, { force: true }));

  it("starts, answers QMP under enforce mode, stops on SIGTERM, without a single denial", async () => {
    await bundleDriver("qemu-apparmor-driver.ts", bundle);
    // The nested guest is never expected to finish booting: the kernel only has to be loadable.
    const g = buildGuest({ uncompressedKernel: false });
    const toml = `[vm]
name = "aa"
accel = "tcg"
cpus = 1
memory = "128M"

[boot]
kernel = "${g.kernel}"
initrd = "${g.initrd}"
cmdline = "console=ttyS0 quiet"

[[disk]]
id = "root"
path = "/var/tmp/qj-aa/root.qcow2"
format = "qcow2"
backing = [{ path = "/var/tmp/qj-aa/base.qcow2", format = "qcow2" }]

[[disk]]
id = "data"
path = "/var/tmp/qj-aa/data.raw"
format = "raw"
readonly = true
bus = "nvme"
serial = "data0"

[[nic]]
id = "net0"
mode = "user"
forward = [{ proto = "tcp", host_addr = "127.0.0.1", host_port = 2222, guest_port = 22 }]

[[nic]]
id = "net1"
mode = "tap"
tap = "qjt0"
create = true
vhost = true

[[share]]
id = "src"
path = "/var/tmp/qj-aa/share"
tag = "src"
readonly = true

[serial]
mode = "file"
path = "/var/tmp/qj-aa/console.log"

[qmp]
path = "/var/tmp/qj-aa/qmp.sock"

[rng]
source = "/dev/urandom"

[jail]
lsm = "apparmor"
# This test is about AppArmor: seccomp only logs here (its policies are tested under kill in e2e).
seccomp = "log"
`;
    const r = await runInGuest(
      [
        "mount -t securityfs securityfs /sys/kernel/security",
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup",
        "mkdir -p /var/tmp/qj-aa/share && cd /var/tmp/qj-aa && truncate -s 8M data.raw",
        "qemu-img create -q -f qcow2 base.qcow2 16M && qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 root.qcow2",
        "cd /",
        `node ${bundle} /opt/qj-aa/vm.toml /run/qj-state`,
        "echo driver=$?",
        "grep -c qemu-jail- /sys/kernel/security/apparmor/profiles || true",
        "dmesg | grep 'apparmor=\"DENIED\"' | sed 's/^.*apparmor=/apparmor=/'",
      ].join("\n"),
      {
        kernelArgs: "apparmor=1 security=apparmor",
        modules: ["tun", "vhost_net"],
        files: { "/opt/qj-aa/vm.toml": toml },
        timeoutMs: 300_000,
      },
    );
    console.log(`QEMU-under-AppArmor guest run: ${r.bootMs} ms\n${r.stdout}${r.stderr.slice(-4000)}`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("driver=0");
    const steps = Object.fromEntries(
      r.stdout
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice(7)) as { step: string; data: Record<string, unknown> })
        .map((x) => [x.step, x.data]),
    );
    const procs = steps.plan?.processes as Array<{ id: string; apparmor: string }>;
    expect(procs.map((p) => p.apparmor)).toEqual(procs.map((p) => `qemu-jail-aa-${p.id}`));
    // virtiofsd (read-only share) is its own process with its own profile, started first.
    expect(procs.map((p) => p.id)).toEqual(["virtiofsd-src", "qemu"]);
    const labels = (steps.ready?.labels ?? []) as Array<{ comm: string; label: string }>;
    const confined = labels.filter((l) => /^(qemu-system|virtiofsd)/.test(l.comm));
    expect(confined.map((l) => l.label).sort()).toEqual([
      "qemu-jail-aa-qemu (enforce)",
      "qemu-jail-aa-virtiofsd-src (enforce)",
    ]);
    expect(steps.end).toMatchObject({ reason: "stopped", sigsys: [], undoFailures: 0 });
    // The launcher loaded the profiles (QEMU and virtiofsd ran under them, above) and its undo
    // removed them all: none is left in the kernel.
    expect(steps["profiles-after"]).toEqual({ left: [] });
    expect(r.stdout).not.toContain('apparmor="DENIED"');
  });
});
