/* qj-probe: a static test program run in place of QEMU inside a jail. Each argument is a
 * check; each check prints one JSON object per line on stdout describing what it saw or what
 * an attempt returned. It never decides pass/fail: the tests compare with what they expect. */
#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void jstr(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void result(const char *op, const char *arg, long ret, int err) {
  printf("{\"check\":\"try\",\"op\":");
  jstr(op);
  printf(",\"arg\":");
  jstr(arg ? arg : "");
  printf(",\"ret\":%ld,\"errno\":", ret);
  jstr(ret < 0 ? strerrorname_np(err) : "");
  printf("}\n");
  fflush(stdout);
}

#define TRY(op, arg, expr)           \
  do {                               \
    errno = 0;                       \
    long r_ = (long)(expr);          \
    result(op, arg, r_, errno);      \
  } while (0)

static void walk(const char *dir, int *first) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", strcmp(dir, "/") ? dir : "", e->d_name);
    struct stat st;
    if (lstat(p, &st) < 0) continue;
    printf("%s", *first ? "" : ",");
    *first = 0;
    char t = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b' : S_ISREG(st.st_mode) ? 'f' : '?';
    char desc[4200];
    snprintf(desc, sizeof desc, "%c %s", t, p);
    jstr(desc);
    /* Do not descend into procfs: its contents are the kernel's, not the manifest. */
    if (S_ISDIR(st.st_mode) && strcmp(p, "/proc")) walk(p, first);
  }
  closedir(d);
}

static void check_caps(void) {
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  syscall(SYS_capget, &h, d);
  unsigned long long bnd = 0, amb = 0;
  for (int c = 0; c < 64; c++) {
    int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (r > 0) bnd |= 1ull << c;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0) amb |= 1ull << c;
  }
  printf("{\"check\":\"caps\",\"eff\":%llu,\"prm\":%llu,\"inh\":%llu,\"bnd\":%llu,\"amb\":%llu,",
         (unsigned long long)d[0].effective | (unsigned long long)d[1].effective << 32,
         (unsigned long long)d[0].permitted | (unsigned long long)d[1].permitted << 32,
         (unsigned long long)d[0].inheritable | (unsigned long long)d[1].inheritable << 32, bnd, amb);
  printf("\"nnp\":%d,\"securebits\":%d,\"seccomp\":%d,\"dumpable\":%d}\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
         prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), prctl(PR_GET_SECCOMP, 0, 0, 0, 0), prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
}

static void check_ids(void) {
  uid_t r, e, s;
  gid_t gr, ge, gs, g[64];
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  int n = getgroups(64, g);
  printf("{\"check\":\"ids\",\"uid\":[%u,%u,%u],\"gid\":[%u,%u,%u],\"groups\":[", r, e, s, gr, ge, gs);
  for (int i = 0; i < n; i++) printf("%s%u", i ? "," : "", g[i]);
  printf("],\"pid\":%d,\"ppid\":%d}\n", getpid(), getppid());
}

static void check_escape(void) {
  /* chroot/fchdir: no CAP_SYS_CHROOT; and ".." of "/" is "/" after pivot_root. */
  TRY("chroot", ".", chroot("."));
  struct stat a, b;
  stat("/", &a);
  stat("/../../..", &b);
  printf("{\"check\":\"dotdot\",\"same\":%s}\n", a.st_ino == b.st_ino && a.st_dev == b.st_dev ? "true" : "false");
  struct {
    struct file_handle h;
    unsigned char buf[128];
  } fh = {.h.handle_bytes = 128};
  int mnt;
  long r = syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh.h, &mnt, 0);
  result("name_to_handle_at", "/", r, errno);
  int dfd = open("/", O_RDONLY | O_DIRECTORY);
  TRY("open_by_handle_at", "/", syscall(SYS_open_by_handle_at, dfd, &fh.h, O_RDONLY));
  close(dfd);
}

