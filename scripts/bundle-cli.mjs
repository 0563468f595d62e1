#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports lazily) into dist/bundle/ with
// esbuild, code-split so each command's modules stay in their own chunk and load only when that
// command runs. One parse of a few files instead of hundreds of module resolutions is most of
// the start-up win (see bench/startup.mjs).

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
  entryPoints: { main: "src/cli/main.ts" },
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  minify: true,
  sourcemap: "linked",
  // pino starts worker threads from files resolved at run time: keep it a normal dependency.
  external: ["pino", "pino-pretty", "thread-stream"],
  // CommonJS dependencies (commander) call require() for Node built-ins.
  banner: {
    js: 'import { createRequire as __qjCreateRequire } from "node:module"; const require = __qjCreateRequire(import.meta.url);',
  },
  plugins: [englishOnlyZod],
  logLevel: "warning",
});
