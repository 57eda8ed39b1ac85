/* tests/test_bf16.c - the bf16 products of dlut/tensor.h (src/tensor/bf16.c).
 *
 * Everywhere: the scalar conversion rounds to nearest even. Where the CPU
 * has AVX512-BF16 or AMX-BF16 (dlut_bf16_available), each kernel it has
 * (AVX512-BF16 VDPBF16PS; AMX TDPBF16PS) on the packed tiles matches the
 * naive reference (the same bf16-rounded inputs, sums in double) within
 * fp32 accumulation error, for every transpose of both operands, edge
 * shapes that are not multiples of the 16 x 32 tiles, accumulation, alpha
 * and bias, single-threaded and split over the pool; and it is within bf16
 * rounding of the plain fp32 product. The vector exp and QuickGELU match
 * libm. On a CPU with neither the test says so and checks only the
 * conversion (the fast path is never taken there). */
#include <stdint.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"
#include "test.h"

static uint64_t g_rng = 0x2545F4914F6CDD1Dull;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double max_rel(const float *a, const float *b, size_t n) {
  double mx = 0, md = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (d > md) md = d;
    if (fabs(b[i]) > mx) mx = fabs(b[i]);
  }
  return mx > 0 ? md / mx : md;
}

static void test_convert(void) {
  CHECK(dlut_bf16_from_f32(1.0f) == 0x3f80);
  CHECK(dlut_bf16_to_f32(0x3f80) == 1.0f);
  /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1) */
  CHECK(dlut_bf16_from_f32(1.00390625f) == 0x3f80);
  /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up */
  CHECK(dlut_bf16_from_f32(1.01171875f) == 0x3f82);
  CHECK(dlut_bf16_from_f32(-2.0f) == 0xc000);
  CHECK(isnan(dlut_bf16_to_f32(dlut_bf16_from_f32(NAN))));
  for (int i = 0; i < 1000; i++) {
    float x = frand() * 100.0f, y = dlut_bf16_to_f32(dlut_bf16_from_f32(x));
    CHECK(fabsf(x - y) <= fabsf(x) * (1.0f / 256.0f));
  }
}

static void gemm_case(int M, int N, int K, int ta, int tb, int accumulate, int with_bias, int par) {
  int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
  float *A = malloc(sizeof(float) * (size_t)lda * (ta ? K : M));
  float *B = malloc(sizeof(float) * (size_t)ldb * (tb ? N : K));
  float *C1 = malloc(sizeof(float) * (size_t)ldc * M), *C2 = malloc(sizeof(float) * (size_t)ldc * M);
  float *C3 = malloc(sizeof(float) * (size_t)ldc * M), *bias = malloc(sizeof(float) * N);
  uint16_t *Ap = malloc(2 * dlut_bf16_packed_size(M, K)), *Bp = malloc(2 * dlut_bf16_packed_size(N, K));
  for (int i = 0; i < lda * (ta ? K : M); i++) A[i] = frand();
  for (int i = 0; i < ldb * (tb ? N : K); i++) B[i] = frand();
  for (int i = 0; i < N; i++) bias[i] = frand();
  for (int i = 0; i < ldc * M; i++) C1[i] = C2[i] = C3[i] = frand();
  const float *bp = with_bias ? bias : NULL;
  float alpha = 0.75f;
  if (par)
    dlut_bf16_pack_a_par(Ap, A, lda, M, K, ta);
  else
    dlut_bf16_pack_a(Ap, A, lda, M, K, ta);
  dlut_bf16_pack_b(Bp, B, ldb, K, N, tb);
  if (par)
    dlut_bf16_gemm_par(C1, ldc, Ap, Bp, M, N, K, alpha, accumulate, bp);
  else
    dlut_bf16_gemm(C1, ldc, Ap, Bp, M, N, K, alpha, accumulate, bp);
  dlut_bf16_gemm_ref(C2, ldc, A, lda, ta, B, ldb, tb, M, N, K, alpha, accumulate, bp);
  /* the plain fp32 product (double sums) */
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = 0;
      for (int k = 0; k < K; k++)
        s += (double)(ta ? A[k * lda + m] : A[m * lda + k]) * (tb ? B[n * ldb + k] : B[k * ldb + n]);
      float v = (float)(alpha * s) + (bp ? bp[n] : 0.0f);
      C3[m * ldc + n] = accumulate ? C3[m * ldc + n] + v : v;
    }
  double e = max_rel(C1, C2, (size_t)ldc * M), e32 = max_rel(C1, C3, (size_t)ldc * M);
  CHECK_MSG(e < 2e-6 * sqrt((double)K), "amx vs ref M%d N%d K%d ta%d tb%d acc%d bias%d par%d: %g", M, N, K, ta, tb,
            accumulate, with_bias, par, e);
  /* inputs rounded to 8 bits of mantissa: random-sign sums grow like sqrt(K) */
  CHECK_MSG(e32 < 2e-2, "amx vs fp32 M%d N%d K%d: %g", M, N, K, e32);
  free(A), free(B), free(C1), free(C2), free(C3), free(bias), free(Ap), free(Bp);
}

