// Effectful part of cgroup setup: performs the operations `planCgroupOps` computed, recording an
// undo for each change, and removes exactly what it created on the way out.
//
// Safety rules kept here:
// - a cgroup that already exists where the VM's (or a leaf) must be created is never adopted: it
//   may belong to a running VM; the launch fails with a hint to `qemu-jail gc`;
// - the launcher itself only ever moves into a leaf *below* its own cgroup (`supervisor`), and only
//   when v2's no-internal-process rule forces it (enabling controllers for children of a cgroup
//   that holds processes fails with EBUSY); any other process in its cgroup makes that an error;
// - undo removes leaves first, retries briefly while dying processes leave (rmdir gives EBUSY
//   until the last task is gone), and never removes a dir it did not create.

import { mkdir, readdir, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { kill } from "node:process";
import { QemuJailError } from "../../errors.js";
import type { CgroupOp, CgroupOps, CgroupWarning } from "./ops.js";

/** Options of `applyCgroupOps`. */
export interface ApplyCgroupOptions {
  /** The launcher's pid (the only process it may move into `supervisor`); default process.pid. */
  pid?: number;
  /** How long undo waits for a cgroup's last task to go before giving up on it; default 3000 ms. */
  rmdirTimeoutMs?: number;
  /** Leaf the launcher moves into on v2 when it must; default "supervisor". */
  supervisorName?: string;
}

/** The VM's cgroups, created. */
export interface VmCgroups extends CgroupOps {
  /** Dirs created by this setup, in creation order. */
  created: string[];
  /** Set when the launcher moved itself into a leaf below its own cgroup. */
  supervisorDir?: string;
  /**
   * Removes exactly what was created (leaves first) and reverts subtree_control entries and the
   * launcher move. `killRemaining`: SIGKILL tasks still in the created cgroups first (only
   * processes that joined them: ours). Throws CGROUP_UNDO_INCOMPLETE listing what remains.
   */
  undo(opts?: { killRemaining?: boolean }): Promise<void>;
}

type Undo =
  | { kind: "rmdir"; dir: string }
  | { kind: "disable"; dir: string; controllers: string[] }
  | { kind: "moveBack"; pid: number; to: string };

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code ?? "EIO";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Performs `plan`; on any failure undoes what it did so far and rethrows. */
export async function applyCgroupOps(plan: CgroupOps, opts: ApplyCgroupOptions = {}): Promise<VmCgroups> {
  const pid = opts.pid ?? process.pid;
  const stack: Undo[] = [];
  const warnings: CgroupWarning[] = [...plan.warnings];
  const created: string[] = [];
  let supervisorDir: string | undefined;
  const undo = async (u: { killRemaining?: boolean } = {}) =>
    runUndo(stack, u.killRemaining ? killTargets(plan, created) : [], pid, opts.rmdirTimeoutMs ?? 3000);

  try {
    for (const op of plan.ops) {
      if (op.op === "mkdir") {
        if (await doMkdir(op)) {
          stack.push({ kind: "rmdir", dir: op.dir });
          created.push(op.dir);
        }
      } else if (op.op === "enable") {
        const moved = await doEnable(op, pid, opts.supervisorName ?? "supervisor", stack, created);
        if (moved) supervisorDir = moved;
      } else {
        const w = await doWrite(op);
        if (w) warnings.push(w);
      }
    }
  } catch (e) {
    await undo().catch(() => undefined); // the original error is the one to report
    throw e;
  }
  const result: VmCgroups = { ...plan, warnings, created, undo };
  if (supervisorDir) result.supervisorDir = supervisorDir;
  return result;
}

async function doMkdir(op: Extract<CgroupOp, { op: "mkdir" }>): Promise<boolean> {
  try {
    await mkdir(op.dir);
    return true;
  } catch (e) {
    const code = errno(e);
    if (code === "EEXIST" && !op.fresh) return false;
    if (code === "EEXIST") {
      throw new QemuJailError("CGROUP_EXISTS", `cgroup ${op.dir} already exists`, {
        exit: "state",
        hint: "another launch of this VM is running, or a killed one left it: `qemu-jail gc`",
        detail: { dir: op.dir },
      });
    }
    throw new QemuJailError("CGROUP_MKDIR_FAILED", `Failed to create cgroup ${op.dir}: ${code}`, {
      exit: code === "ENOENT" ? "host" : "jail",
      hint:
        code === "ENOENT"
          ? "the parent cgroup does not exist (check jail.cgroup.parent)"
          : "is the launcher root, with cgroupfs mounted rw?",
      cause: e,
      detail: { dir: op.dir },
    });
  }
}

async function readWords(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).split(/\s+/).filter(Boolean);
}

