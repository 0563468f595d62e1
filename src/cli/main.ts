// The `qemu-jail` command line. Each command lives in its own file under src/cli/ and is loaded
// lazily, so `qemu-jail --help` does not pay for the planner, the compiler or the launcher.
// Errors are mapped to exit codes here, and only here.

import { Command, CommanderError } from "commander";
import { ExitCode, isQemuJailError } from "../errors.js";

/** A command module: registers itself on the program. */
export type Register = (program: Command) => void;

// One line per command file. Keep alphabetical.
const commands: Array<() => Promise<{ register: Register }>> = [
  () => import("./argv.js"),
  () => import("./audit.js"),
  () => import("./demo.js"),
  () => import("./gc.js"),
  () => import("./plan.js"),
  () => import("./ps.js"),
  () => import("./run.js"),
  () => import("./schema.js"),
  () => import("./seccomp.js"),
  () => import("./stop.js"),
  () => import("./unit.js"),
  () => import("./validate.js"),
];

/** Runs the CLI with `args` (without node and script) and resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  const program = new Command("qemu-jail")
    .description("Run QEMU and its vhost-user backends, each in a jail derived from a vm.toml")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const load of commands) (await load()).register(program);
  try {
    await program.parseAsync(args, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return ExitCode.ok;
      return ExitCode.usage;
    }
    if (isQemuJailError(err)) {
      process.stderr.write(`qemu-jail: ${err.render()}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
