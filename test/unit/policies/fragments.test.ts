// Lint of policies/*.json and their evidence: every fragment loads and is listed in the README,
// every rule says why, nothing forbidden is allowed, argument restrictions are where they must
// be, and every syscall each trace fixture saw is covered by the fragments of its scenario.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { qemuFragments, SCENARIO_FRAGMENTS } from "../../../scripts/trace/fragments.js";
import { SCENARIOS } from "../../../scripts/trace/scenarios.js";
import { composePolicy, policyVerdict } from "../../../src/seccomp/compose.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";
import type { RawFragment, RawRule } from "../../../src/seccomp/types.js";

const ROOT = join(import.meta.dirname, "../../..");
const POLICIES = join(ROOT, "policies");
const TRACES = join(ROOT, "test/fixtures/traces");

/** Never allowed in any fragment: no trace or documented code path of QEMU needs them. */
const FORBIDDEN = [
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
  "keyctl",
  "add_key",
  "request_key",
  "perf_event_open",
  "userfaultfd",
  "open_by_handle_at",
  "name_to_handle_at",
  "process_vm_readv",
  "process_vm_writev",
  "fork",
  "vfork",
  "clone3",
  "execveat",
  "reboot",
  "swapon",
  "swapoff",
  "iopl",
  "ioperm",
  "mknod",
  "mknodat",
  "setuid",
  "setgid",
];

/** The only allowed uses of a forbidden syscall, each with the condition it must carry. */
const EXCEPTIONS: { fragment: string; syscall: string; check(r: RawRule): boolean; reason: string }[] = [
  {
    fragment: "virtiofsd",
    syscall: "chroot",
    check: (r) => (r.args ?? []).length === 0,
    reason: "the C virtiofsd's only sandbox mode without namespaces is -o sandbox=chroot",
  },
  {
    fragment: "virtiofsd",
    syscall: "unshare",
    check: (r) => r.args?.length === 1 && r.args[0]!.op === "eq" && r.args[0]!.value === "CLONE_FS",
    reason: "per-thread umask/cwd: unshare(CLONE_FS) only, no namespaces",
  },
  {
    fragment: "virtiofsd-rw",
    syscall: "mknodat",
    check: () => true,
    reason:
      "FUSE MKNOD creates fifos/sockets for the guest on a rw share (device nodes need CAP_MKNOD, not granted)",
  },
];

const isAllow = (r: RawRule) => (r.action ?? "allow") === "allow";

const set = loadFragments(POLICIES);
const fragments: RawFragment[] = [...set.fragments.values()].map((f) => f.raw);

