/* src/clip/tokenizer_internal.h - what the tokenizer files share (private).
 *
 * Text is processed as arrays of Unicode code points (dlut_tok_str), which is
 * how the upstream Python code sees it (a Python str), so each upstream
 * string operation (str.lower, str.strip, re.sub, unicodedata.normalize)
 * has a direct counterpart here. The public API is include/dlut/tokenizer.h;
 * the tests include this header to check intermediate stages (cleaned text,
 * pre-tokens) against the upstream reference.
 */
#ifndef DLUT_CLIP_TOKENIZER_INTERNAL_H
#define DLUT_CLIP_TOKENIZER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dlut/tokenizer.h"

/* ==== Limits (hostile input) ==== */

#define DLUT_TOK_MAX_TEXT_BYTES (256u << 10) /* longest input text accepted (256 KiB) */
#define DLUT_TOK_MAX_FILE_BYTES (64u << 20)  /* largest vocabulary / merges file (64 MiB) */
#define DLUT_TOK_MAX_VOCAB 1000000           /* most entries in a vocabulary */
#define DLUT_TOK_MAX_CONTEXT 65536           /* largest context_length */

/* ==== Code point strings ==== */

typedef struct dlut_tok_str {
  uint32_t *cp; /* code points (never surrogates, all <= 0x10FFFF) */
  size_t n;     /* count */
  size_t cap;   /* allocated entries */
} dlut_tok_str;

int dlut_tok_str_reserve(dlut_tok_str *s, size_t cap); /* 0 or -1 (out of memory) */
int dlut_tok_str_push(dlut_tok_str *s, uint32_t c);
int dlut_tok_str_append(dlut_tok_str *s, const uint32_t *cp, size_t n);
int dlut_tok_str_append_utf8(dlut_tok_str *s, const char *utf8); /* valid UTF-8 only (tables) */
void dlut_tok_str_swap(dlut_tok_str *a, dlut_tok_str *b);
void dlut_tok_str_free(dlut_tok_str *s);
int dlut_tok_str_eq(const dlut_tok_str *a, const dlut_tok_str *b);

/* ==== unicode.c: Python-compatible character classes and operations ==== */

/* Decode UTF-8 the way Python's bytes.decode("utf-8", "replace") does:
 * each maximal invalid subpart becomes one U+FFFD. Appends to out. */
int dlut_tok_utf8_decode(const char *s, size_t len, dlut_tok_str *out);
/* 1 if s[0..len) is strictly valid UTF-8 (what Python decodes without error). */
int dlut_tok_utf8_valid(const uint8_t *s, size_t len);
/* Encode one code point; returns the byte count (1..4). */
int dlut_tok_utf8_put(uint32_t c, char out[4]);

int dlut_tok_py_isspace(uint32_t c); /* Python str.isspace() (str.strip/split) */
int dlut_tok_re_isspace(uint32_t c); /* \s of the `regex` module: Unicode White_Space */
int dlut_tok_is_letter(uint32_t c);  /* \p{L} */
int dlut_tok_is_number(uint32_t c);  /* \p{N} */
int dlut_tok_is_mark_mn(uint32_t c); /* category Mn */
int dlut_tok_is_punct(uint32_t c);   /* category P* */
int dlut_tok_is_cc_cf(uint32_t c);   /* category Cc or Cf */
int dlut_tok_is_zs(uint32_t c);      /* category Zs */
int dlut_tok_is_nd(uint32_t c);      /* category Nd (Python's \d) */

/* Python str.lower() of cp[0..n), appended to out: full lower-casing
 * (U+0130 -> "i\u0307") with the Final_Sigma rule. */
int dlut_tok_py_lower(const uint32_t *cp, size_t n, dlut_tok_str *out);

/* unicodedata.normalize(form, s) in place. */
typedef enum { DLUT_TOK_NFC, DLUT_TOK_NFD, DLUT_TOK_NFKC } dlut_tok_nf;
int dlut_tok_normalize(dlut_tok_str *s, dlut_tok_nf form);

/* ==== tokenizer_html.c: html.unescape and ftfy's entity fixer ==== */

/* Python's html.unescape(s) (3.11), appended to out. */
int dlut_tok_html_unescape(const uint32_t *cp, size_t n, dlut_tok_str *out);
/* ftfy.fixes.unescape_html (6.3.1): only complete "&name;" / "&#num;"
 * references, including accidentally upper-cased names. Appended to out. */
