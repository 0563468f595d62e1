// Maps a JSON key path (["rules", 3, "args", 0, "value"]) to the line:column where that value
// starts in the source text, so fragment errors point into the file. A small scanner over
// already-valid JSON (JSON.parse ran first); it never throws, it returns undefined instead.

/** Line and column (1-based) of the value at `path` in `text`, if found. */
export function locateJson(
  text: string,
  path: ReadonlyArray<string | number>,
): { line: number; column: number } | undefined {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const skipString = () => {
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    i++;
  };
  const readString = (): string => {
    const start = i;
    skipString();
    try {
      return JSON.parse(text.slice(start, i)) as string;
    } catch {
      return "";
    }
  };
  const skipValue = (): void => {
    ws();
    const c = text[i];
    if (c === '"') {
      skipString();
      return;
    }
    if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (c === "{") {
          skipString();
          ws();
          i++; // ':'
        }
        skipValue();
        ws();
        if (text[i] === ",") i++;
        else {
          i++;
          return;
        }
      }
    }
    while (i < text.length && !/[\s,\]}]/.test(text[i]!)) i++;
  };
  for (const key of path) {
    ws();
    if (typeof key === "number") {
      if (text[i] !== "[") return undefined;
      i++;
      for (let n = 0; n < key; n++) {
        skipValue();
        ws();
        if (text[i] !== ",") return undefined;
        i++;
      }
    } else {
      if (text[i] !== "{") return undefined;
      i++;
      for (;;) {
        ws();
        if (text[i] !== '"') return undefined;
        const k = readString();
        ws();
        i++; // ':'
        if (k === key) break;
        skipValue();
        ws();
        if (text[i] !== ",") return undefined;
        i++;
      }
    }
  }
  ws();
  const before = text.slice(0, i);
  const line = before.split("\n").length;
  return { line, column: i - before.lastIndexOf("\n") };
}
