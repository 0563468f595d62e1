// virtiofsd's command line per installed flavour (QEMU 7.2's C daemon, or the Rust one whose
// options differ) and the capabilities each share keeps: table-driven over ro/rw shares.

import { describe, expect, it } from "vitest";
import type { ShareConfig } from "../../../src/config/types.js";
import { SHARE_PATH, virtiofsdArgs, virtiofsdCaps } from "../../../src/devices/share.js";
import type { BackendBinaryFacts } from "../../../src/host/types.js";

const elf = {
  interpreter: "/lib64/ld-linux-x86-64.so.2",
  libraries: [],
} as unknown as BackendBinaryFacts["elf"];
const c: BackendBinaryFacts = { path: "/usr/lib/qemu/virtiofsd", flavour: "c", version: "7.2", elf };
const rust: BackendBinaryFacts = { path: "/usr/libexec/virtiofsd", flavour: "rust", version: "1.10", elf };
const share = (readonly: boolean): ShareConfig => ({ id: "s", path: "/srv/s", tag: "s", readonly });

describe("virtiofsd arguments per flavour", () => {
  it.each([
    {
      vfs: c,
      ro: false,
      has: ["--fd=3", "source=/shared", "sandbox=chroot", "--rlimit-nofile=0"],
      not: ["--readonly"],
    },
    { vfs: c, ro: true, has: ["--fd=3", "sandbox=chroot"], not: ["--readonly", "--shared-dir=/shared"] },
    {
      vfs: rust,
      ro: false,
      has: ["--fd=3", `--shared-dir=${SHARE_PATH}`, "--sandbox=chroot"],
      not: ["--readonly", "-o"],
    },
    { vfs: rust, ro: true, has: ["--fd=3", "--readonly", "--sandbox=chroot"], not: ["-o"] },
  ])("$vfs.flavour, readonly=$ro", ({ vfs, ro, has, not }) => {
    const argv = virtiofsdArgs(share(ro), vfs, 3);
    expect(argv[0]).toBe(vfs.path);
    const flat = argv.join(" ");
    for (const h of has) expect(flat).toContain(h);
    for (const n of not) expect(argv).not.toContain(n);
    // Device nodes and file capabilities are never created for a guest.
    expect(flat).toMatch(/-mknod/);
    expect(flat).toMatch(/-setfcap/);
  });
});

describe("capabilities a share's virtiofsd keeps", () => {
  it("read-only: reading any owner's files, its chroot, and libcap-ng's bounding-set drop; nothing that writes", () => {
    const names = virtiofsdCaps(share(true), "share[0]").map((x) => x.name);
    expect(names).toContain("CAP_DAC_READ_SEARCH");
    expect(names).toContain("CAP_SYS_CHROOT");
    for (const w of ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID"])
      expect(names).not.toContain(w);
  });

  it("read-write: serving files as their guest owners; never MKNOD, SETFCAP, SYS_ADMIN", () => {
    const caps = virtiofsdCaps(share(false), "share[0]");
    const names = caps.map((x) => x.name);
    for (const w of ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID"])
      expect(names).toContain(w);
    for (const n of ["CAP_MKNOD", "CAP_SETFCAP", "CAP_SYS_ADMIN", "CAP_DAC_READ_SEARCH"])
      expect(names).not.toContain(n);
    for (const x of caps) expect(x.need.item).toBe("share[0]");
  });
});
