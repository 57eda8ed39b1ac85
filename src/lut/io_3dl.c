/* .3dl files (Autodesk Flame/Lustre, Nuke): a "mesh" line of integer input
 * positions, then size^3 lines of three integer output codes, BLUE fastest
 * (the first lines walk blue at red = green = 0). Both layouts are read:
 *
 *   Flame / Nuke (plain)             Lustre
 *     # comment                        3DMESH
 *     0 64 128 ... 1023                Mesh 4 12
 *     0 0 0                            0 64 128 ... 1023
 *     0 0 100                          0 17 17
 *     ...                              ...
 *                                      LUT8
 *                                      gamma 1.0
 *
 * Size: the number of entries on the mesh line (the data must then hold
 * size^3 entries), or the cube root of the entry count without one. Output
 * bit depth: the second number of Lustre's "Mesh IN OUT" line when present;
 * otherwise inferred from the largest code as OpenColorIO 2.1 does
 * (src/OpenColorIO/fileformats/FileFormat3DL.cpp, GetLikelyLutBitDepth):
 * max <= 511 -> 8 bit, <= 2047 -> 10, <= 8191 -> 12, else 16, and a maximum
 * below 128 is refused as "probably not a .3dl". A mesh line that is not
 * evenly spaced (more than 2 codes off) becomes a 1D shaper with entries
 * mesh[i] / (2^bits - 1), again as OpenColorIO interprets it; an evenly
 * spaced one is the identity and is dropped.
 *
 * FFmpeg 5.1 (libavfilter/vf_lut3d.c parse_3dl) reads only size 17 and
 * divides by 4096 rather than 4095 (at most 1/16 of an 8-bit code); the
 * writer here emits the plain layout (FFmpeg takes the first non-comment
 * line as the mesh, so a Lustre "3DMESH" header would break it).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "lut/io_internal.h"

#define MAX_CODE 131071L /* 2x overshoot of 16 bits, as OpenColorIO allows */

/* Iterate the integers of a whole line (lines may hold hundreds of mesh
 * values, more than lut_line keeps). Returns the count, or -1 on a token
 * that is not an integer in [0, MAX_CODE]. */
static long line_ints(const lut_text *t, const lut_line *ln, long *out, long cap) {
  long n = 0;
  const char *q = ln->start;
  while (q < ln->stop) {
    while (q < ln->stop && (*q == ' ' || *q == '\t' || *q == '\f' || *q == '\v')) q++;
    if (q >= ln->stop) break;
    const char *b = q;
    while (q < ln->stop && !(*q == ' ' || *q == '\t' || *q == '\f' || *q == '\v')) q++;
    if (*b == '#') break; /* trailing comment */
    long v;
    int len = (int)(q - b > 1 << 20 ? 1 << 20 : q - b);
    if (lut_parse_int(t, b, len, 0, MAX_CODE, &v) != 0) return -1;
    if (n < cap) out[n] = v;
    n++;
  }
  return n;
}

static int likely_bits(long maxv) {
  /* OpenColorIO's rule: even depths 8..16, each accepting up to twice its
   * range; 14 is treated as 16. */
  for (int bits = 8; bits <= 16; bits += 2) {
    long adjusted = (1L << bits) * 2 - 1;
    if (maxv <= adjusted) return bits == 14 ? 16 : bits;
  }
  return 16;
}

static int is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

