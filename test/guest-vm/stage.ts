// Guest-side scripts of the runInGuest harness.
//
// Stage 1 runs from the busybox initramfs as PID 1: mount the host root (9p, read-only) under a
// tmpfs overlay, mount the control share, then switch_root into the overlay. A real switch_root,
// not a chroot, so path-based LSMs (AppArmor) see the paths the host would.
// Stage 2 runs as PID 1 on the host's own /bin/sh inside the new root: runs the command with its
// env and cwd, stdout/stderr to virtio-serial ports, writes the exit status, powers off.

/** 9p mount tags and virtio-serial port names shared by the host side and the guest scripts. */
export const TAGS = { root: "qjroot", ctl: "qjctl", stdout: "qj.stdout", stderr: "qj.stderr" } as const;

/** Marker printed on the serial console with the command's status. */
export const EXIT_MARKER = "QJ-EXIT";

export const CTL_IN_GUEST = "/run/qj";

const P9 = "trans=virtio,version=9p2000.L,msize=262144";

/** Where the SELinux policy sits in the initramfs when runInGuest's `selinux` option is on. */
export const SELINUX_POLICY_IN_INITRD = "/etc/qj-selinux-policy";

/** The domain stage 1 re-executes itself in after loading the policy (mounts then come from init_t). */
export const SELINUX_INIT_CONTEXT = "system_u:system_r:init_t:s0";

// SELinux (qj.selinux=1 on the kernel command line): load the policy in one write while PID 1 is
// still kernel_t, re-exec into init_t, and mount the host root with a fixed context= (host files
// carry no labels); the overlay gets metacopy=on so a chcon on a lower file copies up only its
// metadata. The kernel boots permissive (enforcing=0); the command switches to enforcing itself.
export const STAGE1 = `se=0; rootctx=
for a in $(cat /proc/cmdline); do
  case "$a" in qj.selinux=1) se=1 ;; qj.rootctx=*) rootctx="\${a#qj.rootctx=}" ;; esac
done
if [ "$se" = 1 ] && [ -z "$QJ_SE_LOADED" ]; then
  mount -t selinuxfs selinuxfs /sys/fs/selinux || { echo "QJ-STAGE1 failed: selinuxfs"; poweroff -f; }
  size=$(wc -c < ${SELINUX_POLICY_IN_INITRD})
  dd if=${SELINUX_POLICY_IN_INITRD} of=/sys/fs/selinux/load bs=$size count=1 2>/dev/null \
    || { echo "QJ-STAGE1 failed: policy load"; poweroff -f; }
  echo -n ${SELINUX_INIT_CONTEXT} > /proc/self/attr/exec
  export QJ_SE_LOADED=1
  exec sh /etc/qj-script.sh
fi
p9ctx=; ovlopt=
[ -n "$rootctx" ] && p9ctx=",context=$rootctx"
[ "$se" = 1 ] && ovlopt=",metacopy=on"
mkdir -p /lower /ovl /newroot
mount -t 9p -o ${P9},ro,cache=loose$p9ctx ${TAGS.root} /lower || { echo "QJ-STAGE1 failed: 9p root"; poweroff -f; }
mount -t tmpfs -o mode=0755 tmpfs /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work$ovlopt overlay /newroot \\
  || { echo "QJ-STAGE1 failed: overlay"; poweroff -f; }
# /tmp is NOT shadowed: the overlay already makes it writable, and a checkout under /tmp (as
# CI's fresh clones can be) must stay visible to the command.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p /newroot${CTL_IN_GUEST}
mount -t 9p -o ${P9} ${TAGS.ctl} /newroot${CTL_IN_GUEST} || { echo "QJ-STAGE1 failed: ctl"; poweroff -f; }
umount /dev/pts /tmp /run 2>/dev/null
for d in proc sys dev; do mount --move /$d /newroot/$d; done
exec switch_root /newroot /bin/sh ${CTL_IN_GUEST}/stage2.sh
`;

/** Stage 2 (POSIX sh, run by the host's dash). The command itself is in cmd.sh next to it. */
export const STAGE2 = `export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
out=/dev/null; err=/dev/null
for p in /sys/class/virtio-ports/*; do
  case "$(cat "$p/name" 2>/dev/null)" in
    ${TAGS.stdout}) out=/dev/\${p##*/} ;;
    ${TAGS.stderr}) err=/dev/\${p##*/} ;;
  esac
done
[ -f ${CTL_IN_GUEST}/setup.sh ] && . ${CTL_IN_GUEST}/setup.sh
( . ${CTL_IN_GUEST}/env.sh && cd "$(cat ${CTL_IN_GUEST}/cwd)" && exec /bin/sh ${CTL_IN_GUEST}/cmd.sh ) <>/dev/null >"$out" 2>"$err"
rc=$?
echo "$rc" > ${CTL_IN_GUEST}/exit
echo "${EXIT_MARKER} rc=$rc" > /dev/ttyS0
sync
/bin/busybox poweroff -f || echo o > /proc/sysrq-trigger
`;
