/* Fast LUT application: float arrays and images (U8, U16, F32; RGB/RGBA),
 * multi-threaded with dlut_parallel_for and vectorised with AVX2+FMA.
 *
 * Pixels go through in blocks of BLK:
 *   1. a type-specific loader turns the block into three planar arrays of
 *      clamped lattice coordinates, the shaper and the domain mapping folded
 *      in (8-bit: a byte shuffle and one FMA per channel for 8 pixels, or,
 *      with a shaper, three 256-entry tables built once per call; 16-bit
 *      and float: a 4x4 transpose per 128-bit lane; shapers on those
 *      types take a scalar loop);
 *   2. a vectorised pass, 8 pixels at a time, splits the coordinates into
 *      cell, fractions and (tetrahedral) the case: the offsets of the four
 *      vertices and the sorted fractions, without branches;
 *   3. a per-pixel pass fetches each vertex as one 16-byte load from a copy
 *      of the table padded to 4 floats per entry (RGB_) and blends them with
 *      three FMAs on 4-wide vectors, leaving one RGB_ vector per pixel;
 *   4. a type-specific storer blends with the input (strength), rounds to
 *      nearest, clamps, copies alpha (8-bit: 4 pixels per step with packs
 *      and a byte shuffle).
 * Step 3 avoids AVX2 gathers on purpose: on the Zen 3 machines this was
 * tuned on a vgatherdps of 8 lanes costs about 4 ns, so the 12 gathers of a
 * gather-based tetrahedral kernel alone cap it near 170 MP/s per thread
 * (docs/lut-apply.md has the measurements). The gather kernels are kept
 * for tables too large to pad (size > PAD_MAX_SIZE) and for small calls
 * where padding the table would cost more than it saves.
 *
 * The same split and padded table serve the backward's table and input
 * gradients (lut_bwd_span, at the end of this file, used by backward.c).
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

#define BLK 256          /* pixels per block */
#define PAD_MAX_SIZE 129 /* largest lattice padded to RGB_ (129^3 * 16 bytes = 34 MB) */

