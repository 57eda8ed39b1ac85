/* Fast LUT application: float arrays and images (U8, U16, F32; RGB/RGBA),
 * multi-threaded with dlut_parallel_for and vectorised with AVX2+FMA.
 *
 * Pixels go through in blocks of BLK: (1) a type-specific loader turns a
 * block into three planar arrays of clamped lattice coordinates (the shaper
 * and the domain mapping folded in; for 8-bit input through three 256-entry
 * tables built once per call, so no division or floor per pixel); (2) one
 * 8-pixels-at-a-time kernel interpolates the 3D table with AVX2 gathers;
 * (3) a type-specific storer blends with the input (strength), rounds to
 * nearest, clamps, and copies alpha. The planar block lives in L1, so the
 * extra pass costs little, and each stage stays simple. 8-bit RGB/RGBA
 * with no strength blend has a fused path (apply_u8.c) that skips the
 * planar round trip.
 *
 * Semantics and the tetrahedral split: lut/apply_internal.h. The naive
 * references in apply_ref.c are the specification these are tested
 * against (tests/test_lut_apply.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LUT_HAVE_AVX2 1
#endif

#include "dlut/error.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "lut/apply_internal.h"

#define BLK 256 /* pixels per block; the planar scratch is 6 * BLK floats */

/* ==== 3D kernels on planar lattice coordinates ==== */

/* x0..x2: (n) clamped lattice coordinates; o0..o2: (n) outputs. n is a
 * multiple of 8 (callers pad). */
#ifdef LUT_HAVE_AVX2
static void tetra_planar(const lut_prep *p, const float *x0, const float *x1, const float *x2, float *o0, float *o1,
                         float *o2, int n) {
  const int S = p->size;
  const float *T = p->table;
  const __m256i smax = _mm256_set1_epi32(S - 2);
  const __m256i vdr = _mm256_set1_epi32(3), vdg = _mm256_set1_epi32(3 * S), vdb = _mm256_set1_epi32(3 * S * S);
  const __m256i vsum = _mm256_set1_epi32(3 + 3 * S + 3 * S * S);
  for (int i = 0; i < n; i += 8) {
    __m256 xr = _mm256_loadu_ps(x0 + i), xg = _mm256_loadu_ps(x1 + i), xb = _mm256_loadu_ps(x2 + i);
    __m256i ir = _mm256_min_epi32(_mm256_cvttps_epi32(xr), smax);
    __m256i ig = _mm256_min_epi32(_mm256_cvttps_epi32(xg), smax);
    __m256i ib = _mm256_min_epi32(_mm256_cvttps_epi32(xb), smax);
    __m256 fr = _mm256_sub_ps(xr, _mm256_cvtepi32_ps(ir));
    __m256 fg = _mm256_sub_ps(xg, _mm256_cvtepi32_ps(ig));
    __m256 fb = _mm256_sub_ps(xb, _mm256_cvtepi32_ps(ib));
    __m256i base = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(ir, vdr), _mm256_mullo_epi32(ig, vdg)),
                                    _mm256_mullo_epi32(ib, vdb));
    /* Sort the fractions: x1 >= x2 >= x3. */
    __m256 mx = _mm256_max_ps(fr, fg), mn = _mm256_min_ps(fr, fg);
    __m256 w1 = _mm256_max_ps(mx, fb), w3 = _mm256_min_ps(mn, fb);
    __m256 w2 = _mm256_max_ps(mn, _mm256_min_ps(mx, fb));
    /* First step along the largest fraction's axis, second along the two
     * largest (all axes but the smallest's). The tie rules make argmax and
     * argmin different axes even when all three fractions are equal. */
    __m256 r_max = _mm256_and_ps(_mm256_cmp_ps(fr, fg, _CMP_GE_OQ), _mm256_cmp_ps(fr, fb, _CMP_GE_OQ));
    __m256 g_ge_b = _mm256_cmp_ps(fg, fb, _CMP_GE_OQ);
    __m256 b_min = _mm256_and_ps(_mm256_cmp_ps(fb, fr, _CMP_LE_OQ), _mm256_cmp_ps(fb, fg, _CMP_LE_OQ));
    __m256 g_le_r = _mm256_cmp_ps(fg, fr, _CMP_LE_OQ);
    __m256 s_dr = _mm256_castsi256_ps(vdr), s_dg = _mm256_castsi256_ps(vdg), s_db = _mm256_castsi256_ps(vdb);
    __m256i off1 = _mm256_castps_si256(_mm256_blendv_ps(_mm256_blendv_ps(s_db, s_dg, g_ge_b), s_dr, r_max));
    __m256i omin = _mm256_castps_si256(_mm256_blendv_ps(_mm256_blendv_ps(s_dr, s_dg, g_le_r), s_db, b_min));
    __m256i i1 = _mm256_add_epi32(base, off1);
    __m256i i2 = _mm256_add_epi32(base, _mm256_sub_epi32(vsum, omin));
    __m256i i3 = _mm256_add_epi32(base, vsum);
    float *outs[3] = {o0 + i, o1 + i, o2 + i};
    for (int c = 0; c < 3; c++) {
      __m256 c0 = _mm256_i32gather_ps(T + c, base, 4);
      __m256 c1 = _mm256_i32gather_ps(T + c, i1, 4);
      __m256 c2 = _mm256_i32gather_ps(T + c, i2, 4);
      __m256 c3 = _mm256_i32gather_ps(T + c, i3, 4);
      /* (1-x1) c0 + (x1-x2) c1 + (x2-x3) c2 + x3 c3, as c0 + sum of steps. */
      __m256 o = _mm256_fmadd_ps(w1, _mm256_sub_ps(c1, c0), c0);
      o = _mm256_fmadd_ps(w2, _mm256_sub_ps(c2, c1), o);
      o = _mm256_fmadd_ps(w3, _mm256_sub_ps(c3, c2), o);
      _mm256_storeu_ps(outs[c], o);
    }
  }
}

