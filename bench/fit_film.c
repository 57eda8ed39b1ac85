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
 * Held out (leave one out): every stock of the folder is also predicted
 * from the other 16 references alone, by each of six rules fixed
 * beforehand from two descriptors a stock with no reference also has (its
 * family: maker, type and line; its type: colour negative, slide, instant,
 * redscale, black and white): the old parameter mean of the family, and the
 * look fitted to the CIELAB mean of the family's, the type's or all the
 * stocks' references, or of half the family's and half the type's. The
 * report gives held-out / untouched per stock and rule (over the six
 * photos); the rule with the lowest mean over the 17 is chosen by the tool
 * and makes the looks of the vocabulary's stocks that have no reference
 * (k_derived: Portra 400, Ektar, Velvia 50, Tri-X ...), written to
 * film_fit.h with the held-out predictions (<STOCK>_HELDOUT, which
 * tests/test_looks_film.c measures). About 20 minutes of CPU; --rule N runs
 * one rule only, without the comparison.
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

/* Every stock of the folder carries two descriptors, fixed before any
 * held-out number was seen: its family (maker, type and, for colour
 * negatives, the professional or consumer line) and its type (colour
 * negative, slide, instant, redscale, black and white). Agfa Vista 200 is
 * in the Fuji consumer family: it was made by Fujifilm (AgfaPhoto-branded
 * Fujicolor C200 / Superia 200), documented by the film trade and the
 * datasheets' DX codes. These two descriptors are all that a stock with no
 * reference has; the held-out study below asks how far they get. */
typedef struct stock {
  const char *file;   /* in data/film-refs */
  const char *macro;  /* LOOKS_FILM_<macro> in src/looks/film_fit.h */
  const char *prompt; /* what a user types; measured through the parser */
  int bw;             /* black and white: mono = 1, fit the mixer */
  const char *family; /* maker + type (+ pro / consumer line) */
  const char *type;   /* neg, slide, instant, redscale, bw */
  double sat, con;    /* the maker's words for saturation and contrast (see k_stocks) */
} stock;

static const stock k_stocks[] = {
    {"kodak_portra_160.png", "PORTRA_160", "kodak portra 160", 0, "kodak_pro_neg", "neg", -1, -1},
    {"kodak_portra_800.png", "PORTRA_800", "portra 800", 0, "kodak_pro_neg", "neg", 0, 0},
    {"fuji_400h.png", "FUJI_400H", "fuji 400h", 0, "fuji_pro_neg", "neg", -1, -1},
    {"fuji_160c.png", "FUJI_160C", "fuji 160c", 0, "fuji_pro_neg", "neg", 1, 1},
    {"fuji_provia_100f.png", "PROVIA_100F", "fuji provia 100f", 0, "fuji_slide", "slide", 0, 0},
    {"fuji_astia_100f.png", "ASTIA_100F", "fuji astia 100f", 0, "fuji_slide", "slide", -1, -1},
    {"fuji_velvia_100_generic.png", "VELVIA_100", "fuji velvia 100", 0, "fuji_slide", "slide", 2, 1},
    {"kodak_kodachrome_25.png", "KODACHROME_25", "kodachrome 25", 0, "kodak_slide", "slide", 0, 0},
    {"kodak_ektachrome_100vs.png", "EKTACHROME_100VS", "ektachrome 100vs", 0, "kodak_slide", "slide", 2, 0},
    {"agfa_vista_200.png", "AGFA_VISTA_200", "agfa vista 200", 0, "fuji_consumer_neg", "neg", 1, 0},
    {"fuji_superia_200.png", "SUPERIA_200", "fuji superia 200", 0, "fuji_consumer_neg", "neg", 0, 0},
    {"polaroid_690.png", "POLAROID_690", "polaroid 690", 0, "polaroid_instant", "instant", 0, 0},
    {"lomography_redscale_100.png", "REDSCALE_100", "lomography redscale 100", 0, "lomography_redscale", "redscale", 0,
     0},
    {"ilford_delta_100.png", "DELTA_100", "ilford delta 100", 1, "ilford_bw", "bw", 0, 0},
    {"kodak_tmax_100.png", "TMAX_100", "kodak tmax 100", 1, "kodak_bw", "bw", 0, 0},
    {"fuji_neopan_acros_100.png", "ACROS_100", "fuji neopan acros 100", 1, "fuji_bw", "bw", 0, 0},
    {"ilford_fp4_plus_125.png", "FP4_125", "ilford fp4 plus 125", 1, "ilford_bw", "bw", 0, 0},
};
#define NSTOCKS ((int)(sizeof k_stocks / sizeof k_stocks[0]))

/* Vocabulary stocks with no reference of their own, with the same two
 * descriptors. `nearest` names what the stock is closest to: its family,
 * or (a finer level, the same product line) the file of a sibling of the
 * same line (Portra 400 between Portra 160 and 800, Velvia 50 beside
 * Velvia 100); several names are separated by commas. Their looks are the
 * chosen rule's prediction from all 17 references. */
