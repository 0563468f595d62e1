// Shared setup for the native helper's integration tests: a jail spec around the static probe,
// a runner that collects the probe's JSON lines, test cgroups below our own in every
// hierarchy, and host-state snapshots (mounts, cgroups, temp dirs) to prove nothing is left.

import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import { probePath, testHelperPath } from "../../../src/native/paths.js";
import { type ExitStatus, type JailedProcess, spawnJailed } from "../../../src/native/spawn.js";
import type { HelperSpec, HelperStep } from "../../../src/native/spec.js";
import type { StatusEvent } from "../../../src/native/status.js";

export const JAIL_UID = 64123;
export const JAIL_GID = 64124;
export const isRoot = process.getuid?.() === 0;

/** The base jail: every namespace, a root with only the probe, /dev/null and a writable /tmp. */
export function probeSteps(probeArgs: string[], extra: HelperStep[] = []): HelperStep[] {
  return [
    { step: "env", name: "PATH", value: "/" },
    { step: "env", name: "QJ_TEST", value: "1" },
    { step: "pdeathsig", signal: 9 },
    { step: "unshare", namespaces: ["mount", "pid", "net", "ipc", "uts", "cgroup"] },
    { step: "propagation", mode: "private" },
    { step: "root", mountpoint: "/tmp", sizeBytes: 1 << 20, mode: 0o755 },
    { step: "bind", source: probePath(), path: "/probe", type: "file", rw: false, exec: true },
    { step: "mknod", path: "/dev/null", type: "c", major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0 },
    { step: "tmpfs", path: "/tmp", mode: 0o700, uid: JAIL_UID, gid: JAIL_GID, sizeBytes: 1 << 20 },
    { step: "hostname", name: "qj-probe" },
    { step: "rlimit", resource: "NOFILE", soft: 64, hard: 64 },
    { step: "rlimit", resource: "CORE", soft: 0, hard: 0 },
    { step: "groups", gids: [] },
    { step: "ids", uid: JAIL_UID, gid: JAIL_GID },
    { step: "cwd", path: "/" },
    ...extra,
    { step: "exec", path: "/probe", argv: ["/probe", ...probeArgs] },
  ];
}

export interface ProbeRun {
  lines: Array<Record<string, unknown>>;
  exit: ExitStatus;
  events: StatusEvent[];
  pid: number | undefined;
  error?: unknown;
}

/** Runs `spec` with the test build of the helper; collects the probe's stdout JSON lines. */
export async function runJail(
  spec: HelperSpec,
  opts: { helper?: string; onStart?: (j: JailedProcess) => void } = {},
): Promise<ProbeRun> {
  const j = spawnJailed(spec, {
    helperPath: opts.helper ?? testHelperPath(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  opts.onStart?.(j);
  let out = "";
  let err = "";
  j.stdout?.setEncoding("utf8").on("data", (c: string) => {
    out += c;
  });
  j.stderr?.setEncoding("utf8").on("data", (c: string) => {
    err += c;
  });
  let error: unknown;
  await j.ready.catch((e: unknown) => {
    error = e;
  });
  const exit = await j.exited;
  const lines = out
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { check: "garbage", line: l, stderr: err };
      }
    });
  return { lines, exit, events: j.events, pid: j.pid, error };
}

export function find(run: ProbeRun, check: string): Record<string, unknown> {
  const hit = run.lines.find((l) => l.check === check);
  if (!hit) throw new Error(`probe printed no "${check}" line: ${JSON.stringify(run)}`);
  return hit;
}

export function tries(run: ProbeRun): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of run.lines)
    if (l.check === "try")
      out[`${l.op} ${l.arg}`] = l.ret === -1 || (l.ret as number) < 0 ? (l.errno as string) : "OK";
  return out;
}

interface Hierarchy {
  controllers: string;
  mount: string;
  own: string;
}

/** Every cgroup hierarchy we are in, with its mount point (v1 per controller set, and v2). */
export function hierarchies(): Hierarchy[] {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  const out: Hierarchy[] = [];
  for (const line of readFileSync("/proc/self/cgroup", "utf8").trim().split("\n")) {
    const [, controllers, own] = line.split(":") as [string, string, string];
    for (const m of mounts) {
      const [pre, post] = m.split(" - ");
      if (!pre || !post) continue;
      const [fstype, , superOpts] = post.split(" ");
      const mountPoint = pre.split(" ")[4]!;
      const matches =
        controllers === ""
          ? fstype === "cgroup2"
          : fstype === "cgroup" && controllers.split(",").every((c) => superOpts?.split(",").includes(c));
      if (matches) {
        out.push({ controllers: controllers || "unified", mount: mountPoint, own });
        break;
      }
    }
  }
  return out;
}

