/* Film stocks measured, not described: fit the offline look model
 * (dlut_look, include/dlut/looks.h) to real film-emulation LUTs, and write
 * the fitted parameters as the C table the vocabulary uses
 * (src/looks/film_fit.h) plus a report.
 *
 *     build/bench/fit_film fit [--table src/looks/film_fit.h] [--report bench/fit_film_report.md]
 *     build/bench/fit_film measure          # distances of the vocabulary's stock prompts (markdown table)
 *
 * The references are the Hald CLUTs of $DLUT_SHARED/data/film-refs (default
 * ../shared; RawTherapee Film Simulation Collection, CC BY-SA 4.0, see its
 * README): they are read from there and never copied into the repository.
 *
 * Fit: for each stock, the parameters of the look minimise the mean
 * CIEDE2000 (dlut_delta_e2000) between the look, baked at 17^3 and applied
 * tetrahedrally, and the reference, over a colour sample: a 9^3 lattice of
 * sRGB plus 1500 pixels of each of the four fitting photos (astronaut,
 * chelsea, coffee, rocket). The search is a deterministic pattern search
 * (each parameter in turn tried one step up and down, steps halved when a
 * sweep finds nothing better), inside the ranges the parser clamps to,
 * with a small pull towards zero so that parameters the stock does not
 * need stay at zero. Colour stocks fit white balance, tone, saturation,
 * vibrance, split toning, cast and the hue and saturation of the 8 hue
 * bands; black-and-white stocks (mono = 1) fit the channel mixer, tone
 * and toning. Band lightness is left out: it can make luminance fall along
 * a lattice line (docs/looks.md), which the looks tests forbid.
 *
 * Held out: a few stocks are not fitted at all; their look is the mean of
 * the fitted parameters of related stocks (a Portra 800 from the Portra
 * 160, a consumer negative from another, a black-and-white stock from the
 * other three), as a stock with no reference (Portra 400, HP5) has to be,
 * and `measure` reports how close that lands.
 *
 * Measure: mean CIEDE2000 to the reference over all six shared photos
 * (8000 pixels each, a different subsample from the fit's, and two photos
 * the fit never saw), for the untouched photo and for the look that
 * dlut_looks_from_prompt gives for the stock's name (33^3, tetrahedral,
 * as `dlut grade` applies it). Run it before and after a vocabulary change
 * for the old/new table of docs/looks.md. */
#include <math.h>
#include <stddef.h>
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
#include "looks/looks_internal.h" /* band names */

/* ==== The stocks ==== */

typedef struct stock {
  const char *file;   /* in data/film-refs */
  const char *macro;  /* LOOKS_FILM_<macro> in src/looks/film_fit.h */
  const char *prompt; /* what a user types; measured through the parser */
  int bw;             /* black and white: mono = 1, fit the mixer */
  const char *family; /* held out: comma-separated files whose fitted parameters are averaged to predict it */
} stock;

static const stock k_stocks[] = {
    {"kodak_portra_160.png", "PORTRA_160", "kodak portra 160", 0, NULL},
    {"kodak_portra_800.png", "PORTRA_800", "portra 800", 0, "kodak_portra_160.png"},
    {"fuji_400h.png", "FUJI_400H", "fuji 400h", 0, NULL},
    {"fuji_160c.png", "FUJI_160C", "fuji 160c", 0, NULL},
    {"fuji_provia_100f.png", "PROVIA_100F", "fuji provia 100f", 0, NULL},
    {"fuji_astia_100f.png", "ASTIA_100F", "fuji astia 100f", 0, "fuji_provia_100f.png"},
    {"fuji_velvia_100_generic.png", "VELVIA_100", "fuji velvia 100", 0, NULL},
    {"kodak_kodachrome_25.png", "KODACHROME_25", "kodachrome 25", 0, NULL},
    {"kodak_ektachrome_100vs.png", "EKTACHROME_100VS", "ektachrome 100vs", 0, NULL},
    {"agfa_vista_200.png", "AGFA_VISTA_200", "agfa vista 200", 0, NULL},
    {"fuji_superia_200.png", "SUPERIA_200", "fuji superia 200", 0, "fuji_400h.png,fuji_160c.png"},
    {"polaroid_690.png", "POLAROID_690", "polaroid 690", 0, NULL},
    {"lomography_redscale_100.png", "REDSCALE_100", "lomography redscale 100", 0, NULL},
    {"ilford_delta_100.png", "DELTA_100", "ilford delta 100", 1, NULL},
    {"kodak_tmax_100.png", "TMAX_100", "kodak tmax 100", 1, NULL},
    {"fuji_neopan_acros_100.png", "ACROS_100", "fuji neopan acros 100", 1, NULL},
    {"ilford_fp4_plus_125.png", "FP4_125", "ilford fp4 plus 125", 1,
     "ilford_delta_100.png,kodak_tmax_100.png,fuji_neopan_acros_100.png"},
};
#define NSTOCKS ((int)(sizeof k_stocks / sizeof k_stocks[0]))

