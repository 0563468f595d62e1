// `qemu-jail seccomp ...`: compile fragments to a raw BPF program, disassemble, emulate, show
// a policy with provenance, export it for OCI runtimes or systemd, print the fragment schema.

import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { QemuJailError } from "../errors.js";

interface PolicyOpts {
  fragments?: string;
  config?: string;
  process: string;
  arch: string;
  default: string;
  policies?: string;
}

/** The policy named on the command line: a fragment list, or one process of a config's plan. */
async function loadPolicy(o: PolicyOpts) {
  if (o.config) {
    if (o.fragments)
      throw new QemuJailError("SECCOMP_BAD_FLAGS", "give either --fragments or --config, not both", {
        exit: "usage",
      });
    const { planFromConfigFile } = await import("./plan.js");
    const plan = await planFromConfigFile(o.config, o.policies);
    const proc = plan.processes.find((p) => p.id === o.process);
    if (!proc)
      throw new QemuJailError("SECCOMP_NO_PROCESS", `the plan of ${o.config} has no process "${o.process}"`, {
        exit: "usage",
        hint: `processes: ${plan.processes.map((p) => p.id).join(", ")}`,
      });
    return proc.seccomp;
  }
  if (!o.fragments)
    throw new QemuJailError("SECCOMP_NO_FRAGMENTS", "give --fragments a,b,... or --config vm.toml", {
      exit: "usage",
    });
  const t = await import("../seccomp/tools.js");
  const { loadFragments } = await import("../seccomp/fragments.js");
  const { composePolicy } = await import("../seccomp/compose.js");
  const set = loadFragments(o.policies);
  return composePolicy(set, t.parseFragmentList(o.fragments), {
    arch: t.parseArch(o.arch),
    defaultAction: t.parseDefaultAction(o.default),
  });
}

function readProgram(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new QemuJailError(
      "SECCOMP_READ_PROGRAM",
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      { exit: "usage", location: { file }, cause: e },
    );
  }
}

/** Writes via a temporary name and a rename, so a failure never leaves a partial file. */
function writeAtomic(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new QemuJailError(
      "SECCOMP_WRITE",
      `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      { exit: "runtime", location: { file }, cause: e },
    );
  }
}

function policyOptions(c: Command): Command {
  return c
    .option("--fragments <list>", "fragment names, comma-separated (name=need to record the config item)")
    .option(
      "--config <vm.toml>",
      "instead of --fragments: the policy the plan derives for a process of this config",
    )
    .option("--process <id>", "with --config: which process (qemu, virtiofsd-<share>, qsd-<disk>)", "qemu")
    .option("--arch <arch>", "x86_64 or aarch64", process.arch === "arm64" ? "aarch64" : "x86_64")
    .option(
      "--default <action>",
      "action for other syscalls: kill, kill_thread, trap, log, errno, errno:NAME",
      "kill",
    )
    .option("--policies <dir>", "directory of policy fragments (default: the package's policies/)");
}

/** Registers the `seccomp` command group. */
export function register(program: Command): void {
  const g = program.command("seccomp").description("Seccomp policies: compile, inspect, emulate, export");

  policyOptions(
    g.command("compile").description("compile fragments to a raw BPF program (struct sock_filter[])"),
  )
    .requiredOption("-o, --output <file>", "where to write the program")
    .action(async (o: PolicyOpts & { output: string }) => {
      const { compilePolicy, describeProgram } = await import("../seccomp/compile.js");
      const policy = await loadPolicy(o);
      const compiled = compilePolicy(policy);
      writeAtomic(o.output, compiled.program);
      process.stdout.write(`${describeProgram(policy, compiled)} → ${o.output}\n`);
    });

  g.command("disasm")
    .description("disassemble a raw BPF program")
    .argument("<file>", "program file")
    .option("--arch <arch>", "annotate syscall numbers for this arch")
    .action(async (file: string, o: { arch?: string }) => {
      const { disassemble } = await import("../seccomp/disasm.js");
      const { parseArch } = await import("../seccomp/tools.js");
      process.stdout.write(disassemble(readProgram(file), o.arch ? parseArch(o.arch) : undefined));
    });

  g.command("emulate")
    .description("run a program on one syscall, as the kernel would")
    .argument("<file>", "program file")
    .requiredOption("--syscall <name|nr>", "syscall name or number")
    .option("--arch <arch>", "x86_64 or aarch64", "x86_64")
    .option("--args <list>", "up to six arguments, comma-separated (decimal or 0x-hex)")
    .action(async (file: string, o: { syscall: string; arch: string; args?: string }) => {
      const { emulate } = await import("../seccomp/emulate.js");
      const { actionToString } = await import("../seccomp/actions.js");
      const t = await import("../seccomp/tools.js");
      const arch = t.parseArch(o.arch);
      const nr = t.parseSyscall(arch, o.syscall);
      let r: ReturnType<typeof emulate>;
      try {
        r = emulate(readProgram(file), { arch, nr, args: t.parseArgs(o.args) });
      } catch (e) {
        throw new QemuJailError("SECCOMP_BAD_PROGRAM", (e as Error).message, {
          exit: "usage",
          location: { file },
          cause: e,
        });
      }
      process.stdout.write(
        `${actionToString(r.action)}  (ret 0x${r.ret.toString(16)}, ${r.executed} instructions)\n`,
      );
    });

  g.command("cache")
    .description("list the syscalls the kernel's action cache would always allow for a program")
    .argument("<file>", "program file")
    .option("--arch <arch>", "x86_64 or aarch64", "x86_64")
    .action(async (file: string, o: { arch: string }) => {
      const { cacheableSyscalls } = await import("../seccomp/cache.js");
      const { parseArch } = await import("../seccomp/tools.js");
      process.stdout.write(`${cacheableSyscalls(readProgram(file), parseArch(o.arch)).join("\n")}\n`);
    });

  policyOptions(
    g.command("show").description("show the composed policy with the provenance of every rule"),
  ).action(async (o: PolicyOpts) => {
    const { renderPolicy } = await import("../seccomp/export.js");
    process.stdout.write(renderPolicy(await loadPolicy(o)));
  });

  policyOptions(g.command("export").description("export the composed policy for other tools"))
    .requiredOption("--format <format>", "oci (Docker/OCI seccomp profile JSON) or systemd (unit lines)")
    .option("-o, --output <file>", "write here instead of stdout")
    .action(async (o: PolicyOpts & { format: string; output?: string }) => {
      const { exportOci, exportSystemd } = await import("../seccomp/export.js");
      const policy = await loadPolicy(o);
      let text: string;
      let notes: string[];
      if (o.format === "oci") ({ json: text, notes } = exportOci(policy));
      else if (o.format === "systemd") {
        const r = exportSystemd(policy);
        text = `${r.lines.join("\n")}\n`;
        notes = r.notes;
        text = `${notes.map((n) => `# cannot express: ${n}`).join("\n")}\n${text}`;
      } else
        throw new QemuJailError("SECCOMP_BAD_FORMAT", `unknown export format "${o.format}"`, {
          exit: "usage",
          hint: "use oci or systemd",
        });
      if (o.output) writeAtomic(o.output, text);
      else process.stdout.write(text);
      if (o.format === "oci")
        for (const n of notes)
          process.stderr.write(`qemu-jail: note: the OCI profile cannot express: ${n}\n`);
    });

  g.command("schema")
    .description("print the JSON Schema of policy fragment files")
    .action(async () => {
      const { fragmentJsonSchema } = await import("../seccomp/schema.js");
      process.stdout.write(`${JSON.stringify(fragmentJsonSchema(), null, 2)}\n`);
    });
}