int dlut_tok_ftfy_unescape_html(const uint32_t *cp, size_t n, dlut_tok_str *out);

/* ==== tokenizer_ftfy.c: the subset of ftfy.fix_text that CLIP prompts need ==== */

/* ftfy.fix_text(s) with the default config, in place (see docs/tokenizers.md
 * for what is reproduced). */
int dlut_tok_ftfy_fix_text(dlut_tok_str *s);

/* ==== Generated tables (tokenizer_tables.c) ==== */

typedef struct dlut_tok_entity {
  const char *name;  /* without the '&', with the ';' where the name has one */
  const char *value; /* UTF-8 */
} dlut_tok_entity;
typedef struct dlut_tok_charref {
  uint32_t from, to;
} dlut_tok_charref;

extern const dlut_tok_entity dlut_tok_html5_entities[]; /* sorted by name (bytes) */
extern const int dlut_tok_html5_entity_count;
extern const dlut_tok_entity dlut_tok_ftfy_upper_entities[]; /* sorted by name */
extern const int dlut_tok_ftfy_upper_entity_count;
extern const dlut_tok_charref dlut_tok_invalid_charrefs[]; /* sorted by from */
extern const int dlut_tok_invalid_charref_count;
extern const uint32_t dlut_tok_invalid_codepoints[]; /* sorted */
extern const int dlut_tok_invalid_codepoint_count;
extern const uint32_t dlut_tok_cp1252_c1[32]; /* bytes 0x80..0x9f */

/* A single-byte encoding ftfy tries when repairing mojibake. */
typedef struct dlut_tok_charmap {
  const char *name;      /* Python codec name, as in ftfy's CHARMAP_ENCODINGS */
  int sloppy;            /* 1: ftfy "sloppy-" codec (byte 0x1a <-> U+FFFD, no U+001A) */
  int macroman;          /* 1: MacRoman (restore_byte_a0 is skipped for it) */
  uint32_t map[128];     /* bytes 0x80..0xff -> code points */
  uint32_t rev_cp[128];  /* the same code points, sorted (for encoding) */
  uint8_t rev_byte[128]; /* the byte of rev_cp[i] */
} dlut_tok_charmap;
#define DLUT_TOK_FTFY_NCHARMAPS 10
extern const dlut_tok_charmap dlut_tok_ftfy_charmaps[DLUT_TOK_FTFY_NCHARMAPS];

/* Character classes of ftfy's mojibake heuristics, one bit each. */
enum {
  DLUT_TOK_FC_COMMON = 1 << 0,
  DLUT_TOK_FC_C1 = 1 << 1,
  DLUT_TOK_FC_BAD = 1 << 2,
  DLUT_TOK_FC_LAW = 1 << 3,
  DLUT_TOK_FC_CURRENCY = 1 << 4,
  DLUT_TOK_FC_START = 1 << 5, /* start_punctuation */
  DLUT_TOK_FC_END = 1 << 6,   /* end_punctuation */
  DLUT_TOK_FC_NUMERIC = 1 << 7,
  DLUT_TOK_FC_KAOMOJI = 1 << 8,
  DLUT_TOK_FC_UPPER_ACC = 1 << 9,
  DLUT_TOK_FC_LOWER_ACC = 1 << 10,
  DLUT_TOK_FC_UPPER_COMMON = 1 << 11,
  DLUT_TOK_FC_LOWER_COMMON = 1 << 12,
  DLUT_TOK_FC_BOX = 1 << 13,
  DLUT_TOK_FC_FIRST2 = 1 << 14, /* utf8_first_of_2 */
  DLUT_TOK_FC_FIRST3 = 1 << 15,
  DLUT_TOK_FC_FIRST4 = 1 << 16,
  DLUT_TOK_FC_CONT = 1 << 17,        /* utf8_continuation */
  DLUT_TOK_FC_CONT_STRICT = 1 << 18, /* utf8_continuation_strict */
};
typedef struct dlut_tok_charclass {
  uint32_t cp;   /* code point */
  uint32_t mask; /* DLUT_TOK_FC_* bits */
} dlut_tok_charclass;
extern const dlut_tok_charclass dlut_tok_ftfy_classes[]; /* sorted by cp */
extern const int dlut_tok_ftfy_class_count;

