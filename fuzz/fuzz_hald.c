/* libFuzzer target for Hald CLUT images. Inputs starting with the PNG
 * signature go through dlut_lut_parse_hald (the decoder, then the Hald
 * reader); anything else is taken as a raw image: byte 0 picks the level
 * (2..4), the sample type and 3 or 4 channels, the rest fills the pixels,
 * so the Hald reader and writer are reached on every run. A 16-bit Hald
 * must survive reader -> writer -> reader bit-exactly.
 *   make BUILD=build-fuzz fuzz
 *   build-fuzz/fuzz/fuzz_hald -max_total_time=30 fuzz/corpus/fuzz_hald
 * Seeds: fuzz/corpus/fuzz_hald/ (a level-2 PNG, raw images). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "lut/io_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  dlut_image_set_max_pixels((int64_t)1 << 22);
  dlut_threads_set(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 8 && memcmp(data, png, 8) == 0) {
    dlut_lut *l = dlut_lut_parse_hald(data, size, "fuzz.png");
    if (l && lut_io_check(l) != 0) abort();
    dlut_lut_free(l);
    return 0;
  }
  if (size < 1) return 0;
  const int level = 2 + data[0] % 3;
  const dlut_pixel_type types[3] = {DLUT_PIXEL_U8, DLUT_PIXEL_U16, DLUT_PIXEL_F32};
  const dlut_pixel_type type = types[(data[0] / 3) % 3];
  const int channels = (data[0] / 9) % 2 ? 4 : 3;
  const int w = level * level * level;
  dlut_image *img = dlut_image_alloc(w, w, channels, type);
  if (!img) abort();
  size_t bytes = img->stride * (size_t)img->height;
  uint8_t *p = img->data;
  for (size_t i = 0; i < bytes; i++) p[i] = size > 1 ? data[1 + i % (size - 1)] : 0;
  dlut_lut *l = dlut_lut_from_hald_image(img, "fuzz.raw");
  if (!l || l->size != level * level || lut_io_check(l) != 0) abort();
  dlut_image *out = dlut_lut_to_hald_image(l, 16, "fuzz.png");
  if (!out) abort();
  if (type == DLUT_PIXEL_U16) /* 16 bits in, 16 bits out: bit-exact */
    for (int y = 0; y < w; y++)
      for (int x = 0; x < w; x++) {
        const uint16_t *a = dlut_image_pixel(img, x, y), *b = dlut_image_pixel(out, x, y);
        if (a[0] != b[0] || a[1] != b[1] || a[2] != b[2]) abort();
      }
  dlut_image *strip = dlut_lut_strip(l, 1);
  if (!strip) abort();
  dlut_image_free(strip);
  dlut_image_free(out);
  dlut_image_free(img);
  dlut_lut_free(l);
  return 0;
}
