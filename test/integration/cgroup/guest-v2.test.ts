// cgroup v2 with controllers, for real, inside a TCG guest booting Debian's kernel (this host's
// unified hierarchy has none). The launcher runs alone in a non-root cgroup, so enabling
// controllers for the VM forces the move into a `supervisor` leaf below it; limits are written
// and enforced (fork beyond pids.max fails, memory.max OOM-kills), and undo restores the tree.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { describe, expect, it } from "vitest";
import { runInGuest } from "../../guest-vm/run.js";

const root = process.getuid?.() === 0;

describe.skipIf(!root)("cgroup v2 with controllers, in a TCG guest", () => {
  it("creates the VM tree, enforces memory.max and pids.max, restores everything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "qj-cg-guest-"));
    let script: string;
    try {
      await build({
        entryPoints: [join(import.meta.dirname, "guest-v2-driver.ts")],
        outfile: join(dir, "driver.mjs"),
        bundle: true,
        format: "esm",
        platform: "node",
        target: "node20",
        logLevel: "warning",
      });
      script = readFileSync(join(dir, "driver.mjs"), "utf8");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const cg = "/sys/fs/cgroup";
    const r = await runInGuest(
      [
        `mount -t cgroup2 none ${cg}`,
        `echo "+memory +pids +cpu" > ${cg}/cgroup.subtree_control`,
        `mkdir ${cg}/launcher`,
        // the launcher alone in its own non-root cgroup (exec: the shell does not stay behind)
        `echo $$ > ${cg}/launcher/cgroup.procs`,
        "exec node /opt/qj/driver.mjs",
      ].join(" && "),
      { files: { "/opt/qj/driver.mjs": script }, timeoutMs: 240_000 },
    );
    const line = r.stdout.split("\n").find((l) => l.startsWith("QJ-CG "));
    expect(
      line,
      `guest stdout: ${r.stdout}\nstderr: ${r.stderr}\nlog tail: ${r.kernelLog.slice(-2000)}`,
    ).toBeDefined();
    const o = JSON.parse(line!.slice(6));
    expect(o.error).toBeUndefined();
    expect(o.facts.mode).toBe("v2");
    expect(o.facts.v2.ownPath).toBe("/launcher");
    expect(o.facts.v2.controllers).toEqual(expect.arrayContaining(["cpu", "memory", "pids"]));
    // the no-internal-process rule moved the launcher into a leaf below its own cgroup, never out
    expect(o.selfBefore).toBe("0::/launcher");
    expect(o.supervisorDir).toBe(`${cg}/launcher/supervisor`);
    expect(o.selfDuring).toBe("0::/launcher/supervisor");
    expect(o.subtree.own.split(" ").sort()).toEqual(["cpu", "memory", "pids"]);
    expect(o.subtree.vm.split(" ").sort()).toEqual(["cpu", "memory", "pids"]);
    expect(o.join).toEqual({ qemu: [`${cg}/launcher/vm1/qemu`], fsd: [`${cg}/launcher/vm1/fsd`] });
    expect(o.warnings).toEqual(["CGROUP_DEVICES_UNENFORCED"]);
    expect(o.limits).toEqual({
      "memory.max": String(48 * 1024 * 1024),
      "pids.max": "5",
      "cpu.weight": "50",
      "cpu.max": "50000 100000",
      fsdPids: "7",
    });
    // enforcement
    expect(o.pids.err).toMatch(/fork/i);
    expect(o.pids.err).not.toContain("all-forked");
    expect(o.pids.current).toBe("4");
    expect(o.pids.events).toMatch(/^max [1-9]/);
    expect(o.mem.signal).toBe("SIGKILL");
    expect(o.mem.events).toMatch(/oom_kill [1-9]/);
    // undo: launcher back where it started, controllers as before, nothing left below it
    expect(o.after).toEqual({ self: "0::/launcher", ownSubtree: "", ownChildren: [] });
  }, 300_000);
});
