// The probe suite: the static probe runs as the payload inside a real jail (real namespaces,
// mounts, cgroups, Landlock, seccomp) and reports what it sees and what it can do. Run twice:
// with seccomp filters and without, so every other layer is shown to hold on its own.

import {
  chmodSync,
  chownSync,
  copyFileSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probePath } from "../../../src/native/paths.js";
import type { HelperStep } from "../../../src/native/spec.js";
import {
  bpfProgram,
  find,
  hostSnapshot,
  isRoot,
  JAIL_GID,
  JAIL_UID,
  MINE,
  makeTestCgroups,
  probeSteps,
  runJail,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  type TestCgroups,
  tempDir,
  tries,
  until,
} from "./harness.js";

const NR_TKILL = 200;
const NR_TIME = 201;
const NR_UNSHARE = 272;
const EXDEV = 18;
const EPERM = 1;

// Two stacked programs: one answers time() with EXDEV and unshare() with EPERM, one kills on tkill().
const FILTERS: HelperStep[] = [
  {
    step: "seccomp",
    program: bpfProgram([
      [NR_TIME, SECCOMP_RET_ERRNO | EXDEV],
      [NR_UNSHARE, SECCOMP_RET_ERRNO | EPERM],
    ]),
  },
  { step: "seccomp", program: bpfProgram([[NR_TKILL, SECCOMP_RET_KILL_PROCESS]]) },
];

// What every jail must refuse, whichever layers are on.
const REFUSED: Record<string, string | string[]> = {
  "mount tmpfs": "EPERM",
  "umount /": "EPERM",
  "unshare mount": "EPERM",
  "unshare net": "EPERM",
  "setns self-net": "ENOENT", // no /proc at all
  "mknod /tmp/probe-null": "EPERM",
  // ENOSYS where the kernel is built without module support (this host's is).
  "init_module ": ["EPERM", "ENOSYS"],
  "finit_module ": ["EPERM", "ENOSYS"],
  "bpf map_create": "EPERM",
  "setrlimit NOFILE+1": "EPERM",
  "sethostname x": "EPERM",
  "reboot ": "EPERM",
  "iopl 3": ["EPERM", "ENOSYS"],
  "open /sys/fs/cgroup": "ENOENT",
  "mount cgroup2": "EPERM",
  "open /proc/sys/kernel/core_pattern": "ENOENT",
  "setuid 0": "EPERM",
  "create /probe-file": "EROFS",
  "chroot .": "EPERM",
  "open_by_handle_at /": ["EPERM", "EBADF", "EINVAL"],
};

/** The host view of a bound directory, in the probe's "t /path" form. */
function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = `${dir}/${d.name}`;
    const t = d.isDirectory() ? "d" : d.isSymbolicLink() ? "l" : d.isFile() ? "f" : "?";
    return [`${t} ${p}`, ...(d.isDirectory() ? walk(p) : [])];
  });
}

