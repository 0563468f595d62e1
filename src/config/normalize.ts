// From the schema's output to the VmConfig contract: defaults that depend on other keys (machine
// by arch, cpu model by accel, uuid by name, MACs by uuid), absolute paths, and the checks that
// span several keys (duplicate ids, boot mode, option combinations QEMU would refuse). Pure.

import { isAbsolute, normalize as normalizePath, resolve } from "node:path";
import { stableMac, uuidV5 } from "./ids.js";
import type { Problem } from "./problems.js";
import { valueAt } from "./problems.js";
import type { RawConfig } from "./schema.js";
import type { DiskConfig, NicConfig, ShareConfig, VmConfig } from "./types.js";

/** Builds the VmConfig, or returns the problems found. `input` is the raw TOML value. */
export function normalizeConfig(
  raw: RawConfig,
  input: unknown,
  baseDir: string,
  source?: string,
): VmConfig | Problem[] {
  const problems: Problem[] = [];
  const bad = (code: string, path: (string | number)[], message: string, hint?: string) =>
    problems.push({ code, path, message, hint });
  const given = (path: (string | number)[]) => valueAt(input, path) !== undefined;
  const abs = (p: string) => (isAbsolute(p) ? normalizePath(p) : resolve(baseDir, p));

  // vm
  const { arch } = raw.vm;
  const machine = raw.vm.machine ?? (arch === "aarch64" ? "virt" : "q35");
  if (arch === "x86_64" && machine === "virt")
    bad(
      "CONFIG_CONFLICT",
      ["vm", "machine"],
      'machine "virt" needs arch = "aarch64"',
      'on x86_64 use "q35", "pc" or "microvm"',
    );
  if (arch === "aarch64" && machine !== "virt")
    bad("CONFIG_CONFLICT", ["vm", "machine"], `machine "${machine}" is x86_64 only`, 'on aarch64 use "virt"');
  if (raw.vm.memory % (1024 * 1024) !== 0)
    bad(
      "CONFIG_OUT_OF_RANGE",
      ["vm", "memory"],
      `memory must be a multiple of 1M, got ${raw.vm.memory} bytes`,
      'e.g. "512M" or "2G"',
    );

  // boot
  const b = raw.boot;
  const mode = b.mode ?? (b.code !== undefined ? "firmware" : b.kernel !== undefined ? "kernel" : undefined);
  let boot: VmConfig["boot"] = { mode: "kernel", kernel: "", cmdline: "" };
  if (b.mode === undefined && b.kernel !== undefined && b.code !== undefined) {
    bad(
      "CONFIG_CONFLICT",
      ["boot", "code"],
      "[boot] names both a kernel and firmware code",
      "keep kernel (direct kernel boot) or code (firmware), not both",
    );
  } else if (mode === undefined) {
    bad(
      "CONFIG_MISSING_KEY",
      ["boot"],
      "[boot] names neither a kernel nor firmware",
      'add kernel = "/boot/vmlinuz-..." (direct kernel boot) or code = ".../OVMF_CODE.fd" (firmware)',
    );
  } else if (mode === "kernel") {
    if (b.kernel === undefined)
      bad(
        "CONFIG_MISSING_KEY",
        ["boot", "kernel"],
        'boot mode "kernel" needs a kernel',
        'add kernel = "/boot/vmlinuz-..." under [boot]',
      );
    for (const k of ["code", "vars_template"] as const)
      if (b[k] !== undefined)
        bad(
          "CONFIG_CONFLICT",
          ["boot", k],
          `${k} is for firmware boot, but this config boots a kernel directly`,
          `remove ${k}, or remove kernel/initrd/cmdline to boot firmware`,
        );
    const cmdline = b.cmdline ?? (arch === "aarch64" ? "console=ttyAMA0" : "console=ttyS0");
    boot = { mode: "kernel", kernel: abs(b.kernel ?? "."), cmdline };
    if (b.initrd !== undefined) boot.initrd = abs(b.initrd);
  } else {
    if (b.code === undefined)
      bad(
        "CONFIG_MISSING_KEY",
        ["boot", "code"],
        'boot mode "firmware" needs a firmware code image',
        'add code = "/usr/share/OVMF/OVMF_CODE.fd" under [boot]',
      );
    for (const k of ["kernel", "initrd", "cmdline"] as const)
      if (b[k] !== undefined)
        bad(
          "CONFIG_CONFLICT",
          ["boot", k],
          `${k} is for direct kernel boot, but this config boots firmware`,
          `remove ${k}, or remove code/vars_template`,
        );
    boot = { mode: "firmware", code: abs(b.code ?? ".") };
    if (b.vars_template !== undefined) boot.vars_template = abs(b.vars_template);
  }

  // ids: disk, nic and share ids share one namespace (they become QEMU ids and node names).
  const seen = new Map<string, string>();
  const claim = (id: string, path: (string | number)[], label: string) => {
    const prev = seen.get(id);
    if (prev)
      bad(
        "CONFIG_DUPLICATE_ID",
        path,
        `duplicate id "${id}"`,
        `already used by ${prev}; disk, nic and share ids must all differ`,
      );
    else seen.set(id, label);
  };

  // disks
  const bootIndex = new Map<number, number>();
  const disk: DiskConfig[] = raw.disk.map((d, i) => {
    claim(d.id, ["disk", i, "id"], `disk[${i}]`);
    if (d.aio === "native" && d.cache !== "none" && d.cache !== "directsync")
      bad(
        "CONFIG_CONFLICT",
        ["disk", i, "aio"],
        `aio "native" needs O_DIRECT, but cache is "${d.cache}"`,
        'set cache = "none" (or "directsync"), or aio = "threads"',
      );
    if (d.format === "raw" && d.backing.length > 0)
      bad(
        "CONFIG_CONFLICT",
        ["disk", i, "backing"],
        "a raw image has no backing file",
        'set format = "qcow2" or remove backing',
      );
    d.backing.forEach((bk, j) => {
      if (bk.format === "raw" && j < d.backing.length - 1)
        bad(
          "CONFIG_CONFLICT",
          ["disk", i, "backing", j, "format"],
          "a raw image can only be the last in a backing chain",
          "reorder the chain, nearest first",
        );
    });
    if (d.backend === "vhost-user" && d.bus !== "virtio-blk")
      bad(
        "CONFIG_CONFLICT",
        ["disk", i, "bus"],
        `a vhost-user disk is a vhost-user-blk device, not "${d.bus}"`,
        'set bus = "virtio-blk" or backend = "qemu"',
      );
    if (d.backend === "vhost-user" && d.serial !== undefined)
      bad(
        "CONFIG_CONFLICT",
        ["disk", i, "serial"],
        "a vhost-user-blk device has no serial property",
        'remove serial, or use backend = "qemu"',
      );
    if (d.boot_index !== undefined && boot.mode === "kernel")
      bad(
        "CONFIG_CONFLICT",
        ["disk", i, "boot_index"],
        "boot_index only orders firmware boot; this config boots a kernel directly",
        "remove boot_index (QEMU gives the kernel loader boot index 0)",
      );
    else if (d.boot_index !== undefined) {
      const prev = bootIndex.get(d.boot_index);
      if (prev !== undefined)
        bad(
          "CONFIG_DUPLICATE",
          ["disk", i, "boot_index"],
          `boot_index ${d.boot_index} is also used by disk[${prev}]`,
          "give each disk its own boot_index",
        );
      else bootIndex.set(d.boot_index, i);
    }
    const out: DiskConfig = {
      id: d.id,
      path: abs(d.path),
      format: d.format,
      readonly: d.readonly,
      bus: d.bus,
      cache: d.cache,
      aio: d.aio,
      discard: d.discard,
      backing: d.backing.map((bk) => ({ path: abs(bk.path), format: bk.format })),
      backend: d.backend,
    };
    if (d.serial !== undefined) out.serial = d.serial;
    if (d.boot_index !== undefined) out.boot_index = d.boot_index;
    return out;
  });

  // nics
  const uuid = (raw.vm.uuid ?? uuidV5(raw.vm.name)).toLowerCase();
  const macs = new Map<string, number>();
  const forwards = new Map<string, string>();
  const nic: NicConfig[] = raw.nic.map((n, i) => {
    claim(n.id, ["nic", i, "id"], `nic[${i}]`);
    const mac = (n.mac ?? stableMac(uuid, n.id)).toLowerCase();
    if (n.mac !== undefined && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 1)
      bad(
        "CONFIG_INVALID",
        ["nic", i, "mac"],
        `${mac} is a multicast address`,
        "the first octet must be even; omit mac for a stable generated one",
      );
    const prevMac = macs.get(mac);
    if (prevMac !== undefined)
      bad(
        "CONFIG_DUPLICATE",
        ["nic", i, "mac"],
        `MAC ${mac} is also used by nic[${prevMac}]`,
        "omit mac to get a distinct generated one",
      );
    else macs.set(mac, i);
    if (n.mode === "user") {
      for (const k of ["tap", "create", "netns", "bridge", "vhost"] as const)
        if (given(["nic", i, k]))
          bad(
            "CONFIG_CONFLICT",
            ["nic", i, k],
            `${k} is for mode "tap", but this nic is mode "user"`,
            `set mode = "tap" or remove ${k}`,
          );
      n.forward.forEach((f, j) => {
        const key = `${f.proto}:${f.host_addr}:${f.host_port}`;
        const prev = forwards.get(key);
        if (prev)
          bad(
            "CONFIG_DUPLICATE",
            ["nic", i, "forward", j, "host_port"],
            `host port ${f.proto} ${f.host_addr}:${f.host_port} is forwarded twice`,
            `also forwarded by ${prev}`,
          );
        else forwards.set(key, `nic[${i}].forward[${j}]`);
      });
      return { id: n.id, mode: "user", mac, model: n.model, forward: n.forward.map((f) => ({ ...f })) };
    }
    if (n.forward.length > 0)
      bad(
        "CONFIG_CONFLICT",
        ["nic", i, "forward"],
        'port forwards are for mode "user"',
        'remove forward, or use mode = "user"',
      );
    if (n.tap === undefined)
      bad(
        "CONFIG_MISSING_KEY",
        ["nic", i, "tap"],
        'mode "tap" needs a tap interface name',
        'add tap = "tap-vm0"',
      );
    if (n.bridge !== undefined && !n.create)
      bad(
        "CONFIG_CONFLICT",
        ["nic", i, "bridge"],
        "bridge is only used for a tap the launcher creates",
        "set create = true, or enslave your existing tap yourself",
      );
    const out: NicConfig = {
      id: n.id,
      mode: "tap",
      mac,
      model: n.model,
      tap: n.tap ?? "",
      create: n.create,
      vhost: n.vhost,
    };
    if (n.netns !== undefined) out.netns = n.netns;
    if (n.bridge !== undefined) out.bridge = n.bridge;
    return out;
  });

  // shares
  const tags = new Map<string, number>();
  const share: ShareConfig[] = raw.share.map((s, i) => {
    claim(s.id, ["share", i, "id"], `share[${i}]`);
    const tag = s.tag ?? s.id;
    const prev = tags.get(tag);
    if (prev !== undefined)
      bad(
        "CONFIG_DUPLICATE",
        ["share", i, s.tag ? "tag" : "id"],
        `mount tag "${tag}" is also used by share[${prev}]`,
        "give each share its own tag",
      );
    else tags.set(tag, i);
    return { id: s.id, path: abs(s.path), tag, readonly: s.readonly };
  });

  // serial
  let serial: VmConfig["serial"] = { mode: "none" };
  const sp = raw.serial.path;
  if (raw.serial.mode === "file" || raw.serial.mode === "socket") {
    if (sp === undefined)
      bad(
        "CONFIG_MISSING_KEY",
        ["serial", "path"],
        `serial mode "${raw.serial.mode}" needs a path`,
        'add path = "console.log" under [serial]',
      );
    serial = { mode: raw.serial.mode, path: abs(sp ?? ".") };
  } else {
    if (sp !== undefined)
      bad(
        "CONFIG_CONFLICT",
        ["serial", "path"],
        `serial mode "${raw.serial.mode}" takes no path`,
        'set mode = "file" or "socket", or remove path',
      );
    serial = { mode: raw.serial.mode };
  }

  // jail
  const j = raw.jail;
  if (j.id_range[0] + j.id_range[1] > 0xffffffff)
    bad(
      "CONFIG_OUT_OF_RANGE",
      ["jail", "id_range"],
      "id_range runs past the last host id (4294967294)",
      "lower the first id or the count",
    );
  const cg = j.cgroup;
  const cgroup: VmConfig["jail"]["cgroup"] = { memory_overhead: cg.memory_overhead, pids_max: cg.pids_max };
  if (cg.parent !== undefined) cgroup.parent = cg.parent;
  if (cg.cpu_weight !== undefined) cgroup.cpu_weight = cg.cpu_weight;
  if (cg.cpu_max !== undefined) cgroup.cpu_max = { ...cg.cpu_max };
  if (cg.memory_max !== undefined) {
    cgroup.memory_max = cg.memory_max;
    if (cg.memory_max < raw.vm.memory)
      bad(
        "CONFIG_OUT_OF_RANGE",
        ["jail", "cgroup", "memory_max"],
        `memory_max (${cg.memory_max}) is below the guest's memory (${raw.vm.memory})`,
        "QEMU would be OOM-killed; raise memory_max or omit it (guest memory + memory_overhead)",
      );
  }
  if (cg.io_weight !== undefined) cgroup.io_weight = cg.io_weight;

  raw.qemu.extra_args.forEach((a, i) => {
    if (a.includes("\0")) bad("CONFIG_INVALID", ["qemu", "extra_args", i], "argument contains a NUL byte");
  });

  if (problems.length > 0) return problems;
  const config: VmConfig = {
    vm: {
      name: raw.vm.name,
      uuid,
      arch,
      machine,
      accel: raw.vm.accel,
      cpus: raw.vm.cpus,
      memory: raw.vm.memory,
      cpu_model: raw.vm.cpu_model ?? (raw.vm.accel === "kvm" ? "host" : "max"),
    },
    boot,
    disk,
    nic,
    share,
    serial,
    qmp: raw.qmp.path !== undefined ? { path: abs(raw.qmp.path) } : {},
    rng:
      raw.rng === false ? null : raw.rng === true ? { source: "/dev/urandom" } : { source: raw.rng.source },
    vsock: raw.vsock === false ? null : { cid: raw.vsock.cid },
    jail: {
      uid: j.uid,
      gid: j.gid,
      id_range: [j.id_range[0], j.id_range[1]],
      cgroup,
      seccomp: j.seccomp,
      lsm: j.lsm,
      landlock: j.landlock,
      user_namespace: j.user_namespace,
      extra_ro_paths: j.extra_ro_paths.map(abs),
      state_dir: abs(j.state_dir),
    },
    qemu: {
      binary: abs(raw.qemu.binary ?? `/usr/bin/qemu-system-${arch}`),
      sandbox: raw.qemu.sandbox,
      extra_args: [...raw.qemu.extra_args],
    },
  };
  if (source !== undefined) config.source = source;
  return config;
}
