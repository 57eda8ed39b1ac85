/* src/grade/mask.c - region masks (user mattes: channel choice,
 * resampling, threshold, feathering), 16-bit matte files, and the region
 * composite out = (1 - m) global(I) + m region(I). See dlut/region.h. */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/guided.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/region.h"
#include "dlut/resize.h"

const char *dlut_mask_channel_name(dlut_mask_channel c) {
  return c == DLUT_MASK_ALPHA ? "alpha" : c == DLUT_MASK_LUMA ? "luma" : "grey";
}

/* ==== Threshold and feather ==== */

int dlut_mask_refine(float *m, int w, int h, float threshold, float feather) {
  if (!m || w < 1 || h < 1) return dlut_error("mask: no mask");
  if (!(threshold >= 0 && threshold < 1)) return dlut_error("mask: threshold must be in [0, 1)");
  if (!(feather >= 0 && feather <= 4096)) return dlut_error("mask: feather must be in 0..4096 pixels");
  const int64_t n = (int64_t)w * h;
  if (threshold > 0)
    for (int64_t i = 0; i < n; i++) m[i] = m[i] >= threshold ? 1.0f : 0.0f;
  /* two box means of radii r1 + r2 = R: a straight hard edge ramps over
   * 2R pixels (each box widens the ramp by twice its radius) */
  const int R = (int)lrintf(feather / 2), r1 = (R + 1) / 2, r2 = R - r1;
  if (r1 > 0 && dlut_box_mean(m, m, w, h, r1) != 0) return -1;
  if (r2 > 0 && dlut_box_mean(m, m, w, h, r2) != 0) return -1;
  for (int64_t i = 0; i < n; i++) m[i] = m[i] < 0 ? 0 : m[i] > 1 ? 1 : m[i];
  return 0;
}

double dlut_mask_coverage(const float *m, int w, int h) {
  double s = 0;
  const int64_t n = (int64_t)w * h;
  for (int64_t i = 0; i < n; i++) s += m[i];
  return n > 0 ? s / (double)n : 0;
}

/* ==== Mattes ==== */

/* A matte of another shape belongs to another picture: its aspect ratio
 * must match the photo's within 1% (+ 1 pixel of the smaller height). */
int dlut_mask_shape_check(int mw, int mh, int w, int h) {
  if (mw < 1 || mh < 1 || w < 1 || h < 1) return dlut_errorc(DLUT_ERR_INPUT, "mask: bad size %dx%d", mw, mh);
  const double want = (double)w / h, got = (double)mw / mh;
  const double tol = 0.01 * want + want / (mh < h ? mh : h);
  if (fabs(got - want) > tol)
    return dlut_errorc(DLUT_ERR_INPUT,
                       "the matte is %dx%d but the photo %dx%d: a different shape (aspect %.4f vs %.4f)", mw, mh, w, h,
                       got, want);
  return 0;
}

