/* tests/test_manip_grade.c - the global reference edits of a grade
 * (dlut_grade_ref_target) as ColorizeDiffusion computes them: on the
 * un-normalised CLS embedding of the reference, texts normalised, no
 * renormalisation between edits, in order, nothing unless some s > 0; the
 * old ref_mode / ref_scale / ref_anchor options mapped onto one edit; and
 * the job option "edits" ("TARGET|ANCHOR|SCALE[|ENHANCE]" lines, enhance
 * parsed as a real boolean). The formulas themselves are checked against
 * the original's outputs by `dlut refcheck` (tests/t_clip_refcheck.sh). */
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/manip.h"
#include "test.h"

#define MAXE 1024

static double dotd(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static double dist_unit(const float *out, const double *want, int n) {
  double s = 0, d = 0;
  for (int i = 0; i < n; i++) s += want[i] * want[i];
  s = sqrt(s);
  for (int i = 0; i < n; i++) d = fmax(d, fabs(out[i] - want[i] / s));
  return d;
}

/* the reference's raw embedding, preprocessed as the grade does */
static int raw_embedding(dlut_clip *m, const dlut_image *img, float *v) {
  const dlut_clip_info *info = dlut_clip_get_info(m);
  dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32);
  float *pix = malloc(sizeof(float) * 3 * (size_t)info->image_size * info->image_size);
  int rc = -1;
  if (f && pix && dlut_clip_preprocess(info, (const float *)f->data, f->width, f->height, pix) == 0)
    rc = dlut_clip_encode_image(m, pix, v);
  free(pix);
  dlut_image_free(f);
  return rc;
}

static void test_ref_target(dlut_clip *m, const dlut_image *ref) {
  const int E = dlut_clip_get_info(m)->embed_dim;
  float v[MAXE], out[MAXE], t[MAXE], a[MAXE], t2[MAXE], src[MAXE];
  double want[MAXE];
  CHECK(E <= MAXE && raw_embedding(m, ref, v) == 0);
  CHECK(dlut_manip_text(m, "warm golden light", t) == 0);
  CHECK(dlut_manip_text(m, "cold blue light", a) == 0);
  CHECK(dlut_manip_text(m, "film grain", t2) == 0);
  CHECK(dlut_manip_text(m, "a straight-out-of-camera photo", src) == 0);
  double nv = sqrt(dotd(v, v, E));

  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  /* no edit: the reference itself, normalised */
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 0);
  for (int k = 0; k < E; k++) want[k] = v[k];
  CHECK_NEAR(dist_unit(out, want, E), 0, 1e-6);

  /* no anchor, no enhance: v + (s - v.t) t on the RAW v, so (before the
   * final normalisation) v'.t = s exactly: the original's meaning of s */
  dlut_grade_ref_edit e1 = {"warm golden light", "none", 6.0f, 0};
  o.ref_edits = &e1;
  o.n_ref_edits = 1;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 1);
  double vt = dotd(v, t, E);
  for (int k = 0; k < E; k++) want[k] = v[k] + (6.0 - vt) * t[k];
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "replace: %g", dist_unit(out, want, E));
  /* not the old normalise-first semantics (unless |v| = 1, which it is not here) */
  CHECK(fabs(nv - 1) > 1e-2);
  {
    double w2[MAXE], vn[MAXE], vtn = vt / nv;
    for (int k = 0; k < E; k++) vn[k] = v[k] / nv, w2[k] = vn[k] + (6.0 - vtn) * t[k];
    CHECK(dist_unit(out, w2, E) > 1e-3);
  }

  /* a sequence: anchor + no enhance, then no anchor + enhance */
  dlut_grade_ref_edit seq[2] = {{"warm golden light", "cold blue light", 4.0f, 0}, {"film grain", "", 2.5f, 1}};
  o.ref_edits = seq;
  o.n_ref_edits = 2;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 2);
  for (int k = 0; k < E; k++) want[k] = v[k] + 4.0 * (t[k] - a[k]) + 2.5 * t2[k];
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "sequence: %g", dist_unit(out, want, E));
  /* anchor + enhance: v - (v.a) a + s t */
  dlut_grade_ref_edit e3 = {"warm golden light", "cold blue light", 3.0f, 1};
  o.ref_edits = &e3;
  o.n_ref_edits = 1;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 1);
  double va = dotd(v, a, E);
  for (int k = 0; k < E; k++) want[k] = v[k] - va * a[k] + 3.0 * t[k];
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "enhance: %g", dist_unit(out, want, E));

  /* s = 0 everywhere: no manipulation at all (the pipeline's gate), even
   * though the no-anchor formula would change v at s = 0 */
  dlut_grade_ref_edit z[2] = {{"warm golden light", NULL, 0.0f, 0}, {"film grain", NULL, -1.0f, 1}};
  o.ref_edits = z;
  o.n_ref_edits = 2;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 0);
  for (int k = 0; k < E; k++) want[k] = v[k];
  CHECK_NEAR(dist_unit(out, want, E), 0, 1e-6);
  /* one s > 0 applies them all, in order (the s = 0 one included) */
  z[1].scale = 1.0f;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 2);
  for (int k = 0; k < E; k++) want[k] = v[k] - vt * t[k] + 1.0 * t2[k];
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "gate: %g", dist_unit(out, want, E));

  /* the old options are one edit: anchor (default anchor: the source prompt) */
  o.ref_edits = NULL;
  o.n_ref_edits = 0;
  o.ref_mode = DLUT_GRADE_REF_ANCHOR;
  o.prompt = "warm golden light";
  o.ref_scale = 2.0f;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 1);
  for (int k = 0; k < E; k++) want[k] = v[k] + 2.0 * (t[k] - src[k]);
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "legacy anchor: %g", dist_unit(out, want, E));
  o.ref_anchor = "cold blue light";
  o.ref_mode = DLUT_GRADE_REF_ENHANCE;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 1);
  for (int k = 0; k < E; k++) want[k] = v[k] - va * a[k] + 2.0 * t[k];
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "legacy enhance: %g", dist_unit(out, want, E));
  o.ref_mode = DLUT_GRADE_REF_REPLACE;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == 1);
  for (int k = 0; k < E; k++) want[k] = v[k] + (2.0 - vt) * t[k];
  CHECK_MSG(dist_unit(out, want, E) < 1e-5, "legacy replace: %g", dist_unit(out, want, E));
  o.prompt = NULL;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == -1); /* a text edit without text */
  dlut_grade_ref_edit bad = {"", NULL, 1.0f, 0};
  o.ref_edits = &bad;
  o.n_ref_edits = 1;
  CHECK(dlut_grade_ref_target(m, v, &o, NULL, out) == -1);
}

