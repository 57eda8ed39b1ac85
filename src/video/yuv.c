/* src/video/yuv.c - decoded video planes <-> float R'G'B', without loss.
 *
 * The matrix and range arithmetic of ITU-R BT.601-7, BT.709-6 and
 * BT.2020-2 (section "Derivation of luminance and colour-difference
 * signals" and the quantisation tables), for any bit depth n from 8 to 16:
 *     Y' = Kr R' + Kg G' + Kb B',  Kg = 1 - Kr - Kb
 *     Cb = (B' - Y') / (2 (1 - Kb)),  Cr = (R' - Y') / (2 (1 - Kr))
 *     limited range: Y = (219 Y' + 16) 2^(n-8),   C = (224 C + 128) 2^(n-8)
 *     full range:    Y = (2^n - 1) Y',            C = (2^n - 1) C + 2^(n-1)
 * (full range as BT.2100-2 Table 9 and FFmpeg's AVCOL_RANGE_JPEG define it).
 *
 * Chroma subsampling is handled so that the round trip is exact: a chroma
 * sample is used as it is for every luma sample of its block (2x2 for
 * 4:2:0, 2x1 for 4:2:2) and the output chroma is the mean over the block,
 * so with an identity LUT the mean of equal values gives the sample back.
 * No resampling filter blurs chroma, and the float RGB is never clamped
 * here, so colours outside the RGB cube survive the trip too. The fast
 * versions are plain loops the compiler vectorises, split over rows with
 * dlut_parallel_for; the references beside them work in double. */
#include <math.h>
#include <string.h>

#include "dlut/parallel.h"
#include "video/video_internal.h"

/* ==== Coefficients ==== */

int vid_matrix_coeffs(int spc, int width, int height, double *kr, double *kb) {
  switch (spc) {
    case 1: /* AVCOL_SPC_BT709 */
      *kr = 0.2126, *kb = 0.0722;
      return 0;
    case 4: /* AVCOL_SPC_FCC (47 CFR 73.682) */
      *kr = 0.30, *kb = 0.11;
      return 0;
    case 5: /* AVCOL_SPC_BT470BG */
    case 6: /* AVCOL_SPC_SMPTE170M: both BT.601 */
      *kr = 0.299, *kb = 0.114;
      return 0;
    case 7: /* AVCOL_SPC_SMPTE240M */
      *kr = 0.212, *kb = 0.087;
      return 0;
    case 9: /* AVCOL_SPC_BT2020_NCL */
      *kr = 0.2627, *kb = 0.0593;
      return 0;
    case 2: /* AVCOL_SPC_UNSPECIFIED */
    case 3: /* AVCOL_SPC_RESERVED */
      if (width >= 1280 || height >= 720)
        *kr = 0.2126, *kb = 0.0722;
      else
        *kr = 0.299, *kb = 0.114;
      return 0;
    default: /* RGB (0) is handled by the caller; YCgCo, BT.2020 CL, SMPTE 2085, ICtCp: not converted */
      return -1;
  }
}

/* code -> value: v = code * scale + offset, per kind of channel */
typedef struct code_map {
  float ys, yo; /* luma (or R, G, B) */
  float cs, co; /* chroma */
  float maxc;   /* 2^bits - 1 */
} code_map;

static code_map map_of(const vid_layout *l) {
  code_map m;
  const double top = (double)((1 << l->bits) - 1), s = (double)(1 << (l->bits - 8));
  m.maxc = (float)top;
  if (l->rgb || l->full) {
    m.ys = (float)(1.0 / top), m.yo = 0.0f;
    m.cs = (float)(1.0 / top), m.co = (float)(-(double)(1 << (l->bits - 1)) / top);
  } else {
    m.ys = (float)(1.0 / (219.0 * s)), m.yo = (float)(-16.0 / 219.0);
    m.cs = (float)(1.0 / (224.0 * s)), m.co = (float)(-128.0 / 224.0);
  }
  return m;
}

/* the same map in double, for the references */
static void map_of_d(const vid_layout *l, int chroma, double *scale, double *offset) {
  const double top = (double)((1 << l->bits) - 1), s = (double)(1 << (l->bits - 8));
  if (l->rgb || l->full) {
    *scale = 1.0 / top;
    *offset = chroma && !l->rgb ? -(double)(1 << (l->bits - 1)) / top : 0.0;
  } else if (!chroma) {
    *scale = 1.0 / (219.0 * s), *offset = -16.0 / 219.0;
  } else {
    *scale = 1.0 / (224.0 * s), *offset = -128.0 / 224.0;
  }
}

/* component c of sample (x, y); wide = 16-bit words */
static inline unsigned rd(const vid_layout *l, const vid_planes *p, int wide, int c, int x, int y) {
  const int pl = l->plane[c];
  const uint8_t *s =
      p->data[pl] + (size_t)y * (size_t)p->linesize[pl] + (size_t)x * (size_t)l->step[c] + (size_t)l->offset[c];
  unsigned v;
  if (wide) {
    uint16_t w;
    memcpy(&w, s, 2);
    v = w;
  } else {
    v = *s;
  }
  return (v >> l->shift[c]) & ((1u << l->bits) - 1);
}