/* ==== Gather kernels on planar lattice coordinates (large tables) ==== */

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
     * largest (all axes but the smallest's). Ties resolved as FFmpeg's strict '>' branches resolve them (so the
     * same four vertices are used even when fractions are equal):
     *   first axis r if fr > fg and fr > fb, else g if fg >= fr and
     *   fg >= fb, else b; last (smallest) axis g if fr > fg and fb >= fg,
     *   else r if fg >= fr and (fb > fg or fb > fr), else b. */
    __m256 r_gt_g = _mm256_cmp_ps(fr, fg, _CMP_GT_OQ), r_gt_b = _mm256_cmp_ps(fr, fb, _CMP_GT_OQ);
    __m256 b_gt_g = _mm256_cmp_ps(fb, fg, _CMP_GT_OQ);
    __m256 r_max = _mm256_and_ps(r_gt_g, r_gt_b);
    __m256 g_max = _mm256_and_ps(_mm256_cmp_ps(fg, fr, _CMP_GE_OQ), _mm256_cmp_ps(fg, fb, _CMP_GE_OQ));
    __m256 g_min = _mm256_and_ps(r_gt_g, _mm256_cmp_ps(fb, fg, _CMP_GE_OQ));
    __m256 r_min = _mm256_andnot_ps(r_gt_g, _mm256_or_ps(b_gt_g, _mm256_cmp_ps(fb, fr, _CMP_GT_OQ)));
    __m256 s_dr = _mm256_castsi256_ps(vdr), s_dg = _mm256_castsi256_ps(vdg), s_db = _mm256_castsi256_ps(vdb);
    __m256i off1 = _mm256_castps_si256(_mm256_blendv_ps(_mm256_blendv_ps(s_db, s_dg, g_max), s_dr, r_max));
    __m256i omin = _mm256_castps_si256(_mm256_blendv_ps(_mm256_blendv_ps(s_db, s_dr, r_min), s_dg, g_min));
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

static void trilinear_planar(const lut_prep *p, const float *x0, const float *x1, const float *x2, float *o0, float *o1,
                             float *o2, int n) {
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
static void trilinear_planar(const lut_prep *p, const float *x0, const float *x1, const float *x2, float *o0, float *o1,
                             float *o2, int n) {
  for (int i = 0; i < n; i++) {
    float o[3];
    lut_trilinear_1(p, x0[i], x1[i], x2[i], o);
    o0[i] = o[0], o1[i] = o[1], o2[i] = o[2];
  }
}
#endif

/* ==== Padded-table kernels (step 3) ==== */

/* Per-block scratch; 32-byte aligned members for the SIMD passes. */
typedef struct blk {
  float x[3][BLK] __attribute__((aligned(32)));   /* lattice coordinates, planar */
  float o4[BLK * 4] __attribute__((aligned(32))); /* results, RGB_ per pixel */
  int32_t i0[BLK] __attribute__((aligned(32)));   /* first vertex, in floats from the padded table */
  int32_t i1[BLK] __attribute__((aligned(32)));   /* tetrahedral: offset of the second vertex from i0 */
  int32_t i2[BLK] __attribute__((aligned(32)));   /* tetrahedral: offset of the third vertex from i0 */
  float w[3][BLK] __attribute__((aligned(32)));   /* tetrahedral: sorted fractions; trilinear: fr, fg, fb */
} blk;

#ifdef LUT_HAVE_AVX2
/* Step 2: cells, fractions and the tetrahedral case for n (multiple of 8)
 * pixels; offsets are in floats of a table with 4 floats per entry. */
static void split_cells(const lut_prep *p, blk *b, int n, int tetra) {
  const int S = p->size;
  const __m256i smax = _mm256_set1_epi32(S - 2);
  const __m256i vdr = _mm256_set1_epi32(4), vdg = _mm256_set1_epi32(4 * S), vdb = _mm256_set1_epi32(4 * S * S);
  const __m256i vsum = _mm256_set1_epi32(4 + 4 * S + 4 * S * S);
  const __m256 s_dr = _mm256_castsi256_ps(vdr), s_dg = _mm256_castsi256_ps(vdg), s_db = _mm256_castsi256_ps(vdb);
  for (int i = 0; i < n; i += 8) {
    __m256 xr = _mm256_load_ps(b->x[0] + i), xg = _mm256_load_ps(b->x[1] + i), xb = _mm256_load_ps(b->x[2] + i);
    __m256i ir = _mm256_min_epi32(_mm256_cvttps_epi32(xr), smax);
    __m256i ig = _mm256_min_epi32(_mm256_cvttps_epi32(xg), smax);
    __m256i ib = _mm256_min_epi32(_mm256_cvttps_epi32(xb), smax);
    __m256 fr = _mm256_sub_ps(xr, _mm256_cvtepi32_ps(ir));
    __m256 fg = _mm256_sub_ps(xg, _mm256_cvtepi32_ps(ig));
    __m256 fb = _mm256_sub_ps(xb, _mm256_cvtepi32_ps(ib));
    __m256i base = _mm256_add_epi32(_mm256_add_epi32(_mm256_slli_epi32(ir, 2), _mm256_mullo_epi32(ig, vdg)),
                                    _mm256_mullo_epi32(ib, vdb));
    _mm256_store_si256((__m256i *)(b->i0 + i), base);
    if (!tetra) {
      _mm256_store_ps(b->w[0] + i, fr);
      _mm256_store_ps(b->w[1] + i, fg);
      _mm256_store_ps(b->w[2] + i, fb);
      continue;
    }
    /* Sorted fractions x1 >= x2 >= x3, the step along the largest, and the
     * two steps along all axes but the smallest's (see tetra_planar). */
    __m256 mx = _mm256_max_ps(fr, fg), mn = _mm256_min_ps(fr, fg);
    _mm256_store_ps(b->w[0] + i, _mm256_max_ps(mx, fb));
    _mm256_store_ps(b->w[1] + i, _mm256_max_ps(mn, _mm256_min_ps(mx, fb)));
    _mm256_store_ps(b->w[2] + i, _mm256_min_ps(mn, fb));
    /* Ties resolved as FFmpeg's strict '>' branches resolve them (so the
     * same four vertices are used even when fractions are equal):
     *   first axis r if fr > fg and fr > fb, else g if fg >= fr and
     *   fg >= fb, else b; last (smallest) axis g if fr > fg and fb >= fg,
     *   else r if fg >= fr and (fb > fg or fb > fr), else b. */
    __m256 r_gt_g = _mm256_cmp_ps(fr, fg, _CMP_GT_OQ), r_gt_b = _mm256_cmp_ps(fr, fb, _CMP_GT_OQ);
    __m256 b_gt_g = _mm256_cmp_ps(fb, fg, _CMP_GT_OQ);
    __m256 r_max = _mm256_and_ps(r_gt_g, r_gt_b);
    __m256 g_max = _mm256_and_ps(_mm256_cmp_ps(fg, fr, _CMP_GE_OQ), _mm256_cmp_ps(fg, fb, _CMP_GE_OQ));
    __m256 g_min = _mm256_and_ps(r_gt_g, _mm256_cmp_ps(fb, fg, _CMP_GE_OQ));
    __m256 r_min = _mm256_andnot_ps(r_gt_g, _mm256_or_ps(b_gt_g, _mm256_cmp_ps(fb, fr, _CMP_GT_OQ)));
    __m256i off1 = _mm256_castps_si256(_mm256_blendv_ps(_mm256_blendv_ps(s_db, s_dg, g_max), s_dr, r_max));
    __m256i omin = _mm256_castps_si256(_mm256_blendv_ps(_mm256_blendv_ps(s_db, s_dr, r_min), s_dg, g_min));
    _mm256_store_si256((__m256i *)(b->i1 + i), off1);
    _mm256_store_si256((__m256i *)(b->i2 + i), _mm256_sub_epi32(vsum, omin));
  }
}

/* Step 3, tetrahedral: T4 is the table padded to 4 floats per entry. */
static void tetra_padded(const float *T4, int S, blk *b, int n) {
  const int o3 = 4 + 4 * S + 4 * S * S;
  for (int i = 0; i < n; i++) {
    const float *c = T4 + b->i0[i];
    __m128 c0 = _mm_load_ps(c), c1 = _mm_load_ps(c + b->i1[i]);
    __m128 c2 = _mm_load_ps(c + b->i2[i]), c3 = _mm_load_ps(c + o3);
    __m128 o = _mm_fmadd_ps(_mm_broadcast_ss(b->w[0] + i), _mm_sub_ps(c1, c0), c0);
    o = _mm_fmadd_ps(_mm_broadcast_ss(b->w[1] + i), _mm_sub_ps(c2, c1), o);
    o = _mm_fmadd_ps(_mm_broadcast_ss(b->w[2] + i), _mm_sub_ps(c3, c2), o);
    _mm_store_ps(b->o4 + i * 4, o);
  }
}

static void trilinear_padded(const float *T4, int S, blk *b, int n) {
  const int dg = 4 * S, db = 4 * S * S;
  for (int i = 0; i < n; i++) {
    const float *c = T4 + b->i0[i];
    __m128 fr = _mm_broadcast_ss(b->w[0] + i), fg = _mm_broadcast_ss(b->w[1] + i);
    __m128 fb = _mm_broadcast_ss(b->w[2] + i);
#define L(k) _mm_load_ps(c + (k))
#define LERP(a, bb, f) _mm_fmadd_ps(f, _mm_sub_ps(bb, a), a)
    __m128 c00 = LERP(L(0), L(4), fr), c10 = LERP(L(dg), L(dg + 4), fr);
    __m128 c01 = LERP(L(db), L(db + 4), fr), c11 = LERP(L(db + dg), L(db + dg + 4), fr);
    __m128 c0 = LERP(c00, c10, fg), c1 = LERP(c01, c11, fg);
    _mm_store_ps(b->o4 + i * 4, LERP(c0, c1, fb));
#undef L
#undef LERP
  }
}
#endif

/* ==== Block pipeline ==== */

typedef struct apply_ctx {
  lut_prep p;           /* the prepared LUT */
  dlut_interp interp;   /* interpolator */
  dlut_pixel_type type; /* sample type of src and dst */
  int channels;         /* 3 or 4 */
  float strength;       /* blend with the input, 1 = full LUT */
  const uint8_t *src;   /* first row of the source */
  uint8_t *dst;         /* first row of the destination (may equal src) */
  size_t src_stride;    /* bytes per source row */
  size_t dst_stride;    /* bytes per destination row */
  int64_t row_pixels;   /* pixels per row (the whole image when packed) */
  float *t4;            /* the table padded to RGB_ (64-byte aligned), or NULL: gather kernels */
  int t4_owned;         /* t4 is this context's (else a dlut_lut_scratch's) */
  float u8tab[3][256];  /* U8: lattice coordinate (or 1D-only output) per code value */
} apply_ctx;

/* The shaper then the domain mapping for one channel: what the kernels
 * take (a clamped lattice coordinate), or the final value for 1D-only LUTs. */
static inline float pre_3d(const lut_prep *p, int c, float v) {
  if (p->shaper_size) v = lut_shaper_eval(p, c, v);
  return p->size ? lut_lattice_coord(p, c, v) : v;
}

#ifdef LUT_HAVE_AVX2
/* One pixel of a 16-bit or float image as 4 floats (u16 scaled by 1/65535;
 * the 4th lane is alpha or, for RGB, the next pixel's red: callers make
 * sure that one exists and ignore the lane). */
static inline __m128 px4_load(const void *src, dlut_pixel_type type, int64_t i, int ch) {
  if (type == DLUT_PIXEL_U16) {
    __m128i v = _mm_loadl_epi64((const __m128i *)((const uint16_t *)src + i * ch));
    return _mm_mul_ps(_mm_cvtepi32_ps(_mm_cvtepu16_epi32(v)), _mm_set1_ps(1.0f / 65535.0f));
  }
  return _mm_loadu_ps((const float *)src + i * ch);
}

/* Step 1 for 16-bit and float images without a shaper: 8 pixels at a time,
 * a 4x4 transpose per 128-bit lane to planar R, G, B, then the domain
 * mapping with the same float operations as lut_lattice_coord. Returns the
 * number of pixels done (a multiple of 8; the caller does the rest). */
static int load_wide_simd(const apply_ctx *a, const void *src, int n, blk *b) {
  const int ch = a->channels;
  const __m256 hi = _mm256_set1_ps(a->p.hi), zero = _mm256_setzero_ps();
  const __m256 lo_r = _mm256_set1_ps(a->p.dmin[0]), lo_g = _mm256_set1_ps(a->p.dmin[1]);
  const __m256 lo_b = _mm256_set1_ps(a->p.dmin[2]);
  const __m256 sc_r = _mm256_set1_ps(a->p.dscale[0]), sc_g = _mm256_set1_ps(a->p.dscale[1]);
  const __m256 sc_b = _mm256_set1_ps(a->p.dscale[2]);
  int i = 0;
  /* RGB reads one sample past each pixel: stop while pixel i+8 exists. */
  for (; ch == 4 ? i + 8 <= n : i + 8 < n; i += 8) {
    __m256 p0 = _mm256_set_m128(px4_load(src, a->type, i + 4, ch), px4_load(src, a->type, i + 0, ch));
    __m256 p1 = _mm256_set_m128(px4_load(src, a->type, i + 5, ch), px4_load(src, a->type, i + 1, ch));
    __m256 p2 = _mm256_set_m128(px4_load(src, a->type, i + 6, ch), px4_load(src, a->type, i + 2, ch));
    __m256 p3 = _mm256_set_m128(px4_load(src, a->type, i + 7, ch), px4_load(src, a->type, i + 3, ch));
    __m256 t0 = _mm256_unpacklo_ps(p0, p1), t1 = _mm256_unpackhi_ps(p0, p1);
    __m256 t2 = _mm256_unpacklo_ps(p2, p3), t3 = _mm256_unpackhi_ps(p2, p3);
    __m256 r = _mm256_shuffle_ps(t0, t2, 0x44), g = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 bl = _mm256_shuffle_ps(t1, t3, 0x44);
    r = _mm256_mul_ps(_mm256_sub_ps(r, lo_r), sc_r);
    g = _mm256_mul_ps(_mm256_sub_ps(g, lo_g), sc_g);
    bl = _mm256_mul_ps(_mm256_sub_ps(bl, lo_b), sc_b);
    _mm256_store_ps(b->x[0] + i, _mm256_min_ps(_mm256_max_ps(r, zero), hi));
    _mm256_store_ps(b->x[1] + i, _mm256_min_ps(_mm256_max_ps(g, zero), hi));
    _mm256_store_ps(b->x[2] + i, _mm256_min_ps(_mm256_max_ps(bl, zero), hi));
  }
  return i;
}
#endif

/* Step 1. */
static void load_block(const apply_ctx *a, const void *src, int n, blk *b) {
  const int ch = a->channels;
  if (a->type == DLUT_PIXEL_U8) {
    const uint8_t *s = src;
    int i = 0;
#ifdef LUT_HAVE_AVX2
    if (!a->p.shaper_size && a->p.size) {
      /* 8 pixels per step: bytes to 32-bit lanes with one shuffle per
       * channel, then (v/255 - dmin) * dscale as one FMA, clamped (equal
       * to u8tab's, used for the tail, within float rounding). */
      /* shuffle masks: channel c of pixel j to the low byte of lane j */
      __m256i masks[3];
      for (int c = 0; c < 3; c++) {
        int8_t m[32];
        for (int j = 0; j < 32; j++) m[j] = -1;
        for (int j = 0; j < 4; j++) {
          m[j * 4] = (int8_t)(ch == 3 ? j * 3 + c : j * 4 + c);          /* lane 0: pixels 0-3 */
          m[16 + j * 4] = (int8_t)(ch == 3 ? 4 + j * 3 + c : j * 4 + c); /* lane 1: pixels 4-7 */
        }
        masks[c] = _mm256_loadu_si256((const __m256i *)m);
      }
      const __m256 hi = _mm256_set1_ps(a->p.hi), zero = _mm256_setzero_ps();
      __m256 lo_c[3], sc_c[3];
      for (int c = 0; c < 3; c++) {
        lo_c[c] = _mm256_set1_ps(-a->p.dmin[c] * a->p.dscale[c]);
        sc_c[c] = _mm256_set1_ps(a->p.dscale[c] / 255.0f);
      }
      for (; i + 8 <= n; i += 8) {
        __m256i v;
        if (ch == 3) /* pixels 0-3 from bytes 0..11, pixels 4-7 from bytes 12..23 (lane 1 = bytes 8..23) */
          v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)(s + i * 3 + 8)),
                               _mm_loadu_si128((const __m128i *)(s + i * 3)));
        else
          v = _mm256_loadu_si256((const __m256i *)(s + i * 4));
        for (int c = 0; c < 3; c++) {
          __m256 f = _mm256_cvtepi32_ps(_mm256_shuffle_epi8(v, masks[c]));
          f = _mm256_fmadd_ps(f, sc_c[c], lo_c[c]); /* v * (dscale/255) - dmin * dscale */
          _mm256_store_ps(b->x[c] + i, _mm256_min_ps(_mm256_max_ps(f, zero), hi));
        }
      }
    }
#endif
    for (; i < n; i++) {
      b->x[0][i] = a->u8tab[0][s[i * ch]];
      b->x[1][i] = a->u8tab[1][s[i * ch + 1]];
      b->x[2][i] = a->u8tab[2][s[i * ch + 2]];
    }
  } else if (a->type == DLUT_PIXEL_U16) {
    const uint16_t *s = src;
    const float k = 1.0f / 65535.0f;
    if (!a->p.shaper_size && a->p.size) {
      int i0 = 0;
#ifdef LUT_HAVE_AVX2
      i0 = load_wide_simd(a, src, n, b);
#endif
      for (int c = 0; c < 3; c++) {
        const float lo = a->p.dmin[c], sc = a->p.dscale[c], hi = a->p.hi;
        float *x = b->x[c];
        for (int i = i0; i < n; i++) x[i] = lut_clampf(((float)s[i * ch + c] * k - lo) * sc, hi);
      }
    } else {
      for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) b->x[c][i] = pre_3d(&a->p, c, (float)s[i * ch + c] * k);
    }
  } else {
    const float *s = src;
    if (!a->p.shaper_size && a->p.size) {
      int i0 = 0;
#ifdef LUT_HAVE_AVX2
      i0 = load_wide_simd(a, src, n, b);
#endif
      for (int c = 0; c < 3; c++) {
        const float lo = a->p.dmin[c], sc = a->p.dscale[c], hi = a->p.hi;
        float *x = b->x[c];
        for (int i = i0; i < n; i++) x[i] = lut_clampf((s[i * ch + c] - lo) * sc, hi);
      }
    } else {
      for (int i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) b->x[c][i] = pre_3d(&a->p, c, s[i * ch + c]);
    }
  }
  /* Pad to a multiple of 8 with a valid coordinate for the SIMD passes. */
  for (int i = n; i < ((n + 7) & ~7); i++) b->x[0][i] = b->x[1][i] = b->x[2][i] = 0.0f;
}

