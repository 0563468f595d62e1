// `qemu-jail run vm.toml`: boot the VM with QEMU (and each backend) in its jail, supervise it
// until it ends, clean up, and exit with the VM's status (0, or the "guest" class on failure).

import type { Command } from "commander";

/** Registers `run`. */
export function register(program: Command): void {
  program
    .command("run")
    .description("boot the VM in its jail, supervise it, clean up when it ends")
    .argument("<config>", "path to vm.toml")
    .option("--state-dir <dir>", "state root (default: jail.state_dir of the config, /run/qemu-jail)")
    .option("--verbose", "log each jail step with its timing")
    .option("--log-format <format>", "json or pretty (default: pretty on a terminal, json otherwise)")
    .option("--powerdown-timeout <s>", "seconds the guest gets to power off before `quit`", "60")
    .option("--quit-timeout <s>", "seconds after `quit` before SIGKILL", "10")
    .option("--qmp-timeout <s>", "seconds QEMU gets until QMP answers", "60")
    .option(
      "--trace-sigsys",
      "supervise each process with ptrace so a seccomp kill reports the denied call's arguments (costs a stop per thread creation and signal)",
    )
    .action(
      async (
        file: string,
        opts: {
          stateDir?: string;
          verbose?: boolean;
          logFormat?: "json" | "pretty";
          powerdownTimeout: string;
          quitTimeout: string;
          qmpTimeout: string;
          traceSigsys?: boolean;
        },
      ) => {
        const { loadConfig } = await import("../config/load.js");
        const { createLogger } = await import("../log.js");
        const { runVm } = await import("../launch/run.js");
        const log = createLogger({ verbose: opts.verbose, format: opts.logFormat });
        const config = loadConfig(file);
        const end = await runVm(config, {
          log,
          stateDir: opts.stateDir,
          powerdownTimeoutMs: Number(opts.powerdownTimeout) * 1000,
          quitTimeoutMs: Number(opts.quitTimeout) * 1000,
          qmpTimeoutMs: Number(opts.qmpTimeout) * 1000,
          traceSigsys: opts.traceSigsys === true,
        });
        for (const r of end.sigsys) process.stderr.write(`qemu-jail: ${r.message}\n  hint: ${r.hint}\n`);
        for (const l of end.seccompLog) {
          if (l.syscalls.length === 0) continue;
          const calls = l.syscalls.map(
            (c) => `${c.name}${c.fragmentsAllowing.length ? ` (in ${c.fragmentsAllowing.join(", ")})` : ""}`,
          );
          process.stderr.write(
            `qemu-jail: seccomp log: ${l.process} called, outside its allowlist: ${calls.join(", ")}\n`,
          );
        }
        if (end.reason === "backend-died" && end.culprit) {
          const s = end.statuses[end.culprit];
          process.stderr.write(
            `qemu-jail: backend ${end.culprit} ended (${s?.signal ?? `exit code ${s?.code}`}) while the VM ran; QEMU was stopped\n`,
          );
        }
        log.info({ reason: end.reason, code: end.code, statuses: end.statuses }, "VM ended");
        process.exitCode = end.code;
      },
    );
}
