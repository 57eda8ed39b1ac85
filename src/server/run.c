/* A job's inputs and outputs around dlut_job_run, shared by the in-process
 * workers (jobs.c) and `dlut worker` (worker.c), which differ only in where
 * the bytes live: files in DATA/jobs/<id>/ or fields of a Redis hash.
 *
 * Inputs (named as the job folder's files and the hash's fields):
 *   photo, photo.2 ... photo.N   the photos (a set when the options' "photos" lists N >= 2)
 *   reference                    the reference photo, when the job has one
 *   mask.K                       the matte of region K (a "mask" entry of the options' "regions")
 * Outputs: the bundle, written by the job library (dlut_job_bundle_write or
 * dlut_job_bundle_write_set) whole into one folder, and beside it, for the
 * page, preview.jpg and for a set thumb-N.jpg (each graded photo, 320 px). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/region.h"
#include "server/server_internal.h"

void srv_inputs_free(srv_inputs *in) {
  for (int i = 0; i < in->n_photos; i++) {
    if (in->photos) dlut_image_free(in->photos[i]);
    if (in->names) free(in->names[i]);
  }
  free(in->photos);
  free(in->names);
  dlut_image_free(in->ref);
  for (int k = 0; k < DLUT_REGION_MAX; k++) dlut_image_free(in->masks[k]);
  memset(in, 0, sizeof *in);
}

/* The photo names of a set from the stored options (NULL: one photo). */
static cJSON *photo_list(cJSON *opts) {
  cJSON *p = cJSON_GetObjectItemCaseSensitive(opts, "photos");
  return cJSON_IsArray(p) && cJSON_GetArraySize(p) >= 2 ? p : NULL;
}

int srv_set_size(const char *options_json) {
  cJSON *o = cJSON_Parse(options_json ? options_json : "{}");
  cJSON *p = o ? photo_list(o) : NULL;
  int n = p ? cJSON_GetArraySize(p) : 1;
  cJSON_Delete(o);
  return n;
}

int srv_input_names(const char *options_json, int has_ref, char (*names)[32], int cap) {
  cJSON *opts = cJSON_Parse(options_json ? options_json : "{}");
  cJSON *list = opts ? photo_list(opts) : NULL,
        *regions = opts ? cJSON_GetObjectItemCaseSensitive(opts, "regions") : NULL;
  const int n = list ? cJSON_GetArraySize(list) : 1;
  int w = 0;
  for (int i = 0; i < n && w < cap; i++) {
    if (i == 0)
      snprintf(names[w++], 32, "photo");
    else
      snprintf(names[w++], 32, "photo.%d", i + 1);
  }
  if (has_ref && w < cap) snprintf(names[w++], 32, "reference");
  int k = 0;
  for (const cJSON *r = cJSON_IsArray(regions) ? regions->child : NULL; r && w < cap; r = r->next, k++) {
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(r, "kind");
    if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "mask")) snprintf(names[w++], 32, "mask.%d", k + 1);
  }
  cJSON_Delete(opts);
  return w;
}

void srv_photo_names(const cJSON *list, int n, const char **paths, char (*names)[DLUT_JOB_SET_NAME_LEN]) {
  int i = 0;
  for (const cJSON *e = list->child; e && i < n; e = e->next, i++)
    paths[i] = cJSON_IsString(e) ? e->valuestring : "photo";
  for (; i < n; i++) paths[i] = "photo";
  dlut_job_set_names(paths, n, names);
}

int srv_set_names(const char *options_json, int k, char *graded) {
  graded[0] = 0;
  cJSON *opts = cJSON_Parse(options_json ? options_json : "{}");
  cJSON *list = opts ? photo_list(opts) : NULL;
  const int n = list ? cJSON_GetArraySize(list) : 1;
  if (list && k >= 1 && k <= n) {
    const char **paths = calloc((size_t)n, sizeof *paths);
    char(*names)[DLUT_JOB_SET_NAME_LEN] = calloc((size_t)n, sizeof *names);
    if (paths && names) {
      srv_photo_names(list, n, paths, names);
      snprintf(graded, DLUT_JOB_SET_NAME_LEN, "%s", names[k - 1]);
    }
    free(paths);
    free(names);
  }
  cJSON_Delete(opts);
  return n;
}

static dlut_image *load_blob(srv_blob_fn get, void *user, const char *field, const char *label, unsigned flags) {
  size_t n = 0;
  int owned = 0;
  const uint8_t *data = get(user, field, &n, &owned);
  if (!data) return NULL;
  dlut_image *img = dlut_image_load_memory_flags(data, n, label, flags);
  if (!img && dlut_last_error_code() == DLUT_ERR_INTERNAL) dlut_error_set_code(DLUT_ERR_INPUT);
  if (owned) free((void *)data);
  return img;
}

