import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { landlockRules } from "../../../src/lsm/index.js";
import { helperPath } from "../../../src/native/paths.js";
import { dataFile, ddPlan, JAIL_UID, runPlan } from "../../guest/drivers/jail.js";

// landlockRules() on this host's real Landlock (ABI 7), applied by the native helper in a full
// jail. The rules are derived from a plan WITHOUT /data/secret while the jail's root holds it
// (readable by DAC): only Landlock can refuse it.
describe.skipIf(process.getuid?.() !== 0)(
  "Landlock rules from the manifest (real kernel, native helper)",
  () => {
    const dir = mkdtempSync(join(tmpdir(), "qj-landlock-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text, { mode: 0o644 });
      return p;
    };
    const allowed = [
      dataFile("allowed", file("allowed", "public data\n"), false),
      dataFile("rw", file("rw", "old\n"), true),
    ];
    chownSync(join(dir, "rw"), JAIL_UID, JAIL_UID);
    const withSecret = [...allowed, dataFile("secret", file("secret", "secret data\n"), false)];
    const rules = landlockRules(ddPlan(allowed, []));
    const run = (argv: string[], landlock = true) => {
      const plan = ddPlan(withSecret, ["status=none", ...argv]);
      if (landlock) plan.lsm.landlock = { required: true, rules };
      return runPlan(plan, helperPath(), dir);
    };

    it("allows exactly what the rules derive from the manifest", async () => {
      expect(await run(["if=/data/allowed"])).toMatchObject({ ran: true, code: 0, stdout: "public data\n" });
      const secret = await run(["if=/data/secret"]);
      expect(secret).toMatchObject({ ran: true, code: 1, stdout: "" });
      expect(secret.stderr).toMatch(/Permission denied/);
      expect(await run(["if=/data/allowed", "of=/data/rw"])).toMatchObject({ ran: true, code: 0 });
      expect(readFileSync(join(dir, "rw"), "utf8")).toBe("public data\n");
    });

    it("the same jail without Landlock reads the secret (so the denial above is Landlock's)", async () => {
      expect(await run(["if=/data/secret"], false)).toMatchObject({
        ran: true,
        code: 0,
        stdout: "secret data\n",
      });
    });
  },
);
