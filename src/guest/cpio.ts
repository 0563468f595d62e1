// A minimal writer for the "newc" cpio format the kernel unpacks as an initramfs
// (see the kernel's Documentation/driver-api/early-userspace/buffer-format.rst).
// Only what an initramfs needs: directories, regular files, symlinks and device nodes.

/** One member of an initramfs archive. Paths are relative ("bin/busybox"), without a leading slash. */
export type CpioEntry =
  | { type: "dir"; path: string; mode?: number }
  | { type: "file"; path: string; data: Uint8Array; mode?: number }
  | { type: "symlink"; path: string; target: string }
  | { type: "char"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function pad4(len: number): Buffer {
  return Buffer.alloc((4 - (len % 4)) % 4);
}

function header(
  ino: number,
  mode: number,
  nlink: number,
  size: number,
  rdev: [number, number],
  name: string,
): Buffer {
  const nameBytes = Buffer.from(`${name}\0`);
  const fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
  const head = Buffer.from(`070701${fields.map(hex8).join("")}`, "ascii");
  const both = Buffer.concat([head, nameBytes]);
  return Buffer.concat([both, pad4(both.length)]);
}

/** Serialise entries (in order; parents before children) into one newc archive, uncompressed. */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, "");
    if (name === "" || name.split("/").includes("..")) throw new Error(`bad cpio path: ${e.path}`);
    let mode: number;
    let data: Uint8Array = new Uint8Array(0);
    let rdev: [number, number] = [0, 0];
    let nlink = 1;
    switch (e.type) {
      case "dir":
        mode = S_IFDIR | (e.mode ?? 0o755);
        nlink = 2;
        break;
      case "file":
        mode = S_IFREG | (e.mode ?? 0o644);
        data = e.data;
        break;
      case "symlink":
        mode = S_IFLNK | 0o777;
        data = Buffer.from(e.target);
        break;
      case "char":
        mode = S_IFCHR | (e.mode ?? 0o600);
        rdev = [e.major, e.minor];
        break;
    }
    parts.push(header(ino++, mode, nlink, data.length, rdev, name), Buffer.from(data), pad4(data.length));
  }
  parts.push(header(0, 0, 1, 0, [0, 0], "TRAILER!!!"));
  return Buffer.concat(parts);
}