/* Vocabulary entries with no reference of their own: the mean of fitted stocks. */
static const struct {
  const char *macro, *family, *what;
} k_derived[] = {
    {"PORTRA_400", "kodak_portra_160.png,kodak_portra_800.png", "Portra 400, between Portra 160 and 800"},
    {"FUJI_NEGATIVE", "fuji_400h.png,fuji_160c.png,fuji_superia_200.png", "a generic Fuji colour negative"},
    {"BW_GENERIC", "ilford_delta_100.png,kodak_tmax_100.png,fuji_neopan_acros_100.png,ilford_fp4_plus_125.png",
     "a generic black-and-white stock (HP5, Tri-X)"},
};
#define NDERIVED ((int)(sizeof k_derived / sizeof k_derived[0]))

static const char *const k_fit_photos[] = {"astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg"};
static const char *const k_test_photos[] = {"astronaut.png", "chelsea.png",           "coffee.png",
                                            "rocket.jpg",    "hubble_deep_field.jpg", "wood-4096.webp"};

static char g_shared[4096];

static const char *shared_path(const char *sub, const char *name) {
  static char buf[2][8192];
  static int slot;
  char *out = buf[slot++ & 1];
  snprintf(out, sizeof buf[0], "%s/data/%s/%s", g_shared, sub, name);
  return out;
}

/* ==== Colour samples ==== */

typedef struct samples {
  float *rgb; /* (n,3) sRGB */
  int64_t n, cap;
} samples;

static int samples_push(samples *s, const float *rgb) {
  if (s->n == s->cap) {
    int64_t cap = s->cap ? 2 * s->cap : 4096;
    float *p = realloc(s->rgb, sizeof(float) * 3 * (size_t)cap);
    if (!p) return -1;
    s->rgb = p, s->cap = cap;
  }
  memcpy(s->rgb + 3 * s->n++, rgb, 3 * sizeof(float));
  return 0;
}

/* About max_pix pixels of a photo on a regular grid starting at `phase`. */
static int samples_add_photo(samples *s, const char *path, int64_t max_pix, int phase) {
  dlut_image *img = dlut_image_load(path);
  if (!img) return -1;
  dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32);
  dlut_image_free(img);
  if (!f) return -1;
  int64_t total = (int64_t)f->width * f->height;
  int step = 1;
  while (total / ((int64_t)step * step) > max_pix) step++;
  int off = step > 1 ? phase % step : 0;
  for (int y = off; y < f->height; y += step)
    for (int x = off; x < f->width; x += step)
      if (samples_push(s, dlut_image_pixel(f, x, y)) != 0) {
        dlut_image_free(f);
        return -1;
      }
  dlut_image_free(f);
  return 0;
}

/* ==== Distance ==== */

/* Mean CIEDE2000 between two (n,3) sRGB arrays. lab_tmp is (2n,3). */
static double mean_de(const float *a, const float *b, int64_t n, float *lab_tmp) {
  dlut_color_srgb_to_lab(a, lab_tmp, n);
  dlut_color_srgb_to_lab(b, lab_tmp + 3 * n, n);
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double l1[3] = {lab_tmp[3 * i], lab_tmp[3 * i + 1], lab_tmp[3 * i + 2]};
    const float *q = lab_tmp + 3 * (n + i);
    double l2[3] = {q[0], q[1], q[2]};
    sum += dlut_delta_e2000(l1, l2);
  }
  return n ? sum / (double)n : 0;
}

