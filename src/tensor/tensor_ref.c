/* The reference backend of dlut/tensor.h: the most direct loops for every
 * kernel, single-threaded, accumulating in double. It is the yardstick for
 * the CPU backend (tests/test_tensor.c compares them on random inputs) and
 * the baseline of bench/bench_clip.c. It allocates nothing: attention keeps
 * its probabilities in the caller's att buffer like the fast version. */
#include <math.h>
#include <string.h>

#include "dlut/tensor.h"

static void ref_matmul_forward(float *out, int ld_out, const float *inp, const float *w, const float *bias, int N,
                               int C, int OC) {
  for (int i = 0; i < N; i++)
    for (int o = 0; o < OC; o++) {
      double s = bias ? bias[o] : 0.0;
      for (int c = 0; c < C; c++) s += (double)inp[(size_t)i * C + c] * w[(size_t)o * C + c];
      out[(size_t)i * ld_out + o] = (float)s;
    }
}

static void ref_matmul_backward(float *dinp, const float *dout, int ld_dout, const float *w, int N, int C, int OC) {
  for (int i = 0; i < N; i++)
    for (int c = 0; c < C; c++) {
      double s = 0.0;
      for (int o = 0; o < OC; o++) s += (double)dout[(size_t)i * ld_dout + o] * w[(size_t)o * C + c];
      dinp[(size_t)i * C + c] += (float)s;
    }
}

static void ref_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                  const float *b, int N, int C, float eps) {
  for (int r = 0; r < N; r++) {
    const float *x = inp + (size_t)r * C;
    double m = 0.0, v = 0.0;
    for (int i = 0; i < C; i++) m += x[i];
    m /= C;
    for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
    v /= C;
    double rs = 1.0 / sqrt(v + eps);
    for (int i = 0; i < C; i++) out[(size_t)r * C + i] = (float)((x[i] - m) * rs * w[i] + b[i]);
    mean[r] = (float)m;
    rstd[r] = (float)rs;
  }
}

/* Written from the Jacobian directly: dx_i = sum_j dy_j w_j d xhat_j / d x_i,
 * d xhat_j / d x_i = rstd (delta_ij - 1/C - xhat_i xhat_j / C). */
static void ref_layernorm_backward(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                                   const float *rstd, int N, int C) {
  for (int r = 0; r < N; r++) {
    const float *x = inp + (size_t)r * C, *dy = dout + (size_t)r * C;
    double m = mean[r], rs = rstd[r];
    for (int i = 0; i < C; i++) {
      double xi = (x[i] - m) * rs, s = 0.0;
      for (int j = 0; j < C; j++) {
        double xj = (x[j] - m) * rs;
        s += dy[j] * w[j] * rs * ((i == j) - 1.0 / C - xi * xj / C);
      }
      dinp[(size_t)r * C + i] += (float)s;
    }
  }
}

static void ref_act_forward(float *out, const float *inp, int64_t n, dlut_act act) {
  for (int64_t i = 0; i < n; i++) out[i] = dlut_act_value(inp[i], act);
}

static void ref_act_backward(float *dinp, const float *inp, const float *dout, int64_t n, dlut_act act) {
  for (int64_t i = 0; i < n; i++) dinp[i] += dlut_act_grad(inp[i], act) * dout[i];
}

/* The attention probabilities softmax(q k^T / sqrt(hd) + key_bias), causal if asked:
 * att (NH, T, T). The forward and the backward both take them from here. */
static void ref_attention_probs(float *att, const float *qkv, int ld_qkv, int T, int C, int NH, int causal,
                                const float *key_bias) {
  int hd = C / NH;
  double scale = 1.0 / sqrt((double)hd);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++) {
      float *a = att + ((size_t)h * T + i) * T;
      double mx = -INFINITY, s = 0.0;
      for (int j = 0; j < T; j++) {
        if (causal && j > i) continue;
        double d = 0.0;
        for (int e = 0; e < hd; e++)
          d += (double)qkv[(size_t)i * ld_qkv + h * hd + e] * qkv[(size_t)j * ld_qkv + C + h * hd + e];
        d = d * scale + (key_bias ? key_bias[j] : 0.0);
        a[j] = (float)d;
        if (d > mx) mx = d;
      }
      for (int j = 0; j < T; j++) {
        if (causal && j > i) {
          a[j] = 0.0f;
          continue;
        }
        double e = exp(a[j] - mx);
        a[j] = (float)e;
        s += e;
      }
      for (int j = 0; j < T; j++) a[j] = (float)(a[j] / s);
    }
}

