/* One grading job (dlut/job.h): model discovery, the choice of method, the
 * run, report.json from the options actually used, and the bundle written
 * whole or not at all. `dlut grade`, `dlut serve` and `dlut worker` all
 * come through here. */
#include "dlut/job.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonb.h"
#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/looks.h"
#include "job/bundle.h"
#include "job/job_private.h"
#include "job/job_region.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ==== Model discovery ==== */

static int is_model_dir(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s/config.json", dir);
  return access(p, R_OK) == 0;
}

/* "chinese_clip", "clip" ... from a model folder's config.json, or "" */
static void model_type(const char *dir, char *out, size_t len) {
  char p[4096];
  out[0] = 0;
  snprintf(p, sizeof p, "%s/config.json", dir);
  size_t n;
  char *text = dlut_file_read_all(p, 1 << 20, &n);
  if (!text) {
    dlut_error_clear();
    return;
  }
  cJSON *j = cJSON_Parse(text);
  const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "model_type") : NULL;
  if (cJSON_IsString(t)) snprintf(out, len, "%s", t->valuestring);
  cJSON_Delete(j);
  free(text);
}

/* U+2E80..U+9FFF and U+F900..U+FAFF: 3-byte UTF-8 leads E2 BA.. to EF */
static int has_cjk(const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
    if (*p >= 0xE2 && *p <= 0xEF && !(*p == 0xE2 && p[1] < 0xBA)) return 1;
  return 0;
}

void dlut_job_find_model(const char *explicit_dir, const char *prompt, char *out, size_t len, const char **source) {
  const char *dummy;
  if (!source) source = &dummy;
  out[0] = 0;
  *source = "";
  if (explicit_dir && *explicit_dir) {
    snprintf(out, len, "%s", explicit_dir);
    *source = "explicit";
    return;
  }
  const char *env = getenv("DLUT_MODEL");
  if (env && *env) {
    snprintf(out, len, "%s", env);
    *source = "env";
    return;
  }
  const char *root = getenv("DLUT_MODELS");
  char def[4096];
  if (!root || !*root) {
    const char *home = getenv("HOME");
    if (!home || !*home) return;
    snprintf(def, sizeof def, "%s/.local/share/dlut/models", home);
    root = def;
  }
  DIR *d = opendir(root);
  if (!d) return;
  const int want_zh = has_cjk(prompt);
  char first[256] = "", suited[256] = "";
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof first) continue;
    char p[4400], type[64];
    snprintf(p, sizeof p, "%s/%s", root, e->d_name);
    if (!is_model_dir(p)) continue;
    if (!first[0] || strcmp(e->d_name, first) < 0) snprintf(first, sizeof first, "%s", e->d_name);
    model_type(p, type, sizeof type);
    int zh = strcmp(type, "chinese_clip") == 0;
    if (type[0] && zh == want_zh && (!suited[0] || strcmp(e->d_name, suited) < 0))
      snprintf(suited, sizeof suited, "%s", e->d_name);
  }
  closedir(d);
  const char *pick = suited[0] ? suited : first;
  if (pick[0]) {
    snprintf(out, len, "%s/%s", root, pick);
    *source = "downloads";
  }
}

/* ==== Report ==== */

const char *dlut_job_method_name(dlut_job_method m) {
  return m == DLUT_JOB_CLIP ? "clip" : m == DLUT_JOB_TRANSFER ? "transfer" : "looks";
}

static void losses_json(jsonb *b, cJSON *parent, const char *key, const dlut_grade_losses *l, int with_total) {
  cJSON *o = jsonb_obj(b, parent, key);
  if (with_total) jsonb_num_or_null(b, o, "total", l->total);
  jsonb_num_or_null(b, o, "clip", l->clip);
  jsonb_num_or_null(b, o, "mono", l->mono);
  jsonb_num_or_null(b, o, "smooth", l->smooth);
  jsonb_num_or_null(b, o, "vol", l->vol);
  jsonb_num_or_null(b, o, "shift", l->shift);
  jsonb_num_or_null(b, o, "eigen", l->eigen);
}

