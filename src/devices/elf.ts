// Root entries for a dynamically linked binary: its ELF interpreter and its library closure,
// each bound at the path the loader opens, from the real file (symlinks resolved by the probe).

import type { ElfInfo } from "../host/types.js";
import type { RootEntry } from "../plan/types.js";
import { need, roFile } from "./util.js";

/** The interpreter and every library of `elf`, needed by config item `item`. */
export function elfEntries(elf: ElfInfo, item: string): RootEntry[] {
  const out: RootEntry[] = [];
  if (elf.interpreter) {
    out.push(
      roFile(
        elf.interpreter,
        elf.interpreterRealPath ?? elf.interpreter,
        need(item, "ELF interpreter (dynamic loader)"),
      ),
    );
  }
  const resolved = new Map((elf.resolved ?? []).map((r) => [r.path, r]));
  for (const lib of elf.libraries) {
    const r = resolved.get(lib);
    const why = r ? `shared library ${r.name} (needed by ${r.neededBy})` : "shared library (ELF dependency)";
    out.push(roFile(lib, r?.realPath ?? lib, need(item, why)));
  }
  return out;
}
