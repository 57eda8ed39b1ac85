/* The look model: a parametric grade (dlut_look) evaluated on single
 * colours (dlut_look_eval, the double-precision reference written for
 * clarity) and baked into a 3D LUT (dlut_look_bake, the float kernel, 4 or
 * 8 lattice points at a time with the vector arithmetic of
 * color/fastmath.h, multi-threaded over lattice rows). The order of operations and the
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "color/fastmath.h"
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

void dlut_look_init(dlut_look *look) {
  memset(look, 0, sizeof *look);
}

/* ==== Preparation shared by both paths ==== */

static double clampd(double v, double lo, double hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Soft limit: x -> L tanh(x / L). Terms add up ("warm sunset film" is three
 * warmings); this keeps their sum monotone (more is still more) but stops
 * it from running away. */
static double softlim(double x, double lim) {
  return lim * tanh(x / lim);
}

/* The tone curve's control points. x is encoded sRGB. */
#define NCTRL 7
static const double k_ctrl_x[NCTRL] = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0};

/* An S through (0,0), (p,p), (1,1) with slope 2 at the pivot p (quadratic
 * on either side; p = 0.5 is the symmetric S). The pivot is mid grey after
 * the brightness curve, so contrast and darkening do not cancel: contrast
 * spreads the tones around wherever the midtones now are. */
static double s_curve(double x, double p) {
  return x < p ? x * x / p : 1.0 - (1.0 - x) * (1.0 - x) / (1.0 - p);
}

