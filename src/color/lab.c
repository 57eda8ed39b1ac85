/* CIE XYZ <-> CIE 1976 L*a*b* (D65 white), LCh, and the composed
 * sRGB <-> Lab conversions, each with its backward.
 *
 * Formulas: CIE 15:2004 section 8.2.1, with the linear segment below
 * t = (6/29)^3 written in the exact rational form (Lindbloom's "epsilon =
 * 216/24389, kappa = 24389/27"), which makes f continuous with a
 * continuous first derivative at the knee. The linear segment is also used
 * for t < 0, so out-of-gamut XYZ (negative components) stays finite and
 * invertible.
 *
 * The cube root runs 4 or 8 lanes at a time through color/fastmath.h (libm's
 * cbrtf does not vectorise); tests/test_color.c checks it against the
 * published reference values and the round trips. */
#include <math.h>
#include <stddef.h>

#include "color/fastmath.h"
#include "dlut/color.h"

#define LAB_DELTA (6.0f / 29.0f)
#define LAB_EPS (LAB_DELTA * LAB_DELTA * LAB_DELTA)       /* (6/29)^3 = 0.008856 */
#define LAB_SLOPE (1.0f / (3.0f * LAB_DELTA * LAB_DELTA)) /* 7.787 */
#define LAB_OFFSET (4.0f / 29.0f)

static const float k_white[3] = {DLUT_D65_X, DLUT_D65_Y, DLUT_D65_Z};

/* f and f' on FM_N lanes (both sides of the knee computed, one selected),
 * with the arithmetic cube root of color/fastmath.h so they vectorise. */
static inline fm_v8 lab_f8(fm_v8 t) {
  fm_v8 c = fm_pow(fm_max(t, fm_splat(LAB_EPS)), 1.0f / 3.0f);
  return fm_sel(t > LAB_EPS, c, t * LAB_SLOPE + LAB_OFFSET);
}
static inline fm_v8 lab_f_deriv8(fm_v8 t) {
  fm_v8 c = fm_pow(fm_max(t, fm_splat(LAB_EPS)), 1.0f / 3.0f);
  return fm_sel(t > LAB_EPS, 1.0f / (3.0f * c * c), fm_splat(LAB_SLOPE));
}
static inline float lab_finv(float u) {
  return u > LAB_DELTA ? u * u * u : (u - LAB_OFFSET) * (1.0f / LAB_SLOPE);
}
static inline float lab_finv_deriv(float u) {
  return u > LAB_DELTA ? 3.0f * u * u : 1.0f / LAB_SLOPE;
}

#define BLOCK 256

/* t[i] = in[i] / white[i % 3] for m pixels, then f or f' of all of them. */
static void lab_f_block(const float *in, float *t, int64_t m, int deriv) {
  static const float inv_white[3] = {1.0f / DLUT_D65_X, 1.0f / DLUT_D65_Y, 1.0f / DLUT_D65_Z};
  for (int64_t i = 0; i < m; i++)
    for (int c = 0; c < 3; c++) t[3 * i + c] = in[3 * i + c] * inv_white[c];
  if (deriv)
    FM_MAP(3 * m, t, t, lab_f_deriv8);
  else
    FM_MAP(3 * m, t, t, lab_f8);
}

void dlut_color_xyz_to_lab(const float *in, float *out, int64_t n) {
  float f[BLOCK * 3];
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
    int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
    lab_f_block(in + 3 * i0, f, m, 0);
    float *o = out + 3 * i0;
    for (int64_t i = 0; i < m; i++) {
      float fx = f[3 * i], fy = f[3 * i + 1], fz = f[3 * i + 2];
      o[3 * i + 0] = 116.0f * fy - 16.0f;
      o[3 * i + 1] = 500.0f * (fx - fy);
      o[3 * i + 2] = 200.0f * (fy - fz);
    }
  }
}

void dlut_color_lab_to_xyz(const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float fy = (in[3 * i] + 16.0f) * (1.0f / 116.0f);
    float fx = fy + in[3 * i + 1] * (1.0f / 500.0f);
    float fz = fy - in[3 * i + 2] * (1.0f / 200.0f);
    out[3 * i + 0] = k_white[0] * lab_finv(fx);
    out[3 * i + 1] = k_white[1] * lab_finv(fy);
    out[3 * i + 2] = k_white[2] * lab_finv(fz);
  }
}

