/* Image preprocessing as the upstream processors do it.
 * OpenAI CLIP (clip/clip.py _transform): torchvision Resize(S, BICUBIC) of
 * the short side (long side int(S * long / short), Python truncation),
 * CenterCrop(S) with offsets int(round((h - S) / 2.0)) (round half to even),
 * ToTensor (/255), Normalize. Chinese-CLIP (cn_clip/clip/utils.py
 * image_transform): Resize((S, S), BICUBIC), no crop. Resizing is Pillow's
 * (dlut/resize.h), which torchvision calls for PIL images.
 *
 * Two paths: dlut_clip_preprocess_u8 reproduces the uint8 pipeline bit for
 * bit (normalising in float32 like torch); dlut_clip_preprocess is the same
 * linear map in float without rounding, and its backward is the transpose
 * (normalise^T, crop^T = zero padding, resize^T). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/resize.h"

void dlut_clip_preprocess_size(const dlut_clip_info *info, int w, int h, int *rw, int *rh, int *top, int *left) {
  int S = info->image_size;
  if (!info->center_crop) {
    *rw = *rh = S;
    *top = *left = 0;
    return;
  }
  /* torchvision.transforms.functional.resize with an int size */
  if (w <= h) {
    *rw = S;
    *rh = (int)((long long)S * h / w);
  } else {
    *rh = S;
    *rw = (int)((long long)S * w / h);
  }
  *top = (int)nearbyint((*rh - S) / 2.0); /* default rounding mode: half to even, as Python round */
  *left = (int)nearbyint((*rw - S) / 2.0);
}

static int check_input(const dlut_clip_info *info, int w, int h) {
  if (!info || w < 1 || h < 1 || w > DLUT_RESIZE_MAX_DIM || h > DLUT_RESIZE_MAX_DIM)
    return dlut_error("clip preprocess: bad image size %dx%d", w, h);
  /* the ranges dlut_clip_load allows from preprocessor_config.json: a tiny
   * std divides by (nearly) zero, an absurd mean or std gives NaN or pixels
   * far outside anything the model was trained on */
  for (int c = 0; c < 3; c++)
    if (!(info->std[c] >= 1e-3f && info->std[c] <= 1e3f) || !(info->mean[c] >= -10 && info->mean[c] <= 10))
      return dlut_error("clip preprocess: normalisation mean %g, std %g (channel %d) outside [-10, 10], [1e-3, 1e3]",
                        (double)info->mean[c], (double)info->std[c], c);
  int rw, rh, top, left;
  dlut_clip_preprocess_size(info, w, h, &rw, &rh, &top, &left);
  if (rw > DLUT_RESIZE_MAX_DIM || rh > DLUT_RESIZE_MAX_DIM)
    return dlut_error("clip preprocess: %dx%d is too elongated", w, h);
  return 0;
}

int dlut_clip_preprocess_u8(const dlut_clip_info *info, const uint8_t *rgb, int w, int h, float *pixels) {
  if (check_input(info, w, h) != 0) return -1;
  int S = info->image_size, rw, rh, top, left;
  dlut_clip_preprocess_size(info, w, h, &rw, &rh, &top, &left);
  uint8_t *tmp = malloc((size_t)rw * rh * 3);
  if (!tmp) return dlut_error("clip preprocess: out of memory");
  if (dlut_resize_u8(rgb, w, h, 3, tmp, rw, rh) != 0) {
    free(tmp);
    return -1;
  }
  for (int c = 0; c < 3; c++) {
    float mean = info->mean[c], sd = info->std[c];
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        float v = (float)tmp[((size_t)(y + top) * rw + x + left) * 3 + c] / 255.0f; /* ToTensor, float32 */
        pixels[((size_t)c * S + y) * S + x] = (v - mean) / sd;                      /* Normalize, float32 */
      }
  }
  free(tmp);
  return 0;
}

/* ==== Float, differentiable, with a scratch ==== */

void dlut_clip_prep_scratch_init(dlut_clip_prep_scratch *s) {
  memset(s, 0, sizeof *s);
  dlut_resize_scratch_init(&s->rs);
}

