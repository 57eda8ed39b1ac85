/* "Remove the colour cast" (src/looks/neutral.c): the prompts that ask for
 * it, the cast measured on a photo, and the look that takes it out. The
 * photo is synthetic: a grey ramp and white (the near-neutrals a cast
 * shows in) beside saturated patches (which must not count), put through
 * a known cast; graded, its greys must come back to neutral. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dlut/color.h"
#include "dlut/image.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "test.h"

/* 64 x 64: the top half a grey ramp, the bottom half four saturated patches. */
static dlut_image *test_photo(void) {
  dlut_image *img = dlut_image_alloc(64, 64, 3, DLUT_PIXEL_F32);
  if (!img) return NULL;
  static const float patches[4][3] = {{0.9f, 0.1f, 0.1f}, {0.1f, 0.7f, 0.2f}, {0.1f, 0.2f, 0.9f}, {0.95f, 0.8f, 0.1f}};
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) {
      float *p = dlut_image_pixel(img, x, y);
      if (y < 32) {
        float v = 0.2f + 0.75f * (float)x / 63.0f;
        p[0] = p[1] = p[2] = v;
      } else {
        memcpy(p, patches[x / 16], sizeof patches[0]);
      }
    }
  return img;
}

/* The photo through a LUT, as a new image. */
static dlut_image *through(const dlut_image *img, const dlut_lut *lut) {
  dlut_image *o = dlut_image_alloc(img->width, img->height, 3, DLUT_PIXEL_F32);
  if (!o) return NULL;
  for (int y = 0; y < img->height; y++)
    dlut_lut_apply_f32(lut, dlut_image_pixel(img, 0, y), dlut_image_pixel(o, 0, y), img->width,
                       DLUT_INTERP_TETRAHEDRAL);
  return o;
}

/* Mean chroma (and, in *L, mean L*) of the grey ramp's pixels. */
static double ramp_chroma_l(const dlut_image *img, double *L) {
  double s = 0, sl = 0;
  int n = 0;
  for (int y = 0; y < 32; y++)
    for (int x = 0; x < 64; x++) {
      float lab[3];
      dlut_color_srgb_to_lab(dlut_image_pixel(img, x, y), lab, 1);
      s += hypot(lab[1], lab[2]), sl += lab[0], n++;
    }
  if (L) *L = sl / n;
  return s / n;
}

static void test_prompts(void) {
  static const char *const yes[] = {"remove the colour cast",
                                    "remove the color cast",
                                    "neutralise the colour cast",
                                    "去掉偏色",
                                    "消除偏色",
                                    "auto white balance",
                                    "fix the white balance",
                                    "自动白平衡",
                                    "校正白平衡，暖一点",
                                    "warm, but remove the colour cast"};
  static const char *const no[] = {"remove the green cast",
                                   "去掉绿色偏色",
                                   "warm",
                                   "no blue",
                                   "white",
                                   "cast",
                                   "don't remove the colour cast",
                                   "不要去掉偏色",
                                   "not auto white balance",
                                   "don't auto white balance"};
  dlut_looks_report rep;
  dlut_look lk;
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    CHECK(dlut_looks_parse(yes[i], &lk, &rep) == 0);
    CHECK_MSG(rep.neutral_wb && rep.understood[0] && !rep.ignored[0], "'%s': neutral %d, understood '%s', ignored '%s'",
              yes[i], rep.neutral_wb, rep.understood, rep.ignored);
  }
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
    CHECK(dlut_looks_parse(no[i], &lk, &rep) == 0);
    CHECK_MSG(!rep.neutral_wb, "'%s' asks for the photo's cast to go", no[i]);
  }
}

