// specFromPlan: a ProcessPlan (pure data from the planner) plus what only the launcher knows
// (cgroup dirs it created, fds it opened, compiled BPF) → the HelperSpec for that process.
// A one-to-one mapping, step by step, in the helper's order; no decisions beyond defaults.

import { QemuJailError } from "../errors.js";
import { isMappedExecutable } from "../lsm/paths.js";
import type { ProcessPlan, RootEntry } from "../plan/types.js";
import type { NamespaceName } from "./format.js";
import type { FdRef, HelperStep } from "./spec.js";

export interface PlanSpecContext {
  /** Absolute cgroup dirs to join: one per v1 hierarchy and/or the v2 one (created by the launcher). */
  cgroupDirs: string[];
  /** Compiled seccomp programs (struct sock_filter[]), loaded last, in this order. */
  seccomp: Array<Uint8Array | { fd: number }>;
  /** Parent-side fd for each of the plan's PassedFd, keyed by the fd number in the jail. */
  fds: Record<number, number>;
  /** Fds 0-2 of the payload when the plan does not pass them: default the helper's own stdio. */
  stdio?: Partial<Record<0 | 1 | 2, FdRef>>;
  /** An existing dir the root tmpfs is mounted over, inside the new mount namespace only. */
  rootMountpoint: string;
  /** Size limit of the root tmpfs (it holds only mount points, dirs, symlinks and nodes). */
  rootSizeBytes?: number;
  /** Signal for the payload when the helper dies (default SIGKILL). */
  pdeathsig?: number;
  /** Execute the binary from this parent fd (execveat) instead of its path in the root. */
  exeFd?: number;
  /** Landlock scopes (ABI 6+): signals to / abstract sockets of processes outside the jail. */
  landlockScopes?: { signal: boolean; abstractUnix: boolean };
  /** Supervise with ptrace to learn the arguments of a seccomp-denied syscall (default off). */
  traceSigsys?: boolean;
}

const SIGKILL = 9;

function depth(p: string): number {
  return p.split("/").length;
}

function rootStep(proc: ProcessPlan, e: RootEntry): HelperStep {
  switch (e.kind) {
    case "bind":
      return {
        step: "bind",
        source: e.source,
        path: e.path,
        type: e.type,
        rw: e.rw,
        // Only the binary, its loader and shared objects are mapped executable; all else noexec.
        exec: e.type === "file" && isMappedExecutable(proc, e.path),
      };
    case "dir":
      return { step: "mkdir", path: e.path, mode: e.mode };
    case "tmpfs":
      return { step: "tmpfs", path: e.path, mode: e.mode, uid: e.uid, gid: e.gid, sizeBytes: e.sizeBytes };
    case "symlink":
      return { step: "symlink", path: e.path, target: e.target };
    case "proc":
      return { step: "proc", path: e.path, hidepid: 2, subsetPid: true };
  }
}

