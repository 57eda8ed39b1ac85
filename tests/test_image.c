/* Image module: allocation caps, sample conversion, orientation, EXIF tag
 * handling, lossless round trips in every format and depth, lossy round
 * trips within a tolerance, metadata kept, ICC (Display P3 built here with
 * lcms, expected sRGB values from an independent double-precision matrix
 * derivation), hostile input (truncated, huge dimensions, garbage) and
 * atomic saves (an existing file survives a failed write). The comparisons
 * against ImageMagick live in tests/t_image.py. */
#include <stddef.h>
#include <stdio.h>
/* jpeglib.h needs size_t and FILE first */
#include <jpeglib.h>
#include <lcms2.h>
#include <png.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <zlib.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "image/image_private.h" /* dlut__icc_to_srgb_ref: the naive reference */
#include "test.h"

static const char *g_dir;

static const char *tmp(const char *name) {
  static char buf[8][4096];
  static int slot;
  char *b = buf[slot++ & 7];
  snprintf(b, 4096, "%s/%s", g_dir, name);
  return b;
}

static uint32_t g_rng = 12345;
static uint32_t rnd(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return g_rng >> 8;
}

/* A smooth image plus noise (lossy codecs behave on it like on photos). */
static dlut_image *make_image(int w, int h, int ch, dlut_pixel_type t, int noise) {
  dlut_image *img = dlut_image_alloc(w, h, ch, t);
  if (!img) return NULL;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < ch; c++) {
        double v = c == 3 ? 0.25 + 0.5 * x / (double)w
                          : 0.5 + 0.4 * sin(0.07 * x * (c + 1) + 0.05 * y) * cos(0.03 * y * (2 - c % 2));
        if (noise) v += ((int)(rnd() % 21) - 10) / 4000.0;
        if (v < 0) v = 0;
        if (v > 1) v = 1;
        size_t i = ((size_t)y * w + x) * ch + c;
        if (t == DLUT_PIXEL_U8)
          ((uint8_t *)img->data)[i] = (uint8_t)(v * 255 + 0.5);
        else if (t == DLUT_PIXEL_U16)
          ((uint16_t *)img->data)[i] = (uint16_t)(v * 65535 + 0.5);
        else
          ((float *)img->data)[i] = (float)v;
      }
  return img;
}

static double sample(const dlut_image *img, size_t i) {
  if (img->type == DLUT_PIXEL_U8) return ((uint8_t *)img->data)[i] / 255.0;
  if (img->type == DLUT_PIXEL_U16) return ((uint16_t *)img->data)[i] / 65535.0;
  return ((float *)img->data)[i];
}

static int same_pixels(const dlut_image *a, const dlut_image *b) {
  return a && b && a->width == b->width && a->height == b->height && a->channels == b->channels && a->type == b->type &&
         memcmp(a->data, b->data, a->stride * (size_t)a->height) == 0;
}

/* Mean absolute difference in units of the full range (same size/channels). */
static double mean_abs_diff(const dlut_image *a, const dlut_image *b) {
  if (!a || !b || a->width != b->width || a->height != b->height || a->channels != b->channels) return 1e9;
  size_t n = (size_t)a->width * a->height * a->channels;
  double s = 0;
  for (size_t i = 0; i < n; i++) s += fabs(sample(a, i) - sample(b, i));
  return s / (double)n;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(p, 1, n, f) == n);
  fclose(f);
}

static void *read_bytes(const char *path, size_t *n) {
  return dlut_file_read_all(path, (size_t)1 << 30, n);
}

/* Load expecting failure; the message must name the file. */
static void expect_load_fails(const char *path, const char *what) {
  dlut_error_clear();
  dlut_image *img = dlut_image_load(path);
  CHECK_MSG(img == NULL, "%s loaded", what);
  CHECK_MSG(strstr(dlut_last_error(), path) != NULL, "%s: message does not name the file: %s", what, dlut_last_error());
  dlut_image_free(img);
}

/* ==== Allocation, conversion ==== */

static void test_alloc_convert(void) {
  CHECK(dlut_image_alloc(0, 5, 3, DLUT_PIXEL_U8) == NULL);
  CHECK(dlut_image_alloc(5, -1, 3, DLUT_PIXEL_U8) == NULL);
  CHECK(dlut_image_alloc(DLUT_IMAGE_MAX_DIM + 1, 1, 3, DLUT_PIXEL_U8) == NULL);
  CHECK(dlut_image_alloc(DLUT_IMAGE_MAX_DIM, DLUT_IMAGE_MAX_DIM, 3, DLUT_PIXEL_U8) == NULL); /* > MAX_PIXELS */
  CHECK(strstr(dlut_last_error(), "exceeds") != NULL);
  CHECK(dlut_image_alloc(4, 4, 2, DLUT_PIXEL_U8) == NULL);
  CHECK(dlut_image_alloc(4, 4, 3, (dlut_pixel_type)3) == NULL);
  dlut_image *a = dlut_image_alloc(7, 5, 4, DLUT_PIXEL_U16);
  CHECK(a && a->stride == 7 * 4 * 2);
  dlut_image_free(a);
  dlut_image_free(NULL);

  /* Every 8-bit value survives u8 -> u16 -> f32 -> u16 -> u8. */
  dlut_image *u8 = dlut_image_alloc(256, 1, 3, DLUT_PIXEL_U8);
  for (int i = 0; i < 256 * 3; i++) ((uint8_t *)u8->data)[i] = (uint8_t)(i / 3);
  dlut_image *u16 = dlut_image_convert(u8, 3, DLUT_PIXEL_U16);
  dlut_image *f = dlut_image_convert(u16, 3, DLUT_PIXEL_F32);
  dlut_image *u16b = dlut_image_convert(f, 3, DLUT_PIXEL_U16);
  dlut_image *u8b = dlut_image_convert(u16b, 3, DLUT_PIXEL_U8);
  CHECK(u16 && ((uint16_t *)u16->data)[3 * 255] == 65535 && ((uint16_t *)u16->data)[3 * 1] == 257);
  CHECK(same_pixels(u16, u16b));
  CHECK(same_pixels(u8, u8b));
  dlut_image_free(u16);
  dlut_image_free(f);
  dlut_image_free(u16b);
  dlut_image_free(u8b);
  dlut_image_free(u8);

  /* Rounding and clamping against a direct formula. */
  dlut_image *fl = dlut_image_alloc(8, 1, 3, DLUT_PIXEL_F32);
  float vals[8] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f, NAN, 0.2f, 0.999f};
  for (int i = 0; i < 8; i++)
    for (int c = 0; c < 3; c++) ((float *)fl->data)[3 * i + c] = vals[i];
  dlut_image *b = dlut_image_convert(fl, 4, DLUT_PIXEL_U8);
  dlut_image *w = dlut_image_convert(fl, 3, DLUT_PIXEL_U16);
  uint8_t want8[8] = {0, 0, 128, 255, 255, 0, 51, 255};
  uint16_t want16[8] = {0, 0, 32768, 65535, 65535, 0, 13107, 65469};
  for (int i = 0; b && w && i < 8; i++) {
    CHECK_MSG(((uint8_t *)b->data)[4 * i] == want8[i], "f32 %g -> u8 %d", vals[i], ((uint8_t *)b->data)[4 * i]);
    CHECK(((uint8_t *)b->data)[4 * i + 3] == 255); /* added alpha is opaque */
    CHECK_MSG(((uint16_t *)w->data)[3 * i] == want16[i], "f32 %g -> u16 %d", vals[i], ((uint16_t *)w->data)[3 * i]);
  }
  /* u16 -> u8 is round(v / 257) for every value. */
  dlut_image *all16 = dlut_image_alloc(65536 / 4, 4, 4, DLUT_PIXEL_U16);
  for (int i = 0; i < 65536 * 4; i++) ((uint16_t *)all16->data)[i] = (uint16_t)(i / 4);
  dlut_image *all8 = dlut_image_convert(all16, 3, DLUT_PIXEL_U8);
  int bad = 0;
  for (int v = 0; v < 65536; v++)
    if (((uint8_t *)all8->data)[3 * v] != (uint8_t)floor(v / 257.0 + 0.5)) bad++;
  CHECK_MSG(bad == 0, "%d u16 -> u8 values misrounded", bad);
  dlut_image_free(all16);
  dlut_image_free(all8);
  dlut_image_free(fl);
  dlut_image_free(b);
  dlut_image_free(w);
}

/* Fast conversion kernels against the per-sample reference: every type
 * pair, every channel change, floats with NaN, infinities and values
 * outside [0,1]. */
