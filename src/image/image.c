/* Images in memory (alloc, convert, orient) and the format-independent half
 * of loading and saving: sniff the format, call the codec, name the file in
 * errors, convert an embedded ICC profile to sRGB, apply EXIF orientation,
 * and write outputs atomically through dlut/file.h. The codecs themselves
 * live in ppm.c, png.c, jpeg.c, webp.c and tiff.c. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/parallel.h"
#include "image/image_private.h"

/* ==== Limits and allocation ==== */

static _Atomic int64_t g_max_pixels = DLUT_IMAGE_MAX_PIXELS;

void dlut_image_set_max_pixels(int64_t max_pixels) {
  if (max_pixels <= 0 || max_pixels > DLUT_IMAGE_MAX_PIXELS) max_pixels = DLUT_IMAGE_MAX_PIXELS;
  atomic_store(&g_max_pixels, max_pixels);
}

int64_t dlut__max_pixels(void) {
  return atomic_load(&g_max_pixels);
}

int dlut__check_dims(int64_t width, int64_t height) {
  if (width <= 0 || height <= 0)
    return dlut_errorc(DLUT_ERR_INPUT, "invalid image size %lldx%lld", (long long)width, (long long)height);
  if (width > DLUT_IMAGE_MAX_DIM || height > DLUT_IMAGE_MAX_DIM)
    return dlut_errorc(DLUT_ERR_TOO_LARGE, "image size %lldx%lld exceeds the limit of %d pixels per side",
                       (long long)width, (long long)height, DLUT_IMAGE_MAX_DIM);
  /* Both sides are <= 65535 here, so the product fits easily in int64. */
  if (width * height > dlut__max_pixels())
    return dlut_errorc(DLUT_ERR_TOO_LARGE, "image size %lldx%lld exceeds the limit of %lld pixels", (long long)width,
                       (long long)height, (long long)dlut__max_pixels());
  return 0;
}

dlut_image *dlut_image_alloc(int width, int height, int channels, dlut_pixel_type type) {
  if (channels != 3 && channels != 4) {
    dlut_error("dlut_image_alloc: channels must be 3 or 4, not %d", channels);
    return NULL;
  }
  if (type != DLUT_PIXEL_U8 && type != DLUT_PIXEL_U16 && type != DLUT_PIXEL_F32) {
    dlut_error("dlut_image_alloc: bad pixel type %d", (int)type);
    return NULL;
  }
  if (dlut__check_dims(width, height) != 0) return NULL;
  /* width <= 65535, channels <= 4, type <= 4: stride < 2^21; height <= 2^16
   * and the pixel cap bounds the product below 2^28 * 16 = 2^32 bytes, which
   * still needs a size_t overflow check on 32-bit hosts. */
  size_t stride = (size_t)width * (size_t)channels * (size_t)type;
  if ((size_t)height > SIZE_MAX / stride) {
    dlut_error("dlut_image_alloc: %dx%d image does not fit in memory", width, height);
    return NULL;
  }
  dlut_image *img = calloc(1, sizeof *img);
  if (!img) goto oom;
  img->data = malloc(stride * (size_t)height);
  if (!img->data) goto oom;
  img->width = width;
  img->height = height;
  img->channels = channels;
  img->type = type;
  img->stride = stride;
  return img;
oom:
  free(img);
  dlut_errorc(DLUT_ERR_NOMEM, "dlut_image_alloc: out of memory for a %dx%d image", width, height);
  return NULL;
}

void dlut_image_free(dlut_image *img) {
  if (!img) return;
  free(img->data);
  free(img->exif);
  free(img->xmp);
  free(img);
}

int dlut__set_blob(uint8_t **dst, size_t *dst_size, const void *src, size_t n, int is_exif) {
  const uint8_t *s = src;
  if (is_exif && s && n >= 6 && memcmp(s, "Exif\0\0", 6) == 0) {
    s += 6;
    n -= 6;
  }
  free(*dst);
  *dst = NULL;
  *dst_size = 0;
  if (!s || n == 0) return 0;
  if (n > DLUT__MAX_META_BYTES) return dlut_error("metadata block of %zu bytes is too large", n);
  *dst = malloc(n);
  if (!*dst) return dlut_error("out of memory");
  memcpy(*dst, s, n);
  *dst_size = n;
  return 0;
}

int dlut_image_copy_meta(dlut_image *dst, const dlut_image *src) {
  if (dst == src) return 0;
  if (dlut__set_blob(&dst->exif, &dst->exif_size, src->exif, src->exif_size, 0) != 0) return -1;
  if (dlut__set_blob(&dst->xmp, &dst->xmp_size, src->xmp, src->xmp_size, 0) != 0) return -1;
  return 0;
}

