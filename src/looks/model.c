/* The look model: a parametric grade (dlut_look) evaluated on single
 * colours (dlut_look_eval, the double-precision reference written for
 * clarity) and baked into a 3D LUT (dlut_look_bake, the float kernel with
 * precomputed tables, multi-threaded). The order of operations and the
 * meaning of every parameter are in the manual of dlut/looks.h; the two
 * implementations below follow it step by step and are tested to agree
 * (tests/test_looks.c).
 *
 * Design choices, and why:
 *   - White balance is a von Kries adaptation in Bradford cone space
 *     (Lam 1985, as ICC.1 Annex E) from D65 to a shifted white: colours
 *     change the way they do under a change of illuminant, which is how
 *     raw converters implement "temperature", rather than by per-channel
 *     gains in sRGB.
 *   - The tone curve is a monotone cubic (Fritsch & Carlson 1980, SIAM J.
 *     Numer. Anal. 17(2)) through a few control points: monotone by
 *     construction, C1, and easy to steer with named controls.
 *   - L* is the tone curve applied to the luminance, and the chroma work
 *     happens in CIELAB with L* held fixed, so lightness is decided by the
 *     tone curve alone and stays monotone along every axis (a per-channel
 *     curve alone lets luminance fall under a strong white balance).
 *   - Out-of-gamut results are pulled towards the grey of the same
 *     luminance with a C1 soft knee (in the spirit of ACES' reference gamut
 *     compression, with the rational curve x/(1+x) for the part beyond the
 *     knee), so no channel clips and hue is kept. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/looks.h"
#include "dlut/parallel.h"
#include "looks/looks_internal.h"

/* Lab hue angle (degrees) at the centre of each band. */
const float dlut_looks_band_center[DLUT_LOOK_NBANDS] = {25, 60, 95, 140, 195, 250, 300, 345};
const char *const dlut_looks_band_name[DLUT_LOOK_NBANDS] = {"red",  "orange", "yellow", "green",
                                                            "aqua", "blue",   "purple", "magenta"};
#define BAND_HALF_WIDTH 45.0 /* degrees: raised-cosine half width of a band */

void dlut_look_init(dlut_look *look) { memset(look, 0, sizeof *look); }

/* ==== Preparation shared by both paths ==== */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Soft limit: x -> L tanh(x / L). Terms add up ("warm sunset film" is three
 * warmings); this keeps their sum monotone (more is still more) but stops
 * it from running away. */
static double softlim(double x, double lim) { return lim * tanh(x / lim); }

/* The tone curve's control points. x is encoded sRGB. */
#define NCTRL 7
static const double k_ctrl_x[NCTRL] = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0};

static double s_curve(double x) { /* a symmetric S through (0,0), (0.5,0.5), (1,1); slope 2 at the pivot */
  return x < 0.5 ? 2.0 * x * x : 1.0 - 2.0 * (1.0 - x) * (1.0 - x);
}

