import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cgroupDir, parseMountInfo, parseProcCgroup, probeCgroups } from "../../../src/host/cgroup.js";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A fake /proc/self (mountinfo + cgroup) whose cgroup mounts point into the temp dir. */
async function fakeHost(
  mounts: Array<[string, string, string, string]>,
  cgroup: string,
  v2files?: Record<string, string>,
) {
  const root = await mkdtemp(join(tmpdir(), "qj-host-cg-"));
  dirs.push(root);
  await mkdir(join(root, "proc/self"), { recursive: true });
  const lines = mounts.map(
    ([mroot, mp, fstype, opts], i) =>
      `${30 + i} 23 0:${28 + i} ${mroot} ${root}${mp} rw,relatime - ${fstype} ${fstype} ${opts}`,
  );
  lines.unshift(`22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw`);
  await writeFile(join(root, "proc/self/mountinfo"), `${lines.join("\n")}\n`);
  await writeFile(join(root, "proc/self/cgroup"), cgroup);
  for (const [p, text] of Object.entries(v2files ?? {})) {
    await mkdir(join(root, p, ".."), { recursive: true });
    await writeFile(join(root, p), text);
  }
  return root;
}

describe("cgroup layout", () => {
  it("hybrid: v1 per controller plus an unified mount without controllers (this host's shape)", async () => {
    const root = await fakeHost(
      [
        ["/", "/sys/fs/cgroup/cpu", "cgroup", "rw,cpu"],
        ["/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory"],
        ["/", "/sys/fs/cgroup/pids", "cgroup", "rw,pids"],
        ["/", "/sys/fs/cgroup/systemd", "cgroup", "rw,xattr,name=systemd"],
        ["/", "/sys/fs/cgroup/unified", "cgroup2", "rw"],
      ],
      "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
      {
        "sys/fs/cgroup/unified/cgroup.controllers": "hugetlb\n",
        "sys/fs/cgroup/unified/cgroup.subtree_control": "\n",
      },
    );
    const f = await probeCgroups(join(root, "proc"));
    expect(f.mode).toBe("hybrid");
    expect(f.v2).toMatchObject({
      mountPoint: `${root}/sys/fs/cgroup/unified`,
      ownPath: "/",
      controllers: ["hugetlb"],
      subtreeControl: [],
    });
    const mem = f.v1.find((h) => h.controllers.includes("memory"))!;
    expect(mem).toMatchObject({ mountPoint: `${root}/sys/fs/cgroup/memory`, ownPath: "/process_api/abc" });
    expect(f.v1.map((h) => h.controllers.join(","))).toEqual(["cpu", "memory", "pids", "name=systemd"]);
  });

  it("v1 only, with co-mounted cpu,cpuacct and a hierarchy not mounted here", async () => {
    const root = await fakeHost(
      [
        ["/", "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpuacct,cpu"],
        ["/", "/sys/fs/cgroup/memory", "cgroup", "rw,memory"],
      ],
      "5:net_cls:/\n3:cpu,cpuacct:/user.slice\n2:memory:/user.slice/x\n",
    );
    const f = await probeCgroups(join(root, "proc"));
    expect(f.mode).toBe("v1");
    expect(f.v2).toBeUndefined();
    expect(f.v1).toEqual([
      {
        controllers: ["cpu", "cpuacct"],
        mountPoint: `${root}/sys/fs/cgroup/cpu,cpuacct`,
        ownPath: "/user.slice",
        mountRoot: "/",
      },
      {
        controllers: ["memory"],
        mountPoint: `${root}/sys/fs/cgroup/memory`,
        ownPath: "/user.slice/x",
        mountRoot: "/",
      },
    ]);
  });

  it("v2 only, with a sub-tree mount (container-style) resolving the own dir", async () => {
    const root = await fakeHost(
      [["/system.slice/box", "/sys/fs/cgroup", "cgroup2", "rw,nsdelegate"]],
      "0::/system.slice/box/payload\n",
      {
        "sys/fs/cgroup/payload/cgroup.controllers": "cpu io memory pids\n",
        "sys/fs/cgroup/payload/cgroup.subtree_control": "memory\n",
      },
    );
    const f = await probeCgroups(join(root, "proc"));
    expect(f.mode).toBe("v2");
    expect(f.v1).toEqual([]);
    expect(f.v2).toMatchObject({
      ownPath: "/system.slice/box/payload",
      mountRoot: "/system.slice/box",
      controllers: ["cpu", "io", "memory", "pids"],
      subtreeControl: ["memory"],
    });
    expect(cgroupDir(f.v2!.mountPoint, f.v2!.mountRoot, f.v2!.ownPath)).toBe(`${root}/sys/fs/cgroup/payload`);
  });

  it("v2 plus only a named v1 hierarchy is still v2", async () => {
    const root = await fakeHost(
      [
        ["/", "/sys/fs/cgroup", "cgroup2", "rw"],
        ["/", "/run/systemd-v1", "cgroup", "rw,name=systemd"],
      ],
      "1:name=systemd:/\n0::/\n",
    );
    expect((await probeCgroups(join(root, "proc"))).mode).toBe("v2");
  });

  it("no cgroup mounted → host error", async () => {
    const root = await fakeHost([], "0::/\n");
    await expect(probeCgroups(join(root, "proc"))).rejects.toMatchObject({
      code: "HOST_NO_CGROUPS",
      exit: "host",
    });
  });

  it("missing /proc → host error with hint", async () => {
    await expect(probeCgroups("/nonexistent-proc")).rejects.toMatchObject({
      code: "HOST_PROC_UNREADABLE",
      exit: "host",
    });
  });
});

describe("parsers", () => {
  it("decodes octal escapes in mountinfo", () => {
    const [m] = parseMountInfo("36 31 0:32 / /mnt/with\\040space rw - cgroup cgroup rw,memory\n");
    expect(m).toMatchObject({
      mountPoint: "/mnt/with space",
      fsType: "cgroup",
      superOptions: ["rw", "memory"],
    });
  });
  it("handles optional fields before the separator", () => {
    const [m] = parseMountInfo(
      "41 31 0:38 / /sys/fs/cgroup/unified rw,nosuid shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate\n",
    );
    expect(m).toMatchObject({ fsType: "cgroup2", mountPoint: "/sys/fs/cgroup/unified" });
  });
  it("keeps colons in cgroup paths", () => {
    expect(parseProcCgroup("0::/a:b/c\n4:memory:/x\n")).toEqual([
      { id: 0, controllers: [], path: "/a:b/c" },
      { id: 4, controllers: ["memory"], path: "/x" },
    ]);
  });
});
