#!/usr/bin/env node
// Thin launcher: all logic lives in dist/. Kept tiny so start-up cost is the CLI's alone.
import { main } from "../dist/cli/main.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
