// Shared set-up of the backends e2e tests: the host side of a VM with two virtiofs shares
// (read-only and read-write) and two vhost-user-blk disks (qcow2 and raw), its vm.toml, and a
// run through the library (probeHost → plan → launch → supervise, as runVm does) that hands the
// test the launched processes and a stop switch instead of reacting to this process's signals.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/parse.js";
import type { VmConfig } from "../../../src/config/types.js";
import type { BuiltGuest } from "../../../src/guest/index.js";
import { cgroupDir, probeCgroups } from "../../../src/host/cgroup.js";
import { probeHost } from "../../../src/host/probe.js";
import type { HostFacts } from "../../../src/host/types.js";
import { cgroupDriver } from "../../../src/launch/cgroups.js";
import { type LaunchedVm, launch } from "../../../src/launch/launch.js";
import { nativeSpawner } from "../../../src/launch/native-spawner.js";
import { fragmentSyscalls } from "../../../src/launch/run.js";
import type { Spawner } from "../../../src/launch/spawn.js";
import { type Supervision, supervise } from "../../../src/launch/supervise.js";
import { silentLogger } from "../../../src/log.js";
import { plan } from "../../../src/plan/plan.js";
import type { JailPlan } from "../../../src/plan/types.js";
import { syscallName } from "../../../src/seccomp/arch.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";
import { QCOW2_SECTORS, RAW_SECTORS } from "./guest.js";

/** Host paths of one VM's shares and images. */
export interface Fixture {
  dir: string;
  ro: string;
  rw: string;
  qcow2: string;
  raw: string;
}

/** Makes the shares (each with a marker file, owned by root) and the two images with markers. */
export function makeFixture(dir: string, token: string): Fixture {
  const f: Fixture = {
    dir,
    ro: join(dir, "ro"),
    rw: join(dir, "rw"),
    qcow2: join(dir, "disk.qcow2"),
    raw: join(dir, "disk.raw"),
  };
  mkdirSync(f.ro, { mode: 0o755 });
  mkdirSync(f.rw, { mode: 0o755 });
  writeFileSync(join(f.ro, "marker.txt"), `QJ-RO-${token}\n`);
  writeFileSync(join(f.rw, "marker.txt"), `QJ-RW-${token}\n`);
  const q = Buffer.alloc(QCOW2_SECTORS * 512);
  q.write(`QJ-QCOW2-MARKER-${token}\n`);
  writeFileSync(join(dir, "q.src"), q);
  execFileSync("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", join(dir, "q.src"), f.qcow2]);
  const r = Buffer.alloc(RAW_SECTORS * 512);
  r.write(`QJ-RAW-MARKER-${token}\n`);
  writeFileSync(f.raw, r);
  return f;
}

/** The VM's config: shares and vhost-user disks, serial to a file, seccomp action kill. */
export function backendsToml(name: string, f: Fixture, guest: BuiltGuest, serial: string): string {
  return `[vm]
name = "${name}"
accel = "tcg"
cpus = 1
memory = "256M"

[boot]
kernel = "${guest.kernel}"
initrd = "${guest.initrd}"
cmdline = "${guest.cmdline}"

[serial]
mode = "file"
path = "${serial}"

[[share]]
id = "ro"
path = "${f.ro}"
tag = "qjro"
readonly = true

[[share]]
id = "rw"
path = "${f.rw}"
tag = "qjrw"

[[disk]]
id = "q"
path = "${f.qcow2}"
format = "qcow2"
backend = "vhost-user"

[[disk]]
id = "r"
path = "${f.raw}"
format = "raw"
backend = "vhost-user"

[jail]
seccomp = "kill"
`;
}

/** Parses a config written by `backendsToml`. */
export function configOf(toml: string, source: string): VmConfig {
  return parseConfig(toml, { source });
}

/** What `startVm` returns. */
export interface RunningVm {
  plan: JailPlan;
  host: HostFacts;
  vm: LaunchedVm;
  sup: Supervision;
}

