/* src/job/set.c - the bundle of a graded set (dlut/job.h): look.cube,
 * strip.png, report.json, contact.jpg and graded/NAME for every photo,
 * written into a staging folder and moved into place whole, as the
 * single-photo bundle is, or not at all. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/jsonb.h"
#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/job.h"
#include "job/bundle.h"
#include "job/job_private.h"

#define NAME_MAX_LEN 256
#define PATH_LEN 4400

/* ==== Output names ==== */

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

int dlut_job_set_names(const char *const *paths, int n, char (*names)[DLUT_JOB_SET_NAME_LEN]) {
  for (int i = 0; i < n; i++) {
    const char *b = base_name(paths[i] ? paths[i] : "");
    char stem[DLUT_JOB_SET_NAME_LEN], ext[32] = "";
    if (!*b || !strcmp(b, ".") || !strcmp(b, "..")) b = "photo";
    size_t cut = strlen(b) > 200 ? 200 : strlen(b);
    while (cut > 0 && ((unsigned char)b[cut] & 0xC0) == 0x80) cut--; /* not inside a UTF-8 character */
    snprintf(stem, sizeof stem, "%.*s", (int)cut, b);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem && strlen(dot) < sizeof ext) {
      snprintf(ext, sizeof ext, "%s", dot);
      *dot = 0;
    }
    /* a name the writers cannot tell the format of is written as PNG */
    char probe[DLUT_JOB_SET_NAME_LEN + 40];
    snprintf(probe, sizeof probe, "x%s", ext);
    if (dlut_image_format_from_path(probe) == DLUT_IMAGE_FORMAT_UNKNOWN) {
      size_t l = strlen(stem);
      snprintf(stem + l, sizeof stem - l, "%s", ext);
      snprintf(ext, sizeof ext, ".png");
    }
    /* the same name from two folders: the later ones get -2, -3 ... */
    snprintf(names[i], DLUT_JOB_SET_NAME_LEN, "%s%s", stem, ext);
    for (int k = 2;; k++) {
      int clash = 0;
      for (int j = 0; j < i && !clash; j++) clash = !strcasecmp(names[j], names[i]);
      if (!clash) break;
      snprintf(names[i], DLUT_JOB_SET_NAME_LEN, "%s-%d%s", stem, k, ext);
    }
  }
  return 0;
}

/* ==== Signals: the staging folder's files, removed by the handler ==== */

/* One list per process: set bundles are written one at a time (g_set_mu). */
static char (*g_sig_paths)[PATH_LEN];
static volatile int g_sig_n;
static pthread_mutex_t g_set_mu = PTHREAD_MUTEX_INITIALIZER;

static void remove_staged(void) { /* async-signal-safe: unlink and rmdir over prepared names */
  for (int i = 0; i < g_sig_n; i++) unlink(g_sig_paths[i]);
  for (int i = g_sig_n - 1; i >= 0; i--) rmdir(g_sig_paths[i]);
}

/* ==== Helpers ==== */

static int is_an_input(const char *path, const char *const *paths, int n, const char *const *inputs) {
  for (int i = 0; i < n; i++)
    if (paths[i] && dlut_file_same(path, paths[i])) return 1;
  for (int i = 0; inputs && inputs[i]; i++)
    if (dlut_file_same(path, inputs[i])) return 1;
  return 0;
}

/* graded/ of an existing outdir is replaced whole, so everything in it must
 * be DLUT's own: a plain file that the report.json beside it lists as
 * "graded/NAME" (an earlier set's "photos", set_report, or the "files" of
 * a single photo graded there after it). Anything else - the user's
 * own file, a folder, graded/ itself not a folder, no readable report - is
 * refused naming one such entry, before anything is written. 0 or -1. */
