/* Backward of the 3D LUT application, for the grading engine's optimiser:
 * given dL/dout for (n,3) inputs, accumulate dL/dtable and write dL/din.
 *
 * Forward (lut/apply_internal.h): x = clamp((v - dmin) * dscale, 0, S-1),
 * cell i = min(floor(x), S-2), fraction f = x - i, then
 *   tetrahedral: out = c0 + x1 (c1 - c0) + x2 (c2 - c1) + x3 (c3 - c2)
 *                (x1 >= x2 >= x3 the sorted fractions, c1 one step along
 *                x1's axis, c2 one more along x2's, c3 the far corner), so
 *                dout/dc_k = w_k = (1-x1, x1-x2, x2-x3, x3) and
 *                dout/dx1 = c1-c0, dout/dx2 = c2-c1, dout/dx3 = c3-c2;
 *   trilinear:   out = sum over corners of prod_axes (f or 1-f) * c, so
 *                dout/dc = that product, dout/dfr = the trilinear blend in
 *                (g, b) of the red differences, and likewise per axis.
 * dx/dv = dscale inside the domain and 0 where the input was clamped (the
 * ends themselves count as inside: one-sided derivative). The shaper is
 * not differentiated (the header documents backward for 3D-only LUTs).
 *
 * Threads without races and with a deterministic result: the pixels are
 * cut into at most MAX_PARTS parts by n alone; each part accumulates into
 * its own copy of d_table; the copies are summed into d_table in part
 * order. So the result does not depend on the thread count or on which
 * thread ran which part.
 *
 * Two kernels: bwd_range, scalar and written for clarity, is the reference
 * (dlut_lut_apply_backward_ref); the fast path is lut_bwd_span in apply.c
 * (the forward's vectorised cell split, one 16-byte FMA per vertex into a
 * padded accumulator, 4-wide differences and dot products for d_in). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "lut/apply_internal.h"

#define MIN_PART 16384                 /* pixels per part at least */
#define MAX_PARTS 8                    /* copies of d_table at most */
#define MAX_SCRATCH ((size_t)64 << 20) /* bytes of per-part accumulators at most */

typedef struct bwd_ctx {
  lut_prep p;         /* prepared LUT */
  dlut_interp interp; /* interpolator */
  const float *in;    /* (n,3) inputs */
  const float *d_out; /* (n,3) dL/dout */
  float *d_in;        /* (n,3) dL/din, or NULL */
  float *d_table;     /* the caller's accumulator, or NULL */
  float *parts;       /* (n_parts, acc_len) per-part accumulators, or NULL when unused */
  size_t acc_len;     /* floats per accumulator: size^3 * 4 (fast, padded) or * 3 (scalar) */
  apply_ctx *fast;    /* the vectorised table-gradient path (apply.c), or NULL for the scalar one */
  int64_t n;          /* pixels */
  int64_t part_len;   /* pixels per part */
  int n_parts;        /* number of parts */
} bwd_ctx;

/* Lattice coordinate and its derivative wrt the input (0 if clamped). */
static inline float coord_grad(const lut_prep *p, int c, float v, float *dxdv) {
  float t = (v - p->dmin[c]) * p->dscale[c];
  *dxdv = (t >= 0.0f && t <= p->hi) ? p->dscale[c] : 0.0f;
  return lut_clampf(t, p->hi);
}

