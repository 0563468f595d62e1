// The zod schema of vm.toml as people write it (the "input" side): strict objects so typos are
// caught, sizes with units, safe names and paths. `normalize.ts` turns a parsed value into the
// VmConfig contract (defaults that depend on other keys, absolute paths, derived ids).
// The JSON Schema (`qemu-jail schema`) and the README reference are generated from this file.

import * as z from "zod";
import { parseSize } from "./size.js";

/** A hint travels with a custom issue in `params.hint`; see errors.ts. */
function custom(ctx: z.core.$RefinementCtx, code: string, message: string, hint?: string): void {
  ctx.addIssue({ code: "custom", message, params: hint ? { code, hint } : { code } });
}

/** ^[a-z0-9][a-z0-9_.-]{0,62}$ and not "." / "..": usable as a path component and a cgroup name. */
export const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

/** QEMU ids / node names: ids become `-device id=`, `-netdev id=` and node names such as "<id>.b12.file", which QEMU caps at 31 characters. */
export const ID_RE = /^[A-Za-z][A-Za-z0-9_-]{0,19}$/;

/** Ids qemu-jail uses itself for machine-wide objects (the memory backend, QMP, serial...). */
export const RESERVED_IDS = ["mem", "qmp", "serial0", "rng0", "vsock0", "scsi0", "fw"];

const name = z.string().superRefine((v, ctx) => {
  if (!NAME_RE.test(v) || v === "." || v === "..") {
    const lower = v
      .toLowerCase()
      .replace(/[^a-z0-9_.-]/g, "-")
      .replace(/^[^a-z0-9]+/, "");
    custom(
      ctx,
      "CONFIG_BAD_NAME",
      `expected a safe name (lowercase letters, digits, "_", ".", "-"; at most 63; starting with a letter or digit), got ${JSON.stringify(v)}`,
      `it becomes a path component and a cgroup name${lower && NAME_RE.test(lower) ? `; try "${lower.slice(0, 63)}"` : ""}`,
    );
  }
});

const id = z
  .string()
  .describe(
    "Identifier: a letter, then letters, digits, '_' or '-' (at most 20). Unique across disk, nic and share.",
  )
  .superRefine((v, ctx) => {
    if (!ID_RE.test(v)) {
      custom(
        ctx,
        "CONFIG_BAD_ID",
        `expected an id (a letter, then letters, digits, "_" or "-", at most 20), got ${JSON.stringify(v)}`,
        "ids become QEMU device ids and block node names",
      );
    } else if (RESERVED_IDS.includes(v)) {
      custom(
        ctx,
        "CONFIG_BAD_ID",
        `the id ${JSON.stringify(v)} is reserved by qemu-jail`,
        `pick another id (reserved: ${RESERVED_IDS.join(", ")})`,
      );
    }
  });

/** A host path: no NUL, no ".." component. Relative paths resolve against the config's directory. */
const path = z
  .string()
  .describe("Host path; relative paths resolve against the directory of the vm.toml. No '..' components.")
  .superRefine((v, ctx) => {
    if (v.length === 0) custom(ctx, "CONFIG_BAD_PATH", "expected a path, got an empty string");
    else if (v.includes("\0"))
      custom(ctx, "CONFIG_BAD_PATH", "path contains a NUL byte", "remove the \\0 from the path");
    else if (v.split("/").includes(".."))
      custom(
        ctx,
        "CONFIG_BAD_PATH",
        `path ${JSON.stringify(v)} has a ".." component`,
        'write the path without ".." (absolute, or below the config\'s directory)',
      );
  });

