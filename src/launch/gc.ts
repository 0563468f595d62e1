// gc: cleans up after launchers that died without cleaning (SIGKILL, OOM, power loss of a
// tmpfs-less state root). Safety first: a VM whose lock names a live launcher is never touched.
// For every other state dir, gc takes the VM's lock itself (so a new launch of that VM waits
// for it), undoes the recorded effects newest first, and removes the state dir.

import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { undoEffect } from "./effects.js";
import type { CgroupDriver } from "./launch.js";
import { rmdirIfEmpty } from "./launch.js";
import { acquireLock, releaseLock } from "./lock.js";
import { readRecord } from "./record.js";
import { idClaimPath, listVms, untrusted } from "./state.js";

/** What gc did for one VM. */
export interface GcResult {
  vm: string;
  action: "skipped-running" | "cleaned" | "failed";
  undone: string[];
  failures: Array<{ effect: string; error: string }>;
}

/** Options of gc. */
export interface GcOptions {
  /** Removes cgroup dirs left by a dead launcher. */
  cgroups?: Pick<CgroupDriver, "remove">;
  log?: Logger;
  /** Only this VM. */
  name?: string;
}

function describe(e: { kind: string } & Record<string, unknown>): string {
  const detail = e.path ?? e.name ?? e.id ?? (Array.isArray(e.dirs) ? (e.dirs as string[]).join(",") : "");
  return `${e.kind} ${String(detail)}`;
}

/** Cleans every dead VM under `stateRoot` (see the header). */
export async function gc(stateRoot: string, opts: GcOptions = {}): Promise<GcResult[]> {
  const log = opts.log ?? silentLogger();
  const results: GcResult[] = [];
  // A record says what to chown, remove and kill: never act on one that someone other than the
  // launcher's user could have written (listVms skips such VM dirs too).
  const why = existsSync(stateRoot) ? untrusted(stateRoot) : undefined;
  if (why) {
    log.error({ stateRoot, why }, "state root not trusted: nothing cleaned");
    return results;
  }
  for (const vm of listVms(stateRoot)) {
    if (opts.name && vm.name !== opts.name) continue;
    if (vm.running) {
      log.info({ vm: vm.name, launcher: vm.launcher?.pid }, "running: left alone");
      results.push({ vm: vm.name, action: "skipped-running", undone: [], failures: [] });
      continue;
    }
    let owner: ReturnType<typeof acquireLock>;
    try {
      owner = acquireLock(vm.stateDir, vm.name);
    } catch (e) {
      // A launcher started this VM just now: it is not ours to clean.
      log.info({ vm: vm.name, err: String(e) }, "lock taken meanwhile: left alone");
      results.push({ vm: vm.name, action: "skipped-running", undone: [], failures: [] });
      continue;
    }
    const record = readRecord(vm.stateDir);
    const undone: string[] = [];
    const failures: Array<{ effect: string; error: string }> = [];
    for (const effect of [...(record?.effects ?? [])].reverse()) {
      const what = describe(effect as never);
      try {
        await undoEffect(effect, { cgroups: opts.cgroups as CgroupDriver | undefined });
        undone.push(what);
        log.info({ vm: vm.name, undo: what }, "undone");
      } catch (e) {
        failures.push({ effect: what, error: String(e) });
        log.warn({ vm: vm.name, undo: what, err: String(e) }, "undo failed");
      }
    }
    if (failures.length === 0) {
      for (const e of readdirSync(vm.stateDir))
        if (e !== "lock") rmSync(join(vm.stateDir, e), { recursive: true, force: true });
      releaseLock(vm.stateDir, owner);
      rmdirIfEmpty(vm.stateDir);
    } else {
      // Keep the record so a later gc (after the cause is fixed) can finish the job.
      releaseLock(vm.stateDir, owner);
    }
    results.push({ vm: vm.name, action: failures.length ? "failed" : "cleaned", undone, failures });
  }
  // Id claims naming a VM that no longer runs (e.g. a launcher killed right after claiming).
  if (!opts.name) {
    const running = new Set(
      listVms(stateRoot)
        .filter((v) => v.running)
        .map((v) => v.name),
    );
    let ids: string[] = [];
    try {
      ids = readdirSync(join(stateRoot, ".ids"));
    } catch {}
    for (const id of ids) {
      const path = idClaimPath(stateRoot, Number(id));
      let holder = "";
      try {
        holder = readFileSync(path, "utf8").trim();
      } catch {}
      if (!running.has(holder)) rmSync(path, { force: true });
    }
  }
  return results;
}
