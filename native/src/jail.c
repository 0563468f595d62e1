/* The child side of the helper: it runs every stage of the jail, in this fixed order, then
 * execs the payload. The order is not policy, it is what makes each step safe:
 *   fds → cgroup → netns → unshare → idmap → propagation → root → proc → lsm → pivot → remount
 *   → rlimits → hostname → creds → pdeathsig → cwd → nnp → landlock → seccomp → exec
 * Any failure writes one "fail ..." line and exits; nothing it did is visible on the host:
 * mounts live in the new mount namespace (made private/slave before the first mount), cgroup
 * membership ends with the process, and nothing is created outside the new root. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/securebits.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "qj.h"


static struct qj_child_ctx *cx;

void qj_maybe_fail(const struct qj_spec *spec, const char *stage) {
#ifdef QJ_TEST
  /* Test builds only: be killed (or stopped) right after a stage, as a crash would. As pid 1 of
   * its namespace the child cannot signal itself (the kernel drops it), so it asks its parent,
   * whose signals come from an ancestor namespace and are always delivered. */
  if (!spec->fail_after || strcmp(spec->fail_after, stage)) return;
  if (!cx) raise(spec->fail_mode ? SIGSTOP : SIGKILL);
  char c = spec->fail_mode ? 'S' : 'K';
  if (write(cx->to_parent, &c, 1) != 1) _exit(QJ_EXIT_STAGE);
  for (;;) pause();
#else
  (void)spec, (void)stage;
#endif
}

static void done(const struct qj_spec *s, const char *stage) {
  qj_stage_ok(stage);
  qj_maybe_fail(s, stage);
}

/* Tell the parent we failed (it then waits for our exit), then exit. */
static void tell_parent_failed(void) {
  char f = 'F';
  if (write(cx->to_parent, &f, 1) < 0) { /* the status line already says why */ }
}

#define FAIL(stage, op, path)                                  \
  do {                                                         \
    int e_ = errno;                                            \
    tell_parent_failed();                                      \
    qj_die(stage, op, path, e_, QJ_EXIT_STAGE);                \
  } while (0)

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* fds: move the helper's own fds above every requested number (close-on-exec), put each kept fd
 * at its requested number, close everything else. Stray fds never reach the payload. */
static void stage_fds(struct qj_spec *s) {
  int base = 3;
  for (int i = 0; i < s->nfds; i++) {
    if (s->fds[i].dst + 1 > base) base = s->fds[i].dst + 1;
    if (s->fds[i].src + 1 > base) base = s->fds[i].src + 1;
  }
  /* Sources first (one fd may be both a source and an internal one), then our own fds; the
   * originals are closed below with everything else not kept. */
  int keep[5 + QJ_MAX_CGROUPS + QJ_MAX_FDS], nk = 0;
  int tmp[QJ_MAX_FDS];
  for (int i = 0; i < s->nfds; i++) {
    tmp[i] = fcntl(s->fds[i].src, F_DUPFD_CLOEXEC, base);
    if (tmp[i] < 0) {
      char p[32];
      snprintf(p, sizeof p, "fd:%d", s->fds[i].src);
      FAIL("fds", "dup", p);
    }
    keep[nk++] = tmp[i];
  }
  int *internal[5 + QJ_MAX_CGROUPS];
  int ni = 0;
  internal[ni++] = &cx->status_fd;
  internal[ni++] = &cx->to_parent;
  internal[ni++] = &cx->from_parent;
  if (cx->netns_fd >= 0) internal[ni++] = &cx->netns_fd;
  if (cx->exec_fd >= 0) internal[ni++] = &cx->exec_fd;
  for (int i = 0; i < s->ncgroups; i++) internal[ni++] = &cx->cgroup_fds[i];
  for (int i = 0; i < ni; i++) {
    int nfd = fcntl(*internal[i], F_DUPFD_CLOEXEC, base);
    if (nfd < 0) FAIL("fds", "dup", "internal");
    *internal[i] = keep[nk++] = nfd;
  }
  qj_status_init(cx->status_fd);
  /* Close every fd not in keep[]. */
  qsort(keep, (size_t)nk, sizeof keep[0], cmp_int);
  unsigned int from = 0;
  for (int i = 0; i < nk; i++) {
    if ((unsigned int)keep[i] > from) close_range(from, (unsigned int)keep[i] - 1, 0);
    from = (unsigned int)keep[i] + 1;
  }
  close_range(from, ~0u, 0);
  for (int i = 0; i < s->nfds; i++) {
    if (dup2(tmp[i], s->fds[i].dst) < 0) FAIL("fds", "dup2", "fd");
    close(tmp[i]);
  }
  /* Never start a payload with 0/1/2 closed: a later open() would land there. */
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int n = open("/dev/null", O_RDWR);
    if (n < 0) FAIL("fds", "open", "/dev/null");
    if (n != fd) {
      if (dup2(n, fd) < 0) FAIL("fds", "dup2", "/dev/null");
      close(n);
    }
  }
  done(s, "fds");
}

