/* Binary PPM (P6) and PGM (P5), after the Netpbm specification
 * (https://netpbm.sourceforge.net/doc/ppm.html, .../pgm.html): "P6" or
 * "P5", whitespace-separated decimal width, height and maxval (comments
 * from '#' to the end of a line allowed between them), exactly one
 * whitespace byte, then rows of big-endian samples, one byte each when
 * maxval < 256, else two. maxval 255 / 65535 load as U8 / U16 unchanged;
 * other maxvals are rescaled to the full range (round to nearest); samples
 * above maxval are clamped. P5 grey is expanded to RGB.
 *
 * This path is the fast one (bench/ compares it with FFmpeg): the file is
 * memory-mapped by image.c, an 8-bit P6 with maxval 255 is a single memcpy
 * and a 16-bit one a byte swap; saving is one fwrite (8-bit) or a swap
 * into a buffer (16-bit). */
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/parallel.h"
#include "image/image_private.h"

/* ==== Header ==== */

static int is_space(uint8_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Skip whitespace and comments, then read a decimal number (at most 9
 * digits, so it cannot overflow). Returns 0, or -1 with a reason. */
static int read_number(const uint8_t *p, size_t n, size_t *pos, long *out, const char *what) {
  size_t i = *pos;
  for (;;) {
    while (i < n && is_space(p[i])) i++;
    if (i < n && p[i] == '#') {
      while (i < n && p[i] != '\n' && p[i] != '\r') i++;
      continue;
    }
    break;
  }
  if (i >= n) return dlut_error("truncated PPM header (no %s)", what);
  if (p[i] < '0' || p[i] > '9') return dlut_error("bad PPM header: %s is not a number", what);
  long v = 0;
  int digits = 0;
  while (i < n && p[i] >= '0' && p[i] <= '9') {
    if (++digits > 9) return dlut_error("bad PPM header: %s is too large", what);
    v = v * 10 + (p[i] - '0');
    i++;
  }
  *out = v;
  *pos = i;
  return 0;
}

static int is_big_endian(void) {
  const uint16_t one = 1;
  return *(const uint8_t *)&one == 0;
}

/* ==== Load ==== */

typedef struct {
  const uint8_t *src; /* first sample of the raster */
  dlut_image *img;    /* destination, RGB */
  int in_ch;          /* 1 (P5) or 3 (P6) */
  int wide;           /* 2-byte samples */
  long maxval;
  const uint16_t *table; /* maxval -> full range, maxval+1 entries, or NULL if none needed */
} ppm_ctx;

static void ppm_rows(void *vctx, int64_t y0, int64_t y1, int thread) {
  const ppm_ctx *c = vctx;
  dlut_image *img = c->img;
  size_t in_row = (size_t)img->width * (size_t)c->in_ch * (c->wide ? 2 : 1);
  for (int64_t y = y0; y < y1; y++) {
    const uint8_t *s = c->src + (size_t)y * in_row;
    uint8_t *d8 = (uint8_t *)img->data + (size_t)y * img->stride;
    uint16_t *d16 = (uint16_t *)d8;
    size_t n = (size_t)img->width * (size_t)c->in_ch;
    if (c->in_ch == 3 && !c->table) { /* plain maxval 255 / 65535 */
      if (!c->wide) {
        memcpy(d8, s, n);
      } else { /* big-endian samples: copy, then swap in place (a loop compilers vectorise) */
        memcpy(d16, s, 2 * n);
        if (!is_big_endian())
          for (size_t i = 0; i < n; i++) d16[i] = __builtin_bswap16(d16[i]);
      }
      continue;
    }
    for (size_t i = 0; i < n; i++) {
      long v = c->wide ? (s[2 * i] << 8 | s[2 * i + 1]) : s[i];
      if (v > c->maxval) v = c->maxval;
      uint16_t out = c->table ? c->table[v] : (uint16_t)v;
      if (c->in_ch == 1) {
        if (c->wide)
          d16[3 * i] = d16[3 * i + 1] = d16[3 * i + 2] = out;
        else
          d8[3 * i] = d8[3 * i + 1] = d8[3 * i + 2] = (uint8_t)out;
      } else {
        if (c->wide)
          d16[i] = out;
        else
          d8[i] = (uint8_t)out;
      }
    }
  }
  (void)thread;
}

int dlut__ppm_load(const uint8_t *p, size_t n, dlut__decoded *out) {
  uint16_t *table = NULL;
  if (n < 2 || p[0] != 'P' || (p[1] != '5' && p[1] != '6')) return dlut_error("not a binary PPM/PGM file");
  int in_ch = p[1] == '6' ? 3 : 1;
  size_t pos = 2;
  long w, h, maxval;
  if (pos < n && !is_space(p[pos]) && p[pos] != '#') return dlut_error("bad PPM header after the magic number");
  if (read_number(p, n, &pos, &w, "width") || read_number(p, n, &pos, &h, "height") ||
      read_number(p, n, &pos, &maxval, "maxval"))
    return -1;
  if (maxval < 1 || maxval > 65535) return dlut_error("bad PPM maxval %ld (must be 1..65535)", maxval);
  if (pos >= n || !is_space(p[pos])) return dlut_error("bad PPM header: no whitespace after maxval");
  pos++; /* exactly one whitespace byte, then the raster */
  if (dlut__check_dims(w, h) != 0) return -1;
  int wide = maxval > 255;
  /* w, h <= 65535 and w*h <= 2^28: the byte count fits in 64 bits. */
  uint64_t need = (uint64_t)w * (uint64_t)h * (uint64_t)in_ch * (wide ? 2u : 1u);
  if (need > n - pos)
    return dlut_error("truncated PPM data (%llu bytes of raster expected, %llu present)", (unsigned long long)need,
                      (unsigned long long)(n - pos));
  dlut_image *img = dlut_image_alloc((int)w, (int)h, 3, wide ? DLUT_PIXEL_U16 : DLUT_PIXEL_U8);
  if (!img) return -1;
  long full = wide ? 65535 : 255;
  if (maxval != full || in_ch == 1) {
    table = malloc(sizeof *table * (size_t)(maxval + 1));
    if (!table) {
      dlut_image_free(img);
      return dlut_error("out of memory");
    }
    for (long v = 0; v <= maxval; v++) table[v] = (uint16_t)((v * full * 2 + maxval) / (2 * maxval));
  }
  ppm_ctx c = {p + pos, img, in_ch, wide, maxval, table};
  int64_t grain = 1 + (int64_t)(1 << 18) / img->width;
  dlut_parallel_for(img->height, grain, ppm_rows, &c);
  free(table);
  out->img = img;
  return 0;
}

/* ==== Save ==== */

int dlut__ppm_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o) {
  (void)m;
  (void)o;
  if (img->channels != 3 || img->type == DLUT_PIXEL_F32) return dlut_error("PPM writer needs RGB U8/U16");
  int wide = img->type == DLUT_PIXEL_U16;
  if (fprintf(fp, "P6\n%d %d\n%d\n", img->width, img->height, wide ? 65535 : 255) < 0)
    return dlut_error("write failed");
  if (!wide) {
    size_t bytes = img->stride * (size_t)img->height;
    if (fwrite(img->data, 1, bytes, fp) != bytes) return dlut_error("write failed");
    return 0;
  }
  enum { CHUNK = 1 << 16 };         /* samples per write */
  uint8_t *buf = malloc(2 * CHUNK); /* malloc'd: aligned for uint16_t */
  if (!buf) return dlut_error("out of memory");
  const uint16_t *s = img->data;
  size_t total = (size_t)img->width * 3 * (size_t)img->height;
  for (size_t i = 0; i < total; i += CHUNK) {
    size_t k = total - i < CHUNK ? total - i : CHUNK;
    uint16_t *b16 = (uint16_t *)buf;
    memcpy(b16, s + i, 2 * k);
    if (!is_big_endian())
      for (size_t j = 0; j < k; j++) b16[j] = __builtin_bswap16(b16[j]);
    if (fwrite(buf, 2, k, fp) != k) {
      free(buf);
      return dlut_error("write failed");
    }
  }
  free(buf);
  return 0;
}
