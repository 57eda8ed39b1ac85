/* tests/test_grade_losses.c - every loss term and parameterisation of the
 * grading engine against finite differences; the fast MLP field against its
 * naive reference; AdamW and the cosine schedule against PyTorch's
 * formulas worked by hand. */
#include <stdint.h>

#include "dlut/grade.h"
#include "dlut/tensor.h"
#include "test.h"

static uint64_t g_rng = 12345;
static double frand(void) { /* [0,1) */
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (g_rng >> 11) * (1.0 / 9007199254740992.0);
}

static void identity(float *t, int n) {
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        float *p = t + (((int64_t)b * n + g) * n + r) * 3;
        p[0] = (float)r / (n - 1);
        p[1] = (float)g / (n - 1);
        p[2] = (float)b / (n - 1);
      }
}

/* relative error, tolerant of tiny values */
static double rel(double a, double b) {
  return fabs(a - b) / fmax(1e-6, fmax(fabs(a), fabs(b)));
}

static void test_lattice(void) {
  enum { N = 5 };
  static float t[N * N * N * 3], d[N * N * N * 3];
  identity(t, N);
  double mono = -1, smooth = -1;
  dlut_grade_lattice_forward(t, N, &mono, &smooth);
  CHECK(mono == 0.0); /* exactly 0 for the identity, as the brief asks */
  CHECK(smooth == 0.0);
  /* a non-monotone, curved LUT */
  for (int i = 0; i < N * N * N * 3; i++) t[i] += (float)(0.3 * (frand() - 0.5));
  dlut_grade_lattice_forward(t, N, &mono, &smooth);
  CHECK(mono > 0 && smooth > 0);
  memset(d, 0, sizeof d);
  dlut_grade_lattice_backward(t, N, 0.7, 1.3, d);
  int bad = 0;
  for (int k = 0; k < 40; k++) {
    int i = (int)(frand() * N * N * N * 3);
    float keep = t[i];
    const float h = 1e-3f;
    double mp, sp, mm, sm;
    t[i] = keep + h;
    dlut_grade_lattice_forward(t, N, &mp, &sp);
    t[i] = keep - h;
    dlut_grade_lattice_forward(t, N, &mm, &sm);
    t[i] = keep;
    double fd = (0.7 * (mp - mm) + 1.3 * (sp - sm)) / (2.0 * h);
    if (fabs(fd - d[i]) > 2e-3 * fmax(1e-3, fabs(fd))) {
      bad++;
      fprintf(stderr, "lattice entry %d: fd %g analytic %g\n", i, fd, d[i]);
    }
  }
  CHECK(bad <= 1); /* one sample may straddle a relu kink */
}

static void test_eig3(void) {
  for (int trial = 0; trial < 20; trial++) {
    double m[9], a[9];
    for (int i = 0; i < 9; i++) m[i] = frand() - 0.5;
    for (int i = 0; i < 3; i++) /* A = M M^T + small */
      for (int j = 0; j < 3; j++) {
        double s = 0;
        for (int k = 0; k < 3; k++) s += m[i * 3 + k] * m[j * 3 + k];
        a[i * 3 + j] = s + (i == j ? 1e-3 : 0);
      }
    double vals[3], vecs[9];
    dlut_grade_eig3(a, vals, vecs);
    CHECK(vals[0] <= vals[1] && vals[1] <= vals[2]);
    for (int c = 0; c < 3; c++)
      for (int i = 0; i < 3; i++) {
        double av = 0;
        for (int k = 0; k < 3; k++) av += a[i * 3 + k] * vecs[k * 3 + c];
        CHECK_NEAR(av, vals[c] * vecs[i * 3 + c], 1e-10);
      }
    double det =
        a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6]);
    CHECK(rel(det, vals[0] * vals[1] * vals[2]) < 1e-9);
  }
}

static double color_total(const dlut_grade_stats *o, const float *lab, int m, double wv, double we, double ws) {
  dlut_grade_stats e;
  if (dlut_grade_stats_compute(lab, m, &e) != 0) return NAN;
  double v, g, s;
  dlut_grade_color_forward(o, &e, &v, &g, &s);
  return wv * v + we * g + ws * s;
}

