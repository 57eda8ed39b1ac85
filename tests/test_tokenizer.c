/* tests/test_tokenizer.c - both CLIP tokenizers against upstream's output.
 *
 * Every case in clip-ref/tokenizer_tests/ (made by openai/CLIP's and
 * Chinese-CLIP's own tokenize(), see its README) must match exactly: the
 * padded input_ids row, and for OpenAI also the intermediate cleaned text
 * and regex pre-tokens. The model folders' texts.json / ref/input_ids.npy
 * must match too. Plus: the fast BPE against the naive upstream loop, the
 * UTF-8 decoder against Python's "replace" results, the .gz and
 * vocab.json+merges.txt vocabularies against each other, and hostile input.
 */
#include <cjson/cJSON.h>
#include <stdint.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/parallel.h"
#include "dlut/tokenizer.h"
#include "test.h"

/* ==== Helpers ==== */

/* Decode the JSON string literal at p (just after the opening quote) into
 * UTF-8 bytes, keeping embedded NULs (cJSON would cut them). */
static size_t json_string(const char *p, char *out, size_t cap) {
  size_t n = 0;
  while (*p && *p != '"' && n + 4 < cap) {
    if (*p != '\\') {
      out[n++] = *p++;
      continue;
    }
    p++;
    char e = *p++;
    uint32_t c = (uint32_t)(unsigned char)e;
    if (e == 'n')
      c = '\n';
    else if (e == 't')
      c = '\t';
    else if (e == 'r')
      c = '\r';
    else if (e == 'b')
      c = '\b';
    else if (e == 'f')
      c = '\f';
    else if (e == 'u') {
      c = (uint32_t)strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
      p += 4;
      if (c >= 0xD800 && c <= 0xDBFF && p[0] == '\\' && p[1] == 'u') {
        uint32_t lo = (uint32_t)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
        c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
        p += 6;
      }
    }
    n += (size_t)dlut_tok_utf8_put(c, out + n);
  }
  return n;
}

/* The raw "text" values of the cases, in file order. */
static int raw_texts(const char *json, char **texts, size_t *lens, int max) {
  int n = 0;
  const char *p = json;
  while (n < max && (p = strstr(p, "\"text\": \"")) != NULL) {
    p += 9;
    texts[n] = malloc(1 << 16);
    lens[n] = json_string(p, texts[n], 1 << 16);
    n++;
  }
  return n;
}

