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
 *     keeps the luminance, so lightness is decided by the tone curve alone
 *     and stays monotone along every axis (a per-channel curve alone lets
 *     luminance fall under a strong white balance).
 *   - Chroma changes (the hue kept through the tone curve, saturation,
 *     vibrance, band saturation, the gamut compression) keep the OkLab hue
 *     (Ottosson 2020, "A perceptual color space for image processing",
 *     https://bottosson.github.io/posts/oklab/), whose hue lines were fitted
 *     to perceived hue: at a fixed CIELAB hue a blue turns purple as its
 *     chroma changes (by 26 deg of OkLCh hue when pure blue is halved). The
 *     chroma is scaled in OkLab at fixed OkLab L, then all three linear
 *     channels are scaled to give back the luminance: a uniform scale of
 *     linear light multiplies OkLab's L, a and b alike, so the OkLab hue
 *     stays exactly. Hue rotations, band weights, split toning and casts
 *     stay in CIELAB, where their parameters are defined.
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

/* OkLab (Ottosson 2020): linear sRGB -> LMS (m1), cube roots, -> L, a, b (m2), and the
 * inverses, as published at https://bottosson.github.io/posts/oklab/. */
const double looks_ok_m1[9] = {0.4122214708, 0.5363325363, 0.0514459929, 0.2119034982, 0.6806995451,
                               0.1073969566, 0.0883024619, 0.2817188376, 0.6299787005};
const double looks_ok_m2[9] = {0.2104542553, 0.7936177850, -0.0040720468, 1.9779984951, -2.4285922050,
                               0.4505937099, 0.0259040371, 0.7827717662,  -0.8086757660};
const double looks_ok_m2i[9] = {1.0,           0.3963377774, 0.2158037573,  1.0,          -0.1055613458,
                                -0.0638541728, 1.0,          -0.0894841775, -1.2914855480};
const double looks_ok_m1i[9] = {4.0767416621,  -3.3077115913, 0.2309699292,  -1.2684380046, 2.6097574011,
                                -0.3413193965, -0.0041960863, -0.7034186147, 1.7076147010};

void looks_oklab_from_linear(const double rgb[3], double ok[3]) {
  double l[3];
  for (int r = 0; r < 3; r++)
    l[r] = cbrt(looks_ok_m1[3 * r] * rgb[0] + looks_ok_m1[3 * r + 1] * rgb[1] + looks_ok_m1[3 * r + 2] * rgb[2]);
  for (int r = 0; r < 3; r++)
    ok[r] = looks_ok_m2[3 * r] * l[0] + looks_ok_m2[3 * r + 1] * l[1] + looks_ok_m2[3 * r + 2] * l[2];
}

void looks_oklab_to_linear(const double ok[3], double rgb[3]) {
  double l[3];
  for (int r = 0; r < 3; r++) {
    double v = looks_ok_m2i[3 * r] * ok[0] + looks_ok_m2i[3 * r + 1] * ok[1] + looks_ok_m2i[3 * r + 2] * ok[2];
    l[r] = v * v * v;
  }
  for (int r = 0; r < 3; r++)
    rgb[r] = looks_ok_m1i[3 * r] * l[0] + looks_ok_m1i[3 * r + 1] * l[1] + looks_ok_m1i[3 * r + 2] * l[2];
}

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

/* Stacked lightening (exposure + 0.8 brightness, see looks_prepare): as asked up to the knee, then
 * soft-limited to at most knee + room. */
#define LIFT_KNEE 1.0
#define LIFT_ROOM 0.3

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
  /* darkening terms stack (night, moody, low key ...): negative exposure is soft-limited; so do the
   * lightening ones (bright, airy, high key, overexposed ...): exposure and brightness together lift
   * up to LIFT_KNEE as asked (every measured stock lifts less), and beyond it saturate at about
   * LIFT_KNEE + LIFT_ROOM, instead of adding up to a white frame */
  double ex = lk->exposure, br = lk->brightness, shl = lk->shadows, fd = lk->fade;
  double lift = fmax(ex, 0.0) + 0.8 * fmax(br, 0.0);
  if (lift > LIFT_KNEE) { /* and the lifted shadows and the fade that come with such stacks */
    double k = (LIFT_KNEE + softlim(lift - LIFT_KNEE, LIFT_ROOM)) / lift;
    if (ex > 0) ex *= k;
    if (br > 0) br *= k;
    if (shl > 0) shl *= k;
    fd *= k;
  }
  double ev = ex < 0 ? -softlim(-ex, 0.6) : clampd(ex, 0, 3);
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
  double b = br < 0 ? -softlim(-br, 0.7) : softlim(br, 1.0), c = clampd(softlim(lk->contrast, 1.2), -1, 1.5),
         sh = clampd(shl, -1, 1);
  double hl = clampd(lk->highlights, -1, 1), fade = clampd(fd, 0, 1);
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
  p->sat_shadow = clampd(lk->shadow_sat, -1, 1);
  p->sat_highlight = clampd(lk->highlight_sat, -1, 1);
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
                fabs(softlim(lk->tint, 3.0)) / 3.0 + fmax(ev, 0.0) / 2.0 +
                (fmax(p->sat_shadow, 0.0) + fmax(p->sat_highlight, 0.0)) / 2.0;
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
  memcpy(id.band_keep, lk->band_keep, sizeof id.band_keep); /* sparing the identity's change changes nothing */
  id.keep_neutral = lk->keep_neutral;
  p->keep_neutral = clampd(lk->keep_neutral, 0, 1);
  p->any_keep = p->keep_neutral > 0;
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
    p->keep[k] = clampd(lk->band_keep[k], 0, 1);
    if (p->keep[k] > 0) p->any_keep = 1;
  }
  p->any_protect = memcmp(&id, lk, sizeof id) != 0 && (p->skin > 0 || p->ends > 0 || p->any_keep);
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
 * the OkLab chroma at the same luminance, so OkLab hue and luminance stay.
 * The lower boundary is taken LOOKS_GAMUT_SLACK x Y below zero (the final
 * clamp takes the rest): the path of constant OkLab hue and luminance from
 * grey to sRGB blue dips 0.8% of its luminance below zero in red just
 * before it reaches blue, and without the slack every saturated blue would
 * stop there, at 84% of blue's chroma. */
