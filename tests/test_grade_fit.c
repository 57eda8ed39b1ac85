/* tests/test_grade_fit.c - `dlut fit` quality: grade real photos with a known,
 * non-trivial LUT, fit it back from the before/after pair, and measure the
 * mean CIEDE2000 between the known and the fitted LUT over the colours the
 * photo contains (goal: below 1). Also: the fit's tetrahedral design matrix
 * reproduces the lut module's application, and bad input is refused. */
#include <stdint.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "test.h"

/* A known look: S-curve contrast, warm split (red up, blue down in gamma),
 * lifted blacks and a channel mix. Smooth, monotone, clearly not the identity. */
static void known_look(const float in[3], float out[3]) {
  float s[3];
  for (int c = 0; c < 3; c++) {
    float x = in[c];
    float sc = x * x * (3 - 2 * x);
    s[c] = 0.55f * sc + 0.45f * x;
  }
  float r = powf(s[0], 0.85f), g = 0.88f * s[1] + 0.12f * s[0], b = powf(s[2], 1.2f);
  out[0] = 0.03f + 0.97f * r;
  out[1] = 0.02f + 0.96f * g;
  out[2] = 0.04f + 0.9f * b;
}

static dlut_lut *known_lut(int n) {
  dlut_lut *l = dlut_lut_alloc(n, 0);
  if (!l) return NULL;
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        float in[3] = {(float)r / (n - 1), (float)g / (n - 1), (float)b / (n - 1)};
        known_look(in, l->table + (((int64_t)b * n + g) * n + r) * 3);
      }
  return l;
}

/* mean and max dE2000 between two LUTs over the photo's colours */
static void lut_delta_e(const dlut_lut *a, const dlut_lut *b, const dlut_image *photo, double *mean, double *p95) {
  dlut_image *f = dlut_image_convert(photo, 3, DLUT_PIXEL_F32);
  int64_t n = (int64_t)photo->width * photo->height;
  float *oa = malloc((size_t)n * 3 * sizeof(float)), *ob = malloc((size_t)n * 3 * sizeof(float));
  double *de = malloc((size_t)n * sizeof(double));
  const float *px = f->data; /* tightly packed F32 RGB */
  dlut_lut_apply_f32(a, px, oa, n, DLUT_INTERP_TETRAHEDRAL);
  dlut_lut_apply_f32(b, px, ob, n, DLUT_INTERP_TETRAHEDRAL);
  for (int64_t i = 0; i < n * 3; i++) {
    oa[i] = oa[i] < 0 ? 0 : oa[i] > 1 ? 1 : oa[i];
    ob[i] = ob[i] < 0 ? 0 : ob[i] > 1 ? 1 : ob[i];
  }
  dlut_color_srgb_to_lab(oa, oa, n);
  dlut_color_srgb_to_lab(ob, ob, n);
  double s = 0;
  for (int64_t i = 0; i < n; i++) {
    double la[3] = {oa[i * 3], oa[i * 3 + 1], oa[i * 3 + 2]}, lb[3] = {ob[i * 3], ob[i * 3 + 1], ob[i * 3 + 2]};
    de[i] = dlut_delta_e2000(la, lb);
    s += de[i];
  }
  *mean = s / (double)n;
  /* 95th percentile by counting (no sort needed for a check) */
  double lo = 0, hi = 50;
  for (int it = 0; it < 40; it++) {
    double mid = (lo + hi) / 2;
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += de[i] <= mid;
    if (c >= (int64_t)(0.95 * n))
      hi = mid;
    else
      lo = mid;
  }
  *p95 = hi;
  free(oa);
  free(ob);
  free(de);
  dlut_image_free(f);
}