/* cgroup: the parent opened each cgroup.procs before forking; writing "0" moves this process.
 * Done before unsharing the cgroup namespace (so its root is the jail's cgroup) and before the
 * payload exists, so nothing the payload does is ever accounted elsewhere. */
static void stage_cgroup(struct qj_spec *s) {
  if (!s->ncgroups) return;
  for (int i = 0; i < s->ncgroups; i++) {
    if (write(cx->cgroup_fds[i], "0", 1) != 1) FAIL("cgroup", "write-cgroup.procs", s->cgroups[i]);
    close(cx->cgroup_fds[i]);
  }
  done(s, "cgroup");
}

static void stage_netns(struct qj_spec *s) {
  if (cx->netns_fd < 0) return;
  /* Before unsharing a user namespace: joining needs CAP_SYS_ADMIN over the netns's owner. */
  if (setns(cx->netns_fd, CLONE_NEWNET) < 0) FAIL("netns", "setns", s->netns_path ? s->netns_path : "fd");
  close(cx->netns_fd);
  done(s, "netns");
}

static void stage_unshare(struct qj_spec *s) {
  int flags = 0;
  if (s->ns & QJ_NS_MOUNT) flags |= CLONE_NEWNS;
  if (s->ns & QJ_NS_NET) flags |= CLONE_NEWNET;
  if (s->ns & QJ_NS_IPC) flags |= CLONE_NEWIPC;
  if (s->ns & QJ_NS_UTS) flags |= CLONE_NEWUTS;
  if (s->ns & QJ_NS_CGROUP) flags |= CLONE_NEWCGROUP;
  if (s->ns & QJ_NS_USER) flags |= CLONE_NEWUSER;
  /* The pid namespace was unshared by the parent before fork: we are its pid 1. */
  if (flags && unshare(flags) < 0) FAIL("unshare", "unshare", "-");
  done(s, "unshare");
  if (!(s->ns & QJ_NS_USER)) return;
  /* Only the parent (in the parent user namespace) may map our ids onto unprivileged host ids. */
  char c = 'U';
  if (write(cx->to_parent, &c, 1) != 1) FAIL("idmap", "notify-parent", "-");
  if (read(cx->from_parent, &c, 1) != 1 || c != '1') {
    errno = EPERM;
    FAIL("idmap", "parent-map", "-");
  }
  /* Become the namespace's root (mapped to an unprivileged host id) to build the root. */
  if (setresgid(0, 0, 0) < 0) FAIL("idmap", "setresgid", "0");
  if (setresuid(0, 0, 0) < 0) FAIL("idmap", "setresuid", "0");
  done(s, "idmap");
}

static void stage_propagation(struct qj_spec *s) {
  if (!(s->ns & QJ_NS_MOUNT)) return;
  /* First thing in the new mount namespace, before any mount: nothing may propagate back. */
  unsigned long mode = s->propagation_slave ? MS_SLAVE : MS_PRIVATE;
  if (mount(NULL, "/", NULL, MS_REC | mode, NULL) < 0) FAIL("propagation", "mount", "/");
  done(s, "propagation");
}