void dlut_color_xyz_to_lab_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  float fd[BLOCK * 3];
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
    int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
    lab_f_block(in + 3 * i0, fd, m, 1); /* f'(X/Xn), f'(Y/Yn), f'(Z/Zn) */
    const float *g = d_out + 3 * i0;
    float *d = d_in + 3 * i0;
    for (int64_t i = 0; i < m; i++) {
      float dl = g[3 * i], da = g[3 * i + 1], db = g[3 * i + 2];
      /* L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz) */
      float dfx = 500.0f * da;
      float dfy = 116.0f * dl - 500.0f * da + 200.0f * db;
      float dfz = -200.0f * db;
      d[3 * i + 0] = dfx * fd[3 * i] / DLUT_D65_X;
      d[3 * i + 1] = dfy * fd[3 * i + 1] / DLUT_D65_Y;
      d[3 * i + 2] = dfz * fd[3 * i + 2] / DLUT_D65_Z;
    }
  }
}

void dlut_color_lab_to_xyz_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float fy = (in[3 * i] + 16.0f) * (1.0f / 116.0f);
    float fx = fy + in[3 * i + 1] * (1.0f / 500.0f);
    float fz = fy - in[3 * i + 2] * (1.0f / 200.0f);
    float dfx = d_out[3 * i] * k_white[0] * lab_finv_deriv(fx);
    float dfy = d_out[3 * i + 1] * k_white[1] * lab_finv_deriv(fy);
    float dfz = d_out[3 * i + 2] * k_white[2] * lab_finv_deriv(fz);
    d_in[3 * i + 0] = (dfx + dfy + dfz) * (1.0f / 116.0f);
    d_in[3 * i + 1] = dfx * (1.0f / 500.0f);
    d_in[3 * i + 2] = -dfz * (1.0f / 200.0f);
  }
}

/* ==== Composed sRGB <-> Lab, in cache-sized blocks (no allocation) ==== */

void dlut_color_srgb_to_lab(const float *in, float *out, int64_t n) {
  dlut_color_srgb_to_linear(in, out, n);
  dlut_color_linear_to_xyz(out, out, n);
  dlut_color_xyz_to_lab(out, out, n);
}

void dlut_color_lab_to_srgb(const float *in, float *out, int64_t n) {
  dlut_color_lab_to_xyz(in, out, n);
  dlut_color_xyz_to_linear(out, out, n);
  dlut_color_linear_to_srgb(out, out, n);
}

void dlut_color_srgb_to_lab_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  float xyz[BLOCK * 3];
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
    int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
    const float *src = in + 3 * i0;
    /* recompute the forward's intermediates for this block */
    dlut_color_srgb_to_linear(src, xyz, m);
    dlut_color_linear_to_xyz(xyz, xyz, m);
    dlut_color_xyz_to_lab_backward(xyz, d_out + 3 * i0, d_in + 3 * i0, m);    /* d xyz */
    dlut_color_linear_to_xyz_backward(NULL, d_in + 3 * i0, d_in + 3 * i0, m); /* d linear */
    dlut_color_srgb_to_linear_backward(src, d_in + 3 * i0, d_in + 3 * i0, m); /* d srgb */
  }
}

void dlut_color_lab_to_srgb_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  float lin[BLOCK * 3];
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
    int64_t m = n - i0 < BLOCK ? n - i0 : BLOCK;
    const float *src = in + 3 * i0;
    dlut_color_lab_to_xyz(src, lin, m);
    dlut_color_xyz_to_linear(lin, lin, m);
    dlut_color_linear_to_srgb_backward(lin, d_out + 3 * i0, d_in + 3 * i0, m); /* d linear */
    dlut_color_xyz_to_linear_backward(NULL, d_in + 3 * i0, d_in + 3 * i0, m);  /* d xyz */
    dlut_color_lab_to_xyz_backward(src, d_in + 3 * i0, d_in + 3 * i0, m);      /* d lab */
  }
}

/* ==== LCh ==== */

void dlut_color_lab_to_lch(const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float l = in[3 * i], a = in[3 * i + 1], b = in[3 * i + 2];
    float h = atan2f(b, a) * (180.0f / 3.14159265358979f);
    if (h < 0.0f) h += 360.0f;
    out[3 * i + 0] = l;
    out[3 * i + 1] = sqrtf(a * a + b * b);
    out[3 * i + 2] = h;
  }
}

void dlut_color_lch_to_lab(const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float l = in[3 * i], c = in[3 * i + 1], h = in[3 * i + 2] * (3.14159265358979f / 180.0f);
    out[3 * i + 0] = l;
    out[3 * i + 1] = c * cosf(h);
    out[3 * i + 2] = c * sinf(h);
  }
}
