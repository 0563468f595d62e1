// Tap devices the launcher creates for a VM (and removes after), with `ip` from iproute2.
// A tap that already exists is refused rather than adopted: removing it afterwards would
// delete someone else's interface.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { QemuJailError } from "../errors.js";
import type { TapPlan } from "../plan/types.js";

const run = promisify(execFile);

function ip(netns: string | undefined, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("ip", netns ? ["-n", netns, ...args] : args);
}

/** True when interface `name` exists (in `netns`, or the launcher's own network namespace). */
export async function linkExists(name: string, netns?: string): Promise<boolean> {
  try {
    await ip(netns, "link", "show", "dev", name);
    return true;
  } catch {
    return false;
  }
}

/** Creates the tap, owned by the VM's uid/gid, enslaved to its bridge, up. */
export async function createTap(tap: TapPlan): Promise<void> {
  const where = tap.netns ? ` in netns ${tap.netns}` : "";
  if (await linkExists(tap.name, tap.netns)) {
    throw new QemuJailError("TAP_EXISTS", `tap ${tap.name} already exists${where}`, {
      exit: "jail",
      location: { key: tap.need.item },
      hint: "set create = false to use an existing tap, or pick another name",
    });
  }
  try {
    await ip(
      tap.netns,
      "tuntap",
      "add",
      "dev",
      tap.name,
      "mode",
      "tap",
      "user",
      String(tap.owner.uid),
      "group",
      String(tap.owner.gid),
    );
  } catch (e) {
    throw new QemuJailError("TAP_CREATE", `failed to create tap ${tap.name}${where}: ${stderrOf(e)}`, {
      exit: "jail",
      location: { key: tap.need.item },
      cause: e,
    });
  }
  try {
    if (tap.bridge) await ip(tap.netns, "link", "set", "dev", tap.name, "master", tap.bridge);
    await ip(tap.netns, "link", "set", "dev", tap.name, "up");
  } catch (e) {
    // The tap exists now: remove it before reporting, so nothing half-made stays.
    await deleteTap(tap.name, tap.netns).catch(() => undefined);
    throw new QemuJailError("TAP_SETUP", `failed to set up tap ${tap.name}${where}: ${stderrOf(e)}`, {
      exit: "jail",
      location: { key: tap.need.item },
      cause: e,
    });
  }
}

/** Removes a tap; an absent tap (or netns) counts as removed. */
export async function deleteTap(name: string, netns?: string): Promise<void> {
  if (!(await linkExists(name, netns))) return;
  await ip(netns, "link", "del", "dev", name);
}

function stderrOf(e: unknown): string {
  const s = (e as { stderr?: string }).stderr;
  return (s?.trim() || (e as Error).message) ?? String(e);
}