static void check_privileged(const char *hostpid) {
  TRY("mount", "tmpfs", mount("none", "/", "tmpfs", 0, NULL));
  TRY("umount", "/", umount2("/", MNT_DETACH));
  TRY("unshare", "mount", unshare(CLONE_NEWNS));
  TRY("unshare", "net", unshare(CLONE_NEWNET));
  int nsfd = open("/proc/self/ns/net", O_RDONLY);
  TRY("setns", "self-net", nsfd < 0 ? (errno = ENOENT, -1) : setns(nsfd, CLONE_NEWNET));
  TRY("mknod", "/tmp/probe-null", mknod("/tmp/probe-null", S_IFCHR | 0666, makedev(1, 3)));
  TRY("init_module", "", syscall(SYS_init_module, NULL, 0, ""));
  TRY("finit_module", "", syscall(SYS_finit_module, 0, "", 0));
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4, attr.value_size = 4, attr.max_entries = 1;
  TRY("bpf", "map_create", syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_max != RLIM_INFINITY) rl.rlim_max += 1;
  TRY("setrlimit", "NOFILE+1", setrlimit(RLIMIT_NOFILE, &rl));
  TRY("sethostname", "x", sethostname("x", 1));
  TRY("reboot", "", reboot(RB_POWER_OFF));
  TRY("iopl", "3", syscall(SYS_iopl, 3));
  TRY("open", "/sys/fs/cgroup", open("/sys/fs/cgroup/cgroup.procs", O_WRONLY));
  TRY("mount", "cgroup2", mount("cgroup2", "/", "cgroup2", 0, NULL));
  TRY("open", "/proc/sys/kernel/core_pattern", open("/proc/sys/kernel/core_pattern", O_WRONLY));
  TRY("setuid", "0", setuid(0));
  TRY("create", "/probe-file", open("/probe-file", O_CREAT | O_WRONLY, 0600));
  /* In a child: if it succeeds, the caller would be in a new user namespace. */
  pid_t c = fork();
  if (c == 0) _exit(unshare(CLONE_NEWUSER) < 0 ? errno : 0);
  int st = 0;
  if (c > 0) waitpid(c, &st, 0);
  int ue = c < 0 ? errno : WIFEXITED(st) ? WEXITSTATUS(st) : EINTR;
  result("unshare", "user", ue ? -1 : 0, ue);
  if (hostpid) {
    pid_t p = atoi(hostpid);
    TRY("kill", hostpid, kill(p, 0));
    TRY("ptrace", hostpid, ptrace(PTRACE_ATTACH, p, 0, 0));
  }
}

static void check_fds(void) {
  printf("{\"check\":\"fds\",\"open\":[");
  int first = 1;
  for (int fd = 0; fd < 1024; fd++) {
    if (fcntl(fd, F_GETFD) < 0) continue;
    printf("%s%d", first ? "" : ",", fd);
    first = 0;
  }
  printf("]}\n");
}

static void check_ns(void) {
  static const char *const names[] = {"mnt", "pid", "net", "ipc", "uts", "cgroup", "user", NULL};
  printf("{\"check\":\"ns\"");
  for (int i = 0; names[i]; i++) {
    char p[64];
    struct stat st;
    snprintf(p, sizeof p, "/proc/self/ns/%s", names[i]);
    printf(",\"%s\":%llu", names[i], stat(p, &st) == 0 ? (unsigned long long)st.st_ino : 0ull);
  }
  printf("}\n");
}

static void print_file(const char *check, const char *path) {
  char buf[4096];
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  buf[n > 0 ? n : 0] = 0;
  printf("{\"check\":\"%s\",\"ok\":%s,\"text\":", check, n >= 0 ? "true" : "false");
  jstr(buf);
  printf("}\n");
  if (fd >= 0) close(fd);
}

static void check_fork(int n) {
  int ok = 0, err = 0;
  pid_t kids[256];
  for (int i = 0; i < n && i < 256; i++) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) {
      err = errno;
      break;
    }
    kids[ok++] = p;
  }
  for (int i = 0; i < ok; i++) kill(kids[i], SIGKILL), waitpid(kids[i], NULL, 0);
  printf("{\"check\":\"fork\",\"ok\":%d,\"errno\":", ok);
  jstr(err ? strerrorname_np(err) : "");
  printf("}\n");
}

/* Test aid: exec `argv` under a filter answering the Landlock syscalls with EOPNOTSUPP, which is
 * what a kernel with Landlock built in but not enabled answers. */
static int deny_landlock_exec(char **argv) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 444, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 446, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof f[0], f};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) return 120;
  execv(argv[0], argv);
  return 121;
}

static void *thread_syscall(void *nr) {
  printf("{\"check\":\"thread\",\"tid\":%ld}\n", (long)syscall(SYS_gettid));
  syscall((long)nr, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66);
  return NULL;
}