static void test_convert_fast_vs_ref(void) {
  const dlut_pixel_type types[3] = {DLUT_PIXEL_U8, DLUT_PIXEL_U16, DLUT_PIXEL_F32};
  for (int st = 0; st < 3; st++)
    for (int sc = 3; sc <= 4; sc++) {
      dlut_image *src = make_image(53, 7, sc, types[st], 1);
      if (types[st] == DLUT_PIXEL_F32) {
        float *f = src->data;
        f[0] = NAN, f[1] = INFINITY, f[2] = -INFINITY, f[3] = -0.3f, f[4] = 1.7f, f[5] = 0.5f / 255.0f;
        for (int i = 6; i < 53 * 7 * sc; i += 5) f[i] = ((int)(rnd() % 2000) - 500) / 1000.0f;
      }
      for (int dt = 0; dt < 3; dt++)
        for (int dc = 3; dc <= 4; dc++) {
          dlut_image *a = dlut_image_convert(src, dc, types[dt]);
          dlut_image *b = dlut__image_convert_ref(src, dc, types[dt]);
          int same = a && b && a->stride == b->stride;
          if (same && types[dt] == DLUT_PIXEL_F32) { /* compare floats bitwise except NaN == NaN */
            const float *x = a->data, *y = b->data;
            for (size_t i = 0; i < (size_t)53 * 7 * dc; i++)
              if (!(x[i] == y[i] || (isnan(x[i]) && isnan(y[i])))) same = 0;
          } else if (same) {
            same = memcmp(a->data, b->data, a->stride * 7) == 0;
          }
          CHECK_MSG(same, "convert %d-byte x%d -> %d-byte x%d: fast kernel differs from the reference", (int)types[st],
                    sc, (int)types[dt], dc);
          dlut_image_free(a);
          dlut_image_free(b);
        }
      dlut_image_free(src);
    }
}

/* ==== Orientation and the EXIF tag ==== */

/* A little-endian or big-endian EXIF block with IFD0 = {Make, Orientation}. */
static size_t make_exif(uint8_t *p, int big_endian, int orientation) {
  memset(p, 0, 64);
  int be = big_endian;
#define W16(o, v)                                               \
  (be ? (p[o] = (uint8_t)((v) >> 8), p[(o) + 1] = (uint8_t)(v)) \
      : (p[o] = (uint8_t)(v), p[(o) + 1] = (uint8_t)((v) >> 8)))
#define W32(o, v) (be ? (W16(o, (v) >> 16), W16((o) + 2, (v)&0xffff)) : (W16(o, (v)&0xffff), W16((o) + 2, (v) >> 16)))
  memcpy(p, be ? "MM\0*" : "II*\0", 4);
  W32(4, 8);
  W16(8, 2);
  /* Make, ASCII, 4 bytes "DLT\0" inline */
  W16(10, 0x010F);
  W16(12, 2);
  W32(14, 4);
  memcpy(p + 18, "DLT", 4);
  /* Orientation, SHORT, 1 */
  W16(22, 0x0112);
  W16(24, 3);
  W32(26, 1);
  W16(30, orientation);
  W32(34, 0); /* no next IFD */
#undef W16
#undef W32
  return 38;
}

static void test_orientation(void) {
  uint8_t ex[64];
  for (int be = 0; be < 2; be++)
    for (int o = 1; o <= 8; o++) {
      size_t n = make_exif(ex, be, o);
      CHECK(dlut_image_exif_orientation(ex, n) == o);
      CHECK(dlut_image_exif_set_orientation(ex, n, 1) == 0);
      CHECK(dlut_image_exif_orientation(ex, n) == 1);
    }
  CHECK(dlut_image_exif_orientation(ex, 7) == 0);  /* truncated header */
  CHECK(dlut_image_exif_orientation(ex, 20) == 0); /* IFD runs past the end */
  uint8_t junk[40] = "II*\0\xff\xff\xff\x7f";
  CHECK(dlut_image_exif_orientation(junk, sizeof junk) == 0);

  /* A 3x2 image with distinct pixels: stored
   *   a b c
   *   d e f
   * Orientation 6 (rotate 90 CW to display) must show
   *   d a
   *   e b
   *   f c                                                       */
  dlut_image *img = dlut_image_alloc(3, 2, 3, DLUT_PIXEL_U8);
  for (int i = 0; i < 6; i++) memset((uint8_t *)img->data + 3 * i, 'a' + i, 3);
  const char *want[9] = {NULL, "abcdef", "cbafed", "fedcba", "defabc", "adbecf", "daebfc", "fcebda", "cfbead"};
  for (int o = 1; o <= 8; o++) {
    dlut_image *r = dlut_image_orient(img, o);
    CHECK(r != NULL);
    if (!r) continue;
    CHECK(r->width == (o >= 5 ? 2 : 3) && r->height == (o >= 5 ? 3 : 2));
    char got[7] = {0};
    for (int i = 0; i < 6; i++) got[i] = (char)((uint8_t *)r->data)[3 * i];
    CHECK_MSG(strcmp(got, want[o]) == 0, "orientation %d gave %s, want %s", o, got, want[o]);
    dlut_image_free(r);
  }
  /* Applying o then its inverse is the identity (6 <-> 8, others self-inverse). */
  const int inv[9] = {0, 1, 2, 3, 4, 5, 8, 7, 6};
  dlut_image *big = make_image(37, 23, 4, DLUT_PIXEL_U16, 1);
  for (int o = 1; o <= 8; o++) {
    dlut_image *r = dlut_image_orient(big, o);
    dlut_image *back = r ? dlut_image_orient(r, inv[o]) : NULL;
    CHECK_MSG(same_pixels(big, back), "orientation %d not undone by %d", o, inv[o]);
    dlut_image_free(r);
    dlut_image_free(back);
  }
  CHECK(dlut_image_orient(img, 0) == NULL && dlut_image_orient(img, 9) == NULL);
  /* The tiled kernel against the per-pixel reference: all orientations,
   * every pixel size, sizes that are not multiples of the 64-pixel tile. */
  const dlut_pixel_type types[3] = {DLUT_PIXEL_U8, DLUT_PIXEL_U16, DLUT_PIXEL_F32};
  for (int t = 0; t < 3; t++)
    for (int ch = 3; ch <= 4; ch++) {
      dlut_image *src = make_image(131, 70, ch, types[t], 1);
      for (int o = 1; o <= 8; o++) {
        dlut_image *a = dlut_image_orient(src, o), *b = dlut__image_orient_ref(src, o);
        CHECK_MSG(same_pixels(a, b), "orientation %d, %d-byte x%d: tiled kernel differs from the reference", o,
                  (int)types[t], ch);
        dlut_image_free(a);
        dlut_image_free(b);
      }
      dlut_image_free(src);
    }
  dlut_image_free(big);
  dlut_image_free(img);
}

/* ==== Round trips ==== */

static void roundtrip_exact(const char *name, int ch, dlut_pixel_type t, dlut_pixel_type want_t, int want_ch) {
  dlut_image *img = make_image(61, 37, ch, t, 1);
  const char *path = tmp(name);
  CHECK_MSG(dlut_image_save(img, path, NULL) == 0, "%s: %s", name, dlut_last_error());
  dlut_image *back = dlut_image_load(path);
  CHECK_MSG(back != NULL, "%s: %s", name, dlut_last_error());
  if (back) {
    CHECK_MSG(back->type == want_t && back->channels == want_ch, "%s: type %d channels %d", name, back->type,
              back->channels);
    dlut_image *expect = dlut_image_convert(img, want_ch, want_t);
    CHECK_MSG(same_pixels(expect, back), "%s: pixels differ after a lossless round trip", name);
    dlut_image_free(expect);
  }
  dlut_image_free(back);
  dlut_image_free(img);
}

static void roundtrip_lossy(const char *name, int ch, dlut_pixel_type t, int quality, double tol) {
  dlut_image *img = make_image(64, 48, ch, t, 0);
  const char *path = tmp(name);
  dlut_image_save_opts o = {.quality = quality};
  CHECK_MSG(dlut_image_save(img, path, &o) == 0, "%s: %s", name, dlut_last_error());
  dlut_image *back = dlut_image_load(path);
  CHECK_MSG(back != NULL, "%s: %s", name, dlut_last_error());
  if (back) {
    CHECK(back->type == DLUT_PIXEL_U8);
    dlut_image *expect = dlut_image_convert(img, back->channels, DLUT_PIXEL_U8);
    double d = mean_abs_diff(expect, back);
    CHECK_MSG(d < tol, "%s: mean abs difference %g >= %g", name, d, tol);
    dlut_image_free(expect);
  }
  dlut_image_free(back);
  dlut_image_free(img);
}

