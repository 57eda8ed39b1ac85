/* The vision tower (identical in CLIPModel and ChineseCLIPModel): patch
 * convolution, [CLS] + position embeddings, pre-LayerNorm ("pre_layrnorm"),
 * pre-LN blocks, post-LayerNorm of the CLS token, projection without bias
 * (openai/CLIP clip/model.py VisionTransformer; HF CLIPVisionTransformer).
 * The backward goes from dL/dembed to dL/dpixels through every layer and
 * computes no weight gradients. */
#include <string.h>

#include "clip/clip_internal.h"
#include "dlut/error.h"

static clip_dims vision_dims(const dlut_clip *m) {
  const dlut_clip_tower_config *v = &m->cfg.vision;
  return (clip_dims){m->va.T, v->width, v->intermediate, v->heads, v->ln_eps, v->act};
}

int clip_vision_forward(dlut_clip *m, const float *pixels) {
  const dlut_tensor_backend *be = m->be;
  clip_tower_act *a = &m->va;
  const clip_vision_w *w = &m->vw;
  clip_dims d = vision_dims(m);
  int T = d.T, C = d.C, S = m->cfg.image_size, p = m->cfg.patch_size, L = m->cfg.vision.layers;
  if (!pixels) return dlut_error("clip: no pixels");
  if (!a->arena) return dlut_error("clip: no activation memory (an earlier allocation failed)");
  int blas = dlut_tensor_threads_enter();
  a->valid = 0;
  be->patch_forward(a->patch_out, C, a->cols, pixels, w->patch_w, S, p, C); /* (P, C) */
  for (int c = 0; c < C; c++) a->emb[c] = w->class_emb[c] + w->pos_emb[c];
  for (int t = 1; t < T; t++)
    for (int c = 0; c < C; c++)
      a->emb[(size_t)t * C + c] = a->patch_out[(size_t)(t - 1) * C + c] + w->pos_emb[(size_t)t * C + c];
  be->layernorm_forward(a->x[0], a->emb_mean, a->emb_rstd, a->emb, w->pre_ln_w, w->pre_ln_b, T, C, d.eps);
  clip_vfast_mark_unused(m);
  if (clip_vision_use_bf16(m)) { /* bf16 products, AMX or AVX512-BF16 (vision_bf16.c) */
    if (clip_vfast_blocks_forward(m, &d) != 0) {
      dlut_tensor_threads_leave(blas);
      return -1;
    }
  } else {
    const clip_block_pack *pk = clip_vpack_get(m); /* packed fp32 weights, or NULL (vision_packed.c) */
    for (int l = 0; l < L; l++)
      clip_block_preln_forward(be, &w->blocks[l], pk ? &pk[l] : NULL, &a->blk[l], a->x[l], a->x[l + 1], &d, 0, NULL);
  }
  /* pooled (C) = post_layernorm(x_L[0]); embed (E) = pooled @ proj^T */
  be->layernorm_forward(a->pooled, a->pool_mean, a->pool_rstd, a->x[L], w->post_ln_w, w->post_ln_b, 1, C, d.eps);
  be->matmul_forward(a->embed, m->cfg.projection_dim, a->pooled, w->proj, NULL, 1, C, m->cfg.projection_dim);
  a->T_run = T;
  a->valid = 1;
  dlut_tensor_threads_leave(blas);
  return 0;
}

int clip_vision_backward(dlut_clip *m, const float *d_embed, float *d_pixels) {
  const dlut_tensor_backend *be = m->be;
  clip_tower_act *a = &m->va;
  const clip_vision_w *w = &m->vw;
  clip_dims d = vision_dims(m);
  int T = d.T, C = d.C, L = m->cfg.vision.layers;
  int E = m->cfg.projection_dim;
  int blas = dlut_tensor_threads_enter();
  /* embed = pooled @ proj^T ; pooled = LN_post(x_L[0]) */
  memset(a->d_pooled, 0, sizeof(float) * (size_t)C);
  be->matmul_backward(a->d_pooled, d_embed, E, w->proj, 1, C, E);
  memset(a->d_res, 0, sizeof(float) * (size_t)T * C);
  be->layernorm_backward(a->d_res, a->d_pooled, a->x[L], w->post_ln_w, a->pool_mean, a->pool_rstd, 1, C);
  clip_vision_backward_blocks(m, d_pixels);
  dlut_tensor_threads_leave(blas);
  return 0;
}

/* From a->d_res (T, C) = dL/dx_L (the last block's output) to d_pixels
 * (3, S, S), overwritten: every block, pre-LN, the patch convolution.
 * Shared by the CLS backward above and the token-set backward (tokens.c). */
void clip_vision_backward_blocks(dlut_clip *m, float *d_pixels) {
  const dlut_tensor_backend *be = m->be;
  clip_tower_act *a = &m->va;
  const clip_vision_w *w = &m->vw;
  clip_dims d = vision_dims(m);
  int T = d.T, C = d.C, S = m->cfg.image_size, p = m->cfg.patch_size, L = m->cfg.vision.layers;
  if (clip_vfast_used(m)) /* the path the forward took */
    clip_vfast_blocks_backward(m, &d);
  else {
    const clip_block_pack *pk = clip_vpack_get(m);
    for (int l = L - 1; l >= 0; l--) {
      /* the probabilities of this layer, bit for bit as in the forward (one
       * slab serves all layers; about 1.5% more work than keeping them) */
      be->attention_probs(a->blk[l].att, a->blk[l].qkv, 3 * C, T, C, d.NH, 0, NULL);
      clip_block_preln_backward(be, &w->blocks[l], pk ? &pk[l] : NULL, &a->blk[l], a->x[l], a, &d);
    }
  }
  memset(a->d_emb, 0, sizeof(float) * (size_t)T * C);
  be->layernorm_backward(a->d_emb, a->d_res, a->emb, w->pre_ln_w, a->emb_mean, a->emb_rstd, T, C);
  /* emb rows 1.. are the patch outputs (+ constants) */
  memset(d_pixels, 0, sizeof(float) * 3 * (size_t)S * S);
  be->patch_backward(d_pixels, a->d_cols, a->d_emb + C, C, w->patch_w, S, p, C);
}

int dlut_clip_image_patch_tokens(dlut_clip *m, float *out) {
  if (!m || !out) return dlut_error("clip: patch_tokens needs a model and an output");
  clip_tower_act *a = &m->va;
  if (!a->valid) return dlut_error("clip: patch tokens before any encode_image");
  int C = m->cfg.vision.width, P = m->info.n_patch_tokens, E = m->cfg.projection_dim;
  const float *xL = a->x[m->cfg.vision.layers] + C; /* rows 1..P */
  /* pool_mean/rstd row 0 belongs to the CLS token; rows 1.. are free */
  int blas = dlut_tensor_threads_enter();
  m->be->layernorm_forward(a->tok_scratch, a->pool_mean + 1, a->pool_rstd + 1, xL, m->vw.post_ln_w, m->vw.post_ln_b, P,
                           C, m->cfg.vision.ln_eps);
  m->be->matmul_forward(out, E, a->tok_scratch, m->vw.proj, NULL, P, C, E);
  dlut_tensor_threads_leave(blas);
  return 0;
}