static const struct {
  const char *macro, *nearest, *type;
  int bw;
  const char *what;
  double sat, con; /* as k_stocks' */
} k_derived[] = {
    {"PORTRA_400", "kodak_portra_160.png,kodak_portra_800.png", "neg", 0, "Kodak Portra 400 (line: Portra 160, 800)",
     -0.5, -0.5},
    {"EKTAR_100", "kodak_pro_neg", "neg", 0, "Kodak Ektar 100 (family: Kodak professional negatives)", 2, 1},
    {"SUPERIA_400", "fuji_superia_200.png", "neg", 0, "Fuji Superia X-TRA 400 (line: Superia 200)", 0, 0},
    {"FUJI_CONSUMER", "fuji_consumer_neg", "neg", 0, "a Fuji consumer negative: Natura, C200 kin (family)", 0, 0},
    {"FUJI_NEGATIVE", "fuji_pro_neg,fuji_consumer_neg", "neg", 0, "a Fujifilm colour negative (the Fuji families)", 0,
     0},
    {"COLOR_NEGATIVE", "", "neg", 0,
     "a colour negative of a family with no reference (Kodak Gold, ColorPlus, UltraMax, Vision3, CineStill, "
     "Lomography, Agfa Ultra): the type",
     0, 0},
    {"VELVIA_50", "fuji_velvia_100_generic.png", "slide", 0, "Fuji Velvia 50 (line: Velvia 100)", 2, 1},
    {"PROVIA_400", "fuji_provia_100f.png", "slide", 0, "Fuji Provia 400F/400X (line: Provia 100F)", 0, 0},
    {"E100", "kodak_ektachrome_100vs.png", "slide", 0, "Kodak Ektachrome E100 (line: Ektachrome 100VS)", 0, 0},
    {"KODACHROME_64", "kodak_kodachrome_25.png", "slide", 0, "Kodachrome 64 (line: Kodachrome 25)", 0, 0},
    {"FUJI_SLIDE", "fuji_slide", "slide", 0, "a Fujichrome slide: Sensia, Fortia (family: Fuji slides)", 0, 0},
    {"KODAK_SLIDE", "kodak_slide", "slide", 0, "a Kodak slide: Elite Chrome, E200 (family: Kodak slides)", 0, 0},
    {"SLIDE", "", "slide", 0, "a slide film of a family with no reference (Agfa Precisa, generic slide): the type", 0,
     0},
    {"POLAROID_600", "polaroid_690.png", "instant", 0, "Polaroid 600 / i-Type, SX-70 (line: Polaroid 690)", 0, 0},
    {"INSTANT", "", "instant", 0, "an instant film of another maker (Instax, generic instant): the type", 0, 0},
    {"BW_ILFORD", "ilford_bw", "bw", 1, "an Ilford black-and-white film: HP5, XP2, Pan F (family: Ilford)", 0, 0},
    {"DELTA_400", "ilford_delta_100.png", "bw", 1, "Ilford Delta 400 / 3200 (line: Delta 100)", 0, 0},
    {"BW_KODAK", "kodak_bw", "bw", 1, "a Kodak black-and-white film: Tri-X, T-Max 400 / P3200 (family: Kodak)", 0, 0},
    {"BW_GENERIC", "", "bw", 1, "a black-and-white film of another maker (Agfa APX): the type", 0, 0},
};
#define NDERIVED ((int)(sizeof k_derived / sizeof k_derived[0]))

/* ==== Rules: a stock's look from the other stocks' references ====
 *
 * Each rule turns the descriptors into weights over the references (the
 * stock's own excluded when it is held out). The rule-based looks are
 * fitted, like a measured stock, to a target: the weighted mean, in
 * CIELAB, of those references applied to the sample (so the look is the
 * model's best rendering of the family's average, not an average of
 * parameters, which the redundant tone controls make meaningless). The
 * levels: nearest (the family, or the line where one is named), type,
 * and all stocks of the same kind (colour or black and white); a level
 * with no member passes its weight to the next. RULE_PARAMS is the old
 * practice, kept for comparison: the mean of the fitted parameters of the
 * nearest non-empty level. */
typedef enum {
  RULE_PARAMS,       /* parameter mean of the nearest level (no fit) */
  RULE_NEAREST,      /* target: the nearest non-empty level */
  RULE_TYPE,         /* target: the type (else all) */
  RULE_ALL,          /* target: every stock of the kind */
  RULE_NEAREST_TYPE, /* target: half the nearest level, half the type (a family mean shrunk to its type) */
  RULE_DESCRIBED     /* target: RULE_NEAREST_TYPE's, moved by the saturation and contrast words (below) */
} rule_id;
#define NRULES 6
static const char *const k_rule_name[NRULES] = {
    "parameter mean of the family",         "family", "type", "all of the kind", "half family, half type",
    "half and half, with the maker's words"};

static int in_list(const char *list, const char *s) {
  size_t n = strlen(s);
  for (const char *p = list; p && *p;) {
    const char *q = strchr(p, ',');
    size_t len = q ? (size_t)(q - p) : strlen(p);
    if (len == n && strncmp(p, s, n) == 0) return 1;
    p = q ? q + 1 : NULL;
  }
  return 0;
}

