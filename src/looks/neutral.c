/* "Remove the colour cast" (auto white balance, 去掉偏色, 校正白平衡): a
 * 3D LUT cannot know a photo's cast, but the grade has the photo. The cast
 * is the mean CIELAB (a*, b*) of the photos' near-neutral pixels (chroma
 * under NEUTRAL_C, L* between 15 and 95, opaque: the greys, whites and
 * concrete a cast shows in, not the saturated colours that are meant to be
 * there). Where under 2% of the sampled pixels are near neutral there is
 * nothing to judge a cast by (a red wall is red, not a cast): no
 * correction. The look's white balance (temp, tint) and exposure are then
 * solved so that the look takes that cast's grey to neutral at its own
 * lightness (exposure: the white balance alone dims a colour it warms or
 * cools): Newton steps on dlut_look_eval itself, with the look's other
 * terms in place, so "remove the cast, then warm" ends warm from a neutral
 * start. What the white balance cannot reach within its range (temp and
 * tint -4..4) is taken by a mid-tone cast offset. The protections of skin
 * and of pure white and black are off in such a look: the cast is there
 * too, and they would keep it. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/looks.h"

#define NEUTRAL_C 14.0          /* chroma of a near-neutral pixel */
#define NEUTRAL_MIN_SHARE 0.02  /* share of near-neutral pixels below which no cast is judged */
#define NEUTRAL_SAMPLES 40000.0 /* pixels sampled per photo, about */
#define WB_MAX 4.0f             /* |temp|, |tint| of the corrected look (the documented range) */
#define EV_MAX 1.0f             /* |exposure| the lightness compensation may add */

/* Encoded sRGB of pixel (x, y), 0..1; 0 for a pixel under half opacity (it is not seen). */
static int pixel_rgb(const dlut_image *img, int x, int y, float rgb[3]) {
  const void *p = dlut_image_pixel(img, x, y);
  float v[4] = {0, 0, 0, 1};
  for (int c = 0; c < img->channels && c < 4; c++) {
    if (img->type == DLUT_PIXEL_U8)
      v[c] = ((const uint8_t *)p)[c] / 255.0f;
    else if (img->type == DLUT_PIXEL_U16)
      v[c] = ((const uint16_t *)p)[c] / 65535.0f;
    else
      v[c] = fminf(fmaxf(((const float *)p)[c], 0.0f), 1.0f);
  }
  memcpy(rgb, v, 3 * sizeof(float));
  return img->channels < 4 || v[3] >= 0.5f;
}

int dlut_looks_photo_cast(const dlut_image *const *photos, int n_photos, double cast_ab[2], double *neutral_share) {
  double sa = 0, sb = 0;
  int64_t nn = 0, total = 0;
  cast_ab[0] = cast_ab[1] = 0.0;
  if (neutral_share) *neutral_share = 0.0;
  if (!photos || n_photos < 1) return dlut_error("looks: no photo to measure the cast on");
  for (int i = 0; i < n_photos; i++) {
    const dlut_image *img = photos[i];
    if (!img || img->width < 1 || img->height < 1 || img->channels < 3)
      return dlut_error("looks: photo %d cannot be measured", i + 1);
    double px = (double)img->width * img->height;
    int step = px > NEUTRAL_SAMPLES ? (int)ceil(sqrt(px / NEUTRAL_SAMPLES)) : 1;
    for (int y = step / 2; y < img->height; y += step)
      for (int x = step / 2; x < img->width; x += step) {
        float rgb[3], lab[3];
        if (!pixel_rgb(img, x, y, rgb)) continue;
        total++;
        dlut_color_srgb_to_lab(rgb, lab, 1);
        if (lab[0] < 15.0f || lab[0] > 95.0f || hypotf(lab[1], lab[2]) >= NEUTRAL_C) continue;
        sa += lab[1], sb += lab[2], nn++;
      }
  }
  double share = total ? (double)nn / (double)total : 0.0;
  if (neutral_share) *neutral_share = share;
  if (nn > 0 && share >= NEUTRAL_MIN_SHARE) cast_ab[0] = sa / (double)nn, cast_ab[1] = sb / (double)nn;
  return 0;
}

/* CIELAB of the look applied to one encoded sRGB colour. */
static void graded_lab(const dlut_look *lk, const float rgb[3], double out[3]) {
  float o[3], lab[3];
  dlut_look_eval(lk, rgb, o);
  dlut_color_srgb_to_lab(o, lab, 1);
  out[0] = lab[0], out[1] = lab[1], out[2] = lab[2];
}

