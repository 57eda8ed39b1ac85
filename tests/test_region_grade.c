/* tests/test_region_grade.c - the region grade on the tiny random CLIP
 * models of the shared reference set (both families):
 *   - finite differences of the whole region pipeline, every table (the
 *     global one and two regions') -> L_total: the mask composite, both
 *     LUT applications, preprocessing, the vision tower with the token
 *     backward, the CLIP term on the composite, the local terms, the
 *     colour terms on the composited sample and the lattice terms;
 *   - the same for the local terms alone (every other weight 0);
 *   - with empty masks the problem is the global grade: the same total
 *     as dlut_grade_problem_eval and the same gradient for the global
 *     table, none for the region's;
 *   - the optimiser lowers the total and moves every table; the same
 *     inputs give bitwise-equal LUTs; a cancel keeps the best LUTs;
 *   - a mask from text (ColorizeDiffusion's map, guided filter) is a
 *     photo-sized map in [0,1] that is not constant. */
#include <stdint.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/region.h"
#include "test.h"

static uint64_t g_rng = 1234;
static double frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (g_rng >> 11) * (1.0 / 9007199254740992.0);
}

/* two soft masks: a left-right ramp, and a disc with a soft rim */
static float *make_mask(int w, int h, int kind) {
  float *m = malloc((size_t)w * h * sizeof(float));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      float v;
      if (kind == 0) {
        v = (float)(x - w * 0.3) / (float)(w * 0.4);
      } else {
        double dx = x - w * 0.6, dy = y - h * 0.45, r = sqrt(dx * dx + dy * dy) / (0.3 * h);
        v = (float)(1.5 - r);
      }
      m[(int64_t)y * w + x] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  return m;
}

static void fd(dlut_clip *m, const dlut_image *photo, const char *what, int local_only) {
  float *m0 = make_mask(photo->width, photo->height, 0), *m1 = make_mask(photo->width, photo->height, 1);
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.prompt = "warm golden film";
  o.global.lut_size = 5;
  o.global.samples = 400;
  o.global.weights.eigen = 100;
  o.n = 2;
  o.prompts[0] = "deep teal sky";
  o.prompts[1] = "natural skin";
  o.masks[0] = m0;
  o.masks[1] = m1;
  if (local_only) {
    o.global.weights = (dlut_grade_losses){0, 0, 0, 0, 0, 0, 0};
    o.w_local = 1;
  }
  dlut_region_problem *p = dlut_region_problem_new(m, photo, &o);
  CHECK_MSG(p != NULL, "region problem: %s", dlut_last_error());
  if (!p) {
    free(m0);
    free(m1);
    return;
  }
  const int n = dlut_region_problem_lut_size(p), nt = n * n * n * 3;
  float *t[3], *d[3];
  for (int k = 0; k < 3; k++) {
    t[k] = malloc(nt * sizeof(float));
    d[k] = malloc(nt * sizeof(float));
    const float *id = dlut_region_problem_start(p, k);
    for (int i = 0; i < nt; i++)
      t[k][i] = 0.2f + 0.6f * id[i] + (float)(0.1 * (frand() - 0.5)) + (i % 3 == k ? 0.05f : 0);
  }
  CHECK(dlut_region_problem_patch_weights(p, 1) != NULL && dlut_region_problem_patch_weights(p, 2) != NULL);
  dlut_region_losses L;
  CHECK(dlut_region_problem_eval(p, (const float *const *)t, &L, d) == 0);
  fprintf(stderr, "%s%s: total %.5f clip %.5f mono %.5f smooth %.5f vol %.5f shift %.5f eigen %.6f local %.5f %.5f\n",
          what, local_only ? " (local only)" : "", L.g.total, L.g.clip, L.g.mono, L.g.smooth, L.g.vol, L.g.shift,
          L.g.eigen, L.local[0], L.local[1]);
  CHECK(L.has_local[0] && L.has_local[1] && L.local[0] > 0 && L.local[1] > 0);
  if (!local_only) CHECK(L.g.clip > 0 && L.g.mono > 0 && L.g.smooth > 0 && L.g.vol > 0 && L.g.shift > 0);
  double gmax[3] = {0, 0, 0};
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < nt; i++) gmax[k] = fmax(gmax[k], fabs(d[k][i]));
  CHECK(gmax[0] > 0 && gmax[1] > 0 && gmax[2] > 0);
  for (int k = 0; k < 3; k++) {
    int checked = 0, kinks = 0;
    double maxerr = 0;
    for (int it = 0; it < 30; it++) {
      int i = (int)(frand() * nt);
      float keep = t[k][i];
      const float h = 2e-3f;
      dlut_region_losses a, b, c;
      t[k][i] = keep + h;
      dlut_region_problem_eval(p, (const float *const *)t, &a, NULL);
      t[k][i] = keep - h;
      dlut_region_problem_eval(p, (const float *const *)t, &b, NULL);
      t[k][i] = keep;
      dlut_region_problem_eval(p, (const float *const *)t, &c, NULL);
      double fdv = (a.g.total - b.g.total) / (2.0 * h), fp = (a.g.total - c.g.total) / h,
             fm = (c.g.total - b.g.total) / h;
      if (fabs(fp - fm) > 0.05 * fmax(fabs(fdv), 0.05 * gmax[k])) { /* a relu kink inside [-h, h] */
        kinks++;
        continue;
      }
      checked++;
      double err = fabs(fdv - d[k][i]) / fmax(fabs(fdv), 0.05 * gmax[k]);
      if (err > maxerr) maxerr = err;
    }
    fprintf(stderr, "%s%s: table %d: FD over %d entries (%d near kinks), max rel err %.4f, max |grad| %.4g\n", what,
            local_only ? " (local)" : "", k, checked, kinks, maxerr, gmax[k]);
    CHECK(checked >= 20);
    CHECK_MSG(maxerr < 0.05, "table %d: FD max relative error %g", k, maxerr);
  }
  for (int k = 0; k < 3; k++) {
    free(t[k]);
    free(d[k]);
  }
  dlut_region_problem_free(p);
  free(m0);
  free(m1);
}

