// An optional on-disk cache for the slow, stable probe answers: `--version` outputs (a process
// each) and ELF library closures. Each entry records a stamp (dev, inode, size, mtime, ctime) of
// every file its answer depends on, and is used only while all stamps still match; ld.so.cache
// is part of every closure's stamps, so a package install (dpkg runs ldconfig) invalidates them.
// Off unless the caller names a file (the launcher uses its state dir).

import { readFileSync, renameSync, statSync, writeFileSync } from "node:fs";

interface Entry {
  stamps: Record<string, string>;
  value: unknown;
}

/** Stamp of a file, or "missing". */
export function stamp(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return "missing";
  }
}

/** A stamp-validated key/value cache persisted as one JSON file. */
export class ProbeCache {
  private entries: Record<string, Entry> = {};
  private dirty = false;

  constructor(readonly file?: string) {
    if (!file) return;
    try {
      const data = JSON.parse(readFileSync(file, "utf8")) as { v: number; entries: Record<string, Entry> };
      if (data.v === 1 && data.entries && typeof data.entries === "object") this.entries = data.entries;
    } catch {
      // absent or unreadable: start empty
    }
  }

  /** The cached value for `key` if every file it depends on is unchanged. */
  get<T>(key: string): T | undefined {
    const e = this.entries[key];
    if (!e) return undefined;
    for (const [p, s] of Object.entries(e.stamps)) if (stamp(p) !== s) return undefined;
    return e.value as T;
  }

  /** Records `value` for `key`, valid while `files` are unchanged. */
  set(key: string, files: string[], value: unknown): void {
    if (!this.file) return;
    this.entries[key] = { stamps: Object.fromEntries(files.map((f) => [f, stamp(f)])), value };
    this.dirty = true;
  }

  /** Writes the file (atomically: temp file + rename) if anything changed. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ v: 1, entries: this.entries }), { mode: 0o600 });
      renameSync(tmp, this.file);
      this.dirty = false;
    } catch {
      // a cache that cannot be written only costs time next run
    }
  }
}
