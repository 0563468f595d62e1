// helperProbe: kernel facts only native code can learn (Landlock ABI, seccomp actions...),
// from `qemu-jail-helper --probe` (key=value lines).

import { execFileSync } from "node:child_process";
import { QemuJailError } from "../errors.js";
import { helperPath } from "./paths.js";

export interface HelperProbe {
  helperSpecVersion: number;
  landlockAbi: number;
  seccompFilter: boolean;
  seccompKillProcess: boolean;
  seccompLog: boolean;
  seccompUserNotif: boolean;
  capLastCap: number;
  mountApi: boolean;
  /** Every key the helper printed, raw. */
  raw: Record<string, string>;
}

/** Parses the helper's --probe output. */
export function parseProbe(text: string): HelperProbe {
  const raw: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) raw[line.slice(0, i)] = line.slice(i + 1);
  }
  const num = (k: string) => Number(raw[k] ?? 0);
  return {
    helperSpecVersion: num("helper_spec_version"),
    landlockAbi: num("landlock_abi"),
    seccompFilter: raw.seccomp_filter === "1",
    seccompKillProcess: raw.seccomp_kill_process === "1",
    seccompLog: raw.seccomp_log === "1",
    seccompUserNotif: raw.seccomp_user_notif === "1",
    capLastCap: num("cap_last_cap"),
    mountApi: raw.mount_api === "1",
    raw,
  };
}

/** Runs `qemu-jail-helper --probe`. Read-only; safe to call as any user. */
export function helperProbe(bin: string = helperPath()): HelperProbe {
  try {
    return parseProbe(execFileSync(bin, ["--probe"], { encoding: "utf8", timeout: 10_000 }));
  } catch (err) {
    throw new QemuJailError("HELPER_PROBE_FAILED", `cannot run ${bin} --probe`, {
      exit: "host",
      hint: "build the helper with `npm run build` (needs gcc)",
      cause: err,
    });
  }
}
