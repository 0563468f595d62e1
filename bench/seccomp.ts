// Seccomp filter cost, in one run, qemu-jail's compiler side by side with libseccomp 2.5.4 at
// optimize levels 1 (its default linear layout) and 2 (binary tree), on the same policies:
//   - program length and how many syscalls the kernel's action cache would always allow;
//   - instructions executed per syscall (emulated), mean and max, per class: unconditionally
//     allowed, conditional allowed, conditional denied, denied (every other syscall number);
//   - a real-kernel loop (getppid, ioctl FIONREAD) under each filter, as a ratio against the
//     same loop without a filter, measured here and now.
// Policies: the default QEMU one (the fragments the planner composes for QEMU in
// examples/minimal.toml and examples/full.toml, or those given with --fragments), the
// representative test fixture qemu-like.json, and a large ~300-syscall one.
//
// Run: npx vite-node bench/seccomp.ts [--iterations N] [--fragments base,accel-tcg,...]

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../src/config/parse.js";
import type { HostFacts } from "../src/host/types.js";
import { plan } from "../src/plan/plan.js";
import { actionToString } from "../src/seccomp/actions.js";
import { AUDIT_ARCH, syscallName, syscallNames } from "../src/seccomp/arch.js";
import { decodeProgram, type Insn } from "../src/seccomp/bpf.js";
import { cacheableSyscalls } from "../src/seccomp/cache.js";
import { compilePolicy } from "../src/seccomp/compile.js";
import { composePolicy } from "../src/seccomp/compose.js";
import { run, seccompData } from "../src/seccomp/emulate.js";
import { fragmentSetFrom, loadFragments } from "../src/seccomp/fragments.js";
import type { Policy, RawFragment, RawRule } from "../src/seccomp/types.js";
import { libseccompPrograms, probes } from "../test/integration/seccomp/harness.js";

const argv = process.argv.slice(2);
const opt = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const iterations = Number(opt("iterations") ?? 300_000);
const kill = { kind: "kill_process" } as const;

/** The fragments the planner composes for QEMU's process of an example config (this host's fixture facts). */
function plannedQemuFragments(example: string): string[] {
  const path = join(import.meta.dirname, "../examples", example);
  const config = parseConfig(readFileSync(path, "utf8"), { source: path });
  const host = JSON.parse(
    readFileSync(join(import.meta.dirname, "../test/fixtures/host/debian12-x86_64.json"), "utf8"),
  ) as HostFacts;
  // full.toml uses vhost-net and vsock, which this host lacks: plan as for a host that has them
  // (their usual misc-device numbers). Planning is pure, so this changes nothing on the host.
  host.devices["/dev/vhost-net"] ??= { path: "/dev/vhost-net", type: "c", major: 10, minor: 238 };
  host.devices["/dev/vhost-vsock"] ??= { path: "/dev/vhost-vsock", type: "c", major: 10, minor: 241 };
  const jail = plan(config, host, loadFragments());
  return jail.processes.find((p) => p.role === "qemu")!.seccomp.fragments;
}

function qemuPolicies(): Array<{ name: string; policy: Policy }> {
  const given = opt("fragments");
  const sets = given
    ? [{ name: `policies/ (${given})`, frags: given.split(",") }]
    : ["minimal.toml", "full.toml"].map((ex) => ({
        name: `QEMU as planned for examples/${ex}`,
        frags: plannedQemuFragments(ex),
      }));
  return [...sets.map(({ name, frags }) => composed(name, frags)), fixturePolicy()];
}

function composed(name: string, frags: string[]): { name: string; policy: Policy } {
  const set = loadFragments();
  // The kernel loop calls getppid and ioctl(FIONREAD): a bench-only fragment adds them if missing.
  const probe = fragmentSetFrom([
    {
      name: "bench-probe",
      description: "syscalls the benchmark loop makes",
      rules: [
        { syscall: "getppid", why: "benchmark loop" },
        // Same form as every shipped ioctl rule (low 32 bits, see policies/README.md), so the
        // loop's rule joins the policy's own switch (a plain eq would be a second, small switch).
        {
          syscall: "ioctl",
          args: [{ arg: 1, op: "masked_eq", mask: "0xffffffff", value: "FIONREAD" }],
          why: "benchmark loop",
        },
        { syscall: "write", why: "benchmark report" },
        { syscall: "exit_group", why: "benchmark exit" },
      ],
    },
  ]);
  set.fragments.set("bench-probe", probe.fragments.get("bench-probe")!);
  const uses = [...frags, "bench-probe"].map((fragment) => ({ fragment }));
  return { name, policy: composePolicy(set, uses, { arch: "x86_64", defaultAction: kill }) };
}