void looks_prepare(const dlut_look *lk, looks_prepared *p) {
  memset(p, 0, sizeof *p);
  /* -- white balance: target white = D65 shifted along the Planckian locus
   *    by `temp` x 25 mired, and across it (CIE 1960 v) by `tint`. */
  double mired0 = 1e6 / 6504.0, mired = clampd(mired0 + 25.0 * softlim(lk->temp, 3.0), 1e6 / 25000.0, 1e6 / 1667.0);
  double xy0[2], xy1[2];
  dlut_color_cct_to_xy(1e6 / mired0, xy0);
  dlut_color_cct_to_xy(1e6 / mired, xy1);
  /* the D65 chromaticity from the same XYZ white the Lab code uses, so that temp = tint = 0
   * gives exactly the identity adaptation */
  const double wsum = (double)DLUT_D65_X + DLUT_D65_Y + DLUT_D65_Z;
  double x = DLUT_D65_X / wsum + (xy1[0] - xy0[0]), y = DLUT_D65_Y / wsum + (xy1[1] - xy0[1]);
  double den = -2.0 * x + 12.0 * y + 3.0, u = 4.0 * x / den, v = 6.0 * y / den;
  /* tint: across the locus, towards magenta (+) or green (-); the u part keeps it off blue-violet */
  v -= 0.007 * softlim(lk->tint, 3.0);
  u += 0.0085 * softlim(lk->tint, 3.0);
  den = 2.0 * u - 8.0 * v + 4.0;
  double xyt[2] = {3.0 * u / den, 2.0 * v / den}, dst[3];
  dlut_color_xy_to_xyz(xyt, dst);
  const double d65[3] = {DLUT_D65_X, DLUT_D65_Y, DLUT_D65_Z};
  double m[9];
  dlut_color_adaptation_rgb(DLUT_CAT_BRADFORD, d65, dst, m);
  /* normalise so that white does not clip: the largest channel of M*(1,1,1) is 1 */
  double wmax = 0;
  for (int r = 0; r < 3; r++) wmax = fmax(wmax, m[3 * r] + m[3 * r + 1] + m[3 * r + 2]);
  /* darkening terms stack (night, moody, low key ...): negative exposure is soft-limited */
  double ev = lk->exposure < 0 ? -softlim(-lk->exposure, 0.6) : clampd(lk->exposure, 0, 3);
  p->exposure = pow(2.0, ev);
  p->shoulder = ev > 0;
  for (int i = 0; i < 9; i++) p->wb[i] = m[i] / wmax;
  /* the white balance must not dim white: its lightness is taken back to 1 (the tone curve's white) */
  p->y_white = 0;
  for (int r = 0; r < 3; r++)
    p->y_white += dlut_color_rgb_to_xyz_matrix[3 + r] * (p->wb[3 * r] + p->wb[3 * r + 1] + p->wb[3 * r + 2]);
  p->y_white = clampd(p->y_white, 0.05, 1.0);
  /* -- channel mixer */
  double w[3] = {0.2126 + lk->mono_mix[0], 0.7152 + lk->mono_mix[1], 0.0722 + lk->mono_mix[2]}, ws = 0;
  for (int c = 0; c < 3; c++) ws += (w[c] = fmax(w[c], 0.0));
  for (int c = 0; c < 3; c++) p->mono_w[c] = ws > 1e-6 ? w[c] / ws : (c == 1 ? 1.0 : 0.0);
  p->mono = clampd(lk->mono, 0, 1);
  /* -- tone curve control points */
  double b = lk->brightness < 0 ? -softlim(-lk->brightness, 0.7) : softlim(lk->brightness, 1.0),
         c = clampd(softlim(lk->contrast, 1.2), -1, 1.5), sh = clampd(lk->shadows, -1, 1);
  double hl = clampd(lk->highlights, -1, 1), fade = clampd(lk->fade, 0, 1);
  double crush = clampd(softlim(fmax(lk->crush, 0.0f), 0.7), 0, 1); /* stacked crushes saturate */
  double roll = clampd(lk->rolloff, 0, 1);
  static const double w_sh[NCTRL] = {0, 0.6, 1.0, 0.35, 0.05, 0, 0};
  static const double w_hl[NCTRL] = {0, 0, 0.05, 0.35, 1.0, 0.6, 0};
  static const double w_crush[NCTRL] = {0, 0.85, 0.4, 0.08, 0, 0, 0};
  static const double w_roll[NCTRL] = {0, 0, 0, 0.015, 0.05, 0.07, 0.09};
  double gamma = pow(2.0, -0.8 * b), pivot = pow(0.5, gamma);
  for (int k = 0; k < NCTRL; k++) {
    double xk = k_ctrl_x[k], yk = pow(xk, gamma);
    yk += 0.6 * c * (s_curve(yk, pivot) - yk);
    yk += 0.12 * sh * w_sh[k] + 0.10 * hl * w_hl[k];
    /* the toe and the shoulder: brightness, contrast, shadows and highlights together may take a
     * control point at most 65% of the way to black or white; only crush (asked for: "crushed
     * blacks") and roll-off go further, so stacked darkening terms do not crush the shadows */
    if (k > 0 && k < NCTRL - 1) yk = clampd(yk, LOOKS_TOE * xk, 1.0 - LOOKS_TOE * (1.0 - xk));
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
    for (int k = 0; k < NCTRL; k++)
      p->ctrl_y[k] = p->ctrl_y[0] + (p->ctrl_y[k] - p->ctrl_y[0]) / (top - p->ctrl_y[0]) * (1.0 - p->ctrl_y[0]);
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
  /* the protections: nothing to protect from the identity (which then bakes exactly) */
  p->skin = (1.0 - clampd(lk->skin_follow, 0, 1)) * (1.0 - p->mono);
  p->ends = 1.0 - clampd(lk->tint_ends, 0, 1);
  /* a tinted white must lose a little lightness (at L* = 100 only white is in gamut): with tinted
   * ends the white balance's own dimming stays */
  p->y_white = 1.0 + p->ends * (p->y_white - 1.0);
  dlut_look id;
  dlut_look_init(&id);
  id.skin_follow = lk->skin_follow;
  id.tint_ends = lk->tint_ends;
  p->any_protect = memcmp(&id, lk, sizeof id) != 0 && (p->skin > 0 || p->ends > 0);
}

double looks_tone(const looks_prepared *p, double x) {
  x = clampd(x, 0.0, 1.0);
  int k = 0;
  while (k < NCTRL - 2 && x > k_ctrl_x[k + 1]) k++;
  double h = k_ctrl_x[k + 1] - k_ctrl_x[k], t = (x - k_ctrl_x[k]) / h, t2 = t * t, t3 = t2 * t;
  /* cubic Hermite basis */
  return (2 * t3 - 3 * t2 + 1) * p->ctrl_y[k] + (t3 - 2 * t2 + t) * h * p->ctrl_m[k] +
         (-2 * t3 + 3 * t2) * p->ctrl_y[k + 1] + (t3 - t2) * h * p->ctrl_m[k + 1];
}

/* ==== The reference: one colour, double precision ==== */

static double srgb_dec(double v) {
  return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}
static double srgb_enc(double v) {
  return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
}
static double lab_f(double t) {
  return t > 216.0 / 24389.0 ? cbrt(t) : t * (24389.0 / 27.0 / 116.0) + 16.0 / 116.0;
}
static double lab_finv(double u) {
  return u > 6.0 / 29.0 ? u * u * u : (u - 16.0 / 116.0) * (116.0 * 27.0 / 24389.0);
}

/* Weight of a band for a colour of hue angle h (degrees): raised cosine. */
static double band_weight(double h, double center) {
  double d = fabs(h - center);
  if (d > 180.0) d = 360.0 - d;
  return d >= BAND_HALF_WIDTH ? 0.0 : 0.5 * (1.0 + cos(M_PI * d / BAND_HALF_WIDTH));
}

/* CIELAB (D65) to linear sRGB; *Y receives the luminance. */
static void lab_to_rgb(double L, double a, double b, double rgb[3], double *Y) {
  double fy = (L + 16.0) / 116.0;
  double X = DLUT_D65_X * lab_finv(fy + a / 500.0), Yv = lab_finv(fy), Z = DLUT_D65_Z * lab_finv(fy - b / 200.0);
  const double *N = dlut_color_xyz_to_rgb_matrix;
  for (int r = 0; r < 3; r++) rgb[r] = N[3 * r] * X + N[3 * r + 1] * Yv + N[3 * r + 2] * Z;
  *Y = Yv;
}

/* How far linear rgb lies from the grey of luminance Y towards the gamut
 * boundary: 0 on the grey, 1 on the boundary, above 1 outside. The soft
 * gamut compression maps it through a C1 knee (in the spirit of ACES'
 * reference gamut compression, with x/(1+x) beyond the knee), by scaling
 * CIELAB chroma so hue and lightness stay. */
static double excursion(const double rgb[3], double Y) {
  Y = clampd(Y, 0.0, 1.0);
  double e = 0.0;
  for (int c = 0; c < 3; c++) {
    double d = rgb[c] - Y;
    if (d > 0) e = fmax(e, d / fmax(1.0 - Y, 1e-9));
    if (d < 0) e = fmax(e, -d / fmax(Y, 1e-9));
  }
  return e;
}

void dlut_look_eval(const dlut_look *look, const float in[3], float out[3]) {
  looks_prepared p;
  looks_prepare(look, &p);
  looks_eval_prepared(&p, in, out);
}

/* Smooth step from 0 (x <= e0) to 1 (x >= e1), C1. */
static double smooth01(double x, double e0, double e1) {
  double t = clampd((x - e0) / (e1 - e0), 0.0, 1.0);
  return t * t * (3.0 - 2.0 * t);
}

/* How much a colour (CIELAB of the input) is a skin tone: hue within 45 deg
 * of LOOKS_SKIN_HUE (raised cosine), moderate chroma, neither very dark nor
 * near white. The window covers the skin tones of every complexion (CIELAB
 * hue about 30-80 deg, chroma 10-45, e.g. Xiao et al. 2011). */
static double skin_weight(double L, double a, double b) {
  double C = sqrt(a * a + b * b);
  if (C < 1e-9) return 0.0;
  double x = (a * LOOKS_SKIN_COS + b * LOOKS_SKIN_SIN) / C; /* cos of the hue difference */
  if (x <= LOOKS_BAND_COS_HALF) return 0.0;
  double hw = (2.0 * x * x - 1.0) * (2.0 * x * x - 1.0);
  hw = 1.0 - (1.0 - hw) * (1.0 - hw); /* flat across the skin hues, rolling off at 45 deg */
  return hw * smooth01(C, 5.0, 12.0) * (1.0 - smooth01(C, 42.0, 60.0)) * smooth01(L, 15.0, 30.0) *
         (1.0 - smooth01(L, 90.0, 98.0));
}

void looks_eval_prepared(const looks_prepared *p, const float in[3], float out[3]) {
  double lin[3], t[3];
  const double *M = dlut_color_rgb_to_xyz_matrix;
  /* 0. the input's CIELAB, for the protections */
  for (int c = 0; c < 3; c++) lin[c] = srgb_dec(clampd(in[c], 0.0, 1.0));
  double in_L = 0, in_a = 0, in_b = 0, w_skin = 0, w_white = 0;
  if (p->any_protect) {
    double fx = lab_f((M[0] * lin[0] + M[1] * lin[1] + M[2] * lin[2]) / DLUT_D65_X);
    double fy = lab_f(M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2]);
    double fz = lab_f((M[6] * lin[0] + M[7] * lin[1] + M[8] * lin[2]) / DLUT_D65_Z);
    in_L = 116.0 * fy - 16.0, in_a = 500.0 * (fx - fy), in_b = 200.0 * (fy - fz);
    w_skin = p->skin * skin_weight(in_L, in_a, in_b);
    w_white = p->ends * smooth01(fmin(lin[0], fmin(lin[1], lin[2])), LOOKS_WHITE_FROM, 1.0);
  }
  /* 1. white balance, exposure */
  for (int r = 0; r < 3; r++) t[r] = p->wb[3 * r] * lin[0] + p->wb[3 * r + 1] * lin[1] + p->wb[3 * r + 2] * lin[2];
  for (int c = 0; c < 3; c++) {
    double v = fmax(t[c], 0.0) * p->exposure;
    if (p->shoulder) v = v * (1.0 + v / (p->exposure * p->exposure)) / (1.0 + v); /* exposure maps to 1 */
    lin[c] = v;
  }
  /* 2. channel mixer towards mono */
  double ym = p->mono_w[0] * lin[0] + p->mono_w[1] * lin[1] + p->mono_w[2] * lin[2];
  for (int c = 0; c < 3; c++) lin[c] += p->mono * (ym - lin[c]);
  /* 3. tone curve. Lightness: the curve applied to the luminance (taken
   *    back so the white balance does not dim white), so L* is monotone in
   *    every input channel. Colour: the curve applied to each encoded
   *    channel (as a film print or a per-channel grade does, which adds
   *    saturation with contrast); only its chroma is kept: the hue stays
   *    that of the colour before the curve, so contrast does not turn
   *    orange into red. */
  double y_in = (M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2]) / p->y_white;
  double y_tone = srgb_dec(looks_tone(p, srgb_enc(clampd(y_in, 0.0, 1.0))));
  double fy0 = lab_f(M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2]);
  double a0 = 500.0 * (lab_f((M[0] * lin[0] + M[1] * lin[1] + M[2] * lin[2]) / DLUT_D65_X) - fy0);
  double b0 = 200.0 * (fy0 - lab_f((M[6] * lin[0] + M[7] * lin[1] + M[8] * lin[2]) / DLUT_D65_Z));
  for (int c = 0; c < 3; c++) lin[c] = srgb_dec(looks_tone(p, srgb_enc(clampd(lin[c], 0.0, 1.0))));
  /* 4. Lab */
  double X = M[0] * lin[0] + M[1] * lin[1] + M[2] * lin[2];
  double Yv = M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2];
  double Z = M[6] * lin[0] + M[7] * lin[1] + M[8] * lin[2];
  double fy = lab_f(Yv), L = 116.0 * lab_f(y_tone) - 16.0;
  double a = 500.0 * (lab_f(X / DLUT_D65_X) - fy), bb = 200.0 * (fy - lab_f(Z / DLUT_D65_Z));
  double C = sqrt(a * a + bb * bb), C0 = sqrt(a0 * a0 + b0 * b0);
  if (C0 > 0) { /* the pre-curve hue, faded in with chroma (a grey has none to keep) */
    double u = C0 * C0 / (C0 * C0 + 4.0), s = C / C0;
    a += u * (a0 * s - a);
    bb += u * (b0 * s - bb);
    C = sqrt(a * a + bb * bb);
  }
  double h = atan2(bb, a) * 180.0 / M_PI; /* hue before any change */
  /* saturation and vibrance; a boost fades out towards white and black (highlight roll-off) */
  double k = p->sat * (1.0 + p->vib * exp(-C / 35.0));
  if (k > 1.0) {
    double e = 2.0 * clampd(L / 100.0, 0.0, 1.0) - 1.0, e2 = e * e;
    k = 1.0 + (k - 1.0) * (1.0 - e2 * e2);
  }
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
  /* split toning and cast; with the ends neutral they fade out at pure white and black */
  double tl = clampd(L / 100.0, 0.0, 1.0);
  double r0 = 1.0 - p->ends * (1.0 - smooth01(tl, 0.0, LOOKS_END_RAMP));
  double r1 = 1.0 - p->ends * (1.0 - smooth01(1.0 - tl, 0.0, LOOKS_END_RAMP));
  double ws = (1.0 - tl) * (1.0 - tl) * r0, wh = tl * tl * r1, wc = (0.3 + 2.8 * tl * (1.0 - tl)) * r0 * r1;
  a += ws * p->shadow_ab[0] + wh * p->highlight_ab[0] + wc * p->cast_ab[0];
  bb += ws * p->shadow_ab[1] + wh * p->highlight_ab[1] + wc * p->cast_ab[1];
  /* the protections: skin keeps its hue and most of its chroma; near-white keeps its colour */
  if (p->any_protect) {
    double Ci = sqrt(in_a * in_a + in_b * in_b), Cn = sqrt(a * a + bb * bb);
    if (w_skin > 0 && Ci > 0) {
      double s = clampd(Cn / Ci, LOOKS_SKIN_CMIN, LOOKS_SKIN_CMAX), w = LOOKS_SKIN_KEEP * w_skin;
      a += w * (in_a * s - a);
      bb += w * (in_b * s - bb);
    }
    a += w_white * (in_a - a);
    bb += w_white * (in_b - bb);
  }
  /* 5. back to linear sRGB, gamut compression (hue-preserving: CIELAB chroma is scaled, L* and hue
   *    kept), encode */
  double rgb[3];
  lab_to_rgb(L, a, bb, rgb, &Yv);
  if (!p->clip) {
    double e = excursion(rgb, Yv);
    if (e > p->knee) {
      double x = p->knee < 1.0 ? (e - p->knee) / (1.0 - p->knee) : 0.0;
      double target = p->knee < 1.0 ? p->knee + (1.0 - p->knee) * x / (1.0 + x) : 1.0;
      for (int it = 0; it < 2; it++) { /* the excursion is nearly proportional to chroma: two secant steps */
        double f = target / fmax(e, 1e-20);
        a *= f;
        bb *= f;
        lab_to_rgb(L, a, bb, rgb, &Yv);
        e = excursion(rgb, Yv);
      }
    }
    if (e > 1.0) { /* what is left beyond the boundary: towards the grey of the same luminance */
      double Y = clampd(Yv, 0.0, 1.0);
      for (int c = 0; c < 3; c++) rgb[c] = Y + (rgb[c] - Y) / e;
    }
  }
  for (int c = 0; c < 3; c++) rgb[c] = clampd(rgb[c], 0.0, 1.0); /* float dust (or the asked-for hard clip) */
  for (int c = 0; c < 3; c++) out[c] = (float)srgb_enc(rgb[c]);
}

