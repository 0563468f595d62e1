// Trace harness CLI: run each named scenario with QEMU (and its backends) under
// `strace -f -qq`, and write the summaries to test/fixtures/traces/<scenario>.json.
// usage: npx vite-node scripts/trace/run.ts [--out DIR] [--keep] <scenario...|all>

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildTraceGuest } from "./guest.js";
import { runScenario } from "./runner.js";
import { DEFAULT_ENOSYS, SCENARIOS, scenario } from "./scenarios.js";
import { summariseStrace } from "./summary.js";

const STRACE = ["strace", "-f", "-qq", "-s", "32"];

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let out = resolve(import.meta.dirname, "../../test/fixtures/traces");
  const oi = args.indexOf("--out");
  if (oi >= 0) {
    out = resolve(args[oi + 1]!);
    args.splice(oi, 2);
  }
  const names = args.includes("all") ? SCENARIOS.map((s) => s.name) : args.filter((a) => !a.startsWith("--"));
  if (names.length === 0) throw new Error("name scenarios or `all`");
  const base = mkdtempSync(join(tmpdir(), "qj-trace-"));
  let failures = 0;
  try {
    const guest = buildTraceGuest(base);
    mkdirSync(out, { recursive: true });
    const qemuVersion = execFileSync("qemu-system-x86_64", ["--version"], { encoding: "utf8" }).split(
      "\n",
    )[0];
    for (const name of names) {
      const s = scenario(name);
      const tmp = mkdtempSync(join(base, `${name}-`));
      const ctx = { tmp, kernel: guest.kernel, initrd: guest.initrd, state: {} };
      const traceFile = (p: string) => join(tmp, `${p}.strace`);
      const t0 = Date.now();
      const backends = s.backends?.(ctx) ?? [];
      const enosys = (p: string): string[] =>
        p === "qemu" ? (s.enosys ?? DEFAULT_ENOSYS) : (backends.find((b) => b.name === p)?.enosys ?? []);
      const inject = (p: string): string[] => {
        const e = enosys(p);
        return e.length ? ["-e", `inject=${e.join(",")}:error=ENOSYS`] : [];
      };
      const r = await runScenario(s, ctx, { prefix: (p) => [...STRACE, ...inject(p), "-o", traceFile(p)] });
      const repo = resolve(import.meta.dirname, "../..");
      const norm = (a: string[]) =>
        a.map((x) =>
          x
            .split(tmp)
            .join("$TMP")
            .split(base)
            .join("$GUEST")
            .split(repo)
            .join("$REPO")
            .replace(/^qjtrace\d+$/, "qjtrace$PID"),
        );
      const processes: Record<string, unknown> = {
        qemu: summariseStrace(readFileSync(traceFile("qemu"), "utf8")),
      };
      for (const b of Object.keys(r.backendArgv))
        processes[b] = summariseStrace(readFileSync(traceFile(b), "utf8"));
      const fixture = {
        scenario: s.name,
        description: s.description,
        made: {
          harness: "scripts/trace/run.ts",
          command: `npx vite-node scripts/trace/run.ts ${s.name}`,
          tracer: `${STRACE.join(" ")} -e inject=<enosys>:error=ENOSYS -o <file> <process argv>`,
          enosys: Object.fromEntries(["qemu", ...Object.keys(r.backendArgv)].map((p) => [p, enosys(p)])),
          qemuArgv: norm(r.qemuArgv),
          backendArgv: Object.fromEntries(Object.entries(r.backendArgv).map(([k, v]) => [k, norm(v)])),
          wrap: s.wrap ? norm(s.wrap(ctx)) : undefined,
          qemuVersion,
          hostKernel: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
          guestKernel: guest.version,
          guest: "scripts/trace/guest.ts (buildGuest from src/guest with the scenario checks script)",
          date: new Date().toISOString().slice(0, 10),
          interactions: [
            "QMP connect during boot + query-status",
            "guest init exercises the device, prints QJ-OK/QJ-FAIL, QJ-READY",
            "query-block, stop, query-status, cont, query-status, disconnect",
            "scenario host interactions (if any)",
            "QMP reconnect, query-status, system_powerdown, guest powers off, QEMU exits",
          ],
        },
        result: {
          ok: r.ok,
          problems: r.problems,
          checks: r.checks,
          qmp: r.qmp,
          seconds: (Date.now() - t0) / 1000,
        },
        processes,
      };
      // A failed run is not evidence: keep the old fixture unless asked to record it anyway.
      if (r.ok || args.includes("--force"))
        writeFileSync(join(out, `${s.name}.json`), `${JSON.stringify(fixture, null, 2)}\n`);
      const q = processes.qemu as ReturnType<typeof summariseStrace>;
      console.log(
        `${r.ok ? "ok  " : "FAIL"} ${s.name}: ${Object.keys(q.syscalls).length} syscalls in qemu, ${((Date.now() - t0) / 1000).toFixed(1)} s ${r.problems.join("; ")}`,
      );
      if (!r.ok) {
        failures++;
        console.log(r.serial.slice(-2000), r.qemu.stderr.slice(-2000));
        for (const [b, e] of Object.entries(r.backends)) console.log(b, e.stderr.slice(-2000));
      }
      if (!args.includes("--keep")) rmSync(tmp, { recursive: true, force: true });
    }
  } finally {
    if (!args.includes("--keep")) rmSync(base, { recursive: true, force: true });
  }
  // Fixtures are checked by the repo's formatter (biome): write them in its layout. (Biome only
  // formats files inside the repository; an --out elsewhere stays as JSON.stringify wrote it.)
  const repo = resolve(import.meta.dirname, "../..");
  if (out.startsWith(`${repo}/`)) {
    execFileSync(resolve(repo, "node_modules/.bin/biome"), ["format", "--write", out], { stdio: "ignore" });
  }
  process.exitCode = failures ? 1 : 0;
}

await main();
