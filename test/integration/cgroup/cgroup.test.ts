// Real cgroups on this host: VM cgroups created below the test's own cgroup in every hierarchy,
// limits written and read back, real processes joined and limited, then removed so the host's
// trees are exactly as before. The test process itself never moves.

import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cgroupDir, probeCgroups } from "../../../src/host/cgroup.js";
import type { CgroupFacts } from "../../../src/host/types.js";
import { createVmCgroups, type VmCgroups } from "../../../src/launch/cgroup.js";
import type { CgroupPlan } from "../../../src/plan/types.js";

const root = process.getuid?.() === 0;
const need = { item: "test", reason: "integration" } as unknown as CgroupPlan["devices"][number]["need"];
const prefix = `qjhost-${process.pid}-`;
let facts: CgroupFacts;

/** Every hierarchy's own dir (where VM cgroups go). */
const ownDirs = () => [
  ...(facts.v2 ? [cgroupDir(facts.v2.mountPoint, facts.v2.mountRoot, facts.v2.ownPath)] : []),
  ...facts.v1.map((h) => cgroupDir(h.mountPoint, h.mountRoot, h.ownPath)),
];

/** What this test could change: our prefixed cgroups, our own membership, the own cgroups' knobs. */
async function snapshot(): Promise<string> {
  const parts: string[] = [await readFile("/proc/self/cgroup", "utf8")];
  for (const d of ownDirs()) {
    const ours = (await readdir(d)).filter((n) => n.startsWith("qjhost-")).sort();
    parts.push(`${d}: ${ours.join(",")}`);
    for (const f of [
      "cgroup.subtree_control",
      "memory.limit_in_bytes",
      "pids.max",
      "cpu.shares",
      "devices.list",
    ]) {
      const t = await readFile(join(d, f), "utf8").catch(() => "-");
      parts.push(`${d}/${f}=${t.trim()}`);
    }
  }
  return parts.join("\n");
}

let before = "";
beforeAll(async () => {
  if (!root) return;
  facts = await probeCgroups();
  before = await snapshot();
});
afterAll(async () => {
  if (!root) return;
  expect(await snapshot()).toBe(before);
});

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );
const read = async (dir: string, f: string) => (await readFile(join(dir, f), "utf8")).trim();
const dirFor = (vm: VmCgroups, id: string, ctl: string) => {
  const h = facts.v1.find((x) => x.controllers.includes(ctl));
  const base = h ? cgroupDir(h.mountPoint, h.mountRoot, h.ownPath) : undefined;
  return vm.join[id]!.find((d) => (base ? d.startsWith(`${base}/`) : false))!;
};
function exited(p: ChildProcess): Promise<void> {
  return new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once("exit", () => r())));
}

