/* tests/test_clip_hostile.c - CLIP model folders damaged the way a hostile
 * (or unlucky) user damages them: absurd numbers in config.json and
 * preprocessor_config.json, NaN or huge weights, a truncated vocabulary, the
 * weights file given instead of the folder, empty texts and empty keys.
 * Every case must end in one clear error (or, for the empty cases, a normal
 * result), never undefined behaviour, NaN output or a silent wrong load.
 * The folders are the reference cases (data/clip-ref) linked file by file
 * into a scratch folder, with the damaged file replaced. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>
#include <zlib.h>

#include "clip/tokenizer_internal.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/tokenizer.h"
#include "test.h"

static char g_src_openai[4096], g_src_chinese[4096];

static int sh(const char *fmt, const char *a, const char *b) {
  char cmd[9000];
  snprintf(cmd, sizeof cmd, fmt, a, b);
  return system(cmd);
}

/* dst/ = links to every file of src/, fresh. */
static void make_model(const char *dst, const char *src) {
  CHECK(sh("rm -rf '%s' && mkdir -p '%s'", dst, dst) == 0);
  CHECK(sh("ln -s '%s'/* '%s'/", src, dst) == 0);
}

/* Replace dst/name (a link) with a file holding text. */
static void put_file(const char *dst, const char *name, const char *text) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dst, name);
  unlink(path);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (!f) return;
  fputs(text, f);
  fclose(f);
}

static int err_has(const char *s) {
  return strstr(dlut_last_error(), s) != NULL;
}

/* ==== 1. config.json numbers out of int's range ==== */