void looks_prepare(const dlut_look *lk, looks_prepared *p) {
  memset(p, 0, sizeof *p);
  /* -- white balance: target white = D65 shifted along the Planckian locus
   *    by `temp` x 25 mired, and across it (CIE 1960 v) by `tint`. */
  double mired0 = 1e6 / 6504.0, mired = clampd(mired0 + 25.0 * softlim(lk->temp, 3.0), 1e6 / 25000.0, 1e6 / 1667.0);
  double xy0[2], xy1[2];
  dlut_color_cct_to_xy(1e6 / mired0, xy0);
  dlut_color_cct_to_xy(1e6 / mired, xy1);
  double x = 0.31271 + (xy1[0] - xy0[0]), y = 0.32902 + (xy1[1] - xy0[1]);
  double den = -2.0 * x + 12.0 * y + 3.0, u = 4.0 * x / den, v = 6.0 * y / den;
  v -= 0.01 * softlim(lk->tint, 3.0); /* below the locus is magenta */
  den = 2.0 * u - 8.0 * v + 4.0;
  double xyt[2] = {3.0 * u / den, 2.0 * v / den}, dst[3];
  dlut_color_xy_to_xyz(xyt, dst);
  const double d65[3] = {DLUT_D65_X, DLUT_D65_Y, DLUT_D65_Z};
  double m[9];
  dlut_color_adaptation_rgb(DLUT_CAT_BRADFORD, d65, dst, m);
  /* normalise so that white does not clip: the largest channel of M*(1,1,1) is 1 */
  double wmax = 0;
  for (int r = 0; r < 3; r++) wmax = fmax(wmax, m[3 * r] + m[3 * r + 1] + m[3 * r + 2]);
  double ev = clampd(lk->exposure, -3, 3);
  p->exposure = pow(2.0, ev);
  p->shoulder = ev > 0;
  for (int i = 0; i < 9; i++) p->wb[i] = m[i] / wmax;
  /* -- channel mixer */
  double w[3] = {0.2126 + lk->mono_mix[0], 0.7152 + lk->mono_mix[1], 0.0722 + lk->mono_mix[2]}, ws = 0;
  for (int c = 0; c < 3; c++) ws += (w[c] = fmax(w[c], 0.0));
  for (int c = 0; c < 3; c++) p->mono_w[c] = ws > 1e-6 ? w[c] / ws : (c == 1 ? 1.0 : 0.0);
  p->mono = clampd(lk->mono, 0, 1);
  /* -- tone curve control points */
  double b = softlim(lk->brightness, 1.0), c = clampd(softlim(lk->contrast, 1.2), -1, 1.5), sh = clampd(lk->shadows, -1, 1);
  double hl = clampd(lk->highlights, -1, 1), fade = clampd(lk->fade, 0, 1), crush = clampd(lk->crush, 0, 1);
  double roll = clampd(lk->rolloff, 0, 1);
  static const double w_sh[NCTRL] = {0, 0.6, 1.0, 0.35, 0.05, 0, 0};
  static const double w_hl[NCTRL] = {0, 0, 0.05, 0.35, 1.0, 0.6, 0};
  static const double w_crush[NCTRL] = {0, 0.85, 0.4, 0.08, 0, 0, 0};
  static const double w_roll[NCTRL] = {0, 0, 0, 0.015, 0.05, 0.07, 0.09};
  double gamma = pow(2.0, -0.8 * b);
  for (int k = 0; k < NCTRL; k++) {
    double xk = k_ctrl_x[k], yk = pow(xk, gamma);
    yk += 0.6 * c * (s_curve(yk) - yk);
    yk += 0.12 * sh * w_sh[k] + 0.10 * hl * w_hl[k];
    yk *= 1.0 - crush * w_crush[k];
    yk -= roll * w_roll[k];
    yk = 0.13 * fade + yk * (1.0 - 0.13 * fade);
    p->ctrl_y[k] = yk;
  }
  /* monotone and inside [0,1] */
  for (int k = 0; k < NCTRL; k++) {
    p->ctrl_y[k] = clampd(p->ctrl_y[k], 0.0, 1.0);
    if (k > 0 && p->ctrl_y[k] < p->ctrl_y[k - 1] + 1e-3) p->ctrl_y[k] = p->ctrl_y[k - 1] + 1e-3;
  }
  if (p->ctrl_y[NCTRL - 1] > 1.0) { /* pushed past 1 by the monotone fix: rescale the top */
    double top = p->ctrl_y[NCTRL - 1];
    for (int k = 0; k < NCTRL; k++) p->ctrl_y[k] = p->ctrl_y[0] + (p->ctrl_y[k] - p->ctrl_y[0]) / (top - p->ctrl_y[0]) * (1.0 - p->ctrl_y[0]);
  }
  /* Fritsch-Carlson tangents */
  double delta[NCTRL - 1];
  for (int k = 0; k < NCTRL - 1; k++) delta[k] = (p->ctrl_y[k + 1] - p->ctrl_y[k]) / (k_ctrl_x[k + 1] - k_ctrl_x[k]);
  p->ctrl_m[0] = delta[0];
  p->ctrl_m[NCTRL - 1] = delta[NCTRL - 2];
  for (int k = 1; k < NCTRL - 1; k++) p->ctrl_m[k] = delta[k - 1] * delta[k] <= 0 ? 0 : 0.5 * (delta[k - 1] + delta[k]);
  for (int k = 0; k < NCTRL - 1; k++) {
    if (delta[k] == 0) {
      p->ctrl_m[k] = p->ctrl_m[k + 1] = 0;
      continue;
    }
    double a = p->ctrl_m[k] / delta[k], bb = p->ctrl_m[k + 1] / delta[k], s = a * a + bb * bb;
    if (s > 9.0) {
      double t = 3.0 / sqrt(s);
      p->ctrl_m[k] = t * a * delta[k];
      p->ctrl_m[k + 1] = t * bb * delta[k];
    }
  }
  /* -- Lab work */
  p->sat = 1.0 + clampd(lk->saturation < 0 ? lk->saturation : softlim(lk->saturation, 1.5), -1, 1.5);
  p->vib = clampd(lk->vibrance, -1, 1);
  /* toning vectors: soft-limited in magnitude to 30 (direction kept) */
  const float *src_ab[3] = {lk->shadow_ab, lk->highlight_ab, lk->cast_ab};
  double *dst_ab[3] = {p->shadow_ab, p->highlight_ab, p->cast_ab};
  for (int k = 0; k < 3; k++) {
    double a = src_ab[k][0], bb = src_ab[k][1], mag = sqrt(a * a + bb * bb);
    double s = mag > 1e-9 ? softlim(mag, 30.0) / mag : 0.0;
    dst_ab[k][0] = a * s;
    dst_ab[k][1] = bb * s;
  }
  p->any_band = 0;
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
    p->band_hue[k] = clampd(lk->band_hue[k], -60, 60);
    p->band_sat[k] = clampd(lk->band_sat[k], -1, 1.5);
    p->band_lum[k] = clampd(lk->band_lum[k], -1, 1);
    if (p->band_hue[k] != 0 || p->band_sat[k] != 0 || p->band_lum[k] != 0) p->any_band = 1;
    p->band_cos[k] = cos(dlut_looks_band_center[k] * M_PI / 180.0);
    p->band_sin[k] = sin(dlut_looks_band_center[k] * M_PI / 180.0);
  }
  p->clip = lk->clip > 0.5f;
  /* How hard the look pushes colours outwards decides where the soft gamut
   * compression starts: nowhere for the identity (so it bakes to the exact
   * identity), from 85% of the way to the boundary for strong looks. */
  double push = fmax(p->sat - 1.0, 0.0) + fmax(p->vib, 0.0) + fabs(softlim(lk->temp, 3.0)) / 3.0 +
                fabs(softlim(lk->tint, 3.0)) / 3.0 + fmax(ev, 0.0) / 2.0;
  for (int k = 0; k < 3; k++) push += hypot(dst_ab[k][0], dst_ab[k][1]) / 20.0;
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) push += fmax(p->band_sat[k], 0.0) / 2.0 + fabs(p->band_hue[k]) / 120.0;
  p->knee = 1.0 - (1.0 - LOOKS_GAMUT_KNEE) * fmin(push, 1.0);
}