/* Empty masks: the composite is the global grade, so the problem must be
 * dlut_grade_problem's (same working image, sample, features, terms). */
static void empty_mask_is_global(dlut_clip *m, const dlut_image *photo) {
  const int W = photo->width, H = photo->height;
  float *zero = calloc((size_t)W * H, sizeof(float));
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.prompt = "cold teal night";
  o.global.lut_size = 5;
  o.global.samples = 500;
  o.n = 1;
  o.prompts[0] = "red";
  o.masks[0] = zero;
  dlut_region_problem *p = dlut_region_problem_new(m, photo, &o);
  dlut_grade_problem *q = dlut_grade_problem_new(m, photo, &o.global);
  CHECK(p && q);
  if (p && q) {
    CHECK(dlut_region_problem_patch_weights(p, 1) == NULL);
    const int n = 5, nt = n * n * n * 3;
    float *t0 = malloc(nt * sizeof(float)), *t1 = malloc(nt * sizeof(float));
    float *d0 = malloc(nt * sizeof(float)), *d1 = malloc(nt * sizeof(float)), *dq = malloc(nt * sizeof(float));
    const float *id = dlut_region_problem_start(p, 0);
    for (int i = 0; i < nt; i++) {
      t0[i] = 0.1f + 0.8f * id[i] + (float)(0.05 * (frand() - 0.5));
      t1[i] = id[i]; /* the identity: no lattice terms of its own */
    }
    const float *tabs[2] = {t0, t1};
    float *dt[2] = {d0, d1};
    dlut_region_losses L;
    dlut_grade_losses G;
    CHECK(dlut_region_problem_eval(p, tabs, &L, dt) == 0);
    CHECK(dlut_grade_problem_eval(q, t0, &G, dq) == 0);
    fprintf(stderr, "empty mask: region total %.7f, global total %.7f\n", L.g.total, G.total);
    CHECK_NEAR(L.g.total, G.total, 1e-5 * fabs(G.total));
    CHECK_NEAR(L.g.clip, G.clip, 1e-5 * fabs(G.clip));
    double dmax = 0, gmax = 0, rmax = 0;
    for (int i = 0; i < nt; i++) {
      dmax = fmax(dmax, fabs(d0[i] - dq[i]));
      gmax = fmax(gmax, fabs(dq[i]));
      rmax = fmax(rmax, fabs(d1[i]));
    }
    CHECK_MSG(dmax <= 1e-4 * gmax, "global gradient differs: %g of %g", dmax, gmax);
    CHECK_MSG(rmax == 0, "the region's table has a gradient %g under an empty mask", rmax);
    free(t0);
    free(t1);
    free(d0);
    free(d1);
    free(dq);
  }
  dlut_region_problem_free(p);
  dlut_grade_problem_free(q);
  free(zero);
}