static void test_neutralize(void) {
  dlut_image *photo = test_photo();
  CHECK(photo != NULL);
  if (!photo) return;
  /* an untouched photo: no cast, no correction */
  double cast[3];
  const dlut_image *const one[1] = {photo};
  CHECK(dlut_looks_photo_cast(one, 1, cast, NULL) == 0);
  CHECK_MSG(hypot(cast[0], cast[1]) < 0.2, "neutral photo: cast %.2f %.2f", cast[0], cast[1]);
  dlut_look lk;
  dlut_look_init(&lk);
  CHECK(dlut_look_neutralize(&lk, one, 1, 1.0f, NULL) == 0 && lk.temp == 0 && lk.tint == 0);
  /* casts in four directions: blue, amber, green, magenta */
  static const char *const casts[] = {"very cold", "very warm", "green tint", "magenta tint"};
  for (size_t k = 0; k < sizeof casts / sizeof casts[0]; k++) {
    dlut_lut *cl = NULL;
    CHECK(dlut_looks_from_prompt(casts[k], 33, &cl, NULL, 0, NULL, 0) == 0);
    dlut_image *cast_photo = cl ? through(photo, cl) : NULL;
    dlut_lut_free(cl);
    CHECK(cast_photo != NULL);
    if (!cast_photo) continue;
    const dlut_image *const cp[1] = {cast_photo};
    double l0, l1 = 0;
    double c0 = ramp_chroma_l(cast_photo, &l0);
    CHECK(dlut_looks_photo_cast(cp, 1, cast, NULL) == 0);
    CHECK_MSG(hypot(cast[0], cast[1]) > 2.0, "'%s': cast %.2f %.2f not seen", casts[k], cast[0], cast[1]);
    /* the saturated patches do not count: only the ramp is near neutral */
    dlut_lut *fix = NULL;
    dlut_looks_report rep;
    CHECK(dlut_looks_bake_prompt_photos("remove the colour cast", 33, 1, 1, 1, cp, 1, &fix, &rep, cast) == 0);
    dlut_image *fixed = fix ? through(cast_photo, fix) : NULL;
    CHECK(fixed != NULL);
    if (fixed) {
      double c1 = ramp_chroma_l(fixed, &l1);
      CHECK_MSG(c0 > 3.0 && c1 < 0.25 * c0, "'%s': grey ramp chroma %.2f with the cast, %.2f after", casts[k], c0, c1);
      /* and at its lightness: the white balance alone would dim what it warms or cools */
      CHECK_MSG(fabs(l1 - l0) < 2.5, "'%s': grey ramp L* %.2f with the cast, %.2f after", casts[k], l0, l1);
      CHECK(cast[2] == 1.0);
    }
    /* colour strength 0: nothing taken out, and the report says so */
    dlut_lut *none = NULL;
    double c2[3];
    CHECK(dlut_looks_bake_prompt_photos("remove the colour cast", 9, 0, 1, 1, cp, 1, &none, NULL, c2) == 0);
    CHECK_MSG(none && c2[2] == 0.0 && hypot(c2[0], c2[1]) > 2.0, "colour strength 0: taken out %g", c2[2]);
    if (none) {
      dlut_look idk;
      dlut_look_init(&idk);
      dlut_lut *idl = dlut_look_bake(&idk, 9);
      CHECK(idl && memcmp(none->table, idl->table, sizeof(float) * 3 * 9 * 9 * 9) == 0);
      dlut_lut_free(idl);
    }
    dlut_lut_free(none);
    /* without the photo, the same prompt leaves the look alone */
    dlut_lut *blind = NULL;
    CHECK(dlut_looks_bake_prompt("remove the colour cast", 9, 1, 1, 1, &blind, NULL) == 0);
    if (blind) {
      dlut_look idk;
      dlut_look_init(&idk);
      dlut_lut *idl = dlut_look_bake(&idk, 9);
      CHECK(idl && memcmp(blind->table, idl->table, sizeof(float) * 3 * 9 * 9 * 9) == 0);
      dlut_lut_free(idl);
    }
    dlut_lut_free(blind);
    dlut_lut_free(fix);
    dlut_image_free(fixed);
    dlut_image_free(cast_photo);
  }
  dlut_image_free(photo);
}

/* Photos with nothing to judge a cast by, or whose cast is in pixels nobody sees. */
static void test_no_grey(void) {
  /* a solid saturated frame: a red wall is red, not a cast */
  dlut_image *red = dlut_image_alloc(32, 32, 3, DLUT_PIXEL_U8);
  CHECK(red != NULL);
  if (red) {
    for (int y = 0; y < 32; y++)
      for (int x = 0; x < 32; x++) {
        uint8_t *p = dlut_image_pixel(red, x, y);
        p[0] = 220, p[1] = 30, p[2] = 30;
      }
    const dlut_image *const one[1] = {red};
    double cast[3], share = 1;
    dlut_look lk;
    dlut_look_init(&lk);
    CHECK(dlut_looks_photo_cast(one, 1, cast, &share) == 0 && cast[0] == 0 && cast[1] == 0 && share == 0);
    CHECK(dlut_look_neutralize(&lk, one, 1, 1.0f, cast) == 0 && lk.temp == 0 && lk.tint == 0 && cast[2] == 0);
    dlut_image_free(red);
  }
  /* RGBA: a transparent warm background around an opaque grey patch has no cast */
  dlut_image *rgba = dlut_image_alloc(64, 64, 4, DLUT_PIXEL_U8);
  CHECK(rgba != NULL);
  if (rgba) {
    for (int y = 0; y < 64; y++)
      for (int x = 0; x < 64; x++) {
        uint8_t *p = dlut_image_pixel(rgba, x, y);
        int patch = x >= 28 && x < 36 && y >= 28 && y < 36;
        p[0] = patch ? 128 : 150, p[1] = patch ? 128 : 120, p[2] = patch ? 128 : 100, p[3] = patch ? 255 : 0;
      }
    const dlut_image *const one[1] = {rgba};
    double cast[3];
    CHECK(dlut_looks_photo_cast(one, 1, cast, NULL) == 0);
    CHECK_MSG(hypot(cast[0], cast[1]) < 0.2, "transparent pixels counted: cast %.2f %.2f", cast[0], cast[1]);
    dlut_image_free(rgba);
  }
}

int main(void) {
  test_prompts();
  test_neutralize();
  test_no_grey();
  return test_summary("looks_neutral");
}
