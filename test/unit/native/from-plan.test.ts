import { describe, expect, it } from "vitest";
import { isQemuJailError } from "../../../src/errors.js";
import { specFromPlan } from "../../../src/native/from-plan.js";
import { serializeSpec } from "../../../src/native/serialize.js";
import type { HelperStep } from "../../../src/native/spec.js";
import { qemuProc } from "../lsm/fixture.js";

const ctx = {
  cgroupDirs: ["/sys/fs/cgroup/memory/x/qemu", "/sys/fs/cgroup/unified/x/qemu"],
  seccomp: [new Uint8Array(8)],
  fds: { 3: 30, 4: 40, 5: 50 } as Record<number, number>,
  rootMountpoint: "/run/qemu-jail/vm1/root",
};

function only<K extends HelperStep["step"]>(steps: HelperStep[], k: K): Extract<HelperStep, { step: K }>[] {
  return steps.filter((s): s is Extract<HelperStep, { step: K }> => s.step === k);
}

describe("specFromPlan", () => {
  const proc = qemuProc();
  const steps = specFromPlan(proc, ctx);

  it("maps identity, namespaces, cgroups and the exec", () => {
    expect(only(steps, "ids")).toEqual([{ step: "ids", uid: proc.uid, gid: proc.gid }]);
    expect(only(steps, "unshare")[0]!.namespaces).toEqual(["mount", "pid", "net", "ipc", "uts", "cgroup"]);
    expect(only(steps, "cgroup").map((s) => s.dir)).toEqual(ctx.cgroupDirs);
    expect(only(steps, "exec")).toEqual([{ step: "exec", path: proc.exe, argv: proc.argv }]);
    expect(only(steps, "pdeathsig")).toEqual([{ step: "pdeathsig", signal: 9 }]);
    expect(only(steps, "propagation")).toEqual([{ step: "propagation", mode: "private" }]);
    expect(only(steps, "seccomp")).toHaveLength(1);
  });

  it("maps every root entry and device, executable only where code is mapped", () => {
    const binds = only(steps, "bind");
    expect(binds).toHaveLength(proc.root.filter((e) => e.kind === "bind").length);
    const exec = Object.fromEntries(binds.map((b) => [b.path, b.exec]));
    expect(exec["/usr/bin/qemu-system-x86_64"]).toBe(true);
    expect(exec["/lib64/ld-linux-x86-64.so.2"]).toBe(true);
    expect(exec["/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so"]).toBe(true);
    expect(exec["/usr/share/qemu/bios-256k.bin"]).toBe(false);
    expect(exec["/images/data.qcow2"]).toBe(false);
    expect(binds.find((b) => b.path === "/images/data.qcow2")?.rw).toBe(true);
    expect(only(steps, "mknod").map((d) => d.path)).toEqual(proc.devices.map((d) => d.path));
    // "/" is the root itself, not a mkdir.
    expect(only(steps, "mkdir").some((d) => d.path === "/")).toBe(false);
    expect(only(steps, "root")[0]).toMatchObject({ mountpoint: ctx.rootMountpoint, mode: 0o755 });
  });

  it("gives the payload stdio unless the plan passes fds 0-2, and refuses a passed fd with no source", () => {
    expect(only(steps, "fd").map((f) => [f.target, f.source])).toEqual([
      [0, { stdio: 0 }],
      [1, { stdio: 1 }],
      [2, { stdio: 2 }],
      [3, { parent: 30 }],
      [4, { parent: 40 }],
      [5, { parent: 50 }],
    ]);
    const p = qemuProc();
    p.fds = [
      { fd: 3, source: { kind: "listen-unix", path: "/run/q.sock" }, need: { item: "qmp", reason: "t" } },
    ];
    expect(only(specFromPlan(p, { ...ctx, fds: { 3: 17 } }), "fd").at(-1)).toEqual({
      step: "fd",
      target: 3,
      source: { parent: 17 },
    });
    let err: unknown;
    try {
      specFromPlan(p, { ...ctx, fds: {} });
    } catch (e) {
      err = e;
    }
    expect(isQemuJailError(err) && err.code).toBe("HELPER_FD_MISSING");
  });

  it("joins a planned netns instead of creating one, and maps landlock rules", () => {
    const p = qemuProc();
    p.namespaces.net = { join: "/run/netns/vm1" };
    p.lsm.landlock = {
      required: true,
      rules: [{ path: "/images", access: ["read_file"], need: { item: "d", reason: "t" } }],
    };
    const s = specFromPlan(p, ctx);
    expect(only(s, "netns")).toEqual([{ step: "netns", path: "/run/netns/vm1" }]);
    expect(only(s, "unshare")[0]!.namespaces).not.toContain("net");
    expect(only(s, "landlock")[0]).toMatchObject({ required: true });
    expect(only(s, "landlock-path")).toEqual([
      { step: "landlock-path", path: "/images", access: ["read_file"] },
    ]);
  });

  it("serializes", () => {
    expect(serializeSpec({ steps }).subarray(0, 4).toString()).toBe("QJSP");
  });
});