/* report.json; NULL when out of memory (never a report with a member missing) */
static char *build_report(const dlut_job_input *in, const dlut_job_opts *o, const dlut_job_result *r) {
  const dlut_grade_opts *g = &o->grade;
  jsonb b = {0};
  cJSON *rep = jsonb_root(&b);
  jsonb_str(&b, rep, "prompt", o->prompt ? o->prompt : "");
  if (in->photos && in->n_photos > 0) {
    cJSON *list = jsonb_arr(&b, rep, "photos");
    for (int i = 0; list && i < in->n_photos; i++)
      jsonb_str(&b, list, NULL, in->photo_names && in->photo_names[i] ? in->photo_names[i] : "");
  } else if (in->photo_name) {
    jsonb_str(&b, rep, "photo", in->photo_name);
  }
  jsonb_str(&b, rep, "method", dlut_job_method_name(r->method));
  jsonb_str(&b, rep, "model",
            r->method == DLUT_JOB_CLIP       ? (in->model_path ? in->model_path : "(given)")
            : r->method == DLUT_JOB_TRANSFER ? "none (colour transfer)"
                                             : "none (offline looks)");
  if (r->understood[0] || r->method == DLUT_JOB_LOOKS) jsonb_str(&b, rep, "understood", r->understood);
  if (r->ignored[0]) jsonb_str(&b, rep, "ignored", r->ignored);
  if (r->suggested[0]) jsonb_str(&b, rep, "suggested", r->suggested);
  if (r->corrected[0]) jsonb_str(&b, rep, "corrected", r->corrected);
  if (r->scene[0]) jsonb_str(&b, rep, "scene", r->scene);
  if (r->neutral_wb) { /* "remove the colour cast": what was measured and taken out */
    cJSON *c = jsonb_obj(&b, rep, "colour_cast");
    jsonb_num(&b, c, "a", round(r->cast_ab[0] * 100) / 100);
    jsonb_num(&b, c, "b", round(r->cast_ab[1] * 100) / 100);
    jsonb_num(&b, c, "taken_out", r->cast_taken); /* 0: none (no grey to judge by, or colour strength 0) */
  }
  cJSON *set = jsonb_obj(&b, rep, "settings");
  const int steps_planned =
      r->method == DLUT_JOB_CLIP ? (g->steps ? g->steps : (g->param == DLUT_GRADE_PARAM_FIELD ? 1000 : 200)) : 0;
  jsonb_str(&b, set, "param", g->param == DLUT_GRADE_PARAM_FIELD ? "field" : "lattice");
  jsonb_num(&b, set, "lut_size", r->lut->size);
  jsonb_num(&b, set, "steps_planned", steps_planned);
  jsonb_num(&b, set, "lr", g->lr > 0 ? g->lr : (g->param == DLUT_GRADE_PARAM_FIELD ? 2e-4 : 2e-2));
  if (g->param == DLUT_GRADE_PARAM_LATTICE) jsonb_num(&b, set, "coarse", g->lattice_coarse);
  jsonb_num(&b, set, "samples", g->samples);
  if (g->augment > 0) jsonb_num(&b, set, "augment", g->augment);
  if (o->camlog >= 0) {
    jsonb_str(&b, set, "input", dlut_camlog_name((dlut_camlog)o->camlog));
    jsonb_str(&b, set, "look_cube_input", "log code values (1D shaper + 3D table, Resolve .cube layout)");
  }
  jsonb_str(&b, set, "source_prompt", g->source_prompt ? g->source_prompt : "(default for the model)");
  losses_json(&b, set, "weights", &g->weights, 0);
  jsonb_num(&b, set, "strength", o->strength);
  if (r->method != DLUT_JOB_TRANSFER) {
    jsonb_num(&b, set, "color_strength", o->color_strength);
    jsonb_num(&b, set, "tone_strength", o->tone_strength);
    jsonb_bool(&b, set, "skin_protect", o->skin_protect);
  }
  if (in->ref) {
    static const char *k_modes[] = {"image", "anchor", "enhance", "replace"};
    jsonb_str(&b, set, "ref", in->ref_name ? in->ref_name : "(given)");
    if (o->n_edits > 0) { /* ColorizeDiffusion's global edits, in order */
      cJSON *ed = jsonb_arr(&b, set, "ref_edits");
      for (int i = 0; ed && i < o->n_edits; i++) {
        cJSON *e = jsonb_obj(&b, ed, NULL);
        jsonb_str(&b, e, "target", o->edits[i].target);
        if (o->edits[i].anchor)
          jsonb_str(&b, e, "anchor", o->edits[i].anchor);
        else
          jsonb_null(&b, e, "anchor");
        jsonb_num(&b, e, "scale", o->edits[i].scale);
        jsonb_bool(&b, e, "enhance", o->edits[i].enhance != 0);
      }
    } else {
      jsonb_str(&b, set, "ref_mode", k_modes[g->ref_mode]);
      jsonb_num(&b, set, "ref_scale", g->ref_scale);
    }
    jsonb_bool(&b, set, "transfer_init", g->ref_transfer_init != 0);
  }
  if (r->method == DLUT_JOB_CLIP) jsonb_str(&b, set, "start", r->start);
  if (r->note[0]) jsonb_str(&b, rep, "note", r->note);
  jsonb_num(&b, rep, "seed", (double)g->seed);
  jsonb_num(&b, rep, "steps", r->grade.steps_done);
  jsonb_num(&b, rep, "seconds", r->grade.seconds);
  if (r->grade.stopped) jsonb_str(&b, rep, "stopped", r->grade.stop_reason);
  losses_json(&b, rep, "start", &r->grade.start, 1);
  losses_json(&b, rep, "end", &r->grade.end, 1);
  if (r->n_regions) dlut__job_region_report(&b, rep, in, o, r);
  return jsonb_print(&b, rep, 1);
}

