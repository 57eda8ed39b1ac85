/* libFuzzer target: a look's parameters read from arbitrary bytes as JSON
 * (dlut_look_from_json), and the suggestions for arbitrary words.
 * Invariants: no crash; a text that reads is a look that writes back as
 * JSON (dlut_look_to_json) and reads again to the very same floats, and
 * whose tiny bake is finite and inside [0,1]. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/looks.h"
#include "dlut/lut.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  dlut_look look, again;
  if (dlut_look_from_json((const char *)data, size, &look) == 0) {
    char *text = dlut_look_to_json(&look, NULL);
    if (!text) abort();
    if (dlut_look_from_json(text, strlen(text), &again) != 0) abort();
    if (memcmp(&look, &again, sizeof look) != 0) abort();
    free(text);
    dlut_lut *lut = dlut_look_bake(&look, 5);
    if (!lut) abort();
    for (int i = 0; i < 5 * 5 * 5 * 3; i++)
      if (!(lut->table[i] >= 0.0f && lut->table[i] <= 1.0f)) abort();
    dlut_lut_free(lut);
  }
  /* the bytes as a list of ignored words (suggest.c reads them as given: NUL-terminated, any bytes) */
  char *words = malloc(size + 1), out[256];
  if (!words) return 0;
  memcpy(words, data, size);
  words[size] = '\0';
  dlut_looks_suggest(words, out, sizeof out);
  free(words);
  return 0;
}
