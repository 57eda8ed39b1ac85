/* LUT files: format detection, dlut_lut_load and dlut_lut_save (the Files
 * section of dlut/lut.h). The per-format code lives in io_cube.c, io_3dl.c
 * and io_hald.c; this file picks the format, reads the file with a size cap,
 * adapts the LUT to what the target format can hold (resampling when it
 * cannot), and writes through an atomic temporary file so that a failure
 * leaves no output behind.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "lut/io_internal.h"

static dlut_lut *resample(const dlut_lut *lut, int n) {
  return dlut_lut_resample(lut, n, DLUT_INTERP_TETRAHEDRAL);
}

dlut_lut_format dlut_lut_format_from_path(const char *path) {
  char buf[16];
  if (!path) return DLUT_LUT_FORMAT_UNKNOWN;
  const char *ext = dlut_file_ext(path, buf);
  if (!strcmp(ext, "cube")) return DLUT_LUT_FORMAT_CUBE;
  if (!strcmp(ext, "3dl")) return DLUT_LUT_FORMAT_3DL;
  if (!strcmp(ext, "png") || !strcmp(ext, "tif") || !strcmp(ext, "tiff")) return DLUT_LUT_FORMAT_HALD;
  return DLUT_LUT_FORMAT_UNKNOWN;
}

/* A lossless image a Hald CLUT may be stored in: PNG or TIFF (8, 16-bit or
 * float), by its magic. */
static int hald_image(const unsigned char *p, size_t n) {
  const dlut_image_format f = dlut_image_format_sniff(p, n);
  return f == DLUT_IMAGE_FORMAT_PNG || f == DLUT_IMAGE_FORMAT_TIFF;
}

/* Content sniffing for files whose extension says nothing: PNG magic, then
 * .cube keywords, else .3dl (lines of integers). */
static dlut_lut_format sniff(const unsigned char *p, size_t n) {
  if (hald_image(p, n)) return DLUT_LUT_FORMAT_HALD;
  /* a .cube's size keyword, in any case, within the first MB (comments and a long TITLE may come first) */
  size_t m = n < ((size_t)1 << 20) ? n : ((size_t)1 << 20);
  for (size_t i = 0; i + 11 <= m; i++)
    if ((p[i] | 0x20) == 'l' &&
        (!strncasecmp((const char *)p + i, "LUT_3D_SIZE", 11) || !strncasecmp((const char *)p + i, "LUT_1D_SIZE", 11)))
      return DLUT_LUT_FORMAT_CUBE;
  return DLUT_LUT_FORMAT_3DL;
}

int lut_io_check(const dlut_lut *lut) {
  if (!lut) return dlut_error("no LUT");
  if (!lut->size && !lut->shaper_size) return dlut_error("the LUT has neither a 3D table nor a 1D table");
  if (lut->size && (lut->size < 2 || lut->size > DLUT_LUT_MAX_SIZE || !lut->table))
    return dlut_error("bad 3D LUT size %d", lut->size);
  if (lut->shaper_size && (lut->shaper_size < 2 || lut->shaper_size > DLUT_LUT_MAX_1D || !lut->shaper))
    return dlut_error("bad 1D LUT size %d", lut->shaper_size);
  for (int c = 0; c < 3; c++) {
    if (!isfinite(lut->domain_min[c]) || !isfinite(lut->domain_max[c]) || !(lut->domain_min[c] < lut->domain_max[c]))
      return dlut_error("bad 3D domain [%g, %g]", (double)lut->domain_min[c], (double)lut->domain_max[c]);
    if (!isfinite(lut->shaper_min[c]) || !isfinite(lut->shaper_max[c]) || !(lut->shaper_min[c] < lut->shaper_max[c]))
      return dlut_error("bad 1D input range [%g, %g]", (double)lut->shaper_min[c], (double)lut->shaper_max[c]);
  }
  size_t n3 = (size_t)lut->size * lut->size * lut->size * 3;
  for (size_t i = 0; i < n3; i++)
    if (!isfinite(lut->table[i])) return dlut_error("the 3D table holds a non-finite value");
  for (size_t i = 0; i < (size_t)lut->shaper_size * 3; i++)
    if (!isfinite(lut->shaper[i])) return dlut_error("the 1D table holds a non-finite value");
  return 0;
}

