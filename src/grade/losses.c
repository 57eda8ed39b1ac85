/* src/grade/losses.c - the loss terms of the grading engine, each a forward
 * and a backward: the lattice terms (monotonicity, smoothness), the colour
 * statistics of the photo's pixels in scaled CIELAB (volume, smallest axis,
 * mean shift) and the CLIP directional + content term.
 *
 * Definitions follow CLIP-DLUT (the original Python: `monotonicity_loss`,
 * `get_color_volume` and `CLIPLoss.forward`), with two deliberate fixes
 * documented in docs/grading.md: the lattice differences run along the
 * three lattice axes (the original slices a 5-D tensor so its "first"
 * difference runs across the colour channels and the identity scores
 * 0.17 / 0.53), and |edit| is smoothed as sqrt(|edit|^2 + eps^2) so the
 * directional term is differentiable at the identity, where edit = 0.
 */
#include <math.h>
#include <string.h>

#include "dlut/grade.h"
#include "dlut/error.h"

/* ==== Lattice terms ==== */

/* Visit every (position, axis) pair that has a neighbour `k` steps ahead
 * along the axis; calls body with the base index i and the stride s. */
#define LATTICE_FOR(n, k, BODY)                                            \
  do {                                                                     \
    const int64_t st_[3] = {3, 3 * (int64_t)(n), 3 * (int64_t)(n) * (n)};  \
    for (int b_ = 0; b_ < (n); b_++)                                       \
      for (int g_ = 0; g_ < (n); g_++)                                     \
        for (int r_ = 0; r_ < (n); r_++) {                                 \
          const int co_[3] = {r_, g_, b_};                                 \
          const int64_t base_ = (((int64_t)b_ * (n) + g_) * (n) + r_) * 3; \
          for (int ax_ = 0; ax_ < 3; ax_++) {                              \
            if (co_[ax_] + (k) >= (n)) continue;                           \
            const int64_t s = st_[ax_];                                    \
            for (int c_ = 0; c_ < 3; c_++) {                               \
              const int64_t i = base_ + c_;                                \
              BODY                                                         \
            }                                                              \
          }                                                                \
        }                                                                  \
  } while (0)

void dlut_grade_lattice_forward(const float *table, int n, double *mono, double *smooth) {
  double sm = 0, ss = 0;
  if (n >= 2) {
    LATTICE_FOR(n, 1, {
      double d = (double)table[i + s] - table[i];
      if (d < 0) sm -= d;
    });
  }
  if (n >= 3) {
    LATTICE_FOR(n, 2, {
      double dd = (double)table[i + 2 * s] - 2.0 * table[i + s] + table[i];
      ss += dd * dd;
    });
  }
  /* per axis the counts are equal, so the sum of the three per-axis means
   * is the total over the count of one axis */
  double n1 = n >= 2 ? (double)(n - 1) * n * n * 3 : 1;
  double n2 = n >= 3 ? (double)(n - 2) * n * n * 3 : 1;
  if (mono) *mono = sm / n1;
  if (smooth) *smooth = ss / n2;
}

void dlut_grade_lattice_backward(const float *table, int n, double d_mono, double d_smooth, float *d_table) {
  if (n >= 2 && d_mono != 0) {
    const double g = d_mono / ((double)(n - 1) * n * n * 3);
    LATTICE_FOR(n, 1, {
      if ((double)table[i + s] - table[i] < 0) {
        d_table[i + s] -= (float)g;
        d_table[i] += (float)g;
      }
    });
  }
  if (n >= 3 && d_smooth != 0) {
    const double g = 2.0 * d_smooth / ((double)(n - 2) * n * n * 3);
    LATTICE_FOR(n, 2, {
      double dd = (double)table[i + 2 * s] - 2.0 * table[i + s] + table[i];
      d_table[i] += (float)(g * dd);
      d_table[i + s] -= (float)(2.0 * g * dd);
      d_table[i + 2 * s] += (float)(g * dd);
    });
  }
}

/* ==== 3x3 symmetric eigen-decomposition (cyclic Jacobi) ==== */

/* Golub & Van Loan, "Matrix Computations", 4th ed., 8.5.2 (the classical
 * Jacobi rotation); for 3x3 it converges to machine precision in a few
 * sweeps. */