/* ==== Running ==== */

/* The prompt's offline look at the job's colour and tone strengths; what was understood, ignored
 * and suggested goes into res. */
static int offline_look(const char *prompt, int lut_size, const dlut_job_opts *o, const dlut_image *const *photos,
                        int n_photos, dlut_lut **lut, dlut_job_result *res) {
  dlut_looks_report *rep = malloc(sizeof *rep);
  if (!rep) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  double cast[3];
  int rc = dlut_looks_bake_prompt_photos(prompt, lut_size, o->color_strength, o->tone_strength, o->skin_protect, photos,
                                         n_photos, lut, rep, cast);
  if (rc == 0) {
    snprintf(res->understood, sizeof res->understood, "%s", rep->understood);
    snprintf(res->ignored, sizeof res->ignored, "%s", rep->ignored);
    snprintf(res->suggested, sizeof res->suggested, "%s", rep->suggested);
    snprintf(res->corrected, sizeof res->corrected, "%s", rep->corrected);
    snprintf(res->scene, sizeof res->scene, "%s", rep->scene);
    if (rep->neutral_wb) {
      res->neutral_wb = 1;
      res->cast_ab[0] = cast[0], res->cast_ab[1] = cast[1], res->cast_taken = cast[2];
    }
  }
  free(rep);
  return rc;
}

void dlut_job_result_free(dlut_job_result *res) {
  if (!res) return;
  dlut_lut_free(res->look);
  res->look = NULL;
  dlut_lut_free(res->lut);
  dlut_grade_result_free(&res->grade);
  dlut__job_region_free(res);
  free(res->report_json);
  res->lut = NULL;
  res->report_json = NULL;
}

