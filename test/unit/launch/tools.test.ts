import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { SYSTEM_DIRS, systemTool } from "../../../src/launch/tools.js";

describe("systemTool", () => {
  it("finds root's tools in the system dirs, whatever PATH says", () => {
    const evil = mkdtempSync(join(tmpdir(), "qj-path-"));
    const saved = process.env.PATH;
    try {
      writeFileSync(join(evil, "ip"), "#!/bin/sh\necho pwned\n");
      chmodSync(join(evil, "ip"), 0o755);
      process.env.PATH = `${evil}:${saved}`;
      const ip = systemTool("ip");
      expect(SYSTEM_DIRS).toContain(dirname(ip) as (typeof SYSTEM_DIRS)[number]);
      expect(ip.startsWith(evil)).toBe(false);
    } finally {
      process.env.PATH = saved;
      rmSync(evil, { recursive: true, force: true });
    }
  });
});
