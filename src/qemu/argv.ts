// qemuArgv: a VmConfig (plus optional host facts and a jail context) → QEMU's argv, modern forms
// only (-blockdev/-device/-netdev/-chardev/-object; never -drive or -hda). argv[0] is the binary.

import type { VmConfig } from "../config/types.js";
import type { HostFacts } from "../host/types.js";
import { diskArgs } from "./block.js";
import { qmpArgs, serialArgs } from "./chardev.js";
import type { ArgvContext } from "./context.js";
import { rngArgs, shareArgs, vsockArgs } from "./devices.js";
import { makeEnv } from "./env.js";
import { bootArgs, identityArgs, machineArgs, sandboxArgs } from "./machine.js";
import { nicArgs } from "./net.js";

/**
 * The full QEMU command line for `config`. `host` decides accel "auto" and vhost-net; `ctx`
 * makes QEMU use pre-opened fds and in-jail paths (see context.ts). Pure.
 */
export function qemuArgv(config: VmConfig, host?: HostFacts, ctx?: ArgvContext): string[] {
  const env = makeEnv(config, ctx);
  // Every phase that may name an fdset runs before the -add-fd list is read.
  const boot = bootArgs(env);
  const body = [
    ...machineArgs(env, host, boot.firmware),
    ...boot.args,
    ...diskArgs(env),
    ...nicArgs(env, host),
    ...shareArgs(env),
    ...serialArgs(env),
    ...qmpArgs(env),
    ...rngArgs(env),
    ...vsockArgs(env),
    "-display",
    "none",
    ...sandboxArgs(env),
  ];
  return [
    env.mapped(config.qemu.binary),
    "-nodefaults",
    "-no-user-config",
    ...identityArgs(env),
    ...env.addFdArgs(),
    ...body,
    ...config.qemu.extra_args,
  ];
}
