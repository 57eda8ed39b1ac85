/* The canonical CPU backend of dlut/tensor.h: GEMMs through dlut_sgemm
 * and dlut_sgemm_par (src/tensor/sgemm.c: our AVX-512F kernel where it
 * beats the OpenBLAS we link, else OpenBLAS's cblas_sgemm), everything
 * else plain C loops spread over the dlut thread pool. Each forward has its backward right after it; the naive
 * counterparts live in tensor_ref.c and tests/test_tensor.c holds the two
 * together (and both against finite differences).
 *
 * Threading: see dlut_tensor_threads_enter below.
 *
 * Formulas: LayerNorm as torch.nn.LayerNorm (biased variance, eps inside
 * the sqrt); the backward is the standard one (llm.c train_gpt2.c
 * layernorm_backward). QuickGELU from openai/CLIP clip/model.py, GELU in
 * erf form from BERT (transformers ACT2FN["gelu"]). Attention as in
 * torch.nn.MultiheadAttention / HF CLIPAttention: softmax(q k^T / sqrt(hd)). */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"

/* ==== Threads ==== */

/* The CPU backend does its own threading: large GEMMs are split into
 * column (or row) blocks, attention into heads, element-wise kernels into
 * ranges, all on the dlut pool, and OpenBLAS runs single-threaded inside
 * each task. One pool instead of two: OpenBLAS's own idle workers would
 * otherwise spin (sched_yield) while the dlut pool runs the element-wise
 * kernels, which costs up to a fifth of the CPU time on two cores. */
int dlut_tensor_threads_enter(void) {
  int prev = openblas_get_num_threads();
  if (prev != 1) openblas_set_num_threads(1);
  return prev;
}

void dlut_tensor_threads_leave(int prev) {
  if (prev > 0 && openblas_get_num_threads() != prev) openblas_set_num_threads(prev);
}

void dlut_tensor_threads_sync(void) {
  (void)dlut_tensor_threads_enter();
}

/* ==== Scalar activations ==== */

float dlut_act_value(float x, dlut_act act) {
  switch (act) {
    case DLUT_ACT_QUICK_GELU:
      return x / (1.0f + expf(-1.702f * x));
    case DLUT_ACT_GELU:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case DLUT_ACT_GELU_TANH: {
      float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.0f + tanhf(u));
    }
  }
  return x;
}

float dlut_act_grad(float x, dlut_act act) {
  switch (act) {
    case DLUT_ACT_QUICK_GELU: {
      float s = 1.0f / (1.0f + expf(-1.702f * x));
      return s + 1.702f * x * s * (1.0f - s);
    }
    case DLUT_ACT_GELU: {
      float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
      float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
      return cdf + x * pdf;
    }
    case DLUT_ACT_GELU_TANH: {
      float u = 0.79788456080286536f * (x + 0.044715f * x * x * x);
      float t = tanhf(u);
      float du = 0.79788456080286536f * (1.0f + 3.0f * 0.044715f * x * x);
      return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
  }
  return 1.0f;
}

/* ==== Matmul (Linear) ==== */

/* out (N, ld_out)[:, :OC] = inp (N, C) @ w^T (w: (OC, C)) + bias (OC) */
static void cpu_matmul_forward(float *out, int ld_out, const float *inp, const float *w, const float *bias, int N,
                               int C, int OC) {
  float beta = 0.0f;
  if (bias) {
    for (int i = 0; i < N; i++) memcpy(out + (size_t)i * ld_out, bias, sizeof(float) * (size_t)OC);
    beta = 1.0f;
  }
  dlut_sgemm_par(0, 1, N, OC, C, 1.0f, inp, C, w, C, beta, out, ld_out);
}

/* dinp (N, C) += dout (N, ld_dout)[:, :OC] @ w (OC, C) */
static void cpu_matmul_backward(float *dinp, const float *dout, int ld_dout, const float *w, int N, int C, int OC) {
  dlut_sgemm_par(0, 0, N, C, OC, 1.0f, dout, ld_dout, w, C, 1.0f, dinp, C);
}

/* ==== LayerNorm ==== */

typedef struct {
  float *out, *mean, *rstd, *dinp;
  const float *inp, *w, *b, *dout;
  const float *cmean, *crstd;
  int C;
  float eps;
} ln_ctx;

static void ln_fwd_rows(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  ln_ctx *c = vctx;
  int C = c->C;
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->inp + r * C;
    float *y = c->out + r * C;
    /* two-pass mean/variance in double: cancellation-safe for large offsets */
    double s = 0.0;
    for (int i = 0; i < C; i++) s += x[i];
    double m = s / C, v = 0.0;
    for (int i = 0; i < C; i++) {
      double d = x[i] - m;
      v += d * d;
    }
    float rs = (float)(1.0 / sqrt(v / C + c->eps));
    float mf = (float)m;
    for (int i = 0; i < C; i++) y[i] = (x[i] - mf) * rs * c->w[i] + c->b[i];
    c->mean[r] = mf;
    c->rstd[r] = rs;
  }
}

