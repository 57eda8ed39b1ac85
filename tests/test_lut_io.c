/* Tests of the LUT file formats (src/lut/io*.c): .cube (Adobe and Resolve
 * variants), .3dl (plain and Lustre), Hald images, the strip picture, error
 * messages for malformed files (file and line), locale independence and
 * atomic saving. Comparisons against FFmpeg, OpenColorIO and ImageMagick
 * live in tests/t_lut_tools.py.
 */
#include <locale.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "lut/io_internal.h"
#include "test.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
  g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
  return (float)((g_rng >> 40) & 0xffffff) / 16777216.0f;
}

static dlut_lut *parse_cube_str(const char *s) {
  return dlut_lut_parse_cube(s, strlen(s), "t.cube");
}
static dlut_lut *parse_3dl_str(const char *s) {
  return dlut_lut_parse_3dl(s, strlen(s), "t.3dl");
}

static float *entry(const dlut_lut *l, int r, int g, int b) {
  return l->table + (((size_t)b * l->size + g) * l->size + r) * 3;
}

/* ==== .cube reading ==== */

static void test_cube_adobe(void) {
  /* CRLF, comments, blank lines, TITLE, integers, exponents, values outside
   * [0,1], a trailing comment on a data line, no final newline. */
  const char *s =
      "# a comment\r\n"
      "TITLE \"warm \"look\"\"\r\n"
      "\r\n"
      "LUT_3D_SIZE 2\r\n"
      "  # indented comment\r\n"
      "0 0 0\r\n"
      "1 0 0\r\n"
      "0 1 0   # green\r\n"
      "1.0 1.0 0.0\r\n"
      "0 0 1\r\n"
      "1e0 0 1E+0\r\n"
      "0 +1 1\r\n"
      "1.25 -0.5 .5";
  dlut_lut *l = parse_cube_str(s);
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (!l) return;
  CHECK(l->size == 2 && l->shaper_size == 0);
  CHECK(strcmp(l->title, "warm \"look\"") == 0);
  /* red fastest: line k is (r,g,b) = (k&1, (k>>1)&1, k>>2) */
  CHECK(entry(l, 1, 0, 0)[0] == 1.0f && entry(l, 1, 0, 0)[1] == 0.0f);
  CHECK(entry(l, 0, 1, 0)[1] == 1.0f && entry(l, 0, 1, 0)[0] == 0.0f);
  CHECK(entry(l, 0, 0, 1)[2] == 1.0f);
  CHECK(entry(l, 1, 0, 1)[0] == 1.0f && entry(l, 1, 0, 1)[2] == 1.0f);
  CHECK(entry(l, 1, 1, 1)[0] == 1.25f && entry(l, 1, 1, 1)[1] == -0.5f && entry(l, 1, 1, 1)[2] == 0.5f);
  for (int c = 0; c < 3; c++) CHECK(l->domain_min[c] == 0.f && l->domain_max[c] == 1.f);
  dlut_lut_free(l);

  /* Lone CR line ends (classic Mac), DOMAIN lines. */
  l = parse_cube_str(
      "LUT_3D_SIZE 2\rDOMAIN_MIN -0.5 0 0\rDOMAIN_MAX 2 1 4\r"
      "0 0 0\r1 0 0\r0 1 0\r1 1 0\r0 0 1\r1 0 1\r0 1 1\r1 1 1\r");
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->domain_min[0] == -0.5f && l->domain_max[0] == 2.f && l->domain_max[2] == 4.f);
    dlut_lut_free(l);
  }

  /* A UTF-8 byte order mark, and a UTF-8 title longer than 255 bytes cut
   * at a character boundary. */
  {
    char big[2048];
    int n = snprintf(big, sizeof big, "\xEF\xBB\xBFTITLE \"a");
    for (int i = 0; i < 100; i++) n += snprintf(big + n, sizeof big - (size_t)n, "\xE6\x9A\x96"); /* 暖 x100 */
    n += snprintf(big + n, sizeof big - (size_t)n, "\"\nLUT_1D_SIZE 2\n0 0 0\n1 1 1\n");
    l = parse_cube_str(big);
    CHECK_MSG(l != NULL, "%s", dlut_last_error());
    if (l) {
      CHECK(strlen(l->title) == 253); /* 'a' + 84 whole 3-byte characters, not 255 */
      CHECK(memcmp(l->title, "a\xE6\x9A\x96", 4) == 0);
      dlut_lut_free(l);
    }
  }

  /* Keywords in lower or mixed case (hand-edited files; OpenColorIO reads them too). */
  l = parse_cube_str(
      "title \"low\"\nlut_3d_size 2\nDomain_Min 0 0 0\ndomain_max 2 2 2\n"
      "0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n");
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->size == 2 && strcmp(l->title, "low") == 0 && l->domain_max[1] == 2.f);
    dlut_lut_free(l);
  }

  /* 1D only: DOMAIN applies to it. */
  l = parse_cube_str("LUT_1D_SIZE 3\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 2 2 2\n0 0 0\n0.25 0.5 0.75\n1 1 1\n");
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->size == 0 && l->shaper_size == 3);
    CHECK(l->shaper[3] == 0.25f && l->shaper[4] == 0.5f && l->shaper[5] == 0.75f);
    CHECK(l->shaper_max[1] == 2.f);
    dlut_lut_free(l);
  }
}

