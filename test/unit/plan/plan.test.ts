import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { QemuJailError } from "../../../src/errors.js";
import { planFromJson, planToJson } from "../../../src/plan/json.js";
import { backendIds, plan } from "../../../src/plan/plan.js";
import type { JailPlan } from "../../../src/plan/types.js";
import { debianHost, FIXTURES, fixtureConfig, tcgHost, testFragments, tomlConfig } from "./helpers.js";

const GOLDEN = ["minimal", "full", "backends", "firmware"];
const update = process.env.UPDATE_GOLDEN === "1";

function thrown(f: () => unknown): QemuJailError {
  try {
    f();
  } catch (e) {
    if (e instanceof QemuJailError) return e;
    throw e;
  }
  throw new Error("expected a QemuJailError");
}

const qemuOf = (p: JailPlan) => p.processes.find((x) => x.id === "qemu")!;

describe("plan: golden plans (Debian 12 host fixture without KVM)", () => {
  // Compared as parsed JSON: the formatter may re-wrap the committed files; byte stability of
  // the planner's own output is the next test's job.
  it.each(GOLDEN)("%s.toml gives the committed plan", (name) => {
    const json = `${planToJson(plan(fixtureConfig(name), tcgHost(), testFragments()))}\n`;
    const file = join(FIXTURES, "plans", `${name}.json`);
    if (update) writeFileSync(file, json);
    expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(file, "utf8")));
  });

  it.each(GOLDEN)("%s: planning twice gives identical JSON, and JSON round-trips", (name) => {
    const a = planToJson(plan(fixtureConfig(name), tcgHost(), testFragments()));
    const b = planToJson(plan(fixtureConfig(name), tcgHost(), testFragments()));
    expect(a).toBe(b);
    expect(planToJson(planFromJson(a))).toBe(a);
  });
});

