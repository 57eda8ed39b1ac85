/* The fast vision tower: the same computation as clip_block_preln_forward /
 * _backward in vision.c, with every matrix product in bf16 with fp32
 * accumulation (AMX or AVX512-BF16, src/tensor/bf16.c) and a blocked attention that
 * never holds the NH x T x T probabilities. fp32 (vision.c on the
 * dlut/tensor.h backend) stays the reference and the default wherever
 * this path is not chosen (clip_vision_use_bf16).
 *
 * Weights: each Linear is packed once, on the first bf16 forward, into
 * two bf16 tile arrays: w^T for the forward (out = x w^T + b) and w for
 * the input gradient (dx = dy w); q, k and v are packed as one (3C, C)
 * product. About 4 bytes per parameter (ViT-L/14: 1.2 GB), kept until the
 * model is freed.
 *
 * Attention, per head, one head per task (FlashAttention, Dao et al. 2022,
 * without its online rescaling: a head's whole score matrix for one query
 * tile fits in L2 at CLIP's T <= 577, so each row is normalised exactly):
 *   forward  S = scale Q K^T, P = softmax(S) rows, O = P V, and only the
 *            log-sum-exp of every row (NH x T per layer) is kept;
 *   backward S again from Q, K, P = exp(S - lse), dP = dO V^T,
 *            D_i = sum_j P_ij dP_ij, dS = P (dP - D), dQ = scale dS K,
 *            dK = scale dS^T Q, dV = P^T dO.
 * The T x T scratch is per thread (the head being worked on), not per
 * layer or per head. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clip/clip_internal.h"
#include "dlut/error.h"
#include "dlut/parallel.h"

/* ==== State ==== */

typedef struct vfast_layer {
  uint16_t *qkv_f, *o_f, *fc1_f, *fc2_f; /* forward B = w^T: (C, 3C), (C, C), (C, I), (I, C) */
  uint16_t *qkv_b, *o_b, *fc1_b, *fc2_b; /* backward B = w: (3C, C), (C, C), (I, C), (C, I) */
  float *qkv_bias;                       /* (3C) [q_b; k_b; v_b] */
  float *lse;                            /* (NH, T) log-sum-exp of every attention row */
} vfast_layer;

typedef struct vfast_thread {
  float *s, *dp;       /* (T, T) scores / probabilities, their gradient */
  uint16_t *pa, *pb;   /* packed (T, T) A, packed (T, hd) B */
  uint16_t *pa2, *pb2; /* packed (T, hd) A, second packed B */
} vfast_thread;

struct clip_vfast {
  int L, T, C, I, NH;
  vfast_layer *layers;
  uint16_t *apack; /* packed A for the Linear inputs: (T, max(3C, I)) */
  int nthreads;
  vfast_thread *th;
  void *block; /* one allocation behind every bf16 array and float array above */
  int used;    /* the last forward took this path (the backward must too) */
};

/* ==== Choosing ==== */

/* DLUT_CLIP_PRECISION: fp32 | bf16 | auto (default). auto and bf16 take
 * the bf16 path where the CPU has AMX-BF16 or AVX512-BF16 and the tower is one it pays
 * for (width a multiple of 32 and >= 256: every real CLIP; the tiny test
 * models stay fp32); bf16 also takes it for small towers. Never with the
 * reference backend or when every activation is kept (refcheck). */
int clip_vision_use_bf16(const dlut_clip *m) {
  const char *p = getenv("DLUT_CLIP_PRECISION");
  int force = 0;
  if (p && *p) {
    if (strcmp(p, "fp32") == 0) return 0;
    if (strcmp(p, "bf16") == 0) force = 1;
  }
  int C = m->cfg.vision.width;
  if (m->be != dlut_tensor_backend_cpu() || m->keep_all || C % 32 != 0 || C % m->cfg.vision.heads != 0 || C > 16384 ||
      m->cfg.vision.intermediate > 16384)
    return 0;
  if (!force && C < 256) return 0;
  return dlut_bf16_available() != DLUT_BF16_NONE;
}

/* ==== Setup ==== */

typedef struct {
  char *base;
  size_t off;
} carve;

static void *cut(carve *c, size_t bytes) {
  void *p = c->base ? c->base + c->off : NULL;
  c->off += (bytes + 63) & ~(size_t)63;
  return p;
}

