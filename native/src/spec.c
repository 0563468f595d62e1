/* Spec parser. Everything is read, bounds-checked and validated here, before the helper changes
 * anything: a spec that is malformed, out of range, out of order or inconsistent is refused as
 * a whole. Integers are little-endian; strings are u32 length + bytes (no NUL, no terminator). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qj.h"

struct rd {
  const uint8_t *p;
  size_t left;
};

static int get_u16(struct rd *r, uint32_t *v) {
  if (r->left < 2) return -1;
  *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8;
  r->p += 2, r->left -= 2;
  return 0;
}

static int get_u32(struct rd *r, uint32_t *v) {
  if (r->left < 4) return -1;
  *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
  r->p += 4, r->left -= 4;
  return 0;
}

static int get_u64(struct rd *r, uint64_t *v) {
  uint32_t lo, hi;
  if (get_u32(r, &lo) || get_u32(r, &hi)) return -1;
  *v = (uint64_t)hi << 32 | lo;
  return 0;
}

/* Error plumbing: set *op and the detail, return errno. */
struct perr {
  const char **op;
  char *detail;
  size_t dlen;
};
static int fail(struct perr *e, const char *op, int err, const char *detail) {
  *e->op = op;
  snprintf(e->detail, e->dlen, "%s", detail ? detail : "-");
  return err;
}

static int get_str(struct rd *r, char **out, struct perr *e, const char *what) {
  uint32_t n;
  if (get_u32(r, &n)) return fail(e, "truncated", EINVAL, what);
  if (n > QJ_STR_MAX) return fail(e, "too-long", ENAMETOOLONG, what);
  if (r->left < n) return fail(e, "truncated", EINVAL, what);
  if (memchr(r->p, 0, n)) return fail(e, "nul-byte", EINVAL, what);
  char *s = malloc(n + 1);
  if (!s) return fail(e, "malloc", ENOMEM, what);
  memcpy(s, r->p, n);
  s[n] = 0;
  r->p += n, r->left -= n;
  *out = s;
  return 0;
}

/* An absolute, normalised path: "/" or "/a/b" with no empty, "." or ".." component. */
static int path_ok(const char *p, int allow_root) {
  if (p[0] != '/') return 0;
  if (p[1] == 0) return allow_root;
  const char *c = p + 1;
  for (;;) {
    const char *end = strchr(c, '/');
    size_t n = end ? (size_t)(end - c) : strlen(c);
    if (n == 0) return 0;
    if (n == 1 && c[0] == '.') return 0;
    if (n == 2 && c[0] == '.' && c[1] == '.') return 0;
    if (n > 255) return 0;
    if (!end) return 1;
    c = end + 1;
  }
}

static int get_path(struct rd *r, char **out, struct perr *e, const char *what, int allow_root) {
  int err = get_str(r, out, e, what);
  if (err) return err;
  if (!path_ok(*out, allow_root)) return fail(e, "bad-path", EINVAL, *out);
  return 0;
}

static const char *const stages[] = {"parse", "prepare", "fds", "cgroup", "netns", "unshare", "idmap",
                                     "propagation", "root", "proc", "lsm", "pivot", "remount", "rlimits",
                                     "hostname", "creds", "pdeathsig", "cwd", "nnp", "landlock", "seccomp",
                                     NULL};

int qj_stage_known(const char *name) {
  for (int i = 0; stages[i]; i++)
    if (!strcmp(stages[i], name)) return 1;
  return 0;
}

/* Root-building records share one rank: they run in the order given. */
static int rank(uint32_t t) { return t >= QJ_BIND && t <= QJ_MKNOD ? QJ_BIND : (int)t; }

