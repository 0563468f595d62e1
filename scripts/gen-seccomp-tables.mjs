#!/usr/bin/env node
// Generates src/seccomp/tables/<arch>.ts: syscall numbers and named constants (ioctl requests,
// AF_*, CLONE_*, PROT_*, O_*, errno names...) for x86_64 and aarch64. The values come from the
// machine's own headers through each architecture's C compiler, never from hand-typed lists:
//   x86_64:  gcc                      (linux-libc-dev, libc6-dev)
//   aarch64: aarch64-linux-gnu-gcc    (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, linux-libc-dev-arm64-cross)
// The compiler only turns a C file into assembly (-S); each constant is emitted as an immediate
// operand in an asm marker line and parsed back, so nothing is executed for the target.
// Usage: node scripts/gen-seccomp-tables.mjs          write the tables
//        node scripts/gen-seccomp-tables.mjs --check  exit 1 when a committed table differs

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "src/seccomp/tables");

const ARCHES = {
  // headers: arch-only headers on top of HEADERS (asm/prctl.h: arch_prctl codes, x86 only).
  x86_64: { cc: "gcc", flags: ["-m64"], headers: ["asm/prctl.h"] },
  aarch64: { cc: "aarch64-linux-gnu-gcc", flags: [], headers: [] },
};

// Headers whose macros become named constants. Order matters only for conflicting headers.
const HEADERS = [
  "sys/types.h",
  "sys/ioctl.h",
  "sys/socket.h",
  "netinet/in.h",
  "netinet/tcp.h",
  "sched.h",
  "sys/mman.h",
  "fcntl.h",
  "sys/prctl.h",
  "linux/seccomp.h",
  "linux/futex.h",
  "errno.h",
  "sys/eventfd.h",
  "sys/timerfd.h",
  "sys/epoll.h",
  "signal.h",
  "sys/resource.h",
  "sys/wait.h",
  "sys/stat.h",
  "unistd.h",
  "poll.h",
  "time.h",
  "sys/random.h",
  "linux/kvm.h",
  "linux/if_tun.h",
  "linux/vhost.h",
  "linux/fs.h",
  "linux/falloc.h",
  "linux/random.h",
  "linux/userfaultfd.h",
  "linux/vfio.h",
  "linux/io_uring.h",
  "linux/sockios.h",
  "linux/close_range.h",
  "linux/sched.h",
];

// Which macro names are kept: request and flag families a policy condition can name.
const KEEP = new RegExp(
  "^(" +
    [
      "KVM_",
      "TUN",
      "TAP",
      "IFF_",
      "FIO",
      "TC[A-Z]",
      "TIOC",
      "VHOST_",
      "BLK",
      "FS_IOC_",
      "FICLONE",
      "FIDEDUPERANGE",
      "FITRIM",
      "AF_",
      "SOCK_",
      "SOL_",
      "SO_",
      "IPPROTO_",
      "MSG_",
      "SCM_",
      "SHUT_",
      "CLONE_",
      "CSIGNAL",
      "PROT_",
      "MAP_",
      "MREMAP_",
      "MFD_",
      "MCL_",
      "MS_SYNC",
      "MS_ASYNC",
      "MS_INVALIDATE",
      "O_",
      "F_",
      "FD_",
      "AT_",
      "PR_",
      "SECCOMP_",
      "FUTEX_",
      "MADV_",
      "EFD_",
      "TFD_",
      "EPOLL",
      "SIOC",
      "RND",
      "UFFD",
      "VFIO_",
      "RLIMIT_",
      "FALLOC_FL_",
      "SIG[A-Z]",
      "SA_",
      "E[A-Z0-9]+$",
      "P_",
      "WNOHANG",
      "WUNTRACED",
      "WEXITED",
      "WCONTINUED",
      "WNOWAIT",
      "__WALL",
      "__WCLONE",
      "CLOCK_",
      "TIMER_",
      "GRND_",
      "IORING_",
      "S_IF",
      "SEEK_",
      "POLL",
      "TCP_",
      "IP_",
      "IPV6_",
      "CLOSE_RANGE_",
      "R_OK",
      "W_OK",
      "X_OK",
      "F_OK",
      "SCHED_",
      "ARCH_",
    ].join("|") +
    ")",
);

function run(cmd, args, input) {
  return execFileSync(cmd, args, {
    input,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "pipe"],
    maxBuffer: 1 << 28,
  });
}

/** Compiles `body` to assembly; returns [ok, text] where text is the .s or the diagnostics. */
function compileToAsm(arch, body, dir) {
  const { cc, flags } = ARCHES[arch];
  const src = join(dir, `${arch}.c`);
  writeFileSync(src, body);
  try {
    return [true, run(cc, [...flags, "-w", "-S", "-O0", "-o", "-", src])];
  } catch (e) {
    return [false, String(e.stderr ?? e)];
  }
}

