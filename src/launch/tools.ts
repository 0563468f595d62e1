// Host tools the launcher runs as root (ip, perl, chcon, apparmor_parser, systemd-notify) are
// taken from the system directories only, never from an inherited PATH: whoever controls the
// PATH of a root process would otherwise choose what runs as root (security review F14).

import { accessSync, constants } from "node:fs";
import { join } from "node:path";

/** Where system tools live, in the order they are looked up. */
export const SYSTEM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] as const;

const found = new Map<string, string>();

/** Absolute path of system tool `name` (the name itself if none is found, so the error names it). */
export function systemTool(name: string): string {
  const hit = found.get(name);
  if (hit) return hit;
  for (const dir of SYSTEM_DIRS) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      found.set(name, path);
      return path;
    } catch {}
  }
  return join(SYSTEM_DIRS[1], name);
}