/** A size: integer bytes or a string with a binary unit. */
function size(min: number, max: number, description: string) {
  return z
    .union([z.int(), z.string()])
    .describe(`${description} Integer bytes or a string with a binary unit: "512M", "4G", "1GiB".`)
    .transform((v, ctx) => {
      const n = parseSize(v);
      if (typeof n !== "number") {
        custom(ctx, "CONFIG_BAD_SIZE", n.error, n.hint);
        return z.NEVER;
      }
      if (n < min || n > max) {
        custom(
          ctx,
          "CONFIG_OUT_OF_RANGE",
          `expected a size between ${min} and ${max} bytes, got ${n}`,
          `sizes are binary: "512M" is ${512 * 1024 * 1024}`,
        );
        return z.NEVER;
      }
      return n;
    });
}

const MiB = 1024 * 1024;

export const vmSchema = z
  .strictObject({
    name: name.describe("VM name: a safe path component and cgroup name (^[a-z0-9][a-z0-9_.-]{0,62}$)."),
    uuid: z.uuid().optional().describe("SMBIOS UUID. Default: a UUIDv5 of the name (stable across runs)."),
    arch: z.enum(["x86_64", "aarch64"]).default("x86_64").describe("Guest architecture."),
    machine: z
      .enum(["q35", "pc", "microvm", "virt"])
      .optional()
      .describe('Machine type. Default: "q35" on x86_64, "virt" on aarch64.'),
    accel: z
      .enum(["kvm", "tcg", "auto"])
      .default("auto")
      .describe('Accelerator; "auto" uses KVM when the host has /dev/kvm.'),
    cpus: z.int().min(1).max(255).default(1).describe("Number of vCPUs."),
    memory: size(16 * MiB, 1024 ** 4, 'Guest RAM (a multiple of 1M); default "512M".').default(512 * MiB),
    cpu_model: z
      .string()
      .regex(/^[A-Za-z0-9_.+-]+$/, 'expected a CPU model name such as "max" or "host" (no commas)')
      .optional()
      .describe('-cpu model. Default: "host" with accel = "kvm", otherwise "max".'),
  })
  .describe("The guest machine.");

export const bootSchema = z
  .strictObject({
    mode: z
      .enum(["kernel", "firmware"])
      .optional()
      .describe(
        '"kernel" (direct kernel boot) or "firmware" (UEFI/BIOS image). Default: from the keys given.',
      ),
    kernel: path.optional().describe("Kernel image for direct kernel boot."),
    initrd: path.optional().describe("Initial ramdisk."),
    cmdline: z
      .string()
      .optional()
      .describe('Kernel command line. Default: "console=ttyS0" (x86_64) / "console=ttyAMA0" (aarch64).'),
    code: path.optional().describe("Firmware code image (e.g. OVMF_CODE.fd), mapped read-only as pflash0."),
    vars_template: path
      .optional()
      .describe(
        "Firmware variable store template (e.g. OVMF_VARS.fd); the launcher copies it per VM (pflash1).",
      ),
  })
  .describe("How the guest boots: set `kernel` (direct kernel boot) or `code` (firmware).");

const format = z.enum(["raw", "qcow2"]);

export const backingSchema = z.strictObject({
  path: path.describe("Backing image."),
  format: format.default("qcow2").describe("Backing image format."),
});

export const diskSchema = z
  .strictObject({
    id,
    path: path.describe("Image file."),
    format: format
      .default("raw")
      .describe("Image format; checked against the image header when the config is loaded."),
    readonly: z.boolean().default(false).describe("Attach read-only."),
    bus: z
      .enum(["virtio-blk", "nvme", "virtio-scsi"])
      .default("virtio-blk")
      .describe("Guest-visible controller."),
    cache: z
      .enum(["none", "writeback", "writethrough", "directsync", "unsafe"])
      .default("writeback")
      .describe('Host cache mode ("none" and "directsync" use O_DIRECT).'),
    aio: z
      .enum(["threads", "native", "io_uring"])
      .default("threads")
      .describe(
        'Host I/O engine; "native" needs cache "none" or "directsync"; "io_uring" is flagged in audits.',
      ),
    discard: z.boolean().default(false).describe("Pass guest discards (TRIM/UNMAP) to the image."),
    serial: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,20}$/, "expected a serial of 1 to 20 letters, digits, '_', '.', '-'")
      .optional()
      .describe("Serial number the guest sees."),
    boot_index: z
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe("Boot order (firmware boot only; lower boots first)."),
    backing: z
      .array(backingSchema)
      .max(16)
      .default([])
      .describe("qcow2 backing chain, nearest first; each becomes an explicit read-only -blockdev node."),
    backend: z
      .enum(["qemu", "vhost-user"])
      .default("qemu")
      .describe(
        '"qemu": QEMU opens the image; "vhost-user": a jailed qemu-storage-daemon serves it (vhost-user-blk).',
      ),
  })
  .describe("A disk (array of tables: [[disk]]).");

