// Every class of config error: message, code, key, line:col and hint, table-driven.

import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { QemuJailError } from "../../../src/errors.js";

const HEAD = '[vm]\nname = "t"\n[boot]\nkernel = "/vmlinuz"\n';
const FW = '[vm]\nname = "t"\n[boot]\ncode = "/fw/code.fd"\n';

interface Case {
  name: string;
  toml: string;
  code: string;
  key?: string;
  line?: number;
  column?: number;
  message: RegExp;
  hint?: RegExp;
}

const cases: Case[] = [
  // malformed TOML
  {
    name: "unclosed table header",
    toml: "[vm\nname = 1\n",
    code: "CONFIG_TOML_SYNTAX",
    line: 1,
    message: /TOML syntax error/,
  },
  {
    name: "unterminated string",
    toml: '[vm]\nname = "abc\n',
    code: "CONFIG_TOML_SYNTAX",
    line: 2,
    message: /TOML syntax error/,
  },
  {
    name: "duplicate key",
    toml: '[vm]\nname = "a"\nname = "b"\n',
    code: "CONFIG_TOML_SYNTAX",
    line: 3,
    message: /TOML syntax error/,
  },
  { name: "NUL byte in file", toml: '[vm]\nname = "a\0"\n', code: "CONFIG_TOML_SYNTAX", message: /NUL/ },
  // wrong types
  {
    name: "cpus as string",
    toml: '[vm]\nname = "t"\ncpus = "2"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_TYPE",
    key: "vm.cpus",
    line: 3,
    column: 1,
    message: /expected a number, got the string "2"/,
    hint: /without quotes/,
  },
  {
    name: "readonly as string",
    toml: `${HEAD}[[disk]]\nid = "d"\npath = "/x"\nreadonly = "yes"\n`,
    code: "CONFIG_TYPE",
    key: "disk[0].readonly",
    line: 8,
    message: /expected a boolean/,
    hint: /true or false/,
  },
  {
    name: "disk as a table",
    toml: `${HEAD}[disk]\nid = "d"\n`,
    code: "CONFIG_TYPE",
    key: "disk",
    line: 5,
    message: /expected an array/,
    hint: /\[/,
  },
  {
    name: "float cpus",
    toml: '[vm]\nname = "t"\ncpus = 1.5\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_TYPE",
    key: "vm.cpus",
    line: 3,
    message: /expected an integer, got the float 1.5/,
    hint: /whole number/,
  },
  // unknown keys with did-you-mean
  {
    name: "typo in vm",
    toml: '[vm]\nnmae = "t"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_UNKNOWN_KEY",
    key: "vm.nmae",
    line: 2,
    column: 1,
    message: /unknown key "nmae" in \[vm\]/,
    hint: /did you mean "name"/,
  },
  {
    name: "typo in [[disk]] 2",
    toml: `${HEAD}[[disk]]\nid = "a"\npath = "/a"\n[[disk]]\nid = "b"\npath = "/b"\nfromat = "raw"\n`,
    code: "CONFIG_UNKNOWN_KEY",
    key: "disk[1].fromat",
    line: 11,
    message: /unknown key "fromat" in \[disk\[1\]\]/,
    hint: /did you mean "format"/,
  },
  {
    name: "typo in inline table",
    toml: `${HEAD}[[nic]]\nid = "n"\nforward = [{ host_port = 1, guest_prot = 2 }]\n`,
    code: "CONFIG_UNKNOWN_KEY",
    key: "nic[0].forward[0].guest_prot",
    line: 7,
    column: 29,
    message: /unknown key "guest_prot"/,
    hint: /did you mean "guest_port"/,
  },
  {
    name: "unknown table",
    toml: `${HEAD}[netwrok]\nx = 1\n`,
    code: "CONFIG_UNKNOWN_KEY",
    key: "netwrok",
    line: 5,
    message: /unknown key "netwrok" in the top level/,
  },
  {
    name: "typo in nested table",
    toml: `${HEAD}[jail.cgroup]\npid_max = 10\n`,
    code: "CONFIG_UNKNOWN_KEY",
    message: /unknown key "pid_max" in \[jail\.cgroup\]/,
    key: "jail.cgroup.pid_max",
    line: 6,
    hint: /did you mean "pids_max"/,
  },
  {
    name: "enum typo",
    toml: `${HEAD}[[disk]]\nid = "d"\npath = "/x"\nformat = "qcow"\n`,
    code: "CONFIG_BAD_VALUE",
    key: "disk[0].format",
    line: 8,
    message: /expected one of "raw", "qcow2"/,
    hint: /did you mean "qcow2"/,
  },
  // missing keys
  {
    name: "missing vm",
    toml: '[boot]\nkernel = "/k"\n',
    code: "CONFIG_MISSING_KEY",
    key: "vm",
    message: /missing required key "vm"/,
  },
  {
    name: "missing name",
    toml: '[vm]\ncpus = 1\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_MISSING_KEY",
    key: "vm.name",
    line: 1,
    message: /missing required key "name"/,
    hint: /under \[vm\]/,
  },
  {
    name: "boot without kernel or code",
    toml: '[vm]\nname = "t"\n[boot]\n',
    code: "CONFIG_MISSING_KEY",
    key: "boot",
    line: 3,
    message: /neither a kernel nor firmware/,
    hint: /kernel = /,
  },
  {
    name: "tap without name",
    toml: `${HEAD}[[nic]]\nid = "n"\nmode = "tap"\n`,
    code: "CONFIG_MISSING_KEY",
    key: "nic[0].tap",
    line: 5,
    message: /needs a tap interface name/,
  },
  {
    name: "serial file without path",
    toml: `${HEAD}[serial]\nmode = "file"\n`,
    code: "CONFIG_MISSING_KEY",
    key: "serial.path",
    line: 5,
    message: /needs a path/,
  },
  // out of range
  {
    name: "cpus 0",
    toml: '[vm]\nname = "t"\ncpus = 0\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_OUT_OF_RANGE",
    key: "vm.cpus",
    line: 3,
    message: />= 1/,
    hint: /1 and 255/,
  },
  {
    name: "port 70000",
    toml: `${HEAD}[[nic]]\nid = "n"\nforward = [{ host_port = 70000, guest_port = 22 }]\n`,
    code: "CONFIG_OUT_OF_RANGE",
    key: "nic[0].forward[0].host_port",
    line: 7,
    column: 14,
    message: /<= 65535/,
  },
  {
    name: "vsock cid 2",
    toml: `${HEAD}[vsock]\ncid = 2\n`,
    code: "CONFIG_OUT_OF_RANGE",
    key: "vsock.cid",
    line: 6,
    message: />= 3/,
    hint: /reserved/,
  },
  {
    name: "uid 0",
    toml: `${HEAD}[jail]\nuid = 0\n`,
    code: "CONFIG_OUT_OF_RANGE",
    message: />= 1/,
    key: "jail.uid",
    line: 6,
    hint: /never runs as root/,
  },
  {
    name: "memory too small",
    toml: '[vm]\nname = "t"\nmemory = "1M"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_OUT_OF_RANGE",
    key: "vm.memory",
    line: 3,
    message: /between/,
  },
  {
    name: "memory not MiB aligned",
    toml: '[vm]\nname = "t"\nmemory = "20000K"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_OUT_OF_RANGE",
    key: "vm.memory",
    line: 3,
    message: /multiple of 1M/,
  },
  {
    name: "ambiguous size unit",
    toml: '[vm]\nname = "t"\nmemory = "512MB"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_BAD_SIZE",
    key: "vm.memory",
    line: 3,
    message: /ambiguous unit "MB"/,
    hint: /"512M"/,
  },
  {
    name: "memory_max below RAM",
    toml: `${HEAD}[jail.cgroup]\nmemory_max = "64M"\n`,
    code: "CONFIG_OUT_OF_RANGE",
    key: "jail.cgroup.memory_max",
    line: 6,
    message: /below the guest's memory/,
  },
  // duplicate ids
  {
    name: "disk and nic share an id",
    toml: `${HEAD}[[disk]]\nid = "x"\npath = "/a"\n[[nic]]\nid = "x"\n`,
    code: "CONFIG_DUPLICATE_ID",
    key: "nic[0].id",
    line: 9,
    message: /duplicate id "x"/,
    hint: /disk\[0\]/,
  },
  {
    name: "two shares same id",
    toml: `${HEAD}[[share]]\nid = "s"\npath = "/a"\n[[share]]\nid = "s"\npath = "/b"\n`,
    code: "CONFIG_DUPLICATE_ID",
    message: /duplicate id "s"/,
    key: "share[1].id",
    line: 9,
  },
  {
    name: "reserved id",
    toml: `${HEAD}[[disk]]\nid = "qmp"\npath = "/a"\n`,
    code: "CONFIG_BAD_ID",
    key: "disk[0].id",
    line: 6,
    message: /reserved/,
  },
  {
    name: "duplicate boot_index",
    toml: `${FW}[[disk]]\nid = "a"\npath = "/a"\nboot_index = 1\n[[disk]]\nid = "b"\npath = "/b"\nboot_index = 1\n`,
    code: "CONFIG_DUPLICATE",
    message: /boot_index 1 is also used by disk\[0\]/,
    key: "disk[1].boot_index",
    line: 12,
  },
  {
    name: "duplicate host port",
    toml: `${HEAD}[[nic]]\nid = "n"\nforward = [{ host_port = 80, guest_port = 80 }, { host_port = 80, guest_port = 81 }]\n`,
    code: "CONFIG_DUPLICATE",
    message: /forwarded twice/,
    key: "nic[0].forward[1].host_port",
    line: 7,
  },
  // paths
  {
    name: "dot-dot path",
    toml: `${HEAD}[[disk]]\nid = "d"\npath = "../etc/shadow"\n`,
    code: "CONFIG_BAD_PATH",
    key: "disk[0].path",
    line: 7,
    message: /"\.\." component/,
    hint: /without "\.\."/,
  },
  {
    name: "dot-dot in middle",
    toml: '[vm]\nname = "t"\n[boot]\nkernel = "/boot/../etc/k"\n',
    code: "CONFIG_BAD_PATH",
    message: /"\.\." component/,
    key: "boot.kernel",
    line: 4,
  },
  {
    name: "NUL in path",
    toml: `${HEAD}[[share]]\nid = "s"\npath = "/a\\u0000b"\n`,
    code: "CONFIG_BAD_PATH",
    key: "share[0].path",
    line: 7,
    message: /NUL/,
  },
  {
    name: "empty path",
    toml: '[vm]\nname = "t"\n[boot]\nkernel = ""\n',
    code: "CONFIG_BAD_PATH",
    key: "boot.kernel",
    line: 4,
    message: /empty/,
  },
  // names
  {
    name: "uppercase name",
    toml: '[vm]\nname = "MyVM"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_BAD_NAME",
    key: "vm.name",
    line: 2,
    message: /safe name/,
    hint: /try "myvm"/,
  },
  {
    name: "slash in name",
    toml: '[vm]\nname = "a/b"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_BAD_NAME",
    key: "vm.name",
    message: /safe name/,
  },
  {
    name: "dot-dot name",
    toml: '[vm]\nname = ".."\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_BAD_NAME",
    message: /safe name/,
    key: "vm.name",
  },
  {
    name: "bad netns name",
    toml: `${HEAD}[[nic]]\nid = "n"\nmode = "tap"\ntap = "t0"\nnetns = "../x"\n`,
    code: "CONFIG_BAD_NAME",
    message: /safe name/,
    key: "nic[0].netns",
    line: 9,
  },
  {
    name: "id too long for a node name",
    toml: `${HEAD}[[disk]]\nid = "abcdefghijklmnopqrstu"\npath = "/a"\n`,
    code: "CONFIG_BAD_ID",
    key: "disk[0].id",
    line: 6,
    message: /at most 20/,
  },
  {
    name: "bad id",
    toml: `${HEAD}[[disk]]\nid = "0disk"\npath = "/a"\n`,
    code: "CONFIG_BAD_ID",
    message: /expected an id/,
    key: "disk[0].id",
    line: 6,
  },
  // conflicts
  {
    name: "kernel and firmware",
    toml: '[vm]\nname = "t"\n[boot]\nkernel = "/k"\ncode = "/c"\n',
    code: "CONFIG_CONFLICT",
    message: /both a kernel and firmware/,
    key: "boot.code",
    line: 5,
  },
  {
    name: "aio native with writeback",
    toml: `${HEAD}[[disk]]\nid = "d"\npath = "/a"\naio = "native"\n`,
    code: "CONFIG_CONFLICT",
    message: /needs O_DIRECT/,
    key: "disk[0].aio",
    line: 8,
    hint: /cache = "none"/,
  },
  {
    name: "raw with backing",
    toml: `${HEAD}[[disk]]\nid = "d"\npath = "/a"\nbacking = [{ path = "/b" }]\n`,
    code: "CONFIG_CONFLICT",
    message: /raw image has no backing file/,
    key: "disk[0].backing",
    line: 8,
  },
  {
    name: "forward on a tap nic",
    toml: `${HEAD}[[nic]]\nid = "n"\nmode = "tap"\ntap = "t0"\nforward = [{ host_port = 1, guest_port = 1 }]\n`,
    code: "CONFIG_CONFLICT",
    message: /port forwards are for mode "user"/,
    key: "nic[0].forward",
    line: 9,
  },
  {
    name: "tap key on a user nic",
    toml: `${HEAD}[[nic]]\nid = "n"\ntap = "t0"\n`,
    code: "CONFIG_CONFLICT",
    message: /tap is for mode "tap"/,
    key: "nic[0].tap",
    line: 7,
  },
  {
    name: "virt on x86_64",
    toml: '[vm]\nname = "t"\nmachine = "virt"\n[boot]\nkernel = "/k"\n',
    code: "CONFIG_CONFLICT",
    message: /needs arch = "aarch64"/,
    key: "vm.machine",
    line: 3,
  },
  {
    name: "vhost-user on nvme",
    toml: `${HEAD}[[disk]]\nid = "d"\npath = "/a"\nbus = "nvme"\nbackend = "vhost-user"\n`,
    code: "CONFIG_CONFLICT",
    message: /vhost-user-blk device/,
    key: "disk[0].bus",
    line: 8,
  },
  {
    name: "boot_index with kernel boot",
    toml: `${HEAD}[[disk]]\nid = "a"\npath = "/a"\nboot_index = 0\n`,
    code: "CONFIG_CONFLICT",
    key: "disk[0].boot_index",
    line: 8,
    message: /only orders firmware boot/,
    hint: /remove boot_index/,
  },
  {
    name: "multicast mac",
    toml: `${HEAD}[[nic]]\nid = "n"\nmac = "01:00:5e:00:00:01"\n`,
    code: "CONFIG_INVALID",
    key: "nic[0].mac",
    line: 7,
    message: /multicast/,
  },
];

describe("config errors", () => {
  it.each(cases)("$name", (c) => {
    let err: unknown;
    try {
      parseConfig(c.toml, { source: "/cfg/vm.toml" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QemuJailError);
    const e = err as QemuJailError;
    expect(e.exit).toBe("config");
    expect(e.exitCode).toBe(3);
    expect(e.code).toBe(c.code);
    expect(e.message).toMatch(c.message ?? /./);
    expect(e.location?.file).toBe("/cfg/vm.toml");
    if (c.key !== undefined) expect(e.location?.key).toBe(c.key);
    if (c.line !== undefined) expect(e.location?.line).toBe(c.line);
    if (c.column !== undefined) expect(e.location?.column).toBe(c.column);
    if (c.hint) expect(e.hint).toMatch(c.hint);
    expect(e.render()).not.toMatch(/\n\s+at /);
  });

  it("reports every problem in detail.problems, unknown keys first", () => {
    try {
      parseConfig('[vm]\nnmae = "x"\ncpus = 0\n[boot]\nkernel = "/k"\n', { source: "v.toml" });
      expect.unreachable();
    } catch (e) {
      const err = e as QemuJailError;
      expect(err.code).toBe("CONFIG_UNKNOWN_KEY");
      const problems = err.detail?.problems as string[];
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(/^v\.toml:2:1: vm\.nmae: unknown key/);
    }
  });

  it("renders file:line:col: key: message and the hint", () => {
    try {
      parseConfig('[vm]\nname = "t"\ncpus = "2"\n[boot]\nkernel = "/k"\n', { source: "vm.toml" });
      expect.unreachable();
    } catch (e) {
      expect((e as QemuJailError).render()).toBe(
        'vm.toml:3:1: vm.cpus: expected a number, got the string "2"\n  hint: write 2 without quotes',
      );
    }
  });
});
