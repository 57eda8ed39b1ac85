/* TIFF through libtiff 4.5 (TIFF 6.0 specification, Adobe 1992).
 *
 * Load: contiguous 8/16-bit unsigned and 16/32-bit IEEE float samples,
 * photometric RGB or grey (min-is-black or min-is-white), with or without
 * an alpha extra sample, in strips or tiles, any compression libtiff has
 * (none, LZW, Deflate, PackBits, ...). 16-bit stays U16 and float (half
 * or single) comes out F32, unscaled. Everything else libtiff can decode (palette, 1/2/4-bit,
 * YCbCr, CMYK, separate planes, ...) goes through TIFFRGBAImage at 8 bits
 * (with req_orientation = the file's, so libtiff does not flip anything:
 * image.c applies the orientation tag, all 8 values, for every path).
 * Metadata: ICC profile tag (converted to sRGB by image.c), XMP
 * (XMLPacket tag), and the EXIF IFD, which is rebuilt into a stand-alone
 * EXIF block (header, IFD0 pointing at a copy of the EXIF IFD with its
 * out-of-line values relocated) so it can travel on to JPEG/PNG/WebP.
 *
 * Hostile input: the file is read through a bounds-checked in-memory client
 * (never mapped: some codecs work in place), libtiff's error handler is
 * per-open (TIFFOpenOptions, no global state) and its single allocations
 * are capped; sizes are checked before allocating; a strip or tile that
 * decodes short is an error.
 *
 * Save: 8/16-bit unsigned or (F32 images) 32-bit float, RGB/RGBA
 * (unassociated alpha), Deflate with the horizontal (integer) or
 * floating-point predictor, an sRGB ICC profile, XMP. The file is written
 * by libtiff on a dup of the temporary file's descriptor from dlut/file.h.
 * EXIF: the descriptive strings of the blob's IFD0 (Make, Model, DateTime,
 * ...) become this file's tags, and the blob's EXIF IFD is appended after
 * libtiff has finished, pointed to by the ExifIFD tag (libtiff itself would
 * need every EXIF tag set one by one with its C type). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include "dlut/error.h"
#include "image/image_private.h"

/* ==== libtiff plumbing ==== */

typedef struct {
  const uint8_t *p; /* the file */
  uint64_t n;       /* its size */
  uint64_t pos;     /* read position */
  char msg[256];    /* first error libtiff reported */
} tiff_src;

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
  (void)tif;
  (void)module;
  tiff_src *s = user;
  if (s && !s->msg[0]) {
    char m[sizeof s->msg];
    vsnprintf(m, sizeof m, fmt, ap);
    /* one line in our words, libtiff's after it ("tiff: " is the name we open it under) */
    snprintf(s->msg, sizeof s->msg, "damaged TIFF (libtiff: %s)", strncmp(m, "tiff: ", 6) ? m : m + 6);
  }
  return 1; /* handled: libtiff must not print */
}

/* Warnings are dropped, except the ones libtiff gives when a tag's data
 * cannot be read ("IO error during reading of ...; tag ignored"): that is
 * a truncated file, which we refuse like any other truncated image. */
static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
  (void)tif, (void)module;
  tiff_src *s = user;
  char m[256];
  vsnprintf(m, sizeof m, fmt, ap);
  if (s && !s->msg[0] && (strstr(m, "IO error") || strstr(m, "Read error") || strstr(m, "Seek error")))
    snprintf(s->msg, sizeof s->msg, "truncated TIFF: %s", m);
  return 1;
}

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t n) {
  tiff_src *s = (tiff_src *)h;
  if (n < 0) return -1;
  uint64_t k = (uint64_t)n;
  if (k > s->n - s->pos) k = s->n - s->pos;
  memcpy(buf, s->p + s->pos, (size_t)k);
  s->pos += k;
  return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *buf, tmsize_t n) {
  (void)h, (void)buf, (void)n;
  return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  tiff_src *s = (tiff_src *)h;
  uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->n : 0;
  if (off > UINT64_MAX - base) return (toff_t)-1;
  uint64_t np = base + off;
  if (np > s->n) return (toff_t)-1; /* libtiff only seeks past the end to write */
  s->pos = np;
  return np;
}

static int mem_close(thandle_t h) {
  (void)h;
  return 0;
}

static toff_t mem_size(thandle_t h) {
  return ((tiff_src *)h)->n;
}

static int mem_map(thandle_t h, void **base, toff_t *size) {
  (void)h, (void)base, (void)size;
  return 0;
}

static void mem_unmap(thandle_t h, void *base, toff_t size) {
  (void)h, (void)base, (void)size;
}

