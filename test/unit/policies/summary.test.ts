// The strace summariser of the trace harness: calls counted once (also when unfinished), errors
// taken from the result (also of resumed calls), restricted arguments recorded, signals and exits.

import { describe, expect, it } from "vitest";
import { splitArgs, summariseStrace } from "../../../scripts/trace/summary.js";

describe("splitArgs", () => {
  it.each([
    ["1, 2, 3", ["1", "2", "3"]],
    ['3, "a, b", 4', ["3", '"a, b"', "4"]],
    ['"a \\" , b", 1', ['"a \\" , b"', "1"]],
    ["{flags=CLONE_VM, exit_signal=0}, 88", ["{flags=CLONE_VM, exit_signal=0}", "88"]],
    ["[{fd=3, events=POLLIN}], 1, -1", ["[{fd=3, events=POLLIN}]", "1", "-1"]],
    ["_IOC(_IOC_READ, 0x58, 0x1e, 0xc)", ["_IOC(_IOC_READ, 0x58, 0x1e, 0xc)"]],
  ])("%s", (input, want) => {
    expect(splitArgs(input)).toEqual(want);
  });
});

describe("summariseStrace", () => {
  const text = [
    '100 openat(AT_FDCWD, "/x", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)',
    '100 openat(AT_FDCWD, "/y", O_RDONLY) = 3',
    "101 futex(0x7f00000000, FUTEX_WAIT_PRIVATE, 0, NULL <unfinished ...>",
    "100 futex(0x7f00000000, FUTEX_WAKE_PRIVATE, 1) = 1",
    "101 <... futex resumed>) = -1 EAGAIN (Resource temporarily unavailable)",
    "100 ioctl(11, KVM_RUN, 0) = 0",
    "100 ioctl(3, TCGETS, 0x7ffc00000000) = -1 ENOTTY (Inappropriate ioctl for device)",
    "100 socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0) = 4",
    "100 clone(child_stack=0x7f0000000000, flags=CLONE_VM|CLONE_THREAD, parent_tid=[5]) = 102",
    "100 clone3({flags=CLONE_VM|CLONE_THREAD, child_tid=0x7f0, stack=0x7f1}, 88) = -1 ENOSYS (Function not implemented)",
    "100 mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000",
    '100 prctl(PR_SET_NAME, "worker") = 0',
    "102 --- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_TKILL} ---",
    "102 +++ exited with 0 +++",
    "100 +++ killed by SIGSYS +++",
  ].join("\n");
  const s = summariseStrace(text);

  it("counts each call once, including unfinished ones", () => {
    expect(s.syscalls.futex!.count).toBe(2);
    expect(s.syscalls.openat!.count).toBe(2);
  });

  it("records errors, also those of resumed calls", () => {
    expect(s.syscalls.openat!.errors).toEqual({ ENOENT: 1 });
    expect(s.syscalls.futex!.errors).toEqual({ EAGAIN: 1 });
    expect(s.syscalls.clone3!.errors).toEqual({ ENOSYS: 1 });
    expect(s.syscalls.ioctl!.errors).toEqual({ ENOTTY: 1 });
  });

  it("records the restricted arguments", () => {
    expect(s.args.ioctl).toEqual({ KVM_RUN: 1, TCGETS: 1 });
    expect(s.args.socket).toEqual({ "AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC, 0": 1 });
    expect(s.args.clone).toEqual({ "CLONE_VM|CLONE_THREAD": 1 });
    expect(s.args.clone3).toEqual({ "CLONE_VM|CLONE_THREAD": 1 });
    expect(s.args.mmap).toEqual({ "PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS": 1 });
    expect(s.args.futex).toEqual({ FUTEX_WAIT_PRIVATE: 1, FUTEX_WAKE_PRIVATE: 1 });
    expect(s.args.prctl).toEqual({ 'PR_SET_NAME, "worker"': 1 });
    expect(s.args.openat).toEqual({ "O_RDONLY|O_CLOEXEC": 1, O_RDONLY: 1 });
  });

  it("records signals and how tasks ended", () => {
    expect(s.signals).toEqual({ SIGUSR1: 1 });
    expect(s.exits).toEqual({ "exited with 0": 1, "killed by SIGSYS": 1 });
  });

  it("sorts keys so fixtures diff cleanly", () => {
    expect(Object.keys(s.syscalls)).toEqual([...Object.keys(s.syscalls)].sort());
  });
});