static int read_bpf_fd(int fd, struct qj_bpf *out, struct perr *e) {
  /* Never stdio or our own status fd: reading those could block forever. */
  if (fd <= 2 || fd == qj_status_fd()) return fail(e, "seccomp-fd", EBADF, "seccomp");
  size_t cap = QJ_BPF_MAX_INSNS * sizeof(struct sock_filter) + 1, len = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return fail(e, "malloc", ENOMEM, "seccomp");
  char d[32];
  snprintf(d, sizeof d, "fd:%d", fd);
  for (;;) {
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(e, "seccomp-read", errno, d);
    if (n == 0) break;
    len += (size_t)n;
    if (len == cap) return fail(e, "seccomp-too-long", E2BIG, d);
  }
  close(fd);
  if (len == 0 || len % sizeof(struct sock_filter)) return fail(e, "seccomp-size", EINVAL, d);
  out->insns = (struct sock_filter *)buf;
  out->len = (unsigned short)(len / sizeof(struct sock_filter));
  return 0;
}

static int inline_bpf(struct rd *r, uint32_t n, struct qj_bpf *out, struct perr *e) {
  if (n == 0 || n % sizeof(struct sock_filter) || n / sizeof(struct sock_filter) > QJ_BPF_MAX_INSNS)
    return fail(e, "seccomp-size", EINVAL, "inline");
  if (r->left < n) return fail(e, "truncated", EINVAL, "seccomp");
  out->insns = malloc(n);
  if (!out->insns) return fail(e, "malloc", ENOMEM, "seccomp");
  memcpy(out->insns, r->p, n);
  out->len = (unsigned short)(n / sizeof(struct sock_filter));
  r->p += n, r->left -= n;
  return 0;
}

static int parse_idmap(struct rd *r, struct qj_idmap *m, struct perr *e) {
  if (get_u32(r, &m->inside) || get_u32(r, &m->outside) || get_u32(r, &m->count))
    return fail(e, "truncated", EINVAL, "idmap");
  if (m->count == 0 || m->inside + (uint64_t)m->count > 0xffffffffull ||
      m->outside + (uint64_t)m->count > 0xffffffffull)
    return fail(e, "idmap-range", ERANGE, "idmap");
  /* Safety belt: a user namespace whose ids map onto host root is not a privilege drop. */
  if (m->outside == 0) return fail(e, "idmap-host-root", EPERM, "idmap");
  return 0;
}

