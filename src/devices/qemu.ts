// The QEMU process itself: its binary at its host path (argv[0] absolute, since without /proc
// QEMU finds itself through argv[0]), the ELF interpreter and every library it loads, the two
// device nodes a start-up opens, scratch space owned by the VM's uid, base rlimits and fragments.

import type { RootEntry } from "../plan/types.js";
import { elfEntries } from "./elf.js";
import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need, roFile } from "./util.js";

/** Small scratch tmpfs sizes; they are charged to the VM's memory cgroup. */
const TMP_BYTES = 16 * 1024 * 1024;
const RUN_BYTES = 1024 * 1024;
/** RLIMIT_NOFILE for QEMU: fds for images, taps, vhost queues, QMP clients, with headroom. */
export const QEMU_NOFILE = 4096;

function contribute(ctx: CatalogueContext): Contribution[] {
  const { host } = ctx;
  const uid = ctx.ids.uid[0]!;
  const gid = ctx.ids.gid[0]!;
  const bin = need("qemu.binary", "the QEMU binary this VM runs");
  const root: RootEntry[] = [
    roFile(host.qemu.path, host.qemu.path, bin),
    ...elfEntries(host.qemu.elf, "qemu.binary"),
  ];
  root.push(
    {
      kind: "tmpfs",
      path: "/tmp",
      mode: 0o700,
      sizeBytes: TMP_BYTES,
      uid,
      gid,
      need: need("qemu", "glib and QEMU create temporary files; private to this VM's uid"),
    },
    {
      kind: "tmpfs",
      path: "/run/qemu",
      mode: 0o700,
      sizeBytes: RUN_BYTES,
      uid,
      gid,
      need: need("qemu", "a small dir QEMU can write as the VM's uid (the root itself is read-only)"),
    },
  );
  return [
    {
      item: "qemu",
      target: "qemu",
      root,
      devices: [
        { path: "/dev/null", access: "rw", need: need("qemu", "QEMU start-up opens /dev/null (measured)") },
        {
          path: "/dev/urandom",
          access: "r",
          need: need("qemu", "glib and QEMU's crypto init read /dev/urandom (measured)"),
        },
      ],
      fragments: [
        { fragment: "base", need: need("qemu", "QEMU main loop, threads, memory, signals") },
        {
          fragment: "exec",
          need: need(
            "qemu",
            "the filter is loaded before execve: the exec and the dynamic loader run under it",
          ),
        },
      ],
      rlimits: [
        {
          resource: "NOFILE",
          soft: QEMU_NOFILE,
          hard: QEMU_NOFILE,
          need: need("qemu", "images, taps, vhost queues and QMP clients, with headroom"),
        },
        {
          resource: "CORE",
          soft: 0,
          hard: 0,
          need: need("qemu", "a core dump would write guest memory to disk"),
        },
        {
          resource: "MEMLOCK",
          soft: 8 * 1024 * 1024,
          hard: 8 * 1024 * 1024,
          need: need("qemu", "kernel default; no configured device locks guest memory"),
        },
      ],
    },
  ];
}

/** The QEMU process (binary, libraries, base devices, scratch, base rlimits). */
export const qemuKind: DeviceKind = { kind: "qemu", contribute };
