// A systemd service unit running `qemu-jail run` for one config (pure: config, options → text).
// The launcher stays root (it builds the jails: namespaces, mounts in its own namespace, cgroups,
// mknod, chown, setuid); the unit confines the launcher itself wherever that is compatible with
// those jobs, and says in a comment beside each setting, and each deliberate omission, why.

import { dirname, isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { VmConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";
import { isSystemPath } from "../lsm/paths.js";
import { HOME_DIRS, isUnder, MODULE_DIRS, servicePaths, TMP_DIRS, under } from "./paths.js";

/** Options of systemdUnit; times in seconds. */
export interface UnitOptions {
  /** Command that runs qemu-jail, absolute paths (default: defaultExec()). */
  exec?: string[];
  /** Absolute path of the vm.toml (default: config.source). */
  configPath?: string;
  /** Restart= (default "no": a VM that ends stays down until an operator looks). */
  restart?: "no" | "on-failure" | "on-abnormal" | "always";
  /** RestartSec= when restart is not "no" (default 5). */
  restartSec?: number;
  /** The launcher's escalation on SIGTERM (passed to `run`, and summed into TimeoutStopSec). */
  powerdownTimeout?: number;
  quitTimeout?: number;
  /** How long QEMU may take until QMP answers (passed to `run`; bounds TimeoutStartSec). */
  qmpTimeout?: number;
  /**
   * Whether the launcher relabels files for SELinux (default: jail.lsm = "selinux"; the CLI also
   * says yes for "auto" on a host with SELinux enabled).
   */
  selinuxRelabel?: boolean;
}

/** The launcher's defaults (src/cli/run.ts options; backendStopMs of src/launch/supervise.ts). */
export const LAUNCHER_TIMEOUTS = { powerdown: 60, quit: 10, qmp: 60, backendStop: 10 } as const;
/**
 * Syscall groups denied to every process of the unit (EPERM). None of their syscalls is in any
 * policy fragment or used by the launcher or its helper (test/integration/systemd checks the
 * fragments against `systemd-analyze syscall-filter`). @debug stays allowed: the helper's
 * optional trace mode uses ptrace to name a denied syscall's arguments.
 */
export const SYSCALL_DENY_GROUPS = [
  "@clock",
  "@cpu-emulation",
  "@module",
  "@obsolete",
  "@raw-io",
  "@reboot",
  "@swap",
];

/**
 * Capabilities no jail step and no jailed process uses (the plans grant only SYS_ADMIN, SETUID,
 * SETGID, SETPCAP, CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, MKNOD, SYS_CHROOT,
 * SYS_RESOURCE; the launcher itself also needs NET_ADMIN, KILL, SYSLOG, SYS_PTRACE, MAC_ADMIN).
 */
export const CAPS_DROPPED = [
  "CAP_AUDIT_CONTROL",
  "CAP_AUDIT_READ",
  "CAP_BLOCK_SUSPEND",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_LEASE",
  "CAP_LINUX_IMMUTABLE",
  "CAP_MAC_OVERRIDE",
  "CAP_NET_BROADCAST",
  "CAP_NET_RAW",
  "CAP_PERFMON",
  "CAP_SETFCAP",
  "CAP_SYS_BOOT",
  "CAP_SYS_PACCT",
  "CAP_SYS_RAWIO",
  "CAP_SYS_TTY_CONFIG",
];

/** Slack for what precedes QMP (host probe, jail set-up) and follows the kill (undo, SIGSYS report). */
const START_SLACK = 30;
const STOP_SLACK = 15;

/** `node <package>/bin/qemu-jail.js`, both absolute, from the running Node and this module's place. */
export function defaultExec(): string[] {
  // src/systemd/, dist/systemd/ and dist/bundle/ all sit two levels below the package root.
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  return [process.execPath, resolve(root, "bin", "qemu-jail.js")];
}

/** The unit's file name for a VM: qemu-jail-<name>.service. */
export function unitName(config: VmConfig): string {
  return `qemu-jail-${config.vm.name}.service`;
}

function bad(message: string, key: string, hint: string): never {
  throw new QemuJailError("UNIT_INVALID", message, { exit: "usage", location: { key }, hint });
}

/** Escapes `%` (specifiers) and `$` (variables) and quotes when needed, for a command-line word. */
export function systemdWord(word: string, key = "exec"): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\x00-\x1f\x7f]/.test(word))
    bad(`control character in ${JSON.stringify(word)}`, key, "rename the path");
  const escaped = word.replaceAll("%", "%%");
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("$", "$$$$")}"`;
}