static void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                  const float *b, int N, int C, float eps) {
  ln_ctx c = {.out = out, .mean = mean, .rstd = rstd, .inp = inp, .w = w, .b = b, .C = C, .eps = eps};
  int64_t grain = C >= 4096 ? 1 : 4096 / C;
  dlut_parallel_for(N, grain, ln_fwd_rows, &c);
}

/* llm.c layernorm_backward without the weight gradients:
 * xhat = (x - mean) * rstd, g = dout * w,
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)). */
static void ln_bwd_rows(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  ln_ctx *c = vctx;
  int C = c->C;
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->inp + r * C, *dy = c->dout + r * C;
    float *dx = c->dinp + r * C;
    float m = c->cmean[r], rs = c->crstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int i = 0; i < C; i++) {
      float xh = (x[i] - m) * rs, g = dy[i] * c->w[i];
      sg += g;
      sgx += g * xh;
    }
    sg /= C;
    sgx /= C;
    for (int i = 0; i < C; i++) {
      float xh = (x[i] - m) * rs, g = dy[i] * c->w[i];
      dx[i] += rs * (g - sg - xh * sgx);
    }
  }
}

static void cpu_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                                   const float *rstd, int N, int C) {
  ln_ctx c = {.dinp = dinp, .dout = dout, .inp = inp, .w = w, .cmean = mean, .crstd = rstd, .C = C};
  int64_t grain = C >= 4096 ? 1 : 4096 / C;
  dlut_parallel_for(N, grain, ln_bwd_rows, &c);
}

/* ==== Activations ==== */

typedef struct {
  float *out;
  const float *inp, *dout;
  dlut_act act;
} act_ctx;

/* The vector forms of exp: 2 AVX-512 (bf16.c), 1 AVX2 + FMA (vec_avx2.c),
 * 0 none (libm's scalar expf). */
static int vec_level(void) {
  return dlut_cpu_has_avx512() ? 2 : dlut_cpu_has_avx2() ? 1 : 0;
}

/* QuickGELU (every OpenAI CLIP tower) with a vector exp where the CPU has
 * one (~1 ulp from expf; the scalar libm form was ~8% of the fp32 ViT-B/16
 * forward+backward), the scalar formulas elsewhere. */
static void act_fwd_range(void *vctx, int64_t i0, int64_t i1, int thread) {
  (void)thread;
  act_ctx *c = vctx;
  int vec = c->act == DLUT_ACT_QUICK_GELU ? vec_level() : 0;
  if (vec == 2) {
    dlut_vquickgelu(c->out + i0, c->inp + i0, i1 - i0);
    return;
  }
  if (vec == 1) {
    dlut_vquickgelu_avx2(c->out + i0, c->inp + i0, i1 - i0);
    return;
  }
  for (int64_t i = i0; i < i1; i++) c->out[i] = dlut_act_value(c->inp[i], c->act);
}

