import { describe, expect, it } from "vitest";
import type { CgroupFacts } from "../../../src/host/types.js";
import {
  type CgroupOp,
  cpuWeightToShares,
  ioWeightToBlkio,
  limitWrites,
  planCgroupOps,
  sharesToCpuWeight,
} from "../../../src/launch/cgroup.js";
import type { CgroupPlan } from "../../../src/plan/types.js";

const need = { item: "vm", reason: "test" } as unknown as CgroupPlan["devices"][number]["need"];

const hybrid: CgroupFacts = {
  mode: "hybrid",
  v2: { mountPoint: "/sys/fs/cgroup/unified", ownPath: "/", controllers: ["hugetlb"], subtreeControl: [] },
  v1: [
    { controllers: ["blkio"], mountPoint: "/sys/fs/cgroup/blkio", ownPath: "/" },
    { controllers: ["cpu"], mountPoint: "/sys/fs/cgroup/cpu", ownPath: "/" },
    { controllers: ["cpuacct"], mountPoint: "/sys/fs/cgroup/cpuacct", ownPath: "/" },
    { controllers: ["cpuset"], mountPoint: "/sys/fs/cgroup/cpuset", ownPath: "/" },
    { controllers: ["devices"], mountPoint: "/sys/fs/cgroup/devices", ownPath: "/" },
    { controllers: ["freezer"], mountPoint: "/sys/fs/cgroup/freezer", ownPath: "/" },
    { controllers: ["memory"], mountPoint: "/sys/fs/cgroup/memory", ownPath: "/process_api/abc" },
    { controllers: ["pids"], mountPoint: "/sys/fs/cgroup/pids", ownPath: "/" },
    { controllers: ["name=systemd"], mountPoint: "/sys/fs/cgroup/systemd", ownPath: "/" },
  ],
};
const v2: CgroupFacts = {
  mode: "v2",
  v2: {
    mountPoint: "/sys/fs/cgroup",
    ownPath: "/system.slice/qj.service",
    controllers: ["cpu", "io", "memory", "pids"],
  },
  v1: [],
};
const v1: CgroupFacts = {
  mode: "v1",
  v1: [
    { controllers: ["cpu", "cpuacct"], mountPoint: "/cg/cpu,cpuacct", ownPath: "/x" },
    { controllers: ["memory"], mountPoint: "/cg/memory", ownPath: "/x" },
    { controllers: ["pids"], mountPoint: "/cg/pids", ownPath: "/x" },
  ],
};

const qemu: CgroupPlan = {
  path: "qemu-jail-vm1/qemu",
  cpuWeight: 200,
  cpuMax: { quotaUs: 50000, periodUs: 100000 },
  memoryMax: 768 * 1024 * 1024,
  pidsMax: 64,
  ioWeight: 100,
  devices: [{ rule: "c 1:9 rwm", need }],
};
const fsd: CgroupPlan = { path: "qemu-jail-vm1/virtiofsd-share0", pidsMax: 32, devices: [] };
const req = {
  path: "qemu-jail-vm1",
  processes: [
    { id: "virtiofsd-share0", cgroup: fsd },
    { id: "qemu", cgroup: qemu },
  ],
};
const brief = (ops: CgroupOp[]) =>
  ops.map((o) =>
    o.op === "mkdir"
      ? `mkdir ${o.dir}${o.fresh ? "" : " (may exist)"}`
      : o.op === "enable"
        ? `enable ${o.dir} ${o.controllers.join(" ")}${o.isOwn ? " (own)" : ""}`
        : `write ${o.dir}/${o.files[0]} ${o.value}`,
  );