void dlut_clip_prep_scratch_free(dlut_clip_prep_scratch *s) {
  if (!s) return;
  free(s->tmp);
  dlut_resize_scratch_free(&s->rs);
  memset(s, 0, sizeof *s);
}

int dlut_clip_prep_scratch_reserve(dlut_clip_prep_scratch *s, const dlut_clip_info *info, int w, int h) {
  if (check_input(info, w, h) != 0) return -1;
  int rw, rh, top, left;
  dlut_clip_preprocess_size(info, w, h, &rw, &rh, &top, &left);
  if (rw == w && rh == h) return 0; /* no resize: the crop reads (and its transpose writes) the image itself */
  const size_t bytes = sizeof(float) * (size_t)rw * rh * 3;
  if (bytes > s->tmp_bytes) {
    float *t = malloc(bytes);
    if (!t) return dlut_error("clip preprocess: out of memory");
    free(s->tmp);
    s->tmp = t;
    s->tmp_bytes = bytes;
  }
  return dlut_resize_scratch_reserve(&s->rs, w, h, 3, rw, rh);
}

int dlut_clip_preprocess(const dlut_clip_info *info, const float *rgb, int w, int h, float *pixels) {
  dlut_clip_prep_scratch s;
  dlut_clip_prep_scratch_init(&s);
  int rc = dlut_clip_preprocess_ws(info, rgb, w, h, pixels, &s);
  dlut_clip_prep_scratch_free(&s);
  return rc;
}

int dlut_clip_preprocess_backward(const dlut_clip_info *info, int w, int h, const float *d_pixels, float *d_rgb) {
  dlut_clip_prep_scratch s;
  dlut_clip_prep_scratch_init(&s);
  int rc = dlut_clip_preprocess_backward_ws(info, w, h, d_pixels, d_rgb, &s);
  dlut_clip_prep_scratch_free(&s);
  return rc;
}

int dlut_clip_preprocess_ws(const dlut_clip_info *info, const float *rgb, int w, int h, float *pixels,
                            dlut_clip_prep_scratch *s) {
  if (dlut_clip_prep_scratch_reserve(s, info, w, h) != 0) return -1;
  int S = info->image_size, rw, rh, top, left;
  dlut_clip_preprocess_size(info, w, h, &rw, &rh, &top, &left);
  const float *src = rgb; /* the resized image (rh, rw, 3) */
  if (rw != w || rh != h) {
    if (dlut_resize_f32_ws(rgb, w, h, 3, s->tmp, rw, rh, &s->rs) != 0) return -1;
    src = s->tmp;
  }
  for (int c = 0; c < 3; c++) {
    float mean = info->mean[c], sd = info->std[c];
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        pixels[((size_t)c * S + y) * S + x] = (src[((size_t)(y + top) * rw + x + left) * 3 + c] - mean) / sd;
  }
  return 0;
}

int dlut_clip_preprocess_backward_ws(const dlut_clip_info *info, int w, int h, const float *d_pixels, float *d_rgb,
                                     dlut_clip_prep_scratch *s) {
  if (dlut_clip_prep_scratch_reserve(s, info, w, h) != 0) return -1;
  int S = info->image_size, rw, rh, top, left;
  dlut_clip_preprocess_size(info, w, h, &rw, &rh, &top, &left);
  const int resized = rw != w || rh != h;
  float *tmp = resized ? s->tmp : d_rgb; /* dL/d(resized image), 0 outside the crop */
  memset(tmp, 0, sizeof(float) * (size_t)rw * rh * 3);
  for (int c = 0; c < 3; c++) {
    float inv = 1.0f / info->std[c];
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++)
        tmp[((size_t)(y + top) * rw + x + left) * 3 + c] = d_pixels[((size_t)c * S + y) * S + x] * inv;
  }
  return resized ? dlut_resize_f32_backward_ws(tmp, rw, rh, 3, d_rgb, w, h, &s->rs) : 0;
}
