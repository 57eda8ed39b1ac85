/* src/clip/clip_internal.h - the CLIP model's insides, shared by
 * model.c (config, weights, arenas), vision.c and text.c (the towers) and
 * preprocess.c. Public API: include/dlut/clip.h. */
#ifndef DLUT_CLIP_INTERNAL_H
#define DLUT_CLIP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dlut/ckpt.h"
#include "dlut/clip.h"
#include "dlut/tensor.h"
#include "dlut/tokenizer.h"

/* ==== Limits (hostile configs) ==== */

#define CLIP_MAX_WIDTH 16384
#define CLIP_MAX_LAYERS 256
#define CLIP_MAX_IMAGE 4096
#define CLIP_MAX_PATCHES 65536
#define CLIP_MAX_CONTEXT 4096
#define CLIP_MAX_VOCAB 10000000
#define CLIP_MAX_ARENA ((size_t)64 << 30) /* bytes */

/* ==== Weights ==== */

/* One transformer block. Pre-LN (CLIP): ln1 before attention, ln2 before
 * the MLP. Post-LN (BERT): ln1 = attention.output.LayerNorm after the
 * attention residual, ln2 = output.LayerNorm after the MLP residual.
 * All Linear weights are (out, in). */
typedef struct clip_block_w {
  const float *ln1_w, *ln1_b;   /* (C) */
  const float *q_w, *k_w, *v_w; /* (C, C) */
  const float *q_b, *k_b, *v_b; /* (C) */
  const float *o_w, *o_b;       /* (C, C), (C) */
  const float *ln2_w, *ln2_b;   /* (C) */
  const float *fc1_w, *fc1_b;   /* (I, C), (I) */
  const float *fc2_w, *fc2_b;   /* (C, I), (C) */
} clip_block_w;

/* One pre-LN block's Linear weights packed for the fp32 AVX-512 GEMM
 * (dlut_sgemm_pack_b; vision_packed.c): op(B) of each product. */
typedef struct clip_block_pack {
  const float *qkv_f, *o_f, *fc1_f, *fc2_f; /* forward w^T: (C, 3C) [q | k | v], (C, C), (C, I), (I, C) */
  const float *qkv_b, *o_b, *fc1_b, *fc2_b; /* input gradient w: (3C, C) [q; k; v], (C, C), (I, C), (C, I) */
  const float *qkv_bias;                    /* (3C) [q_b; k_b; v_b] */
} clip_block_pack;

typedef struct clip_vision_w {
  const float *patch_w;   /* (C, 3, p, p) */
  const float *class_emb; /* (C) */
  const float *pos_emb;   /* (T, C), T = 1 + P */
  const float *pre_ln_w, *pre_ln_b;
  clip_block_w *blocks; /* (L) */
  const float *post_ln_w, *post_ln_b;
  const float *proj; /* (E, C) */
} clip_vision_w;

typedef struct clip_text_w {
  const float *tok_emb;                 /* (V, C): token_embedding / word_embeddings */
  const float *pos_emb;                 /* (max_positions, C) */
  const float *type_emb;                /* (type_vocab, C), BERT only */
  const float *emb_ln_w, *emb_ln_b;     /* BERT embeddings.LayerNorm */
  clip_block_w *blocks;                 /* (L) */
  const float *final_ln_w, *final_ln_b; /* OpenAI final_layer_norm */
  const float *proj;                    /* (E, C) */
} clip_text_w;

/* ==== Activations ==== */

/* Per block. Pointers marked [bwd] are distinct per layer in the vision
 * tower (the backward reads them); the others alias one scratch slab
 * unless keep_activations is on. For BERT blocks the roles are
 * res_mid = x + dense(ctx) (before LN), ln1_out = LN(res_mid) =
 * "attention_out", res_out_pre = ln1_out + mlp_out (before LN). */
typedef struct clip_block_act {
  float *ln1_out;             /* (T, C) */
  float *ln1_mean, *ln1_rstd; /* (T) [bwd] */
  float *qkv;                 /* (T, 3C) [bwd] */
  float *att;      /* (NH, T, T); shared by all layers unless keep_activations (the backward recomputes it) */
  float *atty;     /* (T, C) attention context, heads side by side */
  float *attn_out; /* (T, C) after out_proj */
  float *res_mid;  /* (T, C) [bwd] */
  float *ln2_out;  /* (T, C) */
  float *ln2_mean, *ln2_rstd; /* (T) [bwd] */
  float *fch;                 /* (T, I) MLP pre-activation [bwd] */
  float *fch_act;             /* (T, I) */
  float *mlp_out;             /* (T, C) */
  float *res_out_pre;         /* (T, C) BERT only */
} clip_block_act;

