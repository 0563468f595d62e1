import { describe, expect, it } from "vitest";
import { parseSeccompAudit, sigsysReport } from "../../../src/launch/sigsys.js";
import { syscallName } from "../../../src/seccomp/arch.js";
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
  });

  it("without a record still says what happened and where rules go", () => {
    const r = sigsysReport(qemuProcess("/tmp/x"), undefined, { syscallName });
    expect(r.message).toMatch(/no audit record/);
    expect(r.suggestFragment).toBe("base");
  });
});
