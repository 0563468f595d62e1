// HelperSpec: the typed, ordered list of steps the native helper executes. Plain data; the
// serializer turns it into the wire format. It holds no policy: whoever builds it decides.

import type { LandlockAccess, NamespaceName, RlimitName, StageName } from "./format.js";

/**
 * A file descriptor handed to the helper: `parent` is an fd open in this (Node) process,
 * `stdio` one of the helper's own stdio fds as given to spawnJailed.
 */
export type FdRef = { parent: number } | { stdio: 0 | 1 | 2 };

export type HelperStep =
  /** Keep `source` as fd `target` in the payload; every other fd is closed. */
  | { step: "fd"; target: number; source: FdRef }
  /** One variable of the payload's environment (which starts empty). */
  | { step: "env"; name: string; value: string }
  /** Signal the jailed process (and the helper) get when their parent dies. */
  | { step: "pdeathsig"; signal: number }
  /** A cgroup directory to join (cgroup.procs), one per v1 hierarchy and/or the v2 one. */
  | { step: "cgroup"; dir: string }
  /** Join an existing network namespace (path, e.g. /run/netns/x, or an fd). */
  | { step: "netns"; path: string }
  | { step: "netns"; fd: FdRef }
  | { step: "unshare"; namespaces: NamespaceName[] }
  | { step: "uidmap" | "gidmap"; inside: number; outside: number; count: number }
  | { step: "propagation"; mode: "private" | "slave" }
  /** The new root: a tmpfs mounted (in the new mount namespace only) over an existing dir. */
  | { step: "root"; mountpoint: string; sizeBytes: number; mode: number }
  | { step: "bind"; source: string; path: string; type: "file" | "dir"; rw: boolean; exec: boolean }
  | { step: "mkdir"; path: string; mode: number }
  | { step: "symlink"; path: string; target: string }
  | { step: "tmpfs"; path: string; mode: number; uid: number; gid: number; sizeBytes: number }
  | {
      step: "mknod";
      path: string;
      type: "c" | "b";
      major: number;
      minor: number;
      mode: number;
      uid: number;
      gid: number;
    }
  /** A private procfs; hidepid 0 (off), 1 (noaccess), 2 (invisible), 4 (ptraceable). */
  | { step: "proc"; path: string; hidepid: 0 | 1 | 2 | 4; subsetPid: boolean }
  | { step: "selinux-exec"; context: string }
  | { step: "apparmor-exec"; profile: string }
  | { step: "rlimit"; resource: RlimitName; soft: number | "unlimited"; hard: number | "unlimited" }
  | { step: "hostname"; name: string }
  | { step: "groups"; gids: number[] }
  | { step: "ids"; uid: number; gid: number }
  /** Capabilities kept (CAP_* names); without this step every set is emptied. */
  | { step: "caps"; keep: string[] }
  | { step: "cwd"; path: string }
  | { step: "landlock"; required: boolean; scopeSignal: boolean; scopeAbstractUnix: boolean }
  | { step: "landlock-path"; path: string; access: LandlockAccess[] }
  /** A classic BPF program (array of struct sock_filter): inline bytes or read from an fd. */
  | { step: "seccomp"; program: Uint8Array }
  | { step: "seccomp"; fd: FdRef }
  /** execve(path) or, with `fd`, execveat(fd, "", AT_EMPTY_PATH); `path` then only names it. */
  | { step: "exec"; path: string; argv: string[]; fd?: FdRef }
  /**
   * Supervise with ptrace: when a seccomp filter kills the payload, report the denied syscall's
   * number and arguments (a "sigsys" status line). Costs a stop per thread creation and signal.
   */
  | { step: "trace" }
  /** Test builds of the helper only: stop ("stop") or SIGKILL ("kill") itself after a stage. */
  | { step: "fail-after"; stage: StageName; mode: "kill" | "stop" };

export interface HelperSpec {
  steps: HelperStep[];
}