float *dlut_mask_from_image(const dlut_image *img, int w, int h, const dlut_mask_opts *o, dlut_mask_channel *used) {
  dlut_mask_opts def = {0, 0};
  if (!o) o = &def;
  if (!img || img->width < 1 || img->height < 1 || (img->channels != 3 && img->channels != 4)) {
    dlut_error("mask: no matte image");
    return NULL;
  }
  if (w < 1 || h < 1 || w > DLUT_IMAGE_MAX_DIM || h > DLUT_IMAGE_MAX_DIM) {
    dlut_error("mask: bad photo size %dx%d", w, h);
    return NULL;
  }
  if (dlut_mask_shape_check(img->width, img->height, w, h) != 0) return NULL;
  dlut_image *f = dlut_image_convert(img, img->channels, DLUT_PIXEL_F32);
  if (!f) return NULL;
  const int mw = img->width, mh = img->height, ch = img->channels;
  const int64_t mn = (int64_t)mw * mh, n = (int64_t)w * h;
  float *src = malloc((size_t)mn * sizeof(float)), *m = malloc((size_t)n * sizeof(float));
  if (!src || !m) {
    dlut_error("mask: out of memory");
    goto fail;
  }
  /* the channel: a non-opaque alpha, else grey when R = G = B, else luma */
  dlut_mask_channel c = DLUT_MASK_GREY;
  int has_alpha = 0, grey = 1;
  for (int y = 0; y < mh; y++) {
    const float *row = (const float *)((const uint8_t *)f->data + (size_t)y * f->stride);
    for (int x = 0; x < mw; x++) {
      const float *px = row + (int64_t)x * ch;
      if (ch == 4 && px[3] < 1.0f) has_alpha = 1;
      if (px[0] != px[1] || px[1] != px[2]) grey = 0;
    }
  }
  c = has_alpha ? DLUT_MASK_ALPHA : grey ? DLUT_MASK_GREY : DLUT_MASK_LUMA;
  for (int y = 0; y < mh; y++) {
    const float *row = (const float *)((const uint8_t *)f->data + (size_t)y * f->stride);
    for (int x = 0; x < mw; x++) {
      const float *px = row + (int64_t)x * ch;
      float v = c == DLUT_MASK_ALPHA  ? px[3]
                : c == DLUT_MASK_GREY ? px[0]
                                      : 0.2126f * px[0] + 0.7152f * px[1] + 0.0722f * px[2];
      src[(int64_t)y * mw + x] = !isfinite(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  if (mw == w && mh == h) {
    memcpy(m, src, (size_t)n * sizeof(float));
  } else {
    if (dlut_resize_f32(src, mw, mh, 1, m, w, h) != 0) goto fail;
    for (int64_t i = 0; i < n; i++) m[i] = m[i] < 0 ? 0 : m[i] > 1 ? 1 : m[i];
  }
  if (dlut_mask_refine(m, w, h, o->threshold, o->feather) != 0) goto fail;
  if (used) *used = c;
  free(src);
  dlut_image_free(f);
  return m;
fail:
  free(src);
  free(m);
  dlut_image_free(f);
  return NULL;
}

float *dlut_mask_load(const char *path, int w, int h, const dlut_mask_opts *o, dlut_mask_channel *used) {
  /* code values as stored: a matte is data, not a colour picture */
  dlut_image *img = dlut_image_load_flags(path, DLUT_IMAGE_LOAD_NO_ICC);
  if (!img) return NULL;
  float *m = dlut_mask_from_image(img, w, h, o, used);
  dlut_image_free(img);
  if (!m) {
    char why[512];
    snprintf(why, sizeof why, "%s", dlut_last_error());
    dlut_error("%s: %s", path, why);
  }
  return m;
}

/* ==== 16-bit matte files ==== */

typedef struct membuf {
  uint8_t *data;
  size_t size, cap;
  int oom;
} membuf;

static void mem_write(png_structp png, png_bytep p, size_t n) {
  membuf *b = png_get_io_ptr(png);
  if (b->oom) return;
  if (b->size + n > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->size + n) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) {
      b->oom = 1;
      png_error(png, "out of memory");
    }
    b->data = d;
    b->cap = cap;
  }
  memcpy(b->data + b->size, p, n);
  b->size += n;
}
static void mem_flush(png_structp png) {
  (void)png;
}
static void on_png_error(png_structp png, png_const_charp msg) {
  dlut_error("mask: PNG: %s", msg);
  png_longjmp(png, 1);
}

int dlut_mask_encode_png16(const float *m, int w, int h, uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  if (!m || w < 1 || h < 1 || w > DLUT_IMAGE_MAX_DIM || h > DLUT_IMAGE_MAX_DIM) return dlut_error("mask: bad size");
  membuf b = {0};
  uint8_t *row = malloc((size_t)w * 2);
  png_structp png = row ? png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, on_png_error, NULL) : NULL;
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    if (png) png_destroy_write_struct(&png, NULL);
    free(row);
    return dlut_error("mask: out of memory");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(row);
    free(b.data);
    return -1;
  }
  png_set_write_fn(png, &b, mem_write, mem_flush);
  png_set_compression_level(png, 3);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) {
    const float *src = m + (int64_t)y * w;
    for (int x = 0; x < w; x++) {
      float v = src[x];
      unsigned q = !(v > 0) ? 0u : v >= 1 ? 65535u : (unsigned)lrintf(v * 65535.0f);
      row[2 * x] = (uint8_t)(q >> 8); /* PNG samples are big-endian */
      row[2 * x + 1] = (uint8_t)(q & 255);
    }
    png_write_row(png, row);
  }
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  free(row);
  *data = b.data;
  *size = b.size;
  return 0;
}

int dlut_mask_save_png16(const float *m, int w, int h, const char *path) {
  uint8_t *d;
  size_t n;
  if (dlut_mask_encode_png16(m, w, h, &d, &n) != 0) return -1;
  int rc = dlut_file_write_all(path, d, n);
  free(d);
  return rc;
}

