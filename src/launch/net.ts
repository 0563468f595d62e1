// Tap devices the launcher creates for a VM (and removes after), with `ip` from iproute2, and the
// tap fd QEMU gets (netdev tap,fd=): QEMU then needs neither /dev/net/tun nor the host network.
// A tap that already exists is refused rather than adopted: removing it afterwards would
// delete someone else's interface.
//
// Attaching an fd to a tap is the TUNSETIFF ioctl, which Node cannot issue. The launcher opens
// /dev/net/tun itself and lets a short-lived perl (perl-base is Essential on Debian) run the
// ioctl on the inherited fd: the open file description is shared, so the launcher's fd is then
// attached. A tun file looks the name up in the netns it was opened in, so a tap meant for
// another netns is created and attached in the launcher's netns, then moved there (a tap keeps
// its attached file across the move), then enslaved and brought up inside it.

import { execFile, spawnSync } from "node:child_process";
import { closeSync, constants, openSync } from "node:fs";
import { promisify } from "node:util";
import { QemuJailError } from "../errors.js";
import type { TapPlan } from "../plan/types.js";
import { systemTool } from "./tools.js";

const run = promisify(execFile);

function ip(netns: string | undefined, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(systemTool("ip"), netns ? ["-n", netns, ...args] : args);
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

const TUNSETIFF = 0x400454ca;
const IFF_TAP = 0x0002;
const IFF_NO_PI = 0x1000;
const IFF_VNET_HDR = 0x4000;

/** Opens /dev/net/tun and attaches it to tap `name` (in the launcher's netns); returns the fd. */
export function attachTap(name: string): number {
  const fd = openSync("/dev/net/tun", constants.O_RDWR);
  const script =
    'open(my $fh, "+<&=", 3) or die "fd 3: $!\\n"; ' +
    `ioctl($fh, ${TUNSETIFF}, pack("Z16 s", $ARGV[0], ${IFF_TAP | IFF_NO_PI | IFF_VNET_HDR})) or die "TUNSETIFF: $!\\n";`;
  const r = spawnSync(systemTool("perl"), ["-e", script, name], {
    stdio: ["ignore", "ignore", "pipe", fd],
    encoding: "utf8",
  });
  if (r.status !== 0) {
    closeSync(fd);
    throw new QemuJailError(
      "TAP_ATTACH",
      `failed to attach to tap ${name}: ${(r.stderr || r.error?.message || "").trim()}`,
      {
        exit: "jail",
        hint: "the tap must exist in the launcher's network namespace and allow this user",
      },
    );
  }
  return fd;
}

/** Creates the tap, owned by the VM's uid/gid, in its netns, enslaved to its bridge, up; returns its attached fd. */
export async function createTap(tap: TapPlan): Promise<number> {
  const where = tap.netns ? ` in netns ${tap.netns}` : "";
  if ((await linkExists(tap.name, tap.netns)) || (tap.netns && (await linkExists(tap.name)))) {
    throw new QemuJailError("TAP_EXISTS", `tap ${tap.name} already exists${where}`, {
      exit: "jail",
      location: { key: tap.need.item },
      hint: "set create = false to use an existing tap, or pick another name",
    });
  }
  try {
    await ip(
      undefined,
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
    throw new QemuJailError("TAP_CREATE", `failed to create tap ${tap.name}: ${stderrOf(e)}`, {
      exit: "jail",
      location: { key: tap.need.item },
      cause: e,
    });
  }
  let fd: number | undefined;
  try {
    fd = attachTap(tap.name);
    if (tap.netns) await ip(undefined, "link", "set", "dev", tap.name, "netns", tap.netns);
    if (tap.bridge) await ip(tap.netns, "link", "set", "dev", tap.name, "master", tap.bridge);
    await ip(tap.netns, "link", "set", "dev", tap.name, "up");
    return fd;
  } catch (e) {
    // The tap exists now: remove it before reporting, so nothing half-made stays.
    if (fd !== undefined) closeSync(fd);
    await deleteTap(tap.name, tap.netns).catch(() => undefined);
    if (e instanceof QemuJailError) throw e;
    throw new QemuJailError("TAP_SETUP", `failed to set up tap ${tap.name}${where}: ${stderrOf(e)}`, {
      exit: "jail",
      location: { key: tap.need.item },
      cause: e,
    });
  }
}

/** Removes a tap (from its netns, or from the launcher's if it was not moved yet); absent counts as removed. */
export async function deleteTap(name: string, netns?: string): Promise<void> {
  if (netns && (await linkExists(name, netns))) await ip(netns, "link", "del", "dev", name);
  else if (await linkExists(name)) {
    // Only a tap: never a host interface of the same name.
    const { stdout } = await ip(undefined, "-d", "link", "show", "dev", name);
    if (/\btun type tap\b/.test(stdout)) await ip(undefined, "link", "del", "dev", name);
  }
}

function stderrOf(e: unknown): string {
  const s = (e as { stderr?: string }).stderr;
  return (s?.trim() || (e as Error).message) ?? String(e);
}
