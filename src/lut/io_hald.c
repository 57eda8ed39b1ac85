/* Hald CLUT images (Eskil Steenberg's format, as ImageMagick's -hald-clut
 * and G'MIC read it): a square image of level L is L^3 x L^3 pixels and
 * holds an (L^2)^3 lattice, pixel i (row-major, i = x + y * L^3) being the
 * output for red = i mod L^2, green = (i / L^2) mod L^2, blue = i / L^4,
 * i.e. red fastest - the canonical dlut_lut order, so the pixels ARE the
 * table. Levels 2..16 (lattice 4..256) are accepted; 8- and 16-bit (and
 * float TIFF) samples; alpha is ignored; the stored code values are used
 * as they are (no ICC conversion, no EXIF orientation).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "dlut/error.h"
#include "lut/io_internal.h"

dlut_lut *dlut_lut_from_hald_image(const dlut_image *img, const char *name) {
  if (!img || img->channels < 3) {
    dlut_error("%s: a Hald CLUT must be an RGB image", name);
    return NULL;
  }
  int level = 0;
  for (int l = 2; l <= 16; l++)
    if (img->width == l * l * l && img->height == l * l * l) level = l;
  if (!level) {
    dlut_error("%s: not a Hald CLUT: %dx%d is not L^3 x L^3 for a level L of 2..16", name, img->width, img->height);
    return NULL;
  }
  const int n = level * level;
  dlut_lut *lut = dlut_lut_alloc(n, 0);
  if (!lut) {
    dlut_error_prefix(name);
    return NULL;
  }
  const int64_t w = img->width;
  for (int64_t i = 0; i < (int64_t)n * n * n; i++) {
    const void *px = dlut_image_pixel(img, (int)(i % w), (int)(i / w));
    float *dst = lut->table + i * 3;
    for (int c = 0; c < 3; c++) {
      switch (img->type) {
        case DLUT_PIXEL_U8:
          dst[c] = (float)((const uint8_t *)px)[c] / 255.0f;
          break;
        case DLUT_PIXEL_U16:
          dst[c] = (float)((const uint16_t *)px)[c] / 65535.0f;
          break;
        default: {
          float v = ((const float *)px)[c];
          dst[c] = isfinite(v) ? v : 0.0f;
        }
      }
    }
  }
  return lut;
}

dlut_lut *dlut_lut_parse_hald(const void *data, size_t size, const char *name) {
  /* A Hald is data, not a photo: an embedded ICC profile (Photoshop tags
   * PNGs it saves) must not be "converted to sRGB", which would change the
   * table, and EXIF orientation must not move its pixels. */
  /* the size from the header first: an image that is no Hald is refused before it is decoded (a small
   * compressed file can hold a large float image) */
  int w = 0, h = 0, level = 0;
  if (dlut_image_probe(data, size, &w, &h) == 0) {
    for (int l = 2; l <= 16; l++)
      if (w == l * l * l && h == l * l * l) level = l;
    if (!level) {
      dlut_errorc(DLUT_ERR_INPUT, "%s: not a Hald CLUT: %dx%d is not L^3 x L^3 for a level L of 2..16", name, w, h);
      return NULL;
    }
  }
  dlut_image *img = dlut_image_load_memory_flags(data, size, name, DLUT_IMAGE_LOAD_RAW);
  if (!img) return NULL;
  dlut_lut *lut = dlut_lut_from_hald_image(img, name);
  dlut_image_free(img);
  return lut;
}

dlut_image *dlut_lut_to_hald_image(const dlut_lut *lut, int bits, const char *name) {
  int level = 0;
  if (lut_io_check(lut) != 0) {
    dlut_error_prefix(name);
    return NULL;
  }
  for (int l = 2; l <= 16; l++)
    if (lut->size == l * l) level = l;
  if (!level || lut->shaper_size) {
    dlut_error("%s: a Hald CLUT needs a 3D LUT of size L^2 (L = 2..16) without a shaper, not size %d", name, lut->size);
    return NULL;
  }
  if (bits != 8 && bits != 16) {
    dlut_error("%s: Hald bit depth must be 8 or 16", name);
    return NULL;
  }
  const int w = level * level * level;
  dlut_image *img = dlut_image_alloc(w, w, 3, bits == 8 ? DLUT_PIXEL_U8 : DLUT_PIXEL_U16);
  if (!img) {
    dlut_error_prefix(name);
    return NULL;
  }
  const float maxc = bits == 8 ? 255.0f : 65535.0f;
  const int64_t n3 = (int64_t)lut->size * lut->size * lut->size;
  for (int64_t i = 0; i < n3; i++) {
    void *px = dlut_image_pixel(img, (int)(i % w), (int)(i / w));
    for (int c = 0; c < 3; c++) {
      float v = lut->table[i * 3 + c];
      v = v < 0.f ? 0.f : v > 1.f ? 1.f : v;
      long q = lroundf(v * maxc);
      if (bits == 8)
        ((uint8_t *)px)[c] = (uint8_t)q;
      else
        ((uint16_t *)px)[c] = (uint16_t)q;
    }
  }
  return img;
}
