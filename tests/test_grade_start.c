/* The optimisation's starting LUT: the identity by default, the prompt's
 * offline look when one is given (opts.start_lut), and the Reinhard
 * transfer when asked, which wins over a given start. */
#include "dlut/clip.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "test.h"

static double max_diff_to_identity(const float *t, int n) {
  double worst = 0;
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        const float *e = t + (((size_t)b * n + g) * n + r) * 3;
        double d[3] = {e[0] - (double)r / (n - 1), e[1] - (double)g / (n - 1), e[2] - (double)b / (n - 1)};
        for (int c = 0; c < 3; c++) worst = fmax(worst, fabs(d[c]));
      }
  return worst;
}

int main(void) {
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  dlut_image *ref = dlut_image_load(test_shared("data/photos/coffee.png"));
  CHECK(m && photo && ref);
  if (!m || !photo || !ref) return test_summary("grade_start");
  const int n = 17;

  dlut_lut *look = NULL;
  char understood[256] = "";
  CHECK(dlut_looks_from_prompt("very warm, faded film", n, &look, understood, sizeof understood, NULL, 0) == 0);
  CHECK(look && understood[0]);

  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = "very warm, faded film";
  o.lut_size = n;

  /* default: the identity */
  dlut_grade_problem *p = dlut_grade_problem_new(m, photo, &o);
  CHECK(p != NULL);
  if (p) CHECK_NEAR(max_diff_to_identity(dlut_grade_problem_start(p), n), 0.0, 1e-6);
  dlut_grade_problem_free(p);

  /* a given start: the look's table, entry for entry (same lattice size) */
  o.start_lut = look;
  p = dlut_grade_problem_new(m, photo, &o);
  CHECK(p != NULL);
  if (p) {
    const float *s = dlut_grade_problem_start(p);
    double worst = 0;
    for (int i = 0; i < n * n * n * 3; i++) {
      float want = look->table[i] < 0 ? 0 : look->table[i] > 1 ? 1 : look->table[i];
      worst = fmax(worst, fabs(s[i] - want));
    }
    CHECK_NEAR(worst, 0.0, 1e-6);
    CHECK(max_diff_to_identity(s, n) > 0.02); /* the look is a visible grade */
    /* and the look's colour shift shows in the starting losses */
    dlut_grade_losses L;
    CHECK(dlut_grade_problem_eval(p, s, &L, NULL) == 0);
    CHECK(L.shift > 0.01);
  }
  dlut_grade_problem_free(p);

  /* a start of another size is resampled: a 9-point look on a 17-point lattice */
  dlut_lut *small = NULL;
  CHECK(dlut_looks_from_prompt("very warm, faded film", 9, &small, NULL, 0, NULL, 0) == 0);
  o.start_lut = small;
  p = dlut_grade_problem_new(m, photo, &o);
  CHECK(p != NULL);
  if (p && small) {
    const float *s = dlut_grade_problem_start(p);
    double worst = 0;
    for (int i = 0; i < n * n * n; i++) {
      float in[3] = {(float)(i % n) / (n - 1), (float)((i / n) % n) / (n - 1), (float)(i / (n * n)) / (n - 1)};
      float out[3];
      dlut_lut_eval(small, in, out, DLUT_INTERP_TETRAHEDRAL);
      for (int c = 0; c < 3; c++) worst = fmax(worst, fabs(s[i * 3 + c] - fmin(1.0, fmax(0.0, out[c]))));
    }
    CHECK_NEAR(worst, 0.0, 1e-6);
  }
  dlut_grade_problem_free(p);

  /* --transfer wins over a given start */
  o.start_lut = look;
  o.ref = ref;
  o.ref_mode = DLUT_GRADE_REF_ANCHOR;
  o.ref_transfer_init = 1;
  p = dlut_grade_problem_new(m, photo, &o);
  dlut_lut *tr = dlut_grade_transfer(photo, ref, n, o.seed);
  CHECK(p && tr);
  if (p && tr) {
    const float *s = dlut_grade_problem_start(p);
    double worst_tr = 0, worst_look = 0;
    for (int i = 0; i < n * n * n * 3; i++) {
      worst_tr = fmax(worst_tr, fabs(s[i] - tr->table[i]));
      worst_look = fmax(worst_look, fabs(s[i] - look->table[i]));
    }
    CHECK_MSG(worst_tr < worst_look, "transfer start %g, look %g", worst_tr, worst_look);
  }
  dlut_lut_free(tr);
  dlut_grade_problem_free(p);

  dlut_lut_free(small);
  dlut_lut_free(look);
  dlut_image_free(ref);
  dlut_image_free(photo);
  dlut_clip_free(m);
  return test_summary("grade_start");
}
