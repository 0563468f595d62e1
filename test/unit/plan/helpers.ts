// Shared inputs of the plan and device tests: the Debian 12 host fixture, a fragment set with one
// small fragment per catalogue name (the tests check the planner's logic, not the policies), and
// configs parsed from TOML.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/parse.js";
import type { VmConfig } from "../../../src/config/types.js";
import type { HostFacts } from "../../../src/host/types.js";
import { fragmentSetFrom } from "../../../src/seccomp/fragments.js";
import type { FragmentSet, RawFragment } from "../../../src/seccomp/types.js";

export const FIXTURES = join(import.meta.dirname, "../../fixtures");

/** Every fragment name the catalogue may ask for. */
export const FRAGMENT_NAMES = [
  "base",
  "exec",
  "accel-tcg",
  "accel-kvm",
  "qmp",
  "chardev-file",
  "chardev-socket",
  "chardev-stdio",
  "block",
  "block-aio-threads",
  "block-aio-native",
  "block-aio-io-uring",
  "block-discard",
  "net-user",
  "net-tap",
  "net-vhost-net",
  "rng",
  "vsock",
  "memfd-shared",
  "vhost-user-frontend",
  "qemu-sandbox",
  "virtiofsd",
  "virtiofsd-ro",
  "virtiofsd-rw",
  "qemu-storage-daemon",
];

/** A small rule set per fragment, with a conditional rule so provenance and args show up. */
function raw(name: string): RawFragment {
  const rules: RawFragment["rules"] = [{ syscall: "read", why: `${name}: reads its fds` }];
  if (name === "base") {
    rules.push(
      { syscall: "ppoll", why: "main loop" },
      { syscall: "futex", why: "threads" },
      { syscall: "socket", args: [{ arg: 0, op: "eq", value: "AF_UNIX" }], why: "unix sockets only" },
    );
  }
  if (name === "net-tap")
    rules.push({
      syscall: "ioctl",
      args: [{ arg: 1, op: "eq", value: "TUNSETOFFLOAD" }],
      why: "tap offloads",
    });
  if (name === "block-aio-io-uring") rules.push({ syscall: "io_uring_enter", why: "io_uring submissions" });
  if (name === "accel-kvm")
    rules.push({ syscall: "ioctl", args: [{ arg: 1, op: "eq", value: "KVM_RUN" }], why: "run a vCPU" });
  if (name === "virtiofsd") rules.push({ syscall: "chroot", why: "sandbox=chroot" });
  if (name === "virtiofsd-rw") rules.push({ syscall: "unlinkat", why: "guest removes files" });
  const includes = name.startsWith("virtiofsd-") ? ["virtiofsd"] : [];
  return { name, description: `test fragment ${name}`, rules, ...(includes.length ? { includes } : {}) };
}

/** The test fragment set, optionally without some names. */
export function testFragments(without: string[] = []): FragmentSet {
  return fragmentSetFrom(FRAGMENT_NAMES.filter((n) => !without.includes(n)).map(raw));
}

/** A fresh copy of the Debian 12 x86_64 host fixture. */
export function debianHost(): HostFacts {
  return JSON.parse(readFileSync(join(FIXTURES, "host/debian12-x86_64.json"), "utf8")) as HostFacts;
}

/** The fixture host without KVM (like the development machines are documented to be). */
export function tcgHost(): HostFacts {
  const h = debianHost();
  h.hasKvm = false;
  delete h.devices["/dev/kvm"];
  return h;
}

/** Parses a config fixture from test/fixtures/plans/<name>.toml. */
export function fixtureConfig(name: string): VmConfig {
  const file = join(FIXTURES, "plans", `${name}.toml`);
  return parseConfig(readFileSync(file, "utf8"), { source: `test/fixtures/plans/${name}.toml` });
}

/** Parses inline TOML. */
export function tomlConfig(text: string): VmConfig {
  return parseConfig(text, { source: "inline.toml", baseDir: "/srv/vm" });
}