typedef struct clip_tower_act {
  float *arena; /* one allocation behind every pointer here */
  size_t arena_floats;
  int T;                          /* rows the arena was sized for */
  int T_run;                      /* rows of the last forward */
  int valid;                      /* a forward has run */
  float *patch_out;               /* (P, C) conv output (vision) */
  float *cols;                    /* (P, 3pp) im2col scratch (vision) */
  float *emb;                     /* (T, C) embeddings before ln_pre / BERT emb LN input */
  float *emb_mean, *emb_rstd;     /* (T) */
  float **x;                      /* (L + 1) x (T, C): x[0] = block input 0, x[l+1] = block l output */
  clip_block_act *blk;            /* (L) */
  float *final_out;               /* (T, C) text final LN (OpenAI) */
  float *final_mean, *final_rstd; /* (T) */
  float *pooled;                  /* (C) */
  float *pool_mean, *pool_rstd;   /* (P) post-LN stats (vision: CLS in [0]) */
  float *embed;                   /* (E) */
  float *key_bias;                /* (T) BERT padding mask as additive bias */
  /* backward scratch (vision) */
  float *d_res, *d_c, *d_i, *d_i2, *d_qkv, *d_att, *d_emb, *d_cols, *d_pooled;
  /* (T,C) (T,C) (T,I) (T,I) (T,3C) (NH,T,T) (T,C) (P,3pp) (C) */
  float *tok_scratch; /* (P, C) patch tokens after post-LN */
} clip_tower_act;

/* ==== The model ==== */

struct dlut_clip {
  dlut_clip_config cfg;
  dlut_clip_info info;
  char *dir;                  /* model folder (info.name), owned */
  dlut_ckpt *ck;              /* open checkpoint (weights point into it), or NULL for random */
  float *own_weights;         /* random-model weights, or NULL */
  const float *logit_scale_p; /* the log-space parameter */
  clip_vision_w vw;
  clip_text_w tw;
  clip_block_w *block_storage; /* vision + text blocks */
  clip_tower_act va, ta;       /* activations */
  int keep_all;                /* keep_activations */
  const dlut_tensor_backend *be;
  dlut_tokenizer *tok;  /* NULL if the folder has no tokenizer */
  char *tok_error;      /* why tok is NULL */
  int32_t *ids_scratch; /* (context) */
  /* the bf16 vision path's packed weights and scratch (vision_bf16.c), or NULL */
  struct clip_vfast *vfast;
  /* the fp32 vision blocks' packed weights (vision_packed.c), or NULL */
  struct clip_vpack *vpack;
  int vpack_failed; /* their allocation failed: the tower runs unpacked */
};

/* arenas (model.c) */
int clip_arenas_alloc(dlut_clip *m);
void clip_arenas_free(dlut_clip *m);

/* transformer blocks (clip_block.c). Pre-LN (CLIP): x_out = x + attn(ln1(x)),
 * then + mlp(ln2(.)). Post-LN (BERT): a = ln1(x + attn(x)), x_out = ln2(a + mlp(a)).
 * x_in, x_out (T, C); the block's activations go to a. */
typedef struct clip_dims {
  int T, C, I, NH;
  float eps;
  dlut_act act;
} clip_dims;
/* pk: the block's packed weights (clip_vpack_get), whose products then go
 * to dlut_sgemm_packed_par; NULL: every product through be. */
void clip_block_preln_forward(const dlut_tensor_backend *be, const clip_block_w *w, const clip_block_pack *pk,
                              clip_block_act *a, const float *x_in, float *x_out, const clip_dims *d, int causal,
                              const float *key_bias);
/* d_res (T, C): on entry dL/dx_out, on exit dL/dx_in. Scratch from t. */
void clip_block_preln_backward(const dlut_tensor_backend *be, const clip_block_w *w, const clip_block_pack *pk,
                               const clip_block_act *a, const float *x_in, clip_tower_act *t, const clip_dims *d);
void clip_block_postln_forward(const dlut_tensor_backend *be, const clip_block_w *w, clip_block_act *a,
                               const float *x_in, float *x_out, const clip_dims *d, const float *key_bias);

/* towers (vision.c, text.c) */
int clip_vision_forward(dlut_clip *m, const float *pixels);
int clip_vision_backward(dlut_clip *m, const float *d_embed, float *d_pixels);
/* the bf16 vision path (vision_bf16.c): whether to take it, the blocks
 * forward (packs the weights on first use) and backward, and cleanup */
int clip_vision_use_bf16(const dlut_clip *m);
int clip_vfast_blocks_forward(dlut_clip *m, const clip_dims *d);
void clip_vfast_blocks_backward(dlut_clip *m, const clip_dims *d);
int clip_vfast_used(const dlut_clip *m);
void clip_vfast_mark_unused(dlut_clip *m);
void clip_vfast_free(dlut_clip *m);
/* a->d_res (T, C) = dL/d(last block output) -> d_pixels (3,S,S), overwritten */
void clip_vision_backward_blocks(dlut_clip *m, float *d_pixels);
/* the fp32 vision blocks' packed weights (vision_packed.c): the (L) array
 * when the packed products apply now (CPU backend, AVX-512 kernel, not
 * DLUT_CLIP_PACKED=0), packing them on the first such call; else NULL */
const clip_block_pack *clip_vpack_get(dlut_clip *m);
void clip_vpack_free(dlut_clip *m);
int clip_text_forward(dlut_clip *m, const int32_t *ids, int n_ids, int n_ctx);

#endif
