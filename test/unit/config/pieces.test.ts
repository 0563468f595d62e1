// Small pure pieces of the config loader: sizes, derived ids, key location, defaults.

import { describe, expect, it } from "vitest";
import { stableMac, uuidV5 } from "../../../src/config/ids.js";
import { indexPositions, locate } from "../../../src/config/locate.js";
import { parseConfig } from "../../../src/config/parse.js";
import { didYouMean } from "../../../src/config/problems.js";
import { formatSize, parseSize } from "../../../src/config/size.js";

describe("parseSize", () => {
  it.each([
    ["512M", 512 * 2 ** 20],
    ["4G", 4 * 2 ** 30],
    ["1GiB", 2 ** 30],
    ["1.5G", 1.5 * 2 ** 30],
    ["64k", 65536],
    ["2T", 2 * 2 ** 40],
    ["123", 123],
    [4096, 4096],
  ] as const)("%s", (input, bytes) => expect(parseSize(input)).toBe(bytes));

  it.each(["512MB", "1GB", "x", "-1M", "1.2345K", "4 G G", ""])("rejects %j with a hint", (input) => {
    const r = parseSize(input);
    expect(typeof r).toBe("object");
    expect((r as { hint: string }).hint).toMatch(/M|G/);
  });

  it("formats back with the largest exact unit", () => {
    expect([formatSize(2 ** 30), formatSize(1536 * 2 ** 20), formatSize(1000)]).toEqual([
      "1G",
      "1536M",
      "1000",
    ]);
  });
});

describe("derived ids", () => {
  it("uuidV5 matches RFC 9562's example (www.example.com in the DNS namespace)", () => {
    expect(uuidV5("www.example.com", "6ba7b810-9dad-11d1-80b4-00c04fd430c8")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
  });

  it("a VM's uuid and MACs are stable and distinct per nic", () => {
    const text = '[vm]\nname = "same"\n[boot]\nkernel = "/k"\n[[nic]]\nid = "a"\n[[nic]]\nid = "b"\n';
    const one = parseConfig(text);
    const two = parseConfig(text);
    expect(one.vm.uuid).toBe(two.vm.uuid);
    expect(one.vm.uuid).toBe(uuidV5("same"));
    expect(one.nic.map((n) => n.mac)).toEqual(two.nic.map((n) => n.mac));
    expect(one.nic[0]!.mac).not.toBe(one.nic[1]!.mac);
    expect(one.nic[0]!.mac).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/);
    expect(stableMac(one.vm.uuid, "a")).toBe(one.nic[0]!.mac);
  });
});

describe("locate", () => {
  const text = [
    "# comment [not.a.table]",
    "[vm]",
    'name = "x" # trailing',
    'notes = """',
    "cpus = 99",
    '"""',
    "[[disk]]",
    'id = "a"',
    "[[disk.backing]]",
    'path = "b0"',
    "[[disk.backing]]",
    'path = "b1"',
    "[[disk]]",
    'id = "b"',
    "[[disk.backing]]",
    'path = "c0"',
    "[jail]",
    "cgroup.pids_max = 5",
    "id_range = [",
    "  1000,",
    "  2000,",
    "]",
    "x = { y = { z = 1 }, w = [ { v = 2 } ] }",
  ].join("\n");
  const pos = indexPositions(text);
  it.each([
    [["vm", "name"], 3, 1],
    [["vm", "cpus"], 2, 1], // only inside a multi-line string: falls back to [vm]
    [["disk", 0, "backing", 1, "path"], 12, 1],
    [["disk", 1, "id"], 14, 1],
    [["disk", 1, "backing", 0, "path"], 16, 1],
    [["jail", "cgroup", "pids_max"], 18, 1],
    [["jail", "id_range", 1], 21, 3],
    [["jail", "x", "y", "z"], 23, 13],
    [["jail", "x", "w", 0, "v"], 23, 30],
  ] as const)("%j → %i:%i", (path, line, column) => {
    expect(locate(pos, path)).toMatchObject({ line, column });
  });
});

describe("didYouMean", () => {
  it.each([
    ["nmae", ["name", "uuid"], "name"],
    ["memroy", ["memory", "machine"], "memory"],
    ["readonly", ["read_only"], "read_only"],
    ["zzzzzz", ["name", "uuid"], undefined],
  ] as const)("%s", (w, c, want) => expect(didYouMean(w, c)).toBe(want));
});

describe("defaults", () => {
  it("a five-line config gets every default", () => {
    const c = parseConfig('[vm]\nname = "m"\n[boot]\nkernel = "/vmlinuz"\n', { source: "/etc/qj/m.toml" });
    expect(c).toMatchObject({
      source: "/etc/qj/m.toml",
      vm: { arch: "x86_64", machine: "q35", accel: "auto", cpus: 1, memory: 512 * 2 ** 20, cpu_model: "max" },
      boot: { mode: "kernel", kernel: "/vmlinuz", cmdline: "console=ttyS0" },
      disk: [],
      nic: [],
      share: [],
      serial: { mode: "stdio" },
      qmp: {},
      rng: { source: "/dev/urandom" },
      vsock: null,
      jail: {
        uid: "auto",
        gid: "auto",
        seccomp: "kill",
        lsm: "auto",
        landlock: "auto",
        state_dir: "/run/qemu-jail",
        cgroup: { pids_max: 512, memory_overhead: 256 * 2 ** 20 },
      },
      qemu: { binary: "/usr/bin/qemu-system-x86_64", sandbox: true, extra_args: [] },
    });
  });

  it("relative paths resolve against the config's directory, or baseDir", () => {
    const t = '[vm]\nname = "m"\n[boot]\nkernel = "k/vmlinuz"\n[jail]\nstate_dir = "state"\n';
    expect(parseConfig(t, { source: "/a/b/vm.toml" }).boot).toMatchObject({ kernel: "/a/b/k/vmlinuz" });
    expect(parseConfig(t, { source: "/a/b/vm.toml", baseDir: "/z" }).jail.state_dir).toBe("/z/state");
  });

  it("accel kvm defaults cpu_model to host; aarch64 to virt and ttyAMA0", () => {
    expect(parseConfig('[vm]\nname = "m"\naccel = "kvm"\n[boot]\nkernel = "/k"\n').vm.cpu_model).toBe("host");
    const arm = parseConfig('[vm]\nname = "m"\narch = "aarch64"\n[boot]\nkernel = "/k"\n');
    expect([arm.vm.machine, arm.qemu.binary, arm.boot.mode === "kernel" && arm.boot.cmdline]).toEqual([
      "virt",
      "/usr/bin/qemu-system-aarch64",
      "console=ttyAMA0",
    ]);
  });
});