static TIFFOpenOptions *make_opts(tiff_src *s) {
  TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
  if (!o) return NULL;
  TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, s);
  TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, s);
  /* The largest single buffer libtiff may allocate: one strip or tile of
   * the largest image we accept, or 64 MB, whichever is larger. */
  int64_t cap = dlut__max_pixels() * 16;
  if (cap < ((int64_t)64 << 20)) cap = (int64_t)64 << 20;
  TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)cap);
  return o;
}

/* ==== EXIF between TIFF files and stand-alone EXIF blocks ==== */

/* Both directions copy one IFD's entries from a TIFF structure (a TIFF
 * file, or an EXIF block, which is one) into a growing buffer: the IFD
 * first, then the values that do not fit in an entry, with their offsets
 * relocated and, when the byte orders differ, every element swapped by its
 * type (TIFF 6.0 section 2). Sub-IFD pointers other than the one we make
 * (Interop 0xA005, GPS, type IFD) are not followed and are dropped. */

static uint32_t rd(const uint8_t *p, int be, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; i++) v |= (uint32_t)p[be ? i : bytes - 1 - i] << (8 * (bytes - 1 - i));
  return v;
}

static void wr(uint8_t *p, int be, int bytes, uint32_t v) {
  for (int i = 0; i < bytes; i++) p[be ? bytes - 1 - i : i] = (uint8_t)(v >> (8 * i));
}

/* Bytes per value of TIFF field types 1..12 (0 = unknown or a pointer). */
static int type_size(uint32_t t) {
  static const int sz[13] = {0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8};
  return t < 13 ? sz[t] : 0;
}

/* Copy `count` values of `type` from s (order sbe) to d (order dbe). */
static void copy_values(uint8_t *d, int dbe, const uint8_t *s, int sbe, uint32_t type, size_t count) {
  size_t ts = (size_t)type_size(type);
  memcpy(d, s, ts * count);
  if (sbe == dbe || ts == 1) return;
  size_t unit = (type == 5 || type == 10) ? 4 : ts; /* rationals are two LONGs */
  for (size_t i = 0; i < ts * count; i += unit)
    for (size_t j = 0; j < unit / 2; j++) {
      uint8_t t = d[i + j];
      d[i + j] = d[i + unit - 1 - j];
      d[i + unit - 1 - j] = t;
    }
}

typedef struct {
  uint8_t *b;    /* bytes */
  size_t len;    /* used */
  size_t cap;    /* allocated */
  int be;        /* byte order written */
  uint64_t base; /* absolute offset of b[0] in the destination */
} tbuf;

static int tb_grow(tbuf *t, size_t n) {
  if (n > DLUT__MAX_META_BYTES || t->len > DLUT__MAX_META_BYTES - n) return dlut_error("EXIF too large");
  if (t->len + n <= t->cap) return 0;
  size_t nc = (t->len + n) * 2;
  uint8_t *nb = realloc(t->b, nc);
  if (!nb) return dlut_error("out of memory");
  memset(nb + t->cap, 0, nc - t->cap);
  t->b = nb;
  t->cap = nc;
  return 0;
}

typedef int (*tag_filter)(uint32_t tag);

/* Copy the IFD at src_off of s[0..n) into t. If ptr_tag is nonzero, an
 * entry (ptr_tag, LONG, 1, 0) is inserted in tag order and *ptr_at gets its
 * value field's position in t (for the caller to patch). Returns the
 * number of entries written (0: nothing kept, t unchanged), or -1. */
