/* src/clip/tokenizer.c - the public tokenizer API (include/dlut/tokenizer.h).
 *
 * Loading picks the BPE (bpe.c) or WordPiece (wordpiece.c) vocabulary;
 * encoding adds the special tokens and truncates exactly as the upstream
 * tokenize() helpers do. Both helpers come to the same rule:
 *   clip.tokenize(truncate=True):  [sot] + ids + [eot], cut to C, last set to eot
 *   cn_clip.clip.tokenize:         [CLS] + ids[:C-2] + [SEP]
 * i.e. start + the first C-2 body ids + end. So the body encoders stop after
 * C-2 ids, which bounds the work on hostile (long) text.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clip/tokenizer_internal.h"
#include "dlut/error.h"
#include "dlut/file.h"

/* ==== String -> id hash map ==== */

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

/* The bytes of entry ent. A map whose keys are all empty never allocates
 * keys, and NULL + 0 is undefined, hence the "". */
static const char *map_key(const dlut_tok_map *m, uint64_t ent) {
  return m->keys ? m->keys + (ent >> 24) : "";
}

static int map_grow(dlut_tok_map *m) {
  size_t ns = m->nslots ? m->nslots * 2 : 1024;
  int32_t *slots = malloc(ns * sizeof *slots);
  if (!slots) return dlut_error("tokenizer: out of memory");
  for (size_t i = 0; i < ns; i++) slots[i] = -1;
  for (size_t e = 0; e < m->count; e++) {
    uint64_t ent = m->entries[e];
    size_t h = (size_t)hash_bytes(map_key(m, ent), (size_t)(ent & 0xFFFFFF)) & (ns - 1);
    while (slots[h] >= 0) h = (h + 1) & (ns - 1);
    slots[h] = (int32_t)e;
  }
  free(m->slots);
  m->slots = slots;
  m->nslots = ns;
  return 0;
}

static int32_t *map_find(const dlut_tok_map *m, const char *key, size_t len) {
  if (!m->nslots) return NULL;
  size_t h = (size_t)hash_bytes(key, len) & (m->nslots - 1);
  while (m->slots[h] >= 0) {
    uint64_t ent = m->entries[m->slots[h]];
    if ((ent & 0xFFFFFF) == len && (len == 0 || memcmp(map_key(m, ent), key, len) == 0)) return &m->slots[h];
    h = (h + 1) & (m->nslots - 1);
  }
  return &m->slots[h];
}

int dlut_tok_map_put(dlut_tok_map *m, const char *key, size_t len, int32_t value) {
  if (len >= 0xFFFFFF) return dlut_error("tokenizer: token of %zu bytes is too long", len);
  if (m->count >= (size_t)DLUT_TOK_MAX_VOCAB) return dlut_error("tokenizer: more than %d tokens", DLUT_TOK_MAX_VOCAB);
  if ((m->count + 1) * 2 > m->nslots && map_grow(m) != 0) return -1;
  int32_t *slot = map_find(m, key, len);
  if (*slot >= 0) {
    m->values[*slot] = value; /* the last duplicate wins, as in a Python dict */
    return 0;
  }
  if (m->count == m->entries_cap) {
    size_t nc = m->entries_cap ? m->entries_cap * 2 : 1024;
    uint64_t *e = realloc(m->entries, nc * sizeof *e);
    if (!e) return dlut_error("tokenizer: out of memory");
    m->entries = e;
    int32_t *v = realloc(m->values, nc * sizeof *v);
    if (!v) return dlut_error("tokenizer: out of memory");
    m->values = v;
    m->entries_cap = nc;
  }
  if (m->keys_len + len > m->keys_cap) {
    size_t nc = m->keys_cap ? m->keys_cap : 65536;
    while (nc < m->keys_len + len) nc *= 2;
    if (nc > ((size_t)1 << 39)) return dlut_error("tokenizer: vocabulary too large");
    char *k = realloc(m->keys, nc);
    if (!k) return dlut_error("tokenizer: out of memory");
    m->keys = k;
    m->keys_cap = nc;
  }
  if (len) memcpy(m->keys + m->keys_len, key, len);
  m->entries[m->count] = (uint64_t)m->keys_len << 24 | len;
  m->values[m->count] = value;
  *slot = (int32_t)m->count++;
  m->keys_len += len;
  if (len > m->max_key_len) m->max_key_len = len;
  return 0;
}