static void trilinear_planar(const lut_prep *p, const float *x0, const float *x1, const float *x2, float *o0,
                             float *o1, float *o2, int n) {
  const int S = p->size;
  const float *T = p->table;
  const __m256i smax = _mm256_set1_epi32(S - 2);
  const __m256i vdg = _mm256_set1_epi32(3 * S), vdb = _mm256_set1_epi32(3 * S * S);
  const __m256i k3 = _mm256_set1_epi32(3);
  for (int i = 0; i < n; i += 8) {
    __m256 xr = _mm256_loadu_ps(x0 + i), xg = _mm256_loadu_ps(x1 + i), xb = _mm256_loadu_ps(x2 + i);
    __m256i ir = _mm256_min_epi32(_mm256_cvttps_epi32(xr), smax);
    __m256i ig = _mm256_min_epi32(_mm256_cvttps_epi32(xg), smax);
    __m256i ib = _mm256_min_epi32(_mm256_cvttps_epi32(xb), smax);
    __m256 fr = _mm256_sub_ps(xr, _mm256_cvtepi32_ps(ir));
    __m256 fg = _mm256_sub_ps(xg, _mm256_cvtepi32_ps(ig));
    __m256 fb = _mm256_sub_ps(xb, _mm256_cvtepi32_ps(ib));
    __m256i i000 = _mm256_add_epi32(_mm256_add_epi32(_mm256_mullo_epi32(ir, k3), _mm256_mullo_epi32(ig, vdg)),
                                    _mm256_mullo_epi32(ib, vdb));
    __m256i i100 = _mm256_add_epi32(i000, k3);
    __m256i i010 = _mm256_add_epi32(i000, vdg), i110 = _mm256_add_epi32(i100, vdg);
    __m256i i001 = _mm256_add_epi32(i000, vdb), i101 = _mm256_add_epi32(i100, vdb);
    __m256i i011 = _mm256_add_epi32(i010, vdb), i111 = _mm256_add_epi32(i110, vdb);
    float *outs[3] = {o0 + i, o1 + i, o2 + i};
    for (int c = 0; c < 3; c++) {
      const float *t = T + c;
#define G(ix) _mm256_i32gather_ps(t, ix, 4)
#define LERP(a, b, f) _mm256_fmadd_ps(f, _mm256_sub_ps(b, a), a)
      __m256 c000 = G(i000), c100 = G(i100), c010 = G(i010), c110 = G(i110);
      __m256 c001 = G(i001), c101 = G(i101), c011 = G(i011), c111 = G(i111);
      __m256 c00 = LERP(c000, c100, fr), c10 = LERP(c010, c110, fr);
      __m256 c01 = LERP(c001, c101, fr), c11 = LERP(c011, c111, fr);
      __m256 c0 = LERP(c00, c10, fg), c1 = LERP(c01, c11, fg);
      _mm256_storeu_ps(outs[c], LERP(c0, c1, fb));
#undef G
#undef LERP
    }
  }
}
#else
static void tetra_planar(const lut_prep *p, const float *x0, const float *x1, const float *x2, float *o0, float *o1,
                         float *o2, int n) {
  for (int i = 0; i < n; i++) {
    float o[3];
    lut_tetrahedral_1(p, x0[i], x1[i], x2[i], o);
    o0[i] = o[0], o1[i] = o[1], o2[i] = o[2];
  }
}
static void trilinear_planar(const lut_prep *p, const float *x0, const float *x1, const float *x2, float *o0,
                             float *o1, float *o2, int n) {
  for (int i = 0; i < n; i++) {
    float o[3];
    lut_trilinear_1(p, x0[i], x1[i], x2[i], o);
    o0[i] = o[0], o1[i] = o[1], o2[i] = o[2];
  }
}
#endif

