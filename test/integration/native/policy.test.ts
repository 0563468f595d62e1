// The helper loading a filter compiled by the project's own seccomp compiler (src/seccomp): an
// allowlist with default kill_process. It must allow what happens after it is loaded — execve
// and the static probe's start-up — and nothing else: a syscall outside it kills with SIGSYS.

import { closeSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import type { Policy, Rule } from "../../../src/seccomp/types.js";
import { find, isRoot, probeSteps, runJail, tempDir } from "./harness.js";

// What `qj-probe ids caps` calls (strace), plus exit_group; execve is the helper's own last call.
const NEEDED = [
  "execve",
  "arch_prctl",
  "set_tid_address",
  "set_robust_list",
  "rseq",
  "prlimit64",
  "readlink",
  "getrandom",
  "brk",
  "mprotect",
  "newfstatat",
  "ioctl",
  "write",
  "getpid",
  "getppid",
  "getgroups",
  "getresuid",
  "getresgid",
  "capget",
  "prctl",
  "exit_group",
];

function allowlist(names: string[]): Policy {
  const rules: Rule[] = [...names].sort().map((syscall) => ({
    syscall,
    action: { kind: "allow" },
    args: [],
    provenance: [{ fragment: "native-test", why: "the probe's start-up and checks" }],
  }));
  return { arch: "x86_64", defaultAction: { kind: "kill_process" }, rules, fragments: ["native-test"] };
}

describe.skipIf(!isRoot)("a compiled allowlist policy loaded by the helper", () => {
  const { program } = compilePolicy(allowlist(NEEDED));

  it("lets the payload start and run what the policy allows", async () => {
    const run = await runJail({ steps: probeSteps(["ids", "caps"], [{ step: "seccomp", program }]) });
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    expect(find(run, "caps")).toMatchObject({ seccomp: 2, nnp: 1 });
  });

  it("reads the program from an fd as well (a file the launcher wrote)", async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "qemu.bpf"), program);
      const fd = openSync(join(dir.path, "qemu.bpf"), "r");
      try {
        const run = await runJail({
          steps: probeSteps(["caps", "syscall", "201"], [{ step: "seccomp", fd: { parent: fd } }]),
        });
        expect(find(run, "caps")).toMatchObject({ seccomp: 2 });
        expect(run.exit).toMatchObject({ ran: true, signal: "SIGSYS" });
      } finally {
        closeSync(fd);
      }
    } finally {
      dir.remove();
    }
  });

  it("kills the payload with SIGSYS on a syscall outside it", async () => {
    const run = await runJail({
      steps: probeSteps(["ids", "syscall", "201"], [{ step: "seccomp", program }]),
    });
    expect(find(run, "ids")).toBeDefined(); // it ran up to the denied call
    expect(run.exit).toMatchObject({ ran: true, signal: "SIGSYS" });
  });

  it("a filter that does not allow execve stops the launch at exec", async () => {
    const { program: noExec } = compilePolicy(allowlist(NEEDED.filter((n) => n !== "execve")));
    const run = await runJail({ steps: probeSteps(["ids"], [{ step: "seccomp", program: noExec }]) });
    expect(run.lines).toEqual([]);
    expect(run.exit).toMatchObject({ ran: false, signal: "SIGSYS" });
    expect((run.error as { code?: string }).code).toBe("HELPER_DIED");
  });
});

describe.skipIf(!isRoot)("traced supervision reports the denied syscall with its arguments", () => {
  const { program } = compilePolicy(allowlist(NEEDED));

  it("names syscall 201 and the probe's arguments (all zero)", async () => {
    const run = await runJail({
      steps: probeSteps(["ids", "syscall", "201"], [{ step: "seccomp", program }, { step: "trace" }]),
    });
    expect(run.exit, JSON.stringify(run.events)).toMatchObject({ ran: true, signal: "SIGSYS" });
    expect(run.exit.sigsys).toEqual({
      tid: run.pid,
      nr: 201,
      args: ["0x0", "0x0", "0x0", "0x0", "0x0", "0x0"],
    });
  });

  it("names the thread that made the call, not the others killed with it", async () => {
    const threaded = compilePolicy(
      allowlist([
        ...NEEDED,
        "mmap",
        "munmap",
        "rt_sigaction",
        "rt_sigprocmask",
        "madvise",
        "gettid",
        "futex",
        "clone3",
        "clone",
      ]),
    ).program;
    const run = await runJail({
      steps: probeSteps(
        ["thread-syscall", "201"],
        [{ step: "seccomp", program: threaded }, { step: "trace" }],
      ),
    });
    expect(run.exit).toMatchObject({ ran: true, signal: "SIGSYS" });
    const tid = find(run, "thread").tid as number; // as the probe sees it, inside its pid namespace
    expect(tid).not.toBe(1);
    expect(run.exit.sigsys?.nr).toBe(201);
    expect(run.exit.sigsys?.tid).not.toBe(run.pid); // a host tid, not the main thread's
    expect(run.exit.sigsys?.args).toEqual(["0x11", "0x22", "0x33", "0x44", "0x55", "0x66"]);
    expect(run.events.filter((e) => e.kind === "sigsys")).toHaveLength(1);
  });

  it("changes nothing else: exit codes, forwarded signals, stage failures", async () => {
    const ok = await runJail({ steps: probeSteps(["exit", "3"], [{ step: "trace" }]) });
    expect(ok.exit).toMatchObject({ ran: true, code: 3 });
    expect(ok.exit.sigsys).toBeUndefined();
    const waiting = await runJail(
      { steps: probeSteps(["wait-signal"], [{ step: "trace" }]) },
      {
        onStart: (j) =>
          void j.ready.then(
            () => setTimeout(() => j.kill("SIGUSR1"), 20),
            () => {},
          ),
      },
    );
    expect(find(waiting, "signal").sig).toBe(10);
    expect(waiting.exit).toMatchObject({ ran: true, code: 0 });
    const bad = await runJail({
      steps: probeSteps(
        ["ids"],
        [
          { step: "trace" },
          { step: "bind", source: "/nonexistent", path: "/x", type: "file", rw: false, exec: false },
        ],
      ),
    });
    expect(bad.exit.ran).toBe(false);
    expect((bad.error as { code?: string }).code).toBe("HELPER_STAGE_FAILED");
    const noExec = compilePolicy(allowlist(NEEDED.filter((n) => n !== "execve"))).program;
    const killedAtExec = await runJail({
      steps: probeSteps(["ids"], [{ step: "seccomp", program: noExec }, { step: "trace" }]),
    });
    expect(killedAtExec.exit).toMatchObject({ ran: false, signal: "SIGSYS" });
    expect(killedAtExec.exit.sigsys?.nr).toBe(59); // execve
  });
});
