/* Bicubic resampling as Pillow 9.4 does it (libImaging/Resample.c:
 * precompute_coeffs, normalize_coeffs_8bpc, ImagingResampleHorizontal_8bpc,
 * ImagingResampleVertical_8bpc), in bit-exact 8-bit and in float with a
 * backward. See dlut/resize.h for the algorithm. The 8-bit path is what
 * the CLIP processors feed the model; the float path is the same linear
 * map without rounding, so the optimiser can differentiate through it. */
#include "dlut/resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/parallel.h"

#define PRECISION_BITS (32 - 8 - 2) /* Pillow's fixed-point weights */

/* Keys cubic convolution kernel with a = -0.5 (Pillow's bicubic_filter). */
static double bicubic_filter(double x) {
  const double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

/* Taps per output sample of an in -> out axis (Pillow's ksize). */
static int coeffs_ksize(int in, int out) {
  double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
  return (int)ceil(2.0 * filterscale) * 2 + 1;
}

/* The weights of an in -> out axis into k (out, ksize), which the caller
 * has zeroed, and bounds b (out, 2). */
static void coeffs_fill(int in, int out, int ksize, double *k, int *b) {
  double scale = (double)in / out, filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 2.0 * filterscale;
  double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out; xx++) {
    double center = (xx + 0.5) * scale, ww = 0.0;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double *kk = k + (size_t)xx * ksize;
    for (int x = 0; x < xmax; x++) {
      double w = bicubic_filter((x + xmin - center + 0.5) * ss);
      kk[x] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; x++)
      if (ww != 0.0) kk[x] /= ww;
    b[2 * xx] = xmin;
    b[2 * xx + 1] = xmax;
  }
}

int dlut_resize_coeffs(int in, int out, double **kp, int **bp) {
  *kp = NULL;
  *bp = NULL;
  if (in < 1 || out < 1 || in > DLUT_RESIZE_MAX_DIM || out > DLUT_RESIZE_MAX_DIM)
    return dlut_error("resize: bad size %d -> %d", in, out);
  int ksize = coeffs_ksize(in, out);
  double *k = calloc((size_t)out * (size_t)ksize, sizeof *k);
  int *b = malloc((size_t)out * 2 * sizeof *b);
  if (!k || !b) {
    free(k);
    free(b);
    return dlut_error("resize: out of memory");
  }
  coeffs_fill(in, out, ksize, k, b);
  *kp = k;
  *bp = b;
  return ksize;
}

/* ==== 8-bit, bit-exact ==== */

typedef struct {
  const uint8_t *in;
  uint8_t *out;
  const int *kq, *bounds;
  int ksize, w, ow, ch; /* row lengths in pixels: input w, output ow */
  int oh, h;
} u8_ctx;

static inline uint8_t clip8(int v) {
  if (v >= (1 << PRECISION_BITS << 8)) return 255;
  if (v <= 0) return 0;
  return (uint8_t)(v >> PRECISION_BITS);
}

static void u8_horiz_rows(void *vc, int64_t y0, int64_t y1, int thread) {
  (void)thread;
  u8_ctx *c = vc;
  for (int64_t y = y0; y < y1; y++) {
    const uint8_t *src = c->in + (size_t)y * c->w * c->ch;
    uint8_t *dst = c->out + (size_t)y * c->ow * c->ch;
    for (int x = 0; x < c->ow; x++) {
      int xmin = c->bounds[2 * x], n = c->bounds[2 * x + 1];
      const int *k = c->kq + (size_t)x * c->ksize;
      for (int ch = 0; ch < c->ch; ch++) {
        int ss = 1 << (PRECISION_BITS - 1);
        for (int t = 0; t < n; t++) ss += src[(size_t)(xmin + t) * c->ch + ch] * k[t];
        dst[(size_t)x * c->ch + ch] = clip8(ss);
      }
    }
  }
}

