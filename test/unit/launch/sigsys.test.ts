import { describe, expect, it } from "vitest";
import {
  decodeSyscallArgs,
  ioctlNamer,
  parseSeccompAudit,
  sigsysReport,
} from "../../../src/launch/sigsys.js";
import { constantNames, constantValue, syscallName } from "../../../src/seccomp/arch.js";
import { qemuProcess } from "../../integration/launch/plans.js";

// As this machine's kernel prints it (measured with a python3-seccomp kill of getppid).
const LINE =
  '5,344,507546133,-;audit: type=1326 audit(1795773633.803:2): auid=4294967295 uid=0 gid=0 ses=4294967295 pid=1888 comm="python3" exe="/usr/bin/python3.11" sig=31 arch=c000003e syscall=110 compat=0 ip=0x7f1974f284f7 code=0x80000000';

describe("seccomp audit records", () => {
  it.each([
    [LINE, { pid: 1888, comm: "python3", sig: 31, arch: "x86_64", syscall: 110, code: "0x80000000" }],
    ["6,1,2,-;EXT4-fs (vda): mounted filesystem", undefined],
    ["audit: type=1326 pid=x syscall=1", undefined],
  ])("parses %#", (line, want) => {
    const got = parseSeccompAudit(line);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toMatchObject(want);
  });

  it("names the syscall, the fragments that have it, and suggests log mode", () => {
    const proc = qemuProcess("/tmp/x");
    proc.seccomp.fragments = ["base", "accel-tcg"];
    const r = sigsysReport(proc, parseSeccompAudit(LINE), {
      syscallName,
      fragments: { base: ["read"], "chardev-socket": ["getppid", "accept4"] },
    });
    expect(r.syscall).toBe("getppid");
    expect(r.fragmentsAllowing).toEqual(["chardev-socket"]);
    expect(r.message).toMatch(/getppid \(110\).*arguments unknown.*chardev-socket/);
    expect(r.hint).toMatch(/seccomp = "log"/);
    expect(r.hint).toMatch(/--trace-sigsys/);
  });

  it("with traced supervision gives the arguments, decoded where cheap", () => {
    const proc = qemuProcess("/tmp/x");
    const ioctlName = ioctlNamer(constantNames, constantValue);
    const traced = { tid: 7, nr: 16, args: ["0x9", "0x400454ca", "0x7ffd0000", "0x0", "0x0", "0x0"] };
    const r = sigsysReport(proc, parseSeccompAudit(LINE), { syscallName, ioctlName, traced: true }, traced);
    // The trace wins over the record (same death; the trace also survives a dropped record).
    expect(r).toMatchObject({ syscall: "ioctl", nr: 16, args: traced.args });
    expect(r.argsDecoded).toEqual(["fd 9", "TUNSETIFF (0x400454ca)", "0x7ffd0000", "0x0", "0x0", "0x0"]);
    expect(r.message).toMatch(/ioctl \(16\) with arguments fd 9, TUNSETIFF/);
    expect(r.message).not.toMatch(/arguments unknown/);
    expect(r.hint).not.toMatch(/trace-sigsys/);
  });

  it("traced but not caught: says so, and does not suggest the flag again", () => {
    const r = sigsysReport(qemuProcess("/tmp/x"), parseSeccompAudit(LINE), { syscallName, traced: true });
    expect(r.message).toMatch(/arguments unknown: traced supervision did not catch/);
    expect(r.hint).not.toMatch(/trace-sigsys/);
  });

  it.each([
    ["openat", ["0xffffffffffffff9c", "0x7f00"], ["AT_FDCWD", "0x7f00"]],
    ["openat", ["0x5", "0x7f00"], ["fd 5", "0x7f00"]],
    ["accept4", ["0x3", "0x0", "0x0", "0x80800"], ["fd 3", "0x0", "0x0", "0x80800"]],
    ["ioctl", ["0x0", "0x541b"], ["fd 0", "FIONREAD/SIOCINQ/TIOCINQ (0x541b)"]],
    ["ioctl", ["0x4", "0x1"], ["fd 4", "0x1"]], // a flag value, not a request
    ["mmap", ["0x0", "0x1000"], ["0x0", "0x1000"]],
    [undefined, ["0x1"], ["0x1"]],
  ])("decodes %s %j", (name, args, want) => {
    expect(decodeSyscallArgs("x86_64", name, args, ioctlNamer(constantNames, constantValue))).toEqual(want);
  });

  it("without a record still says what happened and where rules go", () => {
    const r = sigsysReport(qemuProcess("/tmp/x"), undefined, { syscallName });
    expect(r.message).toMatch(/no audit record/);
    expect(r.suggestFragment).toBe("base");
  });
});
