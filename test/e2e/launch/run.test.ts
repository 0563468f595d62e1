// End to end: `qemu-jail run` boots a guest with real QEMU under TCG in the FULL jail (helper,
// namespaces, private root, cgroups, Landlock, seccomp action kill), as a real CLI process:
// - qcow2 rw disk + raw ro disk: markers read, the rw write seen on the host, the ro write fails;
// - user networking reaches a TCP server on the host loopback (slirp gateway 10.0.2.2);
// - a tap created by the launcher in a netns the test made, on a bridge there: the guest pings it;
// - QMP answers query-status; SIGTERM → system_powerdown → the guest powers off → exit 0;
// - no seccomp kill; the host is as before (mounts, cgroups below ours, links, state dir).
// Then: a config whose device has no fragment is refused at plan time, and `qemu-jail run`
// SIGKILLed mid-launch followed by `qemu-jail gc` leaves the host clean. Two QEMU starts in all.
// With jail.seccomp = "log" (QJ_E2E_SECCOMP=log) the launcher lists every syscall QEMU's policy
// lacked; at 10:56 UTC: getsockopt (qmp: the QMP socket is passed as fd=, QEMU checks SO_TYPE)
// and fcntl (block: a qcow2 image passed through -add-fd / /dev/fdset).

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { buildGuest, DEFAULT_GUEST_MODULES } from "../../../src/guest/index.js";
import { runVm } from "../../../src/launch/run.js";
import { silentLogger } from "../../../src/log.js";
import { QmpClient } from "../../../src/qmp/client.js";
import { fragmentSetFrom, loadFragments } from "../../../src/seccomp/fragments.js";
import { hostSnapshot } from "../../integration/launch/snapshot.js";
import { checks, e2eScript, RO_SERIAL, RW_SERIAL, TAP_MAC, USER_MAC, WRITE_OFFSET } from "./guest.js";

// "kill" always in CI. QJ_E2E_SECCOMP=log is for collecting every missing rule in one run (the
// launcher then lists them on stderr); the no-seccomp-kill assertion still applies.
const SECCOMP = process.env.QJ_E2E_SECCOMP === "log" ? "log" : "kill";
const repo = resolve(import.meta.dirname, "../../..");
const cli = join(repo, "bin", "qemu-jail.js");
const token = `t${process.pid}`;
const netns = `qje2e-${process.pid}`;
const tapName = `qje${process.pid % 100000}`;
// VM names become cgroup names, which are global on this shared machine: unique per test run.
const VM = { main: `e2e-${process.pid}`, nofrag: `nofrag-${process.pid}`, killed: `killed-${process.pid}` };
let dir: string;
let stateRoot: string;
let server: net.Server;
let port: number;
let guest: ReturnType<typeof buildGuest>;
const running: ChildProcess[] = [];

beforeAll(async () => {
  // The CLI bundle and the helper, as `npm run build` makes them (the bundle must be current).
  execFileSync("node", ["scripts/bundle-cli.mjs"], { cwd: repo });
  execFileSync("make", ["-s", "-C", "native"], { cwd: repo });
  dir = mkdtempSync(join(tmpdir(), "qj-e2e-"));
  stateRoot = join(dir, "state");
  // A bridge with an address inside a netns of our own: the host side of the guest's tap.
  execFileSync("ip", ["netns", "add", netns]);
  execFileSync("ip", ["-n", netns, "link", "add", "br0", "type", "bridge"]);
  execFileSync("ip", ["-n", netns, "addr", "add", "10.77.0.1/24", "dev", "br0"]);
  execFileSync("ip", ["-n", netns, "link", "set", "br0", "up"]);
  // A TCP server on OUR loopback that the guest reaches through slirp's gateway.
  server = net.createServer((s) => s.end(`QJ-HOST-HELLO-${token}\n`));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  port = (server.address() as net.AddressInfo).port;
  // Disks with markers.
  const raw = Buffer.alloc(1 << 20);
  raw.write(`QJ-RW-MARKER-${token}\n`);
  writeFileSync(join(dir, "rw.raw"), raw);
  execFileSync("qemu-img", [
    "convert",
    "-f",
    "raw",
    "-O",
    "qcow2",
    join(dir, "rw.raw"),
    join(dir, "rw.qcow2"),
  ]);
  const ro = Buffer.alloc(1 << 20);
  ro.write(`QJ-RO-MARKER-${token}\n`);
  writeFileSync(join(dir, "ro.raw"), ro);
  guest = buildGuest({
    script: e2eScript(token, port, "10.77.0.1", "10.77.0.2"),
    modules: [...DEFAULT_GUEST_MODULES, "button", "evdev"],
  });
  // The uncompressed vmlinux booted through its PVH note (pvh.bin in QEMU's planned root): the
  // fast path the demo takes. Debian's kernel has the note; without it this would test the bzImage.
  if (!guest.pvh) throw new Error(`expected a PVH vmlinux from ${guest.vmlinuz}, got the bzImage`);
}, 300_000);