/* Filesystems the helper made itself (the root tmpfs, TMPFS entries): the only places it may
 * create or change anything. A directory bound from the host is never written to, even when it
 * is bound rw: a mount point missing there is an error, not a new file on the host. */
static dev_t own_devs[QJ_MAX_ROOT_OPS + 1];
static int n_own;

static void add_own(int dirfd, const char *leaf, const char *path) {
  struct stat st;
  if (fstatat(dirfd, leaf, &st, leaf[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) < 0) FAIL("root", "stat", path);
  own_devs[n_own++] = st.st_dev;
}

static void require_own(int dirfd, const char *path) {
  struct stat st;
  if (fstat(dirfd, &st) < 0) FAIL("root", "stat", path);
  for (int i = 0; i < n_own; i++)
    if (own_devs[i] == st.st_dev) return;
  errno = EXDEV;
  FAIL("root", "create-in-bind", path);
}

/* Whether parent/leaf exists (never following a symlink). */
static int exists_at(int parent, const char *leaf) {
  struct stat st;
  return fstatat(parent, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Walk `path` below `rootfd` one component at a time, never following a symlink, creating
 * missing directories (0755) on the helper's own filesystems only. Returns an O_PATH fd of the
 * parent and points *leaf at the last component. */
static int open_parent(int rootfd, const char *path, const char **leaf, const char *stage) {
  char buf[QJ_STR_MAX + 1];
  snprintf(buf, sizeof buf, "%s", path + 1);
  char *last = strrchr(buf, '/');
  *leaf = strrchr(path, '/') + 1;
  int dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
  if (dfd < 0) FAIL(stage, "dup", path);
  if (!last) return dfd;
  *last = 0;
  for (char *c = buf, *next; c; c = next) {
    next = strchr(c, '/');
    if (next) *next++ = 0;
    if (!exists_at(dfd, c)) {
      require_own(dfd, path);
      if (mkdirat(dfd, c, 0755) < 0) FAIL(stage, "mkdir", path);
    }
    int nfd = openat(dfd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0) FAIL(stage, "open-parent", path);
    close(dfd);
    dfd = nfd;
  }
  return dfd;
}

static void mount_attrs(int tree, uint64_t attrs, int priv, const char *path) {
  struct mount_attr a = {.attr_set = attrs, .propagation = priv ? MS_PRIVATE : 0};
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof a) < 0) FAIL("root", "mount_setattr", path);
}

/* Bind a host path into the root, step 1 (before the root tmpfs hides anything): open the
 * source O_PATH|O_NOFOLLOW (a symlink as last component is refused; a swap after the check
 * cannot redirect the mount: we clone the very inode we checked), check its type against the
 * declaration (a "file" is a regular file: no sockets, devices or fifos), clone it as a
 * detached mount and give the clone its flags before it can ever be visible. */
static int bind_prepare(struct qj_spec *s, struct qj_rootop *op) {
  int src = open(op->source, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0) FAIL("root", "open-source", op->source);
  struct stat st;
  if (fstat(src, &st) < 0) FAIL("root", "stat-source", op->source);
  if (S_ISLNK(st.st_mode)) {
    errno = ELOOP;
    FAIL("root", "source-is-symlink", op->source);
  }
  int want_dir = !!(op->flags & QJ_BIND_DIR);
  if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    errno = want_dir ? ENOTDIR : (S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    FAIL("root", "source-type", op->source);
  }
  int tree = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0) FAIL("root", "open_tree", op->source);
  close(src);
  uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (!(op->flags & QJ_BIND_RW)) attrs |= MOUNT_ATTR_RDONLY;
  if (!(op->flags & QJ_BIND_EXEC)) attrs |= MOUNT_ATTR_NOEXEC;
  mount_attrs(tree, attrs, !s->propagation_slave, op->source);
  return tree;
}

