// The README's config reference is generated from the schema; this fails when it is stale.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { renderSection, updateReadme } from "../../../scripts/gen-config-reference.js";

describe("README config reference", () => {
  it("is up to date (run: npx vite-node scripts/gen-config-reference.ts)", () => {
    const readme = readFileSync("README.md", "utf8");
    expect(readme).toContain("<!-- config:start -->");
    expect(updateReadme(readme)).toBe(readme);
  });

  it("documents every section and the library API", () => {
    const s = renderSection();
    for (const h of [
      "[vm]",
      "[boot]",
      "[[disk]]",
      "[[disk.backing]]",
      "[[nic]]",
      "[[nic.forward]]",
      "[[share]]",
      "[serial]",
      "[qmp]",
      "[rng]",
      "[vsock]",
      "[jail]",
      "[jail.cgroup]",
      "[jail.cgroup.cpu_max]",
      "[qemu]",
    ])
      expect(s).toContain(`### ${h}`);
    for (const api of ["parseConfig(", "loadConfig(", "qemuArgv(", "ArgvContext", "fdsets"])
      expect(s).toContain(api);
  });
});