int dlut_job_bundle_set_check(const char *outdir) {
  char q[PATH_LEN], p[PATH_LEN];
  struct stat st;
  snprintf(q, sizeof q, "%s/graded", outdir);
  if (lstat(q, &st) != 0) return 0; /* none: nothing to replace */
  if (!S_ISDIR(st.st_mode))
    return dlut_errorc(DLUT_ERR_INPUT,
                       "%s is not a folder DLUT wrote (a set's graded/ is one): refusing to replace it; choose "
                       "another output folder, or move it away",
                       q);
  snprintf(p, sizeof p, "%s/report.json", outdir);
  size_t len = 0;
  char *text = dlut_file_read_all(p, (size_t)16 << 20, &len);
  if (!text && dlut_last_error_code() == DLUT_ERR_NOMEM) return -1;
  dlut_error_clear(); /* no report (or an unreadable one): nothing in graded/ is known to be ours */
  cJSON *rep = text ? cJSON_Parse(text) : NULL;
  free(text);
  const cJSON *photos = rep ? cJSON_GetObjectItemCaseSensitive(rep, "photos") : NULL;
  /* a single photo graded into the folder after the set carries the set's names in "files" */
  const cJSON *files = rep ? cJSON_GetObjectItemCaseSensitive(rep, "files") : NULL;
  DIR *d = opendir(q);
  if (!d) {
    cJSON_Delete(rep);
    return dlut_errorc(DLUT_ERR_IO, "%s: cannot read the folder: %s", q, strerror(errno));
  }
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    int listed = 0;
    snprintf(p, sizeof p, "%s/%s", q, e->d_name);
    for (const cJSON *it = cJSON_IsArray(photos) ? photos->child : NULL; it && !listed; it = it->next) {
      const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "graded");
      if (cJSON_IsString(g) && !strncmp(g->valuestring, "graded/", 7) && !strcmp(g->valuestring + 7, e->d_name))
        listed = 1;
    }
    for (const cJSON *it = cJSON_IsArray(files) ? files->child : NULL; it && !listed; it = it->next)
      if (cJSON_IsString(it) && !strncmp(it->valuestring, "graded/", 7) && !strcmp(it->valuestring + 7, e->d_name))
        listed = 1;
    if (!listed || lstat(p, &st) != 0 || !S_ISREG(st.st_mode))
      rc = dlut_errorc(DLUT_ERR_INPUT,
                       "%s is not listed in %s/report.json, the last run's report there (a file of yours, or "
                       "of a set graded there before another run), and %s is replaced whole: refusing to "
                       "delete it; choose another output folder, or move it away",
                       p, outdir, q);
  }
  closedir(d);
  cJSON_Delete(rep);
  return rc;
}

/* report.json with "photos" as {input, graded} pairs and the contact sheet named */
static char *set_report(const char *json, const char *const *paths, char (*names)[DLUT_JOB_SET_NAME_LEN], int n) {
  cJSON *rep = cJSON_Parse(json);
  if (!rep) return NULL;
  cJSON_DeleteItemFromObjectCaseSensitive(rep, "photos");
  cJSON_DeleteItemFromObjectCaseSensitive(rep, "photo");
  jsonb b = {0};
  cJSON *list = jsonb_arr(&b, rep, "photos");
  for (int i = 0; list && i < n; i++) {
    cJSON *o = jsonb_obj(&b, list, NULL);
    char g[DLUT_JOB_SET_NAME_LEN + 8];
    snprintf(g, sizeof g, "graded/%s", names[i]);
    jsonb_str(&b, o, "input", paths[i] ? paths[i] : "");
    jsonb_str(&b, o, "graded", g);
  }
  jsonb_str(&b, rep, "contact_sheet", "contact.jpg");
  /* every file of the bundle, as a single photo's report lists its own */
  cJSON_DeleteItemFromObjectCaseSensitive(rep, "files");
  cJSON *files = jsonb_arr(&b, rep, "files");
  static const char *const top[] = {"look.cube", "strip.png", "report.json", "contact.jpg"};
  for (size_t i = 0; files && i < sizeof top / sizeof top[0]; i++) jsonb_str(&b, files, NULL, top[i]);
  for (int i = 0; files && i < n; i++) {
    char g[DLUT_JOB_SET_NAME_LEN + 8];
    snprintf(g, sizeof g, "graded/%s", names[i]);
    jsonb_str(&b, files, NULL, g);
  }
  return jsonb_print(&b, rep, 1);
}

