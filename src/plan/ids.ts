// Host uid/gid allocation. Each VM gets a block of ids (4, or more for VMs with more than three
// backends): QEMU runs as base+0, its backends as base+1, base+2... A fixed uid in the config is
// the base. "auto" picks a slot in jail.id_range derived from the VM name (FNV-1a), so a plan is
// deterministic; opts.idBase overrides it (the launcher's answer to a collision at run time).

import type { VmConfig } from "../config/types.js";
import { QemuJailError } from "../errors.js";

/** Ids per VM block. */
export const ID_BLOCK = 4;

/** 32-bit FNV-1a of a string: stable, dependency-free, good enough to spread slots. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(text)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The VM's id block and per-process uid/gid lists (index 0: QEMU). */
export interface IdBlock {
  base: number;
  count: number;
  auto: boolean;
  uid: number[];
  gid: number[];
}

/** Allocates `processes` ids for the VM. */
export function allocateIds(config: VmConfig, processes: number, idBase?: number): IdBlock {
  const count = ID_BLOCK * Math.max(1, Math.ceil(processes / ID_BLOCK));
  const { uid, gid, id_range } = config.jail;
  const auto = uid === "auto";
  let base: number;
  if (idBase !== undefined) base = idBase;
  else if (uid !== "auto") base = uid;
  else {
    const [first, size] = id_range;
    const slots = Math.floor(size / count);
    if (slots < 1) {
      throw new QemuJailError(
        "CONFIG_ID_RANGE_SMALL",
        `jail.id_range holds ${size} ids; this VM needs ${count}`,
        {
          exit: "config",
          location: { key: "jail.id_range" },
          hint: `give at least ${count} ids (the VM has ${processes} jailed processes)`,
        },
      );
    }
    base = first + (fnv1a(config.vm.name) % slots) * count;
  }
  if (base === 0 || base + count - 1 > 0xfffffffe) {
    throw new QemuJailError("CONFIG_ID_INVALID", `id block ${base}..${base + count - 1} is not usable`, {
      exit: "config",
      location: { key: "jail.uid" },
      hint: "jailed processes run as unprivileged host ids: never 0",
    });
  }
  const uids = Array.from({ length: processes }, (_, i) => base + i);
  // A fixed gid is QEMU's; backends keep a group of their own (base+i), so they share no group access.
  const gids = uids.map((u, i) => (gid === "auto" || i > 0 ? u : gid));
  return { base, count, auto, uid: uids, gid: gids };
}
