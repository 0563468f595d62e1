import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { rebasePlan } from "../../../src/launch/launch.js";
import { acquireLock, readLock, releaseLock } from "../../../src/launch/lock.js";
import { processStartTime } from "../../../src/launch/proc.js";
import { prettyLine } from "../../../src/log.js";
import { barePlan } from "../../integration/launch/plans.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("state lock", () => {
  it("is exclusive while its holder lives, and released only by its owner", () => {
    const me = acquireLock(dir, "vm");
    expect(readLock(dir)).toMatchObject({
      pid: process.pid,
      alive: true,
      startTime: processStartTime(process.pid),
    });
    expect(() => acquireLock(dir, "vm")).toThrow(
      expect.objectContaining({ code: "STATE_LOCKED", exit: "state" }),
    );
    releaseLock(dir, { pid: me.pid, startTime: me.startTime + 1 });
    expect(readLock(dir)).toBeDefined();
    releaseLock(dir, me);
    expect(readLock(dir)).toBeUndefined();
  });

  it("never exists empty: the content is linked into place whole, and no temp file stays", () => {
    // A rival reading an empty lock would take it for stale and take it over (review F10).
    acquireLock(dir, "vm");
    expect(readFileSync(join(dir, "lock"), "utf8")).toMatch(/^\d+ \d+\n$/);
    expect(readdirSync(dir)).toEqual(["lock"]);
  });

  it.each([
    ["a dead pid", "999999999 5\n"],
    ["a reused pid (start time differs)", `${process.pid} 1\n`],
    ["garbage", "not a lock"],
  ])("takes over a stale lock naming %s", (_what, content) => {
    writeFileSync(join(dir, "lock"), content);
    acquireLock(dir, "vm");
    expect(readLock(dir)?.pid).toBe(process.pid);
  });
});

describe("rebasePlan", () => {
  it("moves every path under the old state dir, including inside argv options", () => {
    const p = barePlan("/run/qemu-jail", "vm");
    p.processes[0]!.argv.push("-chardev", "socket,id=x,path=/run/qemu-jail/vm/x.sock");
    const r = rebasePlan(p, "/run/qemu-jail/vm", "/tmp/s/vm");
    expect(r.stateDir).toBe("/tmp/s/vm");
    expect(r.qmp.path).toBe("/tmp/s/vm/qmp.sock");
    expect(r.processes[0]!.argv.at(-1)).toBe("socket,id=x,path=/tmp/s/vm/x.sock");
    expect(JSON.stringify(r)).not.toContain("/run/qemu-jail");
  });
});

describe("log lines on a terminal", () => {
  it("render level, message and fields", () => {
    const line = prettyLine(
      JSON.stringify({ level: 20, time: 0, msg: "jail step: lock", step: "lock", ms: 0.5 }),
    );
    expect(line).toBe("00:00:00.000 debug jail step: lock step=lock ms=0.5\n");
  });
});