/* The earlier single-photo bundle's files that a set does not write (graded.EXT, region-N.cube,
 * mask-N.png, heatmap.png), where the report in outdir lists them: they go with it. */
#define N_STALE_MAX (5 + 2 * DLUT_REGION_MAX + 1)
static int single_stale(const char *outdir, char (*out)[32]) {
  cJSON *rep = dlut__bundle_report(outdir);
  const cJSON *files = rep ? cJSON_GetObjectItemCaseSensitive(rep, "files") : NULL;
  int n = 0;
  char nm[32];
  for (int k = 0; k < N_STALE_MAX && cJSON_IsArray(files); k++) {
    static const char *const ext[5] = {"jpg", "png", "webp", "tif", "ppm"};
    if (k < 5)
      snprintf(nm, sizeof nm, "graded.%s", ext[k]);
    else if (k == N_STALE_MAX - 1)
      snprintf(nm, sizeof nm, "heatmap.png");
    else
      snprintf(nm, sizeof nm, (k - 5) % 2 ? "mask-%d.png" : "region-%d.cube", (k - 5) / 2 + 1);
    for (const cJSON *it = files->child; it; it = it->next)
      if (cJSON_IsString(it) && !strcmp(it->valuestring, nm)) {
        snprintf(out[n++], 32, "%s", nm);
        break;
      }
  }
  cJSON_Delete(rep);
  return n;
}

/* ==== The bundle ==== */

#define N_FIXED 5
static const char *const k_fixed[N_FIXED] = {"look.cube", "strip.png", "report.json", "contact.jpg", "graded"};

