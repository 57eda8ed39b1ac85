/* src/clip/tokenizer_html.c - HTML character references, as Python and ftfy decode them.
 *
 * OpenAI's simple_tokenizer runs ftfy.fix_text (whose unescape_html step
 * decodes complete "&name;" references while the text has no '<') and then
 * html.unescape twice. Both are reproduced here over code point strings:
 *   - dlut_tok_html_unescape: CPython 3.11 Lib/html/__init__.py unescape():
 *     the _charref regex, numeric references with the _invalid_charrefs /
 *     _invalid_codepoints rules, named references with HTML5's longest
 *     prefix rule for the legacy names that may omit the ';'.
 *   - dlut_tok_ftfy_unescape_html: ftfy 6.3.1 fixes.unescape_html():
 *     regex "&#?[0-9A-Za-z]{1,24};", names from chardata.HTML_ENTITIES.
 * The entity tables are generated (tokenizer_tables.c).
 */
#include <stdlib.h>
#include <string.h>

#include "clip/tokenizer_internal.h"

/* Find name (code points) in a sorted entity table; NULL if absent. */
static const char *entity_find(const dlut_tok_entity *tab, int count, const uint32_t *name, size_t n) {
  char key[33 * 4];
  size_t len = 0;
  if (n > 32) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (name[i] == 0) return NULL; /* no entity name contains NUL */
    len += (size_t)dlut_tok_utf8_put(name[i], key + len);
  }
  int lo = 0, hi = count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    const char *k = tab[mid].name;
    size_t klen = strlen(k);
    int c = memcmp(key, k, len < klen ? len : klen);
    if (c == 0) c = len < klen ? -1 : len > klen ? 1 : 0;
    if (c == 0) return tab[mid].value;
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

