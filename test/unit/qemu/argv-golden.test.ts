// Golden tests: each config under test/fixtures/config/ (and examples/) → QEMU argv, compared
// with test/fixtures/config/golden/<name>.argv (one argument per line). A <name>.ctx.json next
// to a config is passed as the ArgvContext. Regenerate with UPDATE_GOLDEN=1 after checking the diff.

import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import type { HostFacts } from "../../../src/host/types.js";
import { qemuArgv } from "../../../src/qemu/argv.js";
import type { ArgvContext } from "../../../src/qemu/context.js";

const FIX = "test/fixtures/config";
const GOLDEN = join(FIX, "golden");
const sources = [
  ...readdirSync(FIX)
    .filter((f) => f.endsWith(".toml"))
    .map((f) => join(FIX, f)),
  ...readdirSync("examples")
    .filter((f) => f.endsWith(".toml"))
    .map((f) => join("examples", f)),
];

/** Only the fields qemuArgv reads; a host without KVM and without vhost-net. */
const HOST = { hasKvm: false, devices: {} } as unknown as HostFacts;

describe("qemuArgv golden", () => {
  it.each(sources)("%s", (file) => {
    const name = basename(file, ".toml");
    // A fixed base dir, so goldens do not depend on the checkout's location.
    const config = parseConfig(readFileSync(file, "utf8"), { source: `/cfg/${name}.toml` });
    const ctxFile = file.replace(/\.toml$/, ".ctx.json");
    const ctx = existsSync(ctxFile) ? (JSON.parse(readFileSync(ctxFile, "utf8")) as ArgvContext) : undefined;
    const argv = qemuArgv(config, name === "minimal" ? HOST : undefined, ctx);
    const text = `${argv.join("\n")}\n`;
    const golden = join(GOLDEN, `${name}.argv`);
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, text);
    expect(text).toBe(readFileSync(golden, "utf8"));
    // Modern forms only.
    for (const legacy of ["-hda", "-drive", "-net", "-usbdevice", "-redir"])
      expect(argv).not.toContain(legacy);
    expect(argv.slice(1, 3)).toEqual(["-nodefaults", "-no-user-config"]);
  });
});