static int parse_record(uint32_t type, struct rd *r, struct qj_spec *s, struct perr *e) {
  uint32_t a, b;
  char *str;
  int err;
  switch (type) {
  case QJ_FD:
    if (s->nfds >= QJ_MAX_FDS) return fail(e, "too-many", E2BIG, "fd");
    if (get_u32(r, &a) || get_u32(r, &b)) return fail(e, "truncated", EINVAL, "fd");
    if (a > 65535 || b > 65535) return fail(e, "fd-range", EBADF, "fd");
    for (int i = 0; i < s->nfds; i++)
      if (s->fds[i].dst == (int)b) return fail(e, "fd-duplicate", EINVAL, "fd");
    s->fds[s->nfds].src = (int)a;
    s->fds[s->nfds++].dst = (int)b;
    return 0;
  case QJ_ENV:
    if (s->nenv >= QJ_MAX_ENV) return fail(e, "too-many", E2BIG, "env");
    if ((err = get_str(r, &str, e, "env"))) return err;
    if (str[0] == '=' || !strchr(str, '=')) return fail(e, "env-format", EINVAL, "env");
    s->envp[s->nenv++] = str;
    return 0;
  case QJ_PDEATHSIG:
    if (get_u32(r, &a)) return fail(e, "truncated", EINVAL, "pdeathsig");
    if (a < 1 || a >= (uint32_t)SIGRTMIN) return fail(e, "signal-range", EINVAL, "pdeathsig");
    s->pdeathsig = (int)a;
    return 0;
  case QJ_CGROUP:
    if (s->ncgroups >= QJ_MAX_CGROUPS) return fail(e, "too-many", E2BIG, "cgroup");
    return get_path(r, &s->cgroups[s->ncgroups++], e, "cgroup", 0);
  case QJ_NETNS:
    if (s->netns_path || s->netns_fd >= 0) return fail(e, "duplicate", EINVAL, "netns");
    if (get_u32(r, &a)) return fail(e, "truncated", EINVAL, "netns");
    if ((err = get_str(r, &str, e, "netns"))) return err;
    if (a == QJ_NO_FD) {
      if (!path_ok(str, 0)) return fail(e, "bad-path", EINVAL, str);
      s->netns_path = str;
    } else {
      if (a > 65535 || *str) return fail(e, "netns-fd", EBADF, "netns");
      s->netns_fd = (int)a;
      free(str);
    }
    return 0;
  case QJ_UNSHARE:
    if (s->have_unshare) return fail(e, "duplicate", EINVAL, "unshare");
    if (get_u32(r, &a)) return fail(e, "truncated", EINVAL, "unshare");
    if (a & ~QJ_NS_ALL) return fail(e, "unknown-namespace", EINVAL, "unshare");
    s->ns = a, s->have_unshare = 1;
    return 0;
  case QJ_UIDMAP:
    if (s->nuidmap >= QJ_MAX_IDMAP) return fail(e, "too-many", E2BIG, "uidmap");
    return parse_idmap(r, &s->uidmap[s->nuidmap++], e);
  case QJ_GIDMAP:
    if (s->ngidmap >= QJ_MAX_IDMAP) return fail(e, "too-many", E2BIG, "gidmap");
    return parse_idmap(r, &s->gidmap[s->ngidmap++], e);
  case QJ_PROPAGATION:
    if (s->have_propagation) return fail(e, "duplicate", EINVAL, "propagation");
    if (get_u32(r, &a) || a > 1) return fail(e, "bad-value", EINVAL, "propagation");
    s->propagation_slave = (int)a, s->have_propagation = 1;
    return 0;
  case QJ_ROOT:
    if (s->have_root) return fail(e, "duplicate", EINVAL, "root");
    if (get_u64(r, &s->root_size) || get_u32(r, &s->root_mode)) return fail(e, "truncated", EINVAL, "root");
    if (s->root_mode & ~07777u) return fail(e, "bad-mode", EINVAL, "root");
    s->have_root = 1;
    return get_path(r, &s->root_mountpoint, e, "root", 0);
  case QJ_BIND:
  case QJ_MKDIR:
  case QJ_SYMLINK:
  case QJ_TMPFS:
  case QJ_MKNOD: {
    if (s->nops >= QJ_MAX_ROOT_OPS) return fail(e, "too-many", E2BIG, "root");
    if (!s->ops && !(s->ops = calloc(QJ_MAX_ROOT_OPS, sizeof *s->ops))) return fail(e, "malloc", ENOMEM, "root");
    struct qj_rootop *op = &s->ops[s->nops++];
    op->type = (int)type;
    if (type == QJ_BIND) {
      if (get_u32(r, &op->flags)) return fail(e, "truncated", EINVAL, "bind");
      if (op->flags & ~(QJ_BIND_RW | QJ_BIND_DIR | QJ_BIND_EXEC)) return fail(e, "bad-flags", EINVAL, "bind");
      if ((err = get_path(r, &op->source, e, "bind-source", 0))) return err;
    } else if (type == QJ_MKDIR) {
      if (get_u32(r, &op->mode)) return fail(e, "truncated", EINVAL, "mkdir");
    } else if (type == QJ_SYMLINK) {
      if ((err = get_str(r, &op->source, e, "symlink-target"))) return err;
      if (!*op->source) return fail(e, "empty", EINVAL, "symlink-target");
    } else if (type == QJ_TMPFS) {
      if (get_u32(r, &op->mode) || get_u32(r, &op->uid) || get_u32(r, &op->gid) || get_u64(r, &op->size))
        return fail(e, "truncated", EINVAL, "tmpfs");
    } else {
      if (get_u32(r, &a) || get_u32(r, &op->major) || get_u32(r, &op->minor) || get_u32(r, &op->mode) ||
          get_u32(r, &op->uid) || get_u32(r, &op->gid))
        return fail(e, "truncated", EINVAL, "mknod");
      if (a != 'c' && a != 'b') return fail(e, "bad-type", EINVAL, "mknod");
      if (op->major > 4095 || op->minor > 1048575) return fail(e, "dev-range", ERANGE, "mknod");
      op->devtype = (char)a;
      s->have_mknod = 1;
    }
    if ((op->mode & ~07777u) || ((type == QJ_MKNOD) && (op->mode & ~0777u)))
      return fail(e, "bad-mode", EINVAL, "root");
    return get_path(r, &op->path, e, "root-path", 0);
  }
  case QJ_PROC:
    if (s->have_proc) return fail(e, "duplicate", EINVAL, "proc");
    if (get_u32(r, &s->proc_hidepid) || get_u32(r, &s->proc_flags)) return fail(e, "truncated", EINVAL, "proc");
    if (!(s->proc_hidepid <= 2 || s->proc_hidepid == 4) || (s->proc_flags & ~QJ_PROC_SUBSET_PID))
      return fail(e, "bad-value", EINVAL, "proc");
    s->have_proc = 1;
    return get_path(r, &s->proc_path, e, "proc", 0);
  case QJ_SELINUX_EXEC:
    if (s->selinux_exec) return fail(e, "duplicate", EINVAL, "selinux");
    if ((err = get_str(r, &s->selinux_exec, e, "selinux"))) return err;
    return *s->selinux_exec ? 0 : fail(e, "empty", EINVAL, "selinux");
  case QJ_APPARMOR_EXEC:
    if (s->apparmor_exec) return fail(e, "duplicate", EINVAL, "apparmor");
    if ((err = get_str(r, &s->apparmor_exec, e, "apparmor"))) return err;
    if (!*s->apparmor_exec || strpbrk(s->apparmor_exec, " \n\t")) return fail(e, "bad-value", EINVAL, "apparmor");
    return 0;
  case QJ_RLIMIT: {
    if (s->nrlimits >= QJ_MAX_RLIMITS) return fail(e, "too-many", E2BIG, "rlimit");
    struct qj_rlimit *l = &s->rlimits[s->nrlimits++];
    if (get_u32(r, &l->resource) || get_u64(r, &l->soft) || get_u64(r, &l->hard))
      return fail(e, "truncated", EINVAL, "rlimit");
    if (l->resource > 15 || l->soft > l->hard) return fail(e, "bad-value", EINVAL, "rlimit");
    return 0;
  }
  case QJ_HOSTNAME:
    if (s->hostname) return fail(e, "duplicate", EINVAL, "hostname");
    if ((err = get_str(r, &s->hostname, e, "hostname"))) return err;
    return strlen(s->hostname) <= 64 ? 0 : fail(e, "too-long", ENAMETOOLONG, "hostname");
  case QJ_GROUPS:
    if (s->have_groups) return fail(e, "duplicate", EINVAL, "groups");
    if (get_u32(r, &a) || a > QJ_MAX_GROUPS) return fail(e, "bad-count", E2BIG, "groups");
    for (uint32_t i = 0; i < a; i++)
      if (get_u32(r, &s->groups[i])) return fail(e, "truncated", EINVAL, "groups");
    s->ngroups = (int)a, s->have_groups = 1;
    return 0;
  case QJ_IDS:
    if (s->have_ids) return fail(e, "duplicate", EINVAL, "ids");
    if (get_u32(r, &s->uid) || get_u32(r, &s->gid)) return fail(e, "truncated", EINVAL, "ids");
    if (s->uid == 0xffffffffu || s->gid == 0xffffffffu) return fail(e, "bad-value", EINVAL, "ids");
    s->have_ids = 1;
    return 0;
  case QJ_CAPS:
    if (get_u64(r, &s->caps_keep)) return fail(e, "truncated", EINVAL, "caps");
    return s->caps_keep >> 41 ? fail(e, "bad-value", EINVAL, "caps") : 0;
  case QJ_CWD:
    if (s->cwd) return fail(e, "duplicate", EINVAL, "cwd");
    return get_path(r, &s->cwd, e, "cwd", 1);
  case QJ_LANDLOCK:
    if (s->have_landlock) return fail(e, "duplicate", EINVAL, "landlock");
    if (get_u32(r, &s->landlock_flags)) return fail(e, "truncated", EINVAL, "landlock");
    if (s->landlock_flags & ~(QJ_LL_REQUIRED | QJ_LL_SCOPE_SIGNAL | QJ_LL_SCOPE_ABSTRACT_UNIX))
      return fail(e, "bad-flags", EINVAL, "landlock");
    s->have_landlock = 1;
    return 0;
  case QJ_LANDLOCK_PATH: {
    if (s->nllpaths >= QJ_MAX_LANDLOCK) return fail(e, "too-many", E2BIG, "landlock-path");
    struct qj_llpath *l = &s->llpaths[s->nllpaths++];
    if (get_u64(r, &l->access)) return fail(e, "truncated", EINVAL, "landlock-path");
    if (!l->access || l->access >> 16) return fail(e, "bad-access", EINVAL, "landlock-path");
    return get_path(r, &l->path, e, "landlock-path", 1);
  }
  case QJ_SECCOMP:
    if (s->nbpf >= QJ_MAX_SECCOMP) return fail(e, "too-many", E2BIG, "seccomp");
    if (get_u32(r, &a) || get_u32(r, &b)) return fail(e, "truncated", EINVAL, "seccomp");
    if (a != QJ_NO_FD) {
      if (b != 0 || a > 65535) return fail(e, "bad-value", EINVAL, "seccomp");
      /* Read now, so a bad program is refused before any change. */
      return read_bpf_fd((int)a, &s->bpf[s->nbpf++], e);
    }
    return inline_bpf(r, b, &s->bpf[s->nbpf++], e);
  case QJ_EXEC:
    if (s->have_exec) return fail(e, "duplicate", EINVAL, "exec");
    if (get_u32(r, &a) || get_u32(r, &b)) return fail(e, "truncated", EINVAL, "exec");
    if (b == 0 || b > QJ_MAX_ARGV) return fail(e, "bad-argc", E2BIG, "exec");
    if (a != QJ_NO_FD && a > 65535) return fail(e, "bad-fd", EBADF, "exec");
    s->exec_fd = a == QJ_NO_FD ? -1 : (int)a;
    if ((err = get_str(r, &s->exec_path, e, "exec-path"))) return err;
    if (s->exec_fd < 0 && !path_ok(s->exec_path, 0)) return fail(e, "bad-path", EINVAL, s->exec_path);
    for (uint32_t i = 0; i < b; i++)
      if ((err = get_str(r, &s->argv[i], e, "argv"))) return err;
    s->argc = (int)b, s->have_exec = 1;
    return 0;
  case QJ_FAIL_AFTER:
#ifdef QJ_TEST
    if (s->fail_after) return fail(e, "duplicate", EINVAL, "fail-after");
    if (get_u32(r, &s->fail_mode) || s->fail_mode > 1) return fail(e, "bad-value", EINVAL, "fail-after");
    if ((err = get_str(r, &s->fail_after, e, "fail-after"))) return err;
    return qj_stage_known(s->fail_after) ? 0 : fail(e, "unknown-stage", EINVAL, s->fail_after);
#else
    return fail(e, "test-only-record", EINVAL, "fail-after");
#endif
  case QJ_TRACE:
    if (s->trace) return fail(e, "duplicate", EINVAL, "trace");
    s->trace = 1;
    return 0;
  default:
    return fail(e, "unknown-record", EINVAL, "type");
  }
}

