/* .cube files: Adobe "Cube LUT Specification 1.0" (2013) and the DaVinci
 * Resolve variant (a 1D shaper followed by a 3D table, with
 * LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE), read into and written from the
 * canonical dlut_lut (red fastest, which is also the .cube order).
 *
 * Reading accepts: TITLE, '#' comments (whole lines, or after the three
 * numbers of a data line), blank lines, CRLF / LF / CR line ends, a missing
 * final newline, DOMAIN_MIN / DOMAIN_MAX, LUT_1D_SIZE (2..65536),
 * LUT_3D_SIZE (2..256), both sizes together (shaper entries first, as
 * Resolve writes them), integers, exponents and values outside [0,1].
 * It refuses, naming file and line: unknown keywords, keywords after the
 * table data, duplicate keywords, sizes out of range, DOMAIN_MIN >= MAX,
 * non-finite numbers, lines with other than 3 numbers, too many or too few
 * entries, and garbage.
 *
 * Writing follows what FFmpeg 5.1 (libavfilter/vf_lut3d.c parse_cube),
 * OpenColorIO 2.1 (FileFormatIridasCube.cpp, FileFormatResolveCube.cpp) and
 * Resolve read: LUT_3D_SIZE before the DOMAIN lines (FFmpeg only looks for
 * DOMAIN_* after LUT_3D_SIZE), DOMAIN lines only when not [0,1], the
 * shaper+3D case in Resolve's layout, numbers as fixed-point decimals with
 * 9 places and '.' (see lut_format_float), never exponents (some readers of
 * the format do not take them).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/text.h"
#include "lut/io_internal.h"

/* ==== Reading ==== */

typedef struct cube_header {
  char title[256];
  long size3, size1;      /* LUT_3D_SIZE / LUT_1D_SIZE, 0 if absent */
  float dmin[3], dmax[3]; /* DOMAIN_MIN / DOMAIN_MAX */
  int have_dmin, have_dmax;
  float r1[2], r3[2]; /* LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE */
  int have_r1, have_r3;
  int line_dmin, line_dmax, line_r1, line_r3; /* where each was given */
} cube_header;