double looks_tone(const looks_prepared *p, double x) {
  x = clampd(x, 0.0, 1.0);
  int k = 0;
  while (k < NCTRL - 2 && x > k_ctrl_x[k + 1]) k++;
  double h = k_ctrl_x[k + 1] - k_ctrl_x[k], t = (x - k_ctrl_x[k]) / h, t2 = t * t, t3 = t2 * t;
  /* cubic Hermite basis */
  return (2 * t3 - 3 * t2 + 1) * p->ctrl_y[k] + (t3 - 2 * t2 + t) * h * p->ctrl_m[k] + (-2 * t3 + 3 * t2) * p->ctrl_y[k + 1] +
         (t3 - t2) * h * p->ctrl_m[k + 1];
}

/* ==== The reference: one colour, double precision ==== */

static double srgb_dec(double v) { return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4); }
static double srgb_enc(double v) { return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1.0 / 2.4) - 0.055; }
static double lab_f(double t) { return t > 216.0 / 24389.0 ? cbrt(t) : t * (24389.0 / 27.0 / 116.0) + 16.0 / 116.0; }
static double lab_finv(double u) { return u > 6.0 / 29.0 ? u * u * u : (u - 16.0 / 116.0) * (116.0 * 27.0 / 24389.0); }

/* Weight of a band for a colour of hue angle h (degrees): raised cosine. */
static double band_weight(double h, double center) {
  double d = fabs(h - center);
  if (d > 180.0) d = 360.0 - d;
  return d >= BAND_HALF_WIDTH ? 0.0 : 0.5 * (1.0 + cos(M_PI * d / BAND_HALF_WIDTH));
}

