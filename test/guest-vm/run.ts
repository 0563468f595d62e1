// runInGuest: run a shell command inside a TCG guest that boots Debian's kernel over the HOST
// root filesystem (the virtme-ng idea), to test what this host's kernel lacks (cgroup v2
// controllers, AppArmor, SELinux) for real. The host root is shared read-only over 9p (QEMU
// serves it itself: no daemon to clean up, and it booted fastest), a tmpfs overlay takes writes.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { buildGuest } from "../../src/guest/index.js";
import { CTL_IN_GUEST, EXIT_MARKER, SELINUX_POLICY_IN_INITRD, STAGE1, STAGE2, TAGS } from "./stage.js";

/** The compiled policy selinux-policy-default installs. */
export const DEFAULT_SELINUX_POLICY = "/etc/selinux/default/policy/policy.33";

export interface RunInGuestOptions {
  env?: Record<string, string>;
  /** Working directory in the guest (default /). */
  cwd?: string;
  /** Kill QEMU after this long (default 120 s). */
  timeoutMs?: number;
  /** Appended to the kernel command line, e.g. "apparmor=1 security=apparmor". */
  kernelArgs?: string;
  /** Extra kernel modules to load in the initramfs (with dependencies). */
  modules?: string[];
  /** Files placed in the guest's (overlay) root before the command runs: guest path → contents. */
  files?: Record<string, string | Uint8Array>;
  /**
   * Boot with SELinux: the host's policy (selinux-policy-default) is loaded from the initramfs,
   * permissive until the command writes 1 to /sys/fs/selinux/enforce; the host root is mounted
   * with `rootContext` (default system_u:object_r:usr_t:s0) and labels are set with chcon.
   */
  selinux?: boolean | { policy?: string; rootContext?: string };
  /** Guest memory in MiB (default 1024). */
  memoryMiB?: number;
}

export interface GuestRunResult {
  /** The command's exit status; null when the guest did not report one (timeout, crash). */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** The serial console: kernel messages and the exit marker. */
  kernelLog: string;
  /** Wall time from starting QEMU until it exited. */
  bootMs: number;
  timedOut: boolean;
}

// QEMU children still running when this process exits (a test worker torn down mid-run) are
// killed on the way out, so no guest outlives its test.
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const q of live) q.kill("SIGKILL");
});