/* ==== The fast bake ==== */

typedef struct bake_ctx {
  const looks_prepared *p; /* the prepared look */
  int size;                /* lattice points per axis */
  float *table;            /* (size^3, 3) output, red fastest */
  const float *dec;        /* (size) decoded lattice coordinates */
  float wb[9];             /* white balance */
} bake_ctx;

/* ==== Vector helpers (FM_N lanes, color/fastmath.h) ==== */

static inline fm_v8 v_clamp01(fm_v8 x) {
  return fm_min(fm_max(x, fm_splat(0.0f)), fm_splat(1.0f));
}

static inline fm_v8 v_enc(fm_v8 x) { /* linear -> sRGB, x >= 0 */
  fm_v8 pw = 1.055f * fm_pow(fm_max(x, fm_splat(0.0031308f)), 1.0f / 2.4f) - 0.055f;
  return fm_sel(x <= 0.0031308f, x * 12.92f, pw);
}
static inline fm_v8 v_dec(fm_v8 v) { /* sRGB -> linear, v >= 0 */
  fm_v8 pw = fm_pow((v + 0.055f) * (1.0f / 1.055f), 2.4f);
  return fm_sel(v <= 0.04045f, v * (1.0f / 12.92f), pw);
}
static inline fm_v8 v_labf(fm_v8 t) {
  fm_v8 c = fm_pow(fm_max(t, fm_splat(216.0f / 24389.0f)), 1.0f / 3.0f);
  return fm_sel(t > 216.0f / 24389.0f, c, t * (24389.0f / 27.0f / 116.0f) + 16.0f / 116.0f);
}
static inline fm_v8 v_labfinv(fm_v8 u) {
  return fm_sel(u > 6.0f / 29.0f, u * u * u, (u - 16.0f / 116.0f) * (116.0f * 27.0f / 24389.0f));
}
static inline fm_v8 v_sqrt(fm_v8 x) {
  return fm_exp2(0.5f * fm_log2(x));
}
static inline int fm_any(fm_i8 m) {
  int32_t l[FM_N];
  memcpy(l, &m, sizeof l);
  for (int j = 0; j < FM_N; j++)
    if (l[j]) return 1;
  return 0;
}
static inline void v_lab_to_rgb(fm_v8 L, fm_v8 a, fm_v8 b, const float *N, fm_v8 *r, fm_v8 *g, fm_v8 *bl, fm_v8 *Y) {
  fm_v8 fy = (L + 16.0f) * (1.0f / 116.0f);
  fm_v8 X = DLUT_D65_X * v_labfinv(fy + a * (1.0f / 500.0f)), Yv = v_labfinv(fy);
  fm_v8 Z = DLUT_D65_Z * v_labfinv(fy - b * (1.0f / 200.0f));
  *r = N[0] * X + N[1] * Yv + N[2] * Z;
  *g = N[3] * X + N[4] * Yv + N[5] * Z;
  *bl = N[6] * X + N[7] * Yv + N[8] * Z;
  *Y = Yv;
}
static inline fm_v8 v_excursion(fm_v8 c0, fm_v8 c1, fm_v8 c2, fm_v8 Y) {
  fm_v8 Yc = v_clamp01(Y);
  fm_v8 up = 1.0f / fm_max(1.0f - Yc, fm_splat(1e-9f)), dn = 1.0f / fm_max(Yc, fm_splat(1e-9f));
  fm_v8 d0 = c0 - Yc, d1 = c1 - Yc, d2 = c2 - Yc;
  return fm_max(fm_max(fm_sel(d0 > 0.0f, d0 * up, -d0 * dn), fm_sel(d1 > 0.0f, d1 * up, -d1 * dn)),
                fm_sel(d2 > 0.0f, d2 * up, -d2 * dn));
}
static inline fm_v8 v_smooth01(fm_v8 x, float e0, float e1) {
  fm_v8 t = v_clamp01((x - e0) * (1.0f / (e1 - e0)));
  return t * t * (3.0f - 2.0f * t);
}

