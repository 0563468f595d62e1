// The catalogue against the shipped policies/: every fragment name a device module can ask for
// must exist there (a renamed or missing fragment would make configs fail at plan time), and the
// fixture configs plan with the real fragments, every rule carrying the item that needs it.

import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { catalogue } from "../../../src/devices/index.js";
import { plan } from "../../../src/plan/plan.js";
import { defaultPolicyDir, loadFragments } from "../../../src/seccomp/fragments.js";
import { FRAGMENT_NAMES, fixtureConfig, tcgHost } from "./helpers.js";

const shipped = existsSync(join(defaultPolicyDir(), "base.json"));

describe.runIf(shipped)("catalogue × shipped policies", () => {
  const set = loadFragments();

  it("every fragment the catalogue can use exists", () => {
    const missing = FRAGMENT_NAMES.filter((n) => !set.fragments.has(n));
    expect(missing).toEqual([]);
  });

  it.each(["minimal", "full", "backends", "firmware"])("%s.toml plans with the shipped fragments", (name) => {
    const host = tcgHost();
    host.devices["/dev/vhost-net"] = { path: "/dev/vhost-net", type: "c", major: 10, minor: 238 };
    const p = plan(fixtureConfig(name), host, set);
    for (const proc of p.processes) {
      expect(proc.seccomp.rules.length).toBeGreaterThan(10);
      for (const r of proc.seccomp.rules) expect(r.provenance.some((v) => v.need)).toBe(true);
      expect(proc.seccomp.fragments).toContain("exec");
    }
    expect(catalogue.length).toBeGreaterThan(10);
  });
});
