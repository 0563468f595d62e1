// The demo: a guest built on the spot, run in the full jail with its console on this terminal,
// then a short summary of the jail it ran in (from the plan that was executed).

import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JailPlan, ProcessPlan } from "../plan/types.js";

/** The demo guest's script: a greeting and a few facts, then the init powers off. */
export const DEMO_SCRIPT = `echo
echo "Hello from a guest booted by qemu-jail, inside QEMU inside a jail."
echo "  kernel:   $(uname -r)"
echo "  cpus:     $(grep -c ^processor /proc/cpuinfo)"
echo "  memory:   $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
echo "  entropy:  $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null || echo none)"
echo "  uptime:   $(cut -d' ' -f1 /proc/uptime) s"
echo "Powering off."
`;

/** The demo vm.toml for a built guest. */
export function demoToml(kernel: string, initrd: string, cmdline: string): string {
  return `# Written by \`qemu-jail demo\`: the demo guest, booted in the full jail.
[vm]
name = "demo"
# TCG: the demo must boot anywhere, including machines whose /dev/kvm is absent or unusable.
accel = "tcg"
cpus = 1
memory = "256M"

[boot]
kernel = ${JSON.stringify(kernel)}
initrd = ${JSON.stringify(initrd)}
cmdline = ${JSON.stringify(`${cmdline} quiet`)}

[serial]
mode = "stdio"

[rng]
source = "/dev/urandom"

[jail]
seccomp = "kill"
`;
}

function newNamespaces(p: ProcessPlan): string[] {
  const ns = p.namespaces;
  const out: string[] = [];
  for (const k of ["mount", "pid", "ipc", "uts", "cgroup"] as const) if (ns[k]) out.push(k);
  if (ns.net === "new") out.push("net");
  else if (typeof ns.net === "object") out.push(`net(join ${ns.net.join})`);
  if (ns.user) out.push("user");
  return out;
}

/** Distinct syscalls a process's policy allows (with or without argument conditions). */
export function allowedSyscalls(p: ProcessPlan): number {
  return new Set(p.seccomp.rules.filter((r) => r.action.kind === "allow").map((r) => r.syscall)).size;
}

/** The summary lines for a plan that ran. */
export function jailSummary(plan: JailPlan): string {
  const lines = [`VM "${plan.vm.name}" ran in this jail:`];
  for (const p of plan.processes) {
    const action = p.seccomp.defaultAction;
    lines.push(
      `  ${p.id} (${p.role}): uid ${p.uid} gid ${p.gid}, capabilities ${p.capabilities.length ? p.capabilities.map((c) => c.name).join(",") : "none"}`,
      `    namespaces: ${newNamespaces(p).join(", ") || "none"}`,
      `    cgroup:     ${plan.cgroup.parent ? `${plan.cgroup.parent}/` : "<launcher's cgroup>/"}${p.cgroup.path}`,
      `    root:       ${p.root.length + p.devices.length} paths visible (${p.devices.length} device nodes), ${p.fds.length} fds passed`,
      `    seccomp:    ${allowedSyscalls(p)} syscalls allowed, everything else: ${action.kind === "errno" ? `errno ${action.errno}` : action.kind}`,
      `    lsm:        ${[p.lsm.selinux ? `selinux ${p.lsm.selinux.processLabel}` : "", p.lsm.apparmor ? `apparmor ${p.lsm.apparmor.profileName}` : "", p.lsm.landlock ? `landlock (${p.lsm.landlock.rules.length} rules)` : ""].filter(Boolean).join(", ") || "none"}`,
    );
  }
  return lines.join("\n");
}

/** Builds the demo guest, runs it, prints the summary; resolves to the exit status. */
export async function runDemo(opts: {
  stateDir: string;
  cacheDir?: string;
  verbose?: boolean;
}): Promise<number> {
  const { buildGuest, defaultCacheDir } = await import("../guest/index.js");
  const { loadConfig } = await import("../config/load.js");
  const { createLogger } = await import("../log.js");
  const { runVm } = await import("./run.js");
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const log = createLogger({ verbose: opts.verbose });
  log.info("building the demo guest (Debian kernel + busybox initramfs)");
  // The uncompressed PVH vmlinux when the kernel has one (QEMU boots it through pvh.bin, which the
  // plan binds; no in-guest decompression: ~3 s less under TCG), else the bzImage.
  const guest = buildGuest({ script: DEMO_SCRIPT, cacheDir });
  const dir = join(cacheDir, "demo");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, "vm.toml");
  writeFileSync(file, demoToml(guest.kernel, guest.initrd, guest.cmdline));
  log.info({ config: file }, "running the demo guest in its jail");
  const end = await runVm(loadConfig(file), { log, stateDir: opts.stateDir });
  process.stdout.write(`\n${jailSummary(end.plan)}\n`);
  process.stdout.write(
    `  ended: ${end.reason}, QMP answered after ${end.readyMs?.toFixed(0) ?? "-"} ms, host cleaned${end.undoFailures.length ? " INCOMPLETELY (run qemu-jail gc)" : ""}\n`,
  );
  for (const r of end.sigsys) process.stdout.write(`  ${r.message}\n  hint: ${r.hint}\n`);
  return end.code;
}