static void print_ids(const char *what, const int32_t *ids, int n) {
  fprintf(stderr, "    %s:", what);
  for (int i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
  fputc('\n', stderr);
}

static int int_array(const cJSON *a, int32_t *out, int max) {
  int n = 0;
  for (const cJSON *it = a ? a->child : NULL; it && n < max; it = it->next) out[n++] = (int32_t)it->valuedouble;
  return n;
}

static char *to_utf8(const dlut_tok_str *s) {
  char *o = malloc(s->n * 4 + 1);
  size_t k = 0;
  for (size_t i = 0; i < s->n; i++) k += (size_t)dlut_tok_utf8_put(s->cp[i], o + k);
  o[k] = 0;
  return o;
}

/* Collects pre-tokens as UTF-8 strings. */
typedef struct {
  const dlut_tok_str *s;
  char *pieces[512];
  int n;
} pre_ctx;

static int collect_piece(void *vctx, size_t b, size_t e) {
  pre_ctx *c = vctx;
  if (c->n >= 512) return 1;
  dlut_tok_str t = {c->s->cp + b, e - b, e - b};
  c->pieces[c->n++] = to_utf8(&t);
  return 0;
}

/* ==== Reference cases ==== */

static void check_openai_cases(dlut_tokenizer *tk, const char *label) {
  size_t size;
  const char *path = test_shared("data/clip-ref/tokenizer_tests/openai_clip_tokenizer.json");
  char *json = dlut_file_read_all(path, 1 << 24, &size);
  CHECK_MSG(json != NULL, "%s", dlut_last_error());
  if (!json) return;
  cJSON *root = cJSON_Parse(json);
  CHECK(root != NULL);
  const cJSON *cases = cJSON_GetObjectItem(root, "cases");
  int ctx = (int)cJSON_GetObjectItem(root, "context_length")->valuedouble;
  CHECK(ctx == dlut_tokenizer_context_length(tk));
  CHECK(dlut_tokenizer_start_id(tk) == (int)cJSON_GetObjectItem(root, "sot_id")->valuedouble);
  CHECK(dlut_tokenizer_end_id(tk) == (int)cJSON_GetObjectItem(root, "eot_id")->valuedouble);
  CHECK(dlut_tokenizer_pad_id(tk) == (int)cJSON_GetObjectItem(root, "pad_id")->valuedouble);
  char *texts[256];
  size_t lens[256];
  int nraw = raw_texts(json, texts, lens, 256);
  int ncases = cJSON_GetArraySize(cases);
  CHECK_MSG(nraw == ncases, "%d raw texts, %d cases", nraw, ncases);
  int passed = 0;
  for (int i = 0; i < ncases && i < nraw; i++) {
    const cJSON *c = cJSON_GetArrayItem(cases, i);
    int ok = 1;
    /* cleaned text */
    dlut_tok_str cl = {0};
    CHECK(dlut_tok_bpe_clean(texts[i], lens[i], &cl) == 0);
    char *mine = to_utf8(&cl);
    const char *want = cJSON_GetObjectItem(c, "cleaned")->valuestring;
    if (strcmp(mine, want) != 0) {
      fprintf(stderr, "  [%s] case %d cleaned: got \"%s\" want \"%s\"\n", label, i, mine, want);
      ok = 0;
    }
    /* pre-tokens (of the reference cleaned text, so stages fail separately) */
    dlut_tok_str ws = {0};
    dlut_tok_utf8_decode(want, strlen(want), &ws);
    pre_ctx pc = {.s = &ws};
    dlut_tok_bpe_pretokenize(&ws, collect_piece, &pc);
    const cJSON *pre = cJSON_GetObjectItem(c, "pretokens");
    int np = cJSON_GetArraySize(pre);
    int pre_ok = np == pc.n;
    for (int k = 0; k < np && k < pc.n && pre_ok; k++)
      pre_ok = strcmp(pc.pieces[k], cJSON_GetArrayItem(pre, k)->valuestring) == 0;
    if (!pre_ok) {
      fprintf(stderr, "  [%s] case %d pretokens differ (%d vs %d)\n", label, i, pc.n, np);
      ok = 0;
    }
    for (int k = 0; k < pc.n; k++) free(pc.pieces[k]);
    /* padded ids */
    int32_t want_ids[1024], got[1024];
    int nw = int_array(cJSON_GetObjectItem(c, "input_ids"), want_ids, 1024);
    CHECK(nw == ctx);
    int n = dlut_tokenizer_encode_n(tk, texts[i], lens[i], got, ctx);
    CHECK_MSG(n >= 2, "%s", dlut_last_error());
    for (int k = n; k < ctx; k++) got[k] = dlut_tokenizer_pad_id(tk);
    int ids_ok = n >= 2 && memcmp(got, want_ids, (size_t)ctx * sizeof *got) == 0;
    /* the count the reference's attention mask implies */
    int want_n = 0;
    for (const cJSON *m = cJSON_GetObjectItem(c, "attention_mask")->child; m; m = m->next) want_n += m->valueint;
    ids_ok = ids_ok && n == want_n;
    if (!ids_ok) {
      fprintf(stderr, "  [%s] case %d ids differ\n", label, i);
      print_ids("got ", got, n > 0 ? n : 0);
      print_ids("want", want_ids, want_n);
      ok = 0;
    }
    if (!ok) fprintf(stderr, "  [%s] FAILED text: \"%.*s\"\n", label, (int)lens[i], texts[i]);
    CHECK(ok);
    passed += ok;
    dlut_tok_str_free(&cl);
    dlut_tok_str_free(&ws);
    free(mine);
  }
  fprintf(stderr, "openai (%s): %d/%d cases exact\n", label, passed, ncases);
  for (int i = 0; i < nraw; i++) free(texts[i]);
  cJSON_Delete(root);
  free(json);
}

static void check_chinese_cases(dlut_tokenizer *tk) {
  size_t size;
  const char *path = test_shared("data/clip-ref/tokenizer_tests/chinese_clip_tokenizer.json");
  char *json = dlut_file_read_all(path, 1 << 24, &size);
  CHECK_MSG(json != NULL, "%s", dlut_last_error());
  if (!json) return;
  cJSON *root = cJSON_Parse(json);
  const cJSON *cases = cJSON_GetObjectItem(root, "cases");
  int ctx = (int)cJSON_GetObjectItem(root, "context_length")->valuedouble;
  CHECK(ctx == dlut_tokenizer_context_length(tk));
  CHECK(dlut_tokenizer_start_id(tk) == (int)cJSON_GetObjectItem(root, "cls_id")->valuedouble);
  CHECK(dlut_tokenizer_end_id(tk) == (int)cJSON_GetObjectItem(root, "sep_id")->valuedouble);
  char *texts[256];
  size_t lens[256];
  int nraw = raw_texts(json, texts, lens, 256);
  int ncases = cJSON_GetArraySize(cases);
  CHECK_MSG(nraw == ncases, "%d raw texts, %d cases", nraw, ncases);
  int passed = 0;
  for (int i = 0; i < ncases && i < nraw; i++) {
    const cJSON *c = cJSON_GetArrayItem(cases, i);
    int32_t want[1024], got[1024];
    int nw = int_array(cJSON_GetObjectItem(c, "input_ids"), want, 1024);
    CHECK(nw == ctx);
    int n = dlut_tokenizer_encode_n(tk, texts[i], lens[i], got, ctx);
    CHECK_MSG(n >= 2, "%s", dlut_last_error());
    for (int k = n < 0 ? 0 : n; k < ctx; k++) got[k] = 0;
    int want_n = 0;
    while (want_n < ctx && want[want_n] != 0) want_n++; /* cn_clip's mask: ids != [PAD] */
    int ok = n == want_n && memcmp(got, want, (size_t)ctx * sizeof *got) == 0;
    if (!ok) {
      fprintf(stderr, "  [chinese] case %d FAILED text: \"%.*s\"\n", i, (int)lens[i], texts[i]);
      print_ids("got ", got, n > 0 ? n : 0);
      print_ids("want", want, want_n);
    }
    CHECK(ok);
    passed += ok;
  }
  fprintf(stderr, "chinese: %d/%d cases exact\n", passed, ncases);
  for (int i = 0; i < nraw; i++) free(texts[i]);
  cJSON_Delete(root);
  free(json);
}

/* A model folder: texts.json against ref/input_ids.npy (<i8, [T, S]). */
static void check_model_folder(const char *rel) {
  char dir[4096], p[4200];
  snprintf(dir, sizeof dir, "%s", test_shared(rel));
  dlut_tokenizer *tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk != NULL, "%s", dlut_last_error());
  if (!tk) return;
  size_t size;
  snprintf(p, sizeof p, "%s/texts.json", dir);
  char *tj = dlut_file_read_all(p, 1 << 20, &size);
  snprintf(p, sizeof p, "%s/ref/input_ids.npy", dir);
  size_t nsize;
  unsigned char *npy = dlut_file_read_all(p, 1 << 24, &nsize);
  CHECK(tj && npy);
  if (tj && npy) {
    cJSON *texts = cJSON_Parse(tj);
    int T = cJSON_GetArraySize(texts), S = 0, T2 = 0;
    CHECK(memcmp(npy, "\x93NUMPY", 6) == 0 && npy[6] == 1);
    size_t hlen = (size_t)npy[8] | (size_t)npy[9] << 8;
    char *hdr = strndup((const char *)npy + 10, hlen);
    CHECK(strstr(hdr, "'<i8'") != NULL);
    char *sh = strstr(hdr, "'shape': (");
    CHECK(sh && sscanf(sh, "'shape': (%d, %d)", &T2, &S) == 2);
    CHECK(T2 == T && S == dlut_tokenizer_context_length(tk));
    const unsigned char *data = npy + 10 + hlen;
    CHECK(10 + hlen + (size_t)T * (size_t)S * 8 <= nsize);
    for (int t = 0; t < T && T2 == T && 10 + hlen + (size_t)T * (size_t)S * 8 <= nsize; t++) {
      int32_t got[4096];
      int n = dlut_tokenizer_encode_padded(tk, cJSON_GetArrayItem(texts, t)->valuestring, got);
      CHECK(n >= 2);
      int ok = 1;
      for (int s = 0; s < S; s++) {
        int64_t v;
        memcpy(&v, data + ((size_t)t * (size_t)S + (size_t)s) * 8, 8);
        ok &= v == got[s];
      }
      CHECK_MSG(ok, "%s text %d \"%s\"", rel, t, cJSON_GetArrayItem(texts, t)->valuestring);
    }
    free(hdr);
    cJSON_Delete(texts);
  }
  free(tj);
  free(npy);
  dlut_tokenizer_free(tk);
}