export const forwardSchema = z.strictObject({
  proto: z.enum(["tcp", "udp"]).default("tcp"),
  host_addr: z.ipv4().default("127.0.0.1").describe("Host address to listen on."),
  host_port: z.int().min(1).max(65535),
  guest_port: z.int().min(1).max(65535),
});

const ifname = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,15}$/, "expected an interface name (1 to 15 of letters, digits, '_', '.', '-')");

export const nicSchema = z
  .strictObject({
    id,
    mode: z
      .enum(["user", "tap"])
      .default("user")
      .describe('"user": user-mode networking (slirp); "tap": a host tap device.'),
    mac: z
      .string()
      .regex(/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/, "expected a MAC address such as 52:54:00:12:34:56")
      .optional()
      .describe(
        "MAC address. Default: stable per VM, derived from the VM's uuid and the nic id (52:54:00 prefix).",
      ),
    model: z.enum(["virtio-net-pci"]).default("virtio-net-pci"),
    forward: z
      .array(forwardSchema)
      .default([])
      .describe("user mode: host port forwards, e.g. [{ host_port = 2222, guest_port = 22 }]."),
    tap: ifname.optional().describe("tap mode: interface name."),
    create: z
      .boolean()
      .default(false)
      .describe("tap mode: the launcher creates the tap (and removes it after)."),
    netns: name.optional().describe("tap mode: network namespace (under /run/netns) holding the tap."),
    bridge: ifname.optional().describe("tap mode: bridge to enslave a created tap to."),
    vhost: z.boolean().default(true).describe("tap mode: use /dev/vhost-net when the host has it."),
  })
  .describe("A network interface (array of tables: [[nic]]).");

export const shareSchema = z
  .strictObject({
    id,
    path: path.describe("Host directory to share."),
    tag: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,36}$/, "expected a mount tag of 1 to 36 letters, digits, '_', '.', '-'")
      .optional()
      .describe("Tag the guest mounts (mount -t virtiofs TAG /mnt). Default: the id."),
    readonly: z.boolean().default(false),
  })
  .describe("A directory shared with virtiofs through a jailed virtiofsd (array of tables: [[share]]).");

export const serialSchema = z
  .strictObject({
    mode: z
      .enum(["file", "socket", "stdio", "none"])
      .default("stdio")
      .describe("Where the first serial port goes."),
    path: path.optional().describe("file/socket mode: the log file or the unix socket."),
  })
  .describe("The serial console.");

export const qmpSchema = z
  .strictObject({
    path: path.optional().describe("QMP unix socket. Default: <state_dir>/<name>/qmp.sock."),
  })
  .describe("The QMP control socket (always present: the launcher supervises through it).");

export const rngSchema = z
  .union([
    z.boolean(),
    z.strictObject({ source: z.enum(["/dev/urandom", "/dev/random"]).default("/dev/urandom") }),
  ])
  .default(true)
  .describe('virtio-rng: true (default), false, or { source = "/dev/urandom" }.');

export const vsockSchema = z
  .union([
    z.literal(false),
    z.strictObject({ cid: z.int().min(3).max(0xfffffffe).describe("Guest CID (>= 3).") }),
  ])
  .default(false)
  .describe("vhost-vsock: false (default) or { cid = N }.");

