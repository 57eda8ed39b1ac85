/* lut/apply_internal.h - private helpers shared by the LUT application,
 * backward and resampling code (src/lut/lut.c, apply*.c, backward*.c,
 * resample*.c). Not part of the public API.
 *
 * The semantics every kernel implements (dlut/lut.h):
 *   1. shaper (if any), per channel c: t = (v - shaper_min[c]) * (n-1) /
 *      (shaper_max[c] - shaper_min[c]), clamped to [0, n-1]; linear
 *      interpolation between entries floor(t) and floor(t)+1;
 *   2. 3D table (if any): x = (v - domain_min[c]) * (size-1) /
 *      (domain_max[c] - domain_min[c]) clamped to [0, size-1], then
 *      tetrahedral or trilinear interpolation in the cell whose low corner
 *      is min(floor(x), size-2) (so x == size-1 is the far face of the last
 *      cell, the same value FFmpeg gets with its NEXT() clamp).
 * A NaN coordinate clamps to 0, an infinite one to the nearer end, so no
 * input can index outside the tables. A degenerate range (max <= min, or
 * not finite) maps every input to the lattice's first point.
 *
 * The tetrahedral split is the one of FFmpeg's libavfilter/vf_lut3d.c
 * interp_tetrahedral() and OpenColorIO's Lut3DOpCPU tetrahedral renderer:
 * the cube is cut into six tetrahedra by the ordering of the fractional
 * parts (fr, fg, fb); with x1 >= x2 >= x3 that ordering, the result is
 *     (1-x1) c000 + (x1-x2) c_A + (x2-x3) c_AB + x3 c111
 * where c_A is one step along the largest fraction's axis and c_AB one
 * step along the two largest. Ties go the same way as FFmpeg's strict '>'
 * tests (the value is continuous there, so only rounding could differ).
 */
#ifndef DLUT_LUT_APPLY_INTERNAL_H
#define DLUT_LUT_APPLY_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "dlut/lut.h"

/* Everything a kernel needs, derived once per call from a dlut_lut. */
typedef struct lut_prep {
  const float *table;  /* size^3 * 3, red fastest; NULL if size == 0 */
  int size;            /* 3D lattice points per axis, 0 = none */
  float hi;            /* size - 1 (largest lattice coordinate) */
  float dmin[3];       /* domain_min */
  float dscale[3];     /* (size-1) / (domain_max - domain_min), 0 if degenerate */
  const float *shaper; /* shaper_size * 3; NULL if none */
  int shaper_size;     /* 1D entries, 0 = none */
  float shi;           /* shaper_size - 1 */
  float smin[3];       /* shaper_min */
  float sscale[3];     /* (shaper_size-1) / (shaper_max - shaper_min), 0 if degenerate */
} lut_prep;

/* (n-1)/(max-min) in double, or 0 when the range is empty or not finite. */
static inline float lut_range_scale(float lo, float hi, int n) {
  double w = (double)hi - (double)lo;
  if (!(w > 0) || !isfinite(w)) return 0.0f;
  double s = (double)(n - 1) / w;
  return isfinite(s) && s < 1e30 ? (float)s : 0.0f;
}

static inline void lut_prep_init(lut_prep *p, const dlut_lut *lut) {
  p->table = lut->size ? lut->table : NULL;
  p->size = lut->table ? lut->size : 0;
  p->hi = p->size ? (float)(p->size - 1) : 0.0f;
  p->shaper = lut->shaper_size ? lut->shaper : NULL;
  p->shaper_size = lut->shaper ? lut->shaper_size : 0;
  p->shi = p->shaper_size ? (float)(p->shaper_size - 1) : 0.0f;
  for (int c = 0; c < 3; c++) {
    p->dmin[c] = isfinite(lut->domain_min[c]) ? lut->domain_min[c] : 0.0f;
    p->dscale[c] = p->size ? lut_range_scale(lut->domain_min[c], lut->domain_max[c], p->size) : 0.0f;
    p->smin[c] = isfinite(lut->shaper_min[c]) ? lut->shaper_min[c] : 0.0f;
    p->sscale[c] = p->shaper_size ? lut_range_scale(lut->shaper_min[c], lut->shaper_max[c], p->shaper_size) : 0.0f;
  }
}

/* Clamp t to [0, hi]; NaN goes to 0 (the same as max(t,0) then min(.,hi)
 * with x86 maxps/minps operand order, which the SIMD kernels use). */
static inline float lut_clampf(float t, float hi) {
  if (!(t > 0.0f)) t = 0.0f;
  if (t > hi) t = hi;
  return t;
}

static inline float lut_shaper_eval(const lut_prep *p, int c, float v) {
  float t = lut_clampf((v - p->smin[c]) * p->sscale[c], p->shi);
  int i = (int)t;
  if (i > p->shaper_size - 2) i = p->shaper_size - 2;
  float f = t - (float)i;
  float a = p->shaper[i * 3 + c], b = p->shaper[(i + 1) * 3 + c];
  return a + f * (b - a);
}

static inline float lut_lattice_coord(const lut_prep *p, int c, float v) {
  return lut_clampf((v - p->dmin[c]) * p->dscale[c], p->hi);
}