static void u8_vert_rows(void *vc, int64_t y0, int64_t y1, int thread) {
  (void)thread;
  u8_ctx *c = vc;
  size_t row = (size_t)c->w * c->ch; /* same width in and out */
  for (int64_t y = y0; y < y1; y++) {
    int ymin = c->bounds[2 * y], n = c->bounds[2 * y + 1];
    const int *k = c->kq + (size_t)y * c->ksize;
    uint8_t *dst = c->out + (size_t)y * row;
    for (size_t i = 0; i < row; i++) {
      int ss = 1 << (PRECISION_BITS - 1);
      for (int t = 0; t < n; t++) ss += c->in[(size_t)(ymin + t) * row + i] * k[t];
      dst[i] = clip8(ss);
    }
  }
}

/* Pillow's normalize_coeffs_8bpc: round half away from zero to 22 bits. */
static int *quantise(const double *k, int n) {
  int *q = malloc((size_t)n * sizeof *q);
  if (!q) return NULL;
  for (int i = 0; i < n; i++)
    q[i] = k[i] < 0 ? (int)(-0.5 + k[i] * (1 << PRECISION_BITS)) : (int)(0.5 + k[i] * (1 << PRECISION_BITS));
  return q;
}

static int check_sizes(int w, int h, int ch, int ow, int oh) {
  if (w < 1 || h < 1 || ow < 1 || oh < 1 || ch < 1 || ch > 16 || w > DLUT_RESIZE_MAX_DIM || h > DLUT_RESIZE_MAX_DIM ||
      ow > DLUT_RESIZE_MAX_DIM || oh > DLUT_RESIZE_MAX_DIM)
    return dlut_error("resize: bad size %dx%dx%d -> %dx%d", w, h, ch, ow, oh);
  return 0;
}

int dlut_resize_u8(const uint8_t *in, int w, int h, int ch, uint8_t *out, int ow, int oh) {
  if (check_sizes(w, h, ch, ow, oh) != 0) return -1;
  int rc = -1, ks;
  double *k = NULL;
  int *b = NULL, *kq = NULL;
  uint8_t *tmp = NULL;
  const uint8_t *src = in;
  if (ow == w && oh == h) {
    memcpy(out, in, (size_t)w * h * ch);
    return 0;
  }
  if (ow != w) {
    if ((ks = dlut_resize_coeffs(w, ow, &k, &b)) < 0) goto fail;
    if (!(kq = quantise(k, ow * ks))) goto oom;
    uint8_t *dst = out;
    if (oh != h) {
      if (!(tmp = malloc((size_t)h * ow * ch))) goto oom;
      dst = tmp;
    }
    u8_ctx c = {.in = in, .out = dst, .kq = kq, .bounds = b, .ksize = ks, .w = w, .ow = ow, .ch = ch};
    dlut_parallel_for(h, 4, u8_horiz_rows, &c);
    src = dst;
    free(k), free(b), free(kq);
    k = NULL, b = NULL, kq = NULL;
  }
  if (oh != h) {
    if ((ks = dlut_resize_coeffs(h, oh, &k, &b)) < 0) goto fail;
    if (!(kq = quantise(k, oh * ks))) goto oom;
    u8_ctx c = {.in = src, .out = out, .kq = kq, .bounds = b, .ksize = ks, .w = ow, .ch = ch};
    dlut_parallel_for(oh, 4, u8_vert_rows, &c);
  }
  rc = 0;
  goto fail;
oom:
  dlut_error("resize: out of memory");
fail:
  free(k), free(b), free(kq), free(tmp);
  return rc;
}

/* ==== float, differentiable ==== */

typedef struct {
  const float *in;
  float *out;
  const double *k;
  const int *bounds;
  int ksize, w, ow, ch, h, oh;
} f_ctx;

static void f_horiz_rows(void *vc, int64_t y0, int64_t y1, int thread) {
  (void)thread;
  f_ctx *c = vc;
  for (int64_t y = y0; y < y1; y++) {
    const float *src = c->in + (size_t)y * c->w * c->ch;
    float *dst = c->out + (size_t)y * c->ow * c->ch;
    for (int x = 0; x < c->ow; x++) {
      int xmin = c->bounds[2 * x], n = c->bounds[2 * x + 1];
      const double *k = c->k + (size_t)x * c->ksize;
      for (int ch = 0; ch < c->ch; ch++) {
        double s = 0.0;
        for (int t = 0; t < n; t++) s += src[(size_t)(xmin + t) * c->ch + ch] * k[t];
        dst[(size_t)x * c->ch + ch] = (float)s;
      }
    }
  }
}

