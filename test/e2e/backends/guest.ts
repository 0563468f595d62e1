// The backends e2e guest's checks (busybox sh), printed on the serial console as QJ-CHECK lines:
// two virtiofs shares (read-only and read-write, each served by its own jailed virtiofsd) and two
// vhost-user-blk disks (qcow2 and raw, each served by its own jailed qemu-storage-daemon).
// vhost-user-blk has no serial property: the disks are told apart by their sizes. The script ends
// waiting for the power button, so the test can look at the running jails and then stop the VM.

export const RO_TAG = "qjro";
export const RW_TAG = "qjrw";
/** Sizes in 512-byte sectors, as /sys/block/vdX/size shows them. */
export const QCOW2_SECTORS = 32768;
export const RAW_SECTORS = 16384;
/** uid/gid the guest gives a file in the rw share (virtiofsd serves files as their guest owners). */
export const CHOWN_TO = 4321;
/** The guest's error for a mode virtiofsd-rw's filter refuses (EPERM, busybox's wording). */
export const EPERM_TEXT = "Operation not permitted";
/** Offset (bytes) where the guest writes into each disk. */
export const WRITE_OFFSET = 8 * 512;

/** The guest's script; `token` makes every marker unique to the run. */
export function backendsScript(token: string): string {
  return `blk() { for b in /sys/block/vd*; do [ "$(cat $b/size)" = "$1" ] && echo /dev/\${b##*/}; done; }
mkdir -p /mnt/ro /mnt/rw
if mount -t virtiofs ${RO_TAG} /mnt/ro; then echo "QJ-CHECK ro-mount=ok"; else echo "QJ-CHECK ro-mount=failed"; fi
echo "QJ-CHECK ro-read=$(cat /mnt/ro/marker.txt)"
if echo x > /mnt/ro/guest.txt 2>/dev/null; then echo "QJ-CHECK ro-write=succeeded"; else echo "QJ-CHECK ro-write=denied"; fi
if mkdir /mnt/ro/d 2>/dev/null; then echo "QJ-CHECK ro-mkdir=succeeded"; else echo "QJ-CHECK ro-mkdir=denied"; fi
if mount -t virtiofs ${RW_TAG} /mnt/rw; then echo "QJ-CHECK rw-mount=ok"; else echo "QJ-CHECK rw-mount=failed"; fi
echo "QJ-CHECK rw-read=$(cat /mnt/rw/marker.txt)"
if echo "QJ-GUEST-FS-${token}" > /mnt/rw/guest.txt && sync; then echo "QJ-CHECK rw-write=ok"; else echo "QJ-CHECK rw-write=failed"; fi
if mkdir /mnt/rw/guest-dir && mv /mnt/rw/guest.txt /mnt/rw/guest-dir/guest.txt && ln -s guest-dir/guest.txt /mnt/rw/link; then echo "QJ-CHECK rw-ops=ok"; else echo "QJ-CHECK rw-ops=failed"; fi
echo "QJ-CHECK rw-readback=$(cat /mnt/rw/link)"
echo "QJ-CHECK rw-ls=$(ls /mnt/rw | tr '\\n' ' ')"
if echo owned > /mnt/rw/chowned.txt && chown ${CHOWN_TO}:${CHOWN_TO} /mnt/rw/chowned.txt; then echo "QJ-CHECK rw-chown=ok"; else echo "QJ-CHECK rw-chown=failed"; fi
if echo setid > /mnt/rw/setid.txt && chmod 755 /mnt/rw/setid.txt; then echo "QJ-CHECK rw-chmod=ok"; else echo "QJ-CHECK rw-chmod=failed"; fi
echo "QJ-CHECK rw-chmod-suid=$(chmod u+s /mnt/rw/setid.txt 2>&1 && echo succeeded)"
echo "QJ-CHECK rw-chmod-sgid=$(chmod g+s /mnt/rw/setid.txt 2>&1 && echo succeeded)"
echo "QJ-CHECK rw-setid-mode=$(stat -c %a /mnt/rw/setid.txt)"
mkdir -p /tmp && echo x > /tmp/suid && chmod 4755 /tmp/suid
echo "QJ-CHECK rw-create-suid=$(cp -p /tmp/suid /mnt/rw/suid-copy 2>&1 && echo succeeded)"
echo "QJ-CHECK rw-mknod-suid=$(mknod -m 4644 /mnt/rw/suid-fifo p 2>&1 && echo succeeded)"
umount /mnt/ro; umount /mnt/rw
Q=$(blk ${QCOW2_SECTORS}); R=$(blk ${RAW_SECTORS})
echo "QJ-CHECK disks=$Q,$R"
echo "QJ-CHECK qcow2-marker=$(head -c 64 $Q | tr -d '\\000' | head -n 1)"
echo "QJ-CHECK raw-marker=$(head -c 64 $R | tr -d '\\000' | head -n 1)"
if echo "QJ-GUEST-QCOW2-${token}" | dd of=$Q bs=512 seek=8 conv=notrunc,fsync 2>/dev/null; then echo "QJ-CHECK qcow2-write=ok"; else echo "QJ-CHECK qcow2-write=failed"; fi
if echo "QJ-GUEST-RAW-${token}" | dd of=$R bs=512 seek=8 conv=notrunc,fsync 2>/dev/null; then echo "QJ-CHECK raw-write=ok"; else echo "QJ-CHECK raw-write=failed"; fi
echo 3 > /proc/sys/vm/drop_caches
echo "QJ-CHECK qcow2-readback=$(dd if=$Q bs=512 skip=8 count=1 2>/dev/null | tr -d '\\000' | head -n 1)"
EV=""
for e in /sys/class/input/event*; do grep -q "Power Button" $e/device/name 2>/dev/null && EV=/dev/input/\${e##*/}; done
echo "QJ-CHECK waiting-for-powerdown event=$EV"
[ -n "$EV" ] && head -c 24 $EV >/dev/null && echo "QJ-CHECK powerdown=received"
exit 0
`;
}

/** QJ-CHECK key=value pairs from console output. */
export function checks(out: string): Record<string, string> {
  const r: Record<string, string> = {};
  for (const m of out.matchAll(/^QJ-CHECK (\S+?)=(.*)$/gm)) r[m[1]!] = m[2]!.trim();
  return r;
}
