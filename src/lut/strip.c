/* The picture of a LUT as the original CLIP-DLUT draws it: the 3D table cut
 * into its `size` blue slices, laid side by side left to right (blue 0
 * first); each slice is a size x size tile with red increasing to the right
 * and green increasing downwards. Values are clamped to [0,1] and rounded
 * to 8 bits. A 1D-only LUT is drawn through a 33^3 identity lattice it is
 * evaluated on. Each lattice point becomes a scale x scale block.
 */
#include <math.h>
#include <stdint.h>

#include "dlut/error.h"
#include "lut/io_internal.h"

dlut_image *dlut_lut_strip(const dlut_lut *lut, int scale) {
  if (lut_io_check(lut) != 0) return NULL;
  if (scale < 1 || scale > 64) {
    dlut_error("strip scale must be 1..64, not %d", scale);
    return NULL;
  }
  const int n = lut->size ? lut->size : 33;
  const int64_t w = (int64_t)n * n * scale, h = (int64_t)n * scale;
  if (w > DLUT_IMAGE_MAX_DIM) {
    dlut_error("a strip of a size %d LUT at scale %d would be %lld pixels wide (at most %d)", n, scale, (long long)w,
               DLUT_IMAGE_MAX_DIM);
    return NULL;
  }
  dlut_image *img = dlut_image_alloc((int)w, (int)h, 3, DLUT_PIXEL_U8);
  if (!img) return NULL;
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        float v[3];
        if (lut->size) {
          const float *t = lut->table + (((int64_t)b * n + g) * n + r) * 3;
          v[0] = t[0], v[1] = t[1], v[2] = t[2];
        } else {
          const float in[3] = {(float)r / (float)(n - 1), (float)g / (float)(n - 1), (float)b / (float)(n - 1)};
          dlut_lut_eval(lut, in, v, DLUT_INTERP_TRILINEAR);
        }
        uint8_t q[3];
        for (int c = 0; c < 3; c++) {
          float x = v[c] < 0.f ? 0.f : v[c] > 1.f ? 1.f : v[c];
          q[c] = (uint8_t)lroundf(x * 255.0f);
        }
        for (int dy = 0; dy < scale; dy++)
          for (int dx = 0; dx < scale; dx++) {
            uint8_t *px = dlut_image_pixel(img, (b * n + r) * scale + dx, g * scale + dy);
            px[0] = q[0], px[1] = q[1], px[2] = q[2];
          }
      }
  return img;
}