/* Weights w[NSTOCKS] (summing to 1, or all 0 when no stock qualifies) of the
 * rule for a stock described by (nearest, type, bw), leaving out `exclude`
 * and `exclude2` (-1: none). */
static void rule_weights2(rule_id r, const char *nearest, const char *type, int bw, int exclude, int exclude2,
                          double *w) {
  int in[3][NSTOCKS], cnt[3] = {0, 0, 0};
  for (int j = 0; j < NSTOCKS; j++) {
    const stock *s = &k_stocks[j];
    int ok = j != exclude && j != exclude2 && s->bw == bw;
    in[0][j] = ok && (in_list(nearest, s->family) || in_list(nearest, s->file));
    in[1][j] = ok && strcmp(s->type, type) == 0;
    in[2][j] = ok;
    for (int l = 0; l < 3; l++) cnt[l] += in[l][j];
  }
  double lw[3] = {0, 0, 0};
  switch (r) {
    case RULE_PARAMS:
    case RULE_NEAREST:
      lw[0] = 1;
      break;
    case RULE_TYPE:
      lw[1] = 1;
      break;
    case RULE_ALL:
      lw[2] = 1;
      break;
    case RULE_NEAREST_TYPE:
    case RULE_DESCRIBED:
      lw[0] = lw[1] = 0.5;
      break;
  }
  if (!cnt[0]) lw[1] += lw[0], lw[0] = 0;
  if (!cnt[1]) lw[2] += lw[1], lw[1] = 0;
  for (int j = 0; j < NSTOCKS; j++) {
    w[j] = 0;
    for (int l = 0; l < 3; l++)
      if (in[l][j] && cnt[l]) w[j] += lw[l] / cnt[l];
  }
}

static void rule_weights(rule_id r, const char *nearest, const char *type, int bw, int exclude, double *w) {
  rule_weights2(r, nearest, type, bw, exclude, -1, w);
}

/* A short list of the stocks a weight vector uses, for the report. */
static void weights_describe(const double *w, char *buf, size_t len) {
  size_t at = 0;
  buf[0] = '\0';
  for (int j = 0; j < NSTOCKS; j++) {
    if (w[j] <= 0) continue;
    char name[64];
    snprintf(name, sizeof name, "%s", k_stocks[j].file);
    char *dot = strrchr(name, '.');
    if (dot) *dot = '\0';
    int n = snprintf(buf + at, at < len ? len - at : 0, "%s%s %.2f", at ? ", " : "", name, w[j]);
    if (n > 0) at = at + (size_t)n < len ? at + (size_t)n : len - 1;
  }
}

/* Append the words' gains (RULE_DESCRIBED) to a weights description. */
static void gains_describe(double gs, double gc, char *buf, size_t len) {
  size_t at = strlen(buf);
  if ((gs != 0 || gc != 0) && at < len) snprintf(buf + at, len - at, "; chroma x%.2f, contrast x%.2f", 1 + gs, 1 + gc);
}

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

/* Mean CIEDE2000 between (n,3) CIELAB arrays. */
static double mean_de_lab(const float *a, const float *b, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double l1[3] = {a[3 * i], a[3 * i + 1], a[3 * i + 2]}, l2[3] = {b[3 * i], b[3 * i + 1], b[3 * i + 2]};
    sum += dlut_delta_e2000(l1, l2);
  }
  return n ? sum / (double)n : 0;
}

/* Mean CIEDE2000 between a (n,3) sRGB array and a (n,3) CIELAB target. lab_tmp is (n,3). */
static double mean_de(const float *rgb, const float *target_lab, int64_t n, float *lab_tmp) {
  dlut_color_srgb_to_lab(rgb, lab_tmp, n);
  return mean_de_lab(lab_tmp, target_lab, n);
}