static inline void wr(const vid_layout *l, vid_planes *p, int wide, int c, int x, int y, unsigned v) {
  const int pl = l->plane[c];
  uint8_t *d =
      p->data[pl] + (size_t)y * (size_t)p->linesize[pl] + (size_t)x * (size_t)l->step[c] + (size_t)l->offset[c];
  v <<= l->shift[c];
  if (wide) {
    uint16_t w = (uint16_t)v;
    memcpy(d, &w, 2);
  } else {
    *d = (uint8_t)v;
  }
}

static inline unsigned quant(float v, float maxc) {
  v = v > 0.0f ? v : 0.0f; /* also maps NaN to 0 */
  v = v < maxc ? v : maxc;
  return (unsigned)(v + 0.5f);
}

/* ==== Planes -> RGB ==== */

typedef struct conv_ctx {
  const vid_layout *l;
  vid_planes *p;
  float *rgb;
  const float *crgb;
} conv_ctx;

static void to_rgb_rows(void *ctx, int64_t y0, int64_t y1, int thread) {
  (void)thread;
  const conv_ctx *c = ctx;
  const vid_layout *l = c->l;
  const vid_planes *p = c->p;
  const code_map m = map_of(l);
  const int w = p->width, wide = l->bits > 8;
  const float kr = (float)l->kr, kb = (float)l->kb, kg = 1.0f - kr - kb;
  const float r_cr = 2.0f * (1.0f - kr), b_cb = 2.0f * (1.0f - kb);
  const float g_cb = -b_cb * kb / kg, g_cr = -r_cr * kr / kg;
  for (int64_t y = y0; y < y1; y++) {
    float *o = c->rgb + (size_t)y * (size_t)w * 3;
    if (l->rgb) {
      for (int x = 0; x < w; x++) {
        o[3 * x + 0] = (float)rd(l, p, wide, 0, x, (int)y) * m.ys;
        o[3 * x + 1] = (float)rd(l, p, wide, 1, x, (int)y) * m.ys;
        o[3 * x + 2] = (float)rd(l, p, wide, 2, x, (int)y) * m.ys;
      }
      continue;
    }
    const int cy = (int)y >> l->log2_ch;
    for (int x = 0; x < w; x++) {
      const int cx = x >> l->log2_cw;
      const float Y = (float)rd(l, p, wide, 0, x, (int)y) * m.ys + m.yo;
      const float cb = (float)rd(l, p, wide, 1, cx, cy) * m.cs + m.co;
      const float cr = (float)rd(l, p, wide, 2, cx, cy) * m.cs + m.co;
      o[3 * x + 0] = Y + r_cr * cr;
      o[3 * x + 1] = Y + g_cb * cb + g_cr * cr;
      o[3 * x + 2] = Y + b_cb * cb;
    }
  }
}

void vid_to_rgb(const vid_layout *l, const vid_planes *p, float *rgb) {
  conv_ctx c = {l, (vid_planes *)p, rgb, NULL};
  int64_t grain = 16384 / (p->width > 0 ? p->width : 1);
  dlut_parallel_for(p->height, grain > 0 ? grain : 1, to_rgb_rows, &c);
}

/* ==== RGB -> planes ==== */

/* one task = chroma rows [cy0, cy1): every luma row they cover */
static void from_rgb_rows(void *ctx, int64_t cy0, int64_t cy1, int thread) {
  (void)thread;
  const conv_ctx *c = ctx;
  const vid_layout *l = c->l;
  vid_planes *p = c->p;
  const code_map m = map_of(l);
  const int w = p->width, h = p->height, wide = l->bits > 8;
  const float iys = 1.0f / m.ys, iyo = -m.yo / m.ys, ics = 1.0f / m.cs, ico = -m.co / m.cs;
  if (l->rgb) {
    for (int64_t y = cy0; y < cy1; y++) {
      const float *s = c->crgb + (size_t)y * (size_t)w * 3;
      for (int x = 0; x < w; x++) {
        wr(l, p, wide, 0, x, (int)y, quant(s[3 * x + 0] * iys, m.maxc));
        wr(l, p, wide, 1, x, (int)y, quant(s[3 * x + 1] * iys, m.maxc));
        wr(l, p, wide, 2, x, (int)y, quant(s[3 * x + 2] * iys, m.maxc));
      }
    }
    return;
  }
  const float kr = (float)l->kr, kb = (float)l->kb, kg = 1.0f - kr - kb;
  const float icb = 1.0f / (2.0f * (1.0f - kb)), icr = 1.0f / (2.0f * (1.0f - kr));
  const int bw = 1 << l->log2_cw, bh = 1 << l->log2_ch, cw = (w + bw - 1) >> l->log2_cw;
  for (int64_t cy = cy0; cy < cy1; cy++) {
    const int ya = (int)cy << l->log2_ch, yb = ya + bh < h ? ya + bh : h;
    for (int cx = 0; cx < cw; cx++) {
      const int xa = cx << l->log2_cw, xb = xa + bw < w ? xa + bw : w;
      float sb = 0.0f, sr = 0.0f;
      for (int y = ya; y < yb; y++) {
        const float *s = c->crgb + ((size_t)y * (size_t)w + (size_t)xa) * 3;
        for (int x = xa; x < xb; x++, s += 3) {
          const float Y = kr * s[0] + kg * s[1] + kb * s[2];
          sb += (s[2] - Y) * icb;
          sr += (s[0] - Y) * icr;
          wr(l, p, wide, 0, x, y, quant(Y * iys + iyo, m.maxc));
        }
      }
      const float inv = 1.0f / (float)((yb - ya) * (xb - xa));
      wr(l, p, wide, 1, cx, (int)cy, quant(sb * inv * ics + ico, m.maxc));
      wr(l, p, wide, 2, cx, (int)cy, quant(sr * inv * ics + ico, m.maxc));
    }
  }
}