static void test_roundtrips(void) {
  roundtrip_exact("rgb8.ppm", 3, DLUT_PIXEL_U8, DLUT_PIXEL_U8, 3);
  roundtrip_exact("rgb16.ppm", 3, DLUT_PIXEL_U16, DLUT_PIXEL_U16, 3);
  roundtrip_exact("rgba8.ppm", 4, DLUT_PIXEL_U8, DLUT_PIXEL_U8, 3); /* alpha dropped */
  roundtrip_exact("rgb8.png", 3, DLUT_PIXEL_U8, DLUT_PIXEL_U8, 3);
  roundtrip_exact("rgba8.png", 4, DLUT_PIXEL_U8, DLUT_PIXEL_U8, 4);
  roundtrip_exact("rgb16.png", 3, DLUT_PIXEL_U16, DLUT_PIXEL_U16, 3);
  roundtrip_exact("rgba16.png", 4, DLUT_PIXEL_U16, DLUT_PIXEL_U16, 4);
  roundtrip_exact("f32.png", 3, DLUT_PIXEL_F32, DLUT_PIXEL_U16, 3); /* float saved as 16-bit */
  roundtrip_exact("rgb8.tif", 3, DLUT_PIXEL_U8, DLUT_PIXEL_U8, 3);
  roundtrip_exact("rgba8.tiff", 4, DLUT_PIXEL_U8, DLUT_PIXEL_U8, 4);
  roundtrip_exact("rgb16.tif", 3, DLUT_PIXEL_U16, DLUT_PIXEL_U16, 3);
  roundtrip_exact("rgba16.tif", 4, DLUT_PIXEL_U16, DLUT_PIXEL_U16, 4);
  roundtrip_exact("f32.tif", 3, DLUT_PIXEL_F32, DLUT_PIXEL_F32, 3); /* float stays float */
  /* Float TIFF keeps floats exactly, values outside [0,1] included, with
   * no option; saving as 16-bit integers is a conversion to U16 first. */
  dlut_image *f = make_image(33, 17, 4, DLUT_PIXEL_F32, 1);
  ((float *)f->data)[0] = -0.25f;
  ((float *)f->data)[5] = 7.5f;
  CHECK(dlut_image_save(f, tmp("float.tif"), NULL) == 0);
  dlut_image *fb = dlut_image_load(tmp("float.tif"));
  CHECK_MSG(same_pixels(f, fb), "float TIFF round trip: %s", fb ? "pixels differ" : dlut_last_error());
  dlut_image_free(fb);
  dlut_image *f16 = dlut_image_convert(f, 4, DLUT_PIXEL_U16);
  CHECK(f16 && dlut_image_save(f16, tmp("float16.tif"), NULL) == 0);
  fb = dlut_image_load(tmp("float16.tif"));
  CHECK_MSG(fb && fb->type == DLUT_PIXEL_U16 && same_pixels(f16, fb), "F32 converted to U16: a 16-bit TIFF (%s)",
            fb ? "pixels or type differ" : dlut_last_error());
  dlut_image_free(fb);
  dlut_image_free(f16);
  dlut_image_free(f);
  /* Lossless WebP is exact, with and without alpha. */
  for (int ch = 3; ch <= 4; ch++) {
    dlut_image *w = make_image(45, 31, ch, DLUT_PIXEL_U8, 1);
    dlut_image_save_opts lo = {.lossless = 1};
    CHECK(dlut_image_save(w, tmp("lossless.webp"), &lo) == 0);
    dlut_image *wb = dlut_image_load(tmp("lossless.webp"));
    CHECK_MSG(same_pixels(w, wb), "lossless WebP (%d channels): %s", ch, wb ? "pixels differ" : dlut_last_error());
    dlut_image_free(wb);
    dlut_image_free(w);
  }
  roundtrip_lossy("q90.webp", 3, DLUT_PIXEL_U8, 90, 0.015);
  roundtrip_lossy("q90a.webp", 4, DLUT_PIXEL_U8, 90, 0.015);
  roundtrip_lossy("q95.jpg", 3, DLUT_PIXEL_U8, 95, 0.01);
  roundtrip_lossy("q60.jpg", 3, DLUT_PIXEL_U8, 60, 0.03);
  roundtrip_lossy("rgba16.jpg", 4, DLUT_PIXEL_U16, 95, 0.01);
}

/* ==== PPM details ==== */

static void test_ppm(void) {
  /* P5 grey, maxval 15, with a comment: 0, 15, 7 -> 0, 255, round(7*255/15)=119 */
  const char p5[] = "P5\n# a comment\n3 1\n15\n\x00\x0f\x07";
  write_bytes(tmp("g.pgm"), p5, sizeof p5 - 1);
  dlut_image *g = dlut_image_load(tmp("g.pgm"));
  CHECK_MSG(g != NULL, "%s", dlut_last_error());
  if (g) {
    const uint8_t *d = g->data;
    CHECK(g->channels == 3 && g->type == DLUT_PIXEL_U8 && g->width == 3 && g->height == 1);
    CHECK(d[0] == 0 && d[1] == 0 && d[3] == 255 && d[5] == 255 && d[6] == 119 && d[7] == 119 && d[8] == 119);
  }
  dlut_image_free(g);
  /* P6 maxval 1000 (16-bit samples), one pixel 0, 1000, 1234 (clamped) -> 0, 65535, 65535; 500 -> 32768 */
  const uint8_t p6[] = "P6 2 1 1000\n\x00\x00\x03\xe8\x04\xd2\x01\xf4\x01\xf4\x01\xf4";
  write_bytes(tmp("w.ppm"), p6, sizeof p6 - 1);
  dlut_image *w = dlut_image_load(tmp("w.ppm"));
  CHECK_MSG(w != NULL, "%s", dlut_last_error());
  if (w) {
    const uint16_t *d = w->data;
    CHECK(w->type == DLUT_PIXEL_U16);
    CHECK(d[0] == 0 && d[1] == 65535 && d[2] == 65535 && d[3] == 32768);
  }
  dlut_image_free(w);
  const char *bad[] = {"P6\n3 1\n255\n\x01\x02",   /* truncated raster */
                       "P6\n3 1\n0\n",             /* maxval 0 */
                       "P6\n3 1\n65536\n",         /* maxval too large */
                       "P6\n-3 1\n255\n",          /* negative */
                       "P6\n99999999999 1\n255\n", /* overflow */
                       "P6\n70000 1\n255\n",       /* over the side cap */
                       "P6\n3 1",                  /* truncated header */
                       "P6x3 1 255\n"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu.ppm", i);
    write_bytes(tmp(name), bad[i], strlen(bad[i]));
    expect_load_fails(tmp(name), bad[i]);
  }
}

/* ==== Hostile files ==== */

