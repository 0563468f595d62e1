// The initramfs /init: a busybox shell prelude (mounts, modules), then the caller's script, then a
// marker line with its exit status and a forced power-off, so QEMU exits when the guest is done.

/** Lines the guest prints on its serial console; tests and the demo look for them. */
export const GUEST_MARKERS = {
  /** Printed once the prelude ran (mounts done, modules loaded). */
  ready: "QJ-GUEST-READY",
  /** Printed last as `QJ-GUEST-DONE rc=<n>` with the script's exit status. */
  done: "QJ-GUEST-DONE",
} as const;

/** Where the prelude finds the ordered list of modules to insmod, and the caller's script. */
export const INIT_PATHS = { modules: "etc/qj-modules", script: "etc/qj-script.sh" } as const;

/** The default checks: what the guest sees of its devices, printed with clear markers. */
export const DEFAULT_GUEST_SCRIPT = `echo "QJ-CHECK kernel=$(uname -r)"
echo "QJ-CHECK cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "QJ-CHECK mem_kb=$(awk '/MemTotal/ {print $2}' /proc/meminfo)"
for b in /sys/block/*; do [ -e "$b" ] && echo "QJ-CHECK block=\${b##*/} sectors=$(cat $b/size)"; done
for n in /sys/class/net/*; do [ -e "$n" ] && echo "QJ-CHECK net=\${n##*/}"; done
for p in /sys/class/virtio-ports/*; do [ -e "$p" ] && echo "QJ-CHECK port=\${p##*/} name=$(cat $p/name)"; done
[ -e /dev/hwrng ] && echo "QJ-CHECK hwrng=$(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
exit 0
`;

/**
 * The /init prelude (busybox sh). Runs the script in a child shell so its exit status is reported,
 * or, with `exec`, replaces PID 1 by it (for scripts that `switch_root`; they must power off).
 */
export function initScript(exec = false): string {
  const run = exec
    ? `exec sh /${INIT_PATHS.script}\n`
    : `sh /${INIT_PATHS.script}
rc=$?
echo "${GUEST_MARKERS.done} rc=$rc"
sync
poweroff -f
`;
  return `#!/bin/busybox sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /tmp /run
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
while read -r m; do [ -n "$m" ] && insmod "$m" 2>/dev/null; done < /${INIT_PATHS.modules}
echo "${GUEST_MARKERS.ready}"
${run}`;
}