describe("plan: QEMU process", () => {
  const p = plan(fixtureConfig("minimal"), tcgHost(), testFragments());
  const q = qemuOf(p);

  it("runs the host binary at its host path, argv[0] absolute", () => {
    expect(q.exe).toBe("/usr/bin/qemu-system-x86_64");
    expect(q.argv[0]).toBe(q.exe);
    expect(q.root.some((e) => e.kind === "bind" && e.path === q.exe)).toBe(true);
  });

  it("root holds loader, every library, the TCG module, firmware and the kernel; no /proc, /sys or images", () => {
    const host = tcgHost();
    const paths = new Set(q.root.map((e) => e.path));
    expect(paths.has(host.qemu.elf.interpreter!)).toBe(true);
    for (const lib of host.qemu.elf.libraries) expect(paths.has(lib)).toBe(true);
    expect(paths.has("/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so")).toBe(true);
    expect(paths.has("/usr/share/seabios/bios-256k.bin")).toBe(true);
    expect(paths.has("/usr/share/qemu/linuxboot_dma.bin")).toBe(true);
    expect(paths.has("/usr/share/qemu/kvmvapic.bin")).toBe(true);
    expect(paths.has("/vm/kernel")).toBe(true);
    expect(paths.has("/proc")).toBe(false);
    expect([...paths].some((x) => x.startsWith("/sys") || x.startsWith("/srv"))).toBe(false);
  });

  it("a PVH vmlinux gets pvh.bin (not linuxboot_dma.bin) in root and Landlock rules, needed by boot.kernel", () => {
    const config = fixtureConfig("minimal");
    if (config.boot.mode !== "kernel") throw new Error("kernel boot expected");
    config.boot.kernel = "/boot/vmlinux"; // the fixture's ELF with a PVH note
    const pq = qemuOf(plan(config, tcgHost(), testFragments()));
    const rom = pq.root.find((e) => e.path === "/usr/share/qemu/pvh.bin");
    expect(rom).toMatchObject({ kind: "bind", source: "/usr/share/qemu/pvh.bin", rw: false });
    expect(rom!.need.item).toBe("boot.kernel");
    expect(pq.root.some((e) => e.path === "/usr/share/qemu/linuxboot_dma.bin")).toBe(false);
    expect(pq.lsm.landlock!.rules.some((r) => r.path === "/usr/share/qemu/pvh.bin")).toBe(true);
  });

  it("passes the image as an fdset and QEMU opens /dev/fdset/N", () => {
    const f = q.fds.find((x) => x.source.kind === "file" && x.source.path === "/srv/vm/data.raw")!;
    expect(f.source).toEqual({ kind: "file", path: "/srv/vm/data.raw", write: true });
    expect(q.argv).toContain(`fd=${f.fd},set=1,opaque=disk[0]`);
    expect(q.argv.join(" ")).toContain('"filename":"/dev/fdset/1"');
  });

  it("QMP is a listening fd made by the launcher", () => {
    const f = q.fds.find((x) => x.source.kind === "listen-unix")!;
    expect(f.source).toEqual({ kind: "listen-unix", path: "/run/qemu-jail/mini/qmp.sock" });
    expect(q.argv.join(" ")).toContain(`socket,id=qmp,fd=${f.fd},server=on,wait=off`);
    expect(p.qmp.path).toBe("/run/qemu-jail/mini/qmp.sock");
  });

  it("namespaces: all new, empty net without user networking, no user ns by default", () => {
    expect(q.namespaces).toEqual({
      mount: true,
      pid: true,
      net: "new",
      ipc: true,
      uts: true,
      cgroup: true,
      user: false,
    });
  });

  it("runs as an unprivileged uid with no capabilities, scratch dirs owned by it", () => {
    expect(q.uid).toBeGreaterThan(0);
    expect(q.capabilities).toEqual([]);
    const tmp = q.root.filter((e) => e.kind === "tmpfs");
    expect(tmp.map((e) => e.path)).toEqual(["/run/qemu", "/tmp"]);
    for (const t of tmp) if (t.kind === "tmpfs") expect([t.uid, t.gid]).toEqual([q.uid, q.gid]);
  });

  it("cgroup leaf under the VM's cgroup, memory max = guest RAM + overhead", () => {
    const c = fixtureConfig("minimal");
    expect(p.cgroup.path).toBe("qemu-jail-mini");
    expect(q.cgroup.path).toBe("qemu-jail-mini/qemu");
    expect(q.cgroup.memoryMax).toBe(c.vm.memory + c.jail.cgroup.memory_overhead);
    expect(q.cgroup.devices.map((d) => d.rule)).toEqual(["c 1:3 rw", "c 1:9 r"]);
  });

  it("rlimits: CORE 0, NOFILE bounded, FSIZE unlimited for a writable image", () => {
    const r = Object.fromEntries(q.rlimits.map((x) => [x.resource, x.hard]));
    expect(r.CORE).toBe(0);
    expect(r.NOFILE).toBe(4096);
    expect(r.FSIZE).toBe("unlimited");
  });

  it("accel auto on a host without KVM: TCG, said why, warned", () => {
    expect(q.seccomp.fragments).toContain("accel-tcg");
    expect(q.seccomp.fragments).not.toContain("accel-kvm");
    expect(p.warnings.map((w) => w.code)).toContain("ACCEL_TCG_FALLBACK");
  });

  it("seccomp rules carry provenance with the config item", () => {
    const read = q.seccomp.rules.find((r) => r.syscall === "read")!;
    expect(read.provenance.map((x) => x.need)).toContain("disk[0]");
    expect(q.seccomp.defaultAction).toEqual({ kind: "kill_process" });
  });

  it("a fragment two items need keeps both needs in the provenance", () => {
    const full = qemuOf(plan(fixtureConfig("full"), tcgHost(), testFragments()));
    const needs = full.seccomp.rules
      .find((r) => r.syscall === "read")!
      .provenance.filter((v) => v.fragment === "block");
    expect(needs.map((v) => v.need).sort()).toEqual(["disk[0]", "disk[1]"]);
  });

  it("virtio-net gets romfile= from qemuArgv, so no efi-virtio.rom is bound", () => {
    const c = tomlConfig('[vm]\nname="n"\n[boot]\nkernel="/boot/k"\n[[nic]]\nid="net0"\nmode="user"\n');
    const qq = qemuOf(plan(c, tcgHost(), testFragments()));
    const dev = qq.argv.find((a) => a.startsWith("virtio-net-pci"))!;
    expect(dev).toContain("romfile=");
    expect(qq.root.some((e) => e.path.endsWith("efi-virtio.rom"))).toBe(false);
  });
});

