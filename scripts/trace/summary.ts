// Summarise `strace -f -qq -o FILE` output: per syscall the number of calls and the errors it
// returned, and for the syscalls whose arguments policies restrict (ioctl, socket, mmap, mprotect,
// clone, prctl, fcntl, futex, ...) the distinct argument values seen, with counts.

/** What one traced process did. */
export interface TraceSummary {
  /** syscall name → calls, plus errno name → count for failed calls. */
  syscalls: Record<string, { count: number; errors?: Record<string, number> }>;
  /** syscall name → "argument rendering as strace printed it" → count. */
  args: Record<string, Record<string, number>>;
  /** Signals delivered (`--- SIGxxx`) and how threads/processes ended (`+++ ...`). */
  signals: Record<string, number>;
  exits: Record<string, number>;
}

/** Which arguments to record per syscall (0-based indexes into the top-level argument list). */
export const ARG_PICKS: Record<string, number[]> = {
  ioctl: [1],
  socket: [0, 1, 2],
  socketpair: [0, 1, 2],
  mmap: [2, 3],
  mprotect: [2],
  madvise: [2],
  prctl: [0, 1],
  fcntl: [1],
  futex: [1],
  accept4: [3],
  setsockopt: [1, 2],
  getsockopt: [1, 2],
  seccomp: [0, 1],
  eventfd2: [1],
  timerfd_create: [0, 1],
  epoll_ctl: [1],
  rt_sigprocmask: [0],
  rt_sigaction: [0],
  tgkill: [2],
  kill: [1],
  memfd_create: [1],
  fallocate: [1],
  shutdown: [1],
  sendmsg: [2],
  recvmsg: [2],
  unshare: [0],
  mount: [2, 3],
  io_uring_setup: [0],
  io_uring_register: [1],
  flock: [1],
  fadvise64: [3],
  getrandom: [2],
  openat: [2],
  mremap: [3],
  statx: [2],
};

/** Split the text between the outer parentheses of a call into top-level arguments. */
export function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (inStr) {
      cur += c;
      if (c === "\\") {
        cur += s[i + 1] ?? "";
        i++;
      } else if (c === '"') inStr = false;
      continue;
    }
    if (c === '"') inStr = true;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    if (c === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += c;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** Render the recorded arguments of one call, or undefined when none are recorded for it. */
function pickArgs(name: string, args: string[]): string | undefined {
  if (name === "clone") {
    const f = args.find((a) => a.startsWith("flags="));
    return f ? f.slice(6) : "?";
  }
  if (name === "clone3") {
    const m = /flags=([^,}]+)/.exec(args[0] ?? "");
    return m ? m[1] : "?";
  }
  const picks = ARG_PICKS[name];
  if (!picks || picks.length === 0) return undefined;
  return picks.map((i) => (args[i] ?? "").replace(/^0x[0-9a-f]{9,}$/, "0x…")).join(", ");
}

const CALL = /^(\d+) +([a-z_0-9]+)\((.*)$/;
const RESUMED = /^(\d+) +<\.\.\. ([a-z_0-9]+) resumed>(.*)$/;
const RESULT = /\) += (-?\d+|0x[0-9a-f]+|\?)(?: ([A-Z][A-Z0-9_]+))?/;

/** Parse strace output (one process tree) into a summary. */
export function summariseStrace(text: string): TraceSummary {
  const sum: TraceSummary = { syscalls: {}, args: {}, signals: {}, exits: {} };
  const bump = (rec: Record<string, number>, k: string): void => {
    rec[k] = (rec[k] ?? 0) + 1;
  };
  const result = (name: string, tail: string): void => {
    const m = RESULT.exec(tail);
    if (!m) return;
    if (m[1] === "-1" && m[2]) {
      const s = sum.syscalls[name]!;
      s.errors ??= {};
      bump(s.errors, m[2]);
    }
  };
  for (const line of text.split("\n")) {
    const sig = /^\d+ +--- (SIG[A-Z0-9]+)/.exec(line);
    if (sig) {
      bump(sum.signals, sig[1]!);
      continue;
    }
    const ex = /^\d+ +\+\+\+ (.*) \+\+\+$/.exec(line);
    if (ex) {
      bump(sum.exits, ex[1]!);
      continue;
    }
    const res = RESUMED.exec(line);
    if (res) {
      if (sum.syscalls[res[2]!]) result(res[2]!, res[3]!);
      continue;
    }
    const call = CALL.exec(line);
    if (!call) continue;
    const name = call[2]!;
    const rest = call[3]!;
    sum.syscalls[name] ??= { count: 0 };
    sum.syscalls[name].count++;
    const unfinished = rest.endsWith("<unfinished ...>");
    // The argument text ends at the ") = " of the result, or at " <unfinished ...>".
    const argText = unfinished ? rest.replace(/ ?<unfinished \.\.\.>$/, "") : rest.replace(/\) += .*$/, "");
    const rendered = pickArgs(name, splitArgs(argText));
    if (rendered !== undefined) {
      sum.args[name] ??= {};
      bump(sum.args[name], rendered);
    }
    if (!unfinished) result(name, rest);
  }
  return sortSummary(sum);
}

function sortKeys<T>(rec: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Sort every map by key so fixtures diff cleanly. */
function sortSummary(s: TraceSummary): TraceSummary {
  return {
    syscalls: sortKeys(s.syscalls),
    args: sortKeys(Object.fromEntries(Object.entries(s.args).map(([k, v]) => [k, sortKeys(v)]))),
    signals: sortKeys(s.signals),
    exits: sortKeys(s.exits),
  };
}