/* The weighted mean (weights summing to 1) of the references' CIELAB. */
static void lab_mean(const double *w, float *const *labs, int64_t n, float *out) {
  for (int64_t i = 0; i < 3 * n; i++) {
    double v = 0;
    for (int j = 0; j < NSTOCKS; j++)
      if (w[j] > 0) v += w[j] * labs[j][i];
    out[i] = (float)v;
  }
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
  const float *ref; /* (n,3) CIELAB of the target: a reference, or a rule's mean of references */
  float *out;       /* (n,3) scratch */
  float *lab;       /* (n,3) scratch */
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

/* ==== Data: the samples and every reference applied to them ==== */

typedef struct data {
  samples fit, meas;        /* the fit's sample; the measurement's (six photos) */
  float *fit_lab[NSTOCKS];  /* (fit.n,3) CIELAB of each reference applied to the fit's sample */
  float *meas_lab[NSTOCKS]; /* (meas.n,3) the same on the measurement's sample */
  float *fit_id, *meas_id;  /* CIELAB of the untouched samples */
  float *out, *lab;         /* (max n,3) scratch */
  float *target;            /* (fit.n,3) a rule's target */
} data;

static dlut_lut *load_ref(const stock *st) {
  dlut_lut *ref = dlut_lut_load(shared_path("film-refs", st->file));
  if (!ref) fprintf(stderr, "fit_film: %s\n", dlut_last_error());
  return ref;
}

static void data_free(data *d) {
  free(d->fit.rgb);
  free(d->meas.rgb);
  for (int i = 0; i < NSTOCKS; i++) free(d->fit_lab[i]), free(d->meas_lab[i]);
  free(d->fit_id);
  free(d->meas_id);
  free(d->out);
  free(d->lab);
  free(d->target);
}

static int data_load(data *d) {
  memset(d, 0, sizeof *d);
  /* the fit's sample: a 9^3 lattice and the fitting photos */
  for (int b = 0; b < 9; b++)
    for (int g = 0; g < 9; g++)
      for (int r = 0; r < 9; r++) {
        float c[3] = {r / 8.0f, g / 8.0f, b / 8.0f};
        if (samples_push(&d->fit, c) != 0) return -1;
      }
  for (size_t i = 0; i < sizeof k_fit_photos / sizeof k_fit_photos[0]; i++)
    if (samples_add_photo(&d->fit, shared_path("photos", k_fit_photos[i]), 1500, 0) != 0) goto fail;
  /* the measurement's: all six photos, another subsample */
  for (size_t i = 0; i < sizeof k_test_photos / sizeof k_test_photos[0]; i++)
    if (samples_add_photo(&d->meas, shared_path("photos", k_test_photos[i]), 8000, 1) != 0) goto fail;
  int64_t nmax = d->fit.n > d->meas.n ? d->fit.n : d->meas.n;
  d->out = malloc(sizeof(float) * 3 * (size_t)nmax);
  d->lab = malloc(sizeof(float) * 3 * (size_t)nmax);
  d->target = malloc(sizeof(float) * 3 * (size_t)d->fit.n);
  d->fit_id = malloc(sizeof(float) * 3 * (size_t)d->fit.n);
  d->meas_id = malloc(sizeof(float) * 3 * (size_t)d->meas.n);
  if (!d->out || !d->lab || !d->target || !d->fit_id || !d->meas_id) return -1;
  dlut_color_srgb_to_lab(d->fit.rgb, d->fit_id, d->fit.n);
  dlut_color_srgb_to_lab(d->meas.rgb, d->meas_id, d->meas.n);
  for (int i = 0; i < NSTOCKS; i++) {
    dlut_lut *rl = load_ref(&k_stocks[i]);
    if (!rl) return -1;
    d->fit_lab[i] = malloc(sizeof(float) * 3 * (size_t)d->fit.n);
    d->meas_lab[i] = malloc(sizeof(float) * 3 * (size_t)d->meas.n);
    if (!d->fit_lab[i] || !d->meas_lab[i]) {
      dlut_lut_free(rl);
      return -1;
    }
    dlut_lut_apply_f32(rl, d->fit.rgb, d->out, d->fit.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_color_srgb_to_lab(d->out, d->fit_lab[i], d->fit.n);
    dlut_lut_apply_f32(rl, d->meas.rgb, d->out, d->meas.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_color_srgb_to_lab(d->out, d->meas_lab[i], d->meas.n);
    dlut_lut_free(rl);
  }
  return 0;
fail:
  fprintf(stderr, "fit_film: %s\n", dlut_last_error());
  return -1;
}

/* Mean dE2000 of a look, baked at 33^3 as the vocabulary bakes it, to a CIELAB target on the
 * measurement's sample. */
static double look_de_meas(data *d, const dlut_look *lk, const float *target) {
  dlut_lut *lut = dlut_look_bake(lk, 33);
  if (!lut) return 1e9;
  dlut_lut_apply_f32(lut, d->meas.rgb, d->out, d->meas.n, DLUT_INTERP_TETRAHEDRAL);
  dlut_lut_free(lut);
  return mean_de(d->out, target, d->meas.n, d->lab);
}

/* Fit a look to a CIELAB target on the fit's sample, from *lk (modified in place). */
static double fit_to(data *d, int bw, const float *target, dlut_look *lk, int *evals) {
  param ps[NMAXP];
  fit_ctx c = {&d->fit, target, d->out, d->lab, ps, params_for(bw, ps), 0};
  if (bw) lk->mono = 1;
  /* a measured stock renders skin (and everything skin-coloured: wood, sand, fur) as the stock
   * does; the default skin protection would put the original's colours back there */
  lk->skin_follow = 1;
  double de = fit_look(&c, lk);
  if (evals) *evals = c.evals;
  return de;
}

/* The weighted mean of fitted looks' parameters. */
static void look_wmean(const double *w, const dlut_look *looks, dlut_look *out) {
  float *f = (float *)out;
  dlut_look_init(out);
  for (int j = 0; j < NSTOCKS; j++) {
    if (w[j] <= 0) continue;
    const float *g = (const float *)&looks[j];
    for (size_t k = 0; k < sizeof(dlut_look) / sizeof(float); k++) f[k] += (float)(w[j] * g[k]);
  }
}

/* ==== The maker's words: saturation and contrast ====
 *
 * RULE_DESCRIBED adds two more descriptors a stock with no reference also
 * has: what its maker says of its saturation and its contrast (k_stocks'
 * sat and con: -1 low or soft, 0 standard, 1 high, 2 the maker's highest,
 * set from the makers' names and descriptions before this rule was run:
 * Velvia's "ultra-high saturation", Ektachrome 100VS's "very saturated",
 * 160C's "C", Astia's "soft", the portrait negatives' natural palette).
 * The rule's target is RULE_NEAREST_TYPE's mean, with its chroma scaled by
 * 1 + k_s * dS and its L* contrast about 50 by 1 + k_c * dC, where dS and
 * dC are the stock's words minus the weighted mean of the words of the
 * references in that mean. k_s and k_c are least squares over the other
 * references of the same kind: each one, predicted by RULE_NEAREST_TYPE
 * from the rest, against its own reference, on the fit's sample (with the
 * held-out stock left out of everything). */
typedef struct gains {
  double s, c; /* chroma and L* contrast scale, minus 1 */
} gains;

static void words_mean(const double *w, double *sat, double *con) {
  *sat = *con = 0;
  for (int j = 0; j < NSTOCKS; j++)
    if (w[j] > 0) *sat += w[j] * k_stocks[j].sat, *con += w[j] * k_stocks[j].con;
}

static void gains_apply(float *lab, int64_t n, gains g) {
  if (g.s == 0 && g.c == 0) return;
  float fs = (float)fmax(0.2, 1 + g.s), fc = (float)fmax(0.2, 1 + g.c);
  for (int64_t i = 0; i < n; i++) {
    float *p = lab + 3 * i;
    p[0] = fminf(fmaxf(50 + (p[0] - 50) * fc, 0), 100);
    p[1] *= fs, p[2] *= fs;
  }
}

/* k_s and k_c from the references of kind `bw`, without `exclude` (-1: none). */
static int words_coef(const data *d, int bw, int exclude, double *ks, double *kc) {
  float *base = malloc(sizeof(float) * 3 * (size_t)d->fit.n);
  if (!base) return -1;
  double ns = 0, ds = 0, nc = 0, dc = 0;
  for (int j = 0; j < NSTOCKS; j++) {
    const stock *st = &k_stocks[j];
    if (st->bw != bw || j == exclude) continue;
    double w[NSTOCKS], s0, c0, sum = 0;
    rule_weights2(RULE_NEAREST_TYPE, st->family, st->type, bw, j, exclude, w);
    for (int q = 0; q < NSTOCKS; q++) sum += w[q];
    if (sum <= 0) continue;
    words_mean(w, &s0, &c0);
    double wS = st->sat - s0, wC = st->con - c0;
    lab_mean(w, (float *const *)d->fit_lab, d->fit.n, base);
    for (int64_t i = 0; i < d->fit.n; i++) {
      const float *b = base + 3 * i, *r = d->fit_lab[j] + 3 * i;
      double x = b[1] * wS, y = b[2] * wS, z = (b[0] - 50) * wC;
      ns += x * (r[1] - b[1]) + y * (r[2] - b[2]), ds += x * x + y * y;
      nc += z * (r[0] - b[0]), dc += z * z;
    }
  }
  free(base);
  *ks = ds > 0 ? ns / ds : 0;
  *kc = dc > 0 ? nc / dc : 0;
  return 0;
}

/* The gains of rule r for a stock with words (sat, con) and weights w, the coefficients learned without
 * `exclude`. */
static int rule_gains(const data *d, rule_id r, const double *w, int bw, double sat, double con, int exclude,
                      gains *g) {
  g->s = g->c = 0;
  if (r != RULE_DESCRIBED) return 0;
  double ks, kc, s0, c0;
  if (words_coef(d, bw, exclude, &ks, &kc) != 0) return -1;
  words_mean(w, &s0, &c0);
  g->s = ks * (sat - s0), g->c = kc * (con - c0);
  return 0;
}

/* Fits of rule targets, shared between the rules and the derived stocks that ask for the same weights. */
#define NCACHE 160
typedef struct fit_cache {
  double w[NCACHE][NSTOCKS];
  gains g[NCACHE];
  dlut_look look[NCACHE];
  double de[NCACHE]; /* on the fit's sample, to the target */
  int n;
} fit_cache;

static int rule_look(data *d, fit_cache *fc, const dlut_look *fitted, rule_id r, const double *w, gains g, int bw,
                     dlut_look *out, double *de_target) {
  if (r == RULE_PARAMS) {
    look_wmean(w, fitted, out);
    if (de_target) *de_target = -1;
    return 0;
  }
  for (int k = 0; k < fc->n; k++)
    if (memcmp(fc->w[k], w, sizeof fc->w[k]) == 0 && fc->g[k].s == g.s && fc->g[k].c == g.c) {
      *out = fc->look[k];
      if (de_target) *de_target = fc->de[k];
      return 0;
    }
  if (fc->n == NCACHE) return -1;
  int k = fc->n++, evals = 0;
  memcpy(fc->w[k], w, sizeof fc->w[k]);
  fc->g[k] = g;
  lab_mean(w, d->fit_lab, d->fit.n, d->target);
  gains_apply(d->target, d->fit.n, g);
  look_wmean(w, fitted, &fc->look[k]); /* start from the parameter mean */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fc->de[k] = fit_to(d, bw, d->target, &fc->look[k], &evals);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  char who[512];
  weights_describe(w, who, sizeof who);
  fprintf(stderr, "fit_film:   target fit %6.2f  (%d evaluations, %.1f s)  %s; gains %+.3f %+.3f\n", fc->de[k], evals,
          (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, who, g.s, g.c);
  *out = fc->look[k];
  if (de_target) *de_target = fc->de[k];
  return 0;
}

static const char *short_name(const char *file) {
  static char buf[4][64];
  static int slot;
  char *o = buf[slot++ & 3];
  snprintf(o, sizeof buf[0], "%s", file);
  char *dot = strrchr(o, '.');
  if (dot) *dot = '\0';
  return o;
}

static int cmd_fit(const char *table_path, const char *report_path, int forced_rule) {
  int rc = 1;
  data d;
  static fit_cache fc;
  static dlut_look looks[NSTOCKS], held[NRULES][NSTOCKS], derived[NDERIVED];
  static gains held_g[NRULES][NSTOCKS], derived_g[NDERIVED];
  double de_fit[NSTOCKS], de_id[NSTOCKS], m_id[NSTOCKS], m_fit[NSTOCKS], secs[NSTOCKS];
  double ratio[NRULES][NSTOCKS], oracle[NRULES][NSTOCKS], de_derived[NDERIVED];
  int evals[NSTOCKS], done_rule[NRULES] = {0};
  FILE *tf = NULL, *rf = NULL;
  fc.n = 0;
  if (data_load(&d) != 0) goto done;
  fprintf(stderr, "fit_film: %lld colours to fit, %lld to measure\n", (long long)d.fit.n, (long long)d.meas.n);
  /* 1. every stock fitted to its own reference */
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    dlut_look_init(&looks[i]);
    de_id[i] = mean_de_lab(d.fit_id, d.fit_lab[i], d.fit.n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    de_fit[i] = fit_to(&d, st->bw, d.fit_lab[i], &looks[i], &evals[i]);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    secs[i] = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    m_id[i] = mean_de_lab(d.meas_id, d.meas_lab[i], d.meas.n);
    m_fit[i] = look_de_meas(&d, &looks[i], d.meas_lab[i]);
    fprintf(stderr, "fit_film: %-28s untouched %6.2f  fitted %6.2f  (%d evaluations, %.1f s); six photos %.2f\n",
            st->file, de_id[i], de_fit[i], evals[i], secs[i], m_fit[i] / m_id[i]);
  }
  /* 2. leave one out: every stock predicted by every rule from the other references */
  for (int r = 0; r < NRULES; r++) {
    if (forced_rule >= 0 && r != forced_rule) continue;
    done_rule[r] = 1;
    for (int i = 0; i < NSTOCKS; i++) {
      const stock *st = &k_stocks[i];
      double w[NSTOCKS];
      gains g;
      rule_weights((rule_id)r, st->family, st->type, st->bw, i, w);
      if (rule_gains(&d, (rule_id)r, w, st->bw, st->sat, st->con, i, &g) != 0) goto done;
      held_g[r][i] = g;
      if (rule_look(&d, &fc, looks, (rule_id)r, w, g, st->bw, &held[r][i], NULL) != 0) goto done;
      ratio[r][i] = look_de_meas(&d, &held[r][i], d.meas_lab[i]) / m_id[i];
      lab_mean(w, d.meas_lab, d.meas.n, d.lab); /* the target itself, before the model */
      gains_apply(d.lab, d.meas.n, g);
      oracle[r][i] = mean_de_lab(d.lab, d.meas_lab[i], d.meas.n) / m_id[i];
      fprintf(stderr, "fit_film: held out %-28s %-30s %.2f (target itself %.2f)\n", st->file, k_rule_name[r],
              ratio[r][i], oracle[r][i]);
    }
  }
  /* 3. the rule that holds out best: the lowest mean held-out / untouched over all stocks
   *    (fixed before the study; ties: more stocks under half) */
  int chosen = -1;
  double best = 1e9;
  for (int r = 0; r < NRULES; r++) {
    if (!done_rule[r]) continue;
    double m = 0;
    for (int i = 0; i < NSTOCKS; i++) m += ratio[r][i] / NSTOCKS;
    if (m < best - 1e-9) best = m, chosen = r;
  }
  fprintf(stderr, "fit_film: chosen rule: %s (mean held out / untouched %.3f)\n", k_rule_name[chosen], best);
  /* 4. the stocks with no reference, by the chosen rule from all the references */
  for (int k = 0; k < NDERIVED; k++) {
    double w[NSTOCKS];
    rule_weights((rule_id)chosen, k_derived[k].nearest, k_derived[k].type, k_derived[k].bw, -1, w);
    if (rule_gains(&d, (rule_id)chosen, w, k_derived[k].bw, k_derived[k].sat, k_derived[k].con, -1, &derived_g[k]) !=
            0 ||
        rule_look(&d, &fc, looks, (rule_id)chosen, w, derived_g[k], k_derived[k].bw, &derived[k], &de_derived[k]) != 0)
      goto done;
  }
  /* 5. the table and the report */
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
          " * stock predicted without its reference by the rule that held out best (%s:\n"
          " * the look fitted to the weighted CIELAB mean of the other references named),\n"
          " * the test of how well a stock with no reference is served; the entries at the\n"
          " * end are that rule's looks for the stocks that have no reference at all.\n"
          " * Regenerate (about 20 minutes of CPU; --rule N: one rule, no study):\n"
          " *     make build/bench/fit_film && build/bench/fit_film fit && clang-format -i src/looks/film_fit.h\n"
          " * The report, with the distances, is bench/fit_film_report.md. */\n"
          "#ifndef DLUT_LOOKS_FILM_FIT_H\n#define DLUT_LOOKS_FILM_FIT_H\n\n",
          k_rule_name[chosen]);
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    char eff[2048], who[1024];
    look_effect(&looks[i], st->bw, eff, sizeof eff);
    fprintf(tf, "/* %s: mean dE2000 %.2f (untouched %.2f) */\n#define LOOKS_FILM_%s \"%s\"\n", st->file, de_fit[i],
            de_id[i], st->macro, eff);
    double w[NSTOCKS];
    rule_weights((rule_id)chosen, st->family, st->type, st->bw, i, w);
    weights_describe(w, who, sizeof who);
    gains_describe(held_g[chosen][i].s, held_g[chosen][i].c, who, sizeof who);
    look_effect(&held[chosen][i], st->bw, eff, sizeof eff);
    fprintf(tf, "/* held out (%s): %s; %.2f of the untouched distance */\n#define LOOKS_FILM_%s_HELDOUT \"%s\"\n",
            k_rule_name[chosen], who, ratio[chosen][i], st->macro, eff);
  }
  for (int k = 0; k < NDERIVED; k++) {
    char eff[2048], who[1024];
    double w[NSTOCKS];
    rule_weights((rule_id)chosen, k_derived[k].nearest, k_derived[k].type, k_derived[k].bw, -1, w);
    weights_describe(w, who, sizeof who);
    gains_describe(derived_g[k].s, derived_g[k].c, who, sizeof who);
    look_effect(&derived[k], k_derived[k].bw, eff, sizeof eff);
    fprintf(tf, "/* %s, no reference (%s): %s */\n#define LOOKS_FILM_%s \"%s\"\n", k_derived[k].what,
            k_rule_name[chosen], who, k_derived[k].macro, eff);
  }
  fprintf(tf, "\n#endif\n");

  fprintf(rf,
          "# Film-stock fit (generated by `build/bench/fit_film fit`)\n\n"
          "## Fitted to their own reference\n\n"
          "Fit sample: %lld colours (a 9^3 lattice and 1500 pixels of each of astronaut, chelsea, coffee, "
          "rocket), the look baked at %d^3. Six photos: %lld pixels of astronaut, chelsea, coffee, rocket, hubble "
          "and wood (another subsample; hubble and wood are never fitted), the look baked at 33^3 as the "
          "vocabulary bakes it. Mean CIEDE2000 to the reference.\n\n"
          "| stock | family | type | fit sample: untouched | fitted | six photos: untouched | fitted | fitted / "
          "untouched | evaluations | seconds |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
          (long long)d.fit.n, FIT_SIZE, (long long)d.meas.n);
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    fprintf(rf, "| %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %d | %.1f |\n", short_name(st->file), st->family,
            st->type, de_id[i], de_fit[i], m_id[i], m_fit[i], m_fit[i] / m_id[i], evals[i], secs[i]);
  }
  fprintf(rf,
          "\n## Held out: each stock predicted from the other 16\n\n"
          "A stock with no reference has only its descriptors (family: maker, type and line; type: colour "
          "negative, slide, instant, redscale, black and white). Each rule below, fixed before the study, "
          "predicts every stock of the folder from the other references alone; the cell is the prediction's "
          "mean CIEDE2000 to the held-out stock's reference over the six photos, as a fraction of the untouched "
          "photo's (under 0.5 is the issue's bar). Except the first, a rule's look is the look model fitted to "
          "the weighted CIELAB mean of the references it names (in brackets: that mean itself, before the "
          "model). Levels with no member pass their weight on (family, then type, then all stocks of the kind: "
          "colour or black and white). The rule used for the stocks with no reference is the one with the "
          "lowest mean over all %d stocks, chosen by the tool.\n\n| stock |",
          NSTOCKS);
  for (int r = 0; r < NRULES; r++)
    if (done_rule[r]) fprintf(rf, " %s |", k_rule_name[r]);
  fprintf(rf, " the chosen rule uses |\n| --- |");
  for (int r = 0; r < NRULES; r++)
    if (done_rule[r]) fprintf(rf, " --- |");
  fprintf(rf, " --- |\n");
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    fprintf(rf, "| %s |", short_name(st->file));
    for (int r = 0; r < NRULES; r++) {
      if (!done_rule[r]) continue;
      if (r == RULE_PARAMS)
        fprintf(rf, " %.2f |", ratio[r][i]);
      else
        fprintf(rf, " %.2f [%.2f] |", ratio[r][i], oracle[r][i]);
    }
    double w[NSTOCKS];
    char who[1024];
    rule_weights((rule_id)chosen, st->family, st->type, st->bw, i, w);
    weights_describe(w, who, sizeof who);
    gains_describe(held_g[chosen][i].s, held_g[chosen][i].c, who, sizeof who);
    fprintf(rf, " %s |\n", who);
  }
  const char *sum_name[3] = {"mean", "stocks under 0.5", "worst"};
  for (int q = 0; q < 3; q++) {
    fprintf(rf, "| **%s** |", sum_name[q]);
    for (int r = 0; r < NRULES; r++) {
      if (!done_rule[r]) continue;
      double m = 0, mo = 0, wr = 0, wo = 0;
      int pass = 0, pass_o = 0;
      for (int i = 0; i < NSTOCKS; i++) {
        m += ratio[r][i] / NSTOCKS, mo += oracle[r][i] / NSTOCKS;
        pass += ratio[r][i] < 0.5, pass_o += oracle[r][i] < 0.5;
        wr = fmax(wr, ratio[r][i]), wo = fmax(wo, oracle[r][i]);
      }
      if (q == 0) fprintf(rf, r == RULE_PARAMS ? " **%.3f** |" : " **%.3f** [%.3f] |", m, mo);
      if (q == 1) fprintf(rf, r == RULE_PARAMS ? " %d |" : " %d [%d] |", pass, pass_o);
      if (q == 2) fprintf(rf, r == RULE_PARAMS ? " %.2f |" : " %.2f [%.2f] |", wr, wo);
    }
    fprintf(rf, " |\n");
  }
  fprintf(rf, "\nChosen: **%s** (mean %.3f).%s\n", k_rule_name[chosen], best,
          forced_rule >= 0 ? " (Forced with --rule: the other rules were not run.)" : "");
  fprintf(rf,
          "\n## Stocks with no reference (the chosen rule, from all %d references)\n\n"
          "| macro | stock | weights | fitted to its target (fit sample) |\n| --- | --- | --- | --- |\n",
          NSTOCKS);
  for (int k = 0; k < NDERIVED; k++) {
    double w[NSTOCKS];
    char who[1024];
    rule_weights((rule_id)chosen, k_derived[k].nearest, k_derived[k].type, k_derived[k].bw, -1, w);
    weights_describe(w, who, sizeof who);
    gains_describe(derived_g[k].s, derived_g[k].c, who, sizeof who);
    fprintf(rf, "| LOOKS_FILM_%s | %s | %s | %.2f |\n", k_derived[k].macro, k_derived[k].what, who, de_derived[k]);
  }
  fprintf(rf, "\n## Parameters (effect strings, src/looks/film_fit.h)\n\n");
  for (int i = 0; i < NSTOCKS; i++) {
    char eff[2048];
    look_effect(&looks[i], k_stocks[i].bw, eff, sizeof eff);
    fprintf(rf, "- `%s`: `%s`\n", k_stocks[i].file, eff);
  }
  rc = 0;
done:
  if (tf) fclose(tf);
  if (rf) fclose(rf);
  data_free(&d);
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
  lab = malloc(sizeof(float) * 3 * (size_t)s.n);
  if (!ref || !out || !lab) goto done;
  printf(
      "| stock | prompt | untouched | look | look / untouched | prompt to 33^3 LUT, 1 thread (median of 21) |\n"
      "| --- | --- | --- | --- | --- | --- |\n");
  for (int i = 0; i < NSTOCKS; i++) {
    const stock *st = &k_stocks[i];
    dlut_lut *rl = load_ref(st), *lk = NULL;
    if (!rl) goto done;
    dlut_lut_apply_f32(rl, s.rgb, out, s.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_free(rl);
    dlut_color_srgb_to_lab(out, ref, s.n);
    char und[512], ign[512];
    if (dlut_looks_from_prompt(st->prompt, 33, &lk, und, sizeof und, ign, sizeof ign) != 0) goto done;
    dlut_lut_apply_f32(lk, s.rgb, out, s.n, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_free(lk);
    double d1 = mean_de(out, ref, s.n, lab), d0 = mean_de(s.rgb, ref, s.n, lab);
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
  int rule = -1;
  if (argc < 2) goto usage;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--table") == 0 && i + 1 < argc)
      table = argv[++i];
    else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
      report = argv[++i];
    else if (strcmp(argv[i], "--rule") == 0 && i + 1 < argc) {
      rule = atoi(argv[++i]);
      if (rule < 0 || rule >= NRULES) goto usage;
    } else
      goto usage;
  }
  if (strcmp(argv[1], "fit") == 0) return cmd_fit(table, report, rule);
  if (strcmp(argv[1], "measure") == 0) return cmd_measure();
usage:
  fprintf(stderr, "usage: fit_film fit [--table FILE.h] [--report FILE.md] [--rule 0..%d] | fit_film measure\n",
          NRULES - 1);
  return 2;
}