static void act_bwd_range(void *vctx, int64_t i0, int64_t i1, int thread) {
  (void)thread;
  act_ctx *c = vctx;
  int vec = c->act == DLUT_ACT_QUICK_GELU ? vec_level() : 0;
  if (vec == 2) {
    dlut_vquickgelu_backward_add(c->out + i0, c->inp + i0, c->dout + i0, i1 - i0);
    return;
  }
  if (vec == 1) {
    dlut_vquickgelu_backward_add_avx2(c->out + i0, c->inp + i0, c->dout + i0, i1 - i0);
    return;
  }
  for (int64_t i = i0; i < i1; i++) c->out[i] += dlut_act_grad(c->inp[i], c->act) * c->dout[i];
}

static void cpu_act_forward(float *out, const float *inp, int64_t n, dlut_act act) {
  act_ctx c = {.out = out, .inp = inp, .act = act};
  dlut_parallel_for(n, 16384, act_fwd_range, &c);
}

static void cpu_act_backward(float *dinp, const float *inp, const float *dout, int64_t n, dlut_act act) {
  act_ctx c = {.out = dinp, .inp = inp, .dout = dout, .act = act};
  dlut_parallel_for(n, 16384, act_bwd_range, &c);
}

/* ==== Attention ==== */

/* One task per head: its two (forward) or four (backward) GEMMs and its
 * softmax rows run on one thread, heads in parallel. */
typedef struct {
  float *out, *att, *dqkv, *datt;
  const float *qkv, *dout, *catt, *key_bias;
  int ld, T, C, NH, causal;
} attn_ctx;

/* Row-wise softmax of the scores in a (T, T): adds the key bias, masks
 * j > i when causal, normalises. */
static void softmax_head(float *att, int T, int causal, const float *key_bias) {
  int vec = vec_level();
  for (int i = 0; i < T; i++) {
    float *a = att + (size_t)i * T;
    int n = causal ? i + 1 : T;
    if (key_bias)
      for (int j = 0; j < n; j++) a[j] += key_bias[j];
    if (vec) { /* the same three passes with a vector exp, ~1 ulp */
      if (vec == 2)
        dlut_vsoftmax_row(a, n);
      else
        dlut_vsoftmax_row_avx2(a, n);
      for (int j = n; j < T; j++) a[j] = 0.0f;
      continue;
    }
    float mx = -INFINITY;
    for (int j = 0; j < n; j++) mx = a[j] > mx ? a[j] : mx;
    float s = 0.0f;
    for (int j = 0; j < n; j++) {
      a[j] = expf(a[j] - mx);
      s += a[j];
    }
    float inv = 1.0f / s;
    for (int j = 0; j < n; j++) a[j] *= inv;
    for (int j = n; j < T; j++) a[j] = 0.0f;
  }
}

/* a (T, T) = softmax(scale * q_h (T, hd) @ k_h^T + mask) */
static void probs_head(const attn_ctx *c, int64_t h) {
  int T = c->T, C = c->C, hd = C / c->NH, ld = c->ld;
  float scale = 1.0f / sqrtf((float)hd);
  const float *q = c->qkv + h * hd, *k = c->qkv + C + h * hd;
  float *a = c->att + (size_t)h * T * T;
  dlut_sgemm(0, 1, T, T, hd, scale, q, ld, k, ld, 0.0f, a, T);
  softmax_head(a, T, c->causal, c->key_bias);
}

static void attn_fwd_heads(void *vctx, int64_t h0, int64_t h1, int thread) {
  (void)thread;
  attn_ctx *c = vctx;
  int T = c->T, C = c->C, hd = C / c->NH, ld = c->ld;
  for (int64_t h = h0; h < h1; h++) {
    probs_head(c, h);
    /* out_h (T, hd) = a (T, T) @ v_h (T, hd) */
    dlut_sgemm(0, 0, T, hd, T, 1.0f, c->att + (size_t)h * T * T, T, c->qkv + 2 * C + h * hd, ld, 0.0f, c->out + h * hd,
               C);
  }
}

