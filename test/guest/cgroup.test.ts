import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { afterAll, describe, expect, it } from "vitest";
import { runInGuest } from "../guest-vm/run.js";

// This host has v1 controllers and an empty cgroup2: cgroup v2 with controllers is tested in a
// TCG guest, driving the launcher's own cgroup code (src/launch/cgroup.ts) there with node.
describe("cgroup v2 with controllers (TCG guest, real launcher code)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-cgroup-guest-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("creates the VM tree below a delegated service cgroup, limits enforce, undo restores", async () => {
    const bundle = join(dir, "driver.mjs");
    await build({
      entryPoints: [join(import.meta.dirname, "drivers/cgroup-driver.ts")],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      outfile: bundle,
      logLevel: "silent",
    });
    // Like a systemd service with Delegate=yes: the launcher alone in its own cgroup, the
    // controllers enabled for it by the parent (the no-internal-process rule then bites).
    const r = await runInGuest(
      [
        "mount -t cgroup2 cgroup2 /sys/fs/cgroup",
        "echo '+memory +pids +cpu' > /sys/fs/cgroup/cgroup.subtree_control",
        "mkdir /sys/fs/cgroup/service",
        "sh -c 'echo $$ > /sys/fs/cgroup/service/cgroup.procs && exec node /opt/qj-cg/driver.mjs'",
        "echo driver=$?",
        "ls /sys/fs/cgroup/service",
      ].join("\n"),
      { files: { "/opt/qj-cg/driver.mjs": readFileSync(bundle) }, timeoutMs: 120_000 },
    );
    console.log(`cgroup guest run: ${r.bootMs} ms\n${r.stdout}${r.stderr}`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("driver=0");
    const steps = Object.fromEntries(
      r.stdout
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice(7)) as { step: string; data: Record<string, unknown> })
        .map((x) => [x.step, x.data]),
    );
    expect(steps.facts).toMatchObject({ mode: "v2", own: "/service" });
    expect(steps.facts?.controllers).toEqual(expect.arrayContaining(["memory", "pids", "cpu"]));
    expect(steps.created).toMatchObject({
      supervisorDir: "/sys/fs/cgroup/service/supervisor",
      qemuDir: "/sys/fs/cgroup/service/qemu-jail-vm1/qemu",
      pidsMax: "8",
      memoryMax: String(16 << 20),
      cpuWeight: "50",
    });
    // pids: some sleeps started, then fork failed; the kernel counted the refusals.
    const pids = steps.pids as { stdout: string; stderr: string; events: string };
    expect(pids.stderr).toMatch(/fork|Resource temporarily unavailable|Cannot/i);
    expect(Number(/max (\d+)/.exec(pids.events)?.[1])).toBeGreaterThan(0);
    // memory: the OOM killer ended tail with SIGKILL inside the cgroup.
    const mem = steps.memory as { signal: string | null; status: number | null; events: string };
    expect(mem.status === 137 || mem.signal === "SIGKILL").toBe(true);
    expect(Number(/oom_kill (\d+)/.exec(mem.events)?.[1])).toBeGreaterThan(0);
    // undo: every created dir removed; the driver is back in its own cgroup.
    const undo = steps.undo as { left: string[]; ownProcs: string[]; pid: number };
    expect(undo.left).toEqual([]);
    expect(undo.ownProcs).toContain(String(undo.pid));
    expect(r.stdout).toMatch(/ls \/sys\/fs\/cgroup\/service|cgroup\.controllers/);
    expect(r.stdout).not.toMatch(/^qemu-jail-vm1$|^supervisor$/m);
  });
});