static void f_vert_rows(void *vc, int64_t y0, int64_t y1, int thread) {
  (void)thread;
  f_ctx *c = vc;
  size_t row = (size_t)c->w * c->ch;
  for (int64_t y = y0; y < y1; y++) {
    int ymin = c->bounds[2 * y], n = c->bounds[2 * y + 1];
    const double *k = c->k + (size_t)y * c->ksize;
    float *dst = c->out + (size_t)y * row;
    for (size_t i = 0; i < row; i++) {
      double s = 0.0;
      for (int t = 0; t < n; t++) s += c->in[(size_t)(ymin + t) * row + i] * k[t];
      dst[i] = (float)s;
    }
  }
}

/* Transposed horizontal pass: rows are independent, scatter within a row.
 * in = d_out (h, ow, ch), out = d_in (h, w, ch), zeroed here. */
static void f_horiz_t_rows(void *vc, int64_t y0, int64_t y1, int thread) {
  (void)thread;
  f_ctx *c = vc;
  for (int64_t y = y0; y < y1; y++) {
    const float *src = c->in + (size_t)y * c->ow * c->ch;
    float *dst = c->out + (size_t)y * c->w * c->ch;
    memset(dst, 0, sizeof(float) * (size_t)c->w * c->ch);
    for (int x = 0; x < c->ow; x++) {
      int xmin = c->bounds[2 * x], n = c->bounds[2 * x + 1];
      const double *k = c->k + (size_t)x * c->ksize;
      for (int t = 0; t < n; t++)
        for (int ch = 0; ch < c->ch; ch++)
          dst[(size_t)(xmin + t) * c->ch + ch] += (float)(k[t] * src[(size_t)x * c->ch + ch]);
    }
  }
}

/* Transposed vertical pass: split by columns so scatters never collide.
 * in = d_out (oh, row), out = d_in (h, row). */
static void f_vert_t_cols(void *vc, int64_t i0, int64_t i1, int thread) {
  (void)thread;
  f_ctx *c = vc;
  size_t row = (size_t)c->w * c->ch;
  for (int y = 0; y < c->h; y++)
    for (int64_t i = i0; i < i1; i++) c->out[(size_t)y * row + i] = 0.0f;
  for (int yo = 0; yo < c->oh; yo++) {
    int ymin = c->bounds[2 * yo], n = c->bounds[2 * yo + 1];
    const double *k = c->k + (size_t)yo * c->ksize;
    const float *src = c->in + (size_t)yo * row;
    for (int t = 0; t < n; t++) {
      float *dst = c->out + (size_t)(ymin + t) * row;
      float kt = (float)k[t];
      for (int64_t i = i0; i < i1; i++) dst[i] += kt * src[i];
    }
  }
}

/* ==== Scratch ==== */

void dlut_resize_scratch_init(dlut_resize_scratch *s) {
  memset(s, 0, sizeof *s);
}

void dlut_resize_scratch_free(dlut_resize_scratch *s) {
  if (!s) return;
  free(s->k);
  free(s->bounds);
  free(s->tmp);
  memset(s, 0, sizeof *s);
}

/* *p holds at least `bytes` (its contents are not kept when it grows). */
static int grow(void **p, size_t *cap, size_t bytes) {
  if (bytes <= *cap) return 0;
  void *q = malloc(bytes);
  if (!q) return -1;
  free(*p);
  *p = q;
  *cap = bytes;
  return 0;
}

int dlut_resize_scratch_reserve(dlut_resize_scratch *s, int w, int h, int ch, int ow, int oh) {
  if (check_sizes(w, h, ch, ow, oh) != 0) return -1;
  size_t kb = 0, bb = 0, tb = 0;
  if (ow != w) {
    kb = (size_t)ow * (size_t)coeffs_ksize(w, ow) * sizeof(double);
    bb = (size_t)ow * 2 * sizeof(int);
  }
  if (oh != h) {
    size_t k2 = (size_t)oh * (size_t)coeffs_ksize(h, oh) * sizeof(double), b2 = (size_t)oh * 2 * sizeof(int);
    kb = k2 > kb ? k2 : kb;
    bb = b2 > bb ? b2 : bb;
  }
  if (ow != w && oh != h) tb = sizeof(float) * (size_t)h * ow * ch; /* between the passes, both ways */
  if (grow((void **)&s->k, &s->k_bytes, kb) != 0 || grow((void **)&s->bounds, &s->bounds_bytes, bb) != 0 ||
      grow((void **)&s->tmp, &s->tmp_bytes, tb) != 0)
    return dlut_error("resize: out of memory");
  return 0;
}