describe("plan: networking", () => {
  it("user-mode networking keeps QEMU in the host netns, with a need", () => {
    const q = qemuOf(plan(fixtureConfig("full"), tcgHost(), testFragments()));
    expect(q.namespaces.net).toBe("host");
    expect(q.namespaces.netNeed?.item).toBe("nic[0]");
    expect(q.seccomp.fragments).toContain("net-user");
  });

  it("a tap is an fd opened in its netns; QEMU's own netns stays new; create → TapPlan", () => {
    const p = plan(fixtureConfig("backends"), tcgHost(), testFragments());
    const q = qemuOf(p);
    expect(q.namespaces.net).toBe("new");
    const tap = q.fds.find((f) => f.source.kind === "tap")!;
    expect(tap.source).toEqual({ kind: "tap", name: "tap-backends", netns: "vmnet" });
    expect(q.argv.join(" ")).toContain(`tap,id=net0,fd=${tap.fd}`);
    expect(p.taps).toEqual([
      expect.objectContaining({ name: "tap-backends", netns: "vmnet", owner: { uid: q.uid, gid: q.gid } }),
    ]);
    expect(q.devices.map((d) => d.path)).not.toContain("/dev/net/tun");
  });

  it("vhost = true: /dev/vhost-net passed as vhostfd when the host has it, else a warning", () => {
    const host = tcgHost();
    const without = plan(fixtureConfig("backends"), host, testFragments());
    expect(without.warnings.map((w) => w.code)).toContain("VHOST_NET_UNAVAILABLE");
    host.devices["/dev/vhost-net"] = { path: "/dev/vhost-net", type: "c", major: 10, minor: 238 };
    const q = qemuOf(plan(fixtureConfig("backends"), host, testFragments()));
    const v = q.fds.find((f) => f.source.kind === "vhost-net")!;
    expect(q.argv.join(" ")).toContain(`vhostfd=${v.fd}`);
    expect(q.seccomp.fragments).toContain("net-vhost-net");
  });
});

