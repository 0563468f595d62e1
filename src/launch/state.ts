// The state root (default /run/qemu-jail) and per-VM state dirs: where they are, which VMs run,
// and the id claims that keep two running VMs off the same "auto" uid block.

import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { QemuJailError } from "../errors.js";
import type { JailPlan } from "../plan/types.js";
import { readLock } from "./lock.js";
import { type LaunchRecord, readRecord } from "./record.js";

/** Where state lives unless configured otherwise. */
export const DEFAULT_STATE_ROOT = "/run/qemu-jail";
const IDS_DIR = ".ids";
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** A VM found under a state root. */
export interface VmState {
  name: string;
  stateDir: string;
  /** The launcher holding the lock, when it is alive. */
  launcher?: { pid: number; startTime: number };
  running: boolean;
  record?: LaunchRecord;
}

/**
 * Creates (if needed) and checks a state dir the launcher and `gc` will trust: records in it
 * say what gc chowns, removes and kills, and the probe cache says what goes into jails. So it
 * must be a real directory (not a symlink), owned by the launcher's user, and writable by no one
 * else (security review F4). Throws a "state" error otherwise.
 */
export function ensureTrustedDir(path: string, mode: number): void {
  mkdirSync(path, { recursive: true, mode });
  const why = untrusted(path);
  if (why) {
    throw new QemuJailError("STATE_DIR_UNTRUSTED", `refusing state dir ${path}: ${why}`, {
      exit: "state",
      hint: "use a state dir owned by the launcher's user and writable only by it (jail.state_dir or --state-dir)",
    });
  }
}

/** Why `path` cannot be trusted as state, or undefined. */
export function untrusted(path: string): string | undefined {
  const st = lstatSync(path);
  const uid = process.geteuid?.() ?? 0;
  if (st.isSymbolicLink()) return "it is a symlink";
  if (!st.isDirectory()) return "not a directory";
  if (st.uid !== uid) return `owned by uid ${st.uid}, not ${uid}`;
  if (st.mode & 0o022) return `writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`;
  return undefined;
}

/** Lists VM state dirs under `stateRoot` with their lock and record. */
export function listVms(stateRoot: string): VmState[] {
  let names: string[];
  try {
    // Nothing is read from a state root someone else could have written.
    if (untrusted(stateRoot)) return [];
    names = readdirSync(stateRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory() && NAME.test(d.name))
      .map((d) => d.name)
      .filter((name) => !untrusted(join(stateRoot, name)))
      .sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const stateDir = join(stateRoot, name);
    const lock = readLock(stateDir);
    return {
      name,
      stateDir,
      launcher: lock?.alive ? { pid: lock.pid, startTime: lock.startTime } : undefined,
      running: lock?.alive === true,
      record: readRecord(stateDir),
    };
  });
}

/** Id claim path of `id` under `stateRoot`. */
export function idClaimPath(stateRoot: string, id: number): string {
  return join(stateRoot, IDS_DIR, String(id));
}

/**
 * Claims ids [base, base+count) for VM `vm`: one O_EXCL file per id naming the VM. A claim held
 * by a VM whose launcher is gone is taken over. Returns the claimed paths, or the first id held
 * by a running VM (nothing is left claimed then).
 */
export function claimIds(
  stateRoot: string,
  ids: JailPlan["ids"],
  vm: string,
): { claimed: string[] } | { collision: number; holder: string } {
  mkdirSync(join(stateRoot, IDS_DIR), { recursive: true, mode: 0o755 });
  const claimed: string[] = [];
  for (let id = ids.base; id < ids.base + ids.count; id++) {
    const path = idClaimPath(stateRoot, id);
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(
          path,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o644,
        );
        writeSync(fd, `${vm}\n`);
        closeSync(fd);
        claimed.push(path);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) {
          for (const p of claimed) rmSync(p, { force: true });
          if ((e as NodeJS.ErrnoException).code === "EEXIST")
            return { collision: id, holder: holderOf(path) };
          throw e;
        }
        const holder = holderOf(path);
        // Our own stale claim, or one whose VM no longer runs: take it over.
        if (holder === vm || !readLock(join(stateRoot, holder))?.alive) {
          rmSync(path, { force: true });
          continue;
        }
        for (const p of claimed) rmSync(p, { force: true });
        return { collision: id, holder };
      }
    }
  }
  return { claimed };
}

function holderOf(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
