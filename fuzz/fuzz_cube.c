/* libFuzzer target for the .cube reader (dlut_lut_parse_cube, the code
 * dlut_lut_load runs) and writer. Whatever parses must write, and what is
 * written must parse back to the same sizes and ranges, values within the
 * writer's 5e-10 plus half a float ulp (exact for |v| >= 2^-6). An abort() marks a violated
 * invariant; ASan/UBSan catch the rest.
 *   make BUILD=build-fuzz fuzz
 *   build-fuzz/fuzz/fuzz_cube -max_total_time=30 fuzz/corpus/fuzz_cube
 * Seeds: fuzz/corpus/fuzz_cube/ (small .cube files covering each feature). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "lut/io_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  dlut_threads_set(1);
  return 0;
}

static int close_enough(float a, float b) {
  return fabsf(a) >= 0.015625f && fabsf(a) < 1e9f ? a == b : fabs((double)a - b) <= 5.1e-10 + 1e-7 * fabs((double)a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlut_lut *l = dlut_lut_parse_cube(data, size, "fuzz.cube");
  if (!l) return 0;
  if (lut_io_check(l) != 0) abort(); /* the reader returned something invalid */
  float in[3] = {0.25f, 0.5f, 0.75f}, out[3];
  dlut_lut_eval(l, in, out, DLUT_INTERP_TETRAHEDRAL);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) abort();
  int rc = dlut_lut_write_cube(l, f, "fuzz.cube");
  fclose(f);
  if (rc == 0) {
    dlut_lut *r = dlut_lut_parse_cube(buf, len, "rewritten.cube");
    if (!r) abort();
    if (r->size != l->size || r->shaper_size != l->shaper_size) abort();
    for (size_t i = 0; i < (size_t)l->size * l->size * l->size * 3; i++)
      if (!close_enough(l->table[i], r->table[i])) abort();
    for (size_t i = 0; i < (size_t)l->shaper_size * 3; i++)
      if (!close_enough(l->shaper[i], r->shaper[i])) abort();
    for (int c = 0; c < 3; c++)
      if ((l->size &&
           (!close_enough(l->domain_min[c], r->domain_min[c]) || !close_enough(l->domain_max[c], r->domain_max[c]))) ||
          (l->shaper_size &&
           (!close_enough(l->shaper_min[c], r->shaper_min[c]) || !close_enough(l->shaper_max[c], r->shaper_max[c]))))
        abort();
    dlut_lut_free(r);
  }
  free(buf);
  dlut_lut_free(l);
  return 0;
}
