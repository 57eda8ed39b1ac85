/* src/clip/unicode.c - the Python string semantics the tokenizers depend on.
 *
 * The upstream tokenizers are Python: they see text as a str (code points),
 * lower-case it with str.lower(), strip and split it with str.isspace(),
 * match \s / \p{L} / \p{N} in the `regex` module, and normalise with
 * unicodedata. Character properties come from libutf8proc (Unicode 15;
 * the references were made with Python 3.11's Unicode 14 - the two differ
 * only in characters added in 15). Sources: CPython Objects/unicodeobject.c
 * (lower, handle_capital_sigma), Objects/unicodectype.c (isspace),
 * Objects/stringlib/codecs.h (UTF-8 decoding with "replace").
 */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"

/* ==== Code point strings ==== */

int dlut_tok_str_reserve(dlut_tok_str *s, size_t cap) {
  if (cap <= s->cap) return 0;
  size_t ncap = s->cap ? s->cap : 16;
  while (ncap < cap) {
    if (ncap > ((size_t)1 << 40)) return dlut_error("tokenizer: text too long");
    ncap *= 2;
  }
  uint32_t *p = realloc(s->cp, ncap * sizeof *p);
  if (!p) return dlut_error("tokenizer: out of memory");
  s->cp = p;
  s->cap = ncap;
  return 0;
}

int dlut_tok_str_push(dlut_tok_str *s, uint32_t c) {
  if (s->n == s->cap && dlut_tok_str_reserve(s, s->n + 1) != 0) return -1;
  s->cp[s->n++] = c;
  return 0;
}

int dlut_tok_str_append(dlut_tok_str *s, const uint32_t *cp, size_t n) {
  if (n == 0) return 0;
  if (dlut_tok_str_reserve(s, s->n + n) != 0) return -1;
  memcpy(s->cp + s->n, cp, n * sizeof *cp);
  s->n += n;
  return 0;
}

int dlut_tok_str_append_utf8(dlut_tok_str *s, const char *utf8) {
  return dlut_tok_utf8_decode(utf8, strlen(utf8), s);
}

void dlut_tok_str_swap(dlut_tok_str *a, dlut_tok_str *b) {
  dlut_tok_str t = *a;
  *a = *b;
  *b = t;
}

void dlut_tok_str_free(dlut_tok_str *s) {
  free(s->cp);
  s->cp = NULL;
  s->n = s->cap = 0;
}

int dlut_tok_str_eq(const dlut_tok_str *a, const dlut_tok_str *b) {
  return a->n == b->n && (a->n == 0 || memcmp(a->cp, b->cp, a->n * sizeof *a->cp) == 0);
}

/* ==== UTF-8 ==== */

/* Length of the valid UTF-8 prefix of one sequence at s[0..len) and its
 * code point: returns the number of bytes of a complete valid sequence
 * (*ok = 1), or the number of bytes of the maximal invalid subpart
 * (*ok = 0, always >= 1), per Unicode 15 section 3.9 "U+FFFD Substitution
 * of Maximal Subparts", which Python's decoder follows. */
static size_t utf8_one(const uint8_t *s, size_t len, uint32_t *cp, int *ok) {
  uint8_t b0 = s[0];
  *ok = 0;
  if (b0 < 0x80) {
    *cp = b0;
    *ok = 1;
    return 1;
  }
  int need;
  uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F; /* no surrogates */
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F; /* <= U+10FFFF */
  } else {
    return 1;
  }
  uint32_t c = b0 & (0x3F >> need);
  for (int k = 1; k <= need; k++) {
    if ((size_t)k >= len) return (size_t)k;
    uint8_t b = s[k];
    uint8_t l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) return (size_t)k;
    c = (c << 6) | (b & 0x3F);
  }
  *cp = c;
  *ok = 1;
  return (size_t)need + 1;
}

int dlut_tok_utf8_decode(const char *str, size_t len, dlut_tok_str *out) {
  const uint8_t *s = (const uint8_t *)str;
  if (dlut_tok_str_reserve(out, out->n + len) != 0) return -1;
  size_t i = 0;
  while (i < len) {
    uint32_t c = 0xFFFD;
    int ok;
    size_t k = utf8_one(s + i, len - i, &c, &ok);
    out->cp[out->n++] = ok ? c : 0xFFFD;
    i += k;
  }
  return 0;
}

int dlut_tok_utf8_valid(const uint8_t *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint32_t c;
    int ok;
    size_t k = utf8_one(s + i, len - i, &c, &ok);
    if (!ok) return 0;
    i += k;
  }
  return 1;
}

