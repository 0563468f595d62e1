// Opens what a process gets as file descriptors, before it is jailed: images, listening sockets,
// connected ends of another process's socket, device nodes, stdio. The jailed process then needs
// no path to any of them.
//
// Listening unix sockets are made with a net.Server. Two details make that safe:
// - libuv unlinks a server's socket path when the server closes, so the server binds a temporary
//   name and the socket is renamed to its final path: closing our copy later unlinks nothing;
// - Node accepts connections on a listening server only when its event loop runs, so a listening
//   socket is opened, handed to the child and closed again without an await in between
//   (`openFds` is synchronous for everything but `socket-of`, which connects to an already
//   handed-over socket).

import { spawnSync } from "node:child_process";
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { QemuJailError } from "../errors.js";
import type { FdSource, PassedFd, ProcessPlan } from "../plan/types.js";
import { attachTap } from "./net.js";
import { systemTool } from "./tools.js";

/** A file descriptor opened in the launcher, and how to let go of it once the child has its copy. */
export interface OpenedFd {
  /** The fd number in the jailed process. */
  target: number;
  /** The launcher's fd. */
  fd: number;
  close(): void;
  /** Host paths this fd created (sockets), for the record and cleanup. */
  created: string[];
}

/** Endpoint key of a process's listening socket, as `socket-of` names it. */
export interface ListenEndpoint {
  process: string;
  fd: PassedFd;
  path: string;
}

