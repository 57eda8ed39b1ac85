/* PNG through libpng 1.6 (the reference implementation, PNG spec 3rd ed.).
 *
 * Load: every colour type and bit depth; palette, grey and 1/2/4-bit grey
 * are expanded to 8-bit RGB, tRNS to an alpha channel, grey+alpha to RGBA;
 * 16-bit samples stay 16-bit (swapped to host order). Metadata: iCCP (the
 * profile is converted to sRGB by image.c), eXIf, XMP in the iTXt keyword
 * "XML:com.adobe.xmp", and ImageMagick's older "Raw profile type exif/xmp"
 * hex text chunks. gAMA/cHRM without iCCP are ignored (taken as sRGB, as
 * browsers do for untagged images in practice).
 *
 * Hostile input: the header's size is checked against the caps before
 * anything is allocated; libpng's own user limits and chunk-size cap are
 * set too; errors longjmp back here (the only way libpng reports them) and
 * every pointer that lives across setjmp is volatile. Truncated image data
 * is an error; a file that ends after the image data (no IEND) loads.
 *
 * Save: 8/16-bit RGB/RGBA, tagged with an sRGB chunk (plus the gAMA/cHRM
 * values the spec says to write alongside it), eXIf and XMP iTXt chunks,
 * zlib level 3. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "image/image_private.h"

typedef struct {
  const uint8_t *p; /* the file */
  size_t n;         /* its size */
  size_t pos;       /* read position */
  char msg[256];    /* libpng's error message */
  int oom;          /* libpng skipped an ancillary chunk for want of memory */
} png_src;

static void on_error(png_structp png, png_const_charp msg) {
  png_src *s = png_get_error_ptr(png);
  snprintf(s->msg, sizeof s->msg, "%s", msg);
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  /* warnings (bad ancillary chunks, ...) are not fatal and not printed: the
   * library never prints. But a chunk skipped because memory ran out is not
   * a bad chunk: its metadata would vanish without a word, so it fails. */
  png_src *s = png_get_error_ptr(png);
  if (s && msg && (strstr(msg, "memory") || strstr(msg, "Memory"))) s->oom = 1;
}

/* libpng's allocations go through here: none may exceed the metadata cap.
 * (libpng 1.6.39 allocates a chunk's declared length in png_read_end
 * before checking it against png_set_chunk_malloc_max; a corrupt length
 * asked for 1.9 GB in fuzzing.) Rows are at most 65535 x 8 bytes, so
 * nothing legitimate comes near the cap. A refusal becomes libpng's
 * "out of memory" error. */
static png_voidp png_alloc(png_structp png, png_alloc_size_t n) {
  (void)png;
  return n > DLUT__MAX_META_BYTES ? NULL : malloc(n);
}

static void png_dealloc(png_structp png, png_voidp p) {
  (void)png;
  free(p);
}