describe("plan: backends (issue 6)", () => {
  const p = plan(fixtureConfig("backends"), tcgHost(), testFragments());

  it("one process per share and per vhost-user disk, backends first, QEMU last and after them", () => {
    expect(p.processes.map((x) => x.id)).toEqual([
      "virtiofsd-home",
      "virtiofsd-docs",
      "qsd-data",
      "qsd-root",
      "qemu",
    ]);
    expect(backendIds(fixtureConfig("backends"))).toEqual(p.processes.slice(0, -1).map((x) => x.id));
    expect(qemuOf(p).after).toEqual(["virtiofsd-home", "virtiofsd-docs", "qsd-data", "qsd-root"]);
  });

  it("each process has its own uid from the VM's block and its own cgroup leaf", () => {
    const uids = p.processes.map((x) => x.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const x of p.processes) {
      expect(x.uid).toBeGreaterThanOrEqual(p.ids.base);
      expect(x.uid).toBeLessThan(p.ids.base + p.ids.count);
      expect(x.cgroup.path).toBe(`qemu-jail-backends/${x.id}`);
    }
    expect(p.ids.count).toBe(8);
  });

  it("the vhost-user socket: a listening fd for the backend, a connected end for QEMU; no path in either root", () => {
    const vfs = p.processes.find((x) => x.id === "virtiofsd-home")!;
    const listen = vfs.fds.find((f) => f.source.kind === "listen-unix")!;
    expect(vfs.argv).toContain(`--fd=${listen.fd}`);
    const q = qemuOf(p);
    const end = q.fds.find((f) => f.source.kind === "socket-of" && f.source.process === "virtiofsd-home")!;
    expect(end.source).toEqual({
      kind: "socket-of",
      process: "virtiofsd-home",
      endpoint: listen.source.kind === "listen-unix" ? listen.source.path : "",
    });
    expect(q.argv.join(" ")).toContain(`socket,id=home.sock,fd=${end.fd}`);
    for (const x of p.processes) expect(x.root.some((e) => e.path.endsWith(".sock"))).toBe(false);
  });

  it("virtiofsd: /shared bound rw or ro, private /proc, chroot sandbox, caps by share mode, high NOFILE", () => {
    const home = p.processes.find((x) => x.id === "virtiofsd-home")!;
    const docs = p.processes.find((x) => x.id === "virtiofsd-docs")!;
    const shared = (x: typeof home) => x.root.find((e) => e.path === "/shared");
    expect(shared(home)).toMatchObject({ kind: "bind", source: "/srv/share/home", type: "dir", rw: true });
    expect(shared(docs)).toMatchObject({ kind: "bind", source: "/srv/share/docs", rw: false });
    expect(home.root.find((e) => e.kind === "proc")?.path).toBe("/proc/pid");
    expect(home.root.find((e) => e.path === "/proc/sys/fs/file-max")).toMatchObject({
      kind: "bind",
      rw: false,
    });
    expect(home.argv).toEqual(
      expect.arrayContaining(["source=/shared", "sandbox=chroot", "--rlimit-nofile=0"]),
    );
    expect(home.capabilities.map((c) => c.name)).toContain("CAP_DAC_OVERRIDE");
    expect(docs.capabilities.map((c) => c.name).sort()).toEqual([
      "CAP_DAC_READ_SEARCH",
      "CAP_SETPCAP",
      "CAP_SYS_CHROOT",
    ]);
    expect(home.rlimits.find((r) => r.resource === "NOFILE")?.hard).toBe(1048576);
    expect(home.seccomp.fragments).toEqual(expect.arrayContaining(["virtiofsd", "virtiofsd-rw"]));
    expect(docs.seccomp.fragments).toContain("virtiofsd-ro");
  });

  it("qemu-storage-daemon: image bound in its root, backing chain as explicit nodes, export on the fd", () => {
    const qsd = p.processes.find((x) => x.id === "qsd-root")!;
    expect(qsd.root.find((e) => e.path === "/images/root")).toMatchObject({
      source: "/srv/vm/root.qcow2",
      rw: false,
    });
    expect(qsd.root.find((e) => e.path === "/images/root.backing0")).toMatchObject({
      source: "/srv/vm/base.qcow2",
      rw: false,
    });
    const args = qsd.argv.join(" ");
    const nodes = qsd.argv.filter((_, i) => qsd.argv[i - 1] === "--blockdev").map((a) => JSON.parse(a));
    expect(nodes.find((n) => n["node-name"] === "root-b0")).toMatchObject({
      driver: "qcow2",
      "read-only": true,
      backing: null,
    });
    expect(nodes.find((n) => n["node-name"] === "root")).toMatchObject({
      backing: "root-b0",
      "read-only": true,
    });
    const fd = qsd.fds[0]!.fd;
    expect(args).toContain(
      `type=vhost-user-blk,id=root-export,node-name=root,addr.type=fd,addr.str=${fd},writable=off`,
    );
    expect(p.ownership.map((o) => o.path)).toEqual([
      "/srv/vm/data.raw",
      "/srv/vm/root.qcow2",
      "/srv/vm/base.qcow2",
    ]);
  });

  it("QEMU's RAM becomes a shared memfd; RLIMIT_FSIZE admits it", () => {
    const q = qemuOf(p);
    expect(q.argv.join(" ")).toContain("memory-backend-memfd,id=mem,size=512M,share=on");
    expect(q.seccomp.fragments).toContain("memfd-shared");
    expect(q.rlimits.find((r) => r.resource === "FSIZE")?.hard).toBe(512 * 1024 * 1024);
  });
});

