/* src/clip/tokenizer_ftfy.c - ftfy.fix_text, as OpenAI CLIP's tokenizer runs it.
 *
 * openai/CLIP's simple_tokenizer.basic_clean starts with ftfy.fix_text(text)
 * (ftfy 6.3.1 made the reference ids). This file ports its default pipeline
 * (ftfy/__init__.py fix_text, fix_and_explain, fix_encoding_and_explain,
 * _fix_encoding_one_step_and_explain; ftfy/fixes.py; ftfy/badness.py;
 * ftfy/chardata.py), step for step:
 *
 *   per line (ftfy splits at '\n'; unescape_html="auto" turns itself off for
 *   the rest of the text at the first line containing '<'), repeated until the
 *   line stops changing:
 *     unescape_html, fix_encoding, fix_c1_controls, fix_latin_ligatures,
 *     fix_character_width, uncurl_quotes, fix_line_breaks, (fix_surrogates: a
 *     decoded UTF-8 string has none), remove_terminal_escapes,
 *     remove_control_chars, NFC.
 *
 * fix_encoding is the mojibake repair: when badness.is_bad (BADNESS_RE, ported
 * alternative by alternative) finds a suspicious sequence, re-encode the text
 * in each of the ten single-byte encodings ftfy tries (tables generated from
 * Python's codecs) and decode as UTF-8 (with restore_byte_a0,
 * replace_lossy_sequences and the utf-8-variants for CESU-8 / C0 80), else fix
 * embedded runs (decode_inconsistent_utf8, UTF8_DETECTOR_RE), else treat
 * Latin-1 as Windows-1252. Known difference: chardata.UTF8_CLUES is rebuilt
 * from the rule its comments state (not copied). A lone CESU-8 surrogate is a
 * decode failure, as in ftfy on Python 3 (bad_codecs/utf8_variants.py hands it
 * to Python's strict UTF-8 decoder).
 * Checked against ftfy's own test cases in tests/test_tokenizer_ftfy.c.
 */
#include <stdlib.h>
#include <string.h>

#include "clip/tokenizer_internal.h"

#define FTFY_MAX_DECODE_LENGTH 1000000 /* ftfy TextFixerConfig.max_decode_length */
#define FTFY_MAX_ROUNDS 32             /* ftfy loops until stable; each round shrinks or fixes */

/* The code point cp1252 byte b (0x80..0xff) decodes to (sloppy: undefined
 * bytes give the C1 control of the same value). */
static uint32_t cp1252_char(uint32_t b) {
  return b < 0xA0 ? dlut_tok_cp1252_c1[b - 0x80] : b;
}

/* ==== Character classes of ftfy's heuristics ==== */

static uint32_t fclass(uint32_t c) {
  int lo = 0, hi = dlut_tok_ftfy_class_count - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (dlut_tok_ftfy_classes[mid].cp == c) return dlut_tok_ftfy_classes[mid].mask;
    if (dlut_tok_ftfy_classes[mid].cp < c)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return 0;
}

#define HAS(c, m) ((fclass(c) & (uint32_t)(m)) != 0)

/* c is one of the zero-terminated list. */
static int one_of(uint32_t c, const uint32_t *list) {
  for (; *list; list++)
    if (*list == c) return 1;
  return 0;
}

static int ascii_alpha(uint32_t c) {
  return (c | 32) >= 'a' && (c | 32) <= 'z';
}
static int ascii_lower(uint32_t c) {
  return c >= 'a' && c <= 'z';
}
/* Python re's \w on str: alphanumeric (L*, N*) or '_'. */
static int re_word(uint32_t c) {
  return c == '_' || dlut_tok_is_letter(c) || dlut_tok_is_number(c);
}

/* ==== badness.is_bad: BADNESS_RE.search ==== */

/* Does one of BADNESS_RE's alternatives (ftfy/badness.py, in order) match
 * at t[i]? r = characters left. */
