// The planned QEMU command line, run for real with the planned fds: images as fdsets, the serial
// log as an fdset, QMP on a listening fd, a vhost-user-blk disk served by qemu-storage-daemon (its
// own planned argv) over a listening socket whose connected end QEMU gets at its planned number.
// QEMU starts paused (-S added): realizing vhost-user-blk already does the vhost-user handshake.
// No jail here (that is the launcher's e2e): in-jail paths (/vm/kernel, /images/...) are swapped
// for host paths.

import { execFileSync, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { plan } from "../../../src/plan/plan.js";
import type { PassedFd, ProcessPlan } from "../../../src/plan/types.js";
import { tcgHost, testFragments } from "../../unit/plan/helpers.js";

const kernel = readdirSync("/boot").find((f) => f.startsWith("vmlinuz-"));
const have =
  process.getuid?.() === 0 &&
  kernel !== undefined &&
  existsSync("/usr/bin/qemu-system-x86_64") &&
  existsSync("/usr/bin/qemu-storage-daemon") &&
  existsSync("/usr/lib/qemu/virtiofsd") &&
  existsSync("/usr/bin/setpriv");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const handleFd = (h: net.Server | net.Socket) => (h as unknown as { _handle: { fd: number } })._handle.fd;

/** A listening socket bound under a temp name and renamed (closing the server then unlinks nothing). */
function listen(path: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(`${path}.tmp`, () => {
      renameSync(`${path}.tmp`, path);
      resolve(s);
    });
  });
}

/** Spawns `argv` with each parent fd placed at its planned number. */
function spawnWith(argv: string[], fds: Map<number, number>) {
  const max = Math.max(2, ...fds.keys());
  const stdio: Array<"ignore" | "pipe" | number> = ["ignore", "ignore", "pipe"];
  for (let i = 3; i <= max; i++) stdio.push(fds.get(i) ?? "ignore");
  const child = spawn(argv[0]!, argv.slice(1), { stdio });
  let err = "";
  child.stderr!.on("data", (b) => {
    err += String(b);
  });
  return { child, err: () => err };
}

/** One QMP exchange: greeting, capabilities, then each command's return value. */
async function qmp(path: string, commands: Array<Record<string, unknown>>): Promise<unknown[]> {
  const sock = net.connect(path);
  const lines: string[] = [];
  let buf = "";
  const waiters: Array<() => void> = [];
  sock.on("data", (b) => {
    buf += String(b);
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line && !line.includes('"event"')) lines.push(line);
      waiters.shift()?.();
      i = buf.indexOf("\n");
    }
  });
  const next = async () => {
    const deadline = Date.now() + 10_000;
    while (lines.length === 0) {
      if (Date.now() > deadline) throw new Error("QMP: no answer within 10 s");
      await Promise.race([new Promise<void>((r) => waiters.push(r)), sleep(500)]);
    }
    return JSON.parse(lines.shift()!);
  };
  await next(); // greeting
  sock.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
  await next();
  const out: unknown[] = [];
  for (const c of commands) {
    sock.write(`${JSON.stringify(c)}\n`);
    out.push((await next()).return);
  }
  sock.destroy();
  return out;
}

