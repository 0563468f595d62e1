// A kernel without Landlock (built in but not enabled answers EOPNOTSUPP): simulated by running
// the helper under a filter that gives that answer to the three Landlock syscalls. A ruleset the
// plan marks required is a hard failure; an optional one is skipped and says so.

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { helperPath, probePath } from "../../../src/native/paths.js";
import { parseProbe } from "../../../src/native/probe.js";
import { serializeSpec } from "../../../src/native/serialize.js";
import type { HelperStep } from "../../../src/native/spec.js";
import { isRoot, probeSteps, runRaw } from "./harness.js";

const WRAP = [probePath(), "deny-landlock-exec"];

function landlock(required: boolean): HelperStep[] {
  return [
    { step: "landlock", required, scopeSignal: true, scopeAbstractUnix: true },
    { step: "landlock-path", path: "/", access: ["execute", "read_file", "read_dir"] },
  ];
}

describe.skipIf(!isRoot)("Landlock unavailable", () => {
  it("--probe reports ABI 0", () => {
    const p = parseProbe(
      execFileSync(WRAP[0]!, [WRAP[1]!, helperPath(), "--probe"], {
        encoding: "utf8",
      }),
    );
    expect(p.landlockAbi).toBe(0);
  });

  it("a required ruleset fails the landlock stage", async () => {
    const { lines, code } = await runRaw(
      serializeSpec({ steps: probeSteps(["ids"], landlock(true)) }),
      undefined,
      WRAP,
    );
    expect(code).toBe(126);
    expect(lines).toContain("fail landlock unsupported - EOPNOTSUPP 95");
    expect(lines.some((l) => l.startsWith("exec"))).toBe(false);
  });

  it("an optional ruleset is skipped, visibly", async () => {
    const { lines, code } = await runRaw(
      serializeSpec({ steps: probeSteps(["ids"], landlock(false)) }),
      undefined,
      WRAP,
    );
    expect(lines).toContain("stage landlock skipped");
    expect(lines).toContain("exec ok");
    expect(code).toBe(0);
  });
});
