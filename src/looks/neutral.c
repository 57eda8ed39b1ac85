/* "Remove the colour cast" (auto white balance, 去掉偏色, 校正白平衡): a
 * 3D LUT cannot know a photo's cast, but the grade has the photo. The cast
 * is the mean CIELAB (a*, b*) of the photos' near-neutral pixels (chroma
 * under NEUTRAL_C, L* between 15 and 95: the greys, whites and concrete a
 * cast shows in, not the saturated colours that are meant to be there);
 * where fewer than 2% of the sampled pixels are near neutral, the mean of
 * all mid-tone pixels stands in, at half weight (grey world, which a
 * colourful photo would fool). The look's white balance (temp, tint) is
 * then solved so that the look takes that cast's grey to neutral: a few
 * Newton steps on dlut_look_eval itself, with the look's other terms in
 * place, so "remove the cast, then warm" ends warm from a neutral start.
 * The protections of skin and of pure white and black are off in such a
 * look: the cast is there too, and they would keep it. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/looks.h"

#define NEUTRAL_C 14.0          /* chroma of a near-neutral pixel */
#define NEUTRAL_SAMPLES 40000.0 /* pixels sampled per photo, about */
#define WB_LIMIT 3.0f           /* |temp|, |tint| the correction may reach */

/* Encoded sRGB of pixel (x, y), 0..1. */
static void pixel_rgb(const dlut_image *img, int x, int y, float rgb[3]) {
  const void *p = dlut_image_pixel(img, x, y);
  for (int c = 0; c < 3; c++) {
    if (img->type == DLUT_PIXEL_U8)
      rgb[c] = ((const uint8_t *)p)[c] / 255.0f;
    else if (img->type == DLUT_PIXEL_U16)
      rgb[c] = ((const uint16_t *)p)[c] / 65535.0f;
    else
      rgb[c] = fminf(fmaxf(((const float *)p)[c], 0.0f), 1.0f);
  }
}

int dlut_looks_photo_cast(const dlut_image *const *photos, int n_photos, double cast_ab[2], double *neutral_share) {
  double sn[3] = {0, 0, 0}, sa[3] = {0, 0, 0};
  int64_t nn = 0, na = 0, total = 0;
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
        pixel_rgb(img, x, y, rgb);
        dlut_color_srgb_to_lab(rgb, lab, 1);
        total++;
        if (lab[0] < 15.0f || lab[0] > 95.0f) continue;
        sa[0] += lab[1], sa[1] += lab[2], na++;
        if (hypotf(lab[1], lab[2]) < NEUTRAL_C) sn[0] += lab[1], sn[1] += lab[2], nn++;
      }
  }
  double share = total ? (double)nn / (double)total : 0.0;
  if (neutral_share) *neutral_share = share;
  if (nn > 0 && share >= 0.02) {
    cast_ab[0] = sn[0] / (double)nn, cast_ab[1] = sn[1] / (double)nn;
  } else if (na > 0) {
    cast_ab[0] = 0.5 * sa[0] / (double)na, cast_ab[1] = 0.5 * sa[1] / (double)na;
  } else {
    cast_ab[0] = cast_ab[1] = 0.0; /* all shadows or highlights: nothing to judge by */
  }
  return 0;
}

/* (a*, b*) of the look applied to the CIELAB grey (50, a, b). */
static void graded_ab(const dlut_look *lk, const float grey_rgb[3], double out[2]) {
  float o[3], lab[3];
  dlut_look_eval(lk, grey_rgb, o);
  dlut_color_srgb_to_lab(o, lab, 1);
  out[0] = lab[1], out[1] = lab[2];
}

int dlut_look_neutralize(dlut_look *look, const dlut_image *const *photos, int n_photos, double cast_ab[2]) {
  double cast[2];
  if (!look) return dlut_error("looks: NULL look");
  if (dlut_looks_photo_cast(photos, n_photos, cast, NULL) != 0) return -1;
  if (cast_ab) cast_ab[0] = cast[0], cast_ab[1] = cast[1];
  if (hypot(cast[0], cast[1]) < 0.5) return 0; /* no cast worth taking out */
  /* the cast's grey, and the look without the correction takes it to `want`: the same look on a
   * true grey (the look's own toning stays, the photo's cast goes) */
  float lab[3] = {50.0f, (float)cast[0], (float)cast[1]}, grey[3], neutral[3];
  float lab0[3] = {50.0f, 0.0f, 0.0f};
  dlut_color_lab_to_srgb(lab, grey, 1);
  dlut_color_lab_to_srgb(lab0, neutral, 1);
  double want[2], cur[2];
  graded_ab(look, neutral, want);
  dlut_look lk = *look;
  /* a cast is in the whites and on skin too: the protections, which keep those as they came in,
   * would keep the cast there */
  lk.tint_ends = 1.0f, lk.skin_follow = 1.0f;
  for (int it = 0; it < 8; it++) {
    graded_ab(&lk, grey, cur);
    double r0 = cur[0] - want[0], r1 = cur[1] - want[1];
    if (hypot(r0, r1) < 0.05) break;
    /* the Jacobian of (a*, b*) in (temp, tint), by central differences */
    const float h = 0.05f;
    double j[2][2];
    for (int v = 0; v < 2; v++) {
      dlut_look p = lk, m = lk;
      float *fp = v == 0 ? &p.temp : &p.tint, *fm = v == 0 ? &m.temp : &m.tint;
      *fp += h, *fm -= h;
      double ap[2], am[2];
      graded_ab(&p, grey, ap);
      graded_ab(&m, grey, am);
      j[0][v] = (ap[0] - am[0]) / (2 * h), j[1][v] = (ap[1] - am[1]) / (2 * h);
    }
    double det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
    if (fabs(det) < 1e-9) break;
    double dt = (j[1][1] * r0 - j[0][1] * r1) / det, dm = (-j[1][0] * r0 + j[0][0] * r1) / det;
    lk.temp = fminf(fmaxf(lk.temp - (float)dt, look->temp - WB_LIMIT), look->temp + WB_LIMIT);
    lk.tint = fminf(fmaxf(lk.tint - (float)dm, look->tint - WB_LIMIT), look->tint + WB_LIMIT);
  }
  look->temp = lk.temp, look->tint = lk.tint;
  look->tint_ends = lk.tint_ends, look->skin_follow = lk.skin_follow;
  return 0;
}
