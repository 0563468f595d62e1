// Explains a seccomp kill. When the kernel kills a process for a denied syscall it logs an audit
// record (type=1326, "SECCOMP") to the kernel log, whether or not auditd runs:
//   audit: type=1326 audit(...): ... pid=1888 comm="qemu-system-x86" exe="..." sig=31
//   arch=c000003e syscall=110 compat=0 ip=0x7f19... code=0x80000000
// (measured on this machine's kernel 6.18). The record carries the syscall number and the
// instruction pointer but NOT the arguments, and once the process is dead its /proc/PID/syscall
// no longer says anything (the task stack is gone). So the report names the syscall, says the
// arguments are unknown, points at the fragment to extend, and suggests `seccomp = "log"`, which
// lets the guest run on and logs every call outside the allowlist at once.

import { closeSync, constants, openSync, readSync } from "node:fs";
import type { ProcessPlan } from "../plan/types.js";
import type { SeccompArch } from "../seccomp/types.js";

/** AUDIT_ARCH_* values as printed in the record. */
const AUDIT_ARCH: Record<string, SeccompArch> = { c000003e: "x86_64", c00000b7: "aarch64" };

/** One seccomp audit record from the kernel log. */
export interface SeccompAuditRecord {
  pid: number;
  comm?: string;
  sig: number;
  arch?: SeccompArch;
  syscall: number;
  /** Return action (SECCOMP_RET_*) as printed, e.g. 0x80000000 = kill_process. */
  code: string;
  ip?: string;
  /** Arguments, when a kernel prints them (this one does not). */
  args?: string[];
}

/** Parses one kernel log line; undefined unless it is a seccomp audit record. */
export function parseSeccompAudit(line: string): SeccompAuditRecord | undefined {
  if (!/type=1326\b/.test(line)) return undefined;
  const field = (name: string) => new RegExp(`\\b${name}=("[^"]*"|\\S+)`).exec(line)?.[1];
  const pid = Number(field("pid"));
  const syscall = Number(field("syscall"));
  if (!Number.isInteger(pid) || !Number.isInteger(syscall)) return undefined;
  const archHex = field("arch");
  const comm = field("comm");
  const args = ["a0", "a1", "a2", "a3", "a4", "a5"].map(field).filter((v): v is string => v !== undefined);
  return {
    pid,
    comm: comm?.replace(/^"|"$/g, ""),
    sig: Number(field("sig") ?? 0),
    arch: archHex ? AUDIT_ARCH[archHex] : undefined,
    syscall,
    code: field("code") ?? "",
    ip: field("ip"),
    args: args.length ? args : undefined,
  };
}

/**
 * Reads the kernel log (/dev/kmsg, readable by root) and returns every seccomp record for any of
 * `pids`, oldest first. Never throws: an unreadable log yields [].
 */
export function findSeccompAudits(pids: number[], kmsgPath = "/dev/kmsg"): SeccompAuditRecord[] {
  let fd: number;
  try {
    fd = openSync(kmsgPath, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return [];
  }
  const found: SeccompAuditRecord[] = [];
  const buf = Buffer.alloc(8192);
  try {
    for (let i = 0; i < 100_000; i++) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EPIPE") continue; // a record was overwritten while we read: skip it
        break; // EAGAIN: end of the buffer
      }
      if (n <= 0) break;
      const rec = parseSeccompAudit(buf.toString("utf8", 0, n));
      if (rec && pids.includes(rec.pid)) found.push(rec);
    }
  } finally {
    closeSync(fd);
  }
  return found;
}

/** The latest seccomp record for any of `pids` (see findSeccompAudits). */
export function findSeccompAudit(pids: number[], kmsgPath = "/dev/kmsg"): SeccompAuditRecord | undefined {
  return findSeccompAudits(pids, kmsgPath).at(-1);
}

/**
 * Like findSeccompAudit, but waits up to `waitMs` for the record: without auditd the kernel
 * prints audit records from its kauditd thread, so one can appear a little after the death
 * (and under a burst of records, printk rate limiting may drop it altogether).
 */
