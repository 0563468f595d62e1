/* `qemu-jail-helper --probe`: facts about the running kernel that Node cannot learn by itself,
 * one key=value per line. Read-only: it changes nothing. */
#include <errno.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "qj.h"

int qj_landlock_abi(void) {
  long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : (int)v;
}

static int action_avail(unsigned int action) {
  return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

static int syscall_exists(long nr) {
  /* Invalid arguments: a present syscall answers EBADF/EINVAL/EFAULT, an absent one ENOSYS. */
  errno = 0;
  long r = syscall(nr, -1, NULL, 0, 0, 0);
  return !(r < 0 && errno == ENOSYS);
}

int qj_probe(void) {
  int last = CAP_LAST_CAP;
  while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) last++;
  int seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
  int ll_errata = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, 1u << 1);
  printf("helper_spec_version=%u\n", QJ_SPEC_VERSION);
  printf("landlock_abi=%d\n", qj_landlock_abi());
  printf("landlock_errata=%d\n", ll_errata < 0 ? 0 : ll_errata);
  printf("seccomp_mode=%d\n", seccomp);
  printf("seccomp_filter=%d\n", action_avail(SECCOMP_RET_ALLOW));
  printf("seccomp_kill_process=%d\n", action_avail(SECCOMP_RET_KILL_PROCESS));
  printf("seccomp_log=%d\n", action_avail(SECCOMP_RET_LOG));
  printf("seccomp_user_notif=%d\n", action_avail(SECCOMP_RET_USER_NOTIF));
  printf("cap_last_cap=%d\n", last);
  printf("mount_api=%d\n", syscall_exists(SYS_mount_setattr) && syscall_exists(SYS_open_tree));
  printf("close_range=%d\n", syscall_exists(SYS_close_range));
  printf("clone3=%d\n", syscall_exists(SYS_clone3));
  printf("pidfd_open=%d\n", syscall_exists(SYS_pidfd_open));
  printf("userns=%d\n", access("/proc/self/ns/user", F_OK) == 0);
  printf("cgroupns=%d\n", access("/proc/self/ns/cgroup", F_OK) == 0);
  return 0;
}
