// The examples' command lines against the real qemu-system-x86_64: each example (its paths
// pointed at fresh images made with qemu-img) starts paused (-S); through QMP we check that the
// block nodes, devices, chardevs, identity, CPUs, memory and port forwards are what the config
// says; then quit. Features needing host parts this machine lacks (vhost-user backends, tap,
// /dev/vhost-vsock) are dropped from the run here; the golden tests cover their arguments.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../../src/config/load.js";
import type { VmConfig } from "../../../src/config/types.js";
import type { HostFacts } from "../../../src/host/types.js";
import { qemuArgv } from "../../../src/qemu/argv.js";
import { diskNodeNames } from "../../../src/qemu/block.js";
import type { ArgvContext } from "../../../src/qemu/context.js";
import { Qmp } from "./qmp-client.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "qj-config-e2e-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function qemuImg(...args: string[]): void {
  execFileSync("qemu-img", ["create", "-q", ...args]);
}

/** Copies an example next to fresh images and loads it (so loadConfig's file checks run for real). */
function prepare(example: string): { dir: string; config: VmConfig } {
  const dir = tempDir();
  copyFileSync(`examples/${example}.toml`, join(dir, "vm.toml"));
  if (example === "full") {
    mkdirSync(join(dir, "images"));
    qemuImg("-f", "qcow2", join(dir, "images/base.qcow2"), "32M");
    qemuImg("-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", join(dir, "images/root.qcow2"));
    qemuImg("-f", "raw", join(dir, "images/data.raw"), "8M");
    qemuImg("-f", "raw", join(dir, "images/scratch.raw"), "8M");
    qemuImg("-f", "qcow2", join(dir, "images/fast.qcow2"), "8M");
  }
  return { dir, config: loadConfig(join(dir, "vm.toml")) };
}

/** Drops what this host cannot run (no vhost-user backend, no tap, no /dev/vhost-vsock). */
function runnableHere(c: VmConfig, dir: string): VmConfig {
  const port = () => 20000 + Math.floor(Math.random() * 20000);
  return {
    ...c,
    disk: c.disk.filter((d) => d.backend === "qemu"),
    nic: c.nic
      .filter((n) => n.mode === "user")
      .map((n) =>
        n.mode === "user" ? { ...n, forward: n.forward.map((f) => ({ ...f, host_port: port() })) } : n,
      ),
    share: [],
    vsock: null,
    qmp: { path: join(dir, "qmp.sock") },
    serial: c.serial.mode === "stdio" ? c.serial : { mode: "file", path: join(dir, "console.log") },
    jail: { ...c.jail, state_dir: dir },
    qemu: { ...c.qemu, extra_args: [...c.qemu.extra_args, "-S"] },
  };
}

function start(
  argv: string[],
  stdio: Array<"pipe" | "ignore" | number> = ["ignore", "ignore", "pipe"],
): ChildProcess {
  const child = spawn(argv[0]!, argv.slice(1), { stdio });
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += String(d);
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  child.on("exit", (code) => {
    if (code) process.stderr.write(`qemu exited ${code}: ${stderr}\n`);
  });
  return child;
}

async function checkAgainstConfig(qmp: Qmp, c: VmConfig): Promise<void> {
  // Block graph: exactly the configured nodes, with the configured formats and read-only flags.
  const nodes = (await qmp.cmd("query-named-block-nodes", { flat: true })) as Array<{
    "node-name": string;
    drv: string;
    ro: boolean;
  }>;
  const expected = c.disk.flatMap(diskNodeNames);
  expect(nodes.map((n) => n["node-name"]).sort()).toEqual([...expected].sort());
  for (const d of c.disk) {
    const top = nodes.find((n) => n["node-name"] === d.id)!;
    expect(top.drv).toBe(d.format);
    expect(top.ro).toBe(d.readonly);
    d.backing.forEach((b, i) => {
      const n = nodes.find((x) => x["node-name"] === `${d.id}.b${i}`)!;
      expect(n.drv).toBe(b.format);
      expect(n.ro).toBe(true);
    });
  }
  // Devices: exactly the configured ones, of the configured types.
  const periph = (await qmp.cmd("qom-list", { path: "/machine/peripheral" })) as Array<{
    name: string;
    type: string;
  }>;
  const devices = Object.fromEntries(
    periph.filter((p) => p.type.startsWith("child<")).map((p) => [p.name, p.type.slice(6, -1)]),
  );
  const want: Record<string, string> = {};
  const bus = { "virtio-blk": "virtio-blk-pci", nvme: "nvme", "virtio-scsi": "scsi-hd" } as const;
  for (const d of c.disk) want[d.id] = bus[d.bus];
  if (c.disk.some((d) => d.bus === "virtio-scsi")) want.scsi0 = "virtio-scsi-pci";
  for (const n of c.nic) want[n.id] = "virtio-net-pci";
  if (c.rng) want.rng0 = "virtio-rng-pci";
  expect(devices).toEqual(want);
  for (const n of c.nic)
    expect(await qmp.cmd("qom-get", { path: `/machine/peripheral/${n.id}`, property: "mac" })).toBe(n.mac);
  // Each block device is attached to its format node.
  const blocks = (await qmp.cmd("query-block")) as Array<{
    qdev?: string;
    inserted?: { "node-name": string };
  }>;
  for (const d of c.disk) {
    const b = blocks.find((x) => x.qdev?.startsWith(`/machine/peripheral/${d.id}`) || x.qdev === d.id);
    expect(b?.inserted?.["node-name"]).toBe(d.id);
  }
  // Chardevs, identity, CPUs, memory.
  const chardevs = ((await qmp.cmd("query-chardev")) as Array<{ label: string }>).map((x) => x.label);
  expect(chardevs).toContain("qmp");
  if (c.serial.mode !== "none") expect(chardevs).toContain("serial0");
  expect(((await qmp.cmd("query-uuid")) as { UUID: string }).UUID).toBe(c.vm.uuid);
  expect(((await qmp.cmd("query-name")) as { name: string }).name).toBe(c.vm.name);
  expect((await qmp.cmd("query-cpus-fast")) as unknown[]).toHaveLength(c.vm.cpus);
  expect(((await qmp.cmd("query-memory-size-summary")) as { "base-memory": number })["base-memory"]).toBe(
    c.vm.memory,
  );
  expect(((await qmp.cmd("query-status")) as { status: string }).status).toBe("prelaunch");
  // Port forwards.
  const usernet = String(await qmp.cmd("human-monitor-command", { "command-line": "info usernet" }));
  for (const n of c.nic)
    if (n.mode === "user")
      for (const f of n.forward)
        expect(usernet).toMatch(
          new RegExp(
            `${f.proto.toUpperCase()}\\[HOST_FORWARD\\]\\s+\\d+\\s+${f.host_addr.replaceAll(".", "\\.")}\\s+${f.host_port}\\s+\\S+\\s+${f.guest_port}`,
          ),
        );
}

