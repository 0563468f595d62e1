// `qemu-jail unit vm.toml`: prints (or writes) a hardened systemd service unit that runs the VM
// with `qemu-jail run`, Type=notify. See src/systemd/unit.ts for every choice in it.

import { existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { QemuJailError } from "../errors.js";

const RESTART = ["no", "on-failure", "on-abnormal", "always"] as const;

function seconds(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new QemuJailError("USAGE", `${flag} must be a positive whole number of seconds, not ${v}`, {
      exit: "usage",
      location: { key: flag },
    });
  return n;
}

/** Registers `unit`. */
export function register(program: Command): void {
  program
    .command("unit")
    .description("print a hardened systemd unit (qemu-jail-<name>.service) that runs this VM")
    .argument("<config>", "path to vm.toml")
    .option("-o, --output <file>", "write the unit to FILE instead of stdout")
    .option(
      "--exec <command>",
      'command running qemu-jail, absolute paths, space-separated (default: "<this node> <package>/bin/qemu-jail.js"; e.g. "/usr/local/bin/qemu-jail")',
    )
    .option("--restart <policy>", `Restart= (${RESTART.join(", ")})`, "no")
    .option("--powerdown-timeout <s>", "seconds the guest gets to power off before `quit`")
    .option("--quit-timeout <s>", "seconds after `quit` before SIGKILL")
    .option("--qmp-timeout <s>", "seconds QEMU gets until QMP answers")
    .action(
      async (
        file: string,
        opts: {
          output?: string;
          exec?: string;
          restart: string;
          powerdownTimeout?: string;
          quitTimeout?: string;
          qmpTimeout?: string;
        },
      ) => {
        const { loadConfig } = await import("../config/load.js");
        const { systemdUnit } = await import("../systemd/unit.js");
        if (!(RESTART as readonly string[]).includes(opts.restart))
          throw new QemuJailError("USAGE", `--restart must be one of ${RESTART.join(", ")}`, {
            exit: "usage",
            location: { key: "--restart" },
          });
        const config = loadConfig(file);
        const text = systemdUnit(config, {
          configPath: resolve(file),
          exec: opts.exec?.split(" ").filter(Boolean),
          restart: opts.restart as (typeof RESTART)[number],
          powerdownTimeout: seconds("--powerdown-timeout", opts.powerdownTimeout),
          quitTimeout: seconds("--quit-timeout", opts.quitTimeout),
          qmpTimeout: seconds("--qmp-timeout", opts.qmpTimeout),
          // lsm = "auto" picks SELinux where it is enabled (selinuxfs mounted), and then relabels.
          selinuxRelabel:
            config.jail.lsm === "selinux" ||
            (config.jail.lsm === "auto" && existsSync("/sys/fs/selinux/enforce")),
        });
        if (opts.output) writeFileSync(opts.output, text);
        else process.stdout.write(text);
      },
    );
}
