/* The canonical LUT object: allocation (identity tables), cloning, freeing
 * and single-colour evaluation.
 *
 * The layout is fixed by dlut/lut.h: a 3D table of size^3 RGB floats with
 * red fastest, an optional per-channel 1D shaper in front of it. Every size
 * computation here is checked against the documented caps before any
 * multiplication, so a hostile size from a loader cannot overflow. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "lut/apply_internal.h"

/* ==== Construction ==== */

dlut_lut *dlut_lut_alloc(int size, int shaper_size) {
  dlut_lut *lut = NULL;
  if (size != 0 && (size < 2 || size > DLUT_LUT_MAX_SIZE)) {
    dlut_error("3D LUT size %d out of range (2..%d, or 0 for none)", size, DLUT_LUT_MAX_SIZE);
    goto fail;
  }
  if (shaper_size != 0 && (shaper_size < 2 || shaper_size > DLUT_LUT_MAX_1D)) {
    dlut_error("1D LUT size %d out of range (2..%d, or 0 for none)", shaper_size, DLUT_LUT_MAX_1D);
    goto fail;
  }
  lut = calloc(1, sizeof *lut);
  if (!lut) goto oom;
  lut->size = size;
  lut->shaper_size = shaper_size;
  for (int c = 0; c < 3; c++) {
    lut->domain_min[c] = 0.0f;
    lut->domain_max[c] = 1.0f;
    lut->shaper_min[c] = 0.0f;
    lut->shaper_max[c] = 1.0f;
  }
  if (size) {
    /* size <= 256, so size^3 * 3 <= 50,331,648 floats: no overflow in size_t. */
    size_t n = (size_t)size * (size_t)size * (size_t)size;
    lut->table = malloc(n * 3 * sizeof(float));
    if (!lut->table) goto oom;
    float step = 1.0f / (float)(size - 1);
    float *t = lut->table;
    for (int b = 0; b < size; b++)
      for (int g = 0; g < size; g++)
        for (int r = 0; r < size; r++) {
          *t++ = (float)r * step;
          *t++ = (float)g * step;
          *t++ = (float)b * step;
        }
  }
  if (shaper_size) {
    lut->shaper = malloc((size_t)shaper_size * 3 * sizeof(float));
    if (!lut->shaper) goto oom;
    /* i / (n-1) computed in double so that the last entry is exactly 1. */
    for (int i = 0; i < shaper_size; i++) {
      float v = (float)((double)i / (double)(shaper_size - 1));
      lut->shaper[i * 3 + 0] = lut->shaper[i * 3 + 1] = lut->shaper[i * 3 + 2] = v;
    }
  }
  return lut;
oom:
  dlut_error("out of memory allocating a LUT (size %d, shaper %d)", size, shaper_size);
fail:
  dlut_lut_free(lut);
  return NULL;
}

dlut_lut *dlut_lut_clone(const dlut_lut *lut) {
  if (!lut) {
    dlut_error("dlut_lut_clone: NULL LUT");
    return NULL;
  }
  dlut_lut *out = dlut_lut_alloc(lut->size, lut->shaper_size);
  if (!out) return NULL;
  if (lut->size) {
    size_t n = (size_t)lut->size * (size_t)lut->size * (size_t)lut->size * 3;
    memcpy(out->table, lut->table, n * sizeof(float));
  }
  if (lut->shaper_size) memcpy(out->shaper, lut->shaper, (size_t)lut->shaper_size * 3 * sizeof(float));
  memcpy(out->domain_min, lut->domain_min, sizeof out->domain_min);
  memcpy(out->domain_max, lut->domain_max, sizeof out->domain_max);
  memcpy(out->shaper_min, lut->shaper_min, sizeof out->shaper_min);
  memcpy(out->shaper_max, lut->shaper_max, sizeof out->shaper_max);
  memcpy(out->title, lut->title, sizeof out->title);
  out->title[sizeof out->title - 1] = '\0';
  return out;
}

dlut_lut *dlut_lut_at_strength(const dlut_lut *lut, float strength) {
  if (!lut || !(strength >= 0.0f && strength <= 1.0f)) {
    dlut_errorc(DLUT_ERR_INPUT, "LUT strength must be in 0..1");
    return NULL;
  }
  int plain = lut->size >= 2 && !lut->shaper_size;
  for (int c = 0; c < 3 && plain; c++) plain = lut->domain_min[c] == 0.0f && lut->domain_max[c] == 1.0f;
  dlut_lut *out =
      plain ? dlut_lut_clone(lut) : dlut_lut_resample(lut, lut->size >= 2 ? lut->size : 33, DLUT_INTERP_TETRAHEDRAL);
  if (!out) return NULL;
  const int n = out->size;
  const float k = strength, inv = 1.0f / (float)(n - 1);
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        float *v = out->table + (((size_t)b * n + g) * n + r) * 3;
        const float x[3] = {(float)r * inv, (float)g * inv, (float)b * inv};
        for (int c = 0; c < 3; c++) v[c] = k * v[c] + (1.0f - k) * x[c];
      }
  memcpy(out->title, lut->title, sizeof out->title);
  return out;
}

void dlut_lut_free(dlut_lut *lut) {
  if (!lut) return;
  free(lut->table);
  free(lut->shaper);
  free(lut);
}

/* ==== Evaluation of one colour ==== */

void dlut_lut_eval(const dlut_lut *lut, const float in[3], float out[3], dlut_interp interp) {
  if (!lut) { /* no LUT: the identity */
    out[0] = in[0], out[1] = in[1], out[2] = in[2];
    return;
  }
  lut_prep p;
  lut_prep_init(&p, lut);
  float v[3] = {in[0], in[1], in[2]};
  if (p.shaper_size)
    for (int c = 0; c < 3; c++) v[c] = lut_shaper_eval(&p, c, v[c]);
  if (!p.size) {
    out[0] = v[0], out[1] = v[1], out[2] = v[2];
    return;
  }
  float x[3];
  for (int c = 0; c < 3; c++) x[c] = lut_lattice_coord(&p, c, v[c]);
  if (interp == DLUT_INTERP_TRILINEAR)
    lut_trilinear_1(&p, x[0], x[1], x[2], out);
  else
    lut_tetrahedral_1(&p, x[0], x[1], x[2], out);
}
