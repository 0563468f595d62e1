// Seccomp actions: parsing the fragment notation, the SECCOMP_RET_* encoding and back, and
// the mapping from the config's jail.seccomp mode.

import { QemuJailError } from "../errors.js";
import { constantValue } from "./arch.js";
import type { SeccompAction } from "./types.js";

/** SECCOMP_RET_* (linux/seccomp.h). */
export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  USER_NOTIF: 0x7fc00000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
  ACTION_FULL: 0xffff0000,
  DATA: 0x0000ffff,
} as const;

/** The kernel caps an errno action's data at MAX_ERRNO. */
export const MAX_ERRNO = 4095;

/** The 32-bit value a BPF `ret` returns for `a`. */
export function actionToRet(a: SeccompAction): number {
  switch (a.kind) {
    case "allow":
      return RET.ALLOW;
    case "kill_process":
      return RET.KILL_PROCESS;
    case "kill_thread":
      return RET.KILL_THREAD;
    case "trap":
      return RET.TRAP;
    case "log":
      return RET.LOG;
    case "user_notif":
      return RET.USER_NOTIF;
    case "errno":
      return (RET.ERRNO | (a.errno & RET.DATA)) >>> 0;
  }
}

/** What the kernel does with a filter's return value (unknown actions act as kill_process). */
export function retToAction(ret: number): SeccompAction {
  const action = (ret & RET.ACTION_FULL) >>> 0;
  const data = ret & RET.DATA;
  switch (action) {
    case RET.ALLOW:
      return { kind: "allow" };
    case RET.KILL_THREAD:
      return { kind: "kill_thread" };
    case RET.TRAP:
      return { kind: "trap" };
    case RET.LOG:
      return { kind: "log" };
    case RET.USER_NOTIF:
      return { kind: "user_notif" };
    case RET.ERRNO:
      return { kind: "errno", errno: Math.min(data, MAX_ERRNO) };
    default:
      return { kind: "kill_process" };
  }
}

/** Canonical text of an action: "allow", "errno(1)"... */
export function actionToString(a: SeccompAction): string {
  return a.kind === "errno" ? `errno(${a.errno})` : a.kind;
}

/** True when both actions are the same. */
export function sameAction(a: SeccompAction, b: SeccompAction): boolean {
  return actionToRet(a) === actionToRet(b);
}

/** Lower is more restrictive; used to order rules of different actions deterministically. */
export function actionSeverity(a: SeccompAction): number {
  return ["kill_process", "kill_thread", "trap", "errno", "user_notif", "log", "allow"].indexOf(a.kind);
}

/**
 * Parses the fragment/CLI notation: "allow", "kill_process", "kill" (= kill_process),
 * "kill_thread", "trap", "log", "user_notif", "errno:EPERM", "errno:38", "errno(1)".
 * Returns undefined for anything else.
 */
export function parseAction(text: string): SeccompAction | undefined {
  const t = text.trim();
  const simple: Record<string, SeccompAction> = {
    allow: { kind: "allow" },
    kill: { kind: "kill_process" },
    kill_process: { kind: "kill_process" },
    kill_thread: { kind: "kill_thread" },
    trap: { kind: "trap" },
    log: { kind: "log" },
    user_notif: { kind: "user_notif" },
  };
  if (Object.hasOwn(simple, t)) return simple[t];
  const m = /^errno(?::|\()\s*([A-Za-z0-9_]+)\s*\)?$/.exec(t);
  if (!m) return undefined;
  const v = m[1]!;
  let n: number | undefined;
  if (/^\d+$/.test(v)) n = Number(v);
  else if (/^E[A-Z0-9]+$/.test(v)) {
    const c = constantValue("x86_64", v);
    n = c === undefined ? undefined : Number(c);
  }
  if (n === undefined || n < 0 || n > MAX_ERRNO) return undefined;
  return { kind: "errno", errno: n };
}

/** The jail.seccomp mode of a config → the policy's default action. */
export function seccompModeToAction(mode: "kill" | "trap" | "log" | "errno"): SeccompAction {
  switch (mode) {
    case "kill":
      return { kind: "kill_process" };
    case "trap":
      return { kind: "trap" };
    case "log":
      return { kind: "log" };
    case "errno":
      // EPERM, as systemd and Docker use for a denied syscall.
      return { kind: "errno", errno: 1 };
    default:
      throw new QemuJailError("SECCOMP_BAD_MODE", `unknown seccomp mode "${String(mode)}"`, {
        exit: "usage",
        hint: "use one of kill, trap, log, errno",
      });
  }
}
