// A launcher in its own process, for tests that SIGKILL it: launches the plan (JSON file in
// argv[2]) with bare QEMU and real cgroups, prints READY once QMP answers, then supervises.

import { readFileSync } from "node:fs";
import { probeCgroups } from "../../../src/host/cgroup.js";
import { cgroupDriver } from "../../../src/launch/cgroups.js";
import { launch } from "../../../src/launch/launch.js";
import { bareSpawner } from "../../../src/launch/spawn.js";
import { supervise } from "../../../src/launch/supervise.js";
import type { JailPlan } from "../../../src/plan/types.js";

const plan = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as JailPlan;
const vm = await launch(plan, {
  stateRoot: process.argv[3]!,
  spawner: bareSpawner,
  compile: () => new Uint8Array(0),
  cgroups: cgroupDriver(await probeCgroups()),
});
const sup = supervise(vm, { powerdownTimeoutMs: 200, quitTimeoutMs: 2000 });
await sup.ready;
process.stdout.write("READY\n");
const end = await sup.done;
process.stdout.write(`END ${end.reason} ${end.code} ${JSON.stringify(end.undoFailures)}\n`);
