/* libFuzzer target: the strict .npy reader refcheck uses on reference
 * arrays (src/clip/clip_npy.c). Invariants: no crash, and an accepted
 * array's element count matches its shape and every element is readable. */
#include <stdint.h>
#include <stdlib.h>

#include "clip/clip_npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlut_npy a;
  if (dlut_npy_parse(data, size, "fuzz.npy", &a) == 0) {
    int64_t count = 1;
    for (int i = 0; i < a.ndim; i++) count *= a.shape[i];
    if (count != a.count) abort();
    volatile double sum = 0;
    for (int64_t i = 0; i < a.count; i++) sum += dlut_npy_get(&a, i);
    (void)sum;
    dlut_npy_free(&a);
  }
  return 0;
}
