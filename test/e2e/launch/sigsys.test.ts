// A seccomp kill in the full jail, reported: QEMU (paused, no boot) runs under a policy whose
// fragments lack accept4, so the supervisor's first QMP connection gets it killed by SIGSYS. The
// report names the syscall (from the kernel's audit record), the fragment that has it but is not
// composed in, and suggests seccomp = "log"; the host is clean afterwards.

import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { buildGuest } from "../../../src/guest/index.js";
import { runVm } from "../../../src/launch/run.js";
import { silentLogger } from "../../../src/log.js";
import { fragmentSetFrom, loadFragments } from "../../../src/seccomp/fragments.js";
import { hostSnapshot } from "../../integration/launch/snapshot.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-sigsys-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("SIGSYS report", () => {
  it("names the denied syscall and where its rule lives", async () => {
    const guest = buildGuest({ uncompressedKernel: false });
    const set = loadFragments();
    const raws = [...set.fragments.values()].map((f) => ({
      ...f.raw,
      rules: f.raw.rules.filter((r) => r.syscall !== "accept4"),
    }));
    raws.push({
      name: "spare-accept",
      description: "not used by any device",
      rules: [{ syscall: "accept4", why: "test" }],
    });
    const cfg = parseConfig(
      `[vm]\nname = "sigsys-${process.pid}"\naccel = "tcg"\nmemory = "128M"\n[boot]\nkernel = "${guest.kernel}"\ninitrd = "${guest.initrd}"\n[serial]\nmode = "none"\n[jail]\nseccomp = "kill"\n[qemu]\nextra_args = ["-S"]\n`,
      { source: join(dir, "vm.toml") },
    );
    const mine = new RegExp(`qemu-jail-sigsys-${process.pid}(/|$)|${dir}`);
    const before = await hostSnapshot(undefined, mine);
    const end = await runVm(cfg, {
      log: silentLogger(),
      stateDir: join(dir, "state"),
      fragments: fragmentSetFrom(raws, set.dir),
      qmpTimeoutMs: 30_000,
    });
    expect(end).toMatchObject({ exitClass: "guest", reason: "qemu-died" });
    expect(end.statuses.qemu?.signal).toBe("SIGSYS");
    expect(end.sigsys).toHaveLength(1);
    expect(end.sigsys[0]).toMatchObject({
      process: "qemu",
      syscall: "accept4",
      fragmentsAllowing: ["spare-accept"],
    });
    expect(end.sigsys[0]!.hint).toContain('seccomp = "log"');
    expect(end.undoFailures).toEqual([]);
    expect(readdirSync(join(dir, "state")).filter((e) => !e.startsWith("."))).toEqual([]);
    expect(await hostSnapshot(undefined, mine)).toEqual(before);
  });
});
