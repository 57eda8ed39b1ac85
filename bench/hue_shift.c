/* Hue kept by the colour operations of the offline looks, measured in
 * OkLCh (Ottosson 2020, "A perceptual color space for image processing",
 * https://bottosson.github.io/posts/oklab/), whose hue lines follow
 * perceived hue, and in CIELAB for comparison.
 *
 *     build/bench/hue_shift ["PROMPT" ...]
 *
 * For each prompt (default: the saturation terms, a film stock that boosts
 * chroma, and "make it pop"), dlut_look_eval (the double-precision
 * reference) grades
 *   - named saturated colours: sRGB pure and near blues, reds, an
 *     orange-red, skin tones of three depths, foliage greens, the other
 *     primaries and secondaries, and prints each one's OkLCh hue turn and
 *     chroma before and after;
 *   - 200,000 random sRGB colours (fixed seed) of OkLCh chroma >= 0.1
 *     (saturated), and prints the mean, 95th percentile and largest hue
 *     turn in OkLCh and in CIELAB, and the share turned by more than 3 deg
 *     (the bound).
 * The OkLab code here is written from Ottosson's published matrices and
 * does not share the model's, so that it measures the model rather than
 * repeating it. Film looks turn hues on purpose (their hue bands), so
 * their numbers are the stock's rendering, not an error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/color.h"
#include "dlut/looks.h"

/* linear sRGB -> LMS, and LMS^(1/3) -> OkLab (Ottosson's published values) */
static const double k_m1[9] = {0.4122214708, 0.5363325363, 0.0514459929, 0.2119034982, 0.6806995451,
                               0.1073969566, 0.0883024619, 0.2817188376, 0.6299787005};
static const double k_m2[9] = {0.2104542553, 0.7936177850, -0.0040720468, 1.9779984951, -2.4285922050,
                               0.4505937099, 0.0259040371, 0.7827717662,  -0.8086757660};

static void srgb_to_oklab(const float s[3], double ok[3]) {
  double lin[3], l[3];
  for (int c = 0; c < 3; c++) {
    double v = s[c];
    lin[c] = v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
  }
  for (int r = 0; r < 3; r++) l[r] = cbrt(k_m1[3 * r] * lin[0] + k_m1[3 * r + 1] * lin[1] + k_m1[3 * r + 2] * lin[2]);
  for (int r = 0; r < 3; r++) ok[r] = k_m2[3 * r] * l[0] + k_m2[3 * r + 1] * l[1] + k_m2[3 * r + 2] * l[2];
}

static double angle_diff(double h1, double h0) {
  double d = (h1 - h0) * 180.0 / M_PI;
  return remainder(d, 360.0);
}

/* Hue turn from a to b in OkLCh (and CIELAB in *lab_dh); chroma before and after in OkLab. */
static double ok_turn(const float a[3], const float b[3], double *ca, double *cb, double *lab_dh) {
  double x[3], y[3];
  srgb_to_oklab(a, x);
  srgb_to_oklab(b, y);
  *ca = hypot(x[1], x[2]), *cb = hypot(y[1], y[2]);
  float la[3], lb[3];
  dlut_color_srgb_to_lab(a, la, 1);
  dlut_color_srgb_to_lab(b, lb, 1);
  *lab_dh = angle_diff(atan2(lb[2], lb[1]), atan2(la[2], la[1]));
  return angle_diff(atan2(y[2], y[1]), atan2(x[2], x[1]));
}

static int cmp_double(const void *p, const void *q) {
  double a = *(const double *)p, b = *(const double *)q;
  return a < b ? -1 : a > b;
}

static const struct {
  const char *name;
  unsigned char rgb[3];
} k_named[] = {
    {"blue", {0, 0, 255}},
    {"blue", {20, 40, 230}},
    {"blue", {40, 80, 200}},
    {"sky blue", {70, 130, 220}},
    {"navy", {20, 30, 120}},
    {"red", {255, 0, 0}},
    {"red", {200, 30, 30}},
    {"orange-red", {230, 90, 25}},
    {"orange", {240, 150, 30}},
    {"skin, light", {222, 160, 128}},
    {"skin, medium", {185, 122, 95}},
    {"skin, deep", {140, 90, 65}},
    {"foliage", {60, 115, 40}},
    {"foliage", {90, 140, 50}},
    {"foliage, deep", {25, 90, 25}},
    {"green", {0, 255, 0}},
    {"cyan", {0, 200, 220}},
    {"magenta", {200, 0, 200}},
    {"purple", {110, 40, 170}},
    {"yellow", {240, 220, 20}},
};
#define NNAMED ((int)(sizeof k_named / sizeof k_named[0]))