/* Step 2: create the mount point inside the new root and attach the prepared clone there. */
static void bind_attach(int rootfd, struct qj_rootop *op, int tree) {
  const char *leaf;
  int parent = open_parent(rootfd, op->path, &leaf, "root");
  if (!exists_at(parent, leaf)) {
    require_own(parent, op->path);
    if (op->flags & QJ_BIND_DIR) {
      if (mkdirat(parent, leaf, 0755) < 0) FAIL("root", "mkdir", op->path);
    } else {
      int f = openat(parent, leaf, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (f < 0) FAIL("root", "create", op->path);
      close(f);
    }
  }
  if (move_mount(tree, "", parent, leaf, MOVE_MOUNT_F_EMPTY_PATH) < 0) FAIL("root", "move_mount", op->path);
  close(tree), close(parent);
}

/* A new tmpfs (fsopen/fsmount), attached at parent/leaf. */
static void new_tmpfs(int parent, const char *leaf, uint32_t mode, uint32_t uid, uint32_t gid, uint64_t size,
                      uint64_t attrs, const char *path) {
  char v[32];
  int fs = fsopen("tmpfs", FSOPEN_CLOEXEC);
  if (fs < 0) FAIL("root", "fsopen", path);
  snprintf(v, sizeof v, "%o", mode);
  if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", v, 0) < 0) FAIL("root", "fsconfig-mode", path);
  snprintf(v, sizeof v, "%u", uid);
  if (fsconfig(fs, FSCONFIG_SET_STRING, "uid", v, 0) < 0) FAIL("root", "fsconfig-uid", path);
  snprintf(v, sizeof v, "%u", gid);
  if (fsconfig(fs, FSCONFIG_SET_STRING, "gid", v, 0) < 0) FAIL("root", "fsconfig-gid", path);
  if (size) {
    snprintf(v, sizeof v, "%llu", (unsigned long long)size);
    if (fsconfig(fs, FSCONFIG_SET_STRING, "size", v, 0) < 0) FAIL("root", "fsconfig-size", path);
  }
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) FAIL("root", "fsconfig-create", path);
  int m = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned int)attrs);
  if (m < 0) FAIL("root", "fsmount", path);
  if (move_mount(m, "", parent, leaf, MOVE_MOUNT_F_EMPTY_PATH) < 0) FAIL("root", "move_mount", path);
  close(m), close(fs);
}

static int top_fd = -1; /* the root tmpfs itself; the jail's "/" is its "root" subdirectory */