void dlut__decoded_free(dlut__decoded *d) {
  dlut_image_free(d->img);
  free(d->icc);
  memset(d, 0, sizeof *d);
}

/* ==== Sample type conversion ==== */

/* Rounding rules (all round to nearest, ties away from zero, clamp):
 *   u8 -> u16: v * 257 (exact: 255 -> 65535)
 *   u16 -> u8: (v * 255 + 32767) / 65535 == round(v / 257)
 *   float -> uN: clamp to [0,1] (NaN -> 0), then (int)(v * max + 0.5)
 *   uN -> float: v / max */
static inline float clamp01(float v) {
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f; /* NaN -> 0 */
}

typedef struct {
  const dlut_image *src;
  dlut_image *dst;
} convert_ctx;

/* The naive reference: one switch per sample (tests compare the fast
 * kernels below with it on every type pair and channel count). */
static void convert_rows_ref(void *vctx, int64_t y0, int64_t y1, int thread) {
  const convert_ctx *c = vctx;
  const dlut_image *s = c->src;
  dlut_image *d = c->dst;
  int w = s->width, sc = s->channels, dc = d->channels;
  for (int64_t y = y0; y < y1; y++) {
    const uint8_t *srow = (const uint8_t *)s->data + (size_t)y * s->stride;
    uint8_t *drow = (uint8_t *)d->data + (size_t)y * d->stride;
    for (int x = 0; x < w; x++) {
      for (int ch = 0; ch < dc; ch++) {
        size_t si = (size_t)x * sc + ch, di = (size_t)x * dc + ch;
        if (ch >= sc) { /* adding alpha: opaque */
          if (d->type == DLUT_PIXEL_U8)
            drow[di] = 255;
          else if (d->type == DLUT_PIXEL_U16)
            ((uint16_t *)drow)[di] = 65535;
          else
            ((float *)drow)[di] = 1.0f;
          continue;
        }
        switch (s->type * 8 + d->type) {
          case DLUT_PIXEL_U8 * 8 + DLUT_PIXEL_U8:
            drow[di] = srow[si];
            break;
          case DLUT_PIXEL_U8 * 8 + DLUT_PIXEL_U16:
            ((uint16_t *)drow)[di] = (uint16_t)(srow[si] * 257u);
            break;
          case DLUT_PIXEL_U8 * 8 + DLUT_PIXEL_F32:
            ((float *)drow)[di] = srow[si] * (1.0f / 255.0f);
            break;
          case DLUT_PIXEL_U16 * 8 + DLUT_PIXEL_U8:
            drow[di] = (uint8_t)((((const uint16_t *)srow)[si] * 255u + 32767u) / 65535u);
            break;
          case DLUT_PIXEL_U16 * 8 + DLUT_PIXEL_U16:
            ((uint16_t *)drow)[di] = ((const uint16_t *)srow)[si];
            break;
          case DLUT_PIXEL_U16 * 8 + DLUT_PIXEL_F32:
            ((float *)drow)[di] = ((const uint16_t *)srow)[si] * (1.0f / 65535.0f);
            break;
          case DLUT_PIXEL_F32 * 8 + DLUT_PIXEL_U8:
            drow[di] = (uint8_t)(clamp01(((const float *)srow)[si]) * 255.0f + 0.5f);
            break;
          case DLUT_PIXEL_F32 * 8 + DLUT_PIXEL_U16:
            ((uint16_t *)drow)[di] = (uint16_t)(clamp01(((const float *)srow)[si]) * 65535.0f + 0.5f);
            break;
          default:
            ((float *)drow)[di] = ((const float *)srow)[si];
            break;
        }
      }
    }
  }
  (void)thread;
}

/* Fast kernels: one function per type pair, the sample formula inlined;
 * with equal channel counts a row is one flat loop the compiler
 * vectorises, otherwise a loop per pixel that copies min(sc, dc) samples
 * and sets an added alpha opaque. Same formulas as the reference. */
#define DEF_CONV(NAME, ST, DT, EXPR, ONE)                             \
  static void NAME(const void *sv, void *dv, int w, int sc, int dc) { \
    const ST *s = sv;                                                 \
    DT *d = dv;                                                       \
    if (sc == dc) {                                                   \
      size_t n = (size_t)w * (size_t)sc;                              \
      for (size_t i = 0; i < n; i++) {                                \
        ST v = s[i];                                                  \
        d[i] = (EXPR);                                                \
      }                                                               \
      return;                                                         \
    }                                                                 \
    int m = sc < dc ? sc : dc;                                        \
    for (int x = 0; x < w; x++) {                                     \
      for (int c = 0; c < m; c++) {                                   \
        ST v = s[(size_t)x * sc + c];                                 \
        d[(size_t)x * dc + c] = (EXPR);                               \
      }                                                               \
      if (dc > sc) d[(size_t)x * dc + 3] = (ONE);                     \
    }                                                                 \
  }

