// Launch overhead, in one run, as ratios against baselines measured here and now:
//   node -e 0                      (the floor of any Node CLI)
//   bare QEMU, same argv, until QMP answers (QEMU spawned with the listening socket as fd 3)
//   qemu-jail run vm.toml, until QMP answers (config → plan → full jail → QEMU)
// plus the resident memory that stays per running VM besides QEMU (the Node supervisor and the
// helper that stays as the payload's parent), and 20 VMs started paused (-S) at once: time until
// all answer QMP, then all stopped, host clean.
//
// Run: npm run build && npx vite-node bench/launch.ts [--runs N] [--vms N] [--seccomp kill|log]

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildGuest } from "../src/guest/index.js";
import { listenUnix } from "../src/launch/fds.js";
import { QmpClient } from "../src/qmp/client.js";
import { hostSnapshot } from "../test/integration/launch/snapshot.js";

const args = process.argv.slice(2);
const opt = (name: string, def: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const RUNS = opt("--runs", 5);
const VMS = opt("--vms", 20);
const si = args.indexOf("--seccomp");
/** jail.seccomp of the benchmark VMs ("log" runs the same filter but logs instead of killing). */
const SECCOMP = si >= 0 ? args[si + 1]! : "kill";
const repo = resolve(import.meta.dirname, "..");
const cli = join(repo, "bin", "qemu-jail.js");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** Polls until QMP at `path` answers (the socket may not exist yet). */
async function waitQmp(path: string, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`exited before QMP: ${child.exitCode ?? child.signalCode}`);
    if (existsSync(path)) {
      try {
        (await QmpClient.connect(path, deadline - Date.now())).close();
        return;
      } catch {}
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`QMP at ${path} did not answer`);
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

function nodeBaseline(): number {
  const t = performance.now();
  spawnSync(process.execPath, ["-e", "0"]);
  return performance.now() - t;
}

const guest = buildGuest({ uncompressedKernel: false });
const qemuArgv = (qmpFd: number) => [
  "-nodefaults",
  "-no-user-config",
  "-machine",
  "q35",
  "-accel",
  "tcg",
  "-display",
  "none",
  "-m",
  "256M",
  "-kernel",
  guest.kernel,
  "-initrd",
  guest.initrd,
  "-append",
  guest.cmdline,
  "-chardev",
  `socket,id=qmp,fd=${qmpFd},server=on,wait=off`,
  "-mon",
  "chardev=qmp,mode=control",
  "-S",
];

async function bareQemu(dir: string): Promise<number> {
  const path = join(dir, "bare.sock");
  const t = performance.now();
  const l = listenUnix(path);
  const child = spawn("/usr/bin/qemu-system-x86_64", qemuArgv(3), {
    stdio: ["ignore", "ignore", "inherit", l.fd],
  });
  l.close();
  await waitQmp(path, child);
  const ms = performance.now() - t;
  child.kill("SIGKILL");
  await exited(child);
  rmSync(path, { force: true });
  return ms;
}

function demoToml(dir: string, name: string): string {
  const file = join(dir, `${name}.toml`);
  writeFileSync(
    file,
    `[vm]
name = "${name}"
accel = "tcg"
memory = "256M"
cpus = 1

[boot]
kernel = "${guest.kernel}"
initrd = "${guest.initrd}"
cmdline = "${guest.cmdline}"

[serial]
mode = "none"

[jail]
seccomp = "${SECCOMP}"

[qemu]
extra_args = ["-S"]
`,
  );
  return file;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : Number.NaN;
}
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").split(" ").filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Jailed {
  child: ChildProcess;
  qmp: string;
  err: () => string;
}
const started: Jailed[] = [];
function startJailed(stateRoot: string, file: string, name: string): Jailed {
  const child = spawn(
    process.execPath,
    [cli, "run", file, "--state-dir", stateRoot, "--log-format", "json"],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  child.once("exit", (code) => {
    if (code) process.stderr.write(`${name}: exit ${code}\n${err.slice(-2000)}\n`);
  });
  const j = { child, qmp: join(stateRoot, name, "qmp.sock"), err: () => err };
  started.push(j);
  return j;
}
async function stopJailed(j: Jailed): Promise<void> {
  j.child.kill("SIGTERM");
  await exited(j.child);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "qj-bench-"));
  const stateRoot = join(dir, "state");
  try {
    const file = demoToml(dir, "bench");
    const node: number[] = [];
    const bare: number[] = [];
    const jailed: number[] = [];
    const rss: Array<{ supervisor: number; helper: number; qemu: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      node.push(nodeBaseline());
      bare.push(await bareQemu(dir));
      const t = performance.now();
      const j = startJailed(stateRoot, file, "bench");
      await waitQmp(j.qmp, j.child).catch((e) => {
        throw new Error(`${e}\n${j.err().slice(-2000)}`);
      });
      jailed.push(performance.now() - t);
      const helper = children(j.child.pid!)[0];
      const payload = helper ? children(helper)[0] : undefined;
      rss.push({
        supervisor: rssKiB(j.child.pid!),
        helper: helper ? rssKiB(helper) : Number.NaN,
        qemu: payload ? rssKiB(payload) : Number.NaN,
      });
      await stopJailed(j);
    }
    const n = median(node);
    const b = median(bare);
    const q = median(jailed);
    console.log(`launch until QMP answers (median of ${RUNS}):`);
    console.log(`  node -e 0            ${fmt(n)}`);
    console.log(`  bare QEMU            ${fmt(b)}   (${(b / n).toFixed(2)}x node)`);
    console.log(
      `  qemu-jail run        ${fmt(q)}   (${(q / b).toFixed(2)}x bare QEMU, +${fmt(q - b)}; ${(q / n).toFixed(2)}x node)`,
    );
    const r = rss[rss.length - 1]!;
    console.log("resident memory per running VM (KiB):");
    console.log(`  supervisor (node)    ${r.supervisor}`);
    console.log(`  helper (stays)       ${r.helper}`);
    console.log(
      `  QEMU itself          ${r.qemu}   (overhead besides QEMU: ${((r.supervisor + r.helper) / 1024).toFixed(1)} MiB, ${((r.supervisor + r.helper) / r.qemu).toFixed(2)}x QEMU's)`,
    );

    // Many VMs at once, paused.
    const files = Array.from({ length: VMS }, (_, i) => demoToml(dir, `b${i}`));
    const t = performance.now();
    const all = files.map((f, i) => startJailed(stateRoot, f, `b${i}`));
    await Promise.all(all.map((j) => waitQmp(j.qmp, j.child, 300_000)));
    const allReady = performance.now() - t;
    const t2 = performance.now();
    await Promise.all(all.map(stopJailed));
    const allStopped = performance.now() - t2;
    const left = readdirSync(stateRoot).filter((e) => !e.startsWith("."));
    const ids = existsSync(join(stateRoot, ".ids")) ? readdirSync(join(stateRoot, ".ids")) : [];
    console.log(`${VMS} VMs paused (-S), concurrently:`);
    console.log(
      `  all answer QMP       ${fmt(allReady)}   (${(allReady / VMS).toFixed(1)} ms per VM; ${(allReady / q).toFixed(2)}x one VM)`,
    );
    console.log(`  all stopped          ${fmt(allStopped)}`);
    console.log(
      `  state left           ${left.length + ids.length === 0 ? "none" : [...left, ...ids].join(", ")}`,
    );
    const host = await hostSnapshot(undefined, new RegExp(`qemu-jail-(bench|b\\d+)(/|$)|${dir}`));
    const leftovers = [
      ...(host.mounts as string[]),
      ...(host.cgroups as string[]),
      ...(host.links as string[]),
    ];
    console.log(
      `  host left            ${leftovers.length === 0 ? "clean (mounts, cgroups, links)" : leftovers.join(", ")}`,
    );
  } finally {
    // Never leave a launcher behind, even when a measurement failed.
    await Promise.all(started.map(stopJailed));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
