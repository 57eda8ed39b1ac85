/* Atomic output files (temporary name, fsync, rename) and whole-file reads. */
#include "dlut/file.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlut/error.h"

int dlut_atomic_begin(dlut_atomic *a, const char *dest_path) {
  memset(a, 0, sizeof *a);
  size_t n = strlen(dest_path);
  a->dest_path = strdup(dest_path);
  a->tmp_path = malloc(n + 16);
  if (!a->dest_path || !a->tmp_path) {
    dlut_atomic_abort(a);
    return dlut_error("%s: out of memory", dest_path);
  }
  memcpy(a->tmp_path, dest_path, n);
  memcpy(a->tmp_path + n, ".tmp.XXXXXX", 12);
  int fd = mkstemp(a->tmp_path);
  if (fd < 0) {
    int e = errno;
    free(a->tmp_path);
    a->tmp_path = NULL;
    dlut_atomic_abort(a);
    return dlut_error("%s: cannot create: %s", dest_path, strerror(e));
  }
  /* mkstemp makes 0600; outputs should look like any other new file. */
  mode_t um = umask(0);
  umask(um);
  fchmod(fd, 0666 & ~um);
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
      rc = dlut_error("%s: fsync failed: %s", a->dest_path, strerror(errno));
    if (fclose(a->fp) != 0 && rc == 0) rc = dlut_error("%s: close failed: %s", a->dest_path, strerror(errno));
    a->fp = NULL;
  }
  if (rc == 0 && rename(a->tmp_path, a->dest_path) != 0)
    rc = dlut_error("%s: cannot rename into place: %s", a->dest_path, strerror(errno));
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
  if (a->tmp_path) unlink(a->tmp_path);
  free(a->tmp_path);
  free(a->dest_path);
  memset(a, 0, sizeof *a);
}

void *dlut_file_read_all(const char *path, size_t max_size, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    dlut_errorc(e == ENOENT ? DLUT_ERR_NOT_FOUND : DLUT_ERR_IO, "%s: cannot open: %s", path, strerror(e));
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
