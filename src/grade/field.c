/* src/grade/field.c - the MLP field phi of CLIP-DLUT's parameterisation
 * (its `GradientPredictor`): 3 -> h -> h -> h -> 3 with LeakyReLU(0.01),
 * evaluated over every lattice vertex with dlut_sgemm_par, and its backward to
 * the weights (this is our own optimiser's model, so weight gradients are
 * needed here, unlike CLIP's). A naive loop forward is kept beside it.
 *
 * Memory: the forward keeps the three hidden outputs a1..a3 (n x h floats
 * each; 221 MB for 33^3 vertices and h = 512); the LeakyReLU mask is read
 * back from the sign of a_k (LeakyReLU keeps the sign), so pre-activations
 * are not stored. The backward walks the rows in chunks with two chunk x h
 * scratch buffers.
 *
 * The bf16 path (dlut_grade_field_forward's comment in dlut/grade.h) packs
 * the weights of the two h x h layers every forward and backward (they
 * change every step) and each layer's input once; the 3-wide first and
 * last layers stay fp32, as do the sums of the biases' gradients.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/tensor.h"
#include "grade/grade_internal.h"

#define LEAK 0.01f
#define CHUNK 4096

static float uniform(uint64_t *s, float a) { /* U(-a, a) */
  return (float)(((grade_rng_next(s) >> 11) * (1.0 / 9007199254740992.0)) * 2.0 - 1.0) * a;
}

static void layer_dims(int h, int l, int *out, int *in) {
  static const int is_in3[4] = {1, 0, 0, 0};
  *in = is_in3[l] ? 3 : h;
  *out = l == 3 ? 3 : h;
}

int dlut_grade_field_init(dlut_grade_field *f, int hidden, uint64_t seed) {
  memset(f, 0, sizeof *f);
  if (hidden < 1 || hidden > 8192) return dlut_error("grade: field width %d out of range 1..8192", hidden);
  f->hidden = hidden;
  int64_t n = 0;
  for (int l = 0; l < 4; l++) {
    int o, i;
    layer_dims(hidden, l, &o, &i);
    n += (int64_t)o * i + o;
  }
  f->n_params = n;
  f->params = calloc((size_t)n, sizeof(float));
  f->grads = calloc((size_t)n, sizeof(float));
  if (!f->params || !f->grads) goto fail;
  int64_t off = 0;
  uint64_t st = seed ^ 0x6a09e667f3bcc908ull;
  for (int l = 0; l < 4; l++) {
    int o, i;
    layer_dims(hidden, l, &o, &i);
    f->w[l] = f->params + off;
    f->dw[l] = f->grads + off;
    off += (int64_t)o * i;
    f->b[l] = f->params + off;
    f->db[l] = f->grads + off;
    off += o;
    if (l == 3) continue; /* the last layer starts at zero: phi = 0, the identity LUT */
    /* torch.nn.Linear: kaiming_uniform(a=sqrt(5)) gives U(-1/sqrt(in), 1/sqrt(in)) for W, the same for b */
    float bound = 1.0f / sqrtf((float)i);
    for (int64_t k = 0; k < (int64_t)o * i; k++) f->w[l][k] = uniform(&st, bound);
    for (int k = 0; k < o; k++) f->b[l][k] = uniform(&st, bound);
  }
  return 0;
fail:
  dlut_grade_field_free(f);
  return dlut_error("grade: out of memory for the field");
}

void dlut_grade_field_free(dlut_grade_field *f) {
  free(f->params);
  free(f->grads);
  free(f->act);
  free(f->scratch);
  free(f->bf);
  memset(f, 0, sizeof *f);
}

static int ensure_cap(dlut_grade_field *f, int64_t n) {
  if (n <= f->cap) return 0;
  const int64_t h = f->hidden;
  if (n > ((int64_t)1 << 40) / (3 * h)) return dlut_error("grade: field input too large (%lld rows)", (long long)n);
  float *a = realloc(f->act, (size_t)(3 * n * h) * sizeof(float));
  if (!a) return dlut_error("grade: out of memory for field activations (%lld rows)", (long long)n);
  f->act = a;
  if (!f->scratch) {
    f->scratch = malloc((size_t)(2 * CHUNK * h) * sizeof(float));
    if (!f->scratch) return dlut_error("grade: out of memory for field scratch");
  }
  f->cap = n;
  return 0;
}

