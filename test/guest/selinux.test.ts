import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { allocateMcs, type SelinuxLabels, selinuxLabels, selinuxRelabels } from "../../src/lsm/index.js";
import type { ProcessPlan } from "../../src/plan/types.js";
import { runInGuest } from "../guest-vm/run.js";
import { bundleDriver } from "./drivers/bundle.js";

// SELinux is off on this host: boot Debian's kernel with SELinux and the host's compiled
// selinux-policy-default, label files the way the launcher would (sVirt: image label with the
// VM's MCS pair), and show the MCS pair confines a process labelled by selinuxLabels().

const SE = "/opt/qj-se";

/** The host policy's label for a path (matchpathcon reads file_contexts; no SELinux kernel needed). */
function fileContext(path: string): string {
  return execFileSync("matchpathcon", ["-n", path], { encoding: "utf8" }).trim();
}

/** A process plan whose root holds this VM's image and another VM's: the relabel list comes from it. */
function plan(): ProcessPlan {
  const bind = (path: string, item: string) =>
    ({ kind: "bind", path, source: path, type: "file", rw: true, need: { item, reason: "image" } }) as const;
  return {
    id: "qemu",
    role: "qemu",
    exe: "/usr/bin/qemu-system-x86_64",
    argv: [],
    env: {},
    cwd: "/",
    uid: 0,
    gid: 0,
    groups: [],
    hostname: "vm1",
    namespaces: { mount: true, pid: true, net: "new", ipc: true, uts: true, cgroup: true, user: false },
    root: [bind(`${SE}/mine.img`, "disk[0]"), bind(`${SE}/out.img`, "disk[1]")],
    devices: [],
    fds: [],
    rlimits: [],
    capabilities: [],
    cgroup: { path: "x", devices: [] },
    lsm: {},
    seccomp: { arch: "x86_64", defaultAction: { kind: "kill_process" }, rules: [], fragments: [] } as never,
    after: [],
  };
}

function script(vm1: SelinuxLabels, vm2: SelinuxLabels): string {
  // System files the probe runs (loader, libraries, runcon) get their policy labels; the host
  // root is otherwise mounted with one context (usr_t). The probe binary is labelled qemu_exec_t
  // (svirt_t's entrypoint) and a shell virtd_exec_t: virtd_t is the domain allowed to start svirt_t.
  const sys = ["/usr/bin/runcon", "/etc/ld.so.cache", "/dev/null"];
  for (const bin of ["/usr/bin/runcon", "/usr/bin/cat", "/usr/bin/dash"]) {
    const ldd = execFileSync("ldd", [bin], { encoding: "utf8" });
    for (const m of ldd.matchAll(/(\/\S+) \(0x/g)) sys.push(realpathSync(m[1]!));
  }
  return [
    ...[...new Set(sys)].map((p) => `chcon ${fileContext(p)} ${p}`),
    `mkdir -p ${SE}`,
    `cp /usr/bin/cat ${SE}/probe && chcon ${fileContext("/usr/bin/qemu-system-x86_64")} ${SE}/probe`,
    `cp /usr/bin/dash ${SE}/virtd-sh && chcon system_u:object_r:virtd_exec_t:s0 ${SE}/virtd-sh`,
    `echo "image of vm1" > ${SE}/mine.img && : > ${SE}/out.img`,
    // The launcher's relabel step, for real: applySelinuxLabels() on selinuxRelabels(plan).
    `node ${SE}-drv/relabel.mjs apply ${SE}-drv/relabels.json ${SE}-drv/previous.json || exit 20`,
    `echo "image of vm2" > ${SE}/other.img && chcon ${vm2.imageLabel} ${SE}/other.img`,
    `ls -Z ${SE}`,
    `cat > ${SE}/check.sh <<'EOF'`,
    `runcon ${vm1.processLabel} ${SE}/probe ${SE}/mine.img > ${SE}/out.img 2>/dev/null || exit 11`,
    `runcon ${vm1.processLabel} ${SE}/probe ${SE}/other.img >/dev/null 2>&1 && exit 12`,
    "exit 0",
    "EOF",
    "dmesg -c > /dev/null",
    "echo 1 > /sys/fs/selinux/enforce",
    `runcon system_u:system_r:virtd_t:s0-s0:c0.c1023 ${SE}/virtd-sh ${SE}/check.sh </dev/null >/dev/null 2>&1`,
    "echo check=$?",
    "echo 0 > /sys/fs/selinux/enforce",
    `echo "out=$(cat ${SE}/out.img)"`,
    "dmesg | grep -o 'avc:  denied.*' | sed 's/ pid=[0-9]*//; s/ ino=[0-9]*//'",
    `node ${SE}-drv/relabel.mjs restore ${SE}-drv/previous.json || exit 21`,
    `echo "restored: $(stat -c '%n=%C' ${SE}/mine.img ${SE}/out.img | tr '\\n' ' ')"`,
  ].join("\n");
}

describe("SELinux sVirt MCS confinement (TCG guest, enforcing)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-se-guest-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("svirt_t with the VM's pair reads its image and is denied another VM's", async () => {
    const vm1 = selinuxLabels("vm1", { lo: 1, hi: 2 });
    const vm2 = selinuxLabels("vm2", allocateMcs("vm2", [vm1.mcs]));
    expect(vm2.mcs).not.toBe(vm1.mcs);
    const bundle = join(dir, "relabel.mjs");
    await bundleDriver("selinux-relabel-driver.ts", bundle);
    const relabels = selinuxRelabels(plan(), vm1);
    expect(relabels.map((x) => x.path)).toEqual([`${SE}/mine.img`, `${SE}/out.img`]);
    const r = await runInGuest(script(vm1, vm2), {
      selinux: true,
      timeoutMs: 180_000,
      files: {
        [`${SE}-drv/relabel.mjs`]: readFileSync(bundle),
        [`${SE}-drv/relabels.json`]: JSON.stringify(relabels),
      },
    });
    console.log(`SELinux guest run: ${r.bootMs} ms\n${r.stdout}${r.stderr}`);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain(`${vm1.imageLabel} mine.img`);
    expect(r.stdout).toContain("check=0");
    expect(r.stdout).toContain("out=image of vm1");
    const denials = r.stdout.split("\n").filter((l) => l.startsWith("avc:"));
    // Exactly one denial in the whole run: the MCS check on the other VM's image, enforced.
    expect(denials).toHaveLength(1);
    expect(denials[0]).toMatch(
      new RegExp(
        `denied  \\{ read \\} .*name="other.img".*scontext=${vm1.processLabel} tcontext=${vm2.imageLabel} tclass=file permissive=0`,
      ),
    );
    // The labels went back to what they were before the launch.
    const before = /restored: (.*)/.exec(r.stdout)?.[1] ?? "";
    expect(before).toMatch(/mine\.img=system_u:object_r:usr_t:s0 .*out\.img=system_u:object_r:usr_t:s0/);
  });
});
