/* src/grade/fit.c - `dlut fit`: the 3D LUT that turns one photo into its
 * graded version, with no model.
 *
 * The fit is a scattered-data problem on the lattice: every pixel pair
 * (x_i, y_i) says T(x_i) = y_i, where T(x) is the tetrahedral interpolation
 * of the table (FFmpeg's and OpenColorIO's split of the cube, the one
 * `dlut apply` uses), so T(x_i) = A_i t is linear in the table t. We
 * minimise
 *     E(t) = 1/(3n) sum_i |A_i t - y_i|^2 + lambda L_smooth(t) + mu |t - id|^2
 * (L_smooth: the grading engine's lattice term, mean squared second
 * difference along the three axes; mu = 1e-9 a ridge that makes the system
 * definite where no pixel lands). E is quadratic: the normal equations
 * (A^T A / 3n + lambda/N2 D^T D + mu I) t = A^T y / 3n + mu id are solved by
 * conjugate gradients with a Jacobi preconditioner, all three channels at
 * once (the matrix is the same for each). A^T A is assembled once as a
 * 27-point stencil per lattice node (a pixel couples the 4 corners of its
 * tetrahedron, which lie in one cell), so an iteration costs O(N^3), not
 * O(pixels). Lattice nodes no pixel reaches are filled by the smoothness
 * term: a smooth extension of the fitted colours.
 *
 * Optional refinement (refine_steps > 0): AdamW on MSE + lambda L_smooth +
 * mono L_mono through the lut module's own apply and backward.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/lut.h"
#include "grade/grade_internal.h"

void dlut_fit_opts_init(dlut_fit_opts *o) {
  memset(o, 0, sizeof *o);
  o->lut_size = 33;
  o->smooth = 1e-3f;
  o->max_samples = 262144;
  o->refine_steps = 0;
  o->mono = 1.0f;
  o->seed = 0;
}

/* Tetrahedral interpolation weights of colour x on an n lattice: 4 flat
 * table indices (of the RGB triple, i.e. already / 3) and weights summing
 * to 1. The same split as FFmpeg vf_lut3d.c interp_tetrahedral. */
static void tetra_weights(const float x[3], int n, int64_t idx[4], double w[4]) {
  int p[3];
  double d[3];
  for (int c = 0; c < 3; c++) {
    double v = x[c];
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    double s = v * (n - 1);
    int i = (int)floor(s);
    if (i > n - 2) i = n - 2;
    p[c] = i;
    d[c] = s - i;
  }
  const int64_t sr = 1, sg = n, sb = (int64_t)n * n;
  const int64_t c000 = p[0] * sr + p[1] * sg + p[2] * sb;
  const int64_t c100 = c000 + sr, c010 = c000 + sg, c001 = c000 + sb;
  const int64_t c110 = c100 + sg, c101 = c100 + sb, c011 = c010 + sb, c111 = c110 + sb;
  const double dr = d[0], dg = d[1], db = d[2];
  idx[0] = c000;
  idx[3] = c111;
  if (dr > dg) {
    if (dg > db) {
      w[0] = 1 - dr, idx[1] = c100, w[1] = dr - dg, idx[2] = c110, w[2] = dg - db, w[3] = db;
    } else if (dr > db) {
      w[0] = 1 - dr, idx[1] = c100, w[1] = dr - db, idx[2] = c101, w[2] = db - dg, w[3] = dg;
    } else {
      w[0] = 1 - db, idx[1] = c001, w[1] = db - dr, idx[2] = c101, w[2] = dr - dg, w[3] = dg;
    }
  } else {
    if (db > dg) {
      w[0] = 1 - db, idx[1] = c001, w[1] = db - dg, idx[2] = c011, w[2] = dg - dr, w[3] = dr;
    } else if (db > dr) {
      w[0] = 1 - dg, idx[1] = c010, w[1] = dg - db, idx[2] = c011, w[2] = db - dr, w[3] = dr;
    } else {
      w[0] = 1 - dg, idx[1] = c010, w[1] = dg - dr, idx[2] = c110, w[2] = dr - db, w[3] = db;
    }
  }
}

