/* tests/test_tensor.c - the kernels of dlut/tensor.h.
 *
 * For every op: (1) the CPU backend matches the naive reference backend on
 * random inputs (forward and backward, relative error 1e-5 of the array
 * max), and (2) each backend's backward matches central finite differences
 * of its own forward, in the style of ggml's test-backend-ops: a random
 * probe r defines L(x) = sum r . f(x), dL/dx is the backward applied to r,
 * and each coordinate of x is nudged by +-h. */
#include <stdint.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"
#include "test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}
static float *rnd(size_t n, float scale) {
  float *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++) p[i] = frand() * scale;
  return p;
}
static float *zeros(size_t n) {
  return calloc(n, sizeof(float));
}

static double max_rel(const float *a, const float *b, size_t n) {
  double mx = 0, md = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - b[i]);
    if (d > md) md = d;
    if (fabs(b[i]) > mx) mx = fabs(b[i]);
  }
  return mx > 0 ? md / mx : md;
}

/* ==== finite differences ==== */

/* f(ctx, x, y): computes y from x (the op's forward). */
typedef void (*fwd_fn)(void *ctx, const float *x, float *y);

/* Compare grad (from a backward, for probe r) against central differences
 * of sum(r * f(x)). Returns the max error relative to max|grad|. */
static double fd_check(fwd_fn f, void *ctx, float *x, size_t nx, size_t ny, const float *r, const float *grad,
                       float h) {
  float *y = malloc(ny * sizeof *y);
  double worst = 0, gmax = 0;
  for (size_t i = 0; i < nx; i++) gmax = fmax(gmax, fabs(grad[i]));
  for (size_t i = 0; i < nx; i++) {
    float x0 = x[i];
    double lp = 0, lm = 0;
    x[i] = x0 + h;
    f(ctx, x, y);
    for (size_t k = 0; k < ny; k++) lp += (double)r[k] * y[k];
    x[i] = x0 - h;
    f(ctx, x, y);
    for (size_t k = 0; k < ny; k++) lm += (double)r[k] * y[k];
    x[i] = x0;
    double fd = (lp - lm) / (2.0 * h);
    worst = fmax(worst, fabs(fd - grad[i]));
  }
  free(y);
  return gmax > 0 ? worst / gmax : worst;
}

/* ==== matmul ==== */

typedef struct {
  const dlut_tensor_backend *be;
  const float *w, *b;
  int N, C, OC;
} mm_ctx;
static void mm_f(void *vc, const float *x, float *y) {
  mm_ctx *c = vc;
  c->be->matmul_forward(y, c->OC, x, c->w, c->b, c->N, c->C, c->OC);
}

static void test_matmul(void) {
  const dlut_tensor_backend *cpu = dlut_tensor_backend_cpu(), *ref = dlut_tensor_backend_ref();
  int N = 13, C = 24, OC = 20, LD = 45;
  float *x = rnd((size_t)N * C, 1), *w = rnd((size_t)OC * C, 0.5f), *b = rnd(OC, 0.3f);
  float *y1 = zeros((size_t)N * LD), *y2 = zeros((size_t)N * LD);
  cpu->matmul_forward(y1, LD, x, w, b, N, C, OC);
  ref->matmul_forward(y2, LD, x, w, b, N, C, OC);
  CHECK_MSG(max_rel(y1, y2, (size_t)N * LD) < 1e-5, "matmul fwd cpu vs ref %g", max_rel(y1, y2, (size_t)N * LD));
  /* columns beyond OC untouched (the slice contract) */
  CHECK(y1[OC] == 0.0f && y1[LD - 1] == 0.0f);
  cpu->matmul_forward(y1, LD, x, w, NULL, N, C, OC);
  ref->matmul_forward(y2, LD, x, w, NULL, N, C, OC);
  CHECK(max_rel(y1, y2, (size_t)N * LD) < 1e-5);

  float *r = rnd((size_t)N * OC, 1), *g1 = rnd((size_t)N * C, 1), *g2 = malloc(sizeof(float) * N * C);
  memcpy(g2, g1, sizeof(float) * N * C); /* accumulate onto the same non-zero start */
  cpu->matmul_backward(g1, r, OC, w, N, C, OC);
  ref->matmul_backward(g2, r, OC, w, N, C, OC);
  CHECK_MSG(max_rel(g1, g2, (size_t)N * C) < 1e-5, "matmul bwd cpu vs ref");
  float *g = zeros((size_t)N * C);
  cpu->matmul_backward(g, r, OC, w, N, C, OC);
  mm_ctx c = {ref, w, b, N, C, OC};
  double e = fd_check(mm_f, &c, x, (size_t)N * C, (size_t)N * OC, r, g, 1e-2f);
  CHECK_MSG(e < 1e-3, "matmul FD %g", e);
  free(x), free(w), free(b), free(y1), free(y2), free(r), free(g1), free(g2), free(g);
}

