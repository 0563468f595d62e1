// Killing the helper at each stage leaves the host clean. The test build's FAIL_AFTER record
// makes the child SIGKILL itself right after a stage (a crash), or SIGSTOP itself so the test can
// SIGKILL the supervising helper (the launcher dying): then PDEATHSIG must take the child down.
// Either way: no mount appears on the host, our test cgroups end up empty and removable, and no
// temp dir or file is left.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StageName } from "../../../src/native/format.js";
import type { HelperStep } from "../../../src/native/spec.js";
import {
  bpfProgram,
  hostSnapshot,
  isRoot,
  MINE,
  makeTestCgroups,
  probeSteps,
  runJail,
  type TestCgroups,
  until,
} from "./harness.js";

// Every stage the full spec below goes through (lsm, netns, idmap are covered elsewhere).
const STAGES: StageName[] = [
  "parse",
  "prepare",
  "fds",
  "cgroup",
  "unshare",
  "propagation",
  "root",
  "proc",
  "pivot",
  "remount",
  "rlimits",
  "hostname",
  "creds",
  "pdeathsig",
  "cwd",
  "nnp",
  "landlock",
  "seccomp",
];

function fullSpec(cg: TestCgroups, extra: HelperStep[]): HelperStep[] {
  return probeSteps(
    ["ids"],
    [
      ...cg.dirs.map((dir): HelperStep => ({ step: "cgroup", dir })),
      { step: "proc", path: "/proc", hidepid: 2, subsetPid: true },
      { step: "landlock", required: true, scopeSignal: true, scopeAbstractUnix: true },
      { step: "landlock-path", path: "/", access: ["execute", "read_file", "read_dir"] },
      { step: "seccomp", program: bpfProgram([]) },
      ...extra,
    ],
  );
}

function cgroupEmpty(cg: TestCgroups): boolean {
  return cg.dirs.every((d) => readFileSync(join(d, "cgroup.procs"), "utf8").trim() === "");
}

describe.skipIf(!isRoot)("killing the helper at each stage leaves the host clean", () => {
  let cg: TestCgroups;
  let before: ReturnType<typeof hostSnapshot>;
  beforeAll(() => {
    before = hostSnapshot();
    cg = makeTestCgroups(`${MINE}-kill`);
  });
  afterAll(() => {
    cg.remove();
    expect(hostSnapshot()).toEqual(before);
  });

  it("the full spec runs to exec without injection", async () => {
    const run = await runJail({ steps: fullSpec(cg, []) });
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    const seen = run.events.filter((e) => e.kind === "stage").map((e) => (e.kind === "stage" ? e.stage : ""));
    expect(seen).toEqual(STAGES);
  });

  it.each(STAGES)("crash (SIGKILL) right after %s", async (stage) => {
    const mid = hostSnapshot();
    const run = await runJail({ steps: fullSpec(cg, [{ step: "fail-after", stage, mode: "kill" }]) });
    expect(run.exit.ran).toBe(false);
    expect(run.lines).toEqual([]); // the payload never ran
    expect((run.error as { code?: string }).code).toBe("HELPER_DIED");
    expect((run.error as { detail?: { lastStage?: string } }).detail?.lastStage).toBe(stage);
    if (run.pid) await until(() => !existsSync(`/proc/${run.pid}`));
    expect(cgroupEmpty(cg)).toBe(true);
    expect(hostSnapshot()).toEqual(mid);
  });

  it.each(STAGES.filter((s) => s !== "parse" && s !== "prepare"))(
    "supervisor SIGKILLed while the child is stopped after %s",
    async (stage) => {
      const mid = hostSnapshot();
      let childPid: number | undefined;
      const run = await runJail(
        { steps: fullSpec(cg, [{ step: "fail-after", stage, mode: "stop" }]) },
        {
          onStart: (j) => {
            let stopped = false;
            const timer = setInterval(() => {
              const pid = j.pid;
              if (stopped || !pid || !existsSync(`/proc/${pid}/stat`)) return;
              // State "T": the child stopped itself after the stage.
              const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.[0];
              if (state !== "T") return;
              stopped = true;
              childPid = pid;
              clearInterval(timer);
              process.kill(j.helperPid, "SIGKILL");
            }, 5);
            void j.exited.finally(() => clearInterval(timer));
          },
        },
      );
      expect(run.exit).toMatchObject({ ran: false, signal: "SIGKILL" });
      expect(childPid).toBeDefined();
      // PDEATHSIG (SIGKILL) ends the orphaned child; it gets reaped by whoever adopts it.
      await until(
        () =>
          !existsSync(`/proc/${childPid}`) || readFileSync(`/proc/${childPid}/stat`, "utf8").includes(") Z"),
      );
      await until(() => cgroupEmpty(cg));
      expect(hostSnapshot()).toEqual(mid);
    },
  );
});
