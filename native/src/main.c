/* qemu-jail-helper: executes a jail spec (native/README.md) and supervises the payload.
 *
 *   qemu-jail-helper [--spec-fd N] [--status-fd M]   (defaults 3 and 4)
 *   qemu-jail-helper --check [...]                     (validate the spec only, change nothing)
 *   qemu-jail-helper --probe                          (key=value facts, see facts.c)
 *
 * This process (the "outer" helper) stays in the host namespaces: it reads and validates the
 * whole spec, opens what must be opened from the host side (cgroup.procs files, a netns path),
 * unshares the pid namespace for its child, forks, reports the child's host pid, writes user
 * namespace maps when asked, confirms exec through a close-on-exec pipe, forwards signals once
 * the payload runs, and finally reports and mirrors the payload's exit status. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qj.h"

static volatile pid_t child_pid = -1;
volatile sig_atomic_t exec_confirmed = 0;
static volatile sig_atomic_t pending_kill = 0;

/* Forward to the payload once it runs; before that, a termination request aborts the launch
 * (a pid-1 child ignores signals it has no handler for, so forwarding would be lost). */
static void on_signal(int sig) {
  if (child_pid <= 0) {
    pending_kill = sig;
    return;
  }
  if (exec_confirmed)
    kill(child_pid, sig);
  else if (sig != SIGCONT && sig != SIGWINCH)
    kill(child_pid, SIGKILL);
}

static void usage_fail(const char *op, const char *detail, int err) {
  qj_fail_line("parse", op, detail, err);
}

static int parse_fd_arg(const char *s) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*s == 0 || *end || v < 0 || v > 65535) return -1;
  return (int)v;
}

static int read_all(int fd, uint8_t **out, size_t *outlen) {
  size_t cap = 65536, len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return ENOMEM;
  for (;;) {
    if (len == cap) {
      if (cap >= QJ_SPEC_MAX + 1) return E2BIG;
      cap *= 2;
      uint8_t *n = realloc(buf, cap);
      if (!n) return ENOMEM;
      buf = n;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) break;
    len += (size_t)r;
    if (len > QJ_SPEC_MAX) return E2BIG;
  }
  *out = buf, *outlen = len;
  return 0;
}

static int write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, data, strlen(data));
  int e = errno;
  close(fd);
  errno = e;
  return n == (ssize_t)strlen(data) ? 0 : -1;
}

int qj_write_maps(pid_t pid, const struct qj_spec *s) {
  char path[64], buf[512];
  size_t o = 0;
  /* setgroups stays "allow": we write the maps with CAP_SETGID in the parent namespace, and the
   * child calls setgroups(2) (as the namespace root) in the creds stage. */
  for (int i = 0; i < s->nuidmap; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%u %u %u\n", s->uidmap[i].inside, s->uidmap[i].outside,
                          s->uidmap[i].count);
  snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
  if (write_file(path, buf) < 0) return -1;
  o = 0;
  for (int i = 0; i < s->ngidmap; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%u %u %u\n", s->gidmap[i].inside, s->gidmap[i].outside,
                          s->gidmap[i].count);
  snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
  return write_file(path, buf);
}

/* Close every fd of the supervisor except `keep` (sorted ascending); 0-2 become /dev/null. */
static void close_except(const int *keep, int n) {
  unsigned int from = 0;
  for (int i = 0; i < n; i++) {
    if ((unsigned int)keep[i] > from) close_range(from, (unsigned int)keep[i] - 1, 0);
    from = (unsigned int)keep[i] + 1;
  }
  close_range(from, ~0u, 0);
  int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && nul >= 0; fd++)
    if (fcntl(fd, F_GETFD) < 0) dup3(nul, fd, O_CLOEXEC);
}

