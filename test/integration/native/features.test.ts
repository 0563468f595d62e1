// Helper features beyond the probe suite: fds passed and renumbered (and nothing else leaking),
// execveat on an fd (the binary need not be in the root), joining an existing netns, a user
// namespace mapped onto unprivileged host ids, kept capabilities, and --probe.

import { closeSync, openSync, readFileSync, statSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { probePath } from "../../../src/native/paths.js";
import { helperProbe } from "../../../src/native/probe.js";
import type { HelperStep } from "../../../src/native/spec.js";
import { find, isRoot, probeSteps, runJail, tries } from "./harness.js";

describe.skipIf(!isRoot)("helper features", () => {
  it("passes listed fds at their numbers and closes every other fd", async () => {
    const a = openSync("/dev/zero", "r");
    const b = openSync("/dev/zero", "r");
    const stray = openSync("/dev/zero", "r"); // open in Node, not listed: must not reach the payload
    try {
      const fds: HelperStep[] = [
        { step: "fd", target: 3, source: { parent: b } },
        { step: "fd", target: 9, source: { parent: a } },
      ];
      const run = await runJail({ steps: probeSteps(["fds"], fds) });
      expect(find(run, "fds").open).toEqual([0, 1, 2, 3, 9]);
    } finally {
      for (const fd of [a, b, stray]) closeSync(fd);
    }
  });

  it("execs from an fd: the binary is not in the root at all", async () => {
    const exe = openSync(probePath(), "r");
    try {
      const steps = probeSteps(["tree"]).filter(
        (s) => !(s.step === "bind" && s.path === "/probe") && s.step !== "exec",
      );
      steps.push({ step: "exec", path: "/probe", argv: ["/probe", "tree"], fd: { parent: exe } });
      const run = await runJail({ steps });
      expect(run.exit).toMatchObject({ ran: true, code: 0 });
      expect((find(run, "tree").paths as string[]).sort()).toEqual(["c /dev/null", "d /dev", "d /tmp"]);
    } finally {
      closeSync(exe);
    }
  });

  it("execs from an fd under Landlock too: the ruleset allows that very file", async () => {
    const exe = openSync(probePath(), "r");
    try {
      const steps = probeSteps(["read", "/dev/null"]).filter(
        (s) => !(s.step === "bind" && s.path === "/probe") && s.step !== "exec",
      );
      steps.push({ step: "landlock", required: true, scopeSignal: true, scopeAbstractUnix: true });
      steps.push({ step: "landlock-path", path: "/tmp", access: ["read_dir"] });
      steps.push({
        step: "exec",
        path: "/probe",
        argv: ["/probe", "read", "/dev/null"],
        fd: { parent: exe },
      });
      const run = await runJail({ steps });
      expect(run.exit).toMatchObject({ ran: true, code: 0 });
      expect(tries(run)["read /dev/null"]).toBe("EACCES"); // and the ruleset still holds
    } finally {
      closeSync(exe);
    }
  });

  it("joins an existing network namespace by path", async () => {
    // Our own netns stands in for a prepared one: the payload must be in it, not in a new one.
    const steps = probeSteps(
      ["ns", "wait-signal"],
      [{ step: "proc", path: "/proc", hidepid: 2, subsetPid: true }],
    ).map(
      (s): HelperStep =>
        s.step === "unshare" ? { ...s, namespaces: s.namespaces.filter((n) => n !== "net") } : s,
    );
    steps.push({ step: "netns", path: "/proc/self/ns/net" });
    const run = await runJail(
      { steps },
      {
        onStart: (j) =>
          void j.ready.then(
            () => setTimeout(() => j.kill("SIGUSR1"), 20),
            () => {},
          ),
      },
    );
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    expect(find(run, "ns").net).toBe(statSync("/proc/self/ns/net").ino);
    expect(find(run, "ns").mnt).not.toBe(statSync("/proc/self/ns/mnt").ino);
  });

  it("joins an existing network namespace by fd", async () => {
    const nsfd = openSync("/proc/self/ns/net", "r");
    try {
      const steps = probeSteps(["ns"], [{ step: "proc", path: "/proc", hidepid: 2, subsetPid: true }]).map(
        (s): HelperStep =>
          s.step === "unshare" ? { ...s, namespaces: s.namespaces.filter((n) => n !== "net") } : s,
      );
      steps.push({ step: "netns", fd: { parent: nsfd } });
      const run = await runJail({ steps });
      expect(run.exit).toMatchObject({ ran: true, code: 0 });
      expect(find(run, "ns").net).toBe(statSync("/proc/self/ns/net").ino);
    } finally {
      closeSync(nsfd);
    }
  });

  it("runs in a user namespace whose ids map onto unprivileged host ids", async () => {
    const BASE = 200000;
    const steps = probeSteps(["ids", "caps", "wait-signal"])
      .filter((s) => s.step !== "mknod") // device nodes cannot be made inside a user namespace
      .map((s): HelperStep => {
        if (s.step === "unshare") return { ...s, namespaces: [...s.namespaces, "user"] };
        if (s.step === "ids") return { step: "ids", uid: 1000, gid: 1000 };
        if (s.step === "tmpfs") return { ...s, uid: 1000, gid: 1000 };
        return s;
      });
    steps.push({ step: "uidmap", inside: 0, outside: BASE, count: 65536 });
    steps.push({ step: "gidmap", inside: 0, outside: BASE, count: 65536 });
    let hostStatus = "";
    const run = await runJail(
      { steps },
      {
        onStart: (j) =>
          void j.ready.then(
            () =>
              setTimeout(() => {
                hostStatus = readFileSync(`/proc/${j.pid}/status`, "utf8");
                j.kill("SIGTERM");
              }, 20),
            () => {},
          ),
      },
    );
    expect(run.exit, JSON.stringify(run.events)).toMatchObject({ ran: true, code: 0 });
    expect(find(run, "ids")).toMatchObject({ uid: [1000, 1000, 1000], gid: [1000, 1000, 1000] });
    expect(find(run, "caps")).toMatchObject({ eff: 0, prm: 0, bnd: 0, nnp: 1 });
    // Seen from the host: the unprivileged ids, never 0.
    expect(hostStatus).toMatch(
      new RegExp(`^Uid:\\s+${BASE + 1000}\\s+${BASE + 1000}\\s+${BASE + 1000}`, "m"),
    );
    expect(hostStatus).toMatch(new RegExp(`^Gid:\\s+${BASE + 1000}\\s`, "m"));
  });

  it("keeps exactly the capabilities asked for, as ambient ones across exec", async () => {
    const run = await runJail({
      steps: probeSteps(["caps", "privileged"], [{ step: "caps", keep: ["CAP_CHOWN", "CAP_SYS_CHROOT"] }]),
    });
    const mask = (1 << 0) | (1 << 18);
    expect(find(run, "caps")).toMatchObject({
      eff: mask,
      prm: mask,
      inh: mask,
      bnd: mask,
      amb: mask,
      nnp: 1,
    });
    expect(tries(run)["mount tmpfs"]).toBe("EPERM");
  });

  it("--probe reports the kernel's facts", () => {
    const p = helperProbe();
    expect(p.helperSpecVersion).toBe(1);
    expect(p.seccompFilter).toBe(true);
    expect(p.seccompUserNotif).toBe(true);
    expect(p.mountApi).toBe(true);
    // The Landlock ABI the helper reports is the one it applies (see the Landlock probe test).
    expect(p.landlockAbi).toBeGreaterThanOrEqual(1);
    expect(p.capLastCap).toBeGreaterThanOrEqual(40);
  });
});
