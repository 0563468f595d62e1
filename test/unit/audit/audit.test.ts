import { describe, expect, it } from "vitest";
import { diffPlans, renderDiff } from "../../../src/audit/diff.js";
import { renderPlan, summarizePlan } from "../../../src/audit/render.js";
import { planFromJson, planToJson } from "../../../src/plan/json.js";
import { plan } from "../../../src/plan/plan.js";
import { fixtureConfig, tcgHost, testFragments, tomlConfig } from "../plan/helpers.js";

const base = '[vm]\nname="a"\n[boot]\nkernel="/boot/k"\n[[disk]]\nid="d0"\npath="/srv/vm/data.raw"\n';

describe("renderPlan", () => {
  const p = plan(fixtureConfig("backends"), tcgHost(), testFragments());
  const text = renderPlan(p);

  it("shows every process with uid, namespaces, cgroup, root with needs, fds, rlimits, seccomp, LSM", () => {
    for (const x of p.processes) expect(text).toContain(`== ${x.id} (${x.role})  uid ${x.uid}`);
    expect(text).toContain("net: new (empty)");
    expect(text).toContain("qemu-jail-backends/qemu  memory.max 768 MiB  pids.max 512");
    expect(text).toContain(
      "/shared dir rw <- /srv/share/home    [share[0]: the shared directory (read-write)]",
    );
    expect(text).toContain(
      "connected end of virtiofsd-home's socket /run/qemu-jail/backends/home.virtiofs.sock",
    );
    expect(text).toContain("NOFILE   1048576");
    expect(text).toMatch(/seccomp\s+\d+ rules, default kill_process/);
    expect(text).toContain("ioctl if arg1 == 0x");
    expect(text).toContain("landlock");
    expect(text).toContain("CAP_SYS_CHROOT");
  });

  it("puts warnings first and loud", () => {
    const c = tomlConfig(`${base}aio="io_uring"\n[qemu]\nextra_args=["-device","pvpanic"]\n`);
    const t = renderPlan(plan(c, tcgHost(), testFragments()));
    const firstProcess = t.indexOf("== qemu");
    for (const code of ["EXTRA_ARGS", "IO_URING"]) {
      expect(t.indexOf(`!!! ${code}`)).toBeGreaterThan(-1);
      expect(t.indexOf(`!!! ${code}`)).toBeLessThan(firstProcess);
    }
    expect(summarizePlan(plan(c, tcgHost(), testFragments()))).toContain("WARNING EXTRA_ARGS");
  });

  it("--no-rules gives counts only", () => {
    expect(renderPlan(p, { rules: false })).not.toContain("ioctl if arg1");
  });
});

describe("diffPlans", () => {
  const a = plan(tomlConfig(base), tcgHost(), testFragments());

  it("identical plans: no differences (also after a JSON round trip)", () => {
    expect(diffPlans(a, planFromJson(planToJson(a))).changes).toEqual([]);
    expect(renderDiff(diffPlans(a, a))).toBe("no differences\n");
  });

  it("a new io_uring disk: added fd, added syscall with its need, added warning", () => {
    const b = plan(
      tomlConfig(`${base}[[disk]]\nid="d1"\npath="/srv/vm/seed.raw"\naio="io_uring"\n`),
      tcgHost(),
      testFragments(),
    );
    const d = diffPlans(a, b).changes;
    expect(d).toContainEqual(
      expect.objectContaining({
        process: "qemu",
        area: "fds",
        kind: "added",
        what: "file /srv/vm/seed.raw rw",
      }),
    );
    expect(d).toContainEqual(
      expect.objectContaining({
        area: "syscalls",
        kind: "added",
        what: "io_uring_enter -> allow",
        need: { item: "disk[1]", reason: "io_uring submissions" },
      }),
    );
    expect(d).toContainEqual(expect.objectContaining({ process: "*", area: "warnings", kind: "added" }));
    // The QMP fd keeps its identity even if renumbered: not reported.
    expect(d.some((c) => c.area === "fds" && c.what.includes("qmp"))).toBe(false);
  });

  it("changed limits and removed paths; a new backend process", () => {
    const c = tomlConfig(`${base}[jail.cgroup]\npids_max=64\nmemory_max="1G"\n`);
    c.disk = [];
    const b = plan(c, tcgHost(), testFragments());
    const d = diffPlans(a, b).changes;
    expect(d).toContainEqual(
      expect.objectContaining({ area: "cgroup", kind: "changed", what: "pids.max", from: "512", to: "64" }),
    );
    expect(d).toContainEqual(expect.objectContaining({ area: "cgroup", what: "memory.max", to: "1 GiB" }));
    expect(d).toContainEqual(
      expect.objectContaining({ area: "fds", kind: "removed", what: "file /srv/vm/data.raw rw" }),
    );
    const s = plan(
      tomlConfig(`${base}[[share]]\nid="s"\npath="/srv/s"\ntag="s"\n`),
      tcgHost(),
      testFragments(),
    );
    const ds = diffPlans(a, s);
    expect(ds.changes).toContainEqual(
      expect.objectContaining({ process: "virtiofsd-s", area: "process", kind: "added" }),
    );
    expect(renderDiff(ds)).toMatch(/== virtiofsd-s\n {2}\+ process/);
    expect(renderDiff(ds)).toMatch(/~ syscalls {5}fragments: .* => .*memfd-shared/);
  });
});