static void run_lowers(dlut_clip *m, const dlut_image *photo) {
  float *m0 = make_mask(photo->width, photo->height, 1);
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.prompt = "warm golden film";
  o.global.lut_size = 9;
  o.global.lattice_coarse = 5;
  o.global.samples = 1024;
  o.global.steps = 15;
  o.n = 1;
  o.prompts[0] = "deep teal";
  o.masks[0] = m0;
  dlut_region_grade_result r;
  CHECK_MSG(dlut_region_grade_run(m, photo, &o, &r) == 0, "region grade: %s", dlut_last_error());
  if (r.global) {
    fprintf(stderr, "region run: total %.5f -> %.5f (clip %.4f -> %.4f, local %.4f -> %.4f) in %d steps, %.2f s\n",
            r.start.g.total, r.end.g.total, r.start.g.clip, r.end.g.clip, r.start.local[0], r.end.local[0],
            r.steps_done, r.seconds);
    CHECK(r.steps_done == 15 && r.stopped == 0);
    CHECK(r.end.g.total < r.start.g.total - 1e-3 * fabs(r.start.g.total));
    CHECK(r.luts[0] != NULL);
    double moved0 = 0, moved1 = 0;
    const int nt = 9 * 9 * 9 * 3;
    for (int i = 0; i < nt; i++) {
      int c = i % 3, v = i / 3, idx[3] = {v % 9, v / 9 % 9, v / 81};
      moved0 = fmax(moved0, fabs(r.global->table[i] - idx[c] / 8.0f));
      moved1 = fmax(moved1, fabs(r.luts[0]->table[i] - idx[c] / 8.0f));
    }
    CHECK(moved0 > 1e-3 && moved1 > 1e-3);
  }
  dlut_region_grade_result_free(&r);
  free(m0);
}

static int g_calls;
static int cancel_at_2(void *user, const dlut_grade_progress *pr) {
  (void)user;
  g_calls++;
  CHECK(pr->lut != NULL && pr->step == g_calls);
  if (pr->step == 1) CHECK(pr->preview != NULL && pr->preview->width > 0);
  return pr->step >= 2;
}

/* the same inputs give bitwise-equal LUTs; a cancel keeps the best LUTs */
static void determinism_and_cancel(dlut_clip *m, const dlut_image *photo) {
  float *m0 = make_mask(photo->width, photo->height, 0);
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.prompt = "cold film";
  o.global.lut_size = 9;
  o.global.lattice_coarse = 5;
  o.global.samples = 512;
  o.global.steps = 4;
  o.n = 1;
  o.prompts[0] = "warm";
  o.masks[0] = m0;
  dlut_region_grade_result a, b, c;
  CHECK(dlut_region_grade_run(m, photo, &o, &a) == 0);
  CHECK(dlut_region_grade_run(m, photo, &o, &b) == 0);
  const size_t bytes = 9 * 9 * 9 * 3 * sizeof(float);
  CHECK(a.global && b.global && !memcmp(a.global->table, b.global->table, bytes));
  CHECK(a.luts[0] && b.luts[0] && !memcmp(a.luts[0]->table, b.luts[0]->table, bytes));
  o.global.callback = cancel_at_2;
  o.global.preview_every = 1;
  g_calls = 0;
  CHECK(dlut_region_grade_run(m, photo, &o, &c) == 0);
  CHECK(c.stopped == 1 && c.steps_done == 2 && c.global && c.luts[0] && g_calls == 2);
  dlut_region_grade_result_free(&a);
  dlut_region_grade_result_free(&b);
  dlut_region_grade_result_free(&c);
  free(m0);
}

static void text_mask(dlut_clip *m, const dlut_image *photo) {
  dlut_mask_opts mo = {0, 0};
  float map[64 * 64];
  int G = 0;
  float *mk = dlut_region_text_mask(m, photo, "the cat", &mo, map, &G);
  CHECK_MSG(mk != NULL, "text mask: %s", dlut_last_error());
  if (!mk) return;
  double lo = 1, hi = 0;
  int inrange = 1;
  for (int64_t i = 0; i < (int64_t)photo->width * photo->height; i++) {
    lo = fmin(lo, mk[i]);
    hi = fmax(hi, mk[i]);
    inrange &= mk[i] >= 0 && mk[i] <= 1;
  }
  fprintf(stderr, "text mask: grid %d, values %.3f..%.3f, coverage %.3f\n", G, lo, hi,
          dlut_mask_coverage(mk, photo->width, photo->height));
  CHECK(G == 4 && inrange && hi - lo > 0.5);
  free(mk);
}

int main(void) {
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  dlut_clip *mc = dlut_clip_load(test_shared("data/clip-ref/chinese_clip_tiny"));
  CHECK(photo && m && mc);
  if (!photo || !m || !mc) return test_summary("region_grade");
  fd(m, photo, "openai_tiny", 0);
  fd(m, photo, "openai_tiny", 1);
  fd(mc, photo, "chinese_clip_tiny", 0);
  empty_mask_is_global(m, photo);
  run_lowers(m, photo);
  determinism_and_cancel(m, photo);
  text_mask(m, photo);
  /* refusals */
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.prompt = "warm";
  CHECK(dlut_region_problem_new(m, photo, &o) == NULL); /* no regions */
  o.n = 1;
  o.prompts[0] = "teal";
  CHECK(dlut_region_problem_new(m, photo, &o) == NULL); /* no mask */
  dlut_clip_free(m);
  dlut_clip_free(mc);
  dlut_image_free(photo);
  return test_summary("region_grade");
}
