// runVm: the whole pipeline for one config, as `qemu-jail run` and `qemu-jail demo` use it:
// probeHost → loadFragments → plan → launch → supervise. Signals: SIGINT/SIGTERM during setup
// abort the launch (everything done so far is undone); once the VM runs they stop it gracefully.

import { join } from "node:path";
import type { VmConfig } from "../config/types.js";
import type { HostFacts } from "../host/types.js";
import type { Logger } from "../log.js";
import type { JailPlan } from "../plan/types.js";
import type { FragmentSet } from "../seccomp/types.js";
import { type LaunchedVm, launch } from "./launch.js";
import { ioctlNamer } from "./sigsys.js";
import type { Spawner } from "./spawn.js";
import { ensureTrustedDir } from "./state.js";
import { type SuperviseOptions, supervise, type VmExit } from "./supervise.js";

/** Options of runVm. */
export interface RunOptions extends Omit<SuperviseOptions, "log" | "sigsys"> {
  log: Logger;
  /** Override the state root (else config.jail.state_dir). */
  stateDir?: string;
  /** Default: the native helper. */
  spawner?: Spawner;
  /** Policy fragments; default: loadFragments() of the package's policies/. */
  fragments?: FragmentSet;
  /** Called with the plan before launching (e.g. to print it). */
  onPlan?: (plan: JailPlan) => void;
  /** Called once the VM runs. */
  onLaunched?: (vm: LaunchedVm) => void;
}

/** The VM's end, with the plan it ran under and the host facts it was planned for. */
export interface RunResult extends VmExit {
  plan: JailPlan;
  host: HostFacts;
  launchMs: number;
  steps: Array<{ step: string; ms: number }>;
}

/** Runs the VM `config` in its jail until it ends; see the header. */
export async function runVm(config: VmConfig, opts: RunOptions): Promise<RunResult> {
  const log = opts.log;
  const cfg: VmConfig = opts.stateDir
    ? { ...config, jail: { ...config.jail, state_dir: opts.stateDir } }
    : config;
  const abort = new AbortController();
  const onSetupSignal = (sig: NodeJS.Signals) => {
    log.warn({ signal: sig }, "signal during setup: aborting the launch");
    abort.abort();
  };
  process.on("SIGINT", onSetupSignal);
  process.on("SIGTERM", onSetupSignal);
  let vm: LaunchedVm;
  let host: HostFacts;
  try {
    const t = performance.now();
    const [{ probeHost }, { loadFragments }, { plan }, { compilePolicy }, { cgroupDriver }] =
      await Promise.all([
        import("../host/probe.js"),
        import("../seccomp/fragments.js"),
        import("../plan/plan.js"),
        import("../seccomp/compile.js"),
        import("./cgroups.js"),
      ]);
    // Probe answers (QEMU --version, ELF closures) are cached in the state root, validated by
    // the stamps of the files they came from: a launch pays the full probe once per host change.
    ensureTrustedDir(cfg.jail.state_dir, 0o755);
    host = await probeHost(cfg, { cacheFile: join(cfg.jail.state_dir, ".host-probe.json") });
    log.debug({ ms: Number((performance.now() - t).toFixed(1)) }, "host probed");
    const fragments: FragmentSet = opts.fragments ?? loadFragments();
    const p = plan(cfg, host, fragments);
    log.debug({ ms: Number((performance.now() - t).toFixed(1)) }, "planned");
    opts.onPlan?.(p);
    const spawner =
      opts.spawner ??
      (await import("./native-spawner.js")).nativeSpawner(host.helperPath, {
        traceSigsys: opts.traceSigsys === true,
      });
    vm = await launch(p, {
      spawner,
      compile: (policy) => compilePolicy(policy).program,
      cgroups: cgroupDriver(host.cgroup),
      replan: (idBase) => plan(cfg, host, fragments, { idBase }),
      log,
      signal: abort.signal,
    });
    vm.fragments = fragments;
  } finally {
    process.off("SIGINT", onSetupSignal);
    process.off("SIGTERM", onSetupSignal);
  }
  log.info(
    { vm: vm.plan.vm.name, launchMs: Number(vm.launchMs.toFixed(1)), processes: [...vm.processes.keys()] },
    "VM launched",
  );
  opts.onLaunched?.(vm);
  const { syscallName, constantNames, constantValue } = await import("../seccomp/arch.js");
  const sup = supervise(vm, {
    ...opts,
    log,
    sigsys: {
      syscallName,
      fragments: fragmentSyscalls(vm.fragments),
      ioctlName: ioctlNamer(constantNames, constantValue),
    },
  });
  sup.ready.catch(() => undefined);
  const end = await sup.done;
  for (const f of end.undoFailures)
    log.error({ undo: f.name, err: f.error }, "cleanup incomplete: run `qemu-jail gc`");
  return { ...end, plan: vm.plan, host, launchMs: vm.launchMs, steps: vm.steps };
}

/** Fragment name → syscalls it has rules for (for the SIGSYS report). */
export function fragmentSyscalls(set: FragmentSet | undefined): Record<string, string[]> {
  if (!set) return {};
  return Object.fromEntries([...set.fragments].map(([name, f]) => [name, f.raw.rules.map((r) => r.syscall)]));
}
