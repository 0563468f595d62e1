// Every kind of effect (id claim, cgroups below our own, a tap in a test netns, an ownership
// change, the QMP socket, a running QEMU), made by a launcher in its own process: once with a
// graceful stop (SIGTERM → its own cleanup), once SIGKILLed and cleaned by `gc`. Both must leave
// the host exactly as before. `ps` and `gc` never touch a VM whose launcher lives.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../../src/cli/main.js";
import { probeCgroups } from "../../../src/host/cgroup.js";
import { cgroupDriver } from "../../../src/launch/cgroups.js";
import { gc } from "../../../src/launch/gc.js";
import { listVms } from "../../../src/launch/state.js";
import { barePlan, bundle } from "./plans.js";
import { hostSnapshot } from "./snapshot.js";

let childScript: string;
const netns = `qjt-gc-${process.pid}`;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-gc-"));
  execFileSync("ip", ["netns", "add", netns]);
  // The launcher runs as plain node (a wrapper such as vite-node would get the signals instead).
  childScript = bundle(resolve("test/integration/launch/launcher-child.ts"), dir);
});
const launchers: ChildProcess[] = [];
afterAll(async () => {
  // After a failed test: no launcher left running, nothing left behind, before the dir goes.
  for (const c of launchers) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  const drv = cgroupDriver(await probeCgroups());
  for (const d of readdirSync(dir)) if (d.startsWith("state-")) await gc(join(dir, d), { cgroups: drv });
  execFileSync("ip", ["netns", "del", netns]);
  rmSync(dir, { recursive: true, force: true });
});

function planWithEverything(stateRoot: string, name: string) {
  const plan = barePlan(stateRoot, name, ["-S"]);
  const image = join(dir, `${name}.img`);
  writeFileSync(image, "x");
  chownSync(image, 0, 0);
  plan.ownership.push({ path: image, uid: 64123, gid: 64123, need: { item: "disk[0]", reason: "rw image" } });
  plan.taps.push({
    name: `qjt${process.pid % 10000}`,
    netns,
    owner: { uid: 64123, gid: 64123 },
    need: { item: "nic[0]", reason: "t" },
  });
  plan.processes[0]!.cgroup = {
    path: `qemu-jail-${name}/qemu`,
    pidsMax: 512,
    memoryMax: 512 * 1024 * 1024,
    devices: [],
  };
  plan.cgroup.path = `qemu-jail-${name}`;
  return { plan, image };
}

function startLauncher(planFile: string, stateRoot: string): { child: ChildProcess; ready: Promise<void> } {
  const child = spawn(process.execPath, [childScript, planFile, stateRoot], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  launchers.push(child);
  let out = "";
  const ready = new Promise<void>((res, rej) => {
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("READY")) res();
    });
    child.once("exit", (c) => rej(new Error(`launcher exited ${c}: ${out}`)));
  });
  return { child, ready };
}

/** Runs the CLI in this process, capturing stdout. */
async function cli(args: string[]): Promise<{ code: number; out: string }> {
  let out = "";
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => {
    out += s;
    return true;
  }) as typeof process.stdout.write;
  const stderr = process.stderr.write.bind(process.stderr);
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    process.exitCode = undefined;
    const code = await main(args);
    return { code, out };
  } finally {
    process.stdout.write = write;
    process.stderr.write = stderr;
    process.exitCode = undefined;
  }
}

const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once("exit", () => r())));

describe("cleanup of every effect", () => {
  it.each(["graceful", "sigkill+gc"])("%s leaves the host as it was", async (mode) => {
    const stateRoot = join(dir, `state-${mode.replace(/\W/g, "")}`);
    const name = `${mode === "graceful" ? "g" : "k"}${process.pid}`;
    const { plan, image } = planWithEverything(stateRoot, name);
    const planFile = join(dir, `${name}.json`);
    writeFileSync(planFile, JSON.stringify(plan));
    const mine = new RegExp(`qemu-jail-${name}(/|$)|${plan.taps[0]!.name}|${dir}`);
    const before = await hostSnapshot(netns, mine);
    const { child, ready } = startLauncher(planFile, stateRoot);
    await ready;
    // While it runs: the effects are there, ps sees it, gc leaves it alone.
    expect(statSync(image).uid).toBe(64123);
    expect(execFileSync("ip", ["-n", netns, "link", "show"]).toString()).toContain(plan.taps[0]!.name);
    expect(listVms(stateRoot).find((v) => v.name === name)?.running).toBe(true);
    const drv = cgroupDriver(await probeCgroups());
    expect((await gc(stateRoot, { cgroups: drv }))[0]?.action).toBe("skipped-running");
    expect(existsSync(plan.qmp.path)).toBe(true);

    const ps = await cli(["ps", "--json", "--state-dir", stateRoot]);
    expect(JSON.parse(ps.out)).toMatchObject([{ name, state: "running", launcher: child.pid }]);
    if (mode === "graceful") {
      // `qemu-jail stop`: SIGTERM to the launcher, which powers down / quits QEMU and cleans up.
      const stop = await cli(["stop", name, "--state-dir", stateRoot, "--wait", "30"]);
      expect(stop).toMatchObject({ code: 0, out: `${name}: stopped\n` });
      await exited(child);
      expect(child.exitCode).toBe(0);
      expect((await cli(["stop", name, "--state-dir", stateRoot])).code).toBe(8);
    } else {
      child.kill("SIGKILL");
      await exited(child);
      expect(listVms(stateRoot).find((v) => v.name === name)?.running).toBe(false);
      const r = await gc(stateRoot, { cgroups: drv });
      expect(r).toMatchObject([{ vm: name, action: "cleaned", failures: [] }]);
    }
    expect(statSync(image).uid).toBe(0);
    expect(readdirSync(stateRoot).filter((e) => e !== ".ids")).toEqual([]);
    expect(readdirSync(join(stateRoot, ".ids"))).toEqual([]);
    expect(await hostSnapshot(netns, mine)).toEqual(before);
  });
});
