/* Resampling a LUT onto a new 3D lattice over [0,1]: the shaper and the
 * domain mapping are folded in, since every new entry is simply the whole
 * LUT evaluated at its lattice point, (r, g, b) / (new_size - 1), with the
 * chosen interpolator. The points are evaluated with the fast threaded
 * kernel (dlut_lut_apply_f32), which the tests hold within 1e-5 of the
 * double-precision reference.
 *
 * When (new_size - 1) is a multiple of (size - 1) the old lattice points
 * are among the new ones, so resampling down again gives back the original
 * table (up to float rounding): tests/test_lut_apply_resample.c checks it. */
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/lut.h"

dlut_lut *dlut_lut_resample(const dlut_lut *lut, int new_size, dlut_interp interp) {
  if (!lut) {
    dlut_error("resample: NULL LUT");
    return NULL;
  }
  if (new_size < 2 || new_size > DLUT_LUT_MAX_SIZE) {
    dlut_error("resample: size %d out of range (2..%d)", new_size, DLUT_LUT_MAX_SIZE);
    return NULL;
  }
  if ((lut->size && !lut->table) || (lut->shaper_size && !lut->shaper)) {
    dlut_error("resample: LUT without its tables");
    return NULL;
  }
  dlut_lut *out = dlut_lut_alloc(new_size, 0); /* identity: the lattice points themselves */
  if (!out) return NULL;
  memcpy(out->title, lut->title, sizeof out->title);
  out->title[sizeof out->title - 1] = '\0';
  int64_t n = (int64_t)new_size * new_size * new_size;
  /* The identity table holds exactly the points to evaluate, in the output
   * layout; apply in place. */
  dlut_lut_apply_f32(lut, out->table, out->table, n, interp);
  return out;
}
