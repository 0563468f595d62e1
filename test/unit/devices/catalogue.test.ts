import { describe, expect, it } from "vitest";
import type { VmConfig } from "../../../src/config/types.js";
import { resolveAccel } from "../../../src/devices/accel.js";
import { catalogue } from "../../../src/devices/index.js";
import { machineFirmware } from "../../../src/devices/machine.js";
import type { CatalogueContext, Contribution } from "../../../src/devices/types.js";
import type { HostFacts } from "../../../src/host/types.js";
import { backendIds } from "../../../src/plan/plan.js";
import { debianHost, tcgHost, tomlConfig } from "../plan/helpers.js";

function context(config: VmConfig, host: HostFacts = tcgHost()): CatalogueContext {
  const a = resolveAccel(config.vm.accel, host, config.vm.arch);
  const backends = backendIds(config);
  const ids = Array.from({ length: 1 + backends.length }, (_, i) => 600000 + i);
  return {
    config,
    host,
    accel: a.accel,
    accelReason: a.reason,
    ids: { uid: ids, gid: ids },
    backendIndex: Object.fromEntries(backends.map((id, i) => [id, i + 1])),
    stateDir: `/run/qemu-jail/${config.vm.name}`,
    memfd: backends.length > 0,
  };
}

function kind(name: string) {
  const k = catalogue.find((x) => x.kind === name);
  if (!k) throw new Error(`no kind ${name}`);
  return k;
}

