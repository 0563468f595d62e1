// The Spawner over NATIVE's helper: build the HelperSpec of a ProcessPlan (NATIVE's builder),
// with the launcher's fds, the compiled BPF and the cgroup dirs to join, then spawnJailed. The
// returned handle resolves once the helper confirms exec; the helper stays as the payload's
// parent and reports its exit status (and SIGSYS as the payload's signal).

import type { ProcessPlan } from "../plan/types.js";
import type { Spawner } from "./spawn.js";

/** What the spec builder gets besides the ProcessPlan. */
export interface SpecInputs {
  /** fd number in the payload → the launcher's fd. */
  fds: Map<number, number>;
  bpf: Uint8Array[];
  cgroupDirs: string[];
}

/** NATIVE's builder: ProcessPlan + inputs → HelperSpec. */
export type SpecBuilder = (proc: ProcessPlan, inputs: SpecInputs) => { steps: unknown[] };

// NATIVE's modules are loaded by name at run time, so this file does not pin their layout.
const SPAWN_MODULE = "../native/spawn.js";
const BUILDER_MODULE = "../native/from-plan.js";

/** A Spawner running each process through the helper at `helperPath`. */
export function nativeSpawner(helperPath: string, build?: SpecBuilder): Spawner {
  return async (req) => {
    const native = (await import(SPAWN_MODULE)) as {
      spawnJailed: (spec: { steps: unknown[] }, o: Record<string, unknown>) => NativeHandle;
    };
    const builder =
      build ?? ((await import(BUILDER_MODULE)) as { helperSpecFromPlan: SpecBuilder }).helperSpecFromPlan;
    const spec = builder(req.proc, { fds: req.fds, bpf: req.bpf, cgroupDirs: req.cgroupDirs });
    const handle = native.spawnJailed(spec, {
      helperPath,
      stdio: ["ignore", "inherit", "inherit"],
      onStatus: (ev: { kind: string; stage?: string }, ms: number) => {
        if (ev.kind === "stage" && ev.stage) req.onStage?.(ev.stage, ms);
      },
    });
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

interface NativeHandle {
  helperPid: number;
  ready: Promise<{ pid: number }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals | number): boolean;
}
