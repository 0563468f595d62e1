// The launch record: `<stateDir>/record.json`, the plan plus every host effect, each appended
// BEFORE the effect is attempted. A launcher killed with SIGKILL leaves it behind, and `gc` undoes
// from it exactly what may have been done (an intent whose effect never happened undoes as a
// no-op: removing a tap that is not there, restoring an owner that never changed).
//
// Writes are atomic (temp file + rename), so a kill mid-write leaves the previous record.

import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JailPlan } from "../plan/types.js";
import type { ProcessIdentity } from "./proc.js";

export const RECORD_FILE = "record.json";
/** The plan lives in its own file, written once (and on a re-plan): effects are appended often. */
export const PLAN_FILE = "plan.json";

/** One host effect, as data, so that `gc` can undo it without the launcher's closures. */
export type Effect =
  /** A per-uid claim file under <stateRoot>/ids, so two VMs never share an "auto" uid. */
  | { kind: "id-claim"; path: string }
  /** Cgroup directories (absolute) the launch may create, deepest last. */
  | { kind: "cgroup"; dirs: string[] }
  /** A tap interface the launch creates. */
  | { kind: "tap"; name: string; netns?: string }
  /** An ownership change, with the original owner to restore. */
  | { kind: "chown"; path: string; uid: number; gid: number; origUid: number; origGid: number }
  /** A file or socket the launch creates (removed on undo). */
  | { kind: "file"; path: string }
  /** An AppArmor profile the launch loads into the kernel (removed on undo). */
  | { kind: "apparmor-profile"; name: string }
  /** SELinux file labels the launch sets, with each file's label from before (restored on undo). */
  | { kind: "selinux-labels"; previous: Array<{ path: string; context: string }> }
  /** A jailed process (helper pid; the payload pid once known). */
  | { kind: "process"; id: string; pid: number; startTime: number; payloadPid?: number };

/** The record file's content. */
export interface LaunchRecord {
  version: 1;
  vm: string;
  stateDir: string;
  stateRoot: string;
  launcher: ProcessIdentity;
  startedAt: string;
  /** Absent only when read back from a launcher killed before it wrote the plan. */
  plan?: JailPlan;
  effects: Effect[];
}

function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Writes the record's effects (and, with `withPlan`, its plan) atomically into its state dir. */
export function writeRecord(record: LaunchRecord, withPlan = true): void {
  if (withPlan) {
    // Seccomp argument values are BigInts: written as "0x..." strings, as planToJson does.
    const plan = JSON.stringify(
      record.plan ?? null,
      (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v),
      2,
    );
    writeAtomic(join(record.stateDir, PLAN_FILE), `${plan}\n`);
  }
  const { plan: _plan, ...rest } = record;
  writeAtomic(join(record.stateDir, RECORD_FILE), `${JSON.stringify(rest, null, 2)}\n`);
}

/** Reads the record in `stateDir` (effects and plan), or undefined when absent or unreadable. */
export function readRecord(stateDir: string): LaunchRecord | undefined {
  try {
    const value = JSON.parse(readFileSync(join(stateDir, RECORD_FILE), "utf8")) as LaunchRecord;
    if (value?.version !== 1 || !Array.isArray(value.effects)) return undefined;
    try {
      value.plan = JSON.parse(readFileSync(join(stateDir, PLAN_FILE), "utf8")) as LaunchRecord["plan"];
    } catch {
      // A launcher killed before the plan was written: the effects alone are enough for gc.
    }
    return value;
  } catch {
    return undefined;
  }
}

/** Keeps a record in memory and on disk in step: `intend` appends an effect and writes before returning. */
export class Recorder {
  constructor(readonly record: LaunchRecord) {}

  /** Records `effect` on disk; call right BEFORE performing it. */
  intend(effect: Effect): Effect {
    this.record.effects.push(effect);
    writeRecord(this.record, false);
    return effect;
  }

  /** Rewrites the record and the plan (at the start, and after a re-plan). */
  flush(): void {
    writeRecord(this.record, true);
  }
}
