/* Backward of LUT application (backward.c) against central finite
 * differences of the naive forward reference, for both interpolators, with
 * respect to the table and to the inputs; accumulation, clamped inputs,
 * and independence from the thread count.
 *
 * The forward is linear in the table, and linear (tetrahedral) or
 * multilinear (trilinear) in the input inside one tetrahedron / cell, so
 * central differences are exact there up to float rounding; test points are
 * drawn with fractions away from 0, 1 and from each other, so that a step
 * never crosses a cell or a tetrahedron boundary (where the function is
 * not differentiable). */
#include <stdint.h>

#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "test.h"

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static double urand(void) {
  g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
  return (double)((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static const char *iname(int ip) {
  return ip ? "trilinear" : "tetrahedral";
}

/* A point whose lattice fractions lie in [0.08, 0.92] and differ pairwise
 * by at least 0.08 (so steps of < 0.02 lattice units stay in one piece). */
static void safe_point(const dlut_lut *lut, float v[3]) {
  double f[3];
  for (;;) {
    for (int c = 0; c < 3; c++) f[c] = 0.08 + 0.84 * urand();
    if (fabs(f[0] - f[1]) > 0.08 && fabs(f[1] - f[2]) > 0.08 && fabs(f[0] - f[2]) > 0.08) break;
  }
  for (int c = 0; c < 3; c++) {
    int cell = (int)(urand() * (lut->size - 1));
    double t = cell + f[c];
    double lo = lut->domain_min[c], hi = lut->domain_max[c];
    v[c] = (float)(lo + t * (hi - lo) / (lut->size - 1));
  }
}

/* L = sum_i dot(d_out_i, f(in_i)) in double from the reference forward. */
static double loss(const dlut_lut *lut, const float *in, const float *d_out, int n, dlut_interp ip, float *scratch) {
  dlut_lut_apply_f32_ref(lut, in, scratch, n, ip);
  double L = 0;
  for (int i = 0; i < n * 3; i++) L += (double)d_out[i] * scratch[i];
  return L;
}

static void test_fd(int size, int domain, int ip) {
  dlut_lut *lut = dlut_lut_alloc(size, 0);
  if (!lut) return;
  size_t tl = (size_t)size * size * size * 3;
  for (size_t j = 0; j < tl; j++) lut->table[j] += (float)(urand() - 0.5) * 0.6f;
  if (domain)
    for (int c = 0; c < 3; c++) lut->domain_min[c] = -0.5f + 0.1f * c, lut->domain_max[c] = 2.0f - 0.3f * c;
  enum { N = 70 }; /* >= 64: the vectorised path (smaller calls take the scalar one) */
  float in[N * 3], d_out[N * 3], d_in[N * 3], scratch[N * 3], pin[N * 3];
  for (int i = 0; i < N; i++) safe_point(lut, in + i * 3);
  for (int i = 0; i < N * 3; i++) d_out[i] = (float)(urand() * 2 - 1);
  float *d_table = calloc(tl, sizeof(float));
  if (!d_table) {
    CHECK(!"alloc");
    goto done;
  }
  dlut_lut_apply_backward(lut, in, d_out, N, (dlut_interp)ip, d_table, d_in);

  /* dL/din: central differences per point and axis (step 0.005 lattice units). */
  int bad_in = 0;
  double worst_in = 0;
  for (int i = 0; i < N; i++)
    for (int c = 0; c < 3; c++) {
      double h = 0.005 * (lut->domain_max[c] - lut->domain_min[c]) / (size - 1);
      memcpy(pin, in + i * 3, 3 * sizeof(float));
      float save = pin[c];
      pin[c] = (float)(save + h);
      double hp = pin[c] - save; /* the step actually taken in float */
      double Lp = loss(lut, pin, d_out + i * 3, 1, (dlut_interp)ip, scratch);
      pin[c] = (float)(save - h);
      double hm = save - pin[c];
      double Lm = loss(lut, pin, d_out + i * 3, 1, (dlut_interp)ip, scratch);
      double fd = (Lp - Lm) / (hp + hm);
      double err = fabs(fd - d_in[i * 3 + c]) / (1.0 + fabs(fd));
      if (err > worst_in) worst_in = err;
      if (err > 2e-3) bad_in++;
    }
  CHECK_MSG(bad_in == 0, "size %d domain %d %s: %d d_in entries off, worst rel %g", size, domain, iname(ip), bad_in,
            worst_in);

  /* dL/dtable: every entry for small tables, a sample of touched and
   * untouched entries for large ones. */
  int bad_t = 0, checked = 0, nonzero = 0;
  double worst_t = 0;
  for (size_t j = 0; j < tl; j += (tl > 400 ? 1 + (size_t)(urand() * tl / 150) : 1)) {
    float save = lut->table[j];
    const double h = 1e-2;
    lut->table[j] = (float)(save + h);
    double Lp = loss(lut, in, d_out, N, (dlut_interp)ip, scratch);
    lut->table[j] = (float)(save - h);
    double Lm = loss(lut, in, d_out, N, (dlut_interp)ip, scratch);
    lut->table[j] = save;
    double fd = (Lp - Lm) / (2 * h);
    double err = fabs(fd - d_table[j]) / (1.0 + fabs(fd));
    if (err > worst_t) worst_t = err;
    if (err > 1e-4) bad_t++;
    nonzero += d_table[j] != 0;
    checked++;
  }
  CHECK_MSG(bad_t == 0, "size %d %s: %d of %d d_table entries off, worst rel %g", size, iname(ip), bad_t, checked,
            worst_t);
  CHECK(nonzero > 0);

  /* Accumulates: a second call adds the same again; d_in alone works. */
  float *d2 = calloc(tl, sizeof(float));
  if (d2) {
    dlut_lut_apply_backward(lut, in, d_out, N, (dlut_interp)ip, d2, NULL);
    dlut_lut_apply_backward(lut, in, d_out, N, (dlut_interp)ip, d2, NULL);
    int off = 0;
    for (size_t j = 0; j < tl; j++) off += fabsf(d2[j] - 2 * d_table[j]) > 1e-5f * (1 + fabsf(d_table[j]));
    CHECK_MSG(off == 0, "accumulation: %d entries differ from twice a single call", off);
    float d_in2[N * 3];
    dlut_lut_apply_backward(lut, in, d_out, N, (dlut_interp)ip, NULL, d_in2);
    CHECK(memcmp(d_in2, d_in, sizeof d_in2) == 0);
    free(d2);
  }
done:
  free(d_table);
  dlut_lut_free(lut);
}

/* Inputs outside the domain get zero gradient (the forward clamps them). */
static void test_clamped(void) {
  dlut_lut *lut = dlut_lut_alloc(9, 0);
  if (!lut) return;
  for (int j = 0; j < 9 * 9 * 9 * 3; j++) lut->table[j] += (float)(urand() - 0.5);
  float in[6] = {-0.3f, 0.5f, 1.7f, 0.25f, NAN, 0.75f}, d_out[6] = {1, 1, 1, 1, 1, 1}, d_in[6];
  for (int ip = 0; ip < 2; ip++) {
    dlut_lut_apply_backward(lut, in, d_out, 2, (dlut_interp)ip, NULL, d_in);
    CHECK(d_in[0] == 0.0f && d_in[2] == 0.0f && d_in[4] == 0.0f);
    CHECK(d_in[1] != 0.0f && isfinite(d_in[3]) && isfinite(d_in[5]));
  }
  dlut_lut_free(lut);
}

/* Many pixels (several parts, threads): bitwise identical for 1, 2 and 3
 * threads, and equal to a double-precision serial accumulation. */
static void test_threads(void) {
  const int S = 17, n = 70000;
  size_t tl = (size_t)S * S * S * 3;
  dlut_lut *lut = dlut_lut_alloc(S, 0);
  float *in = malloc((size_t)n * 3 * sizeof(float)), *d_out = malloc((size_t)n * 3 * sizeof(float));
  float *dt[3] = {calloc(tl, sizeof(float)), calloc(tl, sizeof(float)), calloc(tl, sizeof(float))};
  float *di[3] = {malloc((size_t)n * 3 * sizeof(float)), malloc((size_t)n * 3 * sizeof(float)),
                  malloc((size_t)n * 3 * sizeof(float))};
  double *acc = calloc(tl, sizeof(double));
  if (!lut || !in || !d_out || !dt[0] || !dt[1] || !dt[2] || !di[0] || !di[1] || !di[2] || !acc) {
    CHECK(!"alloc");
    goto done;
  }
  for (size_t j = 0; j < tl; j++) lut->table[j] += (float)(urand() - 0.5) * 0.4f;
  /* Clustered inputs, so many pixels hit the same entries (the race-prone case). */
  for (int i = 0; i < n * 3; i++) in[i] = (float)(0.4 + 0.2 * urand()), d_out[i] = (float)(urand() * 2 - 1);
  for (int ip = 0; ip < 2; ip++) {
    for (int t = 0; t < 3; t++) {
      memset(dt[t], 0, tl * sizeof(float));
      dlut_threads_set(t + 1);
      dlut_lut_apply_backward(lut, in, d_out, n, (dlut_interp)ip, dt[t], di[t]);
    }
    dlut_threads_set(0);
    CHECK_MSG(memcmp(dt[0], dt[1], tl * sizeof(float)) == 0 && memcmp(dt[0], dt[2], tl * sizeof(float)) == 0,
              "%s d_table depends on the thread count", iname(ip));
    CHECK(memcmp(di[0], di[1], (size_t)n * 3 * sizeof(float)) == 0 &&
          memcmp(di[0], di[2], (size_t)n * 3 * sizeof(float)) == 0);
    /* The same pixels in slices small enough for the serial path, summed
     * in double: the multi-part reduction agrees with it. */
    memset(acc, 0, tl * sizeof(double));
    float *one = calloc(tl, sizeof(float));
    if (!one) break;
    for (int b = 0; b < n; b += 10000) {
      memset(one, 0, tl * sizeof(float));
      dlut_lut_apply_backward(lut, in + (size_t)b * 3, d_out + (size_t)b * 3, n - b < 10000 ? n - b : 10000,
                              (dlut_interp)ip, one, NULL);
      for (size_t j = 0; j < tl; j++) acc[j] += one[j];
    }
    double worst = 0;
    int touched = 0;
    for (size_t j = 0; j < tl; j++) {
      double e = fabs(dt[1][j] - acc[j]) / (1 + fabs(acc[j]));
      if (e > worst) worst = e;
      touched += acc[j] != 0;
    }
    CHECK_MSG(worst < 1e-4, "%s: threaded accumulation differs from serial by %g", iname(ip), worst);
    CHECK(touched > 100);
    free(one);
  }
done:
  for (int t = 0; t < 3; t++) free(dt[t]), free(di[t]);
  free(in), free(d_out), free(acc);
  dlut_lut_free(lut);
}

/* The fast backward (vectorised table gradient, parts, threads) against the
 * serial scalar reference on random inputs, some outside the domain. */
static void test_fast_vs_ref(void) {
  int sizes[] = {2, 17, 33};
  for (int si = 0; si < 3; si++)
    for (int ip = 0; ip < 2; ip++) {
      const int S = sizes[si];
      const int64_t n = si == 2 ? 40000 : 3001; /* 40000: several parts */
      size_t tl = (size_t)S * S * S * 3;
      dlut_lut *lut = dlut_lut_alloc(S, 0);
      float *in = malloc((size_t)n * 3 * sizeof(float)), *go = malloc((size_t)n * 3 * sizeof(float));
      float *ta = calloc(tl, sizeof(float)), *tb = calloc(tl, sizeof(float));
      float *ia = malloc((size_t)n * 3 * sizeof(float)), *ib = malloc((size_t)n * 3 * sizeof(float));
      if (!lut || !in || !go || !ta || !tb || !ia || !ib) {
        CHECK(!"alloc");
      } else {
        for (size_t j = 0; j < tl; j++) lut->table[j] += (float)(urand() - 0.5) * 0.5f;
        if (si == 1)
          for (int c = 0; c < 3; c++) lut->domain_min[c] = -0.2f, lut->domain_max[c] = 1.5f;
        for (int64_t i = 0; i < n * 3; i++) in[i] = (float)(urand() * 1.3 - 0.15), go[i] = (float)(urand() * 2 - 1);
        for (size_t j = 0; j < tl; j++) ta[j] = tb[j] = (float)j * 1e-3f; /* accumulate onto something */
        dlut_lut_apply_backward(lut, in, go, n, (dlut_interp)ip, ta, ia);
        dlut_lut_apply_backward_ref(lut, in, go, n, (dlut_interp)ip, tb, ib);
        double worst = 0;
        for (size_t j = 0; j < tl; j++) worst = fmax(worst, fabs(ta[j] - tb[j]) / (1 + fabs(tb[j])));
        CHECK_MSG(worst < 1e-4, "size %d %s: fast d_table differs from the reference by %g", S, iname(ip), worst);
        double wi = 0;
        for (int64_t i = 0; i < n * 3; i++) wi = fmax(wi, fabs(ia[i] - ib[i]) / (1 + fabs(ib[i])));
        CHECK_MSG(wi < 1e-5, "size %d %s: d_in differs from the reference by %g", S, iname(ip), wi);
        /* d_in alone (no table gradient) gives the same d_in. */
        dlut_lut_apply_backward(lut, in, go, n, (dlut_interp)ip, NULL, ib);
        CHECK(memcmp(ia, ib, (size_t)n * 3 * sizeof(float)) == 0);
      }
      free(in), free(go), free(ta), free(tb), free(ia), free(ib);
      dlut_lut_free(lut);
    }
}

int main(void) {
  test_fast_vs_ref();
  int sizes[] = {2, 5, 17};
  for (int si = 0; si < 3; si++)
    for (int dom = 0; dom < 2; dom++)
      for (int ip = 0; ip < 2; ip++) test_fd(sizes[si], dom, ip);
  test_clamped();
  test_threads();
  return test_summary("lut_apply_backward");
}
