/* CIE XYZ <-> CIE 1976 L*a*b* (D65 white), LCh, and the composed
 * sRGB <-> Lab conversions, each with its backward.
 *
 * Formulas: CIE 15:2004 section 8.2.1, with the linear segment below
 * t = (6/29)^3 written in the exact rational form (Lindbloom's "epsilon =
 * 216/24389, kappa = 24389/27"), which makes f continuous with a
 * continuous first derivative at the knee. The linear segment is also used
 * for t < 0, so out-of-gamut XYZ (negative components) stays finite and
 * invertible. */
#include <math.h>
#include <stddef.h>

#include "dlut/color.h"

#define LAB_DELTA (6.0f / 29.0f)
#define LAB_EPS (LAB_DELTA * LAB_DELTA * LAB_DELTA) /* (6/29)^3 = 0.008856 */
#define LAB_SLOPE (1.0f / (3.0f * LAB_DELTA * LAB_DELTA)) /* 7.787 */
#define LAB_OFFSET (4.0f / 29.0f)

static const float k_white[3] = {DLUT_D65_X, DLUT_D65_Y, DLUT_D65_Z};

static inline float lab_f(float t) { return t > LAB_EPS ? cbrtf(t) : t * LAB_SLOPE + LAB_OFFSET; }
static inline float lab_f_deriv(float t) {
  if (t > LAB_EPS) {
    float c = cbrtf(t);
    return 1.0f / (3.0f * c * c);
  }
  return LAB_SLOPE;
}
static inline float lab_finv(float u) { return u > LAB_DELTA ? u * u * u : (u - LAB_OFFSET) * (1.0f / LAB_SLOPE); }
static inline float lab_finv_deriv(float u) { return u > LAB_DELTA ? 3.0f * u * u : 1.0f / LAB_SLOPE; }

void dlut_color_xyz_to_lab(const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float fx = lab_f(in[3 * i] / k_white[0]);
    float fy = lab_f(in[3 * i + 1] / k_white[1]);
    float fz = lab_f(in[3 * i + 2] / k_white[2]);
    out[3 * i + 0] = 116.0f * fy - 16.0f;
    out[3 * i + 1] = 500.0f * (fx - fy);
    out[3 * i + 2] = 200.0f * (fy - fz);
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
  for (int64_t i = 0; i < n; i++) {
    float dl = d_out[3 * i], da = d_out[3 * i + 1], db = d_out[3 * i + 2];
    /* L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz) */
    float dfx = 500.0f * da;
    float dfy = 116.0f * dl - 500.0f * da + 200.0f * db;
    float dfz = -200.0f * db;
    d_in[3 * i + 0] = dfx * lab_f_deriv(in[3 * i] / k_white[0]) / k_white[0];
    d_in[3 * i + 1] = dfy * lab_f_deriv(in[3 * i + 1] / k_white[1]) / k_white[1];
    d_in[3 * i + 2] = dfz * lab_f_deriv(in[3 * i + 2] / k_white[2]) / k_white[2];
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

#define BLOCK 256

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
    dlut_color_xyz_to_lab_backward(xyz, d_out + 3 * i0, d_in + 3 * i0, m); /* d xyz */
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
    dlut_color_xyz_to_linear_backward(NULL, d_in + 3 * i0, d_in + 3 * i0, m); /* d xyz */
    dlut_color_lab_to_xyz_backward(src, d_in + 3 * i0, d_in + 3 * i0, m);     /* d lab */
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
