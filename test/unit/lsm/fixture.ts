// Hand-written ProcessPlans shaped like the planner's output (QEMU with images, sockets, devices;
// virtiofsd with a rw share), for the LSM derivation tests.
import type { Need, ProcessPlan, RootEntry } from "../../../src/plan/types.js";

const need = (item: string, reason = "test"): Need => ({ item, reason });

function base(id: string, role: ProcessPlan["role"], exe: string, root: RootEntry[]): ProcessPlan {
  return {
    id,
    role,
    exe,
    argv: [exe],
    env: {},
    cwd: "/",
    uid: 64001,
    gid: 64001,
    groups: [],
    hostname: "vm",
    namespaces: { mount: true, pid: true, net: "new", ipc: true, uts: true, cgroup: true, user: false },
    root,
    devices: [],
    fds: [],
    rlimits: [],
    capabilities: [],
    cgroup: { path: `qemu-jail-vm1/${id}`, devices: [] },
    lsm: {},
    seccomp: { arch: "x86_64", defaultAction: { kind: "kill_process" }, rules: [], fragments: [] } as never,
    after: [],
  };
}

export function qemuProc(): ProcessPlan {
  const p = base("qemu", "qemu", "/usr/bin/qemu-system-x86_64", [
    { kind: "dir", path: "/", mode: 0o755, need: need("jail", "root") },
    {
      kind: "bind",
      path: "/usr/bin/qemu-system-x86_64",
      source: "/usr/bin/qemu-system-x86_64",
      type: "file",
      rw: false,
      need: need("qemu", "binary"),
    },
    {
      kind: "bind",
      path: "/lib64/ld-linux-x86-64.so.2",
      source: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
      type: "file",
      rw: false,
      need: need("qemu", "ELF interpreter"),
    },
    {
      kind: "bind",
      path: "/lib/x86_64-linux-gnu/libglib-2.0.so.0",
      source: "/lib/x86_64-linux-gnu/libglib-2.0.so.0.7400.6",
      type: "file",
      rw: false,
      need: need("qemu", "library"),
    },
    {
      kind: "bind",
      path: "/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
      source: "/usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so",
      type: "file",
      rw: false,
      need: need("vm.accel", "TCG module"),
    },
    {
      kind: "bind",
      path: "/usr/share/qemu/bios-256k.bin",
      source: "/usr/share/seabios/bios-256k.bin",
      type: "file",
      rw: false,
      need: need("vm.machine", "firmware"),
    },
    {
      kind: "bind",
      path: "/images/data.qcow2",
      source: "/srv/vm1/data.qcow2",
      type: "file",
      rw: true,
      need: need("disk[0]", "rw disk"),
    },
    {
      kind: "bind",
      path: "/images/ro [1].raw",
      source: "/srv/vm1/ro [1].raw",
      type: "file",
      rw: false,
      need: need("disk[1]", "read-only disk"),
    },
    {
      kind: "tmpfs",
      path: "/run/qemu",
      mode: 0o700,
      sizeBytes: 1 << 20,
      uid: 64001,
      gid: 64001,
      need: need("qmp", "socket dir"),
    },
    {
      kind: "symlink",
      path: "/lib64/libc.so.6",
      target: "/lib/x86_64-linux-gnu/libc.so.6",
      need: need("qemu", "library link"),
    },
  ]);
  p.devices = [
    {
      path: "/dev/urandom",
      type: "c",
      major: 1,
      minor: 9,
      mode: 0o666,
      uid: 0,
      gid: 0,
      need: need("rng[0]", "entropy"),
    },
    {
      path: "/dev/kvm",
      type: "c",
      major: 10,
      minor: 232,
      mode: 0o660,
      uid: 0,
      gid: 0,
      need: need("vm.accel", "kvm"),
    },
  ];
  p.fds = [
    {
      fd: 3,
      source: { kind: "listen-unix", path: "/run/qemu-jail/vm1/qmp.sock" },
      need: need("qmp", "QMP socket"),
    },
    {
      fd: 4,
      source: { kind: "file", path: "/srv/vm1/fd-disk.raw", write: true },
      need: need("disk[2]", "fdset image"),
    },
    {
      fd: 5,
      source: { kind: "socket-of", process: "virtiofsd-share0", endpoint: "vhost" },
      need: need("share[0]", "vhost-user"),
    },
  ];
  return p;
}

export function virtiofsdProc(): ProcessPlan {
  const p = base("virtiofsd-share0", "virtiofsd", "/usr/lib/qemu/virtiofsd", [
    { kind: "dir", path: "/", mode: 0o755, need: need("jail", "root") },
    {
      kind: "bind",
      path: "/usr/lib/qemu/virtiofsd",
      source: "/usr/lib/qemu/virtiofsd",
      type: "file",
      rw: false,
      need: need("share[0]", "binary"),
    },
    {
      kind: "bind",
      path: "/shared",
      source: "/srv/vm1/share",
      type: "dir",
      rw: true,
      need: need("share[0]", "rw share"),
    },
    {
      kind: "bind",
      path: "/ro",
      source: "/srv/vm1/ro-share",
      type: "dir",
      rw: false,
      need: need("share[1]", "ro share"),
    },
    { kind: "proc", path: "/proc", need: need("share[0]", "virtiofsd reopens /proc/self/fd") },
  ]);
  p.namespaces.net = "new";
  p.capabilities = [{ name: "CAP_DAC_READ_SEARCH", need: need("share[0]", "open_by_handle_at") }];
  return p;
}
