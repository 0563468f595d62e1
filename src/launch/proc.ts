// Process identity from /proc: a pid alone can be reused, so a lock or a record names a process
// by (pid, start time), the 22nd field of /proc/PID/stat in clock ticks since boot.

import { readFileSync } from "node:fs";

/** A process named so that pid reuse cannot fool us. */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
}

/** Start time of `pid` (clock ticks since boot), or undefined when no such process exists. */
export function processStartTime(pid: number, procRoot = "/proc"): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: fields after it start at the last ')'.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // rest[0] is field 3 (state); field 22 is rest[19].
  const value = Number(rest[19]);
  return Number.isFinite(value) ? value : undefined;
}

/** State letter of `pid` (R, S, Z...), or undefined when gone. */
export function processState(pid: number, procRoot = "/proc"): string | undefined {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** This process's identity. */
export function selfIdentity(): ProcessIdentity {
  const startTime = processStartTime(process.pid);
  if (startTime === undefined) throw new Error("cannot read /proc/self/stat");
  return { pid: process.pid, startTime };
}

/** True when the process named by `id` still runs (same pid and same start time, not a zombie). */
export function isAlive(id: ProcessIdentity, procRoot = "/proc"): boolean {
  if (processStartTime(id.pid, procRoot) !== id.startTime) return false;
  return processState(id.pid, procRoot) !== "Z";
}
