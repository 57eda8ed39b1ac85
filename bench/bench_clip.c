/* bench/bench_clip.c - speed and memory of the CLIP vision tower at the
 * real shapes of ViT-B/32, ViT-B/16 and ViT-L/14-336 (random weights made
 * in memory, no download), forward and forward+backward to the pixels, on
 * 1 and 2 threads (or the counts given).
 *
 * Times are the minimum over repetitions (the least disturbed run on a
 * shared machine). Throughput is reported as achieved GFLOP/s (analytic FLOP count of the
 * tower, multiply-add = 2) and as a fraction of the rate the same OpenBLAS
 * reaches on the tower's largest GEMM shape (T x C) @ (C x I) measured in
 * the same run at the same thread count (OpenBLAS doing its own threading
 * there; the model splits GEMMs over the dlut pool with single-threaded
 * OpenBLAS inside). The reference backend (naive
 * loops) is timed once on ViT-B/32 forward for the fast/naive ratio. Each
 * model runs in a child process so its peak RSS (getrusage ru_maxrss, via
 * wait4) is its own.
 *
 *   build/bench/bench_clip                 all three models, 1 and 2 threads
 *   build/bench/bench_clip ViT-B/16 2      one model, one thread count
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clip/clip_internal.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/parallel.h"
#include "dlut/tensor.h"

#include <cblas.h> /* last: it pulls in complex.h, whose I macro would clash */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Process CPU time (all threads). On a shared machine the wall clock
 * includes time slices given to other processes; rates per CPU-second are
 * reported next to the wall-clock ones so the ratios stay meaningful. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
  double wall, cpu; /* seconds per repetition */
} timing;

/* FLOPs of one vision forward; the input-gradient backward does the same
 * GEMMs again for every Linear and the patch conv, and twice the attention
 * products (dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q). */
static void vision_flops(const dlut_clip_config *c, double *fwd, double *bwd) {
  double G = c->image_size / c->patch_size, P = G * G, T = 1 + P, C = c->vision.width, H = c->vision.intermediate;
  double K = 3.0 * c->patch_size * c->patch_size, L = c->vision.layers, E = c->projection_dim;
  double lin = 2 * T * C * 3 * C + 2 * T * C * C + 2 * 2 * T * C * H; /* qkv, out, fc1+fc2 */
  double att = 2 * 2 * T * T * C;                                     /* QK^T and PV over all heads */
  *fwd = 2 * P * K * C + L * (lin + att) + 2 * C * E;
  *bwd = 2 * P * K * C + L * (lin + 2 * att) + 2 * C * E;
}

/* OpenBLAS on an (M x K) @ (K x N) GEMM: seconds per call, wall and CPU. */
static timing sgemm_time(int M, int K, int N) {
  float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
  for (int i = 0; i < M * K; i++) a[i] = (float)(i % 17) * 0.01f;
  for (int i = 0; i < K * N; i++) b[i] = (float)(i % 13) * 0.01f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N); /* warm up */
  /* minimum over repetitions: the least disturbed run on a shared machine */
  timing r = {1e30, 1e30};
  double start = now();
  for (int reps = 0; reps < 3 || now() - start < 0.5; reps++) {
    double t0 = now(), c0 = cpu_now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, a, K, b, K, 0, c, N);
    double w = now() - t0, cc = cpu_now() - c0;
    if (w < r.wall) r.wall = w;
    if (cc < r.cpu) r.cpu = cc;
  }
  free(a), free(b), free(c);
  return r;
}