/* Steps 2 and 3: b->x -> b->o4. */
static void interp_block(const apply_ctx *a, blk *b, int n) {
  const int n8 = (n + 7) & ~7;
  if (!a->p.size) { /* 1D only: the loader's values are the result */
    for (int i = 0; i < n; i++)
      for (int c = 0; c < 3; c++) b->o4[i * 4 + c] = b->x[c][i];
    return;
  }
#ifdef LUT_HAVE_AVX2
  if (a->t4) {
    int tetra = a->interp != DLUT_INTERP_TRILINEAR;
    split_cells(&a->p, b, n8, tetra);
    if (tetra)
      tetra_padded(a->t4, a->p.size, b, n);
    else
      trilinear_padded(a->t4, a->p.size, b, n);
    return;
  }
#endif
  /* Gather kernels write planar results (into the w arrays, free here). */
  float *o0 = b->w[0], *o1 = b->w[1], *o2 = b->w[2];
  if (a->interp == DLUT_INTERP_TRILINEAR)
    trilinear_planar(&a->p, b->x[0], b->x[1], b->x[2], o0, o1, o2, n8);
  else
    tetra_planar(&a->p, b->x[0], b->x[1], b->x[2], o0, o1, o2, n8);
  for (int i = 0; i < n; i++) b->o4[i * 4] = o0[i], b->o4[i * 4 + 1] = o1[i], b->o4[i * 4 + 2] = o2[i];
}