static int stage_root(struct qj_spec *s) {
  if (!s->have_root) return -1;
  /* Open and clone every bind source first: the root tmpfs may be mounted over a directory
   * that holds sources (e.g. /tmp). One fd per bind: make room for them. */
  struct rlimit nofile, raised;
  int restore = getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max;
  if (restore) {
    raised = (struct rlimit){nofile.rlim_max, nofile.rlim_max};
    setrlimit(RLIMIT_NOFILE, &raised);
  }
  int *trees = calloc((size_t)s->nops + 1, sizeof *trees);
  if (!trees) FAIL("root", "malloc", "-");
  for (int i = 0; i < s->nops; i++)
    if (s->ops[i].type == QJ_BIND) trees[i] = bind_prepare(s, &s->ops[i]);
  /* The root tmpfs is mounted over an existing dir, inside our private mount namespace only.
   * nodev only when no device node is listed (mknod'ed nodes need a dev-capable mount); it is
   * remounted read-only after pivot_root, and the payload has no CAP_MKNOD. */
  uint64_t attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | (s->have_mknod ? 0 : MOUNT_ATTR_NODEV);
  new_tmpfs(AT_FDCWD, s->root_mountpoint, s->root_mode, 0, 0, s->root_size, attrs, s->root_mountpoint);
  top_fd = open(s->root_mountpoint, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (top_fd < 0) FAIL("root", "open", s->root_mountpoint);
  /* The jail's "/" is a subdirectory of the tmpfs: after pivot_root the payload is chroot'ed
   * into it, and a chroot'ed process may not create user namespaces (unshare/clone
   * CLONE_NEWUSER fail with EPERM) — an attack surface closed without relying on seccomp. */
  add_own(top_fd, "", s->root_mountpoint);
  if (mkdirat(top_fd, "root", s->root_mode) < 0 || fchmodat(top_fd, "root", s->root_mode, 0) < 0)
    FAIL("root", "mkdir", "/");
  int rootfd = openat(top_fd, "root", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) FAIL("root", "open", "/");
  for (int i = 0; i < s->nops; i++) {
    struct qj_rootop *op = &s->ops[i];
    const char *leaf;
    int parent;
    switch (op->type) {
    case QJ_BIND:
      bind_attach(rootfd, op, trees[i]);
      break;
    case QJ_MKDIR:
      parent = open_parent(rootfd, op->path, &leaf, "root");
      require_own(parent, op->path);
      if (mkdirat(parent, leaf, op->mode) < 0 && errno != EEXIST) FAIL("root", "mkdir", op->path);
      if (fchmodat(parent, leaf, op->mode, 0) < 0) FAIL("root", "chmod", op->path);
      close(parent);
      break;
    case QJ_SYMLINK:
      parent = open_parent(rootfd, op->path, &leaf, "root");
      require_own(parent, op->path);
      if (symlinkat(op->source, parent, leaf) < 0) FAIL("root", "symlink", op->path);
      close(parent);
      break;
    case QJ_TMPFS:
      parent = open_parent(rootfd, op->path, &leaf, "root");
      if (!exists_at(parent, leaf)) {
        require_own(parent, op->path);
        if (mkdirat(parent, leaf, 0755) < 0) FAIL("root", "mkdir", op->path);
      }
      new_tmpfs(parent, leaf, op->mode, op->uid, op->gid, op->size,
                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, op->path);
      add_own(parent, leaf, op->path);
      close(parent);
      break;
    case QJ_MKNOD: {
      parent = open_parent(rootfd, op->path, &leaf, "root");
      require_own(parent, op->path);
      mode_t t = op->devtype == 'c' ? S_IFCHR : S_IFBLK;
      if (mknodat(parent, leaf, t | op->mode, makedev(op->major, op->minor)) < 0) FAIL("root", "mknod", op->path);
      if (fchownat(parent, leaf, op->uid, op->gid, AT_SYMLINK_NOFOLLOW) < 0) FAIL("root", "chown", op->path);
      close(parent);
      break;
    }
    }
  }
  free(trees);
  if (restore) setrlimit(RLIMIT_NOFILE, &nofile); /* the payload gets the RLIMIT records' limits only */
  done(s, "root");
  return rootfd;
}

static void stage_proc(struct qj_spec *s, int rootfd) {
  if (!s->have_proc) return;
  static const char *const hide[] = {"off", "noaccess", "invisible", "", "ptraceable"};
  const char *leaf;
  int parent = open_parent(rootfd, s->proc_path, &leaf, "proc");
  if (!exists_at(parent, leaf)) {
    require_own(parent, s->proc_path);
    if (mkdirat(parent, leaf, 0555) < 0) FAIL("proc", "mkdir", s->proc_path);
  }
  int fs = fsopen("proc", FSOPEN_CLOEXEC);
  if (fs < 0) FAIL("proc", "fsopen", s->proc_path);
  if (fsconfig(fs, FSCONFIG_SET_STRING, "hidepid", hide[s->proc_hidepid], 0) < 0)
    FAIL("proc", "fsconfig-hidepid", s->proc_path);
  if ((s->proc_flags & QJ_PROC_SUBSET_PID) && fsconfig(fs, FSCONFIG_SET_STRING, "subset", "pid", 0) < 0)
    FAIL("proc", "fsconfig-subset", s->proc_path);
  if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) FAIL("proc", "fsconfig-create", s->proc_path);
  int m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  if (m < 0) FAIL("proc", "fsmount", s->proc_path);
  if (move_mount(m, "", parent, leaf, MOVE_MOUNT_F_EMPTY_PATH) < 0) FAIL("proc", "move_mount", s->proc_path);
  close(m), close(fs), close(parent);
  done(s, "proc");
}

static void write_attr(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) FAIL("lsm", "open", path);
  ssize_t n = write(fd, value, strlen(value));
  if (n != (ssize_t)strlen(value)) FAIL("lsm", "write", path);
  close(fd);
}

