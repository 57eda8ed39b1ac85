/* Atomic output files (temporary name, fsync, rename), whole-file reads,
 * and the list of temporary files a signal must not leave behind. */
#include "dlut/file.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlut/error.h"

/* ==== Temporary files removed on signals ==== */

/* Paths the process is writing and has not renamed yet. The handler reads
 * them with nothing but unlink/rmdir (async-signal-safe); a slot is marked
 * used only after its path is complete. */
#define N_TRACKED 64
static char g_tracked[N_TRACKED][4096];
static volatile sig_atomic_t g_used[N_TRACKED];
static pthread_mutex_t g_track_mu = PTHREAD_MUTEX_INITIALIZER;

void dlut_file_track(const char *path) {
  if (!path || strlen(path) >= sizeof g_tracked[0]) return;
  pthread_mutex_lock(&g_track_mu);
  for (int i = 0; i < N_TRACKED; i++)
    if (!g_used[i]) {
      memcpy(g_tracked[i], path, strlen(path) + 1);
      g_used[i] = 1;
      break;
    }
  pthread_mutex_unlock(&g_track_mu);
}

void dlut_file_untrack(const char *path) {
  if (!path) return;
  pthread_mutex_lock(&g_track_mu);
  for (int i = 0; i < N_TRACKED; i++)
    if (g_used[i] && !strcmp(g_tracked[i], path)) {
      g_used[i] = 0;
      break;
    }
  pthread_mutex_unlock(&g_track_mu);
}

static void (*volatile g_hook)(void);

void dlut_file_set_cleanup_hook(void (*fn)(void)) {
  g_hook = fn;
}

void dlut_file_remove_tracked(void) {
  void (*hook)(void) = g_hook;
  /* files first, then the (staging) folders that held them */
  for (int i = 0; i < N_TRACKED; i++)
    if (g_used[i]) unlink(g_tracked[i]);
  for (int i = 0; i < N_TRACKED; i++)
    if (g_used[i]) {
      rmdir(g_tracked[i]);
      g_used[i] = 0;
    }
  /* then a writer's own list (more paths than the table holds: a set's graded photos),
   * whose folders the temporary files just removed no longer keep from rmdir */
  if (hook) hook();
}

/* A critical section (the renames that swap a bundle into place) holds a
 * signal until it ends: any thread may receive a process-wide signal, so
 * blocking it in the writing thread would not be enough. */
static volatile sig_atomic_t g_critical, g_pending;

void dlut_file_signal_cleanup(int sig) {
  if (g_critical) {
    g_pending = sig;
    return;
  }
  dlut_file_remove_tracked();
  signal(sig, SIG_DFL);
  raise(sig);
}

void dlut_file_critical_begin(void) {
  g_critical = 1;
}

void dlut_file_critical_end(void) {
  g_critical = 0;
  int sig = g_pending;
  if (sig) {
    g_pending = 0;
    dlut_file_signal_cleanup(sig);
  }
}