static void layout(struct clip_vfast *f, carve *c, int nthreads) {
  int T = f->T, C = f->C, I = f->I, hd = C / f->NH;
  for (int l = 0; l < f->L; l++) {
    vfast_layer *y = &f->layers[l];
    y->qkv_f = cut(c, 2 * dlut_bf16_packed_size(3 * C, C));
    y->o_f = cut(c, 2 * dlut_bf16_packed_size(C, C));
    y->fc1_f = cut(c, 2 * dlut_bf16_packed_size(I, C));
    y->fc2_f = cut(c, 2 * dlut_bf16_packed_size(C, I));
    y->qkv_b = cut(c, 2 * dlut_bf16_packed_size(C, 3 * C));
    y->o_b = cut(c, 2 * dlut_bf16_packed_size(C, C));
    y->fc1_b = cut(c, 2 * dlut_bf16_packed_size(C, I));
    y->fc2_b = cut(c, 2 * dlut_bf16_packed_size(I, C));
    y->qkv_bias = cut(c, sizeof(float) * 3 * (size_t)C);
    y->lse = cut(c, sizeof(float) * (size_t)f->NH * T);
  }
  int K = 3 * C > I ? 3 * C : I;
  f->apack = cut(c, 2 * dlut_bf16_packed_size(T, K));
  for (int t = 0; t < nthreads; t++) {
    vfast_thread *h = &f->th[t];
    h->s = cut(c, sizeof(float) * (size_t)T * T);
    h->dp = cut(c, sizeof(float) * (size_t)T * T);
    h->pa = cut(c, 2 * dlut_bf16_packed_size(T, T));
    h->pb = cut(c, 2 * dlut_bf16_packed_size(T, hd > T ? hd : T));
    h->pa2 = cut(c, 2 * dlut_bf16_packed_size(T, hd > T ? hd : T));
    h->pb2 = cut(c, 2 * dlut_bf16_packed_size(T, hd > T ? hd : T));
  }
}

void clip_vfast_free(dlut_clip *m) {
  struct clip_vfast *f = m->vfast;
  if (!f) return;
  free(f->block);
  free(f->layers);
  free(f->th);
  free(f);
  m->vfast = NULL;
}

/* B for dx (T, C) = dy (T, 3C) @ [Wq; Wk; Wv] (3C, C): the three weights
 * one after another as the k rows of one product. */
static void pack_qkv_backward(uint16_t *dst, const clip_block_w *w, int C, float *tmp) {
  size_t CC = (size_t)C * C;
  memcpy(tmp, w->q_w, CC * sizeof(float));
  memcpy(tmp + CC, w->k_w, CC * sizeof(float));
  memcpy(tmp + 2 * CC, w->v_w, CC * sizeof(float));
  dlut_bf16_pack_b(dst, tmp, C, 3 * C, C, 0);
}

typedef struct {
  struct clip_vfast *f;
  const clip_vision_w *w;
  float *tmp; /* (3C, C) per task */
} pack_ctx;

static void pack_layers(void *vctx, int64_t l0, int64_t l1, int thread) {
  pack_ctx *p = vctx;
  struct clip_vfast *f = p->f;
  int C = f->C, I = f->I;
  float *tmp = p->tmp + (size_t)thread * 3 * C * C;
  for (int64_t l = l0; l < l1; l++) {
    const clip_block_w *w = &p->w->blocks[l];
    vfast_layer *y = &f->layers[l];
    /* forward: N = 3C columns q | k | v, each a whole number of 32-column blocks */
    size_t qsz = dlut_bf16_packed_size(C, C);
    dlut_bf16_pack_b(y->qkv_f, w->q_w, C, C, C, 1);
    dlut_bf16_pack_b(y->qkv_f + qsz, w->k_w, C, C, C, 1);
    dlut_bf16_pack_b(y->qkv_f + 2 * qsz, w->v_w, C, C, C, 1);
    dlut_bf16_pack_b(y->o_f, w->o_w, C, C, C, 1);
    dlut_bf16_pack_b(y->fc1_f, w->fc1_w, C, C, I, 1);
    dlut_bf16_pack_b(y->fc2_f, w->fc2_w, I, I, C, 1);
    pack_qkv_backward(y->qkv_b, w, C, tmp);
    dlut_bf16_pack_b(y->o_b, w->o_w, C, C, C, 0);
    dlut_bf16_pack_b(y->fc1_b, w->fc1_w, C, I, C, 0);
    dlut_bf16_pack_b(y->fc2_b, w->fc2_w, I, C, I, 0);
    memcpy(y->qkv_bias, w->q_b, sizeof(float) * C);
    memcpy(y->qkv_bias + C, w->k_b, sizeof(float) * C);
    memcpy(y->qkv_bias + 2 * C, w->v_b, sizeof(float) * C);
  }
}

