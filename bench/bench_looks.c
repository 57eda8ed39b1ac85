/* Offline looks speed: prompt -> LUT, and prompt -> graded 12-megapixel
 * photo with the split between decode, look, apply and encode.
 *
 *     build/bench/bench_looks [PHOTO]
 *
 * 1. Parse alone, bake alone (33^3) and both, for a set of prompts, in
 *    wall milliseconds (median of 21 runs) with the default thread count
 *    and with one thread; and the bake against the naive reference
 *    (dlut_look_eval on every lattice point) measured in the same run.
 * 2. A 12-megapixel JPEG (4000x3000, made from the 4096^2 wood texture of
 *    the shared data, or PHOTO) graded as `dlut grade` does without a
 *    model: decode, parse + bake, apply (tetrahedral), encode (quality 95).
 * 3. The colour kernels the looks and the grader use (dlut/color.h), 1 MP,
 *    one thread: the vectorised array functions against their scalar libm
 *    references measured in the same run.
 * Wall time is what a user waits for; the machine may be shared, so the
 * medians of several runs are reported, and CPU time beside them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/image.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"

static double wall(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static const char *k_prompts[] = {
    "warm",
    "温暖的日落胶片风",
    "cold teal night, high contrast",
    "cyberpunk neon, teal and orange, very vivid, not too dark",
    "日系小清新，稍微冷一点，不要太饱和，高光柔和",
    "Fuji Superia X-Tra 400, Kodak Portra 160 NC 2, a bit warmer", /* film stock names joined (issue 10) */
    "warm moody, desaturated shadows, keep the greys neutral, except the skin and the sky", /* the protections */
};
enum { NPROMPT = sizeof k_prompts / sizeof k_prompts[0], RUNS = 21 };

static void bench_prompt_to_lut(void) {
  printf("== prompt -> 33^3 LUT (median of %d, wall ms; threads %d) ==\n", RUNS, dlut_threads_get());
  printf("%-58s %8s %8s %8s %10s %10s %9s\n", "prompt", "parse", "bake", "total", "bake 1thr", "(CPU ms)", "ref/fast");
  for (int p = 0; p < NPROMPT; p++) {
    double tp[RUNS], tb[RUNS], tt[RUNS], t1[RUNS], c1[RUNS];
    dlut_look look;
    for (int r = 0; r < RUNS; r++) {
      double t0 = wall();
      dlut_looks_parse(k_prompts[p], &look, NULL);
      double t1_ = wall();
      dlut_lut *lut = dlut_look_bake(&look, 33);
      double t2 = wall();
      dlut_lut_free(lut);
      tp[r] = (t1_ - t0) * 1e3, tb[r] = (t2 - t1_) * 1e3;
      t0 = wall();
      char u[256], ig[256];
      dlut_looks_from_prompt(k_prompts[p], 33, &lut, u, sizeof u, ig, sizeof ig);
      tt[r] = (wall() - t0) * 1e3;
      dlut_lut_free(lut);
    }
    int threads = dlut_threads_get();
    dlut_threads_set(1);
    for (int r = 0; r < RUNS; r++) {
      double t0 = wall(), c0 = cpu();
      dlut_lut *lut = dlut_look_bake(&look, 33);
      t1[r] = (wall() - t0) * 1e3;
      c1[r] = (cpu() - c0) * 1e3;
      dlut_lut_free(lut);
    }
    dlut_threads_set(threads);
    /* the naive reference, one thread, once */
    double t0 = wall();
    for (int b = 0; b < 33; b++)
      for (int g = 0; g < 33; g++)
        for (int r = 0; r < 33; r++) {
          float in[3] = {r / 32.0f, g / 32.0f, b / 32.0f}, out[3];
          dlut_look_eval(&look, in, out);
        }
    double tref = (wall() - t0) * 1e3, m1 = median(t1, RUNS);
    printf("%-58s %8.3f %8.2f %8.2f %10.2f %10.2f %8.0fx\n", k_prompts[p], median(tp, RUNS), median(tb, RUNS),
           median(tt, RUNS), m1, median(c1, RUNS), tref / m1);
  }
}

