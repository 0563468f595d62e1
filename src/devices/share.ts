// Shared directories: one virtiofsd per share, in its own jail (issue 6).
//
// Choice (why): virtiofsd runs as its own unprivileged host uid from the VM's id block, in a
// private root holding only its binary, libraries, a private /proc and the shared dir at
// /shared (read-only bind for a read-only share, so the kernel enforces it: C virtiofsd 7.2 has
// no read-only option). It sandboxes itself with `sandbox=chroot` (its namespace mode fails with
// pivot_root EBUSY inside our jail, measured), so it keeps CAP_SYS_CHROOT. To serve files as their
// guest owners a read-write share also keeps CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETUID, SETGID
// (all confined to /shared by the root and the chroot); MKNOD and SETFCAP are dropped with
// `modcaps`, so a guest can neither create device nodes nor file capabilities on the host. A
// read-only share keeps only DAC_READ_SEARCH besides SYS_CHROOT. CAP_SETPCAP is kept because
// virtiofsd applies its capability set with libcap-ng, which drops the bounding set
// (PR_CAPBSET_DROP needs SETPCAP); without it virtiofsd dies under its own seccomp filter right
// after the first connection (measured on this host: as uid 600001 with exactly these ambient
// caps it chroots, installs its filter and ends with effective caps 0x4 (ro) / 0xdb (rw), bounding
// set empty: it drops SYS_CHROOT and SETPCAP itself). virtiofsd needs /proc/self/fd to reopen its
// O_PATH handles: the only process with a /proc (new pid ns: its own pids only). The vhost-user
// socket is a listening socket the launcher made (`--fd`); QEMU gets a connected end.
//
// Residual risk (shown by test/e2e/backends/probe.test.ts): with CAP_SETUID the rw share's
// virtiofsd can take host uid 0 (lo_change_cred does setresuid(-1, guest uid, -1), and guest root
// is uid 0), so a guest creates root-owned files in the share; its jail holds only /shared, so
// nothing else is reachable as root.
// Blocked (finding F5, policies/virtiofsd-rw.json; test/e2e/backends/backends.test.ts): minting
// setuid/setgid files on the host. The jail's nosuid bind protects only virtiofsd's own view, so
// the rw filter answers EPERM to every guest-chosen mode with S_ISUID, and with S_ISGID except on
// mkdirat: fchmod, fchmodat (FUSE SETATTR), openat with O_CREAT (CREATE, MKNOD of a regular
// file), mknodat; mkdirat refuses only S_ISUID. File capabilities cannot be set either: xattrs are
// off (no `-o xattr` below) and CAP_SETFCAP is dropped. Cost: `chmod g+s` on a directory is
// refused too (the filter cannot tell a directory from a file); setgid directories still arise by
// inheritance from a setgid parent.
// Remaining: a guest can still create world-writable files, and files and directories owned by
// any uid/gid (guest root chooses, host ids are taken as given), e.g. a root-owned 0777 file a
// host user may later trust; it can rewrite the contents of a setuid file that already exists
// in the share and keep its bits (virtiofsd writes with CAP_FSETID unless the guest's request
// asks it to drop it, FUSE_WRITE_KILL_SUIDGID: the guest decides). The complete fix is an idmapped mount of the share (or guest
// ids mapped onto the VM's unprivileged id block in a user namespace), so guest root is never
// host root; the helper cannot yet build a root from inside a user namespace (measured:
// move_mount of the root into the 0750 state dir fails EACCES; no mknod there).