static int copy_ifd(const uint8_t *s, size_t n, int sbe, uint64_t src_off, tbuf *t, tag_filter keep, uint32_t ptr_tag,
                    size_t *ptr_at) {
  uint32_t count = 0;
  if (src_off >= 8 && n >= 2 && src_off <= n - 2) count = rd(s + src_off, sbe, 2);
  if (count > 1000 || (count && (n - src_off - 2) / 12 < count)) count = 0;
  /* Entries kept, in order. */
  uint32_t idx[1000];
  uint32_t k = 0;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = s + src_off + 2 + 12 * i;
    uint32_t tag = rd(e, sbe, 2), type = rd(e + 2, sbe, 2), cnt = rd(e + 4, sbe, 4);
    uint64_t bytes = (uint64_t)cnt * (uint64_t)type_size(type);
    if (!type_size(type) || tag == 0x8769 || tag == 0x8825 || tag == 0xA005 || tag == ptr_tag || !keep(tag)) continue;
    if (bytes > 4 && ((uint64_t)rd(e + 8, sbe, 4) > n || bytes > n - rd(e + 8, sbe, 4))) continue; /* dangling */
    idx[k++] = i;
  }
  uint32_t total = k + (ptr_tag ? 1 : 0);
  if (total == 0) return 0;
  size_t ifd_at = t->len;
  if (tb_grow(t, 2 + 12 * (size_t)total + 4) != 0) return -1;
  t->len += 2 + 12 * (size_t)total + 4;
  wr(t->b + ifd_at, t->be, 2, total);
  int ptr_done = !ptr_tag;
  uint32_t out = 0;
  for (uint32_t j = 0; j <= k; j++) {
    const uint8_t *e = j < k ? s + src_off + 2 + 12 * idx[j] : NULL;
    uint32_t tag = e ? rd(e, sbe, 2) : 0x10000;
    if (!ptr_done && ptr_tag < tag) {
      uint8_t *d = t->b + ifd_at + 2 + 12 * out++;
      wr(d, t->be, 2, ptr_tag);
      wr(d + 2, t->be, 2, 4);
      wr(d + 4, t->be, 4, 1);
      wr(d + 8, t->be, 4, 0);
      *ptr_at = ifd_at + 2 + 12 * (out - 1) + 8;
      ptr_done = 1;
    }
    if (!e) break;
    uint32_t type = rd(e + 2, sbe, 2), cnt = rd(e + 4, sbe, 4);
    size_t bytes = (size_t)cnt * (size_t)type_size(type);
    size_t dpos = ifd_at + 2 + 12 * out++;
    wr(t->b + dpos, t->be, 2, tag);
    wr(t->b + dpos + 2, t->be, 2, type);
    wr(t->b + dpos + 4, t->be, 4, cnt);
    if (bytes <= 4) {
      copy_values(t->b + dpos + 8, t->be, e + 8, sbe, type, cnt);
    } else {
      size_t vpos = t->len;
      if (tb_grow(t, bytes + 1) != 0) return -1;
      copy_values(t->b + vpos, t->be, s + rd(e + 8, sbe, 4), sbe, type, cnt);
      t->len += bytes + (bytes & 1); /* values start on word boundaries */
      if (t->base + vpos > UINT32_MAX) return dlut_error("EXIF beyond 4 GB");
      wr(t->b + dpos + 8, t->be, 4, (uint32_t)(t->base + vpos));
    }
  }
  return (int)total;
}

/* IFD0 tags that describe the picture's origin and travel with the EXIF. */
static int keep_ifd0(uint32_t tag) {
  return tag == 0x010E || tag == 0x010F || tag == 0x0110 || tag == 0x0131 || tag == 0x0132 || tag == 0x013B ||
         tag == 0x8298;
}
static int keep_all(uint32_t tag) {
  (void)tag;
  return 1;
}

/* The file's IFD0 (descriptive tags) and its EXIF IFD at exif_off -> a
 * stand-alone EXIF block: header, IFD0 with those tags and an ExifIFD
 * pointer, the EXIF IFD. Leaves *out NULL if there is nothing to keep. */
static int exif_from_file(const uint8_t *p, size_t n, uint64_t exif_off, uint8_t **out, size_t *out_n) {
  int be = p[0] == 'M';
  tbuf t = {NULL, 0, 0, be, 0};
  size_t ptr_at = 0;
  if (tb_grow(&t, 8) != 0) return -1;
  memcpy(t.b, be ? "MM\0*" : "II*\0", 4);
  wr(t.b + 4, be, 4, 8);
  t.len = 8;
  if (copy_ifd(p, n, be, rd(p + 4, be, 4), &t, keep_ifd0, 0x8769, &ptr_at) < 0) goto fail;
  size_t exif_at = t.len;
  int k = copy_ifd(p, n, be, exif_off, &t, keep_all, 0, NULL);
  if (k < 0) goto fail;
  if (k == 0) { /* an empty or unreadable EXIF IFD: no block */
    free(t.b);
    return 0;
  }
  wr(t.b + ptr_at, be, 4, (uint32_t)exif_at);
  *out = t.b;
  *out_n = t.len;
  return 0;
fail:
  free(t.b);
  return -1;
}

/* After libtiff has written the file (one IFD, with a placeholder ExifIFD
 * tag): append the EXIF IFD of the blob at the end of the file, in the
 * file's byte order, and point the placeholder at it. The temporary FILE
 * is write-only, so this reads and writes its descriptor with pread/pwrite. */