/* ftfy.badness.is_bad: does the text contain a likely mojibake sequence? */
int dlut_tok_ftfy_is_bad(const uint32_t *cp, size_t n);

/* ==== Hash maps ==== */

/* byte string -> int32 id; inserting an existing key overwrites its value
 * (Python dict semantics: the last duplicate wins). */
typedef struct dlut_tok_map {
  char *keys;         /* all key bytes, concatenated */
  size_t keys_len;    /* bytes used in keys */
  size_t keys_cap;    /* bytes allocated in keys */
  uint64_t *entries;  /* per entry: key offset << 24 | key length (keys < 16 MiB) */
  int32_t *values;    /* per entry: value */
  size_t count;       /* entries */
  size_t entries_cap; /* entries allocated */
  int32_t *slots;     /* open addressing table of entry indices, -1 empty */
  size_t nslots;      /* power of two */
  size_t max_key_len; /* longest key, bytes */
} dlut_tok_map;

int dlut_tok_map_put(dlut_tok_map *m, const char *key, size_t len, int32_t value);
int32_t dlut_tok_map_get(const dlut_tok_map *m, const char *key, size_t len); /* -1 if absent */
void dlut_tok_map_free(dlut_tok_map *m);

/* ==== The tokenizer object ==== */

/* One BPE merge: (left id, right id) -> (rank, merged id). */
typedef struct dlut_tok_merge {
  uint64_t key;   /* left << 32 | right; UINT64_MAX empty */
  int32_t rank;   /* position in the merges list (lower merges first) */
  int32_t merged; /* id of left+right */
} dlut_tok_merge;

struct dlut_tokenizer {
  dlut_tokenizer_kind kind; /* BPE or WORDPIECE */
  int context_length;       /* ids incl. specials after truncation */
  dlut_tok_map vocab;       /* token string -> id */
  int32_t vocab_size;       /* 1 + largest id */
  int32_t start_id;         /* <|startoftext|> or [CLS] */
  int32_t end_id;           /* <|endoftext|> or [SEP] */
  int32_t pad_id;           /* 0 for both (upstream tokenize() pads with zeros) */
  int32_t unk_id;           /* [UNK] (WordPiece), -1 for BPE */
  int32_t *id_entry;        /* id -> index of its vocab entry (-1: no token has this id) */
  /* BPE only */
  int32_t byte_id[256];     /* id of bytes_to_unicode(b) */
  int32_t byte_eow_id[256]; /* id of bytes_to_unicode(b) + "</w>" */
  dlut_tok_merge *merges;   /* open-addressing table */
  size_t nmerge_slots;      /* power of two */
  int merges_monotone;      /* 1: every merge's parts are made by lower-ranked merges,
                               so the heap BPE equals upstream's (else the naive one runs) */
};

/* BPE internals exposed for tests. */
/* whitespace_clean(basic_clean(text)).lower() of upstream simple_tokenizer. */
int dlut_tok_bpe_clean(const char *text, size_t len, dlut_tok_str *out);
/* Pre-tokenise cleaned text with upstream's regex; calls fn for each piece
 * [b, e) of cp; fn returns nonzero to stop early. */
int dlut_tok_bpe_pretokenize(const dlut_tok_str *s, int (*fn)(void *ctx, size_t b, size_t e), void *ctx);
/* BPE over the initial symbol ids sym[0..n) (in place); returns the new count.
 * naive = upstream's loop (reference), fast = heap over a linked list. */
int dlut_tok_bpe_word_naive(const dlut_tokenizer *tk, int32_t *sym, int n);
int dlut_tok_bpe_word_fast(const dlut_tokenizer *tk, int32_t *sym, int n);

/* Body encoders (no specials): append at most max ids; return count or -1. */
int dlut_tok_bpe_encode_body(const dlut_tokenizer *tk, const char *text, size_t len, int32_t *ids, int max);
int dlut_tok_wordpiece_encode_body(const dlut_tokenizer *tk, const char *text, size_t len, int32_t *ids, int max);

/* Loaders (fill tk->vocab, ids; tk->kind already set). */
int dlut_tok_bpe_load(dlut_tokenizer *tk, const char *path);
int dlut_tok_wordpiece_load(dlut_tokenizer *tk, const char *path);

#endif