static void read_mem(png_structp png, png_bytep out, size_t len) {
  png_src *s = png_get_io_ptr(png);
  if (len > s->n - s->pos) png_error(png, "truncated PNG data");
  memcpy(out, s->p + s->pos, len);
  s->pos += len;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* ImageMagick's "Raw profile type NAME" text: "\nNAME\n   LENGTH\nHEX..."
 * (png.c in ImageMagick, Magick_png_write_raw_profile). Decodes into a
 * malloc'd buffer; NULL if malformed. */
static uint8_t *parse_raw_profile(const char *t, size_t tn, size_t *out_n) {
  size_t i = 0;
  while (i < tn && t[i] == '\n') i++;
  while (i < tn && t[i] != '\n') i++; /* the profile name */
  while (i < tn && (t[i] == '\n' || t[i] == ' ')) i++;
  size_t len = 0;
  int digits = 0;
  while (i < tn && t[i] >= '0' && t[i] <= '9') {
    if (++digits > 9) return NULL;
    len = len * 10 + (size_t)(t[i++] - '0');
  }
  if (len == 0 || len > DLUT__MAX_META_BYTES) return NULL;
  uint8_t *buf = malloc(len);
  if (!buf) {
    errno = ENOMEM; /* not malformed: the caller must fail, not drop the metadata */
    return NULL;
  }
  size_t k = 0;
  while (i < tn && k < len) {
    int hi = hexval((unsigned char)t[i]);
    if (hi < 0) {
      i++;
      continue;
    }
    if (i + 1 >= tn) break;
    int lo = hexval((unsigned char)t[i + 1]);
    if (lo < 0) break;
    buf[k++] = (uint8_t)(hi << 4 | lo);
    i += 2;
  }
  if (k != len) {
    free(buf);
    return NULL;
  }
  *out_n = len;
  return buf;
}

/* Collect iCCP / eXIf / XMP from info (call after png_read_info and again
 * after png_read_end: chunks after IDAT are only seen then). */
static int collect_meta(png_structp png, png_infop info, dlut__decoded *out) {
  dlut_image *img = out->img;
  png_charp name;
  int comp;
  png_bytep prof;
  png_uint_32 plen;
  if (!out->icc && png_get_iCCP(png, info, &name, &comp, &prof, &plen) && prof && plen > 0) {
    out->icc = malloc(plen);
    if (!out->icc) return dlut_error("out of memory");
    memcpy(out->icc, prof, plen);
    out->icc_size = plen;
  }
#ifdef PNG_eXIf_SUPPORTED
  png_bytep exif;
  png_uint_32 elen;
  if (!img->exif && png_get_eXIf_1(png, info, &elen, &exif) && exif && elen > 0)
    if (dlut__set_blob(&img->exif, &img->exif_size, exif, elen, 1) != 0) return -1;
#endif
  png_textp text;
  int nt = 0;
  if (png_get_text(png, info, &text, &nt) > 0) {
    for (int i = 0; i < nt; i++) {
      const char *k = text[i].key;
      if (!k || !text[i].text) continue;
      size_t tl = strlen(text[i].text); /* libpng NUL-terminates every text; XMP and hex contain no NUL */
      if (!img->xmp && !strcmp(k, "XML:com.adobe.xmp")) {
        if (dlut__set_blob(&img->xmp, &img->xmp_size, text[i].text, tl, 0) != 0) return -1;
      } else if ((!img->exif && !strcmp(k, "Raw profile type exif")) ||
                 (!img->xmp && !strcmp(k, "Raw profile type xmp"))) {
        size_t bn = 0;
        errno = 0;
        uint8_t *b = parse_raw_profile(text[i].text, tl, &bn);
        if (!b && errno == ENOMEM) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
        if (!b) continue; /* malformed ancillary text: ignore, like libpng ignores bad ancillary chunks */
        int is_exif = k[17] == 'e';
        int rc = is_exif ? dlut__set_blob(&img->exif, &img->exif_size, b, bn, 1)
                         : dlut__set_blob(&img->xmp, &img->xmp_size, b, bn, 0);
        free(b);
        if (rc != 0) return -1;
      }
    }
  }
  return 0;
}

int dlut__png_load(const uint8_t *data, size_t size, dlut__decoded *out) {
  png_src src = {data, size, 0, {0}, 0};
  png_structp png =
      png_create_read_struct_2(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning, NULL, png_alloc, png_dealloc);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *volatile rows = NULL;
  dlut_image *volatile img = NULL;
  volatile int phase = 0; /* 0 header, 1 pixels, 2 after the pixels */
  if (!png || !info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return dlut_error("out of memory");
  }
  if (setjmp(png_jmpbuf(png))) {
    if (phase == 2) goto done; /* trailing chunks damaged: the pixels are complete */
    dlut_errorc(DLUT_ERR_INPUT, "damaged PNG (libpng: %s)", src.msg[0] ? src.msg : "corrupt data");
    goto fail;
  }
  png_set_read_fn(png, &src, read_mem);
  /* libpng's own limit at the format's (2^31 - 1): a valid PNG larger than DLUT takes reaches
   * dlut__check_dims below and is refused as too large, not as damaged ("Invalid IHDR data") */
  png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
  png_set_chunk_malloc_max(png, DLUT__MAX_META_BYTES);
  png_read_info(png, info);
  if (src.oom) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory reading the PNG's metadata");
    goto fail;
  }
  png_uint_32 w, h;
  int depth, ctype, interlace;
  png_get_IHDR(png, info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
  if (dlut__check_dims(w, h) != 0) goto fail;
  /* Decompression bomb check: zlib cannot compress better than about
   * 1032:1 (RFC 1951: a 258-byte match costs at least 2 bits), so a file
   * smaller than raw/1100 cannot hold the image it declares; refuse it
   * before allocating the raster. */
  {
    uint64_t raw = ((uint64_t)w * (uint64_t)png_get_channels(png, info) * (uint64_t)depth + 7) / 8 + 1;
    raw *= h;
    if ((uint64_t)size * 1100 < raw) {
      dlut_error("truncated PNG data (%zu bytes cannot hold a %ux%u image)", size, w, h);
      goto fail;
    }
  }
  if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
  if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  if (depth == 16) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one == 1) png_set_swap(png); /* PNG is big-endian; U16 is host order */
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int ch = png_get_channels(png, info);
  int bd = png_get_bit_depth(png, info);
  if ((ch != 3 && ch != 4) || (bd != 8 && bd != 16)) {
    dlut_error("unsupported PNG layout (%d channels, %d bits)", ch, bd);
    goto fail;
  }
  img = dlut_image_alloc((int)w, (int)h, ch, bd == 16 ? DLUT_PIXEL_U16 : DLUT_PIXEL_U8);
  if (!img) goto fail;
  out->img = img;
  if (png_get_rowbytes(png, info) != img->stride) {
    dlut_error("unexpected PNG row size");
    goto fail;
  }
  if (collect_meta(png, info, out) != 0) goto fail;
  rows = malloc(sizeof *rows * h);
  if (!rows) {
    dlut_error("out of memory");
    goto fail;
  }
  for (png_uint_32 y = 0; y < h; y++) rows[y] = (png_bytep)img->data + (size_t)y * img->stride;
  phase = 1;
  png_read_image(png, rows);
  phase = 2;
  png_read_end(png, info);
  if (src.oom) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory reading the PNG's metadata");
    goto fail;
  }
  if (collect_meta(png, info, out) != 0) goto fail;
