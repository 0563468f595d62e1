// Active Linux security modules and what qemu-jail can use of them: SELinux (selinuxfs), AppArmor
// (module parameter + apparmor_parser) and Landlock (its ABI version, asked from the kernel by the
// native helper's `--probe`, since Node cannot make the landlock_create_ruleset syscall).

import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { LsmFacts } from "./types.js";

/** Inputs of the LSM probe; every path is injectable for tests. */
export interface LsmProbeInput {
  sysRoot: string;
  /** key=value lines of `qemu-jail-helper --probe`, or undefined when the helper is not built. */
  helperProbe?: Record<string, string>;
  /** Dirs searched for apparmor_parser. */
  parserDirs: string[];
}

/**
 * Landlock ABI: the helper's answer when there is one; otherwise -1 ("present, version unknown")
 * when the LSM list names landlock or cannot be read, 0 when a readable list lacks it.
 */
export function landlockAbiFrom(
  helper: Record<string, string> | undefined,
  active: string[] | undefined,
): number {
  const v = helper?.landlock_abi;
  if (v !== undefined && /^-?\d+$/.test(v)) return Math.max(0, Number(v));
  if (active === undefined) return -1;
  return active.includes("landlock") ? -1 : 0;
}

/** Probes the LSM state below `sysRoot`. */
export async function probeLsm(input: LsmProbeInput): Promise<LsmFacts> {
  const sys = input.sysRoot;
  const [lsmList, enforce, mls, aaEnabled, parser] = await Promise.all([
    text(join(sys, "kernel/security/lsm")),
    text(join(sys, "fs/selinux/enforce")),
    text(join(sys, "fs/selinux/mls")),
    text(join(sys, "module/apparmor/parameters/enabled")),
    firstExisting(input.parserDirs.map((d) => join(d, "apparmor_parser"))),
  ]);
  const active = lsmList === undefined ? undefined : lsmList.trim().split(",").filter(Boolean);
  const selinuxOn = enforce !== undefined && (active === undefined || active.includes("selinux"));
  const aaOn = aaEnabled?.trim() === "Y" && (active === undefined || active.includes("apparmor"));
  const facts: LsmFacts = {
    active: active ?? [],
    selinux: {
      enabled: selinuxOn,
      enforcing: selinuxOn && enforce?.trim() === "1",
      mcsAvailable: selinuxOn && mls?.trim() === "1",
    },
    apparmor: { enabled: aaOn },
    landlockAbi: landlockAbiFrom(input.helperProbe, active),
  };
  if (parser) facts.apparmor.parser = parser;
  return facts;
}

async function text(p: string): Promise<string | undefined> {
  try {
    return await readFile(p, "utf8");
  } catch {
    return undefined;
  }
}

async function firstExisting(paths: string[]): Promise<string | undefined> {
  const ok = await Promise.all(
    paths.map((p) =>
      access(p).then(
        () => true,
        () => false,
      ),
    ),
  );
  return paths[ok.indexOf(true)];
}
