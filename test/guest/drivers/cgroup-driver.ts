// Runs INSIDE the guest (bundled by esbuild, started with node): drives the launcher's real cgroup
// code on a pure cgroup v2 host with controllers, then checks the limits enforce and undo is exact.
// Prints one "RESULT <json>" line per step for the test on the host to assert.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { probeCgroups } from "../../../src/host/cgroup.js";
import { createVmCgroups } from "../../../src/launch/cgroup.js";

const out = (step: string, data: unknown) => console.log(`RESULT ${JSON.stringify({ step, data })}`);

/** Run `script` in a shell that first joins `dir` (as the native helper would, by cgroup.procs). */
function inCgroup(dir: string, script: string) {
  const r = spawnSync("/bin/sh", ["-c", `echo $$ > ${dir}/cgroup.procs && ${script}`], { encoding: "utf8" });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const facts = await probeCgroups();
out("facts", { mode: facts.mode, own: facts.v2?.ownPath, controllers: facts.v2?.controllers });

const vm = await createVmCgroups(facts, {
  path: "qemu-jail-vm1",
  processes: [
    {
      id: "qemu",
      cgroup: { path: "qemu-jail-vm1/qemu", pidsMax: 8, memoryMax: 16 << 20, cpuWeight: 50, devices: [] },
    },
    { id: "virtiofsd-share0", cgroup: { path: "qemu-jail-vm1/virtiofsd", pidsMax: 16, devices: [] } },
  ],
});
const qemuDir = vm.join.qemu![0]!;
const read = (f: string) => readFileSync(join(qemuDir, f), "utf8").trim();
out("created", {
  created: vm.created,
  supervisorDir: vm.supervisorDir ?? null,
  qemuDir,
  pidsMax: read("pids.max"),
  memoryMax: read("memory.max"),
  cpuWeight: read("cpu.weight"),
  warnings: vm.warnings.map((w) => w.code),
});

// pids.max = 8: the shell plus 7 sleeps fit, the next fork fails (EAGAIN).
const pids = inCgroup(
  qemuDir,
  "n=0; while [ $n -lt 20 ]; do sleep 30 >/dev/null 2>&1 & n=$((n+1)); done; echo started=$n; kill $(jobs -p) 2>/dev/null",
);
out("pids", { ...pids, events: read("pids.events") });

// memory.max = 16 MiB: tail buffers an endless line from /dev/zero until the OOM killer ends it.
const mem = inCgroup(qemuDir, "exec tail /dev/zero");
out("memory", { status: mem.status, signal: mem.signal, events: read("memory.events") });

// Kill what the checks left in the VM's leaves (the sleeps of the pids check), then undo.
// Not undo({ killRemaining: true }): it also SIGKILLs the supervisor leaf, i.e. this launcher
// (reported to the cgroup owner).
for (const dirs of Object.values(vm.join)) {
  for (const pid of readFileSync(join(dirs[0]!, "cgroup.procs"), "utf8").split("\n").filter(Boolean)) {
    process.kill(Number(pid), "SIGKILL");
  }
}
await vm.undo();
out("undo", {
  left: vm.created.filter((d) => existsSync(d)),
  ownProcs: readFileSync(join("/sys/fs/cgroup", facts.v2!.ownPath, "cgroup.procs"), "utf8")
    .trim()
    .split("\n"),
  pid: process.pid,
});