int dlut_job_run(const dlut_job_input *in, const dlut_job_opts *o, dlut_grade_callback cb, void *user,
                 dlut_job_result *res) {
  const double t0 = now_s();
  memset(res, 0, sizeof *res);
  snprintf(res->start, sizeof res->start, "identity");
  dlut_lut *start_lut = NULL, *id = NULL;
  const char *prompt = o->prompt && *o->prompt ? o->prompt : NULL;
  if (!in) return dlut_errorc(DLUT_ERR_INPUT, "no photo");
  /* the photos: a set, or the one photo as a set of one */
  const dlut_image *const *photos = in->photos && in->n_photos > 0 ? in->photos : &in->photo;
  const int n_photos = in->photos && in->n_photos > 0 ? in->n_photos : 1;
  if (n_photos > DLUT_GRADE_SET_MAX)
    return dlut_errorc(DLUT_ERR_TOO_LARGE, "%d photos in one set; at most %d", n_photos, DLUT_GRADE_SET_MAX);
  for (int i = 0; i < n_photos; i++) {
    const char *nm = in->photos && in->photo_names && in->photo_names[i] ? in->photo_names[i] : NULL;
    if (!photos[i] && n_photos == 1) return dlut_errorc(DLUT_ERR_INPUT, "no photo");
    if (!photos[i]) return dlut_errorc(DLUT_ERR_INPUT, "photo %d of the set is missing", i + 1);
    if ((int64_t)photos[i]->width * photos[i]->height < 2) {
      if (n_photos == 1) return dlut_errorc(DLUT_ERR_INPUT, "the photo needs at least 2 pixels");
      return dlut_errorc(DLUT_ERR_INPUT, "%s needs at least 2 pixels", nm ? nm : "a photo of the set");
    }
  }
  if (!in->ref && !prompt) return dlut_errorc(DLUT_ERR_INPUT, "empty prompt and no reference photo");
  if (o->n_regions && (n_photos > 1 || o->camlog >= 0))
    return dlut_errorc(DLUT_ERR_INPUT, "regions grade one photo in sRGB: not a set, not with a log input");
  if (dlut__job_regions_check(in, o) != 0) return -1;
  /* a stop (o->stop) is asked before every stage that takes a while: a
   * job without a model has no steps for the callback to stop at */
  if (dlut_job_stop_check(o) != 0) return -1;
  /* camera log footage: the look is graded on the photos as displayed */
  dlut_image **disp = NULL;
  if (o->camlog >= 0) {
    if (!(disp = calloc((size_t)n_photos, sizeof *disp))) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_photos; i++)
      if (dlut_job_stop_check(o) != 0 || !(disp[i] = dlut_camlog_image_to_display((dlut_camlog)o->camlog, photos[i])))
        goto fail;
    photos = (const dlut_image *const *)disp;
    if (dlut_job_stop_check(o) != 0) goto fail;
  }

  if (in->model) {
    dlut_grade_opts g = o->grade;
    g.prompt = prompt;
    g.source_prompt = o->source && *o->source ? o->source : NULL;
    g.ref_anchor = o->ref_anchor && *o->ref_anchor ? o->ref_anchor : NULL;
    g.ref = in->ref;
    res->method = DLUT_JOB_CLIP;
    if (g.ref_transfer_init) {
      snprintf(res->start, sizeof res->start, "colour transfer towards the reference");
    } else if (o->start_look && prompt) {
      /* a prompt the looks cannot read (not UTF-8, too long) is still the model's to judge */
      if (offline_look(prompt, g.lut_size, o, photos, n_photos, &start_lut, res) != 0) {
        dlut_lut_free(start_lut);
        start_lut = NULL;
        res->understood[0] = 0;
      }
      if (res->understood[0] && start_lut) {
        g.start_lut = start_lut;
        snprintf(res->start, sizeof res->start, "offline look: %s", res->understood);
      }
    }
    g.callback = cb;
    g.user = user;
    int r = o->n_regions ? dlut__job_regions_clip(in, o, &g, res)
                         : dlut_grade_run_set(in->model, photos, n_photos, &g, &res->grade);
    dlut_lut_free(start_lut);
    if (r != 0) goto fail;
    res->lut = res->grade.lut;
    res->grade.lut = NULL;
  } else {
    if (in->ref) {
      res->method = DLUT_JOB_TRANSFER;
      if (!(res->lut = dlut_grade_transfer_set(photos, n_photos, in->ref, o->grade.lut_size, o->grade.seed))) goto fail;
      snprintf(res->note, sizeof res->note, "no CLIP model: colour transfer towards the reference");
    } else {
      res->method = DLUT_JOB_LOOKS;
      if (offline_look(prompt, o->grade.lut_size, o, photos, n_photos, &res->lut, res) != 0) {
        dlut_error_set_code(DLUT_ERR_INPUT);
        goto fail;
      }
      if (!res->understood[0]) {
        dlut_errorc(DLUT_ERR_INPUT,
                    "no CLIP model, and the offline looks understand no word of the prompt%s%s%s; see 'dlut looks' "
                    "for their vocabulary, or get a model with tools/download-models.sh",
                    res->suggested[0] ? " (did you mean: " : "", res->suggested, res->suggested[0] ? "?)" : "");
        goto fail;
      }
      snprintf(res->note, sizeof res->note, "no CLIP model: offline looks understood \"%s\"%s%s%s%s%s%s",
               res->understood, res->ignored[0] ? ", ignored \"" : "", res->ignored, res->ignored[0] ? "\"" : "",
               res->suggested[0] ? " (did you mean: " : "", res->suggested, res->suggested[0] ? "?)" : "");
    }
    if (dlut_job_stop_check(o) != 0) goto fail;
    if (o->n_regions && (dlut__job_regions_offline(in, o, res) != 0 || dlut_job_stop_check(o) != 0)) goto fail;
    /* the start is the identity, whose model-free terms are zero by
     * definition (the edit is the original; the lattice is straight) */
    memset(&res->grade.start, 0, sizeof res->grade.start);
    res->grade.start.clip = NAN;
    if (dlut_grade_lut_losses_set(photos, n_photos, res->lut, &o->grade.weights, o->grade.samples, o->grade.seed,
                                  &res->grade.end) != 0)
      goto fail;
  }
  /* non-finite numbers never reach a LUT file or the report */
  for (size_t i = 0; i < (size_t)res->lut->size * res->lut->size * res->lut->size * 3; i++)
    if (!isfinite(res->lut->table[i])) {
      dlut_errorc(DLUT_ERR_INTERNAL, "the grade produced a non-finite LUT value");
      goto fail;
    }
  if (dlut_job_stop_check(o) != 0) goto fail;
  if (o->camlog >= 0) {
    /* the LUT written takes log code values: shaper + 3D (dlut/camlog.h) */
    res->look = res->lut;
    res->camlog = o->camlog;
    if (!(res->lut = dlut_camlog_bake_shaper(res->look, (dlut_camlog)o->camlog, DLUT_JOB_LOG_LUT_SIZE,
                                             DLUT_JOB_LOG_SHAPER_SIZE, DLUT_INTERP_TETRAHEDRAL)))
      goto fail;
  } else {
    res->camlog = -1;
  }
  res->seconds = now_s() - t0;
  if (!(res->report_json = build_report(in, o, res))) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory building report.json");
    goto fail;
  }
  for (int i = 0; disp && i < n_photos; i++) dlut_image_free(disp[i]);
  free(disp);
  return 0;
