// SIGINT/SIGTERM during setup: runVm turns them into an abort of the launch. Here the abort comes
// right after each jail step in turn (ids, cgroups, the tap in a test netns, the ownership
// change): the launch stops with LAUNCH_INTERRUPTED and everything done so far is undone.

import { execFileSync } from "node:child_process";
import { chownSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeCgroups } from "../../../src/host/cgroup.js";
import { cgroupDriver } from "../../../src/launch/cgroups.js";
import { launch } from "../../../src/launch/launch.js";
import { bareSpawner } from "../../../src/launch/spawn.js";
import { createLogger } from "../../../src/log.js";
import { barePlan } from "./plans.js";
import { hostSnapshot } from "./snapshot.js";

const netns = `qjt-int-${process.pid}`;
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-int-"));
  execFileSync("ip", ["netns", "add", netns]);
});
afterAll(() => {
  execFileSync("ip", ["netns", "del", netns]);
  rmSync(dir, { recursive: true, force: true });
});

describe("abort during setup", () => {
  it.each(["ids", "cgroups", "tap", "chown"])("after the %s step, undoes everything", async (after) => {
    const root = join(dir, after);
    const name = `i-${after}-${process.pid}`;
    const plan = barePlan(root, name, ["-S"]);
    const image = join(dir, `${after}.img`);
    writeFileSync(image, "x");
    chownSync(image, 0, 0);
    plan.ownership.push({ path: image, uid: 64321, gid: 64321, need: { item: "disk[0]", reason: "t" } });
    plan.taps.push({
      name: `qji${process.pid % 10000}`,
      netns,
      owner: { uid: 64321, gid: 64321 },
      need: { item: "nic[0]", reason: "t" },
    });
    plan.cgroup.path = `qemu-jail-${name}`;
    plan.processes[0]!.cgroup = { path: `qemu-jail-${name}/qemu`, pidsMax: 64, devices: [] };
    const mine = new RegExp(`qemu-jail-${name}(/|$)|${plan.taps[0]!.name}|${dir}`);
    const before = await hostSnapshot(netns, mine);
    const ac = new AbortController();
    const log = createLogger({
      verbose: true,
      format: "json",
      stream: {
        write: (s: string) => {
          if (s.includes(`"jail step: ${after}`)) ac.abort();
        },
      },
    });
    await expect(
      launch(plan, {
        stateRoot: root,
        spawner: bareSpawner,
        compile: () => new Uint8Array(0),
        cgroups: cgroupDriver(await probeCgroups()),
        log,
        signal: ac.signal,
      }),
    ).rejects.toMatchObject({ code: "LAUNCH_INTERRUPTED" });
    expect(ac.signal.aborted).toBe(true);
    expect(statSync(image).uid).toBe(0);
    expect(readdirSync(root).filter((e) => !e.startsWith("."))).toEqual([]);
    expect(await hostSnapshot(netns, mine)).toEqual(before);
  });
});
