// `qemu-jail run` as the generated unit runs it, minus systemd (this machine has no systemd as
// pid 1, so systemd-run cannot be used): the unit's ExecStart, under the unit's capability
// bounding set (setpriv), with NOTIFY_SOCKET naming a unix datagram socket of the test's
// receiver (python3; Node has no datagram unix sockets). Real QEMU (TCG, paused with -S, so the
// guest costs no CPU) in the full jail. Checks: exactly one READY=1, sent after QMP answered
// (the launcher's own "QMP answers" log line is older than the datagram, and QMP answers us at
// that moment); MAINPID= is the launcher, and so is the pid in each datagram's credentials
// (systemd-notify, run by root, credits its parent; see the unit's NotifyAccess= comment); SIGTERM (KillMode=mixed sends it to the
// launcher only) → STOPPING=1 → exit 0 within the unit's TimeoutStopSec; gc then finds nothing.
// A second VM (rw + ro images, user networking, serial socket) runs under the unit's file-system
// view (ProtectSystem=strict + ReadWritePaths= in a mount namespace), its bounding set, and its
// seccomp layer (RestrictAddressFamilies=, SystemCallFilter=~groups) built with libseccomp.

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { buildGuest } from "../../../src/guest/index.js";
import { QmpClient } from "../../../src/qmp/client.js";
import { CAPS_DROPPED, systemdUnit } from "../../../src/systemd/unit.js";

const repo = resolve(import.meta.dirname, "../../..");
const cli = join(repo, "bin", "qemu-jail.js");
// VM names become cgroup names, global on this shared machine: unique per run.
const name = `notify-${process.pid}`;

// Prints one JSON line per datagram: text, sender pid (SCM_CREDENTIALS), receive time (ms).
const receiver = `
import json, socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1]); s.settimeout(120)
print("BOUND", flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", data[:12])[0]
    print(json.dumps({"text": msg.decode(), "pid": pid, "ms": time.time() * 1000}), flush=True)
    if "STOPPING=1" in msg.decode(): break
`;

let dir: string;
let stateRoot: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  execFileSync("node", ["scripts/bundle-cli.mjs"], { cwd: repo });
  execFileSync("make", ["-s", "-C", "native"], { cwd: repo });
  dir = mkdtempSync(join(tmpdir(), "qj-notify-e2e-"));
  stateRoot = join(dir, "state");
}, 300_000);

