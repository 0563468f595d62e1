import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { findKernel } from "../../../src/guest/kernel.js";

describe("findKernel", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const fakeRoot = (versions: string[], withModules: string[]) => {
    const root = mkdtempSync(join(tmpdir(), "qj-kernel-"));
    dirs.push(root);
    mkdirSync(join(root, "boot"));
    for (const v of versions) writeFileSync(join(root, "boot", `vmlinuz-${v}`), "");
    for (const v of withModules) {
      mkdirSync(join(root, "modules", v), { recursive: true });
      writeFileSync(join(root, "modules", v, "modules.dep"), "");
    }
    return { bootDir: join(root, "boot"), modulesRoot: join(root, "modules") };
  };

  it("picks the newest kernel that has modules, comparing numerically", () => {
    const r = fakeRoot(
      ["6.1.0-9-amd64", "6.1.0-56-amd64", "6.10.0-1-amd64"],
      ["6.1.0-9-amd64", "6.1.0-56-amd64"],
    );
    expect(findKernel(r).version).toBe("6.1.0-56-amd64");
    expect(findKernel({ ...r, version: "6.1.0-9-amd64" }).vmlinuz).toBe(
      join(r.bootDir, "vmlinuz-6.1.0-9-amd64"),
    );
  });

  it("fails with a host error and a hint when none is usable", () => {
    const r = fakeRoot(["6.1.0-1-amd64"], []);
    expect(() => findKernel(r)).toThrow(expect.objectContaining({ code: "GUEST_NO_KERNEL", exit: "host" }));
  });
});
