/* src/clip/wordpiece.c - Chinese-CLIP's BERT WordPiece tokenizer.
 *
 * A C port of OFA-Sys/Chinese-CLIP cn_clip/clip/bert_tokenizer.py (commit
 * 31863c7; Google BERT's tokenization.py) with do_lower_case=True:
 *   BasicTokenizer: _clean_text (drop U+0000, U+FFFD and control characters,
 *   whitespace -> ' '), _tokenize_chinese_chars (spaces around CJK
 *   ideographs), whitespace_tokenize, then per token lower() + NFD with the
 *   Mn marks dropped (_run_strip_accents) and _run_split_on_punc;
 *   WordpieceTokenizer: greedy longest-match-first with "##" continuations,
 *   [UNK] for a word longer than 200 characters or with no segmentation.
 * Vocabulary: vocab.txt, one token per line, id = line number, each line
 * stripped of whitespace (load_vocab; a later duplicate wins).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/file.h"

#define WP_MAX_CHARS_PER_WORD 200 /* WordpieceTokenizer.max_input_chars_per_word */

/* ==== Loading ==== */

int dlut_tok_wordpiece_load(dlut_tokenizer *tk, const char *path) {
  char buf[4096];
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
    snprintf(buf, sizeof buf, "%s/vocab.txt", path);
    path = buf;
  }
  size_t size = 0;
  char *text = dlut_file_read_all(path, DLUT_TOK_MAX_FILE_BYTES, &size);
  if (!text) return -1; /* the message names the file */
  int rc = -1;
  dlut_tok_str line = {0};
  int32_t id = 0;
  size_t i = 0;
  while (i < size) {
    /* Python's text-mode readline: lines end at \n, \r\n or \r. */
    size_t e = i;
    while (e < size && text[e] != '\n' && text[e] != '\r') e++;
    size_t next = e < size ? e + 1 : e;
    if (e < size && text[e] == '\r' && e + 1 < size && text[e + 1] == '\n') next = e + 2;
    if (id >= DLUT_TOK_MAX_VOCAB) {
      dlut_error("%s: more than %d tokens", path, DLUT_TOK_MAX_VOCAB);
      goto fail;
    }
    /* token.strip(): Python whitespace, so decode first. */
    line.n = 0;
    if (dlut_tok_utf8_decode(text + i, e - i, &line) != 0) goto fail;
    size_t b = 0, z = line.n;
    while (b < z && dlut_tok_py_isspace(line.cp[b])) b++;
    while (z > b && dlut_tok_py_isspace(line.cp[z - 1])) z--;
    char *tok = malloc((z - b) * 4 + 1);
    if (!tok) {
      dlut_error("tokenizer: out of memory");
      goto fail;
    }
    size_t tl = 0;
    for (size_t k = b; k < z; k++) tl += (size_t)dlut_tok_utf8_put(line.cp[k], tok + tl);
    int r = dlut_tok_map_put(&tk->vocab, tok, tl, id++);
    free(tok);
    if (r != 0) goto fail;
    i = next;
  }
  tk->vocab_size = id;
  tk->start_id = dlut_tok_map_get(&tk->vocab, "[CLS]", 5);
  tk->end_id = dlut_tok_map_get(&tk->vocab, "[SEP]", 5);
  tk->unk_id = dlut_tok_map_get(&tk->vocab, "[UNK]", 5);
  tk->pad_id = 0; /* cn_clip tokenize() pads with zeros ([PAD] is id 0 in vocab.txt) */
  if (tk->start_id < 0 || tk->end_id < 0 || tk->unk_id < 0) {
    dlut_error("%s: the vocabulary lacks [CLS], [SEP] or [UNK]", path);
    goto fail;
  }
  rc = 0;
fail:
  dlut_tok_str_free(&line);
  free(text);
  return rc;
}

/* ==== Basic tokenizer ==== */

