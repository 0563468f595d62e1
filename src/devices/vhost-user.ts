// What every vhost-user device shares, whichever backend serves it: QEMU's side of the
// connection. The launcher makes the backend's listening socket; QEMU gets a connected end as
// an fd, so neither jail needs a path to the other's socket.

import type { Contribution } from "./types.js";
import { need } from "./util.js";

/** Memory and pids limits of one backend's cgroup leaf (not configurable yet). */
export const BACKEND_LIMITS = { memoryMax: 256 * 1024 * 1024, pidsMax: 128 } as const;

/**
 * QEMU's contribution for a vhost-user device with id `deviceId` served by process `backend`
 * listening on `socketPath`: the connected socket end, and the frontend policy fragment.
 */
export function vhostUserFrontend(
  item: string,
  deviceId: string,
  backend: string,
  socketPath: string,
  what: { socket: string; frontend: string },
): Contribution {
  return {
    item,
    target: "qemu",
    fds: [
      {
        key: `vhost-user:${deviceId}`,
        source: { kind: "socket-of", process: backend, endpoint: socketPath },
        need: need(item, `connected end of ${what.socket}`),
      },
    ],
    fragments: [{ fragment: "vhost-user-frontend", need: need(item, what.frontend) }],
  };
}