static int exif_append(FILE *fp, const uint8_t *ex, size_t exn) {
  uint8_t h[8], e[12], cnt[2];
  if (exn < 8) return 0;
  int sbe = ex[0] == 'M';
  /* The blob's EXIF IFD offset: IFD0 entry 0x8769. */
  uint64_t ifd0 = rd(ex + 4, sbe, 4), exif_off = 0;
  if (ifd0 < 8 || ifd0 > exn - 2) return 0;
  uint32_t c = rd(ex + ifd0, sbe, 2);
  for (uint32_t i = 0; i < c && ifd0 + 2 + 12 * (uint64_t)(i + 1) <= exn; i++)
    if (rd(ex + ifd0 + 2 + 12 * i, sbe, 2) == 0x8769) exif_off = rd(ex + ifd0 + 2 + 12 * i + 8, sbe, 4);
  if (!exif_off) return 0;
  int fd = fileno(fp);
  if (fflush(fp) != 0 || pread(fd, h, 8, 0) != 8) return dlut_error("cannot re-read TIFF");
  int be = h[0] == 'M';
  if (h[2] == 43 || h[3] == 43) return 0; /* BigTIFF: not handled */
  uint64_t main_ifd = rd(h + 4, be, 4);
  if (pread(fd, cnt, 2, (off_t)main_ifd) != 2) return dlut_error("cannot re-read TIFF");
  uint32_t nent = rd(cnt, be, 2);
  off_t entry = -1;
  for (uint32_t i = 0; i < nent && entry < 0; i++) {
    off_t at = (off_t)(main_ifd + 2 + 12 * (uint64_t)i);
    if (pread(fd, e, 12, at) != 12) return dlut_error("cannot re-read TIFF");
    if (rd(e, be, 2) == 34665) entry = at;
  }
  if (entry < 0) return dlut_error("TIFF ExifIFD placeholder missing");
  struct stat st;
  if (fstat(fd, &st) != 0) return dlut_error("cannot stat TIFF");
  uint64_t base = ((uint64_t)st.st_size + 3) & ~(uint64_t)3;
  tbuf t = {NULL, 0, 0, be, base};
  int k = copy_ifd(ex, exn, sbe, exif_off, &t, keep_all, 0, NULL);
  int rc = 0;
  if (k < 0) {
    rc = -1;
  } else if (k > 0 && base + t.len > UINT32_MAX) {
    rc = dlut_error("TIFF too large for EXIF");
  } else if (k > 0) {
    uint8_t v[10];
    wr(v, be, 2, 4); /* type LONG, count 1, the offset */
    wr(v + 2, be, 4, 1);
    wr(v + 6, be, 4, (uint32_t)base);
    if (pwrite(fd, t.b, t.len, (off_t)base) != (ssize_t)t.len || pwrite(fd, v, 10, entry + 2) != 10)
      rc = dlut_error("write failed");
  }
  free(t.b);
  return rc;
}

/* ==== Load ==== */

typedef struct {
  int spp, bytes, gray, alpha_index, min_white; /* source layout (bytes per source sample) */
  int half;                                     /* 16-bit IEEE floats, written out as float */
  int ch;                                       /* output channels */
} layout;

/* IEEE 754 binary16 -> binary32, exactly (subnormals, inf, NaN included). */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: renormalise */
      int e = -1;
      do {
        man <<= 1;
        e++;
      } while (!(man & 1024));
      bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 1023) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | (exp + 112) << 23 | man << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Convert n source pixels to the output row (same sample type). */
static void convert_pixels(const layout *L, const uint8_t *src, int n, void *dst) {
  for (int i = 0; i < n; i++) {
    const uint8_t *s = src + (size_t)i * L->spp * L->bytes;
    for (int c = 0; c < L->ch; c++) {
      int si = c == 3 ? L->alpha_index : (L->gray ? 0 : c);
      size_t di = (size_t)i * L->ch + c;
      int inv = L->min_white && c < 3;
      if (L->bytes == 1) {
        uint8_t v = s[si];
        ((uint8_t *)dst)[di] = inv ? (uint8_t)(255 - v) : v;
      } else if (L->bytes == 2 && L->half) {
        uint16_t v;
        memcpy(&v, s + 2 * si, 2);
        float f = half_to_float(v);
        ((float *)dst)[di] = inv ? 1.0f - f : f;
      } else if (L->bytes == 2) {
        uint16_t v;
        memcpy(&v, s + 2 * si, 2);
        ((uint16_t *)dst)[di] = inv ? (uint16_t)(65535 - v) : v;
      } else {
        float v;
        memcpy(&v, s + 4 * si, 4);
        ((float *)dst)[di] = inv ? 1.0f - v : v;
      }
    }
  }
}