static void test_cube_resolve(void) {
  /* Resolve: shaper then 3D, each with its own input range. */
  char buf[4096];
  int n = snprintf(buf, sizeof buf,
                   "# Created by: DaVinci Resolve\n"
                   "LUT_1D_SIZE 4\nLUT_1D_INPUT_RANGE 0.0 2.0\nLUT_3D_SIZE 2\nLUT_3D_INPUT_RANGE 0.0 1.0\n"
                   "0 0 0\n0.3 0.3 0.3\n0.6 0.6 0.6\n1 1 1\n");
  for (int i = 0; i < 8; i++) n += snprintf(buf + n, sizeof buf - (size_t)n, "%d %d %d\n", i & 1, (i >> 1) & 1, i >> 2);
  dlut_lut *l = parse_cube_str(buf);
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (!l) return;
  CHECK(l->size == 2 && l->shaper_size == 4);
  CHECK(l->shaper_min[0] == 0.f && l->shaper_max[0] == 2.f && l->shaper_max[2] == 2.f);
  CHECK(l->domain_min[1] == 0.f && l->domain_max[1] == 1.f);
  CHECK_NEAR(l->shaper[1 * 3 + 0], 0.3, 1e-7);
  CHECK(entry(l, 1, 1, 1)[0] == 1.f && entry(l, 1, 0, 0)[1] == 0.f);
  dlut_lut_free(l);
}

/* Malformed files: each must fail with "t.cube:LINE: ..." (or "t.cube: ..."). */
static void test_cube_malformed(void) {
  static const struct {
    const char *text;
    const char *want; /* substring of the message, with the line */
  } cases[] = {
      {"LUT_3D_SIZE 2\n0 0 0 # a comment long enough to pass the early size check\n1 0 0\n",
       "t.cube:3: file ends after 2 of 8"},
      {"LUT_3D_SIZE 2\n0 0 0\n1 0 0\n", "t.cube:2: the header declares 8 table entries but only 12 bytes follow"},
      {"LUT_3D_SIZE 256\n0 0 0\n", "t.cube:2: the header declares 16777216 table entries"},
      {"LUT_3D_SIZE 2\n0 0 0\n1 0\n# padding so that the file is long enough for its 8 entries\n",
       "t.cube:3: expected 3 numbers (R G B), found 2"},
      {"LUT_3D_SIZE 2\n0 0 0 0\n", "t.cube:2: expected 3 numbers"},
      {"LUT_3D_SIZE 2\n0 0 nan\n", "t.cube:2: 'nan' is not a finite number"},
      {"LUT_3D_SIZE 2\n0 inf 0\n", "t.cube:2: 'inf' is not a finite number"},
      {"LUT_3D_SIZE 2\nnan 0 0\n", "t.cube:2: 'nan' is not a finite number"},
      {"LUT_3D_SIZE 2\n0 1e99 0\n", "t.cube:2: '1e99' is out of range"},
      {"LUT_3D_SIZE 2\n0 0,5 0\n", "t.cube:2: '0,5' is not a number"},
      {"LUT_3D_SIZE 2\n0 0x1p3 0\n", "t.cube:2: '0x1p3' is not a number"},
      {"LUT_3D_SIZE 2\n0 1e 0\n", "t.cube:2: '1e' is not a number"},
      {"LUT_3D_SIZE 1\n0 0 0\n", "t.cube:1: LUT_3D_SIZE must be an integer from 2 to 256"},
      {"LUT_3D_SIZE 257\n", "t.cube:1: LUT_3D_SIZE must be an integer from 2 to 256"},
      {"LUT_3D_SIZE 99999999999999999999\n", "t.cube:1: LUT_3D_SIZE must be"},
      {"LUT_3D_SIZE 2.5\n", "t.cube:1: LUT_3D_SIZE must be"},
      {"LUT_3D_SIZE\n", "t.cube:1: LUT_3D_SIZE takes one integer"},
      {"LUT_1D_SIZE 65537\n", "t.cube:1: LUT_1D_SIZE must be an integer from 2 to 65536"},
      {"LUT_3D_SIZE 2\nLUT_3D_SIZE 2\n", "t.cube:2: LUT_3D_SIZE given twice"},
      {"# only a comment\n", "t.cube:1: not a .cube file"},
      {"", "t.cube: not a .cube file"},
      {"0 0 0\n", "t.cube:1: table data before LUT_3D_SIZE"},
      {"LUT_3D_SIZE 2\n", "t.cube:1: no table data (expected 8 entries)"},
      {"LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 0 1\n0 0 0\n",
       "t.cube:4: DOMAIN_MIN 0 is not below DOMAIN_MAX 0"},
      {"LUT_3D_SIZE 2\nDOMAIN_MIN 2 2 2\nDOMAIN_MAX 1 1 1\n0 0 0\n", "t.cube:4: DOMAIN_MIN 2 is not below"},
      {"LUT_3D_SIZE 2\nDOMAIN_MIN 0 0\n", "t.cube:2: DOMAIN_MIN takes 3 numbers, found 2"},
      {"LUT_3D_SIZE 2\nDOMAIN_MAX 1 1 1\n0 0 0\n", "t.cube:3: DOMAIN_MAX given without DOMAIN_MIN"},
      {"LUT_1D_SIZE 2\nLUT_1D_INPUT_RANGE 1 0\n", "t.cube:2: LUT_1D_INPUT_RANGE: min 1 is not below max 0"},
      {"LUT_3D_SIZE 2\nBOGUS 1\n", "t.cube:2: unknown keyword 'BOGUS'"},
      {"LUT_3D_SIZE 2\n0 0 0\nTITLE \"x\"\n# padding so that the file is long enough for its 8 entries\n",
       "t.cube:3: keyword 'TITLE' after the table data"},
      {"LUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n1 1 1\n",
       "t.cube:10: more table entries than the header declares (8)"},
      {"LUT_1D_SIZE 2\nLUT_3D_SIZE 2\n0 0 0\n1 1 1\n0 0 "
       "0\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n"
       "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
       "t.cube:66: file ends after 3 of 10"},
      {"\x89PNG\r\n\x1a\n\x01\x02garbage", "t.cube:1: unexpected"},
      {"LUT_3D_SIZE 2\n0 0 \x01\n", "t.cube:2: '?' is not a number"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dlut_error_clear();
    dlut_lut *l = parse_cube_str(cases[i].text);
    CHECK_MSG(l == NULL, "case %zu parsed", i);
    const char *e = dlut_last_error();
    /* The PNG case may be reported as an unknown keyword or as not a
     * number depending on the first byte; only the file:line matters. */
    const char *want = cases[i].want;
    if (strstr(want, "unexpected"))
      CHECK_MSG(strncmp(e, "t.cube:1: ", 10) == 0, "case %zu: got '%s'", i, e);
    else
      CHECK_MSG(strstr(e, want) != NULL, "case %zu: want '%s', got '%s'", i, want, e);
    dlut_lut_free(l);
  }
  /* Truncation at every byte of a valid file: either a clean error or (at
   * the very end / only trailing whitespace cut) the full LUT. */
  const char *good = "TITLE \"t\"\nLUT_3D_SIZE 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n";
  size_t gl = strlen(good);
  int ok_count = 0;
  for (size_t cut = 0; cut < gl; cut++) {
    dlut_lut *l = dlut_lut_parse_cube(good, cut, "t.cube");
    if (l)
      ok_count++;
    else
      CHECK_MSG(strncmp(dlut_last_error(), "t.cube:", 7) == 0, "cut %zu: '%s'", cut, dlut_last_error());
    dlut_lut_free(l);
  }
  CHECK(ok_count == 1); /* only the cut that drops the final '\n' */
}

/* ==== .cube writing ==== */

static dlut_lut *random_lut(int size, int shaper) {
  dlut_lut *l = dlut_lut_alloc(size, shaper);
  if (!l) return NULL;
  size_t n = (size_t)size * size * size * 3;
  for (size_t i = 0; i < n; i++) l->table[i] = frand() * 1.4f - 0.2f;
  for (int i = 0; i < shaper * 3; i++) l->shaper[i] = frand();
  return l;
}

static char *write_mem(const dlut_lut *l, int fmt, int bits, size_t *len) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, len);
  if (!f) return NULL;
  int rc = fmt == 0 ? dlut_lut_write_cube(l, f, "w.cube") : dlut_lut_write_3dl(l, f, bits, "w.3dl");
  fclose(f);
  if (rc != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* A title cut at the field's 255 bytes in the middle of a 3-byte character (as snprintf cuts a long
 * Chinese prompt) is written without the broken tail: .cube and .3dl stay valid UTF-8. */
