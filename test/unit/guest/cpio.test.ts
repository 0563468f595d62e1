import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeCpio } from "../../../src/guest/cpio.js";

// The archive is checked by the real cpio tool (GNU cpio), not by a reader of our own.
describe("writeCpio", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it("produces a newc archive GNU cpio lists and extracts identically", () => {
    const archive = writeCpio([
      { type: "dir", path: "etc" },
      { type: "file", path: "etc/hello", data: Buffer.from("hi\n"), mode: 0o640 },
      { type: "file", path: "etc/odd", data: Buffer.from("12345"), mode: 0o755 },
      { type: "file", path: "empty", data: new Uint8Array(0) },
      { type: "symlink", path: "link", target: "etc/hello" },
    ]);
    const list = execFileSync("cpio", ["-it", "--quiet"], { input: archive, encoding: "utf8" });
    expect(list.trim().split("\n")).toEqual(["etc", "etc/hello", "etc/odd", "empty", "link"]);
    const dir = mkdtempSync(join(tmpdir(), "qj-cpio-"));
    dirs.push(dir);
    execFileSync("cpio", ["-idm", "--quiet", "-D", dir], { input: archive });
    expect(readFileSync(join(dir, "etc/hello"), "utf8")).toBe("hi\n");
    expect(readFileSync(join(dir, "etc/odd"), "utf8")).toBe("12345");
    expect(statSync(join(dir, "etc/hello")).mode & 0o777).toBe(0o640);
    expect(statSync(join(dir, "etc/odd")).mode & 0o777).toBe(0o755);
    expect(readlinkSync(join(dir, "link"))).toBe("etc/hello");
  });

  it.each([["../x"], ["a/../../b"], [""], ["/"]])("refuses the path %j", (path) => {
    expect(() => writeCpio([{ type: "dir", path }])).toThrow(/bad cpio path/);
  });

  it("aligns every header on 4 bytes and ends with the trailer", () => {
    const archive = writeCpio([{ type: "file", path: "a", data: Buffer.from("x") }]);
    expect(archive.length % 4).toBe(0);
    expect(archive.toString("latin1")).toContain("TRAILER!!!");
    expect(archive.subarray(0, 6).toString()).toBe("070701");
  });
});