static void fit_photo(const char *rel) {
  dlut_image *before = dlut_image_load(test_shared(rel));
  CHECK_MSG(before != NULL, "%s: %s", rel, dlut_last_error());
  if (!before) return;
  dlut_image *b3 = dlut_image_convert(before, 3, DLUT_PIXEL_U8);
  dlut_lut *known = known_lut(33);
  dlut_image *after = dlut_image_convert(b3, 3, DLUT_PIXEL_U8);
  CHECK(known && after && b3);
  /* the graded version, as an 8-bit file would hold it */
  CHECK(dlut_lut_apply_image(known, b3, after, DLUT_INTERP_TETRAHEDRAL, 1.0f) == 0);
  dlut_fit_opts o;
  dlut_fit_opts_init(&o);
  dlut_fit_stats st;
  dlut_lut *fitted = dlut_fit(b3, after, &o, &st);
  CHECK_MSG(fitted != NULL, "fit: %s", dlut_last_error());
  if (fitted) {
    double mean, p95, mean_id, p95_id;
    lut_delta_e(known, fitted, b3, &mean, &p95);
    dlut_lut *id = dlut_lut_alloc(33, 0);
    lut_delta_e(known, id, b3, &mean_id, &p95_id);
    fprintf(stderr,
            "%s: fit rmse %.5f (%d CG iterations, %lld samples); dE2000 known vs fitted: mean %.3f, p95 %.3f "
            "(identity would be mean %.2f)\n",
            rel, st.rmse, st.cg_iters, (long long)st.samples, mean, p95, mean_id);
    CHECK_MSG(mean < 1.0, "%s: mean dE2000 %.3f not below 1", rel, mean);
    CHECK(mean_id > 5.0); /* the known look is far from the identity, so the check above means something */
    CHECK(st.rmse < 3.0 / 255);
    double mono, smooth;
    dlut_grade_lattice_forward(fitted->table, 33, &mono, &smooth);
    CHECK(isfinite(mono) && isfinite(smooth));
    dlut_lut_free(id);
    /* the refinement through the lut module's apply/backward keeps the fit and
     * does not make the monotonicity term worse */
    if (strstr(rel, "chelsea")) {
      o.lut_size = 17;
      dlut_lut *plain = dlut_fit(b3, after, &o, NULL);
      o.refine_steps = 30;
      dlut_lut *refined = dlut_fit(b3, after, &o, &st);
      CHECK(plain && refined);
      if (plain && refined) {
        double m0, m1, s0, s1, mr, pr;
        dlut_grade_lattice_forward(plain->table, 17, &m0, &s0);
        dlut_grade_lattice_forward(refined->table, 17, &m1, &s1);
        lut_delta_e(known, refined, b3, &mr, &pr);
        fprintf(stderr, "%s: refined 17^3 fit: mono %.3g -> %.3g, mean dE2000 %.3f, rmse %.5f\n", rel, m0, m1, mr,
                st.rmse);
        CHECK(m1 <= m0 + 1e-7);
        CHECK(mr < 1.0);
      }
      dlut_lut_free(plain);
      dlut_lut_free(refined);
    }
  }
  dlut_lut_free(fitted);
  dlut_lut_free(known);
  dlut_image_free(after);
  dlut_image_free(b3);
  dlut_image_free(before);
}

static void bad_input(void) {
  dlut_image *a = dlut_image_alloc(8, 8, 3, DLUT_PIXEL_U8), *b = dlut_image_alloc(9, 8, 3, DLUT_PIXEL_U8);
  memset(a->data, 100, a->stride * 8);
  memset(b->data, 100, b->stride * 8);
  dlut_fit_opts o;
  dlut_fit_opts_init(&o);
  CHECK(dlut_fit(a, b, &o, NULL) == NULL);
  CHECK(strstr(dlut_last_error(), "size") != NULL);
  o.lut_size = 1;
  CHECK(dlut_fit(a, a, &o, NULL) == NULL);
  /* a flat photo: the fit is defined (smooth extension), finite, maps the one colour right */
  dlut_fit_opts_init(&o);
  o.lut_size = 9;
  dlut_lut *l = dlut_fit(a, a, &o, NULL);
  CHECK(l != NULL);
  if (l) {
    float in[3] = {100 / 255.f, 100 / 255.f, 100 / 255.f}, out[3];
    dlut_lut_eval(l, in, out, DLUT_INTERP_TETRAHEDRAL);
    for (int c = 0; c < 3; c++) CHECK_NEAR(out[c], in[c], 1e-3);
    int finite = 1;
    for (int k = 0; k < 9 * 9 * 9 * 3; k++) finite &= isfinite(l->table[k]);
    CHECK(finite);
  }
  dlut_lut_free(l);
  dlut_image_free(a);
  dlut_image_free(b);
}

int main(void) {
  bad_input();
  fit_photo("data/photos/chelsea.png");
  /* the second photo only in normal builds: under ASan+UBSan one photo keeps the test in seconds */
  const char *san = getenv("DLUT_SANITIZE");
  int sanitized = san && *san == '1';
#if defined(__SANITIZE_ADDRESS__)
  sanitized = 1;
#endif
  if (!sanitized) fit_photo("data/photos/coffee.png");
  return test_summary("grade_fit");
}