/* Split a clamped lattice coordinate into cell index and fraction. */
static inline int lut_cell(float x, int size, float *frac) {
  int i = (int)x;
  if (i > size - 2) i = size - 2;
  *frac = x - (float)i;
  return i;
}

/* Offsets (in floats) and weights of the tetrahedral case for fractions
 * (fr, fg, fb); strides dr = 3, dg = 3*size, db = 3*size^2. The four
 * vertices are base, base+o1, base+o2, base+dr+dg+db with weights
 * w[0..3] = (1-x1, x1-x2, x2-x3, x3). Branch structure of FFmpeg's
 * interp_tetrahedral (vf_lut3d.c). */
static inline void lut_tetra_case(float fr, float fg, float fb, int dr, int dg, int db, int *o1, int *o2, float w[4]) {
  float x1, x2, x3;
  if (fr > fg) {
    if (fg > fb) {
      *o1 = dr, *o2 = dr + dg, x1 = fr, x2 = fg, x3 = fb;
    } else if (fr > fb) {
      *o1 = dr, *o2 = dr + db, x1 = fr, x2 = fb, x3 = fg;
    } else {
      *o1 = db, *o2 = db + dr, x1 = fb, x2 = fr, x3 = fg;
    }
  } else {
    if (fb > fg) {
      *o1 = db, *o2 = db + dg, x1 = fb, x2 = fg, x3 = fr;
    } else if (fb > fr) {
      *o1 = dg, *o2 = dg + db, x1 = fg, x2 = fb, x3 = fr;
    } else {
      *o1 = dg, *o2 = dg + dr, x1 = fg, x2 = fr, x3 = fb;
    }
  }
  w[0] = 1.0f - x1, w[1] = x1 - x2, w[2] = x2 - x3, w[3] = x3;
}

/* One colour through the 3D table, from clamped lattice coordinates. */
static inline void lut_tetrahedral_1(const lut_prep *p, float x, float y, float z, float out[3]) {
  const int S = p->size, dr = 3, dg = 3 * S, db = 3 * S * S;
  float fr, fg, fb;
  int ir = lut_cell(x, S, &fr), ig = lut_cell(y, S, &fg), ib = lut_cell(z, S, &fb);
  const float *c0 = p->table + (size_t)ir * dr + (size_t)ig * dg + (size_t)ib * db;
  int o1, o2;
  float w[4];
  lut_tetra_case(fr, fg, fb, dr, dg, db, &o1, &o2, w);
  const float *c1 = c0 + o1, *c2 = c0 + o2, *c3 = c0 + dr + dg + db;
  for (int c = 0; c < 3; c++) out[c] = w[0] * c0[c] + w[1] * c1[c] + w[2] * c2[c] + w[3] * c3[c];
}

static inline void lut_trilinear_1(const lut_prep *p, float x, float y, float z, float out[3]) {
  const int S = p->size, dr = 3, dg = 3 * S, db = 3 * S * S;
  float fr, fg, fb;
  int ir = lut_cell(x, S, &fr), ig = lut_cell(y, S, &fg), ib = lut_cell(z, S, &fb);
  const float *c = p->table + (size_t)ir * dr + (size_t)ig * dg + (size_t)ib * db;
  for (int k = 0; k < 3; k++) {
    /* Along red, then green, then blue (FFmpeg's interp_trilinear order). */
    float c00 = c[k] + fr * (c[dr + k] - c[k]);
    float c10 = c[dg + k] + fr * (c[dg + dr + k] - c[dg + k]);
    float c01 = c[db + k] + fr * (c[db + dr + k] - c[db + k]);
    float c11 = c[db + dg + k] + fr * (c[db + dg + dr + k] - c[db + dg + k]);
    float c0 = c00 + fg * (c10 - c00);
    float c1 = c01 + fg * (c11 - c01);
    out[k] = c0 + fb * (c1 - c0);
  }
}

/* ==== Fast table gradient (apply.c, used by backward.c) ==== */

typedef struct apply_ctx apply_ctx;

/* A context for lut_bwd_span (F32 RGB inputs, the table padded to 4
 * floats per entry), or NULL where the fast path does not apply (no AVX2,
 * table larger than the padding limit, shaper present, no memory). With a
 * scratch s the context and its padded table are s's (kept in s, never
 * freed with lut_bwd_ctx_free); without, the caller frees it. */
apply_ctx *lut_bwd_ctx_new(const dlut_lut *lut, dlut_interp interp, dlut_lut_scratch *s);
void lut_bwd_ctx_free(apply_ctx *a);
/* Allocate s's backward context and padded table for a lattice of `size`
 * (nothing without AVX2 or beyond the padding limit). 0 or -1 (no memory). */
int lut_scratch_reserve_ctx(dlut_lut_scratch *s, int size);

/* For in (n,3) and d_out (n,3): acc4 (size^3, 4) += dL/dtable, padded
 * layout (entry j's channel c at acc4[j*4 + c]), if acc4 is not NULL; and
 * d_in (n,3) = dL/din if d_in is not NULL. */
void lut_bwd_span(const apply_ctx *a, const float *in, const float *d_out, int64_t n, float *acc4, float *d_in);

#endif