dlut_lut *dlut_lut_parse_3dl(const void *data, size_t size, const char *name) {
  lut_text t;
  lut_line ln;
  dlut_lut *lut = NULL;
  int32_t *codes = NULL; /* (entries, 3) output codes in file order */
  long n_codes = 0, cap = 0, maxv = 0;
  long mesh[DLUT_LUT_MAX_SIZE + 1];
  long n_mesh = 0;
  int mesh_line = 0, hdr_out_bits = 0;
  lut_text_init(&t, data, size, name);
  if (size > DLUT_LUT_MAX_FILE_BYTES) {
    dlut_error("%s: file too large for a LUT (%zu bytes)", t.name, size);
    return NULL;
  }
  const long max_entries = (long)DLUT_LUT_MAX_SIZE * DLUT_LUT_MAX_SIZE * DLUT_LUT_MAX_SIZE;
  while (lut_text_next(&t, &ln)) {
    if (ln.n == 0 || ln.tok[0][0] == '#') continue;
    if (is_alpha(ln.tok[0][0]) || ln.tok[0][0] == '<' || lut_tok_is(ln.tok[0], ln.len[0], "3DMESH")) {
      const char *k = ln.tok[0];
      int kl = ln.len[0];
      if (lut_tok_is(k, kl, "3DMESH") && ln.n == 1) {
        /* Lustre header: informational. */
      } else if (lut_tok_is(k, kl, "Mesh") && ln.n == 3) {
        long in_bits, out_bits;
        if (lut_parse_int(&t, ln.tok[1], ln.len[1], 1, 16, &in_bits) != 0 ||
            lut_parse_int(&t, ln.tok[2], ln.len[2], 8, 16, &out_bits) != 0) {
          lut_text_error(&t, "expected 'Mesh IN_BITS OUT_BITS' (1..16, 8..16)");
          goto fail;
        }
        hdr_out_bits = (int)out_bits;
      } else if ((lut_tok_is(k, kl, "LUT8") || lut_tok_is(k, kl, "LUT10") || lut_tok_is(k, kl, "LUT12") ||
                  lut_tok_is(k, kl, "LUT16")) &&
                 ln.n == 1) {
        /* Lustre trailer: informational. */
      } else if (lut_tok_is(k, kl, "gamma") && ln.n == 2) {
        float g;
        if (lut_parse_float(&t, ln.tok[1], ln.len[1], &g) != 0) goto fail;
      } else {
        char kw[40];
        int kn = kl < 32 ? kl : 32;
        for (int i = 0; i < kn; i++) kw[i] = (k[i] > 0x20 && k[i] < 0x7f) ? k[i] : '?';
        kw[kn] = '\0';
        lut_text_error(&t, "unexpected '%s' (a .3dl holds a mesh line and lines of 3 integers)", kw);
        goto fail;
      }
      continue;
    }
    if (ln.n > 3) {
      if (n_mesh) {
        lut_text_error(&t, "a second mesh line (the first was line %d)", mesh_line);
        goto fail;
      }
      if (n_codes) {
        lut_text_error(&t, "a mesh line after the table data");
        goto fail;
      }
      long n = line_ints(&t, &ln, mesh, DLUT_LUT_MAX_SIZE + 1);
      if (n < 0) goto fail;
      if (n > DLUT_LUT_MAX_SIZE) {
        lut_text_error(&t, "mesh line has %ld entries (at most %d)", n, DLUT_LUT_MAX_SIZE);
        goto fail;
      }
      for (long i = 1; i < n; i++)
        if (mesh[i] <= mesh[i - 1]) {
          lut_text_error(&t, "mesh line is not increasing (%ld then %ld)", mesh[i - 1], mesh[i]);
          goto fail;
        }
      n_mesh = n;
      mesh_line = t.line;
      continue;
    }
    if (ln.n != 3) {
      lut_text_error(&t, "expected 3 integers (R G B), found %d value%s", ln.n, ln.n == 1 ? "" : "s");
      goto fail;
    }
    long v[3];
    for (int c = 0; c < 3; c++)
      if (lut_parse_int(&t, ln.tok[c], ln.len[c], 0, MAX_CODE, &v[c]) != 0) goto fail;
    if (n_codes >= max_entries || (n_mesh && n_codes >= n_mesh * n_mesh * n_mesh)) {
      lut_text_error(&t, "more table entries than %s (%ld)", n_mesh ? "the mesh line allows" : "256^3",
                     n_mesh ? n_mesh * n_mesh * n_mesh : max_entries);
      goto fail;
    }
    if (n_codes == cap) {
      long ncap = cap ? cap * 2 : 4096;
      if (ncap > max_entries) ncap = max_entries;
      int32_t *nc = realloc(codes, (size_t)ncap * 3 * sizeof *nc);
      if (!nc) {
        lut_text_error(&t, "out of memory");
        goto fail;
      }
      codes = nc;
      cap = ncap;
    }
    for (int c = 0; c < 3; c++) {
      codes[n_codes * 3 + c] = (int32_t)v[c];
      if (v[c] > maxv) maxv = v[c];
    }
    n_codes++;
  }
  if (!n_codes) {
    lut_text_error(&t, "no table data (not a .3dl file?)");
    goto fail;
  }
  long n;
  if (n_mesh) {
    n = n_mesh;
    if (n_codes != n * n * n) {
      lut_text_error(&t, "file ends after %ld of %ld table entries (mesh line %d has %ld points)", n_codes, n * n * n,
                     mesh_line, n);
      goto fail;
    }
  } else {
    n = lround(cbrt((double)n_codes));
    if (n * n * n != n_codes || n < 2) {
      lut_text_error(&t, "%ld table entries is not a cube of a size (2..%d)", n_codes, DLUT_LUT_MAX_SIZE);
      goto fail;
    }
  }
  if (n < 2) {
    lut_text_error(&t, "mesh line must have at least 2 points");
    goto fail;
  }
  int bits = hdr_out_bits;
  if (!bits) {
    if (maxv < 128) {
      lut_text_error(&t, "largest code %ld is too low for .3dl integers (probably not a .3dl file)", maxv);
      goto fail;
    }
    bits = likely_bits(maxv);
  }
  int shaper = 0;
  long mesh_max = 0;
  if (n_mesh) {
    long mmax = mesh[n_mesh - 1];
    mesh_max = (1L << likely_bits(mmax < 128 ? 128 : mmax)) - 1;
    double step = (double)mesh_max / (double)(n - 1);
    for (long i = 0; i < n; i++)
      if (fabs((double)i * step - (double)mesh[i]) >= 2.0) shaper = 1;
  }
  if (!(lut = dlut_lut_alloc((int)n, shaper ? (int)n : 0))) {
    dlut_error_prefix(t.name);
    goto fail;
  }
  const float scale = 1.0f / (float)((1L << bits) - 1);
  for (long e = 0; e < n_codes; e++) {
    long r = e / (n * n), g = (e / n) % n, b = e % n;
    float *dst = lut->table + ((b * n + g) * n + r) * 3;
    for (int c = 0; c < 3; c++) dst[c] = (float)codes[e * 3 + c] * scale;
  }
  if (shaper)
    for (long i = 0; i < n; i++)
      for (int c = 0; c < 3; c++) lut->shaper[i * 3 + c] = (float)mesh[i] / (float)mesh_max;
  free(codes);
  return lut;
fail:
  free(codes);
  dlut_lut_free(lut);
  return NULL;
}