/** A path in a path-list setting (ReadWritePaths=...): `%` escaped, quoted when it has blanks. */
function systemdPath(path: string, key: string): string {
  if (!isAbsolute(path)) bad(`${path} is not absolute`, key, "the config loader makes paths absolute");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: see systemdWord
  if (/[\x00-\x1f\x7f"\\]/.test(path))
    bad(`unusable character in ${JSON.stringify(path)}`, key, "rename the path");
  const p = path.replaceAll("%", "%%");
  return /\s/.test(p) ? `"${p}"` : p;
}

/** Drops duplicates and paths below another writable path (first key kept, comma-joined when merged). */
function collapse(list: Array<{ path: string; key: string }>): Array<{ path: string; key: string }> {
  const out: Array<{ path: string; key: string }> = [];
  for (const w of list) {
    if (list.some((o) => o.path !== w.path && isUnder(w.path, o.path))) continue;
    const had = out.find((o) => o.path === w.path);
    if (had) had.key = `${had.key}, ${w.key}`;
    else out.push({ ...w });
  }
  return out;
}

/** Devices the launcher opens (to pass as fds) or creates with mknod in a jail root, per config. */
function devices(config: VmConfig): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [
    // /dev/null, /dev/urandom, /dev/random are in the "auto" policy's standard set.
    ["/dev/kmsg", "r", "the SIGSYS report reads the kernel's seccomp audit records (src/launch/sigsys.ts)"],
  ];
  if (config.vm.accel !== "tcg") out.push(["/dev/kvm", "rwm", "vm.accel: KVM when available"]);
  if (config.nic.some((n) => n.mode === "tap")) {
    out.push(["/dev/net/tun", "rw", "nic: the launcher attaches each tap and passes its fd"]);
    if (config.nic.some((n) => n.mode === "tap" && n.vhost))
      out.push(["/dev/vhost-net", "rw", "nic.vhost: opened by the launcher, passed as vhostfd"]);
  }
  if (config.vsock) out.push(["/dev/vhost-vsock", "rw", "vsock: opened by the launcher, passed as an fd"]);
  return out;
}

/** The unit text for `config` (see the header); throws QemuJailError on unusable paths. */
export function systemdUnit(config: VmConfig, opts: UnitOptions = {}): string {
  const name = config.vm.name;
  const exec = opts.exec ?? defaultExec();
  if (exec.length === 0 || !isAbsolute(exec[0]!))
    bad("exec must start with an absolute path", "exec", "--exec");
  const configPath = opts.configPath ?? config.source;
  if (!configPath || !isAbsolute(configPath))
    bad("the unit needs the config's absolute path", "config", "load the config from a file");
  const t = {
    powerdown: opts.powerdownTimeout ?? LAUNCHER_TIMEOUTS.powerdown,
    quit: opts.quitTimeout ?? LAUNCHER_TIMEOUTS.quit,
    qmp: opts.qmpTimeout ?? LAUNCHER_TIMEOUTS.qmp,
  };
  for (const [k, v] of Object.entries(t))
    if (!Number.isInteger(v) || v <= 0) bad(`${k} timeout must be a positive integer`, k, "seconds");
  const restart = opts.restart ?? "no";
  const relabel = opts.selinuxRelabel ?? config.jail.lsm === "selinux";
  const stateDir = config.jail.state_dir;
  const paths = servicePaths(config);
  const allPaths = [...paths.map((p) => p.path), ...exec.filter((w) => isAbsolute(w)), stateDir];
  const homeHits = under(allPaths, HOME_DIRS);
  const tmpHits = under(allPaths, TMP_DIRS);
  const moduleHits = under(allPaths, MODULE_DIRS);
  const cmd = (args: string[]) => [...exec, ...args].map((w) => systemdWord(w)).join(" ");
  const runArgs = [
    "run",
    "--log-format",
    "json",
    "--powerdown-timeout",
    String(t.powerdown),
    "--quit-timeout",
    String(t.quit),
    "--qmp-timeout",
    String(t.qmp),
    configPath,
  ];
  const stopSec = t.powerdown + t.quit + LAUNCHER_TIMEOUTS.backendStop + STOP_SLACK;
  const L: string[] = [];
  const line = (s = "") => L.push(s);
  const why = (s: string) => {
    for (const w of s.split("\n")) L.push(`# ${w}`);
  };

  line(`# Generated by \`qemu-jail unit\` for VM "${name}". Regenerate after editing the config:`);
  line("# the hardening below is derived from the paths and devices the config uses.");
  line("[Unit]");
  line(`Description=qemu-jail VM ${name}`);
  line("Documentation=man:systemd.exec(5)");
  if (config.nic.length) {
    why("Taps are enslaved to bridges that the network configuration creates.");
    line("After=network.target");
  }
  line();
  line("[Service]");
  why(
    "Readiness: `run` sends READY=1 (with MAINPID= its own pid) when QMP answers, and STOPPING=1\n" +
      "on the way down, both through `systemd-notify`, a child process. Measured with systemd 252\n" +
      "(test/e2e/systemd/notify.test.ts): run as root, it puts the launcher's pid in the datagram's\n" +
      "credentials, so =main would pass today; =all is kept because that is systemd-notify's\n" +
      "behaviour, not a contract (other versions or a non-root sender credit the child), and a\n" +
      "MAINPID= hand-over to a native supervisor (DESIGN) would make the sender a non-main pid.\n" +
      "Only processes of this unit's cgroup can send at all.",
  );
  line("Type=notify");
  line("NotifyAccess=all");
  line(`ExecStart=${cmd(runArgs)}`);
  why(
    "After any end (even SIGKILL of the launcher), undo what a dead launcher left for this VM:\n" +
      "cgroups, taps, ownership changes, sockets. gc never touches a VM whose launcher is alive.",
  );
  line(`ExecStopPost=${cmd(["gc", "--state-dir", stateDir, "--name", name])}`);
  why(
    "The launcher creates the VM's cgroups below its own (DESIGN: cgroups), which is what\n" +
      "Delegate=yes hands the service.",
  );
  line("Delegate=yes");
  why(
    "SIGTERM goes to the launcher only: it asks the guest (system_powerdown), then `quit`s QEMU,\n" +
      "then SIGKILLs it, then stops the backends. What is left after TimeoutStopSec gets SIGKILL.",
  );
  line("KillMode=mixed");
  line("KillSignal=SIGTERM");
  why(
    `Stop: powerdown ${t.powerdown} s + quit ${t.quit} s + backends ${LAUNCHER_TIMEOUTS.backendStop} s + ${STOP_SLACK} s for clean-up.\n` +
      `Start: QMP must answer within ${t.qmp} s, + ${START_SLACK} s for the host probe and the jail set-up.`,
  );
  line(`TimeoutStopSec=${stopSec}`);
  line(`TimeoutStartSec=${t.qmp + START_SLACK}`);
  line(`Restart=${restart}`);
  if (restart !== "no") line(`RestartSec=${opts.restartSec ?? 5}`);
  why("Logs are JSON lines on stderr when not on a terminal.");
  line("StandardOutput=journal");
  line("StandardError=journal");
  line(`SyslogIdentifier=qemu-jail-${name}`);
  line();

  why(
    "State: jail.state_dir holds the VM's lock, launch record and sockets. The launcher (and gc)\n" +
      "own its lifecycle, so systemd must not delete it on stop: gc may need the record later.",
  );
  const rel = (root: string) => (stateDir.startsWith(root) ? stateDir.slice(root.length) : undefined);
  const writable: Array<{ path: string; key: string }> = [];
  const relPath = (r: string) => {
    const q = systemdPath(`/${r}`, "jail.state_dir");
    return q.startsWith('"') ? `"${q.slice(2)}` : q.slice(1);
  };
  if (rel("/run/")) {
    line(`RuntimeDirectory=${relPath(rel("/run/")!)}`);
    line("RuntimeDirectoryMode=0755");
    line("RuntimeDirectoryPreserve=yes");
  } else if (rel("/var/lib/")) {
    line(`StateDirectory=${relPath(rel("/var/lib/")!)}`);
    line("StateDirectoryMode=0755");
  } else writable.push({ path: stateDir, key: "jail.state_dir" });
  line();

  why("Hardening of the launcher itself. It runs as root on purpose; see each setting.");
  why(
    "The whole file system read-only, except what the config writes: rw images (written by\n" +
      "QEMU or qemu-storage-daemon, chowned to the VM's uid), rw shares, dirs of logs and sockets.",
  );
  line("ProtectSystem=strict");
  for (const p of paths) if (p.write) writable.push(p);
  if (relabel) {
    why(
      "SELinux: the launcher labels the VM's own files (not OS files) with chcon, a setxattr that a\n" +
        "read-only mount refuses, so read-only inputs outside the OS tree are writable here too.",
    );
    for (const p of paths) if (!p.write && !isSystemPath(p.path) && p.key !== "config file") writable.push(p);
  }
  for (const w of collapse(writable)) {
    why(w.key);
    line(`ReadWritePaths=${systemdPath(w.path, w.key)}`);
  }
  if (homeHits.length) {
    why(`ProtectHome=read-only, not yes: the config or the command uses ${homeHits.join(", ")}.`);
    line("ProtectHome=read-only");
  } else {
    why("No path of the config or the command lies under /home, /root or /run/user.");
    line("ProtectHome=yes");
  }
  if (tmpHits.length) why(`PrivateTmp= omitted: the config or the command uses ${tmpHits.join(", ")}.`);
  else {
    why("No path of the config lies under /tmp or /var/tmp.");
    line("PrivateTmp=yes");
  }
  why(
    "Devices: only what the launcher opens to pass as an fd or mknods in a jail root ('m').\n" +
      "ProtectClock= implies DeviceAllow=char-rtc r, which would otherwise silently make this\n" +
      "an allow-list without /dev/kvm, /dev/net/tun...; so the list is explicit.",
  );
  line("DevicePolicy=closed");
  line("DeviceAllow=/dev/null rwm");
  line("DeviceAllow=/dev/urandom rwm");
  line("DeviceAllow=/dev/random rwm");
  for (const [dev, access, reason] of devices(config)) {
    why(reason);
    line(`DeviceAllow=${dev} ${access}`);
  }
  why("No clock changes (drops CAP_SYS_TIME, CAP_WAKE_ALARM; filters clock_settime & co).");
  line("ProtectClock=yes");
  if (moduleHits.length) why(`ProtectKernelModules= omitted: the config uses ${moduleHits.join(", ")}.`);
  else {
    why(
      "No module loading (drops CAP_SYS_MODULE, hides /usr/lib/modules). tun, vhost-net, kvm\n" +
        "are auto-loaded by the kernel on open, which this does not block.",
    );
    line("ProtectKernelModules=yes");
  }
  why("A hostname of its own (UTS namespace); the jails get their own anyway.");
  line("ProtectHostname=yes");
  why("Neither the launcher nor QEMU (no -rt, no -overcommit) needs realtime scheduling.");
  line("RestrictRealtime=yes");
  why("No personality() changes; the VM runs native binaries only.");
  line("LockPersonality=yes");
  line("SystemCallArchitectures=native");
  why("The launcher never creates set-uid/set-gid files (it changes owners, not modes).");
  line("RestrictSUIDSGID=yes");
  const families = ["AF_UNIX"];
  if (config.nic.some((n) => n.mode === "tap")) families.push("AF_NETLINK");
  if (config.nic.some((n) => n.mode === "user")) families.push("AF_INET", "AF_INET6");
  why(
    "AF_UNIX: QMP, sd_notify, vhost-user. AF_NETLINK only with taps (link set-up), AF_INET(6)\n" +
      "only with user-mode networking (QEMU's slirp). Applies to every process of the unit.",
  );
  line(`RestrictAddressFamilies=${families.join(" ")}`);
  why(
    "Syscall groups nothing here uses (checked against every policy fragment); EPERM, not a kill.\n" +
      "A coarse allow-list (@system-service) is not possible: jails need mount, pivot_root, setns.",
  );
  line(`SystemCallFilter=~${SYSCALL_DENY_GROUPS.join(" ")}`);
  line("SystemCallErrorNumber=EPERM");
  const dropped = [...CAPS_DROPPED];
  if (!config.nic.some((n) => n.mode === "user" && n.forward.some((f) => f.host_port < 1024)))
    dropped.push("CAP_NET_BIND_SERVICE");
  if (config.jail.lsm === "none") dropped.push("CAP_MAC_ADMIN");
  why(
    "Capabilities no jail step and no jailed process uses. Kept: SYS_ADMIN (namespaces, mounts,\n" +
      "pivot_root), SETUID/SETGID/SETPCAP (drop to the VM's ids and caps), CHOWN/FOWNER/FSETID/\n" +
      "DAC_* (images; virtiofsd), MKNOD (jail /dev), SYS_CHROOT, SYS_RESOURCE (rlimits), NET_ADMIN\n" +
      "(taps, jail netns), KILL (jailed uids), SYSLOG (/dev/kmsg), SYS_PTRACE (helper trace mode),\n" +
      "MAC_ADMIN unless lsm = none (AppArmor profile load), NET_BIND_SERVICE for forwards below 1024.",
  );
  line(`CapabilityBoundingSet=~${dropped.sort().join(" ")}`);
  why("The launcher's mounts stay in its own namespace (they do already, under ProtectSystem=).");
  line("PrivateMounts=yes");
  line();
  why("Deliberately NOT set, because the launcher must do what each would forbid:");
  why("  ProtectKernelTunables: makes /sys read-only; cgroups (/sys/fs/cgroup) and AppArmor profile");
  why("    loading (/sys/kernel/security) are written there.");
  why("  ProtectControlGroups: the launcher creates the VM's cgroups (Delegate=yes).");
  why("  ProtectKernelLogs: the SIGSYS report reads seccomp audit records from /dev/kmsg.");
  why("  PrivateDevices: hides /dev/kvm, /dev/net/tun, /dev/vhost-*; mknod of jail devices.");
  why("  MemoryDenyWriteExecute: Node's JIT and QEMU's TCG both need writable+executable code.");
  why("  NoNewPrivileges: would block the SELinux/AppArmor domain transitions of the jailed exec.");
  why("  RestrictNamespaces: jails are built from namespaces; each jailed process gets its own");
  why("    per-process seccomp filter, far tighter than any unit-wide one.");
  why("  PrivateUsers, User=: the launcher needs root's capabilities (those kept above).");
  why("  PrivateNetwork: taps and user-mode networking use the host's network.");
  why("  UMask: left at 0022; the launcher sets modes explicitly where it matters.");
  line();
  line("[Install]");
  line("WantedBy=multi-user.target");
  return `${L.join("\n")}\n`;
}
