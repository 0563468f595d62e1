// The accelerator. KVM: QEMU opens /dev/kvm itself (QEMU 7.2 takes no kvm fd), so the node is in
// the root and allowed by the cgroup. TCG: the accelerator is a loadable module on Debian
// (accel-tcg-<arch>.so) with its own libraries.

import { QemuJailError } from "../errors.js";
import type { HostFacts } from "../host/types.js";
import type { RootEntry } from "../plan/types.js";
import { elfEntries } from "./elf.js";
import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { need, roFile } from "./util.js";

/** Resolves vm.accel: "kvm" without /dev/kvm is a host error; "auto" falls back to TCG, saying why. */
export function resolveAccel(
  accel: "kvm" | "tcg" | "auto",
  host: HostFacts,
  arch: string,
): { accel: "kvm" | "tcg"; reason: string } {
  const kvmUsable = host.hasKvm && host.arch === arch;
  if (accel === "tcg") return { accel: "tcg", reason: "vm.accel = tcg" };
  if (accel === "kvm") {
    if (!kvmUsable) {
      throw new QemuJailError("HOST_NO_KVM", "vm.accel = kvm but this host has no usable /dev/kvm", {
        exit: "host",
        location: { key: "vm.accel" },
        hint:
          host.arch !== arch
            ? `KVM cannot run a ${arch} guest on a ${host.arch} host; use accel = "tcg"`
            : 'load the kvm module (and enable virtualisation), or set accel = "auto" or "tcg"',
      });
    }
    return { accel: "kvm", reason: "vm.accel = kvm" };
  }
  if (kvmUsable) return { accel: "kvm", reason: "vm.accel = auto and /dev/kvm is usable" };
  return {
    accel: "tcg",
    reason:
      host.arch !== arch
        ? `vm.accel = auto: a ${arch} guest on a ${host.arch} host needs TCG`
        : "vm.accel = auto and this host has no usable /dev/kvm: TCG",
  };
}

function tcgModule(ctx: CatalogueContext): RootEntry[] {
  const q = ctx.host.qemu;
  const name = `accel-tcg-${ctx.config.vm.arch === "x86_64" ? "x86_64" : "aarch64"}.so`;
  if (!q.moduleDir || !q.modules.includes(name)) return []; // TCG built in
  const n = need("vm.accel", `TCG accelerator module (${ctx.accelReason})`);
  const path = `${q.moduleDir}/${name}`;
  const entries: RootEntry[] = [roFile(path, path, n)];
  const elf = q.moduleElf?.[name];
  if (elf) entries.push(...elfEntries({ libraries: elf.libraries, resolved: elf.resolved }, "vm.accel"));
  return entries;
}

function contribute(ctx: CatalogueContext): Contribution[] {
  if (ctx.accel === "kvm") {
    return [
      {
        item: "vm.accel",
        target: "qemu",
        devices: [{ path: "/dev/kvm", access: "rw", need: need("vm.accel", ctx.accelReason) }],
        fragments: [{ fragment: "accel-kvm", need: need("vm.accel", "KVM ioctls on /dev/kvm and vCPU fds") }],
      },
    ];
  }
  return [
    {
      item: "vm.accel",
      target: "qemu",
      root: tcgModule(ctx),
      fragments: [
        { fragment: "accel-tcg", need: need("vm.accel", `TCG code generation (${ctx.accelReason})`) },
      ],
    },
  ];
}

/** The accelerator (KVM device or TCG module). */
export const accelKind: DeviceKind = { kind: "accel", contribute };