describe("policy fragments", () => {
  it("load, validate and compose without conflicts on both arches", () => {
    expect(fragments.length).toBeGreaterThanOrEqual(20);
    for (const arch of ["x86_64", "aarch64"] as const) {
      for (const f of fragments) {
        if (f.arches && !f.arches.includes(arch)) continue;
        expect(() =>
          composePolicy(set, [{ fragment: f.name }], { arch, defaultAction: { kind: "kill_process" } }),
        ).not.toThrow();
      }
    }
  });

  it("are each listed in policies/README.md, and the README lists no missing fragment", () => {
    const readme = readFileSync(join(POLICIES, "README.md"), "utf8");
    const listed = [...readme.matchAll(/^- `([a-z0-9-]+)`/gm)].map((m) => m[1]!);
    expect(listed.sort()).toEqual(fragments.map((f) => f.name).sort());
  });

  it("every rule has a why that says something", () => {
    for (const f of fragments)
      for (const r of f.rules)
        expect(r.why.trim().length, `${f.name}: ${r.syscall}`).toBeGreaterThanOrEqual(20);
  });

  it("cite evidence: a trace fixture that exists, or say the rules come from documented code paths", () => {
    for (const f of fragments) {
      const cited = [...f.description.matchAll(/test\/fixtures\/traces\/([a-z0-9_.-]+\.json)/g)].map(
        (m) => m[1]!,
      );
      const bare = [...f.description.matchAll(/(?:^|[ ,(])([a-z0-9_-]+\.json)/g)].map((m) => m[1]!);
      for (const c of [...cited, ...bare])
        expect(existsSync(join(TRACES, c)), `${f.name} cites ${c}`).toBe(true);
      const documented = /DOCUMENTED CODE PATHS ONLY/.test(f.description);
      expect(cited.length > 0 || documented, `${f.name} cites no evidence`).toBe(true);
    }
  });

  it.each(FORBIDDEN)("never allow %s (except the listed, conditioned exceptions)", (name) => {
    for (const f of fragments)
      for (const r of f.rules) {
        if (r.syscall !== name || !isAllow(r)) continue;
        const ex = EXCEPTIONS.find((e) => e.fragment === f.name && e.syscall === name);
        expect(ex, `${f.name} allows ${name}`).toBeDefined();
        expect(ex!.check(r), `${f.name}: ${name} without the required condition (${ex!.reason})`).toBe(true);
      }
  });

  it("clone only with CLONE_THREAD; clone3 only answered ENOSYS", () => {
    for (const f of fragments)
      for (const r of f.rules) {
        if (r.syscall === "clone" && isAllow(r))
          expect(r.args).toEqual([{ arg: 0, op: "masked_eq", mask: "CLONE_THREAD", value: "CLONE_THREAD" }]);
        if (r.syscall === "clone3") expect(r.action).toBe("errno:ENOSYS");
      }
  });

  it("executable memory only from exec (libraries) and accel-tcg (module + code buffer)", () => {
    for (const f of fragments)
      for (const r of f.rules) {
        if ((r.syscall !== "mmap" && r.syscall !== "mprotect") || !isAllow(r)) continue;
        const noExec = (r.args ?? []).some(
          (c) => c.arg === 2 && c.op === "masked_eq" && c.mask === "PROT_EXEC" && c.value === 0,
        );
        if (!noExec)
          expect(["exec", "accel-tcg"], `${f.name}: ${r.syscall} may map PROT_EXEC`).toContain(f.name);
        // Where exec is allowed, never together with write on a fresh mapping, except TCG's code buffer.
        if (!noExec && r.syscall === "mmap")
          expect(r.args).toContainEqual({
            arg: 2,
            op: "masked_eq",
            mask: "PROT_WRITE|PROT_EXEC",
            value: "PROT_EXEC",
          });
      }
  });

  it("socket is always restricted by domain, ioctl always by request (low 32 bits), prctl by option", () => {
    for (const f of fragments)
      for (const r of f.rules) {
        if (!isAllow(r)) continue;
        const on = (i: number) => (r.args ?? []).some((c) => c.arg === i && c.op === "eq");
        if (r.syscall === "socket" || r.syscall === "socketpair")
          expect(on(0), `${f.name}: ${r.syscall}`).toBe(true);
        // ioctl requests: low 32 bits only (the kernel's cmd is an unsigned int; int-typed callers
        // such as QEMU's kvm_ioctl sign-extend requests with bit 31 set).
        if (r.syscall === "ioctl")
          expect(r.args, `${f.name}: ioctl`).toEqual([
            { arg: 1, op: "masked_eq", mask: "0xffffffff", value: expect.any(String) },
          ]);
        if (r.syscall === "prctl") expect(on(0), `${f.name}: prctl`).toBe(true);
        if (r.syscall === "futex") expect(r.args?.length, `${f.name}: futex`).toBe(1);
      }
  });
});

describe("trace fixtures are covered by their scenario's fragments", () => {
  const fixtures = readdirSync(TRACES).filter((f) => f.endsWith(".json"));

  it("every scenario has a fixture and a fragment list", () => {
    for (const s of SCENARIOS) {
      expect(fixtures, s.name).toContain(`${s.name}.json`);
      expect(SCENARIO_FRAGMENTS[s.name], s.name).toBeDefined();
    }
  });

  it.each(SCENARIOS.map((s) => [s.name, s] as const))("%s", (_name, s) => {
    const fx = JSON.parse(readFileSync(join(TRACES, `${s.name}.json`), "utf8")) as {
      result: { ok: boolean };
      processes: Record<string, { syscalls: Record<string, unknown> }>;
    };
    expect(fx.result.ok).toBe(true);
    const lists: Record<string, string[]> = {
      qemu: qemuFragments(s),
      ...SCENARIO_FRAGMENTS[s.name]!.backends,
    };
    for (const [proc, trace] of Object.entries(fx.processes)) {
      const uses = lists[proc];
      expect(uses, `${s.name}: no fragment list for ${proc}`).toBeDefined();
      const policy = composePolicy(
        set,
        uses!.map((fragment) => ({ fragment })),
        { arch: "x86_64", defaultAction: { kind: "kill_process" } },
      );
      const covered = new Set(policy.rules.map((r) => r.syscall));
      const missing = Object.keys(trace.syscalls).filter((n) => !covered.has(n));
      expect(missing, `${s.name}/${proc}: syscalls with no rule`).toEqual([]);
      // Syscalls the trace saw that the policy only ever refuses must be ones we refuse on purpose.
      const refused = Object.keys(trace.syscalls).filter((n) =>
        policy.rules.filter((r) => r.syscall === n).every((r) => r.action.kind !== "allow"),
      );
      for (const n of refused)
        expect(["clone3", "io_uring_setup", "seccomp", "userfaultfd"], `${s.name}/${proc}: ${n}`).toContain(
          n,
        );
      expect(policyVerdict(policy, "ptrace", [0n, 0n, 0n, 0n, 0n, 0n]).kind).toBe("kill_process");
    }
  });
});
