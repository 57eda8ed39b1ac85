/* bench/bench_bf16_gemm.c - the bf16 product kernels (src/tensor/bf16.c)
 * against OpenBLAS sgemm on the shapes of a CLIP vision tower, one thread,
 * alternating in one process: GFLOP/s of each and the ratio.
 *
 *   build/bench/bench_bf16_gemm [M N K ...]   (default: ViT-L/14-336's
 *                                              T = 577 products)
 *
 * Kernels timed: sgemm (fp32, the reference backend's product), the level
 * the CPU has (AMX or AVX512-BF16) and, on an AMX machine, AVX512-BF16 too.
 * Packing is outside the timing (weights are packed once; activations are
 * packed by the fused passes). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void run(int M, int N, int K) {
  float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N), *C = malloc(sizeof(float) * M * N);
  uint16_t *Ap = malloc(2 * dlut_bf16_packed_size(M, K)), *Bp = malloc(2 * dlut_bf16_packed_size(N, K));
  if (!A || !B || !C || !Ap || !Bp) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  for (long i = 0; i < (long)M * K; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (long i = 0; i < (long)K * N; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  int hw = dlut_bf16_select(-1);
  dlut_bf16_pack_a(Ap, A, K, M, K, 0);
  dlut_bf16_pack_b(Bp, B, N, K, N, 0);
  double flop = 2.0 * M * N * K;
  double best[3] = {1e9, 1e9, 1e9};
  int reps = (int)(4e9 / flop) + 1;
  for (int round = 0; round < 5; round++) {
    double t = now();
    for (int r = 0; r < reps; r++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
    t = (now() - t) / reps;
    if (t < best[0]) best[0] = t;
    for (int lv = DLUT_BF16_AVX512; lv <= hw; lv++) {
      dlut_bf16_select(lv);
      t = now();
      for (int r = 0; r < reps; r++) dlut_bf16_gemm(C, N, Ap, Bp, M, N, K, 1, 0, NULL);
      t = (now() - t) / reps;
      if (t < best[lv]) best[lv] = t;
    }
    dlut_bf16_select(-1);
  }
  printf("%5d x %5d x %5d  sgemm %6.1f GFLOP/s", M, N, K, flop / best[0] * 1e-9);
  for (int lv = DLUT_BF16_AVX512; lv <= hw; lv++)
    printf("  %s %6.1f GFLOP/s (%.2fx sgemm)", dlut_bf16_kernel_name(lv), flop / best[lv] * 1e-9, best[0] / best[lv]);
  printf("\n");
  free(A), free(B), free(C), free(Ap), free(Bp);
}

int main(int argc, char **argv) {
  openblas_set_num_threads(1);
  dlut_threads_set(1);
  if (dlut_bf16_available() == DLUT_BF16_NONE) {
    printf("this CPU has neither AMX-BF16 nor AVX512-BF16: nothing to compare\n");
    return 0;
  }
  printf("one thread; bf16 level %s\n", dlut_bf16_kernel_name(dlut_bf16_available()));
  if (argc >= 4) {
    for (int i = 1; i + 2 < argc; i += 3) run(atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]));
    return 0;
  }
  run(577, 3072, 1024); /* qkv */
  run(577, 1024, 1024); /* out_proj */
  run(577, 4096, 1024); /* fc1 */
  run(577, 1024, 4096); /* fc2 */
  run(577, 577, 64);    /* attention S = Q K^T, one head */
  run(577, 64, 577);    /* P V */
  return 0;
}