/* The weights of an in -> out axis into the scratch (reserved); returns ksize. */
static int scratch_coeffs(dlut_resize_scratch *s, int in, int out) {
  int ks = coeffs_ksize(in, out);
  memset(s->k, 0, (size_t)out * ks * sizeof(double));
  coeffs_fill(in, out, ks, s->k, s->bounds);
  return ks;
}

/* ==== float, differentiable: the passes ==== */

int dlut_resize_f32(const float *in, int w, int h, int ch, float *out, int ow, int oh) {
  dlut_resize_scratch s;
  dlut_resize_scratch_init(&s);
  int rc = dlut_resize_f32_ws(in, w, h, ch, out, ow, oh, &s);
  dlut_resize_scratch_free(&s);
  return rc;
}

int dlut_resize_f32_backward(const float *d_out, int ow, int oh, int ch, float *d_in, int w, int h) {
  dlut_resize_scratch s;
  dlut_resize_scratch_init(&s);
  int rc = dlut_resize_f32_backward_ws(d_out, ow, oh, ch, d_in, w, h, &s);
  dlut_resize_scratch_free(&s);
  return rc;
}

int dlut_resize_f32_ws(const float *in, int w, int h, int ch, float *out, int ow, int oh, dlut_resize_scratch *s) {
  if (check_sizes(w, h, ch, ow, oh) != 0) return -1;
  if (ow == w && oh == h) {
    memcpy(out, in, sizeof(float) * (size_t)w * h * ch);
    return 0;
  }
  if (dlut_resize_scratch_reserve(s, w, h, ch, ow, oh) != 0) return -1;
  const float *src = in;
  if (ow != w) {
    int ks = scratch_coeffs(s, w, ow);
    float *dst = oh != h ? s->tmp : out;
    f_ctx c = {.in = in, .out = dst, .k = s->k, .bounds = s->bounds, .ksize = ks, .w = w, .ow = ow, .ch = ch};
    dlut_parallel_for(h, 4, f_horiz_rows, &c);
    src = dst;
  }
  if (oh != h) {
    int ks = scratch_coeffs(s, h, oh);
    f_ctx c = {.in = src, .out = out, .k = s->k, .bounds = s->bounds, .ksize = ks, .w = ow, .ch = ch};
    dlut_parallel_for(oh, 4, f_vert_rows, &c);
  }
  return 0;
}

int dlut_resize_f32_backward_ws(const float *d_out, int ow, int oh, int ch, float *d_in, int w, int h,
                                dlut_resize_scratch *s) {
  if (check_sizes(w, h, ch, ow, oh) != 0) return -1;
  if (ow == w && oh == h) {
    memcpy(d_in, d_out, sizeof(float) * (size_t)w * h * ch);
    return 0;
  }
  if (dlut_resize_scratch_reserve(s, w, h, ch, ow, oh) != 0) return -1;
  const float *src = d_out;
  /* forward was H then V, so the backward is V^T then H^T */
  if (oh != h) {
    int ks = scratch_coeffs(s, h, oh);
    float *dst = ow != w ? s->tmp : d_in;
    f_ctx c = {
        .in = d_out, .out = dst, .k = s->k, .bounds = s->bounds, .ksize = ks, .w = ow, .ch = ch, .h = h, .oh = oh};
    dlut_parallel_for((int64_t)ow * ch, 64, f_vert_t_cols, &c);
    src = dst;
  }
  if (ow != w) {
    int ks = scratch_coeffs(s, w, ow);
    f_ctx c = {.in = src, .out = d_in, .k = s->k, .bounds = s->bounds, .ksize = ks, .w = w, .ow = ow, .ch = ch};
    dlut_parallel_for(h, 4, f_horiz_t_rows, &c);
  }
  return 0;
}