static void test_vexp(void) {
  float in[100], out[100], g[100], d[100], one[100];
  for (int i = 0; i < 100; i++) in[i] = (i - 50) * 0.37f, one[i] = 1.0f;
  float s = dlut_vexp_sub_sum(out, in, 99, 0.5f, 1.5f);
  double sr = 0, e = 0;
  for (int i = 0; i < 99; i++) {
    double r = exp(0.5 * in[i] - 1.5);
    sr += r;
    e = fmax(e, fabs(out[i] - r) / r);
  }
  CHECK_MSG(e < 2e-6, "vexp rel %g", e); /* mostly the fp32 rounding of 0.5 x - 1.5 */
  CHECK(fabs(s - sr) < 1e-5 * sr);
  dlut_vquickgelu(out, in, 100);
  dlut_vquickgelu_backward(g, in, one, 100);
  double ef = 0, eg = 0;
  for (int i = 0; i < 100; i++) {
    ef = fmax(ef, fabs(out[i] - dlut_act_value(in[i], DLUT_ACT_QUICK_GELU)));
    eg = fmax(eg, fabs(g[i] - dlut_act_grad(in[i], DLUT_ACT_QUICK_GELU)));
    d[i] = 0;
  }
  CHECK_MSG(ef < 1e-5 && eg < 1e-5, "quickgelu %g %g", ef, eg);
  /* softmax of a row and its backward against double */
  float row[77], p[77], dd[77];
  double mx = -1e30, sum = 0, es = 0, eb = 0, dot = 0;
  for (int i = 0; i < 77; i++) row[i] = 5.0f * frand(), mx = fmax(mx, row[i]), dd[i] = frand();
  for (int i = 0; i < 77; i++) sum += exp(row[i] - mx);
  memcpy(p, row, sizeof row);
  float lse = dlut_vsoftmax_row(p, 77);
  CHECK(fabs(lse - (mx + log(sum))) < 1e-5 * fabs(mx + log(sum)) + 1e-6);
  for (int i = 0; i < 77; i++) es = fmax(es, fabs(p[i] - exp(row[i] - mx) / sum)), dot += (double)p[i] * dd[i];
  float gr[77];
  memcpy(gr, dd, sizeof dd);
  dlut_vsoftmax_backward_row(gr, p, 77);
  for (int i = 0; i < 77; i++) eb = fmax(eb, fabs(gr[i] - p[i] * (dd[i] - dot)));
  CHECK_MSG(es < 1e-6 && eb < 1e-6, "softmax row %g, backward %g", es, eb);
  (void)d;
}

/* Element (m, k) of a packed A. */
static float packed_at(const uint16_t *p, int K, int m, int k) {
  int KB = (K + 31) / 32;
  return dlut_bf16_to_f32(p[((size_t)(m / 16) * KB + k / 32) * 512 + (m % 16) * 32 + k % 32]);
}

/* The fused passes against the reference backend (LayerNorm, QuickGELU and
 * their backwards), element by element through the packed layout. */