static int bad_at(const uint32_t *t, size_t n, size_t i) {
  enum {
    ACC = DLUT_TOK_FC_LOWER_ACC | DLUT_TOK_FC_UPPER_ACC,
    LA = DLUT_TOK_FC_LOWER_ACC,
    UA = DLUT_TOK_FC_UPPER_ACC,
    BOX = DLUT_TOK_FC_BOX,
    ST = DLUT_TOK_FC_START,
    EN = DLUT_TOK_FC_END,
    CUR = DLUT_TOK_FC_CURRENCY,
    NUM = DLUT_TOK_FC_NUMERIC,
    LAW = DLUT_TOK_FC_LAW,
    BAD = DLUT_TOK_FC_BAD,
  };
  size_t r = n - i;
  uint32_t c0 = t[i], c1 = r > 1 ? t[i + 1] : 0, c2 = r > 2 ? t[i + 2] : 0, c3 = r > 3 ? t[i + 3] : 0;
  static const uint32_t a20[] = {0x20AC, 0x153, 0x160, 0x161, 0xA2, 0xA3,   0x178,  0x17E, 0xA0, 0xAD,
                                 0xAE,   0xA9,  0xB0,  0xB7,  0xBB, 0x2013, 0x2014, 0xB4,  0};
  static const uint32_t arab[] = {0x178, 0x160, 0xAE, 0xB0, 0xB5, 0xBB, 0};
  static const uint32_t a23[] = {0xB2, 0xB5, 0xB9, 0xBC, 0xBD, 0xBE, 0};
  static const uint32_t a24[] = {0xB1, 0x2202, 0x2020, 0x2260, 0xAE, 0x2122, 0xB4, 0x2264, 0x2265, 0xA5, 0xB5, 0xF8, 0};
  static const uint32_t a26[] = {0xEC, 0xEE, 0xEF, 0xF2, 0xF4, 0xFA, 0xF9, 0xFB, 0x2020, 0xB0, 0xA2, 0x3C0, 0};
  static const uint32_t a27[] = {0xE0, 0xE4, 0xB0, 0xEA, 0};
  static const uint32_t cyr[] = {0x412, 0x413, 0x420, 0x421, 0};
  static const uint32_t a35[] = {0x2122, 0xA0, 0x386, 0xAD, 0xAE, 0xB0, 0};
  static const uint32_t grk[] = {0x392, 0x393, 0x39E, 0x39F, 0};
  if (HAS(c0, DLUT_TOK_FC_C1)) return 1;
  if (r >= 2 && HAS(c0, BAD | ACC | BOX | ST | EN | CUR | NUM | LAW) && HAS(c1, BAD)) return 1;
  if (r >= 3 && ascii_alpha(c0) && HAS(c1, DLUT_TOK_FC_LOWER_COMMON | DLUT_TOK_FC_UPPER_COMMON) && HAS(c2, BAD))
    return 1;
  if (r >= 2 && HAS(c0, BAD) && HAS(c1, ACC | BOX | ST | EN | CUR | NUM | LAW)) return 1;
  if (r >= 2 && HAS(c0, LA | DLUT_TOK_FC_LOWER_COMMON | BOX | EN | CUR | NUM) && HAS(c1, UA)) return 1;
  if (r >= 2 && HAS(c0, BOX | EN | CUR | NUM) && HAS(c1, LA)) return 1;
  if (r >= 2 && HAS(c0, LA | BOX | EN) && HAS(c1, CUR)) return 1;
  if (r >= 3 && dlut_tok_py_isspace(c0) && HAS(c1, UA) && HAS(c2, CUR)) return 1;
  if (r >= 2 && HAS(c0, UA | BOX) && HAS(c1, NUM | LAW)) return 1;
  if (r >= 3 && HAS(c0, ACC | BOX | CUR | EN) && HAS(c1, ST) && HAS(c2, NUM)) return 1;
  if (r >= 3 && HAS(c0, ACC | CUR | NUM | BOX | LAW) && HAS(c1, EN) && HAS(c2, ST)) return 1;
  if (r >= 2 && HAS(c0, CUR | NUM | BOX) && HAS(c1, ST)) return 1;
  if (r >= 3 && ascii_lower(c0) && HAS(c1, UA) && HAS(c2, ST | CUR)) return 1;
  if (r >= 2 && HAS(c0, BOX) && HAS(c1, DLUT_TOK_FC_KAOMOJI)) return 1;
  if (r >= 2 && HAS(c0, ACC | CUR | NUM | ST | EN | LAW) && HAS(c1, BOX)) return 1;
  if (r >= 2 && HAS(c0, BOX) && HAS(c1, EN)) return 1;
  if (r >= 3 && HAS(c0, ACC) && HAS(c1, ST | EN) && re_word(c2)) return 1;
  if (r >= 2 && (c0 == 0x152 || c0 == 0x153) && !ascii_alpha(c1)) return 1; /* [Œœ][^A-Za-z] */
  if (r >= 2 && HAS(c0, UA) && c1 == 0xB0) return 1;                        /* [upper_accented]° */
  if (r >= 2 && (c0 == 0xC2 || c0 == 0xC3 || c0 == 0xCE || c0 == 0xD0) && (one_of(c1, a20) || HAS(c1, ST | EN)))
    return 1;
  if (r >= 2 && c0 == 0xD7 && (c1 == 0xB2 || c1 == 0xB3)) return 1; /* × [²³] */
  if (r >= 4 && (c0 == 0xD8 || c0 == 0xD9) && (c2 == 0xD8 || c2 == 0xD9) &&
      (HAS(c1, DLUT_TOK_FC_COMMON | CUR | BAD | NUM | ST) || one_of(c1, arab)) &&
      (HAS(c3, DLUT_TOK_FC_COMMON | CUR | BAD | NUM | ST) || one_of(c3, arab)))
    return 1;
  if (r >= 2 && c0 == 0xE0 && one_of(c1, a23)) return 1;
  if (r >= 2 && c0 == 0x221A && one_of(c1, a24)) return 1;
  if (r >= 2 && c0 == 0x2248 && (c1 == 0xB0 || c1 == 0xA2)) return 1;
  if (r >= 3 && c0 == 0x201A && c1 == 0xC4 && one_of(c2, a26)) return 1;
  if (r >= 3 && c0 == 0x201A && (c1 == 0xE2 || c1 == 0xF3) && one_of(c2, a27)) return 1;
  if (r >= 2 && c0 == 0x432 && c1 == 0x402) return 1; /* вЂ */
  if (r >= 3 && one_of(c0, cyr) && (HAS(c1, DLUT_TOK_FC_C1 | BAD | ST | EN | CUR) || c1 == 0xB0 || c1 == 0xB5) &&
      one_of(c2, cyr))
    return 1;
  if (r >= 7 && c0 == 0x413 && c1 == 0x45E && c2 == 0x412 && c3 == 0x402 && t[i + 4] == 0x412 && t[i + 5] != '\n' &&
      (ascii_alpha(t[i + 6]) || t[i + 6] == ' '))
    return 1; /* ГўВЂВ.[A-Za-z ] */
  if (r >= 2 && c0 == 0xC3 && (c1 == 0xA0 || c1 == 0xA1)) return 1;
  if (r >= 3 && ascii_lower(c0) && (c1 == 0xC3 || c1 == 0xC2) && c2 == ' ') return 1; /* [a-z]\s?[ÃÂ][ ] */
  if (r >= 4 && ascii_lower(c0) && dlut_tok_py_isspace(c1) && (c2 == 0xC3 || c2 == 0xC2) && c3 == ' ') return 1;
  if (i == 0 && r >= 2 && (c0 == 0xC3 || c0 == 0xC2) && c1 == ' ') return 1; /* ^[ÃÂ][ ] */
  if (r >= 3 && (ascii_lower(c0) || c0 == '.' || c0 == ',' || c0 == '?' || c0 == '!' || HAS(c0, EN)) && c1 == 0xC2 &&
      (c2 == ' ' || HAS(c2, ST | EN)))
    return 1;
  if (r >= 3 && c0 == 0x3B2 && c1 == 0x20AC && one_of(c2, a35)) return 1; /* β€[...] */
  if (r >= 3 && one_of(c0, grk) && (HAS(c1, DLUT_TOK_FC_C1 | BAD | ST | EN | CUR) || c1 == 0xB0) && one_of(c2, grk))
    return 1;
  if (r >= 2 && c0 == 0x101 && c1 == 0x20AC) return 1; /* ā€ */
  return 0;
}

