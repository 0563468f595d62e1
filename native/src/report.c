/* Status lines on the status fd: one line per event, each written with a single write(2) so
 * lines never interleave (< PIPE_BUF). Paths are percent-encoded so a line always has a fixed
 * number of space-separated fields. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "qj.h"

static int status_fd = -1;

void qj_status_init(int fd) { status_fd = fd; }
int qj_status_fd(void) { return status_fd; }

const char *qj_errname(int err) {
  const char *n = strerrorname_np(err);
  return n ? n : "EUNKNOWN";
}

void qj_status(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  if (status_fd < 0) return;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof line - 2) n = (int)(sizeof line - 2);
  line[n++] = '\n';
  int saved = errno;
  /* Best effort: a closed reader must not change what the helper does. */
  ssize_t w;
  do w = write(status_fd, line, (size_t)n);
  while (w < 0 && errno == EINTR);
  errno = saved;
}

void qj_stage_ok(const char *stage) { qj_status("stage %s ok", stage); }

/* Encode bytes outside the printable, space-free ASCII range (and '%') as %HH. */
static void encode(const char *in, char *out, size_t outlen) {
  static const char hex[] = "0123456789ABCDEF";
  size_t o = 0;
  if (!in || !*in) in = "-";
  for (; *in && o + 4 < outlen; in++) {
    unsigned char c = (unsigned char)*in;
    if (c <= 0x20 || c >= 0x7f || c == '%') {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = 0;
}

void qj_fail_line(const char *stage, const char *op, const char *path, int err) {
  char enc[700];
  encode(path, enc, sizeof enc);
  qj_status("fail %s %s %s %s %d", stage, op, enc, qj_errname(err), err);
}

void qj_die(const char *stage, const char *op, const char *path, int err, int code) {
  qj_fail_line(stage, op, path, err);
  _exit(code);
}
