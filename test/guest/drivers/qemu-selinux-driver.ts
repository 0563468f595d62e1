// Runs INSIDE the SELinux guest (bundled), as virtd_t (the domain SELinux policy lets start
// svirt_t): the product pipeline on a config with lsm = "selinux". The launcher labels the VM's
// files before it starts a process; once QMP answers, QEMU's context and the files' labels are
// read, then the VM is stopped, and every label must be back to what it was before the run.

import { readdirSync, readFileSync } from "node:fs";
import { loadConfig } from "../../../src/config/load.js";
import { probeHost } from "../../../src/host/probe.js";
import { runVm } from "../../../src/launch/run.js";
import { createLogger } from "../../../src/log.js";
import { currentSelinuxLabels } from "../../../src/lsm/apply.js";
import { selinuxRelabels } from "../../../src/lsm/selinux.js";
import { plan } from "../../../src/plan/plan.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";

const [toml, stateDir] = process.argv.slice(2);
const out = (step: string, data: unknown) => console.log(`RESULT ${JSON.stringify({ step, data })}`);
const config = loadConfig(toml!);

// The same plan runVm will make (plan is pure): what it will label, and the labels before.
const p = plan(
  { ...config, jail: { ...config.jail, state_dir: stateDir! } },
  await probeHost(config),
  loadFragments(),
);
const relabels = p.processes.flatMap((proc) =>
  proc.lsm.selinux ? selinuxRelabels(proc, proc.lsm.selinux) : [],
);
const before = await currentSelinuxLabels(relabels.map((r) => r.path));
let during: Array<{ path: string; context: string }> = [];
out("plan", {
  processes: p.processes.map((x) => ({ id: x.id, selinux: x.lsm.selinux?.processLabel })),
  relabels: relabels.map((r) => `${r.path}=${r.context}`),
});

const end = await runVm(config, {
  log: createLogger({ format: "json", stream: process.stderr }),
  stateDir: stateDir!,
  powerdownTimeoutMs: 1000,
  quitTimeoutMs: 5000,
  qmpTimeoutMs: 60_000,
  onReady: (ms) => {
    const labels = readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .map((d) => {
        try {
          const comm = readFileSync(`/proc/${d}/comm`, "utf8").trim();
          return { comm, label: readFileSync(`/proc/${d}/attr/current`, "utf8").replace(/\0/g, "").trim() };
        } catch {
          return undefined;
        }
      })
      .filter((x) => x && /^(qemu-system|virtiofsd|qemu-storage)/.test(x.comm));
    out("ready", { ms, labels });
    void currentSelinuxLabels(relabels.map((r) => r.path)).then((l) => {
      during = l;
      process.kill(process.pid, "SIGTERM");
    });
  },
});
out("end", { reason: end.reason, code: end.code, sigsys: end.sigsys, undoFailures: end.undoFailures.length });
const after = await currentSelinuxLabels(relabels.map((r) => r.path));
// While QEMU ran, each file had the label the plan gave it (the launcher's doing).
out("labelled", { ok: relabels.every((r, i) => during[i]?.context === r.context), n: during.length });
// After the run the launcher's undo put every label back.
out("restored", { n: after.filter((a, i) => a.context === before[i]?.context).length });