static int valid_utf8(const unsigned char *p) {
  while (*p) {
    int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) return 0;
    for (int k = 1; k <= n; k++)
      if ((p[k] & 0xC0) != 0x80) return 0;
    p += n + 1;
  }
  return 1;
}

static void test_title_utf8_cut(void) {
  for (int fmt = 0; fmt < 2; fmt++) {
    dlut_lut *l = random_lut(5, 0);
    if (!l) {
      CHECK(0);
      continue;
    }
    char t[400] = "ab";
    for (int k = 0; k < 100; k++) strcat(t, "\xE6\x9A\x96"); /* 暖 */
    snprintf(l->title, sizeof l->title, "%s", t);            /* 255 bytes: 2 + 84 x 3 + 1 of the 85th */
    CHECK(strlen(l->title) == 255);
    size_t len;
    char *txt = write_mem(l, fmt, fmt ? 16 : 0, &len);
    CHECK_MSG(txt != NULL, "%s", dlut_last_error());
    if (txt) {
      CHECK_MSG(valid_utf8((const unsigned char *)txt), "format %d: the written title is not valid UTF-8", fmt);
      CHECK(strstr(txt, "ab\xE6\x9A\x96") != NULL); /* the whole characters are kept */
      if (fmt == 0) {
        dlut_lut *r = dlut_lut_parse_cube(txt, len, "t.cube");
        CHECK(r && strlen(r->title) == 254 && memcmp(r->title, l->title, 254) == 0);
        dlut_lut_free(r);
      }
    }
    free(txt);
    dlut_lut_free(l);
  }
}