int main(int argc, char **argv) {
  static const char *defaults[] = {"saturated",   "very saturated",   "vivid",  "vibrant",
                                   "desaturated", "very desaturated", "velvia", "fuji velvia 50",
                                   "make it pop", "high contrast"};
  const char **prompts = argc > 1 ? (const char **)argv + 1 : defaults;
  int np = argc > 1 ? argc - 1 : (int)(sizeof defaults / sizeof defaults[0]);
  enum { NRAND = 200000 };
  double *turns = malloc(sizeof(double) * NRAND), *lab_turns = malloc(sizeof(double) * NRAND);
  if (!turns || !lab_turns) return 1;
  printf(
      "| prompt | named colours: largest OkLCh turn (colour) | random saturated colours: OkLCh turn mean / "
      "p95 / max, share > 3 deg | CIELAB turn mean / p95 / max |\n| --- | --- | --- | --- |\n");
  for (int p = 0; p < np; p++) {
    dlut_look lk;
    dlut_looks_report rep;
    if (dlut_looks_parse(prompts[p], &lk, &rep) != 0) return 1;
    fprintf(stderr, "== %s (understood: %s)\n", prompts[p], rep.understood);
    double worst = 0;
    int worst_i = 0;
    for (int i = 0; i < NNAMED; i++) {
      float in[3] = {k_named[i].rgb[0] / 255.0f, k_named[i].rgb[1] / 255.0f, k_named[i].rgb[2] / 255.0f}, out[3];
      dlut_look_eval(&lk, in, out);
      double ca, cb, ldh, dh = ok_turn(in, out, &ca, &cb, &ldh);
      fprintf(stderr, "  %-14s %3d,%3d,%3d  OkLCh turn %+6.2f (CIELAB %+6.2f)  chroma %.3f -> %.3f\n", k_named[i].name,
              k_named[i].rgb[0], k_named[i].rgb[1], k_named[i].rgb[2], dh, ldh, ca, cb);
      if (fabs(dh) > worst) worst = fabs(dh), worst_i = i;
    }
    srand(1);
    int n = 0, over = 0;
    double sum = 0, lsum = 0;
    for (int k = 0; k < NRAND; k++) {
      float in[3] = {rand() / (float)RAND_MAX, rand() / (float)RAND_MAX, rand() / (float)RAND_MAX}, out[3];
      double ok[3];
      srgb_to_oklab(in, ok);
      if (hypot(ok[1], ok[2]) < 0.1) continue;
      dlut_look_eval(&lk, in, out);
      double ca, cb, ldh, dh = fabs(ok_turn(in, out, &ca, &cb, &ldh));
      if (cb < 0.02) continue; /* drained to grey (monochrome): no hue left to keep */
      turns[n] = dh, lab_turns[n] = fabs(ldh), sum += dh, lsum += fabs(ldh), over += dh > 3.0, n++;
    }
    qsort(turns, (size_t)n, sizeof *turns, cmp_double);
    qsort(lab_turns, (size_t)n, sizeof *lab_turns, cmp_double);
    printf("| %s | %.2f (%s %d,%d,%d) | %.2f / %.2f / %.2f, %.1f%% | %.2f / %.2f / %.2f |\n", prompts[p], worst,
           k_named[worst_i].name, k_named[worst_i].rgb[0], k_named[worst_i].rgb[1], k_named[worst_i].rgb[2],
           n ? sum / n : 0, n ? turns[(int)(0.95 * (n - 1))] : 0, n ? turns[n - 1] : 0, n ? 100.0 * over / n : 0,
           n ? lsum / n : 0, n ? lab_turns[(int)(0.95 * (n - 1))] : 0, n ? lab_turns[n - 1] : 0);
  }
  free(turns);
  free(lab_turns);
  return 0;
}