/* BERT _is_chinese_char: the CJK Unified Ideographs blocks and extensions. */
static int is_chinese_char(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BERT _is_punctuation: all non-letter/number ASCII, plus Unicode P*. */
static int is_bert_punct(uint32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
  return dlut_tok_is_punct(c);
}

/* _clean_text + _tokenize_chinese_chars. */
static int clean_text(const dlut_tok_str *in, dlut_tok_str *out) {
  for (size_t i = 0; i < in->n; i++) {
    uint32_t c = in->cp[i];
    int ws = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (c == 0 || c == 0xFFFD || (!ws && dlut_tok_is_cc_cf(c))) continue;
    if (ws || dlut_tok_is_zs(c)) c = ' ';
    if (is_chinese_char(c)) {
      if (dlut_tok_str_push(out, ' ') != 0 || dlut_tok_str_push(out, c) != 0 || dlut_tok_str_push(out, ' ') != 0)
        return -1;
    } else if (dlut_tok_str_push(out, c) != 0) {
      return -1;
    }
  }
  return 0;
}

/* ==== WordPiece ==== */

typedef struct wp_ctx {
  const dlut_tokenizer *tk;
  int32_t *ids; /* output */
  int n, max;   /* written, capacity */
  char *key;    /* scratch: "##" + UTF-8 of one word */
  size_t *off;  /* scratch: byte offset of each character */
} wp_ctx;

/* WordpieceTokenizer.tokenize for one word w[0..n) (no whitespace inside). */
static void wordpiece(wp_ctx *c, const uint32_t *w, size_t n) {
  const dlut_tokenizer *tk = c->tk;
  if (n > WP_MAX_CHARS_PER_WORD) {
    c->ids[c->n++] = tk->unk_id;
    return;
  }
  /* key = "##" + utf8(word); off[k] = offset of character k in key. */
  size_t len = 2;
  c->key[0] = c->key[1] = '#';
  for (size_t k = 0; k < n; k++) {
    c->off[k] = len;
    len += (size_t)dlut_tok_utf8_put(w[k], c->key + len);
  }
  c->off[n] = len;
  int first = c->n;
  size_t start = 0;
  while (start < n) {
    size_t end = n;
    int32_t cur = -1;
    while (start < end) {
      /* substr = chars[start:end], "##"-prefixed unless at the start */
      size_t b = start > 0 ? c->off[start] - 2 : c->off[0];
      size_t blen = c->off[end] - b;
      if (blen <= tk->vocab.max_key_len) {
        char saved[2] = {0, 0};
        if (start > 0) { /* put "##" right before the substring */
          saved[0] = c->key[b];
          saved[1] = c->key[b + 1];
          c->key[b] = c->key[b + 1] = '#';
        }
        cur = dlut_tok_map_get(&tk->vocab, c->key + b, blen);
        if (start > 0) {
          c->key[b] = saved[0];
          c->key[b + 1] = saved[1];
        }
        if (cur >= 0) break;
      }
      end--;
    }
    if (cur < 0) {
      c->n = first; /* is_bad: the whole word is [UNK] */
      c->ids[c->n++] = tk->unk_id;
      return;
    }
    if (c->n < c->max) c->ids[c->n++] = cur;
    start = end;
  }
}

int dlut_tok_wordpiece_encode_body(const dlut_tokenizer *tk, const char *text, size_t len, int32_t *ids, int max) {
  dlut_tok_str s = {0}, t = {0}, tok = {0};
  wp_ctx c = {tk, ids, 0, max, NULL, NULL};
  int rc = -1;
  if (max <= 0) return 0;
  c.key = malloc(WP_MAX_CHARS_PER_WORD * 4 + 8);
  c.off = malloc((WP_MAX_CHARS_PER_WORD + 1) * sizeof *c.off);
  if (!c.key || !c.off) {
    dlut_error("tokenizer: out of memory");
    goto fail;
  }
  if (dlut_tok_utf8_decode(text, len, &s) != 0 || clean_text(&s, &t) != 0) goto fail;
  /* whitespace_tokenize, then per token: lower, strip accents, split on punctuation. */
  for (size_t i = 0; i < t.n && c.n < max;) {
    if (dlut_tok_py_isspace(t.cp[i])) {
      i++;
      continue;
    }
    size_t e = i;
    while (e < t.n && !dlut_tok_py_isspace(t.cp[e])) e++;
    tok.n = 0;
    if (dlut_tok_py_lower(t.cp + i, e - i, &tok) != 0 || dlut_tok_normalize(&tok, DLUT_TOK_NFD) != 0) goto fail;
    size_t k = 0;
    for (size_t q = 0; q < tok.n; q++)
      if (!dlut_tok_is_mark_mn(tok.cp[q])) tok.cp[k++] = tok.cp[q];
    tok.n = k;
    /* _run_split_on_punc; each piece is re-split on whitespace (the final
     * whitespace_tokenize(" ".join(split_tokens))). */
    for (size_t p = 0; p < tok.n && c.n < max;) {
      size_t q = p + 1;
      if (!is_bert_punct(tok.cp[p]))
        while (q < tok.n && !is_bert_punct(tok.cp[q])) q++;
      for (size_t a = p; a < q && c.n < max;) {
        if (dlut_tok_py_isspace(tok.cp[a])) {
          a++;
          continue;
        }
        size_t z = a;
        while (z < q && !dlut_tok_py_isspace(tok.cp[z])) z++;
        wordpiece(&c, tok.cp + a, z - a);
        a = z;
      }
      p = q;
    }
    i = e;
  }
  rc = c.n;
fail:
  dlut_tok_str_free(&s);
  dlut_tok_str_free(&t);
  dlut_tok_str_free(&tok);
  free(c.key);
  free(c.off);
  return rc;
}
