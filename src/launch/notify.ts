// systemd readiness (Type=notify). sd_notify is one datagram on the unix socket named by
// $NOTIFY_SOCKET; Node has no unix datagram sockets, so the message is sent by systemd's own
// `systemd-notify` tool. systemd accepts a message from a process other than the main pid only
// with NotifyAccess=all in the unit; MAINPID= names the launcher (the supervisor) as main pid.
// --no-block: systemd-notify would otherwise wait on a BARRIER=1 round trip, which fails (and
// says so in its exit status) when the receiver is not systemd, although the message was sent.
// Without NOTIFY_SOCKET this does nothing.

import { execFile } from "node:child_process";
import { systemTool } from "./tools.js";

/** Sends READY=1 (and MAINPID) to systemd when running under Type=notify; resolves to whether it was sent. */
export function notifyReady(status?: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  const args = ["--no-block", "--ready", `--pid=${process.pid}`];
  if (status) args.push(`--status=${status}`);
  return new Promise((resolve) => {
    execFile(systemTool("systemd-notify"), args, { env, timeout: 5000 }, (err) => resolve(!err));
  });
}

/** Tells systemd the service is stopping (STOPPING=1). */
export function notifyStopping(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!env.NOTIFY_SOCKET) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile(systemTool("systemd-notify"), ["--no-block", "STOPPING=1"], { env, timeout: 5000 }, (err) =>
      resolve(!err),
    );
  });
}
