// `qemu-jail stop NAME`: a graceful stop. The VM's launcher gets SIGTERM, which it turns into
// QMP system_powerdown (then quit, then SIGKILL after its timeouts) and its own cleanup. With
// --qmp, system_powerdown is sent on the VM's QMP socket instead (the launcher then sees QEMU
// exit and cleans up the same way).

import type { Command } from "commander";
import { QemuJailError } from "../errors.js";

/** Registers `stop`. */
export function register(program: Command): void {
  program
    .command("stop")
    .description("ask a running VM to power off gracefully")
    .argument("<name>", "VM name")
    .option("--state-dir <dir>", "state root", "/run/qemu-jail")
    .option("--qmp", "send system_powerdown over QMP instead of signalling the launcher")
    .option("--wait <seconds>", "wait until the launcher has finished (0: do not wait)", "60")
    .action(async (name: string, opts: { stateDir: string; qmp?: boolean; wait: string }) => {
      const { listVms } = await import("../launch/state.js");
      const vm = listVms(opts.stateDir).find((v) => v.name === name);
      if (!vm?.running || !vm.launcher) {
        throw new QemuJailError("VM_NOT_RUNNING", `VM ${name} is not running under ${opts.stateDir}`, {
          exit: "state",
          hint: vm ? "its launcher is gone: `qemu-jail gc` cleans up what it left" : "see `qemu-jail ps`",
        });
      }
      if (opts.qmp) {
        const { QmpClient } = await import("../qmp/client.js");
        const qmpPath = vm.record?.plan?.qmp.path;
        if (!qmpPath)
          throw new QemuJailError("VM_NO_RECORD", `VM ${name} has no readable record`, { exit: "state" });
        const c = await QmpClient.connect(qmpPath, 10_000);
        await c.execute("system_powerdown");
        c.close();
      } else {
        process.kill(vm.launcher.pid, "SIGTERM");
      }
      const waitMs = Number(opts.wait) * 1000;
      if (!(waitMs > 0)) return;
      const { isAlive } = await import("../launch/proc.js");
      const deadline = Date.now() + waitMs;
      while (isAlive(vm.launcher) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (isAlive(vm.launcher)) {
        throw new QemuJailError("VM_STOP_TIMEOUT", `VM ${name} still running after ${opts.wait}s`, {
          exit: "state",
          hint: "the launcher escalates to quit and SIGKILL on its own timeouts; check its logs",
        });
      }
      process.stdout.write(`${name}: stopped\n`);
    });
}
