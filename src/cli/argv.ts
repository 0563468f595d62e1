// `qemu-jail argv vm.toml`: the QEMU command line the config turns into (bare, host paths).

import { type Command, Option } from "commander";
import { reportConfigError } from "./report.js";

/** Registers `argv`. Heavy modules load only when the command runs. */
export function register(program: Command): void {
  program
    .command("argv")
    .description(
      "print the QEMU command line for a config: one argument per line, then as one shell-quoted line",
    )
    .argument("<config>", "path to vm.toml")
    .option("--json", "print {argv, shell} as JSON")
    .option("--no-files", "do not check the files the config names (parse and validate only)")
    .addOption(
      new Option(
        "--accel <accel>",
        "override vm.accel (e.g. tcg where /dev/kvm exists but does not work)",
      ).choices(["kvm", "tcg"]),
    )
    .action(async (file: string, opts: { json?: boolean; files: boolean; accel?: "kvm" | "tcg" }) => {
      const [{ loadConfig, readConfigText }, { parseConfig }, { qemuArgv }, { shellLine }] =
        await Promise.all([
          import("../config/load.js"),
          import("../config/parse.js"),
          import("../qemu/argv.js"),
          import("../qemu/quote.js"),
        ]);
      let argv: string[];
      try {
        const config = opts.files ? loadConfig(file) : parseConfig(readConfigText(file), { source: file });
        if (opts.accel) config.vm = { ...config.vm, accel: opts.accel };
        argv = qemuArgv(config);
      } catch (err) {
        reportConfigError(err);
        return;
      }
      const shell = shellLine(argv);
      if (opts.json) process.stdout.write(`${JSON.stringify({ argv, shell }, null, 2)}\n`);
      else process.stdout.write(`${argv.join("\n")}\n\n${shell}\n`);
    });
}