describe.runIf(have)("planned QEMU argv with planned fds (real QEMU, paused)", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-qemu-fds-"));
  const opened: number[] = [];
  const servers: net.Server[] = [];
  const children: Array<ReturnType<typeof spawn>> = [];
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    await sleep(200);
    for (const s of servers) s.close();
    for (const fd of opened) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });

  it("QEMU sees its fdset images, serial log and QMP fd; vhost-user-blk and -fs from the planned backends", async () => {
    execFileSync("qemu-img", ["create", "-q", "-f", "raw", join(dir, "root.raw"), "8M"]);
    execFileSync("qemu-img", ["create", "-q", "-f", "raw", join(dir, "data.raw"), "8M"]);
    mkdirSync(join(dir, "share"));
    const config = parseConfig(
      `[vm]\nname = "fdtest"\nmemory = "128M"\naccel = "tcg"\n[boot]\nkernel = "/boot/${kernel}"\n` +
        `[[disk]]\nid = "root"\npath = "root.raw"\n[[disk]]\nid = "data"\npath = "data.raw"\nbackend = "vhost-user"\n` +
        `[[share]]\nid = "sh"\npath = "share"\ntag = "sh"\n` +
        `[serial]\nmode = "file"\npath = "console.log"\n[qmp]\npath = "qmp.sock"\n[jail]\nstate_dir = "${dir}/state"\n`,
      { source: join(dir, "vm.toml") },
    );
    const p = plan(config, tcgHost(), testFragments());
    const qemu = p.processes.find((x) => x.id === "qemu") as ProcessPlan;
    execFileSync("mkdir", ["-p", p.stateDir]);

    // The launcher's part, minimal: listening sockets, connected ends, opened files.
    const listening = new Map<string, net.Server>();
    const openFd = async (f: PassedFd): Promise<number> => {
      const s = f.source;
      if (s.kind === "listen-unix") {
        const server = await listen(s.path);
        servers.push(server);
        listening.set(s.path, server);
        return handleFd(server);
      }
      if (s.kind === "file") {
        const fd = openSync(s.path, s.write ? (s.append ? "a" : "r+") : "r");
        opened.push(fd);
        return fd;
      }
      if (s.kind === "socket-of") {
        // The parent must never read from it (the vhost-user replies are QEMU's): paused before
        // the connection completes, and reading stopped on the handle.
        const sock = net.connect(s.endpoint);
        sock.pause();
        sock.on("error", () => {});
        await new Promise((r) => sock.on("connect", r));
        (sock as unknown as { _handle: { readStop(): void } })._handle.readStop();
        return handleFd(sock);
      }
      throw new Error(`test launcher cannot open ${s.kind}`);
    };

    // Backends first, in the plan's order, each with its fds at the planned numbers.
    for (const b of p.processes.filter((x) => x.role !== "qemu")) {
      const fds = new Map<number, number>();
      for (const f of b.fds) fds.set(f.fd, await openFd(f));
      let argv = b.argv.map((a) =>
        a
          .replaceAll("/images/data", join(dir, "data.raw"))
          .replace("source=/shared", `source=${join(dir, "share")}`),
      );
      if (b.role === "virtiofsd") {
        // As the planned uid with exactly the planned capabilities; the listening fd made blocking
        // as the plan asks (Node cannot clear O_NONBLOCK itself).
        const at = b.fds[0]!.fd;
        const caps = b.capabilities.map((c) => `+${c.name.replace(/^CAP_/, "").toLowerCase()}`).join(",");
        const unblock = `import fcntl,os,sys; fl=fcntl.fcntl(${at},fcntl.F_GETFL); fcntl.fcntl(${at},fcntl.F_SETFL,fl&~os.O_NONBLOCK); os.execvp(sys.argv[1],sys.argv[1:])`;
        argv = [
          "/usr/bin/python3",
          "-c",
          unblock,
          "setpriv",
          `--reuid=${b.uid}`,
          `--regid=${b.gid}`,
          "--clear-groups",
          `--inh-caps=-all,${caps}`,
          `--ambient-caps=-all,${caps}`,
          `--bounding-set=-all,${caps}`,
          ...argv,
        ];
      }
      const started = spawnWith(argv, fds);
      children.push(started.child);
      // The parent must stop accepting before anyone connects: the backend accepts now.
      for (const l of listening.values()) l.close();
      listening.clear();
      await sleep(300);
      expect(started.child.exitCode, `${b.id}: ${started.err()}`).toBeNull();
    }

    const qemuFds = new Map<number, number>();
    for (const f of qemu.fds) qemuFds.set(f.fd, await openFd(f));
    const argv = qemu.argv.map((a) => (a === "/vm/kernel" ? `/boot/${kernel}` : a));
    argv.splice(1, 0, "-S");
    const q2 = spawnWith(argv, qemuFds);
    children.push(q2.child);
    for (const s of listening.values()) s.close(); // the children hold their own copies
    await sleep(Number(process.env.QJ_DBG_WAIT ?? 1500));
    expect(q2.child.exitCode, q2.err()).toBeNull();

    const [status, block, fdsets] = await qmp(p.qmp.path, [
      { execute: "query-status" },
      { execute: "query-named-block-nodes", arguments: { flat: true } },
      { execute: "query-fdsets" },
    ]);
    expect(status).toMatchObject({ status: "prelaunch" });
    const files = (block as Array<{ "node-name": string; file: string }>).map((n) => n.file);
    const set = /set=(\d+),opaque=disk\[0\]/.exec(qemu.argv.join(" "))![1];
    expect(files).toContain(`/dev/fdset/${set}`);
    expect((fdsets as unknown[]).length).toBe(2); // the root image and the serial log
    const pci = (
      await qmp(p.qmp.path, [{ execute: "qom-list", arguments: { path: "/machine/peripheral" } }])
    )[0];
    expect((pci as Array<{ name: string }>).map((x) => x.name)).toEqual(
      expect.arrayContaining(["root", "data", "sh"]),
    );
    await qmp(p.qmp.path, [{ execute: "quit" }]).catch(() => []);
    await sleep(300);
  }, 60_000);
});
