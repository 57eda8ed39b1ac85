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
 */
#ifndef DLUT_TOKENIZER_H
#define DLUT_TOKENIZER_H

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

#ifdef __cplusplus
}
#endif
#endif
