// Maps a key path of the parsed TOML (["disk", 1, "format"]) back to a line:column in the text,
// for error messages. smol-toml gives positions only for syntax errors, so this is a small,
// lenient scanner over text that smol-toml has already accepted: table headers, arrays of tables
// (counted per resolved parent, so [[disk.backing]] under the 2nd [[disk]] is disk.1.backing.N),
// dotted keys, inline tables and arrays. It never throws; unknown spots fall back to the nearest
// ancestor that was found.

export type KeyPath = ReadonlyArray<string | number>;

export interface Position {
  line: number;
  column: number;
}

/** Every key path found in `text`, joined with ".", mapped to where it is written (1-based). */
export function indexPositions(text: string): Map<string, Position> {
  const map = new Map<string, Position>();
  const lineStarts = [0];
  for (let k = 0; k < text.length; k++) if (text[k] === "\n") lineStarts.push(k + 1);
  const pos = (off: number): Position => {
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (lineStarts[mid]! <= off) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: off - lineStarts[lo]! + 1 };
  };
  const record = (path: KeyPath, off: number) => {
    const k = path.join(".");
    if (!map.has(k)) map.set(k, pos(off));
  };
  const aotCount = new Map<string, number>();
  let i = 0;

  const skipInline = () => {
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
  };
  const skipBlank = () => {
    for (;;) {
      while (i < text.length && /[ \t\r\n]/.test(text[i]!)) i++;
      if (text[i] === "#") {
        while (i < text.length && text[i] !== "\n") i++;
      } else return;
    }
  };
  const readString = (): string => {
    const q = text[i]!;
    if (text.startsWith(q.repeat(3), i)) {
      const end = findMultiEnd(q, i + 3);
      const s = text.slice(i + 3, end);
      i = end + 3;
      while (text[i] === q) i++;
      return s;
    }
    i++;
    let s = "";
    while (i < text.length && text[i] !== q && text[i] !== "\n") {
      if (q === '"' && text[i] === "\\") {
        s += text.slice(i, i + 2);
        i += 2;
      } else s += text[i++];
    }
    i++;
    return s;
  };
  const findMultiEnd = (q: string, from: number): number => {
    let k = from;
    while (k < text.length) {
      if (q === '"' && text[k] === "\\") k += 2;
      else if (text.startsWith(q.repeat(3), k)) return k;
      else k++;
    }
    return text.length;
  };
  const readKey = (): string[] => {
    const segs: string[] = [];
    for (;;) {
      skipInline();
      const c = text[i];
      if (c === '"' || c === "'") segs.push(readString());
      else {
        const m = /^[A-Za-z0-9_-]+/.exec(text.slice(i, i + 256));
        if (!m) return segs;
        segs.push(m[0]);
        i += m[0].length;
      }
      skipInline();
      if (text[i] !== ".") return segs;
      i++;
    }
  };
  const readValue = (path: KeyPath): void => {
    skipInline();
    const c = text[i];
    if (c === '"' || c === "'") {
      readString();
    } else if (c === "[") {
      i++;
      let idx = 0;
      for (;;) {
        skipBlank();
        if (i >= text.length) return;
        if (text[i] === "]") {
          i++;
          return;
        }
        record([...path, idx], i);
        const before = i;
        readValue([...path, idx]);
        skipBlank();
        if (text[i] === ",") {
          i++;
          idx++;
        } else if (i === before) i++;
      }
    } else if (c === "{") {
      i++;
      for (;;) {
        skipInline();
        if (i >= text.length || text[i] === "\n") return;
        if (text[i] === "}") {
          i++;
          return;
        }
        const start = i;
        const segs = readKey();
        if (segs.length === 0) {
          i++;
          continue;
        }
        record([...path, ...segs], start);
        skipInline();
        if (text[i] === "=") i++;
        readValue([...path, ...segs]);
        skipInline();
        if (text[i] === ",") i++;
      }
    } else {
      while (i < text.length && !/[,\]}\n#]/.test(text[i]!)) i++;
    }
  };
  const resolveHeader = (segs: string[], arrayTable: boolean): (string | number)[] => {
    const out: (string | number)[] = [];
    segs.forEach((s, n) => {
      out.push(s);
      const last = n === segs.length - 1;
      const count = aotCount.get(out.join("."));
      if (last && arrayTable) {
        const key = out.join(".");
        aotCount.set(key, (count ?? 0) + 1);
        out.push(count ?? 0);
      } else if (count !== undefined) out.push(count - 1);
    });
    return out;
  };

  let current: (string | number)[] = [];
  try {
    while (i < text.length) {
      skipBlank();
      if (i >= text.length) break;
      const start = i;
      if (text[i] === "[") {
        const arrayTable = text[i + 1] === "[";
        i += arrayTable ? 2 : 1;
        const segs = readKey();
        current = resolveHeader(segs, arrayTable);
        if (arrayTable) record(current.slice(0, -1), start);
        record(current, start);
        while (i < text.length && text[i] !== "\n") i++;
        continue;
      }
      const segs = readKey();
      if (segs.length === 0) {
        while (i < text.length && text[i] !== "\n") i++;
        continue;
      }
      record([...current, ...segs], start);
      skipInline();
      if (text[i] === "=") i++;
      readValue([...current, ...segs]);
      while (i < text.length && text[i] !== "\n") i++;
    }
  } catch {
    // Lenient by design: a partial map still locates most keys.
  }
  return map;
}

/** Position of `path`, or of its nearest written ancestor; `exact` says which. */
export function locate(
  positions: Map<string, Position>,
  path: KeyPath,
): (Position & { exact: boolean }) | undefined {
  for (let n = path.length; n > 0; n--) {
    const p = positions.get(path.slice(0, n).join("."));
    if (p) return { ...p, exact: n === path.length };
  }
  return undefined;
}
