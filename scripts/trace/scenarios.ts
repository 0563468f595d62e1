// Device scenarios: one device kind on top of a minimal q35 machine (TCG, serial, QMP). Each says
// which QEMU arguments it adds, which guest checks it expects, what it sets up on the host
// (images, a tap in a private netns, a shared dir) and which backends it runs (virtiofsd,
// qemu-storage-daemon). The trace harness and the policy validation tests share them.

import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

/** Everything a scenario may use: the run's temp dir and the guest files. */
export interface ScenarioCtx {
  tmp: string;
  kernel: string;
  initrd: string;
  /** Filled by setup() for later phases. */
  state: Record<string, string>;
}

/** A backend process started before QEMU. */
export interface Backend {
  name: string;
  argv: string[];
  /** Unix socket the backend listens on; QEMU starts once it exists. */
  socket: string;
  /** true: the backend exits by itself when QEMU disconnects; false: send SIGTERM after QEMU. */
  exitsWithQemu: boolean;
  /** Syscalls its policy answers with ENOSYS (the tracer injects the same answer). */
  enosys: string[];
  /** Command prefix run before the (traced) backend, e.g. fd-exec.py handing it its socket. */
  wrap?: string[];
}

/** One traced/validated device configuration. */
export interface Scenario {
  name: string;
  description: string;
  accel?: "tcg" | "kvm";
  /** Extra `-machine` properties (e.g. memory-backend=mem). */
  machine?: string[];
  serial?: "file" | "socket" | "stdio";
  /**
   * Syscalls the policies answer with ENOSYS instead of allowing; the tracer injects the same
   * answer so the trace shows the fallback path QEMU takes in its jail. Default: DEFAULT_ENOSYS.
   */
  enosys?: string[];
  /** Do not wait for the guest: let it run this long, then QMP interactions and `quit`. */
  noGuestMs?: number;
  qemuArgs(ctx: ScenarioCtx): string[];
  /** qj.* kernel parameters for the guest's /init. */
  cmdline?(ctx: ScenarioCtx): string[];
  /** Guest checks that must print QJ-OK. */
  expect: string[];
  setup?(ctx: ScenarioCtx): Promise<void> | void;
  /** Command prefix that runs before the (traced) QEMU, e.g. netns + tap opener. */
  wrap?(ctx: ScenarioCtx): string[];
  backends?(ctx: ScenarioCtx): Backend[];
  /** Host side of runtime interactions once the guest is ready. */
  interact?(ctx: ScenarioCtx): Promise<void>;
  cleanup?(ctx: ScenarioCtx): void;
}

const MIB = 1024 * 1024;

/**
 * What the policies answer with ENOSYS for every process: clone3 (its flags live in memory a
 * filter cannot read, so glibc must fall back to clone, whose flags it can), io_uring_setup
 * (io_uring operations bypass seccomp; QEMU's main loop falls back to epoll/ppoll) and the
 * seccomp() probe QEMU runs at start-up (only the qemu-sandbox fragment lets it through).
 */
export const DEFAULT_ENOSYS = ["clone3", "io_uring_setup", "seccomp"];

/** A 64 MiB raw image with the QJDISK marker in sector 0. */
function rawImage(ctx: ScenarioCtx, name = "disk.raw"): string {
  const p = join(ctx.tmp, name);
  const buf = Buffer.alloc(512);
  buf.write("QJDISK-MARKER");
  writeFileSync(p, buf);
  execFileSync("truncate", ["-s", String(64 * MIB), p]);
  return p;
}

function qcow2Image(ctx: ScenarioCtx): string {
  const raw = rawImage(ctx, "src.raw");
  const p = join(ctx.tmp, "disk.qcow2");
  execFileSync("qemu-img", ["convert", "-q", "-f", "raw", "-O", "qcow2", raw, p]);
  return p;
}

interface DiskOpts {
  format?: "raw" | "qcow2";
  aio?: "threads" | "native" | "io_uring";
  direct?: boolean;
  readOnly?: boolean;
  discard?: boolean;
  bus?: "virtio-blk" | "nvme" | "virtio-scsi";
  /** Seconds the guest idles before a second round of I/O (worker threads exit after 10 s idle). */
  again?: number;
}