/* LSM exec labels apply at execve; written now, while the host /proc is still reachable. */
static void stage_lsm(struct qj_spec *s) {
  if (!s->selinux_exec && !s->apparmor_exec) return;
  if (s->selinux_exec) write_attr("/proc/thread-self/attr/exec", s->selinux_exec);
  if (s->apparmor_exec) {
    char v[QJ_STR_MAX + 8];
    snprintf(v, sizeof v, "exec %s", s->apparmor_exec);
    if (access("/proc/thread-self/attr/apparmor/exec", F_OK) == 0)
      write_attr("/proc/thread-self/attr/apparmor/exec", v);
    else
      write_attr("/proc/thread-self/attr/exec", v);
  }
  done(s, "lsm");
}

static void stage_pivot(struct qj_spec *s, int rootfd) {
  if (rootfd < 0) return;
  /* pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then removes
   * the whole old tree from this namespace, with no directory for it inside the new root. */
  if (fchdir(top_fd) < 0) FAIL("pivot", "fchdir", s->root_mountpoint);
  if (syscall(SYS_pivot_root, ".", ".") < 0) FAIL("pivot", "pivot_root", s->root_mountpoint);
  if (umount2(".", MNT_DETACH) < 0) FAIL("pivot", "umount-old-root", "/");
  if (chdir("/") < 0) FAIL("pivot", "chdir", "/");
  close(rootfd), close(top_fd);
  done(s, "pivot");
  /* Read-only root (mount_setattr needs the mount's root: before the chroot), then the chroot
   * into the jail's "/" (see stage_root). */
  struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
  if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof a) < 0) FAIL("remount", "mount_setattr", "/");
  if (chroot("root") < 0) FAIL("remount", "chroot", "/root");
  if (chdir("/") < 0) FAIL("remount", "chdir", "/");
  done(s, "remount");
}

static void stage_rlimits(struct qj_spec *s) {
  if (!s->nrlimits) return;
  for (int i = 0; i < s->nrlimits; i++) {
    struct qj_rlimit *l = &s->rlimits[i];
    struct rlimit rl = {l->soft == QJ_RLIM_INF ? RLIM_INFINITY : l->soft,
                        l->hard == QJ_RLIM_INF ? RLIM_INFINITY : l->hard};
    if (setrlimit((__rlimit_resource_t)l->resource, &rl) < 0) {
      char p[24];
      snprintf(p, sizeof p, "resource:%u", l->resource);
      FAIL("rlimits", "setrlimit", p);
    }
  }
  done(s, "rlimits");
}

static void stage_hostname(struct qj_spec *s) {
  if (!s->hostname) return;
  if (sethostname(s->hostname, strlen(s->hostname)) < 0) FAIL("hostname", "sethostname", s->hostname);
  done(s, "hostname");
}

static int last_cap(void) {
  int last = CAP_LAST_CAP;
  /* The running kernel may know more capabilities than our headers: probe upward. */
  while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0) last++;
  return last;
}

/* creds: the privilege drop. Order matters:
 *  1. securebits first (needs CAP_SETPCAP): NOROOT so a uid 0 exec grants nothing,
 *     NO_SETUID_FIXUP so we decide the capability sets ourselves, all locked;
 *  2. the bounding set (needs CAP_SETPCAP) and the ambient set;
 *  3. supplementary groups, then gid, then uid (gid first: after setuid we could not);
 *  4. every capability set to exactly the kept mask (normally empty);
 *  5. ambient raise of kept capabilities, so they survive execve as a non-root uid;
 *  6. verify: the kernel must report what we asked for. */