static inline int quantize(float v, float maxv) {
  float q = v * maxv + 0.5f;
  if (!(q > 0.0f)) q = 0.0f;
  if (q > maxv) q = maxv;
  return (int)q;
}

/* Step 4 for 8-bit samples. */
static void store_u8(const apply_ctx *a, const uint8_t *in, uint8_t *out, int n, const blk *b) {
  const int ch = a->channels;
  const float s = a->strength;
  const int blend = s != 1.0f;
  int i = 0;
#ifdef LUT_HAVE_AVX2
  const __m256 k255 = _mm256_set1_ps(255.0f), half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
  const __m256 vs = _mm256_set1_ps(s), k1_255 = _mm256_set1_ps(1.0f / 255.0f);
  /* RGB_ RGB_ RGB_ RGB_ -> RGBRGBRGBRGB, and 3 bytes -> one 32-bit lane. */
  const __m128i compress = _mm_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  const __m128i expand = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  const __m128i amask = _mm_setr_epi8(0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0, -1, 0, 0, 0, -1);
  for (; i + 4 <= n; i += 4) {
    __m256 v01 = _mm256_load_ps(b->o4 + i * 4), v23 = _mm256_load_ps(b->o4 + i * 4 + 8);
    __m128i src4 = _mm_setzero_si128();
    if (ch == 3) {
      if (blend) { /* the input as RGB_ (16-byte load when it stays inside the span) */
        if (i + 6 <= n) {
          src4 = _mm_loadu_si128((const __m128i *)(in + i * 3));
        } else {
          uint8_t tmp[16] = {0};
          memcpy(tmp, in + i * 3, 12);
          src4 = _mm_loadu_si128((const __m128i *)tmp);
        }
        src4 = _mm_shuffle_epi8(src4, expand);
      }
    } else {
      src4 = _mm_loadu_si128((const __m128i *)(in + i * 4));
    }
    if (blend) { /* x + s (v - x), x the input in [0,1] */
      __m256 x01 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(src4)), k1_255);
      __m256 x23 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(src4, 8))), k1_255);
      v01 = _mm256_fmadd_ps(vs, _mm256_sub_ps(v01, x01), x01);
      v23 = _mm256_fmadd_ps(vs, _mm256_sub_ps(v23, x23), x23);
    }
    /* round to nearest: trunc(v*255 + 0.5) after clamping (max first: NaN -> 0) */
    v01 = _mm256_min_ps(_mm256_max_ps(_mm256_fmadd_ps(v01, k255, half), zero), k255);
    v23 = _mm256_min_ps(_mm256_max_ps(_mm256_fmadd_ps(v23, k255, half), zero), k255);
    __m256i q = _mm256_packus_epi32(_mm256_cvttps_epi32(v01), _mm256_cvttps_epi32(v23));        /* [p0 p2 | p1 p3] */
    q = _mm256_packus_epi16(q, q);                                                              /* bytes, same order */
    __m128i px = _mm_unpacklo_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)); /* p0 p1 p2 p3 */
    if (ch == 3) {
      px = _mm_shuffle_epi8(px, compress);
      _mm_storel_epi64((__m128i *)(out + i * 3), px);
      uint32_t last = (uint32_t)_mm_extract_epi32(px, 2);
      memcpy(out + i * 3 + 8, &last, 4);
    } else {
      _mm_storeu_si128((__m128i *)(out + i * 4), _mm_blendv_epi8(px, src4, amask));
    }
  }