static float clampf(float v, float lo, float hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/* Solve the n (2 or 3) unknowns vars[] so that the look takes `from` to `want` (its L*, a*, b*; with
 * n = 2 only a*, b*), a few Newton steps with central-difference Jacobians. lo/hi bound each unknown. */
static void solve(dlut_look *lk, float *const *vars, int n, const float *lo, const float *hi, const float from[3],
                  const double want[3]) {
  const int r0 = n == 3 ? 0 : 1; /* the residual rows: L*, a*, b* or a*, b* */
  for (int it = 0; it < 10; it++) {
    double cur[3], r[3] = {0, 0, 0}, j[3][3] = {{0}};
    graded_lab(lk, from, cur);
    double norm = 0;
    for (int k = 0; k < n; k++) r[k] = cur[r0 + k] - want[r0 + k], norm += r[k] * r[k];
    if (sqrt(norm) < 0.03) return;
    for (int v = 0; v < n; v++) {
      const float h = 0.04f, keep = *vars[v];
      double ap[3], am[3];
      *vars[v] = keep + h;
      graded_lab(lk, from, ap);
      *vars[v] = keep - h;
      graded_lab(lk, from, am);
      *vars[v] = keep;
      for (int k = 0; k < n; k++) j[k][v] = (ap[r0 + k] - am[r0 + k]) / (2 * h);
    }
    /* solve J d = r (Cramer: n <= 3) */
    double det = n == 2 ? j[0][0] * j[1][1] - j[0][1] * j[1][0]
                        : j[0][0] * (j[1][1] * j[2][2] - j[1][2] * j[2][1]) -
                              j[0][1] * (j[1][0] * j[2][2] - j[1][2] * j[2][0]) +
                              j[0][2] * (j[1][0] * j[2][1] - j[1][1] * j[2][0]);
    if (!(fabs(det) > 1e-12)) return;
    for (int v = 0; v < n; v++) {
      double m[3][3];
      memcpy(m, j, sizeof m);
      for (int k = 0; k < n; k++) m[k][v] = r[k];
      double dv = n == 2 ? m[0][0] * m[1][1] - m[0][1] * m[1][0]
                         : m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                               m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                               m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
      *vars[v] = clampf(*vars[v] - (float)(dv / det), lo[v], hi[v]);
    }
  }
}

int dlut_look_neutralize(dlut_look *look, const dlut_image *const *photos, int n_photos, float amount,
                         double cast_out[3]) {
  double cast[2];
  if (cast_out) cast_out[0] = cast_out[1] = cast_out[2] = 0.0;
  if (!look) return dlut_error("looks: NULL look");
  if (!(amount >= 0.0f && amount <= DLUT_LOOK_MAX_STRENGTH))
    return dlut_error("looks: correction amount %g out of range (0..%g)", (double)amount,
                      (double)DLUT_LOOK_MAX_STRENGTH);
  if (dlut_looks_photo_cast(photos, n_photos, cast, NULL) != 0) return -1;
  if (cast_out) cast_out[0] = cast[0], cast_out[1] = cast[1];
  if (hypot(cast[0], cast[1]) < 0.5 || amount == 0.0f) return 0; /* no cast worth taking out, or asked not to */
  /* the cast's grey, and where the look takes a true grey: the cast's grey is to land there (the
   * look's own colour stays, the photo's cast goes) */
  float lab[3] = {50.0f, (float)(amount * cast[0]), (float)(amount * cast[1])}, grey[3], neutral[3];
  const float lab0[3] = {50.0f, 0.0f, 0.0f};
  dlut_color_lab_to_srgb(lab, grey, 1);
  dlut_color_lab_to_srgb(lab0, neutral, 1);
  double want[3];
  dlut_look lk = *look;
  lk.tint_ends = 1.0f, lk.skin_follow = 1.0f;
  graded_lab(&lk, neutral, want);
  /* white balance and exposure; then a mid-tone cast for what is left beyond the white balance's range */
  float *wb[3] = {&lk.temp, &lk.tint, &lk.exposure};
  const float lo[3] = {-WB_MAX, -WB_MAX, look->exposure - EV_MAX}, hi[3] = {WB_MAX, WB_MAX, look->exposure + EV_MAX};
  solve(&lk, wb, 3, lo, hi, grey, want);
  float *ab[2] = {&lk.cast_ab[0], &lk.cast_ab[1]};
  const float alo[2] = {look->cast_ab[0] - 40.0f, look->cast_ab[1] - 40.0f},
              ahi[2] = {look->cast_ab[0] + 40.0f, look->cast_ab[1] + 40.0f};
  solve(&lk, ab, 2, alo, ahi, grey, want);
  *look = lk;
  if (cast_out) cast_out[2] = amount;
  return 0;
}