void vid_from_rgb(const vid_layout *l, const float *rgb, vid_planes *p) {
  conv_ctx c = {l, p, NULL, rgb};
  const int shift = l->rgb ? 0 : l->log2_ch;
  const int64_t rows = ((int64_t)p->height + (1 << shift) - 1) >> shift;
  int64_t grain = (16384 >> shift) / (p->width > 0 ? p->width : 1);
  dlut_parallel_for(rows, grain > 0 ? grain : 1, from_rgb_rows, &c);
}

/* ==== Naive references ==== */

static unsigned quant_d(double v, double maxc) {
  if (!(v > 0.0)) return 0;
  if (v > maxc) return (unsigned)maxc;
  return (unsigned)floor(v + 0.5);
}

void vid_to_rgb_ref(const vid_layout *l, const vid_planes *p, float *rgb) {
  double ys, yo, cs, co;
  map_of_d(l, 0, &ys, &yo);
  map_of_d(l, 1, &cs, &co);
  const int wide = l->bits > 8;
  const double kr = l->kr, kb = l->kb, kg = 1.0 - kr - kb;
  for (int y = 0; y < p->height; y++)
    for (int x = 0; x < p->width; x++) {
      float *o = rgb + ((size_t)y * (size_t)p->width + (size_t)x) * 3;
      if (l->rgb) {
        o[0] = (float)(rd(l, p, wide, 0, x, y) * ys);
        o[1] = (float)(rd(l, p, wide, 1, x, y) * ys);
        o[2] = (float)(rd(l, p, wide, 2, x, y) * ys);
        continue;
      }
      const double Y = rd(l, p, wide, 0, x, y) * ys + yo;
      const double cb = rd(l, p, wide, 1, x >> l->log2_cw, y >> l->log2_ch) * cs + co;
      const double cr = rd(l, p, wide, 2, x >> l->log2_cw, y >> l->log2_ch) * cs + co;
      const double r = Y + 2.0 * (1.0 - kr) * cr, b = Y + 2.0 * (1.0 - kb) * cb;
      o[0] = (float)r;
      o[1] = (float)((Y - kr * r - kb * b) / kg);
      o[2] = (float)b;
    }
}

void vid_from_rgb_ref(const vid_layout *l, const float *rgb, vid_planes *p) {
  double ys, yo, cs, co;
  map_of_d(l, 0, &ys, &yo);
  map_of_d(l, 1, &cs, &co);
  const int wide = l->bits > 8, w = p->width, h = p->height;
  const double maxc = (double)((1 << l->bits) - 1), kr = l->kr, kb = l->kb, kg = 1.0 - kr - kb;
  if (l->rgb) {
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++) {
        const float *s = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
        wr(l, p, wide, 0, x, y, quant_d(s[0] / ys, maxc));
        wr(l, p, wide, 1, x, y, quant_d(s[1] / ys, maxc));
        wr(l, p, wide, 2, x, y, quant_d(s[2] / ys, maxc));
      }
    return;
  }
  for (int y = 0; y < h; y++) /* luma, pixel by pixel */
    for (int x = 0; x < w; x++) {
      const float *s = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
      wr(l, p, wide, 0, x, y, quant_d((kr * s[0] + kg * s[1] + kb * s[2] - yo) / ys, maxc));
    }
  const int cw = (w + (1 << l->log2_cw) - 1) >> l->log2_cw, ch = (h + (1 << l->log2_ch) - 1) >> l->log2_ch;
  for (int cy = 0; cy < ch; cy++) /* chroma: the mean over each block */
    for (int cx = 0; cx < cw; cx++) {
      double sb = 0.0, sr = 0.0;
      int n = 0;
      for (int y = cy << l->log2_ch; y < ((cy + 1) << l->log2_ch) && y < h; y++)
        for (int x = cx << l->log2_cw; x < ((cx + 1) << l->log2_cw) && x < w; x++, n++) {
          const float *s = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
          const double Y = kr * s[0] + kg * s[1] + kb * s[2];
          sb += (s[2] - Y) / (2.0 * (1.0 - kb));
          sr += (s[0] - Y) / (2.0 * (1.0 - kr));
        }
      wr(l, p, wide, 1, cx, cy, quant_d((sb / n - co) / cs, maxc));
      wr(l, p, wide, 2, cx, cy, quant_d((sr / n - co) / cs, maxc));
    }
}
