/* qemu-jail-helper: shared declarations. See native/README.md for the spec format. */
#ifndef QJ_H
#define QJ_H

#include <stdint.h>
#include <stddef.h>
#include <linux/filter.h>

#define QJ_SPEC_MAGIC "QJSP"
#define QJ_SPEC_VERSION 1u
#define QJ_SPEC_MAX (1u << 20)      /* whole spec, bytes */
#define QJ_STR_MAX 4095u            /* any string, bytes (PATH_MAX - 1) */
#define QJ_MAX_RECORDS 8192u
#define QJ_MAX_FDS 256
#define QJ_MAX_ENV 1024
#define QJ_MAX_CGROUPS 16
#define QJ_MAX_IDMAP 8
#define QJ_MAX_ROOT_OPS 4096
#define QJ_MAX_RLIMITS 16
#define QJ_MAX_GROUPS 64
#define QJ_MAX_LANDLOCK 1024
#define QJ_MAX_SECCOMP 8
#define QJ_MAX_ARGV 4096
#define QJ_BPF_MAX_INSNS 4096u

/* The child's name until execve renames it (how a dead child tells whether it exec'd). */
#define QJ_PREEXEC_COMM "qj-jail-preexec"

/* Exit codes of the helper itself (the payload's own status is passed through). */
#define QJ_EXIT_SPEC 125   /* usage error or spec refused: nothing was changed */
#define QJ_EXIT_STAGE 126  /* a jail stage failed; the status fd names it */

/* Record types. The number is also the order: records must come in non-decreasing rank. */
enum qj_rec {
  QJ_END = 0,
  QJ_FD = 1,
  QJ_ENV = 2,
  QJ_PDEATHSIG = 3,
  QJ_CGROUP = 4,
  QJ_NETNS = 5,
  QJ_UNSHARE = 6,
  QJ_UIDMAP = 7,
  QJ_GIDMAP = 8,
  QJ_PROPAGATION = 9,
  QJ_ROOT = 10,
  QJ_BIND = 11,
  QJ_MKDIR = 12,
  QJ_SYMLINK = 13,
  QJ_TMPFS = 14,
  QJ_MKNOD = 15,
  QJ_PROC = 16,
  QJ_SELINUX_EXEC = 17,
  QJ_APPARMOR_EXEC = 18,
  QJ_RLIMIT = 19,
  QJ_HOSTNAME = 20,
  QJ_GROUPS = 21,
  QJ_IDS = 22,
  QJ_CAPS = 23,
  QJ_CWD = 24,
  QJ_LANDLOCK = 25,
  QJ_LANDLOCK_PATH = 26,
  QJ_SECCOMP = 27,
  QJ_EXEC = 28,
  QJ_FAIL_AFTER = 29,
  QJ_TRACE = 30,
  QJ_REC_COUNT
};

/* Namespace bits of the UNSHARE record (format-defined, not CLONE_* values). */
#define QJ_NS_MOUNT (1u << 0)
#define QJ_NS_PID (1u << 1)
#define QJ_NS_NET (1u << 2)
#define QJ_NS_IPC (1u << 3)
#define QJ_NS_UTS (1u << 4)
#define QJ_NS_CGROUP (1u << 5)
#define QJ_NS_USER (1u << 6)
#define QJ_NS_ALL 0x7fu

#define QJ_BIND_RW (1u << 0)
#define QJ_BIND_DIR (1u << 1)
#define QJ_BIND_EXEC (1u << 2)

#define QJ_PROC_SUBSET_PID (1u << 0)

#define QJ_LL_REQUIRED (1u << 0)
#define QJ_LL_SCOPE_SIGNAL (1u << 1)
#define QJ_LL_SCOPE_ABSTRACT_UNIX (1u << 2)

#define QJ_NO_FD 0xffffffffu
#define QJ_RLIM_INF UINT64_MAX

struct qj_fdmap { int src, dst; };
struct qj_idmap { uint32_t inside, outside, count; };