/* ==== Block pipeline ==== */

typedef struct apply_ctx {
  lut_prep p;            /* the prepared LUT */
  dlut_interp interp;    /* interpolator */
  dlut_pixel_type type;  /* sample type of src and dst */
  int channels;          /* 3 or 4 */
  float strength;        /* blend with the input, 1 = full LUT */
  const uint8_t *src;    /* first row of the source */
  uint8_t *dst;          /* first row of the destination (may equal src) */
  size_t src_stride;     /* bytes per source row */
  size_t dst_stride;     /* bytes per destination row */
  int64_t row_pixels;    /* pixels per row (the whole image when packed) */
  float u8tab[3][256];   /* U8: lattice coordinate (or 1D-only output) per code value */
} apply_ctx;

/* The shaper then the domain mapping for one channel: what the kernels
 * take (a clamped lattice coordinate), or the final value for 1D-only LUTs. */
static inline float pre_3d(const lut_prep *p, int c, float v) {
  if (p->shaper_size) v = lut_shaper_eval(p, c, v);
  return p->size ? lut_lattice_coord(p, c, v) : v;
}

typedef struct blk {
  float x[3][BLK]; /* lattice coordinates */
  float o[3][BLK]; /* interpolated outputs */
} blk;

static void load_block(const apply_ctx *a, const void *src, int n, blk *b) {
  const int ch = a->channels;
  if (a->type == DLUT_PIXEL_U8) {
    const uint8_t *s = src;
    for (int i = 0; i < n; i++) {
      b->x[0][i] = a->u8tab[0][s[i * ch]];
      b->x[1][i] = a->u8tab[1][s[i * ch + 1]];
      b->x[2][i] = a->u8tab[2][s[i * ch + 2]];
    }
  } else if (a->type == DLUT_PIXEL_U16) {
    const uint16_t *s = src;
    const float k = 1.0f / 65535.0f;
    for (int i = 0; i < n; i++)
      for (int c = 0; c < 3; c++) b->x[c][i] = pre_3d(&a->p, c, (float)s[i * ch + c] * k);
  } else {
    const float *s = src;
    if (!a->p.shaper_size && a->p.size) {
      for (int c = 0; c < 3; c++) {
        const float lo = a->p.dmin[c], sc = a->p.dscale[c], hi = a->p.hi;
        float *x = b->x[c];
        for (int i = 0; i < n; i++) x[i] = lut_clampf((s[i * ch + c] - lo) * sc, hi);
      }
    } else {
      for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) b->x[c][i] = pre_3d(&a->p, c, s[i * ch + c]);
    }
  }
  /* Pad to a multiple of 8 with a valid coordinate for the SIMD kernel. */
  for (int i = n; i < ((n + 7) & ~7); i++) b->x[0][i] = b->x[1][i] = b->x[2][i] = 0.0f;
}

