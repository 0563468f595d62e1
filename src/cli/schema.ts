// `qemu-jail schema`: the JSON Schema of vm.toml, for editors (taplo) and generators.

import type { Command } from "commander";

/** Registers `schema`. */
export function register(program: Command): void {
  program
    .command("schema")
    .description("print the JSON Schema of vm.toml (e.g. for taplo)")
    .action(async () => {
      const { configJsonSchema } = await import("../config/jsonschema.js");
      process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
    });
}