void dlut_file_cleanup_on_signals(void) {
  static const int k_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  for (size_t i = 0; i < sizeof k_sigs / sizeof *k_sigs; i++) {
    struct sigaction old;
    if (sigaction(k_sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) continue; /* nohup: keep ignoring */
    signal(k_sigs[i], dlut_file_signal_cleanup);
  }
}

int dlut_file_same(const char *a, const char *b) {
  struct stat sa, sb;
  if (!a || !b || stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* ==== Atomic files ==== */

int dlut_atomic_begin(dlut_atomic *a, const char *dest_path) {
  memset(a, 0, sizeof *a);
  size_t n = strlen(dest_path);
  a->dest_path = strdup(dest_path);
  a->tmp_path = malloc(n + 24);
  if (!a->dest_path || !a->tmp_path) {
    dlut_atomic_abort(a);
    return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", dest_path);
  }
  /* DEST.tmp.XXXXXX beside it; for a name too long for that, a short
   * hidden name in the same folder (rename needs the same filesystem) */
  const char *slash = strrchr(dest_path, '/');
  const size_t base = strlen(slash ? slash + 1 : dest_path), dir = slash ? (size_t)(slash - dest_path) + 1 : 0;
  if (base + 11 > NAME_MAX) {
    memcpy(a->tmp_path, dest_path, dir);
    memcpy(a->tmp_path + dir, ".dlut.tmp.XXXXXX", 17);
  } else {
    memcpy(a->tmp_path, dest_path, n);
    memcpy(a->tmp_path + n, ".tmp.XXXXXX", 12);
  }
  int fd = mkstemp(a->tmp_path);
  if (fd < 0) {
    int e = errno;
    free(a->tmp_path);
    a->tmp_path = NULL;
    dlut_atomic_abort(a);
    return dlut_error("%s: cannot create: %s", dest_path, strerror(e));
  }
  dlut_file_track(a->tmp_path);
  /* mkstemp makes 0600; outputs should look like any other new file, and a
   * replaced file keeps its mode. */
  struct stat old;
  if (stat(dest_path, &old) == 0 && S_ISREG(old.st_mode)) {
    fchmod(fd, old.st_mode & 07777);
  } else {
    mode_t um = umask(0);
    umask(um);
    fchmod(fd, 0666 & ~um);
  }
  a->fp = fdopen(fd, "wb");
  if (!a->fp) {
    close(fd);
    dlut_atomic_abort(a);
    return dlut_error("%s: cannot open: %s", dest_path, strerror(errno));
  }
  setvbuf(a->fp, NULL, _IOFBF, 256 << 10); /* outputs are megabytes: 256 kB writes, not 4 kB ones */
  return 0;
}

int dlut_atomic_commit(dlut_atomic *a) {
  int rc = 0;
  if (a->fp) {
    if (fflush(a->fp) != 0 || ferror(a->fp))
      rc = dlut_errorc(DLUT_ERR_IO, "%s: write failed: %s", a->dest_path, strerror(errno));
    else if (fsync(fileno(a->fp)) != 0 && errno != EINVAL)
      rc = dlut_errorc(DLUT_ERR_IO, "%s: fsync failed: %s", a->dest_path, strerror(errno));
    if (fclose(a->fp) != 0 && rc == 0)
      rc = dlut_errorc(DLUT_ERR_IO, "%s: close failed: %s", a->dest_path, strerror(errno));
    a->fp = NULL;
  }
  if (rc == 0 && rename(a->tmp_path, a->dest_path) != 0)
    rc = dlut_errorc(DLUT_ERR_IO, "%s: cannot rename into place: %s", a->dest_path, strerror(errno));
  if (rc == 0) dlut_file_untrack(a->tmp_path);
  if (rc != 0) {
    dlut_atomic_abort(a);
    return rc;
  }
  free(a->tmp_path);
  free(a->dest_path);
  memset(a, 0, sizeof *a);
  return 0;
}

void dlut_atomic_abort(dlut_atomic *a) {
  if (a->fp) fclose(a->fp);
  if (a->tmp_path) {
    unlink(a->tmp_path);
    dlut_file_untrack(a->tmp_path);
  }
  free(a->tmp_path);
  free(a->dest_path);
  memset(a, 0, sizeof *a);
}

int dlut_file_write_all(const char *path, const void *data, size_t n) {
  dlut_atomic a;
  if (dlut_atomic_begin(&a, path) != 0) return -1;
  if (n && fwrite(data, 1, n, a.fp) != n) {
    dlut_atomic_abort(&a);
    return dlut_errorc(DLUT_ERR_IO, "%s: write failed", path);
  }
  return dlut_atomic_commit(&a);
}

int dlut_file_mkdir_p(const char *path, unsigned mode) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return -1;
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  if (mkdir(tmp, (mode_t)mode) != 0 && errno != EEXIST) return -1;
  struct stat st;
  return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

void *dlut_file_read_all(const char *path, size_t max_size, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    dlut_errorc(e == ENOENT ? DLUT_ERR_NOT_FOUND : DLUT_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    dlut_errorc(DLUT_ERR_INPUT, "%s: is a folder, not a file", path);
    return NULL;
  }
  char *buf = NULL;
  size_t cap = 0, len = 0;
  for (;;) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 65536;
      if (ncap > max_size + 1) ncap = max_size + 1;
      if (ncap <= len) {
        dlut_errorc(DLUT_ERR_TOO_LARGE, "%s: file larger than %zu bytes", path, max_size);
        goto fail;
      }
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  if (ferror(f)) {
    dlut_error("%s: read error", path);
    goto fail;
  }
  if (len > max_size) {
    dlut_errorc(DLUT_ERR_TOO_LARGE, "%s: file larger than %zu bytes", path, max_size);
    goto fail;
  }
  fclose(f);
  if (!buf) buf = malloc(1);
  if (!buf) {
    dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", path);
    return NULL;
  }
  buf[len] = '\0';
  *size = len;
  return buf;
fail:
  free(buf);
  fclose(f);
  return NULL;
}

const char *dlut_file_ext(const char *path, char buf[16]) {
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash : path, '.');
  buf[0] = '\0';
  if (!dot || strlen(dot + 1) >= 16) return buf;
  size_t i = 0;
  for (const char *p = dot + 1; *p; p++) buf[i++] = (char)tolower((unsigned char)*p);
  buf[i] = '\0';
  return buf;
}