int32_t dlut_tok_map_get(const dlut_tok_map *m, const char *key, size_t len) {
  int32_t *slot = map_find(m, key, len);
  return slot && *slot >= 0 ? m->values[*slot] : -1;
}

void dlut_tok_map_free(dlut_tok_map *m) {
  free(m->keys);
  free(m->entries);
  free(m->values);
  free(m->slots);
  memset(m, 0, sizeof *m);
}

/* ==== Public API ==== */

static int check_model_config(const dlut_tokenizer *tk, const char *dir);

dlut_tokenizer *dlut_tokenizer_load(const char *path, dlut_tokenizer_kind kind, int context_length) {
  if (!path) {
    dlut_error("tokenizer: no path");
    return NULL;
  }
  if (kind != DLUT_TOKENIZER_BPE && kind != DLUT_TOKENIZER_WORDPIECE) {
    dlut_error("%s: unknown tokenizer kind %d", path, (int)kind);
    return NULL;
  }
  if (context_length < 2 || context_length > DLUT_TOK_MAX_CONTEXT) {
    dlut_error("%s: context length %d outside 2..%d", path, context_length, DLUT_TOK_MAX_CONTEXT);
    return NULL;
  }
  dlut_tokenizer *tk = calloc(1, sizeof *tk);
  if (!tk) {
    dlut_error("tokenizer: out of memory");
    return NULL;
  }
  tk->kind = kind;
  tk->context_length = context_length;
  int rc = kind == DLUT_TOKENIZER_BPE ? dlut_tok_bpe_load(tk, path) : dlut_tok_wordpiece_load(tk, path);
  if (rc == 0) rc = check_model_config(tk, path);
  if (rc == 0) {
    tk->id_entry = malloc((size_t)(tk->vocab_size > 0 ? tk->vocab_size : 1) * sizeof *tk->id_entry);
    if (!tk->id_entry) rc = dlut_error("tokenizer: out of memory");
  }
  if (rc != 0) {
    dlut_tokenizer_free(tk);
    return NULL;
  }
  for (int32_t i = 0; i < tk->vocab_size; i++) tk->id_entry[i] = -1;
  for (size_t e = 0; e < tk->vocab.count; e++) tk->id_entry[tk->vocab.values[e]] = (int32_t)e;
  return tk;
}

void dlut_tokenizer_free(dlut_tokenizer *tk) {
  if (!tk) return;
  dlut_tok_map_free(&tk->vocab);
  free(tk->merges);
  free(tk->id_entry);
  free(tk);
}

int dlut_tokenizer_encode_n(const dlut_tokenizer *tk, const char *text, size_t len, int32_t *ids, int max_ids) {
  if (!tk || (!text && len) || !ids) return dlut_error("tokenizer: NULL argument");
  if (len > DLUT_TOK_MAX_TEXT_BYTES)
    return dlut_error("tokenizer: text of %zu bytes exceeds the %u byte limit", len, DLUT_TOK_MAX_TEXT_BYTES);
  int ctx = tk->context_length;
  int32_t *body = malloc((size_t)ctx * sizeof *body);
  if (!body) return dlut_error("tokenizer: out of memory");
  int n = tk->kind == DLUT_TOKENIZER_BPE ? dlut_tok_bpe_encode_body(tk, text ? text : "", len, body, ctx - 2)
                                         : dlut_tok_wordpiece_encode_body(tk, text ? text : "", len, body, ctx - 2);
  if (n < 0) {
    free(body);
    return -1;
  }
  if (n + 2 > max_ids) {
    free(body);
    return dlut_error("tokenizer: %d ids do not fit in a buffer of %d", n + 2, max_ids);
  }
  ids[0] = tk->start_id;
  memcpy(ids + 1, body, (size_t)n * sizeof *body);
  ids[n + 1] = tk->end_id;
  free(body);
  return n + 2;
}

int dlut_tokenizer_encode(const dlut_tokenizer *tk, const char *text, int32_t *ids, int max_ids) {
  return dlut_tokenizer_encode_n(tk, text, text ? strlen(text) : 0, ids, max_ids);
}