afterAll(async () => {
  // A launcher still running (a failed test): SIGTERM, its supported stop, then SIGKILL.
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill("SIGTERM");
    const end = Date.now() + 30_000;
    while (c.exitCode === null && c.signalCode === null && Date.now() < end)
      await new Promise((r) => setTimeout(r, 50));
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  // gc every state root of this file BEFORE the temp dir (and the records gc reads) goes.
  for (const root of [stateRoot, dir && join(dir, "strict", "state")])
    if (root && existsSync(root)) spawnSync(process.execPath, [cli, "gc", "--state-dir", root]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function lines(s: string): Array<Record<string, unknown>> {
  return s
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function until(what: string, cond: () => boolean, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Type=notify readiness of `qemu-jail run`", () => {
  it("READY=1 once QMP answers, crediting the launcher, under the unit's bounding set", async () => {
    const guest = buildGuest({});
    const file = join(dir, "vm.toml");
    // A console log file: QEMU opens it through /dev/fdset at start-up (even paused), so this run
    // also pins that a file console needs nothing beyond its fragment (no ftruncate: append=on).
    const text = `[vm]\nname = "${name}"\naccel = "tcg"\ncpus = 1\nmemory = "128M"\n[boot]\nkernel = "${guest.kernel}"\ninitrd = "${guest.initrd}"\ncmdline = "${guest.cmdline}"\n[serial]\nmode = "file"\npath = "${join(dir, "console.log")}"\n[jail]\nstate_dir = "${stateRoot}"\n[qemu]\nextra_args = ["-S"]\n`;
    writeFileSync(file, text);
    const config = parseConfig(text, { source: file });
    const unit = systemdUnit(config, { powerdownTimeout: 2, quitTimeout: 5 });
    const value = (k: string) =>
      unit
        .split("\n")
        .find((l) => l.startsWith(`${k}=`))!
        .slice(k.length + 1);
    // The unit's own command line (plain words here: no quoting to undo).
    const argv = value("ExecStart").split(" ");
    expect(argv.slice(0, 2)).toEqual([process.execPath, cli]);
    const bounding = value("CapabilityBoundingSet").slice(1).split(" ");
    expect(bounding).toEqual(expect.arrayContaining(CAPS_DROPPED));
    const stopSec = Number(value("TimeoutStopSec"));

    const sock = join(dir, "notify.sock");
    const py = spawn("/usr/bin/python3", ["-c", receiver, sock], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(py);
    let got = "";
    py.stdout!.on("data", (d) => {
      got += d;
    });
    await until("the receiver", () => got.includes("BOUND") || py.exitCode !== null, 20_000);
    expect(got).toContain("BOUND");

    const drop = bounding.map((c) => `-${c.replace(/^CAP_/, "").toLowerCase()}`).join(",");
    const launcher = spawn("setpriv", ["--bounding-set", drop, "--", ...argv], {
      env: { ...process.env, NOTIFY_SOCKET: sock },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(launcher);
    let err = "";
    launcher.stderr!.on("data", (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => launcher.once("exit", (c) => r(c)));
    const messages = () => lines(got) as Array<{ text: string; pid: number; ms: number }>;
    await until(
      "READY=1",
      () => messages().some((m) => m.text.includes("READY=1")) || launcher.exitCode !== null,
    );
    const ready = messages().find((m) => m.text.includes("READY=1"));
    expect(ready, err).toBeDefined();

    // QMP answers at this moment, and the launcher saw it answer before it notified.
    const qmp = await QmpClient.connect(join(stateRoot, name, "qmp.sock"), 10_000);
    const status = await qmp.execute<{ status: string }>("query-status");
    qmp.close();
    expect(status.status).toBe("prelaunch");
    const answered = lines(err).find((l) => String(l.msg).startsWith("QMP answers"));
    expect(answered, err).toBeDefined();
    expect(Number(answered!.time)).toBeLessThanOrEqual(ready!.ms);
    // MAINPID= names the launcher (setpriv exec'd node in place). systemd-notify --pid= also
    // puts that pid in the datagram's credentials (root may), so READY=1 reads as the main pid's.
    expect(ready!.text).toContain(`MAINPID=${launcher.pid}`);
    expect(ready!.pid).toBe(launcher.pid);

    // Stop as systemd would: SIGTERM to the main process only.
    const t0 = Date.now();
    launcher.kill("SIGTERM");
    expect(await exited, err).toBe(0);
    expect((Date.now() - t0) / 1000).toBeLessThan(stopSec);
    await until("the receiver's exit (after STOPPING=1)", () => py.exitCode !== null, 30_000);
    expect(messages().filter((m) => m.text.includes("READY=1"))).toHaveLength(1);
    // STOPPING=1 is sent without --pid; systemd-notify (252) then credits its parent, the
    // launcher, too. So systemd can map both to the service even after the child is gone.
    const stopping = messages().find((m) => m.text.includes("STOPPING=1"));
    expect(stopping).toBeDefined();
    expect(stopping!.pid).toBe(launcher.pid);
    // ExecStopPost: gc scoped to this VM has nothing left to do.
    const gc = spawnSync(process.execPath, [cli, "gc", "--state-dir", stateRoot, "--name", name], {
      encoding: "utf8",
    });
    expect(gc.status).toBe(0);
    expect(gc.stdout).toContain("nothing to clean");
    expect(readdirSync(stateRoot).filter((e) => !e.startsWith("."))).toEqual([]);
  });
});

// ProtectSystem=strict + ReadWritePaths=, emulated as systemd builds it: a mount namespace of
// the launcher's own (slave propagation, like PrivateMounts=) where every mount except /dev,
// /proc and /sys is remounted read-only, then each ReadWritePaths= entry bound back writable.
// The script refuses to go on if / is still writable, so the test cannot pass vacuously.
const strictFs = `
set -e
for mp in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$mp" in /dev|/dev/*|/proc|/proc/*|/sys|/sys/*) continue;; esac
  mount -o remount,bind,ro "$mp" 2>/dev/null || true
done
if touch /.qj-rw-probe 2>/dev/null; then rm -f /.qj-rw-probe; echo "/ still writable" >&2; exit 99; fi
n=$1; shift
i=0
while [ $i -lt $n ]; do
  mount --bind "$1" "$1"; mount -o remount,bind,rw "$1"; shift; i=$((i+1))
done
exec "$@"
`;

// The unit's seccomp layer, built as systemd builds it (libseccomp, default allow, no
// no_new_privs since the service keeps CAP_SYS_ADMIN): RestrictAddressFamilies= as an
// allow-list (every other family EAFNOSUPPORT), SystemCallFilter=~groups as EPERM, then exec.
const unitSeccomp = `
import errno, os, sys, seccomp
families = {int(x) for x in sys.argv[1].split(",")}
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
f.set_attr(seccomp.Attr.CTL_NNP, 0)
for fam in range(46):
    if fam not in families:
        f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, fam))
f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.GE, 46))
for name in sys.argv[2].split(","):
    try:
        f.add_rule(seccomp.ERRNO(errno.EPERM), name)
    except Exception:
        pass  # not a syscall of this architecture
f.load()
os.execvp(sys.argv[3], sys.argv[3:])
`;
const FAMILY: Record<string, number> = { AF_UNIX: 1, AF_INET: 2, AF_INET6: 10, AF_NETLINK: 16 };

describe("the unit's file-system, capability and seccomp confinement", () => {
  // The serial console is a socket, not a file: at 11:16 UTC QEMU was killed for ftruncate with a
  // serial file (chardev-file lacks it; seen without this test's confinement too), reported.
  it("a VM with a rw image, a ro image, a serial socket and user networking starts and stops", async () => {
    const guest = buildGuest({});
    const vmName = `strict-${process.pid}`;
    const d = join(dir, "strict");
    mkdirSync(join(d, "logs"), { recursive: true });
    mkdirSync(join(d, "state"));
    writeFileSync(join(d, "rw.raw"), Buffer.alloc(1 << 20));
    writeFileSync(join(d, "ro.raw"), Buffer.alloc(1 << 20));
    const file = join(d, "vm.toml");
    const text = `[vm]\nname = "${vmName}"\naccel = "tcg"\ncpus = 1\nmemory = "128M"\n[boot]\nkernel = "${guest.kernel}"\ninitrd = "${guest.initrd}"\ncmdline = "${guest.cmdline}"\n[[disk]]\nid = "rw"\npath = "${join(d, "rw.raw")}"\nformat = "raw"\n[[disk]]\nid = "ro"\npath = "${join(d, "ro.raw")}"\nformat = "raw"\nreadonly = true\n[[nic]]\nid = "u"\nmode = "user"\n[serial]\nmode = "socket"\npath = "${join(d, "logs", "console.sock")}"\n[jail]\nstate_dir = "${join(d, "state")}"\n[qemu]\nextra_args = ["-S"]\n`;
    writeFileSync(file, text);
    const unit = systemdUnit(parseConfig(text, { source: file }), { powerdownTimeout: 2, quitTimeout: 5 });
    const values = (k: string) =>
      unit
        .split("\n")
        .filter((l) => l.startsWith(`${k}=`))
        .map((l) => l.slice(k.length + 1));
    const rw = values("ReadWritePaths");
    // What the config writes, and nothing else: the rw image, the socket's dir, the state dir.
    expect(rw.sort()).toEqual([join(d, "logs"), join(d, "rw.raw"), join(d, "state")].sort());
    const argv = values("ExecStart")[0]!.split(" ");
    const drop = values("CapabilityBoundingSet")[0]!
      .slice(1)
      .split(" ")
      .map((c) => `-${c.replace(/^CAP_/, "").toLowerCase()}`)
      .join(",");
    const families = values("RestrictAddressFamilies")[0]!.split(" ");
    expect(families).toEqual(["AF_UNIX", "AF_INET", "AF_INET6"]);
    const denied: string[] = [];
    for (const g of values("SystemCallFilter")[0]!.slice(1).split(" ")) {
      const out = execFileSync("systemd-analyze", ["syscall-filter", g], { encoding: "utf8" });
      denied.push(
        ...out
          .split("\n")
          .map((l) => l.trim())
          .filter((l) => /^[a-z_0-9]+$/.test(l)),
      );
    }
    expect(denied).toEqual(
      expect.arrayContaining(["reboot", "swapon", "iopl", "init_module", "clock_settime"]),
    );
    const launcher = spawn(
      "unshare",
      [
        "--mount",
        "--propagation",
        "slave",
        "--",
        "/bin/sh",
        "-c",
        strictFs,
        "sh",
        String(rw.length),
        ...rw,
        "/usr/bin/python3",
        "-c",
        unitSeccomp,
        families.map((f) => String(FAMILY[f])).join(","),
        denied.join(","),
        "setpriv",
        "--bounding-set",
        drop,
        "--",
        ...argv,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    children.push(launcher);
    let err = "";
    launcher.stderr!.on("data", (x) => {
      err += x;
    });
    const exited = new Promise<number | null>((r) => launcher.once("exit", (c) => r(c)));
    await until("QMP answers", () => err.includes("QMP answers") || launcher.exitCode !== null);
    expect(err).toContain("QMP answers");
    const qmp = await QmpClient.connect(join(d, "state", vmName, "qmp.sock"), 10_000);
    const blocks = await qmp.execute<Array<{ device: string; inserted?: { ro: boolean } }>>("query-block");
    qmp.close();
    expect(blocks.map((b) => b.inserted?.ro).sort()).toEqual([false, true]);
    launcher.kill("SIGTERM");
    expect(await exited, err).toBe(0);
    expect(statSync(join(d, "rw.raw")).uid).toBe(0);
    expect(readdirSync(join(d, "state")).filter((e) => !e.startsWith("."))).toEqual([]);
  });
});