/* ==== Threads: a loaded tokenizer is shared read-only ==== */

typedef struct {
  const dlut_tokenizer *tk;
  const char *const *texts;
  int ntexts;
  int32_t (*ids)[77]; /* per item */
  int *n;             /* per item */
} par_ctx;

static void par_work(void *vctx, int64_t b, int64_t e, int thread) {
  par_ctx *c = vctx;
  for (int64_t i = b; i < e; i++) c->n[i] = dlut_tokenizer_encode(c->tk, c->texts[i % c->ntexts], c->ids[i], 77);
}

static void check_threads(const dlut_tokenizer *tk) {
  static const char *const texts[] = {
      "a photo of a cat", "caf\xc3\x83\xc2\xa9 &amp;amp; \xef\xac\x81ne", "warm golden hour, teal shadows",
      "\xe4\xb8\x80\xe5\x8f\xaa\xe7\x8c\xab",
      "The Mona Lisa doesn\xc3\x83\xc2\xa2\xc3\xa2\xe2\x80\x9a\xc2\xac\xc3\xa2\xe2\x80\x9e\xc2\xa2t"};
  enum { N = 200 };
  static int32_t ids[N][77], ref[5][77];
  static int n[N], nref[5];
  for (int t = 0; t < 5; t++) nref[t] = dlut_tokenizer_encode(tk, texts[t], ref[t], 77);
  par_ctx c = {tk, texts, 5, ids, n};
  dlut_parallel_for(N, 1, par_work, &c);
  int same = 1;
  for (int i = 0; i < N; i++)
    same &= n[i] == nref[i % 5] && n[i] > 0 && memcmp(ids[i], ref[i % 5], (size_t)n[i] * sizeof(int32_t)) == 0;
  CHECK(same);
}

