import { describe, expect, it } from "vitest";
import { withMknod } from "../../../src/launch/cgroups.js";

describe("device rules for the helper's mknod", () => {
  it.each([
    ["c 10:232 rw", "c 10:232 rwm"],
    ["c 1:9 r", "c 1:9 rm"],
    ["b 8:0 rwm", "b 8:0 rwm"],
    ["a *:* rwm", "a *:* rwm"],
    ["garbage", "garbage"],
  ])("%s → %s", (rule, want) => {
    expect(withMknod(rule)).toBe(want);
  });
});
