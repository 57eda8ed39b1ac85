/* The vector exp passes of the fp32 CPU backend (dlut/tensor.h) in AVX2 +
 * FMA, for CPUs without AVX-512 (Intel Haswell to Alder Lake, AMD Zen 1-3):
 * softmax rows, the softmax backward, QuickGELU forward and backward. The
 * AVX-512 forms live in bf16.c; these are the same formulas 8 lanes wide.
 *
 * Why: without them those CPUs took libm's scalar expf for every attention
 * probability and every QuickGELU; on a Zen 3 (AVX2 only) perf put expf and
 * the softmax rows at ~12% of the fp32 ViT-L/14-336 forward + backward
 * (577 tokens: 16 x 577^2 exps per layer, forward and again in the
 * backward's recomputation).
 *
 * exp8 is exp16 of bf16.c, on the same constants (tensor/vexp.h): x = n ln2 + r with the Cody-Waite split of
 * ln2, exp(r) by the Cephes degree-6 polynomial, then 2^n. AVX2 has no
 * scalef, so 2^n is built in the exponent field, in two factors
 * 2^(n/2) 2^(n - n/2) so that n = 128 (x up to 88.7, where exp is still
 * finite) does not overflow the field. About 1 ulp; 0 below -87.3, +inf
 * above 88.7. */
#include <immintrin.h>
#include <math.h>

#include "dlut/tensor.h"
#include "tensor/vexp.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define V2_BUILD 1
#else
#define V2_BUILD 0
#endif

int dlut_cpu_has_avx2(void) {
#if V2_BUILD
  static int v = -1;
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return v;
#else
  return 0;
#endif
}

#if V2_BUILD
#define V2_TARGET __attribute__((target("avx2,fma")))

V2_TARGET static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(VEXP_LO)), _mm256_set1_ps(VEXP_HI));
  __m256 n =
      _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(VEXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VEXP_LN2_HI), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(VEXP_LN2_LO), r);
  __m256 p = _mm256_set1_ps(VEXP_P5);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(VEXP_P0));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256i ni = _mm256_cvtps_epi32(n), h = _mm256_srai_epi32(ni, 1), bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(h, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* lanes below n set (n clamped to 0..8) */
V2_TARGET static inline __m256i lanes(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

V2_TARGET static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

V2_TARGET static inline float hmax8(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

V2_TARGET float dlut_vexp_sub_sum_avx2(float *out, const float *in, int n, float scale, float sub) {
  __m256 vs = _mm256_set1_ps(scale), vm = _mm256_set1_ps(sub), acc = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_fmsub_ps(_mm256_loadu_ps(in + i), vs, vm));
    _mm256_storeu_ps(out + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {
    __m256i k = lanes(n - i);
    __m256 e = _mm256_and_ps(exp8(_mm256_fmsub_ps(_mm256_maskload_ps(in + i, k), vs, vm)), _mm256_castsi256_ps(k));
    _mm256_maskstore_ps(out + i, k, e);
    acc = _mm256_add_ps(acc, e);
  }
  return hsum8(acc);
}

V2_TARGET float dlut_vsoftmax_row_avx2(float *r, int n) {
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int i = 0;
  for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(r + i));
  float m = hmax8(mx);
  for (; i < n; i++) m = r[i] > m ? r[i] : m;
  float sum = dlut_vexp_sub_sum_avx2(r, r, n, 1.0f, m);
  __m256 inv = _mm256_set1_ps(1.0f / sum);
  for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(r + i, _mm256_mul_ps(_mm256_loadu_ps(r + i), inv));
  for (; i < n; i++) r[i] *= 1.0f / sum;
  return m + logf(sum);
}

V2_TARGET void dlut_vsoftmax_backward_row_avx2(float *d, const float *p, int n) {
  __m256 acc = _mm256_setzero_ps();
  int i = 0;
  for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(p + i), _mm256_loadu_ps(d + i), acc);
  float dot = hsum8(acc);
  for (int j = i; j < n; j++) dot += p[j] * d[j];
  __m256 vd = _mm256_set1_ps(dot);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i, _mm256_mul_ps(_mm256_loadu_ps(p + i), _mm256_sub_ps(_mm256_loadu_ps(d + i), vd)));
  for (; i < n; i++) d[i] = p[i] * (d[i] - dot);
}

V2_TARGET void dlut_vquickgelu_avx2(float *out, const float *in, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), c = _mm256_set1_ps(-1.702f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(in + i);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_mul_ps(c, x))));
    _mm256_storeu_ps(out + i, _mm256_mul_ps(x, s));
  }
  for (; i < n; i++) out[i] = dlut_act_value(in[i], DLUT_ACT_QUICK_GELU);
}

V2_TARGET void dlut_vquickgelu_backward_add_avx2(float *dinp, const float *in, const float *dout, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f), c = _mm256_set1_ps(-1.702f), k = _mm256_set1_ps(1.702f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 x = _mm256_loadu_ps(in + i);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_mul_ps(c, x))));
    /* s + 1.702 x s (1 - s) */
    __m256 g = _mm256_fmadd_ps(_mm256_mul_ps(k, x), _mm256_mul_ps(s, _mm256_sub_ps(one, s)), s);
    _mm256_storeu_ps(dinp + i, _mm256_fmadd_ps(g, _mm256_loadu_ps(dout + i), _mm256_loadu_ps(dinp + i)));
  }
  for (; i < n; i++) dinp[i] += dlut_act_grad(in[i], DLUT_ACT_QUICK_GELU) * dout[i];
}

#else /* not x86-64 GCC: never called (dlut_cpu_has_avx2() is 0); scalar forms for the linker */

float dlut_vexp_sub_sum_avx2(float *out, const float *in, int n, float scale, float sub) {
  float s = 0.0f;
  for (int i = 0; i < n; i++) s += out[i] = expf(scale * in[i] - sub);
  return s;
}

float dlut_vsoftmax_row_avx2(float *r, int n) {
  float m = -INFINITY;
  for (int i = 0; i < n; i++) m = r[i] > m ? r[i] : m;
  float s = dlut_vexp_sub_sum_avx2(r, r, n, 1.0f, m);
  for (int i = 0; i < n; i++) r[i] *= 1.0f / s;
  return m + logf(s);
}

void dlut_vsoftmax_backward_row_avx2(float *d, const float *p, int n) {
  float dot = 0.0f;
  for (int i = 0; i < n; i++) dot += p[i] * d[i];
  for (int i = 0; i < n; i++) d[i] = p[i] * (d[i] - dot);
}

void dlut_vquickgelu_avx2(float *out, const float *in, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = dlut_act_value(in[i], DLUT_ACT_QUICK_GELU);
}

void dlut_vquickgelu_backward_add_avx2(float *dinp, const float *in, const float *dout, int64_t n) {
  for (int64_t i = 0; i < n; i++) dinp[i] += dlut_act_grad(in[i], DLUT_ACT_QUICK_GELU) * dout[i];
}
#endif
