// How launch starts one process. The real spawner is the native helper (src/native), which
// builds the jail and execs the payload; `bareSpawner` runs the same argv with the same fds and
// no jail at all, which is the baseline of the launch benchmark and what tests of supervision
// use to run real QEMU without the jail's cost.

import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import type { ProcessPlan } from "../plan/types.js";

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
  /**
   * With traced supervision (`--trace-sigsys`): the syscall a seccomp filter killed the payload
   * for, with its six arguments as the helper read them from the dying thread (hex strings).
   */
  sigsys?: TracedSigsys;
}

/** A seccomp-denied syscall as the native helper's trace mode saw it. */
export interface TracedSigsys {
  /** Host tid of the thread that made the call. */
  tid: number;
  nr: number;
  /** a0..a5, hex ("0x3"). */
  args: string[];
}

/** What launch hands a spawner for one process. */
export interface SpawnRequest {
  proc: ProcessPlan;
  /** fd number in the jailed process → the launcher's fd. */
  fds: Map<number, number>;
  /** Compiled seccomp programs (struct sock_filter[]), loaded last, in order. */
  bpf: Uint8Array[];
  /** Absolute cgroup dirs the process joins before it runs anything (one per hierarchy). */
  cgroupDirs: string[];
  /** An empty dir the jail's root tmpfs is mounted over (in the jail's mount namespace only). */
  rootDir: string;
  /** Per-stage timing callback (stage name, ms since spawn). */
  onStage?: (stage: string, ms: number) => void;
}

/** A started process: the helper (or the bare child) and, once known, the payload's host pid. */
export interface JailedProcess {
  id: string;
  /** Host pid of the process the launcher spawned. */
  pid: number;
  /** Host pid of the payload (QEMU, virtiofsd...), which may differ in a new pid namespace. */
  payloadPid: number;
  /** Settles when the spawned process has exited. */
  exited: Promise<ExitStatus>;
  /** Sends a signal to the payload (through the helper when there is one). */
  kill(signal: NodeJS.Signals): void;
}

/**
 * Starts one process; resolves once its payload has been exec'd. It must spawn before its first
 * await: the launcher's copies of listening sockets are open until then, and Node would accept
 * on them once its event loop runs (see fds.ts).
 */
export type Spawner = (req: SpawnRequest) => Promise<JailedProcess>;

/** Host path of `proc`'s binary: the bind source of its exe inside the root, or the exe itself. */
export function hostExe(proc: ProcessPlan): string {
  const entry = proc.root.find((e) => e.kind === "bind" && e.path === proc.exe);
  return entry?.kind === "bind" ? entry.source : proc.exe;
}

/** Builds a spawn() stdio array that puts each launcher fd at its target number. */
export function stdioFor(
  fds: Map<number, number>,
  defaults: StdioOptions = ["ignore", "inherit", "inherit"],
): StdioOptions {
  const max = Math.max(2, ...fds.keys());
  const stdio: unknown[] = [];
  const base: unknown[] = Array.isArray(defaults) ? defaults : [defaults, defaults, defaults];
  for (let i = 0; i <= max; i++) stdio.push(fds.get(i) ?? (i < 3 ? base[i] : "ignore") ?? "ignore");
  return stdio as StdioOptions;
}

/** Waits for a child's exit as an ExitStatus. */
export function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
}

/** Runs the payload with its argv, env and fds but no jail (benchmark baseline, supervision tests). */
export const bareSpawner: Spawner = async (req) => {
  const { proc } = req;
  const child = spawn(hostExe(proc), proc.argv.slice(1), {
    argv0: proc.argv[0],
    env: proc.env,
    stdio: stdioFor(req.fds),
    detached: false,
  });
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", reject);
  });
  return {
    id: proc.id,
    pid: child.pid!,
    payloadPid: child.pid!,
    exited: exitOf(child),
    kill: (signal) => {
      try {
        child.kill(signal);
      } catch {}
    },
  };
};