int dlut_tok_ftfy_is_bad(const uint32_t *cp, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (bad_at(cp, n, i)) return 1;
  return 0;
}

/* ==== Single-byte encodings ==== */

/* Byte that encodes c in charmap m, or -1 (chardata.possible_encoding). */
static int cm_byte(const dlut_tok_charmap *m, uint32_t c) {
  if (c == 0x1A) return m->sloppy ? -1 : 0x1A;
  if (c < 0x80) return (int)c;
  if (c == 0xFFFD && m->sloppy) return 0x1A;
  int lo = 0, hi = 127;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (m->rev_cp[mid] == c) return m->rev_byte[mid];
    if (m->rev_cp[mid] < c)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return -1;
}

/* Python's bytes.decode("utf-8") (strict) or ftfy's "utf-8-variants" (also
 * CESU-8 surrogate pairs and Java's C0 80 for U+0000). 1 and the text in out,
 * or 0 where Python raises UnicodeDecodeError (lone surrogates included: the
 * variants codec passes them to the strict decoder). */
static int utf8_decode_strict(const uint8_t *b, size_t n, int variants, dlut_tok_str *out) {
  out->n = 0;
  if (dlut_tok_str_reserve(out, n) != 0) return -1;
  size_t i = 0;
  while (i < n) {
    if (variants && b[i] == 0xC0 && i + 1 < n && b[i + 1] == 0x80) {
      out->cp[out->n++] = 0;
      i += 2;
      continue;
    }
    if (variants && b[i] == 0xED && i + 5 < n && b[i + 1] >= 0xA0 && b[i + 1] <= 0xAF && b[i + 2] >= 0x80 &&
        b[i + 2] <= 0xBF && b[i + 3] == 0xED && b[i + 4] >= 0xB0 && b[i + 4] <= 0xBF && b[i + 5] >= 0x80 &&
        b[i + 5] <= 0xBF) {
      uint32_t hi = 0xD000u | (uint32_t)(b[i + 1] & 0x3F) << 6 | (b[i + 2] & 0x3F);
      uint32_t lo = 0xD000u | (uint32_t)(b[i + 4] & 0x3F) << 6 | (b[i + 5] & 0x3F);
      out->cp[out->n++] = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
      i += 6;
      continue;
    }
    dlut_tok_str one = {0};
    /* decode the next sequence (at most 4 bytes) strictly */
    size_t len = b[i] < 0x80 ? 1 : b[i] < 0xE0 ? 2 : b[i] < 0xF0 ? 3 : 4;
    if (len > n - i || !dlut_tok_utf8_valid(b + i, len)) return 0;
    if (dlut_tok_utf8_decode((const char *)b + i, len, &one) != 0) return -1;
    out->cp[out->n++] = one.cp[0];
    dlut_tok_str_free(&one);
    i += len;
  }
  return 1;
}

