// launch(plan): performs a JailPlan's effects on the host, in order, each registering its undo
// the moment it succeeds. Read top to bottom, this function IS the order of operations.
// A failure at any step, or an abort (SIGINT/SIGTERM during setup), unwinds what was done and
// leaves the host as it was. Each effect is written to the record BEFORE it is attempted, so a
// launcher killed with SIGKILL can be cleaned up by `gc`.

import {
  chmodSync,
  closeSync,
  constants,
  fchownSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { QemuJailError } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { applySelinuxLabels, currentSelinuxLabels, loadApparmorProfile } from "../lsm/apply.js";
import { type Relabel, selinuxRelabels } from "../lsm/selinux.js";
import type { JailPlan, ProcessPlan } from "../plan/types.js";
import type { FragmentSet, Policy } from "../seccomp/types.js";
import { undoEffect } from "./effects.js";
import {
  closeAll,
  connectSocketsOf,
  type ListenEndpoint,
  type OpenedFd,
  openFds,
  setBlocking,
} from "./fds.js";
import { acquireLock, releaseLock } from "./lock.js";
import { createTap } from "./net.js";
import type { ProcessIdentity } from "./proc.js";
import { processStartTime } from "./proc.js";
import { type Effect, type LaunchRecord, PLAN_FILE, RECORD_FILE, Recorder } from "./record.js";
import { findSeccompAudit, type SigsysReport, sigsysReport } from "./sigsys.js";
import type { JailedProcess, Spawner } from "./spawn.js";
import { claimIds, DEFAULT_STATE_ROOT, ensureTrustedDir } from "./state.js";
import { UndoStack } from "./undo.js";

/** Creates and removes a VM's cgroups (HOST's src/launch/cgroup.ts behind a small interface). */
export interface CgroupDriver {
  /** Absolute dirs the launch may create for `plan`, parents before children (recorded first). */
  plannedDirs(plan: JailPlan): string[];
  /** Creates them, writes the limits, returns per process id the dirs it joins. */
  create(plan: JailPlan): Promise<Map<string, string[]>>;
  /** Removes dirs (deepest first), ending processes left in them; absent dirs are fine. */
  remove(dirs: string[]): Promise<void>;
}

/** Options of launch. */
export interface LaunchOptions {
  /** Where per-VM state dirs live; default: the plan's (from jail.state_dir), else /run/qemu-jail. */
  stateRoot?: string;
  /** Starts each process (default: the native helper). */
  spawner: Spawner;
  /** Compiles a process's seccomp policy to a BPF program (SECCOMP's compilePolicy). */
  compile: (policy: Policy) => Uint8Array;
  /** Cgroup creation/removal; absent: no cgroups (benchmark baseline only). */
  cgroups?: CgroupDriver;
  /** Re-plans with another id block when an "auto" block collides with a running VM. */
  replan?: (idBase: number) => JailPlan;
  log?: Logger;
  /** Aborts setup (SIGINT/SIGTERM before the VM runs): everything done so far is undone. */
  signal?: AbortSignal;
  /** How long a backend may take to be ready (exec confirmed), ms. */
  backendReadyMs?: number;
}

/** A launched VM: its processes, and the undo stack `supervise` unwinds once they are gone. */
export interface LaunchedVm {
  plan: JailPlan;
  stateDir: string;
  stateRoot: string;
  processes: Map<string, JailedProcess>;
  /** Launcher-side ms per step, in order. */
  steps: Array<{ step: string; ms: number }>;
  /** ms from launch() call to QEMU exec'd. */
  launchMs: number;
  /** performance.now() when launch() began (readiness is measured from it). */
  startedAt: number;
  undo: UndoStack;
  recorder: Recorder;
  /** The fragments the plan was composed from, when the caller has them (SIGSYS reports). */
  fragments?: FragmentSet;
  /** Unwinds everything; resolves to the undo failures. Call once every process has exited. */
  cleanup(): Promise<Array<{ name: string; error: unknown }>>;
}

/** Moves every path under `from` in the plan to `to` (state dir relocation for --state-dir/tests). */
export function rebasePlan(plan: JailPlan, from: string, to: string): JailPlan {
  if (from === to) return plan;
  const walk = (v: unknown): unknown => {
    if (typeof v === "string")
      return v === from || v.startsWith(`${from}/`)
        ? to + v.slice(from.length)
        : v.replaceAll(`=${from}/`, `=${to}/`).replaceAll(`,${from}/`, `,${to}/`);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(plan) as JailPlan;
}

function aborted(signal?: AbortSignal): void {
  if (signal?.aborted) {
    throw new QemuJailError("LAUNCH_INTERRUPTED", "launch interrupted by a signal; undoing what was done", {
      exit: "runtime",
    });
  }
}

/** Launches `plan`: see the header. Resolves once every process runs (QEMU last). */
export async function launch(inputPlan: JailPlan, opts: LaunchOptions): Promise<LaunchedVm> {
  const log = opts.log ?? silentLogger();
  const t0 = performance.now();
  const steps: Array<{ step: string; ms: number }> = [];
  const step = <T>(name: string, fn: () => T): T => {
    aborted(opts.signal);
    const s = performance.now();
    const r = fn();
    const done = () => {
      const ms = performance.now() - s;
      steps.push({ step: name, ms });
      log.debug({ step: name, ms: Number(ms.toFixed(2)) }, `jail step: ${name}`);
    };
    if (r instanceof Promise) {
      return r.then((v) => {
        done();
        return v;
      }) as T;
    }
    done();
    return r;
  };

  const stateRoot = opts.stateRoot ?? (dirname(inputPlan.stateDir) || DEFAULT_STATE_ROOT);
  let plan = rebasePlan(inputPlan, inputPlan.stateDir, join(stateRoot, inputPlan.vm.name));
  const stateDir = plan.stateDir;
  const undo = new UndoStack();
  const processes = new Map<string, JailedProcess>();
  let recorder: Recorder | undefined;
  let lock: ProcessIdentity | undefined;
  const openedAll: OpenedFd[] = [];

  try {
    // 1. State dir. Created first: the record of every later effect lives in it. Its removal is
    //    the LAST undo, after the lock is released (see 2), and only when empty, so it can never
    //    delete the lock of a launcher that took over meanwhile.
    step("state-dir", () => {
      ensureTrustedDir(stateRoot, 0o755);
      mkdirSync(stateDir, { recursive: true, mode: 0o750 });
      chmodSync(stateDir, 0o750);
      ensureTrustedDir(stateDir, 0o750);
    });
    undo.push("state-dir", () => rmdirIfEmpty(stateDir));

    // 2. Lock: two launches of one VM cannot race past this point.
    lock = step("lock", () => acquireLock(stateDir, plan.vm.name));
    const owner = lock;
    undo.push("lock", () => {
      // Everything but the lock first, then the lock itself: from here another launch may start.
      // If an undo failed, the record and plan stay: they are what `qemu-jail gc` finishes from.
      const keep = new Set(["lock", ...(undo.failedCount > 0 ? [RECORD_FILE, PLAN_FILE] : [])]);
      for (const e of readdirSync(stateDir))
        if (!keep.has(e)) rmSync(join(stateDir, e), { recursive: true, force: true });
      releaseLock(stateDir, owner);
    });

    // 3. Record: the plan and, from now on, every effect before it happens.
    const record: LaunchRecord = {
      version: 1,
      vm: plan.vm.name,
      stateDir,
      stateRoot,
      launcher: owner,
      startedAt: new Date().toISOString(),
      plan,
      effects: [],
    };
    recorder = new Recorder(record);
    step("record", () => recorder!.flush());
    const rec = recorder;
    const effect = async <T>(e: Effect, name: string, run: () => T | Promise<T>): Promise<T> => {
      rec.intend(e);
      try {
        const r = await run();
        undo.push(name, () => undoEffect(e, { cgroups: opts.cgroups }));
        return r;
      } catch (err) {
        // The effect may be half-done (a tap created but not up): its undo is idempotent.
        await undoEffect(e, { cgroups: opts.cgroups }).catch(() => undefined);
        throw err;
      }
    };

    // 4. Ids: an "auto" block that a running VM holds is moved (re-plan), a fixed one refused.
    plan = await step("ids", async () => {
      let p = plan;
      for (let tries = 0; tries < 64; tries++) {
        const r = claimIds(stateRoot, p.ids, p.vm.name);
        if ("claimed" in r) {
          for (const path of r.claimed) {
            rec.intend({ kind: "id-claim", path });
            undo.push(`id-claim ${path}`, () => rmSync(path, { force: true }));
          }
          return p;
        }
        if (!p.ids.auto || !opts.replan) {
          throw new QemuJailError(
            "ID_COLLISION",
            `uid/gid ${r.collision} is in use by running VM ${r.holder}`,
            {
              exit: "state",
              hint: 'use uid = "auto" or another fixed id for this VM',
            },
          );
        }
        log.debug({ collision: r.collision, holder: r.holder }, "id block in use, re-planning");
        const next = opts.replan(p.ids.base + p.ids.count);
        p = rebasePlan(next, next.stateDir, stateDir);
      }
      throw new QemuJailError("ID_EXHAUSTED", "no free id block in jail.id_range", { exit: "state" });
    });
    rec.record.plan = plan;
    rec.flush();

    // 5. Cgroups: before any process, because each process joins its cgroup before it runs.
    const cgroupDirs = new Map<string, string[]>();
    const driver = opts.cgroups;
    if (driver) {
      const dirs = driver.plannedDirs(plan);
      const made = await step("cgroups", () =>
        effect({ kind: "cgroup", dirs }, "cgroups", () => driver.create(plan)),
      );
      for (const [id, d] of made) cgroupDirs.set(id, d);
    }

    // 6. Taps: created (owned by the VM's uid) before QEMU, which gets each as an attached fd.
    const tapFds = new Map<string, number>();
    for (const tap of plan.taps) {
      const fd = await step(`tap ${tap.name}`, () =>
        effect({ kind: "tap", name: tap.name, netns: tap.netns }, `tap ${tap.name}`, () => createTap(tap)),
      );
      tapFds.set(tap.name, fd);
      openedAll.push({ target: -1, fd, created: [], close: () => closeSync(fd) });
    }

    // 7. Ownership: give rw images to the VM's uid where it needs them; the original owner is
    //    recorded in the effect itself, before the change, so gc can restore it.
    for (const o of plan.ownership) {
      // One open, then everything on that fd: the path is not followed (O_NOFOLLOW) and cannot
      // be swapped between the check and the chown (security review F3).
      const fd = openOwned(o.path, o.need.item);
      try {
        const st = fstatSync(fd);
        await step(`chown ${o.path}`, () =>
          effect(
            { kind: "chown", path: o.path, uid: o.uid, gid: o.gid, origUid: st.uid, origGid: st.gid },
            `chown ${o.path}`,
            () => fchownSync(fd, o.uid, o.gid),
          ),
        );
      } finally {
        closeSync(fd);
      }
    }

    // 7b. LSM: each process's AppArmor profile is loaded, and the VM's files get their SELinux
    //     labels, before any process starts: the helper switches to the profile/label at exec,
    //     and a profile that is not loaded then fails the exec. SELinux's previous labels are
    //     read and recorded before anything changes, so undo (and gc) put them back.
    for (const proc of plan.processes) {
      const aa = proc.lsm.apparmor;
      if (!aa) continue;
      await step(`apparmor ${aa.profileName}`, () =>
        effect({ kind: "apparmor-profile", name: aa.profileName }, `apparmor ${aa.profileName}`, () =>
          loadApparmorProfile(aa),
        ),
      );
    }
    const relabels = selinuxRelabelsOf(plan);
    if (relabels.length) {
      const previous = await currentSelinuxLabels(relabels.map((r) => r.path));
      await step("selinux labels", () =>
        effect({ kind: "selinux-labels", previous }, "selinux labels", () => applySelinuxLabels(relabels)),
      );
    }

    // 8. Processes, in plan order: backends first (each ready before the next), QEMU last.
    //    Listening sockets are made by the launcher, so a backend is "ready" for QEMU as soon
    //    as it runs: QEMU's connection waits in the socket's backlog until the backend accepts.
    const endpoints: ListenEndpoint[] = [];
    for (const proc of plan.processes) {
      const jailed = await step(`spawn ${proc.id}`, () =>
        spawnOne(proc, {
          opts,
          stateDir,
          rec,
          undo,
          cgroupDirs,
          endpoints,
          openedAll,
          log,
          tapFds,
          started: processes,
          plan,
        }),
      );
      processes.set(proc.id, jailed);
    }
    // A signal that came while the last process started still means "do not run this VM".
    aborted(opts.signal);
    // Taps no process took (none should be left): their fds go now.
    closeAll(openedAll, false);
    openedAll.length = 0;
  } catch (error) {
    closeAll(openedAll, false);
    // Processes already started are stopped before their cgroups and sockets go.
    for (const p of processes.values()) p.kill("SIGKILL");
    await Promise.all([...processes.values()].map((p) => p.exited));
    const failures = await undo.unwind((name, err) => {
      if (err) log.warn({ undo: name, err: String(err) }, "undo failed");
    });
    if (failures.length && error instanceof QemuJailError) {
      (error as { detail?: Record<string, unknown> }).detail = {
        ...error.detail,
        undoFailures: failures.map((f) => ({ name: f.name, error: String(f.error) })),
      };
    }
    throw error;
  }

  const launchMs = performance.now() - t0;
  let cleaned: Promise<Array<{ name: string; error: unknown }>> | undefined;
  return {
    plan,
    stateDir,
    stateRoot,
    processes,
    steps,
    launchMs,
    startedAt: t0,
    undo,
    recorder: recorder!,
    cleanup: () => {
      cleaned ??= undo.unwind((name, err) => {
        if (err) log.warn({ undo: name, err: String(err) }, "undo failed");
        else log.debug({ undo: name }, "undone");
      });
      return cleaned;
    },
  };
}

/** Removes `dir` if it exists and is empty (another launcher may own it by now otherwise). */
export function rmdirIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "ENOENT" && code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
  }
}