describe("plan: errors", () => {
  it("a config item whose fragment is missing is a policy error naming item and fragment", () => {
    const e = thrown(() => plan(fixtureConfig("backends"), tcgHost(), testFragments(["virtiofsd-rw"])));
    expect(e.exit).toBe("policy");
    expect(e.code).toBe("POLICY_FRAGMENT_MISSING");
    expect(e.message).toContain("share[0]");
    expect(e.message).toContain('"virtiofsd-rw"');
  });

  it("io_uring without its fragment is refused, never widened", () => {
    const c = tomlConfig(
      '[vm]\nname="u"\n[boot]\nkernel="/boot/k"\n[[disk]]\nid="d"\npath="/srv/vm/data.raw"\naio="io_uring"\n',
    );
    const e = thrown(() => plan(c, tcgHost(), testFragments(["block-aio-io-uring"])));
    expect(e.exit).toBe("policy");
    expect(e.location?.key).toBe("disk[0]");
    const ok = plan(c, tcgHost(), testFragments());
    expect(ok.warnings.map((w) => w.code)).toContain("IO_URING");
  });

  it("accel = kvm on a host without /dev/kvm is a host error", () => {
    const c = tomlConfig('[vm]\nname="k"\naccel="kvm"\n[boot]\nkernel="/boot/k"\n');
    const e = thrown(() => plan(c, tcgHost(), testFragments()));
    expect(e.exit).toBe("host");
    expect(e.code).toBe("HOST_NO_KVM");
    const q = qemuOf(plan(c, debianHost(), testFragments()));
    expect(q.devices.map((d) => d.path)).toContain("/dev/kvm");
    expect(q.seccomp.fragments).toContain("accel-kvm");
  });

  it.each([
    ["selinux", "HOST_LSM_MISSING"],
    ["apparmor", "HOST_LSM_MISSING"],
  ])("jail.lsm = %s on a host without it is a host error with a hint", (lsm, code) => {
    const c = tomlConfig(`[vm]\nname="l"\n[boot]\nkernel="/boot/k"\n[jail]\nlsm="${lsm}"\n`);
    const e = thrown(() => plan(c, tcgHost(), testFragments()));
    expect([e.exit, e.code]).toEqual(["host", code]);
    expect(e.hint).toBeTruthy();
  });

  it("landlock = on without Landlock is a host error; auto without it plans none", () => {
    const host = tcgHost();
    host.lsm.landlockAbi = 0;
    const on = tomlConfig('[vm]\nname="l"\n[boot]\nkernel="/boot/k"\n[jail]\nlandlock="on"\n');
    expect(thrown(() => plan(on, host, testFragments())).code).toBe("HOST_NO_LANDLOCK");
    const auto = tomlConfig('[vm]\nname="l"\n[boot]\nkernel="/boot/k"\n');
    expect(qemuOf(plan(auto, host, testFragments())).lsm.landlock).toBeUndefined();
  });

  it("vsock without /dev/vhost-vsock is a host error", () => {
    const c = tomlConfig('[vm]\nname="v"\n[boot]\nkernel="/boot/k"\n[vsock]\ncid=3\n');
    expect(thrown(() => plan(c, tcgHost(), testFragments())).code).toBe("HOST_DEVICE_MISSING");
    const host = tcgHost();
    host.devices["/dev/vhost-vsock"] = { path: "/dev/vhost-vsock", type: "c", major: 10, minor: 241 };
    const q = qemuOf(plan(c, host, testFragments()));
    const f = q.fds.find((x) => x.source.kind === "device")!;
    expect(q.argv.join(" ")).toContain(`vhostfd=${f.fd}`);
  });

  it("a share without virtiofsd installed is a host error", () => {
    const host = tcgHost();
    delete host.virtiofsd;
    expect(thrown(() => plan(fixtureConfig("backends"), host, testFragments())).code).toBe(
      "HOST_NO_VIRTIOFSD",
    );
  });

  it("firmware the machine needs but the host lacks is a host error naming it", () => {
    const host = tcgHost();
    delete host.qemu.firmware!["linuxboot_dma.bin"];
    const e = thrown(() => plan(fixtureConfig("minimal"), host, testFragments()));
    expect(e.code).toBe("HOST_FIRMWARE_MISSING");
    expect(e.message).toContain("linuxboot_dma.bin");
  });
});

describe("plan: LSM", () => {
  it("auto picks SELinux when enabled: one MCS pair shared by all processes of the VM", () => {
    const host = tcgHost();
    host.lsm.selinux = { enabled: true, enforcing: true, mcsAvailable: true };
    const p = plan(fixtureConfig("backends"), host, testFragments());
    const labels = new Set(p.processes.map((x) => x.lsm.selinux?.processLabel));
    expect(labels.size).toBe(1);
    expect([...labels][0]).toMatch(/:c\d+,c\d+$/);
  });

  it("auto picks AppArmor when enabled: a profile per process", () => {
    const host = tcgHost();
    host.lsm.apparmor = { enabled: true, parser: "/usr/sbin/apparmor_parser" };
    const p = plan(fixtureConfig("backends"), host, testFragments());
    const names = p.processes.map((x) => x.lsm.apparmor?.profileName);
    expect(new Set(names).size).toBe(p.processes.length);
  });
});

describe("plan: ids", () => {
  it("opts.idBase moves the whole block", () => {
    const p = plan(fixtureConfig("backends"), tcgHost(), testFragments(), { idBase: 700000 });
    expect(p.processes.map((x) => x.uid)).toEqual([700001, 700002, 700003, 700004, 700000]);
  });

  it("a fixed uid is QEMU's; backends take the next ids", () => {
    const c = fixtureConfig("backends");
    c.jail.uid = 64000;
    c.jail.gid = 64000;
    const p = plan(c, tcgHost(), testFragments());
    expect(qemuOf(p).uid).toBe(64000);
    expect(p.processes[0]!.uid).toBe(64001);
    expect(p.ids.auto).toBe(false);
  });
});
