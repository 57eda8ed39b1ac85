/* src/clip/bpe.c - OpenAI CLIP's byte-level BPE tokenizer.
 *
 * A C port of openai/CLIP clip/simple_tokenizer.py (commit d05afc4):
 *   encode(text) = for each regex pre-token of whitespace_clean(basic_clean(text)).lower():
 *                    bpe(bytes_to_unicode(utf8(token))) -> vocabulary ids
 * basic_clean = ftfy.fix_text, html.unescape twice, strip; whitespace_clean
 * collapses \s+ to one space and strips. The vocabulary is either upstream's
 * bpe_simple_vocab_16e6.txt.gz (ids built exactly as SimpleTokenizer.__init__
 * does: 256 byte symbols, the same with "</w>", the merges, the two special
 * tokens) or Hugging Face's vocab.json + merges.txt. Both use merges lines
 * [1:48895] (49152 - 256 - 2 merges), as upstream and transformers do.
 *
 * bpe() here works on ids instead of strings: a merge table maps the id pair
 * (a, b) to (rank, id of a+b). Upstream repeatedly merges every occurrence of
 * the lowest-ranked adjacent pair; dlut_tok_bpe_word_naive does exactly that
 * (O(n^2), the reference), dlut_tok_bpe_word_fast does it with a heap over a
 * linked list (O(n log n)), which gives the same result whenever every merge's
 * two parts are produced by lower-ranked merges - checked at load time for the
 * loaded merges (true for OpenAI's); otherwise the naive loop is used.
 * Upstream's per-token result cache is not reproduced: encoding is stateless
 * and so safe to call from many threads at once.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/file.h"

#define BPE_MERGES_USED (49152 - 256 - 2) /* upstream merges[1:49152-256-2+1] */

static const char k_sot[] = "<|startoftext|>";
static const char k_eot[] = "<|endoftext|>";

/* ==== bytes_to_unicode ==== */

/* simple_tokenizer.bytes_to_unicode: printable Latin-1 bytes map to
 * themselves, the others (controls, space, 0x7f-0xa0, 0xad) to 256 + n in
 * byte order. order[] lists the bytes in the dict's iteration order. */
