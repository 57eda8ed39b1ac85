/* libFuzzer target: the offline-looks prompt parser, the look description
 * and a tiny bake of whatever look the parser made of arbitrary bytes.
 * Invariants: no crash, parse either fails cleanly or yields a look whose
 * bake is a LUT with every entry finite and inside [0,1]. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/looks.h"
#include "dlut/lut.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *prompt = malloc(size + 1);
  if (!prompt) return 0;
  memcpy(prompt, data, size);
  prompt[size] = '\0';
  dlut_look look;
  dlut_looks_report report;
  if (dlut_looks_parse(prompt, &look, &report) == 0) {
    char desc[2048];
    dlut_look_describe(&look, desc, sizeof desc);
    dlut_lut *lut = dlut_look_bake(&look, 5);
    if (!lut) abort();
    for (int i = 0; i < 5 * 5 * 5 * 3; i++)
      if (!(lut->table[i] >= 0.0f && lut->table[i] <= 1.0f)) abort();
    dlut_lut_free(lut);
  }
  free(prompt);
  return 0;
}
