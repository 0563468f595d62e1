// plan() with the live probe of this host (not the fixture): real images in a temp dir, the real
// kernel, a share and a vhost-user disk. Every bind source in every root must exist on the host,
// be the kind of file the entry says, and the fixture must still agree with the host it describes.

import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { probeHost } from "../../../src/host/probe.js";
import { planToJson } from "../../../src/plan/json.js";
import { plan } from "../../../src/plan/plan.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";
import type { FragmentSet } from "../../../src/seccomp/types.js";
import { debianHost, FRAGMENT_NAMES, testFragments } from "../../unit/plan/helpers.js";

const kernel = readdirSync("/boot").find((f) => f.startsWith("vmlinuz-"));
const onDebianX86 =
  process.arch === "x64" && existsSync("/usr/bin/qemu-system-x86_64") && kernel !== undefined;

/** The shipped policies when they cover the catalogue; else the test set (the planner is under test). */
function fragments(): FragmentSet {
  try {
    const set = loadFragments();
    if (FRAGMENT_NAMES.every((n) => set.fragments.has(n))) return set;
  } catch {
    // policies/ not there (yet): fall through
  }
  return testFragments();
}

describe.runIf(onDebianX86)("plan with the live host probe", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-plan-live-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "disk.raw"), Buffer.alloc(1 << 20));
  writeFileSync(join(dir, "data.raw"), Buffer.alloc(1 << 20));
  mkdirSync(join(dir, "share"));
  const toml = `
[vm]
name = "livetest"
memory = "256M"
accel = "tcg"
[boot]
kernel = "/boot/${kernel}"
[[disk]]
id = "root"
path = "disk.raw"
[[disk]]
id = "data"
path = "data.raw"
backend = "vhost-user"
[[share]]
id = "sh"
path = "share"
tag = "sh"
[[nic]]
id = "net0"
mode = "user"
[serial]
mode = "file"
path = "console.log"
`;

  it("plans, and every bind source exists on the host with the declared type", async () => {
    const config = parseConfig(toml, { source: join(dir, "vm.toml") });
    const host = await probeHost(config);
    const p = plan(config, host, fragments());
    expect(p.processes.map((x) => x.role)).toEqual(["virtiofsd", "qemu-storage-daemon", "qemu"]);
    for (const proc of p.processes) {
      expect(proc.argv[0]).toBe(proc.exe);
      expect(proc.exe.startsWith("/")).toBe(true);
      for (const e of proc.root) {
        if (e.kind !== "bind") continue;
        const st = statSync(e.source);
        expect(e.type === "dir" ? st.isDirectory() : st.isFile(), `${proc.id}: ${e.source}`).toBe(true);
      }
      for (const d of proc.devices) expect(existsSync(d.path)).toBe(true);
    }
    const qemu = p.processes.at(-1)!;
    // The DESIGN's measured root: binary, loader, its libraries, the TCG module, three firmware
    // files (kvmvapic.bin among them), the kernel, two scratch tmpfs.
    const libs = host.qemu.elf.libraries.length;
    expect(qemu.root.length).toBe(1 + 1 + libs + 1 + 3 + 1 + 2);
    expect(qemu.root.some((e) => e.kind === "bind" && e.source.startsWith(dir))).toBe(false);
    expect(qemu.fds.map((f) => f.source.kind).sort()).toEqual([
      "file",
      "file",
      "listen-unix",
      "socket-of",
      "socket-of",
    ]);
    expect(planToJson(p)).toBe(planToJson(plan(config, host, fragments())));
  });

  it("the committed host fixture still describes this host's QEMU and backends", async () => {
    const live = await probeHost();
    const fixture = debianHost();
    expect(fixture.qemu.path).toBe(live.qemu.path);
    expect(fixture.qemu.version).toBe(live.qemu.version);
    expect([...fixture.qemu.elf.libraries].sort()).toEqual([...live.qemu.elf.libraries].sort());
    expect(fixture.qemu.firmware).toEqual(live.qemu.firmware);
    expect(fixture.virtiofsd?.path).toBe(live.virtiofsd?.path);
    expect(fixture.storageDaemon?.path).toBe(live.storageDaemon?.path);
  });
});
