// sd_notify through systemd-notify: a unix datagram socket (bound by python3, since Node has no
// unix datagram sockets) receives READY=1 with the launcher's pid as MAINPID.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { notifyReady } from "../../../src/launch/notify.js";

const receiver = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(10)
print("BOUND", flush=True)
print(s.recv(4096).decode(), flush=True)
`;

describe("systemd readiness", () => {
  it("does nothing without NOTIFY_SOCKET", async () => {
    expect(await notifyReady("x", {})).toBe(false);
  });

  it("sends READY=1 and MAINPID to NOTIFY_SOCKET", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qj-notify-"));
    try {
      const sock = join(dir, "notify.sock");
      const py = spawn("/usr/bin/python3", ["-c", receiver, sock], { stdio: ["ignore", "pipe", "inherit"] });
      const pyExit = new Promise((r) => py.once("exit", r));
      let out = "";
      py.stdout!.on("data", (d) => {
        out += d;
      });
      const deadline = Date.now() + 20_000;
      while (!out.includes("BOUND")) {
        if (py.exitCode !== null || Date.now() > deadline) throw new Error(`receiver did not start: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await notifyReady("VM x running", { ...process.env, NOTIFY_SOCKET: sock })).toBe(true);
      await pyExit;
      expect(out).toContain("READY=1");
      expect(out).toContain(`MAINPID=${process.pid}`);
      expect(out).toContain("STATUS=VM x running");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