static int run_model(const char *name, int threads, int with_ref) {
  dlut_clip_config cfg;
  if (dlut_clip_config_preset(name, &cfg) != 0) {
    fprintf(stderr, "%s\n", dlut_last_error());
    return 1;
  }
  dlut_threads_set(threads);
  dlut_tensor_threads_sync();
  double t0 = now();
  dlut_clip *m = dlut_clip_create_random(&cfg, 1);
  if (!m) {
    fprintf(stderr, "%s: %s\n", name, dlut_last_error());
    return 1;
  }
  double t_init = now() - t0;
  const dlut_clip_info *info = dlut_clip_get_info(m);
  int S = info->image_size, E = info->embed_dim, T = 1 + info->n_patch_tokens;
  float *pix = malloc(sizeof(float) * 3 * S * S), *dpix = malloc(sizeof(float) * 3 * S * S);
  float *e = malloc(sizeof(float) * E), *de = malloc(sizeof(float) * E);
  for (int i = 0; i < 3 * S * S; i++) pix[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  for (int i = 0; i < E; i++) de[i] = (i % 3) - 1.0f;
  double ff, fb;
  vision_flops(&cfg, &ff, &fb);
  int M = T, K = cfg.vision.width, N = cfg.vision.intermediate;
  double gf = 2.0 * M * K * N * 1e-9;
  dlut_clip_encode_image(m, pix, e); /* warm up */
  dlut_clip_image_backward(m, de, dpix);
  /* minimum over repetitions (at least 3 and 1.5 s), fwd+bwd first */
  timing tf = {1e30, 1e30}, tb = {1e30, 1e30};
  for (int pass = 0; pass < 2; pass++) {
    timing *dst = pass == 0 ? &tb : &tf;
    double start = now();
    for (int reps = 0; reps < 3 || now() - start < 1.5; reps++) {
      double t0w = now(), c0 = cpu_now();
      dlut_clip_encode_image(m, pix, e);
      if (pass == 0) dlut_clip_image_backward(m, de, dpix);
      double w = now() - t0w, cc = cpu_now() - c0;
      if (w < dst->wall) dst->wall = w;
      if (cc < dst->cpu) dst->cpu = cc;
    }
  }
  /* the peer: OpenBLAS threading itself, measured after the model (its idle
   * workers keep spinning for a while after a threaded call, which would
   * steal CPU from the model's pool if measured before) */
  openblas_set_num_threads(threads);
  timing g2 = sgemm_time(M, K, N);
  double sg_wall = gf / g2.wall, sg_cpu = gf / g2.cpu;
  double gfw = ff * 1e-9 / tf.wall, gbw = (ff + fb) * 1e-9 / tb.wall;
  double gfc = ff * 1e-9 / tf.cpu, gbc = (ff + fb) * 1e-9 / tb.cpu;
  printf("%-13s %d thr  precision %s (DLUT_CLIP_PRECISION=%s)\n", name, threads, clip_vfast_used(m) ? "bf16" : "fp32",
         getenv("DLUT_CLIP_PRECISION") ? getenv("DLUT_CLIP_PRECISION") : "auto");
  printf(
      "%-13s %d thr  fwd %7.1f ms %6.1f GFLOP/s = %3.0f%% of sgemm   fwd+bwd %7.1f ms %6.1f GFLOP/s = %3.0f%%   "
      "sgemm %dx%dx%d %6.1f GFLOP/s | per CPU-second: fwd %3.0f%%, fwd+bwd %3.0f%% of sgemm [%.1f+%.1f GFLOP]\n",
      name, threads, tf.wall * 1e3, gfw, 100 * gfw / sg_wall, tb.wall * 1e3, gbw, 100 * gbw / sg_wall, M, K, N, sg_wall,
      100 * gfc / sg_cpu, 100 * gbc / sg_cpu, ff * 1e-9, fb * 1e-9);
  double t_fwd = tf.wall;
  (void)t_init;
  if (with_ref) {
    m->be = dlut_tensor_backend_ref(); /* (the reference backend is always fp32) */
    t0 = now();
    double c0 = cpu_now();
    dlut_clip_encode_image(m, pix, e);
    double t_ref = now() - t0, c_ref = cpu_now() - c0;
    printf("%-13s %d thr  reference backend fwd %8.1f ms: cpu backend is %.0fx faster (%.0fx per CPU-second)\n", name,
           threads, t_ref * 1e3, t_ref / t_fwd, c_ref / tf.cpu);
  }
  fflush(stdout);
  free(pix), free(dpix), free(e), free(de);
  dlut_clip_free(m);
  return 0;
}

/* Run one configuration in a child to get its own peak RSS. */
static int spawn(const char *name, int threads, int with_ref) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) _exit(run_model(name, threads, with_ref));
  int st = 0;
  struct rusage ru;
  if (wait4(pid, &st, 0, &ru) < 0) return 1;
  printf("%-13s %d thr  peak RSS %.0f MiB\n", name, threads, ru.ru_maxrss / 1024.0);
  fflush(stdout);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv) {
  const char *models[] = {"ViT-B/32", "ViT-B/16", "ViT-L/14-336"};
  int threads[2] = {1, 2}, nt = 2, rc = 0;
  if (argc >= 2) {
    models[0] = argv[1];
    if (argc >= 3) threads[0] = atoi(argv[2]), nt = 1;
  }
  int nm = argc >= 2 ? 1 : 3;
  double la[3] = {0};
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf %lf %lf", &la[0], &la[1], &la[2]) != 3) la[0] = -1;
    fclose(f);
  }
  printf("dlut CLIP vision tower, one image, random weights (%s; load average %.1f on %ld CPUs)\n",
         openblas_get_config(), la[0], sysconf(_SC_NPROCESSORS_ONLN));
  for (int i = 0; i < nm; i++)
    for (int k = 0; k < nt; k++) rc |= spawn(models[i], threads[k], argc < 2 && i == 0 && k == 0);
  return rc;
}