interface SpawnContext {
  opts: LaunchOptions;
  stateDir: string;
  rec: Recorder;
  undo: UndoStack;
  cgroupDirs: Map<string, string[]>;
  endpoints: ListenEndpoint[];
  openedAll: OpenedFd[];
  log: Logger;
  tapFds: Map<string, number>;
  /** The processes started so far (a backend that died before its consumer connects is reported). */
  started: Map<string, JailedProcess>;
  plan: JailPlan;
}

async function spawnOne(proc: ProcessPlan, c: SpawnContext): Promise<JailedProcess> {
  // Seccomp program compiled now, in the launcher: the helper only loads it.
  const program = c.opts.compile(proc.seccomp);
  const bpfPath = join(c.stateDir, `${proc.id}.bpf`);
  writeFileSync(bpfPath, program, { mode: 0o600 });
  // The mount point of the jail's root: an empty dir in the state dir (removed with it).
  const rootDir = join(c.stateDir, `root-${proc.id}`);
  mkdirSync(rootDir, { mode: 0o755 });

  // Connected ends of other processes' sockets: async, so before the synchronous section.
  const connected = await connectSocketsOf(proc, c.endpoints).catch(async (e) => {
    throw (await backendGone(proc, c)) ?? e;
  });
  c.openedAll.push(...connected);

  // Sockets the launcher creates are recorded before they exist, and removed with the state dir.
  for (const p of proc.fds) {
    if (p.source.kind === "listen-unix" || (p.source.kind === "file" && p.source.copyOf)) {
      const e = c.rec.intend({ kind: "file", path: p.source.path });
      c.undo.push(`file ${p.source.path}`, () => undoEffect(e));
    }
  }
  // From here to the spawner's synchronous spawn, no await: Node must not get to accept on a
  // listening socket that belongs to the jailed process (see fds.ts).
  const opened = openFds(proc, c.tapFds);
  c.openedAll.push(...opened);
  for (const p of proc.fds) {
    if (p.source.kind === "listen-unix") c.endpoints.push({ process: proc.id, fd: p, path: p.source.path });
  }
  const fds = new Map<number, number>();
  for (const o of [...opened, ...connected]) fds.set(o.target, o.fd);
  // Backends get sockets as socket activation passes them: blocking (synchronous, no await: see
  // above). QEMU sets its own sockets' mode, so it is spared the extra process this costs.
  const sockets =
    proc.role === "qemu"
      ? []
      : proc.fds.filter((p) => p.source.kind === "listen-unix" || p.source.kind === "socket-of");
  setBlocking(sockets.map((p) => fds.get(p.fd)!).filter((fd) => fd !== undefined));
  const started = c.opts.spawner({
    proc,
    fds,
    bpf: [program],
    cgroupDirs: c.cgroupDirs.get(proc.id) ?? [],
    rootDir,
    onStage: (stage, ms) =>
      c.log.debug({ process: proc.id, stage, ms: Number(ms.toFixed(2)) }, `helper stage: ${stage}`),
  });
  // The spawner has spawned synchronously: the child holds its copies. Ours go now, before any
  // await, so Node never accepts a connection meant for the jailed process.
  closeAll([...opened, ...connected], false);
  for (const o of [...opened, ...connected]) c.openedAll.splice(c.openedAll.indexOf(o), 1);
  let jailed: JailedProcess;
  try {
    jailed = await started;
  } finally {
    // Tap fds this process got are its own now.
    for (const f of proc.fds) {
      if (f.source.kind !== "tap") continue;
      const fd = c.tapFds.get(f.source.name);
      if (fd === undefined) continue;
      c.tapFds.delete(f.source.name);
      closeSync(fd);
      const i = c.openedAll.findIndex((o) => o.fd === fd);
      if (i >= 0) c.openedAll.splice(i, 1);
    }
    rmSync(bpfPath, { force: true });
  }
  const e = c.rec.intend({
    kind: "process",
    id: proc.id,
    pid: jailed.pid,
    startTime: processStartTime(jailed.pid) ?? 0,
    payloadPid: jailed.payloadPid,
  });
  c.undo.push(`process ${proc.id}`, () => undoEffect(e));
  return jailed;
}

