/* src/job/job_region.c - grading by region inside a job: the checks, the
 * masks, each region's LUT (offline looks without a model; optimised with
 * the global LUT through CLIP with one, src/grade/region.c), report.json's
 * "regions" and the region files of the bundle (region-N.cube, mask-N.png,
 * heatmap.png). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/looks.h"
#include "dlut/manip.h"
#include "dlut/region.h"
#include "job/job_region.h"

int dlut__job_regions_check(const dlut_job_input *in, const dlut_job_opts *o) {
  if (o->n_regions && in->photos && in->n_photos > 1)
    return dlut_errorc(DLUT_ERR_INPUT, "regions belong to one photo: grade a set of photos without --region/--mask");
  for (int i = 0; i < o->n_regions; i++) {
    const dlut_job_region *r = &o->regions[i];
    if (r->kind == DLUT_JOB_REGION_TEXT && !in->model)
      return dlut_errorc(DLUT_ERR_INPUT,
                         "region %d (\"%s=%s\"): finding \"%s\" in the photo needs a CLIP model (--model DIR, or "
                         "tools/download-models.sh); without one, give a matte of it with --mask FILE=PROMPT",
                         i + 1, r->where, r->prompt, r->where);
    if (r->kind == DLUT_JOB_REGION_MASK && !in->masks[i])
      return dlut_errorc(DLUT_ERR_INPUT, "region %d (%s): no matte image given", i + 1, r->where);
  }
  return 0;
}

static int region_mask(const dlut_job_input *in, const dlut_job_opts *o, int i, dlut_job_result *res) {
  struct dlut_job_region_result *rr = &res->regions[i];
  const dlut_mask_opts mo = {o->feather, o->mask_threshold};
  const dlut_image *photo = in->photos && in->n_photos > 0 ? in->photos[0] : in->photo;
  rr->width = photo->width;
  rr->height = photo->height;
  if (!(rr->mask = dlut_mask_from_image(in->masks[i], rr->width, rr->height, &mo, &rr->channel))) {
    char why[512];
    snprintf(why, sizeof why, "%s", dlut_last_error());
    dlut_errorc(DLUT_ERR_INPUT, "region %d (%s): %s", i + 1, o->regions[i].where, why);
    return -1;
  }
  rr->coverage = dlut_mask_coverage(rr->mask, rr->width, rr->height);
  return 0;
}

int dlut__job_regions_offline(const dlut_job_input *in, const dlut_job_opts *o, dlut_job_result *res) {
  for (int i = 0; i < o->n_regions; i++) {
    struct dlut_job_region_result *rr = &res->regions[i];
    res->n_regions = i + 1; /* what is filled in is freed on failure */
    if (region_mask(in, o, i, res) != 0) return -1;
    /* the region's offline look at the job's colour and tone strengths */
    dlut_looks_report *rep = malloc(sizeof *rep);
    if (!rep) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    if (dlut_looks_bake_prompt(o->regions[i].prompt, o->grade.lut_size, o->color_strength, o->tone_strength,
                               o->skin_protect, &rr->lut, rep) != 0) {
      char why[512];
      snprintf(why, sizeof why, "%s", dlut_last_error());
      free(rep);
      dlut_errorc(DLUT_ERR_INPUT, "region %d: %s", i + 1, why);
      return -1;
    }
    snprintf(rr->understood, sizeof rr->understood, "%s", rep->understood);
    if (!rr->understood[0]) {
      char sug[512];
      snprintf(sug, sizeof sug, "%s", rep->suggested);
      free(rep);
      return dlut_errorc(DLUT_ERR_INPUT,
                         "region %d (%s): no CLIP model, and the offline looks understand no word of \"%s\"%s%s%s; "
                         "see 'dlut looks' for their vocabulary",
                         i + 1, o->regions[i].where, o->regions[i].prompt, sug[0] ? " (did you mean: " : "", sug,
                         sug[0] ? "?)" : "");
    }
    free(rep);
  }
  return 0;
}