describe.skipIf(!isRoot).each([
  ["with seccomp", true],
  ["without seccomp", false],
])("probe inside a jail, %s", (_, seccomp) => {
  let cg: TestCgroups;
  let before: ReturnType<typeof hostSnapshot>;
  const extra = seccomp ? FILTERS : [];
  beforeAll(() => {
    before = hostSnapshot();
    cg = makeTestCgroups(`${MINE}-${seccomp ? "s" : "n"}`);
  });
  afterAll(() => {
    cg.remove();
    expect(hostSnapshot()).toEqual(before);
  });

  it("sees only its manifest, as the given uid with no capabilities", async () => {
    const manifest: HelperStep[] = [
      { step: "mkdir", path: "/etc", mode: 0o755 },
      { step: "bind", source: "/etc/hostname", path: "/etc/hostname", type: "file", rw: false, exec: false },
      { step: "symlink", path: "/lib64/probe", target: "/probe" },
      {
        step: "bind",
        source: "/usr/share/qemu",
        path: "/usr/share/qemu",
        type: "dir",
        rw: false,
        exec: false,
      },
    ];
    const run = await runJail({
      steps: probeSteps(
        ["ids", "caps", "tree", "fds", "env", "hostname", "cwd", "escape", "umask"],
        [...manifest, ...extra],
      ),
    });
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    const bound = walk("/usr/share/qemu");
    expect((find(run, "tree").paths as string[]).sort()).toEqual(
      [
        "c /dev/null",
        "d /dev",
        "d /etc",
        "d /lib64",
        "d /tmp",
        "d /usr",
        "d /usr/share",
        "d /usr/share/qemu",
        "f /etc/hostname",
        "f /probe",
        "l /lib64/probe",
        ...bound,
      ].sort(),
    );
    expect(find(run, "ids")).toMatchObject({
      uid: [JAIL_UID, JAIL_UID, JAIL_UID],
      gid: [JAIL_GID, JAIL_GID, JAIL_GID],
      groups: [],
      pid: 1,
    });
    const caps = find(run, "caps");
    expect(caps).toMatchObject({ eff: 0, prm: 0, inh: 0, bnd: 0, amb: 0, nnp: 1, seccomp: seccomp ? 2 : 0 });
    expect((caps.securebits as number) & 0x2f).toBe(0x2f); // NOROOT, NO_SETUID_FIXUP, KEEP_CAPS, locked
    expect(find(run, "fds").open).toEqual([0, 1, 2]);
    expect(find(run, "umask").value).toBe(process.umask()); // the caller's, not the helper's 0
    expect(find(run, "env").vars).toEqual(["PATH=/", "QJ_TEST=1"]);
    expect(find(run, "hostname").name).toBe("qj-probe");
    expect(find(run, "dotdot").same).toBe(true);
    expect(tries(run)["chroot ."]).toBe("EPERM");
    expect(["EPERM", "EBADF", "EINVAL"]).toContain(tries(run)["open_by_handle_at /"]);
  });

  it("cannot mount, unshare, setns, mknod, load modules or BPF, raise limits, reach host pids", async () => {
    const run = await runJail({
      steps: probeSteps(["hostpid", String(process.pid), "privileged", "escape"], extra),
    });
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    const t = tries(run);
    for (const [op, want] of Object.entries(REFUSED)) {
      const allowed = Array.isArray(want) ? want : [want];
      expect({ op, got: t[op] }).toEqual({ op, got: expect.toBeOneOf(allowed) });
    }
    // Other pids: not even visible from a new pid namespace.
    expect(t[`kill ${process.pid}`]).toBe("ESRCH");
    expect(t[`ptrace ${process.pid}`]).toBe("ESRCH");
    // The kernel grants user namespaces to any unprivileged process unless it is chroot'ed: the
    // helper chroots the payload into its root for exactly this (native/README.md).
    expect(t["unshare user"]).toBe("EPERM");
  });

  it("read-only mounts are read-only, rw ones and the uid's tmpfs are writable", async () => {
    // Files the jail's uid may write by permission bits, so only the mount flag can refuse.
    const dir = tempDir();
    chmodSync(dir.path, 0o755);
    try {
      for (const f of ["ro.txt", "rw.txt"]) {
        writeFileSync(join(dir.path, f), "x", { mode: 0o666 });
        chownSync(join(dir.path, f), JAIL_UID, JAIL_GID);
      }
      const binds: HelperStep[] = [
        {
          step: "bind",
          source: join(dir.path, "ro.txt"),
          path: "/data/ro.txt",
          type: "file",
          rw: false,
          exec: false,
        },
        {
          step: "bind",
          source: join(dir.path, "rw.txt"),
          path: "/data/rw.txt",
          type: "file",
          rw: true,
          exec: false,
        },
        { step: "bind", source: dir.path, path: "/share", type: "dir", rw: false, exec: false },
      ];
      const run = await runJail({
        steps: probeSteps(
          [
            "write",
            "/data/ro.txt",
            "write",
            "/data/rw.txt",
            "write",
            "/share/rw.txt",
            "write",
            "/tmp/ok",
            "write",
            "/new",
          ],
          [...binds, ...extra],
        ),
      });
      const t = tries(run);
      expect(run.exit, JSON.stringify(run.events)).toMatchObject({ ran: true, code: 0 });
      expect(t["write /data/ro.txt"]).toBe("EROFS");
      expect(t["write /share/rw.txt"]).toBe("EROFS");
      expect(t["write /data/rw.txt"]).toBe("OK");
      expect(t["write /tmp/ok"]).toBe("OK");
      expect(t["write /new"]).toBe("EROFS"); // the root itself was remounted read-only
      // noexec: a copy of the probe in a rw, non-exec bind cannot be executed.
      copyFileSync(probePath(), join(dir.path, "probe-copy"));
      chmodSync(join(dir.path, "probe-copy"), 0o755);
      const noexec = await runJail({
        steps: probeSteps(["execute", "/share/probe-copy"], [...binds, ...extra]),
      });
      expect(tries(noexec)["execute /share/probe-copy"]).toBe("EACCES");
    } finally {
      dir.remove();
    }
  });

  it("is in the given cgroups (every hierarchy) and namespaces, compared from outside", async () => {
    const steps = probeSteps(
      ["ns", "cgroup", "wait-signal"],
      [
        ...cg.dirs.map((dir): HelperStep => ({ step: "cgroup", dir })),
        { step: "proc", path: "/proc", hidepid: 2, subsetPid: true },
        ...extra,
      ],
    );
    let outside: Record<string, number> = {};
    let cgroupOutside = "";
    const run = await runJail(
      { steps },
      {
        onStart: (j) => {
          j.stdout?.on("data", (c: Buffer) => {
            if (!String(c).includes('"waiting"')) return;
            const pid = j.pid!;
            for (const n of ["mnt", "pid", "net", "ipc", "uts", "cgroup"])
              outside[n] = statSync(`/proc/${pid}/ns/${n}`).ino;
            cgroupOutside = readFileSync(`/proc/${pid}/cgroup`, "utf8");
            // Signals sent before "exec ok" abort the launch; after it they are forwarded.
            void j.ready.then(
              () => j.kill("SIGTERM"),
              () => {},
            );
          });
        },
      },
    );
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    expect(find(run, "signal").sig).toBe(15); // forwarded by the helper
    const inside = find(run, "ns");
    for (const [n, ino] of Object.entries(outside)) {
      expect(inside[n]).toBe(ino);
      expect(ino).not.toBe(statSync(`/proc/self/ns/${n}`).ino);
    }
    outside = {};
    // From outside: our own cgroup + the test cgroup, in every hierarchy.
    const own = readFileSync("/proc/self/cgroup", "utf8").trim().split("\n");
    const expected = own.map((l) => `${l.replace(/\/$/, "")}/${cg.dirs[0]!.split("/").pop()}`);
    expect(cgroupOutside.trim().split("\n")).toEqual(expected);
    // Inside, the cgroup namespace's root is the jail's cgroup.
    expect((find(run, "cgroup").text as string).trim().split("\n")).toEqual(
      own.map((l) => l.replace(/:[^:]*$/, ":/")),
    );
  });

  it("limits hold: rlimits, and the pids controller of its cgroup", async () => {
    const pids = cg.byController.pids;
    if (pids) {
      readFileSync(join(pids, "pids.max"), "utf8");
      await import("node:fs").then((fs) => fs.writeFileSync(join(pids, "pids.max"), "4"));
    }
    const steps = probeSteps(
      ["rlimit", "7", "rlimit", "4", "fork", "10"],
      [...cg.dirs.map((dir): HelperStep => ({ step: "cgroup", dir })), ...extra],
    );
    const run = await runJail({ steps });
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    const rl = run.lines.filter((l) => l.check === "rlimit");
    expect(rl).toEqual([
      { check: "rlimit", resource: 7, soft: 64, hard: 64 },
      { check: "rlimit", resource: 4, soft: 0, hard: 0 },
    ]);
    if (pids) expect(find(run, "fork")).toEqual({ check: "fork", ok: 3, errno: "EAGAIN" });
  });

  it("Landlock holds: only the listed paths with the listed rights", async () => {
    const ll: HelperStep[] = [
      { step: "landlock", required: true, scopeSignal: true, scopeAbstractUnix: true },
      { step: "landlock-path", path: "/probe", access: ["execute", "read_file"] },
      { step: "landlock-path", path: "/tmp", access: ["read_dir", "write_file", "make_reg", "read_file"] },
    ];
    const run = await runJail({
      steps: probeSteps(
        ["read", "/dev/null", "write", "/tmp/new", "read", "/probe", "readdir", "/", "readdir", "/tmp"],
        [...ll, ...extra],
      ),
    });
    expect(run.exit).toMatchObject({ ran: true, code: 0 });
    expect(run.events).toContainEqual({ kind: "stage", stage: "landlock", state: "ok", detail: "abi=7" });
    const t = tries(run);
    expect(t["read /dev/null"]).toBe("EACCES");
    expect(t["readdir /"]).toBe("EACCES");
    expect(t["write /tmp/new"]).toBe("OK");
    expect(t["read /probe"]).toBe("OK");
    expect(t["readdir /tmp"]).toBe("OK");
    // Without the ruleset the same probe reads /dev/null: the denial above is Landlock's.
    const plain = await runJail({ steps: probeSteps(["read", "/dev/null"], extra) });
    expect(tries(plain)["read /dev/null"]).toBe("OK");
  });

  it.runIf(seccomp)(
    "seccomp is active: errno action returns the errno, kill action kills with SIGSYS",
    async () => {
      const errno = await runJail({ steps: probeSteps(["syscall", String(NR_TIME)], extra) });
      expect(tries(errno)[`syscall ${NR_TIME}`]).toBe("EXDEV");
      const killed = await runJail({ steps: probeSteps(["syscall", String(NR_TKILL)], extra) });
      expect(killed.exit).toMatchObject({ ran: true, signal: "SIGSYS", code: null });
      expect(killed.lines).toEqual([]);
    },
  );

  it("payload exit statuses are passed through", async () => {
    const run = await runJail({ steps: probeSteps(["exit", "7"], extra) });
    expect(run.exit).toMatchObject({ ran: true, code: 7, signal: null });
    await until(() => run.pid !== undefined);
    let gone = false;
    try {
      readlinkSync(`/proc/${run.pid}/exe`);
    } catch {
      gone = true;
    }
    expect(gone).toBe(true);
  });
});