/* Packs the weights on first use; reallocates the per-thread scratch if
 * the thread count grew. Not in the hot loop: once per model. */
static int vfast_ready(dlut_clip *m) {
  int nt = dlut_threads_get();
  struct clip_vfast *f = m->vfast;
  if (f && f->nthreads >= nt && f->T == m->va.T) return 0;
  clip_vfast_free(m);
  f = calloc(1, sizeof *f);
  if (!f) return dlut_error("clip: out of memory for the bf16 weights");
  f->L = m->cfg.vision.layers, f->T = m->va.T, f->C = m->cfg.vision.width, f->I = m->cfg.vision.intermediate;
  f->NH = m->cfg.vision.heads, f->nthreads = nt;
  f->layers = calloc((size_t)f->L, sizeof *f->layers);
  f->th = calloc((size_t)nt, sizeof *f->th);
  carve c = {NULL, 0};
  if (f->layers && f->th) layout(f, &c, nt);
  size_t tmp_bytes = sizeof(float) * 3 * (size_t)f->C * f->C * nt;
  float *tmp = NULL;
  if (!f->layers || !f->th || !(f->block = aligned_alloc(64, c.off)) || !(tmp = malloc(tmp_bytes))) {
    size_t mib = c.off >> 20;
    free(tmp);
    m->vfast = f;
    clip_vfast_free(m);
    return dlut_error("clip: out of memory for %zu MiB of bf16 weights and scratch", mib);
  }
  carve c2 = {f->block, 0};
  layout(f, &c2, nt);
  pack_ctx p = {f, &m->vw, tmp};
  dlut_parallel_for(f->L, 1, pack_layers, &p);
  free(tmp);
  m->vfast = f;
  return 0;
}

/* ==== Linear ==== */

/* out (T, N; ldo) = (accumulate ? out : 0) + inp (T, K; ldi) @ B + bias */
static void linear(struct clip_vfast *f, float *out, int ldo, const float *inp, int ldi, const uint16_t *B, int T,
                   int K, int N, const float *bias, int accumulate) {
  dlut_bf16_pack_a_par(f->apack, inp, ldi, T, K, 0);
  dlut_bf16_gemm_par(out, ldo, f->apack, B, T, N, K, 1.0f, accumulate, bias);
}

/* ==== Attention ==== */

typedef struct {
  struct clip_vfast *f;
  float *out, *dqkv, *lse;
  const float *qkv, *dout;
} fa_ctx;

/* softmax of the rows of s (T, T) in place; lse (T) = log sum exp */
static void softmax_rows(float *s, float *lse, int T) {
  for (int i = 0; i < T; i++) lse[i] = dlut_vsoftmax_row(s + (size_t)i * T, T);
}

static void fa_fwd_heads(void *vctx, int64_t h0, int64_t h1, int thread) {
  fa_ctx *c = vctx;
  struct clip_vfast *f = c->f;
  vfast_thread *w = &f->th[thread];
  int T = f->T, C = f->C, hd = C / f->NH, ld = 3 * C;
  float scale = 1.0f / sqrtf((float)hd);
  for (int64_t h = h0; h < h1; h++) {
    const float *q = c->qkv + h * hd, *k = c->qkv + C + h * hd, *v = c->qkv + 2 * C + h * hd;
    dlut_bf16_pack_a(w->pa2, q, ld, T, hd, 0); /* Q (T, hd) */
    dlut_bf16_pack_b(w->pb, k, ld, hd, T, 1);  /* K^T (hd, T) */
    dlut_bf16_gemm(w->s, T, w->pa2, w->pb, T, T, hd, scale, 0, NULL);
    softmax_rows(w->s, c->lse + h * T, T);
    dlut_bf16_pack_a(w->pa, w->s, T, T, T, 0); /* P (T, T) */
    dlut_bf16_pack_b(w->pb2, v, ld, T, hd, 0); /* V (T, hd) */
    dlut_bf16_gemm(c->out + h * hd, C, w->pa, w->pb2, T, hd, T, 1.0f, 0, NULL);
  }
}