/* The largest output code of lut at `bits`. */
static long max_code(const dlut_lut *lut, int bits) {
  const size_t m = (size_t)lut->size * lut->size * lut->size * 3;
  float mx = 0.f;
  for (size_t i = 0; i < m; i++) mx = lut->table[i] > mx ? lut->table[i] : mx;
  return lroundf((mx > 1.f ? 1.f : mx) * (float)((1L << bits) - 1));
}

int dlut_lut_write_3dl(const dlut_lut *lut, FILE *f, int bits, const char *name) {
  if (lut_io_check(lut) != 0) return dlut_error_prefix(name);
  if (!lut->size || lut->shaper_size) return dlut_error("%s: .3dl needs a 3D LUT without a shaper", name);
  /* A .3dl file does not say its output bit depth: readers infer it from the
   * largest code (likely_bits, OpenColorIO's rule). Write only depths that
   * rule gives back: 0 picks 12 bits, or 16 when every output is below 0.5
   * (12-bit codes would then read as 10-bit, four times too bright). */
  if (bits == 0) bits = likely_bits(max_code(lut, 12)) == 12 ? 12 : 16;
  if (bits != 10 && bits != 12 && bits != 16)
    return dlut_errorc(DLUT_ERR_INPUT, "%s: .3dl bit depth must be 10, 12 or 16", name);
  const long top = max_code(lut, bits);
  if (likely_bits(top < 128 ? 128 : top) != bits) {
    const float mx = (float)top / (float)((1L << bits) - 1);
    return dlut_errorc(DLUT_ERR_UNSUPPORTED,
                       "%s: every output of this LUT is at most %.4f, so readers of a %d-bit .3dl (which infer the bit "
                       "depth from the largest value) would misread it%s; write a .cube instead",
                       name, (double)mx, bits, bits < 16 && mx >= 0.125f ? " (16 bits would be read right)" : "");
  }
  const long n = lut->size;
  const float maxc = (float)((1L << bits) - 1);
  fprintf(f, "# Created by dlut: %ld^3 3D LUT, %d-bit output, blue fastest\n", n, bits);
  if (lut->title[0]) {
    char tt[256];
    lut_title_line(lut, 0, ' ', tt);
    fprintf(f, "# TITLE %s\n", tt);
  }
  /* Mesh line: evenly spaced 10-bit input positions. With 2 or 3 points it
   * would read as a data line, so such small LUTs go without one (readers
   * then take the size from the entry count). */
  for (long i = 0; n > 3 && i < n; i++)
    fprintf(f, "%ld%c", lround((double)i * 1023.0 / (double)(n - 1)), i + 1 < n ? ' ' : '\n');
  for (long r = 0; r < n; r++)
    for (long g = 0; g < n; g++)
      for (long b = 0; b < n; b++) {
        const float *v = lut->table + ((b * n + g) * n + r) * 3;
        long q[3];
        for (int c = 0; c < 3; c++) {
          float x = v[c] < 0.f ? 0.f : v[c] > 1.f ? 1.f : v[c];
          q[c] = lroundf(x * maxc);
        }
        fprintf(f, "%ld %ld %ld\n", q[0], q[1], q[2]);
      }
  if (ferror(f)) return dlut_error("%s: write failed", name);
  return 0;
}
