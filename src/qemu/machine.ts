// Machine-wide arguments: identity, machine type, accelerator, CPUs, memory (a shared memfd
// backend whenever a vhost-user backend must map guest RAM), and how the guest boots.

import { formatSize } from "../config/size.js";
import type { HostFacts } from "../host/types.js";
import type { ArgvEnv } from "./env.js";
import { json, kv } from "./opts.js";

/** True when some device is served by a vhost-user backend (virtiofs share, vhost-user disk). */
export function needsSharedMemory(env: ArgvEnv): boolean {
  const c = env.config;
  return c.share.length > 0 || c.disk.some((d) => d.backend === "vhost-user");
}

/** -name, -uuid, -msg. */
export function identityArgs(env: ArgvEnv): string[] {
  const vm = env.config.vm;
  return [
    "-name",
    kv(undefined, [
      ["guest", vm.name],
      ["debug-threads", true],
    ]),
    "-uuid",
    vm.uuid,
    "-msg",
    "timestamp=on",
  ];
}

/** The accelerators to try, in order: "auto" without host facts lets QEMU fall back kvm → tcg. */
export function accelerators(env: ArgvEnv, host?: HostFacts): string[] {
  const a = env.config.vm.accel;
  if (a !== "auto") return [a];
  if (host) return [host.hasKvm ? "kvm" : "tcg"];
  return ["kvm", "tcg"];
}

/** -machine, -accel, -cpu, -smp, -m and the memory backend. */
export function machineArgs(
  env: ArgvEnv,
  host: HostFacts | undefined,
  firmware: { code?: string; vars?: string },
): string[] {
  const vm = env.config.vm;
  const shared = needsSharedMemory(env);
  const machine = kv(vm.machine, [
    ["pcie", vm.machine === "microvm" ? true : undefined],
    ["memory-backend", shared ? "mem" : undefined],
    ["pflash0", firmware.code],
    ["pflash1", firmware.vars],
  ]);
  const out = ["-machine", machine];
  for (const a of accelerators(env, host)) out.push("-accel", a);
  out.push("-cpu", vm.cpu_model, "-smp", String(vm.cpus), "-m", formatSize(vm.memory));
  if (shared)
    out.push(
      "-object",
      kv("memory-backend-memfd", [
        ["id", "mem"],
        ["size", formatSize(vm.memory)],
        ["share", true],
      ]),
    );
  return out;
}

/** Direct kernel boot arguments, or the -blockdev nodes of the firmware pflash images. */
export function bootArgs(env: ArgvEnv): { args: string[]; firmware: { code?: string; vars?: string } } {
  const b = env.config.boot;
  if (b.mode === "kernel") {
    const args = ["-kernel", env.mapped(b.kernel)];
    if (b.initrd) args.push("-initrd", env.mapped(b.initrd));
    args.push("-append", b.cmdline);
    return { args, firmware: {} };
  }
  const node = (name: string, file: string, readOnly: boolean) => [
    "-blockdev",
    json({
      driver: "file",
      "node-name": `${name}.file`,
      filename: env.openable(file),
      "read-only": readOnly,
    }),
    "-blockdev",
    json({ driver: "raw", "node-name": name, file: `${name}.file`, "read-only": readOnly }),
  ];
  const args = node("fw.code", b.code, true);
  if (!b.vars_template) return { args, firmware: { code: "fw.code" } };
  args.push(...node("fw.vars", env.ctx.firmwareVars ?? `${env.runDir}/vars.fd`, false));
  return { args, firmware: { code: "fw.code", vars: "fw.vars" } };
}

/** -sandbox with every optional deny QEMU offers. */
export function sandboxArgs(env: ArgvEnv): string[] {
  if (!env.config.qemu.sandbox) return [];
  return ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"];
}