function disk(name: string, description: string, o: DiskOpts): Scenario {
  const bus = o.bus ?? "virtio-blk";
  const dev = bus === "virtio-blk" ? "vda" : bus === "nvme" ? "nvme0n1" : "sda";
  const mode = o.readOnly ? "ro" : o.discard ? "discard" : "rw";
  return {
    name,
    description,
    expect: [
      ...(o.readOnly
        ? ["disk-read", "disk-ro"]
        : o.discard
          ? ["disk-read", "disk-write", "disk-discard"]
          : ["disk-read", "disk-write"]),
      ...(o.again ? ["disk-again"] : []),
    ],
    setup(ctx) {
      ctx.state.image = o.format === "qcow2" ? qcow2Image(ctx) : rawImage(ctx);
    },
    cmdline: () => [`qj.disk=${dev}`, `qj.diskmode=${mode}`, ...(o.again ? [`qj.again=${o.again}`] : [])],
    qemuArgs(ctx) {
      const common = [o.readOnly ? "read-only=on" : "read-only=off", ...(o.discard ? ["discard=unmap"] : [])];
      const file = [
        "driver=file",
        "node-name=file0",
        `filename=${ctx.state.image}`,
        `aio=${o.aio ?? "threads"}`,
        `cache.direct=${o.direct ? "on" : "off"}`,
        ...common,
      ];
      const fmt = [`driver=${o.format ?? "raw"}`, "node-name=disk0", "file=file0", ...common];
      const device =
        bus === "virtio-blk"
          ? ["-device", "virtio-blk-pci,drive=disk0"]
          : bus === "nvme"
            ? ["-device", "nvme,drive=disk0,serial=qj0001"]
            : ["-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-hd,drive=disk0,bus=scsi0.0"];
      return ["-blockdev", file.join(","), "-blockdev", fmt.join(","), ...device];
    },
  };
}

/** Pick a free TCP port on the loopback. */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const addr = srv.address();
  await new Promise((r) => srv.close(r));
  if (addr === null || typeof addr === "string") throw new Error("no port");
  return addr.port;
}