/* ==== Units ==== */

static void check_utf8_decoder(void) {
  /* Expected values: Python 3.11 bytes.decode("utf-8", "replace"). */
  static const struct {
    const char *in;
    size_t len;
    uint32_t want[6];
    int n;
  } cases[] = {
      {"\xf0\x80\x80", 3, {0xfffd, 0xfffd, 0xfffd}, 3},
      {"\xe2\x82", 2, {0xfffd}, 1},
      {"a\xff"
       "b",
       3,
       {'a', 0xfffd, 'b'},
       3},
      {"\xed\xa0\x80", 3, {0xfffd, 0xfffd, 0xfffd}, 3},
      {"\xf4\x90\x80\x80", 4, {0xfffd, 0xfffd, 0xfffd, 0xfffd}, 4},
      {"\xc0\xaf", 2, {0xfffd, 0xfffd}, 2},
      {"\xe2\x82\xac\xe2", 4, {0x20ac, 0xfffd}, 2},
      {"\xf0\x9f\x98", 3, {0xfffd}, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    dlut_tok_str s = {0};
    CHECK(dlut_tok_utf8_decode(cases[i].in, cases[i].len, &s) == 0);
    int ok = (int)s.n == cases[i].n;
    for (int k = 0; ok && k < cases[i].n; k++) ok = s.cp[k] == cases[i].want[k];
    CHECK_MSG(ok, "utf8 case %zu", i);
    dlut_tok_str_free(&s);
  }
}

/* Python str.lower() special cases. */
static void check_lower(void) {
  static const uint32_t in[] = {0x130, 'A', 0x3A3, 0x39F, 0x3A3, ' ', 0x3A3};
  /* "İAΣΟΣ Σ".lower() == 'i̇aσος σ' */
  static const uint32_t want[] = {'i', 0x307, 'a', 0x3C3, 0x3BF, 0x3C2, ' ', 0x3C3};
  dlut_tok_str s = {0};
  CHECK(dlut_tok_py_lower(in, 7, &s) == 0);
  CHECK(s.n == 8 && memcmp(s.cp, want, sizeof want) == 0);
  dlut_tok_str_free(&s);
}

/* The fast (heap) BPE must equal upstream's loop on random words. */
static void check_bpe_fast_vs_naive(const dlut_tokenizer *tk) {
  CHECK(tk->merges_monotone == 1);
  uint64_t rng = 12345;
  int bad = 0, total = 0;
  static const char alphabet[] = "aeiouetaoinshrdlcumwfgypbvkjxqz'-.!0123456789";
  for (int it = 0; it < 3000; it++) {
    int32_t a[128], b[128];
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    int n = 1 + (int)((rng >> 33) % 40);
    for (int k = 0; k < n; k++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      unsigned char ch = (unsigned char)alphabet[(rng >> 33) % (sizeof alphabet - 1)];
      if (it % 7 == 0) ch = (unsigned char)(rng >> 41); /* any byte */
      a[k] = b[k] = k + 1 == n ? tk->byte_eow_id[ch] : tk->byte_id[ch];
    }
    int na = dlut_tok_bpe_word_naive(tk, a, n);
    int nb = dlut_tok_bpe_word_fast(tk, b, n);
    int same = na == nb && memcmp(a, b, (size_t)na * sizeof *a) == 0;
    bad += !same;
    total++;
  }
  CHECK_MSG(bad == 0, "%d of %d random words differ", bad, total);
}

static void check_hostile(dlut_tokenizer *bpe, dlut_tokenizer *wp) {
  int32_t ids[128];
  /* invalid UTF-8, control bytes, NULs: never fail, always start ... end */
  static const char junk[] = "\xff\xfe\x00\x01 \xe2\x82 <|endoftext \x1b[31mred\x1b[0m &#xD800; &#99999999999; &amp";
  for (int t = 0; t < 2; t++) {
    dlut_tokenizer *tk = t ? wp : bpe;
    int n = dlut_tokenizer_encode_n(tk, junk, sizeof junk - 1, ids, 128);
    CHECK(n >= 2 && ids[0] == dlut_tokenizer_start_id(tk) && ids[n - 1] == dlut_tokenizer_end_id(tk));
    n = dlut_tokenizer_encode(tk, "", ids, 128);
    CHECK(n == 2);
    /* a buffer that is too small is an error, not an overflow */
    CHECK(dlut_tokenizer_encode(tk, "a photo of a cat", ids, 3) == -1);
    CHECK(strstr(dlut_last_error(), "do not fit") != NULL);
    /* text over the limit */
    size_t big = DLUT_TOK_MAX_TEXT_BYTES + 1;
    char *s = malloc(big + 1);
    memset(s, 'a', big);
    s[big] = 0;
    CHECK(dlut_tokenizer_encode(tk, s, ids, 128) == -1);
    /* a long single word at the limit still works (and truncates) */
    s[20000] = 0;
    n = dlut_tokenizer_encode(tk, s, ids, 128);
    CHECK(n >= 2 && n <= dlut_tokenizer_context_length(tk));
    free(s);
  }
  /* the OpenAI ids: "!" is id 0, which is why padding is found by position */
  int n = dlut_tokenizer_encode(bpe, "!=", ids, 128); /* "!" + "=</w>" */
  CHECK(n == 4 && ids[1] == 0);
  /* bad files */
  CHECK(dlut_tokenizer_load("/nonexistent/dir", DLUT_TOKENIZER_WORDPIECE, 52) == NULL);
  CHECK(strstr(dlut_last_error(), "/nonexistent/dir") != NULL);
  CHECK(dlut_tokenizer_load("/nonexistent/dir", DLUT_TOKENIZER_BPE, 77) == NULL);
  CHECK(dlut_tokenizer_load(test_shared("data/clip-ref/openai_tiny"), DLUT_TOKENIZER_BPE, 1) == NULL);
  const char *dir = test_tmpdir("tokenizer");
  char p[4200];
  snprintf(p, sizeof p, "%s/vocab.json", dir);
  FILE *f = fopen(p, "w");
  fputs("{\"a\": 0, \"b\": 1}", f);
  fclose(f);
  snprintf(p, sizeof p, "%s/merges.txt", dir);
  f = fopen(p, "w");
  fputs("#version\na b c\n", f);
  fclose(f);
  CHECK(dlut_tokenizer_load(dir, DLUT_TOKENIZER_BPE, 77) == NULL);
  CHECK(strstr(dlut_last_error(), "merges.txt:2") != NULL);
  f = fopen(p, "w");
  fputs("#version\na b\n", f);
  fclose(f);
  CHECK(dlut_tokenizer_load(dir, DLUT_TOKENIZER_BPE, 77) == NULL); /* byte symbols missing */
  snprintf(p, sizeof p, "%s/vocab.txt", dir);
  f = fopen(p, "w");
  fputs("[PAD]\nfoo\n", f);
  fclose(f);
  CHECK(dlut_tokenizer_load(p, DLUT_TOKENIZER_WORDPIECE, 52) == NULL); /* no [CLS] */
  f = fopen(p, "w");
  fputs("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n\xe2\x80\xa8\nfoo\n##bar\n \xe3\x80\x80 baz\t\n", f);
  fclose(f);
  dlut_tokenizer *tk = dlut_tokenizer_load(p, DLUT_TOKENIZER_WORDPIECE, 6);
  CHECK_MSG(tk != NULL, "%s", dlut_last_error());
  if (tk) {
    /* lines end at \r\n, \r, \n; stripped with Python's whitespace (U+2028, U+3000) */
    n = dlut_tokenizer_encode(tk, "FOObar baz qux foo foo", ids, 6);
    CHECK(n == 6 && ids[0] == 2 && ids[1] == 5 && ids[2] == 6 && ids[3] == 7 && ids[4] == 1 && ids[5] == 3);
    dlut_tokenizer_free(tk);
  }
}

int main(void) {
  check_utf8_decoder();
  check_lower();

  dlut_tokenizer *bpe = dlut_tokenizer_load(test_shared("data/clip-ref/openai_tiny"), DLUT_TOKENIZER_BPE, 77);
  CHECK_MSG(bpe != NULL, "%s", dlut_last_error());
  dlut_tokenizer *gz = dlut_tokenizer_load(test_shared("data/tokenizers/openai_bpe/bpe_simple_vocab_16e6.txt.gz"),
                                           DLUT_TOKENIZER_BPE, 77);
  CHECK_MSG(gz != NULL, "%s", dlut_last_error());
  dlut_tokenizer *wp =
      dlut_tokenizer_load(test_shared("data/clip-ref/chinese_clip_tiny"), DLUT_TOKENIZER_WORDPIECE, 52);
  CHECK_MSG(wp != NULL, "%s", dlut_last_error());
  if (!bpe || !gz || !wp) return test_summary("tokenizer");

  CHECK(dlut_tokenizer_vocab_size(bpe) == 49408 && dlut_tokenizer_vocab_size(gz) == 49408);
  CHECK(dlut_tokenizer_vocab_size(wp) == 21128);
  /* the .gz builds the same vocabulary as vocab.json */
  int same = bpe->vocab.count == gz->vocab.count;
  for (size_t i = 0; same && i < bpe->vocab.count; i++) {
    uint64_t e = bpe->vocab.entries[i];
    same = dlut_tok_map_get(&gz->vocab, bpe->vocab.keys + (e >> 24), (size_t)(e & 0xFFFFFF)) == bpe->vocab.values[i];
  }
  CHECK(same);

  check_openai_cases(bpe, "vocab.json");
  check_openai_cases(gz, "gz");
  check_chinese_cases(wp);
  check_model_folder("data/clip-ref/openai_tiny");
  check_model_folder("data/clip-ref/chinese_clip_tiny");
  /* folders without config.json: the tokenizer files decide */
  dlut_tokenizer *t1 = dlut_tokenizer_load_model(test_shared("data/tokenizers/openai_bpe"));
  dlut_tokenizer *t2 = dlut_tokenizer_load_model(test_shared("data/tokenizers/chinese_clip_bert"));
  CHECK_MSG(t1 && dlut_tokenizer_get_kind(t1) == DLUT_TOKENIZER_BPE && dlut_tokenizer_context_length(t1) == 77, "%s",
            dlut_last_error());
  CHECK_MSG(t2 && dlut_tokenizer_get_kind(t2) == DLUT_TOKENIZER_WORDPIECE && dlut_tokenizer_context_length(t2) == 52,
            "%s", dlut_last_error());
  dlut_tokenizer_free(t1);
  dlut_tokenizer_free(t2);
  CHECK(dlut_tokenizer_load_model("/nonexistent/model") == NULL);
  check_bpe_fast_vs_naive(bpe);
  check_threads(bpe);
  check_threads(wp);
  check_hostile(bpe, wp);

  dlut_tokenizer_free(bpe);
  dlut_tokenizer_free(gz);
  dlut_tokenizer_free(wp);
  return test_summary("tokenizer");
}
