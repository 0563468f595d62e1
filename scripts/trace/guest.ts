// A test guest for the trace harness and the policy validation tests, built with the guest
// module (src/guest: the host's Debian kernel as a PVH vmlinux, a busybox initramfs with the
// modules below). Its script exercises whatever devices the kernel command line names (qj.*),
// prints QJ-OK/QJ-FAIL lines and QJ-READY on the serial console, then waits for the ACPI power
// button (QMP system_powerdown) and powers off, so QEMU exits by itself.

import { buildGuest } from "../../src/guest/index.js";

/** The kernel and initramfs of a trace guest. */
export interface TraceGuest {
  kernel: string;
  initrd: string;
  version: string;
}

/** Modules the guest loads (with their dependencies): every device kind the scenarios use. */
const MODULES = [
  "virtio_pci",
  "virtio_blk",
  "virtio_net",
  "virtio_rng",
  "virtiofs",
  "virtio_scsi",
  "sd_mod",
  "nvme",
  "vmw_vsock_virtio_transport",
  "evdev",
  "button",
];

/** The guest's checks, driven by `qj.*` kernel parameters, then the wait for the power button. */
export const SCRIPT = `arg() { tr ' ' '\\n' < /proc/cmdline | sed -n "s/^qj\\.$1=//p"; }
ok() { echo "QJ-OK $1"; }
bad() { echo "QJ-FAIL $1"; }
waitfor() { i=0; while [ ! -e "$1" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; [ -e "$1" ]; }
echo "QJ-BOOTED"
d=$(arg disk)
if [ -n "$d" ]; then
  mode=$(arg diskmode)
  if waitfor /dev/$d; then
    if dd if=/dev/$d bs=512 count=1 2>/dev/null | grep -q QJDISK; then ok disk-read; else bad disk-read; fi
    dd if=/dev/$d of=/dev/null bs=64k count=32 2>/dev/null
    if [ "$mode" = ro ]; then
      if echo QJWRITE | dd of=/dev/$d bs=512 seek=8 conv=fsync 2>/dev/null; then bad disk-ro; else ok disk-ro; fi
    else
      if echo QJWRITE | dd of=/dev/$d bs=512 seek=8 conv=fsync 2>/dev/null; then ok disk-write; else bad disk-write; fi
    fi
    if [ "$mode" = discard ]; then
      if blkdiscard -o 1048576 -l 1048576 /dev/$d; then ok disk-discard; else bad disk-discard; fi
    fi
    again=$(arg again)
    if [ -n "$again" ]; then
      # QEMU's idle worker threads exit after 10 s: do I/O again so they are re-created.
      sleep "$again"
      echo 3 > /proc/sys/vm/drop_caches
      if dd if=/dev/$d bs=512 count=1 iflag=direct 2>/dev/null | grep -q QJDISK \
        && echo QJAGAIN | dd of=/dev/$d bs=512 seek=16 oflag=direct conv=fsync 2>/dev/null; then ok disk-again; else bad disk-again; fi
    fi
  else bad disk-present; fi
fi
n=$(arg net)
if [ -n "$n" ]; then
  if waitfor /sys/class/net/eth0; then
    ip link set lo up; ip link set eth0 up
    if [ "$n" = user ]; then
      ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
      (echo QJ-HOSTFWD | nc -l -p 8080 >/dev/null 2>&1 &)
      if echo QJ-GUEST-OUT | nc -w 3 10.0.2.2 $(arg port); then ok net-out; else bad net-out; fi
    else
      ip addr add 10.99.0.2/24 dev eth0
      if ping -c 2 -W 3 10.99.0.1 >/dev/null; then ok net-ping; else bad net-ping; fi
    fi
  else bad net-present; fi
fi
if [ "$(arg rng)" = 1 ]; then
  if [ "$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | wc -c)" = 32 ]; then ok rng; else bad rng; fi
fi
fs=$(arg fs)
if [ -n "$fs" ]; then
  mkdir -p /mnt
  o=rw; [ "$fs" = ro ] && o=ro
  if mount -t virtiofs -o $o share /mnt; then
    if grep -q QJFS /mnt/marker; then ok fs-read; else bad fs-read; fi
    ls -la /mnt >/dev/null
    if [ "$fs" = ro ]; then
      if echo x > /mnt/written 2>/dev/null; then bad fs-ro; else ok fs-ro; fi
    else
      if echo QJ-FS-WRITE > /mnt/written && mkdir /mnt/d && echo y > /mnt/d/f && mv /mnt/d/f /mnt/d/g \\
        && ln -s g /mnt/d/l && chmod 600 /mnt/d/g && rm -r /mnt/d && sync; then ok fs-write; else bad fs-write; fi
    fi
    umount /mnt
  else bad fs-mount; fi
fi
pb=""
for i in /sys/class/input/input*; do
  [ "$(cat $i/name 2>/dev/null)" = "Power Button" ] && pb=$(ls $i | grep '^event' | head -n 1)
done
echo "QJ-READY"
if [ -n "$pb" ]; then head -c 1 /dev/input/$pb >/dev/null; else sleep 30; fi
echo "QJ-POWERDOWN"
sync
poweroff -f
`;

/** Build the guest, caching its files under `dir` (removed by the caller). */
export function buildTraceGuest(dir: string): TraceGuest {
  const g = buildGuest({ script: SCRIPT, modules: MODULES, cacheDir: dir });
  return { kernel: g.kernel, initrd: g.initrd, version: g.kernelVersion };
}