/** Binds a listening unix socket at argv[1] as fd 3, then execs argv[2:]. */
const LISTEN_AND_EXEC = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(4)
if s.fileno() != 3: os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.execv(sys.argv[2], sys.argv[2:])
`;

const NO_KVM = { hasKvm: false, devices: {} } as unknown as HostFacts;

describe("examples under real QEMU (paused, checked over QMP)", () => {
  // Host facts say "no KVM": this machine has a /dev/kvm whose vCPUs abort QEMU (MSR 0x10a).
  it("minimal.toml", async () => {
    const { dir, config } = prepare("minimal");
    const c = runnableHere(config, dir);
    const child = start(qemuArgv(c, NO_KVM), ["pipe", "pipe", "pipe"]);
    const qmp = await Qmp.connect(join(dir, "qmp.sock"), child);
    try {
      await checkAgainstConfig(qmp, c);
      expect(((await qmp.cmd("query-kvm")) as { enabled: boolean }).enabled).toBe(false);
    } finally {
      await qmp.quit();
    }
  });

  it("full.toml (without vhost-user, tap and vsock)", async () => {
    const { dir, config } = prepare("full");
    const c = runnableHere(config, dir);
    const child = start(qemuArgv(c, NO_KVM));
    const qmp = await Qmp.connect(join(dir, "qmp.sock"), child);
    try {
      await checkAgainstConfig(qmp, c);
    } finally {
      await qmp.quit();
    }
  });

  it("full.toml with an ArgvContext: images and serial log by fdset, QMP on a passed listening socket", async () => {
    const { dir, config } = prepare("full");
    const c = runnableHere(config, dir);
    // The launcher's part, done here by hand: open every image; a tiny python shim binds the QMP
    // socket as fd 3 and execs QEMU (a Node server would accept the connections itself).
    const qmpPath = join(dir, "passed-qmp.sock");
    const stdio: Array<"ignore" | "pipe" | number> = ["ignore", "ignore", "pipe", "ignore"];
    const ctx: ArgvContext = { qmp: { fd: 3 }, fdsets: {} };
    let set = 1;
    const pass = (path: string, flags: "r" | "r+" | "a") => {
      const fd = openSync(path, flags);
      cleanups.push(() => closeSync(fd));
      ctx.fdsets![path] = { set, fds: [{ fd: stdio.length, opaque: `set${set}` }] };
      stdio.push(fd);
      set++;
    };
    for (const d of c.disk) {
      pass(d.path, d.readonly ? "r" : "r+");
      for (const b of d.backing) pass(b.path, "r");
    }
    if (c.serial.mode === "file") pass(c.serial.path, "a");
    const argv = qemuArgv(c, NO_KVM, ctx);
    expect(
      argv.filter((a) => a.startsWith("/dev/fdset/") || a.includes("/dev/fdset/")).length,
    ).toBeGreaterThan(0);
    for (const d of c.disk) expect(argv.join(" ")).not.toContain(d.path);
    const child = start(["/usr/bin/python3", "-c", LISTEN_AND_EXEC, qmpPath, ...argv], stdio);
    const qmp = await Qmp.connect(qmpPath, child);
    try {
      await checkAgainstConfig(qmp, c);
      const fdsets = (await qmp.cmd("query-fdsets")) as Array<{
        "fdset-id": number;
        fds: Array<{ opaque?: string }>;
      }>;
      const want = Object.values(ctx.fdsets!).map((s) => s.fds[0]!.opaque);
      expect(fdsets.flatMap((f) => f.fds.map((x) => x.opaque)).sort()).toEqual(want.sort());
    } finally {
      await qmp.quit();
    }
  });
});