function fixturePolicy(): { name: string; policy: Policy } {
  const raw = JSON.parse(
    readFileSync(join(import.meta.dirname, "../test/fixtures/seccomp/qemu-like.json"), "utf8"),
  ) as RawFragment;
  return {
    name: "qemu-like fixture",
    policy: composePolicy(fragmentSetFrom([raw]), [{ fragment: raw.name }], {
      arch: "x86_64",
      defaultAction: kill,
    }),
  };
}

function largePolicy(): { name: string; policy: Policy } {
  const deny = new Set([
    "ptrace",
    "mount",
    "umount2",
    "bpf",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "unshare",
    "setns",
    "pivot_root",
    "chroot",
    "reboot",
    "swapon",
    "swapoff",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "open_by_handle_at",
    "name_to_handle_at",
    "perf_event_open",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "acct",
    "quotactl",
    "syslog",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "clock_adjtime",
    "iopl",
    "ioperm",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "uselib",
    "lookup_dcookie",
    "vhangup",
    "personality",
    "sethostname",
    "setdomainname",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "move_mount",
    "open_tree",
    "mount_setattr",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
  ]);
  const ioctls = [
    "FIONBIO",
    "FIONREAD",
    "FIOCLEX",
    "FIONCLEX",
    "TCGETS",
    "TCSETS",
    "TCSETSW",
    "TIOCGWINSZ",
    "TUNSETIFF",
    "TUNGETIFF",
    "TUNSETOFFLOAD",
    "TUNSETVNETHDRSZ",
    "TUNSETSNDBUF",
    "KVM_RUN",
    "KVM_GET_API_VERSION",
    "KVM_CREATE_VM",
    "KVM_CREATE_VCPU",
    "KVM_SET_USER_MEMORY_REGION",
    "KVM_IRQFD",
    "KVM_IOEVENTFD",
    "KVM_SET_REGS",
    "KVM_GET_REGS",
    "KVM_SET_SREGS",
    "KVM_GET_SREGS",
    "KVM_SET_MSRS",
    "KVM_GET_MSRS",
    "KVM_SET_CPUID2",
    "KVM_SIGNAL_MSI",
    "BLKGETSIZE64",
    "BLKDISCARD",
    "BLKSSZGET",
    "FS_IOC_GETFLAGS",
  ];
  const rules: RawRule[] = [];
  for (const s of syscallNames("x86_64")) {
    if (deny.has(s)) continue;
    if (s === "ioctl")
      rules.push(
        ...ioctls.map((r) => ({ syscall: s, args: [{ arg: 1, op: "eq" as const, value: r }], why: r })),
      );
    else if (s === "mmap" || s === "mprotect")
      rules.push({
        syscall: s,
        args: [{ arg: 2, op: "masked_eq", mask: "PROT_EXEC", value: 0 }],
        why: "no exec",
      });
    else if (s === "socket")
      rules.push(
        ...["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"].map((f) => ({
          syscall: s,
          args: [{ arg: 0, op: "eq" as const, value: f }],
          why: f,
        })),
      );
    else if (s === "clone")
      rules.push({
        syscall: s,
        args: [{ arg: 0, op: "masked_eq", mask: "CLONE_THREAD|CLONE_VM", value: "CLONE_THREAD|CLONE_VM" }],
        why: "threads",
      });
    else if (s === "prctl")
      rules.push(
        ...["PR_SET_NAME", "PR_GET_NAME", "PR_SET_PDEATHSIG", "PR_CAPBSET_READ"].map((o) => ({
          syscall: s,
          args: [{ arg: 0, op: "eq" as const, value: o }],
          why: o,
        })),
      );
    else rules.push({ syscall: s, why: "large policy" });
  }
  const set = fragmentSetFrom([{ name: "large", description: "~300 syscalls", rules }]);
  return {
    name: "large (~300 syscalls)",
    policy: composePolicy(set, [{ fragment: "large" }], { arch: "x86_64", defaultAction: kill }),
  };
}

type Stats = { mean: number; max: number; n: number };
function stats(xs: number[]): Stats {
  return {
    mean: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0,
    max: xs.length ? Math.max(...xs) : 0,
    n: xs.length,
  };
}