static void put32be(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void test_hostile(void) {
  dlut_image *img = make_image(64, 64, 3, DLUT_PIXEL_U8, 1);
  const char *fmts[] = {"png", "jpg", "ppm", "webp", "tif"};
  for (int f = 0; f < 5; f++) {
    char name[32];
    snprintf(name, sizeof name, "whole.%s", fmts[f]);
    const char *path = tmp(name);
    CHECK(dlut_image_save(img, path, NULL) == 0);
    size_t n = 0;
    uint8_t *bytes = read_bytes(path, &n);
    CHECK(bytes != NULL && n > 100);
    if (!bytes) continue;
    /* Truncations at several points: always an error, never a crash. */
    size_t cuts[] = {1, 7, 20, n / 3, n / 2, n - 40};
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
      snprintf(name, sizeof name, "cut%zu.%s", c, fmts[f]);
      write_bytes(tmp(name), bytes, cuts[c]);
      char what[64];
      snprintf(what, sizeof what, "%s cut at %zu of %zu", fmts[f], cuts[c], n);
      expect_load_fails(tmp(name), what);
    }
    /* Random byte corruption: may load or fail, must not crash (ASan run). */
    for (int r = 0; r < 30; r++) {
      uint8_t *cp = malloc(n);
      memcpy(cp, bytes, n);
      for (int k = 0; k < 8; k++) cp[rnd() % n] ^= (uint8_t)(1 + rnd() % 255);
      dlut_image_free(dlut_image_load_memory(cp, n, "corrupt"));
      free(cp);
    }
    free(bytes);
  }
  /* A PNG whose IHDR claims 60000 x 60000 (3.6 G pixels): rejected from the
   * header, before any allocation (the CRC is made valid so libpng reads it). */
  size_t n = 0;
  uint8_t *png = read_bytes(tmp("whole.png"), &n);
  if (png) {
    put32be(png + 16, 60000);
    put32be(png + 20, 60000);
    put32be(png + 29, (uint32_t)crc32(0, png + 12, 17));
    write_bytes(tmp("bomb.png"), png, n);
    expect_load_fails(tmp("bomb.png"), "PNG 60000x60000");
    CHECK(strstr(dlut_last_error(), "exceeds") != NULL);
    /* wider than a side may be (70000 x 2): too large, not "damaged" (libpng's own IHDR limit) */
    put32be(png + 16, 70000);
    put32be(png + 20, 2);
    put32be(png + 29, (uint32_t)crc32(0, png + 12, 17));
    write_bytes(tmp("wide.png"), png, n);
    expect_load_fails(tmp("wide.png"), "PNG 70000x2");
    CHECK_MSG(strstr(dlut_last_error(), "exceeds the limit of 65535") != NULL, "%s", dlut_last_error());
    free(png);
  }
  /* A baseline JPEG missing only its EOI marker loads, identical to the
   * whole file; a progressive one is refused (a cut between scans looks
   * the same to the decoder). */
  for (int prog = 0; prog < 2; prog++) {
    const char *whole = tmp(prog ? "whole-prog.jpg" : "whole.jpg");
    if (prog) {
      char cmd[8400];
      snprintf(cmd, sizeof cmd, "/usr/bin/convert '%s' -interlace JPEG '%s'", tmp("whole.png"), whole);
      CHECK(system(cmd) == 0);
    }
    uint8_t *j = read_bytes(whole, &n);
    CHECK(j && n > 2 && j[n - 2] == 0xFF && j[n - 1] == 0xD9);
    if (j) write_bytes(tmp("noeoi.jpg"), j, n - 2);
    free(j);
    dlut_image *a = dlut_image_load(whole), *b = dlut_image_load(tmp("noeoi.jpg"));
    CHECK(a != NULL);
    if (!prog) {
      CHECK_MSG(b != NULL, "baseline JPEG without EOI: %s", dlut_last_error());
      CHECK(same_pixels(a, b));
    } else {
      CHECK_MSG(b == NULL, "progressive JPEG without EOI loaded");
    }
    dlut_image_free(a);
    dlut_image_free(b);
  }
  /* Restart markers every MCU (libjpeg directly): a cut just before or
   * after an RST marker must fail too (libjpeg resynchronises there). */
  {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *mem = NULL;
    unsigned long memn = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &mem, &memn);
    ci.image_width = 64, ci.image_height = 64, ci.input_components = 3, ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    ci.restart_interval = 1;
    jpeg_start_compress(&ci, TRUE);
    for (int y = 0; y < 64; y++) {
      JSAMPROW row = (JSAMPROW)img->data + (size_t)y * img->stride;
      jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    size_t rst[64], nr = 0;
    for (size_t i = 0; i + 1 < memn && nr < 64; i++)
      if (mem[i] == 0xFF && mem[i + 1] >= 0xD0 && mem[i + 1] <= 0xD7) rst[nr++] = i;
    CHECK(nr > 4);
    size_t cuts[4] = {nr ? rst[nr / 2] : 0, nr ? rst[nr / 2] + 2 : 0, nr ? rst[nr - 1] : 0, nr ? rst[nr - 1] + 2 : 0};
    for (int c = 0; c < 4 && nr; c++)
      CHECK_MSG(dlut_image_load_memory(mem, cuts[c], "rst.jpg") == NULL, "restart JPEG cut at %zu of %lu loaded",
                cuts[c], memn);
    dlut_image *whole_rst = dlut_image_load_memory(mem, memn, "rst.jpg");
    dlut_image *noeoi = dlut_image_load_memory(mem, memn - 2, "rst.jpg");
    CHECK(whole_rst && same_pixels(whole_rst, noeoi));
    dlut_image_free(whole_rst);
    dlut_image_free(noeoi);
    free(mem);
  }
  /* Within the caps but impossible for the file size (16000 x 16000 from a
   * few KB): decompression bombs, refused before the 768 MB raster. */
  {
    uint8_t *p = read_bytes(tmp("whole.png"), &n);
    if (p) {
      put32be(p + 16, 16000);
      put32be(p + 20, 16000);
      put32be(p + 29, (uint32_t)crc32(0, p + 12, 17));
      write_bytes(tmp("bomb2.png"), p, n);
      expect_load_fails(tmp("bomb2.png"), "PNG 16000x16000 in a few KB");
      CHECK_MSG(strstr(dlut_last_error(), "cannot hold") != NULL, "%s", dlut_last_error());
    }
    free(p);
    uint8_t *j = read_bytes(tmp("whole.jpg"), &n);
    for (size_t i = 2; j && i + 9 < n; i++)
      if (j[i] == 0xFF && (j[i + 1] == 0xC0 || j[i + 1] == 0xC2)) {
        j[i + 5] = 0x3E, j[i + 6] = 0x80, j[i + 7] = 0x3E, j[i + 8] = 0x80; /* 16000 */
        break;
      }
    if (j) write_bytes(tmp("bomb2.jpg"), j, n);
    expect_load_fails(tmp("bomb2.jpg"), "JPEG 16000x16000 in a few KB");
    CHECK_MSG(strstr(dlut_last_error(), "cannot hold") != NULL, "%s", dlut_last_error());
    free(j);
  }
  /* A JPEG whose SOF claims 65000 x 65000. */
  uint8_t *jpg = read_bytes(tmp("whole.jpg"), &n);
  if (jpg) {
    int patched = 0;
    for (size_t i = 2; i + 9 < n; i++)
      if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC1 || jpg[i + 1] == 0xC2)) {
        jpg[i + 5] = 0xFD, jpg[i + 6] = 0xE8, jpg[i + 7] = 0xFD, jpg[i + 8] = 0xE8;
        patched = 1;
        break;
      }
    CHECK(patched);
    write_bytes(tmp("bomb.jpg"), jpg, n);
    expect_load_fails(tmp("bomb.jpg"), "JPEG 65000x65000");
    CHECK(strstr(dlut_last_error(), "exceeds") != NULL);
    free(jpg);
  }
  /* A TIFF whose ImageWidth says 100000 (rewritten as a LONG). */
  uint8_t *tif = read_bytes(tmp("whole.tif"), &n);
  if (tif && n > 8 && tif[0] == 'I') {
    size_t ifd = (size_t)tif[4] | (size_t)tif[5] << 8 | (size_t)tif[6] << 16 | (size_t)tif[7] << 24;
    int patched = 0;
    for (size_t e = ifd + 2; ifd + 2 < n && e + 12 <= n && e < ifd + 2 + 12 * (size_t)tif[ifd]; e += 12)
      if (tif[e] == 0x00 && tif[e + 1] == 0x01) { /* tag 256 */
        tif[e + 2] = 4, tif[e + 3] = 0;           /* LONG */
        tif[e + 8] = 0xA0, tif[e + 9] = 0x86, tif[e + 10] = 0x01, tif[e + 11] = 0;
        patched = 1;
      }
    CHECK(patched);
    write_bytes(tmp("bomb.tif"), tif, n);
    expect_load_fails(tmp("bomb.tif"), "TIFF 100000 wide");
    CHECK_MSG(strstr(dlut_last_error(), "exceeds") != NULL, "%s", dlut_last_error());
  }
  free(tif);
  /* A 64x64 tiled TIFF whose tiles claim 16384x16384: refused before the
   * 800 MB tile buffer is allocated. */
  {
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "/usr/bin/convert '%s' -define tiff:tile-geometry=16x16 '%s'", tmp("whole.png"),
             tmp("tiled.tif"));
    CHECK(system(cmd) == 0);
    uint8_t *t = read_bytes(tmp("tiled.tif"), &n);
    int patched = 0;
    if (t && n > 8 && t[0] == 'I') {
      size_t ifd = (size_t)t[4] | (size_t)t[5] << 8 | (size_t)t[6] << 16 | (size_t)t[7] << 24;
      size_t cnt = ifd + 2 <= n ? (size_t)t[ifd] | (size_t)t[ifd + 1] << 8 : 0;
      for (size_t e = ifd + 2; e + 12 <= n && e < ifd + 2 + 12 * cnt; e += 12)
        if (t[e + 1] == 0x01 && (t[e] == 0x42 || t[e] == 0x43)) { /* tags 322, 323 */
          t[e + 2] = 4, t[e + 3] = 0;                             /* LONG 16384 */
          t[e + 8] = 0, t[e + 9] = 0x40, t[e + 10] = 0, t[e + 11] = 0;
          patched++;
        }
      write_bytes(tmp("tilebomb.tif"), t, n);
    }
    CHECK(patched == 2);
    expect_load_fails(tmp("tilebomb.tif"), "TIFF with 16384x16384 tiles");
    free(t);
  }
  /* A lowered cap applies to loads. */
  dlut_image_set_max_pixels(1000);
  expect_load_fails(tmp("whole.png"), "64x64 PNG with a 1000-pixel cap");
  dlut_image_set_max_pixels(0);
  dlut_image *ok = dlut_image_load(tmp("whole.png"));
  CHECK(ok != NULL);
  dlut_image_free(ok);
  /* Not an image, empty, missing, a directory. */
  write_bytes(tmp("text.png"), "hello world, not a picture", 26);
  expect_load_fails(tmp("text.png"), "text");
  write_bytes(tmp("empty.jpg"), "", 0);
  expect_load_fails(tmp("empty.jpg"), "empty");
  expect_load_fails(tmp("missing.png"), "missing");
  expect_load_fails(g_dir, "directory");
  CHECK(dlut_image_load_memory(NULL, 0, "null") == NULL);
  dlut_image_free(img);
}

