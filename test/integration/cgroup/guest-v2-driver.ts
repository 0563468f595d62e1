// Runs INSIDE the TCG guest (bundled by guest-v2.test.ts): drives the real cgroup code on a cgroup
// v2 hierarchy with controllers, from a launcher that is alone in a non-root cgroup, so the
// no-internal-process rule forces the move into a `supervisor` leaf. Prints one JSON line.

import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { probeCgroups } from "../../../src/host/cgroup.js";
import { createVmCgroups } from "../../../src/launch/cgroup.js";

const out: Record<string, unknown> = {};
const read = async (p: string) => (await readFile(p, "utf8")).trim();
function sh(script: string): Promise<{ code: number | null; signal: string | null; err: string }> {
  const p = spawn("/bin/sh", ["-c", script], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr.on("data", (b) => {
    err += b;
  });
  return new Promise((r) => p.once("close", (code, signal) => r({ code, signal, err })));
}

try {
  const facts = await probeCgroups();
  out.facts = facts;
  out.selfBefore = await read("/proc/self/cgroup");
  const own = join(facts.v2!.mountPoint, facts.v2!.ownPath);
  const vm = await createVmCgroups(facts, {
    path: "vm1",
    processes: [
      {
        id: "qemu",
        cgroup: {
          path: "vm1/qemu",
          memoryMax: 48 * 1024 * 1024,
          pidsMax: 5,
          cpuWeight: 50,
          cpuMax: { quotaUs: 50000, periodUs: 100000 },
          devices: [{ rule: "c 1:3 rwm", need: { item: "test", reason: "guest" } as never }],
        },
      },
      { id: "fsd", cgroup: { path: "vm1/fsd", pidsMax: 7, devices: [] } },
    ],
  });
  out.join = vm.join;
  out.supervisorDir = vm.supervisorDir;
  out.warnings = vm.warnings.map((w) => w.code);
  out.selfDuring = await read("/proc/self/cgroup");
  out.subtree = {
    own: await read(join(own, "cgroup.subtree_control")),
    vm: await read(join(own, "vm1/cgroup.subtree_control")),
  };
  const leaf = vm.join.qemu![0]!;
  out.limits = {
    "memory.max": await read(join(leaf, "memory.max")),
    "pids.max": await read(join(leaf, "pids.max")),
    "cpu.weight": await read(join(leaf, "cpu.weight")),
    "cpu.max": await read(join(leaf, "cpu.max")),
    fsdPids: await read(join(vm.join.fsd![0]!, "pids.max")),
  };
  // pids.max: the shell joins, forks sleepers until the 5th fork fails
  const p = await sh(
    `echo $$ > ${leaf}/cgroup.procs && for i in 1 2 3 4 5 6 7 8 9 10; do sleep 60 </dev/null >/dev/null 2>&1 & done; echo all-forked >&2`,
  );
  out.pids = {
    err: p.err,
    current: await read(join(leaf, "pids.current")),
    events: await read(join(leaf, "pids.events")),
  };
  await sh(`for p in $(cat ${leaf}/cgroup.procs); do kill -9 $p; done`);
  // memory.max: a process touching 256 MiB is OOM-killed inside its cgroup
  const m = await sh(`echo $$ > ${leaf}/cgroup.procs && exec /usr/bin/python3 -c 'b = b"x" * (256 << 20)'`);
  out.mem = { signal: m.signal, code: m.code, events: await read(join(leaf, "memory.events")) };
  await vm.undo({ killRemaining: true });
  out.after = {
    self: await read("/proc/self/cgroup"),
    ownSubtree: await read(join(own, "cgroup.subtree_control")),
    ownChildren: (await import("node:fs"))
      .readdirSync(own, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name),
  };
} catch (e) {
  out.error = { message: (e as Error).message, code: (e as { code?: string }).code };
}
console.log(`QJ-CG ${JSON.stringify(out)}`);