/* Whether the (zombie) child's name is no longer the pre-exec one. */
int qj_exec_happened(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *open_ = strchr(buf, '('), *close_ = strrchr(buf, ')');
  if (!open_ || !close_ || close_ < open_) return 0;
  *close_ = 0;
  return strcmp(open_ + 1, QJ_PREEXEC_COMM) != 0;
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int main(int argc, char **argv) {
  int spec_fd = 3, status_fd = 4, check_only = 0;
  pid_t orig_ppid = getppid();
  /* Modes in the spec are exact: no umask while building. The payload gets the caller's. */
  mode_t caller_umask = umask(0);
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--probe")) return qj_probe();
    if (!strcmp(argv[i], "--version")) {
      printf("qemu-jail-helper spec-version=%u%s\n", QJ_SPEC_VERSION,
#ifdef QJ_TEST
             " test-build"
#else
             ""
#endif
      );
      return 0;
    }
    if (!strcmp(argv[i], "--check")) check_only = 1;
    else if (!strcmp(argv[i], "--spec-fd") && i + 1 < argc) spec_fd = parse_fd_arg(argv[++i]);
    else if (!strcmp(argv[i], "--status-fd") && i + 1 < argc) status_fd = parse_fd_arg(argv[++i]);
    else {
      fprintf(stderr, "usage: qemu-jail-helper [--check] [--spec-fd N] [--status-fd M] | --probe | --version\n");
      return QJ_EXIT_SPEC;
    }
  }
  if (status_fd < 0 || fcntl(status_fd, F_GETFD) < 0) {
    fprintf(stderr, "qemu-jail-helper: status fd is not open\n");
    return QJ_EXIT_SPEC;
  }
  fcntl(status_fd, F_SETFD, FD_CLOEXEC);
  /* Node hands us socketpair ends; make sure reads and writes block. */
  fcntl(status_fd, F_SETFL, fcntl(status_fd, F_GETFL) & ~O_NONBLOCK);
  if (spec_fd >= 0) fcntl(spec_fd, F_SETFL, fcntl(spec_fd, F_GETFL) & ~O_NONBLOCK);
  qj_status_init(status_fd);
  signal(SIGPIPE, SIG_IGN);

  /* 1. Read and validate everything. Nothing has changed yet; a refusal leaves no trace. */
  uint8_t *buf = NULL;
  size_t len = 0;
  if (spec_fd < 0 || fcntl(spec_fd, F_GETFD) < 0) {
    usage_fail("spec-fd", "-", EBADF);
    return QJ_EXIT_SPEC;
  }
  int err = read_all(spec_fd, &buf, &len);
  if (err) {
    usage_fail("read-spec", "-", err);
    return QJ_EXIT_SPEC;
  }
  close(spec_fd);
  static struct qj_spec spec;
  const char *op = "?";
  char detail[256];
  err = qj_spec_parse(buf, len, &spec, &op, detail, sizeof detail);
  if (err) {
    usage_fail(op, detail, err);
    return QJ_EXIT_SPEC;
  }
  for (int i = 0; i < spec.nfds; i++)
    if (fcntl(spec.fds[i].src, F_GETFD) < 0 || spec.fds[i].src == status_fd) {
      usage_fail("fd-not-open", "-", EBADF);
      return QJ_EXIT_SPEC;
    }
  qj_stage_ok("parse");
  if (check_only) return 0;
  qj_maybe_fail(&spec, "parse");

  /* 2. Host-side preparation: open what the child will use after it can no longer reach it. */
  struct qj_child_ctx ctx = {
      .status_fd = status_fd, .netns_fd = -1, .exec_fd = spec.exec_fd, .umask = caller_umask};
  for (int i = 0; i < spec.ncgroups; i++) {
    char p[QJ_STR_MAX + 16];
    snprintf(p, sizeof p, "%s/cgroup.procs", spec.cgroups[i]);
    ctx.cgroup_fds[i] = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (ctx.cgroup_fds[i] < 0) qj_die("prepare", "open-cgroup", p, errno, QJ_EXIT_STAGE);
  }
  if (spec.netns_path) {
    ctx.netns_fd = open(spec.netns_path, O_RDONLY | O_CLOEXEC);
    if (ctx.netns_fd < 0) qj_die("prepare", "open-netns", spec.netns_path, errno, QJ_EXIT_STAGE);
  } else if (spec.netns_fd >= 0) {
    ctx.netns_fd = spec.netns_fd;
  }
  if (spec.pdeathsig) {
    if (prctl(PR_SET_PDEATHSIG, spec.pdeathsig, 0, 0, 0) < 0 || getppid() != orig_ppid)
      qj_die("prepare", "pdeathsig", "-", errno ? errno : ESRCH, QJ_EXIT_STAGE);
  }
  int c2p[2], p2c[2];
  if (pipe2(c2p, O_CLOEXEC) < 0 || pipe2(p2c, O_CLOEXEC) < 0)
    qj_die("prepare", "pipe", "-", errno, QJ_EXIT_STAGE);
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  static const int fwd[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCONT, SIGWINCH};
  for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaction(fwd[i], &sa, NULL);
  if (spec.ns & QJ_NS_PID) {
    /* Affects only children: the child below becomes pid 1 of a new pid namespace. */
    if (unshare(CLONE_NEWPID) < 0) qj_die("prepare", "unshare-pid", "-", errno, QJ_EXIT_STAGE);
  }
  qj_stage_ok("prepare");
  qj_maybe_fail(&spec, "prepare");
  if (pending_kill) qj_die("prepare", "signal", "-", EINTR, QJ_EXIT_STAGE);

  /* 3. Fork the payload-to-be. */
  pid_t pid = fork();
  if (pid < 0) qj_die("prepare", "fork", "-", errno, QJ_EXIT_STAGE);
  if (pid == 0) {
    for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) signal(fwd[i], SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    close(c2p[0]), close(p2c[1]);
    ctx.to_parent = c2p[1];
    ctx.from_parent = p2c[0];
    qj_child(&spec, &ctx);
  }
  child_pid = pid;
  close(c2p[1]), close(p2c[0]);
  /* The supervisor keeps nothing the payload was given (taps, images, sockets). */
  int keep[3] = {status_fd, c2p[0], p2c[1]};
  qsort(keep, 3, sizeof keep[0], cmp_int);
  close_except(keep, 3);
  qj_status("pid %d", pid);
  if (pending_kill) kill(pid, SIGKILL);

  /* 4. With TRACE: one event loop serves the pipe and ptrace stops (trace.c). */
  if (spec.trace) {
    if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACEEXIT | PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL) < 0) {
      kill(pid, SIGKILL);
      qj_die("prepare", "ptrace-seize", "-", errno, QJ_EXIT_STAGE);
    }
    return qj_supervise_traced(pid, &spec, c2p[0], p2c[1], &exec_confirmed);
  }

  /* 4. Serve id-map requests until the exec pipe closes (exec) or the child reports failure. */
  int failed = 0;
  for (;;) {
    char c;
    ssize_t n = read(c2p[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
#ifdef QJ_TEST
    if (c == 'K' || c == 'S') { /* failure injection, see qj_maybe_fail */
      kill(pid, c == 'K' ? SIGKILL : SIGSTOP);
      continue;
    }
#endif
    if (c == 'U') {
      char ok = qj_write_maps(pid, &spec) == 0 ? '1' : '0';
      if (ok != '1') qj_fail_line("idmap", "write-map", "-", errno);
      if (write(p2c[1], &ok, 1) != 1) { /* child sees EOF and fails */ }
    } else {
      failed = 1;
      break;
    }
  }
  close(c2p[0]);
  if (!failed) {
    /* EOF without a failure byte: either execve closed the pipe, or the child died. A dying
     * process releases its memory before its files, so if /proc/PID/exe still resolves now,
     * the EOF came from a successful execve. If not, the child is dead or dying: wait for the
     * zombie without reaping it and look at its name — execve renames the process after the
     * new binary, and the child was named QJ_PREEXEC_COMM at fork. */
    char exe[64], tmp[8];
    snprintf(exe, sizeof exe, "/proc/%d/exe", pid);
    if (readlink(exe, tmp, sizeof tmp) < 0) {
      siginfo_t si;
      while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0)
        if (errno != EINTR) qj_die("exit", "waitid", "-", errno, QJ_EXIT_STAGE);
      int execd = qj_exec_happened(pid);
      int st;
      while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) qj_die("exit", "waitpid", "-", errno, QJ_EXIT_STAGE);
      if (execd) qj_status("exec ok");
      if (WIFSIGNALED(st)) {
        qj_status("exit signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " core" : "");
        return 128 + WTERMSIG(st);
      }
      qj_status("exit code %d", WEXITSTATUS(st));
      return execd ? WEXITSTATUS(st) : QJ_EXIT_STAGE;
    }
    exec_confirmed = 1;
    qj_status("exec ok");
  }
  /* 5. Supervise: wait for the payload, mirror its status. */
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) qj_die("exit", "waitpid", "-", errno, QJ_EXIT_STAGE);
  }
  close(p2c[1]);
  if (WIFSIGNALED(st)) {
    qj_status("exit signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " core" : "");
    return failed ? QJ_EXIT_STAGE : 128 + WTERMSIG(st);
  }
  qj_status("exit code %d", WEXITSTATUS(st));
  return failed ? QJ_EXIT_STAGE : WEXITSTATUS(st);
}
