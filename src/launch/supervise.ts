// Supervision of a launched VM: readiness (QMP answers), graceful stop (system_powerdown, then
// quit, then SIGKILL, each after its timeout), the lifecycle of backends (one dies: QEMU is
// stopped and the cause reported), the order on the way out (QEMU first, then backends), a
// report for any process killed by seccomp, cleanup, and the exit status.

import { type ExitClass, ExitCode } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { QmpClient } from "../qmp/client.js";
import type { LaunchedVm } from "./launch.js";
import { notifyReady, notifyStopping } from "./notify.js";
import {
  awaitSeccompAudit,
  findSeccompAudits,
  type SeccompLogSummary,
  type SigsysContext,
  type SigsysReport,
  seccompLogSummary,
  sigsysReport,
} from "./sigsys.js";
import type { ExitStatus, JailedProcess } from "./spawn.js";

/** Options of supervise; timeouts in ms. */
export interface SuperviseOptions {
  log?: Logger;
  /** How long QEMU may take until QMP answers. */
  qmpTimeoutMs?: number;
  /** After system_powerdown, how long the guest may take to power off before `quit`. */
  powerdownTimeoutMs?: number;
  /** After `quit`, how long before SIGKILL. */
  quitTimeoutMs?: number;
  /** After SIGTERM to a backend, how long before SIGKILL. */
  backendStopMs?: number;
  /** Handle SIGTERM/SIGINT of this process as a graceful stop (default true). */
  handleSignals?: boolean;
  /** SECCOMP's syscall tables and fragments, for the SIGSYS report. */
  sigsys?: SigsysContext;
  /**
   * The processes run under the helper's traced supervision (`run --trace-sigsys`, opt-in): a
   * SIGSYS report then gives the denied call's arguments from ExitStatus.sigsys.
   */
  traceSigsys?: boolean;
  kmsgPath?: string;
  /** Called once when QMP answers, with ms since launch() began. */
  onReady?: (ms: number) => void;
}

/** Why the VM ended. */
export type EndReason = "guest-exit" | "stopped" | "backend-died" | "qmp-timeout" | "qemu-died";

/** How a supervised VM ended. */
export interface VmExit {
  /** Exit status for the CLI: 0, or the "guest" class. */
  code: number;
  exitClass: ExitClass;
  reason: EndReason;
  /** ms from launch() until QMP answered, when it did. */
  readyMs?: number;
  statuses: Record<string, ExitStatus>;
  sigsys: SigsysReport[];
  /** With seccomp = "log": per process, the syscalls its allowlist lacks (from the kernel log). */
  seccompLog: SeccompLogSummary[];
  /** Which process ended first, when it was not QEMU on request. */
  culprit?: string;
  undoFailures: Array<{ name: string; error: string }>;
}

/** A running supervision: readiness, a stop request, and the end. */
export interface Supervision {
  /** Resolves to ms since launch() began when QMP answers; rejects if the VM ends first. */
  ready: Promise<number>;
  /** Asks for a graceful stop; a second call escalates to the next stage at once. */
  stop(): void;
  /** Settles when every process is gone and the host is cleaned up. */
  done: Promise<VmExit>;
}

/** How long a backend's clean exit may precede QEMU's own exit before it counts as a death. */
const BACKEND_HANGUP_GRACE_MS = 2000;

