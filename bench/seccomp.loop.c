/* Benchmark helper for bench/seccomp.ts, built at bench time.
 * Usage: seccomp.loop FILE.bpf|- getppid|fionread ITERATIONS
 * Optionally loads a seccomp filter (no_new_privs + seccomp(SECCOMP_SET_MODE_FILTER)), then
 * times ITERATIONS calls of getppid() or ioctl(pipe, FIONREAD) and prints nanoseconds per call.
 * clock_gettime goes through the vDSO, so the timing itself makes no syscall. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) return 2;
  int fds[2];
  if (pipe(fds) != 0) return 2;
  long iters = atol(argv[3]);
  int fionread = strcmp(argv[2], "fionread") == 0;
  if (strcmp(argv[1], "-") != 0) {
    static struct sock_filter insns[4096];
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    size_t n = fread(insns, sizeof insns[0], 4096, f);
    fclose(f);
    struct sock_fprog prog = {.len = (unsigned short)n, .filter = insns};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 3;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return 3;
  }
  int avail = 0;
  struct timespec a, b;
  for (long i = 0; i < iters / 10; i++) fionread ? ioctl(fds[0], FIONREAD, &avail) : syscall(SYS_getppid);
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < iters; i++) fionread ? ioctl(fds[0], FIONREAD, &avail) : syscall(SYS_getppid);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)iters;
  char buf[64];
  int len = snprintf(buf, sizeof buf, "%.2f\n", ns);
  ssize_t w = write(1, buf, (size_t)len);
  (void)w;
  return 0;
}