describe("limit mapping", () => {
  it.each([
    [1, 10],
    [100, 1024],
    [200, 2048],
    [10000, 102400],
  ])("cpu weight %i → shares %i and back", (w, s) => {
    expect(cpuWeightToShares(w)).toBe(s);
    expect(sharesToCpuWeight(s)).toBe(w);
  });
  it.each([
    [1, 10],
    [100, 500],
    [150, 750],
    [10000, 1000],
  ])("io weight %i → blkio %i", (w, b) => {
    expect(ioWeightToBlkio(w)).toBe(b);
  });
  it("v1 writes: period before quota, deny-all before allows", () => {
    expect(limitWrites(qemu, "v1").map((w) => `${w.files.join("|")}=${w.value}`)).toEqual([
      "memory.limit_in_bytes=805306368",
      "pids.max=64",
      "cpu.shares=2048",
      "cpu.cfs_period_us=100000",
      "cpu.cfs_quota_us=50000",
      "blkio.weight|blkio.bfq.weight=500",
      "devices.deny=a",
      "devices.allow=c 1:9 rwm",
    ]);
  });
  it("v2 writes (no device file: that needs BPF)", () => {
    expect(limitWrites(qemu, "v2").map((w) => `${w.files.join("|")}=${w.value}`)).toEqual([
      "memory.max=805306368",
      "pids.max=64",
      "cpu.weight=200",
      "cpu.max=50000 100000",
      "io.weight|io.bfq.weight=default 100",
    ]);
  });
});

