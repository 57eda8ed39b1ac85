/* bench/bench_sgemm.c - the fp32 product kernels of dlut_sgemm
 * (src/tensor/sgemm.c: our AVX-512F kernel, OpenBLAS cblas_sgemm) on the
 * shapes of a CLIP vision tower, alternating in one process: GFLOP/s of
 * each, the median over rounds, and the ratio.
 *
 *   build/bench/bench_sgemm [ROUNDS] [B16|L14|M N K TA TB ...]
 *
 * Default: ViT-B/16 (T = 197, width 768, MLP 3072) and ViT-L/14-336
 * (T = 577, width 1024, MLP 4096), at one thread and at two. Shapes: the
 * Linear forward out = inp @ w^T (NT: q/k/v as one product, out_proj,
 * fc1, fc2), the Linear input-gradient dinp += dout @ w (NN), and one
 * attention head's products (hd = 64): S = Q K^T (NT), O = P V (NN),
 * dV += P^T dO (TN); for the Linear shapes also the AVX-512 kernel on B
 * packed once beforehand (dlut_sgemm_packed, a model's pre-packed weight;
 * here B stays in cache between calls, unlike a tower's weights, which
 * stream from memory). Two threads split C as dlut_sgemm_par
 * does (columns when N >= M, else rows; OpenBLAS single-threaded inside
 * each block); attention heads run one per thread there, so their
 * two-thread figure is one product per thread side by side. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct {
  int level, M, N, K, ta, tb, lda, ldb, ldc, by_rows, heads;
  float beta;
  const float *A, *B;
  float *C;
  const float *Bp; /* op(B) pre-packed (dlut_sgemm_pack_b), for the "packed" timing (level 2), or NULL */
} job;

/* The CPU backend's split: block b of C (columns or rows), or a whole
 * product per task (heads). */
static void run_block(void *ctx, int64_t b0, int64_t b1, int thread) {
  const job *g = ctx;
  if (g->heads) {
    for (int64_t h = b0; h < b1; h++)
      dlut_sgemm_with(g->level, g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->B, g->ldb, g->beta,
                      g->C + (size_t)thread * g->M * g->ldc, g->ldc);
    return;
  }
  int n = (int)(b1 - b0);
  if (g->by_rows) {
    const float *A = g->ta ? g->A + b0 : g->A + b0 * g->lda;
    dlut_sgemm_with(g->level, g->ta, g->tb, n, g->N, g->K, 1.0f, A, g->lda, g->B, g->ldb, g->beta, g->C + b0 * g->ldc,
                    g->ldc);
  } else {
    const float *B = g->tb ? g->B + b0 * g->ldb : g->B + b0;
    dlut_sgemm_with(g->level, g->ta, g->tb, g->M, n, g->K, 1.0f, g->A, g->lda, B, g->ldb, g->beta, g->C + b0, g->ldc);
  }
}