/** Every entry a contribution carries must name a need whose item belongs to the contribution's item. */
function everyEntryHasANeed(c: Contribution): void {
  const needs = [
    ...(c.root ?? []).map((e) => e.need),
    ...(c.devices ?? []).map((d) => d.need),
    ...(c.fds ?? []).map((f) => f.need),
    ...(c.fragments ?? []).map((f) => f.need),
    ...(c.rlimits ?? []).map((r) => r.need),
    ...(c.capabilities ?? []).map((x) => x.need),
    ...(c.taps ?? []).map((t) => t.need),
    ...(c.ownership ?? []).map((o) => o.need),
  ];
  for (const n of needs) {
    expect(n.reason.length).toBeGreaterThan(0);
    const root = c.item.split(/[.[]/)[0]!;
    expect(n.item.startsWith(root) || n.item.startsWith("qemu")).toBe(true);
  }
}

const base = '[vm]\nname="t"\n[boot]\nkernel="/boot/k"\ninitrd="/boot/i"\n';

// kind, extra TOML, expectation on that kind's contributions
const table: Array<[string, string, (cs: Contribution[]) => void]> = [
  [
    "qemu",
    "",
    (cs) => {
      const paths = cs.flatMap((c) => c.root ?? []).map((e) => e.path);
      expect(paths).toContain("/usr/bin/qemu-system-x86_64");
      expect(paths).toContain("/lib64/ld-linux-x86-64.so.2");
      expect(cs[0]!.devices!.map((d) => d.path)).toEqual(["/dev/null", "/dev/urandom"]);
      expect(cs[0]!.fragments!.map((f) => f.fragment)).toEqual(["base", "exec"]);
    },
  ],
  [
    "machine",
    "",
    (cs) =>
      expect(cs.map((c) => [c.item, c.root!.map((e) => e.path)])).toEqual([
        ["vm.machine", ["/usr/share/seabios/bios-256k.bin", "/usr/share/qemu/kvmvapic.bin"]],
        ["boot.kernel", ["/usr/share/qemu/linuxboot_dma.bin"]],
      ]),
  ],
  [
    "accel",
    "",
    (cs) => {
      expect(cs[0]!.fragments!.map((f) => f.fragment)).toEqual(["accel-tcg"]);
      expect(cs[0]!.root!.map((e) => e.path)).toContain("/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so");
    },
  ],
  [
    "boot",
    "",
    (cs) => {
      expect(cs[0]!.root!.map((e) => [e.path, e.kind === "bind" && e.source])).toEqual([
        ["/vm/kernel", "/boot/k"],
        ["/vm/initrd", "/boot/i"],
      ]);
      expect(cs[0]!.paths).toEqual({ "/boot/k": "/vm/kernel", "/boot/i": "/vm/initrd" });
    },
  ],
  [
    "disk",
    '[[disk]]\nid="a"\npath="/srv/vm/data.raw"\nreadonly=true\n[[disk]]\nid="b"\npath="/srv/vm/root.qcow2"\nformat="qcow2"\nbacking=[{path="/srv/vm/base.qcow2",format="qcow2"}]\ndiscard=true\n',
    (cs) => {
      expect(cs[0]!.fds!.map((f) => f.source)).toEqual([
        { kind: "file", path: "/srv/vm/data.raw", write: false },
      ]);
      expect(cs[0]!.rlimits).toEqual([]);
      expect(cs[1]!.fds!.map((f) => [f.source.kind === "file" && f.source.write, f.need.item])).toEqual([
        [true, "disk[1]"],
        [false, "disk[1].backing[0]"],
      ]);
      expect(cs[1]!.fragments!.map((f) => f.fragment)).toEqual([
        "block",
        "block-aio-threads",
        "block-discard",
      ]);
      for (const c of cs) expect(c.root ?? []).toEqual([]);
    },
  ],
  [
    "nic",
    '[[nic]]\nid="u"\nmode="user"\n[[nic]]\nid="t"\nmode="tap"\ntap="tap0"\n',
    (cs) => {
      expect(cs[0]!.hostNet?.item).toBe("nic[0]");
      expect(cs[1]!.hostNet).toBeUndefined();
      expect(cs[1]!.fds![0]!.source).toEqual({ kind: "tap", name: "tap0" });
      expect(cs[1]!.taps).toBeUndefined();
    },
  ],
  [
    "share",
    '[[share]]\nid="s"\npath="/srv/s"\ntag="s"\nreadonly=true\n',
    (cs) => {
      expect(cs.map((c) => c.target)).toEqual(["virtiofsd-s", "qemu"]);
      expect(cs[0]!.backend?.role).toBe("virtiofsd");
      expect(cs[0]!.root!.find((e) => e.kind === "proc")?.need.item).toBe("share[0]");
      expect(cs[1]!.fds![0]!.source).toEqual({
        kind: "socket-of",
        process: "virtiofsd-s",
        endpoint: "/run/qemu-jail/t/s.virtiofs.sock",
      });
    },
  ],
  [
    "serial",
    '[serial]\nmode="file"\npath="/var/log/c.log"\n',
    (cs) => {
      expect(cs[0]!.fds![0]!.source).toEqual({
        kind: "file",
        path: "/var/log/c.log",
        write: true,
        append: true,
      });
      expect(cs[0]!.fds![0]!.fdset).toBe(true);
    },
  ],
  [
    "qmp",
    "",
    (cs) =>
      expect(cs[0]!.fds![0]!.source).toEqual({ kind: "listen-unix", path: "/run/qemu-jail/t/qmp.sock" }),
  ],
  [
    "rng",
    '[rng]\nsource="/dev/random"\n',
    (cs) => expect(cs[0]!.devices!.map((d) => d.path)).toEqual(["/dev/random"]),
  ],
  [
    "memory",
    '[[share]]\nid="s"\npath="/srv/s"\ntag="s"\n',
    (cs) => expect(cs[0]!.fragments![0]!.fragment).toBe("memfd-shared"),
  ],
  ["qemu-sandbox", "", (cs) => expect(cs[0]!.fragments![0]!.fragment).toBe("qemu-sandbox")],
  [
    "extra-args",
    '[qemu]\nextra_args=["-device","pvpanic"]\n',
    (cs) => {
      expect(cs[0]!.warnings![0]!.code).toBe("EXTRA_ARGS");
      expect(cs[0]!.fragments).toBeUndefined();
    },
  ],
  [
    "extra-ro-paths",
    '[jail]\nextra_ro_paths=["/etc/ssl/certs"]\n',
    (cs) => {
      expect(cs[0]!.root![0]).toMatchObject({ path: "/etc/ssl/certs", rw: false });
      expect(cs[0]!.warnings![0]!.code).toBe("EXTRA_RO_PATH");
    },
  ],
];

describe("device catalogue", () => {
  it.each(table)("%s", (name, extra, check) => {
    const ctx = context(tomlConfig(base + extra));
    const cs = kind(name).contribute(ctx);
    expect(cs.length).toBeGreaterThan(0);
    for (const c of cs) everyEntryHasANeed(c);
    check(cs);
  });

  it("kinds with nothing configured contribute nothing", () => {
    const ctx = context(tomlConfig(`${base}[serial]\nmode="none"\n[qemu]\nsandbox=false\n`));
    for (const k of [
      "disk",
      "nic",
      "share",
      "serial",
      "memory",
      "qemu-sandbox",
      "extra-args",
      "extra-ro-paths",
      "vsock",
    ]) {
      expect(kind(k).contribute(ctx)).toEqual([]);
    }
  });

  it("kind names are unique", () => {
    const names = catalogue.map((k) => k.kind);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("machine firmware", () => {
  it.each([
    [
      '[vm]\nname="a"\nmachine="pc"\n[boot]\nkernel="/k"\n',
      ["bios-256k.bin", "linuxboot_dma.bin", "kvmvapic.bin"],
    ],
    ['[vm]\nname="a"\nmachine="microvm"\n[boot]\nkernel="/k"\n', ["bios-microvm.bin"]],
    ['[vm]\nname="a"\n[boot]\ncode="/c.fd"\n', ["kvmvapic.bin"]],
  ])("%#", (toml, names) => {
    expect(machineFirmware(context(tomlConfig(toml))).map((f) => f.name)).toEqual(names);
  });

  it("an optional ROM the host lacks is left out; a required one is a host error", () => {
    const host = tcgHost();
    delete host.qemu.firmware!["kvmvapic.bin"];
    const cs = kind("machine").contribute(context(tomlConfig('[vm]\nname="a"\n[boot]\nkernel="/k"\n'), host));
    expect(cs[0]!.root!.map((e) => e.path)).not.toContain("/usr/share/qemu/kvmvapic.bin");
    delete host.qemu.firmware!["bios-256k.bin"];
    expect(() =>
      kind("machine").contribute(context(tomlConfig('[vm]\nname="a"\n[boot]\nkernel="/k"\n'), host)),
    ).toThrow(/bios-256k.bin/);
  });

  // What QEMU 7.2's x86 loader loads for each kind of -kernel file (checked with strace: pvh.bin
  // for Debian's vmlinux, linuxboot_dma.bin for its bzImage; an ELF without the note makes QEMU exit).
  it.each([
    ["bzImage", false, "linuxboot_dma.bin"],
    ["elf", true, "pvh.bin"],
    ["multiboot", false, "multiboot_dma.bin"],
    ["unknown", false, "linuxboot_dma.bin"],
    [undefined, false, "linuxboot_dma.bin"],
  ] as const)("kernel %s (pvh %s) → %s, needed by boot.kernel", (format, pvh, rom) => {
    const host = tcgHost();
    if (format) host.kernels = { "/k": { path: "/k", format, pvh } };
    else delete host.kernels;
    const cs = kind("machine").contribute(context(tomlConfig('[vm]\nname="a"\n[boot]\nkernel="/k"\n'), host));
    const entry = cs.find((c) => c.item === "boot.kernel")!.root![0]!;
    expect(entry).toMatchObject({ path: `/usr/share/qemu/${rom}`, source: `/usr/share/qemu/${rom}` });
    expect(entry.need.item).toBe("boot.kernel");
    expect(cs.flatMap((c) => c.root!).map((e) => e.path)).toContain("/usr/share/seabios/bios-256k.bin");
  });

  it("an ELF kernel without a PVH note is a config error naming boot.kernel; a missing pvh.bin a host error", () => {
    const host = tcgHost();
    host.kernels = { "/k": { path: "/k", format: "elf", pvh: false } };
    const cfg = tomlConfig('[vm]\nname="a"\n[boot]\nkernel="/k"\n');
    expect(() => kind("machine").contribute(context(cfg, host))).toThrow(
      expect.objectContaining({
        code: "CONFIG_KERNEL_NO_PVH",
        exit: "config",
        location: { key: "boot.kernel" },
      }),
    );
    host.kernels = { "/k": { path: "/k", format: "elf", pvh: true } };
    delete host.qemu.firmware!["pvh.bin"];
    expect(() => kind("machine").contribute(context(cfg, host))).toThrow(
      expect.objectContaining({ code: "HOST_FIRMWARE_MISSING", location: { key: "boot.kernel" } }),
    );
  });

  it("microvm's firmware is a symlink: bound at the path QEMU opens, from its real file", () => {
    const cs = kind("machine").contribute(
      context(tomlConfig('[vm]\nname="a"\nmachine="microvm"\n[boot]\nkernel="/k"\n')),
    );
    expect(cs[0]!.root![0]).toMatchObject({
      path: "/usr/share/qemu/bios-microvm.bin",
      source: "/usr/share/qemu/qboot.rom",
    });
  });
});

describe("resolveAccel", () => {
  it.each([
    ["auto", true, "kvm"],
    ["auto", false, "tcg"],
    ["tcg", true, "tcg"],
    ["kvm", true, "kvm"],
  ] as const)("%s with kvm=%s → %s", (accel, kvm, want) => {
    const host = kvm ? debianHost() : tcgHost();
    host.hasKvm = kvm;
    expect(resolveAccel(accel, host, "x86_64").accel).toBe(want);
  });

  it("auto for a foreign guest arch is TCG even with KVM", () => {
    const r = resolveAccel("auto", debianHost(), "aarch64");
    expect(r.accel).toBe("tcg");
    expect(r.reason).toContain("aarch64");
  });
});