/* Soft gamut compression of linear rgb towards the grey of luminance Y:
 * the excursion e (1 = on the gamut boundary) is mapped through a C1 knee. */
static void gamut_compress(double rgb[3], double Y, int hard, double knee) {
  if (hard) {
    for (int c = 0; c < 3; c++) rgb[c] = clampd(rgb[c], 0.0, 1.0);
    return;
  }
  Y = clampd(Y, 0.0, 1.0);
  double e = 0.0;
  for (int c = 0; c < 3; c++) {
    double d = rgb[c] - Y;
    if (d > 0) e = fmax(e, d / fmax(1.0 - Y, 1e-9));
    if (d < 0) e = fmax(e, -d / fmax(Y, 1e-9));
  }
  if (e > knee) {
    double x = (e - knee) / (1.0 - knee); /* soft clip x/(1+x): C1 at the knee, never reaches 1 */
    double e2 = knee < 1.0 ? knee + (1.0 - knee) * x / (1.0 + x) : 1.0;
    for (int c = 0; c < 3; c++) rgb[c] = Y + (rgb[c] - Y) * (e2 / e);
  }
  for (int c = 0; c < 3; c++) rgb[c] = clampd(rgb[c], 0.0, 1.0); /* float dust only */
}

void dlut_look_eval(const dlut_look *look, const float in[3], float out[3]) {
  looks_prepared p;
  looks_prepare(look, &p);
  looks_eval_prepared(&p, in, out);
}

void looks_eval_prepared(const looks_prepared *p, const float in[3], float out[3]) {
  double lin[3], t[3];
  /* 1. decode, white balance, exposure */
  for (int c = 0; c < 3; c++) lin[c] = srgb_dec(clampd(in[c], 0.0, 1.0));
  for (int r = 0; r < 3; r++) t[r] = p->wb[3 * r] * lin[0] + p->wb[3 * r + 1] * lin[1] + p->wb[3 * r + 2] * lin[2];
  for (int c = 0; c < 3; c++) {
    double v = fmax(t[c], 0.0) * p->exposure;
    if (p->shoulder) v = v * (1.0 + v / (p->exposure * p->exposure)) / (1.0 + v); /* exposure maps to 1 */
    lin[c] = v;
  }
  /* 2. channel mixer towards mono */
  double ym = p->mono_w[0] * lin[0] + p->mono_w[1] * lin[1] + p->mono_w[2] * lin[2];
  for (int c = 0; c < 3; c++) lin[c] += p->mono * (ym - lin[c]);
  /* 3. tone curve. Lightness: the curve applied to the luminance, so L* is
   *    monotone in every input channel. Colour: the curve applied to each
   *    encoded channel (as a film print or a per-channel grade does, which
   *    adds saturation with contrast); only its a*, b* are kept. */
  const double *M = dlut_color_rgb_to_xyz_matrix;
  double y_in = M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2];
  double y_tone = srgb_dec(looks_tone(p, srgb_enc(clampd(y_in, 0.0, 1.0))));
  for (int c = 0; c < 3; c++) lin[c] = srgb_dec(looks_tone(p, srgb_enc(clampd(lin[c], 0.0, 1.0))));
  /* 4. Lab */
  double X = M[0] * lin[0] + M[1] * lin[1] + M[2] * lin[2];
  double Yv = M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2];
  double Z = M[6] * lin[0] + M[7] * lin[1] + M[8] * lin[2];
  double fy = lab_f(Yv), L = 116.0 * lab_f(y_tone) - 16.0;
  double a = 500.0 * (lab_f(X / DLUT_D65_X) - fy), bb = 200.0 * (fy - lab_f(Z / DLUT_D65_Z));
  double C = sqrt(a * a + bb * bb);
  double h = atan2(bb, a) * 180.0 / M_PI; /* hue before any change */
  /* saturation and vibrance */
  double k = p->sat * (1.0 + p->vib * exp(-C / 35.0));
  a *= k;
  bb *= k;
  /* hue bands */
  if (p->any_band && C > 0) {
    double gate = C * C / (C * C + 25.0);
    if (h < 0) h += 360.0;
    double dh = 0, ds = 0, dl = 0;
    for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
      double w = band_weight(h, dlut_looks_band_center[i]);
      dh += w * p->band_hue[i];
      ds += w * p->band_sat[i];
      dl += w * p->band_lum[i];
    }
    double ang = dh * gate * M_PI / 180.0, ca = cos(ang), sa = sin(ang), s = fmax(1.0 + ds, 0.0);
    double a2 = (a * ca - bb * sa) * s, b2 = (a * sa + bb * ca) * s;
    a = a2;
    bb = b2;
    double tl = clampd(L / 100.0, 0, 1);
    L += 8.0 * dl * gate * 4.0 * tl * (1.0 - tl);
  }
  /* split toning and cast */
  double tl = clampd(L / 100.0, 0.0, 1.0);
  double ws = (1.0 - tl) * (1.0 - tl), wh = tl * tl, wc = 0.3 + 2.8 * tl * (1.0 - tl);
  a += ws * p->shadow_ab[0] + wh * p->highlight_ab[0] + wc * p->cast_ab[0];
  bb += ws * p->shadow_ab[1] + wh * p->highlight_ab[1] + wc * p->cast_ab[1];
  /* 5. back to linear sRGB, gamut compression, encode */
  fy = (L + 16.0) / 116.0;
  X = DLUT_D65_X * lab_finv(fy + a / 500.0);
  Yv = lab_finv(fy);
  Z = DLUT_D65_Z * lab_finv(fy - bb / 200.0);
  const double *N = dlut_color_xyz_to_rgb_matrix;
  double rgb[3];
  for (int r = 0; r < 3; r++) rgb[r] = N[3 * r] * X + N[3 * r + 1] * Yv + N[3 * r + 2] * Z;
  gamut_compress(rgb, Yv, p->clip, p->knee);
  for (int c = 0; c < 3; c++) out[c] = (float)srgb_enc(rgb[c]);
}

