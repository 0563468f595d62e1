// probeHost cost, in one run, against a baseline measured here and now (`node -e 0`):
//   - a fresh process that runs probeHost() and exits (what every `qemu-jail run` pays), bundled
//     with esbuild as the CLI is, wall time;
//   - the probe's own time inside that process (first call: cold JIT, cold caches), per part;
//   - the same with `cacheFile` (version answers and ELF closures reused while files are unchanged);
//   - a warm call in a long-lived process, and with every QEMU module's closure resolved.
//
// Run: npx vite-node bench/host-probe.ts [--runs N]

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { probeHost } from "../src/host/probe.js";

const args = process.argv.slice(2);
const RUNS = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 15;
const repo = resolve(import.meta.dirname, "..");
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(1)} ms`;

function wall(cmd: string, argv: string[]): { ms: number; out: string } {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, argv, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} failed: ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, out: r.stdout };
}

const dir = mkdtempSync(join(tmpdir(), "qj-bench-probe-"));
try {
  const entry = join(dir, "entry.ts");
  writeFileSync(
    entry,
    `import { probeHost } from ${JSON.stringify(join(repo, "src/host/probe.ts"))};
const cacheFile = process.argv[2];
const f = await probeHost(undefined, { helperPath: ${JSON.stringify(join(repo, "native/build/qemu-jail-helper"))}, cacheFile });
console.log(JSON.stringify(f.timings));\n`,
  );
  await build({
    entryPoints: [entry],
    outfile: join(dir, "probe.mjs"),
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "warning",
  });

  const node0: number[] = [];
  const probeWall: number[] = [];
  const probeIn: number[] = [];
  const parts: Record<string, number[]> = {};
  wall("node", ["-e", "0"]); // warm the page cache
  wall("node", [join(dir, "probe.mjs")]);
  for (let i = 0; i < RUNS; i++) {
    node0.push(wall("node", ["-e", "0"]).ms);
    const r = wall("node", [join(dir, "probe.mjs")]);
    probeWall.push(r.ms);
    const t = JSON.parse(r.out) as Record<string, number>;
    probeIn.push(t.total!);
    for (const [k, v] of Object.entries(t)) {
      parts[k] ??= [];
      parts[k].push(v);
    }
  }
  // With the stamp-validated cache (as the launcher uses it): --version answers and ELF closures
  // come from the file while the binaries, libraries and ld.so.cache are unchanged.
  const cacheFile = join(dir, "probe-cache.json");
  wall("node", [join(dir, "probe.mjs"), cacheFile]); // fills it
  const cachedWall: number[] = [];
  const cachedIn: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = wall("node", [join(dir, "probe.mjs"), cacheFile]);
    cachedWall.push(r.ms);
    cachedIn.push((JSON.parse(r.out) as Record<string, number>).total!);
  }
  const base = median(node0);
  const pw = median(probeWall);
  const pi = median(probeIn);

  // Warm, in this process (after a first call): the floor of the probe work itself.
  await probeHost();
  const warm: number[] = [];
  const warmAll: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    await probeHost();
    warm.push(performance.now() - t);
    t = performance.now();
    await probeHost(undefined, { moduleClosures: "all" });
    warmAll.push(performance.now() - t);
  }

  console.log(`host probe (median of ${RUNS})`);
  console.log(`  node -e 0 (baseline)                 ${ms(base)}  1.00x`);
  console.log(
    `  node + probeHost(), fresh process    ${ms(pw)}  ${(pw / base).toFixed(2)}x  (+${ms(pw - base)})`,
  );
  console.log(`  probeHost() inside it (cold)         ${ms(pi)}  ${(pi / base).toFixed(2)}x of baseline`);
  const cw = median(cachedWall);
  const ci = median(cachedIn);
  console.log(
    `  ... with cacheFile, fresh process    ${ms(cw)}  ${(cw / base).toFixed(2)}x  (+${ms(cw - base)})`,
  );
  console.log(`  probeHost() inside it, cached        ${ms(ci)}  ${(ci / base).toFixed(2)}x of baseline`);
  console.log(
    `  probeHost() warm, same process       ${ms(median(warm))}  ${(median(warm) / base).toFixed(2)}x`,
  );
  console.log(
    `  ... with every module's closure      ${ms(median(warmAll))}  ${(median(warmAll) / base).toFixed(2)}x`,
  );
  console.log("  cold parts, finished at (ms since start; they overlap):");
  for (const [k, v] of Object.entries(parts).sort((a, b) => median(a[1]) - median(b[1]))) {
    if (k !== "total") console.log(`    ${k.padEnd(14)} ${ms(median(v))}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
