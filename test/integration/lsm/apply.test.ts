import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applySelinuxLabels, loadApparmorProfile, unloadApparmorProfile } from "../../../src/lsm/index.js";

// The LSM effects on THIS host, where neither AppArmor nor SELinux is active: each fails cleanly
// with its own code. (Their success paths run in the TCG guests under test/guest.)
const lsms = existsSync("/sys/kernel/security/lsm") ? readFileSync("/sys/kernel/security/lsm", "utf8") : "";

describe("LSM effects on a host without AppArmor/SELinux", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-lsm-apply-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.skipIf(lsms.includes("apparmor"))(
    "loading a profile fails with LSM_APPARMOR_LOAD and the parser's reason",
    async () => {
      const profile = "abi <abi/3.0>,\nprofile qemu-jail-t-x {\n  /x r,\n}\n";
      await expect(loadApparmorProfile({ profileName: "qemu-jail-t-x", profile })).rejects.toMatchObject({
        code: "LSM_APPARMOR_LOAD",
        exit: "jail",
      });
    },
  );

  it("unloading a profile that is not loaded is a no-op (gc may replay it)", async () => {
    await expect(unloadApparmorProfile("qemu-jail-none-x", { securityfs: dir })).resolves.toBeUndefined();
  });

  it.skipIf(lsms.includes("selinux"))(
    "relabelling fails with LSM_SELINUX_RELABEL and leaves the file as it was",
    async () => {
      const f = join(dir, "img");
      writeFileSync(f, "x");
      const need = { item: "disk[0]", reason: "image" };
      await expect(
        applySelinuxLabels([{ path: f, context: "system_u:object_r:svirt_image_t:s0:c1,c2", need }]),
      ).rejects.toMatchObject({ code: "LSM_SELINUX_RELABEL", detail: { path: f, need } });
      expect(readFileSync(f, "utf8")).toBe("x");
    },
  );
});