/* ==== Atomic save ==== */

static int count_tmp_files(void) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.tmp\\.' ", g_dir);
  FILE *p = popen(cmd, "r");
  int k = -1;
  if (p) {
    if (fscanf(p, "%d", &k) != 1) k = -1;
    pclose(p);
  }
  return k;
}

static void test_atomic(void) {
  dlut_image *small = make_image(8, 8, 3, DLUT_PIXEL_U8, 1);
  dlut_image *large = make_image(512, 512, 3, DLUT_PIXEL_U16, 1);
  const char *exts[] = {"keep.png", "keep.ppm", "keep.jpg"};
  for (int e = 0; e < 3; e++) {
    const char *path = tmp(exts[e]);
    CHECK(dlut_image_save(small, path, NULL) == 0);
    size_t n0 = 0, n1 = 0;
    void *before = read_bytes(path, &n0);
    /* Writes beyond 4 KB fail (EFBIG; SIGXFSZ ignored), so saving the large
     * image fails part-way: the old file must survive, no temp file left. */
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = dlut_image_save(large, path, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    CHECK_MSG(rc != 0, "%s: save past the file size limit succeeded", exts[e]);
    CHECK(strstr(dlut_last_error(), path) != NULL);
    void *after = read_bytes(path, &n1);
    CHECK_MSG(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "%s: existing file changed", exts[e]);
    CHECK(count_tmp_files() == 0);
    free(before);
    free(after);
  }
  /* Bad requests fail up front and touch nothing. */
  CHECK(dlut_image_save(small, tmp("x.bmp"), NULL) != 0);
  CHECK(dlut_image_save(small, tmp("x.pgm"), NULL) != 0); /* would be RGB in a grey container */
  dlut_image_save_opts q = {.quality = 101};
  CHECK(dlut_image_save(small, tmp("keep.jpg"), &q) != 0);
  CHECK(dlut_image_save(small, "/nonexistent-dir/x.png", NULL) != 0);
  CHECK(count_tmp_files() == 0);
  dlut_image_free(small);
  dlut_image_free(large);
}

/* A stop that says stop at its n-th question (0: never), counting the questions */
typedef struct stop_after {
  int n, asked;
} stop_after;

static int stop_at(void *user) {
  stop_after *s = user;
  s->asked++;
  return s->n > 0 && s->asked >= s->n;
}

/* dlut_image_save_opts.stop: asked while encoding; a stop leaves nothing at the path (an earlier file
 * stays), no temporary file, DLUT_ERR_CANCELLED; a stop that never says stop writes the same bytes as
 * none. */
static void test_save_stop(void) {
  dlut_image *img = make_image(300, 700, 3, DLUT_PIXEL_U8, 1); /* 700 rows: 11 blocks of 64 */
  dlut_image *small = make_image(8, 8, 3, DLUT_PIXEL_U8, 1);
  const char *exts[] = {"stop.png", "stop.jpg", "stop.tif", "stop.webp"};
  for (int e = 0; e < 4; e++) {
    const char *path = tmp(exts[e]);
    remove(path);
    stop_after never = {0, 0};
    dlut_image_save_opts so = {.stop = stop_at, .stop_user = &never};
    CHECK(dlut_image_save(img, path, &so) == 0);
    CHECK_MSG(never.asked >= (e == 3 ? 1 : 2), "%s: the stop was asked %d times", exts[e], never.asked);
    size_t n0 = 0, n1 = 0;
    void *with = read_bytes(path, &n0);
    CHECK(dlut_image_save(img, path, NULL) == 0);
    void *without = read_bytes(path, &n1);
    CHECK_MSG(with && without && n0 == n1 && memcmp(with, without, n0) == 0,
              "%s: a stop that never stops changed the file", exts[e]);
    free(with);
    free(without);
    /* a stop part-way: the file there before is kept as it was */
    CHECK(dlut_image_save(small, path, NULL) == 0);
    void *before = read_bytes(path, &n0);
    stop_after second = {2, 0};
    so.stop_user = &second;
    int rc = dlut_image_save(img, path, &so);
    CHECK_MSG(rc != 0 && dlut_last_error_code() == DLUT_ERR_CANCELLED, "%s: a stop part-way: rc %d, %s", exts[e], rc,
              dlut_last_error());
    void *after = read_bytes(path, &n1);
    CHECK_MSG(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "%s: the earlier file changed", exts[e]);
    CHECK(count_tmp_files() == 0);
    free(before);
    free(after);
    /* into memory too */
    uint8_t *data = NULL;
    size_t size = 0;
    second.asked = 0;
    const dlut_image_format fmt[] = {DLUT_IMAGE_FORMAT_PNG, DLUT_IMAGE_FORMAT_JPEG, DLUT_IMAGE_FORMAT_TIFF,
                                     DLUT_IMAGE_FORMAT_WEBP};
    CHECK(dlut_image_save_memory(img, fmt[e], &so, &data, &size) != 0 && data == NULL &&
          dlut_last_error_code() == DLUT_ERR_CANCELLED);
    free(data);
  }
  dlut_image_free(img);
  dlut_image_free(small);
}

/* ==== Metadata ==== */

static const char XMP[] =
    "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/"
    "22-rdf-syntax-ns#\"><rdf:Description dlut=\"yes\"/></rdf:RDF></x:xmpmeta>";

/* A PNG file with an eXIf chunk saying `orientation` (inserted before IDAT). */
static void png_insert_exif(const char *src, const char *dst, int orientation) {
  size_t n = 0;
  uint8_t *p = read_bytes(src, &n);
  CHECK(p != NULL);
  if (!p) return;
  uint8_t ex[64], chunk[64 + 12];
  size_t en = make_exif(ex, 1, orientation);
  put32be(chunk, (uint32_t)en);
  memcpy(chunk + 4, "eXIf", 4);
  memcpy(chunk + 8, ex, en);
  put32be(chunk + 8 + en, (uint32_t)crc32(0, chunk + 4, (uInt)(en + 4)));
  size_t at = 0;
  for (size_t i = 8; i + 8 <= n; i++)
    if (!memcmp(p + i + 4, "IDAT", 4)) {
      at = i;
      break;
    }
  CHECK(at > 0);
  FILE *f = fopen(dst, "wb");
  if (f) {
    fwrite(p, 1, at, f);
    fwrite(chunk, 1, en + 12, f);
    fwrite(p + at, 1, n - at, f);
    fclose(f);
  }
  free(p);
}

static void test_load_flags(void) {
  dlut_image *img = make_image(9, 5, 3, DLUT_PIXEL_U8, 1);
  CHECK(dlut_image_save(img, tmp("plain.png"), NULL) == 0);
  png_insert_exif(tmp("plain.png"), tmp("o6.png"), 6);
  dlut_image *up = dlut_image_load(tmp("o6.png"));
  dlut_image *want = dlut_image_orient(img, 6);
  CHECK_MSG(same_pixels(up, want), "PNG eXIf orientation 6 not applied: %s", up ? "pixels differ" : dlut_last_error());
  CHECK(up && dlut_image_exif_orientation(up->exif, up->exif_size) == 1);
  dlut_image *raw = dlut_image_load_flags(tmp("o6.png"), DLUT_IMAGE_LOAD_NO_ORIENT);
  CHECK(same_pixels(raw, img));
  CHECK(raw && dlut_image_exif_orientation(raw->exif, raw->exif_size) == 6);
  dlut_image_free(raw);
  dlut_image_free(want);
  dlut_image_free(up);
  dlut_image_free(img);
}

/* A big-endian EXIF block with IFD0 = {Make "DLT", ExifIFD} and an EXIF
 * IFD = {ExposureTime 1/250 (RATIONAL, stored out of line), ExifVersion
 * "0232"}: exercises value relocation and byte swapping. */
static size_t make_exif_with_subifd(uint8_t *p) {
  static const uint8_t b[] = {'M',  'M',  0, 42, 0, 0, 0, 8,                      /* header, IFD0 at 8 */
                              0,    2,                                            /* 2 entries */
                              0x01, 0x0F, 0, 2,  0, 0, 0, 4,  'D', 'L', 'T', 0,   /* Make */
                              0x87, 0x69, 0, 4,  0, 0, 0, 1,  0,   0,   0,   38,  /* ExifIFD -> 38 */
                              0,    0,    0, 0,                                   /* next IFD */
                              0,    2,                                            /* EXIF IFD: 2 entries */
                              0x82, 0x9A, 0, 5,  0, 0, 0, 1,  0,   0,   0,   68,  /* ExposureTime -> 68 */
                              0x90, 0x00, 0, 7,  0, 0, 0, 4,  '0', '2', '3', '2', /* ExifVersion */
                              0,    0,    0, 0,                                   /* next IFD */
                              0,    0,    0, 1,  0, 0, 0, 250};                   /* 1/250 */
  memcpy(p, b, sizeof b);
  return sizeof b;
}

static void test_tiff_exif(void) {
  dlut_image *img = make_image(16, 8, 3, DLUT_PIXEL_U8, 1);
  uint8_t ex[128];
  size_t en = make_exif_with_subifd(ex);
  img->exif = malloc(en);
  memcpy(img->exif, ex, en);
  img->exif_size = en;
  const char *names[] = {"exif.tif", "exif.png", "exif.jpg"};
  for (int f = 0; f < 3; f++) {
    CHECK(dlut_image_save(img, tmp(names[f]), NULL) == 0);
    dlut_image *back = dlut_image_load(tmp(names[f]));
    CHECK(back && back->exif);
    if (!back || !back->exif) continue;
    /* The TIFF path rewrites the block in the file's (little-endian) order. */
    int le = back->exif[0] == 'I';
    const uint8_t r_le[8] = {1, 0, 0, 0, 250, 0, 0, 0}, r_be[8] = {0, 0, 0, 1, 0, 0, 0, 250};
    CHECK_MSG(memmem(back->exif, back->exif_size, le ? r_le : r_be, 8) != NULL, "%s: ExposureTime lost", names[f]);
    CHECK_MSG(memmem(back->exif, back->exif_size, "0232", 4) != NULL, "%s: ExifVersion lost", names[f]);
    CHECK_MSG(memmem(back->exif, back->exif_size, "DLT", 4) != NULL, "%s: Make lost", names[f]);
    dlut_image_free(back);
  }
  dlut_image_free(img);
}

static void test_metadata(void) {
  const char *names[] = {"meta.png", "meta.jpg", "meta.webp", "meta.tif"};
  for (int f = 0; f < 4; f++) {
    int tiff = f == 3; /* TIFF keeps IFD0 strings and the EXIF IFD only (test_tiff_exif) */
    dlut_image *img = make_image(20, 10, 3, DLUT_PIXEL_U8, 1);
    uint8_t ex[64];
    size_t en = make_exif(ex, f & 1, 6); /* says "rotate": the saver must write 1 */
    ex[f & 1 ? 37 : 34] = 20;            /* a (dangling) IFD1 link the saver must drop */
    img->exif = malloc(en);
    memcpy(img->exif, ex, en);
    img->exif_size = en;
    img->xmp = malloc(sizeof XMP - 1);
    memcpy(img->xmp, XMP, sizeof XMP - 1);
    img->xmp_size = sizeof XMP - 1;
    CHECK(dlut_image_save(img, tmp(names[f]), NULL) == 0);
    CHECK(dlut_image_exif_orientation(img->exif, img->exif_size) == 6); /* the caller's copy is untouched */
    dlut_image *back = dlut_image_load(tmp(names[f]));
    CHECK_MSG(back != NULL, "%s", dlut_last_error());
    if (back) {
      CHECK(back->width == 20 && back->height == 10); /* not rotated: orientation was saved as 1 */
      CHECK_MSG(tiff || (back->exif && back->exif_size == en), "%s: EXIF lost", names[f]);
      CHECK(tiff || dlut_image_exif_orientation(back->exif, back->exif_size) == 1);
      CHECK(tiff || (back->exif && memcmp(back->exif, ex, 18) == 0)); /* header and the Make entry intact */
      /* The saver unlinked IFD1 (thumbnail): IFD0's next-IFD offset is 0. */
      CHECK(tiff || (back->exif && back->exif_size >= 38 && !memcmp(back->exif + 34, "\0\0\0\0", 4)));
      CHECK_MSG(back->xmp && back->xmp_size == sizeof XMP - 1 && memcmp(back->xmp, XMP, sizeof XMP - 1) == 0,
                "%s: XMP of %zu bytes came back as %zu", names[f], sizeof XMP - 1, back->xmp_size);
      dlut_image *c = dlut_image_convert(back, 4, DLUT_PIXEL_F32);
      CHECK(c && c->xmp_size == back->xmp_size && c->exif_size == back->exif_size);
      dlut_image_free(c);
    }
    /* strip_meta writes none. */
    dlut_image_save_opts o = {.strip_meta = 1};
    CHECK(dlut_image_save(img, tmp(names[f]), &o) == 0);
    dlut_image *bare = dlut_image_load(tmp(names[f]));
    CHECK(bare && !bare->exif && !bare->xmp);
    dlut_image_free(bare);
    dlut_image_free(back);
    dlut_image_free(img);
  }
}

/* ==== Encoding to memory ==== */

static void test_save_memory(void) {
  dlut_image *img = make_image(40, 30, 4, DLUT_PIXEL_U16, 1);
  img->xmp = malloc(sizeof XMP - 1);
  memcpy(img->xmp, XMP, sizeof XMP - 1);
  img->xmp_size = sizeof XMP - 1;
  const dlut_image_format fmts[5] = {DLUT_IMAGE_FORMAT_PNG, DLUT_IMAGE_FORMAT_TIFF, DLUT_IMAGE_FORMAT_PPM,
                                     DLUT_IMAGE_FORMAT_JPEG, DLUT_IMAGE_FORMAT_WEBP};
  const char *files[5] = {"mem.png", "mem.tif", "mem.ppm", "mem.jpg", "mem.webp"};
  for (int i = 0; i < 5; i++) {
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK_MSG(dlut_image_save_memory(img, fmts[i], NULL, &buf, &n) == 0, "%s: %s", files[i], dlut_last_error());
    /* The same bytes as saving to a file (JPEG/WebP/PNG/TIFF/PPM encoders are deterministic). */
    CHECK(dlut_image_save(img, tmp(files[i]), NULL) == 0);
    size_t fn = 0;
    uint8_t *fb = read_bytes(tmp(files[i]), &fn);
    CHECK_MSG(buf && fb && n == fn && memcmp(buf, fb, n) == 0, "%s: memory encoding differs from the file", files[i]);
    dlut_image *back = buf ? dlut_image_load_memory(buf, n, files[i]) : NULL;
    CHECK(back && back->width == 40 && back->height == 30);
    CHECK(i == 2 || (back && back->xmp_size == sizeof XMP - 1)); /* PPM has no metadata */
    dlut_image_free(back);
    free(fb);
    free(buf);
  }
  uint8_t *buf = (uint8_t *)1;
  size_t n = 1;
  CHECK(dlut_image_save_memory(img, DLUT_IMAGE_FORMAT_UNKNOWN, NULL, &buf, &n) != 0 && buf == NULL && n == 0);
  dlut_image_free(img);
}

/* ==== ICC: Display P3 -> sRGB ==== */

/* RGB -> XYZ matrix from primaries and white (SMPTE RP 177-1993 section 3.3),
 * computed here in double precision, independently of lcms. */
static void rgb_to_xyz(const double xy[3][2], const double wxy[2], double m[3][3]) {
  double P[3][3], W[3] = {wxy[0] / wxy[1], 1.0, (1 - wxy[0] - wxy[1]) / wxy[1]};
  for (int i = 0; i < 3; i++) {
    P[0][i] = xy[i][0] / xy[i][1];
    P[1][i] = 1.0;
    P[2][i] = (1 - xy[i][0] - xy[i][1]) / xy[i][1];
  }
  double det = P[0][0] * (P[1][1] * P[2][2] - P[1][2] * P[2][1]) - P[0][1] * (P[1][0] * P[2][2] - P[1][2] * P[2][0]) +
               P[0][2] * (P[1][0] * P[2][1] - P[1][1] * P[2][0]);
  double inv[3][3];
  inv[0][0] = (P[1][1] * P[2][2] - P[1][2] * P[2][1]) / det;
  inv[0][1] = (P[0][2] * P[2][1] - P[0][1] * P[2][2]) / det;
  inv[0][2] = (P[0][1] * P[1][2] - P[0][2] * P[1][1]) / det;
  inv[1][0] = (P[1][2] * P[2][0] - P[1][0] * P[2][2]) / det;
  inv[1][1] = (P[0][0] * P[2][2] - P[0][2] * P[2][0]) / det;
  inv[1][2] = (P[0][2] * P[1][0] - P[0][0] * P[1][2]) / det;
  inv[2][0] = (P[1][0] * P[2][1] - P[1][1] * P[2][0]) / det;
  inv[2][1] = (P[0][1] * P[2][0] - P[0][0] * P[2][1]) / det;
  inv[2][2] = (P[0][0] * P[1][1] - P[0][1] * P[1][0]) / det;
  for (int i = 0; i < 3; i++) {
    double s = inv[i][0] * W[0] + inv[i][1] * W[1] + inv[i][2] * W[2];
    for (int r = 0; r < 3; r++) m[r][i] = P[r][i] * s;
  }
}

static void invert3(const double a[3][3], double o[3][3]) {
  double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
               a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      o[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
    }
}

static double srgb_decode(double v) {
  return v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}
static double srgb_encode(double v) {
  if (v <= 0) return 0;
  if (v >= 1) return 1;
  return v <= 0.0031308 ? v * 12.92 : 1.055 * pow(v, 1 / 2.4) - 0.055;
}

/* Write a 16-bit RGB (or, with grey set, 8-bit grey) PNG with an iCCP
 * chunk directly with libpng. */
static int write_png_with_icc(const char *path, const void *px, int w, int h, const void *icc, size_t icc_n, int grey) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return -1;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, grey ? 8 : 16,
               grey ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, 0, 0, 0);
  png_set_iCCP(png, info, "test profile", 0, icc, (png_uint_32)icc_n);
  png_write_info(png, info);
  if (!grey) png_set_swap(png);
  size_t row = grey ? (size_t)w : (size_t)w * 6;
  for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)px + (size_t)y * row);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  fclose(f);
  return 0;
}

