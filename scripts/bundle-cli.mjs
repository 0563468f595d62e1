#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports) into one CommonJS file,
// dist/bundle/cli.cjs, with esbuild, then writes a V8 code cache for it (dist/bundle/cli.cjs.cache)
// that bin/qemu-jail.js hands to vm.Script. One file instead of hundreds of module resolutions,
// and no recompilation of commander/zod/config on each start (see bench/startup.mjs).

import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { build } from "esbuild";

// zod re-exports every message locale (~260 KB minified) as `z.locales`; qemu-jail only ever uses
// English (zod's default), so the bundle gets a locales module holding just that one.
const zodLocalesDir = join(dirname(createRequire(import.meta.url).resolve("zod")), "v4", "locales");
const englishOnlyZod = {
  name: "english-only-zod-locales",
  setup(b) {
    b.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${"/node_modules/zod/"}`)
        ? { path: "zod-locales-en", namespace: "qj" }
        : undefined,
    );
    b.onLoad({ filter: /^zod-locales-en$/, namespace: "qj" }, () => ({
      contents: `export { default as en } from ${JSON.stringify(join(zodLocalesDir, "en.js"))};`,
      loader: "js",
      resolveDir: zodLocalesDir,
    }));
  },
};

// Stale chunks from an earlier build would otherwise pile up next to the new ones.
rmSync("dist/bundle", { recursive: true, force: true });

await build({
  entryPoints: ["src/cli/main.ts"],
  outfile: "dist/bundle/cli.cjs",
  bundle: true,
  // CommonJS, one file: it can be compiled through vm.Script with a V8 code cache (Node 20 has
  // no module.enableCompileCache, and ESM modules cannot take a code cache at all).
  format: "cjs",
  platform: "node",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  // pino starts worker threads from files resolved at run time: keep it a normal dependency.
  external: ["pino", "pino-pretty", "thread-stream"],
  // Modules find policies/ and native/ relative to their own file; the bundle sits at the same depth.
  define: { "import.meta.url": "__qjModuleUrl" },
  banner: { js: 'const __qjModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [englishOnlyZod],
  logLevel: "warning",
});

// The code cache: run one representative command with the cache-writing switch of bin/qemu-jail.js;
// V8 then serialises every function compiled during the run (commander, zod, config, argv).
const warm = spawnSync(process.execPath, ["bin/qemu-jail.js", "argv", "examples/minimal.toml"], {
  env: { ...process.env, QEMU_JAIL_WRITE_CODE_CACHE: "1" },
  stdio: ["ignore", "ignore", "inherit"],
});
if (warm.status !== 0)
  console.warn("bundle-cli: no code cache written (the CLI still works, only slower to start)");