/* ==== The parameters that are fitted ==== */

#define FI(field) ((int)(offsetof(dlut_look, field) / sizeof(float)))

typedef struct param {
  int index;        /* float index into dlut_look */
  float lo, hi;     /* range (inside the parser's clamps) */
  float step;       /* initial search step */
  float scale;      /* typical magnitude, for the pull towards zero */
  const char *name; /* for the report */
} param;

#define NMAXP 48
static int params_for(int bw, param *ps) {
  int n = 0;
#define P(field, lo, hi, st, sc)      \
  ps[n++] = (param) {                 \
    FI(field), lo, hi, st, sc, #field \
  }
  if (!bw) {
    P(temp, -3, 3, 0.4f, 1);
    P(tint, -3, 3, 0.4f, 1);
  }
  P(exposure, -1, 1, 0.2f, 1);
  P(brightness, -1, 1, 0.2f, 1);
  P(contrast, -1, 1.5f, 0.2f, 1);
  P(shadows, -1, 1, 0.2f, 1);
  P(highlights, -1, 1, 0.2f, 1);
  P(fade, 0, 1, 0.2f, 1);
  P(crush, 0, 1, 0.2f, 1);
  P(rolloff, 0, 1, 0.2f, 1);
  if (!bw) P(tint_ends, 0, 1, 0.25f, 1); /* a stock's own paper white and black, when it has them */
  if (!bw) {
    P(saturation, -0.9f, 1.2f, 0.2f, 1);
    P(vibrance, -1, 1, 0.2f, 1);
  } else {
    P(mono_mix[0], -0.2f, 1.0f, 0.2f, 1);
    P(mono_mix[1], -0.7f, 0.5f, 0.2f, 1);
    P(mono_mix[2], -0.07f, 1.0f, 0.2f, 1);
  }
  P(shadow_ab[0], -40, 40, 4, 20);
  P(shadow_ab[1], -40, 40, 4, 20);
  P(highlight_ab[0], -40, 40, 4, 20);
  P(highlight_ab[1], -40, 40, 4, 20);
  P(cast_ab[0], -40, 40, 4, 20);
  P(cast_ab[1], -40, 40, 4, 20);
  if (!bw)
    for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
      ps[n++] = (param){FI(band_hue[0]) + k, -30, 30, 6, 30, dlut_looks_band_name[k]};
      ps[n++] = (param){FI(band_sat[0]) + k, -0.8f, 1.0f, 0.2f, 1, dlut_looks_band_name[k]};
    }
#undef P
  return n;
}

#define FIT_SIZE 17       /* lattice of the bake while fitting */
#define FIT_PULL 0.01     /* weight of the pull towards zero (mean dE units per (value/scale)^2, summed) */
#define FIT_MAX_SWEEPS 60 /* pattern-search sweeps */

typedef struct fit_ctx {
  const samples *s;
  const float *ref; /* (n,3) the reference applied to the samples */
  float *out;       /* (n,3) scratch */
  float *lab;       /* (2n,3) scratch */
  const param *ps;
  int np;
  int evals;
} fit_ctx;

static double objective(fit_ctx *c, const dlut_look *lk, double *de_out) {
  c->evals++;
  dlut_lut *lut = dlut_look_bake(lk, FIT_SIZE);
  if (!lut) return 1e9;
  dlut_lut_apply_f32(lut, c->s->rgb, c->out, c->s->n, DLUT_INTERP_TETRAHEDRAL);
  dlut_lut_free(lut);
  double de = mean_de(c->out, c->ref, c->s->n, c->lab), pull = 0;
  const float *f = (const float *)lk;
  for (int i = 0; i < c->np; i++) {
    double v = f[c->ps[i].index] / c->ps[i].scale;
    pull += v * v;
  }
  if (de_out) *de_out = de;
  return de + FIT_PULL * pull;
}

