/* tests/test_grade_loop.c - the grading engine end to end on the tiny random
 * CLIP models of the shared reference set:
 *   - finite differences of the whole chain, LUT entries -> L_total
 *     (LUT application, preprocessing, the vision tower, every loss term);
 *   - both parameterisations lower L_total;
 *   - the same seed gives a bitwise-equal LUT; cancelling keeps a LUT;
 *     a NaN during optimisation is a safe stop that keeps the best LUT;
 *     bad options are refused with a reason. */
#include <stdint.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "test.h"

static uint64_t g_rng = 99;
static double frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (g_rng >> 11) * (1.0 / 9007199254740992.0);
}

static void chain_fd(dlut_clip *m, const dlut_image *photo, const char *prompt) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = prompt;
  o.lut_size = 5;
  o.samples = 400;
  o.weights.eigen = 100; /* keep every term's share visible in the total */
  dlut_grade_problem *p = dlut_grade_problem_new(m, photo, &o);
  CHECK_MSG(p != NULL, "problem: %s", dlut_last_error());
  if (!p) return;
  const int n = dlut_grade_problem_lut_size(p);
  const int nt = n * n * n * 3;
  float *t = malloc(nt * sizeof(float)), *d = malloc(nt * sizeof(float));
  /* a contrast-reducing, tinted start, away from the identity (so vol, eigen,
   * shift and mono are all active) */
  const float *id = dlut_grade_problem_start(p);
  for (int i = 0; i < nt; i++) t[i] = 0.25f + 0.5f * id[i] + (float)(0.08 * (frand() - 0.5)) + (i % 3 == 0 ? 0.05f : 0);
  dlut_grade_losses L;
  CHECK(dlut_grade_problem_eval(p, t, &L, d) == 0);
  fprintf(stderr, "%s: total %.5f clip %.5f mono %.5f smooth %.5f vol %.5f shift %.5f eigen %.6f\n", prompt, L.total,
          L.clip, L.mono, L.smooth, L.vol, L.shift, L.eigen);
  CHECK(L.clip > 0 && L.mono > 0 && L.smooth > 0 && L.vol > 0 && L.shift > 0 && L.eigen > 0);
  double gmax = 0;
  for (int i = 0; i < nt; i++) gmax = fmax(gmax, fabs(d[i]));
  CHECK(gmax > 0);
  int checked = 0, kinks = 0;
  double maxerr = 0;
  for (int k = 0; k < 60; k++) {
    int i = (int)(frand() * nt);
    float keep = t[i];
    const float h = 2e-3f;
    dlut_grade_losses a, b, c;
    t[i] = keep + h;
    dlut_grade_problem_eval(p, t, &a, NULL);
    t[i] = keep - h;
    dlut_grade_problem_eval(p, t, &b, NULL);
    t[i] = keep;
    dlut_grade_problem_eval(p, t, &c, NULL);
    double fd = (a.total - b.total) / (2.0 * h), fp = (a.total - c.total) / h, fm = (c.total - b.total) / h;
    if (fabs(fp - fm) > 0.05 * fmax(fabs(fd), 0.05 * gmax)) { /* a relu kink inside [-h, h] */
      kinks++;
      continue;
    }
    checked++;
    double err = fabs(fd - d[i]) / fmax(fabs(fd), 0.05 * gmax);
    if (err > maxerr) maxerr = err;
  }
  fprintf(stderr, "%s: chain FD over %d entries (%d near kinks), max rel err %.4f, max |grad| %.4g\n", prompt, checked,
          kinks, maxerr, gmax);
  CHECK(checked >= 40);
  CHECK_MSG(maxerr < 0.05, "chain FD max relative error %g", maxerr);
  free(t);
  free(d);
  dlut_grade_problem_free(p);
}

static int g_calls;
static int cancel_after_3(void *user, const dlut_grade_progress *pr) {
  (void)user;
  g_calls++;
  CHECK(pr->lut != NULL && pr->step == g_calls);
  if (pr->step == 2) CHECK(pr->preview != NULL && pr->preview->width > 0);
  return pr->step >= 3;
}