/* ==== The fast bake ==== */

/* Tables over [0,1], indexed by sqrt(x) so that the dark end (where the
 * sRGB and Lab curves bend hardest) gets most of the entries. */
#define TAB_N 4096

/* The look-independent tables, built once. */
static float g_enc[TAB_N + 1];  /* linear -> encoded sRGB, indexed by sqrt(x) */
static float g_labf[TAB_N + 1]; /* Lab f(t) on [0,1], indexed by sqrt(t) */
static pthread_once_t g_tables_once = PTHREAD_ONCE_INIT;
static void tables_build(void) {
  for (int i = 0; i <= TAB_N; i++) {
    double u = (double)i / TAB_N, x = u * u;
    g_enc[i] = (float)srgb_enc(x);
    g_labf[i] = (float)lab_f(x);
  }
}

typedef struct bake_ctx {
  const looks_prepared *p; /* the prepared look */
  int size;                /* lattice points per axis */
  float *table;            /* (size^3, 3) output, red fastest */
  const float *dec;        /* (size) decoded lattice coordinates */
  float wb[9];             /* white balance */
  float tone_lin[TAB_N + 1]; /* linear -> tone(encode(x)) -> linear, indexed by sqrt(x) */
} bake_ctx;

static inline float tab_sqrt(const float *tab, float x) {
  x = x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x;
  float u = sqrtf(x) * (float)TAB_N;
  int i = (int)u;
  if (i >= TAB_N) return tab[TAB_N];
  float f = u - (float)i;
  return tab[i] + f * (tab[i + 1] - tab[i]);
}

static inline float lab_finvf(float u) {
  return u > 6.0f / 29.0f ? u * u * u : (u - 16.0f / 116.0f) * (116.0f * 27.0f / 24389.0f);
}