/** The helper spec for one planned process. */
export function specFromPlan(proc: ProcessPlan, ctx: PlanSpecContext): HelperStep[] {
  const steps: HelperStep[] = [];
  const ns = proc.namespaces;

  // fds: stdio first (unless passed), then every planned fd at its number.
  const passed = new Set(proc.fds.map((f) => f.fd));
  for (const t of [0, 1, 2] as const) {
    if (!passed.has(t)) steps.push({ step: "fd", target: t, source: ctx.stdio?.[t] ?? { stdio: t } });
  }
  for (const f of proc.fds) {
    const parent = ctx.fds[f.fd];
    if (parent === undefined) {
      throw new QemuJailError(
        "HELPER_FD_MISSING",
        `no open fd for ${proc.id}'s fd ${f.fd} (${f.source.kind})`,
        {
          exit: "jail",
          detail: { process: proc.id, fd: f.fd, need: f.need },
        },
      );
    }
    steps.push({ step: "fd", target: f.fd, source: { parent } });
  }
  for (const [name, value] of Object.entries(proc.env)) steps.push({ step: "env", name, value });
  steps.push({ step: "pdeathsig", signal: ctx.pdeathsig ?? SIGKILL });
  for (const dir of ctx.cgroupDirs) steps.push({ step: "cgroup", dir });

  if (typeof ns.net === "object") steps.push({ step: "netns", path: ns.net.join });
  const unshare: NamespaceName[] = [];
  if (ns.mount) unshare.push("mount");
  if (ns.pid) unshare.push("pid");
  if (ns.net === "new") unshare.push("net");
  if (ns.ipc) unshare.push("ipc");
  if (ns.uts) unshare.push("uts");
  if (ns.cgroup) unshare.push("cgroup");
  if (ns.user) unshare.push("user");
  steps.push({ step: "unshare", namespaces: unshare });
  if (ns.user) {
    for (const [inside, outside, count] of ns.user.uidMap)
      steps.push({ step: "uidmap", inside, outside, count });
    for (const [inside, outside, count] of ns.user.gidMap)
      steps.push({ step: "gidmap", inside, outside, count });
  }

  if (ns.mount) {
    steps.push({ step: "propagation", mode: "private" });
    // A "dir" entry for "/" is the root itself: it gives the root's mode.
    const top = proc.root.find((e) => e.kind === "dir" && e.path === "/");
    steps.push({
      step: "root",
      mountpoint: ctx.rootMountpoint,
      sizeBytes: ctx.rootSizeBytes ?? 1 << 20,
      mode: top?.kind === "dir" ? top.mode : 0o755,
    });
    // Parents before children; otherwise the plan's order.
    const entries = proc.root
      .filter((e) => e !== top)
      .map((e, i) => ({ e, i }))
      .sort((a, b) => depth(a.e.path) - depth(b.e.path) || a.i - b.i);
    for (const { e } of entries) steps.push(rootStep(proc, e));
    for (const d of proc.devices) {
      steps.push({
        step: "mknod",
        path: d.path,
        type: d.type,
        major: d.major,
        minor: d.minor,
        mode: d.mode,
        uid: d.uid,
        gid: d.gid,
      });
    }
  }

  if (proc.lsm.selinux) steps.push({ step: "selinux-exec", context: proc.lsm.selinux.processLabel });
  if (proc.lsm.apparmor) steps.push({ step: "apparmor-exec", profile: proc.lsm.apparmor.profileName });
  for (const r of proc.rlimits)
    steps.push({ step: "rlimit", resource: r.resource, soft: r.soft, hard: r.hard });
  if (ns.uts) steps.push({ step: "hostname", name: proc.hostname });
  steps.push({ step: "groups", gids: proc.groups });
  steps.push({ step: "ids", uid: proc.uid, gid: proc.gid });
  if (proc.capabilities.length) steps.push({ step: "caps", keep: proc.capabilities.map((c) => c.name) });
  steps.push({ step: "cwd", path: proc.cwd });

  const ll = proc.lsm.landlock;
  if (ll) {
    const scopes = ctx.landlockScopes ?? { signal: true, abstractUnix: true };
    steps.push({
      step: "landlock",
      required: ll.required,
      scopeSignal: scopes.signal,
      scopeAbstractUnix: scopes.abstractUnix,
    });
    for (const r of ll.rules) steps.push({ step: "landlock-path", path: r.path, access: r.access });
  }
  for (const p of ctx.seccomp) {
    steps.push(
      p instanceof Uint8Array ? { step: "seccomp", program: p } : { step: "seccomp", fd: { parent: p.fd } },
    );
  }
  steps.push({
    step: "exec",
    path: proc.exe,
    argv: proc.argv,
    ...(ctx.exeFd !== undefined ? { fd: { parent: ctx.exeFd } } : {}),
  });
  if (ctx.traceSigsys) steps.push({ step: "trace" });
  return steps;
}
