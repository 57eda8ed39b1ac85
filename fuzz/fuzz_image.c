/* libFuzzer target for the image decoders: every format dlut_image_load
 * sniffs (JPEG, PNG, WebP, TIFF, PPM/PGM), with ICC conversion and EXIF
 * orientation, through dlut_image_load_memory, and the submission checks
 * (dlut_image_probe, dlut_image_check_whole). The pixel cap is lowered to
 * 1 megapixel so header-declared sizes cannot push a run over libFuzzer's
 * memory limit; the caps logic itself is the same code.
 *   make BUILD=build-fuzz fuzz
 *   build-fuzz/fuzz/fuzz_image -max_total_time=30 fuzz/corpus/fuzz_image
 * Seeds: fuzz/corpus/fuzz_image/, tiny images made for this (how: docs/image.md). */
#include <stddef.h>
#include <stdint.h>

#include "dlut/image.h"
#include "dlut/parallel.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  dlut_image_set_max_pixels((int64_t)1 << 20);
  dlut_threads_set(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int w, h;
  (void)dlut_image_probe(data, size, &w, &h); /* the server's checks at submission, on the same bytes */
  (void)dlut_image_check_whole(data, size);
  dlut_image *img = dlut_image_load_memory(data, size, "fuzz");
  if (img) {
    /* Touch every byte so ASan sees any short allocation, and exercise
     * the converters on whatever came out. */
    volatile uint8_t sink = 0;
    const uint8_t *p = img->data;
    for (size_t i = 0; i < img->stride * (size_t)img->height; i++) sink ^= p[i];
    dlut_image *c = dlut_image_convert(img, 4, DLUT_PIXEL_F32);
    dlut_image_free(c);
    (void)sink;
  }
  dlut_image_free(img);
  return 0;
}