/* One row of the lattice (fixed g, b; r runs fastest) per item. */
static void bake_task(void *vctx, int64_t begin, int64_t end, int thread) {
  (void)thread;
  const bake_ctx *bc = vctx;
  const looks_prepared *p = bc->p;
  const int n = bc->size;
  const float exposure = (float)p->exposure, inv_e2 = (float)(1.0 / (p->exposure * p->exposure));
  const int shoulder = p->shoulder, any_band = p->any_band, hard_clip = p->clip;
  const float mono = (float)p->mono, mw0 = (float)p->mono_w[0], mw1 = (float)p->mono_w[1], mw2 = (float)p->mono_w[2];
  const float k_sat = (float)p->sat, k_vib = (float)p->vib;
  const float knee = (float)p->knee, inv_range = knee < 1.0f ? 1.0f / (1.0f - knee) : 0.0f;
  const float sh_a = (float)p->shadow_ab[0], sh_b = (float)p->shadow_ab[1];
  const float hi_a = (float)p->highlight_ab[0], hi_b = (float)p->highlight_ab[1];
  const float ca_a = (float)p->cast_ab[0], ca_b = (float)p->cast_ab[1];
  float M[9], N[9], W[9], bcos[DLUT_LOOK_NBANDS], bsin[DLUT_LOOK_NBANDS];
  float bhue[DLUT_LOOK_NBANDS], bsat[DLUT_LOOK_NBANDS], blum[DLUT_LOOK_NBANDS];
  for (int i = 0; i < 9; i++) {
    M[i] = (float)dlut_color_rgb_to_xyz_matrix[i];
    N[i] = (float)dlut_color_xyz_to_rgb_matrix[i];
    W[i] = bc->wb[i];
  }
  for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
    bcos[i] = (float)p->band_cos[i];
    bsin[i] = (float)p->band_sin[i];
    bhue[i] = (float)p->band_hue[i];
    bsat[i] = (float)p->band_sat[i];
    blum[i] = (float)p->band_lum[i];
  }
  const float *tone = bc->tone_lin, *labf = g_labf, *enc = g_enc, *dec = bc->dec;
  for (int64_t row = begin; row < end; row++) {
    const int g = (int)(row % n), b = (int)(row / n);
    float *o = bc->table + 3 * row * n;
    /* the green and blue parts of the white-balance product are constant along the row */
    float part[3];
    for (int c = 0; c < 3; c++) part[c] = W[3 * c + 1] * dec[g] + W[3 * c + 2] * dec[b];
    for (int r = 0; r < n; r++, o += 3) {
      float lin[3];
      for (int c = 0; c < 3; c++) {
        float v = W[3 * c] * dec[r] + part[c];
        v = (v > 0.0f ? v : 0.0f) * exposure;
        if (shoulder) v = v * (1.0f + v * inv_e2) / (1.0f + v);
        lin[c] = v;
      }
      float ym = mw0 * lin[0] + mw1 * lin[1] + mw2 * lin[2];
      for (int c = 0; c < 3; c++) lin[c] += mono * (ym - lin[c]);
      float y_tone = tab_sqrt(tone, M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2]);
      for (int c = 0; c < 3; c++) lin[c] = tab_sqrt(tone, lin[c]);
      float X = M[0] * lin[0] + M[1] * lin[1] + M[2] * lin[2];
      float Y = M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2];
      float Z = M[6] * lin[0] + M[7] * lin[1] + M[8] * lin[2];
      float fy = tab_sqrt(labf, Y), L = 116.0f * tab_sqrt(labf, y_tone) - 16.0f;
      float a = 500.0f * (tab_sqrt(labf, X * (1.0f / DLUT_D65_X)) - fy);
      float bb = 200.0f * (fy - tab_sqrt(labf, Z * (1.0f / DLUT_D65_Z)));
      float C = sqrtf(a * a + bb * bb);
      float k = k_vib != 0.0f ? k_sat * (1.0f + k_vib * expf(-C * (1.0f / 35.0f))) : k_sat;
      if (any_band && C > 0.0f) {
        /* band weight cos^2(2d) = (2 cos^2 d - 1)^2 for |d| < 45 deg: the raised
         * cosine of the reference, without acos */
        float ux = a / C, uy = bb / C;
        float gate = C * C / (C * C + 25.0f), dh = 0.0f, ds = 0.0f, dl = 0.0f;
        for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
          float x = ux * bcos[i] + uy * bsin[i];
          if (x <= (float)LOOKS_BAND_COS_HALF) continue;
          float c2 = 2.0f * x * x - 1.0f, w = c2 * c2;
          dh += w * bhue[i];
          ds += w * bsat[i];
          dl += w * blum[i];
        }
        float sn, cs, ang = dh * gate * ((float)M_PI / 180.0f);
        sincosf(ang, &sn, &cs);
        float s = 1.0f + ds > 0.0f ? 1.0f + ds : 0.0f;
        float a2 = (a * cs - bb * sn) * s * k, b2 = (a * sn + bb * cs) * s * k;
        a = a2;
        bb = b2;
        float tl = L * 0.01f;
        tl = tl < 0.0f ? 0.0f : tl > 1.0f ? 1.0f : tl;
        L += 8.0f * dl * gate * 4.0f * tl * (1.0f - tl);
      } else {
        a *= k;
        bb *= k;
      }
      float tl = L * 0.01f;
      tl = tl < 0.0f ? 0.0f : tl > 1.0f ? 1.0f : tl;
      float ws = (1.0f - tl) * (1.0f - tl), wh = tl * tl, wc = 0.3f + 2.8f * tl * (1.0f - tl);
      a += ws * sh_a + wh * hi_a + wc * ca_a;
      bb += ws * sh_b + wh * hi_b + wc * ca_b;
      fy = (L + 16.0f) * (1.0f / 116.0f);
      X = DLUT_D65_X * lab_finvf(fy + a * (1.0f / 500.0f));
      Y = lab_finvf(fy);
      Z = DLUT_D65_Z * lab_finvf(fy - bb * (1.0f / 200.0f));
      float rgb[3];
      for (int c = 0; c < 3; c++) rgb[c] = N[3 * c] * X + N[3 * c + 1] * Y + N[3 * c + 2] * Z;
      if (!hard_clip) {
        float Yc = Y < 0.0f ? 0.0f : Y > 1.0f ? 1.0f : Y, e = 0.0f;
        float up = 1.0f / (1.0f - Yc > 1e-9f ? 1.0f - Yc : 1e-9f), dn = 1.0f / (Yc > 1e-9f ? Yc : 1e-9f);
        for (int c = 0; c < 3; c++) {
          float d = rgb[c] - Yc, ex = d > 0.0f ? d * up : -d * dn;
          e = ex > e ? ex : e;
        }
        if (e > knee) {
          float x = (e - knee) * inv_range, e2 = knee < 1.0f ? knee + (1.0f - knee) * x / (1.0f + x) : 1.0f;
          for (int c = 0; c < 3; c++) rgb[c] = Yc + (rgb[c] - Yc) * (e2 / e);
        }
      }
      for (int c = 0; c < 3; c++) o[c] = tab_sqrt(enc, rgb[c]);
    }
  }
}

