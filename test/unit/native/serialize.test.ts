import { describe, expect, it } from "vitest";
import { isQemuJailError } from "../../../src/errors.js";
import { serializeSpec, stepRank } from "../../../src/native/serialize.js";
import type { HelperStep } from "../../../src/native/spec.js";

// Golden bytes, written out by hand from native/README.md (one line per record), so a change of
// the wire format has to be made on both sides deliberately.
const GOLDEN = [
  "514a5350 01000000", // "QJSP", version 1
  "0100 0000 08000000 01000000 01000000", // FD src 1 → dst 1
  "0600 0000 04000000 07000000", // UNSHARE mount|pid|net
  "0a00 0000 14000000 0000010000000000 ed010000 04000000 2f746d70", // ROOT 64 KiB 0755 /tmp
  "0b00 0000 1b000000 04000000 09000000 2f62696e2f74727565 06000000 2f70726f6265", // BIND exec /bin/true → /probe
  "0c00 0000 0a000000 c0010000 02000000 2f61", // MKDIR 0700 /a
  "1300 0000 14000000 07000000 4000000000000000 ffffffffffffffff", // RLIMIT NOFILE 64 unlimited
  "1600 0000 08000000 7bfa0000 7cfa0000", // IDS 64123 64124
  "1b00 0000 10000000 ffffffff 08000000 06000000 0000ff7f", // SECCOMP inline, 1 insn (ret allow)
  "1c00 0000 23000000 ffffffff 02000000 06000000 2f70726f6265 06000000 2f70726f6265 03000000 696473", // EXEC
  "0000 0000 00000000", // END
]
  .join("")
  .replace(/ /g, "");

// Deliberately out of order: the serializer sorts steps into the helper's stage order.
const STEPS: HelperStep[] = [
  { step: "exec", path: "/probe", argv: ["/probe", "ids"] },
  { step: "ids", uid: 64123, gid: 64124 },
  { step: "fd", target: 1, source: { stdio: 1 } },
  { step: "unshare", namespaces: ["mount", "pid", "net"] },
  { step: "root", mountpoint: "/tmp", sizeBytes: 65536, mode: 0o755 },
  { step: "bind", source: "/bin/true", path: "/probe", type: "file", rw: false, exec: true },
  { step: "mkdir", path: "/a", mode: 0o700 },
  { step: "rlimit", resource: "NOFILE", soft: 64, hard: "unlimited" },
  { step: "seccomp", program: new Uint8Array([6, 0, 0, 0, 0, 0, 0xff, 0x7f]) },
];

describe("serializeSpec", () => {
  it("matches the golden bytes", () => {
    expect(serializeSpec({ steps: STEPS }).toString("hex")).toBe(GOLDEN);
  });

  it("is deterministic and independent of the input order across stages", () => {
    // Any permutation that keeps bind before mkdir (same stage) gives the same bytes.
    const shuffled = [8, 5, 6, 2, 0, 7, 4, 3, 1].map((i) => STEPS[i]!);
    expect(serializeSpec({ steps: shuffled }).toString("hex")).toBe(GOLDEN);
  });

  it("keeps the given order inside the root stage", () => {
    const a: HelperStep = { step: "mkdir", path: "/x", mode: 0o755 };
    const b: HelperStep = {
      step: "bind",
      source: "/etc/hosts",
      path: "/x/h",
      type: "file",
      rw: false,
      exec: false,
    };
    const ab = serializeSpec({ steps: [a, b] }).toString("hex");
    const ba = serializeSpec({ steps: [b, a] }).toString("hex");
    expect(ab).not.toBe(ba);
    expect(stepRank(a)).toBe(stepRank(b));
    expect(ab.indexOf("0c00")).toBeLessThan(ab.indexOf("0b00"));
  });

  it("resolves fd refs through the resolver", () => {
    const bytes = serializeSpec({ steps: [{ step: "fd", target: 7, source: { parent: 42 } }] }, () => 5);
    expect(bytes.subarray(16, 24).toString("hex")).toBe("0500000007000000");
  });

  it.each<[string, HelperStep]>([
    ["a NUL byte in a path", { step: "cwd", path: "/a\0b" }],
    ["an over-long path", { step: "cwd", path: `/${"a".repeat(4095)}` }],
    ["a negative uid", { step: "ids", uid: -1, gid: 0 }],
    ["a non-integer mode", { step: "mkdir", path: "/a", mode: 1.5 }],
    ["an unknown capability", { step: "caps", keep: ["CAP_NOPE"] }],
    ["an env name with '='", { step: "env", name: "A=B", value: "c" }],
  ])("refuses %s", (_, step) => {
    let err: unknown;
    try {
      serializeSpec({ steps: [step] });
    } catch (e) {
      err = e;
    }
    expect(isQemuJailError(err) && err.code).toBe("HELPER_SPEC_INVALID");
  });

  it("encodes TRACE as an empty record after EXEC", () => {
    const hex = serializeSpec({ steps: [{ step: "trace" }, STEPS[0]!] }).toString("hex");
    expect(hex.endsWith("1e00000000000000" + "0000000000000000")).toBe(true);
  });

  it("encodes capability and landlock masks", () => {
    const caps = serializeSpec({
      steps: [{ step: "caps", keep: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"] }],
    });
    expect(caps.readBigUInt64LE(16)).toBe(0b1011n);
    const ll = serializeSpec({
      steps: [{ step: "landlock-path", path: "/", access: ["execute", "read_file", "ioctl_dev"] }],
    });
    expect(ll.readBigUInt64LE(16)).toBe((1n << 0n) | (1n << 2n) | (1n << 15n));
  });
});
