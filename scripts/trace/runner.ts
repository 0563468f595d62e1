// Run one scenario: start its backends, then QEMU (each behind a caller-given prefix such as
// `strace -f -o FILE` or a seccomp loader), wait for the guest's QJ-READY, do the runtime QMP
// interactions (connect, query-status, query-block, stop/cont, disconnect + reconnect,
// system_powerdown) and wait for QEMU to exit by itself.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { QmpClient, waitForSocket } from "./qmp.js";
import type { Scenario, ScenarioCtx } from "./scenarios.js";

/** How one process ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** What a scenario run produced. */
export interface RunResult {
  qemuArgv: string[];
  backendArgv: Record<string, string[]>;
  serial: string;
  checks: Record<string, "ok" | "fail">;
  qmp: string[];
  qemu: Ended;
  backends: Record<string, Ended>;
  ok: boolean;
  problems: string[];
}

/** Options: the prefix each process runs behind (by process name: "qemu", "virtiofsd", ...). */
export interface RunOpts {
  prefix(process: string): string[];
  bootTimeoutMs?: number;
}

/** The QEMU command line of a scenario (without any prefix). */
export function qemuArgv(s: Scenario, ctx: ScenarioCtx): string[] {
  const serial = s.serial ?? "file";
  const ser =
    serial === "file"
      ? `file,id=ser0,path=${join(ctx.tmp, "serial.log")}`
      : serial === "socket"
        ? `socket,id=ser0,path=${join(ctx.tmp, "serial.sock")},server=on,wait=off`
        : "stdio,id=ser0,signal=off";
  const append = ["console=ttyS0", "quiet", "loglevel=1", "panic=-1", ...(s.cmdline?.(ctx) ?? [])];
  return [
    "qemu-system-x86_64",
    "-machine",
    ["q35", ...(s.machine ?? [])].join(","),
    "-accel",
    s.accel ?? "tcg",
    "-m",
    "256M",
    "-smp",
    "1",
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-name",
    "qjtrace,debug-threads=on",
    "-kernel",
    ctx.kernel,
    "-initrd",
    ctx.initrd,
    "-append",
    append.join(" "),
    "-chardev",
    `socket,id=qmp0,path=${join(ctx.tmp, "qmp.sock")},server=on,wait=off`,
    "-mon",
    "chardev=qmp0,mode=control",
    "-chardev",
    ser,
    "-serial",
    "chardev:ser0",
    ...s.qemuArgs(ctx),
  ];
}

function start(argv: string[]): { child: ChildProcess; ended: Promise<Ended>; stdout: () => string } {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const ended = new Promise<Ended>((resolve) => {
    child.on("exit", (code, signal) => {
      // Let the pipes drain before reporting.
      setTimeout(() => resolve({ code, signal, stderr: err }), 50);
    });
    child.on("error", (e) => resolve({ code: -1, signal: null, stderr: String(e) }));
  });
  return { child, ended, stdout: () => out };
}