const BASE_MODULES = ["virtio_pci", "9p", "9pnet_virtio", "overlay", "virtio_console"];

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Write the control dir the guest reads: command, env, cwd, files to place, stage 2. */
function writeControl(ctl: string, command: string, opts: RunInGuestOptions): void {
  mkdirSync(join(ctl, "files"), { recursive: true });
  writeFileSync(join(ctl, "stage2.sh"), STAGE2);
  writeFileSync(join(ctl, "cmd.sh"), `${command}\n`);
  const env = Object.entries(opts.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad env name ${k}`);
    return `export ${k}=${shq(v)}\n`;
  });
  writeFileSync(join(ctl, "env.sh"), env.join(""));
  writeFileSync(join(ctl, "cwd"), opts.cwd ?? "/");
  const setup = Object.entries(opts.files ?? {}).map(([path, data], i) => {
    writeFileSync(join(ctl, "files", String(i)), data);
    return `mkdir -p ${shq(dirname(path))} && cp ${CTL_IN_GUEST}/files/${i} ${shq(path)}\n`;
  });
  writeFileSync(join(ctl, "setup.sh"), setup.join(""));
}

/** Read a FIFO until QEMU (its only writer) exits. */
function collect(fifo: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = createReadStream(fifo);
    s.on("data", (c) => chunks.push(c as Buffer));
    s.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    s.on("error", reject);
  });
}

/** Boot a guest over the host root, run `command` (sh syntax) there as root, return its outputs. */
export async function runInGuest(command: string, opts: RunInGuestOptions = {}): Promise<GuestRunResult> {
  const se = opts.selinux === true ? {} : opts.selinux || undefined;
  const guest = buildGuest({
    script: STAGE1,
    exec: true,
    modules: [...BASE_MODULES, ...(opts.modules ?? [])],
    files: se ? [{ path: SELINUX_POLICY_IN_INITRD, source: se.policy ?? DEFAULT_SELINUX_POLICY }] : [],
  });
  const seArgs = se
    ? `security=selinux selinux=1 enforcing=0 qj.selinux=1 qj.rootctx=${se.rootContext ?? "system_u:object_r:usr_t:s0"}`
    : "";
  const dir = mkdtempSync(join(tmpdir(), "qj-guest-vm-"));
  try {
    const ctl = join(dir, "ctl");
    writeControl(ctl, command, opts);
    // virtio-serial "pipe" chardevs: QEMU writes guest output to <name>.out (opened O_RDWR, so no
    // open blocks); nothing is ever written to <name>.in.
    for (const p of ["stdout", "stderr"]) {
      for (const ext of ["in", "out"]) execFileSync("mkfifo", [join(dir, `${p}.${ext}`)]);
    }
    const argv = [
      ...["-accel", "tcg", "-M", "q35", "-cpu", "max", "-smp", "1", "-m", String(opts.memoryMiB ?? 1024)],
      ...["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-serial", "stdio"],
      ...["-kernel", guest.kernel, "-initrd", guest.initrd],
      ...["-append", `${guest.cmdline} quiet ${seArgs} ${opts.kernelArgs ?? ""}`.trim()],
      ...["-fsdev", `local,id=root,path=/,security_model=none,readonly=on,multidevs=remap`],
      ...["-device", `virtio-9p-pci,fsdev=root,mount_tag=${TAGS.root}`],
      ...["-fsdev", `local,id=ctl,path=${ctl},security_model=none`],
      ...["-device", `virtio-9p-pci,fsdev=ctl,mount_tag=${TAGS.ctl}`],
      ...["-device", "virtio-serial-pci"],
      ...["-chardev", `pipe,id=out,path=${join(dir, "stdout")}`],
      ...["-device", `virtserialport,chardev=out,name=${TAGS.stdout}`],
      ...["-chardev", `pipe,id=err,path=${join(dir, "stderr")}`],
      ...["-device", `virtserialport,chardev=err,name=${TAGS.stderr}`],
    ];
    const t0 = Date.now();
    const qemu = spawn("qemu-system-x86_64", argv, { stdio: ["ignore", "pipe", "pipe"] });
    live.add(qemu);
    const stdoutP = collect(join(dir, "stdout.out"));
    const stderrP = collect(join(dir, "stderr.out"));
    let console = "";
    qemu.stdout.on("data", (c: Buffer) => {
      console += c.toString("utf8");
    });
    let qemuErr = "";
    qemu.stderr.on("data", (c: Buffer) => {
      qemuErr += c.toString("utf8");
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      qemu.kill("SIGKILL");
    }, opts.timeoutMs ?? 120_000);
    const status = await new Promise<number | null>((resolve, reject) => {
      qemu.on("error", reject);
      qemu.on("close", (code) => resolve(code));
    });
    clearTimeout(timer);
    live.delete(qemu);
    const bootMs = Date.now() - t0;
    const [stdout, stderr] = await Promise.all([stdoutP, stderrP]);
    let exitCode: number | null = null;
    try {
      exitCode = Number.parseInt(readFileSync(join(ctl, "exit"), "utf8").trim(), 10);
    } catch {
      const m = new RegExp(`${EXIT_MARKER} rc=(\\d+)`).exec(console);
      if (m) exitCode = Number(m[1]);
    }
    if (status !== 0 && !timedOut && exitCode === null) {
      throw new Error(`QEMU exited with ${status}: ${qemuErr}\n${console}`);
    }
    return { exitCode, stdout, stderr, kernelLog: console, bootMs, timedOut };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