int dlut_tokenizer_encode_padded(const dlut_tokenizer *tk, const char *text, int32_t *ids) {
  if (!tk) return dlut_error("tokenizer: NULL argument");
  int n = dlut_tokenizer_encode(tk, text, ids, tk->context_length);
  if (n < 0) return -1;
  for (int i = n; i < tk->context_length; i++) ids[i] = tk->pad_id;
  return n;
}

int dlut_tokenizer_pad_id(const dlut_tokenizer *tk) {
  return tk->pad_id;
}
int dlut_tokenizer_start_id(const dlut_tokenizer *tk) {
  return tk->start_id;
}
int dlut_tokenizer_end_id(const dlut_tokenizer *tk) {
  return tk->end_id;
}
int dlut_tokenizer_context_length(const dlut_tokenizer *tk) {
  return tk->context_length;
}
int dlut_tokenizer_vocab_size(const dlut_tokenizer *tk) {
  return tk->vocab_size;
}
dlut_tokenizer_kind dlut_tokenizer_get_kind(const dlut_tokenizer *tk) {
  return tk->kind;
}

const char *dlut_tokenizer_token(const dlut_tokenizer *tk, int id, size_t *len) {
  if (!tk || id < 0 || id >= tk->vocab_size || tk->id_entry[id] < 0) return NULL;
  uint64_t ent = tk->vocab.entries[tk->id_entry[id]];
  if (len) *len = (size_t)(ent & 0xFFFFFF);
  return map_key(&tk->vocab, ent);
}

/* ==== Model folders ==== */

static cJSON *read_json(const char *dir, const char *name, int required) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  struct stat st;
  if (!required && stat(path, &st) != 0) return NULL;
  size_t size = 0;
  char *text = dlut_file_read_all(path, 1 << 20, &size);
  if (!text) return NULL; /* the message names the file */
  cJSON *j = cJSON_ParseWithLength(text, size);
  free(text);
  if (!j || !cJSON_IsObject(j)) {
    cJSON_Delete(j);
    dlut_error("%s: not a JSON object", path);
    return NULL;
  }
  return j;
}

static int json_int(const cJSON *obj, const char *key, int *out) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  /* range first: converting an out-of-range double to int is undefined */
  if (!cJSON_IsNumber(v) || !(v->valuedouble >= -1e9 && v->valuedouble <= 1e9) ||
      v->valuedouble != (double)(int)v->valuedouble)
    return -1;
  *out = (int)v->valuedouble;
  return 0;
}

static int has_file(const char *dir, const char *name) {
  char path[4096];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A folder with tokenizer files but no config.json (e.g. just OpenAI's
 * bpe_simple_vocab_16e6.txt.gz): the files name the kind, contexts default. */
static int info_from_files(const char *dir, dlut_tokenizer_kind *kind, int *context_length) {
  if (has_file(dir, "vocab.txt")) {
    *kind = DLUT_TOKENIZER_WORDPIECE;
    *context_length = 52;
  } else if ((has_file(dir, "vocab.json") && has_file(dir, "merges.txt")) ||
             has_file(dir, "bpe_simple_vocab_16e6.txt.gz")) {
    *kind = DLUT_TOKENIZER_BPE;
    *context_length = 77;
  } else {
    return dlut_error("%s: no config.json, vocab.txt, vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz", dir);
  }
  cJSON *tcfg = read_json(dir, "tokenizer_config.json", 0);
  int mml;
  if (tcfg && json_int(tcfg, "model_max_length", &mml) == 0 && mml >= 2 && mml <= DLUT_TOK_MAX_CONTEXT)
    *context_length = mml;
  cJSON_Delete(tcfg);
  return 0;
}

/* A vocabulary that does not fit the model next to it (a truncated
 * bpe_simple_vocab_16e6.txt.gz or vocab.txt, a file from another model)
 * would load with shifted ids and give wrong text embeddings without a
 * word, so a folder's config.json is checked where it says: vocab_size
 * (the token embedding's rows), and for BPE the special ids bos_token_id /
 * eos_token_id (not the legacy 0 / 2 of old hub configs, which transformers
 * itself ignores), for WordPiece pad_token_id against [PAD]. */
static int check_model_config(const dlut_tokenizer *tk, const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || !has_file(dir, "config.json")) return 0;
  cJSON *cfg = read_json(dir, "config.json", 1);
  if (!cfg) return -1;
  const cJSON *tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
  if (!cJSON_IsObject(tc)) tc = cJSON_GetObjectItemCaseSensitive(cfg, "text_config_dict");
  int rc = 0, v;
  if (cJSON_IsObject(tc)) {
    if (json_int(tc, "vocab_size", &v) == 0 && v != tk->vocab_size)
      rc = dlut_error(
          "%s: the vocabulary has %d tokens but config.json's vocab_size is %d (a truncated or another "
          "model's vocabulary file)",
          dir, tk->vocab_size, v);
    else if (tk->kind == DLUT_TOKENIZER_BPE && json_int(tc, "bos_token_id", &v) == 0 && v != 0 && v != tk->start_id)
      rc = dlut_error("%s: the vocabulary's start token is id %d but config.json's bos_token_id is %d", dir,
                      tk->start_id, v);
    else if (tk->kind == DLUT_TOKENIZER_BPE && json_int(tc, "eos_token_id", &v) == 0 && v != 2 && v != tk->end_id)
      rc = dlut_error("%s: the vocabulary's end token is id %d but config.json's eos_token_id is %d", dir, tk->end_id,
                      v);
    else if (tk->kind == DLUT_TOKENIZER_WORDPIECE && json_int(tc, "pad_token_id", &v) == 0) {
      int32_t pad = dlut_tok_map_get(&tk->vocab, "[PAD]", 5);
      if (pad >= 0 && pad != v)
        rc = dlut_error("%s: the vocabulary's [PAD] is id %d but config.json's pad_token_id is %d", dir, (int)pad, v);
    }
  }
  cJSON_Delete(cfg);
  return rc;
}

