/* Moving a staged bundle into place, for job.c and set.c (bundle.h). */
#include "job/bundle.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <stdlib.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/job.h"

int dlut__bundle_swap(const char *stage, const char *outdir, const char *const *old_names, int n_old,
                      const char *const *new_names, int n_new) {
  char p[4400], q[4400];
  unsigned char moved_old[DLUT__BUNDLE_SWAP_MAX] = {0}, moved_new[DLUT__BUNDLE_SWAP_MAX] = {0};
  struct stat st;
  if (n_old < 0 || n_new < 0 || n_old > DLUT__BUNDLE_SWAP_MAX || n_new > DLUT__BUNDLE_SWAP_MAX)
    return dlut_errorc(DLUT_ERR_INTERNAL, "bundle: %d and %d names to swap (at most %d)", n_old, n_new,
                       DLUT__BUNDLE_SWAP_MAX);
  for (int i = 0; i < n_old; i++) {
    snprintf(p, sizeof p, "%s/%s", outdir, old_names[i]);
    snprintf(q, sizeof q, "%s/old.%s", stage, old_names[i]);
    if (lstat(p, &st) != 0) continue;
    if (rename(p, q) != 0) {
      dlut_errorc(DLUT_ERR_IO, "cannot replace %s: %s", p, strerror(errno));
      goto rollback;
    }
    moved_old[i] = 1;
  }
  for (int i = 0; i < n_new; i++) {
    snprintf(p, sizeof p, "%s/%s", stage, new_names[i]);
    snprintf(q, sizeof q, "%s/%s", outdir, new_names[i]);
    if (rename(p, q) != 0) {
      dlut_errorc(DLUT_ERR_IO, "cannot move %s into place: %s", q, strerror(errno));
      goto rollback;
    }
    moved_new[i] = 1;
  }
  return 0;
rollback:
  for (int i = 0; i < n_new; i++)
    if (moved_new[i]) {
      snprintf(p, sizeof p, "%s/%s", outdir, new_names[i]);
      snprintf(q, sizeof q, "%s/%s", stage, new_names[i]);
      rename(p, q);
    }
  for (int i = 0; i < n_old; i++)
    if (moved_old[i]) {
      snprintf(p, sizeof p, "%s/old.%s", stage, old_names[i]);
      snprintf(q, sizeof q, "%s/%s", outdir, old_names[i]);
      rename(p, q);
    }
  return -1;
}

int dlut__fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int r = fsync(fd);
  close(fd);
  return r;
}

/* ==== Whose files ==== */

cJSON *dlut__bundle_report(const char *outdir) {
  char p[4400];
  snprintf(p, sizeof p, "%s/report.json", outdir);
  size_t len = 0;
  char *text = dlut_file_read_all(p, (size_t)16 << 20, &len);
  dlut_error_clear();
  cJSON *rep = text ? cJSON_Parse(text) : NULL;
  free(text);
  return rep;
}

/* The names a bundle of any DLUT writes at the top of its folder. */
static int standard_name(const char *name) {
  static const char *const fixed[] = {"look.cube",  "strip.png",  "report.json", "contact.jpg", "heatmap.png",
                                      "graded.jpg", "graded.png", "graded.webp", "graded.tif",  "graded.ppm"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    if (!strcmp(name, fixed[i])) return 1;
  int k = 0, used = 0;
  if (sscanf(name, "region-%d.cube%n", &k, &used) == 1 && name[used] == '\0' && k >= 1 && k <= 99) return 1;
  if (sscanf(name, "mask-%d.png%n", &k, &used) == 1 && name[used] == '\0' && k >= 1 && k <= 99) return 1;
  return 0;
}

int dlut__bundle_ours(const cJSON *rep, const char *name) {
  if (!rep || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(rep, "method"))) return 0; /* not a DLUT report */
  if (!strcmp(name, "report.json")) return 1;
  const cJSON *files = cJSON_GetObjectItemCaseSensitive(rep, "files");
  if (!cJSON_IsArray(files)) return standard_name(name); /* an older DLUT's bundle */
  for (const cJSON *it = files->child; it; it = it->next)
    if (cJSON_IsString(it) && !strcmp(it->valuestring, name)) return 1;
  const cJSON *sheet = cJSON_GetObjectItemCaseSensitive(rep, "contact_sheet");
  return cJSON_IsString(sheet) && !strcmp(sheet->valuestring, name);
}