const hostId = z.union([z.int().min(1).max(0xfffffffe), z.literal("auto")]);

export const cgroupSchema = z
  .strictObject({
    parent: z
      .string()
      .regex(/^[A-Za-z0-9_.@:/-]+$/, "expected a cgroup path")
      .refine((v) => !v.split("/").includes(".."), { error: 'cgroup path has a ".." component' })
      .optional()
      .describe("Parent cgroup. Default: the launcher's own cgroup."),
    cpu_weight: z.int().min(1).max(10000).optional().describe("cpu.weight (1..10000)."),
    cpu_max: z
      .strictObject({
        quota_us: z.int().min(1000).max(1_000_000_000),
        period_us: z.int().min(1000).max(1_000_000).default(100_000),
      })
      .optional()
      .describe("CPU bandwidth: quota per period, microseconds."),
    memory_max: size(32 * MiB, 1024 ** 5, "memory.max; default: guest RAM + memory_overhead.").optional(),
    memory_overhead: size(
      0,
      1024 ** 4,
      'Added to guest RAM when memory_max is absent; default "256M".',
    ).default(256 * MiB),
    pids_max: z.int().min(16).max(1_000_000).default(512).describe("pids.max (QEMU's threads count)."),
    io_weight: z.int().min(1).max(10000).optional().describe("io.weight (1..10000)."),
  })
  .describe("cgroup limits of the VM.");

export const jailSchema = z
  .strictObject({
    uid: hostId
      .default("auto")
      .describe('Host uid QEMU runs as, or "auto" (a dedicated id per VM from id_range). Never 0.'),
    gid: hostId.default("auto").describe('Host gid, or "auto".'),
    id_range: z
      .tuple([z.int().min(1000).max(0xfffffffe), z.int().min(1).max(0x7fffffff)])
      .default([524288, 65536])
      .describe('[first, count] of host ids "auto" allocates from.'),
    cgroup: cgroupSchema.prefault({}),
    seccomp: z
      .enum(["kill", "trap", "log", "errno"])
      .default("kill")
      .describe("What a syscall outside the allowlist gets."),
    lsm: z.enum(["auto", "selinux", "apparmor", "none"]).default("auto"),
    landlock: z.enum(["auto", "on", "off"]).default("auto"),
    user_namespace: z.boolean().default(false),
    extra_ro_paths: z
      .array(path)
      .default([])
      .describe("Extra host paths bound read-only into QEMU's root (flagged in audits)."),
    state_dir: path
      .default("/run/qemu-jail")
      .describe("Per-VM state (sockets, roots, locks) lives in <state_dir>/<name>."),
  })
  .describe("How QEMU and its backends are confined.");

export const qemuSchema = z
  .strictObject({
    binary: path.optional().describe("QEMU binary. Default: /usr/bin/qemu-system-<arch>."),
    sandbox: z
      .boolean()
      .default(true)
      .describe("Layer QEMU's own -sandbox (spawn/elevateprivileges/obsolete/resourcecontrol=deny)."),
    extra_args: z
      .array(z.string())
      .default([])
      .describe(
        "Escape hatch: appended verbatim; no policy is derived for them, so plan and audit outputs flag them.",
      ),
  })
  .describe("The QEMU binary and extra arguments.");

/** The whole vm.toml, input side. */
export const configSchema = z
  .strictObject({
    vm: vmSchema,
    boot: bootSchema,
    disk: z.array(diskSchema).default([]),
    nic: z.array(nicSchema).default([]),
    share: z.array(shareSchema).default([]),
    serial: serialSchema.prefault({}),
    qmp: qmpSchema.prefault({}),
    rng: rngSchema,
    vsock: vsockSchema,
    jail: jailSchema.prefault({}),
    qemu: qemuSchema.prefault({}),
  })
  .describe("qemu-jail guest configuration (vm.toml).");

/** The parsed (output) side of the schema, before normalisation. */
export type RawConfig = z.output<typeof configSchema>;