static inline int quantize(float v, float maxv) {
  float q = v * maxv + 0.5f;
  if (!(q > 0.0f)) q = 0.0f;
  if (q > maxv) q = maxv;
  return (int)q;
}

static void store_block(const apply_ctx *a, const void *src, void *dst, int n, const blk *b) {
  const int ch = a->channels;
  const float s = a->strength;
  const int blend = s != 1.0f;
  if (a->type == DLUT_PIXEL_U8) {
    const uint8_t *in = src;
    uint8_t *out = dst;
    const float k = 1.0f / 255.0f;
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        float v = b->o[c][i];
        if (blend) {
          float x = (float)in[i * ch + c] * k;
          v = x + s * (v - x);
        }
        out[i * ch + c] = (uint8_t)quantize(v, 255.0f);
      }
      if (ch == 4) out[i * 4 + 3] = in[i * 4 + 3];
    }
  } else if (a->type == DLUT_PIXEL_U16) {
    const uint16_t *in = src;
    uint16_t *out = dst;
    const float k = 1.0f / 65535.0f;
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        float v = b->o[c][i];
        if (blend) {
          float x = (float)in[i * ch + c] * k;
          v = x + s * (v - x);
        }
        out[i * ch + c] = (uint16_t)quantize(v, 65535.0f);
      }
      if (ch == 4) out[i * 4 + 3] = in[i * 4 + 3];
    }
  } else {
    const float *in = src;
    float *out = dst;
    for (int i = 0; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        float v = b->o[c][i];
        if (blend) {
          float x = in[i * ch + c];
          v = x + s * (v - x);
        }
        out[i * ch + c] = v;
      }
      if (ch == 4) out[i * 4 + 3] = in[i * 4 + 3];
    }
  }
}

/* Apply to n pixels starting at src/dst (one row or part of one). */
static void apply_span(const apply_ctx *a, const uint8_t *src, uint8_t *dst, int64_t n) {
  const size_t px = (size_t)a->channels * (size_t)a->type;
  blk b;
  for (int64_t i = 0; i < n; i += BLK) {
    int m = n - i < BLK ? (int)(n - i) : BLK;
    const uint8_t *s = src + (size_t)i * px;
    uint8_t *d = dst + (size_t)i * px;
    load_block(a, s, m, &b);
    int m8 = (m + 7) & ~7;
    if (!a->p.size)
      memcpy(b.o, b.x, sizeof b.o);
    else if (a->interp == DLUT_INTERP_TRILINEAR)
      trilinear_planar(&a->p, b.x[0], b.x[1], b.x[2], b.o[0], b.o[1], b.o[2], m8);
    else
      tetra_planar(&a->p, b.x[0], b.x[1], b.x[2], b.o[0], b.o[1], b.o[2], m8);
    store_block(a, s, d, m, &b);
  }
}

/* parallel_for body: items are pixels of a row-major image. Chunks that
 * straddle rows are split at row ends (rows may be padded). */
static void apply_task(void *ctx, int64_t begin, int64_t end, int thread) {
  const apply_ctx *a = ctx;
  (void)thread;
  while (begin < end) {
    int64_t row = begin / a->row_pixels, col = begin % a->row_pixels;
    int64_t n = a->row_pixels - col;
    if (n > end - begin) n = end - begin;
    const size_t px = (size_t)a->channels * (size_t)a->type;
    const uint8_t *s = a->src + (size_t)row * a->src_stride + (size_t)col * px;
    uint8_t *d = a->dst + (size_t)row * a->dst_stride + (size_t)col * px;
    apply_span(a, s, d, n);
    begin += n;
  }
}

