// Logging: pino JSON lines on stderr when stderr is not a terminal (journald and log shippers
// read them as is), short readable lines on a terminal. `verbose` lowers the level to debug,
// which is where each jail step and its timing is logged.

import pino, { type Logger } from "pino";

export type { Logger } from "pino";

/** Options of createLogger. */
export interface LogOptions {
  verbose?: boolean;
  /** Force a format; default: "pretty" on a TTY, "json" otherwise. */
  format?: "json" | "pretty";
  /** Where lines go; default process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean };
  /** Silence everything (library use without logs). */
  silent?: boolean;
}

const LEVELS: Record<number, string> = {
  10: "trace",
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};
const SKIP = new Set(["level", "time", "pid", "hostname", "msg", "name"]);

/** Renders one pino JSON line as "12:00:01.234 info  message key=value ...". */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof o.time === "number" ? new Date(o.time).toISOString().slice(11, 23) : "";
  const level = (LEVELS[o.level as number] ?? String(o.level)).padEnd(5);
  const extra = Object.entries(o)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${time} ${level} ${o.msg ?? ""}${extra ? ` ${extra}` : ""}\n`;
}

/** Creates the process logger. */
export function createLogger(opts: LogOptions = {}): Logger {
  const stream = opts.stream ?? process.stderr;
  const level = opts.silent ? "silent" : opts.verbose ? "debug" : "info";
  const format = opts.format ?? (stream.isTTY ? "pretty" : "json");
  const dest =
    format === "pretty"
      ? { write: (s: string) => stream.write(prettyLine(s)) }
      : { write: (s: string) => stream.write(s) };
  return pino({ level, base: undefined, name: "qemu-jail" }, dest);
}

/** A logger that drops everything. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
