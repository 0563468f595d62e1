// launch + supervise with real QEMU and no jail (bareSpawner): state dir, lock, record, QMP
// socket passed as an fd, readiness, graceful stop, stale lock, id re-plan, and nothing left.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { launch } from "../../../src/launch/launch.js";
import { readLock } from "../../../src/launch/lock.js";
import { readRecord } from "../../../src/launch/record.js";
import { bareSpawner } from "../../../src/launch/spawn.js";
import { supervise } from "../../../src/launch/supervise.js";
import { QmpClient } from "../../../src/qmp/client.js";
import { barePlan } from "./plans.js";

const compile = () => new Uint8Array(0);
let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "qj-launch-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("launch with bare QEMU", () => {
  it("passes the QMP socket as an fd, answers QMP, stops gracefully and cleans up", async () => {
    const plan = barePlan(root, "vm1", ["-S"]);
    const vm = await launch(plan, { stateRoot: root, spawner: bareSpawner, compile });
    expect(readLock(vm.stateDir)?.alive).toBe(true);
    const rec = readRecord(vm.stateDir)!;
    expect(rec.effects.map((e) => e.kind)).toEqual(["id-claim", "file", "process"]);
    const sup = supervise(vm, { handleSignals: false, powerdownTimeoutMs: 500, quitTimeoutMs: 5000 });
    const readyMs = await sup.ready;
    expect(readyMs).toBeGreaterThan(0);
    // A second client after readiness: the supervisor let go of the connection.
    const c = await QmpClient.connect(plan.qmp.path, 5000);
    expect(await c.execute("query-status")).toMatchObject({ status: "prelaunch" });
    c.close();
    sup.stop(); // paused guest ignores powerdown: escalates to quit
    const end = await sup.done;
    expect(end.reason).toBe("stopped");
    expect(end.code).toBe(0);
    expect(end.undoFailures).toEqual([]);
    expect(readdirSync(root).filter((e) => e !== ".ids")).toEqual([]);
    expect(readdirSync(join(root, ".ids"))).toEqual([]);
  });

  it("refuses a second launch of the same VM while the first runs", async () => {
    const vm = await launch(barePlan(root, "vm2", ["-S"]), {
      stateRoot: root,
      spawner: bareSpawner,
      compile,
    });
    const sup = supervise(vm, { handleSignals: false, powerdownTimeoutMs: 100 });
    await sup.ready;
    await expect(
      launch(barePlan(root, "vm2", ["-S"]), { stateRoot: root, spawner: bareSpawner, compile }),
    ).rejects.toMatchObject({
      code: "STATE_LOCKED",
      exit: "state",
    });
    expect(existsSync(join(root, "vm2", "qmp.sock"))).toBe(true); // the running VM is untouched
    sup.stop();
    await sup.done;
    expect(existsSync(join(root, "vm2"))).toBe(false);
  });

  it("takes over a stale lock and moves an auto id block held by a running VM", async () => {
    const a = await launch(barePlan(root, "a", ["-S"], 64000), {
      stateRoot: root,
      spawner: bareSpawner,
      compile,
    });
    const supA = supervise(a, { handleSignals: false, powerdownTimeoutMs: 100 });
    // A stale lock (no such process) in b's state dir.
    const bDir = join(root, "b");
    rmSync(bDir, { recursive: true, force: true });
    mkdirSync(bDir);
    writeFileSync(join(bDir, "lock"), "999999999 1\n");
    const b = await launch(barePlan(root, "b", ["-S"], 64000), {
      stateRoot: root,
      spawner: bareSpawner,
      compile,
      replan: (idBase) => barePlan(root, "b", ["-S"], idBase),
    });
    expect(b.plan.ids.base).toBe(64001);
    const supB = supervise(b, { handleSignals: false, powerdownTimeoutMs: 100 });
    await Promise.all([supA.ready, supB.ready]);
    supA.stop();
    supB.stop();
    await Promise.all([supA.done, supB.done]);
    expect(readdirSync(root).filter((e) => e !== ".ids")).toEqual([]);
  });

  it("undoes everything when a step fails (missing binary)", async () => {
    const plan = barePlan(root, "bad");
    plan.processes[0]!.root.push({
      kind: "bind",
      path: plan.processes[0]!.exe,
      source: "/nonexistent/qemu",
      type: "file",
      rw: false,
      need: { item: "t", reason: "t" },
    });
    await expect(launch(plan, { stateRoot: root, spawner: bareSpawner, compile })).rejects.toThrow();
    expect(readdirSync(root).filter((e) => e !== ".ids")).toEqual([]);
    expect(readdirSync(join(root, ".ids"))).toEqual([]);
  });
});
