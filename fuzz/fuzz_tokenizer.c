/* fuzz_tokenizer - libFuzzer target for both CLIP tokenizers.
 *
 * Each input is a text (arbitrary bytes: invalid UTF-8, NULs, entities,
 * escapes...). It is encoded with OpenAI's BPE and with Chinese-CLIP's
 * WordPiece, and the invariants every caller relies on are checked (abort
 * on violation): the count is 2..context_length, the ids start and end with
 * the special tokens, every id is in the vocabulary. For inputs up to 64
 * bytes the whole input is also run as one BPE word through the fast (heap)
 * and the naive (upstream loop) merges, which must agree.
 *
 * The vocabularies come from the shared data folder: $DLUT_SHARED, else
 * ../shared or /work/shared; without them the fuzzer stops with a message.
 * Seeds: fuzz/corpus/fuzz_tokenizer/ (the reference test strings).
 *   make fuzz && build/fuzz/fuzz_tokenizer fuzz/corpus/fuzz_tokenizer
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/tokenizer.h"

static dlut_tokenizer *g_bpe, *g_wp;

static dlut_tokenizer *load(const char *rel, dlut_tokenizer_kind kind, int ctx) {
  const char *roots[3] = {getenv("DLUT_SHARED"), "../shared", "/work/shared"};
  char path[4096];
  for (int i = 0; i < 3; i++) {
    if (!roots[i] || !*roots[i]) continue;
    snprintf(path, sizeof path, "%s/%s", roots[i], rel);
    if (access(path, F_OK) != 0) continue;
    dlut_tokenizer *tk = dlut_tokenizer_load(path, kind, ctx);
    if (!tk) {
      fprintf(stderr, "fuzz_tokenizer: %s\n", dlut_last_error());
      abort();
    }
    return tk;
  }
  fprintf(stderr, "fuzz_tokenizer: cannot find %s (set DLUT_SHARED to the shared folder)\n", rel);
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  g_bpe = load("data/clip-ref/openai_tiny", DLUT_TOKENIZER_BPE, 77);
  g_wp = load("data/clip-ref/chinese_clip_tiny", DLUT_TOKENIZER_WORDPIECE, 52);
  return 0;
}

static void check(const dlut_tokenizer *tk, const uint8_t *data, size_t size) {
  int32_t ids[80];
  int ctx = dlut_tokenizer_context_length(tk);
  dlut_error_clear();
  int n = dlut_tokenizer_encode_n(tk, (const char *)data, size, ids, 80);
  if (n < 0) {
    fprintf(stderr, "encode failed: %s\n", dlut_last_error());
    abort(); /* inputs below the size limit must always encode */
  }
  if (n < 2 || n > ctx || ids[0] != dlut_tokenizer_start_id(tk) || ids[n - 1] != dlut_tokenizer_end_id(tk)) abort();
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= dlut_tokenizer_vocab_size(tk) || !dlut_tokenizer_token(tk, ids[i], NULL)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0; /* long inputs only make runs slow; the limit is tested in tests/ */
  /* Copy so that reads past the end are caught. */
  uint8_t *buf = malloc(size ? size : 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  check(g_bpe, buf, size);
  check(g_wp, buf, size);
  if (size >= 1 && size <= 64) {
    int32_t a[64], b[64];
    for (size_t i = 0; i < size; i++) a[i] = b[i] = i + 1 == size ? g_bpe->byte_eow_id[buf[i]] : g_bpe->byte_id[buf[i]];
    int na = dlut_tok_bpe_word_naive(g_bpe, a, (int)size);
    int nb = dlut_tok_bpe_word_fast(g_bpe, b, (int)size);
    if (na != nb || memcmp(a, b, (size_t)na * sizeof *a) != 0) abort();
  }
  free(buf);
  return 0;
}
