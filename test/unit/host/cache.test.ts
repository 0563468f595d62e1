import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ProbeCache } from "../../../src/host/cache.js";

describe("ProbeCache", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-cache-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("answers while the files an entry depends on are unchanged, and persists", () => {
    const bin = join(dir, "bin");
    const file = join(dir, "cache.json");
    writeFileSync(bin, "v1");
    const a = new ProbeCache(file);
    a.set("run:bin --version", [bin], "version 1");
    a.save();
    const b = new ProbeCache(file);
    expect(b.get("run:bin --version")).toBe("version 1");
    writeFileSync(bin, "v2!"); // size and mtime change
    expect(b.get("run:bin --version")).toBeUndefined();
    utimesSync(bin, 1, 1);
    expect(b.get("run:bin --version")).toBeUndefined();
  });

  it("a missing dependency, a corrupt file or no file at all mean no answers", () => {
    const file = join(dir, "c2.json");
    const a = new ProbeCache(file);
    a.set("k", [join(dir, "gone")], 1);
    a.save();
    expect(new ProbeCache(file).get("k")).toBe(1); // "missing" is a stamp too...
    writeFileSync(join(dir, "gone"), "now here");
    expect(new ProbeCache(file).get("k")).toBeUndefined(); // ...until the file appears
    writeFileSync(file, "{not json");
    expect(new ProbeCache(file).get("k")).toBeUndefined();
    const none = new ProbeCache();
    none.set("k", [], 1);
    expect(none.get("k")).toBeUndefined();
  });
});
