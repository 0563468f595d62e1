// A terminal's Ctrl-C sends SIGINT to the whole foreground process group. It must reach only the
// launcher (which stops the VM gracefully), never QEMU directly (QEMU would die at once, "terminating
// on signal 2", and the guest would get no chance to shut down).

import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGuest } from "../../../src/guest/index.js";

const repo = resolve(import.meta.dirname, "../../..");
const cli = join(repo, "bin", "qemu-jail.js");
const root = process.getuid?.() === 0;

describe.skipIf(!root)("Ctrl-C on a terminal", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-ctrlc-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("SIGINT to the launcher's process group stops the VM through the launcher, cleanly", async () => {
    const guest = buildGuest({});
    const name = `ctrlc-${process.pid}`;
    const file = join(dir, "vm.toml");
    writeFileSync(
      file,
      `[vm]\nname = "${name}"\naccel = "tcg"\nmemory = "128M"\n[boot]\nkernel = "${guest.kernel}"\n` +
        `initrd = "${guest.initrd}"\n[serial]\nmode = "none"\n[jail]\nseccomp = "kill"\n` +
        `state_dir = "${join(dir, "state")}"\n[qemu]\nextra_args = ["-S"]\n`,
    );
    // Its own process group, as a shell gives a foreground job.
    const child = spawn(process.execPath, [cli, "run", file], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      out += c.toString();
    });
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!out.includes("QMP answers") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain("QMP answers");
    process.kill(-child.pid!, "SIGINT"); // what the terminal does on Ctrl-C
    const code = await exited;
    expect(out).toContain("signal received: stopping the VM");
    expect(out).not.toContain("terminating on signal");
    expect(code).toBe(0);
    expect(readdirSync(join(dir, "state")).filter((f) => !f.startsWith("."))).toEqual([]);
  });
});
