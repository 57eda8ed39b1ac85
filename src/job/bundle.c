/* Moving a staged bundle into place, for job.c and set.c (bundle.h). */
#include "job/bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlut/error.h"

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
