/* ColorizeDiffusion's zero-shot manipulation of CLIP tokens (dlut/manip.h):
 * the global step on the CLS token, the control map, the piecewise weights
 * (compute_pwv), the local step, the text map of a photo and its heatmap.
 * Formulas from tellurion-kanata/colorizeDiffusion refnet/sampling/
 * manipulation.py and backend/functool.py (commit c9bd9fb); the reference
 * values in clip-ref/<model>/ref/manipulation/ were made by those
 * functions and `dlut refcheck` compares with them. Dot products and the
 * edits are accumulated in double; tokens stay float. */
#include "dlut/manip.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/resize.h"

static const float k_default_thresholds[4] = {0.5f, 0.55f, 0.65f, 0.95f};

void dlut_manip_edit_init(dlut_manip_edit *e) {
  memset(e, 0, sizeof *e);
  memcpy(e->thresholds, k_default_thresholds, sizeof e->thresholds);
  e->ratio = 2.0f;
}

static double dot(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

int dlut_manip_text(dlut_clip *model, const char *text, float *out) {
  if (!model || !text || !out) return dlut_error("manip: text needs a model, a text and an output");
  const dlut_clip_info *info = dlut_clip_get_info(model);
  if (dlut_clip_encode_text(model, text, out) != 0) return -1;
  double n = sqrt(dot(out, out, info->embed_dim));
  if (!(n > 0) || !isfinite(n)) return dlut_error("manip: the embedding of \"%.60s\" is zero or not finite", text);
  for (int k = 0; k < info->embed_dim; k++) out[k] = (float)(out[k] / n);
  return 0;
}

int dlut_manip_applies(const dlut_manip_edit *edits, int n) {
  for (int i = 0; edits && i < n; i++)
    if (edits[i].scale > 0) return 1;
  return 0;
}

/* ==== Global ==== */

int dlut_manip_global_step(float *v, int E, const dlut_manip_edit *e) {
  if (!v || !e || !e->target || E < 1) return dlut_error("manip: global step needs a token, a target and E >= 1");
  const float *t = e->target, *a = e->anchor;
  double s = e->scale;
  if (!isfinite(s)) return dlut_error("manip: the scale is not finite");
  if (a) {
    if (e->enhance) { /* v - (v.a) a + s t */
      double va = dot(v, a, E);
      for (int k = 0; k < E; k++) v[k] = (float)((double)v[k] - va * a[k] + s * t[k]);
    } else { /* v + s (t - a) */
      for (int k = 0; k < E; k++) v[k] = (float)((double)v[k] + s * ((double)t[k] - a[k]));
    }
  } else if (e->enhance) { /* v + s t */
    for (int k = 0; k < E; k++) v[k] = (float)((double)v[k] + s * t[k]);
  } else { /* v + (s - v.t) t: afterwards v.t = s */
    double d = s - dot(v, t, E);
    for (int k = 0; k < E; k++) v[k] = (float)((double)v[k] + d * t[k]);
  }
  return 0;
}

int dlut_manip_global(float *v, int E, const dlut_manip_edit *edits, int n) {
  if (n < 0 || (n > 0 && !edits)) return dlut_error("manip: bad edit list");
  for (int i = 0; i < n; i++)
    if (dlut_manip_global_step(v, E, &edits[i]) != 0) return -1;
  return 0;
}

/* ==== Local ==== */

int dlut_manip_control_map(const float *tokens, int P, int E, const float *c, float *c_map) {
  if (!tokens || !c || !c_map || P < 1 || E < 1) return dlut_error("manip: control map needs tokens, a text and P, E");
  for (int p = 0; p < P; p++) c_map[p] = (float)dot(tokens + (size_t)(p + 1) * E, c, E);
  return 0;
}

int dlut_manip_normalize(const float *map, int P, float *m) {
  if (!map || !m || P < 1) return dlut_error("manip: normalize needs a map");
  double lo = INFINITY, hi = -INFINITY;
  for (int p = 0; p < P; p++) {
    if (!isfinite(map[p])) return dlut_error("manip: the control map is not finite");
    if (map[p] < lo) lo = map[p];
    if (map[p] > hi) hi = map[p];
  }
  /* upstream divides by max - min unguarded (0/0 = NaN for a constant map) */
  if (!(hi > lo)) return dlut_error("manip: the control map is constant (no token is nearer the text than another)");
  double d = hi - lo;
  for (int p = 0; p < P; p++) m[p] = (float)(((double)map[p] - lo) / d);
  return 0;
}

/* compute_pwv for one normalised value, in torch.where's order (each later
 * condition overrides the earlier ones; only the selected branch is
 * evaluated, and a selected branch's interval is never empty, so no
 * denominator is 0, whatever the thresholds). */
static double pwv(double m, double ds, const float *th, double ratio) {
  double t0 = th[0], t1 = th[1], t2 = th[2], t3 = th[3];
  if (m > t3) return ds;
  if (m > t2) return 0.5 * ds + 0.5 * ds * (m - t2) / (t3 - t2);
  if (m > t1) return 0.5 * ds * (m - t1) / (t2 - t1);
  if (m <= t0) return -ds * ratio;
  return -ds + ds * (m - t0) / (t1 - t0);
}

static const float *thresholds_or_default(const float *th) {
  if (!th || (th[0] == 0 && th[1] == 0 && th[2] == 0 && th[3] == 0)) return k_default_thresholds;
  return th;
}

static int thresholds_check(const float *th) {
  for (int i = 0; i < 4; i++)
    if (!isfinite(th[i])) return dlut_error("manip: the PWM thresholds must be finite");
  return 0;
}

int dlut_manip_pwm(const float *c_map, int P, double dscale, const float *thresholds, float ratio, float *pwm,
                   float *m_out) {
  if (!c_map || !pwm || P < 1) return dlut_error("manip: pwm needs a control map and an output");
  const float *th = thresholds_or_default(thresholds);
  if (thresholds_check(th) != 0) return -1;
  double r = ratio == 0 ? 2.0 : ratio;
  float *m = m_out ? m_out : malloc(sizeof(float) * (size_t)P);
  if (!m) return dlut_error("manip: out of memory");
  int rc = dlut_manip_normalize(c_map, P, m);
  if (rc == 0)
    for (int p = 0; p < P; p++) pwm[p] = (float)pwv(m[p], dscale, th, r);
  if (!m_out) free(m);
  return rc;
}

int dlut_manip_local_step(float *tokens, int P, int E, const dlut_manip_edit *e, dlut_manip_trace *trace) {
  if (!tokens || !e || !e->target || P < 1 || E < 1)
    return dlut_error("manip: local step needs tokens, a target and P, E >= 1");
  if (!isfinite(e->scale)) return dlut_error("manip: the scale is not finite");
  const float *cls = tokens, *t = e->target, *a = e->anchor;
  float *buf = malloc(sizeof(float) * (size_t)P * 3);
  if (!buf) return dlut_error("manip: out of memory");
  float *c_map = buf, *pwm = buf + P, *a_map = buf + 2 * (size_t)P;
  int rc = -1;
  double s = e->scale, cur = dot(cls, t, E), as = a ? dot(cls, a, E) : 0;
  /* with an anchor and enhance, dscale is measured against the anchor */
  double ds = a && e->enhance ? s - as : s - cur;
  if (e->control) {
    if (dlut_manip_control_map(tokens, P, E, e->control, c_map) != 0) goto done;
    if (dlut_manip_pwm(c_map, P, ds, e->thresholds, e->ratio, pwm, trace ? trace->m : NULL) != 0) goto done;
  } else { /* "everything": the same weight for every token */
    for (int p = 0; p < P; p++) pwm[p] = (float)ds;
  }
  if (a)
    for (int p = 0; p < P; p++) a_map[p] = (float)dot(tokens + (size_t)(p + 1) * E, a, E);
  for (int p = 0; p < P; p++) {
    float *l = tokens + (size_t)(p + 1) * E;
    if (a) { /* l + (pwm + base * l.a) (t - a), base = enhance */
      double w = (double)pwm[p] + (e->enhance ? (double)a_map[p] : 0.0);
      for (int k = 0; k < E; k++) l[k] = (float)((double)l[k] + w * ((double)t[k] - a[k]));
    } else { /* enhance is ignored without an anchor, as upstream */
      double w = pwm[p];
      for (int k = 0; k < E; k++) l[k] = (float)((double)l[k] + w * t[k]);
    }
  }
  if (trace) {
    trace->cur = cur;
    trace->anchor_scale = as;
    trace->dscale = ds;
    if (trace->c_map && e->control) memcpy(trace->c_map, c_map, sizeof(float) * (size_t)P);
    if (trace->a_map && a) memcpy(trace->a_map, a_map, sizeof(float) * (size_t)P);
    if (trace->pwm) memcpy(trace->pwm, pwm, sizeof(float) * (size_t)P);
  }
  rc = 0;
done:
  free(buf);
  return rc;
}

int dlut_manip_local(float *tokens, int P, int E, const dlut_manip_edit *edits, int n) {
  if (n < 0 || (n > 0 && !edits)) return dlut_error("manip: bad edit list");
  for (int i = 0; i < n; i++)
    if (dlut_manip_local_step(tokens, P, E, &edits[i], NULL) != 0) return -1;
  return 0;
}

/* ==== Maps of a photo ==== */

int dlut_manip_text_map(dlut_clip *model, const dlut_image *photo, const char *text, const dlut_manip_edit *edits,
                        int n_edits, float *map, float *raw) {
  if (!model || !photo || !text || !map) return dlut_error("manip: text map needs a model, a photo, a text, an output");
  dlut_clip_info info = *dlut_clip_get_info(model);
  int S = info.image_size, E = info.embed_dim, P = info.n_patch_tokens;
  int rc = -1;
  float *pixels = NULL, *tokens = NULL, *c = NULL, *rgb = NULL, *c_map = NULL;
  dlut_image *f = dlut_image_convert(photo, 3, DLUT_PIXEL_F32);
  if (!f) return -1;
  int w = f->width, h = f->height;
  pixels = malloc(sizeof(float) * 3 * (size_t)S * S);
  tokens = malloc(sizeof(float) * (size_t)(1 + P) * E);
  c = malloc(sizeof(float) * (size_t)E);
  c_map = malloc(sizeof(float) * (size_t)P);
  rgb = malloc(sizeof(float) * 3 * (size_t)w * h);
  if (!pixels || !tokens || !c || !c_map || !rgb) {
    dlut_error("manip: out of memory");
    goto done;
  }
  for (int y = 0; y < h; y++)
    memcpy(rgb + (size_t)y * w * 3, (const uint8_t *)f->data + (size_t)y * f->stride, sizeof(float) * 3 * (size_t)w);
  /* the whole frame resized to S x S, as ColorizeDiffusion's embedder
   * (F.interpolate to (S, S), no crop), so the token grid covers the photo */
  info.center_crop = 0;
  if (dlut_clip_preprocess(&info, rgb, w, h, pixels) != 0) goto done;
  if (dlut_clip_encode_image(model, pixels, tokens) != 0) goto done;
  if (dlut_clip_image_tokens(model, tokens) != 0) goto done;
  if (dlut_manip_local(tokens, P, E, edits, n_edits) != 0) goto done;
  if (dlut_manip_text(model, text, c) != 0) goto done;
  if (dlut_manip_control_map(tokens, P, E, c, c_map) != 0) goto done;
  if (raw) memcpy(raw, c_map, sizeof(float) * (size_t)P);
  if (dlut_manip_normalize(c_map, P, map) != 0) goto done;
  rc = 0;
done:
  dlut_image_free(f);
  free(pixels), free(tokens), free(c), free(rgb), free(c_map);
  return rc;
}

/* PyTorch's cubic convolution kernel, A = -0.75 (upsample_bicubic2d). */
static void cubic_weights(double t, double w[4]) {
  const double A = -0.75;
  double x;
  x = t + 1;
  w[0] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  x = t;
  w[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 1 - t;
  w[2] = ((A + 2) * x - (A + 3)) * x * x + 1;
  x = 2 - t;
  w[3] = ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/* Taps of one output coordinate: F.interpolate(align_corners=False):
 * source = (i + 0.5) * in/out - 0.5 (not clamped for cubic), neighbours
 * clamped to the border. */
static void taps(int i, int in, int out, int idx[4], double w[4]) {
  double src = (i + 0.5) * ((double)in / out) - 0.5;
  double f = floor(src);
  cubic_weights(src - f, w);
  for (int k = 0; k < 4; k++) {
    long j = (long)f - 1 + k;
    idx[k] = (int)(j < 0 ? 0 : j >= in ? in - 1 : j);
  }
}

int dlut_manip_upsample(const float *src, int G, float *dst, int w, int h) {
  if (!src || !dst || G < 1 || w < 1 || h < 1) return dlut_error("manip: upsample needs a map and sizes");
  /* horizontal pass into (G, w), then vertical; ~ (G + h) w taps */
  double *tmp = malloc(sizeof(double) * (size_t)G * w);
  int *xi = malloc(sizeof(int) * 4 * (size_t)w);
  double *xw = malloc(sizeof(double) * 4 * (size_t)w);
  if (!tmp || !xi || !xw) {
    free(tmp), free(xi), free(xw);
    return dlut_error("manip: out of memory");
  }
  for (int x = 0; x < w; x++) taps(x, G, w, xi + 4 * (size_t)x, xw + 4 * (size_t)x);
  for (int gy = 0; gy < G; gy++)
    for (int x = 0; x < w; x++) {
      const int *ix = xi + 4 * (size_t)x;
      const double *wx = xw + 4 * (size_t)x;
      const float *row = src + (size_t)gy * G;
      tmp[(size_t)gy * w + x] = wx[0] * row[ix[0]] + wx[1] * row[ix[1]] + wx[2] * row[ix[2]] + wx[3] * row[ix[3]];
    }
  for (int y = 0; y < h; y++) {
    int iy[4];
    double wy[4];
    taps(y, G, h, iy, wy);
    for (int x = 0; x < w; x++)
      dst[(size_t)y * w + x] = (float)(wy[0] * tmp[(size_t)iy[0] * w + x] + wy[1] * tmp[(size_t)iy[1] * w + x] +
                                       wy[2] * tmp[(size_t)iy[2] * w + x] + wy[3] * tmp[(size_t)iy[3] * w + x]);
  }
  free(tmp), free(xi), free(xw);
  return 0;
}

/* OpenCV's COLORMAP_JET at level v (0..255): its 256-entry table is
 * r = clamp(min(4x - 1.5, 4.5 - 4x)), g = clamp(min(4x - 0.5, 3.5 - 4x)),
 * b = clamp(min(4x + 0.5, 2.5 - 4x)), x = v / 255, rounded to 8 bits. */
static void jet(int v, uint8_t rgb[3]) {
  double x = v / 255.0;
  double c[3] = {fmin(4 * x - 1.5, 4.5 - 4 * x), fmin(4 * x - 0.5, 3.5 - 4 * x), fmin(4 * x + 0.5, 2.5 - 4 * x)};
  for (int i = 0; i < 3; i++) {
    double y = c[i] < 0 ? 0 : c[i] > 1 ? 1 : c[i];
    rgb[i] = (uint8_t)lrint(y * 255);
  }
}

dlut_image *dlut_manip_heatmap(const dlut_image *photo, const float *map, int G, const float *thresholds) {
  if (!photo || !map || G < 1) {
    dlut_error("manip: heatmap needs a photo and a map");
    return NULL;
  }
  const float *th = thresholds ? thresholds : k_default_thresholds;
  dlut_image *u8 = dlut_image_convert(photo, 3, DLUT_PIXEL_U8), *out = NULL;
  float *up = NULL;
  uint8_t *packed = NULL, *small = NULL;
  if (!u8) return NULL;
  int w = u8->width, h = u8->height;
  /* visualize_heatmaps: a reference over 4096 on a side is resized (PIL
   * bicubic) so its long side is 4096 */
  const int cap = 4096;
  int ow = w, oh = h;
  if (w > cap || h > cap) {
    if (w > h)
      ow = cap, oh = (int)((double)cap / w * h);
    else
      oh = cap, ow = (int)((double)cap / h * w);
    if (ow < 1) ow = 1;
    if (oh < 1) oh = 1;
  }
  if (!(out = dlut_image_alloc(ow, oh, 3, DLUT_PIXEL_U8)) || !(up = malloc(sizeof(float) * (size_t)ow * oh))) {
    dlut_error("manip: out of memory for a %d x %d heatmap", ow, oh);
    goto fail;
  }
  if (ow != w || oh != h) {
    packed = malloc((size_t)w * h * 3);
    small = malloc((size_t)ow * oh * 3);
    if (!packed || !small) {
      dlut_error("manip: out of memory");
      goto fail;
    }
    for (int y = 0; y < h; y++) memcpy(packed + (size_t)y * w * 3, dlut_image_pixel(u8, 0, y), (size_t)w * 3);
    if (dlut_resize_u8(packed, w, h, 3, small, ow, oh) != 0) goto fail;
    for (int y = 0; y < oh; y++) memcpy(dlut_image_pixel(out, 0, y), small + (size_t)y * ow * 3, (size_t)ow * 3);
  } else {
    for (int y = 0; y < h; y++) memcpy(dlut_image_pixel(out, 0, y), dlut_image_pixel(u8, 0, y), (size_t)w * 3);
  }
  if (dlut_manip_upsample(map, G, up, ow, oh) != 0) goto fail;
  /* assign_heatmap: normalised over the pixels, 0.25 (uint8 63) per
   * threshold reached, the four summed */
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < (size_t)ow * oh; i++) lo = fmin(lo, up[i]), hi = fmax(hi, up[i]);
  double d = hi - lo;
  uint8_t lut[5][3];
  for (int k = 0; k < 5; k++) jet(63 * k, lut[k]);
  for (int y = 0; y < oh; y++) {
    uint8_t *px = dlut_image_pixel(out, 0, y);
    for (int x = 0; x < ow; x++, px += 3) {
      double m = d > 0 ? (up[(size_t)y * ow + x] - lo) / d : 0;
      int k = 0;
      for (int i = 0; i < 4; i++) k += !(m < th[i]);
      for (int c = 0; c < 3; c++) { /* cv2.addWeighted(photo, 0.3, heat, 0.7, 0) */
        long v = lrint(0.3 * px[c] + 0.7 * lut[k][c]);
        px[c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
  }
  /* black lines on the token grid (rows i * (H // G), columns i * (W // G)) */
  int hu = oh / G, wu = ow / G;
  for (int i = 0; i < G; i++) {
    if (i * hu < oh) memset(dlut_image_pixel(out, 0, i * hu), 0, (size_t)ow * 3);
    if (i * wu < ow)
      for (int y = 0; y < oh; y++) memset(dlut_image_pixel(out, i * wu, y), 0, 3);
  }
  dlut_image_free(u8);
  free(up), free(packed), free(small);
  return out;
fail:
  dlut_image_free(u8);
  dlut_image_free(out);
  free(up), free(packed), free(small);
  return NULL;
}
