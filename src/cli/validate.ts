// `qemu-jail validate vm.toml`: parse, validate and check the referenced files; report every problem.

import type { Command } from "commander";
import { reportConfigError } from "./report.js";

/** Registers `validate`. */
export function register(program: Command): void {
  program
    .command("validate")
    .description("check a vm.toml: syntax, schema, cross-key rules, referenced files and image formats")
    .argument("<config>", "path to vm.toml")
    .option("--json", "print the validated config (defaults applied) as JSON")
    .action(async (file: string, opts: { json?: boolean }) => {
      const { loadConfig } = await import("../config/load.js");
      try {
        const config = loadConfig(file);
        if (opts.json) process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
        else process.stdout.write(`${file}: ok (vm "${config.vm.name}")\n`);
      } catch (err) {
        reportConfigError(err);
      }
    });
}