/** Evaluates integer constant expressions for `arch`; names whose expression does not compile are dropped. */
function evaluate(arch, prelude, names, dir) {
  let pending = [...names];
  for (let round = 0; round < 50; round++) {
    const lines = prelude.split("\n").length;
    // Each value becomes an initialised 64-bit object; the assembly lists it as .quad (x86_64)
    // or .xword (aarch64). A name whose expression is not an integer constant fails to compile
    // on its own line and is dropped.
    const body =
      `${prelude}\n\n` +
      pending
        .map((n) => `__attribute__((used)) const unsigned long long qj_${n} = (unsigned long long)(${n});`)
        .join("\n") +
      "\n";
    const [ok, out] = compileToAsm(arch, body, dir);
    if (ok) {
      const values = {};
      // Zero-valued objects are emitted as ".zero 8".
      for (const m of out.matchAll(/^qj_(\w+):\s*\n\s*(?:\.(?:quad|xword|8byte)\s+(-?\d+)|\.zero\s+8)/gm))
        values[m[1]] = BigInt.asUintN(64, BigInt(m[2] ?? 0));
      // Names without a value here compiled to an address (string macros): not integer constants.
      return values;
    }
    const bad = new Set();
    for (const m of out.matchAll(/\.c:(\d+):\d+: error/g)) {
      const idx = Number(m[1]) - lines - 2;
      if (idx >= 0 && idx < pending.length) bad.add(pending[idx]);
    }
    if (process.env.QJ_GEN_DEBUG)
      process.stderr.write(
        `${arch}: round ${round}: ${pending.length} names, dropping ${bad.size}: ${[...bad].slice(0, 5).join(" ")}\n${out.slice(0, 600)}\n`,
      );
    if (bad.size === 0) throw new Error(`${arch}: cannot evaluate constants:\n${out.slice(0, 2000)}`);
    pending = pending.filter((n) => !bad.has(n));
  }
  throw new Error(`${arch}: too many rounds evaluating constants`);
}

/** Object-like macro names defined after preprocessing `prelude`. */
function macroNames(arch, prelude, dir) {
  const { cc, flags } = ARCHES[arch];
  const src = join(dir, `${arch}-dm.c`);
  writeFileSync(src, prelude);
  const out = run(cc, [...flags, "-E", "-dM", src]);
  const names = [];
  for (const m of out.matchAll(/^#define ([A-Za-z_]\w*) (.+)$/gm)) names.push(m[1]);
  return names.sort();
}

function generateArch(arch, dir) {
  const sysPrelude = "#include <asm/unistd.h>\n";
  const sysNames = macroNames(arch, sysPrelude, dir).filter(
    (n) => n.startsWith("__NR_") && !n.startsWith("__NR3264"),
  );
  const sysRaw = evaluate(arch, sysPrelude, sysNames, dir);
  const syscalls = {};
  for (const [k, v] of Object.entries(sysRaw)) {
    // __NR_syscalls and __NR_arch_specific_syscall are markers, not syscalls.
    if (k === "__NR_syscalls" || k === "__NR_arch_specific_syscall") continue;
    syscalls[k.slice(5)] = Number(v);
  }
  const headers = [...HEADERS, ...ARCHES[arch].headers];
  const constPrelude = `#define _GNU_SOURCE 1\n${headers.map((h) => `#include <${h}>`).join("\n")}\n`;
  const constNames = macroNames(arch, constPrelude, dir).filter((n) => KEEP.test(n));
  const constants = evaluate(arch, constPrelude, constNames, dir);
  return { syscalls, constants };
}

function render(arch, { syscalls, constants }) {
  const sys = Object.entries(syscalls).sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  const cons = Object.entries(constants).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return [
    `// GENERATED by scripts/gen-seccomp-tables.mjs from this machine's ${arch} kernel and libc headers.`,
    "// Do not edit; rerun the generator. test/unit/seccomp/tables.test.ts checks it is current.",
    "",
    "/** Syscall name → number. */",
    "export const syscalls: Readonly<Record<string, number>> = {",
    ...sys.map(([k, v]) => `  ${k}: ${v},`),
    "};",
    "",
    "/** Named constant → value as a hex string (64-bit, two's complement for negatives). */",
    "export const constants: Readonly<Record<string, string>> = {",
    ...cons.map(([k, v]) => `  ${k}: "0x${v.toString(16)}",`),
    "};",
    "",
  ].join("\n");
}

function main() {
  const check = process.argv.includes("--check");
  const dir = mkdtempSync(join(tmpdir(), "qj-gen-seccomp-"));
  let stale = 0;
  try {
    for (const arch of Object.keys(ARCHES)) {
      const text = render(arch, generateArch(arch, dir));
      const file = join(outDir, `${arch}.ts`);
      if (check) {
        let old = "";
        try {
          old = readFileSync(file, "utf8");
        } catch {}
        if (old !== text) {
          process.stderr.write(`stale: ${file}\n`);
          stale++;
        }
      } else {
        writeFileSync(file, text);
        process.stdout.write(`wrote ${file}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.exitCode = stale ? 1 : 0;
}

main();