/**
 * When `proc` cannot connect to a backend's socket, the backend has usually died during its own
 * start-up: say which one and how, with the same seccomp report as for a running VM.
 */
async function backendGone(proc: ProcessPlan, c: SpawnContext): Promise<QemuJailError | undefined> {
  for (const f of proc.fds) {
    if (f.source.kind !== "socket-of") continue;
    const id = f.source.process;
    const jp = c.started.get(id);
    if (!jp) continue;
    const status = await Promise.race([
      jp.exited,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref()),
    ]);
    if (!status) continue;
    const how = status.signal ? `killed by ${status.signal}` : `exit code ${status.code}`;
    let sigsys: SigsysReport | undefined;
    if (status.signal === "SIGSYS") {
      const { syscallName } = await import("../seccomp/arch.js");
      const planned = c.plan.processes.find((p) => p.id === id)!;
      sigsys = sigsysReport(planned, findSeccompAudit([jp.payloadPid, jp.pid]), { syscallName });
    }
    return new QemuJailError(
      "BACKEND_EXITED",
      `backend ${id} ended during start-up (${how}), before ${proc.id} could connect to it${sigsys ? `: ${sigsys.message}` : ""}`,
      {
        exit: "runtime",
        location: { key: f.need.item },
        hint: sigsys?.hint ?? `see ${id}'s messages above`,
        detail: { process: id, status, ...(sigsys ? { sigsys } : {}) },
      },
    );
  }
  return undefined;
}