/* The tone curve on encoded values, as looks_tone: pick each lane's segment
 * with selects, then the cubic Hermite form. cy, cm: control values and
 * tangents (float copies of ctrl_y, ctrl_m). */
static inline fm_v8 v_tone(fm_v8 x, const float *cy, const float *cm) {
  x = v_clamp01(x);
  fm_v8 xk = fm_splat((float)k_ctrl_x[0]), h = fm_splat((float)(k_ctrl_x[1] - k_ctrl_x[0]));
  fm_v8 y0 = fm_splat(cy[0]), y1 = fm_splat(cy[1]), m0 = fm_splat(cm[0]), m1 = fm_splat(cm[1]);
  for (int k = 1; k < NCTRL - 1; k++) {
    fm_i8 c = x > (float)k_ctrl_x[k];
    xk = fm_sel(c, fm_splat((float)k_ctrl_x[k]), xk);
    h = fm_sel(c, fm_splat((float)(k_ctrl_x[k + 1] - k_ctrl_x[k])), h);
    y0 = fm_sel(c, fm_splat(cy[k]), y0);
    y1 = fm_sel(c, fm_splat(cy[k + 1]), y1);
    m0 = fm_sel(c, fm_splat(cm[k]), m0);
    m1 = fm_sel(c, fm_splat(cm[k + 1]), m1);
  }
  fm_v8 t = (x - xk) / h, t2 = t * t, t3 = t2 * t;
  return (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * h * m0 + (-2 * t3 + 3 * t2) * y1 + (t3 - t2) * h * m1;
}
static inline fm_v8 v_tone_lin(fm_v8 x, const float *cy, const float *cm) {
  return v_dec(v_tone(v_enc(v_clamp01(x)), cy, cm));
}

/* One row of the lattice (fixed g, b; r runs fastest) per item, FM_N
 * lattice points at a time; the steps are those of looks_eval_prepared, in
 * float, with branch-free arithmetic pow instead of libm (fastmath.h).
 * Hue bands, when the look has any, run lane by lane. */
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
  const int protect = p->any_protect;
  const float k_skin = (float)p->skin, k_ends = (float)p->ends, inv_yw = (float)(1.0 / p->y_white);
  float M[9], N[9], W[9], cy[NCTRL], cm[NCTRL];
  float bcos[DLUT_LOOK_NBANDS], bsin[DLUT_LOOK_NBANDS], bhue[DLUT_LOOK_NBANDS], bsat[DLUT_LOOK_NBANDS],
      blum[DLUT_LOOK_NBANDS];
  for (int i = 0; i < 9; i++) {
    M[i] = (float)dlut_color_rgb_to_xyz_matrix[i];
    N[i] = (float)dlut_color_xyz_to_rgb_matrix[i];
    W[i] = bc->wb[i];
  }
  for (int k = 0; k < NCTRL; k++) cy[k] = (float)p->ctrl_y[k], cm[k] = (float)p->ctrl_m[k];
  for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
    bcos[i] = (float)p->band_cos[i];
    bsin[i] = (float)p->band_sin[i];
    bhue[i] = (float)p->band_hue[i];
    bsat[i] = (float)p->band_sat[i];
    blum[i] = (float)p->band_lum[i];
  }
  for (int64_t row = begin; row < end; row++) {
    const int g = (int)(row % n), b = (int)(row / n);
    const float *dec = bc->dec;
    /* the green and blue parts of the white-balance product are constant along the row */
    const float p0 = W[1] * dec[g] + W[2] * dec[b], p1 = W[4] * dec[g] + W[5] * dec[b];
    const float p2 = W[7] * dec[g] + W[8] * dec[b];
    float *o = bc->table + 3 * row * n;
    for (int r0 = 0; r0 < n; r0 += FM_N) {
      fm_v8 d = fm_load(dec + r0); /* dec is padded to a multiple of FM_N */
      /* 0. the input's CIELAB, for the protections */
      fm_v8 in_a = fm_splat(0.0f), in_b = fm_splat(0.0f), w_skin = in_a, w_white = in_a;
      if (protect) {
        fm_v8 fx = v_labf((M[0] * d + (M[1] * dec[g] + M[2] * dec[b])) * (1.0f / DLUT_D65_X));
        fm_v8 fy_ = v_labf(M[3] * d + (M[4] * dec[g] + M[5] * dec[b]));
        fm_v8 fz = v_labf((M[6] * d + (M[7] * dec[g] + M[8] * dec[b])) * (1.0f / DLUT_D65_Z));
        fm_v8 in_L = 116.0f * fy_ - 16.0f;
        in_a = 500.0f * (fx - fy_), in_b = 200.0f * (fy_ - fz);
        fm_v8 Ci = v_sqrt(in_a * in_a + in_b * in_b);
        fm_v8 x = (in_a * (float)LOOKS_SKIN_COS + in_b * (float)LOOKS_SKIN_SIN) / fm_max(Ci, fm_splat(1e-20f));
        fm_v8 c2_ = 2.0f * x * x - 1.0f;
        fm_v8 hw = fm_sel(x > (float)LOOKS_BAND_COS_HALF, c2_ * c2_, fm_splat(0.0f));
        hw = 1.0f - (1.0f - hw) * (1.0f - hw);
        w_skin = k_skin * hw * v_smooth01(Ci, 5.0f, 12.0f) * (1.0f - v_smooth01(Ci, 42.0f, 60.0f)) *
                 v_smooth01(in_L, 15.0f, 30.0f) * (1.0f - v_smooth01(in_L, 90.0f, 98.0f));
        w_skin = fm_sel(Ci > 1e-9f, w_skin, fm_splat(0.0f));
        fm_v8 mn = fm_min(d, fm_splat(dec[g] < dec[b] ? dec[g] : dec[b]));
        w_white = k_ends * v_smooth01(mn, (float)LOOKS_WHITE_FROM, 1.0f);
      }
      /* 1. white balance, exposure */
      fm_v8 c0 = fm_max(W[0] * d + p0, fm_splat(0.0f)) * exposure;
      fm_v8 c1 = fm_max(W[3] * d + p1, fm_splat(0.0f)) * exposure;
      fm_v8 c2 = fm_max(W[6] * d + p2, fm_splat(0.0f)) * exposure;
      if (shoulder) {
        c0 = c0 * (1.0f + c0 * inv_e2) / (1.0f + c0);
        c1 = c1 * (1.0f + c1 * inv_e2) / (1.0f + c1);
        c2 = c2 * (1.0f + c2 * inv_e2) / (1.0f + c2);
      }
      /* 2. channel mixer; 3. tone curve (lightness from the luminance, colour per channel, hue kept) */
      fm_v8 ym = mw0 * c0 + mw1 * c1 + mw2 * c2;
      c0 += mono * (ym - c0), c1 += mono * (ym - c1), c2 += mono * (ym - c2);
      fm_v8 Y0 = M[3] * c0 + M[4] * c1 + M[5] * c2;
      fm_v8 y_tone = v_tone_lin(Y0 * inv_yw, cy, cm);
      fm_v8 fy0 = v_labf(Y0);
      fm_v8 a0 = 500.0f * (v_labf((M[0] * c0 + M[1] * c1 + M[2] * c2) * (1.0f / DLUT_D65_X)) - fy0);
      fm_v8 b0 = 200.0f * (fy0 - v_labf((M[6] * c0 + M[7] * c1 + M[8] * c2) * (1.0f / DLUT_D65_Z)));
      c0 = v_tone_lin(c0, cy, cm), c1 = v_tone_lin(c1, cy, cm), c2 = v_tone_lin(c2, cy, cm);
      /* 4. Lab */
      fm_v8 X = M[0] * c0 + M[1] * c1 + M[2] * c2;
      fm_v8 Y = M[3] * c0 + M[4] * c1 + M[5] * c2;
      fm_v8 Z = M[6] * c0 + M[7] * c1 + M[8] * c2;
      fm_v8 fy = v_labf(Y), L = 116.0f * v_labf(y_tone) - 16.0f;
      fm_v8 a = 500.0f * (v_labf(X * (1.0f / DLUT_D65_X)) - fy);
      fm_v8 bb = 200.0f * (fy - v_labf(Z * (1.0f / DLUT_D65_Z)));
      fm_v8 C = v_sqrt(a * a + bb * bb);
      {
        fm_v8 C0sq = a0 * a0 + b0 * b0, C0 = v_sqrt(C0sq);
        fm_v8 u = C0sq / (C0sq + 4.0f), sc = C / fm_max(C0, fm_splat(1e-20f));
        u = fm_sel(C0 > 0.0f, u, fm_splat(0.0f));
        a += u * (a0 * sc - a), bb += u * (b0 * sc - bb);
        C = v_sqrt(a * a + bb * bb);
      }
      fm_v8 k = fm_splat(k_sat);
      if (k_vib != 0.0f) k = k_sat * (1.0f + k_vib * fm_exp2(C * (-1.4426950f / 35.0f)));
      {
        fm_v8 e = 2.0f * v_clamp01(L * 0.01f) - 1.0f, e2 = e * e;
        k = fm_sel(k > 1.0f, 1.0f + (k - 1.0f) * (1.0f - e2 * e2), k);
      }
      if (any_band) {
        /* lane by lane: the band weights are cos^2(2d) = (2 cos^2 d - 1)^2 for |d| < 45 deg,
         * the raised cosine of the reference, from the dot product with the band centre */
        float la[FM_N], lb[FM_N], lc[FM_N], lL[FM_N], lk[FM_N];
        fm_store(la, a), fm_store(lb, bb), fm_store(lc, C), fm_store(lL, L), fm_store(lk, k);
        for (int j = 0; j < FM_N; j++) {
          float aj = la[j] * lk[j], bj = lb[j] * lk[j], Cj = lc[j];
          if (!(Cj > 0.0f)) {
            la[j] = aj, lb[j] = bj;
            continue;
          }
          float ux = la[j] / Cj, uy = lb[j] / Cj, gate = Cj * Cj / (Cj * Cj + 25.0f), dh = 0, ds = 0, dl = 0;
          for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
            float x = ux * bcos[i] + uy * bsin[i];
            if (x <= (float)LOOKS_BAND_COS_HALF) continue;
            float c2_ = 2.0f * x * x - 1.0f, w = c2_ * c2_;
            dh += w * bhue[i], ds += w * bsat[i], dl += w * blum[i];
          }
          float sn, cs;
          sincosf(dh * gate * ((float)M_PI / 180.0f), &sn, &cs);
          float sc = 1.0f + ds > 0.0f ? 1.0f + ds : 0.0f;
          la[j] = (aj * cs - bj * sn) * sc;
          lb[j] = (aj * sn + bj * cs) * sc;
          float tl = fminf(fmaxf(lL[j] * 0.01f, 0.0f), 1.0f);
          lL[j] += 8.0f * dl * gate * 4.0f * tl * (1.0f - tl);
        }
        a = fm_load(la), bb = fm_load(lb), L = fm_load(lL);
      } else {
        a *= k, bb *= k;
      }
      /* split toning and cast, fading out at pure white and black when the ends are neutral */
      fm_v8 tl = v_clamp01(L * 0.01f);
      fm_v8 q0 = 1.0f - k_ends * (1.0f - v_smooth01(tl, 0.0f, (float)LOOKS_END_RAMP));
      fm_v8 q1 = 1.0f - k_ends * (1.0f - v_smooth01(1.0f - tl, 0.0f, (float)LOOKS_END_RAMP));
      fm_v8 ws = (1.0f - tl) * (1.0f - tl) * q0, wh = tl * tl * q1, wc = (0.3f + 2.8f * tl * (1.0f - tl)) * q0 * q1;
      a += ws * sh_a + wh * hi_a + wc * ca_a;
      bb += ws * sh_b + wh * hi_b + wc * ca_b;
      if (protect) {
        fm_v8 Ci = v_sqrt(in_a * in_a + in_b * in_b), Cn = v_sqrt(a * a + bb * bb);
        fm_v8 s = fm_min(fm_max(Cn / fm_max(Ci, fm_splat(1e-20f)), fm_splat((float)LOOKS_SKIN_CMIN)),
                         fm_splat((float)LOOKS_SKIN_CMAX));
        fm_v8 w = (float)LOOKS_SKIN_KEEP * w_skin;
        a += w * (in_a * s - a), bb += w * (in_b * s - bb);
        a += w_white * (in_a - a), bb += w_white * (in_b - bb);
      }
      /* 5. back to linear sRGB, hue-preserving gamut compression, encode */
      fm_v8 e;
      v_lab_to_rgb(L, a, bb, N, &c0, &c1, &c2, &Y);
      if (!hard_clip) {
        e = v_excursion(c0, c1, c2, Y);
        fm_i8 active = e > knee;
        if (fm_any(active)) {
          fm_v8 x = (e - knee) * inv_range;
          fm_v8 target = knee < 1.0f ? knee + (1.0f - knee) * x / (1.0f + fm_max(x, fm_splat(0.0f))) : fm_splat(1.0f);
          for (int it = 0; it < 2; it++) {
            fm_v8 f = fm_sel(active, target / fm_max(e, fm_splat(1e-20f)), fm_splat(1.0f));
            a *= f, bb *= f;
            v_lab_to_rgb(L, a, bb, N, &c0, &c1, &c2, &Y);
            e = v_excursion(c0, c1, c2, Y);
          }
        }
        fm_v8 Yc = v_clamp01(Y), inv = fm_sel(e > 1.0f, 1.0f / fm_max(e, fm_splat(1e-20f)), fm_splat(1.0f));
        c0 = Yc + (c0 - Yc) * inv, c1 = Yc + (c1 - Yc) * inv, c2 = Yc + (c2 - Yc) * inv;
      }
      c0 = v_enc(v_clamp01(c0)), c1 = v_enc(v_clamp01(c1)), c2 = v_enc(v_clamp01(c2));
      float l0[FM_N], l1[FM_N], l2[FM_N];
      fm_store(l0, c0), fm_store(l1, c1), fm_store(l2, c2);
      int lanes = n - r0 < FM_N ? n - r0 : FM_N;
      for (int j = 0; j < lanes; j++) {
        o[3 * (r0 + j) + 0] = l0[j];
        o[3 * (r0 + j) + 1] = l1[j];
        o[3 * (r0 + j) + 2] = l2[j];
      }
    }
  }
}