afterAll(async () => {
  // A failed test may leave `qemu-jail run` going (the guest waits for its power button): stop
  // it the supported way, and gc whatever a launcher that would not stop leaves, BEFORE the
  // temp dir (and with it the state root gc reads) goes.
  for (const c of running) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill("SIGTERM");
    const done = await Promise.race([
      new Promise<boolean>((r) => c.once("exit", () => r(true))),
      new Promise<boolean>((r) => setTimeout(() => r(false), 30_000)),
    ]);
    if (!done) c.kill("SIGKILL");
  }
  if (stateRoot && existsSync(stateRoot)) spawnSync(process.execPath, [cli, "gc", "--state-dir", stateRoot]);
  server?.close();
  try {
    execFileSync("ip", ["netns", "del", netns]);
  } catch {}
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function toml(name: string, opts: { paused?: boolean; devices?: boolean } = {}): string {
  const devices = opts.devices !== false;
  return `[vm]
name = "${name}"
accel = "tcg"
cpus = 1
memory = "256M"

[boot]
kernel = "${guest.kernel}"
initrd = "${guest.initrd}"
cmdline = "${guest.cmdline}"

[serial]
mode = "stdio"
${
  devices
    ? `
[[disk]]
id = "rw"
path = "${join(dir, "rw.qcow2")}"
format = "qcow2"
serial = "${RW_SERIAL}"

[[disk]]
id = "ro"
path = "${join(dir, "ro.raw")}"
format = "raw"
readonly = true
serial = "${RO_SERIAL}"

[[nic]]
id = "user0"
mode = "user"
mac = "${USER_MAC}"

[[nic]]
id = "tap0"
mode = "tap"
mac = "${TAP_MAC}"
tap = "${tapName}"
create = true
netns = "${netns}"
bridge = "br0"
vhost = false
`
    : ""
}
[jail]
seccomp = "${SECCOMP}"
${opts.paused ? '\n[qemu]\nextra_args = ["-S"]\n' : ""}`;
}

/** What this file's runs may create: their cgroups, the tap, anything under the temp dir. */
const mine = () => new RegExp(`qemu-jail-(${VM.main}|${VM.nofrag}|${VM.killed})(/|$)|${tapName}|${dir}`);

interface Cli {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
}
function runCli(args: string[]): Cli {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  running.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  const exit = new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
  return { child, out: () => out, err: () => err, exit };
}
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("qemu-jail run, full jail, TCG", () => {
  it("boots, does I/O and networking, answers QMP, powers off on SIGTERM, leaves the host clean", async () => {
    const file = join(dir, "vm.toml");
    writeFileSync(file, toml(VM.main));
    const before = await hostSnapshot(netns, mine());
    const run = runCli([
      "run",
      file,
      "--state-dir",
      stateRoot,
      "--log-format",
      "json",
      "--powerdown-timeout",
      "60",
    ]);
    await until(
      () => run.out().includes("waiting-for-powerdown") || run.child.exitCode !== null,
      240_000,
      "the guest's checks",
    );
    await new Promise((r) => setTimeout(r, 100));
    if (!run.out().includes("waiting-for-powerdown")) {
      throw new Error(
        `qemu-jail run ended early (${run.child.exitCode}):\n${run.out().slice(-2000)}\n${run.err().slice(-3000)}`,
      );
    }
    const c = await QmpClient.connect(join(stateRoot, VM.main, "qmp.sock"), 10_000).catch((e) => {
      throw new Error(`${e}\nstdout:\n${run.out().slice(-3000)}\nstderr:\n${run.err().slice(-3000)}`);
    });
    expect(await c.execute("query-status")).toMatchObject({ status: "running" });
    c.close();
    run.child.kill("SIGTERM");
    const code = await run.exit;
    const got = checks(run.out());
    if (SECCOMP === "log") {
      for (const l of run
        .err()
        .split("\n")
        .filter((x) => x.startsWith("qemu-jail: seccomp log")))
        console.log(l);
    }
    expect(
      { code, stderrSeccomp: /killed by seccomp|SIGSYS/.test(run.err()) },
      run.err().slice(-3000),
    ).toEqual({
      code: 0,
      stderrSeccomp: false,
    });
    expect(got).toMatchObject({
      "rw-marker": `QJ-RW-MARKER-${token}`,
      "ro-marker": `QJ-RO-MARKER-${token}`,
      "rw-write": "ok",
      "ro-write": "denied",
      "user-net": `QJ-HOST-HELLO-${token}`,
      "tap-ping": "ok",
      powerdown: "received",
    });
    // The guest's write reached the qcow2 image.
    execFileSync("qemu-img", [
      "convert",
      "-f",
      "qcow2",
      "-O",
      "raw",
      join(dir, "rw.qcow2"),
      join(dir, "rw.after"),
    ]);
    const after = readFileSync(join(dir, "rw.after"));
    expect(after.toString("utf8", WRITE_OFFSET, WRITE_OFFSET + 40)).toContain(`QJ-GUEST-WROTE-${token}`);
    expect(await hostSnapshot(netns, mine())).toEqual(before);
    expect(readdirSync(stateRoot).filter((e) => !e.startsWith("."))).toEqual([]);
  });

  it("refuses at plan time a config whose device has no fragment, touching nothing", async () => {
    const set = loadFragments();
    const without = fragmentSetFrom(
      [...set.fragments.values()].map((f) => f.raw).filter((f) => f.name !== "net-user"),
      set.dir,
    );
    const cfg = parseConfig(toml(VM.nofrag), { source: join(dir, "nofrag.toml") });
    const before = await hostSnapshot(netns, mine());
    await expect(
      runVm(cfg, { log: silentLogger(), stateDir: stateRoot, fragments: without }),
    ).rejects.toMatchObject({
      exit: "policy",
    });
    expect(existsSync(join(stateRoot, VM.nofrag))).toBe(false);
    expect(await hostSnapshot(netns, mine())).toEqual(before);
  });

  it("SIGKILL of `qemu-jail run` mid-launch, then `qemu-jail gc`: host clean", async () => {
    const file = join(dir, "k.toml");
    writeFileSync(file, toml(VM.killed, { paused: true }));
    const before = await hostSnapshot(netns, mine());
    const run = runCli(["run", file, "--state-dir", stateRoot, "--log-format", "json"]);
    // Mid-launch: once the record shows the cgroups and the tap being made.
    const record = join(stateRoot, VM.killed, "record.json");
    await until(
      () => existsSync(record) && readFileSync(record, "utf8").includes('"kind": "tap"'),
      60_000,
      "the launch to be under way",
    );
    run.child.kill("SIGKILL");
    await run.exit;
    const ps = execFileSync(process.execPath, [cli, "ps", "--all", "--state-dir", stateRoot]).toString();
    expect(ps).toContain(VM.killed);
    const gc = execFileSync(process.execPath, [cli, "gc", "--state-dir", stateRoot]).toString();
    expect(gc).toContain(`${VM.killed}: cleaned`);
    expect(await hostSnapshot(netns, mine())).toEqual(before);
    expect(readdirSync(stateRoot).filter((e) => !e.startsWith("."))).toEqual([]);
    expect(spawnSync("pgrep", ["-f", `guest=${VM.killed},`], { encoding: "utf8" }).stdout.trim()).toBe("");
  });
});
