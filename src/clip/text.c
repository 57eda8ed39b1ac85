/* The two text towers.
 * OpenAI (clip/model.py CLIP.encode_text; HF CLIPTextTransformer): token +
 * position embeddings, pre-LN blocks with a causal mask, final LayerNorm,
 * pooling at the end-of-text token, projection without bias.
 * Chinese-CLIP (cn_clip/clip/modeling_bert.py; HF ChineseCLIPTextModel =
 * BertModel without pooler): LayerNorm(word + position + token_type[0]),
 * post-LN BERT layers with the padding mask (1 - mask) * -10000 added to
 * the attention logits of padded keys, [CLS] pooling (no final LayerNorm),
 * projection without bias. Forward only. */
#include <string.h>

#include "clip/clip_internal.h"
#include "dlut/error.h"

/* OpenAI pooling position: transformers' CLIPTextTransformer pools at the
 * first eos_token_id, or at argmax(ids) for the legacy eos_token_id == 2
 * (= upstream's text.argmax(dim=-1): the EOT id 49407 is the largest). */
static int eot_position(const int32_t *ids, int T, int eos) {
  int best = 0;
  if (eos != 2)
    for (int t = 0; t < T; t++)
      if (ids[t] == eos) return t;
  for (int t = 1; t < T; t++)
    if (ids[t] > ids[best]) best = t;
  return best;
}

int clip_text_forward(dlut_clip *m, const int32_t *ids_in, int n_ids, int n_ctx) {
  const dlut_tensor_backend *be = m->be;
  clip_tower_act *a = &m->ta;
  const clip_text_w *w = &m->tw;
  const dlut_clip_tower_config *tc = &m->cfg.text;
  int T = n_ctx, C = tc->width, L = tc->layers, E = m->cfg.projection_dim;
  clip_dims d = {T, C, tc->intermediate, tc->heads, tc->ln_eps, tc->act};
  int32_t *ids = m->ids_scratch; /* padded copy (context_length) */
  if (T > a->T || T < 1) return dlut_error("clip: %d text positions (arena holds %d)", T, a->T);
  if (!a->arena) return dlut_error("clip: no activation memory (an earlier allocation failed)");
  int blas = dlut_tensor_threads_enter();
  a->valid = 0;
  if (ids != ids_in) memmove(ids, ids_in, sizeof(int32_t) * (size_t)n_ids);
  for (int t = n_ids; t < T; t++) ids[t] = 0; /* upstream tokenize() pads with 0 */
  for (int t = 0; t < T; t++) {
    const float *te = w->tok_emb + (size_t)ids[t] * C, *pe = w->pos_emb + (size_t)t * C;
    float *e = a->emb + (size_t)t * C;
    if (w->type_emb)
      for (int c = 0; c < C; c++) e[c] = te[c] + pe[c] + w->type_emb[c]; /* token_type_ids = 0 */
    else
      for (int c = 0; c < C; c++) e[c] = te[c] + pe[c];
  }
  if (m->cfg.family == DLUT_CLIP_OPENAI) {
    memcpy(a->x[0], a->emb, sizeof(float) * (size_t)T * C);
    for (int l = 0; l < L; l++)
      clip_block_preln_forward(be, &w->blocks[l], NULL, &a->blk[l], a->x[l], a->x[l + 1], &d, 1, NULL);
    be->layernorm_forward(a->final_out, a->final_mean, a->final_rstd, a->x[L], w->final_ln_w, w->final_ln_b, T, C,
                          d.eps);
    int eot = eot_position(ids, T, m->cfg.eos_token_id);
    memcpy(a->pooled, a->final_out + (size_t)eot * C, sizeof(float) * (size_t)C);
  } else {
    be->layernorm_forward(a->x[0], a->emb_mean, a->emb_rstd, a->emb, w->emb_ln_w, w->emb_ln_b, T, C, d.eps);
    for (int t = 0; t < T; t++) a->key_bias[t] = ids[t] == 0 ? -10000.0f : 0.0f; /* ids.ne(pad) */
    for (int l = 0; l < L; l++)
      clip_block_postln_forward(be, &w->blocks[l], &a->blk[l], a->x[l], a->x[l + 1], &d, a->key_bias);
    memcpy(a->pooled, a->x[L], sizeof(float) * (size_t)C); /* [CLS] */
  }
  be->matmul_forward(a->embed, E, a->pooled, w->proj, NULL, 1, C, E);
  a->T_run = T;
  a->valid = 1;
  dlut_tensor_threads_leave(blas);
  return 0;
}
