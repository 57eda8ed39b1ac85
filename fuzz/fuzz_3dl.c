/* libFuzzer target for the .3dl reader (dlut_lut_parse_3dl) and writer.
 * A parsed 3D LUT without a shaper must write at 16 bits and read back with
 * the same size, each value within half a 16-bit code of its [0,1]-clamped
 * original.
 *   make BUILD=build-fuzz fuzz
 *   build-fuzz/fuzz/fuzz_3dl -max_total_time=30 fuzz/corpus/fuzz_3dl
 * Seeds: fuzz/corpus/fuzz_3dl/ (plain, Lustre and shaper layouts). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "lut/io_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  dlut_threads_set(1);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlut_lut *l = dlut_lut_parse_3dl(data, size, "fuzz.3dl");
  if (!l) return 0;
  if (lut_io_check(l) != 0 || !l->size) abort();
  if (!l->shaper_size) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) abort();
    int rc = dlut_lut_write_3dl(l, f, 16, "fuzz.3dl");
    fclose(f);
    /* the writer refuses (UNSUPPORTED) only a LUT whose bit depth readers would misread */
    if (rc != 0 && dlut_last_error_code() != DLUT_ERR_UNSUPPORTED) abort();
    if (rc != 0) {
      free(buf);
      dlut_lut_free(l);
      return 0;
    }
    dlut_lut *r = dlut_lut_parse_3dl(buf, len, "rewritten.3dl");
    /* An all-dark LUT (largest code < 128 at 16 bits) is refused as "not a
     * .3dl" by the bit-depth inference, as OpenColorIO does. */
    int dark = 1;
    for (size_t i = 0; i < (size_t)l->size * l->size * l->size * 3; i++)
      if (l->table[i] * 65535.0f >= 127.5f) dark = 0;
    if (!r && !dark) abort();
    if (r) {
      if (r->size != l->size) abort();
      /* A 16-bit file may be re-inferred at a lower depth when its largest
       * code is small; compare only when the largest code keeps 16 bits. */
      float mx = 0;
      for (size_t i = 0; i < (size_t)l->size * l->size * l->size * 3; i++) mx = fmaxf(mx, l->table[i]);
      if (mx * 65535.0f > 32767.5f)
        for (size_t i = 0; i < (size_t)l->size * l->size * l->size * 3; i++) {
          float v = l->table[i] < 0 ? 0 : l->table[i] > 1 ? 1 : l->table[i];
          if (fabsf(r->table[i] - v) > 0.5f / 65535.0f + 1e-6f) abort();
        }
      dlut_lut_free(r);
    }
    free(buf);
  }
  dlut_lut_free(l);
  return 0;
}