/* Z (n,out) = X (n,in) W^T + b, then LeakyReLU if act */
static void linear(const float *X, int64_t n, int in, const float *W, const float *b, int out, float *Z, int act) {
  for (int64_t r = 0; r < n; r++) memcpy(Z + r * out, b, (size_t)out * sizeof(float));
  dlut_sgemm_par(0, 1, (int)n, out, in, 1.0f, X, in, W, in, 1.0f, Z, out);
  if (act)
    for (int64_t k = 0; k < n * out; k++) Z[k] = Z[k] > 0 ? Z[k] : LEAK * Z[k];
}

static int want_bf16(const dlut_grade_field *f, int64_t n) {
  const char *p = getenv("DLUT_CLIP_PRECISION");
  if (p && strcmp(p, "fp32") == 0) return 0;
  if (dlut_bf16_available() == DLUT_BF16_NONE || n > (1 << 30) || f->hidden > 8192) return 0;
  if (p && strcmp(p, "bf16") == 0) return 1;
  return f->hidden >= 256;
}

/* The packed operands: two h x h weights, the layer input (n x h), and
 * per backward chunk dz^T (h x CHUNK), x (CHUNK x h) and dz (CHUNK x h). */
static size_t bf_w_size(int h) {
  return dlut_bf16_packed_size(h, h);
}
static size_t bf_chunk_size(int h) {
  return dlut_bf16_packed_size(h, CHUNK);
}

static int ensure_bf(dlut_grade_field *f, int64_t n) {
  if (n <= f->bf_cap) return 0;
  const int h = f->hidden;
  size_t total = 2 * bf_w_size(h) + dlut_bf16_packed_size((int)n, h) + 3 * bf_chunk_size(h);
  uint16_t *p = realloc(f->bf, total * sizeof(uint16_t));
  if (!p) return dlut_error("grade: out of memory for the field's bf16 operands (%lld rows)", (long long)n);
  f->bf = p;
  f->bf_cap = n;
  return 0;
}

static uint16_t *bf_weight(dlut_grade_field *f, int slot) {
  return f->bf + (size_t)slot * bf_w_size(f->hidden);
}
static uint16_t *bf_input(dlut_grade_field *f) {
  return f->bf + 2 * bf_w_size(f->hidden);
}
static uint16_t *bf_chunk(dlut_grade_field *f, int k) {
  return bf_input(f) + dlut_bf16_packed_size((int)f->bf_cap, f->hidden) + (size_t)k * bf_chunk_size(f->hidden);
}

/* Z (n,h) = LeakyReLU(X (n,h) W^T + b) in bf16 products, W (h,h) of layer l (slot l - 1) */
static void linear_bf16(dlut_grade_field *f, const float *X, int64_t n, int l, float *Z) {
  const int h = f->hidden;
  uint16_t *wp = bf_weight(f, l - 1), *xp = bf_input(f);
  dlut_bf16_pack_b(wp, f->w[l], h, h, h, 1); /* B[k][o] = W[o][k] */
  dlut_bf16_pack_a_par(xp, X, h, (int)n, h, 0);
  dlut_bf16_gemm_par(Z, h, xp, wp, (int)n, h, h, 1.0f, 0, f->b[l]);
  for (int64_t k = 0; k < n * h; k++) Z[k] = Z[k] > 0 ? Z[k] : LEAK * Z[k];
}

int dlut_grade_field_reserve(dlut_grade_field *f, int64_t n) {
  if (ensure_cap(f, n) != 0) return -1;
  /* without the bf16 operands the forward takes the fp32 path, as it would itself */
  if (want_bf16(f, n) && ensure_bf(f, n) != 0) dlut_error_clear();
  return 0;
}

int dlut_grade_field_forward(dlut_grade_field *f, const float *in, float *out, int64_t n) {
  if (ensure_cap(f, n) != 0) return -1;
  const int h = f->hidden;
  float *a1 = f->act, *a2 = a1 + n * h, *a3 = a2 + n * h;
  f->bf16_used = want_bf16(f, n) && ensure_bf(f, n) == 0;
  /* layout of act depends on n: the backward must get the same n */
  linear(in, n, 3, f->w[0], f->b[0], h, a1, 1);
  if (f->bf16_used) {
    linear_bf16(f, a1, n, 1, a2);
    linear_bf16(f, a2, n, 2, a3);
  } else {
    linear(a1, n, h, f->w[1], f->b[1], h, a2, 1);
    linear(a2, n, h, f->w[2], f->b[2], h, a3, 1);
  }
  linear(a3, n, h, f->w[3], f->b[3], 3, out, 0);
  return 0;
}