static int read_direct(TIFF *tif, const layout *L, dlut_image *img, tiff_src *src) {
  uint8_t *buf = NULL;
  size_t px = (size_t)L->spp * (size_t)L->bytes;
  int rc = -1;
  /* a few extra channels are real (alpha, masks); thousands are a header that would size a strip
   * buffer in gigabytes for a 1-megapixel image (found by fuzz_image) */
  if (L->spp > 16) return dlut_error("TIFF with %d samples per pixel is not supported (at most 16)", L->spp);
  if (TIFFIsTiled(tif)) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0 || tw > 65536 || th > 65536) return dlut_error("bad TIFF tile size %ux%u", tw, th);
    uint64_t tsize = (uint64_t)tw * th * px;
    /* A tile may overhang a small image, but a 1x1 picture declaring
     * 32768x32768 tiles is a memory bomb: at most 64 MB or 4x the image. */
    uint64_t tcap = (uint64_t)img->width * (uint64_t)img->height * px * 4;
    if (tcap < ((uint64_t)64 << 20)) tcap = (uint64_t)64 << 20;
    if (tsize > tcap)
      return dlut_error("TIFF tile size %ux%u is too large for a %dx%d image", tw, th, img->width, img->height);
    if ((uint64_t)TIFFTileSize64(tif) != tsize) return dlut_error("bad TIFF tile size");
    buf = malloc((size_t)tsize);
    if (!buf) return dlut_error("out of memory");
    for (uint32_t ty = 0; ty < (uint32_t)img->height; ty += th)
      for (uint32_t tx = 0; tx < (uint32_t)img->width; tx += tw) {
        const uint32_t tile = TIFFComputeTile(tif, tx, ty, 0, 0);
        /* a declared tile with no bytes would read as black without a word: refused */
        if (tile >= TIFFNumberOfTiles(tif) || TIFFGetStrileByteCount(tif, tile) == 0) {
          dlut_error("the TIFF declares %u tiles but tile %u holds no data", (unsigned)TIFFNumberOfTiles(tif),
                     (unsigned)tile);
          goto done;
        }
        tmsize_t got = TIFFReadEncodedTile(tif, tile, buf, (tmsize_t)tsize);
        if (got != (tmsize_t)tsize) {
          dlut_error("%s", src->msg[0] ? src->msg : "truncated TIFF tile");
          goto done;
        }
        uint32_t cols = (uint32_t)img->width - tx < tw ? (uint32_t)img->width - tx : tw;
        for (uint32_t r = 0; r < th && ty + r < (uint32_t)img->height; r++)
          convert_pixels(L, buf + (size_t)r * tw * px, (int)cols,
                         (uint8_t *)img->data + (size_t)(ty + r) * img->stride + (size_t)tx * L->ch * img->type);
      }
  } else {
    uint32_t rps = 0;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > (uint32_t)img->height) rps = (uint32_t)img->height;
    uint64_t row = (uint64_t)img->width * px;
    if ((uint64_t)TIFFScanlineSize64(tif) != row) return dlut_error("bad TIFF scanline size");
    uint64_t ssize = row * rps;
    if (ssize > ((uint64_t)1 << 32)) return dlut_error("TIFF strip too large");
    buf = malloc((size_t)ssize);
    if (!buf) return dlut_error("out of memory");
    for (uint32_t y = 0, s = 0; y < (uint32_t)img->height; y += rps, s++) {
      uint32_t rows = (uint32_t)img->height - y < rps ? (uint32_t)img->height - y : rps;
      if (s >= TIFFNumberOfStrips(tif) || TIFFGetStrileByteCount(tif, s) == 0) {
        dlut_error("the TIFF declares %u strips but strip %u holds no data", (unsigned)TIFFNumberOfStrips(tif),
                   (unsigned)s);
        goto done;
      }
      tmsize_t want = (tmsize_t)(row * rows);
      if (TIFFReadEncodedStrip(tif, s, buf, want) != want) {
        dlut_error("%s", src->msg[0] ? src->msg : "truncated TIFF strip");
        goto done;
      }
      for (uint32_t r = 0; r < rows; r++)
        convert_pixels(L, buf + (size_t)r * row, img->width, (uint8_t *)img->data + (size_t)(y + r) * img->stride);
    }
  }
  rc = 0;
done:
  free(buf);
  return rc;
}

