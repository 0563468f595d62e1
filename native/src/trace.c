/* The traced supervisor (TRACE record): the helper PTRACE_SEIZEs its child right after fork,
 * with every thread auto-attached (TRACECLONE), and stops each dying thread at
 * PTRACE_EVENT_EXIT. When a thread dies of a seccomp kill, its registers still hold the denied
 * syscall's number and arguments (measured on kernel 6.18: orig_rax and rdi..r9), which no
 * other source gives once the process is gone; the helper reports them as
 *   sigsys <tid> <nr> <arg0> ... <arg5>          (x86_64; hex arguments)
 * The culprit is told from the other threads of the dying group (also exiting with SIGSYS) by
 * its return register: seccomp rolls a killed syscall's registers back, so rax == orig_rax.
 * Costs: a stop per thread creation and per signal delivered to the payload (re-injected).
 * EXITKILL: if the helper dies, the kernel kills the payload. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qj.h"

static void report_sigsys(pid_t tid) {
#ifdef __x86_64__
  struct user_regs_struct r;
  if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0) return;
  /* seccomp rolls the culprit's registers back ("show the original registers in the dump"):
   * its return register equals the syscall number. Threads killed with it were elsewhere. */
  if (r.rax != r.orig_rax || (long long)r.orig_rax < 0) return;
  qj_status("sigsys %d %lld %llx %llx %llx %llx %llx %llx", tid, (long long)r.orig_rax, r.rdi, r.rsi, r.rdx,
            r.r10, r.r8, r.r9);
#else
  (void)tid;
#endif
}

int qj_supervise_traced(pid_t pid, const struct qj_spec *spec, int c2p, int p2c, volatile sig_atomic_t *exec_confirmed) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) {
    kill(pid, SIGKILL);
    qj_die("prepare", "signalfd", "-", errno, QJ_EXIT_STAGE);
  }
  int pipe_open = 1, failed = 0, main_dying = 0, execd_at_death = 0, done = 0, st = 0;
  while (!done || pipe_open) {
    struct pollfd p[2] = {{sfd, POLLIN, 0}, {pipe_open ? c2p : -1, POLLIN, 0}};
    /* A child that exited before SIGCHLD was blocked left no signal: poll waitpid regardless. */
    int n = poll(p, 2, done ? -1 : 200);
    if (n < 0 && errno != EINTR) break;
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == sizeof si) {
    }
    for (;;) {
      int ws;
      pid_t w = waitpid(-1, &ws, __WALL | WNOHANG);
      if (w <= 0) break;
      if (WIFSTOPPED(ws)) {
        int ev = ws >> 16, sig = WSTOPSIG(ws);
        if (ev == PTRACE_EVENT_EXIT) {
          unsigned long code = 0;
          ptrace(PTRACE_GETEVENTMSG, w, 0, &code);
          if ((code & 0x7f) == SIGSYS) report_sigsys(w);
          if (w == pid && !main_dying) {
            main_dying = 1;
            execd_at_death = qj_exec_happened(pid);
          }
          ptrace(PTRACE_CONT, w, 0, 0);
        } else if (ev == PTRACE_EVENT_STOP) {
          /* Group-stop (SIGSTOP & co): stay stopped; otherwise a new thread's first stop. */
          if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
            ptrace(PTRACE_LISTEN, w, 0, 0);
          else
            ptrace(PTRACE_CONT, w, 0, 0);
        } else if (ev) {
          ptrace(PTRACE_CONT, w, 0, 0);
        } else {
          ptrace(PTRACE_CONT, w, 0, sig); /* signal-delivery-stop: deliver it */
        }
      } else if (w == pid) {
        st = ws;
        done = 1;
      }
    }
    if (pipe_open && (p[1].revents & (POLLIN | POLLHUP))) {
      char c;
      ssize_t r = read(c2p, &c, 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        pipe_open = 0;
        /* EOF: from execve, unless the main thread already went through its exit stop. */
        if (!failed && (!main_dying || execd_at_death)) {
          *exec_confirmed = 1;
          qj_status("exec ok");
        }
        continue;
      }
#ifdef QJ_TEST
      if (c == 'K' || c == 'S') {
        kill(pid, c == 'K' ? SIGKILL : SIGSTOP);
        continue;
      }
#endif
      if (c == 'U') {
        char ok = qj_write_maps(pid, spec) == 0 ? '1' : '0';
        if (ok != '1') qj_fail_line("idmap", "write-map", "-", errno);
        if (write(p2c, &ok, 1) != 1) {
        }
      } else {
        failed = 1;
      }
    }
  }
  close(p2c);
  if (WIFSIGNALED(st)) {
    qj_status("exit signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " core" : "");
    return failed ? QJ_EXIT_STAGE : 128 + WTERMSIG(st);
  }
  qj_status("exit code %d", WEXITSTATUS(st));
  return failed ? QJ_EXIT_STAGE : WEXITSTATUS(st);
}