void lut_title_line(const dlut_lut *lut, int no_quotes, char sub, char out[256]) {
  size_t n = strnlen(lut->title, sizeof lut->title - 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)lut->title[i];
    out[i] = ch < 0x20 || ch == 0x7f || (no_quotes && ch == '"') ? sub : (char)ch;
  }
  /* a multi-byte sequence cut short at the end: back to its lead byte, and drop it */
  size_t k = n, cont = 0;
  while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80 && cont < 3) k--, cont++;
  if (k > 0) {
    unsigned char lead = (unsigned char)out[k - 1];
    size_t need = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
    if (lead >= 0xC0 && cont < need) n = k - 1;
  }
  out[n] = '\0';
}

dlut_lut *dlut_lut_load_memory(const void *data, size_t n, dlut_lut_format fmt, const char *name) {
  dlut_lut *lut = NULL;
  if (!name) name = "LUT";
  if (!data || n == 0) {
    dlut_errorc(DLUT_ERR_INPUT, "%s: empty LUT file", name);
    return NULL;
  }
  if (n > DLUT_LUT_MAX_FILE_BYTES) {
    dlut_errorc(DLUT_ERR_TOO_LARGE, "%s: larger than %d bytes", name, (int)DLUT_LUT_MAX_FILE_BYTES);
    return NULL;
  }
  /* the content decides over the name: a PNG named .cube is a Hald CLUT;
   * text LUTs in UTF-16 or binary files get an error that says so */
  const unsigned char *u = data;
  if (hald_image(u, n)) fmt = DLUT_LUT_FORMAT_HALD;
  if (fmt != DLUT_LUT_FORMAT_HALD) {
    if (n >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
      dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: the file is UTF-16 text; save it as UTF-8 (or ASCII)", name);
      return NULL;
    }
    if (memchr(u, 0, n < 4096 ? n : 4096)) {
      dlut_errorc(DLUT_ERR_INPUT, "%s: a binary file, not a text LUT (.cube or .3dl)%s", name,
                  dlut_image_format_sniff(u, n) != DLUT_IMAGE_FORMAT_UNKNOWN
                      ? "; a Hald CLUT must be a PNG or a TIFF (another image format loses colours)"
                      : "");
      return NULL;
    }
  }
  if (fmt == DLUT_LUT_FORMAT_UNKNOWN) fmt = sniff(data, n);
  switch (fmt) {
    case DLUT_LUT_FORMAT_CUBE:
      lut = dlut_lut_parse_cube(data, n, name);
      break;
    case DLUT_LUT_FORMAT_3DL:
      lut = dlut_lut_parse_3dl(data, n, name);
      break;
    case DLUT_LUT_FORMAT_HALD:
      lut = dlut_lut_parse_hald(data, n, name);
      break;
    default:
      dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: unknown LUT format", name);
      break;
  }
  /* whatever the parser did not classify is a malformed file */
  if (!lut && dlut_last_error_code() == DLUT_ERR_INTERNAL) dlut_error_set_code(DLUT_ERR_INPUT);
  return lut;
}

dlut_lut *dlut_lut_load(const char *path) {
  size_t n = 0;
  unsigned char *data = dlut_file_read_all(path, DLUT_LUT_MAX_FILE_BYTES, &n);
  if (!data) return NULL;
  dlut_lut *lut = dlut_lut_load_memory(data, n, dlut_lut_format_from_path(path), path);
  free(data);
  return lut;
}

/* ==== Saving ==== */

static int is_plain_3d(const dlut_lut *lut) {
  if (!lut->size || lut->shaper_size) return 0;
  for (int c = 0; c < 3; c++)
    if (lut->domain_min[c] != 0.f || lut->domain_max[c] != 1.f) return 0;
  return 1;
}

/* The Hald level for a LUT when none is asked for: the one whose lattice
 * (L^2 points) matches the LUT's size, else the nearest, else 8 (64 points). */
static int hald_level_for(const dlut_lut *lut) {
  if (!lut->size) return 8;
  int best = 2;
  for (int l = 2; l <= 16; l++)
    if (abs(l * l - lut->size) < abs(best * best - lut->size)) best = l;
  return best;
}

/* ==== Folding into a plain lattice ==== */

static _Thread_local dlut_lut_save_info g_info;

const dlut_lut_save_info *dlut_lut_last_save_info(void) {
  return &g_info;
}

/* Largest difference over [0,1] inputs between the LUT and its plain
 * resampling (both evaluated tetrahedrally, outputs clamped to [0,1] as the
 * integer formats store them): lattice-cell midpoints of a 19^3 grid (where
 * interpolation errs most) and 4096 pseudo-random colours. */
