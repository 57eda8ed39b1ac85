/* dlut/tokenizer.h - the two CLIP tokenizers.
 *
 * CONTRACT (the CLIP model code uses these; the tokenizer owner may add to
 * this header but keeps these meanings):
 *
 *   OpenAI CLIP: byte-level BPE from vocab.json + merges.txt (or OpenAI's
 *   bpe_simple_vocab_16e6.txt.gz), text clean-up and lower-casing as
 *   openai/CLIP's simple_tokenizer; ids = [<|startoftext|>] + bpe + [<|endoftext|>],
 *   truncated to context_length with the last id forced to <|endoftext|>
 *   as clip.tokenize(truncate=True) does.
 *
 *   Chinese-CLIP: BERT WordPiece from vocab.txt (basic tokenizer: clean,
 *   CJK characters split, lower-case, accents stripped, punctuation split;
 *   then greedy longest-match WordPiece with "##"), ids = [CLS] + tokens +
 *   [SEP], truncated to context_length as cn_clip.clip.tokenize does.
 *
 *   dlut_tokenizer *tk = dlut_tokenizer_load(dir, DLUT_TOKENIZER_BPE, 77);
 *   int32_t ids[77]; int n = dlut_tokenizer_encode(tk, "a photo", ids, 77);
 *   dlut_tokenizer_free(tk);
 *
 * MANUAL (added by the tokenizer owner; see docs/tokenizers.md)
 *
 *   Or let the model folder decide:  tk = dlut_tokenizer_load_model(dir);
 *   (config.json "model_type": "clip" -> BPE with context length
 *   text_config.max_position_embeddings (77); "chinese_clip" -> WordPiece
 *   with 52, cn_clip's default; tokenizer_config.json "model_max_length"
 *   overrides both, capped at max_position_embeddings.)
 *
 *   Files: BPE loads DIR/vocab.json + DIR/merges.txt, else
 *   DIR/bpe_simple_vocab_16e6.txt.gz; `path` may also name the .gz, or
 *   vocab.json / merges.txt (the other is taken from the same folder).
 *   WordPiece loads DIR/vocab.txt or the named file. Files are hostile input:
 *   sizes capped (64 MiB, 1M tokens), every merge checked against the
 *   vocabulary; failures return NULL with dlut_last_error() naming the file.
 *
 *   Ids: every encode returns start + body + end with body cut to
 *   context_length - 2 ids - exactly the non-padding prefix of upstream
 *   clip.tokenize(truncate=True) / cn_clip.clip.tokenize. Padding (for the
 *   text tower) is pad_id = 0 in both (note: in OpenAI's vocabulary id 0 is
 *   also the real token "!", so find the end by position, not by value).
 *
 *   Text: UTF-8, at most 256 KiB (longer: -1). Invalid UTF-8 is decoded as
 *   Python's bytes.decode("utf-8", "replace") would (each maximal invalid
 *   subpart -> U+FFFD), so it never fails. OpenAI's clean-up (ftfy.fix_text
 *   incl. mojibake repair, html.unescape twice, whitespace, str.lower) is
 *   ported; docs/tokenizers.md lists the small known differences. A folder
 *   without config.json is accepted when its tokenizer files say the kind
 *   (vocab.txt -> WordPiece/52, vocab.json+merges.txt or the .gz -> BPE/77).
 *
 *   Thread safety: a loaded tokenizer is immutable; encode may be called
 *   from any number of threads at once. Encoding allocates scratch memory.
 */
#ifndef DLUT_TOKENIZER_H
#define DLUT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlut_tokenizer dlut_tokenizer;

typedef enum dlut_tokenizer_kind {
  DLUT_TOKENIZER_BPE = 1,       /* OpenAI CLIP */
  DLUT_TOKENIZER_WORDPIECE = 2, /* Chinese-CLIP (BERT) */
} dlut_tokenizer_kind;

/* Load from a model folder (vocab.json + merges.txt, or vocab.txt), or from
 * a vocabulary file path directly. context_length: truncation length. */
dlut_tokenizer *dlut_tokenizer_load(const char *path, dlut_tokenizer_kind kind, int context_length);
void dlut_tokenizer_free(dlut_tokenizer *tk);

/* Ids with special tokens, truncated, without padding. Returns the count
 * (<= max_ids) or -1 with dlut_last_error() set. */
int dlut_tokenizer_encode(const dlut_tokenizer *tk, const char *text, int32_t *ids, int max_ids);

/* Special ids: pad (0 for BERT; 0 for OpenAI as clip.tokenize pads), start, end. */
int dlut_tokenizer_pad_id(const dlut_tokenizer *tk);
int dlut_tokenizer_start_id(const dlut_tokenizer *tk); /* 49406 <|startoftext|> / 101 [CLS] */
int dlut_tokenizer_end_id(const dlut_tokenizer *tk);   /* 49407 <|endoftext|> / 102 [SEP] */

/* As dlut_tokenizer_encode, for text of len bytes that may contain NUL. */
int dlut_tokenizer_encode_n(const dlut_tokenizer *tk, const char *text, size_t len, int32_t *ids, int max_ids);

/* Fill ids[0..context_length) as upstream tokenize() does: the encoded ids
 * then pad_id. Returns the count before padding (the end token is at
 * count - 1), or -1. */
int dlut_tokenizer_encode_padded(const dlut_tokenizer *tk, const char *text, int32_t *ids);

int dlut_tokenizer_context_length(const dlut_tokenizer *tk);
int dlut_tokenizer_vocab_size(const dlut_tokenizer *tk); /* 1 + the largest id */
dlut_tokenizer_kind dlut_tokenizer_get_kind(const dlut_tokenizer *tk);

/* The vocabulary string of an id (NOT NUL-terminated: *len bytes; BPE
 * strings are in bytes_to_unicode form with "</w>" ending a word), or NULL
 * for an id no token has. Valid while tk lives. */
const char *dlut_tokenizer_token(const dlut_tokenizer *tk, int id, size_t *len);

/* The tokenizer a model folder (config.json) uses, and its context length. */
int dlut_tokenizer_model_info(const char *model_dir, dlut_tokenizer_kind *kind, int *context_length);
dlut_tokenizer *dlut_tokenizer_load_model(const char *model_dir);

#ifdef __cplusplus
}
#endif
#endif
