import { describe, expect, it } from "vitest";
import { UndoStack } from "../../../src/launch/undo.js";

describe("UndoStack", () => {
  it("unwinds newest first and continues past failures, reporting them", async () => {
    const ran: string[] = [];
    const u = new UndoStack();
    u.push("a", () => {
      ran.push("a");
    });
    u.push("b", () => {
      throw new Error("b failed");
    });
    u.push("c", async () => {
      ran.push("c");
    });
    const failures = await u.unwind();
    expect(ran).toEqual(["c", "a"]);
    expect(failures.map((f) => f.name)).toEqual(["b"]);
    expect(await u.unwind()).toEqual([]);
    expect(() => u.push("d", () => undefined)).toThrow(/already unwound/);
  });

  it("tells a later undo that an earlier one failed (so the record stays for gc)", async () => {
    const u = new UndoStack();
    const seen: number[] = [];
    u.push("lock", () => {
      seen.push(u.failedCount);
    });
    u.push("cgroup", () => {
      throw new Error("EBUSY");
    });
    await u.unwind();
    expect(seen).toEqual([1]);
  });
});