static void bytes_to_unicode(uint32_t map[256], int order[256]) {
  int n = 0, k = 0;
  for (int b = 0; b < 256; b++)
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) {
      map[b] = (uint32_t)b;
      order[k++] = b;
    }
  for (int b = 0; b < 256; b++)
    if (!((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) {
      map[b] = 256u + (uint32_t)n++;
      order[k++] = b;
    }
}

/* ==== Loading ==== */

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Whole gzip file into a NUL-terminated buffer (at most DLUT_TOK_MAX_FILE_BYTES). */
static char *gz_read_all(const char *path, size_t *size) {
  gzFile gz = gzopen(path, "rb");
  char *buf = NULL;
  size_t len = 0, cap = 0;
  if (!gz) {
    dlut_error("%s: cannot open: %s", path, strerror(errno ? errno : ENOENT));
    return NULL;
  }
  for (;;) {
    if (cap - len < 65536) {
      size_t ncap = cap ? cap * 2 : 1 << 20;
      if (ncap > (size_t)DLUT_TOK_MAX_FILE_BYTES + 65536) {
        dlut_error("%s: decompressed size exceeds %u bytes", path, DLUT_TOK_MAX_FILE_BYTES);
        goto fail;
      }
      char *p = realloc(buf, ncap + 1);
      if (!p) {
        dlut_error("%s: out of memory", path);
        goto fail;
      }
      buf = p;
      cap = ncap;
    }
    int got = gzread(gz, buf + len, 65536);
    if (got < 0) {
      int err;
      dlut_error("%s: gzip error: %s", path, gzerror(gz, &err));
      goto fail;
    }
    if (got == 0) break;
    len += (size_t)got;
  }
  int zerr;
  const char *zmsg = gzerror(gz, &zerr);
  if (zerr != Z_OK) { /* zlib: Z_BUF_ERROR when the file ends inside the stream */
    dlut_error("%s: truncated or damaged gzip file (%s)", path, zmsg);
    goto fail;
  }
  gzclose(gz);
  buf[len] = 0;
  *size = len;
  return buf;
fail:
  gzclose(gz);
  free(buf);
  return NULL;
}

/* Merge lines 1..48894 of text (line 0 is the "#version" header), split at
 * '\n' as upstream does. Fills starts/lens of the two parts of each merge. */
typedef struct merge_line {
  const char *a, *b; /* the two symbols (not NUL-terminated) */
  size_t alen, blen; /* their byte lengths */
} merge_line;

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static int parse_merges(const char *name, char *text, size_t len, merge_line **out, int *count) {
  merge_line *m = malloc(BPE_MERGES_USED * sizeof *m);
  if (!m) return dlut_error("%s: out of memory", name);
  int n = 0, line = 0;
  size_t i = 0;
  while (i <= len && n < BPE_MERGES_USED) {
    size_t e = i;
    while (e < len && text[e] != '\n') e++;
    if (line >= 1) {
      /* tuple(merge.split()) must be a pair. */
      const char *p[3];
      size_t pl[3];
      int parts = 0;
      size_t k = i;
      while (k < e) {
        while (k < e && is_ws(text[k])) k++;
        if (k >= e) break;
        size_t s = k;
        while (k < e && !is_ws(text[k])) k++;
        if (parts < 3) {
          p[parts] = text + s;
          pl[parts] = k - s;
        }
        parts++;
      }
      if (parts == 0 && e >= len) break; /* the end of the file */
      if (parts != 2) {
        free(m);
        return dlut_error("%s:%d: expected two symbols separated by a space", name, line + 1);
      }
      m[n].a = p[0];
      m[n].alen = pl[0];
      m[n].b = p[1];
      m[n].blen = pl[1];
      n++;
    }
    line++;
    if (e >= len) break;
    i = e + 1;
  }
  *out = m;
  *count = n;
  return 0;
}

static int merges_put(dlut_tokenizer *tk, uint32_t a, uint32_t b, int32_t rank, int32_t merged) {
  uint64_t key = (uint64_t)a << 32 | b;
  size_t mask = tk->nmerge_slots - 1;
  size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
  while (tk->merges[h].key != UINT64_MAX && tk->merges[h].key != key) h = (h + 1) & mask;
  tk->merges[h].key = key;
  tk->merges[h].rank = rank; /* a repeated pair keeps its last rank (dict(zip(merges, range))) */
  tk->merges[h].merged = merged;
  return 0;
}

static const dlut_tok_merge *merges_get(const dlut_tokenizer *tk, int32_t a, int32_t b) {
  uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
  size_t mask = tk->nmerge_slots - 1;
  size_t h = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
  while (tk->merges[h].key != UINT64_MAX) {
    if (tk->merges[h].key == key) return &tk->merges[h];
    h = (h + 1) & mask;
  }
  return NULL;
}

static int load_vocab_json(dlut_tokenizer *tk, const char *path) {
  size_t size = 0;
  char *text = dlut_file_read_all(path, DLUT_TOK_MAX_FILE_BYTES, &size);
  if (!text) return -1; /* the message names the file */
  int rc = -1;
  cJSON *root = cJSON_ParseWithLength(text, size);
  if (!root || !cJSON_IsObject(root)) {
    dlut_error("%s: not a JSON object of token -> id", path);
    goto fail;
  }
  int count = 0;
  for (cJSON *it = root->child; it; it = it->next) {
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || !it->string || v < 0 || v >= DLUT_TOK_MAX_VOCAB || v != (double)(int32_t)v) {
      dlut_error("%s: entry %d: expected \"token\": id with 0 <= id < %d", path, count, DLUT_TOK_MAX_VOCAB);
      goto fail;
    }
    if (++count > DLUT_TOK_MAX_VOCAB) {
      dlut_error("%s: more than %d entries", path, DLUT_TOK_MAX_VOCAB);
      goto fail;
    }
    if (dlut_tok_map_put(&tk->vocab, it->string, strlen(it->string), (int32_t)v) != 0) goto fail;
  }
  rc = 0;
fail:
  cJSON_Delete(root);
  free(text);
  return rc;
}

static size_t utf8_of(uint32_t c, char *out) {
  return (size_t)dlut_tok_utf8_put(c, out);
}