/** Enables controllers in dir's subtree_control; returns the supervisor dir if the launcher moved. */
async function doEnable(
  op: Extract<CgroupOp, { op: "enable" }>,
  pid: number,
  supervisorName: string,
  stack: Undo[],
  created: string[],
): Promise<string | undefined> {
  const ctlFile = join(op.dir, "cgroup.subtree_control");
  const have = await readWords(ctlFile);
  const missing = op.controllers.filter((c) => !have.includes(c));
  if (missing.length === 0) return undefined;
  const write = () => writeFile(ctlFile, missing.map((c) => `+${c}`).join(" "));
  let moved: string | undefined;
  try {
    await write();
  } catch (e) {
    if (errno(e) !== "EBUSY" || !op.isOwn) throw enableError(op.dir, missing, e);
    // No-internal-process rule: our own cgroup holds processes. If the only one is the launcher,
    // move it into a leaf below its own cgroup (never out of its subtree) and try again.
    const procs = (await readWords(join(op.dir, "cgroup.procs"))).map(Number);
    const others = procs.filter((p) => p !== pid);
    if (others.length > 0) {
      throw new QemuJailError(
        "CGROUP_INTERNAL_PROCESS",
        `cannot enable ${missing.join(", ")} below ${op.dir}: it holds other processes (${others.slice(0, 5).join(", ")})`,
        {
          exit: "host",
          hint: "run qemu-jail in a cgroup of its own (systemd: a service with Delegate=yes), or set jail.cgroup.parent",
        },
      );
    }
    moved = join(op.dir, supervisorName);
    try {
      await mkdir(moved);
      stack.push({ kind: "rmdir", dir: moved });
      created.push(moved);
    } catch (e2) {
      if (errno(e2) !== "EEXIST") throw enableError(moved, missing, e2);
    }
    await writeFile(join(moved, "cgroup.procs"), String(pid));
    stack.push({ kind: "moveBack", pid, to: op.dir });
    try {
      await write();
    } catch (e3) {
      throw enableError(op.dir, missing, e3);
    }
  }
  stack.push({ kind: "disable", dir: op.dir, controllers: missing });
  return moved;
}

function enableError(dir: string, controllers: string[], e: unknown): QemuJailError {
  const code = errno(e);
  return new QemuJailError(
    "CGROUP_ENABLE_FAILED",
    `Failed to enable ${controllers.join(", ")} in ${dir}/cgroup.subtree_control: ${code}`,
    {
      exit: "host",
      hint:
        code === "ENOENT"
          ? "the controller is not offered to this cgroup (see its cgroup.controllers); delegate it from the parent"
          : "the cgroup holds processes (no-internal-process rule) or is not delegated to the launcher",
      cause: e,
    },
  );
}

