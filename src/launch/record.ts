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
  plan: JailPlan;
  effects: Effect[];
}

/** Writes `record` atomically into its state dir. */
export function writeRecord(record: LaunchRecord): void {
  const path = join(record.stateDir, RECORD_FILE);
  const tmp = `${path}.tmp`;
  // Seccomp argument values are BigInts: written as "0x..." strings, as planToJson does.
  const text = JSON.stringify(record, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v), 2);
  writeFileSync(tmp, `${text}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads the record in `stateDir`, or undefined when absent or unreadable. */
export function readRecord(stateDir: string): LaunchRecord | undefined {
  try {
    const value = JSON.parse(readFileSync(join(stateDir, RECORD_FILE), "utf8")) as LaunchRecord;
    return value?.version === 1 && Array.isArray(value.effects) ? value : undefined;
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
    writeRecord(this.record);
    return effect;
  }

  /** Rewrites the record after an effect's data changed (e.g. a payload pid became known). */
  flush(): void {
    writeRecord(this.record);
  }
}