/* Anything else libtiff understands, at 8 bits, through TIFFRGBAImage. */
static int read_rgba(TIFF *tif, dlut_image *img, tiff_src *src) {
  char emsg[1024] = "";
  TIFFRGBAImage r;
  if (!TIFFRGBAImageOK(tif, emsg) || !TIFFRGBAImageBegin(&r, tif, 0, emsg))
    return dlut_error("unsupported TIFF layout: %s", emsg);
  r.req_orientation = r.orientation; /* rows as stored; image.c orients */
  size_t n = (size_t)img->width * (size_t)img->height;
  uint32_t *raster = malloc(n * sizeof *raster);
  if (!raster) {
    TIFFRGBAImageEnd(&r);
    return dlut_error("out of memory");
  }
  int ok = TIFFRGBAImageGet(&r, raster, (uint32_t)img->width, (uint32_t)img->height);
  int assoc = r.alpha == EXTRASAMPLE_ASSOCALPHA || r.alpha == EXTRASAMPLE_UNASSALPHA;
  TIFFRGBAImageEnd(&r);
  if (!ok) {
    free(raster);
    return dlut_error("%s", src->msg[0] ? src->msg : "corrupt TIFF");
  }
  uint8_t *d = img->data;
  for (size_t i = 0; i < n; i++) {
    uint32_t v = raster[i];
    uint32_t a = TIFFGetA(v), c[3] = {TIFFGetR(v), TIFFGetG(v), TIFFGetB(v)};
    for (int k = 0; k < 3; k++) {
      /* TIFFRGBAImage premultiplies; undo it so alpha stays "carried through". */
      if (img->channels == 4 && assoc && a > 0 && a < 255)
        c[k] = c[k] * 255 + a / 2 > 255 * a ? 255 : (c[k] * 255 + a / 2) / a;
      d[i * img->channels + k] = (uint8_t)c[k];
    }
    if (img->channels == 4) d[i * 4 + 3] = (uint8_t)a;
  }
  free(raster);
  return 0;
}

/* Associated ("premultiplied") alpha, as Nuke, After Effects and Photoshop
 * may write it, to the straight alpha every image here holds: colour over
 * alpha where alpha is neither 0 nor full (read_rgba's path does the same
 * at 8 bits). Where alpha is 0 the colour is left as stored. */
/* One integer sample, colour c under alpha a (0 < a < full), rounded and clamped to full. */
static uint32_t unpremul_int(uint32_t c, uint32_t a, uint32_t full) {
  const uint64_t v = ((uint64_t)c * full + a / 2u) / a;
  return v > full ? full : (uint32_t)v;
}

static void unpremultiply(dlut_image *img) {
  const size_t n = (size_t)img->width * (size_t)img->height;
  if (img->type == DLUT_PIXEL_U8) {
    uint8_t *d = img->data;
    for (size_t i = 0; i < n; i++, d += 4)
      if (d[3] > 0 && d[3] < 255)
        for (int k = 0; k < 3; k++) d[k] = (uint8_t)unpremul_int(d[k], d[3], 255u);
  } else if (img->type == DLUT_PIXEL_U16) {
    uint16_t *d = img->data;
    for (size_t i = 0; i < n; i++, d += 4)
      if (d[3] > 0 && d[3] < 65535)
        for (int k = 0; k < 3; k++) d[k] = (uint16_t)unpremul_int(d[k], d[3], 65535u);
  } else {
    float *d = img->data; /* alpha in (1e-6, 1): below it nothing is seen; above 1 is as 1; NaN fails both */
    for (size_t i = 0; i < n; i++, d += 4)
      if (d[3] > 1e-6f && d[3] < 1.0f)
        for (int k = 0; k < 3; k++) d[k] /= d[3];
  }
}

