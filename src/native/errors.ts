// Helper failures as QemuJailError: one code per kind, the failing stage/op/path/errno in detail.

import { QemuJailError } from "../errors.js";
import type { StatusEvent } from "./status.js";

type Fail = Extract<StatusEvent, { kind: "fail" }>;

const hints: Array<[(f: Fail) => boolean, string]> = [
  [(f) => f.op === "source-is-symlink", "bind sources must not end in a symlink: plan the resolved path"],
  [(f) => f.op === "source-type", "the bind source's type differs from the declared one (file/dir)"],
  [(f) => f.errnoName === "ENOENT" && f.stage === "root", "a bind source does not exist on the host"],
  [
    (f) => f.stage === "cgroup" || f.op === "open-cgroup",
    "the cgroup dirs must exist (created by the launcher)",
  ],
  [
    (f) => f.errnoName === "EPERM" && f.stage !== "parse",
    "the helper needs root (CAP_SYS_ADMIN and friends)",
  ],
  [(f) => f.stage === "parse", "the helper refused its spec; nothing was changed on the host"],
  [(f) => f.stage === "lsm", "the LSM asked for is not active on this host"],
  [(f) => f.stage === "landlock", "Landlock is required by the plan but unavailable"],
  [
    (f) => f.stage === "exec",
    "the binary or its ELF interpreter is missing from the root, or not executable",
  ],
];

/** Turns a helper "fail" line into the project's error. */
export function helperFailure(f: Fail, events: StatusEvent[]): QemuJailError {
  const code = f.stage === "parse" ? "HELPER_SPEC_REFUSED" : "HELPER_STAGE_FAILED";
  const where = f.path ? ` ${f.path}` : "";
  return new QemuJailError(code, `jail stage "${f.stage}" failed: ${f.op}${where}: ${f.errnoName}`, {
    exit: "jail",
    hint: hints.find(([m]) => m(f))?.[1],
    detail: { stage: f.stage, op: f.op, path: f.path, errno: f.errno, errnoName: f.errnoName, events },
  });
}

/** The helper ended before exec without saying why (killed, or crashed). */
export function helperDied(lastStage: string | undefined, how: string, events: StatusEvent[]): QemuJailError {
  return new QemuJailError(
    "HELPER_DIED",
    `the jail helper ended (${how}) before exec${lastStage ? `, after stage "${lastStage}"` : ""}`,
    { exit: "jail", detail: { lastStage, how, events } },
  );
}
