#!/usr/bin/env node
// Start-up cost of the CLI, which a user pays on every launch: `qemu-jail --help` and
// `qemu-jail argv examples/minimal.toml` (bundled CLI with its V8 code cache, dist/bundle) against a bare `node -e 0`,
// and against the unbundled tsc output (dist/cli) when present. Runs are interleaved so
// machine noise hits every variant alike. Prints median and min wall time and the ratio of
// medians to the baseline measured in this run. Needs `npm run build` first.
//
//   node bench/startup.mjs [runs=21]

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const runs = Number(process.argv[2] ?? 21);
const unbundled = (args) => [
  "-e",
  `import("./dist/cli/main.js").then((m) => m.main(${JSON.stringify(args)})).then((c) => { process.exitCode = c; })`,
];

const variants = [
  ["node -e 0 (baseline)", ["-e", "0"]],
  ["qemu-jail --help", ["bin/qemu-jail.js", "--help"]],
  ["qemu-jail argv examples/minimal.toml", ["bin/qemu-jail.js", "argv", "examples/minimal.toml"]],
];
variants.push([
  "bundle without code cache: argv",
  ["bin/qemu-jail.js", "argv", "examples/minimal.toml"],
  { QEMU_JAIL_NO_CODE_CACHE: "1" },
]);
if (existsSync("dist/cli/main.js")) {
  variants.push(["unbundled: --help", unbundled(["--help"])]);
  variants.push(["unbundled: argv examples/minimal.toml", unbundled(["argv", "examples/minimal.toml"])]);
}
if (!existsSync("dist/bundle/cli.cjs")) {
  console.error("dist/bundle/cli.cjs is missing: run `npm run build` first");
  process.exit(1);
}

const times = variants.map(() => []);
for (let r = 0; r < runs + 2; r++) {
  variants.forEach(([name, args, env], i) => {
    const t0 = process.hrtime.bigint();
    const res = spawnSync(process.execPath, args, {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...env },
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (res.status !== 0) throw new Error(`${name} exited ${res.status}: ${res.stderr}`);
    if (r >= 2) times[i].push(ms); // two warm-up rounds (page cache)
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times[0]);
console.log(`runs: ${runs} each, interleaved; node ${process.version}`);
console.log(
  `${"variant".padEnd(42)} ${"median ms".padStart(10)} ${"min ms".padStart(8)} ${"× node -e 0".padStart(12)}`,
);
variants.forEach(([name], i) => {
  const m = median(times[i]);
  console.log(
    `${name.padEnd(42)} ${m.toFixed(1).padStart(10)} ${Math.min(...times[i])
      .toFixed(1)
      .padStart(8)} ${(m / base).toFixed(2).padStart(12)}`,
  );
});
