#!/usr/bin/python3
# Test-only loader: load a seccomp filter into the kernel, then exec the command. The real loader
# is the native helper; this one only exists so the fragments can be checked against a REAL
# kernel filter before the helper lands. Two ways to build the filter:
#   seccomp-exec.py POLICY.json -- cmd...   libseccomp (python3-seccomp) from a composed policy
#   seccomp-exec.py --bpf PROG.bin -- cmd... a raw program compiled by src/seccomp (compilePolicy)
# libseccomp lets an unconditional rule override conditional rules of another action for the
# same syscall, while qemu-jail's policies mean "conditional rules first, then the
# unconditional one" (e.g. io_uring_setup: ENOSYS unless aio=io_uring allows it). Such policies
# cannot be expressed for libseccomp: the loader refuses them and the test uses --bpf.
import ctypes, json, os, shutil, sys

import seccomp

ACTIONS = {
    "allow": lambda a: seccomp.ALLOW,
    "kill_process": lambda a: seccomp.KILL_PROCESS,
    "kill_thread": lambda a: seccomp.KILL,
    "trap": lambda a: seccomp.TRAP,
    "log": lambda a: seccomp.LOG,
    "errno": lambda a: seccomp.ERRNO(a["errno"]),
}
OPS = {"eq": seccomp.EQ, "ne": seccomp.NE, "lt": seccomp.LT, "le": seccomp.LE,
       "gt": seccomp.GT, "ge": seccomp.GE, "masked_eq": seccomp.MASKED_EQ}


def action(a):
    return ACTIONS[a["kind"]](a)


def load_bpf(path):
    prog = open(path, "rb").read()
    buf = ctypes.create_string_buffer(prog, len(prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, SYS_seccomp, SECCOMP_SET_MODE_FILTER = 38, 317, 1
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit(f"seccomp-exec: prctl(NO_NEW_PRIVS): errno {ctypes.get_errno()}")
    if libc.syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, ctypes.byref(fprog)) != 0:
        sys.exit(f"seccomp-exec: seccomp(SET_MODE_FILTER): errno {ctypes.get_errno()}")


def main():
    if sys.argv[1] == "--bpf":
        assert sys.argv[3] == "--", "usage: seccomp-exec.py --bpf PROG.bin -- command args..."
        argv = sys.argv[4:]
        exe = shutil.which(argv[0])
        if exe is None:
            sys.exit(f"seccomp-exec: {argv[0]} not found")
        load_bpf(sys.argv[2])
        os.execv(exe, argv)
    policy = json.load(open(sys.argv[1]))
    by_sys = {}
    for r in policy["rules"]:
        by_sys.setdefault(r["syscall"], []).append(r)
    for name, rules in by_sys.items():
        uncond = [r for r in rules if not r["args"]]
        if uncond and any(r["action"] != uncond[0]["action"] for r in rules):
            sys.exit(f"seccomp-exec: {name} mixes an unconditional rule with conditional rules of another action; libseccomp cannot express that (use --bpf)")
    assert sys.argv[2] == "--", "usage: seccomp-exec.py POLICY.json -- command args..."
    argv = sys.argv[3:]
    f = seccomp.SyscallFilter(defaction=action(policy["defaultAction"]))
    for r in policy["rules"]:
        conds = []
        for c in r["args"]:
            value = int(c["value"], 16)
            if c["op"] == "masked_eq":
                conds.append(seccomp.Arg(c["arg"], seccomp.MASKED_EQ, int(c["mask"], 16), value))
            else:
                conds.append(seccomp.Arg(c["arg"], OPS[c["op"]], value))
        f.add_rule(action(r["action"]), r["syscall"], *conds)
    exe = shutil.which(argv[0])
    if exe is None:
        sys.exit(f"seccomp-exec: {argv[0]} not found")
    f.load()
    os.execv(exe, argv)


main()