/* the text map of a photo: the whole frame resized to S x S (no crop),
 * normalised to [0,1], raw = l . unit(text); and its heatmap */
static void test_text_map(dlut_clip *m, const dlut_image *photo) {
  dlut_clip_info info = *dlut_clip_get_info(m);
  const int P = info.n_patch_tokens, E = info.embed_dim, S = info.image_size;
  int G = (int)lrint(sqrt((double)P));
  float *map = malloc(sizeof(float) * P), *raw = malloc(sizeof(float) * P), *tok = malloc(sizeof(float) * (P + 1) * E);
  float *pix = malloc(sizeof(float) * 3 * S * S), c[MAXE];
  dlut_image *f = dlut_image_convert(photo, 3, DLUT_PIXEL_F32);
  CHECK(map && raw && tok && pix && f && G * G == P);
  CHECK(dlut_manip_text_map(m, photo, "orange cat fur", NULL, 0, map, raw) == 0);
  double lo = 1, hi = 0;
  for (int p = 0; p < P; p++) lo = fmin(lo, map[p]), hi = fmax(hi, map[p]);
  CHECK_NEAR(lo, 0, 1e-7);
  CHECK_NEAR(hi, 1, 1e-7);
  /* by hand: resize straight to S x S (OpenAI models would crop), tokens, dot */
  info.center_crop = 0;
  CHECK(dlut_clip_preprocess(&info, (const float *)f->data, f->width, f->height, pix) == 0);
  CHECK(dlut_clip_encode_image(m, pix, c) == 0 && dlut_clip_image_tokens(m, tok) == 0);
  CHECK(dlut_manip_text(m, "orange cat fur", c) == 0);
  double worst = 0;
  for (int p = 0; p < P; p++) worst = fmax(worst, fabs(raw[p] - dotd(tok + (size_t)(p + 1) * E, c, E)));
  CHECK_MSG(worst < 1e-5, "text map raw vs by hand: %g", worst);
  dlut_image *hm = dlut_manip_heatmap(photo, map, G, NULL);
  CHECK(hm && hm->width == photo->width && hm->height == photo->height);
  dlut_image_free(hm);
  dlut_image_free(f);
  free(map), free(raw), free(tok), free(pix);
}

static void test_job_edits(void) {
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  CHECK(dlut_job_opts_set(&o, "edits",
                          "warm golden light | cold blue light | 6\n\n film grain||3| False\nsky|none|1.5|TRUE") == 0);
  CHECK(o.n_edits == 3);
  if (o.n_edits == 3) {
    CHECK(!strcmp(o.edits[0].target, "warm golden light") && !strcmp(o.edits[0].anchor, "cold blue light"));
    CHECK(o.edits[0].scale == 6.0f && o.edits[0].enhance == 0);
    CHECK(!strcmp(o.edits[1].target, "film grain") && o.edits[1].anchor == NULL && o.edits[1].scale == 3.0f);
    CHECK(o.edits[1].enhance == 0); /* " False" is false here (upstream's bool(" False") is True) */
    CHECK(o.edits[2].anchor == NULL && o.edits[2].enhance == 1 && o.edits[2].scale == 1.5f);
  }
  CHECK(dlut_job_opts_finish(&o, 0) != 0); /* edits need a reference */
  CHECK(dlut_job_opts_finish(&o, 1) == 0 && o.grade.n_ref_edits == 3 && o.grade.ref_edits == o.edits);
  CHECK(dlut_job_opts_set(&o, "edits", "warm||x") != 0 && strstr(dlut_last_error(), "line 1"));
  CHECK(dlut_job_opts_set(&o, "edits", "ok||1\n|none|1") != 0 && strstr(dlut_last_error(), "line 2"));
  CHECK(dlut_job_opts_set(&o, "edits", "warm||1|maybe") != 0 && strstr(dlut_last_error(), "ENHANCE"));
  CHECK(dlut_job_opts_set(&o, "edits", "warm|1") != 0);
  CHECK(dlut_job_opts_set(&o, "edits", "warm||1000") != 0);
  CHECK(o.n_edits == 3); /* a refused value leaves the previous one */
  CHECK(dlut_job_opts_set(&o, "ref_mode", "anchor") == 0);
  CHECK(dlut_job_opts_finish(&o, 1) != 0); /* edits and ref_mode together */
  dlut_job_opts_free(&o);
}

int main(void) {
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  CHECK_MSG(m != NULL, "%s", dlut_last_error());
  dlut_image *ref = dlut_image_load(test_shared("data/photos/coffee.png"));
  CHECK(ref != NULL);
  if (m && ref) test_ref_target(m, ref);
  if (m && ref) test_text_map(m, ref);
  test_job_edits();
  dlut_image_free(ref);
  dlut_clip_free(m);
  return test_summary("manip_grade");
}
