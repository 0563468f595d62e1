// Facts about disk images: the format their header says (qcow2 magic or raw), the backing file a
// qcow2 header names, sizes, owner and mode. The planner refuses format mismatches with these.

import { open, realpath } from "node:fs/promises";
import { QemuJailError } from "../errors.js";
import type { ImageFacts } from "./types.js";

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"

/** What a qcow2/raw header says; pure, for tests. */
export function parseImageHeader(head: Buffer): {
  format: "raw" | "qcow2";
  backingOffset?: number;
  backingSize?: number;
  virtualSize?: number;
} {
  if (head.length < 32 || head.readUInt32BE(0) !== QCOW2_MAGIC) return { format: "raw" };
  const off = Number(head.readBigUInt64BE(8));
  const size = head.readUInt32BE(16);
  const virtualSize = Number(head.readBigUInt64BE(24));
  return off > 0 && size > 0
    ? { format: "qcow2", backingOffset: off, backingSize: size, virtualSize }
    : { format: "qcow2", virtualSize };
}

/** Probes one image. `key` names the config item for errors (e.g. "disk[0].path"). */
export async function probeImage(path: string, key?: string): Promise<ImageFacts> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new QemuJailError("HOST_IMAGE_UNREADABLE", `cannot open image ${path}: ${code}`, {
      exit: "config",
      location: key ? { key } : undefined,
      hint: code === "ENOENT" ? "create it (qemu-img create) or fix the path" : "check its permissions",
      cause: e,
      detail: { path },
    });
  }
  try {
    const st = await fh.stat();
    const id = await fh.stat({ bigint: true });
    if (!st.isFile() && !st.isBlockDevice()) {
      throw new QemuJailError(
        "HOST_IMAGE_NOT_FILE",
        `image ${path} is neither a regular file nor a block device`,
        {
          exit: "config",
          location: key ? { key } : undefined,
          hint: "give the path of the image file itself",
        },
      );
    }
    const head = Buffer.alloc(32);
    const { bytesRead } = await fh.read(head, 0, 32, 0);
    const h = parseImageHeader(head.subarray(0, bytesRead));
    const facts: ImageFacts = {
      path,
      detectedFormat: h.format,
      size: st.size,
      uid: st.uid,
      gid: st.gid,
      mode: st.mode & 0o7777,
      realPath: await realpath(path),
      identity: { dev: id.dev.toString(), ino: id.ino.toString(), type: st.isFile() ? "file" : "block" },
    };
    if (h.virtualSize !== undefined) facts.virtualSize = h.virtualSize;
    if (h.backingOffset !== undefined && h.backingSize !== undefined && h.backingSize <= 4096) {
      const b = Buffer.alloc(h.backingSize);
      const r = await fh.read(b, 0, h.backingSize, h.backingOffset);
      facts.backingFile = b.toString("utf8", 0, r.bytesRead);
    }
    return facts;
  } finally {
    await fh.close();
  }
}