static void test_config_numbers(const char *dir) {
  static const struct {
    const char *json, *expect;
  } cases[] = {
      {"{\"model_type\": \"clip\", \"vision_config\": {\"hidden_size\": 1e12}}", "vision_config.hidden_size"},
      {"{\"model_type\": \"clip\", \"vision_config\": {\"num_hidden_layers\": 1099511627776}}",
       "vision_config.num_hidden_layers"},
      {"{\"model_type\": \"clip\", \"text_config\": {\"vocab_size\": 1e400}}", "text_config.vocab_size"},
      {"{\"model_type\": \"clip\", \"projection_dim\": -1e300}", "projection_dim"},
      {"{\"model_type\": \"clip\", \"vision_config\": {\"patch_size\": 8.5}}", "vision_config.patch_size"},
      {"{\"model_type\": \"clip\", \"text_config\": {\"hidden_size\": \"48\"}}", "text_config.hidden_size"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    make_model(dir, g_src_openai);
    put_file(dir, "config.json", cases[i].json);
    dlut_error_clear();
    dlut_clip *m = dlut_clip_load(dir);
    CHECK_MSG(m == NULL, "config case %zu loaded", i);
    CHECK_MSG(err_has(cases[i].expect) && err_has("config.json"), "config case %zu: \"%s\" lacks \"%s\"", i,
              dlut_last_error(), cases[i].expect);
    dlut_clip_free(m);
  }
  /* transformers writes model_max_length 1e30 for "no limit": not an error */
  make_model(dir, g_src_chinese);
  put_file(dir, "tokenizer_config.json", "{\"model_max_length\": 1000000000000000019884624838656}");
  dlut_clip *m = dlut_clip_load(dir);
  CHECK_MSG(m != NULL, "model_max_length 1e30: %s", dlut_last_error());
  if (m) CHECK(dlut_clip_get_info(m)->context_length == 52);
  dlut_clip_free(m);
}

/* ==== 2. preprocessor_config.json normalisation ==== */

static void test_preprocessor(const char *dir) {
  static const struct {
    const char *json, *expect;
  } cases[] = {
      {"{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [1e-300, 0.3, 0.3]}", "image_std"},
      {"{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.3, 1e-40, 0.3]}", "image_std"},
      {"{\"image_mean\": [0.5, 1e300, 0.5], \"image_std\": [0.3, 0.3, 0.3]}", "image_mean"},
      {"{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.3, 0.3, 1e400]}", "image_std"},
      {"{\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.3, 0.3, -0.3]}", "image_std"},
      {"{\"image_mean\": [0.5, 0.5], \"image_std\": [0.3, 0.3, 0.3]}", "image_mean"},
      {"{\"image_mean\": [0.5, 0.5, \"x\"], \"image_std\": [0.3, 0.3, 0.3]}", "image_mean"},
      {"{not json", "preprocessor_config.json"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    make_model(dir, g_src_openai);
    put_file(dir, "preprocessor_config.json", cases[i].json);
    dlut_error_clear();
    dlut_clip *m = dlut_clip_load(dir);
    CHECK_MSG(m == NULL, "preprocessor case %zu loaded", i);
    CHECK_MSG(err_has(cases[i].expect), "preprocessor case %zu: \"%s\" lacks \"%s\"", i, dlut_last_error(),
              cases[i].expect);
    dlut_clip_free(m);
  }
  /* one number for all channels, as transformers allows */
  make_model(dir, g_src_openai);
  put_file(dir, "preprocessor_config.json", "{\"image_mean\": 0.5, \"image_std\": [0.25, 0.5, 1]}");
  dlut_clip *m = dlut_clip_load(dir);
  CHECK_MSG(m != NULL, "%s", dlut_last_error());
  if (m) {
    dlut_clip_info info = *dlut_clip_get_info(m);
    CHECK(info.mean[0] == 0.5f && info.mean[2] == 0.5f && info.std[0] == 0.25f && info.std[2] == 1.0f);
    /* an info filled in by hand is checked too: no division by zero */
    uint8_t rgb[4 * 4 * 3] = {0};
    float *pix = malloc(sizeof(float) * 3 * info.image_size * info.image_size);
    CHECK(dlut_clip_preprocess_u8(&info, rgb, 4, 4, pix) == 0);
    info.std[1] = 0;
    CHECK(dlut_clip_preprocess_u8(&info, rgb, 4, 4, pix) != 0 && err_has("std"));
    info.std[1] = 0.5f, info.mean[0] = NAN;
    CHECK(dlut_clip_preprocess(&info, (const float[48]){0}, 4, 4, pix) != 0);
    free(pix);
  }
  dlut_clip_free(m);
}

/* ==== 3. empty texts, empty keys (UBSan: NULL + 0, memcmp(NULL, .., 0)) ==== */

static void test_empty(void) {
  char path[4200];
  snprintf(path, sizeof path, "%s", g_src_openai);
  dlut_tokenizer *tk = dlut_tokenizer_load(path, DLUT_TOKENIZER_BPE, 77);
  CHECK_MSG(tk != NULL, "%s", dlut_last_error());
  if (tk) {
    int32_t ids[77];
    CHECK(dlut_tokenizer_encode(tk, "", ids, 77) == 2 && ids[0] == 49406 && ids[1] == 49407);
    CHECK(dlut_tokenizer_encode_n(tk, NULL, 0, ids, 77) == 2);
    CHECK(dlut_tokenizer_encode(tk, " \t\n", ids, 77) == 2);
    dlut_tokenizer_free(tk);
  }
  dlut_tok_str out = {0};
  CHECK(dlut_tok_bpe_clean("", 0, &out) == 0 && out.n == 0);
  dlut_tok_str_free(&out);
  /* a map holding only the empty key never allocates its key bytes */
  dlut_tok_map mp = {0};
  CHECK(dlut_tok_map_get(&mp, "", 0) == -1);
  CHECK(dlut_tok_map_put(&mp, "", 0, 7) == 0);
  CHECK(dlut_tok_map_put(&mp, "", 0, 8) == 0 && mp.count == 1);
  CHECK(dlut_tok_map_get(&mp, "", 0) == 8);
  CHECK(dlut_tok_map_get(&mp, "a", 1) == -1);
  for (int i = 0; i < 3000; i++) /* grows the table: rehashes the empty key */
    CHECK(dlut_tok_map_put(&mp, "", 0, i) == 0);
  CHECK(dlut_tok_map_get(&mp, "", 0) == 2999);
  dlut_tok_map_free(&mp);
}

/* ==== 5. NaN or huge weights ==== */

/* Overwrite every float of tensor name in a safetensors file with v. */
static int poison_tensor(const char *path, const char *name, float v) {
  FILE *f = fopen(path, "r+b");
  if (!f) return -1;
  uint64_t hlen = 0;
  int rc = -1;
  char *hdr = NULL;
  cJSON *j = NULL;
  if (fread(&hlen, 8, 1, f) != 1 || hlen > (1 << 24) || !(hdr = malloc(hlen + 1))) goto done;
  if (fread(hdr, 1, hlen, f) != hlen) goto done;
  hdr[hlen] = 0;
  j = cJSON_Parse(hdr);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, name);
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
  if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2) goto done;
  long b = (long)cJSON_GetArrayItem(off, 0)->valuedouble, e = (long)cJSON_GetArrayItem(off, 1)->valuedouble;
  if (fseek(f, 8 + (long)hlen + b, SEEK_SET) != 0) goto done;
  for (long k = b; k + 4 <= e; k += 4)
    if (fwrite(&v, 4, 1, f) != 1) goto done;
  rc = 0;
done:
  cJSON_Delete(j);
  free(hdr);
  fclose(f);
  return rc;
}

