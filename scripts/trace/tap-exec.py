#!/usr/bin/python3
# Attach to an existing tap device (as the launcher would), leave it open as fd 3 for QEMU's
# `-netdev tap,fd=3`, then exec the rest of the command line.
# usage: tap-exec.py TAPNAME -- command args...
import fcntl, os, struct, sys

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000

name = sys.argv[1]
assert sys.argv[2] == "--"
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.execvp(sys.argv[3], sys.argv[3:])
