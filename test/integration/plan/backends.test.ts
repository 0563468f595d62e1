// The planned backend command lines, run for real: qemu-storage-daemon and virtiofsd with the
// plan's argv, the listening socket at the fd number the plan gives, and (virtiofsd) the plan's
// uid with exactly the plan's capabilities (setpriv). In-jail paths (/images/..., /shared) are
// swapped for temp files, since no jail is built here (that is the launcher's e2e).

import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { plan } from "../../../src/plan/plan.js";
import type { ProcessPlan } from "../../../src/plan/types.js";
import { fixtureConfig, tcgHost, testFragments } from "../../unit/plan/helpers.js";

const have =
  process.getuid?.() === 0 &&
  existsSync("/usr/bin/qemu-storage-daemon") &&
  existsSync("/usr/lib/qemu/virtiofsd") &&
  existsSync("/usr/bin/setpriv");

/**
 * A listening socket at `path` whose fd goes to a child. Bound under a temporary name and renamed,
 * so closing the parent's server (which would otherwise accept the child's connections) unlinks
 * only the temporary name.
 */
function listen(path: string): Promise<{ server: net.Server; fd: number }> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(`${path}.tmp`, () => {
      renameSync(`${path}.tmp`, path);
      const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
      resolve({ server, fd });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts argv with `fd` placed at `at`, waits, reports whether it is still running, then stops it. */
async function runFor(
  argv: string[],
  server: net.Server,
  fd: number,
  at: number,
  poke?: () => Promise<void>,
) {
  const stdio: Array<"ignore" | "pipe" | number> = ["ignore", "ignore", "pipe"];
  while (stdio.length < at) stdio.push("ignore");
  stdio[at] = fd;
  const child = spawn(argv[0]!, argv.slice(1), { stdio });
  server.close(); // the child holds its own copy; the parent must not accept
  let err = "";
  child.stderr!.on("data", (b) => {
    err += String(b);
  });
  const exited = new Promise<number | string>((r) => child.on("exit", (code, sig) => r(sig ?? code ?? -1)));
  await sleep(500);
  if (poke) await poke();
  await sleep(700);
  const alive = child.exitCode === null && child.signalCode === null;
  let status = "";
  if (alive) status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  child.kill("SIGTERM");
  const how = await exited;
  return { alive, status, err, how };
}

describe.runIf(have)("planned backends run with their planned argv", () => {
  const dir = mkdtempSync(join(tmpdir(), "qj-backends-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const p = plan(fixtureConfig("backends"), tcgHost(), testFragments());
  const proc = (id: string) => p.processes.find((x) => x.id === id) as ProcessPlan;

  it.each(["qsd-data", "qsd-root"])("%s exports its image on the planned fd", async (id) => {
    execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", join(dir, "base.qcow2"), "16M"]);
    execFileSync("qemu-img", [
      "create",
      "-q",
      "-f",
      "qcow2",
      "-F",
      "qcow2",
      "-b",
      join(dir, "base.qcow2"),
      join(dir, "root.qcow2"),
    ]);
    execFileSync("qemu-img", ["create", "-q", "-f", "raw", join(dir, "data.raw"), "16M"]);
    const q = proc(id);
    const swap = (a: string) =>
      a
        .replaceAll("/images/root.backing0", join(dir, "base.qcow2"))
        .replaceAll("/images/root", join(dir, "root.qcow2"))
        .replaceAll("/images/data", join(dir, "data.raw"));
    const sock = join(dir, `${id}.sock`);
    const { server, fd } = await listen(sock);
    try {
      const r = await runFor(q.argv.map(swap), server, fd, q.fds[0]!.fd);
      expect(r.err).toBe("");
      expect(r.alive).toBe(true);
    } finally {
      server.close();
    }
  });

  it.each(["virtiofsd-home", "virtiofsd-docs"])(
    "%s runs as its planned uid with exactly its planned capabilities, chroots and sheds them",
    async (id) => {
      const v = proc(id);
      const share = join(dir, id);
      mkdirSync(share);
      const caps = v.capabilities.map((c) => `+${c.name.replace(/^CAP_/, "").toLowerCase()}`).join(",");
      // The launcher's part: a listening fd without O_NONBLOCK, as the plan asks (`blocking`).
      expect(v.fds[0]!.source).toMatchObject({ kind: "listen-unix", blocking: true });
      const at = v.fds[0]!.fd;
      const unblock = `import fcntl,os,sys; fl=fcntl.fcntl(${at},fcntl.F_GETFL); fcntl.fcntl(${at},fcntl.F_SETFL,fl&~os.O_NONBLOCK); os.execvp(sys.argv[1],sys.argv[1:])`;
      const argv = [
        "/usr/bin/python3",
        "-c",
        unblock,
        "setpriv",
        `--reuid=${v.uid}`,
        `--regid=${v.gid}`,
        "--clear-groups",
        `--inh-caps=-all,${caps}`,
        `--ambient-caps=-all,${caps}`,
        `--bounding-set=-all,${caps}`,
        ...v.argv.map((a) => a.replace("source=/shared", `source=${share}`)),
      ];
      const sock = join(dir, `${id}.sock`);
      const { server, fd } = await listen(sock);
      let client: net.Socket | undefined;
      try {
        const r = await runFor(argv, server, fd, v.fds[0]!.fd, async () => {
          // The first connection makes virtiofsd set up its sandbox (chroot, filter, capabilities).
          client = net.connect(sock);
          client.on("error", () => {});
        });
        expect(r.err).toContain("Received vhost-user socket connection");
        expect(r.alive, `${id} died: ${r.how}\n${r.err}`).toBe(true);
        expect(r.status).toMatch(new RegExp(`Uid:\\s+${v.uid}\\s`));
        expect(r.status).toMatch(/CapBnd:\s+0000000000000000/);
        expect(r.status).toMatch(/Seccomp:\s+2/);
        const eff = BigInt(`0x${/CapEff:\s+([0-9a-f]+)/.exec(r.status)![1]}`);
        // Read-only: only DAC_READ_SEARCH (bit 2) stays; read-write: the file-owner set, no SYS_CHROOT/SETPCAP.
        expect(eff).toBe(id === "virtiofsd-docs" ? 0x4n : 0xdbn);
      } finally {
        client?.destroy();
        server.close();
      }
    },
  );
});
