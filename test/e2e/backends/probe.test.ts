// From inside each backend's jail: the planned jail of every backend of a VM (virtiofsd for a ro
// and a rw share, qemu-storage-daemon for a qcow2 and a raw disk), launched by the real launcher
// (state dir, cgroups, launcher-made listening sockets, native helper), with the backend's binary
// replaced by the static probe at the same path. Everything else is the plan's: uid/gid,
// namespaces, root, /proc layout, rlimits, capabilities, Landlock. Seccomp is left out of these
// runs so each other layer shows it holds on its own; a last run keeps the planned filter and
// shows a syscall outside it kills the process. What the probe must see:
// - only its own files: the tree is exactly its plan's root (and the share's contents);
// - no capability beyond the plan's (none for the storage daemons), no_new_privs, its own uid;
// - nothing of QEMU (binary, kernel, QMP socket, state dir), of the VM's other backends (their
//   images or shares), or of another VM (its share and image), and no host pid to signal;
// - privileged operations refused (mount, unshare, setns, mknod, module/BPF loading...).

import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGuest } from "../../../src/guest/index.js";
import { fragmentSyscalls } from "../../../src/launch/run.js";
import type { Spawner } from "../../../src/launch/spawn.js";
import { supervise } from "../../../src/launch/supervise.js";
import { specFromPlan } from "../../../src/native/from-plan.js";
import { probePath } from "../../../src/native/paths.js";
import { spawnJailed } from "../../../src/native/spawn.js";
import type { JailPlan, ProcessPlan } from "../../../src/plan/types.js";
import { syscallName } from "../../../src/seccomp/arch.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { backendsToml, capMask, configOf, type Fixture, launchVm, leftovers, makeFixture } from "./vm.js";

const repo = resolve(import.meta.dirname, "../../..");
const token = `p${process.pid}`;
let dir: string;
let stateRoot: string;
let guest: ReturnType<typeof buildGuest>;
let a: Fixture;
let b: Fixture;

