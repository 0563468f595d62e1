// A seccomp kill in the full jail, reported: QEMU (paused, no boot) runs under a policy whose
// fragments lack accept4, so the supervisor's first QMP connection gets it killed by SIGSYS. The
// report names the syscall (from the kernel's audit record), the fragment that has it but is not
// composed in, and suggests seccomp = "log"; the host is clean afterwards. Without the flag the
// arguments are unknown and the hint names --trace-sigsys; with it (the helper's ptrace
// supervision) the report gives the arguments, which must be accept4's on the QMP listening fd.

import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { buildGuest } from "../../../src/guest/index.js";
import { runVm } from "../../../src/launch/run.js";
import { silentLogger } from "../../../src/log.js";
import { fragmentSetFrom, loadFragments } from "../../../src/seccomp/fragments.js";
import { hostSnapshot } from "../../integration/launch/snapshot.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "qj-sigsys-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every fragment without accept4, plus a spare one that has it (composed into nothing).
function withoutAccept4(): ReturnType<typeof fragmentSetFrom> {
  const set = loadFragments();
  const raws = [...set.fragments.values()].map((f) => ({
    ...f.raw,
    rules: f.raw.rules.filter((r) => r.syscall !== "accept4"),
  }));
  raws.push({
    name: "spare-accept",
    description: "not used by any device",
    rules: [{ syscall: "accept4", why: "test" }],
  });
  return fragmentSetFrom(raws, set.dir);
}

async function runKilled(name: string, traceSigsys: boolean) {
  const guest = buildGuest({ uncompressedKernel: false });
  const cfg = parseConfig(
    `[vm]\nname = "${name}-${process.pid}"\naccel = "tcg"\nmemory = "128M"\n[boot]\nkernel = "${guest.kernel}"\ninitrd = "${guest.initrd}"\n[serial]\nmode = "none"\n[jail]\nseccomp = "kill"\n[qemu]\nextra_args = ["-S"]\n`,
    { source: join(dir, "vm.toml") },
  );
  const mine = new RegExp(`qemu-jail-${name}-${process.pid}(/|$)|${dir}`);
  const before = await hostSnapshot(undefined, mine);
  const end = await runVm(cfg, {
    log: silentLogger(),
    stateDir: join(dir, "state"),
    fragments: withoutAccept4(),
    qmpTimeoutMs: 30_000,
    traceSigsys,
  });
  expect(end).toMatchObject({ exitClass: "guest", reason: "qemu-died" });
  expect(end.statuses.qemu?.signal).toBe("SIGSYS");
  expect(end.sigsys).toHaveLength(1);
  expect(end.sigsys[0]).toMatchObject({
    process: "qemu",
    syscall: "accept4",
    fragmentsAllowing: ["spare-accept"],
  });
  expect(end.sigsys[0]!.hint).toContain('seccomp = "log"');
  expect(end.undoFailures).toEqual([]);
  expect(readdirSync(join(dir, "state")).filter((e) => !e.startsWith("."))).toEqual([]);
  expect(await hostSnapshot(undefined, mine)).toEqual(before);
  return end;
}

describe("SIGSYS report", () => {
  it("names the denied syscall and where its rule lives", async () => {
    const end = await runKilled("sigsys", false);
    const r = end.sigsys[0]!;
    expect(r.args).toBeUndefined();
    expect(r.message).toMatch(/arguments unknown/);
    expect(r.hint).toContain("--trace-sigsys");
    expect(end.statuses.qemu?.sigsys).toBeUndefined(); // no trace step without the flag
  });

  it("with --trace-sigsys gives the arguments QEMU called accept4 with", async () => {
    const end = await runKilled("sigsys-traced", true);
    const r = end.sigsys[0]!;
    // accept4(<the QMP listening fd the plan passes QEMU>, &addr, &addrlen, SOCK_CLOEXEC).
    const qemu = end.plan.processes.find((p) => p.role === "qemu")!;
    const qmp = qemu.fds.find((f) => f.source.kind === "listen-unix" && f.source.path === end.plan.qmp.path);
    expect(qmp).toBeDefined();
    expect(r.args).toHaveLength(6);
    expect(BigInt(r.args![0]!)).toBe(BigInt(qmp!.fd));
    expect(r.argsDecoded![0]).toBe(`fd ${qmp!.fd}`);
    expect(BigInt(r.args![1]!)).not.toBe(0n); // QEMU asks for the peer's address
    expect(BigInt(r.args![2]!)).not.toBe(0n);
    expect(BigInt(r.args![3]!) & 0x80000n).toBe(0x80000n); // SOCK_CLOEXEC (qemu_accept)
    expect(r.message).toContain(`accept4 (288) with arguments fd ${qmp!.fd}, `);
    expect(r.message).not.toMatch(/arguments unknown/);
    expect(r.hint).not.toContain("--trace-sigsys");
    expect(end.statuses.qemu?.sigsys?.nr).toBe(288);
  });
});
