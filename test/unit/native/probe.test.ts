import { describe, expect, it } from "vitest";
import { parseProbe } from "../../../src/native/probe.js";

describe("parseProbe", () => {
  it("reads the helper's key=value facts", () => {
    const p = parseProbe(
      "helper_spec_version=1\nlandlock_abi=7\nseccomp_filter=1\nseccomp_kill_process=1\nseccomp_log=1\nseccomp_user_notif=0\ncap_last_cap=40\nmount_api=1\nextra=x=y\n",
    );
    expect(p).toMatchObject({
      helperSpecVersion: 1,
      landlockAbi: 7,
      seccompFilter: true,
      seccompKillProcess: true,
      seccompLog: true,
      seccompUserNotif: false,
      capLastCap: 40,
      mountApi: true,
    });
    expect(p.raw.extra).toBe("x=y");
  });

  it("treats missing keys as absent features", () => {
    expect(parseProbe("")).toMatchObject({ landlockAbi: 0, seccompFilter: false, mountApi: false });
  });
});