static void stage_creds(struct qj_spec *s) {
  /* Always: a payload never keeps a capability it was not given, even without an IDS record. */
  uint64_t keep = s->caps_keep;
  int last = last_cap();
  unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                       SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
  if (!keep) bits |= SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0) FAIL("creds", "securebits", "-");
  for (int c = 0; c <= last; c++)
    if (!(keep >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) FAIL("creds", "capbset-drop", "-");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) FAIL("creds", "ambient-clear", "-");
  if (s->have_ids) {
    gid_t groups[QJ_MAX_GROUPS];
    for (int i = 0; i < s->ngroups; i++) groups[i] = s->groups[i];
    if (setgroups((size_t)s->ngroups, groups) < 0) FAIL("creds", "setgroups", "-");
    if (setresgid(s->gid, s->gid, s->gid) < 0) FAIL("creds", "setresgid", "-");
    if (setresuid(s->uid, s->uid, s->uid) < 0) FAIL("creds", "setresuid", "-");
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {{0}};
  for (int i = 0; i < 2; i++) {
    uint32_t m = (uint32_t)(keep >> (32 * i));
    data[i].effective = data[i].permitted = data[i].inheritable = m;
  }
  if (syscall(SYS_capset, &hdr, data) < 0) FAIL("creds", "capset", "-");
  for (int c = 0; c <= last; c++)
    if ((keep >> c & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
      FAIL("creds", "ambient-raise", "-");
  /* Verify. */
  uid_t r, e, sv;
  gid_t gr, ge, gs;
  struct __user_cap_data_struct got[2];
  if (s->have_ids && (getresuid(&r, &e, &sv) < 0 || r != s->uid || e != s->uid || sv != s->uid ||
      getresgid(&gr, &ge, &gs) < 0 || gr != s->gid || ge != s->gid || gs != s->gid)) {
    errno = EPERM;
    FAIL("creds", "verify-ids", "-");
  }
  if (syscall(SYS_capget, &hdr, got) < 0) FAIL("creds", "capget", "-");
  for (int i = 0; i < 2; i++) {
    uint32_t m = (uint32_t)(keep >> (32 * i));
    if (got[i].effective != m || got[i].permitted != m || got[i].inheritable != m) {
      errno = EPERM;
      FAIL("creds", "verify-caps", "-");
    }
  }
  for (int c = 0; c <= last; c++)
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != (int)(keep >> c & 1)) {
      errno = EPERM;
      FAIL("creds", "verify-bounding", "-");
    }
  /* The uid change cleared PDEATHSIG: re-arm it at once (checked in the next stage). */
  if (s->pdeathsig && prctl(PR_SET_PDEATHSIG, s->pdeathsig, 0, 0, 0) < 0) FAIL("creds", "pdeathsig", "-");
  done(s, "creds");
}

/* pdeathsig: re-armed at the end of creds (the credential change clears it). Check the parent
 * did not die before that: its end of from_parent stays open until we exec, so a hang-up means
 * it is gone and no signal will come. */
static void stage_pdeathsig(struct qj_spec *s) {
  if (!s->pdeathsig) return;
  int sig = 0;
  if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) < 0 || sig != s->pdeathsig) FAIL("pdeathsig", "prctl", "-");
  struct pollfd p = {cx->from_parent, POLLIN, 0};
  if (poll(&p, 1, 0) != 0) {
    errno = ESRCH;
    FAIL("pdeathsig", "parent-gone", "-");
  }
  done(s, "pdeathsig");
}

static void stage_cwd(struct qj_spec *s) {
  if (!s->cwd) return;
  if (chdir(s->cwd) < 0) FAIL("cwd", "chdir", s->cwd);
  done(s, "cwd");
}

#define QJ_LL_FILE_RIGHTS ((1ULL << 0) | (1ULL << 1) | (1ULL << 2) | (1ULL << 14) | (1ULL << 15))

/* Filesystem rights each ABI knows: v1 bits 0-12, v2 +REFER, v3 +TRUNCATE, v5 +IOCTL_DEV. */
static uint64_t ll_fs_rights(int abi) {
  uint64_t r = (1ULL << 13) - 1;
  if (abi >= 2) r |= 1ULL << 13;
  if (abi >= 3) r |= 1ULL << 14;
  if (abi >= 5) r |= 1ULL << 15;
  return r;
}

struct qj_ll_attr {
  uint64_t handled_access_fs, handled_access_net, scoped;
};

