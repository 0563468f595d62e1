// A small jail runner for LSM tests: a ProcessPlan around /usr/bin/dd (its real ELF closure bound
// read-only at the same paths), data files bound under /data, run through the real native helper
// (specFromPlan + spawnJailed). Used on the host (Landlock) and, bundled, inside the guest (AppArmor).

import { execFileSync } from "node:child_process";
import { realpathSync } from "node:fs";
import { specFromPlan } from "../../../src/native/from-plan.js";
import { spawnJailed } from "../../../src/native/spawn.js";
import type { Need, ProcessPlan, RootEntry } from "../../../src/plan/types.js";

export const JAIL_UID = 64201;

const need = (item: string, reason: string): Need => ({ item, reason });

/** A bind entry of a data file at /data/<name>. */
export function dataFile(name: string, source: string, rw: boolean): RootEntry {
  return {
    kind: "bind",
    path: `/data/${name}`,
    source,
    type: "file",
    rw,
    need: need(`disk:${name}`, "test data"),
  };
}

/** The plan of a dd run in a full jail: every namespace, uid JAIL_UID, no capabilities. */
export function ddPlan(data: RootEntry[], argv: string[]): ProcessPlan {
  const exe = realpathSync("/usr/bin/dd");
  const ldd = execFileSync("ldd", [exe], { encoding: "utf8" });
  const files = [exe, ...[...ldd.matchAll(/(\/\S+) \(0x/g)].map((m) => realpathSync(m[1]!))];
  const root: RootEntry[] = [
    { kind: "dir", path: "/", mode: 0o755, need: need("jail", "root") },
    ...files.map(
      (p): RootEntry => ({
        kind: "bind",
        path: p,
        source: p,
        type: "file",
        rw: false,
        need: need("probe", "ELF"),
      }),
    ),
    // The loader is asked for by its PT_INTERP path, a symlink chain on merged-/usr systems.
    { kind: "symlink", path: "/lib64", target: "usr/lib64", need: need("probe", "PT_INTERP") },
    {
      kind: "symlink",
      path: "/usr/lib64/ld-linux-x86-64.so.2",
      target: realpathSync("/lib64/ld-linux-x86-64.so.2"),
      need: need("probe", "PT_INTERP"),
    },
    ...data,
  ];
  return {
    id: "probe",
    role: "qemu",
    exe,
    argv: [exe, ...argv],
    env: {},
    cwd: "/",
    uid: JAIL_UID,
    gid: JAIL_UID,
    groups: [],
    hostname: "probe",
    namespaces: { mount: true, pid: true, net: "new", ipc: true, uts: true, cgroup: true, user: false },
    root,
    devices: [
      {
        path: "/dev/null",
        type: "c",
        major: 1,
        minor: 3,
        mode: 0o666,
        uid: 0,
        gid: 0,
        need: need("probe", "stdio"),
      },
    ],
    fds: [],
    rlimits: [],
    capabilities: [],
    cgroup: { path: "probe", devices: [] },
    lsm: {},
    seccomp: { arch: "x86_64", defaultAction: { kind: "kill_process" }, rules: [], fragments: [] } as never,
    after: [],
  };
}

export interface JailRun {
  code: number | null;
  signal: string | null;
  ran: boolean;
  stdout: string;
  stderr: string;
  error?: string;
}

/** Run the plan through the helper at `helper`; the root tmpfs covers `rootMountpoint` in the jail only. */
export async function runPlan(proc: ProcessPlan, helper: string, rootMountpoint = "/tmp"): Promise<JailRun> {
  const steps = specFromPlan(proc, { cgroupDirs: [], seccomp: [], fds: {}, rootMountpoint });
  const j = spawnJailed({ steps }, { helperPath: helper, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  j.stdout?.setEncoding("utf8").on("data", (c: string) => {
    stdout += c;
  });
  j.stderr?.setEncoding("utf8").on("data", (c: string) => {
    stderr += c;
  });
  let error: string | undefined;
  await j.ready.catch((e: unknown) => {
    error = String(e);
  });
  const exit = await j.exited;
  return { code: exit.code, signal: exit.signal, ran: exit.ran, stdout, stderr, ...(error ? { error } : {}) };
}
