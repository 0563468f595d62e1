// A minimal test guest for the trace harness and the policy validation tests: the host's Debian
// kernel (uncompressed vmlinux, booted via PVH because xz decompression under TCG costs seconds)
// and a busybox initramfs whose /init exercises whatever devices the kernel command line names,
// prints QJ-OK/QJ-FAIL lines and QJ-READY on the serial console, then waits for the ACPI power
// button (QMP system_powerdown) and powers off, so QEMU exits by itself.

import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

/** The kernel and initramfs of a trace guest. */
export interface TraceGuest {
  kernel: string;
  initrd: string;
  version: string;
}

/** Modules the guest insmods, in dependency order (the first of each name wins). */
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

/** Newest installed kernel version that has a vmlinuz and a module tree. */
export function kernelVersion(): string {
  const versions = readdirSync("/lib/modules").filter((v) => existsSync(`/boot/vmlinuz-${v}`));
  versions.sort();
  const v = versions.at(-1);
  if (!v) throw new Error("no /boot/vmlinuz-<v> with /lib/modules/<v>: install linux-image-amd64");
  return v;
}

/** Extract the ELF vmlinux from a bzImage whose payload is xz-compressed. */
function extractVmlinux(vmlinuz: string, out: string): void {
  const img = readFileSync(vmlinuz);
  const magic = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
  const at = img.indexOf(magic);
  if (at < 0) throw new Error(`${vmlinuz}: no xz payload found`);
  const elf = execFileSync("xz", ["-dc", "--single-stream"], {
    input: img.subarray(at),
    maxBuffer: 1 << 30,
  });
  writeFileSync(out, elf);
}

/** Module files to insmod for MODULES, resolved with modprobe --show-depends. */
function moduleFiles(version: string): string[] {
  const files: string[] = [];
  for (const m of MODULES) {
    const deps = execFileSync("modprobe", ["-S", version, "--show-depends", m], { encoding: "utf8" });
    for (const line of deps.split("\n")) {
      const f = /^insmod (\S+)/.exec(line)?.[1];
      if (f && !files.includes(f)) files.push(f);
    }
  }
  return files;
}

/** The guest's /init: checks driven by `qj.*` kernel parameters, then wait for the power button. */
export const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "/mods/$m" 2>/dev/null; done < /mods/order
arg() { tr ' ' '\\n' < /proc/cmdline | sed -n "s/^qj\\.$1=//p"; }
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

/** Build the guest into `dir` (kernel + initramfs). */
export function buildTraceGuest(dir: string): TraceGuest {
  const version = kernelVersion();
  const kernel = join(dir, "vmlinux");
  extractVmlinux(`/boot/vmlinuz-${version}`, kernel);
  const root = join(dir, "initramfs");
  for (const d of ["bin", "proc", "sys", "dev", "mods", "mnt", "tmp"])
    mkdirSync(join(root, d), { recursive: true });
  copyFileSync("/bin/busybox", join(root, "bin/busybox"));
  chmodSync(join(root, "bin/busybox"), 0o755);
  const order: string[] = [];
  for (const f of moduleFiles(version)) {
    const base = f.split("/").at(-1)!;
    copyFileSync(f, join(root, "mods", base));
    order.push(base);
  }
  writeFileSync(join(root, "mods/order"), `${order.join("\n")}\n`);
  writeFileSync(join(root, "init"), INIT, { mode: 0o755 });
  const initrd = join(dir, "initrd.cpio");
  execFileSync("sh", ["-c", `cd "${root}" && find . | cpio -o -H newc --quiet > "${initrd}"`]);
  return { kernel, initrd, version };
}
