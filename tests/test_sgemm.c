/* tests/test_sgemm.c - the fp32 products of dlut/tensor.h (src/tensor/sgemm.c).
 *
 * Every kernel the CPU has (OpenBLAS cblas_sgemm; the AVX-512F kernel where
 * dlut_sgemm_hw() allows it) against the naive reference dlut_sgemm_ref
 * (double sums), row-major, for all four transpose combinations, beta 0
 * (C full of NaN beforehand: it must never be read), 1 and 0.5, alpha 1 and
 * -0.75, on shapes with every edge of the 14 x 32 micro-tile and of the
 * 384 x 384 cache blocks (M, N, K in 1, 7, 15, 17, 33, 100, ... 800) and
 * leading dimensions larger than the matrices (odd ones). Tolerance: each
 * element within 1e-5 of sum_k |a_mk||b_kn| |alpha| (+ |beta c| rounding),
 * the worst case of fp32 accumulation order is ~K 2^-24 of that sum and
 * K <= 800 here. Elements of C outside the M x N block (the ldc padding)
 * must be untouched. Also: the selection (env rule, select, names), and the
 * products on a pre-packed B (dlut_sgemm_pack_b, dlut_sgemm_packed and
 * _par): against the reference within the same bound, and with the AVX-512
 * kernel bit for bit equal to the unpacked product, at 1..3 threads. */
#include <stdint.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"
#include "test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static int g_level;    /* the kernel under test */
static double g_worst; /* worst error / bound over all cases of the current kernel */

static int gemm_case(int M, int N, int K, int ta, int tb, float alpha, float beta) {
  int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
  size_t na = (size_t)lda * (ta ? K : M), nb = (size_t)ldb * (tb ? N : K), nc = (size_t)ldc * M;
  float *A = malloc(sizeof(float) * (na ? na : 1)), *B = malloc(sizeof(float) * (nb ? nb : 1));
  float *C = malloc(sizeof(float) * nc), *R = malloc(sizeof(float) * nc), *C0 = malloc(sizeof(float) * nc);
  if (!A || !B || !C || !R || !C0) {
    CHECK(!"out of memory");
    exit(1);
  }
  for (size_t i = 0; i < na; i++) A[i] = frand();
  for (size_t i = 0; i < nb; i++) B[i] = frand();
  for (size_t i = 0; i < nc; i++) C0[i] = frand();
  for (size_t i = 0; i < nc; i++) {
    int n = (int)(i % ldc);
    /* beta 0: the block holds NaN (never to be read); the padding keeps its value */
    C[i] = R[i] = beta == 0.0f && n < N ? NAN : C0[i];
  }
  dlut_sgemm_with(g_level, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  dlut_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
  int bad = 0;
  g_test_checks++;
  for (int m = 0; m < M && bad < 3; m++)
    for (int n = 0; n < ldc; n++) {
      size_t i = (size_t)m * ldc + n;
      if (n >= N) { /* the padding must be untouched */
        if (C[i] != C0[i]) {
          CHECK_MSG(C[i] == C0[i], "%dx%dx%d ta%d tb%d: padding (%d,%d) changed", M, N, K, ta, tb, m, n);
          bad++;
        }
        continue;
      }
      double s = 0;
      for (int k = 0; k < K; k++)
        s += fabs((double)(ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]) *
                  (tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n]));
      double bound = 1e-5 * (s * fabs(alpha) + (beta != 0.0f ? fabs(beta * C0[i]) : 0.0)) + 1e-30;
      double err = fabs((double)C[i] - R[i]);
      if (!(err <= bound)) {
        CHECK_MSG(err <= bound, "%dx%dx%d ta%d tb%d alpha %g beta %g: C(%d,%d) = %.9g, ref %.9g (bound %.3g)", M, N, K,
                  ta, tb, alpha, beta, m, n, C[i], R[i], bound);
        bad++;
        break;
      }
      if (err / bound > g_worst) g_worst = err / bound;
    }
  free(A), free(B), free(C), free(R), free(C0);
  return bad;
}

