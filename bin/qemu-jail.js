#!/usr/bin/env node
// Thin launcher: all logic lives in the esbuild bundle under dist/bundle/ (built by `npm run
// build`). Kept tiny so start-up cost is the CLI's alone.
import { main } from "../dist/bundle/main.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
