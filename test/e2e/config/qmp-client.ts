// A minimal QMP client for the config e2e test: connect (retrying while QEMU starts), negotiate
// capabilities, send commands one at a time, quit and wait for the process to exit.

import type { ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";

export class Qmp {
  private buf = "";
  private lines: string[] = [];
  private wake?: () => void;

  private constructor(
    private readonly sock: Socket,
    private readonly child: ChildProcess,
  ) {
    sock.on("data", (d) => {
      this.buf += String(d);
      for (let i = this.buf.indexOf("\n"); i >= 0; i = this.buf.indexOf("\n")) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.wake?.();
    });
    sock.on("close", () => this.wake?.());
  }

  /** Connects to `path`, retrying for up to 20 s while `child` runs. */
  static async connect(path: string, child: ChildProcess): Promise<Qmp> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`QEMU exited (${child.exitCode ?? child.signalCode}) before QMP was up`);
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect(path);
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        const q = new Qmp(sock, child);
        await q.next();
        await q.cmd("qmp_capabilities");
        return q;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private async next(): Promise<Record<string, unknown>> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) {
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (!("event" in msg)) return msg;
        continue;
      }
      if (this.sock.destroyed) throw new Error("QMP connection closed");
      await new Promise<void>((r) => {
        this.wake = r;
      });
    }
  }

  /** Runs a command and returns its `return` value; throws on a QMP error. */
  async cmd(execute: string, args?: Record<string, unknown>): Promise<unknown> {
    this.sock.write(`${JSON.stringify(args ? { execute, arguments: args } : { execute })}\n`);
    const reply = await this.next();
    if ("error" in reply) throw new Error(`${execute}: ${JSON.stringify(reply.error)}`);
    return reply.return;
  }

  /** Sends quit and waits for QEMU to exit. */
  async quit(): Promise<void> {
    const exited = new Promise<void>((r) =>
      this.child.exitCode !== null || this.child.signalCode !== null
        ? r()
        : this.child.once("exit", () => r()),
    );
    try {
      await this.cmd("quit");
    } catch {
      // The socket may close before the reply arrives.
    }
    this.sock.destroy();
    await exited;
  }
}