int dlut__tiff_load(const uint8_t *data, size_t size, dlut__decoded *out) {
  tiff_src src = {data, size, 0, {0}};
  TIFFOpenOptions *opts = make_opts(&src);
  if (!opts) return dlut_error("out of memory");
  TIFF *tif = TIFFClientOpenExt("tiff", "rm", (thandle_t)&src, mem_read, mem_write, mem_seek, mem_close, mem_size,
                                mem_map, mem_unmap, opts);
  TIFFOpenOptionsFree(opts);
  if (!tif) return dlut_error("%s", src.msg[0] ? src.msg : "invalid TIFF");
  uint32_t w = 0, h = 0;
  uint16_t spp = 1, bps = 1, fmt = SAMPLEFORMAT_UINT, photo = 0, planar = PLANARCONFIG_CONTIG, orient = 1;
  uint16_t nextra = 0, *extra = NULL;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h)) {
    dlut_error("TIFF has no image size");
    goto fail;
  }
  if (dlut__check_dims(w, h) != 0) goto fail;
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orient);
  TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo)) photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
  layout L = {0};
  L.spp = spp;
  L.gray = photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE;
  L.min_white = photo == PHOTOMETRIC_MINISWHITE;
  int color = L.gray ? 1 : 3;
  int has_alpha =
      spp > color && nextra > 0 && extra && (extra[0] == EXTRASAMPLE_ASSOCALPHA || extra[0] == EXTRASAMPLE_UNASSALPHA);
  L.alpha_index = color;
  L.ch = has_alpha ? 4 : 3;
  int direct = planar == PLANARCONFIG_CONTIG && (photo == PHOTOMETRIC_RGB || L.gray) && spp >= color &&
               ((fmt == SAMPLEFORMAT_UINT && (bps == 8 || bps == 16)) ||
                (fmt == SAMPLEFORMAT_IEEEFP && (bps == 16 || bps == 32)));
  if (!direct && (fmt == SAMPLEFORMAT_IEEEFP || bps > 16)) {
    dlut_error("unsupported TIFF layout (%u-bit %s samples, photometric %u, planar %u)", bps,
               fmt == SAMPLEFORMAT_IEEEFP ? "float" : "integer", photo, planar);
    goto fail;
  }
  L.half = fmt == SAMPLEFORMAT_IEEEFP && bps == 16;
  dlut_pixel_type t = !direct                      ? DLUT_PIXEL_U8
                      : fmt == SAMPLEFORMAT_IEEEFP ? DLUT_PIXEL_F32
                      : bps == 16                  ? DLUT_PIXEL_U16
                                                   : DLUT_PIXEL_U8;
  L.bytes = bps / 8;
  out->img = dlut_image_alloc((int)w, (int)h, L.ch, t);
  if (!out->img) goto fail;
  if ((direct ? read_direct(tif, &L, out->img, &src) : read_rgba(tif, out->img, &src)) != 0) goto fail;
  if (direct && has_alpha && extra[0] == EXTRASAMPLE_ASSOCALPHA) unpremultiply(out->img);
  out->orientation = orient >= 1 && orient <= 8 ? orient : 1;
  uint32_t n = 0;
  void *blob = NULL;
  if (TIFFGetField(tif, TIFFTAG_ICCPROFILE, &n, &blob) && blob && n > 0) {
    if (dlut__set_blob(&out->icc, &out->icc_size, blob, n, 0) != 0) goto fail;
  }
  if (TIFFGetField(tif, TIFFTAG_XMLPACKET, &n, &blob) && blob && n > 0) {
    if (dlut__set_blob(&out->img->xmp, &out->img->xmp_size, blob, n, 0) != 0) goto fail;
  }
  toff_t exif_off = 0;
  /* Classic TIFF only (BigTIFF, magic 43, has 8-byte offsets in its IFDs). */
  if (size >= 8 && data[2] != 43 && data[3] != 43 && TIFFGetField(tif, TIFFTAG_EXIFIFD, &exif_off) && exif_off > 0) {
    if (exif_from_file(data, size, exif_off, &out->img->exif, &out->img->exif_size) != 0) goto fail;
  }
  /* libtiff reports some damage (a tag whose data lies past the end of a
   * truncated file, ...) as an error yet goes on without that field; a
   * damaged file is an error here, as for the other formats. */
  if (src.msg[0]) {
    dlut_error("%s", src.msg);
    goto fail;
  }
  TIFFClose(tif);
  return 0;
fail:
  TIFFClose(tif);
  dlut__decoded_free(out);
  return -1;
}

/* ==== Save ==== */