import type { ShareConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";
import type { BackendBinaryFacts } from "../host/types.js";
import type { RootEntry } from "../plan/types.js";
import { elfEntries } from "./elf.js";
import type { CapabilityUse, CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need } from "./util.js";
import { BACKEND_LIMITS, vhostUserFrontend } from "./vhost-user.js";

/** In-jail path of the shared directory. */
export const SHARE_PATH = "/shared";
/** RLIMIT_NOFILE for virtiofsd: it holds an O_PATH fd per inode the guest has looked up. */
export const VIRTIOFSD_NOFILE = 1048576;

/** Process id of the virtiofsd serving share `id`. */
export function virtiofsdId(id: string): string {
  return `virtiofsd-${id}`;
}

const RW_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID"];

/** Capabilities the share's virtiofsd keeps (ambient), each with its reason. */
export function virtiofsdCaps(s: ShareConfig, item: string): CapabilityUse[] {
  const caps: CapabilityUse[] = [
    { name: "CAP_SYS_CHROOT", need: need(item, "virtiofsd sandbox=chroot: chroot(2) into /shared") },
    {
      name: "CAP_SETPCAP",
      need: need(item, "virtiofsd's libcap-ng drops the bounding set when it sheds its capabilities"),
    },
  ];
  if (s.readonly) {
    caps.push({
      name: "CAP_DAC_READ_SEARCH",
      need: need(item, "read files of any guest owner (read-only share)"),
    });
  } else {
    for (const c of RW_CAPS)
      caps.push({ name: c, need: need(item, "serve and create files as their guest owners") });
  }
  return caps;
}

/** virtiofsd's arguments for the installed flavour. */
export function virtiofsdArgs(s: ShareConfig, vfs: BackendBinaryFacts, fd: number): string[] {
  const caps = s.readonly
    ? "+dac_read_search:-chown:-dac_override:-fowner:-fsetid:-setgid:-setuid:-mknod:-setfcap"
    : "-mknod:-setfcap";
  if (vfs.flavour === "rust") {
    const a = [vfs.path, `--fd=${fd}`, `--shared-dir=${SHARE_PATH}`, "--sandbox=chroot", "--rlimit-nofile=0"];
    a.push(`--modcaps=${caps}`);
    if (s.readonly) a.push("--readonly");
    return a;
  }
  // C virtiofsd (QEMU 7.2): --rlimit-nofile=0 keeps the limit the jail set (it cannot read /proc/sys).
  return [
    vfs.path,
    `--fd=${fd}`,
    "-o",
    `source=${SHARE_PATH}`,
    "-o",
    "sandbox=chroot",
    "-o",
    `modcaps=${caps}`,
    "-o",
    "cache=auto",
    "--rlimit-nofile=0",
  ];
}

/**
 * virtiofsd's /proc: a private procfs limited to its own pids (subset=pid) at /proc/pid, reached
 * as /proc/self, plus the one sysctl it reads: C virtiofsd 7.2 exits at start-up unless it can
 * read /proc/sys/fs/file-max (even with --rlimit-nofile=0). That file is a read-only bind of the
 * host's; no other /proc/sys entry exists in the jail, and none is writable.
 */
function procEntries(item: string): RootEntry[] {
  const why = need(item, "virtiofsd reopens its O_PATH handles through /proc/self/fd");
  const sys = need(item, "C virtiofsd reads /proc/sys/fs/file-max at start-up (exits without it)");
  return [
    { kind: "dir", path: "/proc", mode: 0o555, need: why },
    { kind: "proc", path: "/proc/pid", need: why },
    { kind: "symlink", path: "/proc/self", target: "pid/self", need: why },
    { kind: "dir", path: "/proc/sys", mode: 0o555, need: sys },
    { kind: "dir", path: "/proc/sys/fs", mode: 0o555, need: sys },
    { kind: "bind", path: FILE_MAX, source: FILE_MAX, type: "file", rw: false, need: sys },
  ];
}

const FILE_MAX = "/proc/sys/fs/file-max";

function one(ctx: CatalogueContext, s: ShareConfig, item: string): Contribution[] {
  const vfs = ctx.host.virtiofsd;
  if (!vfs) {
    throw new QemuJailError("HOST_NO_VIRTIOFSD", "virtiofsd is not installed", {
      exit: "host",
      location: { key: item },
      hint: "install qemu-system-common (Debian 12 ships /usr/lib/qemu/virtiofsd) or the virtiofsd package",
    });
  }
  const id = virtiofsdId(s.id);
  const sock = `${ctx.stateDir}/${s.id}.virtiofs.sock`;
  const bin = need(item, `virtiofsd serves share "${s.tag}"`);
  // As high as the launcher can set it (without CAP_SYS_RESOURCE: its own hard limit).
  const nofile = Math.min(VIRTIOFSD_NOFILE, ctx.host.nofileMax ?? VIRTIOFSD_NOFILE);
  const backend: Contribution = {
    item,
    target: id,
    root: [
      { kind: "bind", path: vfs.path, source: vfs.path, type: "file", rw: false, need: bin },
      ...elfEntries(vfs.elf, item),
      {
        kind: "bind",
        path: SHARE_PATH,
        source: s.path,
        type: "dir",
        rw: !s.readonly,
        need: need(item, `the shared directory (${s.readonly ? "read-only" : "read-write"})`),
      },
      ...procEntries(item),
    ],
    fds: [
      {
        key: "vhost-user",
        // C virtiofsd accept()s once, blocking, and exits on EAGAIN (measured).
        source: { kind: "listen-unix", path: sock, blocking: true },
        need: need(item, "listening vhost-user socket made by the launcher (no path in either jail)"),
      },
    ],
    fragments: [
      // virtiofsd-rw / virtiofsd-ro: the FUSE operations of the share's mode (each includes virtiofsd).
      { fragment: s.readonly ? "virtiofsd-ro" : "virtiofsd-rw", need: bin },
      { fragment: "exec", need: need(item, "the filter is loaded before execve") },
    ],
    capabilities: virtiofsdCaps(s, item),
    rlimits: [
      {
        resource: "NOFILE",
        soft: nofile,
        hard: nofile,
        need: need(item, "an O_PATH fd per guest-visible inode"),
      },
      { resource: "CORE", soft: 0, hard: 0, need: need(item, "no core dumps of shared data") },
      ...(s.readonly
        ? []
        : [
            {
              resource: "FSIZE" as const,
              soft: "unlimited" as const,
              hard: "unlimited" as const,
              need: need(item, "the guest writes files in the share"),
            },
          ]),
    ],
    devices: [{ path: "/dev/null", access: "rw", need: need(item, "glib and virtiofsd open /dev/null") }],
    backend: {
      id,
      role: "virtiofsd",
      item,
      exe: vfs.path,
      args: (fds) => virtiofsdArgs(s, vfs, fds.fd["vhost-user"]!),
      limits: BACKEND_LIMITS,
    },
  };
  const frontend = vhostUserFrontend(item, s.id, id, sock, {
    socket: "virtiofsd's vhost-user socket",
    frontend: "vhost-user-fs frontend",
  });
  return [backend, frontend];
}

function contribute(ctx: CatalogueContext): Contribution[] {
  return ctx.config.share.flatMap((s, i) => one(ctx, s, `share[${i}]`));
}

/** Shared directories (virtiofs through a jailed virtiofsd each). */
export const shareKind: DeviceKind = { kind: "share", contribute };