/* Shapes big enough that the CPU backend splits the GEMM over the pool,
 * by columns (M <= N) and by rows (M > N), forward and backward. */
static void test_matmul_split(int N, int C, int OC) {
  const dlut_tensor_backend *cpu = dlut_tensor_backend_cpu(), *ref = dlut_tensor_backend_ref();
  int LD = OC + 3;
  float *x = rnd((size_t)N * C, 1), *w = rnd((size_t)OC * C, 0.5f), *b = rnd(OC, 0.3f);
  float *y1 = zeros((size_t)N * LD), *y2 = zeros((size_t)N * LD);
  cpu->matmul_forward(y1, LD, x, w, b, N, C, OC);
  ref->matmul_forward(y2, LD, x, w, b, N, C, OC);
  CHECK_MSG(max_rel(y1, y2, (size_t)N * LD) < 1e-5, "split matmul fwd %dx%dx%d", N, C, OC);
  float *g1 = zeros((size_t)N * C), *g2 = zeros((size_t)N * C);
  cpu->matmul_backward(g1, y2, LD, w, N, C, OC);
  ref->matmul_backward(g2, y2, LD, w, N, C, OC);
  CHECK_MSG(max_rel(g1, g2, (size_t)N * C) < 1e-5, "split matmul bwd %dx%dx%d", N, C, OC);
  free(x), free(w), free(b), free(y1), free(y2), free(g1), free(g2);
}

/* ==== layernorm ==== */

typedef struct {
  const dlut_tensor_backend *be;
  const float *w, *b;
  float *mean, *rstd;
  int N, C;
  float eps;
} ln_ctx;
static void ln_f(void *vc, const float *x, float *y) {
  ln_ctx *c = vc;
  c->be->layernorm_forward(y, c->mean, c->rstd, x, c->w, c->b, c->N, c->C, c->eps);
}

static void test_layernorm(void) {
  const dlut_tensor_backend *bes[2] = {dlut_tensor_backend_cpu(), dlut_tensor_backend_ref()};
  int N = 7, C = 33;
  float *x = rnd((size_t)N * C, 2), *w = rnd(C, 1), *b = rnd(C, 0.5f);
  for (int i = 0; i < C; i++) w[i] += 1.0f;
  for (int i = 0; i < C; i++) x[i] += 100.0f; /* a row with a large offset */
  float *y[2], *m[2], *s[2], *g[2], *r = rnd((size_t)N * C, 1);
  for (int k = 0; k < 2; k++) {
    y[k] = zeros((size_t)N * C), m[k] = zeros(N), s[k] = zeros(N), g[k] = zeros((size_t)N * C);
    bes[k]->layernorm_forward(y[k], m[k], s[k], x, w, b, N, C, 1e-5f);
    bes[k]->layernorm_backward(g[k], r, x, w, m[k], s[k], N, C);
  }
  CHECK_MSG(max_rel(y[0], y[1], (size_t)N * C) < 1e-5, "ln fwd cpu vs ref %g", max_rel(y[0], y[1], (size_t)N * C));
  CHECK_MSG(max_rel(g[0], g[1], (size_t)N * C) < 1e-4, "ln bwd cpu vs ref %g", max_rel(g[0], g[1], (size_t)N * C));
  /* output rows have mean b-weighted... check normalisation directly: w=1,b=0 gives mean 0, var 1 */
  float *ones = zeros(C), *zs = zeros(C);
  for (int i = 0; i < C; i++) ones[i] = 1.0f;
  bes[0]->layernorm_forward(y[0], m[0], s[0], x, ones, zs, N, C, 1e-5f);
  double mu = 0, var = 0;
  for (int i = 0; i < C; i++) mu += y[0][C + i];
  mu /= C;
  for (int i = 0; i < C; i++) var += (y[0][C + i] - mu) * (y[0][C + i] - mu);
  CHECK_NEAR(mu, 0.0, 1e-5);
  CHECK_NEAR(var / C, 1.0, 1e-3);
  for (int k = 0; k < 2; k++) {
    /* FD over rows 1.. (row 0 has a +100 offset: float FD there would be noise) */
    ln_ctx c = {bes[k], w, b, m[1], s[1], N - 1, C, 1e-5f};
    double e = fd_check(ln_f, &c, x + C, (size_t)(N - 1) * C, (size_t)(N - 1) * C, r + C, g[k] + C, 1e-2f);
    CHECK_MSG(e < 2e-3, "ln FD (%s) %g", bes[k]->name, e);
  }
  for (int k = 0; k < 2; k++) free(y[k]), free(m[k]), free(s[k]), free(g[k]);
  free(x), free(w), free(b), free(r), free(ones), free(zs);
}