/* Cross-record rules: each effect must be confined by the namespace that contains it. */
static int check_consistency(struct qj_spec *s, struct perr *e) {
  uint32_t ns = s->ns;
  if (!s->have_exec) return fail(e, "missing", EINVAL, "exec");
  if (s->netns_path || s->netns_fd >= 0) {
    if (ns & QJ_NS_NET) return fail(e, "netns-conflict", EINVAL, "netns");
  }
  if ((s->nuidmap || s->ngidmap) && !(ns & QJ_NS_USER)) return fail(e, "needs-userns", EINVAL, "idmap");
  if ((ns & QJ_NS_USER) && (!s->nuidmap || !s->ngidmap)) return fail(e, "missing", EINVAL, "idmap");
  if ((s->have_root || s->have_propagation || s->have_proc) && !(ns & QJ_NS_MOUNT))
    return fail(e, "needs-mountns", EINVAL, "root");
  if ((ns & QJ_NS_MOUNT) && !s->have_root) return fail(e, "missing", EINVAL, "root");
  if (s->nops && !s->have_root) return fail(e, "needs-root", EINVAL, "root");
  if (s->have_proc && !(ns & QJ_NS_PID)) return fail(e, "needs-pidns", EINVAL, "proc");
  if (s->hostname && !(ns & QJ_NS_UTS)) return fail(e, "needs-utsns", EINVAL, "hostname");
  if (s->nllpaths && !s->have_landlock) return fail(e, "needs-landlock", EINVAL, "landlock-path");
  if (s->have_groups && !s->have_ids) return fail(e, "needs-ids", EINVAL, "groups");
  return 0;
}

