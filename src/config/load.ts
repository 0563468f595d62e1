// loadConfig: read a vm.toml, parse it, and check the files it references.

import { readFileSync } from "node:fs";
import { QemuJailError } from "../errors.js";
import { checkFiles } from "./files.js";
import { indexPositions } from "./locate.js";
import { type ParseOptions, parseConfig } from "./parse.js";
import { configError } from "./problems.js";
import type { VmConfig } from "./types.js";

/** Reads and validates `path`, then checks that every referenced file exists and fits. */
export function loadConfig(path: string, opts: Omit<ParseOptions, "source"> = {}): VmConfig {
  const text = readConfigText(path);
  const config = parseConfig(text, { ...opts, source: path });
  const problems = checkFiles(config);
  if (problems.length > 0) throw configError(problems, { file: path, positions: indexPositions(text) });
  return config;
}

/** The text of a config file, or a config-class error saying why it cannot be read. */
export function readConfigText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new QemuJailError(
      code === "ENOENT" ? "CONFIG_FILE_MISSING" : "CONFIG_FILE_UNREADABLE",
      code === "ENOENT" ? `config file ${path} does not exist` : `cannot read config file ${path}: ${code}`,
      {
        exit: "config",
        location: { file: path },
        cause: err,
        hint: code === "EISDIR" ? "name the vm.toml file, not its directory" : undefined,
      },
    );
  }
}