/* ==== activations ==== */

typedef struct {
  const dlut_tensor_backend *be;
  dlut_act act;
  int n;
} act_ctx;
static void act_f(void *vc, const float *x, float *y) {
  act_ctx *c = vc;
  c->be->act_forward(y, x, c->n, c->act);
}

static void test_act(void) {
  const dlut_tensor_backend *cpu = dlut_tensor_backend_cpu();
  dlut_act acts[3] = {DLUT_ACT_QUICK_GELU, DLUT_ACT_GELU, DLUT_ACT_GELU_TANH};
  int n = 101;
  float *x = rnd(n, 4), *y = zeros(n), *r = rnd(n, 1), *g = zeros(n);
  /* known values: gelu(1) = 0.8413447, quick_gelu(1) = 1/(1+e^-1.702) */
  CHECK_NEAR(dlut_act_value(1.0f, DLUT_ACT_GELU), 0.841344746, 1e-6);
  CHECK_NEAR(dlut_act_value(1.0f, DLUT_ACT_QUICK_GELU), 1.0 / (1.0 + exp(-1.702)), 1e-6);
  CHECK_NEAR(dlut_act_value(1.0f, DLUT_ACT_GELU_TANH), 0.841191990, 1e-6);
  for (int a = 0; a < 3; a++) {
    /* the scalar formulas exactly, except QuickGELU where the CPU has
     * AVX512 or AVX2: a vector exp (bf16.c, vec_avx2.c), a few ulp from expf */
    int vec = acts[a] == DLUT_ACT_QUICK_GELU && (dlut_cpu_has_avx512() || dlut_cpu_has_avx2());
    cpu->act_forward(y, x, n, acts[a]);
    for (int i = 0; i < n; i++) {
      float want = dlut_act_value(x[i], acts[a]);
      CHECK_NEAR(y[i], want, vec ? 4e-7 * fabs(want) + 1e-12 : 0);
    }
    for (int i = 0; i < n; i++) g[i] = 0.25f;
    cpu->act_backward(g, x, r, n, acts[a]); /* adds */
    for (int i = 0; i < n; i++) {
      float want = 0.25f + dlut_act_grad(x[i], acts[a]) * r[i];
      CHECK_NEAR(g[i], want, vec ? 4e-7 * (fabs(want) + 0.25) : 0);
    }
    memset(g, 0, sizeof(float) * n);
    cpu->act_backward(g, x, r, n, acts[a]);
    act_ctx c = {cpu, acts[a], n};
    double e = fd_check(act_f, &c, x, n, n, r, g, 1e-3f);
    CHECK_MSG(e < 2e-3, "act %d FD %g", a, e);
  }
  /* in place forward */
  memcpy(y, x, sizeof(float) * n);
  cpu->act_forward(y, y, n, DLUT_ACT_GELU);
  CHECK_NEAR(y[5], dlut_act_value(x[5], DLUT_ACT_GELU), 0);
  free(x), free(y), free(r), free(g);
}

