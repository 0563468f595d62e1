// The fragments against a REAL kernel filter: for several device combinations, compose each
// process's allowlist from policies/ (loadFragments + composePolicy), load it with default
// action kill_process (libseccomp via python3-seccomp, test-only, until the native helper is the
// loader), exec QEMU (and its backends) under it, boot the test guest, run the QMP interactions
// and power off. Pass = guest checks OK, QMP works, every process exits cleanly, no SIGSYS.

import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { qemuFragments, SCENARIO_FRAGMENTS } from "../../../scripts/trace/fragments.js";
import { buildTraceGuest, type TraceGuest } from "../../../scripts/trace/guest.js";
import { runScenario } from "../../../scripts/trace/runner.js";
import { scenario } from "../../../scripts/trace/scenarios.js";
import { compilePolicy } from "../../../src/seccomp/compile.js";
import { composePolicy } from "../../../src/seccomp/compose.js";
import { loadFragments } from "../../../src/seccomp/fragments.js";
import type { Policy } from "../../../src/seccomp/types.js";

const ROOT = join(import.meta.dirname, "../../..");
const LOADER = join(import.meta.dirname, "seccomp-exec.py");
const set = loadFragments(join(ROOT, "policies"));

/**
 * Device combinations booted under the filter (each ~4-8 s of TCG). `bpf`: load the program our
 * own compiler produced even where libseccomp could express the policy (cross-check).
 */
const CASES: [string, { bpf?: boolean }][] = [
  ["rng-builtin", {}],
  ["rng-builtin", { bpf: true }],
  ["disk-qcow2-threads-idle", {}],
  ["disk-raw-native", {}],
  ["disk-discard", {}],
  ["disk-qcow2-io_uring", {}],
  ["net-user", {}],
  ["net-tap", {}],
  ["chardev-socket", {}],
  ["qemu-sandbox", {}],
  ["vhost-user-fs-rw", {}],
  ["vhost-user-fs-ro", {}],
  ["vhost-user-blk-raw", {}],
  ["vhost-user-fs-rw-fd", {}],
  ["vhost-user-blk-raw-fd", {}],
];

function compose(fragments: string[]): Policy {
  return composePolicy(
    set,
    fragments.map((fragment) => ({ fragment })),
    { arch: "x86_64", defaultAction: { kind: "kill_process" } },
  );
}

/** The policy as the test loader reads it (bigints as hex strings). */
function policyJson(p: Policy): string {
  return JSON.stringify(p, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v));
}

/**
 * True when some syscall has an unconditional rule and conditional rules of another action:
 * libseccomp would let the unconditional rule win, so such a policy is loaded as BPF compiled by
 * src/seccomp instead (see seccomp-exec.py).
 */
function needsOwnCompiler(p: Policy): boolean {
  const bySys = new Map<string, Policy["rules"]>();
  for (const r of p.rules) bySys.set(r.syscall, [...(bySys.get(r.syscall) ?? []), r]);
  return [...bySys.values()].some((rs) => {
    const u = rs.find((r) => r.args.length === 0);
    return u !== undefined && rs.some((r) => r.action.kind !== u.action.kind);
  });
}

/** The loader command line for one process: libseccomp when it can express the policy, else our BPF. */
function loaderPrefix(dir: string, proc: string, p: Policy, forceBpf: boolean): string[] {
  if (forceBpf || needsOwnCompiler(p)) {
    const file = join(dir, `${proc}.bpf`);
    writeFileSync(file, compilePolicy(p).program);
    return ["/usr/bin/python3", LOADER, "--bpf", file, "--"];
  }
  const file = join(dir, `${proc}.policy.json`);
  writeFileSync(file, policyJson(p));
  return ["/usr/bin/python3", LOADER, file, "--"];
}

let base: string;
let guest: TraceGuest;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "qj-policies-e2e-"));
  guest = buildTraceGuest(base);
});

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("QEMU under a kernel seccomp filter composed from policies/ (default kill)", () => {
  it.each(CASES)("%s %o boots, answers QMP and powers off with no SIGSYS", async (name, opts) => {
    const s = scenario(name);
    const tmp = mkdtempSync(join(base, `${name}-`));
    const lists: Record<string, string[]> = { qemu: qemuFragments(s), ...SCENARIO_FRAGMENTS[name]!.backends };
    const prefix = (proc: string): string[] => {
      const fragments = lists[proc];
      if (!fragments) throw new Error(`no fragments for ${proc}`);
      return loaderPrefix(tmp, proc, compose(fragments), opts.bpf === true);
    };
    const r = await runScenario(
      s,
      { tmp, kernel: guest.kernel, initrd: guest.initrd, state: {} },
      { prefix },
    );
    const why = `${r.problems.join("; ")}\n${r.qemu.stderr.slice(-1500)}\n${r.serial.slice(-800)}`;
    expect(r.qemu.signal, why).toBeNull();
    for (const [b, e] of Object.entries(r.backends))
      expect(e.signal === "SIGSYS", `${b} died by SIGSYS`).toBe(false);
    expect(r.problems, why).toEqual([]);
    expect(r.qmp.some((l) => l.startsWith("reconnect query-status") && l.includes('"running"'))).toBe(true);
    expect(r.qmp.at(-1)).toContain("SHUTDOWN");
  });

  // This host's /dev/kvm runs vCPUs but its guests stall in early boot: the scenario runs 4 s,
  // then QMP (stop/cont drives the KVM state-sync ioctls) and quit.
  it.skipIf(!existsSync("/dev/kvm"))(
    "accel-kvm: QEMU with KVM runs under accel-kvm, answers QMP, quits",
    async () => {
      const s = scenario("accel-kvm");
      const tmp = mkdtempSync(join(base, "kvm-"));
      const prefix = loaderPrefix(tmp, "qemu", compose(qemuFragments(s)), false);
      const r = await runScenario(
        s,
        { tmp, kernel: guest.kernel, initrd: guest.initrd, state: {} },
        { prefix: () => prefix },
      );
      expect(r.qemu.signal, r.problems.join("; ")).toBeNull();
      expect(r.problems).toEqual([]);
    },
  );

  it.each([false, true])(
    "the filter is real: without the qmp fragment QEMU is killed by SIGSYS (bpf: %s)",
    async (bpf) => {
      const s = scenario("baseline");
      const tmp = mkdtempSync(join(base, `negative-${bpf}-`));
      const fragments = qemuFragments(s).filter((f) => f !== "qmp");
      const prefix = loaderPrefix(tmp, "qemu", compose(fragments), bpf);
      const r = await runScenario(
        s,
        { tmp, kernel: guest.kernel, initrd: guest.initrd, state: {} },
        { prefix: () => prefix, bootTimeoutMs: 20_000 },
      );
      expect(r.qemu.signal).toBe("SIGSYS");
      expect(r.ok).toBe(false);
    },
  );
});
