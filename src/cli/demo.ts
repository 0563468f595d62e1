// `qemu-jail demo`: builds the demo guest on the spot (Debian kernel + busybox initramfs whose
// init greets and prints a few facts, then powers off), writes a demo vm.toml next to it, runs
// it in the full jail with the console on this terminal, and ends with a summary of that jail.

import type { Command } from "commander";

/** Registers `demo`. */
export function register(program: Command): void {
  program
    .command("demo")
    .description("boot a tiny demo guest in the full jail and summarise the jail it ran in")
    .option("--state-dir <dir>", "state root", "/run/qemu-jail")
    .option("--cache-dir <dir>", "where the demo guest and its vm.toml are built")
    .option("--verbose", "log each jail step with its timing")
    .action(async (opts: { stateDir: string; cacheDir?: string; verbose?: boolean }) => {
      const { runDemo } = await import("../launch/demo.js");
      process.exitCode = await runDemo(opts);
    });
}