DEF_CONV(conv_u8_u8, uint8_t, uint8_t, v, 255)
DEF_CONV(conv_u8_u16, uint8_t, uint16_t, (uint16_t)(v * 257u), 65535)
DEF_CONV(conv_u8_f32, uint8_t, float, v *(1.0f / 255.0f), 1.0f)
DEF_CONV(conv_u16_u8, uint16_t, uint8_t, (uint8_t)((v * 255u + 32767u) / 65535u), 255)
DEF_CONV(conv_u16_u16, uint16_t, uint16_t, v, 65535)
DEF_CONV(conv_u16_f32, uint16_t, float, v *(1.0f / 65535.0f), 1.0f)
DEF_CONV(conv_f32_u8, float, uint8_t, (uint8_t)(clamp01(v) * 255.0f + 0.5f), 255)
DEF_CONV(conv_f32_u16, float, uint16_t, (uint16_t)(clamp01(v) * 65535.0f + 0.5f), 65535)
DEF_CONV(conv_f32_f32, float, float, v, 1.0f)

typedef void (*conv_fn)(const void *s, void *d, int w, int sc, int dc);

static conv_fn conv_pick(dlut_pixel_type st, dlut_pixel_type dt) {
  static const conv_fn tab[3][3] = {{conv_u8_u8, conv_u8_u16, conv_u8_f32},
                                    {conv_u16_u8, conv_u16_u16, conv_u16_f32},
                                    {conv_f32_u8, conv_f32_u16, conv_f32_f32}};
  int si = st == DLUT_PIXEL_U8 ? 0 : st == DLUT_PIXEL_U16 ? 1 : 2;
  int di = dt == DLUT_PIXEL_U8 ? 0 : dt == DLUT_PIXEL_U16 ? 1 : 2;
  return tab[si][di];
}

static void convert_rows(void *vctx, int64_t y0, int64_t y1, int thread) {
  const convert_ctx *c = vctx;
  conv_fn f = conv_pick(c->src->type, c->dst->type);
  for (int64_t y = y0; y < y1; y++)
    f((const uint8_t *)c->src->data + (size_t)y * c->src->stride, (uint8_t *)c->dst->data + (size_t)y * c->dst->stride,
      c->src->width, c->src->channels, c->dst->channels);
  (void)thread;
}

static dlut_image *convert_with(const dlut_image *img, int channels, dlut_pixel_type type, dlut_task_fn rows) {
  dlut_image *out = dlut_image_alloc(img->width, img->height, channels, type);
  if (!out) return NULL;
  if (img->channels == channels && img->type == type) {
    memcpy(out->data, img->data, img->stride * (size_t)img->height);
  } else {
    convert_ctx c = {img, out};
    int64_t grain = 1 + (int64_t)(1 << 16) / img->width; /* ~64k pixels per chunk */
    dlut_parallel_for(img->height, grain, rows, &c);
  }
  if (dlut_image_copy_meta(out, img) != 0) {
    dlut_image_free(out);
    return NULL;
  }
  return out;
}

dlut_image *dlut_image_convert(const dlut_image *img, int channels, dlut_pixel_type type) {
  return convert_with(img, channels, type, convert_rows);
}

dlut_image *dlut__image_convert_ref(const dlut_image *img, int channels, dlut_pixel_type type) {
  return convert_with(img, channels, type, convert_rows_ref);
}

/* ==== Orientation ==== */

/* EXIF 2.32 (CIPA DC-008-2019) tag 0x0112 and TIFF 6.0 tag 274 define the
 * eight values by where row 0 and column 0 of the stored image belong when
 * displayed. For display pixel (x, y) of the upright image the stored pixel
 * (sx, sy) is, with w x h the stored size:
 *   1 (x, y)   2 (w-1-x, y)   3 (w-1-x, h-1-y)   4 (x, h-1-y)
 *   5 (y, x)   6 (y, h-1-x)   7 (w-1-y, h-1-x)   8 (w-1-y, x)
 * 5..8 swap the displayed width and height. */
typedef struct {
  const dlut_image *src;
  dlut_image *dst;
  int o;
} orient_ctx;