static void test_cube_roundtrip(void) {
  /* Adobe 3D, with and without a domain; 1D; Resolve shaper + 3D. */
  for (int variant = 0; variant < 4; variant++) {
    dlut_lut *l = variant == 2 ? random_lut(0, 17) : random_lut(5, variant == 3 ? 9 : 0);
    if (!l) {
      CHECK(0);
      continue;
    }
    snprintf(l->title, sizeof l->title, "round trip %d", variant);
    if (variant == 1)
      for (int c = 0; c < 3; c++) l->domain_min[c] = -0.25f * (float)c, l->domain_max[c] = 1.5f + (float)c;
    if (variant == 3)
      for (int c = 0; c < 3; c++) l->shaper_max[c] = 4.0f, l->domain_min[c] = 0.125f;
    size_t len;
    char *txt = write_mem(l, 0, 0, &len);
    CHECK_MSG(txt != NULL, "%s", dlut_last_error());
    if (!txt) {
      dlut_lut_free(l);
      continue;
    }
    CHECK(strchr(txt, ',') == NULL && strstr(txt, "e-") == NULL && strstr(txt, "e+") == NULL);
    CHECK((strstr(txt, "DOMAIN_MIN") != NULL) == (variant == 1));
    CHECK((strstr(txt, "LUT_3D_INPUT_RANGE") != NULL) == (variant == 3));
    dlut_lut *r = dlut_lut_parse_cube(txt, len, "w.cube");
    CHECK_MSG(r != NULL, "variant %d: %s", variant, dlut_last_error());
    if (r) {
      CHECK(r->size == l->size && r->shaper_size == l->shaper_size);
      CHECK(strcmp(r->title, l->title) == 0);
      double err = 0;
      int exact = 1;
      for (size_t i = 0; i < (size_t)l->size * l->size * l->size * 3; i++) {
        double d = fabs((double)r->table[i] - l->table[i]);
        if (d > err) err = d;
        if (fabsf(l->table[i]) >= 0.015625f && r->table[i] != l->table[i]) exact = 0;
      }
      for (int i = 0; i < l->shaper_size * 3; i++) {
        double d = fabs((double)r->shaper[i] - l->shaper[i]);
        if (d > err) err = d;
      }
      CHECK(err <= 1e-9); /* 5e-10 in the text + half a float ulp */
      CHECK(exact);       /* |v| >= 2^-6 reads back bit-exact */
      for (int c = 0; c < 3; c++) {
        CHECK(r->domain_min[c] == l->domain_min[c] && r->domain_max[c] == l->domain_max[c]);
        CHECK(r->shaper_min[c] == l->shaper_min[c] && r->shaper_max[c] == l->shaper_max[c]);
      }
      dlut_lut_free(r);
    }
    free(txt);
    dlut_lut_free(l);
  }
  /* Shaper with per-channel ranges cannot be written as .cube. */
  dlut_lut *l = random_lut(2, 4);
  if (l) {
    l->shaper_max[1] = 2.f;
    size_t len;
    char *txt = write_mem(l, 0, 0, &len);
    CHECK(txt == NULL && strstr(dlut_last_error(), "w.cube: a .cube with a shaper") != NULL);
    free(txt);
    dlut_lut_free(l);
  }
  /* Number formatting. */
  char b[64];
  CHECK(strcmp(lut_format_float(0.5f, b), "0.5") == 0);
  CHECK(strcmp(lut_format_float(1.0f, b), "1") == 0);
  CHECK(strcmp(lut_format_float(-0.0f, b), "0") == 0);
  CHECK(strcmp(lut_format_float(-2.25f, b), "-2.25") == 0);
  CHECK(strcmp(lut_format_float(1e-12f, b), "0") == 0);
  CHECK(strcmp(lut_format_float(3e9f, b), "3000000000") == 0);
  CHECK(strcmp(lut_format_float(0.1f, b), "0.100000001") == 0);
}

/* The number parser's fast path (exact mantissa times an exact power of
 * ten) must give the very float strtod gives, and its writer must read
 * back: random decimal strings of every shape, and random floats. */
static void test_numbers(void) {
  lut_text t;
  lut_text_init(&t, "", 0, "n.cube");
  char buf[96];
  int mismatches = 0, rejected = 0;
  for (int i = 0; i < 200000; i++) {
    int nd = 1 + (int)(frand() * 24), point = (int)(frand() * (nd + 1)), n = 0;
    if (frand() < 0.3f) buf[n++] = frand() < 0.5f ? '-' : '+';
    for (int k = 0; k < nd; k++) {
      if (k == point && frand() < 0.8f) buf[n++] = '.';
      buf[n++] = (char)('0' + (int)(frand() * 10));
    }
    if (frand() < 0.3f) n += snprintf(buf + n, sizeof buf - (size_t)n, "e%d", (int)(frand() * 60) - 30);
    buf[n] = '\0';
    float got;
    double want = strtod(buf, NULL); /* C locale here */
    if (lut_parse_float(&t, buf, n, &got) != 0) {
      if (fabs(want) > 3.4028234663852886e38) continue; /* refused as out of range: right */
      if (rejected++ < 3) fprintf(stderr, "rejected '%s': %s\n", buf, dlut_last_error());
      continue;
    }
    if (got != (float)want) {
      if (mismatches++ < 5) fprintf(stderr, "parse '%s': %.9g, strtod %.9g\n", buf, (double)got, want);
    }
  }
  CHECK(mismatches == 0);
  CHECK(rejected == 0);
  int bad_rt = 0;
  for (int i = 0; i < 100000; i++) {
    float v = (frand() - 0.5f) * (i % 3 == 0 ? 4.0f : i % 3 == 1 ? 400.0f : 0.05f);
    char b[64], *s2 = lut_format_float(v, b);
    float r;
    /* 5e-10 in the text, plus half a float ulp (<= 4.7e-10 below 2^-6) */
    if (lut_parse_float(&t, s2, (int)strlen(s2), &r) != 0 || fabsf(r - v) > 1e-9f ||
        (fabsf(v) >= 0.015625f && r != v)) {
      if (bad_rt++ < 3) fprintf(stderr, "round trip %.9g -> '%s' -> %.9g\n", (double)v, s2, (double)r);
    }
  }
  CHECK(bad_rt == 0);
  /* The digit-by-hand writer against its reference, snprintf("%.9f") with
   * trailing zeros (and a bare '.') trimmed, in the C locale. */
  int bad_fmt = 0;
  static const float edge[] = {0.0f,  -0.0f,      1e-40f,           4.9999e-10f,  5e-10f,          5.0001e-10f, 1.5e-9f,
                               1e-9f, 0.0078125f, 8319.0205078125f, 999999936.0f, 1.17549435e-38f, 0.1f,        1.0f};
  const int n_edge = (int)(sizeof edge / sizeof edge[0]);
  for (int i = 0; i < 100000 + n_edge; i++) {
    float v = i >= 100000 ? edge[i - 100000]
                          : (frand() - 0.5f) * (i % 4 == 0   ? 2.0f
                                                : i % 4 == 1 ? 2e6f
                                                : i % 4 == 2 ? 1e-6f
                                                             : 200.0f);
    char mine[64], ref[64];
    lut_format_float(v, mine);
    int n = snprintf(ref, sizeof ref, "%.9f", (double)v);
    while (n > 0 && ref[n - 1] == '0') ref[--n] = '\0';
    if (n > 0 && ref[n - 1] == '.') ref[--n] = '\0';
    if (!strcmp(ref, "-0")) strcpy(ref, "0");
    if (strcmp(mine, ref) != 0 && bad_fmt++ < 3) fprintf(stderr, "format %.9g: '%s' vs '%s'\n", (double)v, mine, ref);
  }
  CHECK(bad_fmt == 0);
}