static double fold_error(const dlut_lut *lut, const dlut_lut *plain) {
  double worst = 0;
  uint64_t st = 0x9E3779B97F4A7C15ull;
  for (int k = 0; k < 19 * 19 * 19 + 4096; k++) {
    float in[3], a[3], b[3];
    if (k < 19 * 19 * 19) {
      in[0] = ((float)(k % 19) + 0.5f) / 19.f, in[1] = ((float)(k / 19 % 19) + 0.5f) / 19.f,
      in[2] = ((float)(k / 361) + 0.5f) / 19.f;
    } else {
      for (int c = 0; c < 3; c++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        in[c] = (float)((st >> 40) & 0xFFFFFF) / 16777215.f;
      }
    }
    dlut_lut_eval(lut, in, a, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_eval(plain, in, b, DLUT_INTERP_TETRAHEDRAL);
    for (int c = 0; c < 3; c++) {
      float x = a[c] < 0 ? 0 : a[c] > 1 ? 1 : a[c], y = b[c] < 0 ? 0 : b[c] > 1 ? 1 : b[c];
      double d = fabs((double)x - y);
      if (d > worst) worst = d;
    }
  }
  return worst;
}

/* The smallest plain lattice from `sizes` (ascending, each >= the LUT's own
 * size) that reproduces the LUT within half an 8-bit code, else the last;
 * records what it reached in g_info. */
static dlut_lut *fold(const dlut_lut *lut, const int *sizes, int n_sizes) {
  dlut_lut *best = NULL;
  for (int i = 0; i < n_sizes; i++) {
    if (lut->size && sizes[i] < lut->size && i + 1 < n_sizes) continue;
    dlut_lut *t = resample(lut, sizes[i]);
    if (!t) {
      dlut_lut_free(best);
      return NULL;
    }
    double err = fold_error(lut, t);
    dlut_lut_free(best);
    best = t;
    g_info.size = sizes[i];
    g_info.max_error = err;
    g_info.resampled = 1;
    if (err <= 0.5 / 255.0) break;
  }
  return best;
}

static int out_of_range(const dlut_lut *lut) {
  for (size_t i = 0; i < (size_t)lut->size * lut->size * lut->size * 3; i++)
    if (lut->table[i] < 0.f || lut->table[i] > 1.f) return 1;
  for (size_t i = 0; i < (size_t)lut->shaper_size * 3; i++)
    if (lut->shaper[i] < 0.f || lut->shaper[i] > 1.f) return 1;
  return 0;
}

/* Adapt the LUT to the format and encode it: text formats into `f`, Hald
 * into *hald (a new image). `name` is for messages. */
static int encode(const dlut_lut *lut, dlut_lut_format fmt, const dlut_lut_save_opts *opts, const char *name, FILE *f,
                  dlut_image **hald) {
  dlut_lut_save_opts o = {0, 16, 0};
  dlut_lut *tmp = NULL;
  int rc = -1;
  if (opts) {
    if (opts->hald_level) o.hald_level = opts->hald_level;
    if (opts->hald_bits) o.hald_bits = opts->hald_bits;
    if (opts->bits_3dl) o.bits_3dl = opts->bits_3dl;
  }
  if (lut_io_check(lut) != 0) return dlut_error_prefix(name);
  const dlut_lut *src = lut;
  memset(&g_info, 0, sizeof g_info);
  g_info.size = lut->size;
  switch (fmt) {
    case DLUT_LUT_FORMAT_CUBE:
      /* OpenColorIO reads 3D lattices of at most 129 points; larger ones
       * (a Hald of level 12 is 144) are resampled to 129, the difference
       * reported like any other resampling */
      if (lut->size > DLUT_LUT_MAX_PORTABLE) {
        static const int k_sizes[] = {DLUT_LUT_MAX_PORTABLE};
        if (!(tmp = fold(lut, k_sizes, 1))) goto fail;
        memcpy(tmp->title, lut->title, sizeof tmp->title);
        src = tmp;
      }
      if (dlut_lut_write_cube(src, f, name) != 0) goto fail;
      break;
    case DLUT_LUT_FORMAT_3DL:
      if (o.bits_3dl != 0 && o.bits_3dl != 10 && o.bits_3dl != 12 && o.bits_3dl != 16) {
        dlut_errorc(DLUT_ERR_INPUT, "%s: .3dl bit depth must be 10, 12 or 16, not %d", name, o.bits_3dl);
        goto fail;
      }
      /* .3dl has no domain and no separate shaper: fold them in, on a
       * lattice fine enough to stay within half an 8-bit code */
      g_info.clamped = out_of_range(lut);
      if (!is_plain_3d(lut)) {
        static const int k_sizes[] = {17, 33, 49, 65};
        if (!(tmp = fold(lut, k_sizes, 4))) goto fail;
        src = tmp;
      } else if (lut->size > DLUT_LUT_MAX_PORTABLE) {
        static const int k_sizes[] = {DLUT_LUT_MAX_PORTABLE};
        if (!(tmp = fold(lut, k_sizes, 1))) goto fail;
        src = tmp;
      }
      if (dlut_lut_write_3dl(src, f, o.bits_3dl, name) != 0) goto fail;
      break;
    case DLUT_LUT_FORMAT_HALD: {
      int level = o.hald_level ? o.hald_level : hald_level_for(lut);
      if (level < 2 || level > 16) {
        dlut_errorc(DLUT_ERR_INPUT, "%s: Hald level must be 2..16, not %d", name, level);
        goto fail;
      }
      if (o.hald_bits != 8 && o.hald_bits != 16) {
        dlut_errorc(DLUT_ERR_INPUT, "%s: Hald bit depth must be 8 or 16, not %d", name, o.hald_bits);
        goto fail;
      }
      g_info.clamped = out_of_range(lut);
      if (!is_plain_3d(lut) || lut->size != level * level) {
        /* an asked-for level is kept; otherwise the smallest level from the
         * LUT's own that reproduces it within half an 8-bit code */
        int sizes[15], ns = 0;
        for (int l = o.hald_level ? o.hald_level : level; l <= (o.hald_level ? o.hald_level : 16); l++)
          sizes[ns++] = l * l;
        if (!(tmp = fold(lut, sizes, ns))) goto fail;
        src = tmp;
      }
      if (!(*hald = dlut_lut_to_hald_image(src, o.hald_bits, name))) goto fail;
      break;
    }
    default:
      dlut_errorc(DLUT_ERR_UNSUPPORTED,
                  "%s: unknown LUT file extension (use .cube, .3dl, or .png / .tif for a Hald CLUT)", name);
      goto fail;
  }
  rc = 0;
fail:
  dlut_lut_free(tmp);
  return rc;
}

int dlut_lut_save(const dlut_lut *lut, const char *path, const dlut_lut_save_opts *opts) {
  dlut_lut_format fmt = dlut_lut_format_from_path(path);
  dlut_image *img = NULL;
  dlut_atomic out = {0};
  int rc = -1;
  if (fmt == DLUT_LUT_FORMAT_HALD) {
    if (encode(lut, fmt, opts, path, NULL, &img) != 0) goto fail;
    if (dlut_image_save(img, path, NULL) != 0) goto fail; /* atomic itself */
  } else if (fmt == DLUT_LUT_FORMAT_UNKNOWN) {
    if (lut_io_check(lut) != 0) return dlut_error_prefix(path);
    dlut_errorc(DLUT_ERR_UNSUPPORTED,
                "%s: unknown LUT file extension (use .cube, .3dl, or .png / .tif for a Hald CLUT)", path);
    goto fail;
  } else {
    if (lut_io_check(lut) != 0) return dlut_error_prefix(path);
    if (dlut_atomic_begin(&out, path) != 0) goto fail;
    if (encode(lut, fmt, opts, path, out.fp, &img) != 0) goto fail;
    if (dlut_atomic_commit(&out) != 0) goto fail;
  }
  rc = 0;
fail:
  if (out.fp) dlut_atomic_abort(&out);
  dlut_image_free(img);
  return rc;
}

int dlut_lut_save_memory(const dlut_lut *lut, dlut_lut_format fmt, const dlut_lut_save_opts *opts, const char *name,
                         uint8_t **data, size_t *size) {
  *data = NULL;
  *size = 0;
  if (!name) name = "LUT";
  if (fmt == DLUT_LUT_FORMAT_HALD) {
    dlut_image *img = NULL;
    int rc = encode(lut, fmt, opts, name, NULL, &img);
    if (rc == 0) rc = dlut_image_save_memory(img, DLUT_IMAGE_FORMAT_PNG, NULL, data, size);
    dlut_image_free(img);
    return rc;
  }
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", name);
  int rc = encode(lut, fmt, opts, name, f, NULL);
  if (fclose(f) != 0 && rc == 0) rc = dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", name);
  if (rc != 0) {
    free(buf);
    return -1;
  }
  *data = (uint8_t *)buf;
  *size = len;
  return 0;
}