static double excursion(const double rgb[3], double Y) {
  Y = clampd(Y, 0.0, 1.0);
  double e = 0.0;
  for (int c = 0; c < 3; c++) {
    double d = rgb[c] - Y;
    if (d > 0) e = fmax(e, d / fmax(1.0 - Y, 1e-9));
    if (d < 0) e = fmax(e, -d / fmax(Y * (1.0 + LOOKS_GAMUT_SLACK), 1e-9));
  }
  return e;
}

static double luminance(const double rgb[3]) {
  const double *M = dlut_color_rgb_to_xyz_matrix;
  return M[3] * rgb[0] + M[4] * rgb[1] + M[5] * rgb[2];
}

/* Move the linear colour rgb, whose OkLab is (L, a0, b0), to (L, a1, b1), then scale it, all
 * channels alike, to luminance Y (which keeps its OkLab hue and the ratio of its chroma to its
 * OkLab L). The move is added as the difference of the two colours, so that no change is exactly
 * no change (in the float bake too, where a round trip through OkLab would not be). A colour with
 * no luminance to scale becomes the grey of Y. */
static void ok_move(double rgb[3], double L, double a0, double b0, double a1, double b1, double Y) {
  const double o0[3] = {L, a0, b0}, o1[3] = {L, a1, b1};
  double l0[3], l1[3];
  looks_oklab_to_linear(o0, l0);
  looks_oklab_to_linear(o1, l1);
  for (int c = 0; c < 3; c++) rgb[c] += l1[c] - l0[c];
  double y = luminance(rgb);
  if (y > 1e-12) {
    for (int c = 0; c < 3; c++) rgb[c] *= Y / y;
  } else {
    for (int c = 0; c < 3; c++) rgb[c] = Y;
  }
}

