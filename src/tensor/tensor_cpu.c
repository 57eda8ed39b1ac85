/* The canonical CPU backend of dlut/tensor.h: GEMMs on OpenBLAS
 * (cblas_sgemm), everything else plain C loops spread over the dlut thread
 * pool. Each forward has its backward right after it; the naive
 * counterparts live in tensor_ref.c and tests/test_tensor.c holds the two
 * together (and both against finite differences).
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

void dlut_tensor_threads_sync(void) {
  int n = dlut_threads_get();
  if (openblas_get_num_threads() != n) openblas_set_num_threads(n);
}

/* ==== Scalar activations ==== */

float dlut_act_value(float x, dlut_act act) {
  switch (act) {
    case DLUT_ACT_QUICK_GELU: return x / (1.0f + expf(-1.702f * x));
    case DLUT_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
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
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C, beta, out, ld_out);
}

/* dinp (N, C) += dout (N, ld_dout)[:, :OC] @ w (OC, C) */
static void cpu_matmul_backward(float *dinp, const float *dout, int ld_dout, const float *w, int N, int C, int OC) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, ld_dout, w, C, 1.0f, dinp, C);
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

static void cpu_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *w,
                                   const float *mean, const float *rstd, int N, int C) {
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

static void act_fwd_range(void *vctx, int64_t i0, int64_t i1, int thread) {
  (void)thread;
  act_ctx *c = vctx;
  for (int64_t i = i0; i < i1; i++) c->out[i] = dlut_act_value(c->inp[i], c->act);
}

static void act_bwd_range(void *vctx, int64_t i0, int64_t i1, int thread) {
  (void)thread;
  act_ctx *c = vctx;
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

/* Row-wise softmax of the scores already in att (rows of length T):
 * adds the key bias, masks j > i when causal, normalises. */
typedef struct {
  float *att, *datt;
  const float *key_bias;
  int T, causal;
} sm_ctx;

static void softmax_rows(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  sm_ctx *c = vctx;
  int T = c->T;
  for (int64_t r = r0; r < r1; r++) {
    float *a = c->att + r * T;
    int i = (int)(r % T); /* query index */
    int n = c->causal ? i + 1 : T;
    if (c->key_bias)
      for (int j = 0; j < n; j++) a[j] += c->key_bias[j];
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

static void cpu_attention_forward(float *out, float *att, const float *qkv, int ld_qkv, int T, int C, int NH,
                                  int causal, const float *key_bias) {
  int hd = C / NH;
  float scale = 1.0f / sqrtf((float)hd);
  for (int h = 0; h < NH; h++) {
    const float *q = qkv + h * hd, *k = qkv + C + h * hd;
    float *a = att + (size_t)h * T * T;
    /* a (T, T) = scale * q_h (T, hd) @ k_h^T */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, q, ld_qkv, k, ld_qkv, 0.0f, a, T);
  }
  sm_ctx c = {.att = att, .key_bias = key_bias, .T = T, .causal = causal};
  dlut_parallel_for((int64_t)NH * T, 16, softmax_rows, &c);
  for (int h = 0; h < NH; h++) {
    const float *v = qkv + 2 * C + h * hd;
    /* out_h (T, hd) = a (T, T) @ v_h (T, hd) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, att + (size_t)h * T * T, T, v, ld_qkv,
                0.0f, out + h * hd, C);
  }
}

/* softmax backward in place: ds = a * (da - sum_j a_j da_j), times scale */
typedef struct {
  float *datt;
  const float *att;
  int T;
  float scale;
} smb_ctx;

static void softmax_bwd_rows(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  smb_ctx *c = vctx;
  int T = c->T;
  for (int64_t r = r0; r < r1; r++) {
    const float *a = c->att + r * T;
    float *d = c->datt + r * T;
    float dot = 0.0f;
    for (int j = 0; j < T; j++) dot += a[j] * d[j];
    for (int j = 0; j < T; j++) d[j] = c->scale * a[j] * (d[j] - dot);
  }
}

static void cpu_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, int ld_qkv,
                                   const float *att, int T, int C, int NH) {
  int hd = C / NH;
  float scale = 1.0f / sqrtf((float)hd);
  for (int h = 0; h < NH; h++) {
    const float *v = qkv + 2 * C + h * hd, *a = att + (size_t)h * T * T;
    float *da = datt + (size_t)h * T * T;
    /* da (T, T) = dout_h (T, hd) @ v_h^T ;  dv_h (T, hd) += a^T @ dout_h */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dout + h * hd, C, v, ld_qkv, 0.0f, da, T);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, a, T, dout + h * hd, C, 1.0f,
                dqkv + 2 * C + h * hd, ld_qkv);
  }
  smb_ctx c = {.datt = datt, .att = att, .T = T, .scale = scale};
  dlut_parallel_for((int64_t)NH * T, 16, softmax_bwd_rows, &c);
  for (int h = 0; h < NH; h++) {
    const float *q = qkv + h * hd, *k = qkv + C + h * hd, *ds = datt + (size_t)h * T * T;
    /* dq_h += ds (T,T) @ k_h ;  dk_h += ds^T @ q_h   (scale already in ds) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, k, ld_qkv, 1.0f, dqkv + h * hd,
                ld_qkv);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, q, ld_qkv, 1.0f, dqkv + C + h * hd,
                ld_qkv);
  }
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
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, P, K, D, 1.0f, dout, ld_dout, w, K, 0.0f, dcols, K);
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
    .attention_backward = cpu_attention_backward,
    .patch_forward = cpu_patch_forward,
    .patch_backward = cpu_patch_backward,
};

const dlut_tensor_backend *dlut_tensor_backend_cpu(void) { return &k_cpu; }