/* stencil slot of the offset from node a to node b (both in one cell) */
static int slot_of(int64_t a, int64_t b, int n) {
  int64_t d = b - a, nn = (int64_t)n * n;
  int ob = (int)((d + nn + n + 1) / nn) - 1; /* offsets are in {-1,0,1} per axis */
  d -= ob * nn;
  int og = (int)((d + n + 1) / n) - 1;
  d -= (int64_t)og * n;
  int orr = (int)d;
  return (ob + 1) * 9 + (og + 1) * 3 + (orr + 1);
}

typedef struct fit_sys {
  int n;
  int64_t nodes;
  double *ata;   /* (nodes, 27) stencil of A^T A / 3n */
  double lambda; /* smoothness weight */
  double lam_n2; /* lambda / N2: the coefficient of D^T D in the normal equations */
  double mu;
  float *tmpf, *gradf; /* float scratch for the lattice backward (nodes*3) */
} fit_sys;

/* y = M x for all three channels (x, y: nodes*3) */
static void sys_apply(const fit_sys *s, const double *x, double *y) {
  const int n = s->n;
  const int64_t nn = (int64_t)n * n;
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        int64_t i = (b * nn) + (int64_t)g * n + r;
        const double *st = s->ata + i * 27;
        double acc[3] = {0, 0, 0};
        for (int ob = -1; ob <= 1; ob++) {
          if (b + ob < 0 || b + ob >= n) continue;
          for (int og = -1; og <= 1; og++) {
            if (g + og < 0 || g + og >= n) continue;
            for (int orr = -1; orr <= 1; orr++) {
              if (r + orr < 0 || r + orr >= n) continue;
              double a = st[(ob + 1) * 9 + (og + 1) * 3 + (orr + 1)];
              if (a == 0) continue;
              int64_t j = i + ob * nn + (int64_t)og * n + orr;
              acc[0] += a * x[j * 3];
              acc[1] += a * x[j * 3 + 1];
              acc[2] += a * x[j * 3 + 2];
            }
          }
        }
        for (int c = 0; c < 3; c++) y[i * 3 + c] = acc[c] + s->mu * x[i * 3 + c];
      }
  if (s->lam_n2 > 0 && n >= 3) {
    /* lambda/N2 D^T D x = (lambda/2) dL_smooth/dx, via the engine's own backward */
    for (int64_t k = 0; k < s->nodes * 3; k++) {
      s->tmpf[k] = (float)x[k];
      s->gradf[k] = 0;
    }
    dlut_grade_lattice_backward(s->tmpf, n, 0, 0.5 * s->lambda, s->gradf);
    for (int64_t k = 0; k < s->nodes * 3; k++) y[k] += s->gradf[k];
  }
}

static void sys_diag(const fit_sys *s, double *dg) {
  /* diagonal of D^T D along one axis: 1,5,6,...,6,5,1 (n >= 5); summed over axes */
  const int n = s->n;
  const int64_t nn = (int64_t)n * n;
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        int64_t i = b * nn + (int64_t)g * n + r;
        double d = s->ata[i * 27 + 13] + s->mu;
        if (s->lam_n2 > 0 && n >= 3) {
          int co[3] = {r, g, b};
          for (int a = 0; a < 3; a++) { /* count of second-difference stencils touching co[a], weighted 1,4,1 */
            double dd = 0;
            for (int st = co[a] - 2; st <= co[a]; st++) {
              if (st < 0 || st + 2 >= n) continue;
              int pos = co[a] - st;
              dd += pos == 1 ? 4 : 1;
            }
            d += s->lam_n2 * dd;
          }
        }
        dg[i] = d > 0 ? d : 1;
      }
}

