// Building QEMU option strings: QemuOpts/keyval "key=value,..." with commas in values doubled,
// and JSON for -blockdev (no escaping rules to get wrong, and `null` is expressible).

/** "a=1,b=x,,y" from [["a", 1], ["b", "x,y"]]; entries with undefined values are skipped. */
export function kv(
  first: string | undefined,
  pairs: Array<[string, string | number | boolean | undefined]>,
): string {
  const parts = first === undefined ? [] : [first.replaceAll(",", ",,")];
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    const s = typeof v === "boolean" ? (v ? "on" : "off") : String(v);
    parts.push(`${k}=${s.replaceAll(",", ",,")}`);
  }
  return parts.join(",");
}

/** A -blockdev argument in JSON form, keys in insertion order. */
export function json(obj: Record<string, unknown>): string {
  return JSON.stringify(obj);
}
