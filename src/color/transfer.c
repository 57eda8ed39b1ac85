/* The sRGB transfer function (IEC 61966-2-1:1999, section 4.2): encoded
 * sRGB <-> linear light, with its derivatives for the optimiser. Both
 * directions are extended to negative values by odd symmetry so that
 * out-of-gamut intermediates (which the optimiser and wide-gamut sources
 * produce) survive a round trip instead of being clipped.
 *
 * The scalar functions use libm's powf and are the naive references; the
 * array functions compute the same curves branch-free, 4 or 8 lanes at a time,
 * with the arithmetic pow of color/fastmath.h, and are tested against the
 * scalars (tests/test_color.c). */
#include <math.h>

#include "color/fastmath.h"
#include "dlut/color.h"

/* Breakpoints: 0.04045 on the encoded side, 0.04045/12.92 = 0.0031308 on
 * the linear side (the spec's rounded value). */
#define SRGB_ENC_KNEE 0.04045f
#define SRGB_LIN_KNEE 0.0031308f

float dlut_srgb_to_linear(float v) {
  float a = fabsf(v);
  float r = a <= SRGB_ENC_KNEE ? a * (1.0f / 12.92f) : powf((a + 0.055f) * (1.0f / 1.055f), 2.4f);
  return v < 0.0f ? -r : r;
}

float dlut_linear_to_srgb(float v) {
  float a = fabsf(v);
  float r = a <= SRGB_LIN_KNEE ? a * 12.92f : 1.055f * powf(a, 1.0f / 2.4f) - 0.055f;
  return v < 0.0f ? -r : r;
}

/* ==== FM_N-wide versions (both sides of each knee computed, one selected) ==== */

static inline fm_v8 dec8(fm_v8 v) {
  fm_v8 a = fm_abs(v);
  fm_v8 lin = a * (1.0f / 12.92f), pw = fm_pow((a + 0.055f) * (1.0f / 1.055f), 2.4f);
  return fm_copysign(fm_sel(a <= SRGB_ENC_KNEE, lin, pw), v);
}

static inline fm_v8 enc8(fm_v8 v) {
  fm_v8 a = fm_abs(v);
  fm_v8 lin = a * 12.92f, pw = 1.055f * fm_pow(fm_max(a, fm_splat(SRGB_LIN_KNEE)), 1.0f / 2.4f) - 0.055f;
  return fm_copysign(fm_sel(a <= SRGB_LIN_KNEE, lin, pw), v);
}

/* d linear / d encoded; even in v because the curve is odd. */
static inline fm_v8 dec_deriv8(fm_v8 v) {
  fm_v8 a = fm_abs(v);
  fm_v8 pw = (2.4f / 1.055f) * fm_pow((a + 0.055f) * (1.0f / 1.055f), 1.4f);
  return fm_sel(a <= SRGB_ENC_KNEE, fm_splat(1.0f / 12.92f), pw);
}

/* d encoded / d linear. Finite everywhere: above the knee a >= 0.0031308. */
static inline fm_v8 enc_deriv8(fm_v8 v) {
  fm_v8 a = fm_abs(v);
  fm_v8 pw = (1.055f / 2.4f) * fm_pow(fm_max(a, fm_splat(SRGB_LIN_KNEE)), 1.0f / 2.4f - 1.0f);
  return fm_sel(a <= SRGB_LIN_KNEE, fm_splat(12.92f), pw);
}

void dlut_color_srgb_to_linear(const float *in, float *out, int64_t n) {
  FM_MAP(3 * n, in, out, dec8);
}

void dlut_color_linear_to_srgb(const float *in, float *out, int64_t n) {
  FM_MAP(3 * n, in, out, enc8);
}

/* d_in = d_out * deriv(in), FM_N at a time; d_in may alias d_out. */
static inline void scale_by(const float *in, const float *d_out, float *d_in, int64_t m, fm_v8 (*deriv)(fm_v8)) {
  int64_t i = 0;
  for (; i + FM_N <= m; i += FM_N) fm_store(d_in + i, fm_load(d_out + i) * deriv(fm_load(in + i)));
  if (i < m) {
    float x[FM_N], g[FM_N] = {0};
    for (int k = 0; k < FM_N; k++) x[k] = 0.5f;
    memcpy(x, in + i, sizeof(float) * (size_t)(m - i));
    memcpy(g, d_out + i, sizeof(float) * (size_t)(m - i));
    fm_store(g, fm_load(g) * deriv(fm_load(x)));
    memcpy(d_in + i, g, sizeof(float) * (size_t)(m - i));
  }
}

void dlut_color_srgb_to_linear_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  scale_by(in, d_out, d_in, 3 * n, dec_deriv8);
}

void dlut_color_linear_to_srgb_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  scale_by(in, d_out, d_in, 3 * n, enc_deriv8);
}