fail:
  for (int i = 0; disp && i < n_photos; i++) dlut_image_free(disp[i]);
  free(disp);
  dlut_lut_free(id);
  dlut_job_result_free(res);
  return -1;
}

dlut_image *dlut_job_render_result(const dlut_job_result *res, const dlut_image *photo, float strength) {
  /* log footage at full strength: look.cube on the log photo, exactly what an editor shows */
  if (!res || !res->look || res->camlog < 0 || strength >= 1.f) return dlut_job_render(res->lut, photo, strength);
  /* a blend is of the look and the displayed photo (not the flat log one) */
  dlut_image *d = dlut_camlog_image_to_display((dlut_camlog)res->camlog, photo), *g = NULL, *out = NULL;
  if (d && (g = dlut_job_render(res->look, d, strength)) &&
      (out = dlut_image_convert(g, photo->channels, photo->type)) && dlut_image_copy_meta(out, photo) != 0) {
    dlut_image_free(out);
    out = NULL;
  }
  dlut_image_free(d);
  dlut_image_free(g);
  return out;
}

const char *dlut_job_graded_ext(dlut_image_format f) {
  switch (f) {
    case DLUT_IMAGE_FORMAT_JPEG:
      return "jpg";
    case DLUT_IMAGE_FORMAT_WEBP:
      return "webp";
    case DLUT_IMAGE_FORMAT_TIFF:
      return "tif";
    case DLUT_IMAGE_FORMAT_PPM:
      return "ppm";
    default:
      return "png";
  }
}

dlut_image *dlut_job_render(const dlut_lut *lut, const dlut_image *photo, float strength) {
  if (!(strength >= 0.f && strength <= 1.f)) {
    dlut_errorc(DLUT_ERR_INPUT, "strength must be in 0..1");
    return NULL;
  }
  dlut_image *g = dlut_image_alloc(photo->width, photo->height, photo->channels, photo->type);
  if (!g || dlut_lut_apply_image(lut, photo, g, DLUT_INTERP_TETRAHEDRAL, strength) != 0 ||
      dlut_image_copy_meta(g, photo) != 0) {
    dlut_image_free(g);
    return NULL;
  }
  return g;
}

/* ==== The bundle ==== */

static int write_text(const char *path, const char *text) {
  dlut_atomic a;
  if (dlut_atomic_begin(&a, path) != 0) return -1;
  if (fputs(text, a.fp) < 0 || fputc('\n', a.fp) < 0) {
    dlut_atomic_abort(&a);
    return dlut_errorc(DLUT_ERR_IO, "%s: write failed", path);
  }
  return dlut_atomic_commit(&a);
}

