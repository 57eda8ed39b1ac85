/* TIFF: placeholder until the libtiff codec lands (same increment series). */
#include "dlut/error.h"
#include "image/image_private.h"

int dlut__tiff_load(const uint8_t *data, size_t size, dlut__decoded *out) {
  (void)data, (void)size, (void)out;
  return dlut_error("TIFF support is not built yet");
}
int dlut__tiff_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o) {
  (void)img, (void)fp, (void)m, (void)o;
  return dlut_error("TIFF support is not built yet");
}
