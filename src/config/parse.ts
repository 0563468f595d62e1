// parseConfig: vm.toml text → VmConfig, pure (no file system access). Syntax errors carry
// smol-toml's line:column; schema errors are located by scanning the text for the key.

import { dirname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { QemuJailError } from "../errors.js";
import { indexPositions } from "./locate.js";
import { normalizeConfig } from "./normalize.js";
import { configError, problemsFromZod } from "./problems.js";
import { configSchema } from "./schema.js";
import type { VmConfig } from "./types.js";

export interface ParseOptions {
  /** File the text came from: used in error locations and to resolve relative paths. */
  source?: string;
  /** Directory relative paths resolve against. Default: the source's directory, else the cwd. */
  baseDir?: string;
}

/** Parses and validates vm.toml text. Throws a QemuJailError (exit class "config") on any problem. */
export function parseConfig(text: string, opts: ParseOptions = {}): VmConfig {
  const source = opts.source;
  const input = parseTomlText(text, source);
  const positions = indexPositions(text);
  const src = { file: source, positions };
  const result = configSchema.safeParse(input);
  if (!result.success) throw configError(problemsFromZod(result.error.issues, configSchema, input), src);
  const baseDir = opts.baseDir ?? (source !== undefined ? dirname(resolve(source)) : process.cwd());
  const config = normalizeConfig(result.data, input, baseDir, source);
  if (Array.isArray(config)) throw configError(config, src);
  return config;
}

function parseTomlText(text: string, source?: string): unknown {
  if (text.includes("\0"))
    return fail(source, "the file contains a NUL byte", undefined, "vm.toml must be UTF-8 text");
  try {
    return parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split("\n")[0]!.replace(/^Invalid TOML document: /, "");
      throw new QemuJailError("CONFIG_TOML_SYNTAX", `TOML syntax error: ${first}`, {
        exit: "config",
        location: { file: source, line: err.line, column: err.column },
        hint: syntaxHint(first),
        cause: err,
      });
    }
    throw fail(source, `cannot parse TOML: ${String(err)}`, err);
  }
}

function fail(source: string | undefined, message: string, cause?: unknown, hint?: string): never {
  throw new QemuJailError("CONFIG_TOML_SYNTAX", message, {
    exit: "config",
    location: { file: source },
    hint,
    cause,
  });
}

function syntaxHint(msg: string): string {
  if (/overrid|redefin|already/i.test(msg))
    return "each key and table may be defined only once; use [[disk]] for repeated tables";
  if (/string/i.test(msg)) return 'strings need quotes: name = "vm0"';
  return 'see the config reference in README.md; values look like key = "text", key = 42, key = true';
}
