/* Naive references for LUT application: one pixel at a time, in double
 * precision, written to be read. The fast kernels in apply.c are tested
 * against these (tests/test_lut_apply.c), so they follow the semantics of
 * lut/apply_internal.h literally and share no code with the fast path.
 *
 * Tetrahedral: the six-case split of FFmpeg's vf_lut3d.c
 * interp_tetrahedral() (and OpenColorIO's CPU renderer), branch for branch.
 * Trilinear: lerp along red, then green, then blue, as vf_lut3d.c's
 * interp_trilinear(). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/lut.h"

/* Map v from [lo, hi] onto [0, n-1] and clamp (NaN -> 0). */
static double ref_coord(double v, double lo, double hi, int n) {
  double w = hi - lo;
  double s = (w > 0 && isfinite(w)) ? (double)(n - 1) / w : 0.0;
  if (!isfinite(s) || s >= 1e30) s = 0.0;
  if (!isfinite(lo)) lo = 0.0;
  double t = (v - lo) * s;
  if (!(t > 0)) t = 0;
  if (t > n - 1) t = n - 1;
  return t;
}

/* The value at lattice point (r, g, b), channel c. */
static double at(const dlut_lut *lut, int r, int g, int b, int c) {
  int S = lut->size;
  return lut->table[(((size_t)b * S + g) * S + r) * 3 + c];
}

static void ref_eval(const dlut_lut *lut, const double in[3], double out[3], dlut_interp interp) {
  double v[3] = {in[0], in[1], in[2]};
  if (lut->shaper_size && lut->shaper) {
    int n = lut->shaper_size;
    for (int c = 0; c < 3; c++) {
      double t = ref_coord(v[c], lut->shaper_min[c], lut->shaper_max[c], n);
      int i = (int)floor(t);
      if (i > n - 2) i = n - 2;
      double f = t - i;
      v[c] = (1 - f) * lut->shaper[i * 3 + c] + f * lut->shaper[(i + 1) * 3 + c];
    }
  }
  if (!lut->size || !lut->table) {
    memcpy(out, v, sizeof v);
    return;
  }
  int S = lut->size;
  int p[3], q[3];
  double d[3];
  for (int c = 0; c < 3; c++) {
    double t = ref_coord(v[c], lut->domain_min[c], lut->domain_max[c], S);
    p[c] = (int)floor(t);
    if (p[c] > S - 2) p[c] = S - 2;
    q[c] = p[c] + 1;
    d[c] = t - p[c];
  }
  double dr = d[0], dg = d[1], db = d[2];
  for (int c = 0; c < 3; c++) {
    double c000 = at(lut, p[0], p[1], p[2], c), c111 = at(lut, q[0], q[1], q[2], c);
    double c100 = at(lut, q[0], p[1], p[2], c), c010 = at(lut, p[0], q[1], p[2], c);
    double c001 = at(lut, p[0], p[1], q[2], c), c110 = at(lut, q[0], q[1], p[2], c);
    double c101 = at(lut, q[0], p[1], q[2], c), c011 = at(lut, p[0], q[1], q[2], c);
    if (interp == DLUT_INTERP_TRILINEAR) {
      double c00 = c000 + dr * (c100 - c000), c10 = c010 + dr * (c110 - c010);
      double c01 = c001 + dr * (c101 - c001), c11 = c011 + dr * (c111 - c011);
      double c0 = c00 + dg * (c10 - c00), c1 = c01 + dg * (c11 - c01);
      out[c] = c0 + db * (c1 - c0);
    } else if (dr > dg) {
      if (dg > db)
        out[c] = (1 - dr) * c000 + (dr - dg) * c100 + (dg - db) * c110 + db * c111;
      else if (dr > db)
        out[c] = (1 - dr) * c000 + (dr - db) * c100 + (db - dg) * c101 + dg * c111;
      else
        out[c] = (1 - db) * c000 + (db - dr) * c001 + (dr - dg) * c101 + dg * c111;
    } else {
      if (db > dg)
        out[c] = (1 - db) * c000 + (db - dg) * c001 + (dg - dr) * c011 + dr * c111;
      else if (db > dr)
        out[c] = (1 - dg) * c000 + (dg - db) * c010 + (db - dr) * c011 + dr * c111;
      else
        out[c] = (1 - dg) * c000 + (dg - dr) * c010 + (dr - db) * c110 + db * c111;
    }
  }
}

void dlut_lut_apply_f32_ref(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp) {
  if (!lut) return;
  for (int64_t i = 0; i < n; i++) {
    double v[3] = {in[i * 3], in[i * 3 + 1], in[i * 3 + 2]}, o[3];
    ref_eval(lut, v, o, interp);
    for (int c = 0; c < 3; c++) out[i * 3 + c] = (float)o[c];
  }
}

int dlut_lut_apply_image_ref(const dlut_lut *lut, const dlut_image *src, dlut_image *dst, dlut_interp interp,
                             float strength) {
  if (!lut || !src || !dst || !src->data || !dst->data) return dlut_error("apply: NULL argument");
  if (src->width != dst->width || src->height != dst->height || src->channels != dst->channels ||
      src->type != dst->type)
    return dlut_error("apply: destination %dx%dx%d differs from source %dx%dx%d", dst->width, dst->height,
                      dst->channels, src->width, src->height, src->channels);
  if (src->channels != 3 && src->channels != 4) return dlut_error("apply: %d channels (need 3 or 4)", src->channels);
  double s = strength;
  double maxv = src->type == DLUT_PIXEL_U8 ? 255.0 : src->type == DLUT_PIXEL_U16 ? 65535.0 : 1.0;
  for (int y = 0; y < src->height; y++)
    for (int x = 0; x < src->width; x++) {
      const void *ps = dlut_image_pixel(src, x, y);
      void *pd = dlut_image_pixel(dst, x, y);
      double v[4], o[3];
      for (int c = 0; c < src->channels; c++) {
        if (src->type == DLUT_PIXEL_U8)
          v[c] = ((const uint8_t *)ps)[c] / maxv;
        else if (src->type == DLUT_PIXEL_U16)
          v[c] = ((const uint16_t *)ps)[c] / maxv;
        else
          v[c] = ((const float *)ps)[c];
      }
      ref_eval(lut, v, o, interp);
      for (int c = 0; c < src->channels; c++) {
        double r = c < 3 ? (s == 1.0 ? o[c] : v[c] + s * (o[c] - v[c])) : v[c];
        if (src->type == DLUT_PIXEL_F32) {
          ((float *)pd)[c] = (float)r;
          continue;
        }
        double q = floor(r * maxv + 0.5);
        if (!(q > 0)) q = 0;
        if (q > maxv) q = maxv;
        if (src->type == DLUT_PIXEL_U8)
          ((uint8_t *)pd)[c] = (uint8_t)q;
        else
          ((uint16_t *)pd)[c] = (uint16_t)q;
      }
    }
  return 0;
}
