/* src/grade/optim.c - the optimiser pieces: AdamW and the cosine schedule
 * exactly as PyTorch defines them (torch.optim.AdamW, CosineAnnealingLR
 * in its closed form), and our faster parameterisation, the coarse residual
 * lattice (forward: upsample + identity + clamp; backward: the transpose).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/grade.h"
#include "dlut/error.h"

/* ==== AdamW ==== */

int dlut_adamw_init(dlut_adamw *a, int64_t n, float weight_decay) {
  memset(a, 0, sizeof *a);
  if (n <= 0) return dlut_error("grade: AdamW needs at least one parameter");
  a->m = calloc((size_t)n, sizeof(float));
  a->v = calloc((size_t)n, sizeof(float));
  if (!a->m || !a->v) {
    dlut_adamw_free(a);
    return dlut_error("grade: out of memory for AdamW state");
  }
  a->n = n;
  a->beta1 = 0.9f;
  a->beta2 = 0.999f;
  a->eps = 1e-8f;
  a->weight_decay = weight_decay;
  return 0;
}

void dlut_adamw_free(dlut_adamw *a) {
  free(a->m);
  free(a->v);
  memset(a, 0, sizeof *a);
}

/* torch.optim.AdamW (Loshchilov & Hutter 2019, decoupled decay):
 *   p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   p -= lr / (1-b1^t) * m / (sqrt(v / (1-b2^t)) + eps) */
void dlut_adamw_step(dlut_adamw *a, float *p, const float *g, float lr) {
  a->t++;
  const double bc1 = 1.0 - pow(a->beta1, a->t), bc2 = 1.0 - pow(a->beta2, a->t);
  const float step = (float)(lr / bc1), rbc2 = (float)(1.0 / sqrt(bc2));
  const float decay = 1.0f - lr * a->weight_decay, b1 = a->beta1, b2 = a->beta2;
  for (int64_t i = 0; i < a->n; i++) {
    float gi = g[i];
    p[i] *= decay;
    a->m[i] = b1 * a->m[i] + (1 - b1) * gi;
    a->v[i] = b2 * a->v[i] + (1 - b2) * gi * gi;
    p[i] -= step * a->m[i] / (sqrtf(a->v[i]) * rbc2 + a->eps);
  }
}

/* CosineAnnealingLR closed form: eta_min + (eta_max - eta_min)(1 + cos(pi t / T)) / 2 */
float dlut_cosine_lr(int t, int T, float lr_max, float lr_min) {
  if (T <= 0) return lr_max;
  if (t > T) t = T;
  return lr_min + (lr_max - lr_min) * 0.5f * (1.0f + (float)cos(M_PI * (double)t / (double)T));
}

/* ==== Coarse residual lattice ==== */

/* Where output node i (0..n-1) falls on the coarse axis (0..k-1). */
static void coarse_pos(int i, int n, int k, int *i0, float *w1) {
  double u = n > 1 ? (double)i * (k - 1) / (n - 1) : 0;
  int j = (int)floor(u);
  if (j >= k - 1) j = k - 2;
  if (j < 0) j = 0;
  *i0 = j;
  *w1 = k > 1 ? (float)(u - j) : 0.0f;
}

/* pre-clamp value of every output entry: base (or the identity) + trilinear(res) */
static void lattice_pre(const float *res, int k, const float *base, int n, float *pre) {
  for (int b = 0; b < n; b++) {
    int b0;
    float wb;
    coarse_pos(b, n, k, &b0, &wb);
    for (int g = 0; g < n; g++) {
      int g0;
      float wg;
      coarse_pos(g, n, k, &g0, &wg);
      for (int r = 0; r < n; r++) {
        int r0;
        float wr;
        coarse_pos(r, n, k, &r0, &wr);
        const int64_t at = (((int64_t)b * n + g) * n + r) * 3;
        float id[3] = {(float)r / (n - 1), (float)g / (n - 1), (float)b / (n - 1)};
        if (base) memcpy(id, base + at, sizeof id);
        float *o = pre + at;
        for (int c = 0; c < 3; c++) {
          double acc = 0;
          for (int db = 0; db < 2; db++)
            for (int dg = 0; dg < 2; dg++)
              for (int dr = 0; dr < 2; dr++) {
                double w = (db ? wb : 1 - wb) * (dg ? wg : 1 - wg) * (dr ? wr : 1 - wr);
                if (w == 0) continue;
                acc += w * res[(((int64_t)(b0 + db) * k + (g0 + dg)) * k + (r0 + dr)) * 3 + c];
              }
          o[c] = id[c] + (float)acc;
        }
      }
    }
  }
}

void dlut_grade_lattice_param_forward(const float *res, int k, float *table, int n) {
  dlut_grade_lattice_param_forward_base(res, k, NULL, table, n);
}

void dlut_grade_lattice_param_backward(const float *res, int k, const float *table, const float *d_table, int n,
                                       float *d_res) {
  (void)table; /* the clamp mask is taken from the pre-clamp values, recomputed */
  dlut_grade_lattice_param_backward_base(res, k, NULL, d_table, n, d_res);
}

void dlut_grade_lattice_param_forward_base(const float *res, int k, const float *base, float *table, int n) {
  lattice_pre(res, k, base, n, table);
  for (int64_t i = 0; i < (int64_t)n * n * n * 3; i++) table[i] = table[i] < 0 ? 0 : table[i] > 1 ? 1 : table[i];
}

void dlut_grade_lattice_param_backward_base(const float *res, int k, const float *base, const float *d_table, int n,
                                            float *d_res) {
  int64_t total = (int64_t)n * n * n * 3;
  float *pre = malloc((size_t)total * sizeof(float));
  if (!pre) return; /* cannot happen for n <= 65 on any real machine; gradients then stay 0 */
  dlut_grade_lattice_param_backward_pre(res, k, base, d_table, n, d_res, pre);
  free(pre);
}

void dlut_grade_lattice_param_backward_pre(const float *res, int k, const float *base, const float *d_table, int n,
                                           float *d_res, float *pre) {
  lattice_pre(res, k, base, n, pre);
  for (int b = 0; b < n; b++) {
    int b0;
    float wb;
    coarse_pos(b, n, k, &b0, &wb);
    for (int g = 0; g < n; g++) {
      int g0;
      float wg;
      coarse_pos(g, n, k, &g0, &wg);
      for (int r = 0; r < n; r++) {
        int r0;
        float wr;
        coarse_pos(r, n, k, &r0, &wr);
        int64_t o = (((int64_t)b * n + g) * n + r) * 3;
        for (int c = 0; c < 3; c++) {
          float p = pre[o + c];
          if (p < 0 || p > 1) continue;
          double gv = d_table[o + c];
          for (int db = 0; db < 2; db++)
            for (int dg = 0; dg < 2; dg++)
              for (int dr = 0; dr < 2; dr++) {
                double w = (db ? wb : 1 - wb) * (dg ? wg : 1 - wg) * (dr ? wr : 1 - wr);
                if (w == 0) continue;
                d_res[(((int64_t)(b0 + db) * k + (g0 + dg)) * k + (r0 + dr)) * 3 + c] += (float)(w * gv);
              }
        }
      }
    }
  }
}
