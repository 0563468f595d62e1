#!/usr/bin/env node
// Bundles the CLI (src/cli/main.ts and everything it imports lazily) into dist/bundle/ with
// esbuild, code-split so each command's modules stay in their own chunk and load only when that
// command runs. One parse of a few files instead of hundreds of module resolutions is most of
// the start-up win (see bench/startup.mjs).

import { build } from "esbuild";

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
  logLevel: "warning",
});