/* chardata.ALTERED_UTF8_RE at b[i]: the match length, or 0. */
static size_t altered_at(const uint8_t *b, size_t n, size_t i) {
#define CONT_NO_85_A0(x) (((x) >= 0x80 && (x) <= 0x84) || ((x) >= 0x86 && (x) <= 0x9F) || ((x) >= 0xA1 && (x) <= 0xBF))
#define CONT(x) ((x) >= 0x80 && (x) <= 0xBF)
  size_t r = n - i;
  uint8_t c0 = b[i];
  if (r >= 2 && (c0 == 0xC2 || c0 == 0xC3 || c0 == 0xC5 || c0 == 0xCE || c0 == 0xD0 || c0 == 0xD9) && b[i + 1] == ' ')
    return 2;
  if (r >= 3 && (c0 == 0xE2 || c0 == 0xE3) && b[i + 1] == ' ' && CONT_NO_85_A0(b[i + 2])) return 3;
  if (r >= 3 && c0 >= 0xE0 && c0 <= 0xE3 && CONT_NO_85_A0(b[i + 1]) && b[i + 2] == ' ') return 3;
  if (r >= 4 && c0 == 0xF0) {
    if (b[i + 1] == ' ' && CONT(b[i + 2]) && CONT(b[i + 3])) return 4;
    if (CONT(b[i + 1]) && b[i + 2] == ' ' && CONT(b[i + 3])) return 4;
    if (CONT(b[i + 1]) && CONT(b[i + 2]) && b[i + 3] == ' ') return 4;
  }
  return 0;
#undef CONT_NO_85_A0
#undef CONT
}

/* fixes.restore_byte_a0: "\xc3 " that is not the word "à" gets its 0xA0
 * back, then ALTERED_UTF8_RE matches get their spaces turned into 0xA0.
 * Writes to out (capacity 2n). Returns the new length. */
