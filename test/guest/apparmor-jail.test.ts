import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { helperPath } from "../../src/native/paths.js";
import { runInGuest } from "../guest-vm/run.js";
import { bundleDriver } from "./drivers/bundle.js";
import { JAIL_UID } from "./drivers/jail.js";

// The product path for AppArmor, end to end in a guest with AppArmor on: plan → apparmorProfile →
// apparmor_parser -r → native helper (namespaces, pivot_root, apparmor-exec, uid drop) → exec.
// Profile paths are the ones inside the jail: this shows they are the ones AppArmor checks.
describe("AppArmor through the native helper's jail (TCG guest)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-aa-jail-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the jailed process reads what the profile allows and is denied a file its root holds but the profile lacks", async () => {
    expect(existsSync(helperPath()), "native helper not built (npm run build)").toBe(true);
    const bundle = join(dir, "driver.mjs");
    await bundleDriver("apparmor-jail-driver.ts", bundle);
    const r = await runInGuest(
      [
        "mount -t securityfs securityfs /sys/kernel/security",
        `chown ${JAIL_UID} /opt/qj-aa/rw`,
        `node /opt/qj-aa/driver.mjs ${helperPath()}`,
        "echo driver=$?",
        `echo "rw=$(cat /opt/qj-aa/rw)"`,
        "dmesg | grep 'apparmor=\"DENIED\"' | sed 's/^.*apparmor=/apparmor=/'",
      ].join("\n"),
      {
        kernelArgs: "apparmor=1 security=apparmor",
        files: {
          "/opt/qj-aa/driver.mjs": readFileSync(bundle),
          "/opt/qj-aa/allowed": "public data\n",
          "/opt/qj-aa/secret": "secret data\n",
          "/opt/qj-aa/rw": "old content\n",
        },
        timeoutMs: 180_000,
      },
    );
    console.log(`AppArmor jail guest run: ${r.bootMs} ms\n${r.stdout}${r.stderr}`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("driver=0");
    const steps = Object.fromEntries(
      r.stdout
        .split("\n")
        .filter((l) => l.startsWith("RESULT "))
        .map((l) => JSON.parse(l.slice(7)) as { step: string; data: Record<string, unknown> })
        .map((x) => [x.step, x.data]),
    );
    const name = (steps.loaded as { profileName: string }).profileName;
    expect(steps.loaded).toMatchObject({ loaded: true });
    expect(steps.unloaded).toEqual({ loaded: false });
    expect(steps["read-allowed"]).toMatchObject({ ran: true, code: 0, stdout: "public data\n" });
    expect(steps["read-secret"]).toMatchObject({ ran: true, code: 1, stdout: "" });
    expect(steps["read-secret"]?.stderr).toMatch(/Permission denied/);
    expect(steps["write-rw"]).toMatchObject({ ran: true, code: 0 });
    expect(steps["write-ro"]).toMatchObject({ ran: true, code: 1 });
    expect(steps["secret-unconfined"]).toMatchObject({ ran: true, code: 0, stdout: "secret data\n" });
    expect(r.stdout).toContain("rw=public data");
    // The kernel names the in-jail path and the per-VM profile.
    expect(r.stdout).toMatch(
      new RegExp(
        `apparmor="DENIED" operation="open" profile="${name}" name="/data/secret" .*requested_mask="r"`,
      ),
    );
  });
});
