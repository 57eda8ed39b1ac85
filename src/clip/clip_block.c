/* The two transformer blocks of the CLIP family, forward (and backward for
 * the pre-LN block, which the vision tower differentiates), written as
 * sequences of dlut/tensor.h kernels with their shapes.
 *
 * Pre-LN residual block: openai/CLIP clip/model.py ResidualAttentionBlock
 * (= HF CLIPEncoderLayer): x = x + attn(ln_1(x)); x = x + mlp(ln_2(x)).
 * Post-LN BERT layer: HF BertLayer (BertSelfAttention, BertSelfOutput,
 * BertIntermediate, BertOutput): a = LN(dense(attn(x)) + x);
 * x = LN(dense(act(dense(a))) + a).
 * q, k, v are three GEMMs of the whole sequence writing side by side into
 * qkv (T, 3C), so no fused weight copy is needed. */
#include <string.h>

#include "clip/clip_internal.h"

static void add3(float *out, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* qkv (T, 3C) = inp (T, C) @ [Wq; Wk; Wv]^T + [bq; bk; bv] */
static void qkv_forward(const dlut_tensor_backend *be, const clip_block_w *w, float *qkv, const float *inp, int T,
                        int C) {
  be->matmul_forward(qkv, 3 * C, inp, w->q_w, w->q_b, T, C, C);
  be->matmul_forward(qkv + C, 3 * C, inp, w->k_w, w->k_b, T, C, C);
  be->matmul_forward(qkv + 2 * C, 3 * C, inp, w->v_w, w->v_b, T, C, C);
}

/* out (T, ld_out)[:, :OC] = inp (T, C) @ w^T + bias: with the packed w^T
 * (wp, (C, OC)) when there is one, else through the backend. */
static void linear_forward(const dlut_tensor_backend *be, const float *wp, float *out, int ld_out, const float *inp,
                           const float *w, const float *bias, int T, int C, int OC) {
  if (!wp) {
    be->matmul_forward(out, ld_out, inp, w, bias, T, C, OC);
    return;
  }
  for (int i = 0; i < T; i++) memcpy(out + (size_t)i * ld_out, bias, sizeof(float) * (size_t)OC);
  dlut_sgemm_packed_par(0, T, OC, C, 1.0f, inp, C, wp, 1.0f, out, ld_out);
}

/* dinp (T, C) = dout (T, ld_dout)[:, :OC] @ w (OC, C), overwritten: with the
 * packed w (wp, (OC, C)) when there is one, else zeroed and added to through
 * the backend. */
static void linear_backward(const dlut_tensor_backend *be, const float *wp, float *dinp, const float *dout, int ld_dout,
                            const float *w, int T, int C, int OC) {
  if (wp) {
    dlut_sgemm_packed_par(0, T, C, OC, 1.0f, dout, ld_dout, wp, 0.0f, dinp, C);
    return;
  }
  memset(dinp, 0, (size_t)T * C * sizeof(float));
  be->matmul_backward(dinp, dout, ld_dout, w, T, C, OC);
}

void clip_block_preln_forward(const dlut_tensor_backend *be, const clip_block_w *w, const clip_block_pack *pk,
                              clip_block_act *a, const float *x_in, float *x_out, const clip_dims *d, int causal,
                              const float *key_bias) {
  int T = d->T, C = d->C, I = d->I;
  size_t TC = (size_t)T * C;
  be->layernorm_forward(a->ln1_out, a->ln1_mean, a->ln1_rstd, x_in, w->ln1_w, w->ln1_b, T, C, d->eps); /* (T,C) */
  if (pk) /* q, k, v as one product: (T, 3C) = ln1_out @ [Wq; Wk; Wv]^T */
    linear_forward(be, pk->qkv_f, a->qkv, 3 * C, a->ln1_out, NULL, pk->qkv_bias, T, C, 3 * C);
  else
    qkv_forward(be, w, a->qkv, a->ln1_out, T, C);                                            /* (T,3C) */
  be->attention_forward(a->atty, a->att, a->qkv, 3 * C, T, C, d->NH, causal, key_bias);      /* (T,C) */
  linear_forward(be, pk ? pk->o_f : NULL, a->attn_out, C, a->atty, w->o_w, w->o_b, T, C, C); /* (T,C) */
  add3(a->res_mid, x_in, a->attn_out, TC);
  be->layernorm_forward(a->ln2_out, a->ln2_mean, a->ln2_rstd, a->res_mid, w->ln2_w, w->ln2_b, T, C, d->eps);
  linear_forward(be, pk ? pk->fc1_f : NULL, a->fch, I, a->ln2_out, w->fc1_w, w->fc1_b, T, C, I); /* (T,I) */
  be->act_forward(a->fch_act, a->fch, (int64_t)T * I, d->act);
  linear_forward(be, pk ? pk->fc2_f : NULL, a->mlp_out, C, a->fch_act, w->fc2_w, w->fc2_b, T, I, C); /* (T,C) */
  add3(x_out, a->res_mid, a->mlp_out, TC);
}

/* Gradients w.r.t. the block input only. Needs from the forward: x_in,
 * res_mid, the LN statistics, qkv, att and fch (the [bwd] fields). */
void clip_block_preln_backward(const dlut_tensor_backend *be, const clip_block_w *w, const clip_block_pack *pk,
                               const clip_block_act *a, const float *x_in, clip_tower_act *t, const clip_dims *d) {
  int T = d->T, C = d->C, I = d->I;
  size_t TC = (size_t)T * C, TI = (size_t)T * I;
  float *d_res = t->d_res; /* (T,C) dL/dx_out on entry */
  /* MLP branch: x_out = res_mid + fc2(act(fc1(ln2(res_mid)))) */
  linear_backward(be, pk ? pk->fc2_b : NULL, t->d_i, d_res, C, w->fc2_w, T, I, C); /* d fch_act (T,I) */
  memset(t->d_i2, 0, TI * sizeof(float));
  be->act_backward(t->d_i2, a->fch, t->d_i, (int64_t)TI, d->act);                              /* d fch (T,I) */
  linear_backward(be, pk ? pk->fc1_b : NULL, t->d_c, t->d_i2, I, w->fc1_w, T, C, I);           /* d ln2_out (T,C) */
  be->layernorm_backward(d_res, t->d_c, a->res_mid, w->ln2_w, a->ln2_mean, a->ln2_rstd, T, C); /* d res_mid */
  /* attention branch: res_mid = x_in + out_proj(attn(qkv(ln1(x_in)))) */
  linear_backward(be, pk ? pk->o_b : NULL, t->d_c, d_res, C, w->o_w, T, C, C); /* d atty (T,C) */
  memset(t->d_qkv, 0, 3 * TC * sizeof(float));
  be->attention_backward(t->d_qkv, t->d_att, t->d_c, a->qkv, 3 * C, a->att, T, C, d->NH); /* (T,3C) */
  if (pk) { /* d ln1_out (T,C) = d_qkv (T, 3C) @ [Wq; Wk; Wv] (3C, C), one product */
    linear_backward(be, pk->qkv_b, t->d_c, t->d_qkv, 3 * C, NULL, T, C, 3 * C);
  } else {
    memset(t->d_c, 0, TC * sizeof(float));
    be->matmul_backward(t->d_c, t->d_qkv, 3 * C, w->q_w, T, C, C); /* d ln1_out (T,C) */
    be->matmul_backward(t->d_c, t->d_qkv + C, 3 * C, w->k_w, T, C, C);
    be->matmul_backward(t->d_c, t->d_qkv + 2 * C, 3 * C, w->v_w, T, C, C);
  }
  be->layernorm_backward(d_res, t->d_c, x_in, w->ln1_w, a->ln1_mean, a->ln1_rstd, T, C); /* d x_in */
}

void clip_block_postln_forward(const dlut_tensor_backend *be, const clip_block_w *w, clip_block_act *a,
                               const float *x_in, float *x_out, const clip_dims *d, const float *key_bias) {
  int T = d->T, C = d->C, I = d->I;
  size_t TC = (size_t)T * C;
  qkv_forward(be, w, a->qkv, x_in, T, C);                                          /* (T,3C) */
  be->attention_forward(a->atty, a->att, a->qkv, 3 * C, T, C, d->NH, 0, key_bias); /* (T,C) context */
  be->matmul_forward(a->attn_out, C, a->atty, w->o_w, w->o_b, T, C, C);            /* attention.output.dense */
  add3(a->res_mid, a->attn_out, x_in, TC);
  be->layernorm_forward(a->ln1_out, a->ln1_mean, a->ln1_rstd, a->res_mid, w->ln1_w, w->ln1_b, T, C, d->eps);
  be->matmul_forward(a->fch, I, a->ln1_out, w->fc1_w, w->fc1_b, T, C, I); /* intermediate.dense (T,I) */
  be->act_forward(a->fch_act, a->fch, (int64_t)T * I, d->act);
  be->matmul_forward(a->mlp_out, C, a->fch_act, w->fc2_w, w->fc2_b, T, I, C); /* output.dense (T,C) */
  add3(a->res_out_pre, a->mlp_out, a->ln1_out, TC);
  be->layernorm_forward(x_out, a->ln2_mean, a->ln2_rstd, a->res_out_pre, w->ln2_w, w->ln2_b, T, C, d->eps);
}