int dlut_tok_bpe_load(dlut_tokenizer *tk, const char *path) {
  char vocab_path[4096], merges_path[4096], gzbuf[4096];
  const char *gz_path = NULL;
  int have_json = 0;
  if (is_dir(path)) {
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", path);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", path);
    if (is_file(vocab_path) && is_file(merges_path)) {
      have_json = 1;
    } else {
      snprintf(gzbuf, sizeof gzbuf, "%s/bpe_simple_vocab_16e6.txt.gz", path);
      if (!is_file(gzbuf))
        return dlut_error("%s: no vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz in this folder", path);
      gz_path = gzbuf;
    }
  } else if (ends_with(path, ".gz")) {
    gz_path = path;
  } else {
    /* vocab.json or merges.txt: the other one next to it. */
    const char *slash = strrchr(path, '/');
    int dlen = slash ? (int)(slash - path) : 1;
    const char *dir = slash ? path : ".";
    snprintf(vocab_path, sizeof vocab_path, "%.*s/vocab.json", dlen, dir);
    snprintf(merges_path, sizeof merges_path, "%.*s/merges.txt", dlen, dir);
    if (ends_with(path, ".json"))
      snprintf(vocab_path, sizeof vocab_path, "%s", path);
    else
      snprintf(merges_path, sizeof merges_path, "%s", path);
    if (!is_file(vocab_path) || !is_file(merges_path))
      return dlut_error("%s: BPE needs vocab.json and merges.txt side by side (or bpe_simple_vocab_16e6.txt.gz)", path);
    have_json = 1;
  }

  int rc = -1, nmerges = 0;
  size_t len = 0;
  char *text = NULL, *key = NULL;
  merge_line *ml = NULL;
  int32_t *creator = NULL;
  const char *mname = have_json ? merges_path : gz_path;
  text = have_json ? dlut_file_read_all(merges_path, DLUT_TOK_MAX_FILE_BYTES, &len) : gz_read_all(gz_path, &len);
  if (!text) goto fail; /* the message names the file */
  if (have_json) {
    /* transformers: read().strip().split("\n") - the strip only matters at the ends. */
    while (len > 0 && (is_ws(text[len - 1]) || text[len - 1] == '\n')) len--;
  }
  if (parse_merges(mname, text, len, &ml, &nmerges) != 0) goto fail;
  if (nmerges == 0) {
    dlut_error("%s: no merges", mname);
    goto fail;
  }

  uint32_t b2u[256];
  int order[256];
  bytes_to_unicode(b2u, order);
  size_t max_sym = 0;
  for (int r = 0; r < nmerges; r++) max_sym = ml[r].alen + ml[r].blen > max_sym ? ml[r].alen + ml[r].blen : max_sym;
  key = malloc(max_sym + 16);
  if (!key) {
    dlut_error("tokenizer: out of memory");
    goto fail;
  }
  if (have_json) {
    if (load_vocab_json(tk, vocab_path) != 0) goto fail;
  } else {
    /* SimpleTokenizer.__init__: vocab = bytes, bytes + "</w>", merges joined, specials. */
    int32_t id = 0;
    for (int pass = 0; pass < 2; pass++)
      for (int k = 0; k < 256; k++) {
        size_t n = utf8_of(b2u[order[k]], key);
        if (pass) memcpy(key + n, "</w>", 4), n += 4;
        if (dlut_tok_map_put(&tk->vocab, key, n, id++) != 0) goto fail;
      }
    for (int r = 0; r < nmerges; r++) {
      memcpy(key, ml[r].a, ml[r].alen);
      memcpy(key + ml[r].alen, ml[r].b, ml[r].blen);
      if (dlut_tok_map_put(&tk->vocab, key, ml[r].alen + ml[r].blen, id++) != 0) goto fail;
    }
    if (dlut_tok_map_put(&tk->vocab, k_sot, strlen(k_sot), id++) != 0 ||
        dlut_tok_map_put(&tk->vocab, k_eot, strlen(k_eot), id++) != 0)
      goto fail;
  }
  tk->vocab_size = 0;
  for (size_t i = 0; i < tk->vocab.count; i++)
    if (tk->vocab.values[i] + 1 > tk->vocab_size) tk->vocab_size = tk->vocab.values[i] + 1;

  for (int b = 0; b < 256; b++) {
    size_t n = utf8_of(b2u[b], key);
    tk->byte_id[b] = dlut_tok_map_get(&tk->vocab, key, n);
    memcpy(key + n, "</w>", 4);
    tk->byte_eow_id[b] = dlut_tok_map_get(&tk->vocab, key, n + 4);
    if (tk->byte_id[b] < 0 || tk->byte_eow_id[b] < 0) {
      dlut_error("%s: the vocabulary lacks the byte symbol for 0x%02x (with or without </w>)", path, b);
      goto fail;
    }
  }
  tk->start_id = dlut_tok_map_get(&tk->vocab, k_sot, strlen(k_sot));
  tk->end_id = dlut_tok_map_get(&tk->vocab, k_eot, strlen(k_eot));
  if (tk->start_id < 0 || tk->end_id < 0) {
    dlut_error("%s: the vocabulary lacks %s or %s", path, k_sot, k_eot);
    goto fail;
  }
  tk->pad_id = 0; /* clip.tokenize pads with zeros */
  tk->unk_id = -1;

  tk->nmerge_slots = 1;
  while (tk->nmerge_slots < (size_t)nmerges * 2) tk->nmerge_slots *= 2;
  tk->merges = malloc(tk->nmerge_slots * sizeof *tk->merges);
  creator = malloc((size_t)tk->vocab_size * sizeof *creator);
  if (!tk->merges || !creator) {
    dlut_error("tokenizer: out of memory");
    goto fail;
  }
  for (size_t i = 0; i < tk->nmerge_slots; i++) tk->merges[i].key = UINT64_MAX;
  for (int r = 0; r < nmerges; r++) {
    int32_t a = dlut_tok_map_get(&tk->vocab, ml[r].a, ml[r].alen);
    int32_t b = dlut_tok_map_get(&tk->vocab, ml[r].b, ml[r].blen);
    memcpy(key, ml[r].a, ml[r].alen);
    memcpy(key + ml[r].alen, ml[r].b, ml[r].blen);
    int32_t m = dlut_tok_map_get(&tk->vocab, key, ml[r].alen + ml[r].blen);
    if (a < 0 || b < 0 || m < 0) {
      dlut_error("%s:%d: merge \"%.*s %.*s\": %s not in the vocabulary", mname, r + 2, (int)ml[r].alen, ml[r].a,
                 (int)ml[r].blen, ml[r].b, m < 0 && a >= 0 && b >= 0 ? "the merged symbol is" : "a symbol is");
      goto fail;
    }
    merges_put(tk, (uint32_t)a, (uint32_t)b, r, m);
  }
  /* The heap BPE equals upstream's loop when a merge's parts are always made
   * by lower-ranked merges (then ranks are consumed in increasing order). */
  for (int32_t i = 0; i < tk->vocab_size; i++) creator[i] = -1;
  for (size_t i = 0; i < tk->nmerge_slots; i++)
    if (tk->merges[i].key != UINT64_MAX && tk->merges[i].rank > creator[tk->merges[i].merged])
      creator[tk->merges[i].merged] = tk->merges[i].rank;
  tk->merges_monotone = 1;
  for (size_t i = 0; i < tk->nmerge_slots; i++) {
    const dlut_tok_merge *e = &tk->merges[i];
    if (e->key == UINT64_MAX) continue;
    if (creator[e->key >> 32] >= e->rank || creator[e->key & 0xFFFFFFFFu] >= e->rank) tk->merges_monotone = 0;
  }
  rc = 0;
