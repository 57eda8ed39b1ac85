/* bench/bench_clip_tower.c - DLUT's vision tower as a child of
 * bench/peer_torch_vision.py, so that DLUT and the PyTorch peer are timed
 * alternately in one script on the same weights.
 *
 *   bench_clip_tower MODEL_DIR DUMP_PATH
 *
 * Loads MODEL_DIR (a Hugging Face CLIPModel folder), encodes the fixed
 * test image pix[i] = ((i * 7919) % 1000) / 500 - 1 (the same formula the
 * peer uses), backpropagates d_embed[k] = (k % 3) - 1 to the pixels, and
 * writes embed (E floats) then dL/dpixels (3 S S floats) to DUMP_PATH, so
 * the peer can check both towers compute the same thing. Then reads
 * commands from stdin, one a line, and answers each on stdout:
 *   "fb"   one forward + backward to the pixels -> "wall cpu\n" (seconds;
 *          cpu = process CPU time, all threads)
 *   "f"    one forward                          -> "wall cpu\n"
 *   "q"    exit
 * The first line printed is "ready PRECISION" (bf16 or fp32: the path the
 * forward took, DLUT_CLIP_PRECISION decides). Threads: DLUT_THREADS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip/clip_internal.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/tensor.h"

static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: bench_clip_tower MODEL_DIR DUMP_PATH\n");
    return 2;
  }
  dlut_tensor_threads_sync();
  dlut_clip *m = dlut_clip_load(argv[1]);
  if (!m) {
    fprintf(stderr, "bench_clip_tower: %s\n", dlut_last_error());
    return 1;
  }
  const dlut_clip_info *info = dlut_clip_get_info(m);
  int S = info->image_size, E = info->embed_dim, n = 3 * S * S;
  float *pix = malloc(sizeof(float) * n), *dpix = malloc(sizeof(float) * n);
  float *e = malloc(sizeof(float) * E), *de = malloc(sizeof(float) * E);
  for (int i = 0; i < n; i++) pix[i] = (float)((i * 7919) % 1000) / 500.0f - 1.0f;
  for (int i = 0; i < E; i++) de[i] = (float)(i % 3) - 1.0f;
  if (dlut_clip_encode_image(m, pix, e) != 0 || dlut_clip_image_backward(m, de, dpix) != 0) {
    fprintf(stderr, "bench_clip_tower: %s\n", dlut_last_error());
    return 1;
  }
  FILE *f = fopen(argv[2], "wb");
  if (!f || fwrite(e, sizeof(float), E, f) != (size_t)E || fwrite(dpix, sizeof(float), n, f) != (size_t)n ||
      fclose(f) != 0) {
    fprintf(stderr, "bench_clip_tower: cannot write %s\n", argv[2]);
    return 1;
  }
  printf("ready %s\n", clip_vfast_used(m) ? "bf16" : "fp32");
  fflush(stdout);
  char line[64];
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'q') break;
    int bwd = strncmp(line, "fb", 2) == 0;
    double t0 = now(), c0 = cpu_now();
    dlut_clip_encode_image(m, pix, e);
    if (bwd) dlut_clip_image_backward(m, de, dpix);
    printf("%.6f %.6f\n", now() - t0, cpu_now() - c0);
    fflush(stdout);
  }
  free(pix), free(dpix), free(e), free(de);
  dlut_clip_free(m);
  return 0;
}