int dlut_tokenizer_model_info(const char *model_dir, dlut_tokenizer_kind *kind, int *context_length) {
  if (!has_file(model_dir, "config.json")) {
    struct stat st;
    if (stat(model_dir, &st) != 0 || !S_ISDIR(st.st_mode)) return dlut_error("%s: not a folder", model_dir);
    return info_from_files(model_dir, kind, context_length);
  }
  cJSON *cfg = read_json(model_dir, "config.json", 1);
  if (!cfg) return -1;
  cJSON *tcfg = NULL;
  int rc = -1;
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
  const cJSON *text_cfg = cJSON_GetObjectItemCaseSensitive(cfg, "text_config");
  int max_pos = 0, ctx;
  if (cJSON_IsObject(text_cfg)) json_int(text_cfg, "max_position_embeddings", &max_pos);
  if (cJSON_IsString(type) && strcmp(type->valuestring, "clip") == 0) {
    *kind = DLUT_TOKENIZER_BPE;
    ctx = max_pos > 0 ? max_pos : 77; /* clip.tokenize's context_length = the positional table */
  } else if (cJSON_IsString(type) && strcmp(type->valuestring, "chinese_clip") == 0) {
    *kind = DLUT_TOKENIZER_WORDPIECE;
    ctx = 52; /* cn_clip.clip.tokenize default, what Chinese-CLIP is trained and evaluated with */
  } else {
    dlut_error("%s/config.json: model_type is not \"clip\" or \"chinese_clip\"", model_dir);
    goto fail;
  }
  /* tokenizer_config.json's model_max_length overrides (not beyond the positions). */
  tcfg = read_json(model_dir, "tokenizer_config.json", 0);
  int mml;
  if (tcfg && json_int(tcfg, "model_max_length", &mml) == 0 && mml >= 2) ctx = mml;
  if (max_pos > 0 && ctx > max_pos) ctx = max_pos;
  if (ctx < 2 || ctx > DLUT_TOK_MAX_CONTEXT) {
    dlut_error("%s: context length %d outside 2..%d", model_dir, ctx, DLUT_TOK_MAX_CONTEXT);
    goto fail;
  }
  *context_length = ctx;
  rc = 0;
fail:
  cJSON_Delete(cfg);
  cJSON_Delete(tcfg);
  return rc;
}

dlut_tokenizer *dlut_tokenizer_load_model(const char *model_dir) {
  dlut_tokenizer_kind kind;
  int ctx;
  if (!model_dir) {
    dlut_error("tokenizer: no model folder");
    return NULL;
  }
  if (dlut_tokenizer_model_info(model_dir, &kind, &ctx) != 0) return NULL;
  return dlut_tokenizer_load(model_dir, kind, ctx);
}
