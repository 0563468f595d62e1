// The launcher (root) opens config-named files and hands the fds to a jail. A path swapped after
// it was checked must not give the guest some other host file (security review F1, F2).

import {
  fstatSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { probeImage } from "../../../src/host/images.js";
import { undoEffect } from "../../../src/launch/effects.js";
import { openFds } from "../../../src/launch/fds.js";
import type { FdSource, ProcessPlan } from "../../../src/plan/types.js";

const dir = mkdtempSync(join(tmpdir(), "qj-fds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const need = { item: "disk[0]", reason: "test" };
const procWith = (source: FdSource) => ({ fds: [{ fd: 3, source, need }] }) as unknown as ProcessPlan;
const closeAll = (o: ReturnType<typeof openFds>) => {
  for (const x of o) x.close();
};

describe("files opened for a jail", () => {
  it("an image is opened only if it is still the file the probe saw", async () => {
    const img = join(dir, "disk.raw");
    writeFileSync(img, Buffer.alloc(4096));
    const facts = await probeImage(img);
    expect(facts.identity?.type).toBe("file");
    const source: FdSource = { kind: "file", path: img, write: true, identity: facts.identity! };
    const ok = openFds(procWith(source));
    expect(fstatSync(ok[0]!.fd).ino).toBe(statSync(img).ino);
    closeAll(ok);

    // Swapped for another file (here a "secret") after the probe: refused, nothing opened.
    const secret = join(dir, "secret");
    writeFileSync(secret, "host secret");
    renameSync(secret, img);
    expect(() => openFds(procWith(source))).toThrow(
      expect.objectContaining({ code: "FD_FILE_CHANGED", exit: "jail" }),
    );
    // Swapped for a symlink to a device: refused as well.
    rmSync(img);
    symlinkSync("/dev/null", img);
    expect(() => openFds(procWith(source))).toThrow(expect.objectContaining({ code: "FD_FILE_CHANGED" }));
  });

  it("the serial log is never followed through a symlink, and is created private", () => {
    const target = join(dir, "target");
    const log = join(dir, "console.log");
    symlinkSync(target, log);
    const source: FdSource = { kind: "file", path: log, write: true, append: true };
    expect(() => openFds(procWith(source))).toThrow(expect.objectContaining({ code: "FD_OPEN" }));
    expect(() => readFileSync(target)).toThrow(); // the dangling target was not created
    rmSync(log);
    const made = openFds(procWith(source));
    expect(statSync(log).mode & 0o777).toBe(0o600);
    closeAll(made);
  });

  it("a copy source (OVMF vars template) that is a symlink is refused, nothing created", () => {
    const tmpl = join(dir, "vars.tmpl");
    symlinkSync("/etc/shadow", tmpl);
    const copy = join(dir, "vars.fd");
    const source: FdSource = { kind: "file", path: copy, write: true, copyOf: tmpl };
    expect(() => openFds(procWith(source))).toThrow(expect.objectContaining({ exit: "jail" }));
    expect(() => statSync(copy)).toThrow();
  });
});

describe("ownership changes", () => {
  it("undo never follows a symlink swapped in for the image (security review F3)", async () => {
    const img = join(dir, "owned.raw");
    const victim = join(dir, "victim");
    writeFileSync(victim, "root's file");
    // The launch gave the image to uid 4242; then the image was replaced by a symlink to a
    // root-owned file that happens to carry the same owner the undo looks for.
    symlinkSync(victim, img);
    const { chownSync } = await import("node:fs");
    chownSync(victim, 4242, 4242);
    await undoEffect({ kind: "chown", path: img, uid: 4242, gid: 4242, origUid: 0, origGid: 0 });
    expect(statSync(victim).uid).toBe(4242); // untouched: the symlink was not followed
    // The real file (not a symlink) is restored.
    rmSync(img);
    writeFileSync(img, "");
    chownSync(img, 4242, 4242);
    await undoEffect({ kind: "chown", path: img, uid: 4242, gid: 4242, origUid: 0, origGid: 0 });
    expect(statSync(img).uid).toBe(0);
  });
});
