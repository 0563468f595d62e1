// Property: for random valid configs, every host resource in every jail carries a need, and
// nothing is in a root that the config and the host facts do not justify.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { VmConfig } from "../../../src/config/types.js";
import type { HostFacts } from "../../../src/host/types.js";
import { planToJson } from "../../../src/plan/json.js";
import { plan } from "../../../src/plan/plan.js";
import type { JailPlan, Need, ProcessPlan } from "../../../src/plan/types.js";
import { tcgHost, testFragments, tomlConfig } from "./helpers.js";

const q = (s: string) => JSON.stringify(s);

const diskArb = (i: number) =>
  fc
    .record({
      qcow2: fc.boolean(),
      backing: fc.boolean(),
      readonly: fc.boolean(),
      aio: fc.constantFrom("threads", "native", "io_uring"),
      discard: fc.boolean(),
      vhostUser: fc.boolean(),
    })
    .map((d) => {
      const lines = [
        `[[disk]]`,
        `id = "d${i}"`,
        `path = "/srv/vm/disk${i}.img"`,
        `format = "${d.qcow2 ? "qcow2" : "raw"}"`,
      ];
      if (d.qcow2 && d.backing)
        lines.push(`backing = [{ path = "/srv/vm/base${i}.qcow2", format = "qcow2" }]`);
      lines.push(`readonly = ${d.readonly}`, `aio = "${d.aio}"`, `discard = ${d.discard}`);
      if (d.aio === "native") lines.push(`cache = "none"`);
      if (d.vhostUser) lines.push(`backend = "vhost-user"`);
      return lines.join("\n");
    });

const nicArb = (i: number) =>
  fc
    .record({ tap: fc.boolean(), create: fc.boolean(), netns: fc.boolean(), vhost: fc.boolean() })
    .map((n) =>
      n.tap
        ? [
            `[[nic]]`,
            `id = "n${i}"`,
            `mode = "tap"`,
            `tap = "tap${i}"`,
            `create = ${n.create}`,
            ...(n.netns ? [`netns = "ns${i}"`] : []),
            `vhost = ${n.vhost}`,
          ].join("\n")
        : [`[[nic]]`, `id = "n${i}"`, `mode = "user"`].join("\n"),
    );

const shareArb = (i: number) =>
  fc
    .boolean()
    .map((ro) =>
      [`[[share]]`, `id = "s${i}"`, `path = "/srv/share${i}"`, `tag = "t${i}"`, `readonly = ${ro}`].join(
        "\n",
      ),
    );

const list = <T>(make: (i: number) => fc.Arbitrary<T>, max: number) =>
  fc
    .integer({ min: 0, max })
    .chain((n) =>
      n === 0 ? fc.constant([] as T[]) : fc.tuple(...Array.from({ length: n }, (_, i) => make(i))),
    );

const configArb = fc
  .record({
    name: fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/),
    machine: fc.constantFrom("q35", "pc", "microvm"),
    firmware: fc.boolean(),
    initrd: fc.boolean(),
    vars: fc.boolean(),
    disks: list(diskArb, 3),
    nics: list(nicArb, 2),
    shares: list(shareArb, 2),
    serial: fc.constantFrom("stdio", "none", "file", "socket"),
    rng: fc.boolean(),
    vsock: fc.boolean(),
    sandbox: fc.boolean(),
    userns: fc.boolean(),
    landlock: fc.constantFrom("auto", "off"),
    seccomp: fc.constantFrom("kill", "trap", "log", "errno"),
    extraArgs: fc.boolean(),
    extraRo: fc.boolean(),
  })
  .map((r) => {
    const machine = r.firmware && r.machine === "microvm" ? "q35" : r.machine;
    const t = [
      `rng = ${r.rng}`,
      `[vm]`,
      `name = ${q(r.name)}`,
      `machine = "${machine}"`,
      `accel = "auto"`,
      `[boot]`,
    ];
    if (r.firmware) {
      t.push(`code = "/usr/share/OVMF/OVMF_CODE.fd"`);
      if (r.vars) t.push(`vars_template = "/usr/share/OVMF/OVMF_VARS.fd"`);
    } else {
      t.push(`kernel = "/boot/vmlinuz"`);
      if (r.initrd) t.push(`initrd = "/boot/initrd.img"`);
    }
    t.push(...r.disks, ...r.nics, ...r.shares);
    t.push(`[serial]`, `mode = "${r.serial}"`);
    if (r.serial === "file") t.push(`path = "/var/log/${r.name}.log"`);
    if (r.serial === "socket") t.push(`path = "/run/${r.name}-console.sock"`);
    if (r.vsock) t.push(`[vsock]`, `cid = 3`);
    t.push(`[qemu]`, `sandbox = ${r.sandbox}`);
    if (r.extraArgs) t.push(`extra_args = ["-device", "pvpanic"]`);
    t.push(
      `[jail]`,
      `user_namespace = ${r.userns}`,
      `landlock = "${r.landlock}"`,
      `seccomp = "${r.seccomp}"`,
    );
    if (r.extraRo) t.push(`extra_ro_paths = ["/etc/ssl/certs"]`);
    return `${t.join("\n")}\n`;
  });