int dlut__job_regions_clip(const dlut_job_input *in, const dlut_job_opts *o, const dlut_grade_opts *g,
                           dlut_job_result *res) {
  const dlut_image *photo = in->photos && in->n_photos > 0 ? in->photos[0] : in->photo;
  const dlut_mask_opts mo = {o->feather, o->mask_threshold};
  dlut_region_grade_opts ro;
  dlut_region_grade_opts_init(&ro);
  dlut_region_grade_result rr;
  memset(&rr, 0, sizeof rr);
  dlut_lut *starts[DLUT_REGION_MAX] = {0};
  int rc = -1;
  ro.global = *g;
  ro.n = o->n_regions;
  for (int i = 0; i < o->n_regions; i++) {
    struct dlut_job_region_result *r = &res->regions[i];
    const dlut_job_region *spec = &o->regions[i];
    res->n_regions = i + 1;
    if (spec->kind == DLUT_JOB_REGION_MASK) {
      if (region_mask(in, o, i, res) != 0) goto done;
    } else {
      const dlut_clip_info *info = dlut_clip_get_info(in->model);
      const int G = info->image_size / info->patch_size;
      r->width = photo->width;
      r->height = photo->height;
      if (!(r->heat = malloc((size_t)G * G * sizeof(float)))) {
        dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
        goto done;
      }
      if (!(r->mask = dlut_region_text_mask(in->model, photo, spec->where, &mo, r->heat, &r->grid))) {
        char why[512];
        snprintf(why, sizeof why, "%s", dlut_last_error());
        dlut_errorc(DLUT_ERR_INPUT, "region %d (finding \"%s\"): %s", i + 1, spec->where, why);
        goto done;
      }
      r->coverage = dlut_mask_coverage(r->mask, r->width, r->height);
    }
    ro.masks[i] = r->mask;
    ro.prompts[i] = spec->prompt;
    /* each region starts from its own prompt's offline look, as the global grade does */
    if (o->start_look) {
      char ignored[512];
      if (dlut_looks_from_prompt(spec->prompt, g->lut_size, &starts[i], r->understood, sizeof r->understood, ignored,
                                 sizeof ignored) != 0 ||
          !r->understood[0]) {
        dlut_error_clear();
        dlut_lut_free(starts[i]);
        starts[i] = NULL;
        r->understood[0] = 0;
      }
      ro.start_luts[i] = starts[i];
    }
  }
  if (dlut_region_grade_run(in->model, photo, &ro, &rr) != 0) goto done;
  res->grade.lut = rr.global;
  rr.global = NULL;
  res->grade.start = rr.start.g;
  res->grade.end = rr.end.g;
  res->grade.steps_done = rr.steps_done;
  res->grade.seconds = rr.seconds;
  res->grade.stopped = rr.stopped;
  snprintf(res->grade.stop_reason, sizeof res->grade.stop_reason, "%s", rr.stop_reason);
  for (int i = 0; i < o->n_regions; i++) {
    res->regions[i].lut = rr.luts[i];
    rr.luts[i] = NULL;
    res->regions[i].has_local = rr.end.has_local[i];
    res->regions[i].local_start = rr.start.local[i];
    res->regions[i].local_end = rr.end.local[i];
  }
  rc = 0;
done:
  for (int i = 0; i < DLUT_REGION_MAX; i++) dlut_lut_free(starts[i]);
  dlut_region_grade_result_free(&rr);
  return rc;
}

void dlut__job_region_free(dlut_job_result *res) {
  for (int i = 0; i < res->n_regions && i < DLUT_REGION_MAX; i++) {
    dlut_lut_free(res->regions[i].lut);
    free(res->regions[i].mask);
    free(res->regions[i].heat);
  }
  memset(res->regions, 0, sizeof res->regions);
  res->n_regions = 0;
}

