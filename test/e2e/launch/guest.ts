// The e2e guest's checks (busybox sh), printed on the serial console as QJ-CHECK lines.
// Devices are found by what the config gave them (disk serials, NIC MACs), not by probe order.

export const RW_SERIAL = "qjrw";
export const RO_SERIAL = "qjro";
export const USER_MAC = "52:54:00:00:e2:01";
export const TAP_MAC = "52:54:00:00:e2:02";
/** Offset (bytes) where the guest writes into the rw disk. */
export const WRITE_OFFSET = 8 * 512;

/** The script: disks, user networking to the host's loopback, tap networking, then waits for the power button. */
export function e2eScript(token: string, hostPort: number, tapPeer: string, tapSelf: string): string {
  return `blk() { for b in /sys/block/vd*; do [ "$(cat $b/serial 2>/dev/null)" = "$1" ] && echo /dev/\${b##*/}; done; }
ifc() { for n in /sys/class/net/*; do [ "$(cat $n/address)" = "$1" ] && echo \${n##*/}; done; }
RW=$(blk ${RW_SERIAL}); RO=$(blk ${RO_SERIAL})
echo "QJ-CHECK rw-marker=$(head -c 64 $RW | tr -d '\\000' | head -n 1)"
echo "QJ-CHECK ro-marker=$(head -c 64 $RO | tr -d '\\000' | head -n 1)"
if echo "QJ-GUEST-WROTE-${token}" | dd of=$RW bs=512 seek=8 conv=notrunc,fsync 2>/dev/null; then echo "QJ-CHECK rw-write=ok"; else echo "QJ-CHECK rw-write=failed"; fi
if echo x | dd of=$RO bs=512 seek=8 conv=notrunc,fsync 2>/dev/null; then echo "QJ-CHECK ro-write=succeeded"; else echo "QJ-CHECK ro-write=denied"; fi
ip link set lo up
U=$(ifc ${USER_MAC}); T=$(ifc ${TAP_MAC})
ip link set $U up && ip addr add 10.0.2.15/24 dev $U && ip route add default via 10.0.2.2 dev $U
echo "QJ-CHECK user-net=$(echo hello | nc -w 10 10.0.2.2 ${hostPort} | head -n 1)"
ip link set $T up && ip addr add ${tapSelf}/24 dev $T
if ping -c 1 -W 10 ${tapPeer} >/dev/null 2>&1; then echo "QJ-CHECK tap-ping=ok"; else echo "QJ-CHECK tap-ping=failed"; fi
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