static void test_fused(int N, int C) {
  const dlut_tensor_backend *ref = dlut_tensor_backend_ref();
  size_t n = (size_t)N * C;
  float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
  float *w = malloc(sizeof(float) * C), *b = malloc(sizeof(float) * C), *mean = malloc(sizeof(float) * N);
  float *rstd = malloc(sizeof(float) * N), *m2 = malloc(sizeof(float) * N), *r2 = malloc(sizeof(float) * N);
  float *d1 = calloc(n, sizeof(float)), *d2 = calloc(n, sizeof(float));
  uint16_t *p = malloc(2 * dlut_bf16_packed_size(N, C));
  for (size_t i = 0; i < n; i++) x[i] = 3.0f * frand() + 0.5f, dy[i] = frand();
  for (int i = 0; i < C; i++) w[i] = 1.0f + 0.3f * frand(), b[i] = 0.2f * frand();
  ref->layernorm_forward(y, m2, r2, x, w, b, N, C, 1e-5f);
  dlut_bf16_pack_layernorm(p, mean, rstd, x, w, b, N, C, 1e-5f);
  double e = 0, pad = 0;
  for (int m = 0; m < N; m++) {
    for (int k = 0; k < C; k++)
      e = fmax(e, fabs(packed_at(p, C, m, k) - y[(size_t)m * C + k]) / (fabs(y[(size_t)m * C + k]) + 1e-3));
    CHECK(fabsf(mean[m] - m2[m]) < 1e-5f && fabsf(rstd[m] - r2[m]) < 1e-5f * r2[m]);
  }
  for (int m = N; m < (N + 31) / 32 * 32; m++)
    for (int k = 0; k < C; k++) pad += fabs(packed_at(p, C, m, k));
  CHECK_MSG(e < 1.0 / 128 && pad == 0, "pack_layernorm N%d C%d: %g (pad %g)", N, C, e, pad);
  ref->act_forward(y, x, (int64_t)n, DLUT_ACT_QUICK_GELU);
  dlut_bf16_pack_quickgelu(p, x, N, C);
  e = 0;
  for (int m = 0; m < N; m++)
    for (int k = 0; k < C; k++)
      e = fmax(e, fabs(packed_at(p, C, m, k) - y[(size_t)m * C + k]) / (fabs(y[(size_t)m * C + k]) + 1e-3));
  CHECK_MSG(e < 1.0 / 128, "pack_quickgelu N%d C%d: %g", N, C, e);
  memset(y, 0, sizeof(float) * n);
  ref->act_backward(y, x, dy, (int64_t)n, DLUT_ACT_QUICK_GELU);
  dlut_bf16_pack_quickgelu_backward(p, x, dy, N, C);
  e = 0;
  for (int m = 0; m < N; m++)
    for (int k = 0; k < C; k++)
      e = fmax(e, fabs(packed_at(p, C, m, k) - y[(size_t)m * C + k]) / (fabs(y[(size_t)m * C + k]) + 1e-3));
  CHECK_MSG(e < 1.0 / 128, "pack_quickgelu_backward N%d C%d: %g", N, C, e);
  ref->layernorm_backward(d1, dy, x, w, m2, r2, N, C);
  dlut_vlayernorm_backward(d2, dy, x, w, m2, r2, N, C);
  double mx = 0, md = 0;
  for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(d1[i])), md = fmax(md, fabs(d1[i] - d2[i]));
  CHECK_MSG(md < 1e-5 * mx, "vlayernorm_backward N%d C%d: %g", N, C, md / mx);
  free(x), free(dy), free(y), free(w), free(b), free(mean), free(rstd), free(m2), free(r2), free(d1), free(d2), free(p);
}

int main(void) {
  test_convert();
  if (!dlut_bf16_available()) {
    printf("test_bf16: this CPU has neither AVX512-BF16 nor AMX-BF16: fast path not checked here\n");
    return test_summary("bf16");
  }
  test_vexp();
  test_fused(37, 64);
  test_fused(50, 100);
  test_fused(16, 1024);
  int shapes[][3] = {{1, 1, 1}, {16, 16, 32}, {32, 32, 32}, {33, 17, 31}, {50, 70, 64}, {77, 130, 100}, {5, 300, 200}};
  int hw = dlut_bf16_select(-1);
  /* every kernel this CPU has: AVX512-BF16 always, AMX where present */
  for (int lv = DLUT_BF16_AVX512; lv <= hw; lv++) {
    CHECK(dlut_bf16_select(lv) == lv);
    CHECK(dlut_bf16_available() == lv);
    printf("test_bf16: kernel %s\n", dlut_bf16_kernel_name(lv));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
          gemm_case(shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, (int)(s + ta) & 1, (int)(s + tb) & 1, 0);
    int nt = dlut_threads_get();
    for (int t = 2; t <= 3; t++) {
      dlut_threads_set(t);
      gemm_case(200, 96, 64, 0, 1, 0, 1, 1);  /* split by n */
      gemm_case(300, 40, 96, 1, 0, 1, 0, 1);  /* split by m */
      gemm_case(130, 130, 70, 0, 0, 1, 1, 1); /* uneven */
    }
    dlut_threads_set(nt);
  }
  CHECK(dlut_bf16_select(DLUT_BF16_AMX + 5) == hw); /* capped by the hardware */
  CHECK(dlut_bf16_select(-1) == hw);
  return test_summary("bf16");
}
