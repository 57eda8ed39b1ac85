/* color/fastmath.h - branch-free float log2, exp2 and pow on GCC
 * vector-extension types (8 or 4 lanes), for the colour array loops (private to
 * src/color/).
 *
 * libm's powf and cbrtf are calls that the compiler cannot vectorise
 * without -ffast-math; GCC's auto-vectoriser at -O2 does not touch loops of
 * unknown length anyway. These functions work on `fm_v8` (FM_N floats)
 * with arithmetic and integer bit moves only. Accuracy: log2 by the atanh series
 * on a mantissa reduced to [sqrt(1/2), sqrt(2)) (terms to t^9: remainder
 * below 3e-9), exp2 by its Taylor series on [-1/2, 1/2] (terms to f^7:
 * remainder below 2e-8); in float a few ulp, checked against the libm
 * scalar references in tests/test_color.c. Inputs of log2 are clamped to
 * the smallest normal float; exponents of exp2 to [-126, 127], so pow
 * saturates near 2^127 instead of overflowing to infinity. */
#ifndef DLUT_COLOR_FASTMATH_H
#define DLUT_COLOR_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* 8 lanes where AVX is enabled (-march=native on this project's machines),
 * else 4 (SSE2 on any x86-64, NEON on arm64), so no vector is wider than
 * the target's registers. These are static helpers, never passed across an
 * ABI boundary, so GCC's note about vector-argument ABIs does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#if defined(__AVX__)
#define FM_N 8
#else
#define FM_N 4
#endif
typedef float fm_v8 __attribute__((vector_size(4 * FM_N)));   /* FM_N floats */
typedef int32_t fm_i8 __attribute__((vector_size(4 * FM_N))); /* FM_N ints, or comparison masks (-1 / 0) */

static inline fm_v8 fm_splat(float x) {
  return x - (fm_v8){0}; /* scalar op vector broadcasts */
}
static inline fm_v8 fm_load(const float *p) {
  fm_v8 v;
  memcpy(&v, p, sizeof v);
  return v;
}
static inline void fm_store(float *p, fm_v8 v) {
  memcpy(p, &v, sizeof v);
}

/* m ? a : b, lane by lane (m from a vector comparison) */
static inline fm_v8 fm_sel(fm_i8 m, fm_v8 a, fm_v8 b) {
  return (fm_v8)((m & (fm_i8)a) | (~m & (fm_i8)b));
}
static inline fm_v8 fm_max(fm_v8 a, fm_v8 b) {
  return fm_sel(a > b, a, b);
}
static inline fm_v8 fm_min(fm_v8 a, fm_v8 b) {
  return fm_sel(a < b, a, b);
}
static inline fm_v8 fm_abs(fm_v8 a) {
  return (fm_v8)((fm_i8)a & 0x7fffffff);
}
static inline fm_v8 fm_copysign(fm_v8 mag, fm_v8 sgn) {
  return (fm_v8)(((fm_i8)mag & 0x7fffffff) | ((fm_i8)sgn & (fm_i8)fm_splat(-0.0f)));
}

/* log2(x), x > 0 */
static inline fm_v8 fm_log2(fm_v8 x) {
  x = fm_max(x, fm_splat(1.17549435e-38f));
  fm_i8 u = (fm_i8)x;
  fm_i8 e = ((u >> 23) & 0xff) - 127;
  fm_v8 m = (fm_v8)((u & 0x007fffff) | 0x3f800000); /* [1, 2) */
  fm_i8 big = m > 1.41421356f;                      /* move m into [sqrt(1/2), sqrt(2)) */
  fm_v8 half = m * 0.5f;
  m = fm_sel(big, half, m);
  e -= big; /* big is -1 where true */
  fm_v8 t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
  /* ln(m) = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + t^7/7 + t^9/9) */
  fm_v8 ln = 2.0f * t * (1.0f + t2 * (1.0f / 3 + t2 * (1.0f / 5 + t2 * (1.0f / 7 + t2 * (1.0f / 9)))));
  return __builtin_convertvector(e, fm_v8) + ln * 1.44269504f;
}

/* 2^y, y clamped to [-126, 127] */
static inline fm_v8 fm_exp2(fm_v8 y) {
  y = fm_min(fm_max(y, fm_splat(-126.0f)), fm_splat(127.0f));
  fm_v8 yh = y + 0.5f;
  fm_i8 k = __builtin_convertvector(yh, fm_i8); /* truncation; make it floor */
  k += (fm_i8)(__builtin_convertvector(k, fm_v8) > yh);
  fm_v8 z = (y - __builtin_convertvector(k, fm_v8)) * 0.69314718f; /* e^z = 2^f, f in [-1/2, 1/2] */
  fm_v8 p =
      1.0f +
      z * (1.0f +
           z * (1.0f / 2 + z * (1.0f / 6 + z * (1.0f / 24 + z * (1.0f / 120 + z * (1.0f / 720 + z * (1.0f / 5040)))))));
  return p * (fm_v8)((k + 127) << 23);
}

/* x^y, x > 0 */
static inline fm_v8 fm_pow(fm_v8 x, float y) {
  return fm_exp2(y * fm_log2(x));
}

/* Run `body` (a function fm_v8 -> fm_v8) over n floats, FM_N at a time;
 * the tail goes through a padded vector (padding 0.5, a safe argument for
 * every function here). in and out may alias. */
#define FM_MAP(n, in, out, body)                                                         \
  do {                                                                                   \
    int64_t i_ = 0;                                                                      \
    for (; i_ + FM_N <= (n); i_ += FM_N) fm_store((out) + i_, body(fm_load((in) + i_))); \
    if (i_ < (n)) {                                                                      \
      float t_[FM_N];                                                                    \
      for (int k_ = 0; k_ < FM_N; k_++) t_[k_] = 0.5f;                                   \
      memcpy(t_, (in) + i_, sizeof(float) * (size_t)((n)-i_));                           \
      fm_store(t_, body(fm_load(t_)));                                                   \
      memcpy((out) + i_, t_, sizeof(float) * (size_t)((n)-i_));                          \
    }                                                                                    \
  } while (0)

#endif