/* Pattern search from *lk (modified in place). Returns the final mean dE. */
static double fit_look(fit_ctx *c, dlut_look *lk) {
  float *f = (float *)lk, step[NMAXP];
  for (int i = 0; i < c->np; i++) step[i] = c->ps[i].step;
  double best = objective(c, lk, NULL);
  for (int sweep = 0; sweep < FIT_MAX_SWEEPS; sweep++) {
    int improved = 0;
    for (int i = 0; i < c->np; i++) {
      const param *p = &c->ps[i];
      float v0 = f[p->index];
      for (int dir = -1; dir <= 1; dir += 2) {
        float v = fminf(fmaxf(v0 + dir * step[i], p->lo), p->hi);
        if (v == v0) continue;
        f[p->index] = v;
        double o = objective(c, lk, NULL);
        if (o < best - 1e-5) {
          best = o, improved = 1;
          /* keep going that way while it helps */
          for (int k = 0; k < 4; k++) {
            float v2 = fminf(fmaxf(f[p->index] + dir * step[i], p->lo), p->hi);
            if (v2 == f[p->index]) break;
            float keep = f[p->index];
            f[p->index] = v2;
            double o2 = objective(c, lk, NULL);
            if (o2 < best - 1e-5)
              best = o2;
            else {
              f[p->index] = keep;
              break;
            }
          }
          break;
        }
        f[p->index] = v0;
      }
    }
    if (!improved) {
      int small = 1;
      for (int i = 0; i < c->np; i++) {
        step[i] *= 0.5f;
        if (step[i] > c->ps[i].step / 64) small = 0;
      }
      if (small) break;
    }
  }
  double de;
  objective(c, lk, &de);
  return de;
}

/* ==== The effect string of a look (the language of src/looks/effect.c) ==== */

static void look_effect(const dlut_look *lk, int bw, char *buf, size_t len) {
  const float *f = (const float *)lk;
  size_t at = 0;
  buf[0] = '\0';
#define EMIT(...)                                                       \
  do {                                                                  \
    int n_ = snprintf(buf + at, at < len ? len - at : 0, __VA_ARGS__);  \
    if (n_ > 0) at = at + (size_t)n_ < len ? at + (size_t)n_ : len - 1; \
  } while (0)
  static const struct {
    const char *name;
    int index;
  } sc[] = {{"temp", FI(temp)},
            {"tint", FI(tint)},
            {"exposure", FI(exposure)},
            {"bright", FI(brightness)},
            {"contrast", FI(contrast)},
            {"shadows", FI(shadows)},
            {"highlights", FI(highlights)},
            {"fade", FI(fade)},
            {"crush", FI(crush)},
            {"rolloff", FI(rolloff)},
            {"sat", FI(saturation)},
            {"vib", FI(vibrance)},
            {"mono", FI(mono)},
            {"mono.r", FI(mono_mix[0])},
            {"mono.g", FI(mono_mix[1])},
            {"mono.b", FI(mono_mix[2])},
            {"skin_follow", FI(skin_follow)},
            {"tint_ends", FI(tint_ends)}};
  (void)bw;
  for (size_t k = 0; k < sizeof sc / sizeof sc[0]; k++)
    if (fabsf(f[sc[k].index]) >= 0.0005f) EMIT("%s%s=%+.3f", at ? " " : "", sc[k].name, f[sc[k].index]);
  static const char *const ab[3] = {"shadow", "highlight", "cast"};
  const int ab_i[3] = {FI(shadow_ab[0]), FI(highlight_ab[0]), FI(cast_ab[0])};
  for (int k = 0; k < 3; k++) {
    double a = f[ab_i[k]], b = f[ab_i[k] + 1], c = hypot(a, b);
    if (c < 0.01) continue;
    double h = atan2(b, a) * 180 / M_PI;
    if (h < 0) h += 360;
    EMIT("%s%s=%.2f@%.3f", at ? " " : "", ab[k], h, c);
  }
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
    if (fabsf(lk->band_hue[k]) >= 0.005f)
      EMIT("%shue.%s=%+.2f", at ? " " : "", dlut_looks_band_name[k], lk->band_hue[k]);
    if (fabsf(lk->band_sat[k]) >= 0.0005f)
      EMIT("%ssat.%s=%+.3f", at ? " " : "", dlut_looks_band_name[k], lk->band_sat[k]);
  }