static void test_icc(void) {
  /* Display P3: DCI-P3 primaries, D65, the sRGB transfer curve (Apple). */
  const double p3xy[3][2] = {{0.680, 0.320}, {0.265, 0.690}, {0.150, 0.060}};
  const double srgbxy[3][2] = {{0.640, 0.330}, {0.300, 0.600}, {0.150, 0.060}};
  const double d65[2] = {0.3127, 0.3290};
  cmsCIExyY white = {d65[0], d65[1], 1.0};
  cmsCIExyYTRIPLE prim = {{p3xy[0][0], p3xy[0][1], 1}, {p3xy[1][0], p3xy[1][1], 1}, {p3xy[2][0], p3xy[2][1], 1}};
  double params[5] = {2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045};
  cmsToneCurve *trc = cmsBuildParametricToneCurve(NULL, 4, params);
  cmsToneCurve *trcs[3] = {trc, trc, trc};
  cmsHPROFILE p3 = cmsCreateRGBProfile(&white, &prim, trcs);
  cmsUInt32Number icc_n = 0;
  CHECK(p3 && cmsSaveProfileToMem(p3, NULL, &icc_n) && icc_n > 0);
  void *icc = malloc(icc_n);
  CHECK(cmsSaveProfileToMem(p3, icc, &icc_n));
  cmsCloseProfile(p3);
  cmsFreeToneCurve(trc);

  /* Test colours (16-bit P3 code values), including a saturated P3 red that
   * lies outside sRGB (clipped) and in-gamut colours (exact). */
  const double cols[6][3] = {{1, 0, 0}, {0.8, 0.4, 0.2}, {0.3, 0.6, 0.5}, {0.5, 0.5, 0.5}, {0.1, 0.2, 0.7}, {1, 1, 1}};
  uint16_t px[6 * 3];
  for (int i = 0; i < 18; i++) px[i] = (uint16_t)(cols[i / 3][i % 3] * 65535 + 0.5);
  CHECK(write_png_with_icc(tmp("p3.png"), px, 6, 1, icc, icc_n, 0) == 0);
  free(icc);
  dlut_image *img = dlut_image_load(tmp("p3.png"));
  CHECK_MSG(img != NULL, "%s", dlut_last_error());
  if (!img) return;
  CHECK(img->type == DLUT_PIXEL_U16); /* 16 bits kept */
  double mp3[3][3], ms[3][3], msi[3][3];
  rgb_to_xyz(p3xy, d65, mp3);
  rgb_to_xyz(srgbxy, d65, ms);
  invert3(ms, msi);
  for (int i = 0; i < 6; i++) {
    double lin[3], xyz[3] = {0, 0, 0}, out[3] = {0, 0, 0};
    for (int c = 0; c < 3; c++) lin[c] = srgb_decode(px[3 * i + c] / 65535.0);
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) xyz[r] += mp3[r][c] * lin[c];
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 3; c++) out[r] += msi[r][c] * xyz[c];
    for (int c = 0; c < 3; c++) {
      double want = srgb_encode(out[c]);
      double got = ((uint16_t *)img->data)[3 * i + c] / 65535.0;
      /* lcms evaluates through 16-bit tables: allow 2/1000 of full range. */
      CHECK_MSG(fabs(got - want) < 2e-3, "P3 (%g %g %g) channel %d: got %.5f want %.5f", cols[i][0], cols[i][1],
                cols[i][2], c, got, want);
    }
  }
  /* The saturated P3 red is outside sRGB: green and blue clip at 0, red at 1. */
  const uint16_t *d = img->data;
  CHECK(d[0] == 65535 && d[1] < 200 && d[2] < 200);
  dlut_image_free(img);
  /* DLUT_IMAGE_LOAD_NO_ICC keeps the stored code values. */
  dlut_image *raw = dlut_image_load_flags(tmp("p3.png"), DLUT_IMAGE_LOAD_NO_ICC);
  CHECK(raw && raw->type == DLUT_PIXEL_U16 && memcmp(raw->data, px, sizeof px) == 0);
  dlut_image_free(raw);

  /* A grey image tagged with a linear (gamma 1) grey profile: code v means
   * linear light v/255, so the sRGB result is encode(v/255) in all three
   * channels. */
  cmsToneCurve *lin = cmsBuildGamma(NULL, 1.0);
  cmsHPROFILE g = cmsCreateGrayProfile(&white, lin);
  cmsFreeToneCurve(lin);
  cmsUInt32Number gn = 0;
  CHECK(g && cmsSaveProfileToMem(g, NULL, &gn) && gn > 0);
  void *gicc = malloc(gn);
  CHECK(cmsSaveProfileToMem(g, gicc, &gn));
  cmsCloseProfile(g);
  uint8_t grey[8] = {0, 1, 10, 50, 100, 128, 200, 255};
  CHECK(write_png_with_icc(tmp("grey-linear.png"), grey, 8, 1, gicc, gn, 1) == 0);
  free(gicc);
  dlut_image *gi = dlut_image_load(tmp("grey-linear.png"));
  CHECK_MSG(gi != NULL, "%s", dlut_last_error());
  for (int i = 0; gi && i < 8; i++) {
    double want = 255.0 * srgb_encode(grey[i] / 255.0);
    const uint8_t *q = (const uint8_t *)gi->data + 3 * i;
    CHECK_MSG(fabs(q[0] - want) <= 1.0 && q[0] == q[1] && q[1] == q[2], "linear grey %d -> %d %d %d, want %.2f",
              grey[i], q[0], q[1], q[2], want);
  }
  dlut_image_free(gi);
}

