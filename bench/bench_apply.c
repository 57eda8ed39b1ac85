/* LUT application throughput: megapixels per second per thread of the fast
 * kernels (dlut_lut_apply_image) for tetrahedral and trilinear, U8 / U16 /
 * F32 RGB, at 1 and 2 threads, and the ratio against the naive reference
 * (dlut_lut_apply_image_ref) measured in the same run; plus the backward
 * pass on a 224x224 image (the grading engine's hot path).
 *
 *     build/bench/bench_apply [megapixels=16] [lut_size=33]
 *     build/bench/bench_apply --image IMG --lut LUT [--threads N] [--interp trilinear]
 *
 * The image is a smooth gradient with noise (so the tetrahedron case and the
 * cell change from pixel to pixel as in photographs, not in a constant
 * pattern the branch predictor or cache could learn); the LUT is random
 * around the identity. Each number is the best of 5 runs, timed in process
 * CPU seconds (so "per thread" = megapixels / CPU-seconds). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"

/* CPU seconds of the whole process (all threads): the machine this runs on
 * is shared, so wall time would count the time other jobs held the cores;
 * MP / CPU-seconds is the per-thread throughput whatever the thread count. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t g_rng = 12345;
static uint32_t rnd(void) {
  g_rng ^= g_rng << 13, g_rng ^= g_rng >> 17, g_rng ^= g_rng << 5;
  return g_rng;
}

static dlut_image *make_image(int w, int h, dlut_pixel_type t) {
  dlut_image *img = calloc(1, sizeof *img);
  img->width = w, img->height = h, img->channels = 3, img->type = t;
  img->stride = (size_t)w * 3 * t;
  img->data = malloc(img->stride * h);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        double v = (c == 0 ? (double)x / w : c == 1 ? (double)y / h : 0.5 + 0.5 * ((double)x / w - (double)y / h));
        v += ((int)(rnd() % 41) - 20) / 255.0;
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        size_t i = ((size_t)y * w + x) * 3 + c;
        if (t == DLUT_PIXEL_U8)
          ((uint8_t *)img->data)[i] = (uint8_t)(v * 255 + 0.5);
        else if (t == DLUT_PIXEL_U16)
          ((uint16_t *)img->data)[i] = (uint16_t)(v * 65535 + 0.5);
        else
          ((float *)img->data)[i] = (float)v;
      }
  return img;
}

static void free_image(dlut_image *img) {
  free(img->data);
  free(img);
}

/* Best-of-5 seconds for one application. */
static double time_apply(const dlut_lut *lut, const dlut_image *src, dlut_image *dst, dlut_interp interp, int ref) {
  double best = 1e30;
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now();
    if (ref)
      dlut_lut_apply_image_ref(lut, src, dst, interp, 1.0f);
    else
      dlut_lut_apply_image(lut, src, dst, interp, 1.0f);
    double t = now() - t0;
    if (t < best) best = t;
  }
  return best;
}

/* `bench_apply --image IMG --lut LUT [--threads N] [--interp trilinear]`:
 * one line, the per-thread MP/s of applying that LUT file to that image
 * (used by bench/apply_vs_ffmpeg.sh to measure on the same data as FFmpeg). */