static size_t restore_byte_a0(const uint8_t *b, size_t n, uint8_t *out, uint8_t *tmp) {
  static const char *const keep[] = {" ", "quele", "quela", "quilo", "s "};
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    tmp[m++] = b[i];
    if (b[i] == 0xC3 && i + 1 < n && b[i + 1] == ' ') {
      int word = 0;
      for (int k = 0; k < 5 && !word; k++) {
        size_t l = strlen(keep[k]);
        word = i + 2 + l <= n && memcmp(b + i + 2, keep[k], l) == 0;
      }
      if (!word) {
        tmp[m++] = 0xA0;
        tmp[m++] = ' ';
        i++;
      }
    }
  }
  size_t o = 0;
  for (size_t i = 0; i < m;) {
    size_t l = altered_at(tmp, m, i);
    if (l) {
      for (size_t k = 0; k < l; k++) out[o++] = tmp[i + k] == ' ' ? 0xA0 : tmp[i + k];
      i += l;
    } else {
      out[o++] = tmp[i++];
    }
  }
  return o;
}

/* chardata.LOSSY_UTF8_RE at b[i]: the match length, or 0. */
static size_t lossy_at(const uint8_t *b, size_t n, size_t i) {
#define SUBQ(x) ((x) == 0x1A || (x) == '?')
#define SUBC(x) ((x) == 0x1A || ((x) >= 0x80 && (x) <= 0xBF))
#define ANY(x) (SUBQ(x) || ((x) >= 0x80 && (x) <= 0xBF))
  size_t r = n - i;
  uint8_t c = b[i];
  if (r >= 2 && c >= 0xC2 && c <= 0xDF && b[i + 1] == 0x1A) return 2;
  if (r >= 2 && (c == 0xC2 || c == 0xC3) && b[i + 1] == '?') return 2;
  if (r >= 6 && c == 0xED && b[i + 1] >= 0xA0 && b[i + 1] <= 0xAF && b[i + 3] == 0xED && b[i + 4] >= 0xB0 &&
      b[i + 4] <= 0xBF) {
    if (SUBQ(b[i + 2]) && ANY(b[i + 5])) return 6;
    if (ANY(b[i + 2]) && SUBQ(b[i + 5])) return 6;
  }
  if (r >= 3 && c >= 0xE0 && c <= 0xEF) {
    if (SUBQ(b[i + 1]) && SUBC(b[i + 2])) return 3;
    if (SUBC(b[i + 1]) && SUBQ(b[i + 2])) return 3;
  }
  if (r >= 4 && c >= 0xF0 && c <= 0xF4) {
    if (SUBQ(b[i + 1]) && SUBC(b[i + 2]) && SUBC(b[i + 3])) return 4;
    if (SUBC(b[i + 1]) && SUBQ(b[i + 2]) && SUBC(b[i + 3])) return 4;
    if (SUBC(b[i + 1]) && SUBC(b[i + 2]) && SUBQ(b[i + 3])) return 4;
  }
  if (c == 0x1A) return 1;
  return 0;
#undef SUBQ
#undef SUBC
#undef ANY
}

/* ==== fix_encoding ==== */

static int fix_encoding(dlut_tok_str *s, int depth);

/* chardata.UTF8_DETECTOR_RE at t[i]: the match length, or 0. */
static size_t detector_at(const uint32_t *t, size_t n, size_t i) {
  if (i > 0 && HAS(t[i - 1], DLUT_TOK_FC_CONT_STRICT)) return 0; /* (?<! [utf8_continuation_strict]) */
  size_t j = i;
  for (;;) {
    if (j + 2 <= n && HAS(t[j], DLUT_TOK_FC_FIRST2) && HAS(t[j + 1], DLUT_TOK_FC_CONT)) {
      j += 2;
    } else if (j + 3 <= n && HAS(t[j], DLUT_TOK_FC_FIRST3) && HAS(t[j + 1], DLUT_TOK_FC_CONT) &&
               HAS(t[j + 2], DLUT_TOK_FC_CONT)) {
      j += 3;
    } else if (j + 4 <= n && HAS(t[j], DLUT_TOK_FC_FIRST4) && HAS(t[j + 1], DLUT_TOK_FC_CONT) &&
               HAS(t[j + 2], DLUT_TOK_FC_CONT) && HAS(t[j + 3], DLUT_TOK_FC_CONT)) {
      j += 4;
    } else {
      break;
    }
  }
  return j - i;
}

/* fixes.decode_inconsistent_utf8: fix each detected UTF-8-looking run that is
 * shorter than the text and is_bad, with fix_encoding. out receives the text. */