/** Connect to host:port, read until the peer closes or `want` appears. */
async function readFrom(port: number, want: string, timeoutMs: number): Promise<void> {
  const { connect } = await import("node:net");
  const end = Date.now() + timeoutMs;
  for (;;) {
    const got = await new Promise<string>((resolve) => {
      let data = "";
      const s = connect(port, "127.0.0.1");
      const t = setTimeout(() => s.destroy(), 3000);
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        data += d;
      });
      s.on("close", () => {
        clearTimeout(t);
        resolve(data);
      });
      s.on("error", () => undefined);
    });
    if (got.includes(want)) return;
    if (Date.now() > end) throw new Error(`127.0.0.1:${port}: no ${want}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const netUser: Scenario = {
  name: "net-user",
  description: "virtio-net-pci on user-mode networking (slirp) with a host port forward",
  expect: ["net-out"],
  async setup(ctx) {
    ctx.state.fwd = String(await freePort());
    // The guest connects out to 10.0.2.2:<port>, which slirp maps to the host loopback.
    const srv = createServer((s) => {
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        if (d.includes("QJ-GUEST-OUT")) ctx.state.guestOut = "seen";
      });
      s.on("error", () => undefined);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const a = srv.address();
    if (a === null || typeof a === "string") throw new Error("no port");
    ctx.state.out = String(a.port);
    servers.set(ctx, srv);
  },
  cmdline: (ctx) => ["qj.net=user", `qj.port=${ctx.state.out}`],
  qemuArgs: (ctx) => [
    "-netdev",
    `user,id=net0,ipv6=off,hostfwd=tcp:127.0.0.1:${ctx.state.fwd}-:8080`,
    "-device",
    "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56",
  ],
  async interact(ctx) {
    await readFrom(Number(ctx.state.fwd), "QJ-HOSTFWD", 15_000);
    if (ctx.state.guestOut !== "seen") throw new Error("host server did not receive QJ-GUEST-OUT");
  },
  cleanup(ctx) {
    servers.get(ctx)?.close();
  },
};
const servers = new WeakMap<ScenarioCtx, ReturnType<typeof createServer>>();

const netTap: Scenario = {
  name: "net-tap",
  description: "virtio-net-pci on a tap device opened by the launcher and passed as fd 3 (vhost=off)",
  expect: ["net-ping"],
  setup(ctx) {
    const ns = `qjtrace${process.pid}`;
    ctx.state.netns = ns;
    execFileSync("ip", ["netns", "add", ns]);
    execFileSync("ip", ["-n", ns, "tuntap", "add", "dev", "qjtap0", "mode", "tap", "vnet_hdr"]);
    execFileSync("ip", ["-n", ns, "addr", "add", "10.99.0.1/24", "dev", "qjtap0"]);
    execFileSync("ip", ["-n", ns, "link", "set", "qjtap0", "up"]);
    execFileSync("ip", ["-n", ns, "link", "set", "lo", "up"]);
  },
  wrap: (ctx) => [
    "ip",
    "netns",
    "exec",
    ctx.state.netns!,
    "/usr/bin/python3",
    join(import.meta.dirname, "tap-exec.py"),
    "qjtap0",
    "--",
  ],
  cmdline: () => ["qj.net=tap"],
  qemuArgs: () => [
    "-netdev",
    "tap,id=net0,fd=3,vhost=off",
    "-device",
    "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:57",
  ],
  cleanup(ctx) {
    if (ctx.state.netns) execFileSync("ip", ["netns", "del", ctx.state.netns]);
  },
};

function memfd(): string[] {
  return ["-object", "memory-backend-memfd,id=mem,size=256M,share=on"];
}

const FD_EXEC = join(import.meta.dirname, "fd-exec.py");

/**
 * The launcher's way: it makes the backend's listening socket (passed as fd 3) and QEMU's
 * connected end (passed as fd 4, `-chardev socket,fd=4`), so neither jail needs the path.
 */
function viaFds(sc: Scenario, backendArg: (fd: number) => string[], chardevId: string): Scenario {
  const sock = (ctx: ScenarioCtx) => join(ctx.tmp, "pass.sock");
  return {
    ...sc,
    name: `${sc.name}-fd`,
    description: `${sc.description}; sockets made by the launcher and passed as fds`,
    backends: (ctx) =>
      (sc.backends?.(ctx) ?? []).map((b) => ({
        ...b,
        argv: [
          ...b.argv.filter((a) => !a.startsWith("--socket-path=") && !a.startsWith("type=vhost-user-blk")),
          ...backendArg(3),
        ],
        socket: sock(ctx),
        wrap: ["/usr/bin/python3", FD_EXEC, "--listen", `${sock(ctx)}:3`, "--"],
      })),
    wrap: (ctx) => ["/usr/bin/python3", FD_EXEC, "--connect", `${sock(ctx)}:4`, "--"],
    qemuArgs: (ctx) =>
      sc
        .qemuArgs(ctx)
        .map((a) => (a.startsWith(`socket,id=${chardevId},`) ? `socket,id=${chardevId},fd=4` : a)),
  };
}

function virtiofs(name: string, ro: boolean): Scenario {
  return {
    name,
    description: `vhost-user-fs-pci served by virtiofsd (sandbox=chroot), ${ro ? "mounted read-only in the guest" : "read-write"}; guest RAM is a shared memfd`,
    machine: ["memory-backend=mem"],
    expect: ro ? ["fs-read", "fs-ro"] : ["fs-read", "fs-write"],
    setup(ctx) {
      const dir = join(ctx.tmp, "share");
      mkdirSync(dir);
      writeFileSync(join(dir, "marker"), "QJFS-MARKER\n");
      ctx.state.share = dir;
      ctx.state.vfsSock = join(ctx.tmp, "vfs.sock");
    },
    backends: (ctx) => [
      {
        name: "virtiofsd",
        argv: [
          "/usr/lib/qemu/virtiofsd",
          `--socket-path=${ctx.state.vfsSock}`,
          "-o",
          `source=${ctx.state.share}`,
          "-o",
          "sandbox=chroot",
          "-o",
          "cache=auto",
          ...(ro ? [] : ["-o", "xattr"]),
        ],
        socket: ctx.state.vfsSock!,
        exitsWithQemu: true,
        // virtiofsd installs its own seccomp filter (and exits if it cannot), and that filter
        // allows clone3 but not clone: answering clone3 with ENOSYS makes glibc fall back to
        // clone, which virtiofsd's own filter then kills (measured). So nothing is injected.
        enosys: [],
      },
    ],
    cmdline: () => [`qj.fs=${ro ? "ro" : "rw"}`],
    qemuArgs: (ctx) => [
      ...memfd(),
      "-chardev",
      `socket,id=vfs0,path=${ctx.state.vfsSock}`,
      "-device",
      "vhost-user-fs-pci,chardev=vfs0,tag=share",
    ],
  };
}

function vhostUserBlk(name: string, format: "raw" | "qcow2", aio: "threads" | "io_uring"): Scenario {
  return {
    name,
    description: `vhost-user-blk-pci served by qemu-storage-daemon (${format}, aio=${aio}); guest RAM is a shared memfd`,
    machine: ["memory-backend=mem"],
    expect: ["disk-read", "disk-write"],
    setup(ctx) {
      ctx.state.image = format === "qcow2" ? qcow2Image(ctx) : rawImage(ctx);
      ctx.state.vubSock = join(ctx.tmp, "vub.sock");
    },
    backends: (ctx) => [
      {
        name: "qemu-storage-daemon",
        argv: [
          "qemu-storage-daemon",
          "--blockdev",
          `driver=file,node-name=file0,filename=${ctx.state.image},aio=${aio}`,
          "--blockdev",
          `driver=${format},node-name=disk0,file=file0`,
          "--export",
          `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${ctx.state.vubSock},writable=on`,
        ],
        socket: ctx.state.vubSock!,
        exitsWithQemu: false,
        enosys: aio === "io_uring" ? ["clone3", "userfaultfd"] : ["clone3", "io_uring_setup", "userfaultfd"],
      },
    ],
    cmdline: () => ["qj.disk=vda", "qj.diskmode=rw"],
    qemuArgs: (ctx) => [
      ...memfd(),
      "-chardev",
      `socket,id=vub0,path=${ctx.state.vubSock}`,
      "-device",
      "vhost-user-blk-pci,chardev=vub0,num-queues=1",
    ],
  };
}

/** The scenario catalogue, by name. */
export const SCENARIOS: Scenario[] = [
  {
    name: "baseline",
    description: "q35, TCG, serial to a file, QMP on a unix socket",
    expect: [],
    qemuArgs: () => [],
  },
  {
    name: "accel-kvm",
    description:
      "baseline with -accel kvm; this host's /dev/kvm creates VMs and runs vCPUs but the guest kernel never gets past early boot, so the guest runs 4 s, then the QMP interactions and quit",
    accel: "kvm",
    noGuestMs: 4000,
    expect: [],
    qemuArgs: () => [],
  },
  disk("disk-raw-threads", "virtio-blk on a raw image, aio=threads, page cache", { format: "raw" }),
  disk("disk-qcow2-threads", "virtio-blk on a qcow2 image, aio=threads, page cache", { format: "qcow2" }),
  disk(
    "disk-qcow2-threads-idle",
    "virtio-blk on qcow2, aio=threads; the guest idles 12 s (QEMU's worker threads exit after 10 s idle: one did in the trace) and then does I/O again",
    { format: "qcow2", again: 12 },
  ),
  disk("disk-raw-native", "virtio-blk on a raw image, aio=native (Linux AIO) with cache.direct=on", {
    aio: "native",
    direct: true,
  }),
  {
    ...disk("disk-qcow2-io_uring", "virtio-blk on a qcow2 image, aio=io_uring", {
      format: "qcow2",
      aio: "io_uring",
    }),
    enosys: ["clone3", "seccomp"],
  },
  disk("disk-readonly", "virtio-blk on a raw image with read-only=on", { readOnly: true }),
  disk("disk-discard", "virtio-blk on a raw image with discard=unmap; the guest runs blkdiscard", {
    discard: true,
  }),
  disk("disk-nvme", "nvme controller on a raw image", { bus: "nvme" }),
  disk("disk-virtio-scsi", "virtio-scsi-pci + scsi-hd on a raw image", { bus: "virtio-scsi" }),
  netUser,
  netTap,
  {
    name: "chardev-socket",
    description: "serial console on a unix socket chardev (server, the host connects)",
    serial: "socket",
    expect: [],
    qemuArgs: () => [],
  },
  {
    name: "chardev-stdio",
    description: "serial console on the stdio chardev (stdin/stdout are pipes, not a tty)",
    serial: "stdio",
    expect: [],
    qemuArgs: () => [],
  },
  {
    name: "rng-builtin",
    description: "virtio-rng-pci with the default rng-builtin backend (getrandom)",
    expect: ["rng"],
    cmdline: () => ["qj.rng=1"],
    qemuArgs: () => ["-object", "rng-builtin,id=rng0", "-device", "virtio-rng-pci,rng=rng0"],
  },
  {
    name: "rng-random",
    description: "virtio-rng-pci with rng-random reading /dev/urandom",
    expect: ["rng"],
    cmdline: () => ["qj.rng=1"],
    qemuArgs: () => [
      "-object",
      "rng-random,id=rng0,filename=/dev/urandom",
      "-device",
      "virtio-rng-pci,rng=rng0",
    ],
  },
  {
    name: "memfd-shared",
    description: "guest RAM from memory-backend-memfd with share=on (what vhost-user needs)",
    machine: ["memory-backend=mem"],
    expect: [],
    qemuArgs: () => memfd(),
  },
  virtiofs("vhost-user-fs-rw", false),
  viaFds(virtiofs("vhost-user-fs-rw", false), (fd) => [`--fd=${fd}`], "vfs0"),
  virtiofs("vhost-user-fs-ro", true),
  vhostUserBlk("vhost-user-blk-raw", "raw", "threads"),
  viaFds(
    vhostUserBlk("vhost-user-blk-raw", "raw", "threads"),
    (fd) => [`type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=fd,addr.str=${fd},writable=on`],
    "vub0",
  ),
  vhostUserBlk("vhost-user-blk-qcow2-io_uring", "qcow2", "io_uring"),
  {
    name: "qemu-sandbox",
    description:
      "baseline plus QEMU's own -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny",
    expect: [],
    enosys: ["clone3", "io_uring_setup"],
    qemuArgs: () => ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"],
  },
];

/** Look up a scenario by name. */
export function scenario(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario ${name}; known: ${SCENARIOS.map((x) => x.name).join(", ")}`);
  return s;
}
