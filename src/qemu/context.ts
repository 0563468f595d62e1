// ArgvContext: how the planner tells `qemuArgv` that QEMU runs in a jail and gets some of its
// resources as pre-opened file descriptors instead of host paths. Without a context the argv
// uses plain host paths (for `qemu-jail argv` and bare QEMU).
//
// Every field is optional and plain data (JSON-serialisable, so plans stay printable). What each
// field turns into on QEMU's command line:
//
//   paths        host path → path inside QEMU's root, for files QEMU opens by name: the binary
//                (argv[0]), kernel, initrd, and any other path below that has no fd of its own.
//                Unmapped paths are used as they are.
//   fdsets       host path → fdset, for everything QEMU opens through qemu_open(): disk images and
//                each backing file, firmware code/vars images, the serial log file, the rng source.
//                Emits `-add-fd fd=N,set=S[,opaque=O]` (once per fd, before any use) and uses
//                `/dev/fdset/S` as the file name. Put an O_RDONLY fd in the set of a read-only
//                image and an O_RDWR fd for a writable one: QEMU picks by access mode.
//   qmp          { fd } a listening AF_UNIX socket the launcher bound:
//                `-chardev socket,id=qmp,fd=N,server=on,wait=off`; or { path } to override where it
//                listens. Default: config.qmp.path, else <runDir>/qmp.sock.
//   serial       { fd } a listening socket for serial mode "socket" (same form as qmp).
//   taps         nic id → { fd, vhostfd? }: `-netdev tap,id=ID,fd=N[,vhost=on,vhostfd=M]`.
//                Without vhostfd, vhost is off (QEMU would have to open /dev/vhost-net itself).
//   vhostUser    share id or vhost-user disk id → { fd } one end of a connected socketpair (the
//                backend gets the other end): `-chardev socket,id=ID.sock,fd=N` (QEMU is the
//                client); or { path } of a socket to connect to.
//                Default: <runDir>/<id>.virtiofs.sock or <runDir>/<id>.vhost-user-blk.sock.
//   vsock        { vhostfd } an open /dev/vhost-vsock: `-device vhost-vsock-pci,...,vhostfd=M`.
//   runDir       where default sockets and the firmware vars copy live as QEMU sees them.
//                Default: <jail.state_dir>/<vm.name>.
//   firmwareVars host path of the per-VM copy of boot.vars_template (the launcher makes it).
//                Default: <runDir>/vars.fd. Looked up in `fdsets`/`paths` like any other file.
//
// All fds must be integers >= 3 and are the numbers QEMU will see (the helper renumbers them).

/** One fd placed in an fdset. */
export interface FdsetFd {
  fd: number;
  /** Free text QEMU shows in query-fdsets; handy for audits ("disk0 rw"). */
  opaque?: string;
}

/** An fdset QEMU builds from inherited fds (`-add-fd`). */
export interface Fdset {
  set: number;
  fds: FdsetFd[];
}

/** Where a chardev socket comes from. */
export type SocketSource = { fd: number } | { path: string };

/** How the planner makes QEMU use pre-opened fds and in-jail paths. See the file comment. */
export interface ArgvContext {
  paths?: Record<string, string>;
  fdsets?: Record<string, Fdset>;
  qmp?: SocketSource;
  serial?: { fd: number };
  taps?: Record<string, { fd: number; vhostfd?: number }>;
  vhostUser?: Record<string, SocketSource>;
  vsock?: { vhostfd: number };
  runDir?: string;
  firmwareVars?: string;
}