describe("planCgroupOps", () => {
  it("hybrid (this host): v1 per controller below each own path, v2 for membership only", () => {
    const p = planCgroupOps(hybrid, req);
    expect(p.join.qemu).toEqual([
      "/sys/fs/cgroup/unified/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/blkio/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/cpu/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/cpuacct/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/devices/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/memory/process_api/abc/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/pids/qemu-jail-vm1/qemu",
      "/sys/fs/cgroup/systemd/qemu-jail-vm1/qemu",
    ]);
    expect(p.ops.some((o) => o.op === "enable")).toBe(false);
    const mem = brief(p.ops.filter((o) => o.hierarchy === "v1:memory"));
    expect(mem).toEqual([
      "mkdir /sys/fs/cgroup/memory/process_api/abc/qemu-jail-vm1",
      "mkdir /sys/fs/cgroup/memory/process_api/abc/qemu-jail-vm1/virtiofsd-share0",
      "mkdir /sys/fs/cgroup/memory/process_api/abc/qemu-jail-vm1/qemu",
      "write /sys/fs/cgroup/memory/process_api/abc/qemu-jail-vm1/qemu/memory.limit_in_bytes 805306368",
    ]);
    expect(brief(p.ops.filter((o) => o.hierarchy === "v1:devices" && o.op === "write"))).toEqual([
      "write /sys/fs/cgroup/devices/qemu-jail-vm1/qemu/devices.deny a",
      "write /sys/fs/cgroup/devices/qemu-jail-vm1/qemu/devices.allow c 1:9 rwm",
    ]);
    expect(p.ops.some((o) => o.hierarchy.includes("cpuset") || o.hierarchy.includes("freezer"))).toBe(false);
    expect(p.warnings).toEqual([]);
  });

  it("v2: controllers enabled from the own cgroup down; leaves hold the limits", () => {
    const p = planCgroupOps(v2, req);
    const base = "/sys/fs/cgroup/system.slice/qj.service";
    expect(brief(p.ops)).toEqual([
      `enable ${base} cpu io memory pids (own)`,
      `mkdir ${base}/qemu-jail-vm1`,
      `enable ${base}/qemu-jail-vm1 cpu io memory pids`,
      `mkdir ${base}/qemu-jail-vm1/virtiofsd-share0`,
      `write ${base}/qemu-jail-vm1/virtiofsd-share0/pids.max 32`,
      `mkdir ${base}/qemu-jail-vm1/qemu`,
      `write ${base}/qemu-jail-vm1/qemu/memory.max 805306368`,
      `write ${base}/qemu-jail-vm1/qemu/pids.max 64`,
      `write ${base}/qemu-jail-vm1/qemu/cpu.weight 200`,
      `write ${base}/qemu-jail-vm1/qemu/cpu.max 50000 100000`,
      `write ${base}/qemu-jail-vm1/qemu/io.weight default 100`,
    ]);
    expect(p.join).toEqual({
      "virtiofsd-share0": [`${base}/qemu-jail-vm1/virtiofsd-share0`],
      qemu: [`${base}/qemu-jail-vm1/qemu`],
    });
    expect(p.warnings.map((w) => w.code)).toEqual(["CGROUP_DEVICES_UNENFORCED"]);
  });

  it("v2 with an explicit parent: not the own cgroup, nested VM path gets intermediate dirs", () => {
    const p = planCgroupOps(v2, {
      parent: "/machine.slice",
      path: "qj/vm1",
      processes: [{ id: "q", cgroup: { path: "qj/vm1/q", pidsMax: 5, devices: [] } }],
    });
    expect(brief(p.ops)).toEqual([
      "enable /sys/fs/cgroup/machine.slice pids",
      "mkdir /sys/fs/cgroup/machine.slice/qj (may exist)",
      "enable /sys/fs/cgroup/machine.slice/qj pids",
      "mkdir /sys/fs/cgroup/machine.slice/qj/vm1",
      "enable /sys/fs/cgroup/machine.slice/qj/vm1 pids",
      "mkdir /sys/fs/cgroup/machine.slice/qj/vm1/q",
      "write /sys/fs/cgroup/machine.slice/qj/vm1/q/pids.max 5",
    ]);
  });

  it("v1 only with co-mounted cpu,cpuacct", () => {
    const p = planCgroupOps(v1, req);
    expect(p.join.qemu).toEqual([
      "/cg/cpu,cpuacct/x/qemu-jail-vm1/qemu",
      "/cg/memory/x/qemu-jail-vm1/qemu",
      "/cg/pids/x/qemu-jail-vm1/qemu",
    ]);
    expect(brief(p.ops.filter((o) => o.hierarchy === "v1:cpu,cpuacct" && o.op === "write"))).toEqual([
      "write /cg/cpu,cpuacct/x/qemu-jail-vm1/qemu/cpu.shares 2048",
      "write /cg/cpu,cpuacct/x/qemu-jail-vm1/qemu/cpu.cfs_period_us 100000",
      "write /cg/cpu,cpuacct/x/qemu-jail-vm1/qemu/cpu.cfs_quota_us 50000",
    ]);
    // io weight has no controller here (soft), devices neither (warned)
    expect(p.warnings.map((w) => w.code).sort()).toEqual([
      "CGROUP_CONTROLLER_MISSING",
      "CGROUP_DEVICES_UNENFORCED",
    ]);
  });

  it("a hard limit whose controller is missing is a host error", () => {
    const noMem: CgroupFacts = {
      mode: "v2",
      v2: { mountPoint: "/cg", ownPath: "/", controllers: ["pids"] },
      v1: [],
    };
    expect(() => planCgroupOps(noMem, req)).toThrow(
      expect.objectContaining({ code: "CGROUP_CONTROLLER_MISSING", exit: "host" }),
    );
  });

  it.each([
    ["../escape", "../escape/q"],
    ["vm", "other/q"],
    ["vm", "vm"],
    ["vm", "vm/../x"],
    ["vm/", "vm//q"],
    ["", "q"],
    ["vm", "vm/a b"],
  ])("refuses VM path %j with process path %j", (path, p) => {
    expect(() =>
      planCgroupOps(v2, { path, processes: [{ id: "q", cgroup: { path: p, devices: [] } }] }),
    ).toThrow(expect.objectContaining({ code: "CGROUP_BAD_PATH" }));
  });

  it("refuses a relative or escaping parent, and nested process leaves", () => {
    expect(() => planCgroupOps(v2, { parent: "rel", path: "vm", processes: [] })).toThrow(/parent/);
    expect(() => planCgroupOps(v2, { parent: "/a/../..", path: "vm", processes: [] })).toThrow(/parent/);
    expect(() =>
      planCgroupOps(v2, {
        path: "vm",
        processes: [
          { id: "a", cgroup: { path: "vm/a", devices: [] } },
          { id: "b", cgroup: { path: "vm/a/b", devices: [] } },
        ],
      }),
    ).toThrow(/leaves only/);
  });
});