void dlut_grade_eig3(const double a_in[9], double vals[3], double vecs[9]) {
  double a[9], v[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  memcpy(a, a_in, sizeof a);
  for (int sweep = 0; sweep < 60; sweep++) {
    double off = a[1] * a[1] + a[2] * a[2] + a[5] * a[5];
    double on = a[0] * a[0] + a[4] * a[4] + a[8] * a[8];
    if (off <= 1e-30 * on || off == 0) break;
    for (int p = 0; p < 2; p++)
      for (int q = p + 1; q < 3; q++) {
        double apq = a[p * 3 + q];
        if (apq == 0) continue;
        double app = a[p * 3 + p], aqq = a[q * 3 + q];
        double theta = (aqq - app) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 3; k++) { /* A <- A J (columns p, q) */
          double akp = a[k * 3 + p], akq = a[k * 3 + q];
          a[k * 3 + p] = c * akp - s * akq;
          a[k * 3 + q] = s * akp + c * akq;
        }
        for (int k = 0; k < 3; k++) { /* A <- J^T A (rows p, q) */
          double apk = a[p * 3 + k], aqk = a[q * 3 + k];
          a[p * 3 + k] = c * apk - s * aqk;
          a[q * 3 + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 3; k++) { /* V <- V J */
          double vkp = v[k * 3 + p], vkq = v[k * 3 + q];
          v[k * 3 + p] = c * vkp - s * vkq;
          v[k * 3 + q] = s * vkp + c * vkq;
        }
      }
  }
  int idx[3] = {0, 1, 2};
  for (int i = 0; i < 3; i++) /* ascending */
    for (int j = i + 1; j < 3; j++)
      if (a[idx[j] * 4] < a[idx[i] * 4]) {
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
      }
  for (int i = 0; i < 3; i++) {
    vals[i] = a[idx[i] * 4];
    for (int k = 0; k < 3; k++) vecs[k * 3 + i] = v[k * 3 + idx[i]];
  }
}

/* ==== Colour statistics ==== */

int dlut_grade_stats_compute(const float *lab, int64_t m, dlut_grade_stats *s) {
  if (m < 2) return dlut_error("grade: need at least 2 pixels for colour statistics, got %lld", (long long)m);
  double mu[3] = {0, 0, 0};
  for (int64_t i = 0; i < m; i++)
    for (int c = 0; c < 3; c++) mu[c] += lab[i * 3 + c];
  for (int c = 0; c < 3; c++) mu[c] /= (double)m;
  double cv[9] = {0};
  for (int64_t i = 0; i < m; i++) {
    double d0 = lab[i * 3] - mu[0], d1 = lab[i * 3 + 1] - mu[1], d2 = lab[i * 3 + 2] - mu[2];
    cv[0] += d0 * d0;
    cv[1] += d0 * d1;
    cv[2] += d0 * d2;
    cv[4] += d1 * d1;
    cv[5] += d1 * d2;
    cv[8] += d2 * d2;
  }
  cv[3] = cv[1];
  cv[6] = cv[2];
  cv[7] = cv[5];
  for (int k = 0; k < 9; k++) cv[k] /= (double)(m - 1);
  cv[0] += 1e-6; /* as the original: keeps log det finite for a flat image */
  cv[4] += 1e-6;
  cv[8] += 1e-6;
  memcpy(s->mean, mu, sizeof mu);
  memcpy(s->cov, cv, sizeof cv);
  double vals[3], vecs[9];
  dlut_grade_eig3(cv, vals, vecs);
  s->logdet = 0;
  for (int k = 0; k < 3; k++) s->logdet += log(vals[k] > 1e-300 ? vals[k] : 1e-300);
  s->lmin = vals[0];
  for (int k = 0; k < 3; k++) s->vmin[k] = vecs[k * 3 + 0];
  if (!isfinite(s->logdet) || !isfinite(s->lmin)) return dlut_error("grade: colour statistics are not finite");
  return 0;
}

void dlut_grade_color_forward(const dlut_grade_stats *o, const dlut_grade_stats *e, double *vol, double *eigen,
                              double *shift) {
  double v = o->logdet - e->logdet;
  double g = o->lmin - e->lmin;
  double d0 = e->mean[0] - o->mean[0], d1 = e->mean[1] - o->mean[1], d2 = e->mean[2] - o->mean[2];
  if (vol) *vol = v > 0 ? v : 0;
  if (eigen) *eigen = g > 0 ? g : 0;
  if (shift) *shift = sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

void dlut_grade_color_backward(const dlut_grade_stats *o, const dlut_grade_stats *e, const float *lab, int64_t m,
                               double d_vol, double d_eigen, double d_shift, float *d_lab) {
  /* G = dL/dSigma_edit (symmetric) */
  double G[9] = {0};
  if (d_vol != 0 && o->logdet - e->logdet > 0) {
    /* d logdet / dSigma = Sigma^-1 = V diag(1/l) V^T */
    double vals[3], vecs[9];
    dlut_grade_eig3(e->cov, vals, vecs);
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) {
        double inv = 0;
        for (int k = 0; k < 3; k++) inv += vecs[i * 3 + k] * vecs[j * 3 + k] / vals[k];
        G[i * 3 + j] -= d_vol * inv;
      }
  }
  if (d_eigen != 0 && o->lmin - e->lmin > 0) {
    /* first-order perturbation of a simple eigenvalue: dl = v^T dSigma v */
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) G[i * 3 + j] -= d_eigen * e->vmin[i] * e->vmin[j];
  }
  double gm[3] = {0, 0, 0};
  double dm[3] = {e->mean[0] - o->mean[0], e->mean[1] - o->mean[1], e->mean[2] - o->mean[2]};
  double nd = sqrt(dm[0] * dm[0] + dm[1] * dm[1] + dm[2] * dm[2]);
  if (d_shift != 0 && nd > 0)
    for (int c = 0; c < 3; c++) gm[c] = d_shift * dm[c] / nd / (double)m;
  /* Sigma = 1/(m-1) sum c_i c_i^T with c_i = x_i - mean; the mean's own
   * gradient vanishes because sum c_i = 0, so dL/dx_i = 2/(m-1) G c_i. */
  const double k = 2.0 / (double)(m - 1);
  for (int64_t i = 0; i < m; i++) {
    double c0 = lab[i * 3] - e->mean[0], c1 = lab[i * 3 + 1] - e->mean[1], c2 = lab[i * 3 + 2] - e->mean[2];
    for (int r = 0; r < 3; r++)
      d_lab[i * 3 + r] = (float)(k * (G[r * 3] * c0 + G[r * 3 + 1] * c1 + G[r * 3 + 2] * c2) + gm[r]);
  }
}