/** Every file the VM's processes need labelled, once each (processes of one VM share its pair). */
function selinuxRelabelsOf(plan: JailPlan): Relabel[] {
  const byPath = new Map<string, Relabel>();
  for (const proc of plan.processes) {
    const labels = proc.lsm.selinux;
    if (!labels) continue;
    for (const r of selinuxRelabels(proc, labels)) {
      // A file writable by one process and read by another is the VM's own: the image label wins.
      const had = byPath.get(r.path);
      if (!had || r.context === labels.imageLabel) byPath.set(r.path, r);
    }
  }
  return [...byPath.values()];
}

/** Opens a file or dir whose owner the launch changes: not through a symlink, nothing else. */
function openOwned(path: string, item: string): number {
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK,
    );
  } catch (e) {
    throw new QemuJailError(
      "CHOWN_OPEN",
      `refusing to change the owner of ${path}: ${(e as NodeJS.ErrnoException).code}`,
      { exit: "jail", location: { key: item }, cause: e, hint: "give the image's own path, not a symlink" },
    );
  }
  const st = fstatSync(fd);
  if (!st.isFile() && !st.isDirectory()) {
    closeSync(fd);
    throw new QemuJailError(
      "CHOWN_NOT_FILE",
      `refusing to change the owner of ${path}: not a regular file or dir`,
      {
        exit: "jail",
        location: { key: item },
      },
    );
  }
  return fd;
}