dlut_lut *dlut_look_bake(const dlut_look *look, int size) {
  dlut_lut *lut = NULL;
  bake_ctx *bc = NULL;
  float *dec = NULL;
  looks_prepared p;
  if (!look) {
    dlut_error("look bake: NULL look");
    goto fail;
  }
  if (size < 2 || size > DLUT_LUT_MAX_SIZE) {
    dlut_error("look bake: LUT size %d out of range (2..%d)", size, DLUT_LUT_MAX_SIZE);
    goto fail;
  }
  looks_prepare(look, &p);
  pthread_once(&g_tables_once, tables_build);
  lut = dlut_lut_alloc(size, 0);
  bc = malloc(sizeof *bc);
  dec = malloc((size_t)size * sizeof *dec);
  if (!lut || !bc || !dec) {
    dlut_error("look bake: out of memory");
    goto fail;
  }
  snprintf(lut->title, sizeof lut->title, "DLUT offline look");
  for (int i = 0; i < size; i++) dec[i] = (float)srgb_dec((double)i / (size - 1));
  for (int i = 0; i < 9; i++) bc->wb[i] = (float)p.wb[i];
  for (int i = 0; i <= TAB_N; i++) {
    double u = (double)i / TAB_N, x = u * u;
    bc->tone_lin[i] = (float)srgb_dec(looks_tone(&p, srgb_enc(x)));
  }
  bc->p = &p;
  bc->size = size;
  bc->table = lut->table;
  bc->dec = dec;
  dlut_parallel_for((int64_t)size * size, 16, bake_task, bc);
  free(bc);
  free(dec);
  return lut;
fail:
  free(bc);
  free(dec);
  dlut_lut_free(lut);
  return NULL;
}