/* Nonzero if `path` exists and is the same file as one of `inputs`. */
static int is_an_input(const char *path, const char *const *inputs) {
  struct stat a, b;
  if (!inputs || stat(path, &a) != 0) return 0;
  for (int i = 0; inputs[i]; i++)
    if (stat(inputs[i], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) return 1;
  return 0;
}

/* The files the report.json in `outdir` lists: a bundle's "files", and a
 * set's "graded/NAME" (its "photos") and contact sheet. Only these are
 * removed as stale when a new bundle names other ones, so a graded.png of
 * the user's beside a new graded.jpg, or a folder an older DLUT wrote,
 * keeps its files. An empty array where there is no report. */
static cJSON *earlier_files(const char *outdir) {
  char p[4400];
  snprintf(p, sizeof p, "%s/report.json", outdir);
  size_t len = 0;
  char *text = dlut_file_read_all(p, (size_t)16 << 20, &len);
  dlut_error_clear();
  cJSON *rep = text ? cJSON_Parse(text) : NULL, *out = cJSON_CreateArray();
  free(text);
  const cJSON *files = rep ? cJSON_GetObjectItemCaseSensitive(rep, "files") : NULL;
  const cJSON *photos = rep ? cJSON_GetObjectItemCaseSensitive(rep, "photos") : NULL;
  for (const cJSON *it = cJSON_IsArray(files) ? files->child : NULL; out && it; it = it->next)
    if (cJSON_IsString(it)) cJSON_AddItemToArray(out, cJSON_CreateString(it->valuestring));
  for (const cJSON *it = cJSON_IsArray(photos) ? photos->child : NULL; out && it; it = it->next) {
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "graded");
    if (cJSON_IsString(g) && !strncmp(g->valuestring, "graded/", 7))
      cJSON_AddItemToArray(out, cJSON_CreateString(g->valuestring));
  }
  const cJSON *sheet = rep ? cJSON_GetObjectItemCaseSensitive(rep, "contact_sheet") : NULL;
  if (out && cJSON_IsString(sheet) && !strcmp(sheet->valuestring, "contact.jpg"))
    cJSON_AddItemToArray(out, cJSON_CreateString("contact.jpg"));
  cJSON_Delete(rep);
  return out;
}

static int files_list(const cJSON *files, const char *name) {
  for (const cJSON *it = files ? files->child : NULL; it; it = it->next)
    if (cJSON_IsString(it) && !strcmp(it->valuestring, name)) return 1;
  return 0;
}

/* The report with "files": the bundle's names, and an earlier set's
 * graded/NAME that stay in the folder (kept is nonzero where that graded/
 * could not be removed: a file in it the set's report does not list). A
 * set run there again replaces graded/ whole, and may only if every file
 * in it is listed. NULL: out of memory. */
static char *report_with_files(const char *json, char (*names)[32], int nb, const cJSON *earlier, const char *outdir,
                               int kept) {
  cJSON *rep = cJSON_Parse(json);
  if (!rep) return NULL;
  cJSON_DeleteItemFromObjectCaseSensitive(rep, "files");
  jsonb b = {0};
  cJSON *list = jsonb_arr(&b, rep, "files");
  for (int i = 0; list && i < nb; i++) jsonb_str(&b, list, NULL, names[i]);
  for (const cJSON *it = earlier && kept ? earlier->child : NULL; list && it; it = it->next) {
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", outdir, it->valuestring);
    if (!strncmp(it->valuestring, "graded/", 7) && !files_list(list, it->valuestring) && lstat(p, &st) == 0 &&
        S_ISREG(st.st_mode))
      jsonb_str(&b, list, NULL, it->valuestring);
  }
  return jsonb_print(&b, rep, 1);
}

/* Nonzero if a file in outdir/graded/ is one of the inputs (a photo of an earlier set graded again):
 * then that graded/ is not removed. */
static int graded_holds_input(const char *outdir, const char *const *inputs) {
  char q[4400], p[4700];
  snprintf(q, sizeof q, "%s/graded", outdir);
  DIR *d = opendir(q);
  struct dirent *e;
  int found = 0;
  while (d && !found && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", q, e->d_name);
      found = is_an_input(p, inputs);
    }
  if (d) closedir(d);
  return found;
}

/* Nonzero if the earlier report lists graded/NAME files (an earlier set's). */
static int lists_graded(const cJSON *earlier) {
  for (const cJSON *it = earlier ? earlier->child : NULL; it; it = it->next)
    if (cJSON_IsString(it) && !strncmp(it->valuestring, "graded/", 7)) return 1;
  return 0;
}

