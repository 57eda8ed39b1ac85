/* The "full" token set of the last encoded image and its backward: every
 * token of the last vision block (CLS first, then the P patch tokens)
 * through post_layernorm and the visual projection, NOT L2-normalised.
 * This is ColorizeDiffusion's FrozenOpenCLIPImageEmbedder.post_process(x,
 * "full") = ln_post(x) @ proj (refnet/modules/embedder.py), the input of
 * its global and local manipulation (dlut/manip.h). Row 0 equals the image
 * embedding dlut_clip_encode_image returns.
 *
 * The backward seeds dL/dtokens at every row, goes back through the
 * projection and the per-row LayerNorm into dL/dx_L, and then runs the
 * same block / pre-LN / patch-convolution backward as the CLS-embedding
 * backward (clip_vision_backward_blocks in vision.c). */
#include <string.h>

#include "clip/clip_internal.h"
#include "dlut/error.h"

/* post-LN of rows 1..P of x_L into tok_scratch, with their statistics in
 * pool_mean/pool_rstd[1..P] (row 0 is the CLS row of the forward). */
static void patch_ln(dlut_clip *m) {
  clip_tower_act *a = &m->va;
  int C = m->cfg.vision.width, P = m->info.n_patch_tokens;
  const float *xL = a->x[m->cfg.vision.layers] + C;
  m->be->layernorm_forward(a->tok_scratch, a->pool_mean + 1, a->pool_rstd + 1, xL, m->vw.post_ln_w, m->vw.post_ln_b, P,
                           C, m->cfg.vision.ln_eps);
}

int dlut_clip_image_tokens(dlut_clip *m, float *out) {
  if (!m || !out) return dlut_error("clip: image_tokens needs a model and an output");
  clip_tower_act *a = &m->va;
  if (!a->valid) return dlut_error("clip: image tokens before any encode_image");
  int C = m->cfg.vision.width, P = m->info.n_patch_tokens, E = m->cfg.projection_dim;
  memcpy(out, a->embed, sizeof(float) * (size_t)E); /* row 0: LN_post(CLS) @ proj^T, as encode_image */
  int blas = dlut_tensor_threads_enter();
  patch_ln(m);
  m->be->matmul_forward(out + E, E, a->tok_scratch, m->vw.proj, NULL, P, C, E); /* (P, E) */
  dlut_tensor_threads_leave(blas);
  return 0;
}

int dlut_clip_image_tokens_backward(dlut_clip *m, const float *d_tokens, float *d_pixels) {
  if (!m || !d_tokens || !d_pixels)
    return dlut_error("clip: image_tokens_backward needs a model, d_tokens and an output");
  clip_tower_act *a = &m->va;
  if (!a->valid) return dlut_error("clip: image_tokens_backward before any encode_image");
  const dlut_tensor_backend *be = m->be;
  int C = m->cfg.vision.width, P = m->info.n_patch_tokens, E = m->cfg.projection_dim, T = 1 + P;
  int blas = dlut_tensor_threads_enter();
  patch_ln(m); /* the statistics of rows 1..P (row 0's are the forward's) */
  /* d_ln (T, C) = d_tokens (T, E) @ proj (E, C); d_c is block scratch, free before the blocks run */
  float *d_ln = a->d_c;
  memset(d_ln, 0, sizeof(float) * (size_t)T * C);
  be->matmul_backward(d_ln, d_tokens, E, m->vw.proj, T, C, E);
  memset(a->d_res, 0, sizeof(float) * (size_t)T * C);
  be->layernorm_backward(a->d_res, d_ln, a->x[m->cfg.vision.layers], m->vw.post_ln_w, a->pool_mean, a->pool_rstd, T, C);
  clip_vision_backward_blocks(m, d_pixels);
  dlut_tensor_threads_leave(blas);
  return 0;
}