export interface TestCgroups {
  dirs: string[];
  byController: Record<string, string>;
  remove(): void;
}

/** Creates a fresh cgroup BELOW our own one in every hierarchy (cpuset gets its parent's cpus/mems). */
export function makeTestCgroups(name: string): TestCgroups {
  const made: string[] = [];
  const byController: Record<string, string> = {};
  for (const h of hierarchies()) {
    const parent = join(h.mount, h.own);
    const dir = join(parent, name);
    mkdirSync(dir);
    made.push(dir);
    byController[h.controllers] = dir;
    if (h.controllers.split(",").includes("cpuset")) {
      for (const f of ["cpuset.cpus", "cpuset.mems"])
        writeFileSync(join(dir, f), readFileSync(join(parent, f), "utf8").trim() || "0");
    }
  }
  return {
    dirs: made,
    byController,
    remove() {
      for (const d of made.reverse()) {
        try {
          rmdirSync(d);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }
      }
    },
  };
}

/** Prefix of everything this test worker creates (test files run in parallel workers). */
export const MINE = `qj-native-${process.pid}`;

/**
 * What a test must leave unchanged: mounts where a leak of ours would appear (the root
 * mountpoint /tmp and below, /proc, cgroupfs), our test cgroups, our temp dirs. Other engineers
 * share this machine (and other test files run in parallel), so only our own names count.
 */
export function hostSnapshot(): { mounts: string[]; cgroups: string[]; tmp: string[] } {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" "))
    .filter((f) => f.length > 5 && /^\/(tmp|proc|sys\/fs\/cgroup)(\/|$)/.test(f[4]!))
    .filter((f) => !f[4]!.startsWith("/tmp/") || f[4]!.startsWith(`/tmp/${MINE}`))
    .map((f) => f.slice(3, 6).join(" ")) // root, mount point, options
    .sort();
  const cgroups = hierarchies().flatMap((h) =>
    readdirSync(join(h.mount, h.own), { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name.startsWith(MINE))
      .map((d) => `${h.controllers}:${d.name}`),
  );
  const tmp = readdirSync(tmpdir()).filter((n) => n.startsWith(MINE));
  return { mounts, cgroups: cgroups.sort(), tmp: tmp.sort() };
}

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `${MINE}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs the helper on raw spec bytes (for malformed-input tests); returns status lines and exit. */
export function runRaw(
  bytes: Uint8Array,
  helper = testHelperPath(),
  wrapper: string[] = [],
): Promise<{ lines: string[]; code: number | null }> {
  return new Promise((resolve) => {
    const [bin, ...args] = [...wrapper, helper];
    const child = spawn(bin!, args, { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
    let out = "";
    (child.stdio[4] as Readable).setEncoding("utf8").on("data", (c: string) => {
      out += c;
    });
    const spec = child.stdio[3] as Writable;
    spec.on("error", () => {});
    spec.end(Buffer.from(bytes));
    child.on("close", (code) => resolve({ lines: out.split("\n").filter(Boolean), code }));
  });
}

/** A classic BPF program for x86_64: foreign arch → kill; each listed nr → its action; else allow. */
export function bpfProgram(rules: Array<[nr: number, action: number]>): Uint8Array {
  const insns: Array<[number, number, number, number]> = [
    [0x20, 0, 0, 4], // ld [arch]
    [0x15, 1, 0, 0xc000003e], // jeq AUDIT_ARCH_X86_64 → skip the kill
    [0x06, 0, 0, 0x80000000], // ret KILL_PROCESS
    [0x20, 0, 0, 0], // ld [nr]
  ];
  for (const [nr, action] of rules) {
    insns.push([0x15, 0, 1, nr]); // jeq nr → next, else skip one
    insns.push([0x06, 0, 0, action]);
  }
  insns.push([0x06, 0, 0, 0x7fff0000]); // ret ALLOW
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}

export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;

/** Polls until `pred` holds (for process deaths we only observe through /proc). */
export async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 10));
  }
}