describe.skipIf(!root)("cgroups on this host (real kernel)", () => {
  it("creates the VM tree in every hierarchy, writes limits, joins a real process, removes exactly that", async () => {
    const name = `${prefix}a`;
    const qemu: CgroupPlan = {
      path: `${name}/qemu`,
      memoryMax: 64 * 1024 * 1024,
      pidsMax: 16,
      cpuWeight: 50,
      cpuMax: { quotaUs: 20000, periodUs: 100000 },
      ioWeight: 100,
      devices: [
        { rule: "c 1:3 rwm", need },
        { rule: "c 1:9 rw", need },
      ],
    };
    const vm = await createVmCgroups(facts, {
      path: name,
      processes: [
        { id: "virtiofsd", cgroup: { path: `${name}/virtiofsd`, pidsMax: 4, devices: [] } },
        { id: "qemu", cgroup: qemu },
      ],
    });
    try {
      // every created dir exists; one leaf per managed hierarchy
      for (const d of vm.created) expect(await exists(d)).toBe(true);
      expect(vm.join.qemu!.length).toBeGreaterThan(1);
      if (facts.v1.some((h) => h.controllers.includes("memory"))) {
        expect(await read(dirFor(vm, "qemu", "memory"), "memory.limit_in_bytes")).toBe(
          String(64 * 1024 * 1024),
        );
      }
      if (facts.v1.some((h) => h.controllers.includes("pids"))) {
        expect(await read(dirFor(vm, "qemu", "pids"), "pids.max")).toBe("16");
        expect(await read(dirFor(vm, "virtiofsd", "pids"), "pids.max")).toBe("4");
      }
      if (facts.v1.some((h) => h.controllers.includes("cpu"))) {
        const cpu = dirFor(vm, "qemu", "cpu");
        expect(await read(cpu, "cpu.shares")).toBe("512");
        expect(await read(cpu, "cpu.cfs_period_us")).toBe("100000");
        expect(await read(cpu, "cpu.cfs_quota_us")).toBe("20000");
      }
      if (facts.v1.some((h) => h.controllers.includes("devices"))) {
        expect((await read(dirFor(vm, "qemu", "devices"), "devices.list")).split("\n").sort()).toEqual([
          "c 1:3 rwm",
          "c 1:9 rw",
        ]);
      }
      const blkio = facts.v1.find((h) => h.controllers.includes("blkio"));
      if (blkio) {
        const leaf = dirFor(vm, "qemu", "blkio");
        const hasWeight =
          (await exists(join(leaf, "blkio.weight"))) || (await exists(join(leaf, "blkio.bfq.weight")));
        expect(vm.warnings.some((w) => w.code === "CGROUP_LIMIT_UNSUPPORTED")).toBe(!hasWeight);
      }

      // a real process joins every leaf (as the native helper will) and /proc/PID/cgroup agrees
      const child = spawn("sleep", ["30"], { stdio: "ignore" });
      try {
        for (const d of vm.join.qemu!) await writeFile(join(d, "cgroup.procs"), String(child.pid));
        const lines = (await readFile(`/proc/${child.pid}/cgroup`, "utf8")).trim().split("\n");
        for (const h of facts.v1.filter((x) => vm.join.qemu!.some((d) => d.startsWith(`${x.mountPoint}/`)))) {
          const line = lines.find((l) => l.split(":")[1] === h.controllers.join(","));
          expect(line?.split(":")[2]).toBe(`${h.ownPath === "/" ? "" : h.ownPath}/${name}/qemu`);
        }
        if (facts.v2)
          expect(lines.find((l) => l.startsWith("0::"))).toBe(
            `0::${facts.v2.ownPath === "/" ? "" : facts.v2.ownPath}/${name}/qemu`,
          );
        // the devices rules hold: /dev/zero (1:5) is not allowed, /dev/null (1:3) is
        const dev = facts.v1.some((h) => h.controllers.includes("devices"));
        if (dev) {
          const sh = await runIn(
            vm.join.qemu!,
            "head -c1 /dev/zero >/dev/null && echo zero-ok; echo x > /dev/null && echo null-ok",
          );
          expect(sh.out).toContain("null-ok");
          expect(sh.out).not.toContain("zero-ok");
          expect(sh.err).toMatch(/Operation not permitted/);
        }
      } finally {
        child.kill("SIGKILL");
        await exited(child);
      }
    } finally {
      await vm.undo();
    }
    for (const d of vm.created) expect(await exists(d)).toBe(false);
  });

  it("pids.max blocks forks beyond the limit", async () => {
    if (!facts.v1.some((h) => h.controllers.includes("pids")) && !facts.v2?.controllers.includes("pids"))
      return;
    const name = `${prefix}pids`;
    const vm = await createVmCgroups(facts, {
      path: name,
      processes: [{ id: "p", cgroup: { path: `${name}/p`, pidsMax: 5, devices: [] } }],
    });
    try {
      // The shell joins first, then forks 10 sleepers: 4 fit beside it, the 5th fork fails and
      // the shell gives up ("Cannot fork"), leaving exactly the 4 sleepers in the cgroup.
      const r = await runIn(
        vm.join.p!,
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 </dev/null >/dev/null 2>&1 & done; echo all-forked",
      );
      expect(r.out).not.toContain("all-forked");
      expect(r.err).toMatch(/fork/i);
      const pids = dirFor(vm, "p", "pids");
      expect(await read(pids, "pids.current")).toBe("4");
      expect(await read(pids, "pids.events")).toMatch(/^max [1-9]/);
    } finally {
      await vm.undo({ killRemaining: true });
    }
    for (const d of vm.created) expect(await exists(d)).toBe(false);
  });

  it("memory limit OOM-kills a process that exceeds it", async () => {
    if (!facts.v1.some((h) => h.controllers.includes("memory"))) return;
    const name = `${prefix}mem`;
    const vm = await createVmCgroups(facts, {
      path: name,
      processes: [{ id: "m", cgroup: { path: `${name}/m`, memoryMax: 32 * 1024 * 1024, devices: [] } }],
    });
    try {
      const r = await runIn(vm.join.m!, "exec /usr/bin/python3 -c 'b = b\"x\" * (256 << 20); print(len(b))'");
      expect(r.signal ?? r.code).toBe("SIGKILL");
      expect(Number(await read(dirFor(vm, "m", "memory"), "memory.failcnt"))).toBeGreaterThan(0);
    } finally {
      await vm.undo({ killRemaining: true });
    }
  });

  it("undo waits for a process that was just killed to leave its cgroup", async () => {
    const name = `${prefix}dying`;
    const vm = await createVmCgroups(facts, {
      path: name,
      processes: [{ id: "q", cgroup: { path: `${name}/q`, pidsMax: 8, devices: [] } }],
    });
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    for (const d of vm.join.q!) await writeFile(join(d, "cgroup.procs"), String(child.pid));
    child.kill("SIGKILL");
    // no wait for the exit: rmdir gives EBUSY until the task is gone and undo retries
    await vm.undo();
    for (const d of vm.created) expect(await exists(d)).toBe(false);
    await exited(child);
  });

  it("undo refuses to pretend: a live process keeps its cgroup, and undo says so", async () => {
    const name = `${prefix}live`;
    const vm = await createVmCgroups(
      facts,
      { path: name, processes: [{ id: "q", cgroup: { path: `${name}/q`, devices: [] } }] },
      { rmdirTimeoutMs: 200 },
    );
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      for (const d of vm.join.q!) await writeFile(join(d, "cgroup.procs"), String(child.pid));
      await expect(vm.undo()).rejects.toMatchObject({ code: "CGROUP_UNDO_INCOMPLETE" });
      expect(await exists(vm.join.q![0]!)).toBe(true);
    } finally {
      child.kill("SIGKILL");
      await exited(child);
    }
    // a second undo (the launcher's retry, or gc's) finishes the job
    await vm.undo();
  });

  it("an existing VM cgroup is never adopted, and the running one is left intact", async () => {
    const name = `${prefix}dup`;
    const req = {
      path: name,
      processes: [{ id: "q", cgroup: { path: `${name}/q`, pidsMax: 3, devices: [] } }],
    };
    const first = await createVmCgroups(facts, req);
    try {
      await expect(createVmCgroups(facts, req)).rejects.toMatchObject({
        code: "CGROUP_EXISTS",
        exit: "state",
      });
      for (const d of first.created) expect(await exists(d)).toBe(true);
    } finally {
      await first.undo();
    }
  });

  it("a limit the kernel refuses fails the setup and leaves nothing behind", async () => {
    if (!facts.v1.some((h) => h.controllers.includes("cpu"))) return;
    const name = `${prefix}bad`;
    // The kernel's minimum CFS quota is 1 ms: 500 µs gives EINVAL.
    const err = await createVmCgroups(facts, {
      path: name,
      processes: [
        { id: "q", cgroup: { path: `${name}/q`, cpuMax: { quotaUs: 500, periodUs: 100000 }, devices: [] } },
      ],
    }).catch((e) => e);
    expect(err).toMatchObject({ code: "CGROUP_WRITE_FAILED", exit: "jail" });
    expect(err.message).toMatch(/cpu.cfs_quota_us: EINVAL/);
    for (const d of ownDirs()) expect(await exists(join(d, name))).toBe(false);
  });
});

/** Runs `script` in a shell that first joins every dir in `dirs`, as the helper would do. */
function runIn(
  dirs: string[],
  script: string,
  env: Record<string, string> = {},
): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  const join1 = dirs.map((d) => `echo $$ > '${d}/cgroup.procs'`).join(" && ");
  const p = spawn("sh", ["-c", `${join1} && { ${script}; }`], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
  });
  let out = "";
  let err = "";
  p.stdout.on("data", (b) => {
    out += b;
  });
  p.stderr.on("data", (b) => {
    err += b;
  });
  return new Promise((r) => p.once("close", (code, signal) => r({ code, signal, out, err })));
}