/* ==== attention ==== */

typedef struct {
  const dlut_tensor_backend *be;
  float *att;
  const float *kb;
  int T, C, NH, causal, ld;
} at_ctx;
static void at_f(void *vc, const float *x, float *y) {
  at_ctx *c = vc;
  c->be->attention_forward(y, c->att, x, c->ld, c->T, c->C, c->NH, c->causal, c->kb);
}

static void test_attention_case(int causal, int use_bias) {
  const dlut_tensor_backend *bes[2] = {dlut_tensor_backend_cpu(), dlut_tensor_backend_ref()};
  int T = 9, C = 12, NH = 3, LD = 3 * C + 5;
  float *qkv = rnd((size_t)T * LD, 1.5f), *r = rnd((size_t)T * C, 1);
  float kb[9] = {0, 0, 0, 0, 0, 0, -10000.0f, -10000.0f, -10000.0f};
  const float *kbp = use_bias ? kb : NULL;
  float *out[2], *att[2], *g[2], *datt = zeros((size_t)NH * T * T);
  for (int k = 0; k < 2; k++) {
    out[k] = zeros((size_t)T * C), att[k] = zeros((size_t)NH * T * T), g[k] = zeros((size_t)T * LD);
    bes[k]->attention_forward(out[k], att[k], qkv, LD, T, C, NH, causal, kbp);
    bes[k]->attention_backward(g[k], datt, r, qkv, LD, att[k], T, C, NH);
  }
  CHECK_MSG(max_rel(out[0], out[1], (size_t)T * C) < 1e-5, "attn fwd causal=%d bias=%d", causal, use_bias);
  CHECK_MSG(max_rel(att[0], att[1], (size_t)NH * T * T) < 1e-5, "attn probs");
  CHECK_MSG(max_rel(g[0], g[1], (size_t)T * LD) < 1e-4, "attn bwd causal=%d bias=%d %g", causal, use_bias,
            max_rel(g[0], g[1], (size_t)T * LD));
  /* rows sum to 1; causal zeros above the diagonal; masked keys get ~0 */
  for (int h = 0; h < NH; h++)
    for (int i = 0; i < T; i++) {
      double s = 0;
      for (int j = 0; j < T; j++) s += att[0][((size_t)h * T + i) * T + j];
      CHECK_NEAR(s, 1.0, 1e-5);
      if (causal && i < T - 1) CHECK(att[0][((size_t)h * T + i) * T + T - 1] == 0.0f);
      if (use_bias && !causal) CHECK(att[0][((size_t)h * T + i) * T + 7] < 1e-30f);
    }
  /* attention_probs recomputes exactly the forward's probabilities */
  for (int k = 0; k < 2; k++) {
    float *p2 = zeros((size_t)NH * T * T);
    bes[k]->attention_probs(p2, qkv, LD, T, C, NH, causal, kbp);
    CHECK_MSG(memcmp(p2, att[k], sizeof(float) * NH * T * T) == 0, "attention_probs (%s) differs from the forward",
              bes[k]->name);
    free(p2);
  }
  /* the padding columns of qkv carry no gradient */
  CHECK(g[0][3 * C] == 0.0f && g[0][LD - 1] == 0.0f);
  for (int k = 0; k < 2; k++) {
    at_ctx c = {bes[k], att[1], kbp, T, C, NH, causal, LD};
    double e = fd_check(at_f, &c, qkv, (size_t)T * LD, (size_t)T * C, r, g[k], 1e-2f);
    CHECK_MSG(e < 3e-3, "attn FD (%s) causal=%d bias=%d %g", bes[k]->name, causal, use_bias, e);
  }
  for (int k = 0; k < 2; k++) free(out[k]), free(att[k]), free(g[k]);
  free(qkv), free(r), free(datt);
}

/* ==== patch conv ==== */

typedef struct {
  const dlut_tensor_backend *be;
  const float *w;
  float *cols;
  int S, p, D;
} pc_ctx;
static void pc_f(void *vc, const float *x, float *y) {
  pc_ctx *c = vc;
  c->be->patch_forward(y, c->D, c->cols, x, c->w, c->S, c->p, c->D);
}