/** Executed-instruction statistics per class for one program; classes come from the policy itself. */
function classes(policy: Policy, insns: Insn[]): Record<string, Stats> {
  const arch = AUDIT_ARCH[policy.arch];
  const uncond = new Set(
    policy.rules.filter((r) => !r.args.length && r.action.kind === "allow").map((r) => r.syscall),
  );
  const cond = new Set(policy.rules.filter((r) => r.args.length).map((r) => r.syscall));
  const inPolicy = new Set(policy.rules.map((r) => r.syscall));
  const out: Record<string, number[]> = {
    "allowed (unconditional)": [],
    "conditional, allowed args": [],
    "conditional, denied args": [],
    "denied syscalls": [],
  };
  for (const p of probes(policy, 7n, 60)) {
    if (p.arch !== arch || p.nr < 0) continue;
    const name = syscallName(policy.arch, p.nr);
    if (!name) continue;
    const r = run(insns, seccompData({ arch: p.arch, nr: p.nr, args: p.args }));
    if (uncond.has(name)) {
      if (p.args.every((a) => a === 0n)) out["allowed (unconditional)"]!.push(r.executed);
    } else if (cond.has(name)) {
      out[r.action.kind === "allow" ? "conditional, allowed args" : "conditional, denied args"]!.push(
        r.executed,
      );
    } else if (!inPolicy.has(name)) out["denied syscalls"]!.push(r.executed);
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, stats(v)]));
}

/** ns per call for each filter file ("-" = none), interleaved over rounds; returns per-file median ratio to "-". */
function loopRatios(
  bin: string,
  files: string[],
  kind: string,
  rounds = 7,
): { base: number; ratios: number[] } {
  const per: number[][] = files.map(() => []);
  const bases: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // Interleaving the configurations within a round cancels slow drifts of a shared machine.
    const base = Number(execFileSync(bin, ["-", kind, String(iterations)], { encoding: "utf8" }).trim());
    bases.push(base);
    files.forEach((f, i) => {
      per[i]!.push(
        Number(execFileSync(bin, [f, kind, String(iterations)], { encoding: "utf8" }).trim()) / base,
      );
    });
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return { base: med(bases), ratios: per.map(med) };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), "qj-bench-seccomp-"));
  try {
    const bin = join(dir, "loop");
    execFileSync("gcc", [
      "-O2",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-o",
      bin,
      join(import.meta.dirname, "seccomp.loop.c"),
    ]);
    for (const { name, policy } of [...qemuPolicies(), largePolicy()]) {
      // The loop itself needs write, exit_group and pipe setup before the filter; getppid and ioctl FIONREAD are probed.
      const syscalls = new Set(policy.rules.map((r) => r.syscall));
      for (const need of ["getppid", "write", "exit_group", "ioctl"])
        if (!syscalls.has(need)) throw new Error(`bench policy ${name} must allow ${need}`);
      const ours = compilePolicy(policy).program;
      const [o1, o2] = libseccompPrograms([
        { policy, optimize: 1 },
        { policy, optimize: 2 },
      ]);
      const progs: Array<[string, Uint8Array]> = [
        ["qemu-jail", ours],
        ["libseccomp -O1", o1!],
        ["libseccomp -O2", o2!],
      ];
      const nSys = syscalls.size;
      const uncond = policy.rules.filter((r) => !r.args.length && r.action.kind === "allow").length;
      console.log(
        `\n== ${name}: ${nSys} syscalls (${uncond} unconditionally allowed), default ${actionToString(policy.defaultAction)}`,
      );
      console.log(`${"".padEnd(28)}${progs.map(([n]) => n.padStart(18)).join("")}`);
      console.log(
        `${"program length".padEnd(28)}${progs.map(([, p]) => String(p.length / 8).padStart(18)).join("")}`,
      );
      console.log(
        `${"cacheable (kernel cache)".padEnd(28)}${progs.map(([, p]) => `${cacheableSyscalls(p, "x86_64").length}/${uncond}`.padStart(18)).join("")}`,
      );
      const cls = progs.map(([, p]) => classes(policy, decodeProgram(p)));
      for (const k of Object.keys(cls[0]!)) {
        const cells = cls.map((c) => `${c[k]!.mean.toFixed(1)} / ${c[k]!.max}`.padStart(18));
        console.log(`${`${k} (n=${cls[0]![k]!.n})`.padEnd(28)}${cells.join("")}   mean / max executed`);
      }
      // Real kernel: ratio against no filter, same run.
      const files = progs.map(([n, p]) => {
        const f = join(dir, `${n.replace(/\W/g, "")}.bpf`);
        writeFileSync(f, p);
        return f;
      });
      for (const kind of ["getppid", "fionread"]) {
        const { base, ratios } = loopRatios(bin, files, kind);
        const cells = ratios.map((r) => `${r.toFixed(2)}x`.padStart(18));
        console.log(
          `${`${kind} vs no filter`.padEnd(28)}${cells.join("")}   (no filter: ${base.toFixed(0)} ns/call; median of 7 interleaved rounds)`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
