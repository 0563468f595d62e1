// Sizes with units, as people write them in vm.toml: "512M", "4G", "1GiB", "64K" or a plain
// integer number of bytes. Units are binary (K = KiB = 1024), as in QEMU's own options.

const UNITS: Record<string, number> = {
  "": 1,
  B: 1,
  K: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TIB: 1024 ** 4,
};

/** Parses "512M" / "4G" / "1GiB" / 1048576 into bytes; returns an explanation string on failure. */
export function parseSize(input: string | number): number | { error: string; hint: string } {
  if (typeof input === "number") {
    if (Number.isSafeInteger(input) && input >= 0) return input;
    return { error: `expected a whole number of bytes, got ${input}`, hint: 'write a size such as "512M"' };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(input);
  if (!m)
    return { error: `expected a size such as "512M" or "4G", got ${JSON.stringify(input)}`, hint: SIZE_HINT };
  const unit = m[2]!.toUpperCase();
  if (unit === "KB" || unit === "MB" || unit === "GB" || unit === "TB") {
    return {
      error: `ambiguous unit "${m[2]}" in ${JSON.stringify(input)}`,
      hint: `write "${m[1]}${unit[0]}" or "${m[1]}${unit[0]}iB" (binary units, as QEMU uses)`,
    };
  }
  const mult = UNITS[unit];
  if (mult === undefined)
    return { error: `unknown size unit "${m[2]}" in ${JSON.stringify(input)}`, hint: SIZE_HINT };
  const bytes = Number(m[1]) * mult;
  if (!Number.isSafeInteger(bytes)) {
    return { error: `${JSON.stringify(input)} is not a whole number of bytes`, hint: SIZE_HINT };
  }
  return bytes;
}

const SIZE_HINT = 'units are K, M, G, T (or KiB, MiB, GiB, TiB), all binary: "512M", "4G", "1GiB"';

/** Formats bytes the way QEMU's -m and size= options accept, using the largest exact unit. */
export function formatSize(bytes: number): string {
  for (const [u, m] of [
    ["T", 1024 ** 4],
    ["G", 1024 ** 3],
    ["M", 1024 ** 2],
    ["K", 1024],
  ] as const) {
    if (bytes >= m && bytes % m === 0) return `${bytes / m}${u}`;
  }
  return String(bytes);
}