/* ==== The composite ==== */

#define RENDER_ROWS 32 /* rows per batch: the LUTs run on (RENDER_ROWS * w) pixels at a time */

dlut_image *dlut_region_render(const dlut_lut *global, int n, const dlut_lut *const *luts, const float *const *masks,
                               const dlut_image *photo, float strength) {
  if (!global || !photo || n < 0 || n > DLUT_REGION_MAX || (n > 0 && (!luts || !masks))) {
    dlut_error("region render: bad arguments");
    return NULL;
  }
  if (!(strength >= 0.f && strength <= 1.f)) {
    dlut_errorc(DLUT_ERR_INPUT, "strength must be in 0..1");
    return NULL;
  }
  const int w = photo->width, h = photo->height, ch = photo->channels;
  const dlut_pixel_type type = photo->type;
  dlut_image *out = dlut_image_alloc(w, h, ch, type);
  const int64_t batch = (int64_t)RENDER_ROWS * w;
  float *in = malloc((size_t)batch * 3 * sizeof(float)), *acc = malloc((size_t)batch * 3 * sizeof(float));
  float *reg = malloc((size_t)batch * 3 * sizeof(float));
  if (!out || !in || !acc || !reg || dlut_image_copy_meta(out, photo) != 0) {
    dlut_error("region render: out of memory");
    goto fail;
  }
  const double maxv = type == DLUT_PIXEL_U8 ? 255.0 : type == DLUT_PIXEL_U16 ? 65535.0 : 1.0;
  for (int y0 = 0; y0 < h; y0 += RENDER_ROWS) {
    const int rows = h - y0 < RENDER_ROWS ? h - y0 : RENDER_ROWS;
    const int64_t np = (int64_t)rows * w;
    for (int r = 0; r < rows; r++) {
      const uint8_t *row = (const uint8_t *)photo->data + (size_t)(y0 + r) * photo->stride;
      float *d = in + (int64_t)r * w * 3;
      for (int x = 0; x < w; x++)
        for (int c = 0; c < 3; c++) {
          const int64_t k = (int64_t)x * ch + c;
          d[x * 3 + c] = type == DLUT_PIXEL_U8    ? row[k] / 255.0f
                         : type == DLUT_PIXEL_U16 ? ((const uint16_t *)row)[k] / 65535.0f
                                                  : ((const float *)row)[k];
        }
    }
    dlut_lut_apply_f32(global, in, acc, np, DLUT_INTERP_TETRAHEDRAL);
    for (int k = 0; k < n; k++) {
      const float *mk = masks[k] + (int64_t)y0 * w;
      int any = 0;
      for (int64_t i = 0; i < np && !any; i++) any = mk[i] > 0;
      if (!any) continue; /* the region does not reach these rows */
      dlut_lut_apply_f32(luts[k], in, reg, np, DLUT_INTERP_TETRAHEDRAL);
      for (int64_t i = 0; i < np; i++) {
        const float m = mk[i];
        for (int c = 0; c < 3; c++) acc[i * 3 + c] += m * (reg[i * 3 + c] - acc[i * 3 + c]);
      }
    }
    for (int r = 0; r < rows; r++) {
      const uint8_t *srow = (const uint8_t *)photo->data + (size_t)(y0 + r) * photo->stride;
      uint8_t *orow = (uint8_t *)out->data + (size_t)(y0 + r) * out->stride;
      const float *a = acc + (int64_t)r * w * 3, *o = in + (int64_t)r * w * 3;
      for (int x = 0; x < w; x++)
        for (int c = 0; c < ch; c++) {
          const int64_t k = (int64_t)x * ch + c;
          if (c == 3) { /* alpha is copied */
            memcpy(orow + k * type, srow + k * type, type);
            continue;
          }
          double v = o[x * 3 + c] + (double)strength * (a[x * 3 + c] - o[x * 3 + c]);
          if (type == DLUT_PIXEL_F32) {
            ((float *)orow)[k] = (float)v;
          } else {
            double q = floor(v * maxv + 0.5);
            q = !(q > 0) ? 0 : q > maxv ? maxv : q;
            if (type == DLUT_PIXEL_U8)
              orow[k] = (uint8_t)q;
            else
              ((uint16_t *)orow)[k] = (uint16_t)q;
          }
        }
    }
  }
  free(in);
  free(acc);
  free(reg);
  return out;
fail:
  dlut_image_free(out);
  free(in);
  free(acc);
  free(reg);
  return NULL;
}
