#!/usr/bin/python3
# Test helper: builds a filter with libseccomp (python3-seccomp) from a JSON description and
# writes the raw BPF programs. Usage: libseccomp-export.py < specs.json > programs.json
# stdin: a JSON list of specs; stdout: a JSON list of hex strings (the raw programs).
# spec: {"arch": "x86_64"|"aarch64", "default": ACTION, "optimize": 1|2,
#        "rules": [{"syscall": name, "action": ACTION, "args": [{"arg", "op", "value", "mask"?}]}]}
# ACTION: "allow" | "kill_process" | "kill_thread" | "trap" | "log" | "user_notif" | "errno:N"
import json
import sys

import seccomp as S


def action(a):
    if a.startswith("errno:"):
        return S.ERRNO(int(a[6:]))
    return {"allow": S.ALLOW, "kill_process": S.KILL_PROCESS, "kill_thread": S.KILL,
            "trap": S.TRAP, "log": S.LOG, "user_notif": S.NOTIFY}[a]


OPS = {"eq": S.EQ, "ne": S.NE, "lt": S.LT, "le": S.LE, "gt": S.GT, "ge": S.GE, "masked_eq": S.MASKED_EQ}


def build(spec, path):
    f = S.SyscallFilter(action(spec["default"]))
    if spec["arch"] == "aarch64":
        f.add_arch(S.Arch.AARCH64)
        f.remove_arch(S.Arch.NATIVE)
    f.set_attr(S.Attr.ACT_BADARCH, S.KILL_PROCESS)
    f.set_attr(S.Attr.CTL_OPTIMIZE, int(spec.get("optimize", 1)))
    for r in spec["rules"]:
        args = []
        for c in r.get("args", []):
            v = int(c["value"])
            if c["op"] == "masked_eq":
                args.append(S.Arg(c["arg"], S.MASKED_EQ, int(c["mask"]), v))
            else:
                args.append(S.Arg(c["arg"], OPS[c["op"]], v))
        f.add_rule_exactly(action(r["action"]), r["syscall"], *args)
    with open(path, "wb") as out:
        f.export_bpf(out)
    with open(path, "rb") as inp:
        return inp.read().hex()


def main():
    import os
    import tempfile
    specs = json.load(sys.stdin)
    with tempfile.TemporaryDirectory(prefix="qj-libseccomp-") as d:
        out = [build(s, os.path.join(d, "f.bpf")) for s in specs]
    json.dump(out, sys.stdout)


main()
