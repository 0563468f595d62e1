// elfDependencies against the real dynamic loader: our own ELF + ld.so.cache resolution must name
// exactly the files `ld.so --list` reports, for QEMU, its backends and modules, and for binaries
// built here that exercise DT_RPATH, DT_RUNPATH and $ORIGIN.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { elfDependencies } from "../../../src/host/deps.js";
import { readElf } from "../../../src/host/elf.js";
import { LDCACHE_FLAGS, parseLdCache } from "../../../src/host/ldcache.js";

const LOADER = "/lib64/ld-linux-x86-64.so.2";
const x86 = process.arch === "x64" && existsSync(LOADER);

/** `ld.so --list` → the resolved library paths (vdso and the loader itself left out). */
function loaderList(path: string, env: Record<string, string> = {}): string[] {
  const out = execFileSync(LOADER, ["--list", path], {
    encoding: "utf8",
    env: { PATH: "/usr/bin:/bin", ...env },
  });
  return out
    .split("\n")
    .map((l) => /=>\s+(\S+)\s+\(/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined)
    .map((p) => resolve(p)); // ld.so prints "$ORIGIN/../x" unfolded
}

const targets = [
  "/usr/bin/qemu-system-x86_64",
  "/usr/bin/qemu-storage-daemon",
  "/usr/lib/qemu/virtiofsd",
  "/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
  "/usr/lib/x86_64-linux-gnu/qemu/ui-spice-core.so",
].filter((p) => existsSync(p));

describe.skipIf(!x86)("elfDependencies vs the real loader", () => {
  it.each(targets)("%s", (bin) => {
    const ours = elfDependencies(bin);
    expect([...ours.libraries].sort()).toEqual(loaderList(bin).sort());
    if (bin.endsWith(".so")) expect(ours.interpreter).toBeUndefined();
    else {
      expect(ours.interpreter).toBe(LOADER);
      expect(ours.interpreterRealPath).toBe(execFileSync("realpath", [LOADER], { encoding: "utf8" }).trim());
    }
    for (const r of ours.resolved ?? []) expect(existsSync(r.realPath)).toBe(true);
  });

  it("reads /etc/ld.so.cache as ldconfig -p does", () => {
    const ours = parseLdCache(readFileSync("/etc/ld.so.cache"))
      .filter((e) => e.flags === LDCACHE_FLAGS.x86_64)
      .map((e) => `${e.name} => ${e.path}`);
    const theirs = execFileSync("ldconfig", ["-p"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes("(libc6,x86-64") && !l.includes("hwcap"))
      .map((l) => l.trim().replace(/\s+\(.*\)\s+=>/, " =>"));
    expect(new Set(ours)).toEqual(new Set(theirs));
  });

  describe("built binaries: RPATH, RUNPATH, $ORIGIN", () => {
    const dir = mkdtempSync(join(tmpdir(), "qj-elf-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const cc = (args: string[]) => execFileSync("gcc", args, { cwd: dir, stdio: "pipe" });
    for (const d of ["lib/a", "lib/b", "lib/c", "bin"]) mkdirSync(join(dir, d), { recursive: true });
    writeFileSync(join(dir, "c.c"), "int c3(void){return 3;}\n");
    writeFileSync(join(dir, "b.c"), "int c3(void); int b(void){return c3()+1;}\n");
    writeFileSync(join(dir, "a.c"), "int b(void); int a(void){return b()+1;}\n");
    writeFileSync(join(dir, "m.c"), "int a(void); int main(void){return a()==5?0:1;}\n");
    const build = () => {
      cc(["-shared", "-fPIC", "-o", "lib/c/libc3.so", "-Wl,-soname,libc3.so", "c.c"]);
      // libb has no search path of its own: libc3 comes from the executable's DT_RPATH
      cc(["-shared", "-fPIC", "-o", "lib/b/libb.so", "-Wl,-soname,libb.so", "b.c", "-Llib/c", "-lc3"]);
      // liba finds libb through DT_RUNPATH with $ORIGIN
      cc([
        "-shared",
        "-fPIC",
        "-o",
        "lib/a/liba.so",
        "-Wl,-soname,liba.so",
        "a.c",
        "-Llib/b",
        "-lb",
        "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../b",
        "-Wl,--allow-shlib-undefined",
      ]);
      cc([
        "-o",
        "bin/main",
        "m.c",
        "-Llib/a",
        "-la",
        "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../lib/a:$ORIGIN/../lib/c",
        "-Wl,--allow-shlib-undefined",
      ]);
    };

    it("resolves like ld.so, and the program runs", () => {
      build();
      const main = readElf(join(dir, "bin/main"));
      expect(main.rpath).toEqual(["$ORIGIN/../lib/a", "$ORIGIN/../lib/c"]);
      expect(main.runpath).toEqual([]);
      expect(readElf(join(dir, "lib/a/liba.so")).runpath).toEqual(["$ORIGIN/../b"]);
      const ours = elfDependencies(join(dir, "bin/main"));
      const theirs = loaderList(join(dir, "bin/main"));
      expect(theirs).toContain(join(dir, "lib/c/libc3.so"));
      expect([...ours.libraries].sort()).toEqual(theirs.sort());
      expect(ours.resolved?.find((r) => r.name === "libc3.so")?.neededBy).toBe(join(dir, "lib/b/libb.so"));
      execFileSync(join(dir, "bin/main")); // exit 0: the loader agrees it all links
    });

    it("a library the loader cannot find is a host error naming who needs it", () => {
      build();
      rmSync(join(dir, "lib/c/libc3.so"));
      expect(() => elfDependencies(join(dir, "bin/main"))).toThrow(
        expect.objectContaining({
          code: "HOST_ELF_MISSING_LIB",
          exit: "host",
          detail: expect.objectContaining({ name: "libc3.so", neededBy: join(dir, "lib/b/libb.so") }),
        }),
      );
    });

    it("a script or garbage is refused", () => {
      writeFileSync(join(dir, "script"), "#!/bin/sh\necho hi\n");
      expect(() => elfDependencies(join(dir, "script"))).toThrow(
        expect.objectContaining({ code: "HOST_ELF_INVALID" }),
      );
      expect(() => elfDependencies(join(dir, "missing"))).toThrow(
        expect.objectContaining({ code: "HOST_ELF_UNREADABLE" }),
      );
    });
  });
});
