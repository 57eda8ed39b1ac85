/* tests/test_region_job.c - regions through the job API (dlut/job.h), the
 * way the server and the CLI call it: dlut_job_opts_add_region, mattes in
 * dlut_job_input.masks, dlut_job_run without a model (offline looks per
 * region), the result's regions, report.json's "regions" and the bundle's
 * region files; and the refusals: bad region text, too many regions, a
 * text region without a model, a mask region without its matte, a set. */
#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "dlut/error.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/region.h"
#include "test.h"

static dlut_image *half_matte(int w, int h) {
  dlut_image *m = dlut_image_alloc(w, h, 3, DLUT_PIXEL_U16);
  for (int y = 0; y < h; y++) {
    uint16_t *row = (uint16_t *)((uint8_t *)m->data + (size_t)y * m->stride);
    for (int x = 0; x < w; x++) row[x * 3] = row[x * 3 + 1] = row[x * 3 + 2] = x >= w / 2 ? 65535 : 0;
  }
  return m;
}

int main(void) {
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  CHECK(photo != NULL);
  if (!photo) return test_summary("region_job");
  const int W = photo->width, H = photo->height;
  dlut_image *matte = half_matte(W / 2, H / 2); /* another size: resampled */

  /* ---- a matte region, no model ---- */
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  CHECK(dlut_job_opts_set(&o, "prompt", "warm golden film") == 0);
  CHECK(dlut_job_opts_set(&o, "feather", "10") == 0);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_MASK, "half.png", "deep teal") == 0);
  CHECK(dlut_job_opts_finish(&o, 0) == 0);
  dlut_job_input in = {.photo = photo, .photo_name = "chelsea.png"};
  in.masks[0] = matte;
  dlut_job_result r;
  CHECK_MSG(dlut_job_run(&in, &o, NULL, NULL, &r) == 0, "%s", dlut_last_error());
  CHECK(r.method == DLUT_JOB_LOOKS && r.n_regions == 1 && r.lut && r.regions[0].lut && r.regions[0].mask);
  CHECK(r.regions[0].width == W && r.regions[0].height == H);
  CHECK_NEAR(r.regions[0].coverage, 0.5, 0.01);
  CHECK(r.regions[0].mask[(int64_t)(H / 2) * W + 5] == 0.0f && r.regions[0].mask[(int64_t)(H / 2) * W + W - 5] == 1.0f);
  cJSON *rep = r.report_json ? cJSON_Parse(r.report_json) : NULL;
  const cJSON *regs = rep ? cJSON_GetObjectItem(rep, "regions") : NULL;
  CHECK(cJSON_GetArraySize(regs) == 1);
  const cJSON *e = cJSON_GetArrayItem(regs, 0);
  CHECK(e && cJSON_GetObjectItem(e, "number")->valueint == 1 &&
        !strcmp(cJSON_GetObjectItem(e, "kind")->valuestring, "mask") &&
        !strcmp(cJSON_GetObjectItem(e, "mask_file")->valuestring, "half.png") &&
        !strcmp(cJSON_GetObjectItem(e, "prompt")->valuestring, "deep teal"));
  cJSON_Delete(rep);
  const char *dir = test_tmpdir("region_job");
  char out[4200], p[4400];
  snprintf(out, sizeof out, "%s/bundle", dir);
  CHECK_MSG(dlut_job_bundle_write(&r, photo, DLUT_IMAGE_FORMAT_PNG, &o, out, NULL) == 0, "%s", dlut_last_error());
  const char *files[] = {"look.cube", "graded.png", "strip.png", "report.json", "region-1.cube", "mask-1.png"};
  struct stat st;
  for (int i = 0; i < 6; i++) {
    snprintf(p, sizeof p, "%s/%s", out, files[i]);
    CHECK_MSG(stat(p, &st) == 0 && st.st_size > 0, "%s missing", files[i]);
  }
  /* the graded photo: left = the global LUT, right = the region LUT */
  snprintf(p, sizeof p, "%s/graded.png", out);
  dlut_image *g = dlut_image_load(p);
  dlut_image *ga = dlut_image_alloc(W, H, 3, DLUT_PIXEL_U8), *ra = dlut_image_alloc(W, H, 3, DLUT_PIXEL_U8);
  CHECK(g && ga && ra);
  if (g && ga && ra) {
    dlut_lut_apply_image(r.lut, photo, ga, DLUT_INTERP_TETRAHEDRAL, 1.0f);
    dlut_lut_apply_image(r.regions[0].lut, photo, ra, DLUT_INTERP_TETRAHEDRAL, 1.0f);
    int worst_l = 0, worst_r = 0;
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        for (int c = 0; c < 3; c++) {
          int v = ((uint8_t *)dlut_image_pixel(g, x, y))[c];
          int a = ((uint8_t *)dlut_image_pixel(ga, x, y))[c], b = ((uint8_t *)dlut_image_pixel(ra, x, y))[c];
          if (x < W / 2 - 6) worst_l = abs(v - a) > worst_l ? abs(v - a) : worst_l;
          if (x >= W / 2 + 5) worst_r = abs(v - b) > worst_r ? abs(v - b) : worst_r;
        }
    fprintf(stderr, "composite: outside vs global LUT %d codes, inside vs region LUT %d codes\n", worst_l, worst_r);
    CHECK(worst_l <= 1 && worst_r <= 1);
  }
  dlut_image_free(g);
  dlut_image_free(ga);
  dlut_image_free(ra);
  dlut_job_result_free(&r);
  CHECK(r.n_regions == 0 && r.lut == NULL);

  /* ---- refusals ---- */
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_TEXT, "", "teal") != 0);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_TEXT, "sky", "") != 0);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_TEXT, "sky\x01", "teal") != 0);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_TEXT, "\xff\xfe", "teal") != 0);
  CHECK(dlut_job_opts_add_region(&o, (dlut_job_region_kind)7, "sky", "teal") != 0);
  CHECK(o.n_regions == 1);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_TEXT, "the sky", "deep teal") == 0);
  CHECK(dlut_job_run(&in, &o, NULL, NULL, &r) != 0 && dlut_last_error_code() == DLUT_ERR_INPUT &&
        strstr(dlut_last_error(), "CLIP model") && strstr(dlut_last_error(), "--mask"));
  for (int i = o.n_regions; i < DLUT_REGION_MAX; i++)
    CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_MASK, "m.png", "warm") == 0);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_MASK, "m.png", "warm") != 0); /* a ninth */
  dlut_job_opts_free(&o);

  dlut_job_opts_init(&o);
  dlut_job_opts_set(&o, "prompt", "warm");
  dlut_job_opts_add_region(&o, DLUT_JOB_REGION_MASK, "m.png", "cold");
  dlut_job_opts_finish(&o, 0);
  dlut_job_input none = {.photo = photo}; /* no matte given */
  CHECK(dlut_job_run(&none, &o, NULL, NULL, &r) != 0 && strstr(dlut_last_error(), "matte"));
  const dlut_image *set[2] = {photo, photo};
  dlut_job_input two = {.photos = set, .n_photos = 2};
  two.masks[0] = matte;
  CHECK(dlut_job_run(&two, &o, NULL, NULL, &r) != 0);
  dlut_job_opts_free(&o);

  /* ---- specs and the checks a service makes before decoding (dlut_job_preflight) ---- */
  dlut_job_opts_init(&o);
  CHECK(dlut_job_opts_add_region_spec(&o, "the sky=deep teal=ish") == 0); /* split at the first '=' */
  CHECK(o.n_regions == 1 && o.regions[0].kind == DLUT_JOB_REGION_TEXT && !strcmp(o.regions[0].where, "the sky") &&
        !strcmp(o.regions[0].prompt, "deep teal=ish"));
  CHECK(dlut_job_opts_add_region_spec(&o, "the sky deep teal") != 0 && dlut_last_error_code() == DLUT_ERR_INPUT &&
        strstr(dlut_last_error(), "WHERE=PROMPT"));
  CHECK(dlut_job_opts_add_region_spec(&o, "=teal") != 0 && dlut_job_opts_add_region_spec(&o, "sky=") != 0);
  CHECK(dlut_job_opts_add_region_spec(&o, NULL) != 0 && o.n_regions == 1);
  CHECK(dlut_job_opts_add_region(&o, DLUT_JOB_REGION_MASK, "m.png", "cold") == 0);
  dlut_job_preflight_info pf = {.n_photos = 1, .width = W, .height = H, .has_model = 1};
  pf.mask_width[1] = W / 2, pf.mask_height[1] = H / 2; /* the same shape, another size: fine */
  CHECK(dlut_job_preflight(&o, &pf) == 0);
  pf.has_model = -1; /* a remote worker decides */
  CHECK(dlut_job_preflight(&o, &pf) == 0);
  pf.has_model = 0;
  CHECK(dlut_job_preflight(&o, &pf) != 0 && strstr(dlut_last_error(), "region 1") &&
        strstr(dlut_last_error(), "CLIP model"));
  pf.has_model = 1;
  pf.mask_width[1] = H, pf.mask_height[1] = H; /* square matte, 3:2 photo */
  CHECK(dlut_job_preflight(&o, &pf) != 0 && dlut_last_error_code() == DLUT_ERR_INPUT &&
        strstr(dlut_last_error(), "region 2") && strstr(dlut_last_error(), "different shape"));
  pf.mask_width[1] = 0; /* no matte */
  CHECK(dlut_job_preflight(&o, &pf) != 0 && strstr(dlut_last_error(), "no matte"));
  pf.mask_width[1] = W, pf.mask_height[1] = H, pf.n_photos = 2;
  CHECK(dlut_job_preflight(&o, &pf) != 0 && strstr(dlut_last_error(), "one photo"));
  pf.n_photos = DLUT_GRADE_SET_MAX + 1;
  CHECK(dlut_job_preflight(&o, &pf) != 0 && dlut_last_error_code() == DLUT_ERR_TOO_LARGE);
  dlut_job_opts_free(&o);
  /* the shape rule itself: 1% + 1 pixel of the smaller height, as dlut_mask_from_image applies it */
  CHECK(dlut_mask_shape_check(600, 400, 600, 400) == 0 && dlut_mask_shape_check(300, 200, 600, 400) == 0);
  CHECK(dlut_mask_shape_check(604, 400, 600, 400) == 0 && dlut_mask_shape_check(620, 400, 600, 400) != 0);
  CHECK(dlut_mask_shape_check(0, 400, 600, 400) != 0);

  dlut_image_free(matte);
  dlut_image_free(photo);
  return test_summary("region_job");
}