int dlut_job_bundle_write_set(const dlut_job_result *res, const dlut_image *const *photos, const char *const *paths,
                              int n, const dlut_job_opts *o, const char *outdir, const char *const *inputs,
                              dlut_job_set_progress cb, void *user) {
  char stage[4200] = "", p[PATH_LEN], q[PATH_LEN];
  char(*names)[DLUT_JOB_SET_NAME_LEN] = NULL;
  dlut_image *graded = NULL, *strip = NULL, *sheet = NULL;
  char *report = NULL;
  int existing = 0, rc = -1, blocked = 0;
  struct stat st;
  if (!res || !res->lut || !res->report_json || !photos || !paths || !outdir || !*outdir)
    return dlut_errorc(DLUT_ERR_INPUT, "bundle: nothing to write");
  if (n < 1 || n > DLUT_GRADE_SET_MAX)
    return dlut_errorc(DLUT_ERR_INPUT, "bundle: %d photos (1..%d)", n, DLUT_GRADE_SET_MAX);
  if (strlen(outdir) > 3800) return dlut_errorc(DLUT_ERR_INPUT, "bundle: output folder name too long");
  char outdir_buf[3804];
  outdir = dlut__bundle_dir(outdir, outdir_buf, sizeof outdir_buf); /* "out/" is "out" */
  for (int i = 0; i < n; i++)
    if (!photos[i]) return dlut_errorc(DLUT_ERR_INPUT, "bundle: photo %d is missing", i + 1);
  pthread_mutex_lock(&g_set_mu);
  if (!(names = calloc((size_t)n, sizeof *names)) ||
      !(g_sig_paths = calloc((size_t)n + N_FIXED + 2, sizeof *g_sig_paths))) {
    free(names);
    pthread_mutex_unlock(&g_set_mu);
    return dlut_errorc(DLUT_ERR_NOMEM, "bundle: out of memory");
  }
  dlut_job_set_names(paths, n, names);

  existing = stat(outdir, &st) == 0;
  if (existing && !S_ISDIR(st.st_mode)) {
    dlut_errorc(DLUT_ERR_INPUT, "%s exists and is not a folder", outdir);
    goto fail;
  }
  /* refuse before writing anything: no output, and nothing in an earlier
   * graded/ (which is replaced whole), may be an input */
  if (existing) {
    for (int i = 0; i < N_FIXED; i++) {
      snprintf(p, sizeof p, "%s/%s", outdir, k_fixed[i]);
      if (is_an_input(p, paths, n, inputs)) {
        dlut_errorc(DLUT_ERR_INPUT, "%s is one of the inputs: refusing to overwrite it", p);
        goto fail;
      }
    }
    snprintf(q, sizeof q, "%s/graded", outdir);
    DIR *d = opendir(q);
    struct dirent *e;
    int bad = 0;
    while (d && !bad && (e = readdir(d))) {
      snprintf(p, sizeof p, "%s/%s", q, e->d_name);
      bad = strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && is_an_input(p, paths, n, inputs);
    }
    if (d) closedir(d);
    if (bad) {
      dlut_errorc(DLUT_ERR_INPUT, "%s is one of the inputs, and %s is replaced whole: refusing", p, q);
      goto fail;
    }
    if (dlut_job_bundle_set_check(outdir) != 0) goto fail;
    /* a file of the same name that no earlier DLUT run here wrote is never overwritten */
    cJSON *prev = dlut__bundle_report(outdir);
    int refuse = dlut__bundle_check_replace(outdir, prev, k_fixed, N_FIXED - 1); /* graded/: checked above */
    cJSON_Delete(prev);
    if (refuse) goto fail;
  }

  /* stage: inside an existing folder (same filesystem), else beside it */
  if (existing) {
    dlut__bundle_sweep(outdir, 1);
    dlut__bundle_stage_template(stage, sizeof stage, outdir, 1);
  } else {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", outdir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
      *slash = 0;
      if (dlut_file_mkdir_p(parent, 0777) != 0) {
        dlut_errorc(DLUT_ERR_IO, "cannot create the folder %s: %s", parent,
                    errno == EEXIST || errno == ENOTDIR ? "a file of that name (or of a folder above it) is in the way"
                                                        : strerror(errno));
        goto fail;
      }
    }
    dlut__bundle_sweep(outdir, 0);
    dlut__bundle_stage_template(stage, sizeof stage, outdir, 0);
  }
  if (!mkdtemp(stage)) {
    stage[0] = 0;
    dlut_errorc(DLUT_ERR_IO, "cannot create a staging folder for %s: %s", outdir, strerror(errno));
    goto fail;
  }
  chmod(stage, 0777 & ~0022);
  /* what a signal must remove: the folders first in the list (rmdir runs
   * backwards), then every file that will be in them */
  snprintf(g_sig_paths[0], PATH_LEN, "%s", stage);
  snprintf(g_sig_paths[1], PATH_LEN, "%s/graded", stage);
  for (int i = 0; i < N_FIXED - 1; i++) snprintf(g_sig_paths[2 + i], PATH_LEN, "%s/%s", stage, k_fixed[i]);
  for (int i = 0; i < n; i++) snprintf(g_sig_paths[N_FIXED + 1 + i], PATH_LEN, "%s/graded/%s", stage, names[i]);
  g_sig_n = n + N_FIXED + 1;
  dlut_file_set_cleanup_hook(remove_staged);
  snprintf(p, sizeof p, "%s/graded", stage);
  if (mkdir(p, 0777) != 0) {
    dlut_errorc(DLUT_ERR_IO, "cannot create %s: %s", p, strerror(errno));
    goto fail;
  }

  /* a stop (o->stop) is asked before every photo's render and encode: a
   * set of large photos takes seconds a photo */
  snprintf(p, sizeof p, "%s/look.cube", stage);
  if (dlut_job_stop_check(o) != 0 || dlut_lut_save(res->lut, p, NULL) != 0) goto fail;
  snprintf(p, sizeof p, "%s/strip.png", stage);
  dlut_image_save_opts fast = {.fast = 1};
  if (!(strip = dlut_lut_strip(res->lut, res->lut->size >= 33 ? 1 : (33 + res->lut->size - 1) / res->lut->size)) ||
      dlut_image_save(strip, p, &fast) != 0)
    goto fail;
  if (!(sheet = dlut_job_contact_new(n))) goto fail;
  for (int i = 0; i < n; i++) {
    if (dlut_job_stop_check(o) != 0) goto fail;
    if (!(graded = dlut_job_render_result(res, photos[i], o ? o->strength : 1.f))) goto fail;
    dlut_image_save_opts so = {0};
    so.quality = o ? o->quality : 0;
    so.fast = o ? o->fast_encode : 0;
    snprintf(p, sizeof p, "%s/graded/%s", stage, names[i]);
    if (dlut_job_stop_check(o) != 0 || dlut__job_save_image(graded, p, &so, o) != 0) goto fail;
    /* log footage: "before" is the photo as displayed, not its flat code values */
    if (res->camlog >= 0) {
      dlut_image *shown = dlut_camlog_image_to_display((dlut_camlog)res->camlog, photos[i]);
      int ok = shown && dlut_job_contact_add(sheet, n, i, shown, graded) == 0;
      dlut_image_free(shown);
      if (!ok) goto fail;
    } else if (dlut_job_contact_add(sheet, n, i, photos[i], graded) != 0) {
      goto fail;
    }
    dlut_image_free(graded);
    graded = NULL;
    if (cb) cb(user, i + 1, n, names[i]);
  }
  snprintf(p, sizeof p, "%s/contact.jpg", stage);
  dlut_image_save_opts sheet_opts = {.quality = 90};
  if (dlut_job_stop_check(o) != 0 || dlut__job_save_image(sheet, p, &sheet_opts, o) != 0) goto fail;
  if (!(report = set_report(res->report_json, paths, names, n))) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory building report.json");
    goto fail;
  }
  size_t rl = strlen(report);
  snprintf(p, sizeof p, "%s/report.json", stage);
  {
    char *withnl = malloc(rl + 2);
    if (!withnl) {
      dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      goto fail;
    }
    memcpy(withnl, report, rl);
    withnl[rl] = '\n';
    withnl[rl + 1] = 0;
    int w = dlut_file_write_all(p, withnl, rl + 1);
    free(withnl);
    if (w != 0) goto fail;
  }
  if (dlut_job_stop_check(o) != 0) goto fail; /* the last chance: after the swap the job is done */

  /* the swap is a handful of renames: no signal may stop it half-way */
  dlut_file_critical_begin();
  blocked = 1;
  if (!existing) {
    if (rename(stage, outdir) != 0) {
      dlut_errorc(DLUT_ERR_IO, "cannot move the results into %s: %s", outdir, strerror(errno));
      goto fail;
    }
    stage[0] = 0;
  } else {
    /* the earlier bundle's names set aside: the set's, and a single photo's the earlier report lists */
    char stale[N_STALE_MAX][32];
    const char *olds[N_FIXED + N_STALE_MAX];
    int n_old = 0, n_stale = single_stale(outdir, stale);
    for (int i = 0; i < N_FIXED; i++) olds[n_old++] = k_fixed[i];
    for (int i = 0; i < n_stale; i++) {
      snprintf(q, sizeof q, "%s/%s", outdir, stale[i]);
      if (!is_an_input(q, paths, n, inputs)) olds[n_old++] = stale[i]; /* an input stays where it is */
    }
    if (dlut__bundle_swap(stage, outdir, olds, n_old, k_fixed, N_FIXED) != 0) goto fail;
  }
  g_sig_n = 0; /* the results are in place: nothing for a signal to remove */
  dlut__fsync_dir(outdir);
  rc = 0;
  /* fall through: clean up the staging folder (with the earlier bundle in it) */
fail:
  if (stage[0]) dlut__rm_tree(stage, 2);
  g_sig_n = 0;
  dlut_file_set_cleanup_hook(NULL);
  if (blocked) dlut_file_critical_end();
  free(g_sig_paths);
  g_sig_paths = NULL;
  pthread_mutex_unlock(&g_set_mu);
  free(names);
  free(report);
  dlut_image_free(graded);
  dlut_image_free(strip);
  dlut_image_free(sheet);
  return rc;
}