/* ==== ICC fast paths vs the lcms reference ==== */

static void *profile_bytes(cmsHPROFILE p, size_t *n) {
  cmsUInt32Number k = 0;
  void *b = NULL;
  if (p && cmsSaveProfileToMem(p, NULL, &k) && k > 0 && (b = malloc(k)) && cmsSaveProfileToMem(p, b, &k)) {
    *n = k;
  } else {
    free(b);
    b = NULL;
  }
  if (p) cmsCloseProfile(p);
  return b;
}

static void test_icc_fast_vs_ref(void) {
  /* Profiles: Display P3 (built), Adobe RGB and ProPhoto (Ghostscript's
   * files, when installed with the ghostscript package), linear grey. */
  cmsCIExyY white = {0.3127, 0.3290, 1.0};
  cmsCIExyYTRIPLE p3 = {{0.680, 0.320, 1}, {0.265, 0.690, 1}, {0.150, 0.060, 1}};
  double params[5] = {2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045};
  cmsToneCurve *trc = cmsBuildParametricToneCurve(NULL, 4, params);
  cmsToneCurve *lin = cmsBuildGamma(NULL, 1.0);
  cmsToneCurve *trcs[3] = {trc, trc, trc};
  size_t n[4] = {0};
  void *prof[4];
  const char *names[4] = {"P3", "a98.icc", "rommrgb.icc", "linear grey"};
  prof[0] = profile_bytes(cmsCreateRGBProfile(&white, &p3, trcs), &n[0]);
  prof[1] = dlut_file_read_all("/usr/share/color/icc/ghostscript/a98.icc", 1 << 20, &n[1]);
  prof[2] = dlut_file_read_all("/usr/share/color/icc/ghostscript/rommrgb.icc", 1 << 20, &n[2]);
  prof[3] = profile_bytes(cmsCreateGrayProfile(&white, lin), &n[3]);
  cmsFreeToneCurve(trc);
  cmsFreeToneCurve(lin);
  for (int p = 0; p < 4; p++) {
    if (!prof[p]) {
      CHECK_MSG(p == 1 || p == 2, "could not build profile %s", names[p]);
      continue;
    }
    for (int t = 0; t < 2; t++) {
      dlut_pixel_type type = t ? DLUT_PIXEL_U16 : DLUT_PIXEL_U8;
      dlut_image *a = make_image(64, 40, 4, type, 1);
      /* Dark and saturated corners of the cube, where tables go wrong. */
      for (int i = 0; i < 64 * 40 * 4; i++) {
        uint32_t r = rnd();
        int v = (r & 3) == 0 ? (int)(r >> 2) % 64 : (r & 3) == 1 ? 255 - (int)(r >> 2) % 8 : (int)(r >> 2) % 256;
        if (type == DLUT_PIXEL_U8)
          ((uint8_t *)a->data)[i] = (uint8_t)v;
        else
          ((uint16_t *)a->data)[i] = (uint16_t)(v * 257 + (int)(r >> 12) % 257);
      }
      if (p == 3) /* grey images are expanded grey: R = G = B */
        for (int i = 0; i < 64 * 40; i++)
          for (int c = 1; c < 3; c++) {
            if (type == DLUT_PIXEL_U8)
              ((uint8_t *)a->data)[4 * i + c] = ((uint8_t *)a->data)[4 * i];
            else
              ((uint16_t *)a->data)[4 * i + c] = ((uint16_t *)a->data)[4 * i];
          }
      dlut_image *b = dlut_image_convert(a, 4, type);
      CHECK(dlut__icc_to_srgb(a, prof[p], n[p]) == 0);
      CHECK(dlut__icc_to_srgb_ref(b, prof[p], n[p]) == 0);
      int worst = 0, alpha_kept = 1;
      for (int i = 0; i < 64 * 40 * 4; i++) {
        int d = abs((int)(type == DLUT_PIXEL_U8 ? ((uint8_t *)a->data)[i] - ((uint8_t *)b->data)[i]
                                                : ((uint16_t *)a->data)[i] - ((uint16_t *)b->data)[i]));
        if (i % 4 == 3 && d) alpha_kept = 0;
        if (d > worst) worst = d;
      }
      int tol = type == DLUT_PIXEL_U8 ? 1 : 2;
      fprintf(stderr, "icc fast vs reference: %-11s %2d-bit: max difference %d codes\n", names[p], 8 * (int)type,
              worst);
      CHECK_MSG(worst <= tol, "%s %d-bit: fast path differs from the lcms reference by %d codes", names[p],
                8 * (int)type, worst);
      CHECK(alpha_kept);
      dlut_image_free(a);
      dlut_image_free(b);
    }
    free(prof[p]);
  }
}

