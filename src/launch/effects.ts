// Undo of each recorded effect, from data alone. The launcher's undo stack calls these, and so
// does `gc` for a launcher that was killed, so both paths undo the same way. Every undo is
// idempotent: undoing an effect that never happened (only its intent was recorded) is a no-op.

import { closeSync, constants, fchownSync, fstatSync, openSync, rmSync } from "node:fs";
import { restoreSelinuxLabels, unloadApparmorProfile } from "../lsm/apply.js";
import type { CgroupDriver } from "./launch.js";
import { deleteTap } from "./net.js";
import { isAlive } from "./proc.js";
import type { Effect } from "./record.js";

/** Undoes one effect. */
export async function undoEffect(effect: Effect, ctx: { cgroups?: CgroupDriver } = {}): Promise<void> {
  switch (effect.kind) {
    case "id-claim":
    case "file":
      rmSync(effect.path, { force: true });
      return;
    case "tap":
      await deleteTap(effect.name, effect.netns);
      return;
    case "chown": {
      // As when it was changed: one open not following a symlink, then fstat and fchown on that
      // fd. Restore only what we changed: if someone else changed the owner since, leave it.
      const fd = openNoFollow(effect.path);
      if (fd === undefined) return;
      try {
        const st = fstatSync(fd);
        if ((st.isFile() || st.isDirectory()) && st.uid === effect.uid && st.gid === effect.gid)
          fchownSync(fd, effect.origUid, effect.origGid);
      } finally {
        closeSync(fd);
      }
      return;
    }
    case "cgroup":
      if (!ctx.cgroups) throw new Error(`no cgroup driver to remove ${effect.dirs.join(", ")}`);
      await ctx.cgroups.remove(effect.dirs);
      return;
    case "apparmor-profile":
      // Idempotent: removing a profile that is not (or no longer) loaded is fine.
      await unloadApparmorProfile(effect.name);
      return;
    case "selinux-labels":
      // Setting a file back to the label it had is harmless if it was never changed.
      await restoreSelinuxLabels(effect.previous);
      return;
    case "process":
      // The helper sets a parent-death signal and the payload dies with its jail, but a
      // killed launcher's processes are ended here for sure before their cgroups go.
      if (isAlive({ pid: effect.pid, startTime: effect.startTime })) {
        try {
          process.kill(effect.pid, "SIGKILL");
        } catch {}
      }
      return;
  }
}

function openNoFollow(path: string): number | undefined {
  try {
    return openSync(
      path,
      constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK,
    );
  } catch {
    return undefined; // gone, or now a symlink: nothing of ours to restore there
  }
}