static void run_once(job *g, int nt) {
  if (g->level == 2) { /* the pre-packed B entry points, split as dlut_sgemm_par */
    if (nt == 1)
      dlut_sgemm_packed(g->ta, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->Bp, g->beta, g->C, g->ldc);
    else
      dlut_sgemm_packed_par(g->ta, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->Bp, g->beta, g->C, g->ldc);
    return;
  }
  if (nt == 1) {
    dlut_sgemm_with(g->level, g->ta, g->tb, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->B, g->ldb, g->beta, g->C, g->ldc);
    return;
  }
  if (g->heads) {
    dlut_parallel_for(nt, 1, run_block, g);
    return;
  }
  g->by_rows = g->M > g->N;
  int64_t len = g->by_rows ? g->M : g->N;
  int64_t grain = ((len + nt - 1) / nt + 15) & ~(int64_t)15;
  dlut_parallel_for(len, grain, run_block, g);
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void bench(const char *name, int M, int N, int K, int ta, int tb, float beta, int heads, int nt, int rounds) {
  int lda = ta ? M : K, ldb = tb ? K : N, ldc = N;
  size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N * (heads ? nt : 1);
  float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb), *C = malloc(sizeof(float) * nc);
  if (!A || !B || !C) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (size_t i = 0; i < na; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < nb; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  memset(C, 0, sizeof(float) * nc);
  job g = {0, M, N, K, ta, tb, lda, ldb, ldc, 0, heads, beta, A, B, C, NULL};
  dlut_threads_set(nt);
  double flop = 2.0 * M * N * K * (heads ? nt : 1);
  int reps = (int)(0.6e9 * nt / flop) + 1; /* ~5-10 ms per timing */
  int hw = dlut_sgemm_hw(), top = hw;
  float *Bp = NULL;
  if (hw >= DLUT_SGEMM_AVX512 && !heads && (Bp = aligned_alloc(64, dlut_sgemm_packed_size(K, N) * sizeof(float)))) {
    dlut_sgemm_pack_b(Bp, B, ldb, tb, K, N); /* B as a weight packed once */
    g.Bp = Bp;
    top = 2;
  }
  double *t[3];
  for (int i = 0; i < 3; i++) t[i] = malloc(sizeof(double) * rounds);
  for (int lv = 0; lv <= top; lv++) { /* warm-up: packing buffers, pages */
    g.level = lv;
    run_once(&g, nt);
  }
  for (int r = 0; r < rounds; r++)
    for (int lv = 0; lv <= top; lv++) {
      g.level = lv;
      double t0 = now();
      for (int i = 0; i < reps; i++) run_once(&g, nt);
      t[lv][r] = (now() - t0) / reps;
    }
  printf("%-14s %d thr %5d x %5d x %5d %s%s  blas %6.1f GFLOP/s", name, nt, M, N, K, ta ? "T" : "N", tb ? "T" : "N",
         (qsort(t[0], rounds, sizeof(double), cmp_d), flop / t[0][rounds / 2] * 1e-9));
  if (hw >= DLUT_SGEMM_AVX512) {
    qsort(t[1], rounds, sizeof(double), cmp_d);
    printf("  avx512 %6.1f GFLOP/s  %.2fx", flop / t[1][rounds / 2] * 1e-9, t[0][rounds / 2] / t[1][rounds / 2]);
  }
  if (top == 2) {
    qsort(t[2], rounds, sizeof(double), cmp_d);
    printf("  packed B %6.1f GFLOP/s  %.2fx", flop / t[2][rounds / 2] * 1e-9, t[0][rounds / 2] / t[2][rounds / 2]);
  }
  printf("\n");
  fflush(stdout);
  free(t[0]), free(t[1]), free(t[2]), free(Bp);
  free(A), free(B), free(C);
}

static void tower(const char *tag, int T, int W, int H, int nt, int rounds) {
  char n[64];
#define NAME(s) (snprintf(n, sizeof n, "%s %s", tag, s), n)
  bench(NAME("qkv"), T, 3 * W, W, 0, 1, 1.0f, 0, nt, rounds);
  bench(NAME("out_proj"), T, W, W, 0, 1, 1.0f, 0, nt, rounds);
  bench(NAME("fc1"), T, H, W, 0, 1, 1.0f, 0, nt, rounds);
  bench(NAME("fc2"), T, W, H, 0, 1, 1.0f, 0, nt, rounds);
  bench(NAME("qkv bwd"), T, W, 3 * W, 0, 0, 1.0f, 0, nt, rounds);
  bench(NAME("out_proj bwd"), T, W, W, 0, 0, 1.0f, 0, nt, rounds);
  bench(NAME("fc1 bwd"), T, W, H, 0, 0, 1.0f, 0, nt, rounds);
  bench(NAME("fc2 bwd"), T, H, W, 0, 0, 1.0f, 0, nt, rounds);
  bench(NAME("att QK^T"), T, T, 64, 0, 1, 0.0f, 1, nt, rounds);
  bench(NAME("att PV"), T, 64, T, 0, 0, 0.0f, 1, nt, rounds);
  bench(NAME("att P^T dO"), T, 64, T, 1, 0, 1.0f, 1, nt, rounds);
#undef NAME
}

int main(int argc, char **argv) {
  openblas_set_num_threads(1);
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  if (rounds < 1) rounds = 1;
  printf("OpenBLAS core %s; AVX-512F kernel %s; default %s; median of %d alternating rounds\n", openblas_get_corename(),
         dlut_sgemm_hw() >= DLUT_SGEMM_AVX512 ? "available" : "not available",
         dlut_sgemm_kernel_name(dlut_sgemm_kernel()), rounds);
  if (argc >= 8) {
    for (int i = 2; i + 4 < argc; i += 5)
      for (int nt = 1; nt <= 2; nt++)
        bench("custom", atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]), atoi(argv[i + 3]), atoi(argv[i + 4]), 1.0f,
              0, nt, rounds);
    return 0;
  }
  int b16 = argc <= 2 || strcmp(argv[2], "B16") == 0, l14 = argc <= 2 || strcmp(argv[2], "L14") == 0;
  for (int nt = 1; nt <= 2; nt++) {
    if (b16) tower("B/16", 197, 768, 3072, nt, rounds);
    if (l14) tower("L/14-336", 577, 1024, 4096, nt, rounds);
  }
  return 0;
}