done:
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  return 0;
fail:
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  dlut__decoded_free(out);
  return -1;
}

/* ==== Save ==== */

int dlut__png_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o) {
  png_src err = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  png_bytep *volatile rows = NULL;
  char *volatile xmp = NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, NULL);
    return dlut_error("out of memory");
  }
  if (setjmp(png_jmpbuf(png))) {
    free(rows);
    free(xmp);
    png_destroy_write_struct(&png, &info);
    return dlut_error("%s", err.msg[0] ? err.msg : "PNG write failed");
  }
  if (img->type == DLUT_PIXEL_F32) png_error(png, "PNG writer needs U8 or U16");
  png_init_io(png, fp);
  int depth = img->type == DLUT_PIXEL_U16 ? 16 : 8;
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, depth,
               img->channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_sRGB_gAMA_and_cHRM(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
#ifdef PNG_eXIf_SUPPORTED
  if (m->exif && m->exif_size > 0 && m->exif_size <= 0x7fffffff)
    png_set_eXIf_1(png, info, (png_uint_32)m->exif_size, (png_bytep)m->exif);
#endif
  png_text t;
  if (m->xmp && m->xmp_size > 0) {
    /* png_set_text measures the text with strlen, so it needs a
     * NUL-terminated copy (an XMP packet never contains NUL). */
    xmp = malloc(m->xmp_size + 1);
    if (!xmp) png_error(png, "out of memory");
    memcpy(xmp, m->xmp, m->xmp_size);
    xmp[m->xmp_size] = '\0';
    memset(&t, 0, sizeof t);
    t.compression = PNG_ITXT_COMPRESSION_NONE;
    t.key = (png_charp) "XML:com.adobe.xmp";
    t.text = xmp;
    t.itxt_length = strlen(xmp);
    t.lang = (png_charp) "";
    t.lang_key = (png_charp) "";
    png_set_text(png, info, &t, 1);
  }
  /* zlib level 3 with libpng's adaptive filters: on a 1000x872 photo it
   * writes 2.2x faster than the default level 6 for a 6 % larger file
   * (docs/image.md). Graded outputs are written far more often than they
   * are archived. */
  png_set_compression_level(png, o && o->fast ? 1 : 3);
  png_write_info(png, info);
  if (depth == 16) {
    const uint16_t one = 1;
    if (*(const uint8_t *)&one == 1) png_set_swap(png);
  }
  rows = malloc(sizeof *rows * (size_t)img->height);
  if (!rows) png_error(png, "out of memory");
  for (int y = 0; y < img->height; y++) rows[y] = (png_bytep)img->data + (size_t)y * img->stride;
  for (int y = 0; y < img->height; y += DLUT__SAVE_STOP_ROWS) { /* in row blocks, asking o->stop between them */
    if (dlut__save_stopped(o) != 0) {
      free(rows);
      png_destroy_write_struct(&png, &info);
      free(xmp);
      return -1;
    }
    const int n = img->height - y < DLUT__SAVE_STOP_ROWS ? img->height - y : DLUT__SAVE_STOP_ROWS;
    png_write_rows(png, rows + y, (png_uint_32)n);
  }
  png_write_end(png, NULL); /* not info: libpng would write eXIf a second time after IDAT */
  free(rows);
  png_destroy_write_struct(&png, &info);
  free(xmp);
  return 0;
}
