/* Line scanning, number parsing and number formatting shared by the .cube
 * and .3dl readers and writers. Nothing here depends on the process locale:
 * numbers are validated by a small grammar and converted with strtod_l in
 * the "C" locale (a German LC_NUMERIC would otherwise make strtod stop at
 * the '.' of "0.5"), and written by integer arithmetic, never by "%f".
 */
#include "lut/io_internal.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlut/error.h"

/* ==== Lines ==== */

void lut_text_init(lut_text *t, const void *data, size_t size, const char *name) {
  /* A UTF-8 byte order mark, as Windows editors write, is not content. */
  if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) data = (const char *)data + 3, size -= 3;
  t->p = (const char *)data;
  t->end = (const char *)data + size;
  t->name = name ? name : "<memory>";
  t->line = 0;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

int lut_text_next(lut_text *t, lut_line *ln) {
  if (t->p >= t->end) return 0;
  const char *s = t->p, *e = s;
  while (e < t->end && *e != '\n' && *e != '\r') e++;
  /* Consume the terminator: "\r\n", "\n" or a lone "\r" (classic Mac). */
  const char *next = e;
  if (next < t->end) {
    if (*next == '\r' && next + 1 < t->end && next[1] == '\n')
      next += 2;
    else
      next += 1;
  }
  t->p = next;
  t->line++;
  ln->start = s;
  ln->stop = e;
  ln->n = 0;
  const char *q = s;
  while (q < e) {
    while (q < e && is_blank(*q)) q++;
    if (q >= e) break;
    const char *b = q;
    while (q < e && !is_blank(*q)) q++;
    if (ln->n < LUT_TEXT_MAX_TOKENS) {
      ln->tok[ln->n] = b;
      ln->len[ln->n] = (int)(q - b > 1 << 20 ? 1 << 20 : q - b);
    }
    if (ln->n < (1 << 30)) ln->n++;
  }
  return 1;
}

int lut_text_error(const lut_text *t, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (t->line > 0) return dlut_error("%s:%d: %s", t->name, t->line, msg);
  return dlut_error("%s: %s", t->name, msg);
}

int lut_tok_is(const char *tok, int len, const char *kw) {
  /* in any case: the formats' writers use upper case, but hand-edited files
   * and OpenColorIO (which reads them) also have lut_3d_size, title ... */
  size_t n = strlen(kw);
  return (size_t)len == n && strncasecmp(tok, kw, n) == 0;
}

/* ==== Numbers ==== */