static int decode_inconsistent_utf8(const dlut_tok_str *s, dlut_tok_str *out, int depth) {
  dlut_tok_str sub = {0};
  out->n = 0;
  for (size_t i = 0; i < s->n;) {
    size_t l = detector_at(s->cp, s->n, i);
    if (l == 0) {
      if (dlut_tok_str_push(out, s->cp[i]) != 0) goto fail;
      i++;
      continue;
    }
    sub.n = 0;
    if (dlut_tok_str_append(&sub, s->cp + i, l) != 0) goto fail;
    if (l < s->n && dlut_tok_ftfy_is_bad(sub.cp, sub.n) && fix_encoding(&sub, depth + 1) != 0) goto fail;
    if (dlut_tok_str_append(out, sub.cp, sub.n) != 0) goto fail;
    i += l;
  }
  dlut_tok_str_free(&sub);
  return 0;
fail:
  dlut_tok_str_free(&sub);
  return -1;
}

/* ftfy _fix_encoding_one_step_and_explain. Sets *changed. */
static int fix_encoding_step(dlut_tok_str *s, int depth, int *changed) {
  *changed = 0;
  if (s->n == 0) return 0;
  int ascii = 1;
  for (size_t i = 0; i < s->n; i++) ascii &= s->cp[i] < 0x80;
  if (ascii || !dlut_tok_ftfy_is_bad(s->cp, s->n)) return 0;
  int rc = -1, latin1_possible = 0;
  uint8_t *bytes = malloc(s->n * 6 + 8);
  dlut_tok_str out = {0};
  if (!bytes) return -1;
  uint8_t *b2 = bytes + s->n, *b3 = bytes + s->n * 3 + 4; /* 2n + 4 bytes each */
  for (int e = 0; e < DLUT_TOK_FTFY_NCHARMAPS; e++) {
    const dlut_tok_charmap *m = &dlut_tok_ftfy_charmaps[e];
    int ok = 1;
    for (size_t i = 0; i < s->n && ok; i++) {
      int b = cm_byte(m, s->cp[i]);
      ok = b >= 0;
      bytes[i] = (uint8_t)b;
    }
    if (!ok) continue;
    if (e == 0) latin1_possible = 1;
    const uint8_t *enc = bytes;
    size_t len = s->n;
    int altered = 0;
    for (size_t i = 0; i < len && !altered && !m->macroman; i++) altered = altered_at(enc, len, i) != 0;
    if (altered) {
      /* restore_byte_a0 writes at most 2n bytes into b2 (b3 is its scratch) */
      len = restore_byte_a0(enc, len, b2, b3);
      enc = b2;
    }
    if (m->sloppy) {
      /* replace_lossy_sequences: matches become EF BF BD (never longer than 3x) */
      uint8_t *dst = enc == b2 ? b3 : b2;
      size_t o = 0;
      uint8_t *big = NULL;
      if (len * 3 > s->n * 2 + 4) {
        big = malloc(len * 3 + 1);
        if (!big) goto fail;
        dst = big;
      }
      for (size_t i = 0; i < len;) {
        size_t l = lossy_at(enc, len, i);
        if (l) {
          dst[o++] = 0xEF, dst[o++] = 0xBF, dst[o++] = 0xBD;
          i += l;
        } else {
          dst[o++] = enc[i++];
        }
      }
      int variants = memchr(dst, 0xED, o) != NULL || memchr(dst, 0xC0, o) != NULL;
      int r = utf8_decode_strict(dst, o, variants, &out);
      free(big);
      if (r < 0) goto fail;
      if (r == 1) goto fixed;
    } else {
      int variants = memchr(enc, 0xED, len) != NULL || memchr(enc, 0xC0, len) != NULL;
      int r = utf8_decode_strict(enc, len, variants, &out);
      if (r < 0) goto fail;
      if (r == 1) goto fixed;
    }
  }
  /* "Look for a-hat-euro sequences that remain, and fix them in isolation." */
  int found = 0;
  for (size_t i = 0; i < s->n && !found; i++) found = detector_at(s->cp, s->n, i) != 0;
  if (found && depth < 8) {
    if (decode_inconsistent_utf8(s, &out, depth) != 0) goto fail;
    if (!dlut_tok_str_eq(&out, s)) goto fixed;
  }
  /* Latin-1 that was meant as Windows-1252. (ftfy tests for "windows-1252" in
   * a list that only ever holds "sloppy-windows-1252", so this always runs.) */
  if (latin1_possible) {
    int ok = 1, differs = 0;
    out.n = 0;
    if (dlut_tok_str_reserve(&out, s->n) != 0) goto fail;
    for (size_t i = 0; i < s->n && ok; i++) {
      uint32_t c = s->cp[i];
      if (c >= 0x80 && c <= 0x9F) {
        uint32_t d = dlut_tok_cp1252_c1[c - 0x80];
        ok = d != c; /* undefined in strict windows-1252: UnicodeDecodeError */
        differs |= d != c;
        c = d;
      }
      out.cp[out.n++] = c;
    }
    if (ok && differs) goto fixed;
  }
  /* fix_c1_controls */
  int c1 = 0;
  for (size_t i = 0; i < s->n; i++) c1 |= s->cp[i] >= 0x80 && s->cp[i] <= 0x9F;
  if (c1) {
    for (size_t i = 0; i < s->n; i++)
      if (s->cp[i] >= 0x80 && s->cp[i] <= 0x9F) s->cp[i] = cp1252_char(s->cp[i]);
    *changed = 1;
  }
  rc = 0;
  goto done;
fixed:
  dlut_tok_str_swap(s, &out);
  *changed = 1;
  rc = 0;
  goto done;
fail:
  rc = -1;
done:
  free(bytes);
  dlut_tok_str_free(&out);
  return rc;
}

