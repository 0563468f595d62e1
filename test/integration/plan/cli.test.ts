// `qemu-jail plan` and `qemu-jail audit` through the real CLI entry (in-process), against this
// host's live probe, with a temp policy dir (the planner, not the policies, is under test).

import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { main } from "../../../src/cli/main.js";
import { ExitCode } from "../../../src/errors.js";
import { FRAGMENT_NAMES } from "../../unit/plan/helpers.js";

const kernel = readdirSync("/boot").find((f) => f.startsWith("vmlinuz-"));

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((s) => {
    out += String(s);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((s) => {
    err += String(s);
    return true;
  });
  try {
    process.exitCode = undefined;
    const code = await main(args);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = undefined;
  }
}

describe.runIf(kernel !== undefined && process.arch === "x64")("qemu-jail plan / audit", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-plan-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const pol = join(dir, "policies");
  mkdirSync(pol);
  for (const n of FRAGMENT_NAMES) {
    writeFileSync(
      join(pol, `${n}.json`),
      JSON.stringify({ name: n, description: n, rules: [{ syscall: "read", why: `${n} test` }] }),
    );
  }
  writeFileSync(join(dir, "disk.raw"), Buffer.alloc(65536));
  const vm = (extra = "") =>
    `[vm]\nname = "clitest"\naccel = "tcg"\n[boot]\nkernel = "/boot/${kernel}"\n[[disk]]\nid = "d0"\npath = "disk.raw"\n${extra}`;
  writeFileSync(join(dir, "a.toml"), vm());
  writeFileSync(join(dir, "b.toml"), vm('aio = "io_uring"\n[qemu]\nextra_args = ["-no-reboot"]\n'));

  it("plan --json prints a plan; text output shows the jail; nothing is created", async () => {
    const before = readdirSync(dir).sort();
    const j = await run(["plan", join(dir, "a.toml"), "--json", "--policies", pol]);
    expect(j.code).toBe(ExitCode.ok);
    const plan = JSON.parse(j.out);
    expect(plan.processes.map((p: { id: string }) => p.id)).toEqual(["qemu"]);
    writeFileSync(join(dir, "a.json"), j.out);
    const t = await run(["plan", join(dir, "a.toml"), "--policies", pol]);
    expect(t.out).toContain("== qemu (qemu)");
    expect(readdirSync(dir).sort()).toEqual([...before, "a.json"].sort());
  });

  it("warnings go to stderr too; audit diff shows what a change adds", async () => {
    const b = await run(["plan", join(dir, "b.toml"), "--json", "--policies", pol]);
    expect(b.err).toContain("WARNING EXTRA_ARGS");
    expect(b.err).toContain("WARNING IO_URING");
    writeFileSync(join(dir, "b.json"), b.out);
    const d = await run(["audit", "diff", join(dir, "a.json"), join(dir, "b.json")]);
    expect(d.code).toBe(ExitCode.ok);
    expect(d.out).toContain("+ warnings");
    expect(d.out).toContain("fragments:");
    const s = await run(["audit", "show", join(dir, "b.json"), "--no-rules"]);
    expect(s.out).toContain("!!! EXTRA_ARGS");
  });

  it("a missing fragment exits with the policy class", async () => {
    rmSync(join(pol, "block-aio-io-uring.json"));
    const r = await run(["plan", join(dir, "b.toml"), "--policies", pol]);
    expect(r.code).toBe(ExitCode.policy);
    expect(r.err).toContain('disk[0] needs policy fragment "block-aio-io-uring"');
  });

  it("a non-plan JSON is a usage error", async () => {
    writeFileSync(join(dir, "x.json"), "{}");
    expect((await run(["audit", "show", join(dir, "x.json")])).code).toBe(ExitCode.usage);
  });
});
