/* fuzz_tokenizer_load - libFuzzer target for the tokenizer vocabulary loaders.
 *
 * The first byte picks the file the rest of the input becomes:
 *   0  vocab.txt    (WordPiece)  loaded, then a fixed text encoded
 *   1  merges.txt   (BPE) next to a small valid vocab.json (the 256 byte
 *                   symbols, the same with </w>, the specials, a few merges)
 *   2  vocab.json   (BPE) next to a small valid merges.txt
 * Every load must succeed or fail with a message; whatever loads must encode
 * with the usual invariants (start/end ids, ids in the vocabulary) and give
 * the same result from the heap BPE and the naive loop. Files are written to a
 * private temporary folder made at start-up.
 *   make fuzz && build-fuzz/fuzz/fuzz_tokenizer_load -max_len=4096
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/tokenizer.h"

static char g_dir[256];

/* bytes_to_unicode(b) as UTF-8 (simple_tokenizer.py). */
static int byte_char(int b, char out[4]) {
  int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  uint32_t c = (uint32_t)b;
  if (!printable) {
    int n = 0;
    for (int k = 0; k < b; k++)
      if (!((k >= '!' && k <= '~') || (k >= 0xA1 && k <= 0xAC) || (k >= 0xAE && k <= 0xFF))) n++;
    c = 256u + (uint32_t)n;
  }
  return dlut_tok_utf8_put(c, out);
}

static void write_file(const char *name, const uint8_t *data, size_t size) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size) abort();
  fclose(f);
}

static void write_small_vocab_json(void) {
  FILE *f;
  char path[512], u[8];
  snprintf(path, sizeof path, "%s/small_vocab.json", g_dir);
  if (!(f = fopen(path, "wb"))) abort();
  fputc('{', f);
  int id = 0;
  for (int eow = 0; eow < 2; eow++)
    for (int b = 0; b < 256; b++) {
      int n = byte_char(b, u);
      fputc('"', f);
      for (int k = 0; k < n; k++) {
        if (u[k] == '"' || u[k] == '\\') fputc('\\', f);
        fputc(u[k], f);
      }
      fprintf(f, "%s\": %d, ", eow ? "</w>" : "", id++);
    }
  fprintf(f, "\"th\": %d, \"the</w>\": %d, \"an\": %d, \"and</w>\": %d, ", id, id + 1, id + 2, id + 3);
  fprintf(f, "\"<|startoftext|>\": %d, \"<|endoftext|>\": %d}", id + 4, id + 5);
  fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *t = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/fuzz_tokenizer_load.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(g_dir)) abort();
  write_small_vocab_json();
  static const char merges[] = "#version: 0.2\nt h\nth e</w>\na n\nan d</w>\n";
  write_file("small_merges.txt", (const uint8_t *)merges, sizeof merges - 1);
  return 0;
}

static void link_as(const char *src, const char *dst) {
  char a[512], b[512];
  snprintf(a, sizeof a, "%s/%s", g_dir, src);
  snprintf(b, sizeof b, "%s/%s", g_dir, dst);
  unlink(b);
  if (link(a, b) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  int mode = data[0] % 3;
  static const char text[] = "The cat and THE dog, 一只猫 ##an [UNK] caf\xc3\xa9 \xff";
  if (mode == 0) {
    write_file("vocab.txt", data + 1, size - 1);
  } else if (mode == 1) {
    link_as("small_vocab.json", "vocab.json");
    write_file("merges.txt", data + 1, size - 1);
  } else {
    link_as("small_merges.txt", "merges.txt");
    write_file("vocab.json", data + 1, size - 1);
  }
  dlut_error_clear();
  dlut_tokenizer *tk = dlut_tokenizer_load(g_dir, mode == 0 ? DLUT_TOKENIZER_WORDPIECE : DLUT_TOKENIZER_BPE, 16);
  if (!tk) {
    if (dlut_last_error()[0] == '\0') abort(); /* a failure without a reason */
    return 0;
  }
  int32_t ids[16];
  int n = dlut_tokenizer_encode(tk, text, ids, 16);
  if (n < 2 || ids[0] != dlut_tokenizer_start_id(tk) || ids[n - 1] != dlut_tokenizer_end_id(tk)) abort();
  for (int i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= dlut_tokenizer_vocab_size(tk)) abort();
  if (mode != 0) {
    int32_t a[32], b[32];
    for (int i = 0; i < 32; i++)
      a[i] = b[i] = i + 1 == 32 ? tk->byte_eow_id["thean"[i % 5]] : tk->byte_id["thean"[i % 5]];
    int na = dlut_tok_bpe_word_naive(tk, a, 32), nb = dlut_tok_bpe_word_fast(tk, b, 32);
    if (tk->merges_monotone && (na != nb || memcmp(a, b, (size_t)na * sizeof *a) != 0)) abort();
  }
  dlut_tokenizer_free(tk);
  return 0;
}