/* ==== CLIP term ==== */

/* L = w_dir (1 - u.style) + w_content (1 - f.target) with f = e/|e|,
 * u = (f - f_orig) / sqrt(|f - f_orig|^2 + eps^2). */
double dlut_grade_clip_loss(const float *e, const float *f_orig, const float *f_target, const float *style, int dim,
                            double w_dir, double w_content, double dir_eps, float *d_e) {
  double ne = 0;
  for (int k = 0; k < dim; k++) ne += (double)e[k] * e[k];
  ne = sqrt(ne);
  if (!(ne > 0)) ne = 1e-30;
  double nedit2 = 0, cos_t = 0;
  for (int k = 0; k < dim; k++) {
    double f = e[k] / ne, d = f - f_orig[k];
    nedit2 += d * d;
    cos_t += f * f_target[k];
  }
  double nn = sqrt(nedit2 + dir_eps * dir_eps);
  double udots = 0;
  for (int k = 0; k < dim; k++) udots += (e[k] / ne - f_orig[k]) / nn * style[k];
  double loss = w_dir * (1 - udots) + w_content * (1 - cos_t);
  if (d_e) {
    /* g_u = -w_dir style; g_edit = g_u/nn - edit (edit.g_u)/nn^3;
     * g_f = g_edit - w_content target; g_e = (g_f - f (f.g_f)) / |e| */
    double edit_gu = 0;
    for (int k = 0; k < dim; k++) edit_gu += (e[k] / ne - f_orig[k]) * (-w_dir * style[k]);
    double f_gf = 0;
    for (int k = 0; k < dim; k++) {
      double f = e[k] / ne, edit = f - f_orig[k];
      double gf = -w_dir * style[k] / nn - edit * edit_gu / (nn * nn * nn) - w_content * f_target[k];
      f_gf += f * gf;
      d_e[k] = (float)gf; /* temporarily g_f */
    }
    for (int k = 0; k < dim; k++) d_e[k] = (float)((d_e[k] - e[k] / ne * f_gf) / ne);
  }
  return loss;
}