static int is_digit(uint32_t c) {
  return c >= '0' && c <= '9';
}
static int is_hex(uint32_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int is_alnum(uint32_t c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static uint32_t hex_val(uint32_t c) {
  return is_digit(c) ? c - '0' : (c | 32) - 'a' + 10;
}

/* CPython html._replace_charref for a numeric reference whose value is num
 * (saturated above 0x10FFFF). Appends the replacement. */
static int numeric_ref(uint32_t num, dlut_tok_str *out) {
  for (int i = 0; i < dlut_tok_invalid_charref_count; i++)
    if (dlut_tok_invalid_charrefs[i].from == num) return dlut_tok_str_push(out, dlut_tok_invalid_charrefs[i].to);
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return dlut_tok_str_push(out, 0xFFFD);
  int lo = 0, hi = dlut_tok_invalid_codepoint_count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (dlut_tok_invalid_codepoints[mid] == num) return 0; /* decodes to nothing */
    if (dlut_tok_invalid_codepoints[mid] < num)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return dlut_tok_str_push(out, num);
}

/* Parses one character reference at cp[i] == '&' the way html.unescape's
 * _charref regex and _replace_charref do. Appends the replacement and
 * returns the index after the reference, or returns i when nothing matches
 * (the caller copies the '&'). -1 on out-of-memory. */
static long charref(const uint32_t *cp, size_t n, size_t i, dlut_tok_str *out) {
  size_t j = i + 1;
  if (j < n && cp[j] == '#') {
    int hex = 0;
    size_t k = j + 1;
    if (k < n && is_digit(cp[k])) {
      hex = 0;
    } else if (k + 1 < n && (cp[k] == 'x' || cp[k] == 'X') && is_hex(cp[k + 1])) {
      hex = 1;
      k++;
    } else {
      return (long)i; /* '#' cannot start a name either */
    }
    uint32_t num = 0;
    while (k < n && (hex ? is_hex(cp[k]) : is_digit(cp[k]))) {
      uint32_t d = hex ? hex_val(cp[k]) : cp[k] - '0';
      if (num <= 0x10FFFF) num = num * (hex ? 16 : 10) + d; /* saturates past 0x10FFFF */
      k++;
    }
    if (k < n && cp[k] == ';') k++;
    if (numeric_ref(num, out) != 0) return -1;
    return (long)k;
  }
  /* Named: [^\t\n\f <&#;]{1,32};? */
  size_t k = j;
  while (k < n && k - j < 32) {
    uint32_t c = cp[k];
    if (c == '\t' || c == '\n' || c == '\f' || c == ' ' || c == '<' || c == '&' || c == '#' || c == ';') break;
    k++;
  }
  if (k == j) return (long)i;
  if (k < n && cp[k] == ';') k++;
  size_t slen = k - j; /* s = cp[j..k) */
  const char *v = entity_find(dlut_tok_html5_entities, dlut_tok_html5_entity_count, cp + j, slen);
  if (v) return dlut_tok_str_append_utf8(out, v) != 0 ? -1 : (long)k;
  /* Longest prefix (of at least 2 characters) that is a name, as HTML5's
   * legacy names without ';' ("&notit;" -> "\u00acit;"). */
  for (size_t x = slen - 1; x >= 2 && x < slen; x--) {
    v = entity_find(dlut_tok_html5_entities, dlut_tok_html5_entity_count, cp + j, x);
    if (v) {
      if (dlut_tok_str_append_utf8(out, v) != 0 || dlut_tok_str_append(out, cp + j + x, slen - x) != 0) return -1;
      return (long)k;
    }
  }
  if (dlut_tok_str_push(out, '&') != 0 || dlut_tok_str_append(out, cp + j, slen) != 0) return -1;
  return (long)k;
}

int dlut_tok_html_unescape(const uint32_t *cp, size_t n, dlut_tok_str *out) {
  if (dlut_tok_str_reserve(out, out->n + n) != 0) return -1;
  size_t i = 0;
  while (i < n) {
    if (cp[i] == '&') {
      long next = charref(cp, n, i, out);
      if (next < 0) return -1;
      if ((size_t)next != i) {
        i = (size_t)next;
        continue;
      }
    }
    if (dlut_tok_str_push(out, cp[i]) != 0) return -1;
    i++;
  }
  return 0;
}

int dlut_tok_ftfy_unescape_html(const uint32_t *cp, size_t n, dlut_tok_str *out) {
  if (dlut_tok_str_reserve(out, out->n + n) != 0) return -1;
  size_t i = 0;
  while (i < n) {
    if (cp[i] == '&') {
      /* &#?[0-9A-Za-z]{1,24}; */
      size_t j = i + 1;
      int hash = j < n && cp[j] == '#';
      size_t k = j + (size_t)hash;
      size_t run = k;
      while (run < n && is_alnum(cp[run]) && run - k < 24) run++;
      if (run > k && run < n && cp[run] == ';') {
        size_t end = run + 1; /* the match is cp[i..end) */
        if (!hash) {
          const uint32_t *name = cp + j;
          size_t nlen = end - j; /* with the ';' */
          const char *v = entity_find(dlut_tok_html5_entities, dlut_tok_html5_entity_count, name, nlen);
          if (!v) v = entity_find(dlut_tok_ftfy_upper_entities, dlut_tok_ftfy_upper_entity_count, name, nlen);
          if (v) {
            if (dlut_tok_str_append_utf8(out, v) != 0) return -1;
          } else if (dlut_tok_str_append(out, cp + i, end - i) != 0) {
            return -1;
          }
        } else {
          /* html.unescape(match); keep the match if a ';' survives. */
          dlut_tok_str tmp = {0};
          if (dlut_tok_html_unescape(cp + i, end - i, &tmp) != 0) {
            dlut_tok_str_free(&tmp);
            return -1;
          }
          int semi = 0;
          for (size_t t = 0; t < tmp.n; t++) semi |= tmp.cp[t] == ';';
          int rc = semi ? dlut_tok_str_append(out, cp + i, end - i) : dlut_tok_str_append(out, tmp.cp, tmp.n);
          dlut_tok_str_free(&tmp);
          if (rc != 0) return -1;
        }
        i = end;
        continue;
      }
    }
    if (dlut_tok_str_push(out, cp[i]) != 0) return -1;
    i++;
  }
  return 0;
}