/* Locale independence: with a ',' decimal LC_NUMERIC, reading and writing
 * must not change. glibc has no such locale compiled here by default, so
 * the test compiles de_DE.UTF-8 with localedef into a scratch LOCPATH. */
static void rm_rf(const char *dir) {
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

static void test_locale(void) {
  const char *loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
  char made[4096] = "";
  if (!loc) {
    const char *dir = test_tmpdir("lutio-locale");
    snprintf(made, sizeof made, "%s", dir);
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 '%s/de_DE.UTF-8' >/dev/null 2>&1", dir);
    if (system(cmd) >= 0) {
      setenv("LOCPATH", dir, 1);
      loc = setlocale(LC_NUMERIC, "de_DE.UTF-8");
    }
  }
  CHECK_MSG(loc != NULL, "no locale with a ',' decimal point could be set or built (localedef)");
  if (!loc) {
    if (made[0]) rm_rf(made);
    return;
  }
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%.1f", 0.5);
  CHECK_MSG(strcmp(tmp, "0,5") == 0, "the locale is not active: %s", tmp); /* the test is meaningful */
  dlut_lut *l = parse_cube_str(
      "LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1.5 1.5 1.5\n"
      "0.25 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 0.125\n");
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->table[0] == 0.25f && l->domain_max[0] == 1.5f && entry(l, 1, 1, 1)[2] == 0.125f);
    size_t len;
    char *txt = write_mem(l, 0, 0, &len);
    CHECK(txt && strstr(txt, "0.25 0 0\n") && strstr(txt, "DOMAIN_MAX 1.5 1.5 1.5") && !strchr(txt, ','));
    free(txt);
    dlut_lut_free(l);
  }
  setlocale(LC_NUMERIC, "C");
  if (made[0]) rm_rf(made);
}

/* ==== .3dl ==== */