/* CIELAB a*, b* of a linear colour whose luminance gives fy = f(Y). */
static void lab_ab(const double rgb[3], double fy, double *a, double *b) {
  const double *M = dlut_color_rgb_to_xyz_matrix;
  double X = M[0] * rgb[0] + M[1] * rgb[1] + M[2] * rgb[2], Z = M[6] * rgb[0] + M[7] * rgb[1] + M[8] * rgb[2];
  *a = 500.0 * (lab_f(X / DLUT_D65_X) - fy);
  *b = 200.0 * (fy - lab_f(Z / DLUT_D65_Z));
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

/* What the proportional blend above leaves of a large turn (8% of 90 deg is
 * still 7 deg) is capped: a full skin tone ends within about LOOKS_SKIN_TURN
 * of its own hue. In the input's hue frame (u, its perpendicular) the
 * perpendicular part is soft-limited (x / (1 + x^4)^(1/4), small turns kept) to
 * sin(LOOKS_SKIN_TURN) of the chroma
 * and the parallel part takes the rest, faded in with the skin weight w
 * (times a ramp on the input chroma, LOOKS_SKIN_CAP_C0..C1: near-greys that
 * are barely skin keep the plain blend, or a warm backdrop turns blotchy);
 * the chroma stays. Smooth in the colour. */
static void skin_cap_turn(double ux, double uy, double w, double *a, double *b) {
  double par = *a * ux + *b * uy, perp = -*a * uy + *b * ux, C = sqrt(par * par + perp * perp);
  if (C <= 0) return;
  double m = LOOKS_SKIN_TURN_SIN * C, r = perp / m, lim = perp / sqrt(sqrt(1.0 + r * r * r * r));
  double par_l = sqrt(fmax(C * C - lim * lim, 0.0));
  par += w * (par_l - par), perp += w * (lim - perp);
  double k = C / fmax(sqrt(par * par + perp * perp), 1e-12);
  par *= k, perp *= k;
  *a = par * ux - perp * uy, *b = par * uy + perp * ux;
}

void looks_eval_prepared(const looks_prepared *p, const float in[3], float out[3]) {
  double lin[3], t[3];
  const double *M = dlut_color_rgb_to_xyz_matrix;
  /* 0. the input's CIELAB, for the protections */
  for (int c = 0; c < 3; c++) lin[c] = srgb_dec(clampd(in[c], 0.0, 1.0));
  double in_L = 0, in_a = 0, in_b = 0, w_skin = 0, w_white = 0, w_keep = 0;
  if (p->any_protect) {
    double fx = lab_f((M[0] * lin[0] + M[1] * lin[1] + M[2] * lin[2]) / DLUT_D65_X);
    double fy = lab_f(M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2]);
    double fz = lab_f((M[6] * lin[0] + M[7] * lin[1] + M[8] * lin[2]) / DLUT_D65_Z);
    in_L = 116.0 * fy - 16.0, in_a = 500.0 * (fx - fy), in_b = 200.0 * (fy - fz);
    w_skin = p->skin * skin_weight(in_L, in_a, in_b);
    w_white = p->ends * smooth01(fmin(lin[0], fmin(lin[1], lin[2])), LOOKS_WHITE_FROM, 1.0);
    if (p->any_keep) { /* the kept bands, by the input's hue, gated at low chroma as the bands are */
      double Ci = in_a * in_a + in_b * in_b, hi = atan2(in_b, in_a) * 180.0 / M_PI;
      if (hi < 0) hi += 360.0; /* band_weight takes 0..360 */
      for (int k = 0; k < DLUT_LOOK_NBANDS; k++) w_keep += p->keep[k] * band_weight(hi, dlut_looks_band_center[k]);
      w_keep = 1.0 - (1.0 - fmin(w_keep, 1.0)) * (1.0 - fmin(w_keep, 1.0)); /* flat across the kept hues */
      w_keep *= Ci / (Ci + 25.0);
      /* and the near-neutrals, fading out from chroma 4 to 16 */
      double w_neu = p->keep_neutral * (1.0 - smooth01(sqrt(Ci), LOOKS_NEUTRAL_C0, LOOKS_NEUTRAL_C1));
      w_keep = 1.0 - (1.0 - w_keep) * (1.0 - w_neu);
    }
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
   *    saturation with contrast); only its OkLab chroma is kept: the hue
   *    stays the OkLab hue of the colour before the curve (faded in with
   *    chroma), so contrast does not turn orange into red nor blue into
   *    violet. Then the colour is scaled to the curve's luminance. */
  double y_in = (M[3] * lin[0] + M[4] * lin[1] + M[5] * lin[2]) / p->y_white;
  double y_tone = srgb_dec(looks_tone(p, srgb_enc(clampd(y_in, 0.0, 1.0))));
  double okp[3], ok[3];
  looks_oklab_from_linear(lin, okp);
  for (int c = 0; c < 3; c++) lin[c] = srgb_dec(looks_tone(p, srgb_enc(clampd(lin[c], 0.0, 1.0))));
  looks_oklab_from_linear(lin, ok);
  double Co = sqrt(ok[1] * ok[1] + ok[2] * ok[2]), Cp = sqrt(okp[1] * okp[1] + okp[2] * okp[2]);
  double a1 = ok[1], b1 = ok[2];
  if (Cp > 0) { /* the pre-curve hue, faded in with chroma (a grey has none to keep) */
    double u = Cp * Cp / (Cp * Cp + LOOKS_OK_GREY * LOOKS_OK_GREY), s = Co / Cp;
    a1 += u * (okp[1] * s - ok[1]);
    b1 += u * (okp[2] * s - ok[2]);
  }
  ok_move(lin, ok[0], ok[1], ok[2], a1, b1, y_tone);
  /* 4. Lab, L* from the curve's luminance */
  double fy = lab_f(y_tone), L = 116.0 * fy - 16.0, a, bb;
  lab_ab(lin, fy, &a, &bb);
  double C = sqrt(a * a + bb * bb), h = atan2(bb, a) * 180.0 / M_PI; /* before any change */
  /* saturation and vibrance; a boost fades out towards white and black (highlight roll-off) */
  double k = p->sat * (1.0 + p->vib * exp(-C / 35.0));
  if (p->sat_shadow != 0 || p->sat_highlight != 0) { /* the tone-weighted saturation, as the split toning */
    double tk = clampd(L / 100.0, 0.0, 1.0);
    k *= fmax(1.0 + p->sat_shadow * (1.0 - tk) * (1.0 - tk) + p->sat_highlight * tk * tk, 0.0);
  }
  if (k > 1.0) {
    double e = 2.0 * clampd(L / 100.0, 0.0, 1.0) - 1.0, e2 = e * e;
    k = 1.0 + (k - 1.0) * (1.0 - e2 * e2);
  }
  /* hue bands: weights by the CIELAB hue, their saturation joins the chroma factor */
  double dh = 0, dl = 0, gate = 0;
  if (p->any_band && C > 0) {
    double ds = 0;
    gate = C * C / (C * C + 25.0);
    if (h < 0) h += 360.0;
    for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
      double w = band_weight(h, dlut_looks_band_center[i]);
      dh += w * p->band_hue[i];
      ds += w * p->band_sat[i];
      dl += w * p->band_lum[i];
    }
    k *= fmax(1.0 + ds, 0.0);
  }
  /* the chroma factor, in OkLab at the same luminance (the OkLab hue stays) */
  if (k != 1.0) {
    looks_oklab_from_linear(lin, ok);
    ok_move(lin, ok[0], ok[1], ok[2], ok[1] * k, ok[2] * k, y_tone);
    lab_ab(lin, fy, &a, &bb);
  }
  /* the band's hue turn (in CIELAB, where the bands are defined) and lightness */
  if (dh != 0 || dl != 0) {
    double ang = dh * gate * M_PI / 180.0, ca = cos(ang), sa = sin(ang);
    double a2 = a * ca - bb * sa, b2 = a * sa + bb * ca;
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
    a += w_keep * (in_a - a); /* a kept band: the input's own colour, at the look's lightness */
    bb += w_keep * (in_b - bb);
    double Ci = sqrt(in_a * in_a + in_b * in_b), Cn = sqrt(a * a + bb * bb);
    if (w_skin > 0 && Ci > 0) {
      double s = clampd(Cn / Ci, LOOKS_SKIN_CMIN, LOOKS_SKIN_CMAX), w = LOOKS_SKIN_KEEP * w_skin;
      a += w * (in_a * s - a);
      bb += w * (in_b * s - bb);
      skin_cap_turn(in_a / Ci, in_b / Ci, w_skin * smooth01(Ci, LOOKS_SKIN_CAP_C0, LOOKS_SKIN_CAP_C1), &a, &bb);
    }
    a += w_white * (in_a - a);
    bb += w_white * (in_b - bb);
  }
  /* 5. back to linear sRGB, gamut compression (hue-preserving: the OkLab chroma is scaled at the same
   *    luminance), encode */
  double rgb[3], Yv;
  lab_to_rgb(L, a, bb, rgb, &Yv);
  if (!p->clip) {
    double e = excursion(rgb, Yv);
    if (e > p->knee) {
      double x = p->knee < 1.0 ? (e - p->knee) / (1.0 - p->knee) : 0.0;
      double target = p->knee < 1.0 ? p->knee + (1.0 - p->knee) * x / (1.0 + x) : 1.0;
      /* the chroma factor f in [0, 1] that brings the excursion to the target: regula falsi
       * (Illinois variant) on e(f) - target, which is -target at f = 0 (the grey) and e - target
       * at f = 1; the excursion grows faster than f where restoring the luminance scales the colour
       * up (saturated blues), so a plain secant step does not converge. It stops at the first
       * step within LOOKS_GAMUT_TOL of the target (from either side: the excursion need not be
       * monotone along a path of constant OkLab hue, and where it is nearly flat the first close
       * step is taken, by the float bake as by this reference), else at the last f below it.
       * The float bake runs the same steps (bake_task). */
      double okg[3], rgb0[3] = {rgb[0], rgb[1], rgb[2]}, best[3];
      double f_lo = 0, g_lo = -target, f_hi = 1, g_hi = e - target;
      int side = 0;
      looks_oklab_from_linear(rgb, okg);
      for (int c = 0; c < 3; c++) best[c] = Yv;                     /* f = 0: the grey of the same luminance */
      if (g_hi <= LOOKS_GAMUT_TOL) memcpy(best, rgb0, sizeof best); /* close enough already */
      e = g_hi <= LOOKS_GAMUT_TOL ? g_hi + target : 0;
      for (int it = 0; it < LOOKS_GAMUT_ITERS && g_hi > LOOKS_GAMUT_TOL; it++) {
        double f = (f_lo * g_hi - f_hi * g_lo) / (g_hi - g_lo);
        memcpy(rgb, rgb0, sizeof rgb0);
        ok_move(rgb, okg[0], okg[1], okg[2], okg[1] * f, okg[2] * f, Yv);
        double g = excursion(rgb, Yv) - target;
        if (g > 0) {
          f_hi = f, g_hi = g;
          if (side < 0) g_lo *= 0.5;
          side = -1;
          if (g <= LOOKS_GAMUT_TOL) { /* just above the target: taken */
            memcpy(best, rgb, sizeof best);
            e = g + target;
            break;
          }
        } else {
          f_lo = f, g_lo = g;
          memcpy(best, rgb, sizeof best);
          e = g + target;
          if (side > 0) g_hi *= 0.5;
          side = 1;
          if (g >= -LOOKS_GAMUT_TOL) break; /* inside, and close enough below the target */
        }
      }
      memcpy(rgb, best, sizeof best);
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
/* Cube root, sign kept: a first guess from the float's bits (its exponent divided by 3) and two
 * Halley steps y <- y (y^3 + 2x) / (2 y^3 + x), each cubing the relative error (3% -> 3e-5 ->
 * float rounding); cheaper than pow's log2 and exp2. */
static inline fm_v8 v_cbrt(fm_v8 x) {
  fm_v8 ax = fm_abs(x);
  fm_i8 bits = (fm_i8)ax;
  fm_i8 third = __builtin_convertvector(__builtin_convertvector(bits, fm_v8) * (1.0f / 3.0f), fm_i8);
  fm_v8 y = (fm_v8)(third + 0x2a514067);
  for (int it = 0; it < 2; it++) {
    fm_v8 y3 = y * y * y;
    y = y * (y3 + 2.0f * ax) / (2.0f * y3 + ax);
  }
  return fm_copysign(fm_sel(ax > 1e-30f, y, fm_splat(0.0f)), x);
}
static inline fm_v8 v_labf(fm_v8 t) {
  fm_v8 c = v_cbrt(fm_max(t, fm_splat(216.0f / 24389.0f)));
  return fm_sel(t > 216.0f / 24389.0f, c, t * (24389.0f / 27.0f / 116.0f) + 16.0f / 116.0f);
}
static inline fm_v8 v_labfinv(fm_v8 u) {
  return fm_sel(u > 6.0f / 29.0f, u * u * u, (u - 16.0f / 116.0f) * (116.0f * 27.0f / 24389.0f));
}
static inline fm_v8 v_sqrt(fm_v8 x) { /* x >= 0; lane by lane, which GCC turns into one vector sqrt */
  float l[FM_N];
  fm_store(l, x);
  for (int j = 0; j < FM_N; j++) l[j] = sqrtf(l[j] > 0.0f ? l[j] : 0.0f);
  return fm_load(l);
}
/* sin and cos of |x| <= 1.6 (a band's hue turn): Taylor series to x^11 and x^12, error below
 * 1e-7 */
static inline void v_sincos(fm_v8 x, fm_v8 *s, fm_v8 *c) {
  fm_v8 x2 = x * x;
  *s = x * (1.0f + x2 * (-1.0f / 6 +
                         x2 * (1.0f / 120 + x2 * (-1.0f / 5040 + x2 * (1.0f / 362880 + x2 * (-1.0f / 39916800))))));
  *c = 1.0f +
       x2 * (-0.5f + x2 * (1.0f / 24 + x2 * (-1.0f / 720 +
                                             x2 * (1.0f / 40320 + x2 * (-1.0f / 3628800 + x2 * (1.0f / 479001600))))));
}
static inline fm_i8 fm_sel_i(fm_i8 m, fm_i8 a, fm_i8 b) {
  return (m & a) | (~m & b);
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
  fm_v8 up = 1.0f / fm_max(1.0f - Yc, fm_splat(1e-9f)),
        dn = 1.0f / fm_max(Yc * (float)(1.0 + LOOKS_GAMUT_SLACK), fm_splat(1e-9f));
  fm_v8 d0 = c0 - Yc, d1 = c1 - Yc, d2 = c2 - Yc;
  return fm_max(fm_max(fm_sel(d0 > 0.0f, d0 * up, -d0 * dn), fm_sel(d1 > 0.0f, d1 * up, -d1 * dn)),
                fm_sel(d2 > 0.0f, d2 * up, -d2 * dn));
}
/* OkLab of linear sRGB and back (looks_oklab_from_linear / _to_linear); K holds the four
 * matrices as float, m1 m2 m2i m1i. */
static inline void v_ok_from_lin(const float *K, fm_v8 r, fm_v8 g, fm_v8 b, fm_v8 *L, fm_v8 *A, fm_v8 *B) {
  fm_v8 l = v_cbrt(K[0] * r + K[1] * g + K[2] * b), m = v_cbrt(K[3] * r + K[4] * g + K[5] * b);
  fm_v8 s = v_cbrt(K[6] * r + K[7] * g + K[8] * b);
  *L = K[9] * l + K[10] * m + K[11] * s;
  *A = K[12] * l + K[13] * m + K[14] * s;
  *B = K[15] * l + K[16] * m + K[17] * s;
}
static inline void v_ok_to_lin(const float *K, fm_v8 L, fm_v8 A, fm_v8 B, fm_v8 *r, fm_v8 *g, fm_v8 *b) {
  fm_v8 l = K[18] * L + K[19] * A + K[20] * B, m = K[21] * L + K[22] * A + K[23] * B;
  fm_v8 s = K[24] * L + K[25] * A + K[26] * B;
  l = l * l * l, m = m * m * m, s = s * s * s;
  *r = K[27] * l + K[28] * m + K[29] * s;
  *g = K[30] * l + K[31] * m + K[32] * s;
  *b = K[33] * l + K[34] * m + K[35] * s;
}
/* ok_move: the linear colour (r, g, b) of OkLab (L, a0, b0) moved to (L, a1, b1) and scaled to
 * luminance Y (M: rgb -> XYZ) */
static inline fm_v8 v_ok_move(const float *K, const float *M, fm_v8 *r, fm_v8 *g, fm_v8 *b, fm_v8 L, fm_v8 a0, fm_v8 b0,
                              fm_v8 a1, fm_v8 b1, fm_v8 Y) {
  fm_v8 r0, g0, bl0, r1, g1, bl1;
  v_ok_to_lin(K, L, a0, b0, &r0, &g0, &bl0);
  v_ok_to_lin(K, L, a1, b1, &r1, &g1, &bl1);
  *r += r1 - r0, *g += g1 - g0, *b += bl1 - bl0;
  fm_v8 y = M[3] * *r + M[4] * *g + M[5] * *b;
  fm_i8 ok = y > 1e-12f;
  fm_v8 sc = Y / fm_max(y, fm_splat(1e-12f));
  *r = fm_sel(ok, *r * sc, Y), *g = fm_sel(ok, *g * sc, Y), *b = fm_sel(ok, *b * sc, Y);
  return fm_sel(ok, sc, fm_splat(0.0f)); /* the scale (0 where the colour became grey) */
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
  const float k_ssh = (float)p->sat_shadow, k_shi = (float)p->sat_highlight;
  const float knee = (float)p->knee, inv_range = knee < 1.0f ? 1.0f / (1.0f - knee) : 0.0f;
  const float sh_a = (float)p->shadow_ab[0], sh_b = (float)p->shadow_ab[1];
  const float hi_a = (float)p->highlight_ab[0], hi_b = (float)p->highlight_ab[1];
  const float ca_a = (float)p->cast_ab[0], ca_b = (float)p->cast_ab[1];
  const int protect = p->any_protect;
  const float k_skin = (float)p->skin, k_ends = (float)p->ends, inv_yw = (float)(1.0 / p->y_white);
  const int any_keep = p->any_keep;
  const float k_neutral = (float)p->keep_neutral;
  float bkeep[DLUT_LOOK_NBANDS];
  for (int i = 0; i < DLUT_LOOK_NBANDS; i++) bkeep[i] = (float)p->keep[i];
  float M[9], N[9], W[9], cy[NCTRL], cm[NCTRL], K[36];
  float bcos[DLUT_LOOK_NBANDS], bsin[DLUT_LOOK_NBANDS], bhue[DLUT_LOOK_NBANDS], bsat[DLUT_LOOK_NBANDS],
      blum[DLUT_LOOK_NBANDS];
  for (int i = 0; i < 9; i++) {
    M[i] = (float)dlut_color_rgb_to_xyz_matrix[i];
    N[i] = (float)dlut_color_xyz_to_rgb_matrix[i];
    W[i] = bc->wb[i];
    K[i] = (float)looks_ok_m1[i], K[9 + i] = (float)looks_ok_m2[i];
    K[18 + i] = (float)looks_ok_m2i[i], K[27 + i] = (float)looks_ok_m1i[i];
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
      fm_v8 in_a = fm_splat(0.0f), in_b = fm_splat(0.0f), w_skin = in_a, w_white = in_a, w_keep = in_a;
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
        if (any_keep) { /* the kept bands, weighted as the hue bands (cos^2(2d) from the dot product) */
          fm_v8 ux = in_a / fm_max(Ci, fm_splat(1e-20f)), uy = in_b / fm_max(Ci, fm_splat(1e-20f));
          for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
            if (bkeep[i] == 0.0f) continue;
            fm_v8 xb = ux * bcos[i] + uy * bsin[i], cb = 2.0f * xb * xb - 1.0f;
            w_keep += bkeep[i] * fm_sel(xb > (float)LOOKS_BAND_COS_HALF, cb * cb, fm_splat(0.0f));
          }
          fm_v8 C2i = Ci * Ci;
          fm_v8 wk1 = 1.0f - fm_min(w_keep, fm_splat(1.0f));
          w_keep = (1.0f - wk1 * wk1) * C2i / (C2i + 25.0f);
          fm_v8 w_neu = k_neutral * (1.0f - v_smooth01(Ci, (float)LOOKS_NEUTRAL_C0, (float)LOOKS_NEUTRAL_C1));
          w_keep = 1.0f - (1.0f - w_keep) * (1.0f - w_neu);
        }
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
      /* 2. channel mixer; 3. tone curve (lightness from the luminance, colour per channel, OkLab hue kept) */
      fm_v8 ym = mw0 * c0 + mw1 * c1 + mw2 * c2;
      c0 += mono * (ym - c0), c1 += mono * (ym - c1), c2 += mono * (ym - c2);
      fm_v8 Y0 = M[3] * c0 + M[4] * c1 + M[5] * c2;
      fm_v8 y_tone = v_tone_lin(Y0 * inv_yw, cy, cm);
      fm_v8 pL, pa, pb, oL, oa, ob, sc_t;
      v_ok_from_lin(K, c0, c1, c2, &pL, &pa, &pb);
      c0 = v_tone_lin(c0, cy, cm), c1 = v_tone_lin(c1, cy, cm), c2 = v_tone_lin(c2, cy, cm);
      v_ok_from_lin(K, c0, c1, c2, &oL, &oa, &ob);
      {
        fm_v8 Cpsq = pa * pa + pb * pb, Co = v_sqrt(oa * oa + ob * ob), Cp = v_sqrt(Cpsq);
        fm_v8 u = Cpsq / (Cpsq + (float)(LOOKS_OK_GREY * LOOKS_OK_GREY)), sc = Co / fm_max(Cp, fm_splat(1e-20f));
        u = fm_sel(Cp > 0.0f, u, fm_splat(0.0f));
        fm_v8 a1 = oa + u * (pa * sc - oa), b1 = ob + u * (pb * sc - ob);
        sc_t = v_ok_move(K, M, &c0, &c1, &c2, oL, oa, ob, a1, b1, y_tone);
        oa = a1, ob = b1; /* (oL, oa, ob) x cbrt(sc_t) is now the colour's OkLab */
      }
      /* 4. Lab, L* from the curve's luminance */
      fm_v8 fy = v_labf(y_tone), L = 116.0f * fy - 16.0f;
      fm_v8 a = 500.0f * (v_labf((M[0] * c0 + M[1] * c1 + M[2] * c2) * (1.0f / DLUT_D65_X)) - fy);
      fm_v8 bb = 200.0f * (fy - v_labf((M[6] * c0 + M[7] * c1 + M[8] * c2) * (1.0f / DLUT_D65_Z)));
      fm_v8 C = v_sqrt(a * a + bb * bb);
      fm_v8 k = fm_splat(k_sat);
      if (k_vib != 0.0f) k = k_sat * (1.0f + k_vib * fm_exp2(C * (-1.4426950f / 35.0f)));
      if (k_ssh != 0.0f || k_shi != 0.0f) {
        fm_v8 tk = v_clamp01(L * 0.01f), sk = 1.0f - tk;
        k *= fm_max(1.0f + k_ssh * sk * sk + k_shi * tk * tk, fm_splat(0.0f));
      }
      {
        fm_v8 e = 2.0f * v_clamp01(L * 0.01f) - 1.0f, e2 = e * e;
        k = fm_sel(k > 1.0f, 1.0f + (k - 1.0f) * (1.0f - e2 * e2), k);
      }
      fm_v8 rot_c = fm_splat(1.0f), rot_s = fm_splat(0.0f);
      if (any_band) {
        /* the band weights are cos^2(2d) = (2 cos^2 d - 1)^2 for |d| < 45 deg, the raised cosine
         * of the reference, from the dot product with the band centre; bands with nothing to do
         * are skipped */
        fm_v8 Cs = fm_max(C, fm_splat(1e-20f)), ux = a / Cs, uy = bb / Cs;
        fm_v8 gate = fm_sel(C > 0.0f, C * C / (C * C + 25.0f), fm_splat(0.0f));
        fm_v8 dh = fm_splat(0.0f), ds = dh, dl = dh;
        for (int i = 0; i < DLUT_LOOK_NBANDS; i++) {
          if (bhue[i] == 0.0f && bsat[i] == 0.0f && blum[i] == 0.0f) continue;
          fm_v8 x = ux * bcos[i] + uy * bsin[i], c2_ = 2.0f * x * x - 1.0f;
          fm_v8 w = fm_sel(x > (float)LOOKS_BAND_COS_HALF, c2_ * c2_, fm_splat(0.0f));
          dh += w * bhue[i], ds += w * bsat[i], dl += w * blum[i];
        }
        v_sincos(dh * gate * ((float)M_PI / 180.0f), &rot_s, &rot_c);
        k *= fm_max(1.0f + ds, fm_splat(0.0f));
        fm_v8 tl = v_clamp01(L * 0.01f);
        L += 8.0f * dl * gate * 4.0f * tl * (1.0f - tl);
      }
      /* the chroma factor, in OkLab at the same luminance (the OkLab hue stays) */
      if (fm_any(k != 1.0f)) {
        fm_v8 t = v_cbrt(sc_t);
        oL *= t, oa *= t, ob *= t;
        v_ok_move(K, M, &c0, &c1, &c2, oL, oa, ob, oa * k, ob * k, y_tone);
        a = 500.0f * (v_labf((M[0] * c0 + M[1] * c1 + M[2] * c2) * (1.0f / DLUT_D65_X)) - fy);
        bb = 200.0f * (fy - v_labf((M[6] * c0 + M[7] * c1 + M[8] * c2) * (1.0f / DLUT_D65_Z)));
      }
      if (any_band) { /* the bands' hue turn, in CIELAB */
        fm_v8 a2 = a * rot_c - bb * rot_s;
        bb = a * rot_s + bb * rot_c, a = a2;
      }
      /* split toning and cast, fading out at pure white and black when the ends are neutral */
      fm_v8 tl = v_clamp01(L * 0.01f);
      fm_v8 q0 = 1.0f - k_ends * (1.0f - v_smooth01(tl, 0.0f, (float)LOOKS_END_RAMP));
      fm_v8 q1 = 1.0f - k_ends * (1.0f - v_smooth01(1.0f - tl, 0.0f, (float)LOOKS_END_RAMP));
      fm_v8 ws = (1.0f - tl) * (1.0f - tl) * q0, wh = tl * tl * q1, wc = (0.3f + 2.8f * tl * (1.0f - tl)) * q0 * q1;
      a += ws * sh_a + wh * hi_a + wc * ca_a;
      bb += ws * sh_b + wh * hi_b + wc * ca_b;
      if (protect) {
        a += w_keep * (in_a - a), bb += w_keep * (in_b - bb);
        fm_v8 Ci = v_sqrt(in_a * in_a + in_b * in_b), Cn = v_sqrt(a * a + bb * bb);
        fm_v8 s = fm_min(fm_max(Cn / fm_max(Ci, fm_splat(1e-20f)), fm_splat((float)LOOKS_SKIN_CMIN)),
                         fm_splat((float)LOOKS_SKIN_CMAX));
        fm_v8 w = (float)LOOKS_SKIN_KEEP * w_skin;
        a += w * (in_a * s - a), bb += w * (in_b * s - bb);
        { /* the turn's cap, as skin_cap_turn */
          fm_v8 inv = 1.0f / fm_max(Ci, fm_splat(1e-20f)), ux = in_a * inv, uy = in_b * inv;
          fm_v8 par = a * ux + bb * uy, perp = bb * ux - a * uy, C2 = par * par + perp * perp, Cr = v_sqrt(C2);
          fm_v8 m = (float)LOOKS_SKIN_TURN_SIN * Cr;
          fm_v8 r = perp / fm_max(m, fm_splat(1e-30f)), r2 = r * r;
          fm_v8 lim = perp / v_sqrt(v_sqrt(1.0f + r2 * r2));
          fm_v8 par_l = v_sqrt(fm_max(C2 - lim * lim, fm_splat(0.0f)));
          fm_v8 w_cap = w_skin * v_smooth01(Ci, (float)LOOKS_SKIN_CAP_C0, (float)LOOKS_SKIN_CAP_C1);
          par += w_cap * (par_l - par), perp += w_cap * (lim - perp);
          fm_v8 kr = Cr / fm_max(v_sqrt(par * par + perp * perp), fm_splat(1e-12f));
          par *= kr, perp *= kr;
          fm_v8 na = par * ux - perp * uy, nb = par * uy + perp * ux;
          fm_i8 on = (w_skin > 0.0f) & (Cr > 0.0f);
          a = fm_sel(on, na, a), bb = fm_sel(on, nb, bb);
        }
        a += w_white * (in_a - a), bb += w_white * (in_b - bb);
      }
      /* 5. back to linear sRGB, gamut compression (OkLab chroma at the same luminance), encode */
      fm_v8 e, Y;
      v_lab_to_rgb(L, a, bb, N, &c0, &c1, &c2, &Y);
      if (!hard_clip) {
        e = v_excursion(c0, c1, c2, Y);
        fm_i8 active = e > knee;
        if (fm_any(active)) {
          fm_v8 x = (e - knee) * inv_range;
          fm_v8 target = knee < 1.0f ? knee + (1.0f - knee) * x / (1.0f + fm_max(x, fm_splat(0.0f))) : fm_splat(1.0f);
          /* regula falsi on the OkLab chroma factor, as the reference */
          fm_v8 gL, ga, gb, r0_ = c0, r1_ = c1, r2_ = c2, e_in = e;
          v_ok_from_lin(K, c0, c1, c2, &gL, &ga, &gb);
          fm_v8 d0, d1, d2; /* the colour minus its OkLab colour's round trip: moves are added to it */
          v_ok_to_lin(K, gL, ga, gb, &d0, &d1, &d2);
          d0 = r0_ - d0, d1 = r1_ - d1, d2 = r2_ - d2;
          fm_v8 f_lo = fm_splat(0.0f), g_lo = -target, f_hi = fm_splat(1.0f), g_hi = e - target;
          fm_i8 side = (fm_i8){0}; /* -1: the last step moved the upper end, +1: the lower */
          /* lanes with nothing to compress, or already within the tolerance, are done from the start */
          fm_i8 done = ~active | (e - target <= (float)LOOKS_GAMUT_TOL);
          fm_v8 b0_ = r0_, b1_ = r1_, b2_ = r2_, be = e;
          b0_ = fm_sel(done, b0_, Y), b1_ = fm_sel(done, b1_, Y), b2_ = fm_sel(done, b2_, Y);
          be = fm_sel(done, be, fm_splat(0.0f));
          for (int it = 0; it < LOOKS_GAMUT_ITERS; it++) {
            fm_v8 f = (f_lo * g_hi - f_hi * g_lo) / (g_hi - g_lo), t0, t1, t2;
            v_ok_to_lin(K, gL, ga * f, gb * f, &t0, &t1, &t2);
            t0 += d0, t1 += d1, t2 += d2;
            fm_v8 y = M[3] * t0 + M[4] * t1 + M[5] * t2;
            fm_i8 okY = y > 1e-12f;
            fm_v8 sc = Y / fm_max(y, fm_splat(1e-12f));
            t0 = fm_sel(okY, t0 * sc, Y), t1 = fm_sel(okY, t1 * sc, Y), t2 = fm_sel(okY, t2 * sc, Y);
            fm_v8 gv = v_excursion(t0, t1, t2, Y) - target;
            /* lanes that are done (as the reference's loop, which stops there) keep their values */
            fm_i8 up = (gv > 0.0f) & ~done, lo = (gv <= 0.0f) & ~done;
            fm_i8 close = ~done & (fm_abs(gv) <= (float)LOOKS_GAMUT_TOL); /* taken, from either side */
            /* Illinois: an end kept twice in a row has its value halved */
            g_lo = fm_sel(up & (side < 0), g_lo * 0.5f, g_lo);
            g_hi = fm_sel(lo & (side > 0), g_hi * 0.5f, g_hi);
            f_hi = fm_sel(up, f, f_hi), g_hi = fm_sel(up, gv, g_hi);
            f_lo = fm_sel(lo, f, f_lo), g_lo = fm_sel(lo, gv, g_lo);
            fm_i8 take = lo | close;
            b0_ = fm_sel(take, t0, b0_), b1_ = fm_sel(take, t1, b1_), b2_ = fm_sel(take, t2, b2_);
            be = fm_sel(take, gv + target, be);
            side = fm_sel_i(up, (fm_i8){0} - 1, fm_sel_i(lo, (fm_i8){0} + 1, side));
            done |= close;
            if (!fm_any(~done)) break;
          }
          c0 = b0_, c1 = b1_, c2 = b2_, e = be;
          c0 = fm_sel(active, c0, r0_), c1 = fm_sel(active, c1, r1_), c2 = fm_sel(active, c2, r2_);
          e = fm_sel(active, e, e_in);
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