#endif
  const float k = 1.0f / 255.0f;
  for (; i < n; i++) {
    for (int c = 0; c < 3; c++) {
      float v = b->o4[i * 4 + c];
      if (blend) {
        float x = (float)in[i * ch + c] * k;
        v = x + s * (v - x);
      }
      out[i * ch + c] = (uint8_t)quantize(v, 255.0f);
    }
    if (ch == 4) out[i * 4 + 3] = in[i * 4 + 3];
  }
}

/* Step 4 for 16-bit and float samples. */
static void store_block(const apply_ctx *a, const void *src, void *dst, int n, const blk *b) {
  const int ch = a->channels;
  const float s = a->strength;
  const int blend = s != 1.0f;
  if (a->type == DLUT_PIXEL_U8) {
    store_u8(a, src, dst, n, b);
  } else if (a->type == DLUT_PIXEL_U16) {
    const uint16_t *in = src;
    uint16_t *out = dst;
    const float k = 1.0f / 65535.0f;
    int i = 0;
#ifdef LUT_HAVE_AVX2
    {
      const __m128 vs = _mm_set1_ps(s), kmax = _mm_set1_ps(65535.0f), half = _mm_set1_ps(0.5f);
      const __m128 zero = _mm_setzero_ps();
      /* Blending reads 4 samples per pixel: for RGB stop before the last. */
      const int end = (blend && ch == 3) ? n - 1 : n;
      for (; i < end; i++) {
        __m128 v = _mm_load_ps(b->o4 + i * 4);
        if (blend) {
          __m128 x = px4_load(in, DLUT_PIXEL_U16, i, ch);
          v = _mm_fmadd_ps(vs, _mm_sub_ps(v, x), x);
        }
        v = _mm_min_ps(_mm_max_ps(_mm_fmadd_ps(v, kmax, half), zero), kmax);
        __m128i q = _mm_packus_epi32(_mm_cvttps_epi32(v), _mm_cvttps_epi32(v));
        if (ch == 4) {
          q = _mm_insert_epi16(q, in[i * 4 + 3], 3);
          _mm_storel_epi64((__m128i *)(out + i * 4), q);
        } else {
          uint32_t rg = (uint32_t)_mm_cvtsi128_si32(q);
          memcpy(out + i * 3, &rg, 4);
          out[i * 3 + 2] = (uint16_t)_mm_extract_epi16(q, 2);
        }
      }
    }
#endif
    for (; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        float v = b->o4[i * 4 + c];
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
    int i = 0;
#ifdef LUT_HAVE_AVX2
    {
      const __m128 vs = _mm_set1_ps(s);
      const int end = (blend && ch == 3) ? n - 1 : n;
      for (; i < end; i++) {
        __m128 v = _mm_load_ps(b->o4 + i * 4);
        if (blend) {
          __m128 x = _mm_loadu_ps(in + i * ch);
          v = _mm_fmadd_ps(vs, _mm_sub_ps(v, x), x);
        }
        if (ch == 4) {
          _mm_storeu_ps(out + i * 4, _mm_insert_ps(v, _mm_load_ss(in + i * 4 + 3), 0x30)); /* alpha to lane 3 */
        } else {
          _mm_storel_pi((__m64 *)(out + i * 3), v);
          _mm_store_ss(out + i * 3 + 2, _mm_movehl_ps(v, v));
        }
      }
    }
#endif
    for (; i < n; i++) {
      for (int c = 0; c < 3; c++) {
        float v = b->o4[i * 4 + c];
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
    interp_block(a, &b, m);
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

#ifdef LUT_HAVE_AVX2
/* s->t4 holds at least `entries` padded entries: 0, or -1 (no memory; s keeps what it had). */
static int scratch_t4(dlut_lut_scratch *s, size_t entries) {
  const size_t bytes = (entries * 4 * sizeof(float) + 63) & ~(size_t)63; /* C11: size a multiple of 64 */
  if (bytes <= s->t4_bytes) return 0;
  float *t = aligned_alloc(64, bytes);
  if (!t) return -1;
  free(s->t4);
  s->t4 = t;
  s->t4_bytes = bytes;
  return 0;
}
#endif

/* Fill the context; pads the table when that pays (n_pixels large enough
 * compared with the table), into s's buffer when s is given. With no
 * memory for the padded table the gather kernels are used, which give the
 * same results. */
static void ctx_init(apply_ctx *a, const dlut_lut *lut, dlut_interp interp, dlut_pixel_type type, int channels,
                     float strength, int64_t n_pixels, dlut_lut_scratch *s) {
  lut_prep_init(&a->p, lut);
  a->interp = interp == DLUT_INTERP_TRILINEAR ? DLUT_INTERP_TRILINEAR : DLUT_INTERP_TETRAHEDRAL;
  a->type = type;
  a->channels = channels;
  a->strength = strength;
  a->t4 = NULL;
  a->t4_owned = 0;
  if (type == DLUT_PIXEL_U8)
    for (int c = 0; c < 3; c++)
      for (int v = 0; v < 256; v++) a->u8tab[c][v] = pre_3d(&a->p, c, (float)v * (1.0f / 255.0f));
#ifdef LUT_HAVE_AVX2
  const int S = a->p.size;
  if (S && S <= PAD_MAX_SIZE && n_pixels >= (int64_t)S * S * S / 4) {
    size_t entries = (size_t)S * S * S;
    if (s) {
      a->t4 = scratch_t4(s, entries) == 0 ? s->t4 : NULL;
    } else {
      a->t4 = aligned_alloc(64, (entries * 4 * sizeof(float) + 63) & ~(size_t)63); /* C11: size a multiple of 64 */
      a->t4_owned = 1;
    }
    if (a->t4)
      for (size_t j = 0; j < entries; j++) {
        a->t4[j * 4 + 0] = a->p.table[j * 3 + 0];
        a->t4[j * 4 + 1] = a->p.table[j * 3 + 1];
        a->t4[j * 4 + 2] = a->p.table[j * 3 + 2];
        a->t4[j * 4 + 3] = 0.0f;
      }
  }
#else
  (void)n_pixels, (void)s;
#endif
}

static void ctx_free(apply_ctx *a) {
  if (!a) return;
  if (a->t4_owned) free(a->t4);
  free(a);
}

static void ctx_release(apply_ctx *a) {
  if (a->t4_owned) free(a->t4);
  a->t4 = NULL;
}

/* Pixels per parallel chunk: large enough to amortise the hand-off. */
#define GRAIN 8192

/* The context (3 KB) lives on the caller's stack: this function cannot fail,
 * and a fallback for a failed allocation (dlut_lut_eval, a different
 * evaluation order) would give other results in the last bits. */
void dlut_lut_apply_f32_ws(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp,
                           dlut_lut_scratch *s) {
  if (!lut || n <= 0) return;
  apply_ctx a;
  ctx_init(&a, lut, interp, DLUT_PIXEL_F32, 3, 1.0f, n, s);
  a.src = (const uint8_t *)in;
  a.dst = (uint8_t *)out;
  a.row_pixels = n;
  a.src_stride = a.dst_stride = 0;
  dlut_parallel_for(n, GRAIN, apply_task, &a);
  ctx_release(&a);
}

void dlut_lut_apply_f32(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp) {
  dlut_lut_apply_f32_ws(lut, in, out, n, interp, NULL);
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
  int64_t total = (int64_t)src->width * src->height;
  apply_ctx *a = malloc(sizeof *a);
  if (!a) return dlut_error("apply: out of memory");
  ctx_init(a, lut, interp, src->type, src->channels, strength, total, NULL);
  a->src = src->data;
  a->dst = dst->data;
  a->src_stride = src->stride;
  a->dst_stride = dst->stride;
  if (src->stride == row && dst->stride == row) { /* packed: one long row, chunks ignore row ends */
    a->row_pixels = total;
    a->src_stride = a->dst_stride = 0;
  } else {
    a->row_pixels = src->width;
  }
  dlut_parallel_for(total, GRAIN, apply_task, a);
  ctx_free(a);
  return 0;
}

/* ==== Backward support (for backward.c) ====
 *
 * The table gradient of many pixels, with the forward's vectorised cell
 * split: each pixel adds w_k * dL/dout to its 4 (tetrahedral) or 8
 * (trilinear) vertices in an accumulator padded like the forward's table
 * (4 floats per entry), so each update is one 16-byte load-FMA-store. */

apply_ctx *lut_bwd_ctx_new(const dlut_lut *lut, dlut_interp interp, dlut_lut_scratch *s) {
#ifdef LUT_HAVE_AVX2
  apply_ctx *a = s ? s->ctx : NULL;
  if (!a && !(a = malloc(sizeof *a))) return NULL;
  if (s) s->ctx = a;
  ctx_init(a, lut, interp, DLUT_PIXEL_F32, 3, 1.0f, INT64_MAX, s);
  if (!a->t4 || a->p.shaper_size) { /* too large to pad (or a shaper, which backward ignores) */
    if (!s) ctx_free(a);
    return NULL;
  }
  return a;
#else
  (void)lut, (void)interp, (void)s;
  return NULL;
#endif
}

void lut_bwd_ctx_free(apply_ctx *a) {
  ctx_free(a);
}

int lut_scratch_reserve_ctx(dlut_lut_scratch *s, int size) {
#ifdef LUT_HAVE_AVX2
  if (!s->ctx && !(s->ctx = malloc(sizeof(apply_ctx)))) return -1;
  if (size > 0 && size <= PAD_MAX_SIZE && scratch_t4(s, (size_t)size * size * size) != 0) return -1;
#else
  (void)s, (void)size;
#endif
  return 0;
}

#ifdef LUT_HAVE_AVX2
static inline void acc_add(float *dst, float w, __m128 g) {
  _mm_store_ps(dst, _mm_fmadd_ps(_mm_set1_ps(w), g, _mm_load_ps(dst)));
}
#endif

void lut_bwd_span(const apply_ctx *a, const float *in, const float *d_out, int64_t n, float *acc4, float *d_in) {
#ifdef LUT_HAVE_AVX2
  const int S = a->p.size, tetra = a->interp != DLUT_INTERP_TRILINEAR;
  const int dg = 4 * S, db = 4 * S * S, o3 = 4 + dg + db;
  const float *T4 = a->t4;
  const __m128i m3 = _mm_setr_epi32(-1, -1, -1, 0); /* RGB; never touches the 4th float */
  const __m128 dmin = _mm_setr_ps(a->p.dmin[0], a->p.dmin[1], a->p.dmin[2], 0.0f);
  const __m128 dsc = _mm_setr_ps(a->p.dscale[0], a->p.dscale[1], a->p.dscale[2], 0.0f);
  const __m128 hi = _mm_set1_ps(a->p.hi), zero = _mm_setzero_ps();
  blk b;
  for (int64_t i = 0; i < n; i += BLK) {
    int m = n - i < BLK ? (int)(n - i) : BLK;
    load_block(a, in + i * 3, m, &b);
    split_cells(&a->p, &b, (m + 7) & ~7, tetra);
    const float *go = d_out + i * 3;
    for (int j = 0; j < m; j++) {
      __m128 g = _mm_maskload_ps(go + j * 3, m3);
      const int c = b.i0[j];
      __m128 gf; /* dL/d(fraction) per axis, lane 3 zero */
      if (tetra) {
        float x1 = b.w[0][j], x2 = b.w[1][j], x3 = b.w[2][j];
        const int c1 = c + b.i1[j], c2 = c + b.i2[j];
        if (acc4) {
          acc_add(acc4 + c, 1.0f - x1, g);
          acc_add(acc4 + c1, x1 - x2, g);
          acc_add(acc4 + c2, x2 - x3, g);
          acc_add(acc4 + c + o3, x3, g);
        }
        if (!d_in) continue;
        /* dout/dx1 = v1 - v0, dout/dx2 = v2 - v1, dout/dx3 = v3 - v2, each
         * dotted with dL/dout, then put on the axis its step goes along. */
        __m128 v0 = _mm_load_ps(T4 + c), v1 = _mm_load_ps(T4 + c1);
        __m128 v2 = _mm_load_ps(T4 + c2), v3 = _mm_load_ps(T4 + c + o3);
        __m128 h = _mm_hadd_ps(_mm_hadd_ps(_mm_mul_ps(g, _mm_sub_ps(v1, v0)), _mm_mul_ps(g, _mm_sub_ps(v2, v1))),
                               _mm_hadd_ps(_mm_mul_ps(g, _mm_sub_ps(v3, v2)), zero));
        /* h = (s1, s2, s3, 0) by step; gf[axis] = s of the step along it:
         * a lane permutation built in registers (no store/reload). */
        const int s1 = b.i1[j], s3 = o3 - b.i2[j];
        const int ax1 = s1 == 4 ? 0 : s1 == dg ? 1 : 2, ax3 = s3 == 4 ? 0 : s3 == dg ? 1 : 2;
        const int ax2 = 3 - ax1 - ax3;
        const int pr = ax1 == 0 ? 0 : ax2 == 0 ? 1 : 2, pg = ax1 == 1 ? 0 : ax2 == 1 ? 1 : 2;
        const int pb = ax1 == 2 ? 0 : ax2 == 2 ? 1 : 2;
        gf = _mm_permutevar_ps(h, _mm_setr_epi32(pr, pg, pb, 3));
      } else {
        float fr = b.w[0][j], fg = b.w[1][j], fb = b.w[2][j];
        float r0g0 = (1 - fr) * (1 - fg), r1g0 = fr * (1 - fg), r0g1 = (1 - fr) * fg, r1g1 = fr * fg;
        if (acc4) {
          acc_add(acc4 + c, r0g0 * (1 - fb), g);
          acc_add(acc4 + c + 4, r1g0 * (1 - fb), g);
          acc_add(acc4 + c + dg, r0g1 * (1 - fb), g);
          acc_add(acc4 + c + dg + 4, r1g1 * (1 - fb), g);
          acc_add(acc4 + c + db, r0g0 * fb, g);
          acc_add(acc4 + c + db + 4, r1g0 * fb, g);
          acc_add(acc4 + c + db + dg, r0g1 * fb, g);
          acc_add(acc4 + c + db + dg + 4, r1g1 * fb, g);
        }
        if (!d_in) continue;
        const float *q = T4 + c;
        __m128 q0 = _mm_load_ps(q), q1 = _mm_load_ps(q + 4), q2 = _mm_load_ps(q + dg), q3 = _mm_load_ps(q + dg + 4);
        __m128 q4 = _mm_load_ps(q + db), q5 = _mm_load_ps(q + db + 4), q6 = _mm_load_ps(q + db + dg);
        __m128 q7 = _mm_load_ps(q + db + dg + 4);
#define W(x) _mm_set1_ps(x)
        /* d/dfr: the red differences blended over (g, b); likewise per axis */
        __m128 dR = _mm_mul_ps(W((1 - fg) * (1 - fb)), _mm_sub_ps(q1, q0));
        dR = _mm_fmadd_ps(W(fg * (1 - fb)), _mm_sub_ps(q3, q2), dR);
        dR = _mm_fmadd_ps(W((1 - fg) * fb), _mm_sub_ps(q5, q4), dR);
        dR = _mm_fmadd_ps(W(fg * fb), _mm_sub_ps(q7, q6), dR);
        __m128 dG = _mm_mul_ps(W((1 - fr) * (1 - fb)), _mm_sub_ps(q2, q0));
        dG = _mm_fmadd_ps(W(fr * (1 - fb)), _mm_sub_ps(q3, q1), dG);
        dG = _mm_fmadd_ps(W((1 - fr) * fb), _mm_sub_ps(q6, q4), dG);
        dG = _mm_fmadd_ps(W(fr * fb), _mm_sub_ps(q7, q5), dG);
        __m128 dB = _mm_mul_ps(W(r0g0), _mm_sub_ps(q4, q0));
        dB = _mm_fmadd_ps(W(r1g0), _mm_sub_ps(q5, q1), dB);
        dB = _mm_fmadd_ps(W(r0g1), _mm_sub_ps(q6, q2), dB);
        dB = _mm_fmadd_ps(W(r1g1), _mm_sub_ps(q7, q3), dB);
#undef W
        gf = _mm_hadd_ps(_mm_hadd_ps(_mm_mul_ps(g, dR), _mm_mul_ps(g, dG)), _mm_hadd_ps(_mm_mul_ps(g, dB), zero));
      }
      /* dx/dv: dscale inside the domain (ends included), 0 where clamped */
      __m128 t = _mm_mul_ps(_mm_sub_ps(_mm_maskload_ps(in + (i + j) * 3, m3), dmin), dsc);
      __m128 inside = _mm_and_ps(_mm_cmp_ps(t, zero, _CMP_GE_OQ), _mm_cmp_ps(t, hi, _CMP_LE_OQ));
      __m128 r = _mm_mul_ps(gf, _mm_and_ps(inside, dsc));
      _mm_storel_pi((__m64 *)(d_in + (i + j) * 3), r); /* 3 floats (a masked store is slow on Zen) */
      _mm_store_ss(d_in + (i + j) * 3 + 2, _mm_movehl_ps(r, r));
    }
  }
#else
  (void)a, (void)in, (void)d_out, (void)n, (void)acc4, (void)d_in;
#endif
}
