#!/usr/bin/python3
# Hand pre-made unix sockets to a program as the launcher does, then exec it:
#   --listen PATH:FD   create a listening (blocking) unix socket bound to PATH, as fd FD
#   --connect PATH:FD  connect to the unix socket at PATH, as fd FD
# usage: fd-exec.py [--listen PATH:FD | --connect PATH:FD]... -- command args...
import os, socket, sys

args = sys.argv[1:]
keep = []
while args and args[0] != "--":
    opt, spec = args[0], args[1]
    args = args[2:]
    path, fd = spec.rsplit(":", 1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if opt == "--listen":
        s.bind(path)
        s.listen(4)
    elif opt == "--connect":
        s.connect(path)
    else:
        sys.exit(f"fd-exec: unknown option {opt}")
    keep.append(s)
    # Claim the target fd number first so a later socket cannot land on it.
    if s.fileno() != int(fd):
        os.dup2(s.fileno(), int(fd))  # dup2 makes the copy inheritable
    os.set_inheritable(int(fd), True)
if not args:
    sys.exit("usage: fd-exec.py [--listen PATH:FD | --connect PATH:FD]... -- command args...")
os.execvp(args[1], args[1:])
