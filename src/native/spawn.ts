// spawnJailed: run the native helper on a HelperSpec with the fds it names, stream its status
// lines, and expose the payload's host pid, readiness (exec confirmed) and exit status.
//
// Helper fd layout: 0-2 as `stdio` says, 3 = spec (written then closed), 4 = status lines,
// 5.. = every distinct `{ parent: fd }` the spec refers to, in order of first use.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";
import { QemuJailError } from "../errors.js";
import { helperDied, helperFailure } from "./errors.js";
import { helperPath } from "./paths.js";
import { serializeSpec } from "./serialize.js";
import type { FdRef, HelperSpec, HelperStep } from "./spec.js";
import { parseStatusLine, type StatusEvent } from "./status.js";

export type StdioChoice = "ignore" | "inherit" | "pipe" | number;

export interface SpawnJailedOptions {
  /** Helper binary; default native/build/qemu-jail-helper. */
  helperPath?: string;
  /** The helper's (and, unless the spec maps fds 0-2 itself, the payload's) stdio. */
  stdio?: [StdioChoice, StdioChoice, StdioChoice];
  /** Called for each status event as it arrives (e.g. for --verbose stage timing). */
  onStatus?: (event: StatusEvent, atMs: number) => void;
}

export interface ExitStatus {
  /** True when the payload was exec'd; false: the status is the helper's own. */
  ran: boolean;
  code: number | null;
  signal: NodeJS.Signals | null;
  signalNumber: number | null;
  core: boolean;
  /** With a "trace" step: the syscall (and arguments) a seccomp filter killed the payload for. */
  sigsys?: { tid: number; nr: number; args: string[] };
}

export interface JailedProcess {
  /** The helper's pid (it stays as the payload's parent and supervisor). */
  readonly helperPid: number;
  /** The payload's pid on the host, once the helper has forked it. */
  readonly pid: number | undefined;
  /** Resolves once execve succeeded; rejects with QemuJailError (exit class "jail") otherwise. */
  readonly ready: Promise<{ pid: number }>;
  /** Resolves when everything ended: the payload's status (or the helper's, if it never ran). */
  readonly exited: Promise<ExitStatus>;
  /** Every status event so far, in order. */
  readonly events: StatusEvent[];
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** Signals the helper; after exec it forwards the signal to the payload, before exec it aborts. */
  kill(signal?: NodeJS.Signals | number): boolean;
}

const SPEC_FD = 3;
const STATUS_FD = 4;
const FIRST_PASSED_FD = 5;

function refsOf(step: HelperStep): FdRef[] {
  if (step.step === "fd") return [step.source];
  if ((step.step === "netns" || step.step === "seccomp") && "fd" in step) return [step.fd];
  if (step.step === "exec" && step.fd) return [step.fd];
  return [];
}

function signalName(n: number): NodeJS.Signals | null {
  const hit = Object.entries(constants.signals).find(([, v]) => v === n);
  return (hit?.[0] as NodeJS.Signals | undefined) ?? null;
}

