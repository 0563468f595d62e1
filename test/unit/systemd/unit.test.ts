// The generated unit: golden text for the examples (placed at fixed paths, so the text does not
// depend on where the repo is checked out), and each derived setting against the config paths.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../src/config/parse.js";
import { isQemuJailError } from "../../../src/errors.js";
import { servicePaths } from "../../../src/systemd/paths.js";
import { defaultExec, systemdUnit, systemdWord, unitName } from "../../../src/systemd/unit.js";

const repo = join(import.meta.dirname, "..", "..", "..");
const EXEC = ["/usr/bin/node", "/opt/qemu-jail/bin/qemu-jail.js"];

function example(name: string, source = `/srv/vms/${name}.toml`) {
  return parseConfig(readFileSync(join(repo, "examples", `${name}.toml`), "utf8"), { source });
}

function config(toml: string, source = "/srv/vms/vm.toml") {
  return parseConfig(`[vm]\nname = "t"\n[boot]\nkernel = "/boot/vmlinuz"\n${toml}`, { source });
}

/** The values of `key=` lines, in order. */
function values(unit: string, key: string): string[] {
  return unit
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

describe("golden units", () => {
  for (const name of ["minimal", "full"]) {
    it(`examples/${name}.toml`, () => {
      const text = systemdUnit(example(name), { exec: EXEC });
      const file = join(import.meta.dirname, "golden", `${name}.service`);
      if (process.env.UPDATE_GOLDEN === "1") writeFileSync(file, text);
      expect(text).toBe(readFileSync(file, "utf8"));
    });
  }
});

describe("fixed settings", () => {
  const unit = systemdUnit(example("minimal"), { exec: EXEC });
  it.each([
    ["Type", "notify"],
    ["NotifyAccess", "all"],
    ["Delegate", "yes"],
    ["KillMode", "mixed"],
    ["Restart", "no"],
    ["StandardError", "journal"],
    ["SyslogIdentifier", "qemu-jail-minimal"],
    ["ProtectClock", "yes"],
    ["RestrictRealtime", "yes"],
    ["LockPersonality", "yes"],
    ["DevicePolicy", "closed"],
  ])("%s=%s", (k, v) => expect(values(unit, k)).toEqual([v]));

  it.each([
    "MemoryDenyWriteExecute",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "NoNewPrivileges",
    "PrivateDevices",
  ])("%s is not set (incompatible with the launcher)", (k) => expect(values(unit, k)).toEqual([]));

  it("keeps /dev/kmsg readable for the SIGSYS report", () => {
    expect(values(unit, "DeviceAllow")).toContain("/dev/kmsg r");
  });

  it("runs and garbage-collects this VM only, with absolute paths", () => {
    expect(values(unit, "ExecStart")[0]).toBe(
      "/usr/bin/node /opt/qemu-jail/bin/qemu-jail.js run --log-format json --powerdown-timeout 60 --quit-timeout 10 --qmp-timeout 60 /srv/vms/minimal.toml",
    );
    expect(values(unit, "ExecStopPost")[0]).toBe(
      "/usr/bin/node /opt/qemu-jail/bin/qemu-jail.js gc --state-dir /run/qemu-jail --name minimal",
    );
  });

  it("names the unit after the VM", () =>
    expect(unitName(example("minimal"))).toBe("qemu-jail-minimal.service"));
});

describe("derived settings", () => {
  it("TimeoutStopSec covers the launcher's whole escalation, TimeoutStartSec the QMP wait", () => {
    const u = systemdUnit(example("minimal"), {
      exec: EXEC,
      powerdownTimeout: 120,
      quitTimeout: 5,
      qmpTimeout: 20,
    });
    expect(values(u, "TimeoutStopSec")).toEqual([String(120 + 5 + 10 + 15)]);
    expect(values(u, "TimeoutStartSec")).toEqual([String(20 + 30)]);
    expect(values(u, "ExecStart")[0]).toContain("--powerdown-timeout 120 --quit-timeout 5 --qmp-timeout 20");
  });

  it("Restart is an option", () => {
    const u = systemdUnit(example("minimal"), { exec: EXEC, restart: "on-failure", restartSec: 7 });
    expect(values(u, "Restart")).toEqual(["on-failure"]);
    expect(values(u, "RestartSec")).toEqual(["7"]);
  });

  it.each([
    ["no home path", `[[disk]]\nid = "d"\npath = "/srv/d.raw"`, EXEC, "yes"],
    ["a rw image under /home", `[[disk]]\nid = "d"\npath = "/home/u/d.raw"`, EXEC, "read-only"],
    [
      "a share under /root",
      `[[share]]\nid = "s"\npath = "/root/src"\ntag = "s"\nreadonly = true`,
      EXEC,
      "read-only",
    ],
    ["node under /root", "", ["/root/.nvm/node", "/opt/q/bin/qemu-jail.js"], "read-only"],
  ])("ProtectHome with %s", (_, toml, exec, expected) => {
    expect(values(systemdUnit(config(toml), { exec }), "ProtectHome")).toEqual([expected]);
  });

  it("a rw image under /home is re-granted write access; a ro one is not", () => {
    const u = systemdUnit(
      config(
        `[[disk]]\nid = "a"\npath = "/home/u/a.raw"\n[[disk]]\nid = "b"\npath = "/home/u/b.raw"\nreadonly = true`,
      ),
      { exec: EXEC },
    );
    expect(values(u, "ReadWritePaths")).toEqual(["/home/u/a.raw"]);
  });

  it.each([
    ["/srv/vms/vm.toml", ["yes"]],
    ["/tmp/vms/vm.toml", []],
    ["/var/tmp/vm.toml", []],
  ])("PrivateTmp with the config at %s", (source, expected) => {
    expect(values(systemdUnit(config("", source), { exec: EXEC }), "PrivateTmp")).toEqual(expected);
  });

  it("ProtectKernelModules is left out when the kernel lives under /usr/lib/modules", () => {
    const c = parseConfig(`[vm]\nname = "t"\n[boot]\nkernel = "/usr/lib/modules/6.1/vmlinuz"\n`, {
      source: "/srv/vm.toml",
    });
    expect(values(systemdUnit(c, { exec: EXEC }), "ProtectKernelModules")).toEqual([]);
    expect(values(systemdUnit(config(""), { exec: EXEC }), "ProtectKernelModules")).toEqual(["yes"]);
  });

  it.each([
    ["", ["AF_UNIX"], ["/dev/kmsg r", "/dev/kvm rwm"]],
    [`[vm]\n`, ["AF_UNIX"], ["/dev/kmsg r", "/dev/kvm rwm"]],
    [`[[nic]]\nid = "n"\nmode = "user"`, ["AF_UNIX AF_INET AF_INET6"], ["/dev/kmsg r", "/dev/kvm rwm"]],
    [
      `[[nic]]\nid = "n"\nmode = "tap"\ntap = "qj0"\nvhost = true\n[vsock]\ncid = 3`,
      ["AF_UNIX AF_NETLINK"],
      ["/dev/kmsg r", "/dev/kvm rwm", "/dev/net/tun rw", "/dev/vhost-net rw", "/dev/vhost-vsock rw"],
    ],
  ])("address families and devices for %j", (toml, families, devs) => {
    const c = toml.startsWith("[vm]")
      ? parseConfig(`[vm]\nname = "t"\naccel = "auto"\n[boot]\nkernel = "/k"\n`)
      : config(toml);
    const u = systemdUnit(c, { exec: EXEC, configPath: "/srv/vm.toml" });
    expect(values(u, "RestrictAddressFamilies")).toEqual(families);
    expect(values(u, "DeviceAllow").slice(3)).toEqual(devs);
  });

  it("no /dev/kvm with accel = tcg", () => {
    const u = systemdUnit(config(`[vm]\n`.replace("[vm]\n", "")), { exec: EXEC });
    const tcg = parseConfig(`[vm]\nname = "t"\naccel = "tcg"\n[boot]\nkernel = "/k"\n`, {
      source: "/srv/t.toml",
    });
    expect(values(u, "DeviceAllow")).toContain("/dev/kvm rwm");
    expect(values(systemdUnit(tcg, { exec: EXEC }), "DeviceAllow")).not.toContain("/dev/kvm rwm");
  });

  it.each([
    ["/run/qemu-jail", "RuntimeDirectory", "qemu-jail"],
    ["/run/vms/jail", "RuntimeDirectory", "vms/jail"],
    ["/var/lib/qemu-jail", "StateDirectory", "qemu-jail"],
    ["/srv/state", "ReadWritePaths", "/srv/state"],
  ])("state_dir %s → %s=%s", (dir, key, v) => {
    const u = systemdUnit(config(`[jail]\nstate_dir = "${dir}"`), { exec: EXEC });
    expect(values(u, key)).toContain(v);
    expect(values(u, "ExecStopPost")[0]).toContain(`gc --state-dir ${dir} --name t`);
  });

  it("serial log and QMP socket dirs are writable, rw shares too, ro shares not", () => {
    const c = config(
      `[serial]\nmode = "file"\npath = "/var/log/vm/t.log"\n[qmp]\npath = "/srv/sock/qmp.sock"\n` +
        `[[share]]\nid = "a"\npath = "/srv/rw"\ntag = "a"\n[[share]]\nid = "b"\npath = "/srv/ro"\ntag = "b"\nreadonly = true`,
    );
    expect(values(systemdUnit(c, { exec: EXEC }), "ReadWritePaths")).toEqual([
      "/srv/rw",
      "/var/log/vm",
      "/srv/sock",
    ]);
    expect(servicePaths(c).find((p) => p.path === "/srv/ro")?.write).toBe(false);
  });
});

describe("quoting and refusals", () => {
  it.each([
    ["/usr/bin/node", "/usr/bin/node"],
    ["/srv/a b.toml", '"/srv/a b.toml"'],
    ["/srv/50%.toml", "/srv/50%%.toml"],
    ["/srv/$HOME.toml", '"/srv/$$HOME.toml"'],
    ['/srv/"q".toml', '"/srv/\\"q\\".toml"'],
  ])("%s → %s", (w, q) => expect(systemdWord(w)).toBe(q));

  it("refuses a control character in a path", () => {
    expect(() => systemdWord("/srv/a\nb")).toThrow(/control character/);
  });

  it("refuses a relative exec and a config without a file", () => {
    for (const f of [
      () => systemdUnit(config(""), { exec: ["node", "x"] }),
      () => systemdUnit(parseConfig(`[vm]\nname = "t"\n[boot]\nkernel = "/k"\n`), { exec: EXEC }),
    ]) {
      try {
        f();
        expect.unreachable();
      } catch (e) {
        expect(isQemuJailError(e) && e.exitCode).toBe(2);
      }
    }
  });

  it("the default command is this node and the package's bin/qemu-jail.js", () => {
    expect(defaultExec()).toEqual([process.execPath, join(repo, "bin", "qemu-jail.js")]);
  });
});

describe("SELinux relabelling", () => {
  const c = (lsm: string) =>
    config(
      `[[disk]]\nid = "a"\npath = "/srv/img/a.raw"\nreadonly = true\n[jail]\nlsm = "${lsm}"\n[qemu]\nbinary = "/usr/bin/qemu-system-x86_64"`,
    );
  it("with lsm = selinux, read-only inputs outside the OS tree become writable (chcon), OS files not", () => {
    const rw = values(systemdUnit(c("selinux"), { exec: EXEC }), "ReadWritePaths");
    expect(rw).toEqual(["/boot/vmlinuz", "/srv/img/a.raw"]);
  });
  it.each(["none", "apparmor", "auto"])("with lsm = %s (no relabel asked), they stay read-only", (lsm) => {
    expect(values(systemdUnit(c(lsm), { exec: EXEC }), "ReadWritePaths")).toEqual([]);
  });
  it("the option forces it for auto", () => {
    expect(
      values(systemdUnit(c("auto"), { exec: EXEC, selinuxRelabel: true }), "ReadWritePaths"),
    ).toHaveLength(2);
  });
});

describe("ReadWritePaths collapse", () => {
  it("paths below a writable dir are not listed again; each line is preceded by its config key", () => {
    const u = systemdUnit(
      config(
        `[[disk]]\nid = "a"\npath = "/srv/vm/a.raw"\n[serial]\nmode = "file"\npath = "/srv/vm/console.log"`,
      ),
      { exec: EXEC },
    );
    expect(values(u, "ReadWritePaths")).toEqual(["/srv/vm"]);
    expect(u).toContain("# serial.path\nReadWritePaths=/srv/vm\n");
  });
});
