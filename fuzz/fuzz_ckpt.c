/* fuzz_ckpt - libFuzzer target for the checkpoint parsers, from memory.
 * The first byte picks the parser, the rest is its input:
 *   0  safetensors file (header + data)        ckpt_safetensors_parse
 *   1  data.pkl                                ckpt_pickle_state_dict
 *   2  zip archive, then every entry's data    ckpt_zip_open / ckpt_zip_data
 *   3  pytorch_model.bin (zip + pickle + views) ckpt_bin_open, then F16/BF16
 *      conversion of every tensor it accepts
 * Every input must either parse or fail with an error message; sanitizers
 * catch the rest. Seeds: fuzz/corpus/fuzz_ckpt/ (made by tests/t_ckpt.py
 * --make-corpus).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clip/ckpt_internal.h"
#include "dlut/error.h"

static void must_have_error(int rc) {
  if (rc != 0 && dlut_last_error()[0] == '\0') abort(); /* a failure without a reason */
}

/* Touch every byte a tensor claims, so ASan sees out-of-range views. */
static float touch(const dlut_tensor_info *t) {
  float acc = 0;
  const uint8_t *p = t->data;
  for (size_t i = 0; i < t->nbytes; i++) acc += p[i];
  if (t->dtype == DLUT_DTYPE_F16 || t->dtype == DLUT_DTYPE_BF16) {
    size_t n = t->nbytes / 2;
    float *f = malloc(n ? n * sizeof *f : 1);
    if (!f) return acc;
    if (t->dtype == DLUT_DTYPE_F16)
      ckpt_f16_to_f32_n(f, p, n);
    else
      ckpt_bf16_to_f32_n(f, p, n);
    for (size_t i = 0; i < n; i++) {
      float r = t->dtype == DLUT_DTYPE_F16 ? ckpt_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8))
                                           : ckpt_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
      if (memcmp(&r, &f[i], 4) != 0) abort(); /* fast kernel and reference must agree */
      acc += f[i];
    }
    free(f);
  }
  return acc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  int mode = data[0] & 3;
  /* Copy so that reads past the end are caught even for mode-specific offsets. */
  size_t n = size - 1;
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, n);
  dlut_error_clear();
  volatile float sink = 0;
  if (mode == 0) {
    ckpt_list l = {0};
    int rc = ckpt_safetensors_parse(buf, n, "fuzz.safetensors", 0, &l);
    must_have_error(rc);
    for (int i = 0; i < l.n; i++) sink += touch(&l.v[i].info);
    ckpt_list_free(&l);
  } else if (mode == 1) {
    ckpt_pickle_tensor *t = NULL;
    int count = 0;
    int rc = ckpt_pickle_state_dict(buf, n, "fuzz.pkl", &t, &count);
    must_have_error(rc);
    ckpt_pickle_free(t, count);
  } else if (mode == 2) {
    ckpt_zip z;
    int rc = ckpt_zip_open(&z, buf, n, "fuzz.zip");
    must_have_error(rc);
    if (rc == 0) {
      for (int i = 0; i < z.n; i++) {
        const uint8_t *d;
        void *owned = NULL;
        if (ckpt_zip_data(&z, i, "fuzz.zip", 1, &d, &owned) == 0)
          for (uint64_t k = 0; k < z.e[i].usize; k++) sink += d[k];
        free(owned);
      }
      ckpt_zip_close(&z);
    }
  } else {
    ckpt_bin b;
    ckpt_list l = {0};
    int rc = ckpt_bin_open(&b, buf, n, "fuzz.bin", 0, &l);
    must_have_error(rc);
    for (int i = 0; i < l.n; i++) sink += touch(&l.v[i].info);
    ckpt_list_free(&l);
    ckpt_bin_close(&b);
  }
  (void)sink;
  free(buf);
  return 0;
}