static void test_3dl(void) {
  /* Plain (Flame) layout, size 2, 12-bit codes, blue fastest. Entry k in
   * the file is (r,g,b) = (k>>2, (k>>1)&1, k&1). */
  const char *plain =
      "# plain, no mesh line\n"
      "0 0 0\n0 0 4095\n0 4095 0\n0 4095 4095\n4095 0 0\n4095 0 4095\n4095 4095 0\n4095 4095 4095\n";
  dlut_lut *l = parse_3dl_str(plain);
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->size == 2 && l->shaper_size == 0);
    CHECK(entry(l, 0, 0, 1)[2] == 1.f && entry(l, 0, 0, 1)[0] == 0.f); /* 2nd line = blue */
    CHECK(entry(l, 1, 0, 0)[0] == 1.f && entry(l, 1, 0, 0)[2] == 0.f); /* 5th line = red */
    dlut_lut_free(l);
  }
  /* Lustre layout with header, mesh line of 4 points, 10-bit data that
   * would be inferred as 8-bit-ish without the header. */
  char buf[8192];
  int n = snprintf(buf, sizeof buf, "3DMESH\nMesh 2 10\n0 341 682 1023\n\n");
  for (int k = 0; k < 64; k++) {
    int r = k / 16, g = (k / 4) % 4, b = k % 4;
    n += snprintf(buf + n, sizeof buf - (size_t)n, "%d %d %d\n", r * 100, g * 100, b * 100);
  }
  n += snprintf(buf + n, sizeof buf - (size_t)n, "\nLUT8\ngamma 1.0\n");
  l = parse_3dl_str(buf);
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->size == 4 && l->shaper_size == 0);
    CHECK_NEAR(entry(l, 3, 1, 2)[0], 300.0 / 1023.0, 1e-7);
    CHECK_NEAR(entry(l, 3, 1, 2)[1], 100.0 / 1023.0, 1e-7);
    CHECK_NEAR(entry(l, 3, 1, 2)[2], 200.0 / 1023.0, 1e-7);
    dlut_lut_free(l);
  }
  /* Bit depth inferred from the maximum as OpenColorIO does. */
  static const struct {
    int maxcode;
    int bits;
  } depth[] = {{255, 8}, {1023, 10}, {4095, 12}, {65535, 16}, {3000, 12}, {40000, 16}};
  for (size_t i = 0; i < sizeof depth / sizeof depth[0]; i++) {
    n = 0;
    for (int k = 0; k < 8; k++)
      n += snprintf(buf + n, sizeof buf - (size_t)n, "%d %d %d\n", k == 7 ? depth[i].maxcode : 0, 0, 0);
    l = parse_3dl_str(buf);
    CHECK(l != NULL);
    if (l) {
      CHECK_NEAR(entry(l, 1, 1, 1)[0], (double)depth[i].maxcode / ((1 << depth[i].bits) - 1), 1e-7);
      dlut_lut_free(l);
    }
  }
  /* A mesh line that is not evenly spaced becomes a shaper (OCIO's reading). */
  n = snprintf(buf, sizeof buf, "0 100 400 1023\n");
  for (int k = 0; k < 64; k++) n += snprintf(buf + n, sizeof buf - (size_t)n, "%d %d %d\n", 4095, k, k);
  l = parse_3dl_str(buf);
  CHECK_MSG(l != NULL, "%s", dlut_last_error());
  if (l) {
    CHECK(l->shaper_size == 4);
    if (l->shaper_size == 4) CHECK_NEAR(l->shaper[1 * 3], 100.0 / 1023.0, 1e-7);
    dlut_lut_free(l);
  }
  /* Malformed. */
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"0 0 0\n0 0 4095\n", "t.3dl:2: 2 table entries is not a cube"},
      {"0 341 682 1023\n0 0 4095\n", "t.3dl:2: file ends after 1 of 64"},
      {"0 0 -1\n", "t.3dl:1: -1 is out of range"},
      {"0 0 4095.5\n", "t.3dl:1: '4095.5' is not an integer"},
      {"0 0\n", "t.3dl:1: expected 3 integers (R G B), found 2 values"},
      {"<?xml version=\"1.0\"?>\n", "t.3dl:1: unexpected '<?xml'"},
      {"LUT_3D_SIZE 2\n", "t.3dl:1: unexpected 'LUT_3D_SIZE'"},
      {"0 341 682 1023\n0 341 682 1023\n", "t.3dl:2: a second mesh line (the first was line 1)"},
      {"0 341 300 1023\n", "t.3dl:1: mesh line is not increasing"},
      {"0 0 0\n0 0 1\n0 1 0\n0 1 1\n1 0 0\n1 0 1\n1 1 0\n1 1 1\n", "largest code 1 is too low"},
      {"# nothing\n", "t.3dl:1: no table data"},
      {"Mesh 4 99\n", "t.3dl:1: expected 'Mesh IN_BITS OUT_BITS'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    l = parse_3dl_str(bad[i].text);
    CHECK_MSG(l == NULL, "bad 3dl %zu parsed", i);
    CHECK_MSG(strstr(dlut_last_error(), bad[i].want) != NULL, "bad 3dl %zu: want '%s', got '%s'", i, bad[i].want,
              dlut_last_error());
    dlut_lut_free(l);
  }
  /* Round trip at each bit depth and at small sizes (no mesh line). */
  int sizes[] = {2, 3, 17};
  int bitss[] = {10, 12, 16};
  for (int si = 0; si < 3; si++)
    for (int bi = 0; bi < 3; bi++) {
      dlut_lut *w = random_lut(sizes[si], 0);
      if (!w) continue;
      entry(w, sizes[si] - 1, 0, 0)[0] = 1.0f; /* so the bit depth is inferable */
      size_t len;
      char *txt = write_mem(w, 1, bitss[bi], &len);
      CHECK(txt != NULL);
      dlut_lut *r = txt ? dlut_lut_parse_3dl(txt, len, "w.3dl") : NULL;
      CHECK_MSG(r != NULL, "3dl size %d bits %d: %s", sizes[si], bitss[bi], dlut_last_error());
      if (r) {
        CHECK(r->size == w->size && r->shaper_size == 0);
        double maxc = (double)((1 << bitss[bi]) - 1), err = 0;
        for (size_t i = 0; i < (size_t)w->size * w->size * w->size * 3; i++) {
          double v = w->table[i] < 0 ? 0 : w->table[i] > 1 ? 1 : w->table[i];
          double d = fabs(r->table[i] - v);
          if (d > err) err = d;
        }
        CHECK_MSG(err <= 0.5 / maxc + 1e-7, "3dl round trip err %g", err);
        dlut_lut_free(r);
      }
      free(txt);
      dlut_lut_free(w);
    }
}

/* ==== Hald and strip (in memory) ==== */