function host(): HostFacts {
  const h = tcgHost();
  h.devices["/dev/vhost-vsock"] = { path: "/dev/vhost-vsock", type: "c", major: 10, minor: 241 };
  return h;
}

function expectNeed(n: Need | undefined, what: string): void {
  expect(n, what).toBeDefined();
  expect(n!.item.length, what).toBeGreaterThan(0);
  expect(n!.reason.length, what).toBeGreaterThan(0);
}

/** Paths (in the jail) and sources (on the host) a process's root may hold, from config and facts only. */
function justified(p: ProcessPlan, c: VmConfig, h: HostFacts): { paths: Set<string>; sources: Set<string> } {
  const paths = new Set<string>();
  const sources = new Set<string>();
  const elf = (e: HostFacts["qemu"]["elf"]) => {
    if (e.interpreter) paths.add(e.interpreter);
    if (e.interpreter) sources.add(e.interpreterRealPath ?? e.interpreter);
    for (const l of e.libraries) paths.add(l);
    for (const r of e.resolved ?? []) sources.add(r.realPath);
    for (const l of e.libraries) sources.add(l);
  };
  const bin = (x: string) => {
    paths.add(x);
    sources.add(x);
  };
  if (p.role === "qemu") {
    bin(h.qemu.path);
    elf(h.qemu.elf);
    for (const m of h.qemu.modules) bin(`${h.qemu.moduleDir}/${m}`);
    for (const e of Object.values(h.qemu.moduleElf ?? {})) elf(e);
    for (const f of Object.values(h.qemu.firmware ?? {})) {
      paths.add(f.path);
      sources.add(f.realPath);
    }
    for (const x of ["/tmp", "/run/qemu", "/vm/kernel", "/vm/initrd"]) paths.add(x);
    if (c.boot.mode === "kernel") {
      sources.add(c.boot.kernel);
      if (c.boot.initrd) sources.add(c.boot.initrd);
    }
    for (const x of c.jail.extra_ro_paths) bin(x);
  } else {
    const b = p.role === "virtiofsd" ? h.virtiofsd! : h.storageDaemon!;
    bin(b.path);
    elf(b.elf);
    for (const x of ["/proc", "/proc/pid", "/proc/self", "/proc/sys", "/proc/sys/fs"]) paths.add(x);
    bin("/proc/sys/fs/file-max");
    paths.add("/shared");
    for (const s of c.share) sources.add(s.path);
    for (const d of c.disk) {
      paths.add(`/images/${d.id}`);
      sources.add(d.path);
      d.backing.forEach((bk, k) => {
        paths.add(`/images/${d.id}.backing${k}`);
        sources.add(bk.path);
      });
    }
  }
  return { paths, sources };
}

