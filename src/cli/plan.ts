// `qemu-jail plan vm.toml`: the jail of every process the config leads to, without touching the
// host (reads the config, probes the host read-only, loads the policy fragments, plans, prints).

import type { Command } from "commander";

/** Options of `plan`. */
interface PlanCliOptions {
  json?: boolean;
  summary?: boolean;
  rules: boolean;
  policies?: string;
  idBase?: string;
}

/** Loads a config and plans it on this host (shared with `audit`). */
export async function planFromConfigFile(file: string, policies?: string, idBase?: number) {
  const [{ loadConfig }, { probeHost }, { loadFragments }, { plan }] = await Promise.all([
    import("../config/load.js"),
    import("../host/probe.js"),
    import("../seccomp/fragments.js"),
    import("../plan/plan.js"),
  ]);
  const config = loadConfig(file);
  const host = await probeHost(config);
  const fragments = policies ? loadFragments(policies) : loadFragments();
  return plan(config, host, fragments, idBase === undefined ? {} : { idBase });
}

/** Registers `plan`. Heavy modules load only when the command runs. */
export function register(program: Command): void {
  program
    .command("plan")
    .description(
      "print the jail plan of a config (every process, its root, fds, limits, seccomp, LSM); touches nothing",
    )
    .argument("<config>", "path to vm.toml")
    .option("--json", "print the plan as JSON (for tools, `audit diff`)")
    .option("--summary", "print a few figures per process")
    .option("--no-rules", "text output: seccomp counts instead of every rule")
    .option("--policies <dir>", "policy fragment directory (default: the package's policies/)")
    .option("--id-base <n>", "use this id block base instead of the one derived from the VM name")
    .action(async (file: string, opts: PlanCliOptions) => {
      const idBase = opts.idBase === undefined ? undefined : Number.parseInt(opts.idBase, 10);
      if (idBase !== undefined && (!Number.isInteger(idBase) || idBase <= 0)) {
        const { QemuJailError } = await import("../errors.js");
        throw new QemuJailError(
          "USAGE_BAD_ID_BASE",
          `--id-base must be a positive integer, got ${opts.idBase}`,
          {
            exit: "usage",
          },
        );
      }
      const p = await planFromConfigFile(file, opts.policies, idBase);
      const [{ planToJson }, { renderPlan, summarizePlan }] = await Promise.all([
        import("../plan/json.js"),
        import("../audit/render.js"),
      ]);
      if (opts.json) process.stdout.write(`${planToJson(p)}\n`);
      else if (opts.summary) process.stdout.write(summarizePlan(p));
      else process.stdout.write(renderPlan(p, { rules: opts.rules }));
      for (const w of p.warnings)
        process.stderr.write(`qemu-jail: WARNING ${w.code} [${w.item}] ${w.message}\n`);
    });
}