/** Signal the innermost process of a prefix chain (strace → payload), or the process itself. */
function signalPayload(child: ChildProcess, sig: NodeJS.Signals): void {
  let pid = child.pid;
  if (pid === undefined) return;
  for (;;) {
    const kids = childrenOf(pid);
    if (kids.length === 0) break;
    pid = kids[0]!;
  }
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const c = readFileSync(`/proc/${pid}/task/${t}/children`, "utf8").trim();
      if (c) out.push(...c.split(/\s+/).map(Number));
    } catch {
      // thread gone
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForPath(p: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!existsSync(p)) {
    if (Date.now() > end) throw new Error(`${p} did not appear within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Race a promise against a timeout; undefined on timeout. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p,
    new Promise<undefined>((res) => (t = setTimeout(() => res(undefined), ms))),
  ]);
  clearTimeout(t);
  return r;
}

/** Run a scenario end to end; never throws for guest/QEMU failures (they land in `problems`). */
export async function runScenario(s: Scenario, ctx: ScenarioCtx, opts: RunOpts): Promise<RunResult> {
  const problems: string[] = [];
  const qmp: string[] = [];
  const backends: Record<string, Ended> = {};
  const backendArgv: Record<string, string[]> = {};
  const procs: { name: string; child: ChildProcess; ended: Promise<Ended>; exits: boolean }[] = [];
  let serialText = "";
  let serialSock: ReturnType<typeof connect> | undefined;
  let qemuEnded: Ended = { code: null, signal: null, stderr: "" };
  await s.setup?.(ctx);
  const argv = qemuArgv(s, ctx);
  try {
    for (const b of s.backends?.(ctx) ?? []) {
      backendArgv[b.name] = b.argv;
      const p = start([...(b.wrap ?? []), ...opts.prefix(b.name), ...b.argv]);
      procs.push({ name: b.name, child: p.child, ended: p.ended, exits: b.exitsWithQemu });
      await Promise.race([
        waitForPath(b.socket, 20_000),
        p.ended.then((e) => {
          throw new Error(`${b.name} exited early: ${e.code ?? e.signal} ${e.stderr}`);
        }),
      ]);
    }
    const q = start([...(s.wrap?.(ctx) ?? []), ...opts.prefix("qemu"), ...argv]);
    const serial = (): string => {
      if ((s.serial ?? "file") === "file") {
        const f = join(ctx.tmp, "serial.log");
        return existsSync(f) ? readFileSync(f, "utf8") : "";
      }
      return s.serial === "stdio" ? q.stdout() : serialText;
    };
    const qmpPath = join(ctx.tmp, "qmp.sock");
    const dead = q.ended.then((e) => {
      qemuEnded = e;
      return e;
    });
    const phase = async (): Promise<void> => {
      await within(waitForSocket(qmpPath, 30_000), 30_000);
      if (s.serial === "socket") {
        serialSock = connect(join(ctx.tmp, "serial.sock"));
        serialSock.setEncoding("utf8");
        serialSock.on("data", (d: string) => {
          serialText += d;
        });
        serialSock.on("error", () => undefined);
      }
      // First client: connected while the guest boots.
      const a = await QmpClient.open(qmpPath);
      qmp.push(`query-status ${JSON.stringify(await a.execute("query-status"))}`);
      const end = Date.now() + (opts.bootTimeoutMs ?? 120_000);
      if (s.noGuestMs) await sleep(s.noGuestMs);
      while (!s.noGuestMs && !serial().includes("QJ-READY")) {
        if (Date.now() > end) throw new Error("guest did not print QJ-READY in time");
        await sleep(100);
      }
      const blocks = (await a.execute("query-block")) as unknown[];
      qmp.push(`query-block ${blocks.length} devices`);
      await a.execute("stop");
      qmp.push(`stop → ${JSON.stringify(await a.execute("query-status"))}`);
      await a.execute("cont");
      qmp.push(`cont → ${JSON.stringify(await a.execute("query-status"))}`);
      a.close();
      await s.interact?.(ctx);
      // Second client after a disconnect: QEMU must accept again.
      await sleep(200);
      const b = await QmpClient.open(qmpPath);
      qmp.push(`reconnect query-status ${JSON.stringify(await b.execute("query-status"))}`);
      if (s.noGuestMs) {
        await b.execute("quit").catch(() => undefined);
        qmp.push("quit");
      } else {
        await b.execute("system_powerdown");
        qmp.push("system_powerdown");
      }
      await within(dead, 30_000);
      qmp.push(`events: ${b.events.join(",")}`);
      b.close();
    };
    const failed = await Promise.race([
      phase().then(() => undefined),
      dead.then(async (e) => {
        await sleep(100);
        return `QEMU ended early: code ${e.code} signal ${e.signal}`;
      }),
    ]).catch((e: unknown) => String(e instanceof Error ? e.message : e));
    if (failed) problems.push(failed);
    if (!(await within(dead, 30_000))) {
      problems.push("QEMU did not exit after system_powerdown: killed");
      signalPayload(q.child, "SIGKILL");
      await dead;
    }
    serialText = serial();
    const e = qemuEnded;
    if (e.code !== 0 || e.signal !== null) problems.push(`QEMU exit: code ${e.code} signal ${e.signal}`);
  } finally {
    serialSock?.destroy();
    for (const p of procs) {
      if (!p.exits || !(await within(p.ended, 10_000))) signalPayload(p.child, "SIGTERM");
      const e = await within(p.ended, 10_000);
      if (!e) {
        signalPayload(p.child, "SIGKILL");
        problems.push(`${p.name} did not exit: killed`);
      }
      backends[p.name] = e ?? (await p.ended);
    }
    s.cleanup?.(ctx);
  }
  for (const [name, e] of Object.entries(backends)) {
    const sigterm = e.signal === "SIGTERM" || e.code === 143 || e.code === 0;
    if (!sigterm) problems.push(`${name} exit: code ${e.code} signal ${e.signal}`);
  }
  const checks: Record<string, "ok" | "fail"> = {};
  for (const m of serialText.matchAll(/QJ-(OK|FAIL) (\S+)/g)) checks[m[2]!] = m[1] === "OK" ? "ok" : "fail";
  for (const want of s.expect)
    if (checks[want] !== "ok") problems.push(`guest check ${want}: ${checks[want] ?? "missing"}`);
  if (!s.noGuestMs && !serialText.includes("QJ-POWERDOWN"))
    problems.push("guest did not see the power button");
  return {
    qemuArgv: argv,
    backendArgv,
    serial: serialText,
    checks,
    qmp,
    qemu: qemuEnded,
    backends,
    ok: problems.length === 0,
    problems,
  };
}