/* Pixels [b, e) into accumulator dt (may be NULL). */
static void bwd_range(const bwd_ctx *k, int64_t b, int64_t e, float *dt) {
  const lut_prep *p = &k->p;
  const int S = p->size, dr = 3, dg = 3 * S, db = 3 * S * S;
  const float *T = p->table;
  for (int64_t i = b; i < e; i++) {
    const float *v = k->in + i * 3, *go = k->d_out + i * 3;
    float dxdv[3], x[3], f[3];
    int ci[3];
    for (int c = 0; c < 3; c++) {
      x[c] = coord_grad(p, c, v[c], &dxdv[c]);
      ci[c] = lut_cell(x[c], S, &f[c]);
    }
    size_t base = (size_t)ci[0] * dr + (size_t)ci[1] * dg + (size_t)ci[2] * db;
    const float *c0 = T + base;
    float gf[3] = {0, 0, 0}; /* dL/dfraction per axis */
    if (k->interp == DLUT_INTERP_TRILINEAR) {
      const float fr = f[0], fg = f[1], fb = f[2];
      const int off[8] = {0, dr, dg, dr + dg, db, dr + db, dg + db, dr + dg + db};
      float w[8];
      for (int j = 0; j < 8; j++) w[j] = (j & 1 ? fr : 1 - fr) * (j & 2 ? fg : 1 - fg) * (j & 4 ? fb : 1 - fb);
      if (dt)
        for (int j = 0; j < 8; j++)
          for (int c = 0; c < 3; c++) dt[base + off[j] + c] += w[j] * go[c];
      for (int c = 0; c < 3; c++) {
        float q[8];
        for (int j = 0; j < 8; j++) q[j] = c0[off[j] + c];
        /* d/dfr: differences along red, blended over (g, b); likewise. */
        float dR = (1 - fg) * (1 - fb) * (q[1] - q[0]) + fg * (1 - fb) * (q[3] - q[2]) + (1 - fg) * fb * (q[5] - q[4]) +
                   fg * fb * (q[7] - q[6]);
        float dG = (1 - fr) * (1 - fb) * (q[2] - q[0]) + fr * (1 - fb) * (q[3] - q[1]) + (1 - fr) * fb * (q[6] - q[4]) +
                   fr * fb * (q[7] - q[5]);
        float dB = (1 - fr) * (1 - fg) * (q[4] - q[0]) + fr * (1 - fg) * (q[5] - q[1]) + (1 - fr) * fg * (q[6] - q[2]) +
                   fr * fg * (q[7] - q[3]);
        gf[0] += go[c] * dR, gf[1] += go[c] * dG, gf[2] += go[c] * dB;
      }
    } else {
      int o1, o2;
      float w[4];
      lut_tetra_case(f[0], f[1], f[2], dr, dg, db, &o1, &o2, w);
      const int o3 = dr + dg + db;
      /* Which axis each step goes along: o1 is one axis, o2 - o1 the next,
       * o3 - o2 the last. */
      int steps[3] = {o1, o2 - o1, o3 - o2}, axis[3];
      for (int s = 0; s < 3; s++) axis[s] = steps[s] == dr ? 0 : steps[s] == dg ? 1 : 2; /* S >= 2: distinct */
      const float *c1 = c0 + o1, *c2 = c0 + o2, *c3 = c0 + o3;
      if (dt)
        for (int c = 0; c < 3; c++) {
          dt[base + c] += w[0] * go[c];
          dt[base + o1 + c] += w[1] * go[c];
          dt[base + o2 + c] += w[2] * go[c];
          dt[base + o3 + c] += w[3] * go[c];
        }
      for (int c = 0; c < 3; c++) {
        gf[axis[0]] += go[c] * (c1[c] - c0[c]);
        gf[axis[1]] += go[c] * (c2[c] - c1[c]);
        gf[axis[2]] += go[c] * (c3[c] - c2[c]);
      }
    }
    if (k->d_in)
      for (int c = 0; c < 3; c++) k->d_in[i * 3 + c] = gf[c] * dxdv[c];
  }
}

static void bwd_part_task(void *ctx, int64_t begin, int64_t end, int thread) {
  const bwd_ctx *k = ctx;
  (void)thread;
  for (int64_t part = begin; part < end; part++) {
    int64_t b = part * k->part_len, e = b + k->part_len < k->n ? b + k->part_len : k->n;
    float *acc = NULL;
    if (k->d_table) {
      acc = k->parts + (size_t)part * k->acc_len;
      memset(acc, 0, k->acc_len * sizeof(float));
    }
    if (k->fast)
      lut_bwd_span(k->fast, k->in + b * 3, k->d_out + b * 3, e - b, acc, k->d_in ? k->d_in + b * 3 : NULL);
    else
      bwd_range(k, b, e, acc);
  }
}

/* d_table[j] += sum over parts, in part order, for j in [begin, end). The
 * fast path's accumulators are padded to 4 floats per entry. */
static void bwd_reduce_task(void *ctx, int64_t begin, int64_t end, int thread) {
  const bwd_ctx *k = ctx;
  (void)thread;
  const int pad = k->fast ? 4 : 3;
  for (int64_t j = begin; j < end; j++) {
    size_t src = (size_t)(j / 3) * pad + (size_t)(j % 3);
    float s = 0.0f;
    for (int q = 0; q < k->n_parts; q++) s += k->parts[(size_t)q * k->acc_len + src];
    k->d_table[j] += s;
  }
}

void dlut_lut_apply_backward_ref(const dlut_lut *lut, const float *in, const float *d_out, int64_t n,
                                 dlut_interp interp, float *d_table, float *d_in) {
  if (!lut || n <= 0 || !in || !d_out) return;
  bwd_ctx k;
  memset(&k, 0, sizeof k);
  lut_prep_init(&k.p, lut);
  if (!k.p.size) { /* without a 3D table the stage being differentiated is the identity */
    if (d_in) memmove(d_in, d_out, (size_t)n * 3 * sizeof(float));
    return;
  }
  k.interp = interp == DLUT_INTERP_TRILINEAR ? DLUT_INTERP_TRILINEAR : DLUT_INTERP_TETRAHEDRAL;
  k.in = in, k.d_out = d_out, k.d_in = d_in, k.n = n;
  bwd_range(&k, 0, n, d_table);
}

/* How the pixels are cut: parts of part_len pixels, n_parts of them. At
 * most MAX_SCRATCH bytes of accumulators (big tables get fewer parts; the
 * count depends only on n and the size, so stays deterministic). */