static void test_patch(void) {
  const dlut_tensor_backend *bes[2] = {dlut_tensor_backend_cpu(), dlut_tensor_backend_ref()};
  int S = 12, p = 4, D = 5, G = S / p, P = G * G, K = 3 * p * p, LD = D + 3;
  float *pix = rnd((size_t)3 * S * S, 1), *w = rnd((size_t)D * K, 0.3f), *cols = zeros((size_t)P * K);
  float *out[2], *g[2], *r = rnd((size_t)P * LD, 1);
  for (int k = 0; k < 2; k++) {
    out[k] = zeros((size_t)P * LD), g[k] = zeros((size_t)3 * S * S);
    bes[k]->patch_forward(out[k], LD, cols, pix, w, S, p, D);
    bes[k]->patch_backward(g[k], cols, r, LD, w, S, p, D);
  }
  CHECK(max_rel(out[0], out[1], (size_t)P * LD) < 1e-5);
  CHECK(max_rel(g[0], g[1], (size_t)3 * S * S) < 1e-5);
  /* one hand-computed value: patch (gy=1, gx=2), channel d=3 */
  double s = 0;
  for (int c = 0; c < 3; c++)
    for (int ky = 0; ky < p; ky++)
      for (int kx = 0; kx < p; kx++) s += w[((3 * 3 + c) * p + ky) * p + kx] * pix[(c * S + p + ky) * S + 2 * p + kx];
  CHECK_NEAR(out[0][(1 * G + 2) * LD + 3], s, 1e-5);
  float *r2 = zeros((size_t)P * D);
  for (int i = 0; i < P; i++) memcpy(r2 + (size_t)i * D, r + (size_t)i * LD, sizeof(float) * D);
  for (int k = 0; k < 2; k++) {
    pc_ctx c = {bes[k], w, cols, S, p, D};
    double e = fd_check(pc_f, &c, pix, (size_t)3 * S * S, (size_t)P * D, r2, g[k], 1e-2f);
    CHECK_MSG(e < 1e-3, "patch FD %g", e);
  }
  for (int k = 0; k < 2; k++) free(out[k]), free(g[k]);
  free(pix), free(w), free(cols), free(r), free(r2);
}

/* The AVX2 vector passes (src/tensor/vec_avx2.c) against double: exp over
 * the whole float range, its clamps (0 below -87.3, finite up to 88.7,
 * +inf above), every tail length 0..7, softmax rows and their backward,
 * QuickGELU forward and backward-add. */
