// The machine type: the firmware and option ROMs it loads by name from QEMU's search dirs.
// x86 q35/pc boot SeaBIOS (bios-256k.bin) unless OVMF is given; a direct kernel boot also loads
// linuxboot_dma.bin (the guest hangs without it, measured); microvm loads bios-microvm.bin.
// kvmvapic.bin is optional: QEMU boots without it but prints "Could not open option rom
// 'kvmvapic.bin'" at every start, so it is bound when the host has it (9 KiB, read-only).

import type { RootEntry } from "../plan/types.js";
import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { firmwareEntry, need } from "./util.js";

/** A firmware file the machine loads; `optional`: left out (not an error) when the host lacks it. */
export interface FirmwareUse {
  name: string;
  reason: string;
  optional?: boolean;
}

/** Firmware file names the machine loads, with the reason. */
export function machineFirmware(ctx: CatalogueContext): FirmwareUse[] {
  const { vm, boot } = ctx.config;
  if (vm.arch !== "x86_64") return [];
  if (vm.machine === "microvm") return [{ name: "bios-microvm.bin", reason: "microvm's firmware (qboot)" }];
  const out: FirmwareUse[] = [];
  if (boot.mode === "kernel") {
    out.push({ name: "bios-256k.bin", reason: `SeaBIOS, the ${vm.machine} machine's firmware` });
    out.push({ name: "linuxboot_dma.bin", reason: "option ROM for direct kernel boot (fw_cfg DMA)" });
  }
  out.push({
    name: "kvmvapic.bin",
    reason: "the APIC's option ROM; optional (without it QEMU warns at every start)",
    optional: true,
  });
  return out;
}

function contribute(ctx: CatalogueContext): Contribution[] {
  const root: RootEntry[] = machineFirmware(ctx)
    .filter((f) => !f.optional || ctx.host.qemu.firmware?.[f.name])
    .map((f) => firmwareEntry(ctx.host, f.name, need("vm.machine", f.reason)));
  return [{ item: "vm.machine", target: "qemu", root }];
}

/** The machine type (firmware and option ROMs). */
export const machineKind: DeviceKind = { kind: "machine", contribute };
