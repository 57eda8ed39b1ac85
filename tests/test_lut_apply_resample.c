/* dlut_lut_resample: identity stays identity, nested lattices round-trip
 * exactly, non-nested ones stay close on a smooth LUT, and shapers and
 * domains are folded in. */
#include <stdint.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "test.h"

static uint64_t g_rng = 0xDEADBEEFCAFEF00Dull;
static double urand(void) {
  g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
  return (double)((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static double table_diff(const dlut_lut *a, const dlut_lut *b) {
  if (a->size != b->size) return 1e9;
  double m = 0;
  for (size_t i = 0; i < (size_t)a->size * a->size * a->size * 3; i++) {
    double d = fabs((double)a->table[i] - b->table[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

/* A smooth colour transform: a "look" with cross-talk and a curve. */
static void smooth_fn(const double v[3], double o[3]) {
  o[0] = 0.9 * pow(v[0], 1.1) + 0.1 * v[1] * v[2];
  o[1] = 0.5 * v[1] + 0.5 * sin(1.3 * v[1]) + 0.05 * v[0];
  o[2] = 0.8 * v[2] + 0.2 * v[0] * v[0];
}

static dlut_lut *smooth_lut(int size) {
  dlut_lut *lut = dlut_lut_alloc(size, 0);
  if (!lut) return NULL;
  for (int b = 0; b < size; b++)
    for (int g = 0; g < size; g++)
      for (int r = 0; r < size; r++) {
        double v[3] = {(double)r / (size - 1), (double)g / (size - 1), (double)b / (size - 1)}, o[3];
        smooth_fn(v, o);
        for (int c = 0; c < 3; c++) lut->table[((b * size + g) * size + r) * 3 + c] = (float)o[c];
      }
  return lut;
}

int main(void) {
  /* Identity to identity, for both interpolators and several sizes. */
  int sizes[][2] = {{2, 33}, {17, 9}, {33, 65}, {65, 17}};
  for (int k = 0; k < 4; k++)
    for (int ip = 0; ip < 2; ip++) {
      dlut_lut *id = dlut_lut_alloc(sizes[k][0], 0), *want = dlut_lut_alloc(sizes[k][1], 0);
      dlut_lut *r = id ? dlut_lut_resample(id, sizes[k][1], (dlut_interp)ip) : NULL;
      CHECK(r && r->size == sizes[k][1] && r->shaper_size == 0);
      if (r && want)
        CHECK_MSG(table_diff(r, want) < 1e-6, "identity %d->%d: %g", sizes[k][0], sizes[k][1], table_diff(r, want));
      dlut_lut_free(id), dlut_lut_free(want), dlut_lut_free(r);
    }

  /* Nested lattices: 17 -> 33 -> 17 gives back a random table. */
  for (int ip = 0; ip < 2; ip++) {
    dlut_lut *lut = dlut_lut_alloc(17, 0);
    if (!lut) break;
    for (size_t i = 0; i < 17 * 17 * 17 * 3; i++) lut->table[i] += (float)(urand() - 0.5);
    strcpy(lut->title, "random");
    dlut_lut *up = dlut_lut_resample(lut, 33, (dlut_interp)ip);
    dlut_lut *down = up ? dlut_lut_resample(up, 17, (dlut_interp)ip) : NULL;
    CHECK(down && strcmp(down->title, "random") == 0);
    if (down) CHECK_MSG(table_diff(down, lut) < 2e-6, "17->33->17 %d: %g", ip, table_diff(down, lut));
    /* And the up-sampled LUT applies like the original everywhere. */
    enum { N = 500 };
    float in[N * 3], a[N * 3], b[N * 3];
    for (int i = 0; i < N * 3; i++) in[i] = (float)urand();
    if (up) {
      dlut_lut_apply_f32(lut, in, a, N, DLUT_INTERP_TRILINEAR);
      dlut_lut_apply_f32(up, in, b, N, DLUT_INTERP_TRILINEAR);
      double m = 0;
      for (int i = 0; i < N * 3; i++) m = fmax(m, fabs(a[i] - b[i]));
      if (ip == 1)
        CHECK_MSG(m < 1e-5, "trilinear up-sampling changed the function by %g", m);
      else
        CHECK(m > 1e-3); /* tetrahedral sampling of a random table is a different function */
    }
    dlut_lut_free(lut), dlut_lut_free(up), dlut_lut_free(down);
  }

  /* Non-nested lattices on a smooth LUT: 33 -> 24 -> 33 stays close. */
  {
    dlut_lut *lut = smooth_lut(33);
    dlut_lut *mid = lut ? dlut_lut_resample(lut, 24, DLUT_INTERP_TETRAHEDRAL) : NULL;
    dlut_lut *back = mid ? dlut_lut_resample(mid, 33, DLUT_INTERP_TETRAHEDRAL) : NULL;
    CHECK(back != NULL);
    if (back) {
      double d = table_diff(back, lut);
      CHECK_MSG(d < 2e-3 && d > 0, "33->24->33 smooth: %g", d);
    }
    dlut_lut_free(lut), dlut_lut_free(mid), dlut_lut_free(back);
  }

  /* Shaper and domain folded in: a gamma shaper and a domain of [0,2]
   * in front of the smooth table equal the resampled LUT at random points. */
  {
    dlut_lut *lut = smooth_lut(33);
    dlut_lut *sh = dlut_lut_alloc(33, 1024);
    if (lut && sh) {
      memcpy(sh->table, lut->table, 33 * 33 * 33 * 3 * sizeof(float));
      for (int i = 0; i < 1024; i++)
        for (int c = 0; c < 3; c++) sh->shaper[i * 3 + c] = (float)(2.0 * pow(i / 1023.0, 1.0 / 2.2));
      for (int c = 0; c < 3; c++) sh->domain_max[c] = 2.0f;
      dlut_lut *r = dlut_lut_resample(sh, 65, DLUT_INTERP_TETRAHEDRAL);
      CHECK(r && r->shaper_size == 0 && r->domain_max[0] == 1.0f);
      double m = 0;
      for (int i = 0; i < 300 && r; i++) {
        float v[3] = {(float)(0.2 + 0.8 * urand()), (float)(0.2 + 0.8 * urand()), (float)(0.2 + 0.8 * urand())};
        float a[3], b[3];
        dlut_lut_eval(sh, v, a, DLUT_INTERP_TETRAHEDRAL);
        dlut_lut_eval(r, v, b, DLUT_INTERP_TETRAHEDRAL);
        for (int c = 0; c < 3; c++) m = fmax(m, fabs(a[c] - b[c]));
      }
      /* Away from the steep toe of the gamma the 65-point table follows it. */
      CHECK_MSG(m < 2e-3, "shaper folded: max diff %g", m);
      /* At the lattice points themselves the match is exact. */
      float v[3] = {0.5f, 0.25f, 1.0f}, a[3], b[3];
      dlut_lut_eval(sh, v, a, DLUT_INTERP_TETRAHEDRAL);
      dlut_lut_eval(r, v, b, DLUT_INTERP_TETRAHEDRAL);
      CHECK(fabsf(a[0] - b[0]) < 1e-5f && fabsf(a[1] - b[1]) < 1e-5f && fabsf(a[2] - b[2]) < 1e-5f);
      dlut_lut_free(r);
    }
    dlut_lut_free(lut), dlut_lut_free(sh);
  }

  /* Bad arguments. */
  dlut_lut *id = dlut_lut_alloc(5, 0);
  CHECK(dlut_lut_resample(id, 1, DLUT_INTERP_TETRAHEDRAL) == NULL && strstr(dlut_last_error(), "out of range"));
  CHECK(dlut_lut_resample(id, 257, DLUT_INTERP_TETRAHEDRAL) == NULL);
  CHECK(dlut_lut_resample(NULL, 5, DLUT_INTERP_TETRAHEDRAL) == NULL);
  dlut_lut_free(id);
  return test_summary("lut_apply_resample");
}