function checkPlan(pl: JailPlan, c: VmConfig, h: HostFacts): void {
  const ids = new Set<number>();
  for (const p of pl.processes) {
    expect(ids.has(p.uid)).toBe(false);
    ids.add(p.uid);
    expect(p.uid).toBeGreaterThanOrEqual(pl.ids.base);
    expect(p.uid).toBeLessThan(pl.ids.base + pl.ids.count);
    const j = justified(p, c, h);
    for (const e of p.root) {
      expectNeed(e.need, `${p.id} root ${e.path}`);
      expect(j.paths.has(e.path), `${p.id}: ${e.path} is not justified`).toBe(true);
      if (e.kind === "bind")
        expect(j.sources.has(e.source), `${p.id}: source ${e.source} is not justified`).toBe(true);
    }
    const images = new Set(c.disk.flatMap((d) => [d.path, ...d.backing.map((b) => b.path)]));
    if (p.role === "qemu")
      for (const e of p.root) if (e.kind === "bind") expect(images.has(e.source)).toBe(false);
    for (const d of p.devices) expectNeed(d.need, `${p.id} device ${d.path}`);
    for (const d of p.cgroup.devices) expectNeed(d.need, `${p.id} cgroup ${d.rule}`);
    for (const r of p.rlimits) expectNeed(r.need, `${p.id} rlimit ${r.resource}`);
    for (const x of p.capabilities) expectNeed(x.need, `${p.id} cap ${x.name}`);
    for (const r of p.lsm.landlock?.rules ?? []) expectNeed(r.need, `${p.id} landlock ${r.path}`);
    const fdNums = p.fds.map((f) => f.fd);
    expect(new Set(fdNums).size).toBe(fdNums.length);
    for (const f of p.fds) {
      expectNeed(f.need, `${p.id} fd ${f.fd}`);
      expect(f.fd >= 3 || f.source.kind === "stdio").toBe(true);
      if (f.source.kind === "socket-of") {
        const { process, endpoint } = f.source;
        const peer = pl.processes.find((x) => x.id === process);
        expect(peer?.fds.some((x) => x.source.kind === "listen-unix" && x.source.path === endpoint)).toBe(
          true,
        );
        expect(p.after).toContain(process);
      }
    }
    for (const r of p.seccomp.rules) {
      expect(r.provenance.length).toBeGreaterThan(0);
      for (const v of r.provenance) expect(v.need, `${p.id} ${r.syscall}`).toBeTruthy();
    }
    if (p.namespaces.net === "host") {
      expect(c.nic.some((n) => n.mode === "user")).toBe(true);
      expectNeed(p.namespaces.netNeed, `${p.id} host netns`);
    }
  }
  for (const x of [...pl.taps.map((t) => t.need), ...pl.ownership.map((o) => o.need)])
    expectNeed(x, "plan-level");
  expect(pl.processes.at(-1)!.id).toBe("qemu");
  expect(pl.processes.at(-1)!.after).toEqual(pl.processes.slice(0, -1).map((p) => p.id));
  if (c.qemu.extra_args.length) expect(pl.warnings.map((w) => w.code)).toContain("EXTRA_ARGS");
}

describe("plan property", () => {
  it("random valid configs: every resource has a need, nothing unjustified, deterministic", () => {
    const frags = testFragments();
    fc.assert(
      fc.property(configArb, (toml) => {
        const c = tomlConfig(toml);
        const h = host();
        const pl = plan(c, h, frags);
        checkPlan(pl, c, h);
        expect(planToJson(plan(tomlConfig(toml), host(), frags))).toBe(planToJson(pl));
      }),
      { numRuns: 150 },
    );
  });
});

describe("plan property checker", () => {
  // The property is only worth something if its checker can fail.
  const toml = '[vm]\nname = "x"\n[boot]\nkernel = "/boot/vmlinuz"\n';
  it.each([
    [
      "an unjustified path",
      (p: JailPlan) =>
        p.processes[0]!.root.push({
          kind: "bind",
          path: "/etc/shadow",
          source: "/etc/shadow",
          type: "file",
          rw: false,
          need: { item: "x", reason: "y" },
        }),
    ],
    ["a missing need", (p: JailPlan) => (p.processes[0]!.fds[0]!.need = { item: "", reason: "" })],
    [
      "an image in QEMU's root",
      (p: JailPlan) =>
        p.processes[0]!.root.push({
          kind: "bind",
          path: "/vm/kernel",
          source: "/boot/vmlinuz",
          type: "file",
          rw: true,
          need: { item: "x", reason: "y" },
        }),
    ],
  ])("rejects %s", (_what, mutate) => {
    const c = tomlConfig(toml);
    const h = host();
    const pl = plan(c, h, testFragments());
    checkPlan(pl, c, h);
    mutate(pl);
    if (_what === "an image in QEMU's root")
      c.disk.push({ ...c.disk[0]!, path: "/boot/vmlinuz" } as VmConfig["disk"][number]);
    expect(() => checkPlan(pl, c, h)).toThrow();
  });
});