static void run_param(dlut_clip *m, const dlut_image *photo, dlut_grade_param param, const char *prompt) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = prompt;
  o.param = param;
  o.lut_size = 17;
  o.samples = 2048;
  o.steps = 25;
  if (param == DLUT_GRADE_PARAM_FIELD) {
    o.field_hidden = 32;
    o.lr = 2e-3f; /* a small field needs a larger rate than the original's 512-wide one */
  }
  dlut_grade_result r;
  CHECK_MSG(dlut_grade_run(m, photo, &o, &r) == 0, "grade: %s", dlut_last_error());
  if (!r.lut) return;
  fprintf(stderr, "%s (%s): total %.5f -> %.5f (clip %.4f -> %.4f) in %d steps, %.2f s\n", prompt,
          param == DLUT_GRADE_PARAM_FIELD ? "field" : "lattice", r.start.total, r.end.total, r.start.clip, r.end.clip,
          r.steps_done, r.seconds);
  CHECK(r.steps_done == 25 && r.stopped == 0);
  CHECK(r.end.total < r.start.total);
  CHECK(r.end.total < r.start.total - 1e-3 * fabs(r.start.total));
  int inrange = 1;
  for (int i = 0; i < 17 * 17 * 17 * 3; i++) inrange &= r.lut->table[i] >= 0 && r.lut->table[i] <= 1;
  CHECK(inrange);
  dlut_grade_result_free(&r);
}

static void determinism_and_stops(dlut_clip *m, const dlut_image *photo) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = "warm golden sunset";
  o.lut_size = 9;
  o.samples = 1024;
  o.steps = 6;
  o.seed = 42;
  dlut_grade_result a, b;
  CHECK(dlut_grade_run(m, photo, &o, &a) == 0);
  CHECK(dlut_grade_run(m, photo, &o, &b) == 0);
  CHECK(a.lut && b.lut && memcmp(a.lut->table, b.lut->table, 9 * 9 * 9 * 3 * sizeof(float)) == 0);
  CHECK(a.end.total == b.end.total);
  dlut_grade_result_free(&b);
  o.seed = 43; /* another sample of pixels: other colour statistics */
  CHECK(dlut_grade_run(m, photo, &o, &b) == 0);
  fprintf(stderr, "seed 42: %.6f -> %.6f, seed 43: %.6f -> %.6f\n", a.start.total, a.end.total, b.start.total,
          b.end.total);
  CHECK(b.lut && a.end.total != b.end.total);
  dlut_grade_result_free(&a);
  dlut_grade_result_free(&b);
  /* the field, too */
  o.seed = 42;
  o.param = DLUT_GRADE_PARAM_FIELD;
  o.field_hidden = 16;
  o.steps = 4;
  CHECK(dlut_grade_run(m, photo, &o, &a) == 0);
  CHECK(dlut_grade_run(m, photo, &o, &b) == 0);
  CHECK(a.lut && b.lut && memcmp(a.lut->table, b.lut->table, 9 * 9 * 9 * 3 * sizeof(float)) == 0);
  dlut_grade_result_free(&a);
  dlut_grade_result_free(&b);

  /* cancel from the callback: a LUT is still returned */
  dlut_grade_opts_init(&o);
  o.prompt = "cold blue night";
  o.lut_size = 9;
  o.samples = 512;
  o.steps = 50;
  o.callback = cancel_after_3;
  o.preview_every = 2;
  g_calls = 0;
  CHECK(dlut_grade_run(m, photo, &o, &a) == 0);
  CHECK(a.stopped == 1 && a.steps_done == 3 && g_calls == 3 && a.lut != NULL);
  CHECK(strstr(a.stop_reason, "cancel") != NULL);
  dlut_grade_result_free(&a);

  /* NaN during optimisation: an infinite learning rate turns the parameters
   * into NaN after one step; the grade stops safely with the best LUT */
  dlut_grade_opts_init(&o);
  o.prompt = "vivid";
  o.lut_size = 9;
  o.samples = 512;
  o.steps = 10;
  o.lr = INFINITY;
  CHECK_MSG(dlut_grade_run(m, photo, &o, &a) == 0, "%s", dlut_last_error());
  CHECK(a.stopped == 2 && a.steps_done == 1 && a.lut != NULL);
  if (a.lut) {
    int finite = 1;
    for (int i = 0; i < 9 * 9 * 9 * 3; i++) finite &= isfinite(a.lut->table[i]);
    CHECK(finite);
  }
  fprintf(stderr, "NaN stop: %s\n", a.stop_reason);
  dlut_grade_result_free(&a);

  /* refused */
  dlut_grade_opts_init(&o);
  o.prompt = "";
  CHECK(dlut_grade_run(m, photo, &o, &a) == -1 && a.lut == NULL);
  CHECK(strstr(dlut_last_error(), "empty prompt") != NULL);
  o.prompt = "ok";
  o.lut_size = 1;
  CHECK(dlut_grade_run(m, photo, &o, &a) == -1);
  o.lut_size = 9;
  CHECK(dlut_grade_run(NULL, photo, &o, &a) == -1);
  /* a one-pixel photo has no colour statistics: refused with a reason */
  dlut_image *tiny = dlut_image_alloc(1, 1, 3, DLUT_PIXEL_U8);
  memset(tiny->data, 128, 3);
  CHECK(dlut_grade_run(m, tiny, &o, &a) == -1 && strstr(dlut_last_error(), "pixels") != NULL);
  dlut_image_free(tiny);
  /* 16-bit RGBA photos grade like 8-bit RGB ones (alpha ignored) */
  dlut_image *rgba16 = dlut_image_convert(photo, 4, DLUT_PIXEL_U16);
  o.steps = 3;
  CHECK(rgba16 && dlut_grade_run(m, rgba16, &o, &a) == 0 && a.lut != NULL);
  dlut_grade_result_free(&a);
  dlut_image_free(rgba16);
}