/* ==== Report ==== */

void dlut__job_region_report(jsonb *b, cJSON *rep, const dlut_job_input *in, const dlut_job_opts *o,
                             const dlut_job_result *r) {
  (void)in;
  cJSON *arr = jsonb_arr(b, rep, "regions");
  for (int i = 0; arr && i < r->n_regions; i++) {
    const dlut_job_region *spec = &o->regions[i];
    const struct dlut_job_region_result *rr = &r->regions[i];
    cJSON *e = jsonb_obj(b, arr, NULL);
    char nm[32];
    jsonb_num(b, e, "number", i + 1);
    jsonb_str(b, e, "kind", spec->kind == DLUT_JOB_REGION_MASK ? "mask" : "text");
    jsonb_str(b, e, "prompt", spec->prompt);
    if (spec->kind == DLUT_JOB_REGION_MASK) {
      jsonb_str(b, e, "mask_file", spec->where);
      jsonb_str(b, e, "channel", dlut_mask_channel_name(rr->channel));
    } else {
      jsonb_str(b, e, "control", spec->where);
      if (rr->heat) jsonb_num(b, e, "map_grid", rr->grid);
    }
    jsonb_num(b, e, "coverage", rr->coverage);
    /* the options as given (they are floats: 0.6 would print as 0.600000023841858) */
    jsonb_num(b, e, "feather", round(o->feather * 1e4) / 1e4);
    jsonb_num(b, e, "threshold", round(o->mask_threshold * 1e6) / 1e6);
    jsonb_str(b, e, "method", r->method == DLUT_JOB_CLIP ? "clip" : "looks");
    if (rr->understood[0] || r->method != DLUT_JOB_CLIP) jsonb_str(b, e, "understood", rr->understood);
    if (r->method == DLUT_JOB_CLIP && rr->understood[0]) {
      char st[600];
      snprintf(st, sizeof st, "offline look: %s", rr->understood);
      jsonb_str(b, e, "start", st);
    }
    if (r->method == DLUT_JOB_CLIP) {
      if (rr->has_local) {
        jsonb_num(b, e, "local_start", rr->local_start);
        jsonb_num(b, e, "local_end", rr->local_end);
      } else {
        jsonb_str(b, e, "local", "none: the mask does not reach the model's view");
      }
    }
    snprintf(nm, sizeof nm, "region-%d.cube", i + 1);
    jsonb_str(b, e, "lut", nm);
    snprintf(nm, sizeof nm, "mask-%d.png", i + 1);
    jsonb_str(b, e, "mask", nm);
    if (rr->coverage <= 0) jsonb_str(b, e, "note", "the mask is empty: this region changes nothing");
  }
  jsonb_str(b, rep, "composite",
            "out = (1 - m) global(I) + m region(I), region by region in order (each over the ones "
            "before)");
}

/* ==== Bundle ==== */

static int has_heatmap(const dlut_job_result *res) {
  for (int i = 0; i < res->n_regions; i++)
    if (res->regions[i].heat) return 1;
  return 0;
}

int dlut__job_region_names(const dlut_job_result *res, char (*names)[32], int cap) {
  int n = 0;
  for (int i = 0; i < res->n_regions && n + 2 <= cap; i++) {
    snprintf(names[n++], 32, "region-%d.cube", i + 1);
    snprintf(names[n++], 32, "mask-%d.png", i + 1);
  }
  if (has_heatmap(res) && n < cap) snprintf(names[n++], 32, "heatmap.png");
  return n;
}

int dlut__job_region_stale(char (*names)[32], int nb, char (*old)[32], int cap) {
  int n = 0;
  for (int k = 0; k <= 2 * DLUT_REGION_MAX && n < cap; k++) {
    char nm[32];
    if (k == 2 * DLUT_REGION_MAX)
      snprintf(nm, sizeof nm, "heatmap.png");
    else
      snprintf(nm, sizeof nm, k % 2 ? "mask-%d.png" : "region-%d.cube", k / 2 + 1);
    int present = 0;
    for (int i = 0; i < nb; i++) present |= !strcmp(names[i], nm);
    if (!present) snprintf(old[n++], 32, "%s", nm);
  }
  return n;
}

