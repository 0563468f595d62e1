// Property test of the helper's spec parser, built with ASan+UBSan and run with --check (parse
// and validate only): whatever bytes arrive — mutations of a valid spec, random records, random
// noise — the helper answers with exactly one status line, "stage parse ok" (exit 0) or
// "fail parse ..." (exit 125), and never crashes, hangs or trips a sanitizer.

import { execFileSync, spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { serializeSpec } from "../../../src/native/serialize.js";
import { probeSteps } from "./harness.js";

const nativeDir = fileURLToPath(new URL("../../../native/", import.meta.url));
const ASAN = `${nativeDir}build/qemu-jail-helper-asan`;

function check(
  bytes: Uint8Array,
): Promise<{ lines: string[]; code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(ASAN, ["--check"], {
      stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"],
      env: { ASAN_OPTIONS: "detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS: "halt_on_error=1" },
      timeout: 10_000,
    });
    let out = "";
    let err = "";
    (child.stdio[4] as Readable).setEncoding("utf8").on("data", (c: string) => {
      out += c;
    });
    child.stderr?.setEncoding("utf8").on("data", (c: string) => {
      err += c;
    });
    const spec = child.stdio[3] as Writable;
    spec.on("error", () => {});
    spec.end(Buffer.from(bytes));
    child.on("close", (code, signal) =>
      resolve({ lines: out.split("\n").filter(Boolean), code, signal, stderr: err }),
    );
  });
}

const valid = serializeSpec({
  steps: probeSteps(
    ["ids"],
    [
      { step: "landlock", required: true, scopeSignal: true, scopeAbstractUnix: false },
      { step: "landlock-path", path: "/", access: ["read_file"] },
      { step: "seccomp", program: new Uint8Array([6, 0, 0, 0, 0, 0, 0xff, 0x7f]) },
      { step: "uidmap", inside: 0, outside: 100000, count: 10 },
      { step: "gidmap", inside: 0, outside: 100000, count: 10 },
      { step: "fail-after", stage: "root", mode: "kill" },
    ],
  ).map((s) => (s.step === "unshare" ? { ...s, namespaces: [...s.namespaces, "user" as const] } : s)),
});

const mutation = fc.oneof(
  // Overwrite a few bytes anywhere.
  fc
    .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 8,
    })
    .map((edits) => {
      const b = Buffer.from(valid);
      for (const [i, v] of edits) b[i] = v;
      return b;
    }),
  // Truncate, or splice random bytes in.
  fc.nat(valid.length).map((n) => valid.subarray(0, n)),
  fc
    .tuple(fc.nat(valid.length), fc.uint8Array({ maxLength: 64 }))
    .map(([at, ins]) => Buffer.concat([valid.subarray(0, at), ins, valid.subarray(at)])),
  // A valid header followed by random records with plausible lengths.
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: 31 }), fc.uint8Array({ maxLength: 48 })), { maxLength: 12 })
    .map((recs) =>
      Buffer.concat([
        valid.subarray(0, 8),
        ...recs.map(([t, body]) => {
          const h = Buffer.alloc(8);
          h.writeUInt16LE(t, 0);
          h.writeUInt32LE(body.length, 4);
          return Buffer.concat([h, body]);
        }),
        Buffer.alloc(8),
      ]),
    ),
  // Pure noise.
  fc.uint8Array({ maxLength: 256 }),
);

describe("spec parser under ASan/UBSan (fuzz)", () => {
  beforeAll(() => {
    execFileSync("make", ["-s", "-C", nativeDir, "build/qemu-jail-helper-asan"], { stdio: "inherit" });
  });

  it("accepts the valid spec", async () => {
    const r = await check(valid);
    expect(r).toMatchObject({ code: 0, lines: ["stage parse ok"] });
  });

  it("answers every input with one clean verdict", async () => {
    await fc.assert(
      fc.asyncProperty(mutation, async (bytes) => {
        const r = await check(bytes);
        expect(r.signal, r.stderr).toBeNull();
        expect(r.stderr).toBe("");
        expect(r.lines).toHaveLength(1);
        if (r.code === 0) expect(r.lines[0]).toBe("stage parse ok");
        else {
          expect(r.code).toBe(125);
          expect(r.lines[0]).toMatch(/^fail parse \S+ \S+ E[A-Z0-9]+ \d+$/);
        }
      }),
      { numRuns: 300 },
    );
  });
});