static void attn_probs_heads(void *vctx, int64_t h0, int64_t h1, int thread) {
  (void)thread;
  for (int64_t h = h0; h < h1; h++) probs_head(vctx, h);
}

static void cpu_attention_probs(float *att, const float *qkv, int ld_qkv, int T, int C, int NH, int causal,
                                const float *key_bias) {
  attn_ctx c = {.att = att, .qkv = qkv, .key_bias = key_bias, .ld = ld_qkv, .T = T, .C = C, .NH = NH, .causal = causal};
  dlut_parallel_for(NH, 1, attn_probs_heads, &c);
}

static void cpu_attention_forward(float *out, float *att, const float *qkv, int ld_qkv, int T, int C, int NH,
                                  int causal, const float *key_bias) {
  attn_ctx c = {.out = out,
                .att = att,
                .qkv = qkv,
                .key_bias = key_bias,
                .ld = ld_qkv,
                .T = T,
                .C = C,
                .NH = NH,
                .causal = causal};
  dlut_parallel_for(NH, 1, attn_fwd_heads, &c);
}

static void attn_bwd_heads(void *vctx, int64_t h0, int64_t h1, int thread) {
  (void)thread;
  attn_ctx *c = vctx;
  int T = c->T, C = c->C, hd = C / c->NH, ld = c->ld, vec = vec_level();
  float scale = 1.0f / sqrtf((float)hd);
  for (int64_t h = h0; h < h1; h++) {
    const float *q = c->qkv + h * hd, *k = c->qkv + C + h * hd, *v = c->qkv + 2 * C + h * hd;
    const float *a = c->catt + (size_t)h * T * T, *dy = c->dout + h * hd;
    float *da = c->datt + (size_t)h * T * T;
    /* da (T, T) = dout_h (T, hd) @ v_h^T ;  dv_h (T, hd) += a^T @ dout_h */
    dlut_sgemm(0, 1, T, T, hd, 1.0f, dy, C, v, ld, 0.0f, da, T);
    dlut_sgemm(1, 0, T, hd, T, 1.0f, a, T, dy, C, 1.0f, c->dqkv + 2 * C + h * hd, ld);
    /* softmax backward in place: ds = scale * a * (da - sum_j a_j da_j) */
    for (int i = 0; i < T; i++) {
      const float *ai = a + (size_t)i * T;
      float *di = da + (size_t)i * T, dot = 0.0f;
      if (vec) { /* the dot product in vector lanes (a different order of the fp32 sum) */
        if (vec == 2)
          dlut_vsoftmax_backward_row(di, ai, T);
        else
          dlut_vsoftmax_backward_row_avx2(di, ai, T);
        for (int j = 0; j < T; j++) di[j] *= scale;
        continue;
      }
      for (int j = 0; j < T; j++) dot += ai[j] * di[j];
      for (int j = 0; j < T; j++) di[j] = scale * ai[j] * (di[j] - dot);
    }
    /* dq_h += ds (T,T) @ k_h ;  dk_h += ds^T @ q_h */
    dlut_sgemm(0, 0, T, hd, T, 1.0f, da, T, k, ld, 1.0f, c->dqkv + h * hd, ld);
    dlut_sgemm(1, 0, T, hd, T, 1.0f, da, T, q, ld, 1.0f, c->dqkv + C + h * hd, ld);
  }
}

static void cpu_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, int ld_qkv,
                                   const float *att, int T, int C, int NH) {
  attn_ctx c = {
      .dqkv = dqkv, .datt = datt, .dout = dout, .qkv = qkv, .catt = att, .ld = ld_qkv, .T = T, .C = C, .NH = NH};
  dlut_parallel_for(NH, 1, attn_bwd_heads, &c);
}