/* The naive reference: the table above, pixel by pixel. */
static void orient_rows(void *vctx, int64_t y0, int64_t y1, int thread) {
  const orient_ctx *c = vctx;
  const dlut_image *s = c->src;
  dlut_image *d = c->dst;
  size_t px = (size_t)s->channels * (size_t)s->type;
  int w = s->width, h = s->height;
  for (int64_t yy = y0; yy < y1; yy++) {
    int y = (int)yy;
    uint8_t *drow = (uint8_t *)d->data + (size_t)y * d->stride;
    for (int x = 0; x < d->width; x++) {
      int sx, sy;
      switch (c->o) {
        case 2:
          sx = w - 1 - x;
          sy = y;
          break;
        case 3:
          sx = w - 1 - x;
          sy = h - 1 - y;
          break;
        case 4:
          sx = x;
          sy = h - 1 - y;
          break;
        case 5:
          sx = y;
          sy = x;
          break;
        case 6:
          sx = y;
          sy = h - 1 - x;
          break;
        case 7:
          sx = w - 1 - y;
          sy = h - 1 - x;
          break;
        case 8:
          sx = w - 1 - y;
          sy = x;
          break;
        default:
          sx = x;
          sy = y;
          break;
      }
      memcpy(drow + (size_t)x * px, (const uint8_t *)s->data + (size_t)sy * s->stride + (size_t)sx * px, px);
    }
  }
  (void)thread;
}

/* Fast kernel: the same mapping written as sx = x0 + ax*x + bx*y,
 * sy = y0 + ay*x + by*y, walked in 64x64 destination tiles so that the
 * column reads of the rotations (5..8) stay in cache, with the pixel copy
 * specialised by pixel size. Threads take bands of 64 rows. */
enum { OTILE = 64 };

static void orient_coeffs(int o, int w, int h, int k[6]) {
  /* k = {x0, ax, bx, y0, ay, by} */
  static const int t[9][6] = {{0},
                              {0, 1, 0, 0, 0, 1},
                              {1, -1, 0, 0, 0, 1},
                              {1, -1, 0, 1, 0, -1},
                              {0, 1, 0, 1, 0, -1},
                              {0, 0, 1, 0, 1, 0},
                              {0, 0, 1, 1, -1, 0},
                              {1, 0, -1, 1, -1, 0},
                              {1, 0, -1, 0, 1, 0}};
  for (int i = 0; i < 6; i++) k[i] = t[o][i];
  k[0] *= w - 1; /* x0, y0 are 0 or the last column / row */
  k[3] *= h - 1;
}

/* `so` is a byte offset, not a pointer, so that stepping past the last
 * pixel of a row never forms an out-of-bounds pointer. */
#define ORIENT_COPY(N) \
  for (int x = x0; x < x1; x++, so += step, dp += (N)) memcpy(dp, base + so, (N));

static void orient_bands(void *vctx, int64_t b0, int64_t b1, int thread) {
  const orient_ctx *c = vctx;
  const dlut_image *s = c->src;
  dlut_image *d = c->dst;
  size_t px = (size_t)s->channels * (size_t)s->type;
  int k[6];
  orient_coeffs(c->o, s->width, s->height, k);
  ptrdiff_t step = (ptrdiff_t)k[4] * (ptrdiff_t)s->stride + (ptrdiff_t)k[1] * (ptrdiff_t)px;
  for (int64_t band = b0; band < b1; band++) {
    int y0 = (int)band * OTILE, y1 = y0 + OTILE < d->height ? y0 + OTILE : d->height;
    for (int x0 = 0; x0 < d->width; x0 += OTILE) {
      int x1 = x0 + OTILE < d->width ? x0 + OTILE : d->width;
      for (int y = y0; y < y1; y++) {
        int sx = k[0] + k[1] * x0 + k[2] * y, sy = k[3] + k[4] * x0 + k[5] * y;
        const uint8_t *base = s->data;
        ptrdiff_t so = (ptrdiff_t)((size_t)sy * s->stride + (size_t)sx * px);
        uint8_t *dp = (uint8_t *)d->data + (size_t)y * d->stride + (size_t)x0 * px;
        switch (px) {
          case 3:
            ORIENT_COPY(3) break;
          case 4:
            ORIENT_COPY(4) break;
          case 6:
            ORIENT_COPY(6) break;
          case 8:
            ORIENT_COPY(8) break;
          case 12:
            ORIENT_COPY(12) break;
          default:
            ORIENT_COPY(16) break;
        }
      }
    }
  }
  (void)thread;
}