/* ftfy fix_encoding: one step at a time until the text stops changing. */
static int fix_encoding(dlut_tok_str *s, int depth) {
  for (int round = 0; round < FTFY_MAX_ROUNDS; round++) {
    int changed;
    if (fix_encoding_step(s, depth, &changed) != 0) return -1;
    if (!changed) break;
  }
  return 0;
}

/* ==== The character fixers ==== */

/* fixes.fix_latin_ligatures: chardata.LIGATURES. */
static const char *ligature(uint32_t c) {
  switch (c) {
    case 0x132:
      return "IJ";
    case 0x133:
      return "ij";
    case 0x149:
      return "\xca\xbcn"; /* U+02BC n */
    case 0x1F1:
      return "DZ";
    case 0x1F2:
      return "Dz";
    case 0x1F3:
      return "dz";
    case 0x1C4:
      return "D\xc5\xbd"; /* D U+017D */
    case 0x1C5:
      return "D\xc5\xbe"; /* D U+017E */
    case 0x1C6:
      return "d\xc5\xbe"; /* d U+017E */
    case 0x1C7:
      return "LJ";
    case 0x1C8:
      return "Lj";
    case 0x1C9:
      return "lj";
    case 0x1CA:
      return "NJ";
    case 0x1CB:
      return "Nj";
    case 0x1CC:
      return "nj";
    case 0xFB00:
      return "ff";
    case 0xFB01:
      return "fi";
    case 0xFB02:
      return "fl";
    case 0xFB03:
      return "ffi";
    case 0xFB04:
      return "ffl";
    case 0xFB05:
      return "\xc5\xbft"; /* U+017F t */
    case 0xFB06:
      return "st";
    default:
      return NULL;
  }
}