beforeAll(() => {
  execFileSync("make", ["-s", "-C", "native"], { cwd: repo });
  dir = mkdtempSync(join(tmpdir(), "qj-e2e-bprobe-"));
  stateRoot = join(dir, "state");
  // Only paths are needed (nothing boots): any built guest will do.
  guest = buildGuest({ modules: ["virtio_pci"], uncompressedKernel: false });
  for (const n of ["a", "b"]) mkdirSync(join(dir, n));
  a = makeFixture(join(dir, "a"), token);
  b = makeFixture(join(dir, "b"), token);
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type Line = Record<string, unknown>;

/** A spawner running the probe with `args(proc)` in each process's planned jail; seccomp optional. */
function probeSpawner(
  args: (p: ProcessPlan) => string[],
  out: Map<string, Line[]>,
  withSeccomp: boolean,
): (helperPath: string) => Spawner {
  return (helperPath) => async (req) => {
    const proc: ProcessPlan = {
      ...req.proc,
      argv: [req.proc.exe, ...args(req.proc)],
      root: req.proc.root.map((e) =>
        e.kind === "bind" && e.path === req.proc.exe ? { ...e, source: probePath() } : e,
      ),
    };
    const steps = specFromPlan(proc, {
      cgroupDirs: req.cgroupDirs,
      seccomp: withSeccomp ? req.bpf : [],
      fds: Object.fromEntries(req.fds),
      rootMountpoint: req.rootDir,
    });
    const h = spawnJailed({ steps }, { helperPath, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    h.stdout?.setEncoding("utf8").on("data", (c: string) => {
      text += c;
    });
    const { pid } = await h.ready;
    const exited = h.exited.then(async (s) => {
      // Let the pipe drain before parsing.
      await new Promise((r) => setTimeout(r, 50));
      out.set(
        req.proc.id,
        text
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Line),
      );
      return { code: s.code, signal: s.signal };
    });
    return { id: req.proc.id, pid: h.helperPid, payloadPid: pid, exited, kill: (sig) => void h.kill(sig) };
  };
}

/** A's plan without QEMU: only the backends start, each running the probe. */
function backendsOnly(p: JailPlan): JailPlan {
  return { ...p, processes: p.processes.filter((x) => x.role !== "qemu") };
}

function tries(lines: Line[]): Record<string, string> {
  const r: Record<string, string> = {};
  for (const l of lines)
    if (l.check === "try") r[`${l.op} ${l.arg}`] = (l.ret as number) < 0 ? String(l.errno) : "OK";
  return r;
}

function find(lines: Line[], check: string): Line {
  const l = lines.find((x) => x.check === check);
  if (!l) throw new Error(`no ${check} line in ${JSON.stringify(lines)}`);
  return l;
}

/** Every path the process may see: root entries, their parents, anything below a bound dir. */
function allowed(p: ProcessPlan, path: string): boolean {
  const roots = [...p.root.map((e) => e.path), ...p.devices.map((d) => d.path)];
  if (roots.includes(path)) return true;
  if (roots.some((r) => r.startsWith(`${path}/`))) return true;
  return p.root.some(
    (e) => ((e.kind === "bind" && e.type === "dir") || e.kind === "proc") && path.startsWith(`${e.path}/`),
  );
}

describe("inside each backend's jail (the probe in place of the backend)", () => {
  it("sees only its own files, keeps only its planned capabilities, reaches nothing of QEMU or another VM", async () => {
    const cfgA = configOf(backendsToml("qjb-pa", a, guest, join(dir, "a.console")), join(a.dir, "vm.toml"));
    const out = new Map<string, Line[]>();
    // Paths of QEMU, of the other backends and of VM B, as the host names them.
    const foreign = [
      guest.kernel,
      guest.initrd,
      "/usr/bin/qemu-system-x86_64",
      join(stateRoot, "qjb-pa", "qmp.sock"),
      join(stateRoot, "qjb-pa"),
      a.qcow2,
      a.raw,
      a.ro,
      a.rw,
      b.ro,
      b.rw,
      b.qcow2,
      b.raw,
      "/etc/passwd",
      "/proc/sys/kernel/core_pattern",
      "/sys/fs/cgroup",
    ];
    const args = (p: ProcessPlan): string[] => {
      const own =
        p.role === "virtiofsd"
          ? ["read", "/shared/marker.txt", "write", "/shared/probe-wrote", "readdir", "/proc/self/fd"]
          : ["read", `/images/${p.id.slice(4)}`];
      const others =
        p.role === "virtiofsd" ? ["/images/q", "/images/r"] : ["/shared", "/images/r", "/images/q"];
      return [
        "ids",
        "caps",
        "tree",
        "escape",
        "hostpid",
        String(process.pid),
        "privileged",
        ...own,
        ...others.filter((o) => !o.endsWith(`/${p.id.slice(4)}`)).flatMap((o) => ["read", o]),
        ...foreign.flatMap((f) => ["read", f]),
      ];
    };
    const { vm, plan } = await launchVm(cfgA, stateRoot, {
      edit: backendsOnly,
      spawner: probeSpawner(args, out, false),
    });
    await Promise.all([...vm.processes.values()].map((p) => p.exited));
    await vm.cleanup();
    expect([...out.keys()].sort()).toEqual(["qsd-q", "qsd-r", "virtiofsd-ro", "virtiofsd-rw"]);

    for (const p of plan.processes) {
      const lines = out.get(p.id)!;
      const t = tries(lines);
      // Its own uid and gid, no supplementary groups.
      expect(find(lines, "ids"), p.id).toMatchObject({
        uid: [p.uid, p.uid, p.uid],
        gid: [p.gid, p.gid, p.gid],
        groups: [],
      });
      // Exactly the planned capabilities (none for the storage daemons), in every set; nnp on.
      const kept = Number(capMask(p.capabilities.map((c) => c.name)));
      expect(find(lines, "caps"), p.id).toMatchObject({ eff: kept, prm: kept, bnd: kept, amb: kept, nnp: 1 });
      if (p.role === "qemu-storage-daemon") expect(kept).toBe(0);
      // Its tree is its plan's root and nothing else.
      const tree = (find(lines, "tree").paths as string[]).map((s) => s.slice(2));
      expect(
        tree.filter((path) => !allowed(p, path)),
        p.id,
      ).toEqual([]);
      // Its own files work as planned.
      if (p.role === "virtiofsd") {
        expect(t["read /shared/marker.txt"], p.id).toBe("OK");
        expect(t["readdir /proc/self/fd"], p.id).toBe("OK");
        expect(t["write /shared/probe-wrote"], p.id).toBe(p.id === "virtiofsd-ro" ? "EROFS" : "OK");
      } else {
        expect(t[`read /images/${p.id.slice(4)}`], p.id).toBe("OK");
      }
      // Nothing of QEMU, of the other backends, of VM B, of the host.
      for (const f of foreign)
        expect(`${p.id} read ${f}: ${t[`read ${f}`]}`).toBe(`${p.id} read ${f}: ENOENT`);
      const mine = p.role === "virtiofsd" ? "/shared" : `/images/${p.id.slice(4)}`;
      for (const o of ["/images/q", "/images/r", "/shared"].filter((x) => x !== mine)) {
        if (t[`read ${o}`] !== undefined)
          expect(`${p.id} read ${o}: ${t[`read ${o}`]}`).toBe(`${p.id} read ${o}: ENOENT`);
      }
      // No host process to signal or trace; no escape from the root.
      expect(t[`kill ${process.pid}`], p.id).toBe("ESRCH");
      expect(t[`ptrace ${process.pid}`], p.id).toBe("ESRCH");
      expect(find(lines, "dotdot").same, p.id).toBe(true);
      // Becoming host uid 0: only the rw share's virtiofsd can, because its plan keeps CAP_SETUID
      // to create files as their guest owners (guest root included). Still in its jail: every
      // check after this one ran as uid 0 with the same results.
      const setuid = p.capabilities.some((c) => c.name === "CAP_SETUID") ? "OK" : "EPERM";
      expect(`${p.id} setuid 0: ${t["setuid 0"]}`).toBe(`${p.id} setuid 0: ${setuid}`);
      // Privileged operations refused even for the virtiofsd that keeps file capabilities.
      for (const op of [
        "mount tmpfs",
        "unshare mount",
        "unshare net",
        "unshare user",
        "init_module ",
        "bpf map_create",
        "open /proc/sys/kernel/core_pattern",
        "open_by_handle_at /",
      ]) {
        expect(`${p.id} ${op}: ${t[op] === "OK" ? "OK" : "refused"}`).toBe(`${p.id} ${op}: refused`);
      }
    }
    // The ro share's virtiofsd wrote nothing; the rw one's write landed in A's share only.
    expect(execFileSync("ls", [a.ro]).toString().trim()).toBe("marker.txt");
    expect(execFileSync("ls", [a.rw]).toString()).toContain("probe-wrote");
    expect(execFileSync("ls", [b.rw]).toString().trim()).toBe("marker.txt");
    expect(await leftovers("qjb-pa", stateRoot)).toEqual([]);
  }, 120_000);

  it("with the planned filter on, a syscall outside a backend's policy kills it (SIGSYS)", async () => {
    const cfgA = configOf(backendsToml("qjb-pf", a, guest, join(dir, "f.console")), join(a.dir, "vm.toml"));
    const out = new Map<string, Line[]>();
    // After printing its environment (only write(2): allowed), the probe calls mount(2) (nr 165
    // on x86_64). (Its "ids" check would already die: the daemon's policy has no getresuid.)
    const { vm } = await launchVm(cfgA, stateRoot, {
      edit: (p) => ({ ...backendsOnly(p), processes: p.processes.filter((x) => x.id === "qsd-r") }),
      spawner: probeSpawner(() => ["env", "syscall", "165"], out, true),
    });
    const status = await vm.processes.get("qsd-r")!.exited;
    await vm.cleanup();
    expect(status).toEqual({ code: null, signal: "SIGSYS" });
    expect(find(out.get("qsd-r")!, "env")).toMatchObject({ vars: [] });
    expect(out.get("qsd-r")!.some((l) => l.check === "try")).toBe(false);
    // The policy really is the storage daemon's: compiled from its fragments, mount not in it.
    expect(compilePolicy(vm.plan.processes[0]!.seccomp).length).toBeGreaterThan(10);
    expect(vm.plan.processes[0]!.seccomp.rules.some((r) => r.syscall === "mount")).toBe(false);
    expect(await leftovers("qjb-pf", stateRoot)).toEqual([]);
  }, 120_000);
  it("a backend killed by its filter: QEMU stopped (or never started), the same SIGSYS report as for QEMU", async () => {
    const cfgA = configOf(backendsToml("qjb-ps", a, guest, join(dir, "s.console")), join(a.dir, "vm.toml"));
    const out = new Map<string, Line[]>();
    // Probes everywhere: QEMU's and three backends' wait for a signal (no filter); qsd-r runs
    // under its planned filter and calls mount(2) at once. It dies either before QEMU connects
    // (launch fails, naming it) or after (supervise stops QEMU): both must report the same way.
    const launched = await launchVm(cfgA, stateRoot, {
      spawner: (helper) => {
        const waiting = probeSpawner(() => ["wait-signal"], out, false)(helper);
        const dying = probeSpawner(() => ["env", "syscall", "165"], out, true)(helper);
        return (req) => (req.proc.id === "qsd-r" ? dying(req) : waiting(req));
      },
    }).catch((e: unknown) => e);
    if (launched instanceof Error) {
      expect(launched).toMatchObject({
        code: "BACKEND_EXITED",
        detail: { process: "qsd-r", sigsys: { process: "qsd-r", syscall: "mount", nr: 165 } },
      });
      expect(launched.message).toContain("qsd-r was killed by seccomp: syscall mount (165)");
    } else {
      const { vm } = launched as Awaited<ReturnType<typeof launchVm>>;
      const end = await supervise(vm, {
        handleSignals: false,
        quitTimeoutMs: 1000,
        backendStopMs: 5000,
        sigsys: { syscallName, fragments: fragmentSyscalls(vm.fragments) },
      }).done;
      expect({ reason: end.reason, culprit: end.culprit, exitClass: end.exitClass }).toEqual({
        reason: "backend-died",
        culprit: "qsd-r",
        exitClass: "guest",
      });
      expect(end.statuses["qsd-r"]).toEqual({ code: null, signal: "SIGSYS" });
      // QEMU (the probe in its place) was stopped first, then the other backends on SIGTERM.
      expect(end.statuses.qemu?.signal).toBe("SIGKILL");
      for (const id of ["virtiofsd-ro", "virtiofsd-rw", "qsd-q"])
        expect(end.statuses[id], id).toEqual({ code: 0, signal: null });
      expect(end.sigsys).toHaveLength(1);
      expect(end.sigsys[0]).toMatchObject({ process: "qsd-r", syscall: "mount", nr: 165 });
      expect(end.undoFailures).toEqual([]);
    }
    expect(await leftovers("qjb-ps", stateRoot)).toEqual([]);
  }, 120_000);
  it("a backend killed by its filter while the VM runs: QEMU stopped first, then the others; SIGSYS report", async () => {
    const cfgA = configOf(backendsToml("qjb-pr", a, guest, join(dir, "r.console")), join(a.dir, "vm.toml"));
    const out = new Map<string, Line[]>();
    // qsd-r blocks opening a FIFO (openat is in its policy) until the test opens the other end
    // once every process runs; then it calls mount(2) under its planned filter.
    const sync = join(dir, "sync");
    mkdirSync(sync);
    execFileSync("mkfifo", [join(sync, "go")]);
    const { vm } = await launchVm(cfgA, stateRoot, {
      edit: (p) => {
        const r = p.processes.find((x) => x.id === "qsd-r")!;
        r.root.push({
          kind: "bind",
          path: "/sync",
          source: sync,
          type: "dir",
          rw: false,
          need: { item: "test", reason: "start signal" },
        });
        r.lsm.landlock?.rules.push({
          path: "/sync",
          access: ["read_file", "read_dir"],
          need: { item: "test", reason: "start signal" },
        });
        return p;
      },
      spawner: (helper) => {
        const waiting = probeSpawner(() => ["wait-signal"], out, false)(helper);
        const dying = probeSpawner(() => ["read", "/sync/go", "syscall", "165"], out, true)(helper);
        return (req) => (req.proc.id === "qsd-r" ? dying(req) : waiting(req));
      },
    });
    const sup = supervise(vm, {
      handleSignals: false,
      quitTimeoutMs: 1000,
      backendStopMs: 5000,
      sigsys: { syscallName, fragments: fragmentSyscalls(vm.fragments) },
    });
    sup.ready.catch(() => undefined);
    // Every process runs (QEMU included); now let qsd-r go on.
    closeSync(openSync(join(sync, "go"), "w"));
    const end = await sup.done;
    expect({ reason: end.reason, culprit: end.culprit, exitClass: end.exitClass }).toEqual({
      reason: "backend-died",
      culprit: "qsd-r",
      exitClass: "guest",
    });
    expect(tries(out.get("qsd-r")!)["read /sync/go"]).toBe("OK");
    expect(end.statuses["qsd-r"]).toEqual({ code: null, signal: "SIGSYS" });
    expect(end.statuses.qemu?.signal).toBe("SIGKILL");
    for (const id of ["virtiofsd-ro", "virtiofsd-rw", "qsd-q"])
      expect(end.statuses[id], id).toEqual({ code: 0, signal: null });
    // Shutdown order: the waiting backends got SIGTERM only after QEMU was gone.
    for (const id of ["virtiofsd-ro", "virtiofsd-rw", "qsd-q"])
      expect(find(out.get(id)!, "signal"), id).toMatchObject({ sig: 15 });
    expect(end.sigsys).toHaveLength(1);
    expect(end.sigsys[0]).toMatchObject({ process: "qsd-r", syscall: "mount", nr: 165 });
    expect(end.sigsys[0]!.message).toContain("qsd-r was killed by seccomp: syscall mount (165)");
    expect(end.undoFailures).toEqual([]);
    expect(await leftovers("qjb-pr", stateRoot)).toEqual([]);
  }, 120_000);
});