/* dir with a private copy of model.safetensors whose tensor is set to v. */
static void damaged_model(const char *dir, const char *tensor, float v) {
  char path[4200];
  make_model(dir, g_src_openai);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  unlink(path);
  CHECK(sh("cp '%s/model.safetensors' '%s/'", g_src_openai, dir) == 0);
  CHECK(sh("chmod u+w '%s/model.safetensors'%s", dir, "") == 0);
  CHECK_MSG(poison_tensor(path, tensor, v) == 0, "cannot damage %s", tensor);
}

static void test_damaged_weights(const char *dir) {
  static const char *const tensors[] = {"visual_projection.weight", "text_projection.weight"};
  for (int k = 0; k < 2; k++) {
    damaged_model(dir, tensors[k], NAN);
    dlut_clip *m = dlut_clip_load(dir);
    CHECK_MSG(m != NULL, "%s", dlut_last_error());
    if (!m) continue;
    const dlut_clip_info *info = dlut_clip_get_info(m);
    int S = info->image_size;
    float *pix = calloc((size_t)3 * S * S, sizeof *pix), e[64];
    int ri = dlut_clip_encode_image(m, pix, e);
    CHECK_MSG(k == 0 ? ri != 0 && err_has("not finite") && err_has("damaged") : ri == 0, "image %d: %s", k,
              dlut_last_error());
    int rt = dlut_clip_encode_text(m, "a photo of a cat", e);
    CHECK_MSG(k == 1 ? rt != 0 && err_has("not finite") && err_has("damaged") : rt == 0, "text %d: %s", k,
              dlut_last_error());
    /* NaN pixels are blamed on the pixels, not the model */
    pix[5] = NAN;
    CHECK(dlut_clip_encode_image(m, pix, e) != 0 && err_has("pixels") && !err_has("damaged"));
    free(pix);
    dlut_clip_free(m);
    /* dlut embed: an error, never "nan" in the JSON */
    const char *dlut = getenv("DLUT");
    char cmd[9000], out[4200];
    snprintf(out, sizeof out, "%s/embed.json", dir);
    snprintf(cmd, sizeof cmd, "'%s' embed --model '%s' --image '%s/images/img0_landscape_100x60.png' --text cat >'%s'",
             dlut && *dlut ? dlut : "build/dlut", dir, g_src_openai, out);
    CHECK_MSG(system(cmd) != 0, "dlut embed with damaged %s exits 0", tensors[k]);
    FILE *f = fopen(out, "r");
    if (f) {
      char buf[256] = {0};
      size_t got = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      CHECK_MSG(got == 0, "dlut embed printed \"%.40s\"", buf);
    }
  }
  /* a logit_scale whose exp overflows */
  damaged_model(dir, "logit_scale", 1e30f);
  dlut_clip *m = dlut_clip_load(dir);
  CHECK_MSG(m == NULL && err_has("logit_scale"), "logit_scale 1e30: %s", m ? "loaded" : dlut_last_error());
  dlut_clip_free(m);
}

/* ==== 6. the weights file instead of the folder ==== */

static void test_file_not_folder(void) {
  char path[4200];
  snprintf(path, sizeof path, "%s/model.safetensors", g_src_openai);
  dlut_clip *m = dlut_clip_load(path);
  CHECK_MSG(m == NULL && err_has("give the model folder, not the file"), "%s", m ? "loaded" : dlut_last_error());
  dlut_clip_free(m);
  snprintf(path, sizeof path, "%s/config.json", g_src_openai);
  CHECK(dlut_clip_load(path) == NULL && err_has("not the file"));
}

/* ==== 7. vocabularies that do not fit the model's config ==== */

/* dir/bpe_simple_vocab_16e6.txt.gz: the first keep bytes of the upstream
 * text, gzipped whole (keep 0: all of it). */
static void write_gz(const char *dir, size_t keep) {
  gzFile in = gzopen(test_shared("data/tokenizers/openai_bpe/bpe_simple_vocab_16e6.txt.gz"), "rb");
  char path[4200];
  snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
  gzFile out = gzopen(path, "wb");
  CHECK(in && out);
  if (!in || !out) return;
  char buf[65536];
  size_t total = 0;
  int n;
  while ((n = gzread(in, buf, sizeof buf)) > 0) {
    size_t w = keep && total + (size_t)n > keep ? keep - total : (size_t)n;
    if (w) gzwrite(out, buf, (unsigned)w);
    total += w;
    if (keep && total >= keep) break;
  }
  gzclose(in);
  gzclose(out);
}

