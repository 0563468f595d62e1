// Explains a seccomp kill. When the kernel kills a process for a denied syscall it logs an audit
// record (type=1326, "SECCOMP") to the kernel log, whether or not auditd runs:
//   audit: type=1326 audit(...): ... pid=1888 comm="qemu-system-x86" exe="..." sig=31
//   arch=c000003e syscall=110 compat=0 ip=0x7f19... code=0x80000000
// (measured on this machine's kernel 6.18). The record carries the syscall number and the
// instruction pointer but NOT the arguments, and once the process is dead its /proc/PID/syscall
// no longer says anything (the task stack is gone). So by default the report names the syscall,
// says the arguments are unknown (and that `run --trace-sigsys` would get them), points at the
// fragment to extend, and suggests `seccomp = "log"`, which lets the guest run on and logs every
// call outside the allowlist at once. With `--trace-sigsys` the native helper supervises the
// payload with ptrace and reads the arguments off the dying thread (ExitStatus.sigsys); the
// report then gives them, decoded where that is cheap (fds in decimal, ioctl requests by name).

import { closeSync, constants, openSync, readSync } from "node:fs";
import type { ProcessPlan } from "../plan/types.js";
import type { SeccompArch } from "../seccomp/types.js";
import type { TracedSigsys } from "./spawn.js";

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
  /** a0..a5 as hex strings, when known (traced supervision, or a kernel that logs them). */
  args?: string[];
  /** `args` decoded where cheap: fds in decimal, AT_FDCWD, an ioctl request by name; else hex. */
  argsDecoded?: string[];
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
  /** An ioctl request's name(s) on `arch` ("A/B" when names share the value), if known. */
  ioctlName?: (arch: SeccompArch, request: bigint) => string | undefined;
  /** The processes ran under traced supervision (`run --trace-sigsys`). */
  traced?: boolean;
}

// Syscalls whose first argument is a file descriptor (printed in decimal), and those whose first
// argument is a directory fd (AT_FDCWD by name). Only the common ones: the rest stay hex.
const FD_FIRST = new Set(
  (
    "read write pread64 pwrite64 readv writev preadv pwritev preadv2 pwritev2 close fstat lseek " +
    "ioctl fcntl flock fsync fdatasync ftruncate fallocate fchmod fchown fstatfs getdents64 dup dup2 " +
    "dup3 accept accept4 bind connect listen shutdown getsockname getpeername getsockopt setsockopt " +
    "sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg epoll_ctl epoll_wait epoll_pwait " +
    "timerfd_settime timerfd_gettime signalfd4 fgetxattr fsetxattr flistxattr fremovexattr fchdir " +
    "syncfs splice tee vmsplice copy_file_range sendfile io_uring_enter io_uring_register"
  ).split(" "),
);
const DIRFD_FIRST = new Set(
  (
    "openat openat2 mkdirat mknodat fchownat futimesat newfstatat unlinkat renameat renameat2 linkat " +
    "symlinkat readlinkat fchmodat fchmodat2 faccessat faccessat2 utimensat statx execveat " +
    "name_to_handle_at open_tree move_mount mount_setattr"
  ).split(" "),
);
const AT_FDCWD = 0xffffff9cn; // -100, as the kernel reads an int argument

/** Decodes a traced syscall's arguments where that is cheap (see SigsysReport.argsDecoded). */
export function decodeSyscallArgs(
  arch: SeccompArch,
  name: string | undefined,
  args: string[],
  ioctlName?: SigsysContext["ioctlName"],
): string[] {
  return args.map((hex, i) => {
    let v: bigint;
    try {
      v = BigInt(hex);
    } catch {
      return hex;
    }
    if (i === 0 && name && (FD_FIRST.has(name) || DIRFD_FIRST.has(name))) {
      const fd = v & 0xffffffffn; // an int: the upper half is ignored by the kernel
      if (DIRFD_FIRST.has(name) && fd === AT_FDCWD) return "AT_FDCWD";
      if (fd < 0x80000000n) return `fd ${fd}`;
    }
    if (i === 1 && name === "ioctl") {
      const req = ioctlName?.(arch, v & 0xffffffffn); // the request is an unsigned int
      if (req) return `${req} (${hex})`;
    }
    return hex;
  });
}

/**
 * Builds SigsysContext.ioctlName from an arch's named constants (SECCOMP's tables). The tables mix
 * ioctl requests with flags and enums, so only values that look like a request count: at least
 * 0x5401 (the tty ioctls start there) and not a single bit (flags are); names sharing a value are
 * all given, up to three (e.g. FIONREAD/SIOCINQ/TIOCINQ), more than that is no answer.
 */
export function ioctlNamer(
  names: (arch: SeccompArch) => string[],
  value: (arch: SeccompArch, name: string) => bigint | undefined,
): (arch: SeccompArch, request: bigint) => string | undefined {
  const byArch = new Map<SeccompArch, Map<bigint, string[]>>();
  return (arch, request) => {
    let m = byArch.get(arch);
    if (!m) {
      m = new Map();
      for (const n of names(arch)) {
        const v = value(arch, n);
        if (v === undefined || v < 0x5401n || v > 0xffffffffn || (v & (v - 1n)) === 0n) continue;
        m.set(v, [...(m.get(v) ?? []), n]);
      }
      byArch.set(arch, m);
    }
    const hit = m.get(request);
    return hit && hit.length <= 3 ? [...hit].sort().join("/") : undefined;
  };
}

/**
 * Builds the report for process `proc` killed by SIGSYS, from the audit record if one was found
 * and from what traced supervision saw (`traced`, with the arguments) if it ran.
 */
export function sigsysReport(
  proc: ProcessPlan,
  record: SeccompAuditRecord | undefined,
  ctx: SigsysContext,
  traced?: TracedSigsys,
): SigsysReport {
  const arch = record?.arch ?? proc.seccomp.arch;
  // The trace and the record see the same death; the trace is there even when printk dropped
  // the record.
  const nr = traced?.nr ?? record?.syscall;
  const name = nr === undefined ? undefined : (ctx.syscallName(arch, nr) ?? `#${nr}`);
  const args = traced?.args ?? record?.args;
  const argsDecoded = args ? decodeSyscallArgs(arch, name, args, ctx.ioctlName) : undefined;
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
  const unknown = ctx.traced
    ? "(arguments unknown: traced supervision did not catch the denied call)"
    : "(arguments unknown: the kernel's audit record does not carry them)";
  const what = name
    ? `syscall ${name} (${nr}) ${argsDecoded ? `with arguments ${argsDecoded.join(", ")}` : unknown}`
    : "a syscall outside its allowlist (no audit record found in the kernel log)";
  const where = fragmentsAllowing.length
    ? `fragment(s) ${fragmentsAllowing.join(", ")} allow it but are not composed into this process's policy`
    : `no fragment allows it; the place to add a rule (with its why) is policies/${suggestFragment}.json or the fragment of the device that needs it`;
  const logHint =
    'set jail.seccomp = "log" in the vm.toml to let it run and log every missing syscall at once (kernel log, type=1326)';
  return {
    process: proc.id,
    syscall: name,
    nr,
    args,
    argsDecoded,
    fragmentsAllowing,
    suggestFragment,
    message: `${proc.id} was killed by seccomp: ${what}; ${where}`,
    hint:
      args || ctx.traced
        ? logHint
        : `${logHint}; run with \`qemu-jail run --trace-sigsys\` to learn the denied call's arguments (ptrace-supervised: a stop per thread creation and signal)`,
  };
}