static void reference(dlut_clip *m, const dlut_image *photo, const dlut_image *ref) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.ref = ref;
  o.lut_size = 9;
  o.samples = 1024;
  o.steps = 15;
  dlut_grade_result r;
  CHECK_MSG(dlut_grade_run(m, photo, &o, &r) == 0, "ref: %s", dlut_last_error());
  CHECK(r.lut && r.end.total < r.start.total);
  dlut_grade_result_free(&r);
  /* a transfer start: the first LUT is not the identity */
  o.ref_transfer_init = 1;
  o.steps = 3;
  CHECK(dlut_grade_run(m, photo, &o, &r) == 0);
  CHECK(r.start.shift > 0.01);
  dlut_grade_result_free(&r);
  /* text edits of the reference */
  for (int mode = 1; mode <= 3; mode++) {
    o.ref_transfer_init = 0;
    o.ref_mode = (dlut_grade_ref_mode)mode;
    o.prompt = "warm";
    CHECK_MSG(dlut_grade_run(m, photo, &o, &r) == 0, "ref mode %d: %s", mode, dlut_last_error());
    CHECK(r.lut != NULL);
    dlut_grade_result_free(&r);
  }
  o.prompt = NULL;
  CHECK(dlut_grade_run(m, photo, &o, &r) == -1); /* a text edit with no text */
}

int main(void) {
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  dlut_image *ref = dlut_image_load(test_shared("data/photos/coffee.png"));
  CHECK(photo && ref);
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  CHECK_MSG(m != NULL, "%s", dlut_last_error());
  dlut_clip *mc = dlut_clip_load(test_shared("data/clip-ref/chinese_clip_tiny"));
  CHECK_MSG(mc != NULL, "%s", dlut_last_error());
  if (photo && ref && m && mc) {
    chain_fd(m, photo, "teal and orange film");
    chain_fd(mc, photo, "温暖的日落胶片风");
    run_param(m, photo, DLUT_GRADE_PARAM_LATTICE, "cold teal night, high contrast");
    run_param(m, photo, DLUT_GRADE_PARAM_FIELD, "cold teal night, high contrast");
    run_param(mc, photo, DLUT_GRADE_PARAM_LATTICE, "温暖的日落胶片风");
    determinism_and_stops(m, photo);
    reference(m, photo, ref);
  }
  dlut_clip_free(m);
  dlut_clip_free(mc);
  dlut_image_free(photo);
  dlut_image_free(ref);
  return test_summary("grade_loop");
}