static void ctx_init(apply_ctx *a, const dlut_lut *lut, dlut_interp interp, dlut_pixel_type type, int channels,
                     float strength) {
  lut_prep_init(&a->p, lut);
  a->interp = interp == DLUT_INTERP_TRILINEAR ? DLUT_INTERP_TRILINEAR : DLUT_INTERP_TETRAHEDRAL;
  a->type = type;
  a->channels = channels;
  a->strength = strength;
  if (type == DLUT_PIXEL_U8)
    for (int c = 0; c < 3; c++)
      for (int v = 0; v < 256; v++) a->u8tab[c][v] = pre_3d(&a->p, c, (float)v * (1.0f / 255.0f));
}

/* Pixels per parallel chunk: large enough to amortise the hand-off. */
#define GRAIN 8192

void dlut_lut_apply_f32(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp) {
  if (!lut || n <= 0) return;
  apply_ctx *a = malloc(sizeof *a);
  if (!a) { /* no memory for the context: fall back to the slow, allocation-free path */
    for (int64_t i = 0; i < n; i++) {
      float v[3] = {in[i * 3], in[i * 3 + 1], in[i * 3 + 2]};
      dlut_lut_eval(lut, v, out + i * 3, interp);
    }
    return;
  }
  ctx_init(a, lut, interp, DLUT_PIXEL_F32, 3, 1.0f);
  a->src = (const uint8_t *)in;
  a->dst = (uint8_t *)out;
  a->row_pixels = n;
  a->src_stride = a->dst_stride = (size_t)n * 3 * sizeof(float);
  dlut_parallel_for(n, GRAIN, apply_task, a);
  free(a);
}

int dlut_lut_apply_image(const dlut_lut *lut, const dlut_image *src, dlut_image *dst, dlut_interp interp,
                         float strength) {
  if (!lut || !src || !dst || !src->data || !dst->data) return dlut_error("apply: NULL argument");
  if (src->width != dst->width || src->height != dst->height || src->channels != dst->channels ||
      src->type != dst->type)
    return dlut_error("apply: destination %dx%dx%d differs from source %dx%dx%d", dst->width, dst->height,
                      dst->channels, src->width, src->height, src->channels);
  if (src->channels != 3 && src->channels != 4) return dlut_error("apply: %d channels (need 3 or 4)", src->channels);
  if (src->type != DLUT_PIXEL_U8 && src->type != DLUT_PIXEL_U16 && src->type != DLUT_PIXEL_F32)
    return dlut_error("apply: unknown pixel type %d", (int)src->type);
  if (src->width <= 0 || src->height <= 0) return 0;
  if (!(strength >= 0.0f && strength <= 1.0f)) return dlut_error("apply: strength %g outside [0,1]", strength);
  if (lut->size && !lut->table) return dlut_error("apply: LUT has size %d but no table", lut->size);
  if (lut->shaper_size && !lut->shaper) return dlut_error("apply: LUT has a shaper size but no shaper");
  const size_t row = (size_t)src->width * (size_t)src->channels * (size_t)src->type;
  if (src->stride < row || dst->stride < row) return dlut_error("apply: row stride smaller than a row");
  apply_ctx *a = malloc(sizeof *a);
  if (!a) return dlut_error("apply: out of memory");
  ctx_init(a, lut, interp, src->type, src->channels, strength);
  a->src = src->data;
  a->dst = dst->data;
  a->src_stride = src->stride;
  a->dst_stride = dst->stride;
  int64_t total = (int64_t)src->width * src->height;
  if (src->stride == row && dst->stride == row) { /* packed: one long row, chunks ignore row ends */
    a->row_pixels = total;
    a->src_stride = a->dst_stride = 0;
  } else {
    a->row_pixels = src->width;
  }
  dlut_parallel_for(total, GRAIN, apply_task, a);
  free(a);
  return 0;
}