int srv_inputs_load(const char *options_json, const dlut_job_opts *o, int has_ref, const char *photo_name,
                    srv_blob_fn get, void *user, srv_inputs *in) {
  memset(in, 0, sizeof *in);
  cJSON *opts = cJSON_Parse(options_json ? options_json : "{}");
  if (!opts) return dlut_errorc(DLUT_ERR_INTERNAL, "stored options are not JSON");
  cJSON *list = photo_list(opts);
  const int n = list ? cJSON_GetArraySize(list) : 1;
  int rc = -1;
  if (!(in->photos = calloc((size_t)n, sizeof *in->photos)) || !(in->names = calloc((size_t)n, sizeof *in->names))) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    goto done;
  }
  in->n_photos = n;
  for (int i = 0; i < n; i++) {
    const cJSON *nm = list ? cJSON_GetArrayItem(list, i) : NULL;
    const char *label = cJSON_IsString(nm) ? nm->valuestring : (photo_name && *photo_name ? photo_name : "photo");
    char field[32];
    if (i == 0)
      snprintf(field, sizeof field, "photo");
    else
      snprintf(field, sizeof field, "photo.%d", i + 1);
    if (!(in->names[i] = strdup(label))) {
      dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      goto done;
    }
    if (!(in->photos[i] = load_blob(get, user, field, label, 0))) goto done;
  }
  if (has_ref && !(in->ref = load_blob(get, user, "reference", "reference", 0))) goto done;
  for (int k = 0; k < o->n_regions; k++) {
    if (o->regions[k].kind != DLUT_JOB_REGION_MASK) continue;
    char field[32];
    snprintf(field, sizeof field, "mask.%d", k + 1);
    /* mattes are data: their code values as stored (no ICC), as `dlut grade --mask` reads them */
    if (!(in->masks[k] = load_blob(get, user, field, o->regions[k].where, DLUT_IMAGE_LOAD_NO_ICC))) goto done;
  }
  rc = 0;
done:
  cJSON_Delete(opts);
  if (rc != 0) {
    char why[1024];
    snprintf(why, sizeof why, "%s", dlut_last_error());
    dlut_error_code code = dlut_last_error_code();
    srv_inputs_free(in);
    dlut_errorc(code ? code : DLUT_ERR_INTERNAL, "%s", why);
  }
  return rc;
}

void srv_inputs_job(const srv_inputs *in, dlut_clip *model, const char *model_path, dlut_job_input *ji) {
  memset(ji, 0, sizeof *ji);
  ji->photo = in->photos[0];
  ji->photo_name = in->names[0];
  ji->ref = in->ref;
  ji->ref_name = in->ref ? "reference" : NULL;
  ji->model = model;
  ji->model_path = model_path;
  if (in->n_photos > 1) {
    ji->photos = (const dlut_image *const *)in->photos;
    ji->photo_names = (const char *const *)in->names;
    ji->n_photos = in->n_photos;
  }
  for (int k = 0; k < DLUT_REGION_MAX; k++) ji->masks[k] = in->masks[k];
}

int srv_outputs_write(const dlut_job_result *r, const srv_inputs *in, const dlut_job_opts *o, const char *graded_ext,
                      const char *side_dir, const char *outdir, const dlut_image *small) {
  char p[4600];
  uint8_t *jpg = NULL;
  size_t jn = 0;
  /* the preview first, the bundle last: the bundle's arrival is what "done" means.
   * With regions the preview is the composite (the masks are at the photo's
   * size, so it is made there and reduced). */
  dlut_image *g = NULL;
  if (dlut_job_stop_check(o) != 0) return -1; /* o->stop: before each stage (dlut/job.h, STOPPING) */
  if (r->n_regions > 0 && in->n_photos == 1) {
    const dlut_lut *luts[DLUT_REGION_MAX];
    const float *masks[DLUT_REGION_MAX];
    for (int k = 0; k < r->n_regions; k++) luts[k] = r->regions[k].lut, masks[k] = r->regions[k].mask;
    dlut_image *full = dlut_region_render(r->lut, r->n_regions, luts, masks, in->photos[0], 1.f);
    g = full ? srv_small_rgb8(full, 640) : NULL;
    if (g != full) dlut_image_free(full);
  } else if (small) {
    g = dlut_job_render(r->lut, small, 1.f);
  }
  int ok = g && srv_jpeg(g, &jpg, &jn) == 0;
  dlut_image_free(g);
  snprintf(p, sizeof p, "%s/preview.jpg", side_dir);
  if (!ok || dlut_file_write_all(p, jpg, jn) != 0) {
    free(jpg);
    return -1;
  }
  free(jpg);
  if (in->n_photos > 1) {
    for (int i = 0; i < in->n_photos; i++) { /* thumbnails for the page: the graded photo, 320 px */
      if (dlut_job_stop_check(o) != 0) return -1;
      dlut_image *t = srv_small_rgb8(in->photos[i], 320), *tg = t ? dlut_job_render(r->lut, t, o->strength) : NULL;
      jpg = NULL;
      ok = tg && srv_jpeg(tg, &jpg, &jn) == 0;
      dlut_image_free(tg);
      dlut_image_free(t);
      snprintf(p, sizeof p, "%s/thumb-%d.jpg", side_dir, i + 1);
      if (!ok || dlut_file_write_all(p, jpg, jn) != 0) {
        free(jpg);
        return -1;
      }
      free(jpg);
    }
    return dlut_job_bundle_write_set(r, (const dlut_image *const *)in->photos, (const char *const *)in->names,
                                     in->n_photos, o, outdir, NULL, NULL, NULL);
  }
  char ext_path[64];
  snprintf(ext_path, sizeof ext_path, "x.%s", graded_ext && *graded_ext ? graded_ext : "png");
  return dlut_job_bundle_write(r, in->photos[0], dlut_image_format_from_path(ext_path), o, outdir, NULL);
}
