// One-line descriptions of plan entries, shared by the text rendering and the diff, so both speak
// the same words for the same thing.

import type { DeviceNode, FdSource, Need, PassedFd, Rlimit, RootEntry } from "../plan/types.js";
import { actionToString } from "../seccomp/actions.js";
import type { ArgCond, Rule } from "../seccomp/types.js";

/** "item: reason". */
export function needText(n: Need | undefined): string {
  return n ? `${n.item}: ${n.reason}` : "(no need recorded)";
}

/** Octal mode, e.g. 0600. */
export function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, "0")}`;
}

/** Bytes in binary units when exact, e.g. "512 MiB". */
export function bytes(n: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} B`;
}

/** A root entry without its need. */
export function rootText(e: RootEntry): string {
  switch (e.kind) {
    case "bind":
      return `${e.path} ${e.type} ${e.rw ? "rw" : "ro"}${e.source !== e.path ? ` <- ${e.source}` : ""}`;
    case "dir":
      return `${e.path} dir ${octal(e.mode)}`;
    case "tmpfs":
      return `${e.path} tmpfs ${bytes(e.sizeBytes)} ${octal(e.mode)} ${e.uid}:${e.gid}`;
    case "symlink":
      return `${e.path} -> ${e.target}`;
    case "proc":
      return `${e.path} proc (private, own pid namespace)`;
  }
}

/** A device node without its need. */
export function deviceText(d: DeviceNode): string {
  return `${d.path} ${d.type} ${d.major}:${d.minor} ${octal(d.mode)} ${d.uid}:${d.gid}`;
}

/** What an fd is, independent of its number. */
export function fdSourceText(s: FdSource): string {
  switch (s.kind) {
    case "file":
      return `file ${s.path} ${s.write ? (s.append ? "append" : "rw") : "ro"}${s.copyOf ? ` (copy of ${s.copyOf})` : ""}`;
    case "listen-unix":
      return `listening unix socket ${s.path}${s.blocking ? " (blocking)" : ""}`;
    case "tap":
      return `tap ${s.name}${s.netns ? ` in netns ${s.netns}` : ""}`;
    case "vhost-net":
      return "/dev/vhost-net";
    case "socket-of":
      return `connected end of ${s.process}'s socket ${s.endpoint}`;
    case "device":
      return `device ${s.path}`;
    case "stdio":
      return `launcher's ${s.stream}`;
  }
}

/** An fd line: number and source. */
export function fdText(f: PassedFd): string {
  return `${f.fd} ${fdSourceText(f.source)}`;
}

/** An rlimit's value. */
export function rlimitText(r: Rlimit): string {
  const v = (x: number | "unlimited") => (x === "unlimited" ? "unlimited" : String(x));
  return r.soft === r.hard ? v(r.hard) : `${v(r.soft)}/${v(r.hard)}`;
}

function condText(c: ArgCond): string {
  const hex = (v: bigint) => `0x${v.toString(16)}`;
  if (c.op === "masked_eq") return `(arg${c.arg} & ${hex(c.mask ?? 0n)}) == ${hex(c.value)}`;
  const op = { eq: "==", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=" }[c.op];
  return `arg${c.arg} ${op} ${hex(c.value)}`;
}

/** A seccomp rule: "ioctl if arg1 == 0x5401 -> allow". */
export function ruleText(r: Rule): string {
  const cond = r.args.length ? ` if ${r.args.map(condText).join(" && ")}` : "";
  return `${r.syscall}${cond} -> ${actionToString(r.action)}`;
}