static void fa_bwd_heads(void *vctx, int64_t h0, int64_t h1, int thread) {
  fa_ctx *c = vctx;
  struct clip_vfast *f = c->f;
  vfast_thread *w = &f->th[thread];
  int T = f->T, C = f->C, hd = C / f->NH, ld = 3 * C;
  float scale = 1.0f / sqrtf((float)hd);
  for (int64_t h = h0; h < h1; h++) {
    const float *q = c->qkv + h * hd, *k = c->qkv + C + h * hd, *v = c->qkv + 2 * C + h * hd;
    const float *dy = c->dout + h * hd, *lse = c->lse + h * T;
    /* P = exp(scale Q K^T - lse) */
    dlut_bf16_pack_a(w->pa2, q, ld, T, hd, 0);
    dlut_bf16_pack_b(w->pb, k, ld, hd, T, 1);
    dlut_bf16_gemm(w->s, T, w->pa2, w->pb, T, T, hd, scale, 0, NULL);
    for (int i = 0; i < T; i++) dlut_vexp_sub_sum(w->s + (size_t)i * T, w->s + (size_t)i * T, T, 1.0f, lse[i]);
    /* dP = dO V^T */
    dlut_bf16_pack_a(w->pa2, dy, C, T, hd, 0);
    dlut_bf16_pack_b(w->pb, v, ld, hd, T, 1);
    dlut_bf16_gemm(w->dp, T, w->pa2, w->pb, T, T, hd, 1.0f, 0, NULL);
    /* dV = P^T dO (before P is overwritten) */
    dlut_bf16_pack_a(w->pa, w->s, T, T, T, 1);
    dlut_bf16_pack_b(w->pb2, dy, C, T, hd, 0);
    dlut_bf16_gemm(c->dqkv + 2 * C + h * hd, ld, w->pa, w->pb2, T, hd, T, 1.0f, 0, NULL);
    /* dS = P (dP - D), D_i = sum_j P_ij dP_ij; into dp */
    for (int i = 0; i < T; i++) dlut_vsoftmax_backward_row(w->dp + (size_t)i * T, w->s + (size_t)i * T, T);
    /* dQ = scale dS K */
    dlut_bf16_pack_a(w->pa, w->dp, T, T, T, 0);
    dlut_bf16_pack_b(w->pb2, k, ld, T, hd, 0);
    dlut_bf16_gemm(c->dqkv + h * hd, ld, w->pa, w->pb2, T, hd, T, scale, 0, NULL);
    /* dK = scale dS^T Q */
    dlut_bf16_pack_a(w->pa, w->dp, T, T, T, 1);
    dlut_bf16_pack_b(w->pb2, q, ld, T, hd, 0);
    dlut_bf16_gemm(c->dqkv + C + h * hd, ld, w->pa, w->pb2, T, hd, T, scale, 0, NULL);
  }
}

/* ==== Blocks ==== */

/* out (T, N; ldo) = (accumulate ? out : 0) + f->apack (already packed, (T, K)) @ B + bias */
static void packed_linear(struct clip_vfast *f, float *out, int ldo, const uint16_t *B, int T, int K, int N,
                          const float *bias, int accumulate) {
  dlut_bf16_gemm_par(out, ldo, f->apack, B, T, N, K, 1.0f, accumulate, bias);
}

/* LayerNorm fused with the packing of the next product's input (its fp32
 * output is not kept: the backward reads x, mean and rstd only). */
static void ln_packed(struct clip_vfast *f, float *mean, float *rstd, const float *x, const float *w, const float *b,
                      int T, int C, float eps) {
  dlut_bf16_pack_layernorm(f->apack, mean, rstd, x, w, b, T, C, eps);
}