static int bench_files(int argc, char **argv) {
  const char *img_path = NULL, *lut_path = NULL;
  int threads = 1;
  dlut_interp interp = DLUT_INTERP_TETRAHEDRAL;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--image"))
      img_path = argv[i + 1];
    else if (!strcmp(argv[i], "--lut"))
      lut_path = argv[i + 1];
    else if (!strcmp(argv[i], "--threads"))
      threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--interp"))
      interp = strcmp(argv[i + 1], "trilinear") ? DLUT_INTERP_TETRAHEDRAL : DLUT_INTERP_TRILINEAR;
  }
  dlut_image *img = img_path ? dlut_image_load(img_path) : NULL;
  dlut_lut *lut = lut_path ? dlut_lut_load(lut_path) : NULL;
  if (!img || !lut) {
    fprintf(stderr, "bench_apply: %s\n", (img_path && lut_path) ? dlut_last_error() : "need --image and --lut");
    dlut_image_free(img);
    dlut_lut_free(lut);
    return 1;
  }
  dlut_image *dst = dlut_image_alloc(img->width, img->height, img->channels, img->type);
  if (!dst) return 1;
  dlut_threads_set(threads);
  double t = time_apply(lut, img, dst, interp, 0);
  printf("%.1f\n", (double)img->width * img->height / 1e6 / t);
  dlut_image_free(dst);
  dlut_image_free(img);
  dlut_lut_free(lut);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && !strncmp(argv[1], "--", 2)) return bench_files(argc, argv);
  double mp = argc > 1 ? atof(argv[1]) : 16.0;
  int size = argc > 2 ? atoi(argv[2]) : 33;
  int side = 1;
  while ((double)side * side < mp * 1e6) side *= 2;
  int w = side, h = (int)(mp * 1e6 / side);
  if (h < 1) h = 1;
  dlut_lut *lut = dlut_lut_alloc(size, 0);
  if (!lut) return 1;
  for (size_t i = 0; i < (size_t)size * size * size * 3; i++) lut->table[i] += ((int)(rnd() % 201) - 100) / 1000.0f;
  int max_threads = dlut_threads_get();
  printf("# bench_apply: %dx%d RGB image (%.1f MP), %d-point LUT, best of 5; MP/s per thread\n", w, h,
         (double)w * h / 1e6, size);
  printf("%-12s %-5s %8s %8s %8s %10s %8s\n", "interp", "type", "1 thr", "2 thr", "ref", "fast/ref", "2thr/1thr");
  const char *tn[] = {"", "U8", "U16", "", "F32"};
  dlut_pixel_type types[] = {DLUT_PIXEL_U8, DLUT_PIXEL_U16, DLUT_PIXEL_F32};
  for (int ip = 0; ip < 2; ip++)
    for (int ti = 0; ti < 3; ti++) {
      dlut_image *src = make_image(w, h, types[ti]), *dst = make_image(w, h, types[ti]);
      double mpix = (double)w * h / 1e6;
      dlut_threads_set(1);
      double t1 = time_apply(lut, src, dst, (dlut_interp)ip, 0);
      double t2 = -1;
      if (max_threads >= 2) {
        dlut_threads_set(2);
        t2 = time_apply(lut, src, dst, (dlut_interp)ip, 0);
      }
      /* The reference is slow: time it on a slice of the image. */
      dlut_image slice = *src, dslice = *dst;
      slice.height = dslice.height = h / 16 > 0 ? h / 16 : 1;
      double tr = time_apply(lut, &slice, &dslice, (dlut_interp)ip, 1);
      double ref_mps = (double)slice.width * slice.height / 1e6 / tr;
      double f1 = mpix / t1;
      printf("%-12s %-5s %8.1f %8.1f %8.1f %9.1fx %7.0f%%\n", ip ? "trilinear" : "tetrahedral", tn[types[ti]], f1,
             t2 > 0 ? mpix / t2 : 0.0, ref_mps, f1 / ref_mps, t2 > 0 ? 100.0 * (mpix / t2) / f1 : 0.0);
      free_image(src), free_image(dst);
    }
  dlut_threads_set(0);

  /* Backward on the grading engine's working size: 224x224 inputs. */
  {
    int64_t n = 224 * 224;
    float *in = malloc(n * 3 * sizeof(float)), *dout = malloc(n * 3 * sizeof(float));
    float *din = malloc(n * 3 * sizeof(float));
    float *dtab = calloc((size_t)size * size * size * 3, sizeof(float));
    for (int64_t i = 0; i < n * 3; i++) in[i] = (rnd() % 10000) / 9999.0f, dout[i] = (rnd() % 2001) / 1000.0f - 1;
    for (int thr = 1; thr <= (max_threads >= 2 ? 2 : 1); thr++) {
      dlut_threads_set(thr);
      for (int ip = 0; ip < 2; ip++) {
        /* table only (what the grading engine asks for), table + inputs, and the reference */
        double best = 1e30, bestd = 1e30, bestr = 1e30, bestf = 1e30;
        for (int rep = 0; rep < 5; rep++) {
          double t0 = now();
          dlut_lut_apply_backward(lut, in, dout, n, (dlut_interp)ip, dtab, NULL);
          double t = now() - t0;
          if (t < best) best = t;
          t0 = now();
          dlut_lut_apply_backward(lut, in, dout, n, (dlut_interp)ip, dtab, din);
          t = now() - t0;
          if (t < bestd) bestd = t;
          t0 = now();
          dlut_lut_apply_backward_ref(lut, in, dout, n, (dlut_interp)ip, dtab, NULL);
          t = now() - t0;
          if (t < bestr) bestr = t;
          t0 = now();
          dlut_lut_apply_f32(lut, in, din, n, (dlut_interp)ip);
          t = now() - t0;
          if (t < bestf) bestf = t;
        }
        printf(
            "backward %-11s 224x224, %d thr: d_table %.3f CPU-ms (ref %.3f, %.1fx), d_table+d_in %.3f; forward %.3f\n",
            ip ? "trilinear" : "tetrahedral", thr, best * 1e3, bestr * 1e3, bestr / best, bestd * 1e3, bestf * 1e3);
      }
    }
    dlut_threads_set(0);
    free(in), free(dout), free(din), free(dtab);
  }
  dlut_lut_free(lut);
  return 0;
}
