// QMP: always present (the launcher's readiness check and shutdown path). The launcher binds and
// listens on the socket itself and passes the listening fd, so QEMU (as the VM's uid) needs no
// writable dir for it and the path is not in its root.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

/** Where the QMP socket lives on the host. */
export function qmpPath(ctx: Pick<CatalogueContext, "config" | "stateDir">): string {
  return ctx.config.qmp.path ?? `${ctx.stateDir}/qmp.sock`;
}

function contribute(ctx: CatalogueContext): Contribution[] {
  return [
    {
      item: "qmp",
      target: "qemu",
      fds: [
        {
          key: "qmp",
          source: { kind: "listen-unix", path: qmpPath(ctx) },
          need: need("qmp", "QMP listening socket (readiness, shutdown, queries), made by the launcher"),
        },
      ],
      fragments: [{ fragment: "qmp", need: need("qmp", "QMP monitor: accept and serve clients") }],
    },
  ];
}

/** The QMP monitor socket. */
export const qmpKind: DeviceKind = { kind: "qmp", contribute };
