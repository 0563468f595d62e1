// The per-VM lock: a file created with O_EXCL holding the launcher's pid and start time. Two
// launches of one VM cannot both create it; a lock whose process is gone (or whose pid now
// names another process) is stale and may be taken over, but only through the same O_EXCL
// create after removing it, so two takers still cannot both win.

import { closeSync, constants, linkSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { QemuJailError } from "../errors.js";
import { isAlive, type ProcessIdentity, selfIdentity } from "./proc.js";

/** Name of the lock file inside a VM's state dir. */
export const LOCK_FILE = "lock";

/** What a lock file says, and whether its holder still runs. */
export interface LockInfo extends ProcessIdentity {
  alive: boolean;
}

/** Reads the lock in `stateDir`; undefined when there is none or it is unreadable garbage. */
export function readLock(stateDir: string, procRoot = "/proc"): LockInfo | undefined {
  let text: string;
  try {
    text = readFileSync(join(stateDir, LOCK_FILE), "utf8");
  } catch {
    return undefined;
  }
  const m = /^(\d+) (\d+)\n?$/.exec(text);
  if (!m) return undefined;
  const id = { pid: Number(m[1]), startTime: Number(m[2]) };
  return { ...id, alive: isAlive(id, procRoot) };
}

function createExclusive(path: string, id: ProcessIdentity): boolean {
  // The content is written to a private temp file first and then linked into place: link() is
  // atomic and fails on an existing path, so a lock file never exists empty or half-written (an
  // empty lock read by a rival would look stale and be taken over: two launchers, one VM).
  const tmp = `${path}.${id.pid}.${id.startTime}.tmp`;
  rmSync(tmp, { force: true });
  // O_NOFOLLOW|O_EXCL: a symlink planted at the temp path is refused, never followed.
  const fd = openSync(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
    0o644,
  );
  try {
    writeSync(fd, `${id.pid} ${id.startTime}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Takes the lock of the VM whose state dir is `stateDir` (which must exist) for this process.
 * A stale lock is removed first. Throws STATE_LOCKED (exit class "state") when a live launcher holds it.
 */
export function acquireLock(stateDir: string, vmName: string): ProcessIdentity {
  const me = selfIdentity();
  const path = join(stateDir, LOCK_FILE);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createExclusive(path, me)) return me;
    const held = readLock(stateDir);
    if (held?.alive) {
      throw new QemuJailError("STATE_LOCKED", `VM ${vmName} is already running (launcher pid ${held.pid})`, {
        exit: "state",
        hint: `stop it first: qemu-jail stop ${vmName}`,
        detail: { pid: held.pid, stateDir },
      });
    }
    // Stale (holder gone) or unreadable. Removing it is serialised by a second O_EXCL file, so
    // two takers that both read the same stale lock cannot remove the fresh lock of the other.
    const takeover = `${path}.takeover`;
    if (!createExclusive(takeover, me)) {
      const other = readTakeover(takeover);
      if (other === undefined || !isAlive(other)) rmSync(takeover, { force: true });
      continue;
    }
    try {
      const again = readLock(stateDir);
      if (!again?.alive) rmSync(path, { force: true });
    } finally {
      rmSync(takeover, { force: true });
    }
  }
  throw new QemuJailError("STATE_LOCK_RACE", `could not take the lock of VM ${vmName} in ${stateDir}`, {
    exit: "state",
    hint: "another launcher is taking it at the same time; retry",
  });
}

function readTakeover(path: string): ProcessIdentity | undefined {
  try {
    const m = /^(\d+) (\d+)\n?$/.exec(readFileSync(path, "utf8"));
    return m ? { pid: Number(m[1]), startTime: Number(m[2]) } : undefined;
  } catch {
    return undefined;
  }
}

/** Removes the lock if (and only if) it is ours. */
export function releaseLock(stateDir: string, owner: ProcessIdentity): void {
  const held = readLock(stateDir);
  if (held && held.pid === owner.pid && held.startTime === owner.startTime) {
    rmSync(join(stateDir, LOCK_FILE), { force: true });
  }
}
