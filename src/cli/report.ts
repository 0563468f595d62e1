// Shared by the config commands: print every problem of a config error, not just the first.

import { isQemuJailError } from "../errors.js";

/** Writes all problems of a QemuJailError to stderr and sets the exit code; rethrows others. */
export function reportConfigError(err: unknown): void {
  if (!isQemuJailError(err)) throw err;
  const problems = err.detail?.problems;
  const lines = Array.isArray(problems) ? (problems as string[]) : [err.render()];
  for (const l of lines) process.stderr.write(`qemu-jail: ${l}\n`);
  if (lines.length > 1) process.stderr.write(`qemu-jail: ${lines.length} problems\n`);
  process.exitCode = err.exitCode;
}
