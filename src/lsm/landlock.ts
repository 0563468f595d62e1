// Landlock rules from the root manifest (Cloud Hypervisor derives them from the VM config; here
// from the plan, which already says exactly what each process may touch and why).

import type { LandlockRule, ProcessPlan, RootEntry } from "../plan/types.js";
import { isInterpreter } from "./paths.js";

type Access = LandlockRule["access"][number];

const READ_DIR: Access[] = ["read_file", "read_dir"];
const WRITE_TREE: Access[] = [
  "read_file",
  "read_dir",
  "write_file",
  "truncate",
  "make_reg",
  "make_dir",
  "make_sym",
  "make_sock",
  "remove_file",
  "remove_dir",
  "refer",
];

function entryAccess(proc: ProcessPlan, e: RootEntry): Access[] | undefined {
  switch (e.kind) {
    case "bind":
      if (e.type === "file") {
        // execve opens the binary and the kernel opens the loader for exec; libraries are only mmapped.
        const exec: Access[] = e.path === proc.exe || isInterpreter(e.path) ? ["execute"] : [];
        return e.rw ? ["read_file", "write_file", "truncate", ...exec] : ["read_file", ...exec];
      }
      return e.rw ? WRITE_TREE : READ_DIR;
    case "tmpfs":
      return WRITE_TREE;
    case "dir":
      return ["read_dir"];
    case "proc":
      return READ_DIR;
    case "symlink":
      return undefined;
  }
}

/** One rule per manifest entry and device node, each carrying the entry's need. */
export function landlockRules(proc: ProcessPlan): LandlockRule[] {
  const rules: LandlockRule[] = [];
  for (const e of proc.root) {
    const access = entryAccess(proc, e);
    if (access) rules.push({ path: e.path, access, need: e.need });
  }
  for (const d of proc.devices) {
    rules.push({ path: d.path, access: ["read_file", "write_file", "ioctl_dev"], need: d.need });
  }
  return rules;
}