/** Handle's fd of a net.Server or net.Socket (Node exposes it on Unix). */
function handleFd(h: net.Server | net.Socket): number {
  const fd = (h as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new Error("no fd on the socket handle");
  return fd;
}

/** Creates a listening unix socket at `path` (which must not exist) and returns its fd. */
export function listenUnix(path: string, backlog = 16): OpenedFd & { server: net.Server } {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.sock`);
  const server = net.createServer();
  // listen() on a path binds and listens synchronously; only the "listening" event is deferred.
  server.listen({ path: tmp, backlog });
  const fd = handleFd(server);
  try {
    renameSync(tmp, path);
  } catch (e) {
    server.close();
    throw e;
  }
  return { target: -1, fd, server, created: [path], close: () => server.close() };
}

/**
 * Clears O_NONBLOCK on sockets the launcher made (libuv makes every socket non-blocking), so a
 * jailed process gets them as socket activation hands them over: blocking, like a fresh
 * socket(2). The C virtiofsd's accept() fails with EAGAIN otherwise. Node has no fcntl; the flag
 * lives on the open file description, shared with a short-lived perl that clears it.
 */
export function setBlocking(fds: number[]): void {
  if (fds.length === 0) return;
  const script =
    "use Fcntl; for my $n (3 .. 2 + $ARGV[0]) { open(my $fh, '+<&=', $n) or die \"fd $n: $!\\n\"; " +
    'my $f = fcntl($fh, F_GETFL, 0) or die "F_GETFL: $!\\n"; fcntl($fh, F_SETFL, $f & ~O_NONBLOCK) or die "F_SETFL: $!\\n"; }';
  const r = spawnSync(systemTool("perl"), ["-e", script, String(fds.length)], {
    stdio: ["ignore", "ignore", "pipe", ...fds],
    encoding: "utf8",
  });
  if (r.status !== 0) {
    throw new QemuJailError(
      "FD_BLOCKING",
      `cannot make sockets blocking: ${(r.stderr || r.error?.message || "").trim()}`,
      {
        exit: "jail",
      },
    );
  }
}

/** Connects to the unix socket at `path` without ever reading from it; resolves to its fd. */
export function connectUnix(path: string): Promise<OpenedFd> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path });
    // Paused before the connection completes, so Node never starts reading: the bytes belong
    // to the process that gets this fd.
    socket.pause();
    socket.once("error", (e: NodeJS.ErrnoException) =>
      reject(
        new QemuJailError("FD_CONNECT", `cannot connect to ${path}: ${e.code ?? e.message}`, {
          exit: "jail",
          hint: "the backend that listens there has exited; see its messages above",
          cause: e,
        }),
      ),
    );
    socket.once("connect", () => {
      socket.removeAllListeners("error");
      socket.on("error", () => undefined);
      resolve({ target: -1, fd: handleFd(socket), created: [], close: () => socket.destroy() });
    });
  });
}

function openFile(path: string, flags: number, need: PassedFd["need"], mode?: number): number {
  try {
    return openSync(path, flags, mode);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new QemuJailError("FD_OPEN", `failed to open ${path}: ${err.code ?? err.message}`, {
      exit: "jail",
      location: { key: need.item },
      cause: e,
    });
  }
}

/**
 * Opens a file the jail gets as an fd. The launcher runs as root, and these paths come from the
 * config, so a path swapped after checking must not hand the guest some other host file:
 * - with an `identity` (images: what the host probe saw), the opened fd must be that very file
 *   (st_dev, st_ino, type), whatever happened to the path or its parent dirs since;
 * - without one (the serial log, the OVMF vars copy), the last component is not followed
 *   (O_NOFOLLOW) and only a regular file is accepted; a log created here is private (0600).
 */
function openChecked(s: Extract<FdSource, { kind: "file" }>, need: PassedFd["need"]): number {
  let flags = (s.write ? constants.O_RDWR : constants.O_RDONLY) | constants.O_NOCTTY;
  if (s.append) flags = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOCTTY;
  if (!s.identity) flags |= constants.O_NOFOLLOW;
  const fd = openFile(s.path, flags, need, 0o600);
  const st = fstatSync(fd, { bigint: true });
  const type = st.isFile() ? "file" : st.isBlockDevice() ? "block" : "other";
  const want = s.identity ?? { type: "file" as const };
  const same =
    type === want.type &&
    (!s.identity || (st.dev.toString() === s.identity.dev && st.ino.toString() === s.identity.ino));
  if (!same) {
    closeSync(fd);
    throw new QemuJailError(
      "FD_FILE_CHANGED",
      s.identity
        ? `refusing ${s.path}: it is no longer the file that was checked (replaced since the host probe)`
        : `refusing ${s.path}: not a regular file`,
      {
        exit: "jail",
        location: { key: need.item },
        hint: "something replaced or redirected the path while the VM was being set up; check who can write its directory",
      },
    );
  }
  return fd;
}

/** Copies `from` (not followed if a symlink) to a new private file `to` (never over an existing one). */
function copyNoFollow(from: string, to: string, need: PassedFd["need"]): void {
  const src = openChecked({ kind: "file", path: from, write: false }, need);
  try {
    const data = readFileSync(src);
    const dst = openFile(
      to,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      need,
      0o600,
    );
    try {
      writeFileSync(dst, data);
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
}

/**
 * Opens every fd of `proc` except `socket-of` (see `connectSocketsOf`). Synchronous on purpose
 * (see the header). On failure, closes what it opened and throws.
 */
export function openFds(proc: ProcessPlan, taps: Map<string, number> = new Map()): OpenedFd[] {
  const opened: OpenedFd[] = [];
  try {
    for (const p of proc.fds) {
      const s = p.source;
      switch (s.kind) {
        case "file": {
          const created = s.copyOf ? [s.path] : [];
          if (s.copyOf) copyNoFollow(s.copyOf, s.path, p.need);
          let fd: number;
          try {
            fd = openChecked(s, p.need);
          } catch (e) {
            if (s.copyOf) rmSync(s.path, { force: true }); // the copy made just above
            throw e;
          }
          opened.push({ target: p.fd, fd, created, close: () => closeSync(fd) });
          break;
        }
        case "listen-unix": {
          const l = listenUnix(s.path);
          opened.push({ ...l, target: p.fd });
          break;
        }
        case "vhost-net":
        case "device": {
          const path = s.kind === "device" ? s.path : "/dev/vhost-net";
          const fd = openFile(path, constants.O_RDWR, p.need);
          opened.push({ target: p.fd, fd, created: [], close: () => closeSync(fd) });
          break;
        }
        case "stdio":
          opened.push({
            target: p.fd,
            fd: s.stream === "stdin" ? 0 : 1,
            created: [],
            close: () => undefined,
          });
          break;
        case "tap": {
          // Created by this launch: attached when it was created (see net.ts). An existing tap
          // is attached now; that works only in the launcher's own netns.
          const made = taps.get(s.name);
          if (made !== undefined) {
            opened.push({ target: p.fd, fd: made, created: [], close: () => undefined });
          } else if (s.netns) {
            throw new QemuJailError(
              "TAP_NETNS_EXISTING",
              `cannot attach to existing tap ${s.name} in netns ${s.netns}`,
              {
                exit: "jail",
                location: { key: p.need.item },
                hint: "let qemu-jail create the tap (create = true), or use a tap in the host's netns",
              },
            );
          } else {
            const fd = attachTap(s.name);
            opened.push({ target: p.fd, fd, created: [], close: () => closeSync(fd) });
          }
          break;
        }
        case "socket-of":
          break;
      }
    }
  } catch (e) {
    closeAll(opened, true);
    throw e;
  }
  return opened;
}

/** Connects every `socket-of` fd of `proc` to the listening sockets made for other processes. */
export async function connectSocketsOf(proc: ProcessPlan, endpoints: ListenEndpoint[]): Promise<OpenedFd[]> {
  const opened: OpenedFd[] = [];
  try {
    for (const p of proc.fds) {
      if (p.source.kind !== "socket-of") continue;
      const { process: other, endpoint } = p.source;
      const ep = endpoints.find(
        (e) =>
          e.process === other &&
          (e.path === endpoint ||
            String(e.fd.fd) === endpoint ||
            e.fd.need.item === endpoint ||
            e.path.endsWith(`/${endpoint}`)),
      );
      if (!ep) {
        throw new QemuJailError("FD_NO_ENDPOINT", `${proc.id}: no listening socket ${endpoint} of ${other}`, {
          exit: "jail",
          location: { key: p.need.item },
        });
      }
      const c = await connectUnix(ep.path);
      opened.push({ ...c, target: p.fd });
    }
  } catch (e) {
    closeAll(opened, true);
    throw e;
  }
  return opened;
}

/** Closes the launcher's copies; with `removeCreated`, also removes sockets/files they created. */
export function closeAll(opened: OpenedFd[], removeCreated = false): void {
  for (const o of opened) {
    try {
      o.close();
    } catch {}
    if (removeCreated) for (const p of o.created) rmSync(p, { force: true });
  }
}
