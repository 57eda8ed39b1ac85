/* `dlut tokenize`: the token ids a CLIP text tower receives for a sentence,
 * as upstream clip.tokenize / cn_clip.clip.tokenize make them (special
 * tokens, truncation; padding only with --pad). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/tokenizer.h"

static const char *const k_cmd = "tokenize";

static void help(void) {
  printf(
      "usage: dlut tokenize [--model DIR | --vocab FILE --kind bpe|wordpiece] [options] TEXT...\n"
      "\n"
      "Print the token ids the CLIP text tower receives for TEXT, as one JSON line\n"
      "(one line per TEXT when several are given, in order):\n"
      "  {\"ids\": [49406, 320, 1125, 49407]}\n"
      "with the special tokens (OpenAI: <|startoftext|> ... <|endoftext|>;\n"
      "Chinese-CLIP: [CLS] ... [SEP]) and cut to the context length exactly as\n"
      "upstream clip.tokenize(truncate=True) / cn_clip.clip.tokenize do, without\n"
      "the zero padding (add --pad for the full row).\n"
      "\n"
      "The model folder's config.json decides the tokenizer: \"model_type\": \"clip\"\n"
      "is OpenAI's byte-level BPE (vocab.json + merges.txt, or\n"
      "bpe_simple_vocab_16e6.txt.gz) with context text_config.max_position_embeddings\n"
      "(77); \"chinese_clip\" is BERT WordPiece (vocab.txt) with context 52;\n"
      "tokenizer_config.json's model_max_length overrides the context.\n"
      "\n"
      "options:\n"
      "  --model DIR        CLIP model folder (default: $DLUT_MODEL)\n"
      "  --vocab FILE       a vocabulary instead of a model folder: vocab.json,\n"
      "                     merges.txt or bpe_simple_vocab_16e6.txt.gz (bpe), vocab.txt\n"
      "                     (wordpiece); needs --kind\n"
      "  --kind K           bpe or wordpiece (with --vocab)\n"
      "  --context N        context length (default: from the model; 77 bpe, 52 wordpiece)\n"
      "  --file PATH        read the text from PATH ('-' = standard input) instead of TEXT\n"
      "  --pad              pad with the pad id (0) to the context length\n"
      "  --tokens           also print \"tokens\": the vocabulary strings of the ids\n"
      "  --cleaned          also print \"cleaned\": the text after OpenAI's clean-up\n"
      "                     (ftfy subset, HTML unescape, whitespace, lower-case; bpe only)\n"
      "  -h, --help         this help\n"
      "\n"
      "Text is UTF-8 (invalid bytes read as U+FFFD, as Python would), at most 256 KiB.\n"
      "\n"
      "examples:\n"
      "  dlut tokenize --model models/clip-vit-b32 \"a photo of a cat\"\n"
      "  dlut tokenize --model models/chinese-clip --tokens \"一只猫的照片\"\n");
}

/* JSON string (UTF-8 passed through; quotes, backslashes, controls escaped). */
static void put_json_string(FILE *f, const char *s, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", f);
    else if (c == '\t')
      fputs("\\t", f);
    else if (c < 0x20 || c == 0x7F)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

int dlut_cmd_tokenize(int argc, char **argv) {
  const char *model = getenv("DLUT_MODEL"), *vocab = NULL, *kind_s = NULL, *file = NULL;
  int context = 0, pad = 0, tokens = 0, cleaned = 0, ntexts = 0, dashdash = 0;
  const char **texts = calloc((size_t)argc + 1, sizeof *texts);
  if (!texts) return cli_fail(k_cmd, "out of memory");
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (dashdash || (a[0] != '-' || a[1] == '\0')) {
      texts[ntexts++] = a;
      continue;
    }
    if (cli_is_help(a)) {
      help();
      free(texts);
      return DLUT_EXIT_OK;
    }
    int has_val = i + 1 < argc;
    if (strcmp(a, "--model") == 0 || strcmp(a, "--vocab") == 0 || strcmp(a, "--kind") == 0 ||
        strcmp(a, "--context") == 0 || strcmp(a, "--file") == 0) {
      if (!has_val) {
        free(texts);
        return cli_usage(k_cmd, "%s needs a value", a);
      }
      const char *v = argv[++i];
      if (strcmp(a, "--model") == 0)
        model = v;
      else if (strcmp(a, "--vocab") == 0)
        vocab = v;
      else if (strcmp(a, "--kind") == 0)
        kind_s = v;
      else if (strcmp(a, "--file") == 0)
        file = v;
      else if (cli_parse_int(v, &context) != 0 || context < 2 || context > DLUT_TOK_MAX_CONTEXT) {
        free(texts);
        return cli_usage(k_cmd, "--context wants a whole number from 2 to %d, not '%s'", DLUT_TOK_MAX_CONTEXT, v);
      }
    } else if (strcmp(a, "--pad") == 0) {
      pad = 1;
    } else if (strcmp(a, "--tokens") == 0) {
      tokens = 1;
    } else if (strcmp(a, "--cleaned") == 0) {
      cleaned = 1;
    } else if (strcmp(a, "--") == 0) {
      dashdash = 1;
    } else {
      free(texts);
      return cli_usage(k_cmd, "unknown option '%s'", a);
    }
  }
  int rc = DLUT_EXIT_USAGE;
  dlut_tokenizer_kind kind = 0;
  if (!ntexts && !file) {
    rc = cli_usage(k_cmd, "no TEXT given");
    goto usage;
  }
  if (ntexts && file) {
    rc = cli_usage(k_cmd, "give TEXT or --file, not both");
    goto usage;
  }
  if (vocab) {
    if (!kind_s) {
      rc = cli_usage(k_cmd, "--vocab needs --kind bpe or --kind wordpiece");
      goto usage;
    }
    if (strcmp(kind_s, "bpe") == 0)
      kind = DLUT_TOKENIZER_BPE;
    else if (strcmp(kind_s, "wordpiece") == 0)
      kind = DLUT_TOKENIZER_WORDPIECE;
    else {
      rc = cli_usage(k_cmd, "--kind is bpe or wordpiece, not '%s'", kind_s);
      goto usage;
    }
    if (!context) context = kind == DLUT_TOKENIZER_BPE ? 77 : 52;
  } else if (!model || !*model) {
    rc = cli_usage(k_cmd, "no model: give --model DIR (or set DLUT_MODEL), or --vocab FILE --kind K");
    goto usage;
  } else if (kind_s) {
    rc = cli_usage(k_cmd, "--kind goes with --vocab (a model folder names its own tokenizer)");
    goto usage;
  }
  rc = DLUT_EXIT_FAIL;
  dlut_tokenizer *tk = NULL;
  char *buf = NULL;
  int32_t *ids = NULL;
  size_t len = 0;
  dlut_tok_str cl = {0};
  char *u8 = NULL;
  if (file) {
    if (strcmp(file, "-") == 0) {
      size_t cap = 0;
      for (;;) {
        if (len == cap) {
          if (cap > DLUT_TOK_MAX_TEXT_BYTES) {
            cli_fail(k_cmd, "standard input: more than %u bytes", DLUT_TOK_MAX_TEXT_BYTES);
            goto done;
          }
          cap = cap ? cap * 2 : 4096;
          char *p = realloc(buf, cap);
          if (!p) {
            cli_fail(k_cmd, "out of memory");
            goto done;
          }
          buf = p;
        }
        size_t got = fread(buf + len, 1, cap - len, stdin);
        if (got == 0) break;
        len += got;
      }
    } else if (!(buf = dlut_file_read_all(file, DLUT_TOK_MAX_TEXT_BYTES, &len))) {
      cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
  }

  if (vocab) {
    tk = dlut_tokenizer_load(vocab, kind, context);
  } else {
    dlut_tokenizer_kind mk;
    int mctx;
    if (dlut_tokenizer_model_info(model, &mk, &mctx) == 0)
      tk = dlut_tokenizer_load(model, mk, context ? context : mctx);
  }
  if (!tk) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (cleaned && dlut_tokenizer_get_kind(tk) != DLUT_TOKENIZER_BPE) {
    rc = cli_usage(k_cmd, "--cleaned is for the OpenAI (bpe) tokenizer");
    goto done;
  }
  int ctx = dlut_tokenizer_context_length(tk);
  ids = malloc((size_t)ctx * sizeof *ids);
  if (!ids) {
    cli_fail(k_cmd, "out of memory");
    goto done;
  }
  for (int t = 0; t < (file ? 1 : ntexts); t++) {
    const char *text = file ? (buf ? buf : "") : texts[t];
    size_t tlen = file ? len : strlen(text);
    int n = dlut_tokenizer_encode_n(tk, text, tlen, ids, ctx);
    if (n < 0) {
      cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
    int shown = pad ? ctx : n;
    for (int i = n; i < ctx; i++) ids[i] = dlut_tokenizer_pad_id(tk);
    if (cleaned) {
      if (dlut_tok_bpe_clean(text, tlen, &cl) != 0 || !(u8 = malloc(cl.n * 4 + 1))) {
        cli_fail(k_cmd, "%s", u8 ? dlut_last_error() : "out of memory");
        goto done;
      }
    }
    printf("{\"ids\": [");
    for (int i = 0; i < shown; i++) printf(i ? ", %d" : "%d", ids[i]);
    printf("]");
    if (tokens) {
      printf(", \"tokens\": [");
      for (int i = 0; i < shown; i++) {
        size_t tl = 0;
        const char *tok = dlut_tokenizer_token(tk, ids[i], &tl);
        if (i) printf(", ");
        put_json_string(stdout, tok ? tok : "", tok ? tl : 0);
      }
      printf("]");
    }
    if (cleaned) {
      size_t ul = 0;
      for (size_t i = 0; i < cl.n; i++) ul += (size_t)dlut_tok_utf8_put(cl.cp[i], u8 + ul);
      printf(", \"cleaned\": ");
      put_json_string(stdout, u8, ul);
      free(u8);
      u8 = NULL;
    }
    printf("}\n");
  }
  if (fflush(stdout) != 0) {
    cli_fail(k_cmd, "cannot write the output");
    goto done;
  }
  rc = DLUT_EXIT_OK;
done:
  free(u8);
  dlut_tok_str_free(&cl);
  free(ids);
  free(buf);
  dlut_tokenizer_free(tk);
usage:
  free(texts);
  return rc;
}
