// `qemu-jail gc`: removes what launchers killed with SIGKILL left (cgroups, taps, ownership
// changes, sockets, state dirs). Never touches a VM whose launcher is alive.

import type { Command } from "commander";
import { ExitCode } from "../errors.js";

/** Registers `gc`. */
export function register(program: Command): void {
  program
    .command("gc")
    .description("clean up after killed launchers (never touches a running VM)")
    .option("--state-dir <dir>", "state root", "/run/qemu-jail")
    .option("--name <vm>", "only this VM")
    .option("--verbose", "log each undone effect")
    .option("--json", "JSON output")
    .action(async (opts: { stateDir: string; name?: string; verbose?: boolean; json?: boolean }) => {
      const { gc } = await import("../launch/gc.js");
      const { cgroupDriver } = await import("../launch/cgroups.js");
      const { probeCgroups } = await import("../host/cgroup.js");
      const { createLogger } = await import("../log.js");
      const log = createLogger({ verbose: opts.verbose });
      const results = await gc(opts.stateDir, {
        cgroups: cgroupDriver(await probeCgroups()),
        log,
        name: opts.name,
      });
      if (opts.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      else {
        for (const r of results) {
          process.stdout.write(
            `${r.vm}: ${r.action}${r.undone.length ? ` (${r.undone.length} effects undone)` : ""}\n`,
          );
          for (const f of r.failures) process.stdout.write(`  failed: ${f.effect}: ${f.error}\n`);
        }
        if (results.length === 0) process.stdout.write("nothing to clean\n");
      }
      if (results.some((r) => r.action === "failed")) process.exitCode = ExitCode.jail;
    });
}