/* One operation inside the new root, in spec order. */
struct qj_rootop {
  int type; /* QJ_BIND .. QJ_MKNOD */
  uint32_t flags, mode, uid, gid, major, minor;
  char devtype;  /* 'c' or 'b' */
  uint64_t size;
  char *path;    /* path inside the new root */
  char *source;  /* BIND: host source; SYMLINK: link target */
};

struct qj_rlimit { uint32_t resource; uint64_t soft, hard; };
struct qj_llpath { uint64_t access; char *path; };
struct qj_bpf { struct sock_filter *insns; unsigned short len; };

struct qj_spec {
  struct qj_fdmap fds[QJ_MAX_FDS]; int nfds;
  char *envp[QJ_MAX_ENV + 1]; int nenv;
  int pdeathsig;
  char *cgroups[QJ_MAX_CGROUPS]; int ncgroups;
  char *netns_path; int netns_fd; /* -1: none */
  uint32_t ns;  /* QJ_NS_* */
  int have_unshare;
  struct qj_idmap uidmap[QJ_MAX_IDMAP]; int nuidmap;
  struct qj_idmap gidmap[QJ_MAX_IDMAP]; int ngidmap;
  int propagation_slave; int have_propagation;
  int have_root; char *root_mountpoint; uint64_t root_size; uint32_t root_mode;
  struct qj_rootop *ops; int nops; int have_mknod;
  int have_proc; char *proc_path; uint32_t proc_hidepid, proc_flags;
  char *selinux_exec; char *apparmor_exec;
  struct qj_rlimit rlimits[QJ_MAX_RLIMITS]; int nrlimits;
  char *hostname;
  uint32_t groups[QJ_MAX_GROUPS]; int ngroups; int have_groups;
  int have_ids; uint32_t uid, gid;
  uint64_t caps_keep;
  char *cwd;
  int have_landlock; uint32_t landlock_flags;
  struct qj_llpath llpaths[QJ_MAX_LANDLOCK]; int nllpaths;
  struct qj_bpf bpf[QJ_MAX_SECCOMP]; int nbpf;
  int have_exec; int exec_fd; char *exec_path; char *argv[QJ_MAX_ARGV + 1]; int argc;
  char *fail_after; uint32_t fail_mode; /* test builds only */
  int trace; /* supervise with ptrace: report the syscall and arguments of a seccomp kill */
};

/* report.c */
void qj_status_init(int fd);
int qj_status_fd(void);
void qj_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void qj_stage_ok(const char *stage);
/* Report "fail <stage> <op> <path> <ERRNO> <n>" with the saved errno and exit. */
__attribute__((noreturn)) void qj_die(const char *stage, const char *op, const char *path, int err, int code);
void qj_fail_line(const char *stage, const char *op, const char *path, int err);
const char *qj_errname(int err);

/* spec.c: parse and validate; returns 0 or fills op/detail and returns an errno. */
int qj_spec_parse(const uint8_t *buf, size_t len, struct qj_spec *spec, const char **op, char *detail,
                  size_t detail_len);
int qj_stage_known(const char *name);

/* jail.c: the child side, runs every stage then execs; never returns. */
struct qj_child_ctx {
  int status_fd;
  int to_parent;   /* close-on-exec pipe: 'U' = please write id maps, 'F' = failed; EOF = exec */
  int from_parent; /* parent's answer to 'U'; POLLHUP means the parent died */
  int cgroup_fds[QJ_MAX_CGROUPS];
  int netns_fd;
  int exec_fd;
  unsigned int umask; /* the caller's umask, restored for the payload (the helper runs with 0) */
};
__attribute__((noreturn)) void qj_child(struct qj_spec *spec, struct qj_child_ctx *ctx);
void qj_maybe_fail(const struct qj_spec *spec, const char *stage);

/* main.c, used by trace.c */
int qj_write_maps(pid_t pid, const struct qj_spec *s);
int qj_exec_happened(pid_t pid);

/* trace.c: the supervisor when the spec asks for TRACE; returns the helper's exit code. */
#include <signal.h>
#include <sys/types.h>
int qj_supervise_traced(pid_t pid, const struct qj_spec *spec, int c2p, int p2c, volatile sig_atomic_t *exec_confirmed);

/* facts.c */
int qj_probe(void);
int qj_landlock_abi(void);

#endif
