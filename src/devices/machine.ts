// The machine type: the firmware and option ROMs it loads by name from QEMU's search dirs.
// x86 q35/pc boot SeaBIOS (bios-256k.bin) unless OVMF is given; a direct kernel boot also loads
// the option ROM QEMU's x86 loader picks for the kernel file (host facts `kernels`, see
// src/host/kernel-image.ts): pvh.bin for an ELF vmlinux with a PVH note, linuxboot_dma.bin for a
// bzImage, multiboot_dma.bin for a Multiboot image (the guest hangs or QEMU exits without it,
// measured for the first two); microvm loads bios-microvm.bin (qboot reads the kernel itself).
// kvmvapic.bin is optional: QEMU boots without it but prints "Could not open option rom
// 'kvmvapic.bin'" at every start, so it is bound when the host has it (9 KiB, read-only).

import { QemuJailError } from "../errors.js";
import type { RootEntry } from "../plan/types.js";
import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { firmwareEntry, need } from "./util.js";

/** A firmware file the machine loads; `optional`: left out (not an error) when the host lacks it. */
export interface FirmwareUse {
  name: string;
  reason: string;
  optional?: boolean;
  /** The config item that needs it; default vm.machine. */
  item?: string;
}

/** The option ROM QEMU 7.2 loads for this -kernel file; bzImage when the host facts lack it. */
export function kernelOptionRom(ctx: CatalogueContext, kernel: string): FirmwareUse {
  const k = ctx.host.kernels?.[kernel];
  const format = k?.format ?? "bzImage";
  if (format === "elf") {
    if (!k?.pvh) {
      throw new QemuJailError(
        "CONFIG_KERNEL_NO_PVH",
        `boot.kernel ${kernel} is an ELF without a PVH entry note`,
        {
          exit: "config",
          location: { key: "boot.kernel" },
          hint: "QEMU boots an uncompressed kernel only through its PVH note (CONFIG_PVH=y); use the bzImage instead",
        },
      );
    }
    return {
      name: "pvh.bin",
      reason: "option ROM booting the ELF vmlinux through its PVH entry note (fw_cfg DMA)",
    };
  }
  if (format === "multiboot")
    return { name: "multiboot_dma.bin", reason: "option ROM booting the Multiboot image (fw_cfg DMA)" };
  return { name: "linuxboot_dma.bin", reason: "option ROM booting the bzImage (fw_cfg DMA)" };
}

/** Firmware file names the machine loads, with the reason and the config item needing each. */
export function machineFirmware(ctx: CatalogueContext): FirmwareUse[] {
  const { vm, boot } = ctx.config;
  if (vm.arch !== "x86_64") return [];
  if (vm.machine === "microvm") return [{ name: "bios-microvm.bin", reason: "microvm's firmware (qboot)" }];
  const out: FirmwareUse[] = [];
  if (boot.mode === "kernel") {
    out.push({ name: "bios-256k.bin", reason: `SeaBIOS, the ${vm.machine} machine's firmware` });
    out.push({ ...kernelOptionRom(ctx, boot.kernel), item: "boot.kernel" });
  }
  out.push({
    name: "kvmvapic.bin",
    reason: "the APIC's option ROM; optional (without it QEMU warns at every start)",
    optional: true,
  });
  return out;
}

function contribute(ctx: CatalogueContext): Contribution[] {
  // One contribution per config item needing a file (vm.machine; boot.kernel for its option ROM).
  const byItem = new Map<string, RootEntry[]>();
  for (const f of machineFirmware(ctx)) {
    if (f.optional && !ctx.host.qemu.firmware?.[f.name]) continue;
    const item = f.item ?? "vm.machine";
    const entries = byItem.get(item) ?? [];
    entries.push(firmwareEntry(ctx.host, f.name, need(item, f.reason)));
    byItem.set(item, entries);
  }
  if (!byItem.has("vm.machine")) byItem.set("vm.machine", []);
  return [...byItem].map(([item, root]) => ({ item, target: "qemu", root }));
}

/** The machine type (firmware and option ROMs). */
export const machineKind: DeviceKind = { kind: "machine", contribute };
