// Property: whatever text comes in, parseConfig returns a VmConfig or throws a clean
// QemuJailError (exit class "config", a code, no stack in its rendering) — never anything else.

import fc from "fast-check";
import { stringify } from "smol-toml";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { QemuJailError } from "../../../src/errors.js";

function outcome(text: string): "ok" | "error" {
  try {
    const c = parseConfig(text, { source: "/p/vm.toml" });
    expect(c.vm.name).toMatch(/^[a-z0-9][a-z0-9_.-]{0,62}$/);
    return "ok";
  } catch (e) {
    if (!(e instanceof QemuJailError)) throw e;
    expect(e.exit).toBe("config");
    expect(e.code).toMatch(/^CONFIG_[A-Z_]+$/);
    const r = e.render();
    expect(r).not.toMatch(/\n\s+at /);
    if (e.location?.line !== undefined) {
      expect(e.location.line).toBeGreaterThanOrEqual(1);
      expect(e.location.line).toBeLessThanOrEqual(text.split("\n").length + 1);
    }
    return "error";
  }
}

const VALID = `[vm]
name = "p"
memory = "256M"
cpus = 2
[boot]
kernel = "/vmlinuz"
initrd = "/initrd.img"
[[disk]]
id = "d0"
path = "/img/a.qcow2"
format = "qcow2"
backing = [{ path = "/img/base.qcow2" }]
[[nic]]
id = "n0"
forward = [{ host_port = 2222, guest_port = 22 }]
[[share]]
id = "s0"
path = "/srv"
[serial]
mode = "file"
path = "console.log"
[jail.cgroup]
pids_max = 100
`;

const KEYS = [
  "vm",
  "boot",
  "disk",
  "nic",
  "share",
  "serial",
  "qmp",
  "rng",
  "vsock",
  "jail",
  "qemu",
  "name",
  "nmae",
  "id",
  "path",
  "format",
  "memory",
  "cpus",
  "kernel",
  "code",
  "mode",
  "tap",
  "cid",
  "uid",
  "cgroup",
  "backing",
  "forward",
  "host_port",
  "readonly",
  "bus",
  "cache",
  "aio",
];

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    "512M",
    "4G",
    "1GiB",
    "x",
    "../a",
    "/a/b",
    "raw",
    "qcow2",
    "tap",
    "file",
    "auto",
    "kvm",
    "",
    "9T",
  ),
  fc.integer({ min: -5, max: 70000 }),
  fc.double({ noNaN: true }),
  fc.boolean(),
);
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof({ depthSize: "small" }, scalar, fc.array(tie("v"), { maxLength: 3 }), tie("t")),
  t: fc.dictionary(fc.constantFrom(...KEYS), tie("v"), { maxKeys: 4 }),
})).v;

/** Mostly `good`, sometimes any value. */
const mostly = <T>(good: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: good, weight: 6 }, { arbitrary: value, weight: 1 });

/** A valid config with some keys replaced, added or removed at random. */
const nearValid = fc
  .record({
    vm: fc.record(
      {
        name: mostly(fc.constantFrom("p", "vm-1", "a.b")),
        cpus: mostly(fc.integer({ min: 1, max: 300 })),
        memory: mostly(fc.constantFrom("512M", "1G", "64M")),
      },
      { requiredKeys: ["name"] },
    ),
    boot: fc.record(
      { kernel: mostly(fc.constant("/vmlinuz")), cmdline: mostly(fc.constant("console=ttyS0")) },
      { requiredKeys: ["kernel"] },
    ),
    disk: fc.array(
      fc.record(
        {
          id: fc.constantFrom("d0", "d1", "n0", "0x", "qmp"),
          path: mostly(fc.constantFrom("/a", "b", "../c", "/d/./e")),
          format: fc.constantFrom("raw", "qcow2", "qcow"),
          readonly: mostly(fc.boolean()),
        },
        { requiredKeys: ["id", "path"] },
      ),
      { maxLength: 3 },
    ),
    nic: fc.array(
      fc.record(
        {
          id: fc.constantFrom("n0", "n1", "d0"),
          mode: fc.constantFrom("user", "user", "tap", "tpa"),
          forward: fc.array(
            fc.record({
              host_port: fc.integer({ min: 0, max: 70000 }),
              guest_port: fc.integer({ min: 1, max: 65535 }),
            }),
            { maxLength: 2 },
          ),
        },
        { requiredKeys: ["id"] },
      ),
      { maxLength: 2 },
    ),
    extra: fc.oneof(
      { arbitrary: fc.constant({}), weight: 4 },
      { arbitrary: fc.dictionary(fc.constantFrom(...KEYS), value, { maxKeys: 2 }), weight: 1 },
    ),
  })
  .map(({ extra, ...rest }) => ({ ...extra, ...rest }));

describe("parseConfig never fails uncleanly", () => {
  it("on random text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: "binary" }), (t) => void outcome(t)),
      { numRuns: 400 },
    );
  });

  it("on random TOML-ish text built from config tokens", () => {
    const token = fc.constantFrom(
      "[vm]",
      "[[disk]]",
      "[boot]",
      "name",
      "=",
      '"x"',
      "1",
      "\n",
      " ",
      ".",
      "[",
      "]",
      "{",
      "}",
      ",",
      '"""',
      "'",
      "#",
      "true",
      "disk",
      "id",
      "path",
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (ts) => void outcome(ts.join(""))),
      { numRuns: 400 },
    );
  });

  it("on a valid config with random edits", () => {
    expect(outcome(VALID)).toBe("ok");
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: VALID.length }),
        fc.integer({ min: 0, max: 8 }),
        fc.string({ maxLength: 6 }),
        (at, del, ins) => void outcome(VALID.slice(0, at) + ins + VALID.slice(at + del)),
      ),
      { numRuns: 400 },
    );
  });

  it("on random near-valid config trees", () => {
    let ok = 0;
    fc.assert(
      fc.property(nearValid, (tree) => {
        let text: string;
        try {
          text = stringify(tree);
        } catch {
          return; // not representable as TOML
        }
        if (outcome(text) === "ok") ok++;
      }),
      { numRuns: 400 },
    );
    expect(ok).toBeGreaterThan(0);
  });
});