fail:
  free(text);
  free(key);
  free(ml);
  free(creator);
  return rc;
}

/* ==== Text clean-up and pre-tokenisation ==== */

int dlut_tok_bpe_clean(const char *text, size_t len, dlut_tok_str *out) {
  dlut_tok_str s = {0}, t = {0};
  int rc = -1;
  if (dlut_tok_utf8_decode(text, len, &s) != 0) goto fail;
  /* basic_clean: ftfy.fix_text, html.unescape(html.unescape(.)), strip() */
  if (dlut_tok_ftfy_fix_text(&s) != 0) goto fail;
  for (int k = 0; k < 2; k++) {
    t.n = 0;
    if (dlut_tok_html_unescape(s.cp, s.n, &t) != 0) goto fail;
    dlut_tok_str_swap(&s, &t);
  }
  size_t b = 0, e = s.n;
  while (b < e && dlut_tok_py_isspace(s.cp[b])) b++;
  while (e > b && dlut_tok_py_isspace(s.cp[e - 1])) e--;
  /* whitespace_clean: re.sub(r'\s+', ' '), strip() */
  t.n = 0;
  for (size_t i = b; i < e; i++) {
    if (dlut_tok_re_isspace(s.cp[i])) {
      while (i + 1 < e && dlut_tok_re_isspace(s.cp[i + 1])) i++;
      if (dlut_tok_str_push(&t, ' ') != 0) goto fail;
    } else if (dlut_tok_str_push(&t, s.cp[i]) != 0) {
      goto fail;
    }
  }
  b = 0;
  e = t.n;
  while (b < e && dlut_tok_py_isspace(t.cp[b])) b++;
  while (e > b && dlut_tok_py_isspace(t.cp[e - 1])) e--;
  /* .lower() */
  out->n = 0;
  if (e > b && dlut_tok_py_lower(t.cp + b, e - b, out) != 0) goto fail; /* (t.cp is NULL for "": no NULL + 0) */
  rc = 0;
fail:
  dlut_tok_str_free(&s);
  dlut_tok_str_free(&t);
  return rc;
}