static void test_hald_image(void) {
  dlut_lut *l = random_lut(4, 0); /* level 2: 8x8 image */
  if (!l) return;
  for (size_t i = 0; i < 4 * 4 * 4 * 3; i++) l->table[i] = frand();
  dlut_image *img = dlut_lut_to_hald_image(l, 16, "h.png");
  CHECK_MSG(img != NULL, "%s", dlut_last_error());
  if (img) {
    CHECK(img->width == 8 && img->height == 8 && img->type == DLUT_PIXEL_U16);
    /* pixel i = r + 4 g + 16 b, row-major */
    const uint16_t *px = dlut_image_pixel(img, (1 + 4 * 2 + 16 * 3) % 8, (1 + 4 * 2 + 16 * 3) / 8);
    CHECK(px[0] == (uint16_t)lroundf(entry(l, 1, 2, 3)[0] * 65535.f));
    dlut_lut *r = dlut_lut_from_hald_image(img, "h.png");
    CHECK(r && r->size == 4);
    if (r) {
      double err = 0;
      for (size_t i = 0; i < 4 * 4 * 4 * 3; i++) err = fmax(err, fabs(r->table[i] - l->table[i]));
      CHECK(err <= 0.5 / 65535 + 1e-7);
      dlut_lut_free(r);
    }
    dlut_image_free(img);
  }
  /* Not a Hald size. */
  dlut_image *bad = dlut_image_alloc(8, 9, 3, DLUT_PIXEL_U8);
  if (bad) {
    CHECK(dlut_lut_from_hald_image(bad, "b.png") == NULL);
    CHECK(strstr(dlut_last_error(), "b.png: not a Hald CLUT: 8x9") != NULL);
    dlut_image_free(bad);
  }
  /* 8-bit image of level 3 (27x27): identity values at lattice points. */
  dlut_image *id = dlut_image_alloc(27, 27, 4, DLUT_PIXEL_U8);
  if (id) {
    for (int i = 0; i < 729; i++) {
      uint8_t *p = dlut_image_pixel(id, i % 27, i / 27);
      p[0] = (uint8_t)(i % 9 * 255 / 8), p[1] = (uint8_t)(i / 9 % 9 * 255 / 8), p[2] = (uint8_t)(i / 81 * 255 / 8);
      p[3] = 7;
    }
    dlut_lut *r = dlut_lut_from_hald_image(id, "id.png");
    CHECK(r && r->size == 9);
    if (r) {
      CHECK_NEAR(entry(r, 8, 4, 2)[0], 1.0, 1e-7);
      CHECK_NEAR(entry(r, 8, 4, 2)[1], (double)(4 * 255 / 8) / 255.0, 1e-7);
      CHECK_NEAR(entry(r, 8, 4, 2)[2], (double)(2 * 255 / 8) / 255.0, 1e-7);
      dlut_lut_free(r);
    }
    dlut_image_free(id);
  }
  dlut_lut_free(l);
}

static void test_strip(void) {
  dlut_lut *l = dlut_lut_alloc(3, 0); /* identity */
  if (!l) return;
  entry(l, 2, 1, 0)[0] = 2.0f;  /* clamps to 255 */
  entry(l, 2, 1, 0)[1] = -1.0f; /* clamps to 0 */
  dlut_image *s = dlut_lut_strip(l, 2);
  CHECK_MSG(s != NULL, "%s", dlut_last_error());
  if (s) {
    CHECK(s->width == 18 && s->height == 6 && s->channels == 3 && s->type == DLUT_PIXEL_U8);
    /* slice b=1 starts at x = 3*2; red across, green down */
    const uint8_t *p = dlut_image_pixel(s, (1 * 3 + 2) * 2 + 1, 1 * 2 + 1); /* r=2 g=1 b=1 */
    CHECK(p[0] == 255 && p[1] == 128 && p[2] == 128);
    p = dlut_image_pixel(s, (0 * 3 + 2) * 2, 1 * 2); /* r=2 g=1 b=0 (edited) */
    CHECK(p[0] == 255 && p[1] == 0 && p[2] == 0);
    p = dlut_image_pixel(s, (2 * 3 + 0) * 2, 2 * 2); /* r=0 g=2 b=2 */
    CHECK(p[0] == 0 && p[1] == 255 && p[2] == 255);
    dlut_image_free(s);
  }
  CHECK(dlut_lut_strip(l, 0) == NULL);
  dlut_lut_free(l);
}

/* ==== Files: dispatch, atomic save, errors with no output ==== */

static int exists(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static int count_tmp(const char *dir) {
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "ls '%s' | grep -c '\\.tmp\\.' >/dev/null", dir);
  return system(cmd) == 0;
}

/* A LUT at a strength: applying it is the blend of the full grade and the original, exactly for a plain
 * 3D LUT (interpolation is linear in the table and reproduces the identity lattice), and of the shaper
 * folded into the table (dlut_lut_resample at the LUT's size) for one with a shaper. */
static void test_at_strength(void) {
  dlut_lut *l = random_lut(9, 0), *sh = random_lut(9, 17);
  CHECK(l != NULL && sh != NULL);
  if (!l || !sh) return;
  for (int i = 0; i < 17; i++) /* a monotone shaper, as real ones are */
    for (int c = 0; c < 3; c++) sh->shaper[3 * i + c] = powf((float)i / 16.0f, 0.8f + 0.2f * (float)c);
  const float ks[] = {0.0f, 0.3f, 1.0f};
  dlut_lut *folded = dlut_lut_resample(sh, 9, DLUT_INTERP_TETRAHEDRAL);
  CHECK(folded != NULL);
  if (!folded) return;
  for (int t = 0; t < 3; t++) {
    dlut_lut *a = dlut_lut_at_strength(l, ks[t]), *b = dlut_lut_at_strength(sh, ks[t]);
    CHECK_MSG(a && b && a->size == 9 && b->size == 9 && !b->shaper_size, "%s", dlut_last_error());
    double worst = 0, worst_sh = 0;
    for (int i = 0; a && b && i < 500; i++) {
      float x[3] = {(float)((i * 37) % 101) / 100.0f, (float)((i * 53) % 97) / 96.0f, (float)((i * 71) % 89) / 88.0f};
      float full[3], got[3], fs[3], gs[3];
      dlut_lut_eval(l, x, full, DLUT_INTERP_TETRAHEDRAL);
      dlut_lut_eval(a, x, got, DLUT_INTERP_TETRAHEDRAL);
      dlut_lut_eval(folded, x, fs, DLUT_INTERP_TETRAHEDRAL);
      dlut_lut_eval(b, x, gs, DLUT_INTERP_TETRAHEDRAL);
      for (int c = 0; c < 3; c++) {
        worst = fmax(worst, fabs(got[c] - (ks[t] * full[c] + (1 - ks[t]) * x[c])));
        worst_sh = fmax(worst_sh, fabs(gs[c] - (ks[t] * fs[c] + (1 - ks[t]) * x[c])));
      }
    }
    CHECK_MSG(worst < 1e-5, "strength %g: max %g", (double)ks[t], worst);
    CHECK_MSG(worst_sh < 1e-5, "strength %g with a shaper: max %g", (double)ks[t], worst_sh);
    dlut_lut_free(a);
    dlut_lut_free(b);
  }
  CHECK(dlut_lut_at_strength(l, 1.5f) == NULL && dlut_lut_at_strength(l, NAN) == NULL);
  dlut_lut_free(l);
  dlut_lut_free(sh);
  dlut_lut_free(folded);
}