static void stage_landlock(struct qj_spec *s) {
  if (!s->have_landlock) return;
  int abi = qj_landlock_abi();
  if (abi <= 0) {
    if (s->landlock_flags & QJ_LL_REQUIRED) {
      errno = EOPNOTSUPP;
      FAIL("landlock", "unsupported", "-");
    }
    qj_status("stage landlock skipped");
    return;
  }
  uint64_t rights = ll_fs_rights(abi);
  struct qj_ll_attr attr = {.handled_access_fs = rights};
  size_t size = 8;
  if (abi >= 6) {
    /* Scopes: no signals to, and no abstract sockets of, processes outside this domain. */
    if (s->landlock_flags & QJ_LL_SCOPE_SIGNAL) attr.scoped |= 1ULL << 1;
    if (s->landlock_flags & QJ_LL_SCOPE_ABSTRACT_UNIX) attr.scoped |= 1ULL << 0;
    size = sizeof attr;
  }
  int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
  if (rs < 0) FAIL("landlock", "create_ruleset", "-");
  for (int i = 0; i < s->nllpaths; i++) {
    struct qj_llpath *l = &s->llpaths[i];
    int fd = open(l->path, O_PATH | O_CLOEXEC);
    if (fd < 0) FAIL("landlock", "open", l->path);
    struct stat st;
    if (fstat(fd, &st) < 0) FAIL("landlock", "stat", l->path);
    uint64_t acc = l->access & rights;  /* mask rights this ABI lacks */
    if (!S_ISDIR(st.st_mode)) acc &= QJ_LL_FILE_RIGHTS;
    if (acc) {
      struct landlock_path_beneath_attr pb = {.allowed_access = acc, .parent_fd = fd};
      if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        FAIL("landlock", "add_rule", l->path);
    }
    close(fd);
  }
  if (cx->exec_fd >= 0) {
    /* EXEC asked for this very file: let the ruleset allow executing it, wherever it lives
     * (it is not in the jail's tree, so no path rule can name it). */
    struct landlock_path_beneath_attr pb = {.allowed_access = (1ULL << 0 | 1ULL << 2) & rights,
                                            .parent_fd = cx->exec_fd};
    if (syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
      FAIL("landlock", "add_rule", "exec-fd");
  }
  if (syscall(SYS_landlock_restrict_self, rs, 0) < 0) FAIL("landlock", "restrict_self", "-");
  close(rs);
  qj_status("stage landlock ok abi=%d", abi);
  qj_maybe_fail(s, "landlock");
}

/* seccomp: last, after every other change, because the filter need not allow any of them.
 * It must allow what follows: execve/execveat, and whatever the dynamic loader does. No status
 * line is written after the first filter: write(2) may well be denied from here on. */
static void stage_seccomp(struct qj_spec *s) {
  if (!s->nbpf) return;
  qj_status("stage seccomp loading %d", s->nbpf);
  qj_maybe_fail(s, "seccomp");
  for (int i = 0; i < s->nbpf; i++) {
    struct sock_fprog prog = {s->bpf[i].len, s->bpf[i].insns};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) FAIL("seccomp", "seccomp", "-");
  }
}

void qj_child(struct qj_spec *s, struct qj_child_ctx *ctx) {
  cx = ctx;
  prctl(PR_SET_NAME, QJ_PREEXEC_COMM, 0, 0, 0);
  /* Die with the parent (the helper supervisor) from the very start; re-armed after creds. */
  if (s->pdeathsig) prctl(PR_SET_PDEATHSIG, s->pdeathsig, 0, 0, 0);
  stage_fds(s);
  stage_cgroup(s);
  stage_netns(s);
  stage_unshare(s);
  stage_propagation(s);
  int rootfd = stage_root(s);
  stage_proc(s, rootfd);
  stage_lsm(s);
  stage_pivot(s, rootfd);
  stage_rlimits(s);
  stage_hostname(s);
  stage_creds(s);
  stage_pdeathsig(s);
  stage_cwd(s);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) FAIL("nnp", "prctl", "-");
  done(s, "nnp");
  stage_landlock(s);
  umask((mode_t)cx->umask);
  stage_seccomp(s);
  if (cx->exec_fd >= 0)
    syscall(SYS_execveat, cx->exec_fd, "", s->argv, s->envp, AT_EMPTY_PATH);
  else
    execve(s->exec_path, s->argv, s->envp);
  FAIL("exec", "execve", s->exec_path);
}
