import { describe, expect, it } from "vitest";
import { decodeField, parseStatusLine, type StatusEvent } from "../../../src/native/status.js";

describe("parseStatusLine", () => {
  it.each<[string, StatusEvent]>([
    ["stage root ok", { kind: "stage", stage: "root", state: "ok" }],
    ["stage landlock ok abi=7", { kind: "stage", stage: "landlock", state: "ok", detail: "abi=7" }],
    ["stage landlock skipped", { kind: "stage", stage: "landlock", state: "skipped" }],
    ["stage seccomp loading 2", { kind: "stage", stage: "seccomp", state: "loading", detail: "2" }],
    ["pid 4242", { kind: "pid", pid: 4242 }],
    ["exec ok", { kind: "exec" }],
    ["exit code 3", { kind: "exit", code: 3, signal: null, core: false }],
    ["exit signal 31 core", { kind: "exit", code: null, signal: 31, core: true }],
    [
      "fail root source-is-symlink /a%20b/c ELOOP 40",
      { kind: "fail", stage: "root", op: "source-is-symlink", path: "/a b/c", errnoName: "ELOOP", errno: 40 },
    ],
    [
      "fail creds capset - EPERM 1",
      { kind: "fail", stage: "creds", op: "capset", path: "", errnoName: "EPERM", errno: 1 },
    ],
    [
      "sigsys 4242 201 11 22 0 0 0 ffffffffffffffff",
      {
        kind: "sigsys",
        tid: 4242,
        nr: 201,
        args: ["0x11", "0x22", "0x0", "0x0", "0x0", "0xffffffffffffffff"],
      },
    ],
    ["something else", { kind: "unknown", line: "something else" }],
    ["pid x", { kind: "unknown", line: "pid x" }],
  ])("%s", (line, ev) => {
    expect(parseStatusLine(line)).toEqual(ev);
  });

  it("decodes %HH escapes", () => {
    expect(decodeField("%25%0A%C3")).toBe("%\n\u00c3");
    expect(decodeField("-")).toBe("");
  });
});