/* All transposes, alpha and beta, on one shape. */
static void gemm_shape(int M, int N, int K) {
  static const float alphas[2] = {1.0f, -0.75f}, betas[3] = {0.0f, 1.0f, 0.5f};
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++) gemm_case(M, N, K, ta, tb, alphas[a], betas[b]);
}

static void test_kernel(int level) {
  g_level = level;
  g_worst = 0;
  int fails0 = g_test_failures;
  static const int dims[] = {1, 7, 15, 17, 33, 100};
  int nd = (int)(sizeof dims / sizeof dims[0]);
  for (int i = 0; i < nd; i++)
    for (int j = 0; j < nd; j++)
      for (int k = 0; k < nd; k++) {
        /* the full cube on a subset of alpha/beta/transposes, to keep it quick */
        int M = dims[i], N = dims[j], K = dims[k];
        int ta = (i + k) & 1, tb = (j + k) & 1;
        gemm_case(M, N, K, ta, tb, (i + j) & 1 ? -0.75f : 1.0f, (float)((i + j + k) % 3) * 0.5f);
      }
  /* everything on shapes across the micro-tile and cache-block edges */
  gemm_shape(14, 32, 16);
  gemm_shape(28, 64, 1);
  gemm_shape(13, 31, 383);
  gemm_shape(15, 33, 385);
  gemm_shape(29, 17, 100);
  gemm_shape(100, 400, 33);             /* two N blocks */
  gemm_shape(57, 769, 17);              /* three N blocks, a 1-column edge panel */
  gemm_shape(33, 65, 800);              /* three K blocks */
  gemm_shape(197, 96, 64);              /* attention-like: T x hd x ... */
  gemm_case(0, 5, 5, 0, 0, 1.0f, 0.0f); /* empty: nothing written */
  gemm_case(5, 5, 0, 0, 0, 1.0f, 0.0f); /* K = 0: C = beta C (here 0) */
  gemm_case(5, 5, 0, 1, 1, 1.0f, 0.5f);
  printf("kernel %s: worst error %.3f of the bound%s\n", dlut_sgemm_kernel_name(level), g_worst,
         g_test_failures > fails0 ? " (FAILURES)" : "");
}

/* The same product split over the pool by rows (the CPU backend's use):
 * each thread's own packing buffer. */
typedef struct {
  const float *A, *B;
  float *C;
  int M, N, K;
} par_ctx;

static void par_rows(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  par_ctx *c = vctx;
  dlut_sgemm(0, 1, (int)(r1 - r0), c->N, c->K, 1.0f, c->A + r0 * c->K, c->K, c->B, c->K, 0.0f, c->C + r0 * c->N, c->N);
}

static void test_threads(int level) {
  CHECK(dlut_sgemm_select(level) == level);
  int M = 150, N = 70, K = 90;
  float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K);
  float *C = malloc(sizeof(float) * M * N), *R = malloc(sizeof(float) * M * N);
  for (int i = 0; i < M * K; i++) A[i] = frand();
  for (int i = 0; i < N * K; i++) B[i] = frand();
  dlut_sgemm_ref(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, R, N);
  for (int nt = 1; nt <= 3; nt++) {
    dlut_threads_set(nt);
    par_ctx c = {A, B, C, M, N, K};
    dlut_parallel_for(M, 16, par_rows, &c);
    double md = 0;
    for (int i = 0; i < M * N; i++) md = fmax(md, fabs((double)C[i] - R[i]));
    CHECK_MSG(md < 1e-4, "%s, %d threads: max error %g", dlut_sgemm_kernel_name(level), nt, md);
  }
  free(A), free(B), free(C), free(R);
}

/* ==== Pre-packed B ==== */

static float *alloc_packed(int K, int N) {
  size_t n = dlut_sgemm_packed_size(K, N);
  float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
  if (!p) {
    CHECK(!"out of memory");
    exit(1);
  }
  return p;
}