/* Case-insensitive match of an ASCII literal at s[i] (re.IGNORECASE: simple
 * case folding, under which U+017F folds to 's' and U+212A to 'k'). */
static size_t match_fold(const dlut_tok_str *s, size_t i, const char *lit) {
  size_t k = 0;
  for (; lit[k]; k++) {
    if (i + k >= s->n) return 0;
    uint32_t c = s->cp[i + k], l = (uint32_t)(unsigned char)lit[k];
    int ok = c == l || (l >= 'a' && l <= 'z' && c == l - 32) || (l == 's' && c == 0x17F) || (l == 'k' && c == 0x212A);
    if (!ok) return 0;
  }
  return k;
}

/* regex <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * with findall semantics: at each position the first alternative that
 * matches wins; positions where none matches (whitespace) are skipped. */
int dlut_tok_bpe_pretokenize(const dlut_tok_str *s, int (*fn)(void *ctx, size_t b, size_t e), void *ctx) {
  static const char *const alts[] = {k_sot, k_eot, "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  size_t i = 0;
  while (i < s->n) {
    uint32_t c = s->cp[i];
    size_t len = 0;
    if (c == '<' || c == '\'')
      for (size_t a = 0; a < sizeof alts / sizeof alts[0] && !len; a++) len = match_fold(s, i, alts[a]);
    if (!len) {
      if (dlut_tok_is_letter(c)) {
        len = 1;
        while (i + len < s->n && dlut_tok_is_letter(s->cp[i + len])) len++;
      } else if (dlut_tok_is_number(c)) {
        len = 1;
      } else if (!dlut_tok_re_isspace(c)) {
        len = 1;
        while (i + len < s->n) {
          uint32_t d = s->cp[i + len];
          if (dlut_tok_re_isspace(d) || dlut_tok_is_letter(d) || dlut_tok_is_number(d)) break;
          len++;
        }
      }
    }
    if (!len) {
      i++;
      continue;
    }
    int r = fn(ctx, i, i + len);
    if (r) return r < 0 ? -1 : 0;
    i += len;
  }
  return 0;
}

/* ==== BPE ==== */

int dlut_tok_bpe_word_naive(const dlut_tokenizer *tk, int32_t *sym, int n) {
  while (n > 1) {
    const dlut_tok_merge *best = NULL;
    for (int i = 0; i + 1 < n; i++) {
      const dlut_tok_merge *m = merges_get(tk, sym[i], sym[i + 1]);
      if (m && (!best || m->rank < best->rank)) best = m;
    }
    if (!best) break;
    int32_t first = (int32_t)(best->key >> 32), second = (int32_t)(best->key & 0xFFFFFFFFu);
    int k = 0;
    for (int i = 0; i < n;) {
      if (sym[i] == first && i < n - 1 && sym[i + 1] == second) {
        sym[k++] = best->merged;
        i += 2;
      } else {
        sym[k++] = sym[i++];
      }
    }
    n = k;
  }
  return n;
}

typedef struct heap_item {
  int32_t rank;        /* merge rank (lower first) */
  int32_t pos;         /* left symbol's node (leftmost first among equal ranks) */
  int32_t left, right; /* the ids when pushed; stale if either changed */
} heap_item;

static int heap_less(const heap_item *a, const heap_item *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_item *h, int *n, heap_item it) {
  int i = (*n)++;
  h[i] = it;
  while (i > 0) {
    int p = (i - 1) / 2;
    if (!heap_less(&h[i], &h[p])) break;
    heap_item t = h[i];
    h[i] = h[p];
    h[p] = t;
    i = p;
  }
}

static heap_item heap_pop(heap_item *h, int *n) {
  heap_item top = h[0];
  h[0] = h[--(*n)];
  int i = 0;
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < *n && heap_less(&h[l], &h[m])) m = l;
    if (r < *n && heap_less(&h[r], &h[m])) m = r;
    if (m == i) break;
    heap_item t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
  return top;
}