static locale_t g_c_locale;
static pthread_once_t g_c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) {
  g_c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* Quote a token for a message: at most 24 bytes, non-printables as '?'. */
static const char *quote_tok(const char *tok, int len, char buf[32]) {
  int n = len > 24 ? 24 : len;
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)tok[i];
    buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (len > 24) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

static int ieq(const char *tok, int len, const char *w) {
  size_t n = strlen(w);
  if ((size_t)len != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = tok[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != w[i]) return 0;
  }
  return 1;
}

int lut_parse_float(const lut_text *t, const char *tok, int len, float *out) {
  char q[32];
  const char *s = tok[0] == '+' || tok[0] == '-' ? tok + 1 : tok;
  int sl = len - (int)(s - tok);
  if (ieq(s, sl, "nan") || ieq(s, sl, "inf") || ieq(s, sl, "infinity") || ieq(s, sl, "1.#inf") ||
      ieq(s, sl, "1.#qnan") || ieq(s, sl, "1.#ind"))
    return lut_text_error(t, "'%s' is not a finite number", quote_tok(tok, len, q));
  /* Grammar: [+-] digits [. digits] [(e|E) [+-] digits], at least one
   * mantissa digit. Anything else (hex, ',' decimals, junk) is refused.
   * The walk also gathers the decimal mantissa and exponent for the fast
   * path below. */
  int i = 0, digits = 0, neg = 0, frac = 0, exact = 1;
  uint64_t mant = 0;
  if (i < len && (tok[i] == '+' || tok[i] == '-')) neg = tok[i++] == '-';
  for (int after_point = 0;; i++) {
    if (i < len && tok[i] >= '0' && tok[i] <= '9') {
      digits++;
      if (mant < (UINT64_C(1) << 53) / 10) {
        mant = mant * 10 + (uint64_t)(tok[i] - '0');
        frac += after_point;
      } else {
        exact = 0; /* more significant digits than a double holds exactly */
      }
    } else if (i < len && tok[i] == '.' && !after_point) {
      after_point = 1;
    } else {
      break;
    }
  }
  if (digits == 0) return lut_text_error(t, "'%s' is not a number", quote_tok(tok, len, q));
  long e10 = 0;
  if (i < len && (tok[i] == 'e' || tok[i] == 'E')) {
    i++;
    int eneg = 0, ed = 0;
    if (i < len && (tok[i] == '+' || tok[i] == '-')) eneg = tok[i++] == '-';
    while (i < len && tok[i] >= '0' && tok[i] <= '9') {
      if (e10 < 100000) e10 = e10 * 10 + (tok[i] - '0');
      i++, ed++;
    }
    if (ed == 0) return lut_text_error(t, "'%s' is not a number (bad exponent)", quote_tok(tok, len, q));
    if (eneg) e10 = -e10;
  }
  if (i != len) return lut_text_error(t, "'%s' is not a number", quote_tok(tok, len, q));
  /* Fast path (Clinger 1990, "How to read floating point numbers
   * accurately"): a mantissa below 2^53 and a power of ten up to 1e22 are
   * both exact doubles, so one IEEE multiply or divide gives the correctly
   * rounded double - the same value strtod returns. */
  static const double k_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  long p10 = e10 - frac;
  if (exact && p10 >= -22 && p10 <= 22) {
    double v = p10 < 0 ? (double)mant / k_pow10[-p10] : (double)mant * k_pow10[p10];
    if (v > (double)FLT_MAX) return lut_text_error(t, "'%s' is out of range for a float", quote_tok(tok, len, q));
    *out = (float)(neg ? -v : v);
    return 0;
  }
  if (len > 255) return lut_text_error(t, "number '%s' is too long", quote_tok(tok, len, q));
  char buf[256];
  memcpy(buf, tok, (size_t)len);
  buf[len] = '\0';
  pthread_once(&g_c_locale_once, c_locale_init);
  if (!g_c_locale) return lut_text_error(t, "cannot create the C locale for number parsing");
  errno = 0;
  char *endp;
  double v = strtod_l(buf, &endp, g_c_locale);
  if (endp != buf + len) return lut_text_error(t, "'%s' is not a number", quote_tok(tok, len, q));
  if (!isfinite(v) || fabs(v) > (double)FLT_MAX)
    return lut_text_error(t, "'%s' is out of range for a float", quote_tok(tok, len, q));
  /* Underflow to a denormal or zero is harmless for colour values. */
  *out = (float)v;
  return 0;
}

int lut_parse_int(const lut_text *t, const char *tok, int len, long lo, long hi, long *out) {
  char q[32];
  int i = 0, neg = 0;
  if (i < len && (tok[i] == '+' || tok[i] == '-')) neg = tok[i++] == '-';
  if (i >= len) return lut_text_error(t, "'%s' is not an integer", quote_tok(tok, len, q));
  long v = 0;
  int big = 0;
  for (; i < len; i++) {
    if (tok[i] < '0' || tok[i] > '9') return lut_text_error(t, "'%s' is not an integer", quote_tok(tok, len, q));
    if (v > 100000000L)
      big = 1;
    else
      v = v * 10 + (tok[i] - '0');
  }
  if (neg) v = -v;
  if (big || v < lo || v > hi)
    return lut_text_error(t, "%s is out of range (%ld to %ld)", quote_tok(tok, len, q), lo, hi);
  *out = v;
  return 0;
}

int lut_format_float_len(float v, char buf[64]) {
  double d = (double)v;
  if (!isfinite(d)) { /* writers never get here: loaders refuse non-finite values */
    buf[0] = '0', buf[1] = 0;
    return 1;
  }
  if (fabs(d) >= 1e9) {
    /* Floats this large are integers; "%.0f" has no decimal point, so the
     * locale cannot change it. */
    return snprintf(buf, 64, "%.0f", d);
  }
  /* Fixed point with 9 decimals by integer arithmetic: |error| <= 5e-10,
   * below half a float ulp for every |value| >= 2^-6 (ulp 1.9e-9), so those
   * read back as the very same float; smaller values keep 5e-10 absolute
   * accuracy, far below a 16-bit code (1.5e-5). */
  /* round(|v| * 1e9) exactly, half to even, so the digits are those of
   * printf("%.9f"): from the IEEE fields |v| = m * 2^-shift with a 24-bit
   * integer m (exp - 150 = the power of two of m's last bit), and
   * m * 1e9 < 2^54 fits in 64 bits; the shift is done with an exact
   * remainder. Subnormals (< 2^-126) round to zero. */
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  const int exp = (int)((bits >> 23) & 0xFF);
  unsigned long long scaled;
  if (exp == 0) {
    scaled = 0;
  } else {
    const unsigned long long m = (bits & 0x7FFFFFu) | 0x800000u, prod = m * 1000000000ULL;
    const int shift = 150 - exp;
    if (shift <= 0) {
      scaled = prod << -shift; /* |v| < 1e9 keeps this below 2^61 */
    } else if (shift >= 63) {
      scaled = 0; /* below 2^-9 * 1e-9: rounds to zero */
    } else {
      unsigned long long q = prod >> shift, r = prod & ((1ULL << shift) - 1), half = 1ULL << (shift - 1);
      scaled = q + (r > half || (r == half && (q & 1)));
    }
  }
  unsigned long long ip = scaled / 1000000000ULL;
  uint32_t fp = (uint32_t)(scaled % 1000000000ULL);
  /* Digits by hand, two at a time (snprintf dominated the time of writing a LUT). */
  static const char k_pairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char tmp[32];
  int n = 0, k = 0;
  if ((bits >> 31) && scaled != 0) buf[n++] = '-';
  do tmp[k++] = (char)('0' + ip % 10), ip /= 10;
  while (ip);
  while (k) buf[n++] = tmp[--k];
  if (fp) {
    char f[10];
    uint32_t x = fp;
    f[8] = (char)('0' + x % 10), x /= 10;
    for (int pos = 6; pos >= 0; pos -= 2, x /= 100) memcpy(f + pos, k_pairs + 2 * (x % 100), 2);
    int len = 9;
    while (f[len - 1] == '0') len--;
    buf[n++] = '.';
    memcpy(buf + n, f, (size_t)len);
    n += len;
  }
  buf[n] = '\0';
  return n;
}

char *lut_format_float(float v, char buf[64]) {
  lut_format_float_len(v, buf);
  return buf;
}