int dlut_tok_utf8_put(uint32_t c, char out[4]) {
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* ==== Character classes ==== */

/* CPython _PyUnicode_IsWhitespace: bidirectional type WS, B or S, or Zs. */
int dlut_tok_py_isspace(uint32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The `regex` module's \s on str patterns: the White_Space property
 * (PropList.txt), which unlike str.isspace() excludes U+001C..U+001F. */
int dlut_tok_re_isspace(uint32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || c == 0x20;
  return dlut_tok_py_isspace(c);
}

static utf8proc_category_t cat(uint32_t c) {
  return c > 0x10FFFF ? UTF8PROC_CATEGORY_CN : utf8proc_category((utf8proc_int32_t)c);
}

int dlut_tok_is_letter(uint32_t c) {
  utf8proc_category_t k = cat(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}

int dlut_tok_is_number(uint32_t c) {
  utf8proc_category_t k = cat(c);
  return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

int dlut_tok_is_mark_mn(uint32_t c) {
  return cat(c) == UTF8PROC_CATEGORY_MN;
}

int dlut_tok_is_punct(uint32_t c) {
  utf8proc_category_t k = cat(c);
  return k == UTF8PROC_CATEGORY_PC || k == UTF8PROC_CATEGORY_PD || k == UTF8PROC_CATEGORY_PS ||
         k == UTF8PROC_CATEGORY_PE || k == UTF8PROC_CATEGORY_PI || k == UTF8PROC_CATEGORY_PF ||
         k == UTF8PROC_CATEGORY_PO;
}

int dlut_tok_is_cc_cf(uint32_t c) {
  utf8proc_category_t k = cat(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF;
}

int dlut_tok_is_zs(uint32_t c) {
  return cat(c) == UTF8PROC_CATEGORY_ZS;
}

int dlut_tok_is_nd(uint32_t c) {
  return cat(c) == UTF8PROC_CATEGORY_ND;
}

/* ==== str.lower() ==== */

/* Unicode "Cased" (DerivedCoreProperties): Lu, Ll, Lt, or has a case
 * mapping. Approximation of Other_Lowercase/Other_Uppercase by the mapping
 * test; only used for the Final_Sigma context. */
static int is_cased(uint32_t c) {
  utf8proc_category_t k = cat(c);
  if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
  return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
         utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

/* Unicode "Case_Ignorable": Mn, Me, Cf, Lm, Sk, or Word_Break MidLetter /
 * MidNumLet / Single_Quote (the list below is those characters). */
static int is_case_ignorable(uint32_t c) {
  switch (c) {
    case 0x27:
    case 0x2E:
    case 0x3A:
    case 0xB7:
    case 0x387:
    case 0x55F:
    case 0x5F4:
    case 0x2018:
    case 0x2019:
    case 0x2024:
    case 0x2027:
    case 0xFE13:
    case 0xFE52:
    case 0xFE55:
    case 0xFF07:
    case 0xFF0E:
    case 0xFF1A:
      return 1;
    default:
      break;
  }
  utf8proc_category_t k = cat(c);
  return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK;
}

/* CPython handle_capital_sigma: U+03A3 lower-cases to final sigma U+03C2
 * when preceded by a cased letter and not followed by one (skipping
 * case-ignorable characters on both sides). */
static uint32_t lower_sigma(const uint32_t *cp, size_t n, size_t i) {
  size_t j = i;
  uint32_t c = 0;
  int found = 0;
  while (j > 0) {
    c = cp[--j];
    if (!is_case_ignorable(c)) {
      found = 1;
      break;
    }
  }
  int final_sigma = found && is_cased(c);
  if (final_sigma && i + 1 < n) {
    for (j = i + 1; j < n; j++) {
      c = cp[j];
      if (!is_case_ignorable(c)) break;
    }
    final_sigma = j == n || !is_cased(c);
  }
  return final_sigma ? 0x3C2 : 0x3C3;
}

int dlut_tok_py_lower(const uint32_t *cp, size_t n, dlut_tok_str *out) {
  if (dlut_tok_str_reserve(out, out->n + n) != 0) return -1;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = cp[i];
    if (c < 0x80) {
      if (c >= 'A' && c <= 'Z') c += 32;
    } else if (c == 0x130) {
      /* SpecialCasing.txt: the only unconditional multi-character lowercase. */
      if (dlut_tok_str_push(out, 'i') != 0 || dlut_tok_str_push(out, 0x307) != 0) return -1;
      continue;
    } else if (c == 0x3A3) {
      c = lower_sigma(cp, n, i);
    } else {
      c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
    }
    if (dlut_tok_str_push(out, c) != 0) return -1;
  }
  return 0;
}

/* ==== Normalisation ==== */

int dlut_tok_normalize(dlut_tok_str *s, dlut_tok_nf form) {
  if (s->n == 0) return 0;
  utf8proc_option_t opt = UTF8PROC_STABLE;
  if (form == DLUT_TOK_NFC) opt |= UTF8PROC_COMPOSE;
  if (form == DLUT_TOK_NFD) opt |= UTF8PROC_DECOMPOSE;
  if (form == DLUT_TOK_NFKC) opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  int rc = -1;
  utf8proc_int32_t *buf = NULL;
  char *u8 = malloc(s->n * 4);
  if (!u8) return dlut_error("tokenizer: out of memory");
  size_t len = 0;
  for (size_t i = 0; i < s->n; i++) len += (size_t)dlut_tok_utf8_put(s->cp[i], u8 + len);
  /* utf8proc_decompose does the decomposition and canonical reordering;
   * utf8proc_normalize_utf32 then composes (this is what utf8proc_map does). */
  utf8proc_ssize_t need = utf8proc_decompose((const utf8proc_uint8_t *)u8, (utf8proc_ssize_t)len, NULL, 0, opt);
  if (need < 0) {
    dlut_error("tokenizer: normalisation failed: %s", utf8proc_errmsg(need));
    goto fail;
  }
  buf = malloc(((size_t)need + 1) * sizeof *buf);
  if (!buf) {
    dlut_error("tokenizer: out of memory");
    goto fail;
  }
  utf8proc_ssize_t got = utf8proc_decompose((const utf8proc_uint8_t *)u8, (utf8proc_ssize_t)len, buf, need, opt);
  if (got < 0 || got > need) {
    dlut_error("tokenizer: normalisation failed");
    goto fail;
  }
  if (opt & UTF8PROC_COMPOSE) {
    got = utf8proc_normalize_utf32(buf, got, opt);
    if (got < 0) {
      dlut_error("tokenizer: normalisation failed: %s", utf8proc_errmsg(got));
      goto fail;
    }
  }
  s->n = 0;
  if (dlut_tok_str_reserve(s, (size_t)got) != 0) goto fail;
  for (utf8proc_ssize_t i = 0; i < got; i++) s->cp[s->n++] = (uint32_t)buf[i];
  rc = 0;
fail:
  free(u8);
  free(buf);
  return rc;
}