/** Starts the helper on `spec`. See JailedProcess for what the handle offers. */
export function spawnJailed(spec: HelperSpec, options: SpawnJailedOptions = {}): JailedProcess {
  const bin = options.helperPath ?? helperPath();
  if (!existsSync(bin)) {
    throw new QemuJailError("HELPER_NOT_FOUND", `the jail helper ${bin} does not exist`, {
      exit: "jail",
      hint: "build it with `npm run build` (needs gcc)",
    });
  }
  // Give the payload the helper's stdio unless the spec says otherwise.
  const steps = [...spec.steps];
  for (const target of [0, 1, 2] as const) {
    if (!steps.some((s) => s.step === "fd" && s.target === target))
      steps.unshift({ step: "fd", target, source: { stdio: target } });
  }
  const slots = new Map<number, number>();
  for (const ref of steps.flatMap(refsOf)) {
    if ("parent" in ref && !slots.has(ref.parent)) slots.set(ref.parent, FIRST_PASSED_FD + slots.size);
  }
  const bytes = serializeSpec({ steps }, (ref) => ("stdio" in ref ? ref.stdio : slots.get(ref.parent)!));
  const stdio = [...(options.stdio ?? ["ignore", "inherit", "inherit"]), "pipe", "pipe", ...slots.keys()];
  const child: ChildProcess = spawn(bin, ["--spec-fd", String(SPEC_FD), "--status-fd", String(STATUS_FD)], {
    stdio: stdio as Array<"pipe" | "ignore" | "inherit" | number>,
    // A session of its own (setsid): a terminal's Ctrl-C (SIGINT to the foreground process
    // group) must reach only the launcher, which stops the VM gracefully, not QEMU, which would
    // die at once. The jail still dies with the launcher (the helper's parent-death signal).
    detached: true,
  });
  const t0 = performance.now();
  const events: StatusEvent[] = [];
  let payloadPid: number | undefined;
  let lastStage: string | undefined;
  let execSeen = false;
  let failure: QemuJailError | undefined;
  let resolveReady!: (v: { pid: number }) => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<{ pid: number }>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {}); // callers that only await `exited` must not see an unhandled rejection

  const onEvent = (ev: StatusEvent) => {
    events.push(ev);
    options.onStatus?.(ev, performance.now() - t0);
    if (ev.kind === "stage") lastStage = ev.stage;
    else if (ev.kind === "pid") payloadPid = ev.pid;
    else if (ev.kind === "exec") {
      execSeen = true;
      resolveReady({ pid: payloadPid! });
    } else if (ev.kind === "fail" && !failure) {
      failure = helperFailure(ev, events);
      rejectReady(failure);
    }
  };

  const status = child.stdio[STATUS_FD] as Readable;
  let buffered = "";
  status.setEncoding("utf8");
  status.on("data", (chunk: string) => {
    buffered += chunk;
    for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
      onEvent(parseStatusLine(buffered.slice(0, i)));
      buffered = buffered.slice(i + 1);
    }
  });
  const statusDone = new Promise<void>((res) => {
    status.on("end", res);
    status.on("close", res);
    status.on("error", () => res());
  });
  const specStream = child.stdio[SPEC_FD] as Writable;
  specStream.on("error", () => {}); // the helper may refuse and exit before reading it all
  specStream.end(bytes);

  const helperExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on("error", (err) => {
      rejectReady(
        new QemuJailError("HELPER_SPAWN_FAILED", `cannot start the jail helper ${bin}: ${err.message}`, {
          exit: "jail",
          cause: err,
        }),
      );
      res({ code: null, signal: null });
    });
    child.on("exit", (code, signal) => res({ code, signal }));
  });

  const exited = Promise.all([helperExit, statusDone]).then(([h]): ExitStatus => {
    const exit = events.find((e): e is Extract<StatusEvent, { kind: "exit" }> => e.kind === "exit");
    const sig = events.find((e): e is Extract<StatusEvent, { kind: "sigsys" }> => e.kind === "sigsys");
    const sigsys = sig ? { sigsys: { tid: sig.tid, nr: sig.nr, args: sig.args } } : {};
    if (!execSeen) {
      const how = h.signal ? `signal ${h.signal}` : `exit code ${h.code}`;
      rejectReady(failure ?? helperDied(lastStage, how, events));
    }
    if (exit) {
      // The helper reports how the child ended, also when it died before exec.
      return {
        ran: execSeen,
        code: exit.code,
        signal: exit.signal === null ? null : signalName(exit.signal),
        signalNumber: exit.signal,
        core: exit.core,
        ...sigsys,
      };
    }
    return {
      ran: false,
      code: h.code,
      signal: h.signal,
      signalNumber: h.signal ? constants.signals[h.signal] : null,
      core: false,
    };
  });

  return {
    helperPid: child.pid ?? -1,
    get pid() {
      return payloadPid;
    },
    ready,
    exited,
    events,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: child.stderr,
    kill: (signal: NodeJS.Signals | number = "SIGTERM") => child.kill(signal),
  };
}