int dlut__bundle_check_replace(const char *outdir, const cJSON *rep, const char *const *names, int n) {
  char p[4400];
  struct stat st;
  for (int i = 0; i < n; i++) {
    snprintf(p, sizeof p, "%s/%s", outdir, names[i]);
    if (lstat(p, &st) != 0 || dlut__bundle_ours(rep, names[i])) continue;
    return dlut_errorc(DLUT_ERR_INPUT,
                       "%s is already there and is not from an earlier dlut run (%s/report.json does not list it): "
                       "refusing to overwrite it; choose another output folder, or move it away",
                       p, outdir);
  }
  return 0;
}

int dlut_job_bundle_owns(const char *dir, const char *name) {
  if (!dir || !name || !standard_name(name)) return 0; /* a bundle's files all have its names: no report read */
  cJSON *rep = dlut__bundle_report(dir);
  int ours = rep && strcmp(name, "report.json") && dlut__bundle_ours(rep, name);
  cJSON_Delete(rep);
  return ours;
}

/* ==== Staging folders ==== */

const char *dlut__bundle_dir(const char *outdir, char *buf, size_t len) {
  snprintf(buf, len, "%s", outdir);
  size_t n = strlen(buf);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
  return buf;
}

/* Remove `name` in the folder dfd: a file, or a folder entered at most `levels` deep. Everything by
 * descriptor, never following a symlink: a link swapped in for a folder after it was looked at is
 * not entered (openat with O_NOFOLLOW fails on it), and what is inside an opened folder is removed
 * relative to it, wherever that folder has been moved meanwhile. */
static void rm_at(int dfd, const char *name, int levels) {
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) return;
  if (!S_ISDIR(st.st_mode)) {
    unlinkat(dfd, name, 0);
    return;
  }
  if (levels > 0) {
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d && fd >= 0) close(fd);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) rm_at(fd, e->d_name, levels - 1);
      closedir(d); /* closes fd */
    }
  }
  unlinkat(dfd, name, AT_REMOVEDIR);
}

void dlut__rm_tree(const char *dir, int depth) {
  rm_at(AT_FDCWD, dir, depth + 1);
}

/* This host's name as it goes into a staging folder's name: letters, digits and '-' only. */
static void host_tag(char *out, size_t len) {
  char h[256] = "";
  if (gethostname(h, sizeof h - 1) != 0 || !h[0]) snprintf(h, sizeof h, "host");
  size_t o = 0;
  for (size_t i = 0; h[i] && o + 1 < len && o < 40; i++) {
    char c = h[i];
    out[o++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ? c : '-';
  }
  out[o] = '\0';
}

void dlut__bundle_stage_template(char *buf, size_t len, const char *outdir, int inside) {
  char host[48];
  host_tag(host, sizeof host);
  if (inside)
    snprintf(buf, len, "%s/.dlut-stage.%s.%ld.XXXXXX", outdir, host, (long)getpid());
  else
    snprintf(buf, len, "%s.tmp.%s.%ld.XXXXXX", outdir, host, (long)getpid());
}

void dlut__bundle_sweep(const char *outdir, int inside) {
  /* only inside the output folder, the user's own: the folder beside it (its parent, which may be
   * a shared /tmp) is not swept, and what a run left there stays */
  if (!inside) return;
  char host[48], prefix[96];
  host_tag(host, sizeof host);
  snprintf(prefix, sizeof prefix, ".dlut-stage.%s.", host);
  size_t pl = strlen(prefix);
  int dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0) close(dfd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, prefix, pl) != 0) continue;
    char *end = NULL;
    long pid = strtol(e->d_name + pl, &end, 10);
    /* PID then ".XXXXXX" (mkdtemp's six characters) */
    if (!end || end == e->d_name + pl || *end != '.' || strlen(end + 1) != 6 || pid <= 0) continue;
    if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
    struct stat st; /* a folder of this user's, not a link */
    if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
      continue;
    rm_at(dfd, e->d_name, 3);
  }
  closedir(d);
}