static void test_files(void) {
  CHECK(dlut_lut_format_from_path("a/b/Look.CUBE") == DLUT_LUT_FORMAT_CUBE);
  CHECK(dlut_lut_format_from_path("x.3dl") == DLUT_LUT_FORMAT_3DL);
  CHECK(dlut_lut_format_from_path("x.png") == DLUT_LUT_FORMAT_HALD);
  CHECK(dlut_lut_format_from_path("x.txt") == DLUT_LUT_FORMAT_UNKNOWN);
  CHECK(dlut_lut_format_from_path("cube") == DLUT_LUT_FORMAT_UNKNOWN);
  CHECK(dlut_lut_format_from_path("h.TIFF") == DLUT_LUT_FORMAT_HALD);
  /* sniffing a .cube with no telling name: its size keyword in lower case, after a 100 kB comment */
  {
    const char *body = "lut_3d_size 2\n0 0 0\n1 0 0\n0 1 0\n1 1 0\n0 0 1\n1 0 1\n0 1 1\n1 1 1\n";
    size_t pad = 100000, bl = strlen(body);
    char *t = malloc(pad + bl + 3);
    if (t) {
      t[0] = '#';
      memset(t + 1, 'x', pad - 1);
      t[pad] = '\n';
      memcpy(t + pad + 1, body, bl + 1);
      dlut_lut *sn = dlut_lut_load_memory(t, strlen(t), DLUT_LUT_FORMAT_UNKNOWN, "t.lut");
      CHECK_MSG(sn && sn->size == 2, "sniffed: %s", dlut_last_error());
      dlut_lut_free(sn);
      free(t);
    }
  }

  const char *dir = test_tmpdir("lutio");
  char p[4200], q[4200];
  dlut_lut *l = random_lut(17, 0);
  if (!l) return;
  snprintf(p, sizeof p, "%s/a.cube", dir);
  CHECK_MSG(dlut_lut_save(l, p, NULL) == 0, "%s", dlut_last_error());
  dlut_lut *r = dlut_lut_load(p);
  CHECK_MSG(r && r->size == 17, "%s", dlut_last_error());
  dlut_lut_free(r);
  /* .3dl through the file API. */
  snprintf(q, sizeof q, "%s/a.3dl", dir);
  dlut_lut_save_opts o = {0, 0, 16};
  CHECK_MSG(dlut_lut_save(l, q, &o) == 0, "%s", dlut_last_error());
  r = dlut_lut_load(q);
  CHECK_MSG(r && r->size == 17, "%s", dlut_last_error());
  dlut_lut_free(r);
  /* Sniffing when the extension says nothing. */
  snprintf(q, sizeof q, "mv '%s/a.cube' '%s/a.lut'", dir, dir);
  CHECK(system(q) == 0);
  snprintf(q, sizeof q, "%s/a.lut", dir);
  r = dlut_lut_load(q);
  CHECK_MSG(r && r->size == 17, "%s", dlut_last_error());
  dlut_lut_free(r);
  /* Failures leave nothing behind and keep existing files. */
  snprintf(q, sizeof q, "%s/nodir/b.cube", dir);
  CHECK(dlut_lut_save(l, q, NULL) != 0 && !exists(q));
  snprintf(q, sizeof q, "%s/b.xyz", dir);
  CHECK(dlut_lut_save(l, q, NULL) != 0 && !exists(q));
  CHECK(strstr(dlut_last_error(), "unknown LUT file extension") != NULL);
  snprintf(q, sizeof q, "%s/c.3dl", dir);
  o.bits_3dl = 11;
  CHECK(dlut_lut_save(l, q, &o) != 0 && !exists(q));
  l->table[5] = NAN;
  snprintf(q, sizeof q, "%s/a.lut", dir);
  CHECK(dlut_lut_save(l, q, NULL) != 0);
  r = dlut_lut_load(q); /* the earlier file is intact */
  CHECK(r != NULL);
  dlut_lut_free(r);
  CHECK(!count_tmp(dir));
  /* Missing file. */
  snprintf(q, sizeof q, "%s/missing.cube", dir);
  CHECK(dlut_lut_load(q) == NULL && strstr(dlut_last_error(), "missing.cube") != NULL);
  dlut_lut_free(l);
  rm_rf(dir);
}

int main(void) {
  test_cube_adobe();
  test_cube_resolve();
  test_cube_malformed();
  test_cube_roundtrip();
  test_title_utf8_cut();
  test_numbers();
  test_locale();
  test_3dl();
  test_hald_image();
  test_strip();
  test_files();
  test_at_strength();
  return test_summary("lut_io");
}