static void test_vec_avx2(void) {
  if (!dlut_cpu_has_avx2()) {
    printf("test_tensor: this CPU has no AVX2 + FMA: the AVX2 vector passes not checked here\n");
    return;
  }
  enum { N = 400 };
  float in[N], out[N];
  for (int i = 0; i < N; i++) in[i] = -100.0f + 190.0f * i / (N - 1); /* -100 .. 90 */
  dlut_vexp_sub_sum_avx2(out, in, N, 1.0f, 0.0f); /* the sum is +inf here (lanes above 88.7): tails below */
  double worst = 0;
  for (int i = 0; i < N; i++) {
    double r = exp((double)in[i]);
    if (in[i] < -87.3f) {
      CHECK_MSG(out[i] == 0.0f || out[i] < 1e-37f, "exp(%g) = %g, want ~0", in[i], out[i]);
      continue;
    }
    if (in[i] > 88.7f) {
      CHECK_MSG(isinf(out[i]) || out[i] > 3e38f, "exp(%g) = %g, want inf", in[i], out[i]);
      continue;
    }
    worst = fmax(worst, fabs(out[i] - r) / r);
  }
  CHECK_MSG(worst < 4e-7, "vexp avx2 relative error %g", worst);
  float e887[8] = {88.5f, 88.6f, 88.7f, 88.38f, -87.0f, -87.3f, 0.0f, 1.0f}, o887[8];
  dlut_vexp_sub_sum_avx2(o887, e887, 8, 1.0f, 0.0f);
  for (int i = 0; i < 8; i++)
    CHECK_MSG(isfinite(o887[i]) && fabs(o887[i] - exp((double)e887[i])) <= 4e-7 * exp((double)e887[i]),
              "exp(%g) = %g near the ends of the range", e887[i], o887[i]);
  /* tails: the sum counts only the n lanes, nothing beyond n is written */
  for (int n = 0; n <= 19; n++) {
    float x[24], y[24];
    for (int i = 0; i < 24; i++) x[i] = 0.1f * i - 1.0f, y[i] = -7.0f;
    float sum = dlut_vexp_sub_sum_avx2(y, x, n, 0.5f, 0.25f);
    double want = 0;
    for (int i = 0; i < n; i++) want += exp(0.5 * x[i] - 0.25);
    CHECK_MSG(fabs(sum - want) <= 1e-6 * (want + 1), "vexp sum n=%d: %g, want %g", n, sum, want);
    for (int i = n; i < 24; i++) CHECK(y[i] == -7.0f);
  }
  /* softmax row and backward */
  for (int n = 1; n <= 77; n += 19) {
    float row[80], p[80], d[80], g[80];
    double mx = -1e30, sum = 0, es = 0, eb = 0, dot = 0;
    for (int i = 0; i < n; i++) row[i] = 5.0f * frand(), mx = fmax(mx, row[i]), d[i] = frand();
    for (int i = 0; i < n; i++) sum += exp(row[i] - mx);
    memcpy(p, row, sizeof row);
    float lse = dlut_vsoftmax_row_avx2(p, n);
    CHECK(fabs(lse - (mx + log(sum))) < 1e-5 * fabs(mx + log(sum)) + 1e-6);
    for (int i = 0; i < n; i++) es = fmax(es, fabs(p[i] - exp(row[i] - mx) / sum)), dot += (double)p[i] * d[i];
    memcpy(g, d, sizeof d);
    dlut_vsoftmax_backward_row_avx2(g, p, n);
    for (int i = 0; i < n; i++) eb = fmax(eb, fabs(g[i] - p[i] * (d[i] - dot)));
    CHECK_MSG(es < 1e-6 && eb < 1e-6, "softmax row avx2 n=%d: %g, backward %g", n, es, eb);
  }
  /* QuickGELU */
  float x[101], y[101], gq[101], dy[101];
  for (int i = 0; i < 101; i++) x[i] = (i - 50) * 0.37f, dy[i] = frand(), gq[i] = 0.5f;
  dlut_vquickgelu_avx2(y, x, 101);
  dlut_vquickgelu_backward_add_avx2(gq, x, dy, 101);
  double ef = 0, eg = 0;
  for (int i = 0; i < 101; i++) {
    double v = dlut_act_value(x[i], DLUT_ACT_QUICK_GELU), gr = 0.5 + dlut_act_grad(x[i], DLUT_ACT_QUICK_GELU) * dy[i];
    ef = fmax(ef, fabs(y[i] - v) / (fabs(v) + 1e-6));
    eg = fmax(eg, fabs(gq[i] - gr) / (fabs(gr) + 0.5));
  }
  CHECK_MSG(ef < 1e-6 && eg < 1e-6, "quickgelu avx2 %g, backward %g", ef, eg);
}

int main(void) {
  dlut_tensor_threads_sync();
  test_vec_avx2();
  test_matmul();
  test_layernorm();
  test_act();
  for (int causal = 0; causal < 2; causal++)
    for (int bias = 0; bias < 2; bias++) test_attention_case(causal, bias);
  test_patch();
  int nt = dlut_threads_get();
  for (int t = 2; t <= 3; t++) { /* the split paths, whatever the machine */
    dlut_threads_set(t);
    test_matmul_split(150, 64, 200); /* by columns */
    test_matmul_split(300, 64, 100); /* by rows (and the backward by columns) */
    test_matmul_split(97, 300, 130); /* uneven blocks */
    test_attention_case(1, 1);
    test_patch();
  }
  dlut_threads_set(nt);
  dlut_threads_set(1);
  dlut_tensor_threads_sync();
  test_attention_case(1, 0); /* single-threaded path too */
  test_layernorm();
  return test_summary("tensor");
}
