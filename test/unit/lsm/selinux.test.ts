import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  allocateMcs,
  MCS_MAX,
  mcsString,
  parseMcs,
  SELINUX_CONTENT_LABEL,
  selinuxLabels,
  selinuxRelabels,
} from "../../../src/lsm/index.js";
import { qemuProc } from "./fixture.js";

describe("allocateMcs", () => {
  it("is deterministic per seed and differs between seeds", () => {
    expect(allocateMcs("uuid-a")).toEqual(allocateMcs("uuid-a"));
    expect(allocateMcs("uuid-a")).not.toEqual(allocateMcs("uuid-b"));
  });

  it("always yields 0 < lo < hi <= 1023 and avoids pairs in use", () => {
    fc.assert(
      fc.property(fc.string(), fc.array(fc.string(), { maxLength: 5 }), (seed, others) => {
        const inUse = others.map((o) => allocateMcs(o));
        const p = allocateMcs(seed, inUse);
        expect(p.lo).toBeGreaterThan(0);
        expect(p.lo).toBeLessThan(p.hi);
        expect(p.hi).toBeLessThanOrEqual(MCS_MAX);
        expect(inUse.map(mcsString)).not.toContain(mcsString(p));
      }),
    );
  });

  it("moves on when its first choice is taken (given as strings)", () => {
    const first = allocateMcs("vm");
    const second = allocateMcs("vm", [mcsString(first)]);
    expect(second).not.toEqual(first);
    expect(allocateMcs("vm", [mcsString(first), mcsString(second)])).not.toEqual(second);
  });

  it.each([
    ["s0:c1,c2", { lo: 1, hi: 2 }],
    ["s0:c0,c2", undefined],
    ["s0:c5,c5", undefined],
    ["s0:c1,c1024", undefined],
    ["s0-s0:c1", undefined],
  ])("parseMcs(%j)", (s, want) => expect(parseMcs(s)).toEqual(want));
});

describe("selinuxLabels", () => {
  it("gives svirt_t and svirt_image_t the same category pair", () => {
    expect(selinuxLabels("vm1", { lo: 1, hi: 2 })).toEqual({
      processLabel: "system_u:system_r:svirt_t:s0:c1,c2",
      imageLabel: "system_u:object_r:svirt_image_t:s0:c1,c2",
      mcs: "s0:c1,c2",
    });
    expect(selinuxLabels("vm1").mcs).toBe(mcsString(allocateMcs("vm1")));
  });

  it.each([
    [{ lo: 0, hi: 3 }],
    [{ lo: 4, hi: 4 }],
    [{ lo: 9, hi: 2 }],
    [{ lo: 1, hi: 1024 }],
    [{ lo: 1.5, hi: 3 }],
  ])("refuses %j", (pair) =>
    expect(() => selinuxLabels("vm1", pair)).toThrow(expect.objectContaining({ code: "LSM_MCS_INVALID" })),
  );
});

describe("selinuxRelabels", () => {
  it("gives writable files the VM's image label, read-only inputs the shared content label, OS files nothing", () => {
    const labels = selinuxLabels("vm1", { lo: 1, hi: 2 });
    const r = Object.fromEntries(selinuxRelabels(qemuProc(), labels).map((x) => [x.path, x.context]));
    expect(r).toEqual({
      "/srv/vm1/data.qcow2": labels.imageLabel,
      "/srv/vm1/fd-disk.raw": labels.imageLabel,
      "/srv/vm1/ro [1].raw": SELINUX_CONTENT_LABEL,
    });
  });

  it("keeps the need of the entry that asked for the file", () => {
    const r = selinuxRelabels(qemuProc(), selinuxLabels("vm1", { lo: 1, hi: 2 }));
    expect(r.find((x) => x.path === "/srv/vm1/data.qcow2")?.need.item).toBe("disk[0]");
  });
});
