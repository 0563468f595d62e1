import { describe, expect, it } from "vitest";
import { landlockRules } from "../../../src/lsm/index.js";
import { qemuProc, virtiofsdProc } from "./fixture.js";

const FILE_RIGHTS = new Set(["read_file", "write_file", "execute", "truncate", "ioctl_dev"]);

describe("landlockRules", () => {
  const byPath = (rules: ReturnType<typeof landlockRules>) =>
    Object.fromEntries(rules.map((r) => [r.path, r.access]));

  it("derives rights from the QEMU manifest", () => {
    const rules = byPath(landlockRules(qemuProc()));
    expect(rules).toMatchObject({
      "/": ["read_dir"],
      "/usr/bin/qemu-system-x86_64": ["read_file", "execute"],
      "/lib64/ld-linux-x86-64.so.2": ["read_file", "execute"],
      "/lib/x86_64-linux-gnu/libglib-2.0.so.0": ["read_file"],
      "/images/data.qcow2": ["read_file", "write_file", "truncate"],
      "/images/ro [1].raw": ["read_file"],
      "/dev/kvm": ["read_file", "write_file", "ioctl_dev"],
    });
    expect(rules["/run/qemu"]).toContain("make_sock");
    // Symlinks are resolved by the kernel: no rule of their own.
    expect(rules["/lib64/libc.so.6"]).toBeUndefined();
  });

  it("rw dirs get create/remove rights, ro dirs only read; every rule keeps its need", () => {
    const rules = landlockRules(virtiofsdProc());
    const m = byPath(rules);
    expect(m["/shared"]).toEqual(
      expect.arrayContaining(["make_reg", "make_dir", "remove_file", "remove_dir", "write_file"]),
    );
    expect(m["/ro"]).toEqual(["read_file", "read_dir"]);
    expect(rules.every((r) => r.need.item.length > 0)).toBe(true);
  });

  it("never puts directory rights on a file (the kernel would refuse the rule)", () => {
    const proc = qemuProc();
    const files = new Set([
      ...proc.root.filter((e) => e.kind === "bind" && e.type === "file").map((e) => e.path),
      ...proc.devices.map((d) => d.path),
    ]);
    for (const r of landlockRules(proc)) {
      if (files.has(r.path))
        for (const a of r.access) expect(FILE_RIGHTS.has(a), `${r.path}: ${a}`).toBe(true);
    }
  });
});