/* dlut_sgemm_packed_with(level) on B packed by dlut_sgemm_pack_b_with(level)
 * against dlut_sgemm_ref on B (the bound of gemm_case), and where level is
 * the AVX-512 kernel: the packing equal to the plain C one float for float
 * (padding zeros included) and C equal to dlut_sgemm_with(AVX512) on the
 * unpacked B bit for bit; _par (1..3 threads) equal to the single call. */
static int packed_case(int level, int M, int N, int K, int ta, int tb, float alpha, float beta) {
  int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 7;
  size_t na = (size_t)lda * (ta ? K : M), nb = (size_t)ldb * (tb ? N : K), nc = (size_t)ldc * M;
  float *A = malloc(sizeof(float) * (na ? na : 1)), *B = malloc(sizeof(float) * (nb ? nb : 1));
  float *C = malloc(sizeof(float) * nc), *R = malloc(sizeof(float) * nc), *C0 = malloc(sizeof(float) * nc);
  float *U = malloc(sizeof(float) * nc), *P = malloc(sizeof(float) * nc);
  float *Bp = alloc_packed(K, N), *Bc = alloc_packed(K, N);
  if (!A || !B || !C || !R || !C0 || !U || !P) {
    CHECK(!"out of memory");
    exit(1);
  }
  size_t np = dlut_sgemm_packed_size(K, N);
  CHECK(np == (size_t)K * ((N + 31) / 32 * 32));
  for (size_t i = 0; i < na; i++) A[i] = frand();
  for (size_t i = 0; i < nb; i++) B[i] = frand();
  for (size_t i = 0; i < nc; i++) C0[i] = frand();
  for (size_t i = 0; i < nc; i++) {
    int n = (int)(i % ldc);
    C[i] = R[i] = U[i] = P[i] = beta == 0.0f && n < N ? NAN : C0[i];
  }
  for (size_t i = 0; i < np; i++) Bp[i] = Bc[i] = NAN; /* every float must be written */
  dlut_sgemm_pack_b_with(level, Bp, B, ldb, tb, K, N);
  dlut_sgemm_packed_with(level, ta, M, N, K, alpha, A, lda, Bp, beta, C, ldc);
  dlut_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
  int bad = 0;
  g_test_checks++;
  if (level >= DLUT_SGEMM_AVX512) {
    dlut_sgemm_pack_b_with(DLUT_SGEMM_BLAS, Bc, B, ldb, tb, K, N);
    CHECK_MSG(memcmp(Bp, Bc, np * sizeof(float)) == 0, "%dx%d tb%d: AVX-512 packing differs from the C one", K, N, tb);
    dlut_sgemm_with(level, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, U, ldc);
    CHECK_MSG(memcmp(C, U, nc * sizeof(float)) == 0 || M == 0, "%dx%dx%d ta%d tb%d: packed != unpacked AVX-512", M, N,
              K, ta, tb);
  } else {
    for (size_t i = 0; i < np; i++)
      if (!(Bp[i] == Bp[i])) {
        CHECK_MSG(0, "%dx%d tb%d: packed float %zu not written", K, N, tb, i);
        break;
      }
  }
  for (int nt = 1; nt <= 3 && level >= DLUT_SGEMM_AVX512; nt++) {
    dlut_threads_set(nt);
    for (size_t i = 0; i < nc; i++) P[i] = beta == 0.0f && (int)(i % ldc) < N ? NAN : C0[i];
    dlut_sgemm_packed_par(ta, M, N, K, alpha, A, lda, Bp, beta, P, ldc);
    CHECK_MSG(memcmp(C, P, nc * sizeof(float)) == 0, "%dx%dx%d ta%d tb%d: _par at %d threads differs", M, N, K, ta, tb,
              nt);
  }
  dlut_threads_set(0);
  for (int m = 0; m < M && bad < 3; m++)
    for (int n = 0; n < ldc; n++) {
      size_t i = (size_t)m * ldc + n;
      if (n >= N) {
        if (C[i] != C0[i]) {
          CHECK_MSG(C[i] == C0[i], "packed %dx%dx%d ta%d tb%d: padding (%d,%d) changed", M, N, K, ta, tb, m, n);
          bad++;
        }
        continue;
      }
      double s = 0;
      for (int k = 0; k < K; k++)
        s += fabs((double)(ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]) *
                  (tb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n]));
      double bound = 1e-5 * (s * fabs(alpha) + (beta != 0.0f ? fabs(beta * C0[i]) : 0.0)) + 1e-30;
      double err = fabs((double)C[i] - R[i]);
      if (!(err <= bound)) {
        CHECK_MSG(err <= bound, "packed %s %dx%dx%d ta%d tb%d alpha %g beta %g: C(%d,%d) = %.9g, ref %.9g",
                  dlut_sgemm_kernel_name(level), M, N, K, ta, tb, alpha, beta, m, n, C[i], R[i]);
        bad++;
        break;
      }
      if (err / bound > g_worst) g_worst = err / bound;
    }
  free(A), free(B), free(C), free(R), free(C0), free(U), free(P), free(Bp), free(Bc);
  return bad;
}