void dlut_grade_field_backward(dlut_grade_field *f, const float *in, const float *d_out, int64_t n) {
  const int h = f->hidden;
  const float *a1 = f->act, *a2 = a1 + n * h, *a3 = a2 + n * h;
  const float *acts[4] = {in, a1, a2, a3}; /* input of layer l */
  float *g = f->scratch, *g2 = f->scratch + (int64_t)CHUNK * h;
  const int bf = f->bf16_used && n <= f->bf_cap;
  if (bf) /* B[k][i] = W[k][i] for dx = dz W */
    for (int l = 1; l <= 2; l++) dlut_bf16_pack_b(bf_weight(f, l - 1), f->w[l], h, h, h, 0);
  for (int64_t r0 = 0; r0 < n; r0 += CHUNK) {
    int rows = (int)(n - r0 < CHUNK ? n - r0 : CHUNK);
    /* layer 4: d_out (rows,3) */
    const float *dz = d_out + r0 * 3;
    int dz_w = 3;
    for (int l = 3; l >= 0; l--) {
      int o, i;
      layer_dims(h, l, &o, &i);
      const float *x = acts[l] + r0 * i;
      int fast = bf && (l == 1 || l == 2);
      /* dW (o,i) += dz^T x ; db += colsum dz */
      if (fast) {
        uint16_t *dzt = bf_chunk(f, 0), *xp = bf_chunk(f, 1);
        dlut_bf16_pack_a_par(dzt, dz, dz_w, o, rows, 1); /* A[o][r] = dz[r][o] */
        dlut_bf16_pack_b(xp, x, i, rows, i, 0);          /* B[r][i] = x[r][i] */
        dlut_bf16_gemm_par(f->dw[l], i, dzt, xp, o, i, rows, 1.0f, 1, NULL);
      } else {
        dlut_sgemm_par(1, 0, o, i, rows, 1.0f, dz, dz_w, x, i, 1.0f, f->dw[l], i);
      }
      for (int r = 0; r < rows; r++)
        for (int k = 0; k < o; k++) f->db[l][k] += dz[(int64_t)r * dz_w + k];
      if (l == 0) break;
      /* dx (rows,i) = dz W, then through the LeakyReLU of layer l-1 (mask from the sign of x) */
      float *dx = (dz == g) ? g2 : g;
      if (fast) {
        uint16_t *dzp = bf_chunk(f, 2);
        dlut_bf16_pack_a_par(dzp, dz, dz_w, rows, o, 0);
        dlut_bf16_gemm_par(dx, i, dzp, bf_weight(f, l - 1), rows, i, o, 1.0f, 0, NULL);
      } else {
        dlut_sgemm_par(0, 0, rows, i, o, 1.0f, dz, dz_w, f->w[l], i, 0.0f, dx, i);
      }
      for (int64_t k = 0; k < (int64_t)rows * i; k++)
        if (!(x[k] > 0)) dx[k] *= LEAK;
      dz = dx;
      dz_w = i;
    }
  }
}

void dlut_grade_field_forward_ref(const dlut_grade_field *f, const float *in, float *out, int64_t n) {
  const int h = f->hidden;
  double *x = malloc((size_t)h * sizeof(double)), *y = malloc((size_t)h * sizeof(double));
  if (!x || !y) {
    free(x);
    free(y);
    return;
  }
  for (int64_t r = 0; r < n; r++) {
    const float *p = in + r * 3;
    for (int o = 0; o < h; o++) {
      double s = f->b[0][o];
      for (int i = 0; i < 3; i++) s += (double)f->w[0][o * 3 + i] * p[i];
      x[o] = s > 0 ? s : LEAK * s;
    }
    for (int l = 1; l <= 2; l++) {
      for (int o = 0; o < h; o++) {
        double s = f->b[l][o];
        for (int i = 0; i < h; i++) s += (double)f->w[l][(int64_t)o * h + i] * x[i];
        y[o] = s > 0 ? s : LEAK * s;
      }
      memcpy(x, y, (size_t)h * sizeof(double));
    }
    for (int o = 0; o < 3; o++) {
      double s = f->b[3][o];
      for (int i = 0; i < h; i++) s += (double)f->w[3][(int64_t)o * h + i] * x[i];
      out[r * 3 + o] = (float)s;
    }
  }
  free(x);
  free(y);
}