static void bwd_plan(int64_t n, size_t entries, int64_t *part_len, int *n_parts) {
  int64_t parts = (n + MIN_PART - 1) / MIN_PART;
  if (parts > MAX_PARTS) parts = MAX_PARTS;
  int64_t fit = (int64_t)(MAX_SCRATCH / (entries * 4 * sizeof(float)));
  if (parts > fit) parts = fit;
  if (parts < 1) parts = 1;
  *part_len = (n + parts - 1) / parts;
  *n_parts = (int)((n + *part_len - 1) / *part_len);
}

void dlut_lut_scratch_init(dlut_lut_scratch *s) {
  memset(s, 0, sizeof *s);
}

void dlut_lut_scratch_free(dlut_lut_scratch *s) {
  if (!s) return;
  free(s->t4);
  free(s->parts);
  free(s->ctx);
  memset(s, 0, sizeof *s);
}

/* s->parts holds at least `floats`: 0, or -1 (no memory; s keeps what it had). */
static int scratch_parts(dlut_lut_scratch *s, size_t floats) {
  if (floats * sizeof(float) <= s->parts_bytes) return 0;
  float *p = malloc(floats * sizeof(float));
  if (!p) return -1;
  free(s->parts);
  s->parts = p;
  s->parts_bytes = floats * sizeof(float);
  return 0;
}

int dlut_lut_scratch_reserve(dlut_lut_scratch *s, int size, int64_t n) {
  if (size < 2 || size > DLUT_LUT_MAX_SIZE || n < 0)
    return dlut_error("lut scratch: bad size %d or pixel count %lld", size, (long long)n);
  const size_t entries = (size_t)size * size * size;
  /* bwd_plan's part count before rounding: the most parts any call of up
   * to n pixels makes; the fast path accumulates into parts even for one */
  int64_t parts = (n + MIN_PART - 1) / MIN_PART, fit = (int64_t)(MAX_SCRATCH / (entries * 4 * sizeof(float)));
  if (parts > MAX_PARTS) parts = MAX_PARTS;
  if (parts > fit) parts = fit;
  if (parts < 1) parts = 1;
  if (lut_scratch_reserve_ctx(s, size) != 0 || scratch_parts(s, (size_t)parts * entries * 4) != 0)
    return dlut_error("lut scratch: out of memory");
  return 0;
}

void dlut_lut_apply_backward(const dlut_lut *lut, const float *in, const float *d_out, int64_t n, dlut_interp interp,
                             float *d_table, float *d_in) {
  dlut_lut_apply_backward_ws(lut, in, d_out, n, interp, d_table, d_in, NULL);
}

void dlut_lut_apply_backward_ws(const dlut_lut *lut, const float *in, const float *d_out, int64_t n, dlut_interp interp,
                                float *d_table, float *d_in, dlut_lut_scratch *s) {
  if (!lut || n <= 0 || !in || !d_out) return;
  bwd_ctx k;
  memset(&k, 0, sizeof k);
  lut_prep_init(&k.p, lut);
  if (!k.p.size) {
    if (d_in) memmove(d_in, d_out, (size_t)n * 3 * sizeof(float));
    return;
  }
  k.interp = interp == DLUT_INTERP_TRILINEAR ? DLUT_INTERP_TRILINEAR : DLUT_INTERP_TETRAHEDRAL;
  k.in = in, k.d_out = d_out, k.d_in = d_in, k.d_table = d_table, k.n = n;
  const size_t entries = (size_t)k.p.size * k.p.size * k.p.size;
  bwd_plan(n, entries, &k.part_len, &k.n_parts);
  /* The vectorised path when the table allows (and the call is big enough
   * to pay for padding the table), else the scalar kernel. A scratch's
   * context is kept in it, never freed here. */
  if (n >= 64) k.fast = lut_bwd_ctx_new(lut, k.interp, s);
  apply_ctx *own = s ? NULL : k.fast;
  if (!d_table) { /* only d_in: pixels are independent, any chunking is deterministic */
    k.part_len = n < MIN_PART ? n : MIN_PART;
    k.n_parts = (int)((n + k.part_len - 1) / k.part_len);
    dlut_parallel_for(k.n_parts, 1, bwd_part_task, &k);
    lut_bwd_ctx_free(own);
    return;
  }
  k.acc_len = entries * (k.fast ? 4 : 3);
  if (!k.fast && k.n_parts == 1) { /* small: serial, straight into d_table */
    bwd_range(&k, 0, n, d_table);
    return;
  }
  float *parts = NULL;
  if (s)
    k.parts = scratch_parts(s, (size_t)k.n_parts * k.acc_len) == 0 ? s->parts : NULL;
  else
    k.parts = parts = malloc((size_t)k.n_parts * k.acc_len * sizeof(float));
  if (!k.parts) { /* no scratch: serial, straight into d_table (still correct) */
    lut_bwd_ctx_free(own);
    k.fast = NULL;
    bwd_range(&k, 0, n, d_table);
    return;
  }
  dlut_parallel_for(k.n_parts, 1, bwd_part_task, &k);
  dlut_parallel_for((int64_t)entries * 3, 4096, bwd_reduce_task, &k);
  free(parts);
  lut_bwd_ctx_free(own);
}
