// Hand-written plans for launch tests: bare QEMU (paused, QMP on a launcher-made socket), so
// launch and supervision are tested with real QEMU independently of the planner.

import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import type { JailPlan, Need, ProcessPlan } from "../../../src/plan/types.js";

/** Bundles a TS entry into one ESM file under `dir` (run with plain node), returns its path. */
export function bundle(entry: string, dir: string): string {
  const out = join(dir, "bundle.mjs");
  execFileSync(resolve("node_modules/.bin/esbuild"), [
    entry,
    "--bundle",
    "--platform=node",
    "--format=esm",
    "--log-level=warning",
    `--outfile=${out}`,
    "--banner:js=import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);",
  ]);
  return out;
}

const need: Need = { item: "test", reason: "test plan" };

/** A QEMU process plan: q35, TCG, no devices, QMP on fd 3; `extra` appended to argv. */
export function qemuProcess(stateDir: string, extra: string[] = []): ProcessPlan {
  return {
    id: "qemu",
    role: "qemu",
    exe: "/usr/bin/qemu-system-x86_64",
    argv: [
      "/usr/bin/qemu-system-x86_64",
      "-nodefaults",
      "-no-user-config",
      "-machine",
      "q35",
      "-accel",
      "tcg",
      "-display",
      "none",
      "-m",
      "64M",
      "-chardev",
      "socket,id=qmp,fd=3,server=on,wait=off",
      "-mon",
      "chardev=qmp,mode=control",
      ...extra,
    ],
    env: {},
    cwd: "/",
    uid: 0,
    gid: 0,
    groups: [],
    hostname: "test",
    namespaces: { mount: false, pid: false, net: "host", ipc: false, uts: false, cgroup: false, user: false },
    root: [],
    devices: [],
    fds: [{ fd: 3, source: { kind: "listen-unix", path: `${stateDir}/qmp.sock` }, need }],
    rlimits: [],
    capabilities: [],
    cgroup: { path: "qemu-jail-test/qemu", devices: [] },
    lsm: {},
    seccomp: { arch: "x86_64", defaultAction: { kind: "kill_process" }, rules: [], fragments: [] },
    after: [],
  };
}

/** A whole plan around `qemuProcess`. */
export function barePlan(stateRoot: string, name: string, extra: string[] = [], ids = 64000): JailPlan {
  const stateDir = `${stateRoot}/${name}`;
  return {
    version: 1,
    vm: { name, uuid: "00000000-0000-4000-8000-000000000000", arch: "x86_64" },
    stateDir,
    cgroup: { path: `qemu-jail-${name}` },
    ids: { base: ids, count: 1, auto: true },
    processes: [qemuProcess(stateDir, extra)],
    taps: [],
    ownership: [],
    qmp: { path: `${stateDir}/qmp.sock` },
    warnings: [],
  };
}
