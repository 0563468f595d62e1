// Shell quoting for printing an argv as one copy-pasteable line.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for a POSIX shell. */
export function shellQuote(arg: string): string {
  if (arg !== "" && SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** The argv as one shell line. */
export function shellLine(argv: readonly string[]): string {
  return argv.map(shellQuote).join(" ");
}
