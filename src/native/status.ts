// Status lines written by the helper on its status fd (native/README.md), parsed into events.

/** One event from the helper. */
export type StatusEvent =
  | { kind: "stage"; stage: string; state: "ok" | "skipped" | "loading"; detail?: string }
  | { kind: "pid"; pid: number }
  | { kind: "exec" }
  | { kind: "exit"; code: number | null; signal: number | null; core: boolean }
  | { kind: "fail"; stage: string; op: string; path: string; errnoName: string; errno: number }
  /** A thread killed by seccomp (traced supervision): the denied syscall and its six arguments (hex). */
  | { kind: "sigsys"; tid: number; nr: number; args: string[] }
  | { kind: "unknown"; line: string };

/** Decodes the %HH escapes the helper uses for paths ("-" means none). */
export function decodeField(s: string): string {
  return s === "-"
    ? ""
    : s.replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** Parses one status line (without its newline). Unknown lines are kept, not thrown away. */
export function parseStatusLine(line: string): StatusEvent {
  const f = line.split(" ");
  if (f[0] === "stage" && f.length >= 3 && (f[2] === "ok" || f[2] === "skipped" || f[2] === "loading")) {
    const detail = f.slice(3).join(" ");
    return { kind: "stage", stage: f[1]!, state: f[2], ...(detail ? { detail } : {}) };
  }
  if (f[0] === "pid" && f.length === 2 && /^\d+$/.test(f[1]!)) return { kind: "pid", pid: Number(f[1]) };
  if (line === "exec ok") return { kind: "exec" };
  if (f[0] === "exit" && f[1] === "code" && /^\d+$/.test(f[2] ?? ""))
    return { kind: "exit", code: Number(f[2]), signal: null, core: false };
  if (f[0] === "exit" && f[1] === "signal" && /^\d+$/.test(f[2] ?? ""))
    return { kind: "exit", code: null, signal: Number(f[2]), core: f[3] === "core" };
  if (f[0] === "fail" && f.length === 6 && /^\d+$/.test(f[5]!)) {
    return {
      kind: "fail",
      stage: f[1]!,
      op: f[2]!,
      path: decodeField(f[3]!),
      errnoName: f[4]!,
      errno: Number(f[5]),
    };
  }
  if (f[0] === "sigsys" && f.length === 9 && /^\d+$/.test(f[1]!) && /^\d+$/.test(f[2]!)) {
    return { kind: "sigsys", tid: Number(f[1]), nr: Number(f[2]), args: f.slice(3).map((a) => `0x${a}`) };
  }
  return { kind: "unknown", line };
}