/* ==== Patch embedding (conv2d, kernel = stride = p) ==== */

typedef struct {
  float *cols, *dpix;
  const float *pix, *dcols;
  int S, p, G;
} im2col_ctx;

/* cols row (gy*G+gx), column (c*p + ky)*p + kx  <->  pixel (c, gy*p+ky, gx*p+kx).
 * Patches do not overlap, so col2im is a scatter without collisions and
 * can be parallel over patches. */
static void im2col_range(void *vctx, int64_t p0, int64_t p1, int thread) {
  (void)thread;
  im2col_ctx *c = vctx;
  int S = c->S, p = c->p, G = c->G, K = 3 * p * p;
  for (int64_t pi = p0; pi < p1; pi++) {
    int gy = (int)(pi / G), gx = (int)(pi % G);
    float *row = c->cols + pi * K;
    for (int ch = 0; ch < 3; ch++)
      for (int ky = 0; ky < p; ky++)
        memcpy(row + (ch * p + ky) * p, c->pix + ((size_t)ch * S + (size_t)gy * p + ky) * S + (size_t)gx * p,
               sizeof(float) * (size_t)p);
  }
}

static void col2im_range(void *vctx, int64_t p0, int64_t p1, int thread) {
  (void)thread;
  im2col_ctx *c = vctx;
  int S = c->S, p = c->p, G = c->G, K = 3 * p * p;
  for (int64_t pi = p0; pi < p1; pi++) {
    int gy = (int)(pi / G), gx = (int)(pi % G);
    const float *row = c->dcols + pi * K;
    for (int ch = 0; ch < 3; ch++)
      for (int ky = 0; ky < p; ky++) {
        float *dst = c->dpix + ((size_t)ch * S + (size_t)gy * p + ky) * S + (size_t)gx * p;
        const float *src = row + (ch * p + ky) * p;
        for (int kx = 0; kx < p; kx++) dst[kx] += src[kx];
      }
  }
}

static void cpu_patch_forward(float *out, int ld_out, float *cols, const float *pixels, const float *w, int S, int p,
                              int D) {
  int G = S / p, P = G * G, K = 3 * p * p;
  im2col_ctx c = {.cols = cols, .pix = pixels, .S = S, .p = p, .G = G};
  dlut_parallel_for(P, 8, im2col_range, &c);
  cpu_matmul_forward(out, ld_out, cols, w, NULL, P, K, D);
}

static void cpu_patch_backward(float *dpixels, float *dcols, const float *dout, int ld_dout, const float *w, int S,
                               int p, int D) {
  int G = S / p, P = G * G, K = 3 * p * p;
  /* dcols (P, K) = dout (P, D) @ w (D, K) */
  dlut_sgemm_par(0, 0, P, K, D, 1.0f, dout, ld_dout, w, K, 0.0f, dcols, K);
  im2col_ctx c = {.dcols = dcols, .dpix = dpixels, .S = S, .p = p, .G = G};
  dlut_parallel_for(P, 8, col2im_range, &c);
}

/* ==== The table ==== */

static const dlut_tensor_backend k_cpu = {
    .name = "cpu",
    .matmul_forward = cpu_matmul_forward,
    .matmul_backward = cpu_matmul_backward,
    .layernorm_forward = cpu_layernorm_forward,
    .layernorm_backward = cpu_layernorm_backward,
    .act_forward = cpu_act_forward,
    .act_backward = cpu_act_backward,
    .attention_forward = cpu_attention_forward,
    .attention_probs = cpu_attention_probs,
    .attention_backward = cpu_attention_backward,
    .patch_forward = cpu_patch_forward,
    .patch_backward = cpu_patch_backward,
};

const dlut_tensor_backend *dlut_tensor_backend_cpu(void) {
  return &k_cpu;
}