static dlut_image *orient_with(const dlut_image *img, int orientation, int reference) {
  if (orientation < 1 || orientation > 8) {
    dlut_error("dlut_image_orient: orientation %d is not 1..8", orientation);
    return NULL;
  }
  int swap = orientation >= 5;
  dlut_image *out =
      dlut_image_alloc(swap ? img->height : img->width, swap ? img->width : img->height, img->channels, img->type);
  if (!out) return NULL;
  orient_ctx c = {img, out, orientation};
  if (reference)
    dlut_parallel_for(out->height, 1 + (1 << 14) / out->width, orient_rows, &c);
  else
    dlut_parallel_for((out->height + OTILE - 1) / OTILE, 1, orient_bands, &c);
  if (dlut_image_copy_meta(out, img) != 0) {
    dlut_image_free(out);
    return NULL;
  }
  return out;
}

dlut_image *dlut_image_orient(const dlut_image *img, int orientation) {
  return orient_with(img, orientation, 0);
}

dlut_image *dlut__image_orient_ref(const dlut_image *img, int orientation) {
  return orient_with(img, orientation, 1);
}

/* ==== EXIF orientation tag ==== */

/* EXIF is a TIFF structure (TIFF 6.0 section 2): "II*\0" or "MM\0*", then
 * the offset of IFD0; an IFD is a 2-byte count and 12-byte entries
 * (tag, type, count, value-or-offset). Orientation is IFD0 tag 0x0112,
 * type SHORT, count 1, its value in the first two bytes of the value field.
 * Returns the byte offset of that value, or 0 if absent/malformed. */
static size_t exif_orientation_offset(const uint8_t *p, size_t n, int *big_endian) {
  if (n < 8) return 0;
  int be;
  if (p[0] == 'I' && p[1] == 'I' && p[2] == 42 && p[3] == 0)
    be = 0;
  else if (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && p[3] == 42)
    be = 1;
  else
    return 0;
#define RD16(o) (be ? (uint32_t)(p[o] << 8 | p[(o) + 1]) : (uint32_t)(p[o] | p[(o) + 1] << 8))
#define RD32(o)                                                                                      \
  (be ? ((uint32_t)p[o] << 24 | (uint32_t)p[(o) + 1] << 16 | (uint32_t)p[(o) + 2] << 8 | p[(o) + 3]) \
      : ((uint32_t)p[(o) + 3] << 24 | (uint32_t)p[(o) + 2] << 16 | (uint32_t)p[(o) + 1] << 8 | p[o]))
  size_t ifd = RD32(4);
  if (ifd < 8 || ifd > n - 2) return 0;
  size_t count = RD16(ifd);
  if (count > (n - ifd - 2) / 12) return 0;
  for (size_t i = 0; i < count; i++) {
    size_t e = ifd + 2 + 12 * i;
    if (RD16(e) == 0x0112 && RD16(e + 2) == 3 && RD32(e + 4) >= 1) {
      *big_endian = be;
      return e + 8;
    }
  }
  return 0;
#undef RD16
#undef RD32
}

static const uint8_t *skip_exif_prefix(const uint8_t *p, size_t *n) {
  if (p && *n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
    *n -= 6;
    return p + 6;
  }
  return p;
}

int dlut_image_exif_orientation(const uint8_t *exif, size_t size) {
  if (!exif) return 0;
  exif = skip_exif_prefix(exif, &size);
  int be = 0;
  size_t off = exif_orientation_offset(exif, size, &be);
  if (!off) return 0;
  int v = be ? (exif[off] << 8 | exif[off + 1]) : (exif[off] | exif[off + 1] << 8);
  return v >= 1 && v <= 8 ? v : 0;
}

/* Unlink IFD1 (the embedded thumbnail, EXIF 2.32 section 4.5.2) by
 * zeroing IFD0's next-IFD offset: a graded or rotated picture must not
 * carry the original's preview. The thumbnail bytes stay in the block,
 * unreferenced. */
static void exif_drop_thumbnail(uint8_t *p, size_t n) {
  if (n < 8) return;
  int be = p[0] == 'M';
  if (!((p[0] == 'I' && p[1] == 'I') || (p[0] == 'M' && p[1] == 'M'))) return;
  size_t ifd = be ? ((size_t)p[4] << 24 | (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7])
                  : ((size_t)p[7] << 24 | (size_t)p[6] << 16 | (size_t)p[5] << 8 | p[4]);
  if (ifd < 8 || ifd > n - 2) return;
  size_t count = be ? ((size_t)p[ifd] << 8 | p[ifd + 1]) : ((size_t)p[ifd + 1] << 8 | p[ifd]);
  size_t next = ifd + 2 + 12 * count;
  if (count > (n - ifd - 2) / 12 || next > n - 4) return;
  memset(p + next, 0, 4);
}