#undef EMIT
}

/* ==== Modes ==== */

static dlut_lut *load_ref(const stock *st) {
  dlut_lut *ref = dlut_lut_load(shared_path("film-refs", st->file));
  if (!ref) fprintf(stderr, "fit_film: %s\n", dlut_last_error());
  return ref;
}

static int stock_index(const char *file) {
  for (int i = 0; i < NSTOCKS; i++)
    if (strcmp(k_stocks[i].file, file) == 0) return i;
  return -1;
}

/* The mean of the fitted looks of a comma-separated list of stock files. */
static int look_mean(const char *family, const dlut_look *looks, dlut_look *out) {
  float *f = (float *)out;
  int nf = 0;
  char fam[512];
  dlut_look_init(out);
  snprintf(fam, sizeof fam, "%s", family);
  for (char *save = NULL, *tok = strtok_r(fam, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int j = stock_index(tok);
    if (j < 0) {
      fprintf(stderr, "fit_film: unknown stock %s\n", tok);
      return -1;
    }
    const float *g = (const float *)&looks[j];
    for (size_t k = 0; k < sizeof(dlut_look) / sizeof(float); k++) f[k] += g[k];
    nf++;
  }
  for (size_t k = 0; k < sizeof(dlut_look) / sizeof(float); k++) f[k] /= (float)nf;
  return 0;
}

static int cmd_fit(const char *table_path, const char *report_path) {
  int rc = 1;
  samples s = {0};
  float *ref = NULL, *out = NULL, *lab = NULL;
  dlut_look looks[NSTOCKS], held[NSTOCKS];
  double de_fit[NSTOCKS], de_id[NSTOCKS], de_held[NSTOCKS];
  int evals[NSTOCKS];
  double secs[NSTOCKS];
  FILE *tf = NULL, *rf = NULL;
  /* the sample: a 9^3 lattice and the fitting photos */
  for (int b = 0; b < 9; b++)
    for (int g = 0; g < 9; g++)
      for (int r = 0; r < 9; r++) {
        float c[3] = {r / 8.0f, g / 8.0f, b / 8.0f};
        if (samples_push(&s, c) != 0) goto done;
      }
  for (size_t i = 0; i < sizeof k_fit_photos / sizeof k_fit_photos[0]; i++)
    if (samples_add_photo(&s, shared_path("photos", k_fit_photos[i]), 1500, 0) != 0) {
      fprintf(stderr, "fit_film: %s\n", dlut_last_error());
      goto done;
    }
  ref = malloc(sizeof(float) * 3 * (size_t)s.n);
  out = malloc(sizeof(float) * 3 * (size_t)s.n);
  lab = malloc(sizeof(float) * 6 * (size_t)s.n);
  if (!ref || !out || !lab) goto done;
  fprintf(stderr, "fit_film: %lld sample colours\n", (long long)s.n);
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    dlut_look_init(&looks[i]);
    dlut_lut *rl = load_ref(st);
    if (!rl) goto done;
    dlut_lut_apply_f32(rl, s.rgb, ref, s.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_free(rl);
    de_id[i] = mean_de(s.rgb, ref, s.n, lab);
    param ps[NMAXP];
    fit_ctx c = {&s, ref, out, lab, ps, params_for(st->bw, ps), 0};
    if (st->bw) looks[i].mono = 1;
    /* a measured stock renders skin (and everything skin-coloured: wood, sand, fur) as the stock
     * does; the default skin protection would put the original's colours back there */
    looks[i].skin_follow = 1;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    de_fit[i] = fit_look(&c, &looks[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    evals[i] = c.evals;
    secs[i] = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "fit_film: %-28s untouched %6.2f  fitted %6.2f  (%d evaluations, %.1f s)\n", st->file, de_id[i],
            de_fit[i], c.evals, secs[i]);
  }
  /* held out: the stock predicted from its family's fits, without its own */
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    if (!st->family) continue;
    if (strstr(st->family, st->file) || look_mean(st->family, looks, &held[i]) != 0) goto done;
    dlut_lut *rl = load_ref(st);
    if (!rl) goto done;
    dlut_lut_apply_f32(rl, s.rgb, ref, s.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_free(rl);
    param ps[NMAXP];
    fit_ctx c = {&s, ref, out, lab, ps, params_for(st->bw, ps), 0};
    objective(&c, &held[i], &de_held[i]);
    fprintf(stderr, "fit_film: %-28s untouched %6.2f  held out %6.2f  (from %s)\n", st->file, de_id[i], de_held[i],
            st->family);
  }
  tf = fopen(table_path, "w");
  rf = fopen(report_path, "w");
  if (!tf || !rf) {
    fprintf(stderr, "fit_film: cannot write %s or %s\n", table_path, report_path);
    goto done;
  }
  fprintf(tf,
          "/* looks/film_fit.h - GENERATED by bench/fit_film.c; do not edit by hand.\n"
          " * The film stocks of the vocabulary (vocab.c), measured: each LOOKS_FILM_<STOCK> is\n"
          " * the dlut_look (as an effect string, effect.c) whose 17^3 bake lands closest, in\n"
          " * mean CIEDE2000 over a 9^3 lattice and four photos, to a film-emulation Hald CLUT\n"
          " * of $DLUT_SHARED/data/film-refs (RawTherapee Film Simulation Collection, CC BY-SA\n"
          " * 4.0; the LUTs themselves are not in this repository). <STOCK>_HELDOUT is the same\n"
          " * stock predicted without its reference (the mean of related fits), the test of\n"
          " * how well a stock with no reference is served; derived entries at the end are\n"
          " * such means for stocks that have no reference at all.\n"
          " * Regenerate (about two minutes):\n"
          " *     make build/bench/fit_film && build/bench/fit_film fit && clang-format -i src/looks/film_fit.h\n"
          " * The report, with the distances, is bench/fit_film_report.md. */\n"
          "#ifndef DLUT_LOOKS_FILM_FIT_H\n#define DLUT_LOOKS_FILM_FIT_H\n\n");
  fprintf(rf,
          "# Film-stock fit (generated by `build/bench/fit_film fit`)\n\n"
          "Mean CIEDE2000 to the reference over the fit's sample (%lld colours: a 9^3 lattice and 1500 pixels "
          "of each of astronaut, chelsea, coffee, rocket), the look baked at %d^3. \"Held out\" is the stock "
          "predicted without its reference: the mean of the fitted parameters of the stocks named. "
          "`build/bench/fit_film measure` gives the distances over all six photos through the parser.\n\n"
          "| stock | untouched | fitted | fitted / untouched | held out (from) | held out / untouched | evaluations | "
          "seconds |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n",
          (long long)s.n, FIT_SIZE);
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    char eff[2048];
    look_effect(&looks[i], st->bw, eff, sizeof eff);
    fprintf(tf, "/* %s: mean dE2000 %.2f (untouched %.2f) */\n#define LOOKS_FILM_%s \"%s\"\n", st->file, de_fit[i],
            de_id[i], st->macro, eff);
    if (st->family) {
      look_effect(&held[i], st->bw, eff, sizeof eff);
      fprintf(tf, "/* held out: the mean of %s; mean dE2000 %.2f */\n#define LOOKS_FILM_%s_HELDOUT \"%s\"\n",
              st->family, de_held[i], st->macro, eff);
      fprintf(rf, "| %s | %.2f | %.2f | %.2f | %.2f (%s) | %.2f | %d | %.1f |\n", st->file, de_id[i], de_fit[i],
              de_fit[i] / de_id[i], de_held[i], st->family, de_held[i] / de_id[i], evals[i], secs[i]);
    } else {
      fprintf(rf, "| %s | %.2f | %.2f | %.2f | | | %d | %.1f |\n", st->file, de_id[i], de_fit[i], de_fit[i] / de_id[i],
              evals[i], secs[i]);
    }
  }
  for (int i = 0; i < NDERIVED; i++) {
    dlut_look d;
    char eff[2048];
    if (look_mean(k_derived[i].family, looks, &d) != 0) goto done;
    look_effect(&d, d.mono > 0.5f, eff, sizeof eff);
    fprintf(tf, "/* %s: the mean of %s */\n#define LOOKS_FILM_%s \"%s\"\n", k_derived[i].what, k_derived[i].family,
            k_derived[i].macro, eff);
  }
  fprintf(tf, "\n#endif\n");
  fprintf(rf, "\nParameters (effect strings, src/looks/film_fit.h):\n\n");
  for (int i = 0; i < NSTOCKS; i++) {
    char eff[2048];
    look_effect(&looks[i], k_stocks[i].bw, eff, sizeof eff);
    fprintf(rf, "- `%s`: `%s`\n", k_stocks[i].file, eff);
  }
  rc = 0;
done:
  if (tf) fclose(tf);
  if (rf) fclose(rf);
  free(s.rgb);
  free(ref);
  free(out);
  free(lab);
  return rc;
}

static int cmd_measure(void) {
  int rc = 1;
  samples s = {0};
  float *ref = NULL, *out = NULL, *lab = NULL;
  for (size_t i = 0; i < sizeof k_test_photos / sizeof k_test_photos[0]; i++)
    if (samples_add_photo(&s, shared_path("photos", k_test_photos[i]), 8000, 1) != 0) {
      fprintf(stderr, "fit_film: %s\n", dlut_last_error());
      goto done;
    }
  ref = malloc(sizeof(float) * 3 * (size_t)s.n);
  out = malloc(sizeof(float) * 3 * (size_t)s.n);
  lab = malloc(sizeof(float) * 6 * (size_t)s.n);
  if (!ref || !out || !lab) goto done;
  printf(
      "| stock | prompt | untouched | look | look / untouched | prompt to 33^3 LUT, 1 thread (median of 21) |\n"
      "| --- | --- | --- | --- | --- | --- |\n");
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    dlut_lut *rl = load_ref(st), *lk = NULL;
    if (!rl) goto done;
    dlut_lut_apply_f32(rl, s.rgb, ref, s.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_free(rl);
    char und[512], ign[512];
    if (dlut_looks_from_prompt(st->prompt, 33, &lk, und, sizeof und, ign, sizeof ign) != 0) goto done;
    dlut_lut_apply_f32(lk, s.rgb, out, s.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_free(lk);
    double d0 = mean_de(s.rgb, ref, s.n, lab), d1 = mean_de(out, ref, s.n, lab);
    /* speed: prompt -> 33^3 LUT on one thread */
    double ms[21];
    dlut_threads_set(1);
    for (int k = 0; k < 21; k++) {
      struct timespec t0, t1;
      clock_gettime(CLOCK_MONOTONIC, &t0);
      if (dlut_looks_from_prompt(st->prompt, 33, &lk, NULL, 0, NULL, 0) != 0) goto done;
      clock_gettime(CLOCK_MONOTONIC, &t1);
      dlut_lut_free(lk);
      ms[k] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) * 1e-6;
      for (int q = k; q > 0 && ms[q] < ms[q - 1]; q--) { /* insertion sort */
        double t = ms[q];
        ms[q] = ms[q - 1], ms[q - 1] = t;
      }
    }
    dlut_threads_set(0);
    printf("| %s | %s (understood: %s; ignored: %s) | %.2f | %.2f | %.2f | %.2f ms |\n", st->file, st->prompt, und, ign,
           d0, d1, d1 / d0, ms[10]);
  }
  rc = 0;
done:
  free(s.rgb);
  free(ref);
  free(out);
  free(lab);
  return rc;
}

int main(int argc, char **argv) {
  const char *env = getenv("DLUT_SHARED");
  snprintf(g_shared, sizeof g_shared, "%s", env && *env ? env : "../shared");
  const char *table = "src/looks/film_fit.h", *report = "bench/fit_film_report.md";
  if (argc < 2) goto usage;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
      table = argv[++i];
    else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
      report = argv[++i];
    else
      goto usage;
  }
  if (strcmp(argv[1], "fit") == 0) return cmd_fit(table, report);
  if (strcmp(argv[1], "measure") == 0) return cmd_measure();
usage:
  fprintf(stderr, "usage: fit_film fit [--table FILE.h] [--report FILE.md] | fit_film measure\n");
  return 2;
}
