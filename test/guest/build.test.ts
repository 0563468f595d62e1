import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { buildGuest, GUEST_MARKERS } from "../../src/guest/index.js";

// Boots the built guest for real under TCG and reads its serial console.
describe("buildGuest (real QEMU, TCG)", () => {
  const cacheDir = mkdtempSync(join(tmpdir(), "qj-guest-cache-"));
  afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

  it("boots the Debian kernel via PVH, runs the script with its modules and powers off", () => {
    const g = buildGuest({
      cacheDir,
      script: 'cat /etc/greeting\n[ -e /dev/vda ] && echo "QJ-CHECK vda"\nexit 3\n',
      files: [{ path: "/etc/greeting", data: "hello from the initramfs\n" }],
    });
    expect(g.pvh).toBe(true);
    // Cached by content: a second build returns the same files without rebuilding.
    expect(
      buildGuest({
        cacheDir,
        script: 'cat /etc/greeting\n[ -e /dev/vda ] && echo "QJ-CHECK vda"\nexit 3\n',
        files: [{ path: "/etc/greeting", data: "hello from the initramfs\n" }],
      }),
    ).toEqual(g);
    const t0 = Date.now();
    const r = spawnSync(
      "qemu-system-x86_64",
      [
        ...["-accel", "tcg", "-M", "q35", "-cpu", "max", "-m", "256", "-smp", "1"],
        ...["-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot"],
        ...["-kernel", g.kernel, "-initrd", g.initrd, "-append", `${g.cmdline} quiet`],
        ...["-blockdev", "driver=null-co,node-name=d0,size=1048576", "-device", "virtio-blk-pci,drive=d0"],
      ],
      { encoding: "utf8", timeout: 90_000 },
    );
    const out = r.stdout;
    console.log(`guest boot to power-off: ${Date.now() - t0} ms (pvh=${g.pvh})`);
    expect(r.status, r.stderr).toBe(0);
    expect(out).toContain(GUEST_MARKERS.ready);
    expect(out).toContain("hello from the initramfs");
    expect(out).toContain("QJ-CHECK vda");
    expect(out).toContain(`${GUEST_MARKERS.done} rc=3`);
  });
});
