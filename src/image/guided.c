/* src/image/guided.c - the guided filter (He, Sun, Tang 2010, Algorithm 1)
 * with a grey guide: the O(N) box-filter version and the naive reference
 * it is tested against. See dlut/guided.h. */
#include "dlut/guided.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"

#define MAX_SIDE 65535

static int check_args(const void *guide, const void *src, const void *out, int w, int h, int r, float eps) {
  if (!guide || !src || !out) return dlut_error("guided filter: no input");
  if (w < 1 || h < 1 || w > MAX_SIDE || h > MAX_SIDE) return dlut_error("guided filter: bad size %dx%d", w, h);
  if (r < 0) return dlut_error("guided filter: radius %d < 0", r);
  if (!(eps > 0)) return dlut_error("guided filter: eps must be > 0");
  return 0;
}

/* ==== Box mean by running sums ==== */

/* Columns then rows. The running sums are in double so a long row or column
 * of values near 1 loses nothing (a float sum of 65535 values keeps ~3
 * digits). `acc` holds w doubles, `tmp` w*h floats (may be in, not out). */
static void box_mean(const float *in, float *out, int w, int h, int r, double *acc, float *tmp) {
  /* vertical: tmp[y][x] = sum of in over rows [y-r, y+r] clipped, / count */
  for (int x = 0; x < w; x++) acc[x] = 0;
  const int r0 = r < h - 1 ? r : h - 1;
  for (int y = 0; y <= r0; y++)
    for (int x = 0; x < w; x++) acc[x] += in[(int64_t)y * w + x];
  /* tmp must not be `in`: rows leave the window after later rows are written */
  for (int y = 0; y < h; y++) {
    const int lo = y - r < 0 ? 0 : y - r, hi = y + r > h - 1 ? h - 1 : y + r;
    const double inv = 1.0 / (double)(hi - lo + 1);
    float *t = tmp + (int64_t)y * w;
    for (int x = 0; x < w; x++) t[x] = (float)(acc[x] * inv);
    /* slide: add row y + r + 1, drop row y - r */
    if (y + r + 1 < h)
      for (int x = 0; x < w; x++) acc[x] += in[(int64_t)(y + r + 1) * w + x];
    if (y - r >= 0)
      for (int x = 0; x < w; x++) acc[x] -= in[(int64_t)(y - r) * w + x];
  }
  /* horizontal, row by row (acc reused as the row's prefix sums) */
  for (int y = 0; y < h; y++) {
    const float *t = tmp + (int64_t)y * w;
    float *o = out + (int64_t)y * w;
    double s = 0;
    acc[0] = 0;
    for (int x = 0; x < w; x++) {
      s += t[x];
      acc[x] = s; /* prefix: sum of t[0..x] */
    }
    for (int x = 0; x < w; x++) {
      const int lo = x - r < 0 ? 0 : x - r, hi = x + r > w - 1 ? w - 1 : x + r;
      double v = acc[hi] - (lo > 0 ? acc[lo - 1] : 0.0);
      o[x] = (float)(v / (double)(hi - lo + 1));
    }
  }
}

int dlut_box_mean(const float *in, float *out, int w, int h, int r) {
  if (check_args(in, in, out, w, h, r, 1.0f) != 0) return -1;
  double *acc = malloc((size_t)w * sizeof(double));
  float *tmp = malloc((size_t)w * h * sizeof(float));
  if (!acc || !tmp) {
    free(acc);
    free(tmp);
    return dlut_error("guided filter: out of memory");
  }
  box_mean(in, out, w, h, r, acc, tmp);
  free(acc);
  free(tmp);
  return 0;
}

/* ==== The filter ==== */

int dlut_guided_filter(const float *I, const float *p, float *q, int w, int h, int r, float eps) {
  if (check_args(I, p, q, w, h, r, eps) != 0) return -1;
  const int64_t n = (int64_t)w * h;
  /* five maps and the box filter's scratch, allocated once */
  float *buf = malloc((size_t)n * 6 * sizeof(float));
  double *acc = malloc((size_t)w * sizeof(double));
  if (!buf || !acc) {
    free(buf);
    free(acc);
    return dlut_error("guided filter: out of memory");
  }
  float *mI = buf, *mp = buf + n, *cII = buf + 2 * n, *cIp = buf + 3 * n, *prod = buf + 4 * n, *tmp = buf + 5 * n;
  box_mean(I, mI, w, h, r, acc, tmp);
  box_mean(p, mp, w, h, r, acc, tmp);
  for (int64_t i = 0; i < n; i++) prod[i] = I[i] * I[i];
  box_mean(prod, cII, w, h, r, acc, tmp);
  for (int64_t i = 0; i < n; i++) prod[i] = I[i] * p[i];
  box_mean(prod, cIp, w, h, r, acc, tmp);
  /* a into cII, b into cIp (in place: each i reads only its own entries) */
  for (int64_t i = 0; i < n; i++) {
    const double var = (double)cII[i] - (double)mI[i] * mI[i];
    const double cov = (double)cIp[i] - (double)mI[i] * mp[i];
    const double a = cov / (var + eps);
    cII[i] = (float)a;
    cIp[i] = (float)(mp[i] - a * mI[i]);
  }
  box_mean(cII, mI, w, h, r, acc, tmp); /* mean a */
  box_mean(cIp, mp, w, h, r, acc, tmp); /* mean b */
  for (int64_t i = 0; i < n; i++) q[i] = mI[i] * I[i] + mp[i];
  free(buf);
  free(acc);
  return 0;
}

/* ==== Naive reference ==== */

/* Window sums pixel by pixel, in double, straight from the paper's
 * definitions (Eqs. 6-8). O(N r^2): for tests only. */
int dlut_guided_filter_ref(const float *I, const float *p, float *q, int w, int h, int r, float eps) {
  if (check_args(I, p, q, w, h, r, eps) != 0) return -1;
  const int64_t n = (int64_t)w * h;
  double *a = malloc((size_t)n * sizeof(double)), *b = malloc((size_t)n * sizeof(double));
  float *res = malloc((size_t)n * sizeof(float));
  if (!a || !b || !res) {
    free(a);
    free(b);
    free(res);
    return dlut_error("guided filter: out of memory");
  }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double sI = 0, sp = 0, sII = 0, sIp = 0;
      int cnt = 0;
      for (int v = y - r; v <= y + r; v++)
        for (int u = x - r; u <= x + r; u++) {
          if (u < 0 || v < 0 || u >= w || v >= h) continue;
          const double gi = I[(int64_t)v * w + u], pi = p[(int64_t)v * w + u];
          sI += gi;
          sp += pi;
          sII += gi * gi;
          sIp += gi * pi;
          cnt++;
        }
      const double mI = sI / cnt, mp = sp / cnt;
      const double var = sII / cnt - mI * mI, cov = sIp / cnt - mI * mp;
      const int64_t k = (int64_t)y * w + x;
      a[k] = cov / (var + eps);
      b[k] = mp - a[k] * mI;
    }
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double sa = 0, sb = 0;
      int cnt = 0;
      for (int v = y - r; v <= y + r; v++)
        for (int u = x - r; u <= x + r; u++) {
          if (u < 0 || v < 0 || u >= w || v >= h) continue;
          sa += a[(int64_t)v * w + u];
          sb += b[(int64_t)v * w + u];
          cnt++;
        }
      const int64_t k = (int64_t)y * w + x;
      res[k] = (float)(sa / cnt * I[k] + sb / cnt);
    }
  memcpy(q, res, (size_t)n * sizeof(float));
  free(a);
  free(b);
  free(res);
  return 0;
}