int qj_spec_parse(const uint8_t *buf, size_t len, struct qj_spec *s, const char **op, char *detail,
                  size_t detail_len) {
  struct perr e = {op, detail, detail_len};
  struct rd r = {buf, len};
  uint32_t version, type, reserved, rlen, count = 0;
  int last_rank = 0, err;
  memset(s, 0, sizeof *s);
  s->netns_fd = -1;
  s->exec_fd = -1;
  if (len < 8 || memcmp(buf, QJ_SPEC_MAGIC, 4)) return fail(&e, "bad-magic", EINVAL, "header");
  r.p += 4, r.left -= 4;
  get_u32(&r, &version);
  if (version != QJ_SPEC_VERSION) return fail(&e, "unsupported-version", EPROTONOSUPPORT, "header");
  for (;;) {
    char where[32];
    if (++count > QJ_MAX_RECORDS) return fail(&e, "too-many-records", E2BIG, "spec");
    if (get_u16(&r, &type) || get_u16(&r, &reserved) || get_u32(&r, &rlen))
      return fail(&e, "truncated", EINVAL, "record-header");
    snprintf(where, sizeof where, "record#%u", count);
    if (reserved != 0) return fail(&e, "reserved-bits", EINVAL, where);
    if (rlen > r.left) return fail(&e, "truncated", EINVAL, where);
    if (type == QJ_END) {
      if (rlen != 0 || r.left != rlen) return fail(&e, "trailing-bytes", EINVAL, where);
      break;
    }
    if (type >= QJ_REC_COUNT) return fail(&e, "unknown-record", EINVAL, where);
    if (type != QJ_FAIL_AFTER) {
      if (rank(type) < last_rank) return fail(&e, "out-of-order", EINVAL, where);
      last_rank = rank(type);
    }
    struct rd body = {r.p, rlen};
    if ((err = parse_record(type, &body, s, &e))) return err;
    if (body.left != 0) return fail(&e, "record-length", EINVAL, where);
    r.p += rlen, r.left -= rlen;
  }
  s->envp[s->nenv] = NULL;
  s->argv[s->argc] = NULL;
  return check_consistency(s, &e);
}
