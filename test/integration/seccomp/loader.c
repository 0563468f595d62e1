/* Test helper for test/integration/seccomp/kernel.test.ts, built at test time.
 * Usage: loader FILE.bpf NR A0 A1 A2 A3 A4 A5   (numbers in hex or decimal, 64-bit)
 * Reads a raw seccomp program, sets no_new_privs, loads the filter with
 * seccomp(SECCOMP_SET_MODE_FILTER), performs syscall NR with the six arguments and reports on
 * stdout: "ret <value> errno <errno>", or "trap" from a SIGSYS handler (SECCOMP_RET_TRAP).
 * A kill action ends the process with SIGSYS before anything is printed.
 * The report goes through fd 1023 so a probed close()/dup() on small fds cannot break it;
 * the filter under test must allow write and exit_group. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define REPORT_FD 1023

static void on_sigsys(int sig) {
  (void)sig;
  static const char msg[] = "trap\n";
  ssize_t n = write(REPORT_FD, msg, sizeof msg - 1);
  (void)n;
  _exit(0);
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: %s FILE.bpf NR A0..A5\n", argv[0]);
    return 2;
  }
  static struct sock_filter insns[4096];
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror("open bpf");
    return 2;
  }
  size_t n = fread(insns, sizeof insns[0], 4096, f);
  fclose(f);
  long nr = strtol(argv[2], NULL, 0);
  unsigned long a[6];
  for (int i = 0; i < 6; i++) a[i] = strtoull(argv[3 + i], NULL, 0);
  if (dup2(1, REPORT_FD) < 0) {
    perror("dup2");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigsys;
  sigaction(SIGSYS, &sa, NULL);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
  /* no_new_privs first: without it an unprivileged process may not load a filter. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    perror("prctl");
    return 2;
  }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    perror("seccomp");
    return 3;
  }
  /* From here on, only the probed syscall, write and exit_group. */
  errno = 0;
  long r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  int e = r == -1 ? errno : 0;
  char buf[64];
  int len = snprintf(buf, sizeof buf, "ret %ld errno %d\n", r, e);
  ssize_t w = write(REPORT_FD, buf, (size_t)len);
  (void)w;
  _exit(0);
}