export async function awaitSeccompAudit(
  pids: number[],
  waitMs = 1000,
  kmsgPath = "/dev/kmsg",
): Promise<SeccompAuditRecord | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const rec = findSeccompAudit(pids, kmsgPath);
    if (rec || Date.now() >= deadline) return rec;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What `seccomp = "log"` collected for one process: each syscall outside its allowlist, once. */
export interface SeccompLogSummary {
  process: string;
  syscalls: Array<{ name: string; nr: number; count: number; fragmentsAllowing: string[] }>;
}

/** Summarises the log-mode records of `proc` (syscalls its allowlist lacks, with fragments that have them). */
export function seccompLogSummary(
  proc: ProcessPlan,
  records: SeccompAuditRecord[],
  ctx: SigsysContext,
): SeccompLogSummary {
  const by = new Map<string, { name: string; nr: number; count: number; fragmentsAllowing: string[] }>();
  for (const r of records) {
    const name = ctx.syscallName(r.arch ?? proc.seccomp.arch, r.syscall) ?? `#${r.syscall}`;
    const e = by.get(name);
    if (e) e.count++;
    else {
      const used = new Set(proc.seccomp.fragments);
      const fragmentsAllowing = Object.entries(ctx.fragments ?? {})
        .filter(([f, calls]) => !used.has(f) && calls.includes(name))
        .map(([f]) => f)
        .sort();
      by.set(name, { name, nr: r.syscall, count: 1, fragmentsAllowing });
    }
  }
  return { process: proc.id, syscalls: [...by.values()].sort((a, b) => a.name.localeCompare(b.name)) };
}

/** What a SIGSYS death report says, as data (the message is built from it). */
export interface SigsysReport {
  process: string;
  syscall?: string;
  nr?: number;
  args?: string[];
  /** Fragments that allow the syscall but are not in this process's policy. */
  fragmentsAllowing: string[];
  /** Where to add a rule when no fragment has it. */
  suggestFragment: string;
  message: string;
  hint: string;
}

/** Everything sigsysReport needs besides the record, so it stays pure and testable. */
export interface SigsysContext {
  /** Number → name for the process's arch (SECCOMP's tables). */
  syscallName: (arch: SeccompArch, nr: number) => string | undefined;
  /** Every known fragment (name → syscalls it has rules for). */
  fragments?: Record<string, string[]>;
}

/** Builds the report for process `proc` killed by SIGSYS, from the audit record if one was found. */
export function sigsysReport(
  proc: ProcessPlan,
  record: SeccompAuditRecord | undefined,
  ctx: SigsysContext,
): SigsysReport {
  const arch = record?.arch ?? proc.seccomp.arch;
  const name = record ? (ctx.syscallName(arch, record.syscall) ?? `#${record.syscall}`) : undefined;
  const used = new Set(proc.seccomp.fragments);
  const fragmentsAllowing =
    name && ctx.fragments
      ? Object.entries(ctx.fragments)
          .filter(([frag, calls]) => !used.has(frag) && calls.includes(name))
          .map(([frag]) => frag)
          .sort()
      : [];
  // The process's own top fragment: the device fragments are for devices, "base" (QEMU) or the
  // backend's fragment (virtiofsd, qemu-storage-daemon) is where a process-wide call belongs.
  const suggestFragment = proc.role === "qemu" ? "base" : proc.role;
  const what = name
    ? `syscall ${name} (${record!.syscall}) ${record?.args ? `with arguments ${record.args.join(", ")}` : "(arguments unknown: the kernel's audit record does not carry them)"}`
    : "a syscall outside its allowlist (no audit record found in the kernel log)";
  const where = fragmentsAllowing.length
    ? `fragment(s) ${fragmentsAllowing.join(", ")} allow it but are not composed into this process's policy`
    : `no fragment allows it; the place to add a rule (with its why) is policies/${suggestFragment}.json or the fragment of the device that needs it`;
  return {
    process: proc.id,
    syscall: name,
    nr: record?.syscall,
    args: record?.args,
    fragmentsAllowing,
    suggestFragment,
    message: `${proc.id} was killed by seccomp: ${what}; ${where}`,
    hint: 'set jail.seccomp = "log" in the vm.toml to let it run and log every missing syscall at once (kernel log, type=1326)',
  };
}