static volatile sig_atomic_t got_sig;
static void on_sig(int s) { got_sig = s; }

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *hostpid = NULL;
  if (argc > 2 && !strcmp(argv[1], "deny-landlock-exec")) return deny_landlock_exec(argv + 2);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *next = i + 1 < argc ? argv[i + 1] : "";
    if (!strcmp(a, "ids")) check_ids();
    else if (!strcmp(a, "caps")) check_caps();
    else if (!strcmp(a, "tree")) {
      int first = 1;
      printf("{\"check\":\"tree\",\"paths\":[");
      walk("/", &first);
      printf("]}\n");
    } else if (!strcmp(a, "escape")) check_escape();
    else if (!strcmp(a, "hostpid")) hostpid = argv[++i];
    else if (!strcmp(a, "privileged")) check_privileged(hostpid);
    else if (!strcmp(a, "fds")) check_fds();
    else if (!strcmp(a, "umask")) {
      mode_t m = umask(0);
      umask(m);
      printf("{\"check\":\"umask\",\"value\":%u}\n", (unsigned)m);
    }
    else if (!strcmp(a, "ns")) check_ns();
    else if (!strcmp(a, "cgroup")) print_file("cgroup", "/proc/self/cgroup");
    else if (!strcmp(a, "env")) {
      printf("{\"check\":\"env\",\"vars\":[");
      for (char **e = environ; *e; e++) printf("%s", e == environ ? "" : ","), jstr(*e);
      printf("]}\n");
    } else if (!strcmp(a, "hostname")) {
      char h[128] = {0};
      gethostname(h, sizeof h - 1);
      printf("{\"check\":\"hostname\",\"name\":");
      jstr(h);
      printf("}\n");
    } else if (!strcmp(a, "cwd")) {
      char c[4096] = {0};
      if (!getcwd(c, sizeof c)) strcpy(c, "?");
      printf("{\"check\":\"cwd\",\"path\":");
      jstr(c);
      printf("}\n");
    } else if (!strcmp(a, "rlimit")) {
      struct rlimit rl;
      getrlimit(atoi(next), &rl), i++;
      printf("{\"check\":\"rlimit\",\"resource\":%d,\"soft\":%lld,\"hard\":%lld}\n", atoi(next),
             rl.rlim_cur == RLIM_INFINITY ? -1ll : (long long)rl.rlim_cur,
             rl.rlim_max == RLIM_INFINITY ? -1ll : (long long)rl.rlim_max);
    } else if (!strcmp(a, "read")) {
      i++;
      TRY("read", next, open(next, O_RDONLY));
    } else if (!strcmp(a, "write")) {
      i++;
      TRY("write", next, open(next, O_WRONLY | O_CREAT, 0600));
    } else if (!strcmp(a, "readdir")) {
      i++;
      TRY("readdir", next, open(next, O_RDONLY | O_DIRECTORY));
    } else if (!strcmp(a, "execute")) {
      i++;
      pid_t p = fork();
      if (p == 0) {
        char *av[] = {(char *)next, "exit", "0", NULL};
        execve(next, av, environ);
        _exit(errno);
      }
      int st = 0;
      waitpid(p, &st, 0);
      int e = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
      result("execute", next, e ? -1 : 0, e);
    } else if (!strcmp(a, "fork")) {
      check_fork(atoi(next)), i++;
    } else if (!strcmp(a, "syscall")) {
      i++;
      TRY("syscall", next, syscall(atol(next), 0, 0, 0, 0, 0, 0));
    } else if (!strcmp(a, "thread-syscall")) {
      i++;
      pthread_t t;
      pthread_create(&t, NULL, thread_syscall, (void *)atol(next));
      pthread_join(t, NULL);
    } else if (!strcmp(a, "signal-kill")) {
      i++;
      TRY("kill", next, kill(atoi(next), SIGTERM));
    } else if (!strcmp(a, "wait-signal")) {
      signal(SIGTERM, on_sig);
      signal(SIGUSR1, on_sig);
      printf("{\"check\":\"waiting\"}\n");
      while (!got_sig) pause();
      printf("{\"check\":\"signal\",\"sig\":%d}\n", (int)got_sig);
    } else if (!strcmp(a, "exit")) {
      return atoi(next);
    } else {
      printf("{\"check\":\"unknown\",\"arg\":");
      jstr(a);
      printf("}\n");
    }
  }
  return 0;
}
