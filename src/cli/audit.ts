// `qemu-jail audit`: read and compare plans. `audit show plan.json` renders a saved plan;
// `audit diff a b` shows what changes between two plans (each a saved `plan --json` output, or a
// vm.toml planned on this host).

import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { QemuJailError } from "../errors.js";
import type { JailPlan } from "../plan/types.js";

async function loadPlan(file: string, policies?: string): Promise<JailPlan> {
  if (file.endsWith(".toml")) {
    const { planFromConfigFile } = await import("./plan.js");
    return planFromConfigFile(file, policies);
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new QemuJailError("USAGE_UNREADABLE", `cannot read ${file}`, {
      exit: "usage",
      location: { file },
      hint: "pass a plan JSON file (`qemu-jail plan vm.toml --json > plan.json`) or a vm.toml",
      cause: e,
    });
  }
  const { planFromJson } = await import("../plan/json.js");
  return planFromJson(text, file);
}

/** Registers `audit show` and `audit diff`. */
export function register(program: Command): void {
  const audit = program.command("audit").description("read and compare jail plans");
  audit
    .command("show")
    .description("render a plan (JSON file or vm.toml) for people")
    .argument("<plan>", "plan JSON or vm.toml")
    .option("--no-rules", "seccomp counts instead of every rule")
    .option("--policies <dir>", "policy fragment directory, when planning a vm.toml")
    .action(async (file: string, opts: { rules: boolean; policies?: string }) => {
      const { renderPlan } = await import("../audit/render.js");
      process.stdout.write(renderPlan(await loadPlan(file, opts.policies), { rules: opts.rules }));
    });
  audit
    .command("diff")
    .description("semantic diff of two plans: added/removed paths, syscalls, fds, devices; changed limits")
    .argument("<a>", "plan JSON or vm.toml (before)")
    .argument("<b>", "plan JSON or vm.toml (after)")
    .option("--json", "print the changes as JSON")
    .option("--policies <dir>", "policy fragment directory, when planning a vm.toml")
    .action(async (a: string, b: string, opts: { json?: boolean; policies?: string }) => {
      const { diffPlans, renderDiff } = await import("../audit/diff.js");
      const d = diffPlans(await loadPlan(a, opts.policies), await loadPlan(b, opts.policies));
      process.stdout.write(opts.json ? `${JSON.stringify(d, null, 2)}\n` : renderDiff(d));
    });
}
