// Running a host binary to ask it something (`--version`, `--probe`), bounded in time, with the
// failure turned into a QemuJailError of the host class.

import { execFile } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { QemuJailError } from "../errors.js";

/** Output of a short-lived query command (stdout and stderr together, as --version often uses either). */
export function runQuery(path: string, args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      path,
      args,
      { timeout: timeoutMs, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" } },
      (err, out, errOut) => {
        if (err && !out && !errOut) {
          reject(
            new QemuJailError("HOST_QUERY_FAILED", `\`${path} ${args.join(" ")}\` failed: ${err.message}`, {
              exit: "host",
              hint: "check that the binary runs on this host",
              cause: err,
              detail: { path, args },
            }),
          );
          return;
        }
        resolve(`${out}${errOut}`);
      },
    );
  });
}

/** Absolute path of an executable: as given when it has a slash, else the first hit on `dirs`. */
export async function findExecutable(name: string, dirs?: string[]): Promise<string | undefined> {
  const isExec = (p: string) =>
    access(p, constants.X_OK).then(
      () => true,
      () => false,
    );
  if (name.includes("/")) return (await isExec(name)) ? name : undefined;
  const search = dirs ?? [
    ...(process.env.PATH ?? "").split(delimiter).filter((d) => d.startsWith("/")),
    "/usr/sbin",
    "/sbin",
  ];
  const hits = await Promise.all(search.map((d) => isExec(join(d, name))));
  const i = hits.indexOf(true);
  return i < 0 ? undefined : join(search[i]!, name);
}

/** Parses `key=value` lines (the native helper's --probe output). */
export function parseKeyValues(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}
