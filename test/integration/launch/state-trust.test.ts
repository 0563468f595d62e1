// State dirs hold what gc acts on (records: chown, remove, kill) and what goes into jails (the
// probe cache). A state root or VM dir someone else can write is never trusted (review F4).

import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gc } from "../../../src/launch/gc.js";
import { ensureTrustedDir, listVms } from "../../../src/launch/state.js";

const root = process.getuid?.() === 0;
const dir = mkdtempSync(join(tmpdir(), "qj-state-trust-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A forged record: gc would chown `target` to nobody if it trusted it. */
function forge(stateRoot: string, target: string): void {
  const vm = join(stateRoot, "forged");
  mkdirSync(vm, { recursive: true });
  const effect = { kind: "chown", path: target, uid: 0, gid: 0, origUid: 65534, origGid: 65534 };
  writeFileSync(join(vm, "record.json"), JSON.stringify({ version: 1, vm: "forged", effects: [effect] }));
}

describe.skipIf(!root)("state dir trust", () => {
  it("gc does not act on records in a state root another user owns or can write", async () => {
    const target = join(dir, "root-secret");
    writeFileSync(target, "secret", { mode: 0o600 });
    for (const [name, prep] of [
      ["owned by nobody", (p: string) => chownSync(p, 65534, 65534)],
      ["world-writable", (p: string) => chmodSync(p, 0o777)],
    ] as const) {
      const stateRoot = join(dir, name.replace(/ /g, "-"));
      forge(stateRoot, target);
      prep(stateRoot);
      expect(listVms(stateRoot)).toEqual([]);
      expect(await gc(stateRoot)).toEqual([]);
      expect(statSync(target).uid).toBe(0);
    }
    // A VM dir inside a good root, but owned by someone else: skipped as well.
    const good = join(dir, "good");
    forge(good, target);
    chmodSync(good, 0o755);
    chownSync(join(good, "forged"), 65534, 65534);
    expect(listVms(good)).toEqual([]);
    await gc(good);
    expect(statSync(target).uid).toBe(0);
  });

  it("launching refuses an untrusted state root with a state-class error", () => {
    const open = join(dir, "open");
    mkdirSync(open, { mode: 0o777 });
    chmodSync(open, 0o777);
    expect(() => ensureTrustedDir(open, 0o755)).toThrow(
      expect.objectContaining({ code: "STATE_DIR_UNTRUSTED", exit: "state" }),
    );
    const link = join(dir, "link");
    symlinkSync(join(dir, "good"), link);
    expect(() => ensureTrustedDir(link, 0o755)).toThrow(
      expect.objectContaining({ code: "STATE_DIR_UNTRUSTED" }),
    );
    const fine = join(dir, "fine");
    ensureTrustedDir(fine, 0o755);
    expect(statSync(fine).mode & 0o777).toBe(0o755);
  });
});
