// The few LSM effects a launch needs, each with its exact inverse, so the launcher can register
// the undo the moment an effect succeeds (and `gc` can replay the inverse after a SIGKILL).
// Deriving what to load or label stays pure (apparmor.ts, selinux.ts); these only apply it.

import { execFile, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { QemuJailError } from "../errors.js";
import { systemTool } from "../launch/tools.js";
import type { AppArmorProfile } from "./apparmor.js";
import type { Relabel } from "./selinux.js";

const run = promisify(execFile);

export interface AppArmorApplyOptions {
  parser?: string;
  /** Where securityfs is mounted (default /sys/kernel/security). */
  securityfs?: string;
}

function stderrOf(e: unknown): string {
  return String((e as { stderr?: unknown }).stderr ?? (e as Error).message ?? e).trim();
}

/** Load (or replace) a profile in the kernel. No cache is written: profiles are per run. */
export async function loadApparmorProfile(
  aa: AppArmorProfile,
  opts: AppArmorApplyOptions = {},
): Promise<void> {
  const child = spawn(opts.parser ?? systemTool("apparmor_parser"), ["--replace", "--skip-cache"], {
    stdio: ["pipe", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  // The parser may exit before reading its input (no AppArmor in the kernel): its exit status
  // then tells what went wrong, so a broken pipe on stdin is not an error of its own.
  child.stdin.on("error", () => {});
  child.stdin.end(aa.profile);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (code !== 0) {
    throw new QemuJailError(
      "LSM_APPARMOR_LOAD",
      `Failed to load AppArmor profile ${aa.profileName}: ${stderr.trim()}`,
      {
        exit: "jail",
        hint: "is AppArmor enabled (securityfs mounted, apparmor in /sys/kernel/security/lsm)?",
        detail: { profile: aa.profileName },
      },
    );
  }
}

/** Whether a profile of that name is loaded. */
export async function apparmorProfileLoaded(name: string, opts: AppArmorApplyOptions = {}): Promise<boolean> {
  const list = await readFile(join(opts.securityfs ?? "/sys/kernel/security", "apparmor/profiles"), "utf8");
  return list.split("\n").some((l) => l.startsWith(`${name} (`));
}

/** Remove a loaded profile by name; a profile that is not loaded is fine (idempotent, for gc). */
export async function unloadApparmorProfile(name: string, opts: AppArmorApplyOptions = {}): Promise<void> {
  try {
    await writeFile(join(opts.securityfs ?? "/sys/kernel/security", "apparmor/.remove"), name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new QemuJailError(
      "LSM_APPARMOR_UNLOAD",
      `Failed to remove AppArmor profile ${name}: ${stderrOf(e)}`,
      {
        exit: "jail",
        cause: e,
      },
    );
  }
}

/** A label as it was before relabelling, to restore it. */
export interface PreviousLabel {
  path: string;
  context: string;
}

async function labelOf(path: string): Promise<string> {
  const { stdout } = await run(systemTool("stat"), ["-c", "%C", "--", path]);
  return stdout.trim();
}

async function setLabel(path: string, context: string): Promise<void> {
  await run(systemTool("chcon"), ["--", context, path]);
}

/** The current label of each file (what restoreSelinuxLabels needs), read before any change. */
export async function currentSelinuxLabels(paths: string[]): Promise<PreviousLabel[]> {
  const out: PreviousLabel[] = [];
  for (const path of paths) out.push({ path, context: await labelOf(path) });
  return out;
}

/**
 * Give each file its context; returns the previous labels (restore them with
 * restoreSelinuxLabels). On a failure, the files already relabelled are restored first.
 */
export async function applySelinuxLabels(relabels: Relabel[]): Promise<PreviousLabel[]> {
  const done: PreviousLabel[] = [];
  for (const r of relabels) {
    try {
      const previous = await labelOf(r.path);
      await setLabel(r.path, r.context);
      done.push({ path: r.path, context: previous });
    } catch (e) {
      await restoreSelinuxLabels(done).catch(() => undefined); // the first error is the one to report
      throw new QemuJailError(
        "LSM_SELINUX_RELABEL",
        `Failed to label ${r.path} ${r.context}: ${stderrOf(e)}`,
        {
          exit: "jail",
          hint: "is SELinux enabled, and does the file system support security labels?",
          cause: e,
          detail: { path: r.path, need: r.need },
        },
      );
    }
  }
  return done;
}

/** Put the previous labels back, last first; collects failures and reports them together. */
export async function restoreSelinuxLabels(previous: PreviousLabel[]): Promise<void> {
  const failed: string[] = [];
  for (const p of [...previous].reverse()) {
    await setLabel(p.path, p.context).catch((e) => failed.push(`${p.path}: ${stderrOf(e)}`));
  }
  if (failed.length) {
    throw new QemuJailError("LSM_SELINUX_RESTORE", `could not restore labels: ${failed.join("; ")}`, {
      exit: "jail",
      detail: { failed },
    });
  }
}