static int bench_photo(const char *path) {
  printf("\n== prompt -> graded 12-megapixel photo (wall ms, median of 3) ==\n");
  dlut_image *src = dlut_image_load(path);
  if (!src) {
    fprintf(stderr, "bench_looks: %s\n", dlut_last_error());
    return 1;
  }
  /* 4000 x 3000 = 12 MP: crop (or tile) the source into an 8-bit RGB image and save it as a JPEG */
  dlut_image *big = dlut_image_alloc(4000, 3000, 3, DLUT_PIXEL_U8);
  dlut_image *src8 = dlut_image_convert(src, 3, DLUT_PIXEL_U8);
  dlut_image_free(src);
  if (!big || !src8) return 1;
  for (int y = 0; y < 3000; y++)
    for (int x = 0; x < 4000; x++)
      memcpy(dlut_image_pixel(big, x, y), dlut_image_pixel(src8, x % src8->width, y % src8->height), 3);
  dlut_image_free(src8);
  char jpg[256], out[256];
  const char *tmp = getenv("TMPDIR");
  snprintf(jpg, sizeof jpg, "%s/bench_looks_12mp.jpg", tmp && *tmp ? tmp : "/tmp");
  snprintf(out, sizeof out, "%s/bench_looks_12mp_graded.jpg", tmp && *tmp ? tmp : "/tmp");
  dlut_image_save_opts so = {.quality = 95};
  if (dlut_image_save(big, jpg, &so) != 0) {
    fprintf(stderr, "bench_looks: %s\n", dlut_last_error());
    return 1;
  }
  dlut_image_free(big);
  double td[3], tl[3], ta[3], te[3], cpu_total[3];
  for (int r = 0; r < 3; r++) {
    double c0 = cpu(), t0 = wall();
    dlut_image *img = dlut_image_load(jpg);
    double t1 = wall();
    dlut_lut *lut = NULL;
    dlut_looks_from_prompt("温暖的日落胶片风", 33, &lut, NULL, 0, NULL, 0);
    double t2 = wall();
    dlut_lut_apply_image(lut, img, img, DLUT_INTERP_TETRAHEDRAL, 1.0f);
    double t3 = wall();
    dlut_image_save(img, out, &so);
    double t4 = wall();
    cpu_total[r] = cpu() - c0;
    td[r] = (t1 - t0) * 1e3, tl[r] = (t2 - t1) * 1e3, ta[r] = (t3 - t2) * 1e3, te[r] = (t4 - t3) * 1e3;
    dlut_lut_free(lut);
    dlut_image_free(img);
  }
  double d = median(td, 3), l = median(tl, 3), a = median(ta, 3), e = median(te, 3), sum = d + l + a + e;
  printf(
      "decode %.0f ms (%.0f%%), look %.1f ms (%.1f%%), apply %.0f ms (%.0f%%), encode %.0f ms (%.0f%%); total %.0f ms"
      " wall, %.0f ms CPU\n",
      d, 100 * d / sum, l, 100 * l / sum, a, 100 * a / sum, e, 100 * e / sum, sum, median(cpu_total, 3) * 1e3);
  remove(jpg);
  remove(out);
  return 0;
}

static void bench_color(void) {
  const int64_t n = 1 << 20;
  float *a = malloc(sizeof(float) * 3 * (size_t)n), *b = malloc(sizeof(float) * 3 * (size_t)n);
  float *g = malloc(sizeof(float) * 3 * (size_t)n);
  if (!a || !b || !g) return;
  for (int64_t i = 0; i < 3 * n; i++) a[i] = (float)((i * 2654435761u) % 1000) / 999.0f, g[i] = 0.1f;
  double best[4] = {1e9, 1e9, 1e9, 1e9};
  for (int r = 0; r < 5; r++) {
    double t0 = cpu();
    dlut_color_srgb_to_linear(a, b, n);
    double t1 = cpu();
    for (int64_t i = 0; i < 3 * n; i++) b[i] = dlut_srgb_to_linear(a[i]); /* the scalar reference */
    double t2 = cpu();
    dlut_color_srgb_to_lab(a, b, n);
    double t3 = cpu();
    dlut_color_srgb_to_lab_backward(a, g, b, n);
    double t4 = cpu();
    double t[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
    for (int k = 0; k < 4; k++) best[k] = t[k] < best[k] ? t[k] : best[k];
  }
  printf("\n== colour kernels, 1 MP, one thread, CPU ms (best of 5) ==\n");
  printf(
      "sRGB->linear: array %.2f ms, scalar libm reference %.2f ms (%.1fx); sRGB->Lab %.2f ms; its backward %.2f ms\n",
      best[0] * 1e3, best[1] * 1e3, best[1] / best[0], best[2] * 1e3, best[3] * 1e3);
  free(a), free(b), free(g);
}

int main(int argc, char **argv) {
  const char *photo = argc > 1 ? argv[1] : NULL;
  char def[512];
  if (!photo) {
    const char *sh = getenv("DLUT_SHARED");
    snprintf(def, sizeof def, "%s/data/photos/wood-4096.webp", sh && *sh ? sh : "../shared");
    photo = def;
  }
  bench_prompt_to_lut();
  int rc = bench_photo(photo);
  bench_color();
  return rc;
}
