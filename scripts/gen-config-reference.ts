// Generates the README section between <!-- config:start --> and <!-- config:end -->: the vm.toml
// reference (from the JSON Schema, itself generated from the zod schema) and the library API.
// Run: npx vite-node scripts/gen-config-reference.ts   (test/unit/config/readme.test.ts fails when stale)

import { readFileSync, writeFileSync } from "node:fs";
import { configJsonSchema } from "../src/config/jsonschema.js";

type Json = Record<string, unknown>;

const START = "<!-- config:start -->";
const END = "<!-- config:end -->";

/** A JSON-schema node's type as a short human string. */
function typeOf(s: Json): string {
  if (Array.isArray(s.enum)) return (s.enum as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(" | ");
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (Array.isArray(s.anyOf)) {
    const parts = (s.anyOf as Json[]).map(typeOf);
    if (parts.join() === "integer,string") return "size";
    return parts.join(" | ");
  }
  const range =
    s.minimum !== undefined && s.maximum !== undefined && Number(s.maximum) < 2 ** 53 - 1
      ? ` ${s.minimum}..${s.maximum}`
      : "";
  switch (s.type) {
    case "array":
      if (Array.isArray(s.items)) return `[${(s.items as Json[]).map(typeOf).join(", ")}]`;
      return (s.items as Json)?.type === "object" ? "array of tables" : `array of ${typeOf(s.items as Json)}`;
    case "object":
      return "table";
    case "integer":
      return `integer${range}`;
    default:
      return String(s.type ?? "any");
  }
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** Every table of the schema, depth first, as [heading path, object schema]. */
function tables(s: Json, path: string, out: Array<[string, Json]>): void {
  if (s.type === "object" && s.properties) {
    if (path) out.push([path, s]);
    for (const [k, v] of Object.entries(s.properties as Record<string, Json>))
      tables(v, path ? `${path}.${k}` : k, out);
  } else if (s.type === "array" && (s.items as Json | undefined)?.type === "object") {
    tables(s.items as Json, `${path}[]`, out);
  } else if (Array.isArray(s.anyOf)) {
    for (const alt of s.anyOf as Json[])
      if (alt.type === "object") tables({ ...alt, description: alt.description ?? s.description }, path, out);
  }
}

/** The vm.toml reference as Markdown. */
export function renderReference(): string {
  const schema = configJsonSchema() as Json;
  const all: Array<[string, Json]> = [];
  tables(schema, "", all);
  const lines: string[] = [
    "## vm.toml reference",
    "",
    "Generated from the schema (`npx vite-node scripts/gen-config-reference.ts`); `qemu-jail schema` prints it as JSON Schema",
    "(for editors: `qemu-jail schema > vm.schema.json`, then a first line `#:schema ./vm.schema.json` in the vm.toml",
    'lets taplo complete and check it). Unknown keys are errors. Sizes take binary units (`"512M"`, `"4G"`, `"1GiB"`).',
    "Relative paths resolve against the vm.toml's directory; `..` components and NUL bytes are refused.",
    "Defaults that depend on other keys are stated in the description.",
  ];
  for (const [path, t] of all) {
    const isArray = path.endsWith("[]");
    const clean = path.replaceAll("[]", "");
    lines.push("", `### ${isArray ? `[[${clean}]]` : `[${clean}]`}`, "");
    if (t.description) lines.push(String(t.description), "");
    const required = new Set((t.required as string[] | undefined) ?? []);
    lines.push("| key | type | default | description |", "|---|---|---|---|");
    for (const [k, v] of Object.entries(t.properties as Record<string, Json>)) {
      const def =
        v.default !== undefined ? `\`${JSON.stringify(v.default)}\`` : required.has(k) ? "**required**" : "";
      lines.push(`| \`${k}\` | ${cell(typeOf(v))} | ${cell(def)} | ${cell(String(v.description ?? ""))} |`);
    }
  }
  return lines.join("\n");
}

const API = `## Library API

\`\`\`ts
import { loadConfig, parseConfig, qemuArgv, QemuJailError, type ArgvContext, type VmConfig } from "qemu-jail";
\`\`\`

- \`parseConfig(text, { source?, baseDir? }): VmConfig\` — pure: TOML text → validated config with every default
  applied, sizes in bytes, paths absolute. Throws \`QemuJailError\` (exit class \`"config"\`, stable \`code\` such as
  \`CONFIG_UNKNOWN_KEY\`, \`location\` {file, line, column, key}, \`hint\`; all problems in \`detail.problems\`).
- \`loadConfig(path): VmConfig\` — reads the file, \`parseConfig\`, then checks every referenced file: exists, right
  type, readable (writable for rw disks), image header vs declared \`format\` (qcow2 magic), and qcow2 backing
  files vs the declared \`backing\` chain.
- \`qemuArgv(config, host?, ctx?): string[]\` — QEMU's argv (argv[0] is the binary); modern forms only
  (\`-blockdev\` graph, \`-device\`, \`-netdev\`, \`-chardev\`, \`-object\`). \`host\` (HostFacts) decides \`accel = "auto"\`
  and vhost-net; without it "auto" becomes \`-accel kvm -accel tcg\`.
- \`ArgvContext\` — how a launcher makes QEMU use pre-opened fds and in-jail paths (all optional, plain data):
  - \`paths\`: host path → in-jail path for files QEMU opens by name (binary, kernel, initrd).
  - \`fdsets\`: host path → \`{ set, fds: [{ fd, opaque? }] }\` for everything QEMU opens with qemu_open (images,
    each backing file, firmware images, serial log file, rng source): emits \`-add-fd fd=N,set=S\` and names the
    file \`/dev/fdset/S\`.
  - \`qmp\`: \`{ fd }\` of a listening unix socket (\`-chardev socket,id=qmp,fd=N,server=on,wait=off\`) or \`{ path }\`.
  - \`serial\`: \`{ fd }\` listening socket for serial mode "socket".
  - \`taps\`: nic id → \`{ fd, vhostfd? }\` (\`-netdev tap,fd=N[,vhost=on,vhostfd=M]\`).
  - \`vhostUser\`: share or vhost-user disk id → \`{ fd }\` (one end of a connected socketpair) or \`{ path }\`.
  - \`vsock\`: \`{ vhostfd }\` of an open /dev/vhost-vsock.
  - \`runDir\`: where default sockets live as QEMU sees them (default \`<state_dir>/<name>\`);
    \`firmwareVars\`: the per-VM copy of \`vars_template\`.
- \`configJsonSchema()\` — the JSON Schema of vm.toml; \`shellLine(argv)\` — an argv as one shell-quoted line.
- Exit classes (\`ExitCode\`): 0 ok, 1 runtime, 2 usage, 3 config, 4 policy, 5 host, 6 jail, 7 guest, 8 state.`;

/** The whole generated section, markers included. */
export function renderSection(): string {
  return `${START}\n\n${renderReference()}\n\n${API}\n\n${END}`;
}

/** README text with the section replaced (appended if the markers are absent). */
export function updateReadme(readme: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < 0) return `${readme.trimEnd()}\n\n${renderSection()}\n`;
  return readme.slice(0, a) + renderSection() + readme.slice(b + END.length);
}

// Imported by the staleness test under vitest (which sets VITEST): then only the functions are used.
if (!process.env.VITEST) {
  writeFileSync("README.md", updateReadme(readFileSync("README.md", "utf8")));
}