/* ==== Several threads at once (the server loads uploads concurrently) ==== */

typedef struct {
  const char *path; /* file to load */
  const dlut_image *want;
  int ok; /* result */
} thread_job;

static void *load_many(void *arg) {
  thread_job *j = arg;
  j->ok = 1;
  for (int r = 0; r < 5; r++) {
    dlut_image *img = dlut_image_load(j->path);
    if (!same_pixels(img, j->want)) j->ok = 0;
    dlut_image_free(img);
  }
  return NULL;
}

static void test_threads(void) {
  const char *names[4] = {"t.png", "t.jpg", "t.tif", "t.webp"};
  dlut_image *src = make_image(80, 50, 3, DLUT_PIXEL_U8, 1);
  dlut_image *want[4] = {0};
  for (int i = 0; i < 4; i++) {
    CHECK(dlut_image_save(src, tmp(names[i]), NULL) == 0);
    want[i] = dlut_image_load(tmp(names[i]));
  }
  pthread_t th[8];
  thread_job jobs[8];
  for (int i = 0; i < 8; i++) {
    jobs[i] = (thread_job){tmp(names[i % 4]), want[i % 4], 0};
    /* tmp() rotates 8 buffers: take private copies of the paths. */
    jobs[i].path = strdup(jobs[i].path);
    CHECK(pthread_create(&th[i], NULL, load_many, &jobs[i]) == 0);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    CHECK_MSG(jobs[i].ok, "thread %d (%s) got different pixels", i, names[i % 4]);
    free((void *)jobs[i].path);
  }
  for (int i = 0; i < 4; i++) dlut_image_free(want[i]);
  dlut_image_free(src);
}

/* ==== Shared photos ==== */

static void test_photos(void) {
  const char *photos[] = {"data/photos/astronaut.png", "data/photos/rocket.jpg", "data/photos/chelsea.png"};
  for (int i = 0; i < 3; i++) {
    const char *p = test_shared(photos[i]);
    dlut_image *img = dlut_image_load(p);
    CHECK_MSG(img != NULL, "%s", dlut_last_error());
    if (!img) continue;
    CHECK(img->width > 100 && img->height > 100 && img->type == DLUT_PIXEL_U8);
    /* PNG and PPM round trips are exact on real photos too. */
    CHECK(dlut_image_save(img, tmp("photo.png"), NULL) == 0);
    dlut_image *b = dlut_image_load(tmp("photo.png"));
    dlut_image *rgb = img->channels == 3 ? NULL : dlut_image_convert(img, 3, DLUT_PIXEL_U8);
    CHECK(same_pixels(img, b));
    CHECK(dlut_image_save(img, tmp("photo.ppm"), NULL) == 0);
    dlut_image *c = dlut_image_load(tmp("photo.ppm"));
    CHECK(same_pixels(rgb ? rgb : img, c));
    dlut_image_free(b);
    dlut_image_free(c);
    dlut_image_free(rgb);
    dlut_image_free(img);
  }
}

/* Tool mode for tests/t_image.py, which compares our loader with
 * ImageMagick:  test_image convert IN OUT [quality] [lossless]
 *               test_image info IN   (prints "W H channels type exif xmp orientation") */
static int tool(int argc, char **argv) {
  dlut_image *img = argc >= 3 ? dlut_image_load(argv[2]) : NULL;
  if (!img) {
    fprintf(stderr, "test_image %s: %s\n", argv[1], argc >= 3 ? dlut_last_error() : "missing input");
    return 1;
  }
  int rc = 0;
  if (!strcmp(argv[1], "info")) {
    printf("%d %d %d %d %zu %zu %d\n", img->width, img->height, img->channels, (int)img->type, img->exif_size,
           img->xmp_size, dlut_image_exif_orientation(img->exif, img->exif_size));
  } else if (!strcmp(argv[1], "convert") && argc >= 4) {
    dlut_image_save_opts o = {0};
    if (argc >= 5) o.quality = atoi(argv[4]);
    if (argc >= 6) o.lossless = atoi(argv[5]);
    if (dlut_image_save(img, argv[3], &o) != 0) {
      fprintf(stderr, "test_image convert: %s\n", dlut_last_error());
      rc = 1;
    }
  } else {
    fprintf(stderr, "test_image: unknown tool command %s\n", argv[1]);
    rc = 2;
  }
  dlut_image_free(img);
  return rc;
}

int main(int argc, char **argv) {
  if (argc > 1) return tool(argc, argv);
  g_dir = test_tmpdir("image");
  test_alloc_convert();
  test_convert_fast_vs_ref();
  test_orientation();
  test_roundtrips();
  test_ppm();
  test_hostile();
  test_atomic();
  test_save_stop();
  test_metadata();
  test_save_memory();
  test_tiff_exif();
  test_load_flags();
  test_icc();
  test_icc_fast_vs_ref();
  test_threads();
  test_photos();
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (!getenv("KEEP") && g_test_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary("image");
}
