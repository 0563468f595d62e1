// The Spawner over NATIVE's helper: NATIVE's specFromPlan turns a ProcessPlan plus what only the
// launcher knows (the fds it opened, the compiled BPF, the cgroup dirs it created, the root
// mount point) into the helper's steps; spawnJailed runs the helper. The handle resolves once
// the helper confirms exec; the helper stays as the payload's parent and reports its exit
// status (a seccomp kill shows as the payload's SIGSYS).

import type { Spawner } from "./spawn.js";

interface NativeHandle {
  helperPid: number;
  readonly pid: number | undefined;
  ready: Promise<{ pid: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals | number): boolean;
}

interface NativeModule {
  specFromPlan(proc: unknown, ctx: Record<string, unknown>): unknown[];
  spawnJailed(spec: { steps: unknown[] }, o: Record<string, unknown>): NativeHandle;
}

// Loaded by name at run time, so `qemu-jail --help` and the pure parts never load it.
const NATIVE_MODULE = "../native/index.js";

/** A Spawner running each process through the helper at `helperPath`. */
export function nativeSpawner(helperPath: string): Spawner {
  return async (req) => {
    const native = (await import(NATIVE_MODULE)) as NativeModule;
    const steps = native.specFromPlan(req.proc, {
      cgroupDirs: req.cgroupDirs,
      seccomp: req.bpf,
      fds: Object.fromEntries(req.fds),
      rootMountpoint: req.rootDir,
    });
    // spawnJailed spawns synchronously: the launcher's listening sockets are handed over before
    // its event loop can accept on them (see fds.ts).
    const handle = native.spawnJailed(
      { steps },
      {
        helperPath,
        stdio: ["ignore", "inherit", "inherit"],
        onStatus: (ev: { kind: string; stage?: string }, ms: number) => {
          if (ev.kind === "stage" && ev.stage) req.onStage?.(ev.stage, ms);
        },
      },
    );
    const { pid } = await handle.ready;
    return {
      id: req.proc.id,
      pid: handle.helperPid,
      payloadPid: pid,
      exited: handle.exited.then((s) => ({ code: s.code, signal: s.signal })),
      kill: (signal) => {
        handle.kill(signal);
      },
    };
  };
}