static void test_packed(int level) {
  static const float alphas[2] = {1.0f, -0.75f}, betas[3] = {0.0f, 1.0f, 0.5f};
  /* edges of the 14 x 32 tile and the 384 blocks; the Linear shapes of a
   * small tower (T x 3C x C forward, T x C x 3C backward) */
  static const int shapes[][3] = {{1, 1, 1},     {7, 15, 17},    {14, 32, 16},  {13, 31, 383}, {15, 33, 385},
                                  {29, 17, 100}, {100, 400, 33}, {57, 769, 17}, {33, 65, 800}, {197, 96, 64},
                                  {50, 96, 32},  {50, 32, 96},   {3, 1000, 40}, {300, 40, 100}};
  g_level = level;
  g_worst = 0;
  int fails0 = g_test_failures, n = (int)(sizeof shapes / sizeof shapes[0]);
  for (int s = 0; s < n; s++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (int a = 0; a < 2; a++)
          for (int b = 0; b < 3; b++)
            if (s < 4 || (a + b + ta + tb + s) % 3 == 0 || (a == 0 && b == 1))
              packed_case(level, shapes[s][0], shapes[s][1], shapes[s][2], ta, tb, alphas[a], betas[b]);
  packed_case(level, 0, 5, 5, 0, 0, 1.0f, 0.0f); /* empty: nothing written */
  packed_case(level, 5, 5, 0, 0, 0, 1.0f, 0.0f); /* K = 0: C = beta C */
  packed_case(level, 5, 5, 0, 1, 1, 1.0f, 0.5f);
  printf("packed B, %s: worst error %.3f of the bound%s\n", level >= DLUT_SGEMM_AVX512 ? "avx512" : "plain C", g_worst,
         g_test_failures > fails0 ? " (FAILURES)" : "");
}

int main(void) {
  int hw = dlut_sgemm_hw(), def = dlut_sgemm_kernel();
  printf("sgemm: hardware allows %s, default %s (DLUT_SGEMM_KERNEL=%s)\n", dlut_sgemm_kernel_name(hw),
         dlut_sgemm_kernel_name(def), getenv("DLUT_SGEMM_KERNEL") ? getenv("DLUT_SGEMM_KERNEL") : "");
  CHECK(def >= DLUT_SGEMM_BLAS && def <= hw);
  CHECK(strcmp(dlut_sgemm_kernel_name(DLUT_SGEMM_BLAS), "blas") == 0);
  CHECK(strcmp(dlut_sgemm_kernel_name(DLUT_SGEMM_AVX512), "avx512") == 0);
  CHECK(dlut_sgemm_select(DLUT_SGEMM_AVX512 + 1) == hw); /* capped by the hardware */
  for (int level = DLUT_SGEMM_BLAS; level <= hw; level++) {
    test_kernel(level);
    test_threads(level);
    test_packed(level);
  }
  CHECK(dlut_sgemm_select(-1) == def);
  if (hw < DLUT_SGEMM_AVX512) printf("this CPU has no AVX-512F: only the OpenBLAS path was tested\n");
  return test_summary("sgemm");
}
