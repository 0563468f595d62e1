// End to end (real QEMU under TCG, real kernel jails, seccomp action kill everywhere): a guest
// whose two virtiofs shares and two vhost-user-blk disks are served by four backend processes,
// each in its own jail (virtiofsd per share, qemu-storage-daemon per disk), started before QEMU.
// 1. The guest mounts both shares: reads the host's marker in each, writes, renames, symlinks and
//    chowns in the rw share (checked on the host, with the owners the guest gave), is refused
//    (EPERM) every setuid/setgid mode there — chmod u+s/g+s, cp -p of a setuid file, mknod -m 4644
//    (finding F5; the host's files carry no such bit) — and fails to write in the ro share; it reads the marker of each disk and writes to both (checked on the
//    host after). While it runs, each process is looked at from the host: its own uid, its own
//    namespaces, its cgroup a sibling of QEMU's under the VM's cgroup, the capabilities its plan
//    keeps and no others, virtiofsd's RLIMIT_NOFILE, and QEMU's guest RAM a sealed shared memfd.
//    Stopped through system_powerdown: QEMU first, then the backends; no SIGSYS; host clean.
// 2. A backend SIGKILLed while the guest runs: QEMU is stopped, the death is reported with the
//    culprit, and the host is clean.
// Two guest boots in all.

import { execFileSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIRTIOFSD_NOFILE } from "../../../src/devices/share.js";
import { buildGuest } from "../../../src/guest/index.js";
import { backendsScript, CHOWN_TO, checks, EPERM_TEXT, WRITE_OFFSET } from "./guest.js";
import {
  backendsToml,
  capMask,
  configOf,
  type Fixture,
  leftovers,
  makeFixture,
  type RunningVm,
  startVm,
  statusField,
  text,
  waitGuest,
} from "./vm.js";

const repo = resolve(import.meta.dirname, "../../..");
const token = `b${process.pid}`;
let dir: string;
let stateRoot: string;
let guest: ReturnType<typeof buildGuest>;

beforeAll(() => {
  execFileSync("make", ["-s", "-C", "native"], { cwd: repo });
  dir = mkdtempSync(join(tmpdir(), "qj-e2e-backends-"));
  stateRoot = join(dir, "state");
  guest = buildGuest({
    script: backendsScript(token),
    modules: ["virtio_pci", "virtio_blk", "virtiofs", "button", "evdev"],
  });
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function fixture(name: string): Fixture {
  const d = join(dir, name);
  execFileSync("mkdir", ["-p", d]);
  return makeFixture(d, token);
}

/** The seals of QEMU's guest-RAM memfd (F_GET_SEALS through /proc/PID/fd), or -1 if none is found. */
function memfdSeals(pid: number): number {
  const fds = readdirSync(`/proc/${pid}/fd`);
  const memfd = fds.find((fd) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("/memfd:");
    } catch {
      return false;
    }
  });
  if (!memfd) return -1;
  const out = execFileSync("/usr/bin/python3", [
    "-c",
    "import fcntl,os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(fcntl.fcntl(fd, 1034))",
    `/proc/${pid}/fd/${memfd}`,
  ]);
  return Number(out.toString().trim());
}

function ns(pid: number | "self", kind: string): string {
  return readlinkSync(`/proc/${pid}/ns/${kind}`);
}

