/* src/color/camlog_image.c - a log-encoded image as displayed
 * (dlut/camlog.h). In its own file so that the curves and bakes in
 * camlog.c link without the image codecs. */
#include <stdint.h>

#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/image.h"

dlut_image *dlut_camlog_image_to_display(dlut_camlog enc, const dlut_image *img) {
  if ((unsigned)enc >= DLUT_CAMLOG_COUNT || !img) {
    dlut_errorc(DLUT_ERR_INPUT, "camlog: bad encoding or no image");
    return NULL;
  }
  dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32);
  if (!f) return NULL;
  for (int y = 0; y < f->height; y++) {
    float *row = (float *)((uint8_t *)f->data + (size_t)y * f->stride);
    dlut_camlog_to_display(enc, row, row, f->width);
  }
  if (dlut_image_copy_meta(f, img) != 0) {
    dlut_image_free(f);
    return NULL;
  }
  return f;
}
