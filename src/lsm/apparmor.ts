// Per-process AppArmor profile derived from a ProcessPlan (the virt-aa-helper idea, but from the
// plan instead of a running domain). AppArmor denies whatever a profile does not allow, so the
// profile lists exactly the root manifest, the device nodes, the passed fds and the sockets.
//
// Paths are the ones the process sees: the profile is chroot_relative (the helper may chroot into
// a subdir of its root tmpfs) and AppArmor names files from that root. Passed fds were opened
// outside the jail. Files opened by an unconfined launcher are delegated at exec without a check
// (measured in the guest: no rule needed); when the launcher is itself confined, AppArmor
// revalidates them by path (failing ones are replaced), and their mounts are disconnected from
// the new root: hence attach_disconnected and a rule per passed file, tap and vhost-net fd.

import type { ProcessPlan, RootEntry } from "../plan/types.js";
import { checkRulePath, isMappedExecutable } from "./paths.js";

/** A generated profile: load with `apparmor_parser -r`, apply with the helper's exec-profile step. */
export interface AppArmorProfile {
  profileName: string;
  profile: string;
}

/** Profile name for one process of one VM: `qemu-jail-<vm>-<proc.id>`. */
export function apparmorProfileName(vmName: string, procId: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");
  return `qemu-jail-${safe(vmName)}-${safe(procId)}`;
}

/** Quote a path for a rule: glob characters are escaped so every path is literal. */
export function aaQuote(path: string): string {
  return aaGlob(path, "");
}

/** A literal (escaped) path prefix followed by an AppArmor glob such as "**" or "[0-9]*\/**". */
function aaGlob(prefix: string, glob: string): string {
  return `"${prefix.replace(/[\\"*?[\]{}^@]/g, (c) => `\\${c}`)}${glob}"`;
}

function fileRules(proc: ProcessPlan, e: RootEntry, where: string): string[] {
  const q = (p: string, glob = "") => aaGlob(checkRulePath(p, where), glob);
  const trail = (p: string) => (p.endsWith("/") ? p : `${p}/`);
  switch (e.kind) {
    case "bind":
      if (e.type === "file") {
        // Libraries and the binary are mapped executable (m); data files are locked (k):
        // QEMU takes OFD locks on images, shared ones even when read-only.
        const mode = isMappedExecutable(proc, e.path) ? "mr" : e.rw ? "rwk" : "rk";
        return [`${q(e.path)} ${mode},`];
      }
      return e.rw
        ? [`${q(trail(e.path))} rw,`, `${q(trail(e.path), "**")} rwlk,`]
        : [`${q(trail(e.path))} r,`, `${q(trail(e.path), "**")} r,`];
    case "tmpfs":
      return [`${q(trail(e.path))} rw,`, `${q(trail(e.path), "**")} rwk,`];
    case "dir":
      return [`${q(trail(e.path))} r,`];
    case "proc":
      // A private procfs: the process's own entries only (owner), never /proc/sys (root-owned).
      return [`${q(trail(e.path))} r,`, `owner ${q(trail(e.path), "[0-9]*/**")} r,`];
    case "symlink":
      // AppArmor checks the target, which has its own entry.
      return [];
  }
}

/** Derive the profile text. Deny by default: no capability, no mount, no exec, no foreign network. */
export function apparmorProfile(proc: ProcessPlan, vmName: string): AppArmorProfile {
  const name = apparmorProfileName(vmName, proc.id);
  const lines: string[] = [];
  const add = (why: string, rules: string[]) => {
    if (rules.length) lines.push(`  # ${why}`, ...rules.map((r) => `  ${r}`));
  };
  add(`binary`, [`${aaQuote(checkRulePath(proc.exe, `${proc.id}.exe`))} mr,`]);
  proc.root.forEach((e, i) => {
    add(`${e.need.item}: ${e.need.reason}`, fileRules(proc, e, `${proc.id}.root[${i}]`));
  });
  proc.devices.forEach((d, i) => {
    const ro = /^\/dev\/u?random$/.test(d.path);
    add(`${d.need.item}: ${d.need.reason}`, [
      `${aaQuote(checkRulePath(d.path, `${proc.id}.devices[${i}]`))} ${ro ? "r" : "rw"},`,
    ]);
  });
  let unix = false;
  proc.fds.forEach((f, i) => {
    const where = `${proc.id}.fds[${i}]`;
    const s = f.source;
    if (s.kind === "file")
      add(`fd ${f.fd}, ${f.need.item}: ${f.need.reason}`, [
        `${aaQuote(checkRulePath(s.path, where))} ${s.write ? "rwk" : "rk"},`,
      ]);
    // Tap and vhost-net fds are open files of /dev/net/tun and /dev/vhost-net (see the header).
    if (s.kind === "tap") add(`fd ${f.fd}, ${f.need.item}: ${f.need.reason}`, ['"/dev/net/tun" rw,']);
    if (s.kind === "vhost-net") add(`fd ${f.fd}, ${f.need.item}: ${f.need.reason}`, ['"/dev/vhost-net" rw,']);
    if (s.kind === "device")
      add(`fd ${f.fd}, ${f.need.item}: ${f.need.reason}`, [`${aaQuote(checkRulePath(s.path, where))} rw,`]);
    if (s.kind === "listen-unix" || s.kind === "socket-of") unix = true;
  });
  // Inherited stdio may be a unix stream socket (journald's stream, a supervisor's socketpair):
  // without a rule the kernel denies every write to it (measured: sendmsg DENIED in the guest).
  add("stdio and log streams inherited as unix sockets", [
    "unix (send, receive, getattr, getopt, shutdown) type=stream,",
  ]);
  if (unix) {
    // Sockets arrive as fds (listening or connected); the process only uses them, never binds.
    add("unix sockets passed as fds", [
      "network unix stream,",
      "unix (accept, listen, send, receive, getattr, getopt, setopt, shutdown) type=stream,",
    ]);
  }
  if (proc.namespaces.net !== "new") {
    // A shared or joined network namespace: user-mode networking opens host sockets itself.
    add(`net namespace ${JSON.stringify(proc.namespaces.net)}: host sockets`, [
      "network inet stream,",
      "network inet dgram,",
      "network inet6 stream,",
      "network inet6 dgram,",
    ]);
  }
  if (proc.role === "qemu") {
    // Guest RAM on a memfd (share=on for vhost-user): an anonymous file named /memfd:... (disconnected).
    add("guest memory memfd", [`"/memfd:*" rwm,`]);
  }
  add(
    "capabilities kept",
    proc.capabilities.map(
      (c) => `capability ${c.name.toLowerCase().replace(/^cap_/, "")},  # ${c.need.item}`,
    ),
  );
  add("signals: the supervisor may signal it; its threads signal each other", [
    "signal (receive) peer=unconfined,",
    `signal (send, receive) peer=${name},`,
    `ptrace (read, readby) peer=${name},`,
  ]);
  add("never: writes under /proc/sys and /sys, mounts, changing profile", [
    "deny /proc/sys/** w,",
    "deny /sys/** w,",
    "deny mount,",
    "deny umount,",
    "deny pivot_root,",
  ]);
  const profile = [
    `# qemu-jail: process ${proc.id} (${proc.role}) of VM ${vmName}. Generated; do not edit.`,
    "abi <abi/3.0>,",
    "",
    `profile ${name} flags=(attach_disconnected, chroot_relative) {`,
    ...lines,
    "}",
    "",
  ].join("\n");
  return { profileName: name, profile };
}
