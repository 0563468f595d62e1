// The Spawner over NATIVE's helper: NATIVE's specFromPlan turns a ProcessPlan plus what only the
// launcher knows (the fds it opened, the compiled BPF, the cgroup dirs it created, the root
// mount point) into the helper's steps; spawnJailed runs the helper. The handle resolves once
// the helper confirms exec; the helper stays as the payload's parent and reports its exit
// status (a seccomp kill shows as the payload's SIGSYS).

// Imported statically: this module is itself loaded lazily (by runVm), and spawnJailed must be
// reached without an await after the launcher opened the process's listening sockets (fds.ts).
import { spawnJailed, specFromPlan } from "../native/index.js";
import type { Spawner } from "./spawn.js";

/** Options of nativeSpawner. */
export interface NativeSpawnerOptions {
  /**
   * Traced supervision (opt-in: a ptrace stop per thread creation and per signal): when seccomp
   * kills a payload, the helper reports the denied syscall's arguments (ExitStatus.sigsys).
   */
  traceSigsys?: boolean;
}

/** A Spawner running each process through the helper at `helperPath`. */
export function nativeSpawner(helperPath: string, opts: NativeSpawnerOptions = {}): Spawner {
  return async (req) => {
    const steps = specFromPlan(req.proc, {
      cgroupDirs: req.cgroupDirs,
      seccomp: req.bpf,
      fds: Object.fromEntries(req.fds),
      rootMountpoint: req.rootDir,
      traceSigsys: opts.traceSigsys === true,
    });
    // spawnJailed spawns synchronously: the launcher's listening sockets are handed over before
    // its event loop can accept on them (see fds.ts).
    const handle = spawnJailed(
      { steps },
      {
        helperPath,
        stdio: ["ignore", "inherit", "inherit"],
        onStatus: (ev, ms) => {
          if (ev.kind === "stage") req.onStage?.(ev.stage, ms);
        },
      },
    );
    const { pid } = await handle.ready;
    return {
      id: req.proc.id,
      pid: handle.helperPid,
      payloadPid: pid,
      exited: handle.exited.then((s) => ({
        code: s.code,
        signal: s.signal,
        ...(s.sigsys ? { sigsys: s.sigsys } : {}),
      })),
      kill: (signal) => {
        handle.kill(signal);
      },
    };
  };
}
