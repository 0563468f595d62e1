import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { aaQuote, apparmorProfile, apparmorProfileName } from "../../../src/lsm/index.js";
import { qemuProc, virtiofsdProc } from "./fixture.js";

/** Compile with the real parser, without a kernel: -Q skip load, -K skip cache, -T skip read cache. */
function parse(profile: string): { status: number | null; stderr: string } {
  const r = spawnSync("apparmor_parser", ["-Q", "-K", "-T"], { input: profile, encoding: "utf8" });
  return { status: r.status, stderr: r.stderr.replace(/^Cache read\/write disabled.*\n/gm, "") };
}

describe("apparmorProfile", () => {
  it.each([
    ["qemu", qemuProc()],
    ["virtiofsd", virtiofsdProc()],
  ])("%s: the real apparmor_parser accepts the profile", (_n, proc) => {
    const { profile } = apparmorProfile(proc, "vm1");
    const r = parse(profile);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("the parser check itself rejects a broken profile", () => {
    const { profile } = apparmorProfile(qemuProc(), "vm1");
    expect(parse(profile.replace("mr,", "mr")).status).not.toBe(0);
  });

  it("names the profile per VM and process", () => {
    expect(apparmorProfileName("vm1", "qemu")).toBe("qemu-jail-vm1-qemu");
    expect(apparmorProfileName("a b", "x/y")).toBe("qemu-jail-a_b-x_y");
    expect(apparmorProfile(qemuProc(), "vm1").profile).toContain(
      "profile qemu-jail-vm1-qemu flags=(attach_disconnected, chroot_relative) {",
    );
  });

  it("derives file modes from the manifest", () => {
    const { profile } = apparmorProfile(qemuProc(), "vm1");
    const rules = profile.split("\n").map((l) => l.trim());
    expect(rules).toEqual(
      expect.arrayContaining([
        '"/usr/bin/qemu-system-x86_64" mr,',
        '"/lib64/ld-linux-x86-64.so.2" mr,',
        '"/lib/x86_64-linux-gnu/libglib-2.0.so.0" mr,',
        '"/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so" mr,',
        '"/usr/share/qemu/bios-256k.bin" rk,',
        '"/images/data.qcow2" rwk,',
        '"/images/ro \\[1\\].raw" rk,',
        '"/run/qemu/" rw,',
        '"/run/qemu/**" rwk,',
        '"/dev/urandom" r,',
        '"/dev/kvm" rw,',
        '"/srv/vm1/fd-disk.raw" rwk,',
        "network unix stream,",
        "signal (receive) peer=unconfined,",
        "deny mount,",
      ]),
    );
    // Only QEMU's own namespace: no inet rules, no capabilities, and no host paths but the fd.
    expect(profile).not.toMatch(/network inet|capability/);
    expect(profile).not.toContain("/srv/vm1/data.qcow2");
    // Every rule is commented with the need that put it there.
    expect(profile).toContain("# disk[0]: rw disk");
  });

  it("rw dirs get write/link/lock, ro dirs read only; kept capabilities and host networking appear", () => {
    const p = virtiofsdProc();
    p.namespaces.net = "host";
    const { profile } = apparmorProfile(p, "vm1");
    expect(profile).toContain('"/shared/**" rwlk,');
    expect(profile).toContain('"/ro/**" r,');
    expect(profile).toContain("capability dac_read_search,");
    expect(profile).toContain("network inet stream,");
    expect(profile).toContain('owner "/proc/[0-9]*/**" r,');
    expect(parse(profile).status).toBe(0);
  });

  it.each([["a*b"], ["x{y,z}"], ["q?"], ["@{HOME}"], ['quo"te'], ["back\\slash"]])(
    "escapes %j so the rule stays literal",
    (name) => {
      const q = aaQuote(`/d/${name}`);
      expect(parse(`abi <abi/3.0>,\nprofile t {\n  ${q} r,\n}\n`).status).toBe(0);
      expect(q).not.toMatch(/(^|[^\\])[*?{}[\]]/);
    },
  );

  it("names tap and vhost-net fds, for a confined launcher whose fds AppArmor revalidates at exec", () => {
    const p = qemuProc();
    p.fds.push(
      { fd: 6, source: { kind: "tap", name: "qj0" }, need: { item: "nic[0]", reason: "tap" } },
      { fd: 7, source: { kind: "vhost-net" }, need: { item: "nic[0].vhost", reason: "vhost" } },
    );
    const { profile } = apparmorProfile(p, "vm1");
    expect(profile).toContain('"/dev/net/tun" rw,');
    expect(profile).toContain('"/dev/vhost-net" rw,');
    expect(parse(profile).status).toBe(0);
  });

  it("refuses paths with control characters", () => {
    const p = qemuProc();
    p.root.push({
      kind: "bind",
      path: "/bad\npath",
      source: "/x",
      type: "file",
      rw: false,
      need: { item: "x", reason: "y" },
    });
    expect(() => apparmorProfile(p, "vm1")).toThrow(expect.objectContaining({ code: "LSM_BAD_PATH" }));
  });
});