#define N_BUNDLE 4                                        /* look.cube, graded.EXT, strip.png, report.json */
#define N_BUNDLE_MAX (N_BUNDLE + 2 * DLUT_REGION_MAX + 1) /* + region-N.cube, mask-N.png, heatmap.png */
_Static_assert(N_BUNDLE_MAX + 8 <= DLUT__BUNDLE_SWAP_MAX, "a bundle's names fit dlut__bundle_swap");
static const char *k_graded_exts[] = {"jpg", "png", "webp", "tif", "ppm"};

int dlut_job_bundle_write(const dlut_job_result *res, const dlut_image *photo, dlut_image_format format,
                          const dlut_job_opts *o, const char *outdir, const char *const *inputs) {
  char names[N_BUNDLE_MAX][32], stage[4200] = "", p[4400];
  dlut_image *graded = NULL, *strip = NULL;
  int existing = 0, rc = -1;
  char old_names[N_BUNDLE_MAX + 8][32];
  int n_old = 0, tracked = 0, blocked = 0, nb = N_BUNDLE;
  char staged[N_BUNDLE_MAX][4400], stage_path[4200];
  char *report = NULL;
  cJSON *earlier = NULL;
  struct stat st;
  if (!res || !res->lut || !res->report_json || !photo || !outdir || !*outdir)
    return dlut_errorc(DLUT_ERR_INPUT, "bundle: nothing to write");
  if (strlen(outdir) > 3900) return dlut_errorc(DLUT_ERR_INPUT, "bundle: output folder name too long");
  char outdir_buf[3904];
  outdir = dlut__bundle_dir(outdir, outdir_buf, sizeof outdir_buf); /* "out/" is "out" */
  snprintf(names[0], sizeof names[0], "look.cube");
  snprintf(names[1], sizeof names[1], "graded.%s", dlut_job_graded_ext(format));
  snprintf(names[2], sizeof names[2], "strip.png");
  snprintf(names[3], sizeof names[3], "report.json");
  nb = dlut__job_region_names(res, names + N_BUNDLE, N_BUNDLE_MAX - N_BUNDLE) + N_BUNDLE;

  existing = stat(outdir, &st) == 0;
  if (existing && !S_ISDIR(st.st_mode)) return dlut_errorc(DLUT_ERR_INPUT, "%s exists and is not a folder", outdir);
  /* refuse before writing anything: no output may be an input, and an
   * earlier graded.* that would be removed must not be one either */
  for (int i = 0; existing && i < nb; i++) {
    snprintf(p, sizeof p, "%s/%s", outdir, names[i]);
    if (is_an_input(p, inputs))
      return dlut_errorc(DLUT_ERR_INPUT, "%s is one of the inputs: refusing to overwrite it", p);
  }
  for (size_t k = 0; existing && k < sizeof k_graded_exts / sizeof *k_graded_exts; k++) {
    snprintf(p, sizeof p, "%s/graded.%s", outdir, k_graded_exts[k]);
    if (is_an_input(p, inputs))
      return dlut_errorc(DLUT_ERR_INPUT, "%s is one of the inputs: refusing to replace it", p);
  }

  /* a file of the same name that no earlier DLUT run here wrote (the user's own strip.png) is never
   * overwritten */
  if (existing) {
    const char *nm[N_BUNDLE_MAX];
    for (int i = 0; i < nb; i++) nm[i] = names[i];
    cJSON *prev = dlut__bundle_report(outdir);
    int bad = dlut__bundle_check_replace(outdir, prev, nm, nb);
    cJSON_Delete(prev);
    if (bad) return -1;
  }
  /* stage: inside an existing folder (same filesystem), else beside it */
  if (existing && !(earlier = earlier_files(outdir))) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory reading %s/report.json", outdir);
    goto fail;
  }
  /* an earlier set's graded/ goes with the rest of that set's bundle, when every file in it is the
   * set's; otherwise it stays, and its names are carried on in "files" */
  int drop_graded = existing && lists_graded(earlier) && dlut_job_bundle_set_check(outdir) == 0 &&
                    !graded_holds_input(outdir, inputs);
  dlut_error_clear();
  if (existing) {
    dlut__bundle_sweep(outdir, 1);
    dlut__bundle_stage_template(stage, sizeof stage, outdir, 1);
  } else {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", outdir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
      *slash = 0;
      if (dlut_file_mkdir_p(parent, 0777) != 0)
        return dlut_errorc(DLUT_ERR_IO, "cannot create the folder %s: %s", parent,
                           errno == EEXIST || errno == ENOTDIR
                               ? "a file of that name (or of a folder above it) is in the way"
                               : strerror(errno));
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
  /* a signal before the end removes the staging folder and what is in it */
  snprintf(stage_path, sizeof stage_path, "%s", stage);
  dlut_file_track(stage_path);
  for (int i = 0; i < nb; i++) {
    snprintf(staged[i], sizeof staged[i], "%s/%s", stage, names[i]);
    dlut_file_track(staged[i]);
  }
  tracked = 1;

  snprintf(p, sizeof p, "%s/%s", stage, names[0]);
  if (dlut_job_stop_check(o) != 0 || dlut_lut_save(res->lut, p, NULL) != 0) goto fail;
  if (dlut__job_region_write(res, photo, stage) != 0 || dlut_job_stop_check(o) != 0) goto fail;
  if (!(graded = res->n_regions ? dlut__job_region_render(res, photo, o ? o->strength : 1.f)
                                : dlut_job_render_result(res, photo, o ? o->strength : 1.f)))
    goto fail;
  dlut_image_save_opts so = {0};
  so.quality = o ? o->quality : 0;
  so.fast = o ? o->fast_encode : 0;
  snprintf(p, sizeof p, "%s/%s", stage, names[1]);
  if (dlut_job_stop_check(o) != 0 || dlut__job_save_image(graded, p, &so, o) != 0) goto fail;
  snprintf(p, sizeof p, "%s/%s", stage, names[2]);
  dlut_image_save_opts fast = {.fast = 1};
  if (!(strip = dlut_lut_strip(res->lut, res->lut->size >= 33 ? 1 : (33 + res->lut->size - 1) / res->lut->size)) ||
      dlut_image_save(strip, p, &fast) != 0)
    goto fail;
  snprintf(p, sizeof p, "%s/%s", stage, names[3]);
  if (!(report = report_with_files(res->report_json, names, nb, earlier, outdir, !drop_graded))) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory building report.json");
    goto fail;
  }
  if (write_text(p, report) != 0) goto fail;
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
    /* set the earlier bundle aside (the new names, and the stale graded.*
     * and region files the earlier report lists), move the new one in */
    for (int i = 0; i < nb; i++) snprintf(old_names[n_old++], sizeof old_names[0], "%s", names[i]);
    char stale[N_BUNDLE_MAX + 8][32];
    int n_stale = 0;
    for (size_t k = 0; k < sizeof k_graded_exts / sizeof *k_graded_exts; k++) {
      snprintf(stale[n_stale], sizeof stale[0], "graded.%s", k_graded_exts[k]);
      if (strcmp(stale[n_stale], names[1])) n_stale++;
    }
    n_stale += dlut__job_region_stale(names, nb, stale + n_stale, N_BUNDLE_MAX + 8 - n_stale);
    if (drop_graded && n_stale < N_BUNDLE_MAX + 8) /* a set's contact sheet goes with its graded/ */
      snprintf(stale[n_stale++], sizeof stale[0], "contact.jpg");
    for (int i = 0; i < n_stale && n_old < N_BUNDLE_MAX + 8; i++)
      if (files_list(earlier, stale[i])) snprintf(old_names[n_old++], sizeof old_names[0], "%s", stale[i]);
    if (drop_graded && n_old < N_BUNDLE_MAX + 8) snprintf(old_names[n_old++], sizeof old_names[0], "graded");
    const char *olds[N_BUNDLE_MAX + 8], *news[N_BUNDLE_MAX];
    for (int i = 0; i < n_old; i++) olds[i] = old_names[i];
    for (int i = 0; i < nb; i++) news[i] = names[i];
    if (dlut__bundle_swap(stage, outdir, olds, n_old, news, nb) != 0) goto fail;
  }
  dlut__fsync_dir(outdir);
  rc = 0;
  /* fall through: clean up the staging folder (with the earlier bundle in it) */
fail:
  if (stage[0]) dlut__rm_tree(stage, 1);
  if (tracked) {
    for (int i = 0; i < nb; i++) dlut_file_untrack(staged[i]);
    dlut_file_untrack(stage_path);
  }
  if (blocked) dlut_file_critical_end();
  dlut_image_free(graded);
  dlut_image_free(strip);
  cJSON_Delete(earlier);
  free(report);
  return rc;
}
