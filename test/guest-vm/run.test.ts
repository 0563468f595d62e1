import { existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { runInGuest } from "./run.js";

// The harness itself, booting a real TCG guest over the host root. Two boots only: each costs seconds.
describe("runInGuest (real QEMU, TCG)", () => {
  const leftovers = () => readdirSync(tmpdir()).filter((f) => f.startsWith("qj-guest-vm-"));

  it("runs a command with env, cwd and files, returns stdout, stderr and exit code", async () => {
    const before = leftovers();
    const r = await runInGuest(
      'echo "out:$GREETING"; pwd; cat /opt/qj/note; echo "err" >&2; test -x /usr/bin/qemu-system-x86_64 && echo host-root; exit 7',
      { env: { GREETING: "it's me" }, cwd: "/etc", files: { "/opt/qj/note": "placed\n" } },
    );
    console.log(`guest run: ${r.bootMs} ms`);
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(7);
    expect(r.stdout).toBe("out:it's me\n/etc\nplaced\nhost-root\n");
    expect(r.stderr).toBe("err\n");
    expect(r.kernelLog).toContain("QJ-EXIT rc=7");
    expect(leftovers()).toEqual(before);
  });

  it("keeps the host root read-only behind the overlay and honours the timeout", async () => {
    const marker = `/etc/qj-guest-vm-write-${process.pid}`;
    const r = await runInGuest(`echo x > ${marker} && cat ${marker} && sleep 600`, { timeoutMs: 8_000 });
    expect(r.stdout).toBe("x\n");
    expect(r.timedOut).toBe(true);
    expect(r.exitCode).toBeNull();
    expect(existsSync(marker)).toBe(false);
  });
});