static void bpe_gz_model(const char *dir) {
  char cmd[9000];
  make_model(dir, g_src_openai);
  snprintf(cmd, sizeof cmd, "rm -f '%s/vocab.json' '%s/merges.txt'", dir, dir);
  CHECK(system(cmd) == 0);
}

static void test_vocab_mismatch(const char *dir) {
  char path[4200];
  int32_t ids[77];
  /* the whole upstream vocabulary fits the config */
  bpe_gz_model(dir);
  write_gz(dir, 0);
  dlut_tokenizer *tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk != NULL, "%s", dlut_last_error());
  if (tk) CHECK(dlut_tokenizer_encode(tk, "a cat", ids, 77) == 4 && ids[3] == 49407);
  dlut_tokenizer_free(tk);
  /* a valid gzip of the first half of the merges: ids shift */
  bpe_gz_model(dir);
  write_gz(dir, 300000);
  tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk == NULL && err_has("vocab_size"), "half vocabulary: %s", tk ? "loaded" : dlut_last_error());
  dlut_tokenizer_free(tk);
  dlut_clip *m = dlut_clip_load(dir);
  CHECK_MSG(m != NULL, "%s", dlut_last_error());
  if (m) {
    CHECK(dlut_clip_tokenize(m, "a cat", ids, 77) < 0 && err_has("vocab_size"));
    dlut_clip_free(m);
  }
  /* the gzip file itself cut short */
  bpe_gz_model(dir);
  write_gz(dir, 0);
  snprintf(path, sizeof path, "%s/bpe_simple_vocab_16e6.txt.gz", dir);
  CHECK(truncate(path, 600000) == 0);
  tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk == NULL && (err_has("truncated") || err_has("vocab_size")), "cut gzip: %s",
            tk ? "loaded" : dlut_last_error());
  dlut_tokenizer_free(tk);
  /* special ids that disagree with the config */
  make_model(dir, g_src_openai);
  put_file(
      dir, "config.json",
      "{\"model_type\": \"clip\", \"projection_dim\": 16, \"text_config\": {\"hidden_size\": 48, "
      "\"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 192, \"eos_token_id\": 49406}, "
      "\"vision_config\": {\"hidden_size\": 32, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
      "\"intermediate_size\": 128, \"image_size\": 32, \"patch_size\": 8}}");
  tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk == NULL && err_has("eos_token_id"), "eos: %s", tk ? "loaded" : dlut_last_error());
  dlut_tokenizer_free(tk);
  /* the legacy eos_token_id 2 of old hub configs is not a mismatch */
  put_file(
      dir, "config.json",
      "{\"model_type\": \"clip\", \"text_config\": {\"eos_token_id\": 2, \"bos_token_id\": 0, \"pad_token_id\": 1}}");
  tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk != NULL, "legacy ids: %s", dlut_last_error());
  dlut_tokenizer_free(tk);
  /* WordPiece: a vocab.txt missing its last lines */
  make_model(dir, g_src_chinese);
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  unlink(path);
  CHECK(sh("head -n 21000 '%s/vocab.txt' > '%s/vocab.txt'", g_src_chinese, dir) == 0);
  tk = dlut_tokenizer_load_model(dir);
  CHECK_MSG(tk == NULL && err_has("vocab_size"), "short vocab.txt: %s", tk ? "loaded" : dlut_last_error());
  dlut_tokenizer_free(tk);
}

int main(void) {
  char *a = realpath(test_shared("data/clip-ref/openai_tiny"), NULL);
  char *b = realpath(test_shared("data/clip-ref/chinese_clip_tiny"), NULL);
  CHECK(a && b);
  if (!a || !b) return test_summary("clip_hostile");
  snprintf(g_src_openai, sizeof g_src_openai, "%s", a);
  snprintf(g_src_chinese, sizeof g_src_chinese, "%s", b);
  free(a), free(b);
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/model", test_tmpdir("clip-hostile"));
  test_config_numbers(dir);
  test_preprocessor(dir);
  test_empty();
  test_damaged_weights(dir);
  test_file_not_folder();
  test_vocab_mismatch(dir);
  CHECK(sh("rm -rf '%s'%s", test_tmpdir("clip-hostile"), "") == 0);
  return test_summary("clip_hostile");
}