async function doWrite(op: Extract<CgroupOp, { op: "write" }>): Promise<CgroupWarning | undefined> {
  let file: string | undefined;
  for (const f of op.files) {
    if (
      await stat(join(op.dir, f)).then(
        () => true,
        () => false,
      )
    ) {
      file = f;
      break;
    }
  }
  if (!file) {
    if (!op.hard) {
      return {
        code: "CGROUP_LIMIT_UNSUPPORTED",
        process: op.process,
        message: `${op.files.join(" / ")} does not exist in ${op.hierarchy} (e.g. no BFQ scheduler for blkio weights): limit not applied`,
      };
    }
    throw new QemuJailError("CGROUP_LIMIT_UNSUPPORTED", `${op.dir} has no ${op.files.join(" or ")}`, {
      exit: "host",
      hint: "the kernel lacks this cgroup feature; drop the limit from jail.cgroup",
    });
  }
  try {
    await writeFile(join(op.dir, file), op.value);
  } catch (e) {
    if (!op.hard) {
      return {
        code: "CGROUP_LIMIT_REFUSED",
        process: op.process,
        message: `writing ${op.value} to ${op.dir}/${file} failed: ${errno(e)}`,
      };
    }
    throw new QemuJailError(
      "CGROUP_WRITE_FAILED",
      `Failed to write ${JSON.stringify(op.value)} to ${op.dir}/${file}: ${errno(e)}`,
      {
        exit: "jail",
        hint: "the value may be out of the kernel's range, or above the parent's limit",
        cause: e,
      },
    );
  }
  return undefined;
}

/** The process leaves this setup created: the only cgroups whose tasks undo may kill. */
function killTargets(plan: CgroupOps, created: string[]): string[] {
  const mine = new Set(created);
  return Object.values(plan.join)
    .flat()
    .filter((d) => mine.has(d));
}

async function runUndo(stack: Undo[], killDirs: string[], selfPid: number, timeoutMs: number): Promise<void> {
  const left: string[] = [];
  const failedDirs: string[] = [];
  // Kill only tasks in the process leaves (never the supervisor leaf, never the launcher itself).
  for (const dir of killDirs) {
    const pids = await readWords(join(dir, "cgroup.procs")).catch(() => [] as string[]);
    for (const p of pids.map(Number).filter((p) => p !== selfPid)) {
      try {
        kill(p, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  // Undo entries that could not be completed go back on the stack (in order), so a later undo
  // (the launcher's retry, or gc) tries them again.
  const retry: Undo[] = [];
  while (stack.length > 0) {
    const u = stack.pop()!;
    if (u.kind === "rmdir") {
      if (failedDirs.some((f) => f.startsWith(`${u.dir}/`))) {
        retry.push(u);
        continue;
      }
      const err = await rmdirPatiently(u.dir, timeoutMs);
      if (err) {
        failedDirs.push(u.dir);
        left.push(`${u.dir} (${err})`);
        retry.push(u);
      }
    } else if (u.kind === "disable") {
      // Only what we enabled. EBUSY: a cgroup we did not create (another VM's, sharing a parent)
      // now relies on it, so it is no longer ours to take away.
      try {
        await writeFile(join(u.dir, "cgroup.subtree_control"), u.controllers.map((c) => `-${c}`).join(" "));
      } catch (e) {
        if (errno(e) !== "EBUSY" && errno(e) !== "ENOENT") {
          left.push(`${u.dir}/cgroup.subtree_control +${u.controllers.join(" +")} (${errno(e)})`);
          retry.push(u);
        }
      }
    } else {
      try {
        await writeFile(join(u.to, "cgroup.procs"), String(u.pid));
      } catch (e) {
        left.push(`launcher pid ${u.pid} not moved back to ${u.to} (${errno(e)})`);
        retry.push(u);
      }
    }
  }
  stack.push(...retry.reverse());
  if (left.length > 0) {
    throw new QemuJailError("CGROUP_UNDO_INCOMPLETE", `cgroup cleanup left: ${left.join("; ")}`, {
      exit: "jail",
      hint: "processes may still run in them; kill them and run `qemu-jail gc`",
      detail: { left },
    });
  }
}

/** rmdir, retrying on EBUSY until the cgroup's last (dying) task is gone. Returns an errno or undefined. */
async function rmdirPatiently(dir: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    try {
      await rmdir(dir);
      return undefined;
    } catch (e) {
      const code = errno(e);
      if (code === "ENOENT") return undefined;
      // A shared intermediate dir we created may since hold another VM's cgroup: not ours to wait for.
      if (code === "EBUSY" && (await hasChildCgroups(dir))) return undefined;
      if (code !== "EBUSY" || Date.now() > deadline) return code;
      await sleep(delay);
    }
  }
}

async function hasChildCgroups(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.some((e) => e.isDirectory());
}