int dlut__tiff_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o) {
  (void)o;
  size_t icc_n = 0;
  const uint8_t *icc = dlut__srgb_icc(&icc_n);
  if (!icc) return -1;
  tiff_src err = {0};
  TIFFOpenOptions *opts = make_opts(&err);
  if (!opts) return dlut_error("out of memory");
  int fd = dup(fileno(fp));
  if (fd < 0) {
    TIFFOpenOptionsFree(opts);
    return dlut_error("cannot duplicate the output descriptor");
  }
  uint64_t bytes = img->stride * (uint64_t)img->height;
  int big = bytes > ((uint64_t)3 << 30);
  TIFF *tif = TIFFFdOpenExt(fd, "out.tif", big ? "w8" : "w", opts);
  TIFFOpenOptionsFree(opts);
  if (!tif) {
    close(fd);
    return dlut_error("%s", err.msg[0] ? err.msg : "cannot open TIFF for writing");
  }
  int rc = -1;
  uint8_t *buf = NULL;
  int is_float = img->type == DLUT_PIXEL_F32;
  /* TIFFSetField copies what it is given and fails (0) when that copy
   * cannot be allocated: every field must be there, or the file is wrong */
  int set = 1;
  set &= TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)img->width);
  set &= TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)img->height);
  set &= TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)(8 * img->type));
  set &= TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)img->channels);
  set &= TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, is_float ? SAMPLEFORMAT_IEEEFP : SAMPLEFORMAT_UINT);
  set &= TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  set &= TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  set &= TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
  set &= TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
  set &= TIFFSetField(tif, TIFFTAG_PREDICTOR, is_float ? PREDICTOR_FLOATINGPOINT : PREDICTOR_HORIZONTAL);
  if (img->channels == 4) {
    uint16_t ex = EXTRASAMPLE_UNASSALPHA;
    set &= TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &ex);
  }
  set &= TIFFSetField(tif, TIFFTAG_ICCPROFILE, (uint32_t)icc_n, icc);
  if (m->xmp && m->xmp_size && m->xmp_size < UINT32_MAX)
    set &= TIFFSetField(tif, TIFFTAG_XMLPACKET, (uint32_t)m->xmp_size, m->xmp);
  /* EXIF: the descriptive IFD0 strings become this file's IFD0 tags; the
   * EXIF IFD is appended after libtiff is done (exif_append), pointed to
   * by a placeholder ExifIFD tag set here. */
  int want_exif = 0;
  if (m->exif && m->exif_size >= 8 && !big) {
    const uint8_t *ex = m->exif;
    size_t exn = m->exif_size;
    int sbe = ex[0] == 'M';
    uint64_t ifd0 = rd(ex + 4, sbe, 4);
    uint32_t c = ifd0 >= 8 && ifd0 <= exn - 2 ? rd(ex + ifd0, sbe, 2) : 0;
    for (uint32_t i = 0; i < c && ifd0 + 2 + 12 * (uint64_t)(i + 1) <= exn; i++) {
      const uint8_t *e = ex + ifd0 + 2 + 12 * i;
      uint32_t tag = rd(e, sbe, 2), type = rd(e + 2, sbe, 2), cnt = rd(e + 4, sbe, 4);
      if (tag == 0x8769) want_exif = 1;
      if (type != 2 || !keep_ifd0(tag) || cnt == 0 || cnt > 65535) continue;
      const uint8_t *v = cnt <= 4 ? e + 8 : ex + rd(e + 8, sbe, 4);
      if (v < ex || (size_t)(v - ex) > exn || cnt > exn - (size_t)(v - ex)) continue;
      char str[65536];
      memcpy(str, v, cnt);
      str[cnt] = '\0';
      set &= TIFFSetField(tif, tag, str);
    }
    if (want_exif) set &= TIFFSetField(tif, TIFFTAG_EXIFIFD, (uint64_t)0);
  }
  /* Strips of about 256 KB: libtiff's default (8 KB, one row of a photo)
   * makes Deflate restart every row, 4x larger and slower. */
  uint32_t rps = (uint32_t)(((size_t)256 << 10) / img->stride);
  if (rps == 0) rps = 1;
  if (rps > (uint32_t)img->height) rps = (uint32_t)img->height;
  set &= TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
  if (!set) {
    if (err.msg[0])
      dlut_error("TIFF write: %s", err.msg);
    else
      dlut_errorc(DLUT_ERR_NOMEM, "TIFF write: out of memory");
    goto done;
  }
  /* The predictor works in place on what it is given, so strips go
   * through a scratch copy and the caller's image stays untouched. */
  size_t ssize = img->stride * rps;
  buf = malloc(ssize);
  if (!buf) {
    dlut_error("out of memory");
    goto done;
  }
  for (uint32_t y = 0, s = 0; y < (uint32_t)img->height; y += rps, s++) {
    uint32_t rows = (uint32_t)img->height - y < rps ? (uint32_t)img->height - y : rps;
    size_t n = img->stride * rows;
    memcpy(buf, (const uint8_t *)img->data + (size_t)y * img->stride, n);
    if (dlut__save_stopped(o) != 0) goto done; /* a strip is about 256 KB */
    if (TIFFWriteEncodedStrip(tif, s, buf, (tmsize_t)n) < 0) {
      dlut_error("%s", err.msg[0] ? err.msg : "TIFF write failed");
      goto done;
    }
  }
  if (!TIFFWriteDirectory(tif)) {
    dlut_error("%s", err.msg[0] ? err.msg : "TIFF write failed");
    goto done;
  }
  rc = 0;
done:
  free(buf);
  TIFFClose(tif); /* closes fd (the dup); the FILE is committed or aborted by image.c */
  if (rc == 0 && want_exif) rc = exif_append(fp, m->exif, m->exif_size);
  return rc;
}
