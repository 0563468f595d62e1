// `qemu-jail ps`: the jailed VMs running under a state root (state dirs whose lock names a live
// launcher), with their processes.

import type { Command } from "commander";

/** Registers `ps`. */
export function register(program: Command): void {
  program
    .command("ps")
    .description("list running jailed VMs (state dirs with a live launcher lock)")
    .option("--state-dir <dir>", "state root", "/run/qemu-jail")
    .option("--all", "also list state dirs left by dead launchers (what `gc` would clean)")
    .option("--json", "JSON output")
    .action(async (opts: { stateDir: string; all?: boolean; json?: boolean }) => {
      const { listVms } = await import("../launch/state.js");
      const { isAlive } = await import("../launch/proc.js");
      const vms = listVms(opts.stateDir).filter((v) => opts.all || v.running);
      const rows = vms.map((v) => ({
        name: v.name,
        state: v.running ? "running" : "dead-launcher",
        launcher: v.launcher?.pid,
        since: v.record?.startedAt,
        qmp: v.record?.plan?.qmp.path,
        processes: (v.record?.effects ?? [])
          .filter((e) => e.kind === "process")
          .map((e) => ({
            id: e.id,
            pid: e.payloadPid ?? e.pid,
            uid: v.record?.plan?.processes.find((p) => p.id === e.id)?.uid,
            alive: isAlive({ pid: e.pid, startTime: e.startTime }),
          })),
      }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        process.stdout.write("no running VMs\n");
        return;
      }
      process.stdout.write(`${"NAME".padEnd(20)} ${"STATE".padEnd(13)} ${"LAUNCHER".padEnd(9)} PROCESSES\n`);
      for (const r of rows) {
        const procs = r.processes.map((p) => `${p.id}:${p.pid}(uid ${p.uid})`).join(" ");
        process.stdout.write(
          `${r.name.padEnd(20)} ${r.state.padEnd(13)} ${String(r.launcher ?? "-").padEnd(9)} ${procs}\n`,
        );
      }
    });
}