int dlut_image_exif_set_orientation(uint8_t *exif, size_t size, int orientation) {
  if (!exif) return -1;
  uint8_t *p = (uint8_t *)skip_exif_prefix(exif, &size);
  int be = 0;
  size_t off = exif_orientation_offset(p, size, &be);
  if (!off) return -1;
  p[off + (be ? 0 : 1)] = 0;
  p[off + (be ? 1 : 0)] = (uint8_t)orientation;
  return 0;
}

/* ==== Formats ==== */

dlut_image_format dlut_image_format_from_path(const char *path) {
  char buf[16];
  const char *e = dlut_file_ext(path, buf);
  if (!strcmp(e, "jpg") || !strcmp(e, "jpeg") || !strcmp(e, "jpe")) return DLUT_IMAGE_FORMAT_JPEG;
  if (!strcmp(e, "png")) return DLUT_IMAGE_FORMAT_PNG;
  if (!strcmp(e, "webp")) return DLUT_IMAGE_FORMAT_WEBP;
  if (!strcmp(e, "tif") || !strcmp(e, "tiff")) return DLUT_IMAGE_FORMAT_TIFF;
  if (!strcmp(e, "ppm") || !strcmp(e, "pnm") || !strcmp(e, "pgm")) return DLUT_IMAGE_FORMAT_PPM;
  return DLUT_IMAGE_FORMAT_UNKNOWN;
}

dlut_image_format dlut_image_format_sniff(const void *data, size_t size) {
  const uint8_t *p = data;
  if (!p) return DLUT_IMAGE_FORMAT_UNKNOWN;
  if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return DLUT_IMAGE_FORMAT_JPEG;
  if (size >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)) return DLUT_IMAGE_FORMAT_PNG;
  if (size >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) return DLUT_IMAGE_FORMAT_WEBP;
  if (size >= 4 &&
      (!memcmp(p, "II*\0", 4) || !memcmp(p, "MM\0*", 4) || !memcmp(p, "II+\0", 4) || !memcmp(p, "MM\0+", 4)))
    return DLUT_IMAGE_FORMAT_TIFF;
  if (size >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6')) return DLUT_IMAGE_FORMAT_PPM;
  return DLUT_IMAGE_FORMAT_UNKNOWN;
}

static const char *format_name(dlut_image_format f) {
  switch (f) {
    case DLUT_IMAGE_FORMAT_JPEG:
      return "JPEG";
    case DLUT_IMAGE_FORMAT_PNG:
      return "PNG";
    case DLUT_IMAGE_FORMAT_WEBP:
      return "WebP";
    case DLUT_IMAGE_FORMAT_TIFF:
      return "TIFF";
    case DLUT_IMAGE_FORMAT_PPM:
      return "PPM";
    default:
      return "unknown";
  }
}

/* ==== Load ==== */

dlut_image *dlut_image_load_memory(const void *data, size_t size, const char *name) {
  return dlut_image_load_memory_flags(data, size, name, 0);
}

dlut_image *dlut_image_load_memory_flags(const void *data, size_t size, const char *name, unsigned flags) {
  if (!name) name = "<memory>";
  dlut__decoded d = {0};
  int rc;
  dlut_error_clear();
  switch (dlut_image_format_sniff(data, size)) {
    case DLUT_IMAGE_FORMAT_JPEG:
      rc = dlut__jpeg_load(data, size, &d);
      break;
    case DLUT_IMAGE_FORMAT_PNG:
      rc = dlut__png_load(data, size, &d);
      break;
    case DLUT_IMAGE_FORMAT_WEBP:
      rc = dlut__webp_load(data, size, &d);
      break;
    case DLUT_IMAGE_FORMAT_TIFF:
      rc = dlut__tiff_load(data, size, &d);
      break;
    case DLUT_IMAGE_FORMAT_PPM:
      rc = dlut__ppm_load(data, size, &d);
      break;
    default:
      rc = size == 0 ? dlut_error("empty file")
                     : dlut_error("not a supported image (expected JPEG, PNG, WebP, TIFF or binary PPM/PGM)");
      break;
  }
  if (rc != 0 || !d.img) {
    if (rc == 0) dlut_error("decoder returned no image");
    goto fail;
  }
  if (d.icc && !d.icc_done && !(flags & DLUT_IMAGE_LOAD_NO_ICC) && dlut__icc_to_srgb(d.img, d.icc, d.icc_size) != 0)
    goto fail;
  if (flags & DLUT_IMAGE_LOAD_NO_ORIENT) goto done;
  int o = d.orientation ? d.orientation : dlut_image_exif_orientation(d.img->exif, d.img->exif_size);
  if (o > 1 && o <= 8) {
    dlut_image *up = dlut_image_orient(d.img, o);
    if (!up) goto fail;
    dlut_image_free(d.img);
    d.img = up;
  }
  /* The pixels are upright now; a kept EXIF must not make viewers rotate again. */
  if (d.img->exif) dlut_image_exif_set_orientation(d.img->exif, d.img->exif_size, 1);
done:;
  dlut_image *img = d.img;
  d.img = NULL;
  dlut__decoded_free(&d);
  return img;
fail:
  dlut__decoded_free(&d);
  dlut_error_prefix(name);
  return NULL;
}

