/* The sRGB transfer function (IEC 61966-2-1:1999, section 4.2): encoded
 * sRGB <-> linear light, with its derivatives for the optimiser. Both
 * directions are extended to negative values by odd symmetry so that
 * out-of-gamut intermediates (which the optimiser and wide-gamut sources
 * produce) survive a round trip instead of being clipped. */
#include <math.h>

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

/* d linear / d encoded; even in v because the curve is odd. */
static inline float srgb_to_linear_deriv(float v) {
  float a = fabsf(v);
  return a <= SRGB_ENC_KNEE ? 1.0f / 12.92f : (2.4f / 1.055f) * powf((a + 0.055f) * (1.0f / 1.055f), 1.4f);
}

/* d encoded / d linear. Finite everywhere: above the knee a >= 0.0031308. */
static inline float linear_to_srgb_deriv(float v) {
  float a = fabsf(v);
  return a <= SRGB_LIN_KNEE ? 12.92f : (1.055f / 2.4f) * powf(a, 1.0f / 2.4f - 1.0f);
}

void dlut_color_srgb_to_linear(const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < 3 * n; i++) out[i] = dlut_srgb_to_linear(in[i]);
}

void dlut_color_linear_to_srgb(const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < 3 * n; i++) out[i] = dlut_linear_to_srgb(in[i]);
}

void dlut_color_srgb_to_linear_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  for (int64_t i = 0; i < 3 * n; i++) d_in[i] = d_out[i] * srgb_to_linear_deriv(in[i]);
}

void dlut_color_linear_to_srgb_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  for (int64_t i = 0; i < 3 * n; i++) d_in[i] = d_out[i] * linear_to_srgb_deriv(in[i]);
}
