// Content-addressed cache for built guest artefacts (kernel images, initramfs archives).

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root: the nearest parent of this module holding package.json. */
function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "src"))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Default cache dir: $XDG_CACHE_HOME/qemu-jail/guest when set, else <repo>/.cache/guest (gitignored). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, "qemu-jail", "guest");
  const root = repoRoot();
  return root ? join(root, ".cache", "guest") : resolve(".cache", "guest");
}

/** Hex sha256 over the given parts, each length-prefixed so concatenations cannot collide. */
export function contentHash(parts: Array<string | Uint8Array>): string {
  const h = createHash("sha256");
  for (const p of parts) {
    const b = typeof p === "string" ? Buffer.from(p) : p;
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest("hex");
}

/** Return `dir/name`, producing it with `make()` first if absent. Written atomically (tmp + rename). */
export function cached(dir: string, name: string, make: () => Uint8Array): string {
  const path = join(dir, name);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, make());
  renameSync(tmp, path);
  return path;
}
