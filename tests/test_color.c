/* Tests for dlut/color.h: round trips through every pair of spaces,
 * published reference values (IEC 61966-2-1 / Bruce Lindbloom's tables,
 * the 34 CIEDE2000 pairs of Sharma, Wu & Dalal 2005, Kim et al. 2002 CCT
 * points), aliasing, and finite-difference checks of every backward. */
#include <stdint.h>

#include "dlut/color.h"
#include "test.h"

/* ==== Helpers ==== */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double rnd(void) { /* xorshift64*, uniform in [0,1) */
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (double)((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

enum { SRGB, LIN, XYZ, LAB, NSPACE };
static const char *k_space_name[NSPACE] = {"srgb", "linear", "xyz", "lab"};

/* Convert n colours from space `from` to `to` by walking the chain. */
static void convert(int from, int to, const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < 3 * n; i++) out[i] = in[i];
  int s = from;
  while (s < to) {
    if (s == SRGB) dlut_color_srgb_to_linear(out, out, n);
    if (s == LIN) dlut_color_linear_to_xyz(out, out, n);
    if (s == XYZ) dlut_color_xyz_to_lab(out, out, n);
    s++;
  }
  while (s > to) {
    if (s == LAB) dlut_color_lab_to_xyz(out, out, n);
    if (s == XYZ) dlut_color_xyz_to_linear(out, out, n);
    if (s == LIN) dlut_color_linear_to_srgb(out, out, n);
    s--;
  }
}

/* ==== Round trips ==== */

static void test_round_trips(void) {
  enum { N = 2000 };
  static float src[N * 3], a[N * 3], b[N * 3], c[N * 3];
  /* random sRGB colours, slightly beyond the gamut on both sides */
  for (int i = 0; i < N * 3; i++) src[i] = (float)(rnd() * 1.2 - 0.1);
  for (int from = 0; from < NSPACE; from++)
    for (int to = 0; to < NSPACE; to++) {
      if (from == to) continue;
      convert(SRGB, from, src, a, N); /* colours expressed in `from` */
      convert(from, to, a, b, N);
      convert(to, from, b, c, N);
      double worst = 0, scale = from == LAB ? 100.0 : 1.0;
      for (int i = 0; i < N * 3; i++) {
        double e = fabs((double)c[i] - a[i]) / scale;
        if (e > worst) worst = e;
      }
      /* stated tolerance: 2e-5 of the space's full scale */
      CHECK_MSG(worst < 2e-5, "%s -> %s -> %s: worst error %g", k_space_name[from], k_space_name[to],
                k_space_name[from], worst);
    }
  /* LCh round trip */
  convert(SRGB, LAB, src, a, N);
  dlut_color_lab_to_lch(a, b, N);
  dlut_color_lch_to_lab(b, c, N);
  double worst = 0;
  for (int i = 0; i < N * 3; i++) worst = fmax(worst, fabs((double)c[i] - a[i]));
  CHECK_MSG(worst < 1e-3, "lab->lch->lab worst %g", worst);
  for (int i = 0; i < N; i++) CHECK(b[3 * i + 2] >= 0.0f && b[3 * i + 2] < 360.0f);
}

/* In-place (aliased) calls give the same results as separate buffers. */
static void test_aliasing(void) {
  enum { N = 300 };
  static float src[N * 3], sep[N * 3], inplace[N * 3];
  for (int i = 0; i < N * 3; i++) src[i] = (float)rnd();
  void (*fns[])(const float *, float *, int64_t) = {
      dlut_color_srgb_to_linear, dlut_color_linear_to_srgb, dlut_color_linear_to_xyz, dlut_color_xyz_to_linear,
      dlut_color_xyz_to_lab,     dlut_color_lab_to_xyz,     dlut_color_srgb_to_lab,   dlut_color_lab_to_srgb,
      dlut_color_lab_to_lch,     dlut_color_lch_to_lab};
  for (size_t f = 0; f < sizeof fns / sizeof fns[0]; f++) {
    fns[f](src, sep, N);
    memcpy(inplace, src, sizeof src);
    fns[f](inplace, inplace, N);
    CHECK_MSG(memcmp(sep, inplace, sizeof sep) == 0, "function %zu differs in place", f);
  }
}

/* ==== Reference values ==== */

static void lab_of(float r, float g, float b, float lab[3]) {
  float c[3] = {r, g, b};
  dlut_color_srgb_to_lab(c, lab, 1);
}

static void test_reference_values(void) {
  /* IEC 61966-2-1 transfer: encoded 0.5 -> 0.214041 (computed from the spec's formula to 6 d.p.),
   * the knee, and odd symmetry. */
  CHECK_NEAR(dlut_srgb_to_linear(0.5f), 0.2140411, 1e-6);
  CHECK_NEAR(dlut_srgb_to_linear(0.04045f), 0.04045 / 12.92, 1e-7);
  CHECK_NEAR(dlut_srgb_to_linear(1.0f), 1.0, 1e-6);
  CHECK_NEAR(dlut_linear_to_srgb(0.18f), 0.4613561, 1e-5);
  CHECK_NEAR(dlut_srgb_to_linear(-0.5f), -0.2140411, 1e-6);
  CHECK_NEAR(dlut_linear_to_srgb(-0.18f), -0.4613561, 1e-5);

  /* White and primaries -> XYZ (Lindbloom's sRGB matrix, D65). */
  float rgb[4 * 3] = {1, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}, xyz[4 * 3];
  dlut_color_srgb_to_linear(rgb, xyz, 4);
  dlut_color_linear_to_xyz(xyz, xyz, 4);
  const double want_xyz[12] = {0.95047,   1.0,       1.08883,   0.4124564, 0.2126729, 0.0193339,
                               0.3575761, 0.7151522, 0.1191920, 0.1804375, 0.0721750, 0.9503041};
  for (int i = 0; i < 12; i++) CHECK_NEAR(xyz[i], want_xyz[i], 2e-5);

  /* sRGB -> Lab (D65), as Lindbloom's CIE colour calculator gives them. */
  float lab[3];
  lab_of(1, 1, 1, lab);
  CHECK_NEAR(lab[0], 100.0, 1e-3);
  CHECK_NEAR(lab[1], 0.0, 1e-3);
  CHECK_NEAR(lab[2], 0.0, 1e-3);
  lab_of(1, 0, 0, lab);
  CHECK_NEAR(lab[0], 53.2408, 0.01);
  CHECK_NEAR(lab[1], 80.0925, 0.01);
  CHECK_NEAR(lab[2], 67.2032, 0.01);
  lab_of(0, 1, 0, lab);
  CHECK_NEAR(lab[0], 87.7347, 0.01);
  CHECK_NEAR(lab[1], -86.1827, 0.01);
  CHECK_NEAR(lab[2], 83.1793, 0.01);
  lab_of(0, 0, 1, lab);
  CHECK_NEAR(lab[0], 32.2970, 0.01);
  CHECK_NEAR(lab[1], 79.1875, 0.01);
  CHECK_NEAR(lab[2], -107.8602, 0.01);
  lab_of(0, 0, 0, lab);
  CHECK_NEAR(lab[0], 0.0, 1e-4);
  /* 18% grey (Y = 0.18) -> L* = 116 * 0.18^(1/3) - 16 = 49.4961 */
  float grey[3] = {0.18f * DLUT_D65_X, 0.18f, 0.18f * DLUT_D65_Z};
  dlut_color_xyz_to_lab(grey, lab, 1);
  CHECK_NEAR(lab[0], 49.4961, 1e-3);
  CHECK_NEAR(lab[1], 0.0, 1e-3);
  CHECK_NEAR(lab[2], 0.0, 1e-3);
  /* The knee: Y = (6/29)^3 -> L* = 8, both branches agree. */
  float knee[3] = {0.008856452f * DLUT_D65_X, 0.008856452f, 0.008856452f * DLUT_D65_Z};
  dlut_color_xyz_to_lab(knee, lab, 1);
  CHECK_NEAR(lab[0], 8.0, 1e-3);

  /* LCh of pure red: hue 40.0 deg (atan2(67.2032, 80.0925)), C 104.55 */
  float lch[3];
  lab_of(1, 0, 0, lab);
  dlut_color_lab_to_lch(lab, lch, 1);
  CHECK_NEAR(lch[1], 104.5518, 0.01);
  CHECK_NEAR(lch[2], 39.9990, 0.01);
}

/* Sharma, Wu & Dalal (2005), Table 1: the 34 CIEDE2000 test pairs. */
static const double k_sharma[34][7] = {
    {50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425},
    {50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615},
    {50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412},
    {50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000},
    {50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000},
    {50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000},
    {50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669},
    {50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669},
    {50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792},
    {50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792},
    {50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195},
    {50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195},
    {50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045},
    {50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045},
    {50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461},
    {50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065},
    {50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492},
    {50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977},
    {50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030},
    {50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535},
    {50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000},
    {50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000},
    {50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000},
    {50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000},
    {60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644},
    {63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630},
    {61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731},
    {35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645},
    {22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373},
    {36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146},
    {90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441},
    {90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381},
    {6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377},
    {2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082},
};

static void test_delta_e2000(void) {
  for (int i = 0; i < 34; i++) {
    const double *p = k_sharma[i];
    double d12 = dlut_delta_e2000(p, p + 3), d21 = dlut_delta_e2000(p + 3, p);
    /* the paper prints 4 decimals: agree to rounding (0.5e-4, plus float slack) */
    CHECK_MSG(fabs(d12 - p[6]) < 0.6e-4, "pair %d: got %.6f, want %.4f", i + 1, d12, p[6]);
    CHECK_MSG(fabs(d21 - p[6]) < 0.6e-4, "pair %d reversed: got %.6f, want %.4f", i + 1, d21, p[6]);
  }
  double z[3] = {40, 10, -20};
  CHECK_NEAR(dlut_delta_e2000(z, z), 0.0, 1e-12);
}

static void test_adaptation(void) {
  /* Bradford D65 -> D50, as tabulated by Lindbloom ("Chromatic Adaptation"). */
  const double d65[3] = {0.95047, 1.0, 1.08883}, d50[3] = {0.96422, 1.0, 0.82521};
  const double want[9] = {1.0478112,  0.0228866,  -0.0501270, 0.0295424, 0.9904844,
                          -0.0170491, -0.0092345, 0.0150436,  0.7521316};
  double m[9];
  dlut_color_adaptation_xyz(DLUT_CAT_BRADFORD, d65, d50, m);
  for (int i = 0; i < 9; i++) CHECK_NEAR(m[i], want[i], 2e-6);
  /* Any CAT maps the source white onto the destination white. */
  for (int cat = 0; cat < 2; cat++) {
    dlut_color_adaptation_xyz((dlut_cat)cat, d65, d50, m);
    for (int r = 0; r < 3; r++)
      CHECK_NEAR(m[r * 3] * d65[0] + m[r * 3 + 1] * d65[1] + m[r * 3 + 2] * d65[2], d50[r], 1e-9);
    /* identity when the whites agree */
    dlut_color_adaptation_rgb((dlut_cat)cat, d65, d65, m);
    for (int i = 0; i < 9; i++) CHECK_NEAR(m[i], i % 4 == 0 ? 1.0 : 0.0, 1e-6);
  }
  /* Planckian locus: 2856 K (CIE illuminant A) at (0.44757, 0.40745); 6500 K near (0.3135, 0.3236). */
  double xy[2];
  dlut_color_cct_to_xy(2856, xy);
  CHECK_NEAR(xy[0], 0.44757, 1.5e-3);
  CHECK_NEAR(xy[1], 0.40745, 1.5e-3);
  dlut_color_cct_to_xy(6500, xy);
  CHECK_NEAR(xy[0], 0.3135, 1.5e-3);
  CHECK_NEAR(xy[1], 0.3236, 1.5e-3);
  /* monotone: hotter is bluer (x falls) */
  double prev = 1;
  for (double k = 1700; k <= 20000; k *= 1.1) {
    dlut_color_cct_to_xy(k, xy);
    CHECK(xy[0] < prev);
    prev = xy[0];
  }
}

/* ==== Finite differences of every backward ==== */

typedef void (*fwd_fn)(const float *, float *, int64_t);
typedef void (*bwd_fn)(const float *, const float *, float *, int64_t);

/* L = sum_i w_i out_i with random w; compare d_in with central differences in
 * double of the float forward, step h. */
static void fd_check(const char *name, fwd_fn fwd, bwd_fn bwd, const float *x0, int n, double h, double rtol) {
  float x[64 * 3], w[64 * 3], d[64 * 3], y[64 * 3];
  for (int i = 0; i < 3 * n; i++) {
    x[i] = x0[i];
    w[i] = (float)(rnd() * 2 - 1);
  }
  bwd(x, w, d, n);
  /* backward with d_in aliasing d_out gives the same */
  float dd[64 * 3];
  memcpy(dd, w, sizeof(float) * 3 * n);
  bwd(x, dd, dd, n);
  CHECK_MSG(memcmp(dd, d, sizeof(float) * 3 * n) == 0, "%s: backward differs in place", name);
  /* errors are relative to the larger of |numeric|, 1 and 1% of the largest
   * gradient entry: float rounding of outputs near 100 (Lab) makes absolute
   * noise of about 1e-5 / h, which swamps entries that happen to be small */
  double gmax = 0;
  for (int i = 0; i < 3 * n; i++) gmax = fmax(gmax, fabs(d[i]));
  double worst = 0;
  for (int i = 0; i < 3 * n; i++) {
    double lp = 0, lm = 0;
    float keep = x[i];
    x[i] = (float)(keep + h);
    double hp = (double)x[i] - keep;
    fwd(x, y, n);
    for (int j = 0; j < 3 * n; j++) lp += (double)w[j] * y[j];
    x[i] = (float)(keep - h);
    double hm = keep - (double)x[i];
    fwd(x, y, n);
    for (int j = 0; j < 3 * n; j++) lm += (double)w[j] * y[j];
    x[i] = keep;
    double num = (lp - lm) / (hp + hm);
    double err = fabs(num - d[i]) / fmax(fmax(1.0, fabs(num)), 0.01 * gmax);
    if (err > worst) worst = err;
  }
  CHECK_MSG(worst < rtol, "%s: finite-difference mismatch, worst relative error %g", name, worst);
}

static void test_backward(void) {
  enum { N = 64 };
  float s[N * 3], lin[N * 3], xyz[N * 3], lab[N * 3];
  /* sRGB values away from the transfer knee (the derivative jumps there), including negatives */
  for (int i = 0; i < N * 3; i++) {
    double v = 0.06 + rnd() * 0.9;
    s[i] = (float)(i % 7 == 0 ? -v : v);
  }
  convert(SRGB, LIN, s, lin, N);
  convert(SRGB, XYZ, s, xyz, N);
  convert(SRGB, LAB, s, lab, N);
  /* keep XYZ away from the Lab knee t = 0.008856 */
  for (int i = 0; i < N * 3; i++)
    if (fabsf(xyz[i] - 0.0088f) < 0.003f) xyz[i] += 0.01f;
  fd_check("srgb_to_linear", dlut_color_srgb_to_linear, dlut_color_srgb_to_linear_backward, s, N, 1e-3, 2e-3);
  fd_check("linear_to_srgb", dlut_color_linear_to_srgb, dlut_color_linear_to_srgb_backward, lin, N, 1e-4, 5e-3);
  fd_check("linear_to_xyz", dlut_color_linear_to_xyz, dlut_color_linear_to_xyz_backward, lin, N, 1e-3, 1e-3);
  fd_check("xyz_to_linear", dlut_color_xyz_to_linear, dlut_color_xyz_to_linear_backward, xyz, N, 1e-3, 1e-3);
  fd_check("xyz_to_lab", dlut_color_xyz_to_lab, dlut_color_xyz_to_lab_backward, xyz, N, 1e-4, 5e-3);
  fd_check("lab_to_xyz", dlut_color_lab_to_xyz, dlut_color_lab_to_xyz_backward, lab, N, 1e-2, 2e-3);
  fd_check("srgb_to_lab", dlut_color_srgb_to_lab, dlut_color_srgb_to_lab_backward, s, N, 1e-3, 5e-3);
  fd_check("lab_to_srgb", dlut_color_lab_to_srgb, dlut_color_lab_to_srgb_backward, lab, N, 1e-2, 5e-3);
  /* a long array, to cross the internal block boundary (256) of the composed backward */
  enum { M = 700 };
  static float big[M * 3], g[M * 3], d1[M * 3], d2[M * 3];
  for (int i = 0; i < M * 3; i++) {
    big[i] = (float)(0.06 + rnd() * 0.9);
    g[i] = (float)(rnd() - 0.5);
  }
  dlut_color_srgb_to_lab_backward(big, g, d1, M);
  for (int i = 0; i < M; i++) dlut_color_srgb_to_lab_backward(big + 3 * i, g + 3 * i, d2 + 3 * i, 1);
  CHECK(memcmp(d1, d2, sizeof d1) == 0);
}

/* ==== The vectorised array kernels against the scalar references ==== */

/* The array functions use the arithmetic pow of src/color/fastmath.h; the
 * scalars use libm (sRGB) and the test computes Lab in double with cbrt. */
static void test_fast_vs_reference(void) {
  enum { N = 20001 };
  static float x[N], y[N];
  /* a dense sweep over [-2, 2] (every knee, 0 and 1 included) plus extremes; N is not a multiple of 8 (tail path) */
  for (int i = 0; i < N - 6; i++) x[i] = -2.0f + 4.0f * (float)i / (N - 7);
  x[N - 6] = 0.04045f, x[N - 5] = 0.0031308f, x[N - 4] = 1e-30f, x[N - 3] = 50.0f, x[N - 2] = -0.0f, x[N - 1] = 1.0f;
  double worst_dec = 0, worst_enc = 0;
  dlut_color_srgb_to_linear(x, y, N / 3);
  for (int i = 0; i < N / 3 * 3; i++) {
    double r = dlut_srgb_to_linear(x[i]);
    worst_dec = fmax(worst_dec, fabs(y[i] - r) / fmax(fabs(r), 1e-6));
  }
  dlut_color_linear_to_srgb(x, y, N / 3);
  for (int i = 0; i < N / 3 * 3; i++) {
    double r = dlut_linear_to_srgb(x[i]);
    worst_enc = fmax(worst_enc, fabs(y[i] - r) / fmax(fabs(r), 1e-6));
  }
  CHECK_MSG(worst_dec < 2e-6, "srgb_to_linear array vs scalar: relative error %g", worst_dec);
  CHECK_MSG(worst_enc < 2e-6, "linear_to_srgb array vs scalar: relative error %g", worst_enc);
  /* Lab against a double-precision computation of CIE 15 */
  enum { M = 4001 };
  static float xyz[M * 3], lab[M * 3];
  for (int i = 0; i < M * 3; i++) xyz[i] = (float)(rnd() * 1.3 - 0.05);
  for (int i = 0; i < 30; i++) xyz[i] = (float)(0.0088564516 * (0.9 + 0.01 * i)); /* around the knee */
  dlut_color_xyz_to_lab(xyz, lab, M);
  double worst_lab = 0;
  const double wht[3] = {0.95047, 1.0, 1.08883};
  for (int i = 0; i < M; i++) {
    double f[3];
    for (int c = 0; c < 3; c++) {
      double t = xyz[3 * i + c] / wht[c];
      f[c] = t > 216.0 / 24389.0 ? cbrt(t) : t * (24389.0 / 27.0 / 116.0) + 16.0 / 116.0;
    }
    double ref[3] = {116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])};
    for (int c = 0; c < 3; c++) worst_lab = fmax(worst_lab, fabs(lab[3 * i + c] - ref[c]));
  }
  CHECK_MSG(worst_lab < 2e-4, "xyz_to_lab vs double reference: worst error %g (L*a*b* units)", worst_lab);
  /* n = 0 is a no-op, short arrays go through the tail path */
  float one[3] = {0.5f, 0.25f, 0.75f}, keep[3];
  memcpy(keep, one, sizeof one);
  dlut_color_srgb_to_linear(one, one, 0);
  dlut_color_xyz_to_lab(one, one, 0);
  CHECK(memcmp(one, keep, sizeof one) == 0);
  dlut_color_srgb_to_linear(one, one, 1);
  CHECK_NEAR(one[0], 0.2140411, 1e-6);
  CHECK_NEAR(one[1], dlut_srgb_to_linear(0.25f), 1e-7);
}

int main(void) {
  test_round_trips();
  test_aliasing();
  test_reference_values();
  test_delta_e2000();
  test_adaptation();
  test_backward();
  test_fast_vs_reference();
  return test_summary("color");
}