static void block_forward(dlut_clip *m, int l, const float *x_in, float *x_out, const clip_dims *d) {
  struct clip_vfast *f = m->vfast;
  const dlut_tensor_backend *be = m->be;
  const clip_block_w *w = &m->vw.blocks[l];
  const vfast_layer *y = &f->layers[l];
  clip_block_act *a = &m->va.blk[l];
  int T = d->T, C = d->C, I = d->I;
  size_t TC = (size_t)T * C;
  ln_packed(f, a->ln1_mean, a->ln1_rstd, x_in, w->ln1_w, w->ln1_b, T, C, d->eps);
  packed_linear(f, a->qkv, 3 * C, y->qkv_f, T, C, 3 * C, y->qkv_bias, 0); /* (T, 3C) */
  fa_ctx c = {.f = f, .out = a->atty, .lse = y->lse, .qkv = a->qkv};
  dlut_parallel_for(d->NH, 1, fa_fwd_heads, &c); /* (T, C) */
  memcpy(a->res_mid, x_in, TC * sizeof(float));  /* res_mid = x_in + out_proj(atty) */
  linear(f, a->res_mid, C, a->atty, C, y->o_f, T, C, C, w->o_b, 1);
  ln_packed(f, a->ln2_mean, a->ln2_rstd, a->res_mid, w->ln2_w, w->ln2_b, T, C, d->eps);
  packed_linear(f, a->fch, I, y->fc1_f, T, C, I, w->fc1_b, 0); /* (T, I) */
  if (d->act == DLUT_ACT_QUICK_GELU) {
    dlut_bf16_pack_quickgelu(f->apack, a->fch, T, I); /* act fused with the packing */
  } else {
    be->act_forward(a->fch_act, a->fch, (int64_t)T * I, d->act);
    dlut_bf16_pack_a_par(f->apack, a->fch_act, I, T, I, 0);
  }
  memcpy(x_out, a->res_mid, TC * sizeof(float)); /* x_out = res_mid + fc2(act) */
  packed_linear(f, x_out, C, y->fc2_f, T, I, C, w->fc2_b, 1);
}

static void block_backward(dlut_clip *m, int l, const float *x_in, const clip_dims *d) {
  struct clip_vfast *f = m->vfast;
  const dlut_tensor_backend *be = m->be;
  const clip_block_w *w = &m->vw.blocks[l];
  const vfast_layer *y = &f->layers[l];
  const clip_block_act *a = &m->va.blk[l];
  clip_tower_act *t = &m->va;
  int T = d->T, C = d->C, I = d->I;
  float *d_res = t->d_res;                                    /* (T, C): dL/dx_out on entry, dL/dx_in on exit */
  linear(f, t->d_i, I, d_res, C, y->fc2_b, T, C, I, NULL, 0); /* d fch_act (T, I) */
  if (d->act == DLUT_ACT_QUICK_GELU) {
    dlut_bf16_pack_quickgelu_backward(f->apack, a->fch, t->d_i, T, I); /* d fch, packed */
  } else {
    memset(t->d_i2, 0, sizeof(float) * (size_t)T * I);
    be->act_backward(t->d_i2, a->fch, t->d_i, (int64_t)T * I, d->act);
    dlut_bf16_pack_a_par(f->apack, t->d_i2, I, T, I, 0);
  }
  packed_linear(f, t->d_c, C, y->fc1_b, T, I, C, NULL, 0); /* d ln2_out (T, C) */
  dlut_vlayernorm_backward(d_res, t->d_c, a->res_mid, w->ln2_w, a->ln2_mean, a->ln2_rstd, T, C);
  linear(f, t->d_c, C, d_res, C, y->o_b, T, C, C, NULL, 0); /* d atty (T, C) */
  fa_ctx c = {.f = f, .dqkv = t->d_qkv, .lse = y->lse, .qkv = a->qkv, .dout = t->d_c};
  if (dlut_threads_get() > f->nthreads) /* threads added since the forward: scratch for fewer */
    fa_bwd_heads(&c, 0, d->NH, 0);
  else
    dlut_parallel_for(d->NH, 1, fa_bwd_heads, &c);                       /* d qkv (T, 3C) */
  linear(f, t->d_c, C, t->d_qkv, 3 * C, y->qkv_b, T, 3 * C, C, NULL, 0); /* d ln1_out (T, C) */
  dlut_vlayernorm_backward(d_res, t->d_c, x_in, w->ln1_w, a->ln1_mean, a->ln1_rstd, T, C);
}

int clip_vfast_blocks_forward(dlut_clip *m, const clip_dims *d) {
  if (vfast_ready(m) != 0) return -1;
  for (int l = 0; l < m->cfg.vision.layers; l++) block_forward(m, l, m->va.x[l], m->va.x[l + 1], d);
  m->vfast->used = 1;
  return 0;
}

int clip_vfast_used(const dlut_clip *m) {
  return m->vfast && m->vfast->used;
}

void clip_vfast_mark_unused(dlut_clip *m) {
  if (m->vfast) m->vfast->used = 0;
}

void clip_vfast_blocks_backward(dlut_clip *m, const clip_dims *d) {
  for (int l = m->cfg.vision.layers - 1; l >= 0; l--) block_backward(m, l, m->va.x[l], d);
}