// Timers raced against a process exit are unref'd: they must not hold the launcher up once
// everything has exited. A wait that is itself a step of the shutdown must keep the event loop
// alive (`pause`), or Node ends the process mid-await (exit 13, "unsettled top-level await").
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Supervises `vm` (see the header). QEMU is the plan's process with role "qemu". */
export function supervise(vm: LaunchedVm, opts: SuperviseOptions = {}): Supervision {
  const log = opts.log ?? silentLogger();
  const qmpTimeoutMs = opts.qmpTimeoutMs ?? 60_000;
  const powerdownTimeoutMs = opts.powerdownTimeoutMs ?? 60_000;
  const quitTimeoutMs = opts.quitTimeoutMs ?? 10_000;
  const backendStopMs = opts.backendStopMs ?? 10_000;
  const qemuPlan = vm.plan.processes.find((p) => p.role === "qemu");
  const qemu = qemuPlan ? vm.processes.get(qemuPlan.id) : undefined;
  if (!qemuPlan || !qemu) throw new Error("plan has no qemu process");
  const backends = [...vm.processes.values()].filter((p) => p !== qemu);

  const statuses: Record<string, ExitStatus> = {};
  let reason: EndReason | undefined;
  let culprit: string | undefined;
  let readyMs: number | undefined;
  let stage = 0; // 0 running, 1 powerdown sent, 2 quit sent, 3 killed
  let escalate: (() => void) | undefined;

  const qemuExited = qemu.exited.then((s) => {
    statuses[qemuPlan.id] = s;
    log.info({ process: qemuPlan.id, ...s }, "qemu exited");
    return s;
  });
  for (const b of backends) {
    void b.exited.then(async (s) => {
      statuses[b.id] = s;
      // A vhost-user backend ends cleanly (exit 0) when its frontend hangs up: QEMU exiting on
      // its own (guest power-off) closes the socket before the launcher sees QEMU's exit. Such
      // an exit is a death only if QEMU is still running a moment later; a signal or an error
      // code is one at once.
      if (s.signal === null && s.code === 0 && !qemuDone) {
        await Promise.race([qemuExited, delay(BACKEND_HANGUP_GRACE_MS)]);
      }
      if (!qemuDone && reason === undefined) {
        // A backend died while QEMU runs: the VM cannot go on safely; stop QEMU, report why.
        reason = "backend-died";
        culprit = b.id;
        log.error({ process: b.id, ...s }, "backend died; stopping QEMU");
        void stopQemu(true);
      }
    });
  }
  let qemuDone = false;
  void qemuExited.then(() => {
    qemuDone = true;
  });

  // Readiness: QMP answers. The launcher made the socket, so connecting succeeds at once; the
  // greeting comes when QEMU accepts. The connection is closed right after: QEMU serves one
  // QMP client at a time, and `qemu-jail stop` or a management tool may want it.
  const ready = (async () => {
    const client = await Promise.race([
      QmpClient.connect(vm.plan.qmp.path, qmpTimeoutMs),
      qemuExited.then((s) => {
        throw new Error(`qemu exited before QMP answered (${s.signal ?? `code ${s.code}`})`);
      }),
    ]);
    readyMs = performance.now() - vm.startedAt;
    client.close();
    log.info({ readyMs: Number(readyMs.toFixed(1)) }, "QMP answers: VM ready");
    opts.onReady?.(readyMs);
    void notifyReady(`VM ${vm.plan.vm.name} running`);
    return readyMs;
  })();
  ready.catch(async (e) => {
    // A QEMU that dies resets the connection: give its exit a moment to be seen first.
    await Promise.race([qemuExited, delay(200)]);
    if (!qemuDone && reason === undefined) {
      reason = "qmp-timeout";
      log.error({ err: String(e) }, "QMP did not answer; stopping QEMU");
      void stopQemu(true);
    }
  });

  async function qmp(command: string): Promise<boolean> {
    try {
      const c = await QmpClient.connect(vm.plan.qmp.path, 5000);
      try {
        if (command === "system_powerdown") {
          // A guest that is not running (paused, -S, prelaunch) cannot react to the power
          // button: asking it would only wait out the timeout.
          const st = await c.execute<{ running?: boolean; status?: string }>("query-status");
          if (!st.running) {
            log.info({ status: st.status }, "guest not running: skipping system_powerdown");
            return false;
          }
        }
        await c.execute(command);
      } finally {
        c.close();
      }
      return true;
    } catch (e) {
      log.warn({ command, err: String(e) }, "QMP command failed");
      return false;
    }
  }

  const waitQemu = (ms: number) =>
    Promise.race([
      qemuExited.then(() => true),
      delay(ms).then(() => false),
      new Promise<boolean>((r) => {
        escalate = () => r(false);
      }),
    ]);

  let stopping: Promise<void> | undefined;
  function stopQemu(hard: boolean): Promise<void> {
    if (stopping) {
      escalate?.();
      return stopping;
    }
    stopping = (async () => {
      void notifyStopping();
      if (!hard && !qemuDone) {
        stage = 1;
        log.info("asking the guest to power off (system_powerdown)");
        if ((await qmp("system_powerdown")) && (await waitQemu(powerdownTimeoutMs))) return;
      }
      if (!qemuDone) {
        stage = 2;
        log.info("asking QEMU to quit");
        if ((await qmp("quit")) && (await waitQemu(quitTimeoutMs))) return;
      }
      if (!qemuDone) {
        stage = 3;
        log.warn("killing QEMU (SIGKILL)");
        qemu!.kill("SIGKILL");
      }
    })();
    return stopping;
  }

  const onSignal = (sig: NodeJS.Signals) => {
    log.info({ signal: sig, stage }, "signal received: stopping the VM");
    if (reason === undefined) reason = "stopped";
    void stopQemu(false);
  };
  if (opts.handleSignals !== false) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }

  const done = (async (): Promise<VmExit> => {
    const qs = await qemuExited;
    if (reason === undefined) reason = qs.code === 0 ? "guest-exit" : "qemu-died";
    // Shutdown order: QEMU first (done), then backends, which may still serve it until then.
    await Promise.all(backends.map((b) => stopBackend(b)));
    if (opts.handleSignals !== false) {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    }
    const reports: SigsysReport[] = [];
    for (const [id, s] of Object.entries(statuses)) {
      if (s.signal !== "SIGSYS" && s.code !== 128 + 31) continue;
      const proc = vm.plan.processes.find((p) => p.id === id)!;
      const jp = vm.processes.get(id)!;
      const record = await awaitSeccompAudit([jp.payloadPid, jp.pid], 1000, opts.kmsgPath);
      const ctx: SigsysContext = {
        ...(opts.sigsys ?? { syscallName: () => undefined }),
        traced: opts.traceSigsys === true,
      };
      const report = sigsysReport(proc, record, ctx, s.sigsys);
      log.error(
        { process: id, syscall: report.syscall, nr: report.nr, args: report.args, hint: report.hint },
        report.message,
      );
      reports.push(report);
    }
    // Log mode: what would have been denied, so all missing rules can be added at once.
    const seccompLog: SeccompLogSummary[] = [];
    // kauditd prints the last records a little after the process ended (see awaitSeccompAudit).
    if (vm.plan.processes.some((p) => p.seccomp.defaultAction.kind === "log")) await pause(200);
    for (const proc of vm.plan.processes) {
      if (proc.seccomp.defaultAction.kind !== "log") continue;
      const jp = vm.processes.get(proc.id);
      if (!jp) continue;
      const summary = seccompLogSummary(
        proc,
        findSeccompAudits([jp.payloadPid, jp.pid], opts.kmsgPath),
        opts.sigsys ?? { syscallName: () => undefined },
      );
      seccompLog.push(summary);
      for (const c of summary.syscalls) {
        log.warn(
          {
            process: proc.id,
            syscall: c.name,
            nr: c.nr,
            count: c.count,
            fragmentsAllowing: c.fragmentsAllowing,
          },
          `seccomp log: ${proc.id} called ${c.name}, which its allowlist lacks`,
        );
      }
    }
    const failures = await vm.cleanup();
    const ok = (reason === "guest-exit" || reason === "stopped") && qs.code === 0 && reports.length === 0;
    const exitClass: ExitClass = ok ? "ok" : "guest";
    return {
      code: ExitCode[exitClass],
      exitClass,
      reason,
      readyMs,
      statuses,
      sigsys: reports,
      seccompLog,
      culprit: culprit ?? (ok ? undefined : qemuPlan.id),
      undoFailures: failures.map((f) => ({ name: f.name, error: String(f.error) })),
    };
  })();

  async function stopBackend(b: JailedProcess): Promise<void> {
    if (statuses[b.id]) return;
    b.kill("SIGTERM");
    const exited = await Promise.race([b.exited.then(() => true), delay(backendStopMs).then(() => false)]);
    if (!exited) {
      log.warn({ process: b.id }, "backend did not stop on SIGTERM: SIGKILL");
      b.kill("SIGKILL");
      await b.exited;
    }
  }

  return {
    ready,
    stop: () => {
      if (reason === undefined) reason = "stopped";
      void stopQemu(false);
    },
    done,
  };
}
