// Shared helpers: classify root entries (executable, library, system file) and refuse paths no
// LSM rule can express safely.

import { QemuJailError } from "../errors.js";
import type { ProcessPlan, RootEntry } from "../plan/types.js";

/** A path that must be mapped executable: the process's binary, its ELF interpreter or a shared object. */
export function isMappedExecutable(proc: ProcessPlan, path: string): boolean {
  return path === proc.exe || isInterpreter(path) || /\.so(\.[\d.]+)?$/.test(path);
}

/** The dynamic loader: the kernel opens it for exec like the binary itself. */
export function isInterpreter(path: string): boolean {
  return /\/ld-linux[^/]*\.so[^/]*$|\/ld64\.so[^/]*$|\/ld-musl[^/]*$/.test(path);
}

/** Files that belong to the OS (binaries, libraries, firmware, config): never relabelled. */
export function isSystemPath(path: string): boolean {
  return /^\/(usr|lib|lib32|lib64|libx32|bin|sbin|etc|opt)\//.test(path);
}

/** Reject control characters and relative paths: they cannot be written into a rule unambiguously. */
export function checkRulePath(path: string, where: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (!path.startsWith("/") || /[\u0000-\u001f\u007f]/.test(path)) {
    throw new QemuJailError("LSM_BAD_PATH", `cannot express path ${JSON.stringify(path)} in an LSM rule`, {
      exit: "config",
      location: { key: where },
      hint: "use an absolute path without control characters",
    });
  }
  return path;
}

/** Bind and tmpfs entries are what a process can touch; others (dirs, symlinks) only shape the tree. */
export type AccessEntry = Extract<RootEntry, { kind: "bind" | "tmpfs" | "proc" | "dir" }>;
