#!/usr/bin/env node
// Thin launcher. All logic lives in the esbuild bundle dist/bundle/cli.cjs (`npm run build`),
// compiled here through vm.Script with the V8 code cache written at build time, so a start does
// not recompile commander, zod and the config code (Node 20 has no module.enableCompileCache).
// A missing or rejected cache (another Node/V8) only costs speed.
import { readFileSync, writeFileSync } from "node:fs";
import Module, { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const file = fileURLToPath(new URL("../dist/bundle/cli.cjs", import.meta.url));
const cacheFile = `${file}.cache`;
let source;
try {
  source = readFileSync(file, "utf8");
} catch {
  console.error(`qemu-jail: ${file} is missing; run \`npm run build\``);
  process.exit(1);
}
let cachedData;
try {
  if (process.env.QEMU_JAIL_NO_CODE_CACHE !== "1") cachedData = readFileSync(cacheFile);
} catch {}
const script = new vm.Script(Module.wrap(source), {
  filename: file,
  cachedData,
  importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
const mod = { exports: {} };
script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));

mod.exports.main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (process.env.QEMU_JAIL_WRITE_CODE_CACHE === "1") writeFileSync(cacheFile, script.createCachedData());
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
