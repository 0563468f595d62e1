// Runs INSIDE the AppArmor guest (bundled): the whole product pipeline (probeHost → plan → launch
// → supervise) on a config with lsm = "apparmor". The launcher loads each process's profile
// before spawning it; once QMP answers, QEMU's AppArmor confinement and the loaded profiles are
// read, the VM is stopped with SIGTERM as a user would, and the profiles must be gone after.

import { readdirSync, readFileSync } from "node:fs";
import { loadConfig } from "../../../src/config/load.js";
import { runVm } from "../../../src/launch/run.js";
import { createLogger } from "../../../src/log.js";
import { apparmorProfileLoaded } from "../../../src/lsm/apply.js";

const [toml, stateDir] = process.argv.slice(2);
const out = (step: string, data: unknown) => console.log(`RESULT ${JSON.stringify({ step, data })}`);
const planned: string[] = [];
let qemuPid: number | undefined;

const end = await runVm(loadConfig(toml!), {
  log: createLogger({ format: "json", stream: process.stderr }),
  stateDir: stateDir!,
  powerdownTimeoutMs: 1000,
  quitTimeoutMs: 5000,
  qmpTimeoutMs: 60_000,
  onPlan: (plan) => {
    for (const p of plan.processes) {
      if (p.lsm.apparmor) planned.push(p.lsm.apparmor.profileName);
    }
    out("plan", {
      processes: plan.processes.map((p) => ({ id: p.id, apparmor: p.lsm.apparmor?.profileName })),
    });
  },
  onLaunched: (vm) => {
    qemuPid = vm.processes.get("qemu")?.pid;
  },
  onReady: (ms) => {
    // Every process of the jail (the helper's init in the pid namespace, then QEMU) and its label.
    const labels = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map((d) => {
        try {
          const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
          return { pid: Number(d), comm, label: readFileSync(`/proc/${d}/attr/current`, "utf8").trim() };
        } catch {
          return undefined;
        }
      })
      .filter((x) => x && (x.pid === qemuPid || /^(qemu-system|virtiofsd|qemu-storage)/.test(x.comm)));
    out("ready", { ms, labels });
    process.kill(process.pid, "SIGTERM");
  },
});
out("end", { reason: end.reason, code: end.code, sigsys: end.sigsys, undoFailures: end.undoFailures.length });
// The launcher's undo removed every profile it loaded.
const left = [];
for (const name of planned) if (await apparmorProfileLoaded(name)) left.push(name);
out("profiles-after", { left });