static int tok_is_nonfinite_word(const char *tok, int len) {
  const char *s = tok[0] == '+' || tok[0] == '-' ? tok + 1 : tok;
  int n = len - (int)(s - tok);
  char w[16];
  if (n <= 0 || n >= (int)sizeof w) return 0;
  for (int i = 0; i < n; i++) w[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
  w[n] = '\0';
  return !strcmp(w, "nan") || !strcmp(w, "inf") || !strcmp(w, "infinity");
}

static int is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

/* Replace every byte that is not part of well-formed UTF-8 with '?', so a
 * title can go into JSON (`dlut info --json`, report.json) as it is. */
static void utf8_scrub(char *t) {
  unsigned char *p = (unsigned char *)t;
  size_t n = strlen(t);
  while (*p) {
    int l = dlut_utf8_seq_len(p, n - (size_t)(p - (unsigned char *)t));
    if (!l) {
      *p++ = '?';
      continue;
    }
    p += l;
  }
}

static void parse_title(const lut_line *ln, char out[256]) {
  /* TITLE "text": the text between the first and the last double quote;
   * without quotes, the rest of the line. Control bytes become spaces. */
  const char *s = ln->tok[0] + ln->len[0], *e = ln->stop;
  const char *q1 = memchr(s, '"', (size_t)(e - s));
  if (q1) {
    const char *q2 = e;
    while (q2 > q1 + 1 && q2[-1] != '"') q2--;
    s = q1 + 1;
    e = q2 > q1 + 1 ? q2 - 1 : e;
  } else {
    while (s < e && (*s == ' ' || *s == '\t')) s++;
  }
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  size_t n = (size_t)(e - s);
  if (n > 255) {
    n = 255;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* do not split a UTF-8 character */
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
  }
  out[n] = '\0';
  utf8_scrub(out);
}

static int parse_floats(const lut_text *t, const lut_line *ln, int first, int count, float *out) {
  for (int i = 0; i < count; i++)
    if (lut_parse_float(t, ln->tok[first + i], ln->len[first + i], &out[i]) != 0) return -1;
  return 0;
}

/* One header keyword line (values up to an optional trailing '#' comment).
 * Returns 0 or -1. */
static int cube_keyword(const lut_text *t, const lut_line *line, cube_header *h) {
  lut_line cut = *line, *ln = &cut;
  for (int i = 1; i < cut.n && i < LUT_TEXT_MAX_TOKENS; i++) /* tokens past the 8th are counted, not kept */
    if (cut.tok[i][0] == '#') {
      cut.n = i;
      break;
    }
  const char *k = ln->tok[0];
  int kl = ln->len[0];
  char kw[40];
  int kn = kl < 32 ? kl : 32;
  for (int i = 0; i < kn; i++) kw[i] = (k[i] > 0x20 && k[i] < 0x7f) ? k[i] : '?';
  memcpy(kw + kn, kl > 32 ? "..." : "", kl > 32 ? 4 : 1);

  if (lut_tok_is(k, kl, "TITLE")) {
    if (h->title[0]) return lut_text_error(t, "TITLE given twice");
    parse_title(ln, h->title);
    return 0;
  }
  int is3 = lut_tok_is(k, kl, "LUT_3D_SIZE"), is1 = lut_tok_is(k, kl, "LUT_1D_SIZE");
  if (is3 || is1) {
    if (ln->n != 2) return lut_text_error(t, "%s takes one integer, found %d values", kw, ln->n - 1);
    long *dst = is3 ? &h->size3 : &h->size1;
    if (*dst) return lut_text_error(t, "%s given twice", kw);
    long lo = 2, hi = is3 ? DLUT_LUT_MAX_SIZE : DLUT_LUT_MAX_1D;
    if (lut_parse_int(t, ln->tok[1], ln->len[1], lo, hi, dst) != 0)
      return lut_text_error(t, "%s must be an integer from %ld to %ld", kw, lo, hi);
    return 0;
  }
  int ismin = lut_tok_is(k, kl, "DOMAIN_MIN"), ismax = lut_tok_is(k, kl, "DOMAIN_MAX");
  if (ismin || ismax) {
    if (ln->n != 4) return lut_text_error(t, "%s takes 3 numbers, found %d", kw, ln->n - 1);
    int *have = ismin ? &h->have_dmin : &h->have_dmax;
    if (*have) return lut_text_error(t, "%s given twice", kw);
    if (parse_floats(t, ln, 1, 3, ismin ? h->dmin : h->dmax) != 0) return -1;
    *have = 1;
    *(ismin ? &h->line_dmin : &h->line_dmax) = t->line;
    return 0;
  }
  int isr1 = lut_tok_is(k, kl, "LUT_1D_INPUT_RANGE"), isr3 = lut_tok_is(k, kl, "LUT_3D_INPUT_RANGE");
  if (isr1 || isr3) {
    if (ln->n != 3) return lut_text_error(t, "%s takes 2 numbers (min max), found %d", kw, ln->n - 1);
    int *have = isr1 ? &h->have_r1 : &h->have_r3;
    if (*have) return lut_text_error(t, "%s given twice", kw);
    float *r = isr1 ? h->r1 : h->r3;
    if (parse_floats(t, ln, 1, 2, r) != 0) return -1;
    if (!(r[0] < r[1])) return lut_text_error(t, "%s: min %g is not below max %g", kw, (double)r[0], (double)r[1]);
    *have = 1;
    *(isr1 ? &h->line_r1 : &h->line_r3) = t->line;
    return 0;
  }
  return lut_text_error(t, "unknown keyword '%s'", kw);
}

/* Header complete (first data line reached): check it and build the LUT. */
/* Numbers on a data line, up to an optional trailing '#' comment. */
static int data_count(const lut_line *ln) {
  for (int i = 0; i < ln->n && i < LUT_TEXT_MAX_TOKENS; i++)
    if (ln->tok[i][0] == '#') return i;
  return ln->n;
}

/* Header complete (first data line `ln` reached): check the header and the
 * first line, then build the LUT with that line stored as entry 0. */
static dlut_lut *cube_begin_data(const lut_text *t, const cube_header *h, const lut_line *ln) {
  if (!h->size3 && !h->size1) {
    lut_text_error(t, "table data before LUT_3D_SIZE or LUT_1D_SIZE");
    return NULL;
  }
  if (h->have_dmin != h->have_dmax) {
    lut_text_error(t, "%s given without %s", h->have_dmin ? "DOMAIN_MIN" : "DOMAIN_MAX",
                   h->have_dmin ? "DOMAIN_MAX" : "DOMAIN_MIN");
    return NULL;
  }
  if (h->have_dmin) {
    for (int c = 0; c < 3; c++)
      if (!(h->dmin[c] < h->dmax[c])) {
        lut_text_error(t, "DOMAIN_MIN %g is not below DOMAIN_MAX %g (channel %d)", (double)h->dmin[c],
                       (double)h->dmax[c], c);
        return NULL;
      }
    if ((h->have_r1 && h->size1) || (h->have_r3 && h->size3)) {
      lut_text_error(t, "both DOMAIN_MIN/MAX and LUT_%dD_INPUT_RANGE given; use one", h->have_r3 ? 3 : 1);
      return NULL;
    }
  }
  /* an input range for a table the file does not have: refused rather than
   * silently ignored (the author meant something the file does not say) */
  if ((h->have_r1 && !h->size1) || (h->have_r3 && !h->size3)) {
    const int d = h->have_r1 && !h->size1 ? 1 : 3;
    lut_text at = *t; /* the message names the line of the range */
    at.line = d == 1 ? h->line_r1 : h->line_r3;
    lut_text_error(&at, "LUT_%dD_INPUT_RANGE given, but the file has no LUT_%dD_SIZE", d, d);
    return NULL;
  }
  int n = data_count(ln);
  if (n != 3) {
    lut_text_error(t, "expected 3 numbers (R G B), found %d", n);
    return NULL;
  }
  float first[3];
  if (parse_floats(t, ln, 0, 3, first) != 0) return NULL;
  /* Each entry takes at least 6 bytes ("0 0 0\n"), so a header that
   * declares more than the rest of the file can hold is refused before a
   * table of up to 200 MB is allocated for it. */
  const long total = h->size1 + h->size3 * h->size3 * h->size3;
  const size_t rest = (size_t)(t->end - ln->start);
  if (rest < (size_t)total * 6 - 1) {
    lut_text_error(t, "the header declares %ld table entries but only %zu bytes follow (truncated file?)", total, rest);
    return NULL;
  }
  dlut_lut *lut = dlut_lut_alloc((int)h->size3, (int)h->size1);
  if (!lut) {
    dlut_error_prefix(t->name);
    return NULL;
  }
  memcpy(lut->title, h->title, sizeof lut->title);
  memcpy(h->size1 ? lut->shaper : lut->table, first, sizeof first);
  for (int c = 0; c < 3; c++) {
    float lo = 0.f, hi = 1.f;
    if (h->have_dmin) lo = h->dmin[c], hi = h->dmax[c];
    /* DOMAIN_* describes the table(s) present; a range of a table that is
     * absent stays at its default [0,1]. */
    if (h->size3) {
      lut->domain_min[c] = h->have_r3 ? h->r3[0] : lo;
      lut->domain_max[c] = h->have_r3 ? h->r3[1] : hi;
    }
    if (h->size1) {
      lut->shaper_min[c] = h->have_r1 ? h->r1[0] : lo;
      lut->shaper_max[c] = h->have_r1 ? h->r1[1] : hi;
    }
  }
  return lut;
}

dlut_lut *dlut_lut_parse_cube(const void *data, size_t size, const char *name) {
  lut_text t;
  lut_line ln;
  cube_header h;
  dlut_lut *lut = NULL;
  long n1 = 0, n3 = 0, total = 0, got = 0;
  memset(&h, 0, sizeof h);
  lut_text_init(&t, data, size, name);
  if (size > DLUT_LUT_MAX_FILE_BYTES) {
    dlut_error("%s: file too large for a LUT (%zu bytes)", t.name, size);
    return NULL;
  }
  while (lut_text_next(&t, &ln)) {
    if (ln.n >= 2 && ln.len[0] == 1 && ln.tok[0][0] == '#' && lut_tok_is(ln.tok[1], ln.len[1], "TITLE") && !lut &&
        !h.title[0]) {
      /* "# TITLE "..."": where the layout has no TITLE (Resolve's shaper + 3D, as written below) */
      lut_line tl = ln;
      tl.tok[0] = ln.tok[1];
      tl.len[0] = ln.len[1];
      parse_title(&tl, h.title);
      continue;
    }
    if (ln.n == 0 || ln.tok[0][0] == '#') continue;
    if (is_alpha(ln.tok[0][0]) && !tok_is_nonfinite_word(ln.tok[0], ln.len[0])) {
      if (lut) {
        char kw[40];
        int kn = ln.len[0] < 32 ? ln.len[0] : 32;
        for (int i = 0; i < kn; i++) kw[i] = (ln.tok[0][i] > 0x20 && ln.tok[0][i] < 0x7f) ? ln.tok[0][i] : '?';
        kw[kn] = '\0';
        lut_text_error(&t, "keyword '%s' after the table data", kw);
        goto fail;
      }
      if (cube_keyword(&t, &ln, &h) != 0) goto fail;
      continue;
    }
    if (!lut) {
      if (!(lut = cube_begin_data(&t, &h, &ln))) goto fail;
      n1 = h.size1;
      n3 = h.size3 * h.size3 * h.size3;
      total = n1 + n3;
      got = 1;
      continue;
    }
    int n = data_count(&ln);
    if (n != 3) {
      lut_text_error(&t, "expected 3 numbers (R G B), found %d", n);
      goto fail;
    }
    if (got >= total) {
      lut_text_error(&t, "more table entries than the header declares (%ld)", total);
      goto fail;
    }
    float *dst = got < n1 ? lut->shaper + got * 3 : lut->table + (got - n1) * 3;
    if (parse_floats(&t, &ln, 0, 3, dst) != 0) goto fail;
    got++;
  }
  if (!lut) {
    if (!h.size3 && !h.size1)
      lut_text_error(&t, "not a .cube file: no LUT_3D_SIZE or LUT_1D_SIZE");
    else
      lut_text_error(&t, "no table data (expected %ld entries)", h.size1 + h.size3 * h.size3 * h.size3);
    goto fail;
  }
  if (got < total) {
    lut_text_error(&t, "file ends after %ld of %ld table entries", got, total);
    goto fail;
  }
  return lut;
fail:
  dlut_lut_free(lut);
  return NULL;
}

/* ==== Writing ==== */

static int is_default_range(const float lo[3], const float hi[3]) {
  for (int c = 0; c < 3; c++)
    if (lo[c] != 0.f || hi[c] != 1.f) return 0;
  return 1;
}

static int is_uniform_range(const float lo[3], const float hi[3]) {
  return lo[0] == lo[1] && lo[1] == lo[2] && hi[0] == hi[1] && hi[1] == hi[2];
}

/* The range lines must read back as min < max; 9 decimals could merge two
 * values closer than 1e-9 (an absurd domain, but a reader would refuse the
 * file), so check the written text rather than the floats. */
static int range_writable(float lo, float hi) {
  char a[64], b[64];
  lut_format_float(lo, a);
  lut_format_float(hi, b);
  lut_text t;
  float x, y;
  lut_text_init(&t, "", 0, "");
  return lut_parse_float(&t, a, (int)strlen(a), &x) == 0 && lut_parse_float(&t, b, (int)strlen(b), &y) == 0 && x < y;
}

/* One line per entry, "r g b\n", assembled by hand and written in blocks
 * (fprintf's format parsing was a third of the time of a 33^3 .cube). */
static void write_triples(FILE *f, const float *v, long n) {
  char block[8192], num[64];
  size_t w = 0;
  for (long i = 0; i < n; i++) {
    for (int c = 0; c < 3; c++) {
      size_t l = (size_t)lut_format_float_len(v[i * 3 + c], num);
      memcpy(block + w, num, l);
      w += l;
      block[w++] = c < 2 ? ' ' : '\n';
    }
    if (w > sizeof block - 3 * 64) {
      fwrite(block, 1, w, f);
      w = 0;
    }
  }
  if (w) fwrite(block, 1, w, f);
}

int dlut_lut_write_cube(const dlut_lut *lut, FILE *f, const char *name) {
  char a[64], b[64], c[64];
  if (lut_io_check(lut) != 0) return dlut_error_prefix(name);
  for (int ch = 0; ch < 3; ch++)
    if ((lut->size && !range_writable(lut->domain_min[ch], lut->domain_max[ch])) ||
        (lut->shaper_size && !range_writable(lut->shaper_min[ch], lut->shaper_max[ch])))
      return dlut_error("%s: an input range narrower than 1e-9 cannot be written as .cube", name);
  fprintf(f, "# Created by dlut\n");
  if (lut->title[0]) {
    /* Quotes and control bytes cannot be written inside TITLE "...". */
    char tt[256];
    lut_title_line(lut, 1, '\'', tt);
    /* Resolve's shaper + 3D layout has no TITLE (OpenColorIO's reader of
     * that layout refuses the tag): the title goes into a comment there. */
    if (lut->size && lut->shaper_size)
      fprintf(f, "# TITLE \"%s\"\n", tt);
    else
      fprintf(f, "TITLE \"%s\"\n", tt);
  }
  if (lut->size && lut->shaper_size) {
    /* Resolve's shaper+3D layout. Its ranges are one (min, max) pair for
     * all three channels. */
    if (!is_uniform_range(lut->shaper_min, lut->shaper_max) || !is_uniform_range(lut->domain_min, lut->domain_max))
      return dlut_error(
          "%s: a .cube with a shaper takes one input range for all channels; this LUT has "
          "per-channel ranges (convert it with --size to fold the shaper in)",
          name);
    fprintf(f, "LUT_1D_SIZE %d\n", lut->shaper_size);
    fprintf(f, "LUT_1D_INPUT_RANGE %s %s\n", lut_format_float(lut->shaper_min[0], a),
            lut_format_float(lut->shaper_max[0], b));
    fprintf(f, "LUT_3D_SIZE %d\n", lut->size);
    fprintf(f, "LUT_3D_INPUT_RANGE %s %s\n", lut_format_float(lut->domain_min[0], a),
            lut_format_float(lut->domain_max[0], b));
    write_triples(f, lut->shaper, lut->shaper_size);
    write_triples(f, lut->table, (long)lut->size * lut->size * lut->size);
  } else {
    const float *lo = lut->size ? lut->domain_min : lut->shaper_min;
    const float *hi = lut->size ? lut->domain_max : lut->shaper_max;
    if (lut->size)
      fprintf(f, "LUT_3D_SIZE %d\n", lut->size);
    else
      fprintf(f, "LUT_1D_SIZE %d\n", lut->shaper_size);
    if (!is_default_range(lo, hi)) {
      fprintf(f, "DOMAIN_MIN %s %s %s\n", lut_format_float(lo[0], a), lut_format_float(lo[1], b),
              lut_format_float(lo[2], c));
      fprintf(f, "DOMAIN_MAX %s %s %s\n", lut_format_float(hi[0], a), lut_format_float(hi[1], b),
              lut_format_float(hi[2], c));
    }
    if (lut->size)
      write_triples(f, lut->table, (long)lut->size * lut->size * lut->size);
    else
      write_triples(f, lut->shaper, lut->shaper_size);
  }
  if (ferror(f)) return dlut_error("%s: write failed", name);
  return 0;
}