/* fixes.remove_control_chars: chardata.CONTROL_CHARS. */
static int is_removed_control(uint32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* One pass of the character-level fixers, in ftfy's order, from in to out. */
static int fix_chars(const dlut_tok_str *in, dlut_tok_str *out) {
  dlut_tok_str a = {0}, b = {0}, one = {0};
  int rc = -1;
  /* fix_c1_controls, then fix_latin_ligatures (both whole-string passes in ftfy). */
  if (dlut_tok_str_reserve(&b, in->n) != 0) goto fail;
  for (size_t i = 0; i < in->n; i++) {
    uint32_t c = in->cp[i];
    if (c >= 0x80 && c <= 0x9F) c = cp1252_char(c);
    const char *lig = ligature(c);
    if (lig ? dlut_tok_str_append_utf8(&b, lig) != 0 : dlut_tok_str_push(&b, c) != 0) goto fail;
  }
  /* fix_character_width, then uncurl_quotes (per character, in that order). */
  if (dlut_tok_str_reserve(&a, b.n) != 0) goto fail;
  for (size_t i = 0; i < b.n; i++) {
    uint32_t c = b.cp[i];
    one.n = 0;
    if (c == 0x3000) {
      c = ' ';
    } else if (c >= 0xFF01 && c <= 0xFFEF) {
      /* chardata.WIDTH_MAP: NFKC of the half/full-width forms. */
      if (dlut_tok_str_push(&one, c) != 0 || dlut_tok_normalize(&one, DLUT_TOK_NFKC) != 0) goto fail;
    }
    if (one.n == 0 && dlut_tok_str_push(&one, c) != 0) goto fail;
    for (size_t k = 0; k < one.n; k++) {
      uint32_t d = one.cp[k];
      if (d == 0x2BC || (d >= 0x2018 && d <= 0x201B))
        d = '\'';
      else if (d >= 0x201C && d <= 0x201F)
        d = '"';
      if (dlut_tok_str_push(&a, d) != 0) goto fail;
    }
  }
  b.n = 0;
  /* fix_line_breaks: "\r\n" -> "\n", then \r, U+2028, U+2029, U+0085 -> "\n". */
  if (dlut_tok_str_reserve(&b, a.n) != 0) goto fail;
  for (size_t i = 0; i < a.n; i++) {
    uint32_t c = a.cp[i];
    if (c == '\r' && i + 1 < a.n && a.cp[i + 1] == '\n') continue;
    if (c == '\r' || c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
    b.cp[b.n++] = c;
  }
  /* remove_terminal_escapes: "\033\[((?:\d|;)*)([a-zA-Z])"; remove_control_chars. */
  out->n = 0;
  if (dlut_tok_str_reserve(out, b.n) != 0) goto fail;
  for (size_t i = 0; i < b.n; i++) {
    if (b.cp[i] == 0x1B && i + 1 < b.n && b.cp[i + 1] == '[') {
      size_t k = i + 2;
      while (k < b.n && (b.cp[k] == ';' || dlut_tok_is_nd(b.cp[k]))) k++;
      if (k < b.n && ((b.cp[k] | 32) >= 'a' && (b.cp[k] | 32) <= 'z')) {
        i = k;
        continue;
      }
    }
    if (!is_removed_control(b.cp[i])) out->cp[out->n++] = b.cp[i];
  }
  rc = 0;
fail:
  dlut_tok_str_free(&a);
  dlut_tok_str_free(&b);
  dlut_tok_str_free(&one);
  return rc;
}

/* ftfy fix_and_explain for one segment, until it stops changing. */
static int fix_segment(dlut_tok_str *s, int unescape) {
  dlut_tok_str orig = {0}, tmp = {0};
  int rc = -1;
  for (int round = 0; round < FTFY_MAX_ROUNDS; round++) {
    orig.n = 0;
    if (dlut_tok_str_append(&orig, s->cp, s->n) != 0) goto fail;
    if (unescape) {
      tmp.n = 0;
      if (dlut_tok_ftfy_unescape_html(s->cp, s->n, &tmp) != 0) goto fail;
      dlut_tok_str_swap(s, &tmp);
    }
    if (fix_encoding(s, 0) != 0) goto fail;
    if (fix_chars(s, &tmp) != 0) goto fail;
    dlut_tok_str_swap(s, &tmp);
    if (dlut_tok_normalize(s, DLUT_TOK_NFC) != 0) goto fail;
    if (dlut_tok_str_eq(s, &orig)) break;
  }
  rc = 0;
fail:
  dlut_tok_str_free(&orig);
  dlut_tok_str_free(&tmp);
  return rc;
}

int dlut_tok_ftfy_fix_text(dlut_tok_str *s) {
  dlut_tok_str out = {0}, seg = {0};
  int rc = -1, unescape = 1;
  size_t pos = 0;
  while (pos < s->n) {
    size_t brk = pos;
    while (brk < s->n && s->cp[brk] != '\n') brk++;
    brk = brk < s->n ? brk + 1 : s->n;
    if (brk - pos > FTFY_MAX_DECODE_LENGTH) brk = pos + FTFY_MAX_DECODE_LENGTH;
    seg.n = 0;
    if (dlut_tok_str_append(&seg, s->cp + pos, brk - pos) != 0) goto fail;
    if (unescape)
      for (size_t i = 0; i < seg.n; i++)
        if (seg.cp[i] == '<') unescape = 0; /* "auto": off from here on */
    if (fix_segment(&seg, unescape) != 0) goto fail;
    if (dlut_tok_str_append(&out, seg.cp, seg.n) != 0) goto fail;
    pos = brk;
  }
  dlut_tok_str_swap(s, &out);
  rc = 0;
fail:
  dlut_tok_str_free(&out);
  dlut_tok_str_free(&seg);
  return rc;
}
