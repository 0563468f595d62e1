// The planner's side of QEMU's command line: CONFIG's ArgvContext filled from QEMU's numbered
// fds (fdsets for every file the launcher opens, tap/vhost/vsock/QMP/serial/vhost-user fds) and
// the in-jail paths of the files bound into its root (kernel, initrd).

import type { Contribution, FdMap } from "../devices/types.js";
import type { ArgvContext, Fdset } from "../qemu/context.js";
import type { PassedFd } from "./types.js";

/** Builds the ArgvContext of QEMU's process. */
export function argvContext(
  parts: Contribution[],
  fds: PassedFd[],
  map: FdMap,
  fdsets: Array<{ set: number; fd: number; key: string }>,
  stateDir: string,
): ArgvContext {
  const byFd = new Map(fds.map((f) => [f.fd, f]));
  const sets: Record<string, Fdset> = {};
  for (const s of fdsets) {
    const f = byFd.get(s.fd)!;
    if (f.source.kind !== "file") continue;
    sets[f.source.path] = { set: s.set, fds: [{ fd: s.fd, opaque: f.need.item }] };
  }
  const ctx: ArgvContext = { fdsets: sets, runDir: stateDir, firmwareVars: `${stateDir}/OVMF_VARS.fd` };
  const paths: Record<string, string> = {};
  for (const c of parts) Object.assign(paths, c.paths ?? {});
  ctx.paths = paths;
  const taps: NonNullable<ArgvContext["taps"]> = {};
  const vhostUser: NonNullable<ArgvContext["vhostUser"]> = {};
  for (const [key, fd] of Object.entries(map.fd)) {
    const colon = key.indexOf(":");
    const kind = colon < 0 ? key : key.slice(0, colon);
    const id = colon < 0 ? "" : key.slice(colon + 1);
    if (kind === "tap") taps[id] = { ...taps[id], fd };
    else if (kind === "vhost-net") taps[id] = { fd: taps[id]?.fd ?? -1, vhostfd: fd };
    else if (kind === "vhost-user") vhostUser[id] = { fd };
    else if (kind === "vsock") ctx.vsock = { vhostfd: fd };
    else if (kind === "qmp") ctx.qmp = { fd };
    else if (kind === "serial" && map.fdset.serial === undefined) ctx.serial = { fd };
  }
  if (Object.keys(taps).length > 0) ctx.taps = taps;
  if (Object.keys(vhostUser).length > 0) ctx.vhostUser = vhostUser;
  return ctx;
}
