// Property: every valid config turns into an argv without throwing, in modern forms only, with
// every disk/nic/share id present as a device, and with -add-fd before any /dev/fdset use.

import fc from "fast-check";
import { stringify } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import type { VmConfig } from "../../../src/config/types.js";
import { QemuJailError } from "../../../src/errors.js";
import { qemuArgv } from "../../../src/qemu/argv.js";
import type { ArgvContext } from "../../../src/qemu/context.js";

const disk = fc.record(
  {
    path: fc.constantFrom("/img/a.raw", "rel/b.qcow2", "/img/with,comma.raw", "/img/sp ace.qcow2"),
    format: fc.constantFrom("raw", "qcow2"),
    readonly: fc.boolean(),
    bus: fc.constantFrom("virtio-blk", "nvme", "virtio-scsi"),
    cache: fc.constantFrom("none", "writeback", "writethrough", "directsync", "unsafe"),
    aio: fc.constantFrom("threads", "io_uring"),
    discard: fc.boolean(),
    backend: fc.constantFrom("qemu", "qemu", "vhost-user"),
    backing: fc.array(fc.record({ path: fc.constantFrom("/img/base.qcow2", "/img/base2.qcow2") }), {
      maxLength: 2,
    }),
  },
  { requiredKeys: ["path"] },
);
const nic = fc.oneof(
  fc.record({
    mode: fc.constant("user"),
    forward: fc.array(
      fc.record({
        host_port: fc.integer({ min: 1, max: 65535 }),
        guest_port: fc.integer({ min: 1, max: 65535 }),
      }),
      { maxLength: 2 },
    ),
  }),
  fc.record({ mode: fc.constant("tap"), tap: fc.constantFrom("tap0", "qj-x"), vhost: fc.boolean() }),
);
const tree = fc.record({
  vm: fc.record({
    name: fc.constantFrom("a", "vm-1"),
    cpus: fc.integer({ min: 1, max: 8 }),
    memory: fc.constantFrom("128M", "1G"),
    accel: fc.constantFrom("auto", "tcg", "kvm"),
    machine: fc.constantFrom("q35", "pc", "microvm"),
  }),
  boot: fc.oneof(
    fc.constant({ kernel: "/vmlinuz", initrd: "/initrd.img" }),
    fc.constant({ code: "/fw/code.fd", vars_template: "/fw/vars.fd" }),
  ),
  disk: fc.array(disk, { maxLength: 3 }),
  nic: fc.array(nic, { maxLength: 2 }),
  share: fc.array(fc.record({ path: fc.constantFrom("/srv", "/home"), readonly: fc.boolean() }), {
    maxLength: 2,
  }),
  serial: fc.constantFrom(
    { mode: "stdio" },
    { mode: "none" },
    { mode: "file", path: "/log/c.log" },
    { mode: "socket", path: "/run/s.sock" },
  ),
  rng: fc.boolean(),
  vsock: fc.oneof(fc.constant(false), fc.record({ cid: fc.integer({ min: 3, max: 1000 }) })),
});

/** Names ids uniquely and fixes what the config rules refuse, so most trees are valid. */
function toToml(t: Record<string, unknown>): string {
  const d = (t.disk as Array<Record<string, unknown>>).map((x, i) => {
    const y: Record<string, unknown> = { id: `d${i}`, ...x };
    if (y.format === "raw") y.backing = [];
    if (y.backend === "vhost-user") y.bus = "virtio-blk";
    return y;
  });
  const n = (t.nic as Array<Record<string, unknown>>).map((x, i) => ({
    id: `n${i}`,
    ...x,
    ...(x.mode === "user"
      ? {
          forward: (x.forward as Array<{ host_port: number }>).map((f, j) => ({
            ...f,
            host_port: 1 + ((f.host_port + i * 7 + j) % 65535),
          })),
        }
      : {}),
  }));
  const s = (t.share as Array<Record<string, unknown>>).map((x, i) => ({ id: `s${i}`, ...x }));
  return stringify({ ...t, disk: d, nic: n, share: s });
}

function contextFor(c: VmConfig): ArgvContext {
  let fd = 10;
  const fdsets: NonNullable<ArgvContext["fdsets"]> = {};
  for (const d of c.disk)
    for (const p of [d.path, ...d.backing.map((b) => b.path)]) fdsets[p] ??= { set: fd, fds: [{ fd: fd++ }] };
  return {
    fdsets,
    qmp: { fd: 3 },
    taps: Object.fromEntries(
      c.nic.filter((x) => x.mode === "tap").map((x) => [x.id, { fd: fd++, vhostfd: fd++ }]),
    ),
    vhostUser: Object.fromEntries(
      [...c.share.map((s) => s.id), ...c.disk.filter((x) => x.backend === "vhost-user").map((x) => x.id)].map(
        (id) => [id, { fd: fd++ }],
      ),
    ),
    runDir: "/run",
  };
}

describe("qemuArgv on random valid configs", () => {
  it("never throws, modern forms only, every item has its device, fdsets declared first", () => {
    let valid = 0;
    fc.assert(
      fc.property(tree, fc.boolean(), (t, withCtx) => {
        let c: VmConfig;
        try {
          c = parseConfig(toToml(t), { source: "/cfg/vm.toml" });
        } catch (e) {
          expect(e).toBeInstanceOf(QemuJailError);
          return;
        }
        valid++;
        const ctx = withCtx ? contextFor(c) : undefined;
        const argv = qemuArgv(c, undefined, ctx);
        for (const legacy of ["-drive", "-hda", "-net", "-redir"]) expect(argv).not.toContain(legacy);
        const devices = argv
          .filter((_, i) => argv[i - 1] === "-device")
          .map((a) => /(?:^|,)id=([^,]+)/.exec(a)?.[1]);
        for (const item of [...c.disk, ...c.nic, ...c.share]) expect(devices).toContain(item.id);
        const shared = c.share.length > 0 || c.disk.some((d) => d.backend === "vhost-user");
        expect(argv.some((a) => a.startsWith("memory-backend-memfd"))).toBe(shared);
        if (ctx) {
          const lastAddFd = argv.lastIndexOf("-add-fd");
          const firstUse = argv.findIndex((a) => a.includes("/dev/fdset/"));
          if (firstUse >= 0) expect(lastAddFd).toBeLessThan(firstUse);
          for (const d of c.disk.filter((x) => x.backend === "qemu"))
            expect(argv.join("\n")).not.toContain(d.path);
        }
      }),
      { numRuns: 300 },
    );
    expect(valid).toBeGreaterThan(100);
  });
});