static void test_color(void) {
  enum { M = 60 };
  static float lo[M * 3], le[M * 3], d[M * 3];
  for (int i = 0; i < M * 3; i++) lo[i] = (float)(frand() - 0.5);
  /* the edit shrinks the spread (so vol and eigen are active) and shifts */
  for (int i = 0; i < M * 3; i++) le[i] = 0.6f * lo[i] + 0.05f + (float)(0.05 * (frand() - 0.5));
  dlut_grade_stats so, se;
  CHECK(dlut_grade_stats_compute(lo, M, &so) == 0);
  CHECK(dlut_grade_stats_compute(le, M, &se) == 0);
  double v, g, s;
  dlut_grade_color_forward(&so, &so, &v, &g, &s);
  CHECK(v == 0 && g == 0 && s == 0);
  dlut_grade_color_forward(&so, &se, &v, &g, &s);
  CHECK(v > 0 && g > 0 && s > 0);
  const double wv = 1, we = 30, ws = 20;
  dlut_grade_color_backward(&so, &se, le, M, wv, we, ws, d);
  double maxerr = 0;
  for (int i = 0; i < M * 3; i++) {
    float keep = le[i];
    const float h = 1e-3f;
    le[i] = keep + h;
    double p = color_total(&so, le, M, wv, we, ws);
    le[i] = keep - h;
    double q = color_total(&so, le, M, wv, we, ws);
    le[i] = keep;
    double fd = (p - q) / (2.0 * h);
    double err = fabs(fd - d[i]) / fmax(1e-2, fabs(fd));
    if (err > maxerr) maxerr = err;
  }
  CHECK_MSG(maxerr < 2e-2, "colour terms: max relative error %g", maxerr);
  /* and the three terms one at a time, so one cannot hide another */
  double wsets[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  for (int w = 0; w < 3; w++) {
    dlut_grade_color_backward(&so, &se, le, M, wsets[w][0], wsets[w][1], wsets[w][2], d);
    double me = 0, scale = 0;
    for (int i = 0; i < M * 3; i += 7) {
      float keep = le[i];
      const float h = 1e-3f;
      le[i] = keep + h;
      double p = color_total(&so, le, M, wsets[w][0], wsets[w][1], wsets[w][2]);
      le[i] = keep - h;
      double q = color_total(&so, le, M, wsets[w][0], wsets[w][1], wsets[w][2]);
      le[i] = keep;
      double fd = (p - q) / (2.0 * h);
      me = fmax(me, fabs(fd - d[i]));
      scale = fmax(scale, fabs(fd));
    }
    CHECK_MSG(scale > 0 && me < 2e-2 * scale, "term %d: err %g scale %g", w, me, scale);
  }
}

static void unit(float *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
  s = sqrt(s);
  for (int i = 0; i < n; i++) v[i] = (float)(v[i] / s);
}

static void test_clip_loss(void) {
  enum { D = 24 };
  float e[D], fo[D], ft[D], st[D], d[D];
  for (int i = 0; i < D; i++) {
    fo[i] = (float)(frand() - 0.5);
    ft[i] = (float)(frand() - 0.5);
    st[i] = (float)(frand() - 0.5);
  }
  unit(fo, D);
  unit(ft, D);
  unit(st, D);
  /* at the identity: e is a multiple of f_orig; loss = 10 + 0.7 (1 - f.t) */
  for (int i = 0; i < D; i++) e[i] = 3 * fo[i];
  double ft_dot = 0;
  for (int i = 0; i < D; i++) ft_dot += (double)fo[i] * ft[i];
  double l0 = dlut_grade_clip_loss(e, fo, ft, st, D, 10, 0.7, 1e-3, d);
  CHECK_NEAR(l0, 10 + 0.7 * (1 - ft_dot), 2e-4); /* float rounding of 3 f_orig */
  for (int i = 0; i < D; i++) CHECK(isfinite(d[i]));
  /* away from it: finite differences */
  for (int i = 0; i < D; i++) e[i] = 2 * fo[i] + (float)(0.3 * (frand() - 0.5));
  dlut_grade_clip_loss(e, fo, ft, st, D, 10, 0.7, 1e-3, d);
  double maxerr = 0;
  for (int i = 0; i < D; i++) {
    float keep = e[i];
    const float h = 1e-3f;
    e[i] = keep + h;
    double p = dlut_grade_clip_loss(e, fo, ft, st, D, 10, 0.7, 1e-3, NULL);
    e[i] = keep - h;
    double q = dlut_grade_clip_loss(e, fo, ft, st, D, 10, 0.7, 1e-3, NULL);
    e[i] = keep;
    double fd = (p - q) / (2.0 * h);
    maxerr = fmax(maxerr, fabs(fd - d[i]) / fmax(1e-2, fabs(fd)));
  }
  CHECK_MSG(maxerr < 1e-2, "clip loss: max relative error %g", maxerr);
  /* moving e along -d lowers the loss */
  double before = dlut_grade_clip_loss(e, fo, ft, st, D, 10, 0.7, 1e-3, d);
  for (int i = 0; i < D; i++) e[i] -= 1e-3f * d[i];
  CHECK(dlut_grade_clip_loss(e, fo, ft, st, D, 10, 0.7, 1e-3, NULL) < before);
}

static double field_loss(dlut_grade_field *f, const float *in, const float *R, float *out, int n) {
  dlut_grade_field_forward(f, in, out, n);
  double s = 0;
  for (int i = 0; i < n * 3; i++) s += (double)out[i] * R[i];
  return s;
}

static void test_field(void) {
  enum { N = 37, H = 8 };
  dlut_grade_field f;
  CHECK(dlut_grade_field_init(&f, H, 7) == 0);
  float in[N * 3], out[N * 3], ref[N * 3], R[N * 3];
  for (int i = 0; i < N * 3; i++) {
    in[i] = (float)frand();
    R[i] = (float)(frand() - 0.5);
  }
  /* zero last layer: phi = 0 */
  dlut_grade_field_forward(&f, in, out, N);
  double mx = 0;
  for (int i = 0; i < N * 3; i++) mx = fmax(mx, fabs(out[i]));
  CHECK(mx == 0);
  for (int64_t k = 0; k < f.n_params; k++) f.params[k] += (float)(0.4 * (frand() - 0.5));
  dlut_grade_field_forward(&f, in, out, N);
  dlut_grade_field_forward_ref(&f, in, ref, N);
  mx = 0;
  for (int i = 0; i < N * 3; i++) mx = fmax(mx, fabs(out[i] - ref[i]));
  CHECK_MSG(mx < 1e-5, "field sgemm vs reference: %g", mx);
  memset(f.grads, 0, (size_t)f.n_params * sizeof(float));
  field_loss(&f, in, R, out, N);
  dlut_grade_field_backward(&f, in, R, N);
  /* LeakyReLU has kinks: a step that crosses one changes the slope, so a
   * parameter whose one-sided differences disagree is skipped (counted). */
  double maxerr = 0;
  int kinks = 0;
  for (int64_t k = 0; k < f.n_params; k++) {
    float keep = f.params[k];
    const float h = 1e-3f;
    double l0 = field_loss(&f, in, R, out, N);
    f.params[k] = keep + h;
    double p = field_loss(&f, in, R, out, N);
    f.params[k] = keep - h;
    double q = field_loss(&f, in, R, out, N);
    f.params[k] = keep;
    double fp = (p - l0) / h, fm = (l0 - q) / h, fd = (p - q) / (2.0 * h);
    if (fabs(fp - fm) > 1e-2 * fmax(1e-2, fabs(fd))) {
      kinks++;
      continue;
    }
    maxerr = fmax(maxerr, fabs(fd - f.grads[k]) / fmax(1e-2, fabs(fd)));
  }
  CHECK_MSG(maxerr < 2e-2, "field backward: max relative error %g", maxerr);
  CHECK_MSG(kinks < f.n_params / 10, "field backward: %d of %lld parameters straddle a kink", kinks,
            (long long)f.n_params);
  dlut_grade_field_free(&f);
}

/* The field's bf16 products (DLUT_CLIP_PRECISION=bf16) against fp32 at a
 * real width. The forward's output is within cosine 0.9999 and 2% of its
 * range of fp32. The backward's bf16 products, on the same forward state,
 * give every layer's weight and bias gradients within cosine 0.999 of
 * fp32 products (the backward follows f->bf16_used, so clearing it runs
 * the fp32 backward on the bf16 forward's activations). End to end, the
 * gradients are within cosine 0.99 of the all-fp32 ones: the rest is the
 * LeakyReLU masks of units whose pre-activation changes sign under the
 * forward's rounding (measured 0.996-0.998). Where the CPU has no bf16
 * products the switch falls back to fp32 bit for bit. */
static double cos_d(const float *a, const float *b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
  return ab / sqrt(aa * bb + 1e-300);
}

static void check_grads(const dlut_grade_field *f, const float *want, double bound, const char *what) {
  for (int l = 0; l < 4; l++) {
    int o = l == 3 ? 3 : f->hidden, i = l == 0 ? 3 : f->hidden;
    double c = cos_d(f->dw[l], want + (f->dw[l] - f->grads), (int64_t)o * i);
    CHECK_MSG(c > bound, "field bf16 %s: layer %d weight gradient cosine %.6f", what, l, c);
    c = cos_d(f->db[l], want + (f->db[l] - f->grads), o);
    CHECK_MSG(c > bound, "field bf16 %s: layer %d bias gradient cosine %.6f", what, l, c);
  }
}

static void test_field_bf16(void) {
  enum { N = 1000, H = 256 };
  dlut_grade_field f;
  CHECK(dlut_grade_field_init(&f, H, 11) == 0);
  for (int i = 0; i < 3 * H; i++) f.w[3][i] = (float)(0.1 * (frand() - 0.5)); /* last layer non-zero */
  size_t gb = sizeof(float) * (size_t)f.n_params;
  float *in = malloc(sizeof(float) * N * 3), *R = malloc(sizeof(float) * N * 3);
  float *o32 = malloc(sizeof(float) * N * 3), *o16 = malloc(sizeof(float) * N * 3);
  float *g32 = malloc(gb), *gmix = malloc(gb);
  for (int i = 0; i < N * 3; i++) in[i] = (float)frand(), R[i] = (float)(frand() - 0.5);
  setenv("DLUT_CLIP_PRECISION", "fp32", 1);
  memset(f.grads, 0, gb);
  CHECK(dlut_grade_field_forward(&f, in, o32, N) == 0 && !f.bf16_used);
  dlut_grade_field_backward(&f, in, R, N);
  memcpy(g32, f.grads, gb);
  setenv("DLUT_CLIP_PRECISION", "bf16", 1);
  CHECK(dlut_grade_field_forward(&f, in, o16, N) == 0);
  int took = f.bf16_used;
  CHECK(took == (dlut_bf16_available() != DLUT_BF16_NONE));
  /* fp32 backward products on the bf16 forward's state, then the bf16 ones */
  memset(f.grads, 0, gb);
  f.bf16_used = 0;
  dlut_grade_field_backward(&f, in, R, N);
  memcpy(gmix, f.grads, gb);
  f.bf16_used = took;
  memset(f.grads, 0, gb);
  dlut_grade_field_backward(&f, in, R, N);
  double mx = 0, md = 0;
  for (int i = 0; i < N * 3; i++) mx = fmax(mx, fabs(o32[i])), md = fmax(md, fabs(o16[i] - o32[i]));
  if (took) {
    CHECK_MSG(md < 2e-2 * mx && cos_d(o16, o32, N * 3) > 0.9999, "field bf16 forward: max error %g of %g", md, mx);
    CHECK(md > 0 && memcmp(f.grads, gmix, gb) != 0); /* the bf16 products really ran */
    check_grads(&f, gmix, 0.999, "backward products");
    check_grads(&f, g32, 0.99, "end to end");
  } else {
    CHECK(md == 0 && memcmp(f.grads, g32, gb) == 0);
  }
  /* auto at this width takes the bf16 products where they exist */
  setenv("DLUT_CLIP_PRECISION", "auto", 1);
  CHECK(dlut_grade_field_forward(&f, in, o16, N) == 0);
  CHECK(f.bf16_used == took);
  unsetenv("DLUT_CLIP_PRECISION");
  free(in), free(R), free(o32), free(o16), free(g32), free(gmix);
  dlut_grade_field_free(&f);
}

static void test_adamw(void) {
  dlut_adamw a;
  CHECK(dlut_adamw_init(&a, 1, 0.01f) == 0);
  float p = 1.0f;
  const float g1 = 0.5f, g2 = -0.25f, lr = 0.1f;
  dlut_adamw_step(&a, &p, &g1, lr);
  /* step 1: p = 1 (1 - 0.001) - 0.1 * m1/(1-0.9) / (sqrt(v1/(1-0.999)) + 1e-8) = 0.999 - 0.1 * 0.5/0.5 */
  double e1 = 0.999 - 0.1 * (0.05 / 0.1) / (sqrt(0.00025 / 0.001) + 1e-8);
  CHECK_NEAR(p, e1, 1e-6);
  dlut_adamw_step(&a, &p, &g2, lr);
  double m2 = 0.9 * 0.05 + 0.1 * g2, v2 = 0.999 * 0.00025 + 0.001 * g2 * g2;
  double e2 = e1 * (1 - 0.001) - 0.1 * (m2 / (1 - 0.81)) / (sqrt(v2 / (1 - 0.999 * 0.999)) + 1e-8);
  CHECK_NEAR(p, e2, 1e-6);
  dlut_adamw_free(&a);
  CHECK_NEAR(dlut_cosine_lr(0, 100, 2e-4f, 1e-6f), 2e-4, 1e-10);
  CHECK_NEAR(dlut_cosine_lr(100, 100, 2e-4f, 1e-6f), 1e-6, 1e-10);
  CHECK_NEAR(dlut_cosine_lr(50, 100, 2e-4f, 1e-6f), (2e-4 + 1e-6) / 2, 1e-10);
}

static void test_lattice_param(void) {
  enum { K = 4, N = 7 };
  static float res[K * K * K * 3], table[N * N * N * 3], R[N * N * N * 3], d[K * K * K * 3];
  memset(res, 0, sizeof res);
  dlut_grade_lattice_param_forward(res, K, table, N);
  static float id[N * N * N * 3];
  identity(id, N);
  CHECK(memcmp(id, table, sizeof id) == 0);
  for (int i = 0; i < K * K * K * 3; i++) /* |res| >= 0.01: no entry sits on a clamp edge */
    res[i] = (float)((frand() < 0.5 ? -1 : 1) * (0.01 + 0.04 * frand()));
  for (int i = 0; i < N * N * N * 3; i++) R[i] = (float)(frand() - 0.5);
  memset(d, 0, sizeof d);
  dlut_grade_lattice_param_forward(res, K, table, N);
  dlut_grade_lattice_param_backward(res, K, table, R, N, d);
  /* the clamp is a kink: skip (and count) entries whose one-sided differences disagree */
  double maxerr = 0;
  int kinks = 0;
  for (int k = 0; k < K * K * K * 3; k++) {
    float keep = res[k];
    const float h = 1e-3f;
    double s[3];
    for (int sgn = 0; sgn < 3; sgn++) {
      res[k] = keep + (sgn == 0 ? h : sgn == 1 ? -h : 0);
      dlut_grade_lattice_param_forward(res, K, table, N);
      s[sgn] = 0;
      for (int i = 0; i < N * N * N * 3; i++) s[sgn] += (double)table[i] * R[i];
    }
    res[k] = keep;
    double fd = (s[0] - s[1]) / (2.0 * h), fp = (s[0] - s[2]) / h, fm = (s[2] - s[1]) / h;
    if (fabs(fp - fm) > 1e-2 * fmax(1e-2, fabs(fd))) {
      kinks++;
      continue;
    }
    maxerr = fmax(maxerr, fabs(fd - d[k]) / fmax(1e-2, fabs(fd)));
  }
  CHECK_MSG(kinks < K * K * K * 3 / 10, "lattice param: %d entries straddle the clamp", kinks);
  CHECK_MSG(maxerr < 2e-2, "lattice param backward: max relative error %g", maxerr);
}

int main(void) {
  test_lattice();
  test_eig3();
  test_color();
  test_clip_loss();
  test_field();
  test_field_bf16();
  test_adamw();
  test_lattice_param();
  return test_summary("grade_losses");
}