/* The first text region's map as ColorizeDiffusion draws it (dlut_manip_heatmap). */
static dlut_image *heatmap_image(const dlut_job_result *res, const dlut_image *photo) {
  for (int i = 0; i < res->n_regions; i++)
    if (res->regions[i].heat) return dlut_manip_heatmap(photo, res->regions[i].heat, res->regions[i].grid, NULL);
  return NULL;
}

int dlut__job_region_write(const dlut_job_result *res, const dlut_image *photo, const char *stage) {
  char p[4400];
  for (int i = 0; i < res->n_regions; i++) {
    const struct dlut_job_region_result *rr = &res->regions[i];
    snprintf(p, sizeof p, "%s/region-%d.cube", stage, i + 1);
    if (dlut_lut_save(rr->lut, p, NULL) != 0) return -1;
    snprintf(p, sizeof p, "%s/mask-%d.png", stage, i + 1);
    if (dlut_mask_save_png16(rr->mask, rr->width, rr->height, p) != 0) return -1;
  }
  if (has_heatmap(res)) {
    dlut_image *hm = heatmap_image(res, photo);
    dlut_image_save_opts fast = {.fast = 1};
    snprintf(p, sizeof p, "%s/heatmap.png", stage);
    int rc = hm ? dlut_image_save(hm, p, &fast) : -1;
    dlut_image_free(hm);
    if (rc != 0) return -1;
  }
  return 0;
}

dlut_image *dlut__job_region_render(const dlut_job_result *res, const dlut_image *photo, float strength) {
  const dlut_lut *luts[DLUT_REGION_MAX];
  const float *masks[DLUT_REGION_MAX];
  for (int i = 0; i < res->n_regions; i++) {
    luts[i] = res->regions[i].lut;
    masks[i] = res->regions[i].mask;
  }
  return dlut_region_render(res->lut, res->n_regions, luts, masks, photo, strength);
}

/* ==== Re-rendering a bundle ==== */

dlut_image *dlut_job_bundle_render(const char *outdir, const dlut_image *photo, float strength) {
  char p[4400];
  dlut_lut *global = NULL, *luts[DLUT_REGION_MAX] = {0};
  float *masks[DLUT_REGION_MAX] = {0};
  dlut_image *out = NULL;
  int n = 0;
  if (!outdir || !photo) {
    dlut_errorc(DLUT_ERR_INPUT, "bundle render: nothing to render");
    return NULL;
  }
  snprintf(p, sizeof p, "%s/look.cube", outdir);
  if (!(global = dlut_lut_load(p))) return NULL;
  /* regions 1, 2 ... as long as region-N.cube exists, each with its mask-N.png */
  for (; n < DLUT_REGION_MAX; n++) {
    snprintf(p, sizeof p, "%s/region-%d.cube", outdir, n + 1);
    FILE *f = fopen(p, "rb");
    if (!f) break;
    fclose(f);
    if (!(luts[n] = dlut_lut_load(p))) goto done;
    snprintf(p, sizeof p, "%s/mask-%d.png", outdir, n + 1);
    if (!(masks[n] = dlut_mask_load(p, photo->width, photo->height, NULL, NULL))) goto done;
  }
  out = n ? dlut_region_render(global, n, (const dlut_lut *const *)luts, (const float *const *)masks, photo, strength)
          : dlut_job_render(global, photo, strength);
done:
  for (int k = 0; k < DLUT_REGION_MAX; k++) {
    dlut_lut_free(luts[k]);
    free(masks[k]);
  }
  dlut_lut_free(global);
  return out;
}