/** Plans and launches `config` in its full jail under `stateRoot` (not supervised). */
export async function launchVm(
  config: VmConfig,
  stateRoot: string,
  opts: { spawner?: (helperPath: string) => Spawner; edit?: (p: JailPlan) => JailPlan } = {},
): Promise<{ plan: JailPlan; host: HostFacts; vm: LaunchedVm }> {
  const host = await probeHost(config);
  const fragments = loadFragments();
  const p = (opts.edit ?? ((x) => x))(plan(config, host, fragments));
  const vm = await launch(p, {
    stateRoot,
    spawner: (opts.spawner ?? nativeSpawner)(host.helperPath),
    compile: (policy) => compilePolicy(policy).program,
    cgroups: cgroupDriver(host.cgroup),
    log: silentLogger(),
  });
  vm.fragments = fragments;
  return { plan: vm.plan, host, vm };
}

/** `launchVm`, then supervised as runVm does (no signal handling: the test stops it). */
export async function startVm(config: VmConfig, stateRoot: string): Promise<RunningVm> {
  const { plan: p, host, vm } = await launchVm(config, stateRoot);
  const sup = supervise(vm, {
    handleSignals: false,
    powerdownTimeoutMs: 60_000,
    backendStopMs: 5000,
    sigsys: { syscallName, fragments: fragmentSyscalls(vm.fragments) },
  });
  sup.ready.catch(() => undefined);
  return { plan: p, host, vm, sup };
}

/** Polls until `cond` holds. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The file's text, or "" while it does not exist. */
export function text(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** One line of /proc/PID/status ("Uid", "CapEff"...), fields split. */
export function statusField(pid: number, field: string): string[] {
  const m = new RegExp(`^${field}:\\s*(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/** Capability names → the CapEff-style bit mask. */
export function capMask(names: string[]): bigint {
  const bit: Record<string, number> = {
    CAP_CHOWN: 0,
    CAP_DAC_OVERRIDE: 1,
    CAP_DAC_READ_SEARCH: 2,
    CAP_FOWNER: 3,
    CAP_FSETID: 4,
    CAP_SETGID: 6,
    CAP_SETUID: 7,
    CAP_SETPCAP: 8,
    CAP_SYS_CHROOT: 18,
  };
  return names.reduce((m, n) => {
    if (bit[n] === undefined) throw new Error(`no bit for ${n}`);
    return m | (1n << BigInt(bit[n]!));
  }, 0n);
}

/** What the host must look like after the VM: nothing of ours in mounts, cgroups or the state dir. */
export async function leftovers(name: string, stateRoot: string): Promise<string[]> {
  const out: string[] = [];
  for (const l of readFileSync("/proc/self/mountinfo", "utf8").split("\n"))
    if (l.includes(stateRoot)) out.push(`mount ${l}`);
  const facts = await probeCgroups();
  const owns = [...facts.v1, ...(facts.v2 ? [facts.v2] : [])];
  for (const h of owns) {
    const dir = join(cgroupDir(h.mountPoint, h.mountRoot, h.ownPath), `qemu-jail-${name}`);
    if (existsSync(dir)) out.push(`cgroup ${dir}`);
  }
  if (existsSync(join(stateRoot, name))) {
    out.push(`state dir ${name}`);
    for (const e of readdirSync(join(stateRoot, name))) out.push(`state ${e}`);
  }
  return out;
}

/**
 * Waits until the guest printed `marker` on its console file. If the VM ends first, or the wait
 * times out (then the VM is stopped and its cleanup awaited), throws with the console's tail.
 */
export async function waitGuest(sup: Supervision, serial: string, marker: string, ms: number): Promise<void> {
  let ended = false;
  void sup.done.then(() => {
    ended = true;
  });
  try {
    await until(() => ended || text(serial).includes(marker), ms, `"${marker}" on the console`);
  } catch (e) {
    sup.stop();
    sup.stop();
    await sup.done;
    throw new Error(`${e}\n${text(serial).slice(-3000)}`);
  }
  if (ended) throw new Error(`the VM ended early: ${JSON.stringify(await sup.done)}\n${text(serial)}`);
}