dlut_lut *dlut_fit(const dlut_image *before, const dlut_image *after, const dlut_fit_opts *o_in,
                   dlut_fit_stats *stats) {
  dlut_fit_opts o;
  if (o_in)
    o = *o_in;
  else
    dlut_fit_opts_init(&o);
  dlut_image *fb = NULL, *fa = NULL;
  dlut_lut *lut = NULL;
  float *xs = NULL, *ys = NULL;
  double *rhs = NULL, *t = NULL, *r = NULL, *z = NULL, *p = NULL, *q = NULL, *dg = NULL;
  fit_sys s = {0};
  if (!before || !after) {
    dlut_error("missing image");
    goto fail;
  }
  if (before->width != after->width || before->height != after->height) {
    dlut_error(
        "the two photos differ in size (%dx%d and %dx%d); they must be the same picture before and "
        "after grading",
        before->width, before->height, after->width, after->height);
    goto fail;
  }
  if (o.lut_size < 2 || o.lut_size > 129) {
    dlut_error("LUT size %d out of range 2..129", o.lut_size);
    goto fail;
  }
  if (!(o.smooth >= 0) || !isfinite(o.smooth)) {
    dlut_error("smoothness weight must be a finite number >= 0");
    goto fail;
  }
  if (o.max_samples < 16) o.max_samples = 16;
  fb = dlut_image_convert(before, 3, DLUT_PIXEL_F32);
  fa = dlut_image_convert(after, 3, DLUT_PIXEL_F32);
  if (!fb || !fa) goto fail;
  const int64_t npix = (int64_t)before->width * before->height;
  if (npix < 1) {
    dlut_error("empty image");
    goto fail;
  }
  const int64_t m = npix < o.max_samples ? npix : o.max_samples;
  xs = malloc((size_t)m * 3 * sizeof(float));
  ys = malloc((size_t)m * 3 * sizeof(float));
  if (!xs || !ys) goto oom;
  {
    uint64_t st = o.seed ^ 0x3c6ef372fe94f82bull;
    for (int64_t k = 0; k < m; k++) {
      int64_t pi = m == npix ? k : (int64_t)(grade_rng_next(&st) % (uint64_t)npix);
      int64_t y = pi / before->width, x = pi % before->width;
      const float *pb = (const float *)((const uint8_t *)fb->data + (size_t)y * fb->stride) + x * 3;
      const float *pa = (const float *)((const uint8_t *)fa->data + (size_t)y * fa->stride) + x * 3;
      for (int c = 0; c < 3; c++) {
        float vb = pb[c], va = pa[c];
        if (!isfinite(vb) || !isfinite(va)) {
          dlut_error("the photos contain non-finite values");
          goto fail;
        }
        xs[k * 3 + c] = vb;
        ys[k * 3 + c] = va;
      }
    }
  }
  const int n = o.lut_size;
  s.n = n;
  s.nodes = (int64_t)n * n * n;
  s.mu = 1e-9;
  /* the lattice backward with d_smooth = lambda/2 gives (lambda/N2) D^T D t, the half-gradient
   * of lambda L_smooth, N2 = (n-2) n^2 3 */
  s.lambda = o.smooth;
  s.lam_n2 = n >= 3 ? (double)o.smooth / ((double)(n - 2) * n * n * 3) : 0;
  s.ata = calloc((size_t)s.nodes * 27, sizeof(double));
  rhs = calloc((size_t)s.nodes * 3, sizeof(double));
  t = malloc((size_t)s.nodes * 3 * sizeof(double));
  r = malloc((size_t)s.nodes * 3 * sizeof(double));
  z = malloc((size_t)s.nodes * 3 * sizeof(double));
  p = malloc((size_t)s.nodes * 3 * sizeof(double));
  q = malloc((size_t)s.nodes * 3 * sizeof(double));
  dg = malloc((size_t)s.nodes * sizeof(double));
  s.tmpf = malloc((size_t)s.nodes * 3 * sizeof(float));
  s.gradf = malloc((size_t)s.nodes * 3 * sizeof(float));
  if (!s.ata || !rhs || !t || !r || !z || !p || !q || !dg || !s.tmpf || !s.gradf) goto oom;
  const double inv = 1.0 / (3.0 * (double)m);
  for (int64_t k = 0; k < m; k++) {
    int64_t idx[4];
    double w[4];
    tetra_weights(xs + k * 3, n, idx, w);
    for (int a = 0; a < 4; a++) {
      if (w[a] == 0) continue;
      for (int c = 0; c < 3; c++) rhs[idx[a] * 3 + c] += inv * w[a] * ys[k * 3 + c];
      for (int b = 0; b < 4; b++)
        if (w[b] != 0) s.ata[idx[a] * 27 + slot_of(idx[a], idx[b], n)] += inv * w[a] * w[b];
    }
  }
  /* ridge towards the identity; start from it */
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int rr = 0; rr < n; rr++) {
        int64_t i = ((int64_t)b * n + g) * n + rr;
        double id[3] = {(double)rr / (n - 1), (double)g / (n - 1), (double)b / (n - 1)};
        for (int c = 0; c < 3; c++) {
          rhs[i * 3 + c] += s.mu * id[c];
          t[i * 3 + c] = id[c];
        }
      }
  sys_diag(&s, dg);
  /* preconditioned CG (Hestenes-Stiefel; Saad, "Iterative Methods", alg. 9.1) */
  sys_apply(&s, t, q);
  double rz = 0, r0 = 0;
  for (int64_t k = 0; k < s.nodes * 3; k++) {
    r[k] = rhs[k] - q[k];
    z[k] = r[k] / dg[k / 3];
    p[k] = z[k];
    rz += r[k] * z[k];
    r0 += rhs[k] * rhs[k];
  }
  int it = 0;
  const int max_it = 4000;
  for (; it < max_it; it++) {
    double rr2 = 0;
    for (int64_t k = 0; k < s.nodes * 3; k++) rr2 += r[k] * r[k];
    if (rr2 <= 1e-20 * r0 || rz == 0) break;
    sys_apply(&s, p, q);
    double pq = 0;
    for (int64_t k = 0; k < s.nodes * 3; k++) pq += p[k] * q[k];
    if (!(pq > 0)) break;
    double alpha = rz / pq, rz_new = 0;
    for (int64_t k = 0; k < s.nodes * 3; k++) {
      t[k] += alpha * p[k];
      r[k] -= alpha * q[k];
      z[k] = r[k] / dg[k / 3];
      rz_new += r[k] * z[k];
    }
    double beta = rz_new / rz;
    rz = rz_new;
    for (int64_t k = 0; k < s.nodes * 3; k++) p[k] = z[k] + beta * p[k];
  }
  lut = dlut_lut_alloc(n, 0);
  if (!lut) goto fail;
  for (int64_t k = 0; k < s.nodes * 3; k++) {
    if (!isfinite(t[k])) {
      dlut_error("the solve diverged");
      goto fail;
    }
    lut->table[k] = (float)t[k];
  }
  snprintf(lut->title, sizeof lut->title, "dlut fit");
  if (o.refine_steps > 0) {
    /* AdamW on MSE + lambda L_smooth + mono L_mono through the lut module's apply/backward */
    float *out = malloc((size_t)m * 3 * sizeof(float)), *dout = malloc((size_t)m * 3 * sizeof(float));
    float *grad = calloc((size_t)s.nodes * 3, sizeof(float));
    dlut_adamw ad;
    int ok = out && dout && grad && dlut_adamw_init(&ad, s.nodes * 3, 0.0f) == 0;
    for (int step = 0; ok && step < o.refine_steps; step++) {
      dlut_lut_apply_f32(lut, xs, out, m, DLUT_INTERP_TETRAHEDRAL);
      for (int64_t k = 0; k < m * 3; k++) dout[k] = (float)(2.0 * inv * (out[k] - ys[k]));
      memset(grad, 0, (size_t)s.nodes * 3 * sizeof(float));
      dlut_lut_apply_backward(lut, xs, dout, m, DLUT_INTERP_TETRAHEDRAL, grad, NULL);
      dlut_grade_lattice_backward(lut->table, n, o.mono, o.smooth, grad);
      dlut_adamw_step(&ad, lut->table, grad, dlut_cosine_lr(step, o.refine_steps, 2e-4f, 2e-6f));
    }
    if (ok) dlut_adamw_free(&ad);
    free(out);
    free(dout);
    free(grad);
    if (!ok) goto oom;
  }
  if (stats) {
    float *out = malloc((size_t)m * 3 * sizeof(float));
    if (!out) goto oom;
    dlut_lut_apply_f32(lut, xs, out, m, DLUT_INTERP_TETRAHEDRAL);
    double se = 0;
    for (int64_t k = 0; k < m * 3; k++) se += ((double)out[k] - ys[k]) * ((double)out[k] - ys[k]);
    free(out);
    stats->rmse = sqrt(se / (3.0 * (double)m));
    stats->cg_iters = it;
    stats->samples = m;
  }
  goto done;
oom:
  dlut_error("out of memory");
fail:
  dlut_lut_free(lut);
  lut = NULL;
done:
  dlut_image_free(fb);
  dlut_image_free(fa);
  free(xs);
  free(ys);
  free(s.ata);
  free(s.tmpf);
  free(s.gradf);
  free(rhs);
  free(t);
  free(r);
  free(z);
  free(p);
  free(q);
  free(dg);
  return lut;
}
