// The kernel's seccomp audit record, read back from /dev/kmsg for a process really killed by a
// seccomp filter (python3-seccomp loads it; /usr/bin/python3 has the module).

import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { awaitSeccompAudit } from "../../../src/launch/sigsys.js";

const script = `
import seccomp, os
f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
f.add_rule(seccomp.KILL_PROCESS, "getppid")
f.load()
os.getppid()
`;

describe("SIGSYS audit record", () => {
  it("names the denied syscall of a process killed by seccomp", async () => {
    const r = spawnSync("/usr/bin/python3", ["-c", script]);
    expect(r.signal).toBe("SIGSYS");
    const rec = await awaitSeccompAudit([r.pid!], 3000);
    expect(rec).toMatchObject({ pid: r.pid, syscall: 110, arch: "x86_64", sig: 31 });
  });
});