/** Looks at every process of the running VM from the host (see the header, 1). */
async function observeRunning(run: RunningVm, name: string, serial: string): Promise<void> {
  const { vm, sup, plan } = run;
  const qsdQ = plan.processes.find((p) => p.id === "qsd-q")!;
  const image = qsdQ.root.find((e) => e.path === "/images/q");
  await waitGuest(sup, serial, "waiting-for-powerdown", 180_000);

  // Each process from the host, while the guest runs.
  expect(plan.processes.map((p) => p.id)).toEqual(["virtiofsd-ro", "virtiofsd-rw", "qsd-q", "qsd-r", "qemu"]);
  const seen = plan.processes.map((p) => {
    const pid = vm.processes.get(p.id)!.payloadPid;
    const cg = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    return {
      id: p.id,
      pid,
      uid: statusField(pid, "Uid"),
      capEff: BigInt(`0x${statusField(pid, "CapEff")[0]}`),
      capBnd: BigInt(`0x${statusField(pid, "CapBnd")[0]}`),
      nnp: statusField(pid, "NoNewPrivs")[0],
      seccomp: statusField(pid, "Seccomp")[0],
      mnt: ns(pid, "mnt"),
      pidns: ns(pid, "pid"),
      net: ns(pid, "net"),
      cgroupOk: cg.split("\n").some((l) => l.endsWith(`/qemu-jail-${name}/${p.id}`)),
      limits: readFileSync(`/proc/${pid}/limits`, "utf8"),
    };
  });
  for (const s of seen) {
    const p = plan.processes.find((x) => x.id === s.id)!;
    // Its own unprivileged uid, every id of the set (real, effective, saved, fs).
    expect(s.uid, s.id).toEqual([String(p.uid), String(p.uid), String(p.uid), String(p.uid)]);
    expect(p.uid).toBeGreaterThan(1000);
    // In its own cgroup below the VM's, with the filter on and no_new_privs.
    expect({ id: s.id, cgroup: s.cgroupOk, nnp: s.nnp, seccomp: s.seccomp }).toEqual({
      id: s.id,
      cgroup: true,
      nnp: "1",
      seccomp: "2",
    });
    // Namespaces: none shared with the host.
    expect(s.mnt).not.toBe(ns("self", "mnt"));
    expect(s.pidns).not.toBe(ns("self", "pid"));
    expect(s.net).not.toBe(ns("self", "net"));
    // At most the capabilities the plan keeps (virtiofsd may drop more itself), bounding set too.
    const kept = capMask(p.capabilities.map((c) => c.name));
    expect({ id: s.id, extraEff: s.capEff & ~kept, extraBnd: s.capBnd & ~kept }).toEqual({
      id: s.id,
      extraEff: 0n,
      extraBnd: 0n,
    });
  }
  // No two processes share a uid or a mount/pid namespace.
  expect(new Set(seen.map((s) => s.uid[0])).size).toBe(seen.length);
  expect(new Set(seen.map((s) => s.mnt)).size).toBe(seen.length);
  expect(new Set(seen.map((s) => s.pidns)).size).toBe(seen.length);
  // The storage daemons keep no capability at all; the ro virtiofsd nothing that writes.
  for (const id of ["qsd-q", "qsd-r"]) expect(seen.find((s) => s.id === id)!.capEff).toBe(0n);
  const roCaps = seen.find((s) => s.id === "virtiofsd-ro")!.capEff;
  expect(roCaps & capMask(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID"])).toBe(0n);
  // virtiofsd's open-file limit: as high as this launcher may set it.
  const nofile = Math.min(VIRTIOFSD_NOFILE, run.host.nofileMax ?? VIRTIOFSD_NOFILE);
  expect(seen.find((s) => s.id === "virtiofsd-rw")!.limits).toMatch(
    new RegExp(`^Max open files\\s+${nofile}\\s+${nofile}`, "m"),
  );
  // Guest RAM: a shared memfd sealed against shrinking and growing (F_SEAL_SHRINK|F_SEAL_GROW).
  const seals = memfdSeals(vm.processes.get("qemu")!.payloadPid);
  expect(seals & 0b110).toBe(0b110);
  // The image of a vhost-user disk belongs to its storage daemon's uid while it runs.
  expect(image?.kind === "bind" && statSync(image.source).uid).toBe(qsdQ.uid);
}

describe("vhost-user backends, each in its own jail", () => {
  it("virtiofs ro/rw and vhost-user-blk qcow2/raw: guest I/O, one jail per process, clean stop", async () => {
    const name = "qjb-io";
    const f = fixture(name);
    const serial = join(dir, `${name}.console`);
    const cfg = configOf(backendsToml(name, f, guest, serial), join(f.dir, "vm.toml"));
    const origQcow2 = statSync(f.qcow2);
    const run = await startVm(cfg, stateRoot);
    const { sup } = run;
    try {
      await observeRunning(run, name, serial);
    } catch (e) {
      sup.stop();
      sup.stop();
      await sup.done;
      throw e;
    }

    // Graceful stop: system_powerdown, the guest powers off, QEMU exits first, then the backends.
    sup.stop();
    const end = await sup.done;
    const out = text(serial);
    expect({ reason: end.reason, code: end.code, sigsys: end.sigsys, undo: end.undoFailures }, out).toEqual({
      reason: "stopped",
      code: 0,
      sigsys: [],
      undo: [],
    });
    expect(Object.values(end.statuses).filter((s) => s.signal === "SIGSYS")).toEqual([]);
    expect(checks(out)).toMatchObject({
      "ro-mount": "ok",
      "ro-read": `QJ-RO-${token}`,
      "ro-write": "denied",
      "ro-mkdir": "denied",
      "rw-mount": "ok",
      "rw-read": `QJ-RW-${token}`,
      "rw-write": "ok",
      "rw-ops": "ok",
      "rw-readback": `QJ-GUEST-FS-${token}`,
      "rw-chown": "ok",
      // F5: guest root cannot mint setuid/setgid files in the share (virtiofsd's filter answers
      // EPERM to such modes: chmod → fchmodat, cp -p → openat O_CREAT, mknod → mknodat); a plain
      // chmod still works.
      "rw-chmod": "ok",
      "rw-chmod-suid": expect.stringContaining(EPERM_TEXT),
      "rw-chmod-sgid": expect.stringContaining(EPERM_TEXT),
      "rw-setid-mode": "755",
      "rw-create-suid": expect.stringContaining(EPERM_TEXT),
      "rw-mknod-suid": expect.stringContaining(EPERM_TEXT),
      "qcow2-marker": `QJ-QCOW2-MARKER-${token}`,
      "raw-marker": `QJ-RAW-MARKER-${token}`,
      "qcow2-write": "ok",
      "raw-write": "ok",
      "qcow2-readback": `QJ-GUEST-QCOW2-${token}`,
      powerdown: "received",
    });

    // On the host: the rw share holds what the guest made, with the owners the guest gave them
    // (guest root → 0; its chown → CHOWN_TO); the ro share is untouched.
    const made = join(f.rw, "guest-dir", "guest.txt");
    expect(readFileSync(made, "utf8")).toBe(`QJ-GUEST-FS-${token}\n`);
    expect({ uid: statSync(made).uid, gid: statSync(made).gid }).toEqual({ uid: 0, gid: 0 });
    expect(readlinkSync(join(f.rw, "link"))).toBe("guest-dir/guest.txt");
    expect(lstatSync(join(f.rw, "chowned.txt"))).toMatchObject({ uid: CHOWN_TO, gid: CHOWN_TO });
    // F5 on the host's own view (not only the jail's nosuid bind): no setuid/setgid bit anywhere.
    expect(statSync(join(f.rw, "setid.txt")).mode & 0o7777).toBe(0o755);
    expect(existsSync(join(f.rw, "suid-copy")), "cp -p of a setuid file created it").toBe(false);
    expect(existsSync(join(f.rw, "suid-fifo")), "mknod -m 4644 created it").toBe(false);
    const setid = (readdirSync(f.rw, { recursive: true }) as string[]).filter(
      (n) => lstatSync(join(f.rw, n)).mode & 0o6000,
    );
    expect(setid).toEqual([]);
    expect(readdirSync(f.ro).sort()).toEqual(["marker.txt"]);
    // The disks hold the guest's writes.
    execFileSync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", f.qcow2, join(f.dir, "q.after")]);
    const q = readFileSync(join(f.dir, "q.after"));
    expect(q.toString("utf8", WRITE_OFFSET, WRITE_OFFSET + 40)).toContain(`QJ-GUEST-QCOW2-${token}`);
    const r = readFileSync(f.raw);
    expect(r.toString("utf8", WRITE_OFFSET, WRITE_OFFSET + 40)).toContain(`QJ-GUEST-RAW-${token}`);
    // Ownership restored, nothing left behind.
    expect({ uid: statSync(f.qcow2).uid, gid: statSync(f.qcow2).gid }).toEqual({
      uid: origQcow2.uid,
      gid: origQcow2.gid,
    });
    expect(await leftovers(name, stateRoot)).toEqual([]);
  }, 300_000);

  it("a backend SIGKILLed during the run: QEMU is stopped, the culprit reported, the host clean", async () => {
    const name = "qjb-kill";
    const f = fixture(name);
    const serial = join(dir, `${name}.console`);
    const cfg = configOf(backendsToml(name, f, guest, serial), join(f.dir, "vm.toml"));
    const { vm, sup } = await startVm(cfg, stateRoot);
    await waitGuest(sup, serial, "waiting-for-powerdown", 180_000);
    const victim = vm.processes.get("qsd-q")!;
    process.kill(victim.payloadPid, "SIGKILL");
    const end = await sup.done;
    expect({
      reason: end.reason,
      culprit: end.culprit,
      victim: end.statuses["qsd-q"],
      exitClass: end.exitClass,
      undo: end.undoFailures,
    }).toEqual({
      reason: "backend-died",
      culprit: "qsd-q",
      victim: { code: null, signal: "SIGKILL" },
      exitClass: "guest",
      undo: [],
    });
    // QEMU did not outlive it, and no process was killed by seccomp.
    expect(end.statuses.qemu).toBeDefined();
    expect(end.sigsys).toEqual([]);
    for (const p of vm.processes.values()) expect(() => process.kill(p.payloadPid, 0)).toThrow();
    expect(await leftovers(name, stateRoot)).toEqual([]);
  }, 300_000);
});
