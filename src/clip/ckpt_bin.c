/* ckpt_bin.c - pytorch_model.bin (in progress: replaced by the zip reader + unpickler). */
#include <string.h>

#include "clip/ckpt_internal.h"
#include "dlut/error.h"

int ckpt_bin_open(ckpt_bin *b, const uint8_t *buf, size_t size, const char *what, int file, ckpt_list *out) {
  memset(b, 0, sizeof *b);
  return dlut_error("%s: pytorch_model.bin is not supported yet; use model.safetensors", what);
}

void ckpt_bin_close(ckpt_bin *b) { (void)b; }

int ckpt_zip_data(ckpt_zip *z, int i, const char *what, int check_crc, const uint8_t **data, void **owned) {
  return dlut_error("%s: zip not supported yet", what);
}
