/* src/clip/tokenizer_ftfy.c - the part of ftfy.fix_text that CLIP prompts need.
 *
 * openai/CLIP's simple_tokenizer.basic_clean starts with ftfy.fix_text(text)
 * (ftfy 6.3.1 made the reference ids). ftfy is a large heuristic library; this
 * file reproduces its default pipeline (ftfy/__init__.py fix_text and
 * fix_and_explain, ftfy/fixes.py) step for step, exactly, except the
 * mojibake detector, which is simplified (see fix_encoding below and
 * docs/tokenizers.md):
 *
 *   per line (ftfy splits at '\n'; unescape_html="auto" turns itself off for
 *   the rest of the text at the first line containing '<'), repeated until the
 *   line stops changing:
 *     unescape_html, fix_encoding, fix_c1_controls, fix_latin_ligatures,
 *     fix_character_width, uncurl_quotes, fix_line_breaks, (fix_surrogates: a
 *     decoded UTF-8 string has none), remove_terminal_escapes,
 *     remove_control_chars, NFC.
 */
#include <stdlib.h>
#include <string.h>

#include "clip/tokenizer_internal.h"

#define FTFY_MAX_DECODE_LENGTH 1000000 /* ftfy TextFixerConfig.max_decode_length */
#define FTFY_MAX_ROUNDS 32             /* ftfy loops until stable; each round shrinks or fixes */

/* ==== fix_encoding (simplified) ==== */

/* The code point cp1252 byte b (0x80..0xff) decodes to (sloppy: undefined
 * bytes give the C1 control of the same value). */
static uint32_t cp1252_char(uint32_t b) { return b < 0xA0 ? dlut_tok_cp1252_c1[b - 0x80] : b; }

/* Byte that encodes c in sloppy-windows-1252, or -1. */
static int cp1252_byte(uint32_t c) {
  if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) return (int)c;
  for (int b = 0x80; b < 0xA0; b++)
    if (dlut_tok_cp1252_c1[b - 0x80] == c) return b;
  return -1;
}

/* Stand-in for ftfy.badness.is_bad: a character that is a UTF-8 lead byte
 * when read as Latin-1 (U+00C2..U+00F4) followed by one that is a UTF-8
 * continuation byte in Latin-1 or Windows-1252 - the signature of UTF-8
 * decoded as a single-byte encoding ("cafÃ©", "â€™"). */
static int looks_bad(const uint32_t *cp, size_t n) {
  for (size_t i = 0; i + 1 < n; i++) {
    if (cp[i] < 0xC2 || cp[i] > 0xF4) continue;
    int b = cp1252_byte(cp[i + 1]);
    if (b >= 0x80 && b <= 0xBF) return 1;
  }
  return 0;
}

/* Re-encode with the single-byte encoding (latin1 = 1: Latin-1, else
 * sloppy-windows-1252) and decode as UTF-8; 1 and the result in out if
 * every character is encodable and the bytes are valid UTF-8. */
static int try_redecode(const uint32_t *cp, size_t n, int latin1, dlut_tok_str *out) {
  uint8_t *bytes = malloc(n ? n : 1);
  if (!bytes) return -1;
  int ok = 1;
  for (size_t i = 0; i < n && ok; i++) {
    int b = latin1 ? (cp[i] <= 0xFF ? (int)cp[i] : -1) : cp1252_byte(cp[i]);
    if (b < 0) ok = 0;
    bytes[i] = (uint8_t)b;
  }
  if (ok) ok = dlut_tok_utf8_valid(bytes, n);
  if (ok) {
    out->n = 0;
    if (dlut_tok_utf8_decode((const char *)bytes, n, out) != 0) ok = -1;
  }
  free(bytes);
  return ok;
}

/* ftfy fix_encoding: while the text looks like mojibake and re-encoding it
 * as Latin-1 or Windows-1252 gives valid UTF-8, decode that. (ftfy also
 * tries Windows-1250/1251/1253/1254/1257, ISO-8859-2, MacRoman and cp437,
 * restores 0xA0 bytes turned into spaces, and decodes inconsistent mixed
 * mojibake; those are not reproduced.) */
static int fix_encoding(dlut_tok_str *s) {
  dlut_tok_str tmp = {0};
  for (int round = 0; round < FTFY_MAX_ROUNDS; round++) {
    int ascii = 1;
    for (size_t i = 0; i < s->n; i++) ascii &= s->cp[i] < 0x80;
    if (ascii || !looks_bad(s->cp, s->n)) break;
    int r = try_redecode(s->cp, s->n, 1, &tmp);
    if (r == 0) r = try_redecode(s->cp, s->n, 0, &tmp);
    if (r < 0) {
      dlut_tok_str_free(&tmp);
      return -1;
    }
    if (r == 0) break;
    dlut_tok_str_swap(s, &tmp);
  }
  dlut_tok_str_free(&tmp);
  return 0;
}

/* ==== The character fixers ==== */

/* fixes.fix_latin_ligatures: chardata.LIGATURES. */
static const char *ligature(uint32_t c) {
  switch (c) {
    case 0x132: return "IJ";
    case 0x133: return "ij";
    case 0x149: return "\xca\xbcn"; /* U+02BC n */
    case 0x1F1: return "DZ";
    case 0x1F2: return "Dz";
    case 0x1F3: return "dz";
    case 0x1C4: return "D\xc5\xbd"; /* D U+017D */
    case 0x1C5: return "D\xc5\xbe"; /* D U+017E */
    case 0x1C6: return "d\xc5\xbe"; /* d U+017E */
    case 0x1C7: return "LJ";
    case 0x1C8: return "Lj";
    case 0x1C9: return "lj";
    case 0x1CA: return "NJ";
    case 0x1CB: return "Nj";
    case 0x1CC: return "nj";
    case 0xFB00: return "ff";
    case 0xFB01: return "fi";
    case 0xFB02: return "fl";
    case 0xFB03: return "ffi";
    case 0xFB04: return "ffl";
    case 0xFB05: return "\xc5\xbft"; /* U+017F t */
    case 0xFB06: return "st";
    default: return NULL;
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
      if (d == 0x2BC || (d >= 0x2018 && d <= 0x201B)) d = '\'';
      else if (d >= 0x201C && d <= 0x201F) d = '"';
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
    if (fix_encoding(s) != 0) goto fail;
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
