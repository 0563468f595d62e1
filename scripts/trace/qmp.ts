// A tiny QMP client for the trace harness and the policy tests: connect to a unix socket,
// negotiate capabilities, run commands one at a time, collect events.

import { connect, type Socket } from "node:net";

/** One QMP session over a unix socket. */
export class QmpClient {
  private buf = "";
  private waiters: ((msg: Record<string, unknown>) => void)[] = [];
  readonly events: string[] = [];

  private constructor(private readonly sock: Socket) {
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      this.buf += d;
      for (let nl = this.buf.indexOf("\n"); nl >= 0; nl = this.buf.indexOf("\n")) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line === "") continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (typeof msg.event === "string") this.events.push(msg.event);
        else this.waiters.shift()?.(msg);
      }
    });
  }

  /** Connect, read the greeting and enter command mode. */
  static async open(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path);
      const t = setTimeout(() => reject(new Error(`QMP connect ${path}: timeout`)), timeoutMs);
      s.once("connect", () => {
        clearTimeout(t);
        resolve(s);
      });
      s.once("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
    });
    const c = new QmpClient(sock);
    await c.next(timeoutMs); // greeting
    await c.execute("qmp_capabilities");
    return c;
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("QMP: no answer")), timeoutMs);
      this.waiters.push((m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
  }

  /** Run one command; resolve with its `return` value, reject on a QMP error. */
  async execute(cmd: string, args?: Record<string, unknown>, timeoutMs = 10_000): Promise<unknown> {
    const answer = this.next(timeoutMs);
    this.sock.write(`${JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd })}\n`);
    const msg = await answer;
    if (msg.error) throw new Error(`QMP ${cmd}: ${JSON.stringify(msg.error)}`);
    return msg.return;
  }

  /** Close the connection (QEMU keeps listening for the next client). */
  close(): void {
    this.sock.destroy();
  }
}

/** Resolve once `path` exists as a connectable socket, polling. */
export async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(path);
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`socket ${path} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
