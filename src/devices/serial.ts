// The serial console's chardev. A log file is opened by the launcher (append) and passed as an
// fdset; a unix socket is a listening socket the launcher made; stdio passes the launcher's own
// stdin/stdout. No path to any of them is in the jail.

import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";

function contribute(ctx: CatalogueContext): Contribution[] {
  const s = ctx.config.serial;
  const item = "serial";
  switch (s.mode) {
    case "none":
      return [];
    case "file":
      return [
        {
          item,
          target: "qemu",
          fds: [
            {
              key: "serial",
              source: { kind: "file", path: s.path, write: true, append: true },
              need: need(item, "serial console log, opened for append by the launcher"),
              fdset: true,
            },
          ],
          fragments: [{ fragment: "chardev-file", need: need(item, "serial console to a file") }],
          rlimits: [
            {
              resource: "FSIZE",
              soft: "unlimited",
              hard: "unlimited",
              need: need(item, "the console log grows"),
            },
          ],
        },
      ];
    case "socket":
      return [
        {
          item,
          target: "qemu",
          fds: [
            {
              key: "serial",
              source: { kind: "listen-unix", path: s.path },
              need: need(item, "serial console socket, listening, made by the launcher"),
            },
          ],
          fragments: [{ fragment: "chardev-socket", need: need(item, "serial console on a unix socket") }],
        },
      ];
    case "stdio":
      return [
        {
          item,
          target: "qemu",
          fds: [
            {
              key: "stdin",
              source: { kind: "stdio", stream: "stdin" },
              need: need(item, "console input"),
              fixed: 0,
            },
            {
              key: "stdout",
              source: { kind: "stdio", stream: "stdout" },
              need: need(item, "console output"),
              fixed: 1,
            },
          ],
          fragments: [
            { fragment: "chardev-stdio", need: need(item, "serial console on the launcher's stdio") },
          ],
        },
      ];
  }
}

/** The serial console chardev. */
export const serialKind: DeviceKind = { kind: "serial", contribute };