dlut_image *dlut_image_load(const char *path) {
  return dlut_image_load_flags(path, 0);
}

dlut_image *dlut_image_load_flags(const char *path, unsigned flags) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    dlut_error("%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    dlut_error("%s: cannot stat: %s", path, strerror(errno));
    close(fd);
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    dlut_error("%s: is a directory", path);
    return NULL;
  }
  /* Regular files are mapped, not copied: a 4096x4096 16-bit PPM is 100 MB
   * and the decoders only ever read their input once. */
  if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= SIZE_MAX) {
    size_t n = (size_t)st.st_size;
    void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
      dlut_error("%s: cannot map: %s", path, strerror(errno));
      return NULL;
    }
    madvise(map, n, MADV_SEQUENTIAL);
    dlut_image *img = dlut_image_load_memory_flags(map, n, path, flags);
    munmap(map, n);
    return img;
  }
  /* A pipe or a device: read its first bytes and refuse what is no image
   * before reading more (/dev/zero would otherwise be read to the cap). */
  uint8_t head[64];
  size_t got = 0;
  while (got < sizeof head) {
    ssize_t r = read(fd, head + got, sizeof head - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (dlut_image_format_sniff(head, got) == DLUT_IMAGE_FORMAT_UNKNOWN) {
    close(fd);
    dlut_errorc(got ? DLUT_ERR_UNSUPPORTED : DLUT_ERR_INPUT, "%s: %s", path,
                got ? "not a supported image (expected JPEG, PNG, WebP, TIFF or binary PPM/PGM)" : "empty file");
    return NULL;
  }
  size_t cap = (size_t)1 << 31, n = got, alloc = 1 << 20;
  uint8_t *buf = malloc(alloc);
  if (!buf) {
    close(fd);
    dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", path);
    return NULL;
  }
  memcpy(buf, head, got);
  for (;;) {
    if (n == alloc) {
      if (alloc >= cap) {
        free(buf);
        close(fd);
        dlut_errorc(DLUT_ERR_TOO_LARGE, "%s: larger than %zu bytes", path, cap);
        return NULL;
      }
      uint8_t *nb = realloc(buf, alloc * 2);
      if (!nb) {
        free(buf);
        close(fd);
        dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
      }
      buf = nb;
      alloc *= 2;
    }
    ssize_t r = read(fd, buf + n, alloc - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(buf);
      close(fd);
      dlut_errorc(DLUT_ERR_IO, "%s: read error: %s", path, strerror(errno));
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  dlut_image *img = dlut_image_load_memory_flags(buf, n, path, flags);
  free(buf);
  return img;
}

/* ==== Save ==== */

int dlut__save_stopped(const dlut_image_save_opts *o) {
  if (!o || !o->stop || !o->stop(o->stop_user)) return 0;
  return dlut_errorc(DLUT_ERR_CANCELLED, "cancelled while writing");
}

/* Convert, prepare metadata and encode img as format f into fp (a temporary
 * file: the atomic one for dlut_image_save, tmpfile() for the memory
 * variant). Errors are not yet prefixed with a name. */
static int encode(const dlut_image *img, dlut_image_format f, const dlut_image_save_opts *opts, FILE *fp) {
  dlut_image_save_opts o = {0};
  if (opts) o = *opts;
  if (!img || !img->data || (img->channels != 3 && img->channels != 4) || img->width <= 0 || img->height <= 0)
    return dlut_error("invalid image");
  if (o.quality == 0) o.quality = 95;
  if (o.quality < 1 || o.quality > 100) return dlut_error("quality %d is not 1..100", o.quality);
  /* Bring the pixels to what the format stores. */
  dlut_pixel_type want = img->type;
  int channels = img->channels;
  switch (f) {
    case DLUT_IMAGE_FORMAT_JPEG:
      want = DLUT_PIXEL_U8;
      channels = 3;
      break;
    case DLUT_IMAGE_FORMAT_WEBP:
      want = DLUT_PIXEL_U8;
      break;
    case DLUT_IMAGE_FORMAT_PPM:
      channels = 3; /* fallthrough */
    case DLUT_IMAGE_FORMAT_PNG:
      if (want == DLUT_PIXEL_F32) want = DLUT_PIXEL_U16;
      break;
    case DLUT_IMAGE_FORMAT_TIFF: /* U8, U16 and F32 as they are: a float TIFF stays float */
      break;
    default:
      return dlut_error("unknown output image format");
  }
  int rc = -1;
  dlut_image *conv = NULL;
  uint8_t *exif = NULL;
  const dlut_image *src = img;
  if (want != img->type || channels != img->channels) {
    conv = dlut_image_convert(img, channels, want);
    if (!conv) return -1;
    src = conv;
  }
  dlut__meta m = {0};
  if (!o.strip_meta) {
    if (img->exif && img->exif_size) {
      size_t n = img->exif_size;
      const uint8_t *e = skip_exif_prefix(img->exif, &n);
      exif = malloc(n);
      if (!exif) {
        rc = dlut_error("out of memory");
        goto done;
      }
      memcpy(exif, e, n);
      dlut_image_exif_set_orientation(exif, n, 1);
      exif_drop_thumbnail(exif, n);
      m.exif = exif;
      m.exif_size = n;
    }
    m.xmp = img->xmp;
    m.xmp_size = img->xmp ? img->xmp_size : 0;
  }
  dlut_error_clear();
  switch (f) {
    case DLUT_IMAGE_FORMAT_JPEG:
      rc = dlut__jpeg_save(src, fp, &m, &o);
      break;
    case DLUT_IMAGE_FORMAT_PNG:
      rc = dlut__png_save(src, fp, &m, &o);
      break;
    case DLUT_IMAGE_FORMAT_WEBP:
      rc = dlut__webp_save(src, fp, &m, &o);
      break;
    case DLUT_IMAGE_FORMAT_TIFF:
      rc = dlut__tiff_save(src, fp, &m, &o);
      break;
    default:
      rc = dlut__ppm_save(src, fp, &m, &o);
      break;
  }
  if (rc != 0 && !*dlut_last_error()) dlut_error("cannot write %s", format_name(f));
done:
  free(exif);
  dlut_image_free(conv);
  return rc;
}

int dlut_image_save(const dlut_image *img, const char *path, const dlut_image_save_opts *opts) {
  dlut_image_format f = dlut_image_format_from_path(path);
  char ext[16];
  if (f == DLUT_IMAGE_FORMAT_UNKNOWN || !strcmp(dlut_file_ext(path, ext), "pgm"))
    return dlut_error("%s: unknown output image format (use .jpg .png .webp .tif .tiff .ppm)", path);
  /* Check the request before creating anything. */
  if (!img || !img->data || (img->channels != 3 && img->channels != 4) || img->width <= 0 || img->height <= 0)
    return dlut_error("%s: invalid image", path);
  if (opts && (opts->quality < 0 || opts->quality > 100))
    return dlut_error("%s: quality %d is not 1..100", path, opts->quality);
  dlut_atomic out;
  if (dlut_atomic_begin(&out, path) != 0) return -1;
  errno = 0;
  if (encode(img, f, opts, out.fp) != 0) {
    /* a full disk or a file-size limit reads "Write Error" in libpng's words,
     * "Output file write error" in libjpeg's: name the real cause */
    const int e = errno, stream = ferror(out.fp);
    dlut_atomic_abort(&out);
    if (dlut_last_error_code() == DLUT_ERR_CANCELLED) return -1; /* o->stop: nothing written, said as it was */
    if (e == ENOSPC || e == EFBIG || e == EDQUOT || e == EIO || (stream && e))
      return dlut_errorc(DLUT_ERR_IO, "%s: cannot write: %s", path, strerror(e));
    dlut_error_prefix(path);
    return -1;
  }
  return dlut_atomic_commit(&out);
}

int dlut_image_save_memory(const dlut_image *img, dlut_image_format format, const dlut_image_save_opts *opts,
                           uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  /* Encoders write to a FILE* (libtiff to its descriptor), so an anonymous
   * temporary file carries the bytes; it never has a name on disk. */
  FILE *fp = tmpfile();
  if (!fp) return dlut_error("cannot create a temporary file: %s", strerror(errno));
  int rc = encode(img, format, opts, fp);
  if (rc == 0 && fflush(fp) != 0) rc = dlut_error("write failed: %s", strerror(errno));
  struct stat st;
  if (rc == 0 && fstat(fileno(fp), &st) != 0) rc = dlut_error("cannot stat the temporary file");
  if (rc == 0) {
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) {
      rc = dlut_error("out of memory");
    } else if (pread(fileno(fp), buf, n, 0) != (ssize_t)n) {
      free(buf);
      rc = dlut_error("cannot read the temporary file back");
    } else {
      *data = buf;
      *size = n;
    }
  }
  fclose(fp);
  return rc;
}
