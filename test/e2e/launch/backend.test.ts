// A vhost-user backend in its own jail (virtiofsd for a read-only share) with QEMU paused (-S,
// no boot): both start (backend first, its socket made by the launcher and connected for QEMU),
// then the backend is SIGKILLed: the supervisor stops QEMU, reports the backend as the cause
// (exit class "guest"), and leaves the host as it was.

import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { buildGuest } from "../../../src/guest/index.js";
import { runVm } from "../../../src/launch/run.js";
import { silentLogger } from "../../../src/log.js";
import { hostSnapshot } from "../../integration/launch/snapshot.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-backend-"));
  mkdirSync(join(dir, "share"));
  writeFileSync(join(dir, "share", "file.txt"), "shared\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("backend lifecycle", () => {
  it("a backend killed during the run stops QEMU, is reported, and the host is clean", async () => {
    const guest = buildGuest({ uncompressedKernel: false });
    const cfg = parseConfig(
      `[vm]\nname = "backend-${process.pid}"\naccel = "tcg"\nmemory = "128M"\n[boot]\nkernel = "${guest.kernel}"\ninitrd = "${guest.initrd}"\n` +
        `[serial]\nmode = "none"\n[[share]]\nid = "s0"\npath = "${join(dir, "share")}"\ntag = "s0"\nreadonly = true\n` +
        `[jail]\nseccomp = "${process.env.QJ_E2E_SECCOMP === "log" ? "log" : "kill"}"\n[qemu]\nextra_args = ["-S"]\n`,
      { source: join(dir, "vm.toml") },
    );
    const mine = new RegExp(`qemu-jail-backend-${process.pid}(/|$)|${dir}`);
    const before = await hostSnapshot(undefined, mine);
    let backendPid: number | undefined;
    const end = await runVm(cfg, {
      log: silentLogger(),
      stateDir: join(dir, "state"),
      handleSignals: false,
      onLaunched: (vm) => {
        expect([...vm.processes.keys()]).toEqual(["virtiofsd-s0", "qemu"]);
        backendPid = vm.processes.get("virtiofsd-s0")!.payloadPid;
      },
      onReady: () => process.kill(backendPid!, "SIGKILL"),
    });
    expect(end).toMatchObject({
      reason: "backend-died",
      culprit: "virtiofsd-s0",
      exitClass: "guest",
      sigsys: [],
    });
    expect(end.statuses["virtiofsd-s0"]?.signal).toBe("SIGKILL");
    expect(end.statuses.qemu).toMatchObject({ code: 0, signal: null });
    expect(end.undoFailures).toEqual([]);
    expect(readdirSync(join(dir, "state")).filter((e) => !e.startsWith("."))).toEqual([]);
    expect(await hostSnapshot(undefined, mine)).toEqual(before);
  });
});
