// qemuArgv rules beyond the goldens: shared memory iff a vhost-user backend, accel choice,
// ArgvContext validation and fd forms, shell quoting.

import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { QemuJailError } from "../../../src/errors.js";
import type { HostFacts } from "../../../src/host/types.js";
import { qemuArgv } from "../../../src/qemu/argv.js";
import type { ArgvContext } from "../../../src/qemu/context.js";
import { shellLine, shellQuote } from "../../../src/qemu/quote.js";

const base = '[vm]\nname = "u"\n[boot]\nkernel = "/k"\n';
const host = (hasKvm: boolean, vhostNet = false) =>
  ({ hasKvm, devices: vhostNet ? { "/dev/vhost-net": {} } : {} }) as unknown as HostFacts;
const argsAfter = (argv: string[], flag: string) => argv.filter((_, i) => argv[i - 1] === flag);

describe("qemuArgv", () => {
  it.each([
    ["no backend", "", false],
    ["a share", '[[share]]\nid = "s"\npath = "/srv"\n', true],
    ["a vhost-user disk", '[[disk]]\nid = "d"\npath = "/d.raw"\nbackend = "vhost-user"\n', true],
    ["a qemu disk", '[[disk]]\nid = "d"\npath = "/d.raw"\n', false],
  ])("memfd share=on with %s: %s", (_n, extra, shared) => {
    const argv = qemuArgv(parseConfig(base + extra));
    expect(argv.some((a) => a.startsWith("memory-backend-memfd,id=mem,size=512M,share=on"))).toBe(shared);
    expect(argsAfter(argv, "-machine")[0]!.includes("memory-backend=mem")).toBe(shared);
  });

  it.each([
    ["auto", undefined, ["kvm", "tcg"]],
    ["auto", host(true), ["kvm"]],
    ["auto", host(false), ["tcg"]],
    ["tcg", host(true), ["tcg"]],
    ["kvm", host(false), ["kvm"]],
  ] as const)("accel %s with host %j", (accel, h, want) => {
    const c = parseConfig(`[vm]\nname = "u"\naccel = "${accel}"\n[boot]\nkernel = "/k"\n`);
    expect(argsAfter(qemuArgv(c, h), "-accel")).toEqual(want);
  });

  it("tap: vhost follows the host's /dev/vhost-net without a context, the vhostfd with one", () => {
    const c = parseConfig(`${base}[[nic]]\nid = "t"\nmode = "tap"\ntap = "tap0"\n`);
    expect(argsAfter(qemuArgv(c, host(false, true)), "-netdev")[0]).toBe(
      "tap,id=t,ifname=tap0,script=no,downscript=no,vhost=on",
    );
    expect(argsAfter(qemuArgv(c, host(false, false)), "-netdev")[0]).toMatch(/vhost=off$/);
    expect(argsAfter(qemuArgv(c, undefined, { taps: { t: { fd: 5 } } }), "-netdev")[0]).toBe(
      "tap,id=t,fd=5,vhost=off",
    );
    expect(argsAfter(qemuArgv(c, undefined, { taps: { t: { fd: 5, vhostfd: 6 } } }), "-netdev")[0]).toBe(
      "tap,id=t,fd=5,vhost=on,vhostfd=6",
    );
  });

  it("doubles commas in keyval values", () => {
    const c = parseConfig(`${base}[serial]\nmode = "socket"\npath = "/tmp/a,b.sock"\n`);
    expect(argsAfter(qemuArgv(c), "-chardev")[0]).toBe(
      "socket,id=serial0,path=/tmp/a,,b.sock,server=on,wait=off",
    );
  });

  it("extra_args come last, verbatim", () => {
    const c = parseConfig(`${base}[qemu]\nextra_args = ["-device", "pvpanic"]\n`);
    expect(qemuArgv(c).slice(-2)).toEqual(["-device", "pvpanic"]);
  });

  it("emits each fdset once, before its first use", () => {
    const c = parseConfig(
      `${base}[[disk]]\nid = "a"\npath = "/x.raw"\n[serial]\nmode = "file"\npath = "/x.raw"\n`,
    );
    const ctx: ArgvContext = { fdsets: { "/x.raw": { set: 7, fds: [{ fd: 9 }, { fd: 10, opaque: "ro" }] } } };
    const argv = qemuArgv(c, undefined, ctx);
    expect(argsAfter(argv, "-add-fd")).toEqual(["fd=9,set=7", "fd=10,set=7,opaque=ro"]);
    expect(argv.indexOf("-add-fd")).toBeLessThan(argv.findIndex((a) => a.includes("/dev/fdset/7")));
  });

  it.each<[string, ArgvContext]>([
    ["fd below 3", { qmp: { fd: 2 } }],
    ["non-integer fd", { taps: { t: { fd: 3.5 } } }],
    ["negative fdset", { fdsets: { "/a": { set: -1, fds: [{ fd: 4 }] } } }],
    ["empty fdset", { fdsets: { "/a": { set: 1, fds: [] } } }],
  ])("rejects a bad context: %s", (_n, ctx) => {
    expect(() => qemuArgv(parseConfig(base), undefined, ctx)).toThrow(QemuJailError);
  });

  it("quotes for a POSIX shell", () => {
    expect(shellQuote("a b")).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote("")).toBe("''");
    expect(shellQuote('{"a":1}')).toBe(`'{"a":1}'`);
    expect(shellLine(["-m", "512M", "-append", "console=ttyS0 quiet"])).toBe(
      "-m 512M -append 'console=ttyS0 quiet'",
    );
  });
});
