// The serial console and the QMP monitor, both as -chardev backends.

import type { ArgvEnv } from "./env.js";
import { listenSocket } from "./env.js";
import { kv } from "./opts.js";

/** -chardev + -serial for the first serial port (nothing for mode "none"). */
export function serialArgs(env: ArgvEnv): string[] {
  const s = env.config.serial;
  let chardev: string;
  if (s.mode === "none") return [];
  // append=on: the log is appended to, never truncated. It also matches how the launcher opens
  // the fd it passes (O_APPEND): without it QEMU opens /dev/fdset/N with O_TRUNC and its fdset
  // code then ftruncate()s the inherited fd, a syscall the jail's policy rightly lacks.
  if (s.mode === "file")
    chardev = kv("file", [
      ["id", "serial0"],
      ["path", env.openable(s.path)],
      ["append", true],
    ]);
  else if (s.mode === "socket") chardev = listenSocket("serial0", env.ctx.serial, s.path, env);
  // signal=off: Ctrl-C reaches the guest; the launcher owns SIGINT handling.
  else
    chardev = kv("stdio", [
      ["id", "serial0"],
      ["signal", false],
    ]);
  return ["-chardev", chardev, "-serial", "chardev:serial0"];
}

/** The QMP control socket: -chardev socket + -mon. */
export function qmpArgs(env: ArgvEnv): string[] {
  const path = env.config.qmp.path ?? `${env.runDir}/qmp.sock`;
  return ["-chardev", listenSocket("qmp", env.ctx.qmp, path, env), "-mon", "chardev=qmp,mode=control"];
}