static void ref_attention_forward(float *out, float *att, const float *qkv, int ld_qkv, int T, int C, int NH,
                                  int causal, const float *key_bias) {
  int hd = C / NH;
  ref_attention_probs(att, qkv, ld_qkv, T, C, NH, causal, key_bias);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++) {
      const float *a = att + ((size_t)h * T + i) * T;
      for (int e = 0; e < hd; e++) {
        double o = 0.0;
        for (int j = 0; j < T; j++) o += (double)a[j] * qkv[(size_t)j * ld_qkv + 2 * C + h * hd + e];
        out[(size_t)i * C + h * hd + e] = (float)o;
      }
    }
}

static void ref_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv, int ld_qkv,
                                   const float *att, int T, int C, int NH) {
  int hd = C / NH;
  double scale = 1.0 / sqrt((double)hd);
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++) {
      const float *a = att + ((size_t)h * T + i) * T;
      float *da = datt + ((size_t)h * T + i) * T;
      const float *dy = dout + (size_t)i * C + h * hd;
      /* d a_ij = dy_i . v_j ; dv_j += a_ij dy_i */
      for (int j = 0; j < T; j++) {
        double s = 0.0;
        for (int e = 0; e < hd; e++) {
          s += (double)dy[e] * qkv[(size_t)j * ld_qkv + 2 * C + h * hd + e];
          dqkv[(size_t)j * ld_qkv + 2 * C + h * hd + e] += a[j] * dy[e];
        }
        da[j] = (float)s;
      }
      double dot = 0.0;
      for (int j = 0; j < T; j++) dot += (double)a[j] * da[j];
      for (int j = 0; j < T; j++) {
        double ds = a[j] * (da[j] - dot) * scale; /* d logit_ij */
        for (int e = 0; e < hd; e++) {
          dqkv[(size_t)i * ld_qkv + h * hd + e] += (float)(ds * qkv[(size_t)j * ld_qkv + C + h * hd + e]);
          dqkv[(size_t)j * ld_qkv + C + h * hd + e] += (float)(ds * qkv[(size_t)i * ld_qkv + h * hd + e]);
        }
      }
    }
}

/* Direct convolution, no im2col: out[patch, d] = sum_{c,ky,kx} w[d,c,ky,kx] pix[c, gy p+ky, gx p+kx]. */
static void ref_patch_forward(float *out, int ld_out, float *cols, const float *pixels, const float *w, int S, int p,
                              int D) {
  (void)cols;
  int G = S / p;
  for (int gy = 0; gy < G; gy++)
    for (int gx = 0; gx < G; gx++)
      for (int d = 0; d < D; d++) {
        double s = 0.0;
        for (int c = 0; c < 3; c++)
          for (int ky = 0; ky < p; ky++)
            for (int kx = 0; kx < p; kx++)
              s += (double)w[(((size_t)d * 3 + c) * p + ky) * p + kx] *
                   pixels[((size_t)c * S + gy * p + ky) * S + gx * p + kx];
        out[(size_t)(gy * G + gx) * ld_out + d] = (float)s;
      }
}

static void ref_patch_backward(float *dpixels, float *dcols, const float *dout, int ld_dout, const float *w, int S,
                               int p, int D) {
  (void)dcols;
  int G = S / p;
  for (int gy = 0; gy < G; gy++)
    for (int gx = 0; gx < G; gx++)
      for (int c = 0; c < 3; c++)
        for (int ky = 0; ky < p; ky++)
          for (int kx = 0; kx < p; kx++) {
            double s = 0.0;
            for (int d = 0; d < D; d++)
              s += (double)dout[(size_t)(gy * G + gx) * ld_dout + d] * w[(((size_t)d * 3 + c) * p + ky) * p + kx];
            dpixels[((size_t)c * S + gy * p + ky) * S + gx * p + kx] += (float)s;
          }
}

static const dlut_tensor_backend k_ref = {
    .name = "ref",
    .matmul_forward = ref_matmul_forward,
    .matmul_backward = ref_matmul_backward,
    .layernorm_forward = ref_layernorm_forward,
    .layernorm_backward = ref_layernorm_backward,
    .act_forward = ref_act_forward,
    .act_backward = ref_act_backward,
    .attention_forward = ref_attention_forward,
    .attention_probs = ref_attention_probs,
    .attention_backward = ref_attention_backward,
    .patch_forward = ref_patch_forward,
    .patch_backward = ref_patch_backward,
};

const dlut_tensor_backend *dlut_tensor_backend_ref(void) {
  return &k_ref;
}