int dlut_tok_bpe_word_fast(const dlut_tokenizer *tk, int32_t *sym, int n) {
  if (n < 2) return n;
  if (!tk->merges_monotone) return dlut_tok_bpe_word_naive(tk, sym, n);
  int32_t *next = malloc((size_t)n * 2 * sizeof *next);
  heap_item *heap = malloc((size_t)n * 3 * sizeof *heap);
  if (!next || !heap) {
    free(next);
    free(heap);
    return dlut_error("tokenizer: out of memory");
  }
  int32_t *prev = next + n;
  int hn = 0;
  for (int i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  for (int i = 0; i + 1 < n; i++) {
    const dlut_tok_merge *m = merges_get(tk, sym[i], sym[i + 1]);
    if (m) heap_push(heap, &hn, (heap_item){m->rank, i, sym[i], sym[i + 1]});
  }
  while (hn > 0) {
    heap_item it = heap_pop(heap, &hn);
    int i = it.pos, j = next[i];
    if (sym[i] != it.left || j < 0 || sym[j] != it.right) continue; /* stale */
    const dlut_tok_merge *m = merges_get(tk, it.left, it.right);
    sym[i] = m->merged;
    sym[j] = -1; /* dead */
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    /* the two new neighbour pairs (at most 2 pushes per merge: the heap holds < 3n) */
    if (prev[i] >= 0) {
      const dlut_tok_merge *p = merges_get(tk, sym[prev[i]], sym[i]);
      if (p) heap_push(heap, &hn, (heap_item){p->rank, prev[i], sym[prev[i]], sym[i]});
    }
    if (next[i] >= 0) {
      const dlut_tok_merge *q = merges_get(tk, sym[i], sym[next[i]]);
      if (q) heap_push(heap, &hn, (heap_item){q->rank, i, sym[i], sym[next[i]]});
    }
  }
  int k = 0;
  for (int i = 0; i >= 0; i = next[i]) sym[k++] = sym[i];
  free(next);
  free(heap);
  return k;
}

/* ==== Encoding ==== */

typedef struct encode_ctx {
  const dlut_tokenizer *tk;
  const dlut_tok_str *s; /* cleaned text */
  int32_t *ids;          /* output */
  int n, max;            /* ids written, capacity */
  int32_t *sym;          /* scratch: symbols of one pre-token */
  size_t sym_cap;        /* entries in sym */
} encode_ctx;

static int encode_piece(void *vctx, size_t b, size_t e) {
  encode_ctx *c = vctx;
  const dlut_tokenizer *tk = c->tk;
  const uint32_t *cp = c->s->cp + b;
  size_t len = e - b;
  /* The special tokens are in upstream's bpe cache verbatim. */
  if (len == strlen(k_sot) || len == strlen(k_eot)) {
    const char *lit = len == strlen(k_sot) ? k_sot : k_eot;
    size_t k = 0;
    while (k < len && cp[k] == (uint32_t)(unsigned char)lit[k]) k++;
    if (k == len) {
      c->ids[c->n++] = len == strlen(k_sot) ? tk->start_id : tk->end_id;
      return c->n >= c->max;
    }
  }
  if (len * 4 > c->sym_cap) {
    size_t cap = len * 4;
    if (cap > (size_t)INT32_MAX) return dlut_error("tokenizer: word too long");
    int32_t *p = realloc(c->sym, cap * sizeof *p);
    if (!p) return dlut_error("tokenizer: out of memory");
    c->sym = p;
    c->sym_cap = cap;
  }
  int n = 0;
  for (size_t k = 0; k < len; k++) {
    char u8[4];
    int m = dlut_tok_utf8_put(cp[k], u8);
    for (int q = 0; q < m; q++) c->sym[n++] = tk->byte_id[(uint8_t)u8[q]];
    if (k + 1 == len) c->sym[n - 1] = tk->byte_eow_id[(uint8_t)u8[m - 1]];
  }
  n = dlut_tok_bpe_word_fast(tk, c->sym, n);
  if (n < 0) return -1;
  for (int k = 0; k < n && c->n < c->max; k++) c->ids[c->n++] = c->sym[k];
  return c->n >= c->max;
}

int dlut_tok_bpe_encode_body(const dlut_tokenizer *tk, const char *text, size_t len, int32_t *ids, int max) {
  dlut_tok_str s = {0};
  encode_ctx c = {tk, &s, ids, 0, max, NULL, 0};
  int rc = -1;
  if (max <= 0) return 0;
  if (dlut_tok_bpe_clean(text, len, &s) != 0) goto fail;
  if (dlut_tok_bpe_pretokenize(&s, encode_piece, &c) != 0) goto fail;
  rc = c.n;
fail:
  dlut_tok_str_free(&s);
  free(c.sym);
  return rc;
}