dlut_lut *dlut_look_bake(const dlut_look *look, int size) {
  dlut_lut *lut = NULL;
  bake_ctx *bc = NULL;
  float *dec = NULL;
  looks_prepared p;
  size_t padded = 0;
  if (!look) {
    dlut_error("look bake: NULL look");
    goto fail;
  }
  if (size < 2 || size > DLUT_LUT_MAX_SIZE) {
    dlut_error("look bake: LUT size %d out of range (2..%d)", size, DLUT_LUT_MAX_SIZE);
    goto fail;
  }
  looks_prepare(look, &p);
  lut = dlut_lut_alloc(size, 0);
  bc = malloc(sizeof *bc);
  /* padded to a whole number of vectors (the padding lanes are computed and dropped) */
  padded = ((size_t)size + FM_N - 1) / FM_N * FM_N;
  dec = malloc(padded * sizeof *dec);
  if (!lut || !bc || !dec) {
    dlut_error("look bake: out of memory");
    goto fail;
  }
  snprintf(lut->title, sizeof lut->title, "DLUT offline look");
  for (size_t i = 0; i < padded; i++) dec[i] = (float)srgb_dec(i < (size_t)size ? (double)i / (size - 1) : 0.5);
  for (int i = 0; i < 9; i++) bc->wb[i] = (float)p.wb[i];
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
