// The machine type: the firmware and option ROMs it loads by name from QEMU's search dirs.
// x86 q35/pc boot SeaBIOS (bios-256k.bin) unless OVMF is given; a direct kernel boot also loads
// linuxboot_dma.bin (the guest hangs without it, measured); microvm loads bios-microvm.bin.
// kvmvapic.bin is optional (QEMU boots without it, measured) and left out.

import type { RootEntry } from "../plan/types.js";
import type { CatalogueContext, Contribution, DeviceKind } from "./types.js";
import { firmwareEntry, need } from "./util.js";

/** Firmware file names the machine loads, with the reason. */
export function machineFirmware(ctx: CatalogueContext): Array<{ name: string; reason: string }> {
  const { vm, boot } = ctx.config;
  if (vm.arch !== "x86_64") return [];
  const out: Array<{ name: string; reason: string }> = [];
  if (vm.machine === "microvm") {
    out.push({ name: "bios-microvm.bin", reason: "microvm's firmware (qboot)" });
    return out;
  }
  if (boot.mode === "kernel") {
    out.push({ name: "bios-256k.bin", reason: `SeaBIOS, the ${vm.machine} machine's firmware` });
    out.push({ name: "linuxboot_dma.bin", reason: "option ROM for direct kernel boot (fw_cfg DMA)" });
  }
  return out;
}

function contribute(ctx: CatalogueContext): Contribution[] {
  const root: RootEntry[] = machineFirmware(ctx).map((f) =>
    firmwareEntry(ctx.host, f.name, need("vm.machine", f.reason)),
  );
  return [{ item: "vm.machine", target: "qemu", root }];
}

/** The machine type (firmware and option ROMs). */
export const machineKind: DeviceKind = { kind: "machine", contribute };
