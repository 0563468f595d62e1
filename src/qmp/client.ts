// A small QMP client: connect to a unix socket, read the greeting, negotiate capabilities, run
// commands one at a time (QMP answers in order), and surface asynchronous events.

import { EventEmitter } from "node:events";
import net from "node:net";
import { QemuJailError } from "../errors.js";

/** A QMP event as QEMU sends it. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  command: string;
}

/** An open, negotiated QMP connection. Emits "event" (QmpEvent) and "close". */
export class QmpClient extends EventEmitter {
  readonly #socket: net.Socket;
  readonly #pending: Pending[] = [];
  #buffer = "";
  #closed = false;
  /** The greeting's version object. */
  greeting: Record<string, unknown> | undefined;

  private constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
  }

  /**
   * Connects to `path` and negotiates capabilities. Rejects with QMP_TIMEOUT when QEMU has not
   * answered within `timeoutMs` (the socket may be connectable before QEMU accepts: the launcher
   * created it).
   */
  static connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ path });
      const client = new QmpClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new QemuJailError("QMP_TIMEOUT", `QMP at ${path} did not answer within ${timeoutMs} ms`, {
            exit: "guest",
          }),
        );
      }, timeoutMs);
      const fail = (error: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(
          new QemuJailError("QMP_CONNECT", `cannot talk QMP at ${path}: ${error.message}`, {
            exit: "guest",
            cause: error,
          }),
        );
      };
      socket.once("error", fail);
      socket.setEncoding("utf8");
      socket.on("data", (chunk: string) => client.#onData(chunk));
      socket.on("close", () => client.#onClose());
      client.once("greeting", () => {
        client.execute("qmp_capabilities").then(
          () => {
            clearTimeout(timer);
            socket.off("error", fail);
            socket.on("error", () => undefined);
            resolve(client);
          },
          (e: Error) => fail(e),
        );
      });
      client.once("close", () => fail(new Error("connection closed before the greeting")));
    });
  }

  /** Runs `command` with `args`; resolves to its `return` value, rejects on `error`. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error(`QMP connection closed (${command})`));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ resolve: resolve as (v: unknown) => void, reject, command });
      this.#socket.write(
        `${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`,
      );
    });
  }

  /** Closes the connection. */
  close(): void {
    this.#socket.end();
    this.#socket.destroy();
  }

  get closed(): boolean {
    return this.#closed;
  }

  #onData(chunk: string): void {
    this.#buffer += chunk;
    let nl = this.#buffer.indexOf("\n");
    while (nl >= 0) {
      const line = this.#buffer.slice(0, nl).trim();
      this.#buffer = this.#buffer.slice(nl + 1);
      if (line) this.#onMessage(line);
      nl = this.#buffer.indexOf("\n");
    }
  }

  #onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ("QMP" in msg) {
      this.greeting = msg.QMP as Record<string, unknown>;
      this.emit("greeting", this.greeting);
    } else if ("event" in msg) {
      this.emit("event", msg as unknown as QmpEvent);
    } else if ("return" in msg || "error" in msg) {
      const pending = this.#pending.shift();
      if (!pending) return;
      if ("error" in msg) {
        const err = msg.error as { class?: string; desc?: string };
        pending.reject(new Error(`QMP ${pending.command}: ${err.class ?? "Error"}: ${err.desc ?? ""}`));
      } else pending.resolve(msg.return);
    }
  }

  #onClose(): void {
    this.#closed = true;
    for (const p of this.#pending.splice(0)) p.reject(new Error(`QMP connection closed (${p.command})`));
    this.emit("close");
  }
}
