/* The CLIP model object: config.json -> dlut_clip_config (with the
 * transformers defaults for omitted fields), the Hugging Face state-dict
 * names of every parameter, loading them from a checkpoint or filling them
 * with random values, the activation arenas, and the small public calls
 * (info, tokenize, named activations). The towers themselves are in
 * vision.c and text.c.
 *
 * Parameter names follow transformers' modeling_clip.py (CLIPModel) and
 * modeling_chinese_clip.py (ChineseCLIPModel, whose text_model is a
 * BertModel without pooler); the reference cases' READMEs list the
 * upstream -> HF mapping (convert_clip_original_pytorch_to_hf.py). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clip/clip_internal.h"
#include "dlut/error.h"
#include "dlut/file.h"

/* ==== Config ==== */

/* config.json integers. Converting a double outside int's range (1e12,
 * 2^40, 1e400 which cJSON reads as inf) is undefined behaviour, so the
 * range is checked first; a value that is not a whole number in
 * -1e9..1e9 is an error naming the field (the first such error is kept in
 * *bad, the caller reports it). A missing field or null takes the default. */
static int json_int(const cJSON *o, const char *sect, const char *key, int def, int *bad) {
  const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
  if (!v || cJSON_IsNull(v)) return def;
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  if (!(d >= -1e9 && d <= 1e9) || d != floor(d)) {
    if (!*bad) {
      if (cJSON_IsNumber(v))
        dlut_error("config.json: %s%s%s is %g, not a whole number in -1e9..1e9", sect, *sect ? "." : "", key, d);
      else
        dlut_error("config.json: %s%s%s is not a number", sect, *sect ? "." : "", key);
    }
    *bad = 1;
    return def;
  }
  return (int)d;
}

static double json_num(const cJSON *o, const char *key, double def) {
  const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
  return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int parse_act(const cJSON *o, dlut_act def, dlut_act *out) {
  const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, "hidden_act") : NULL;
  if (!v) {
    *out = def;
    return 0;
  }
  if (!cJSON_IsString(v)) return dlut_error("config.json: hidden_act is not a string");
  const char *s = v->valuestring;
  if (strcmp(s, "quick_gelu") == 0)
    *out = DLUT_ACT_QUICK_GELU;
  else if (strcmp(s, "gelu") == 0)
    *out = DLUT_ACT_GELU;
  else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0 || strcmp(s, "gelu_fast") == 0)
    *out = DLUT_ACT_GELU_TANH;
  else
    return dlut_error("config.json: unsupported hidden_act \"%s\"", s);
  return 0;
}

static const cJSON *sub_config(const cJSON *root, const char *key) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, key);
  if (cJSON_IsObject(c)) return c;
  char alt[64];
  snprintf(alt, sizeof alt, "%s_dict", key); /* very old configs */
  c = cJSON_GetObjectItemCaseSensitive(root, alt);
  return cJSON_IsObject(c) ? c : NULL;
}

/* Validate a config (hostile input: everything below is used for sizes). */
static int config_check(const dlut_clip_config *c) {
  const dlut_clip_tower_config *t[2] = {&c->vision, &c->text};
  if (c->family != DLUT_CLIP_OPENAI && c->family != DLUT_CLIP_CHINESE) return dlut_error("config: unknown family");
  for (int i = 0; i < 2; i++) {
    const char *n = i ? "text" : "vision";
    if (t[i]->width < 1 || t[i]->width > CLIP_MAX_WIDTH || t[i]->layers < 1 || t[i]->layers > CLIP_MAX_LAYERS ||
        t[i]->heads < 1 || t[i]->width % t[i]->heads != 0 || t[i]->intermediate < 1 ||
        t[i]->intermediate > 8 * CLIP_MAX_WIDTH || !(t[i]->ln_eps > 0) || t[i]->ln_eps > 1)
      return dlut_error("config: bad %s tower (width %d, layers %d, heads %d, intermediate %d)", n, t[i]->width,
                        t[i]->layers, t[i]->heads, t[i]->intermediate);
  }
  if (c->patch_size < 1 || c->image_size < c->patch_size || c->image_size > CLIP_MAX_IMAGE ||
      c->image_size % c->patch_size != 0)
    return dlut_error("config: image_size %d is not a multiple of patch_size %d (or out of range)", c->image_size,
                      c->patch_size);
  if ((c->image_size / c->patch_size) * (c->image_size / c->patch_size) > CLIP_MAX_PATCHES)
    return dlut_error("config: %d x %d patches is more than %d", c->image_size / c->patch_size,
                      c->image_size / c->patch_size, CLIP_MAX_PATCHES);
  if (c->vocab_size < 1 || c->vocab_size > CLIP_MAX_VOCAB || c->max_positions < 1 ||
      c->max_positions > CLIP_MAX_CONTEXT || c->context_length < 2 || c->context_length > c->max_positions)
    return dlut_error("config: bad text sizes (vocab %d, positions %d, context %d)", c->vocab_size, c->max_positions,
                      c->context_length);
  if (c->family == DLUT_CLIP_CHINESE && (c->type_vocab_size < 1 || c->type_vocab_size > 1024))
    return dlut_error("config: bad type_vocab_size %d", c->type_vocab_size);
  if (c->projection_dim < 1 || c->projection_dim > CLIP_MAX_WIDTH)
    return dlut_error("config: bad projection_dim %d", c->projection_dim);
  return 0;
}

/* config.json (+ tokenizer_config.json for the context length) -> cfg. */
static int config_from_json(const cJSON *root, const char *dir, dlut_clip_config *c) {
  memset(c, 0, sizeof *c);
  int bad = 0;
  const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
  const char *type = cJSON_IsString(mt) ? mt->valuestring : "";
  if (strcmp(type, "clip") == 0)
    c->family = DLUT_CLIP_OPENAI;
  else if (strcmp(type, "chinese_clip") == 0)
    c->family = DLUT_CLIP_CHINESE;
  else if (type[0]) /* a model that says it is something else is not read as CLIP by its architectures */
    return dlut_errorc(DLUT_ERR_UNSUPPORTED,
                       "config.json: model_type \"%.60s\" is neither clip nor chinese_clip (DLUT loads CLIP models)",
                       type);
  else {
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *a0 = cJSON_IsArray(arch) ? cJSON_GetArrayItem(arch, 0) : NULL;
    const char *an = cJSON_IsString(a0) ? a0->valuestring : "";
    if (strcmp(an, "CLIPModel") == 0)
      c->family = DLUT_CLIP_OPENAI;
    else if (strcmp(an, "ChineseCLIPModel") == 0)
      c->family = DLUT_CLIP_CHINESE;
    else
      return dlut_error("config.json: model_type \"%s\" is neither clip nor chinese_clip", type);
  }
  const cJSON *tc = sub_config(root, "text_config"), *vc = sub_config(root, "vision_config");
  /* CLIPVisionConfig / ChineseCLIPVisionConfig defaults (identical) */
  c->vision.width = json_int(vc, "vision_config", "hidden_size", 768, &bad);
  c->vision.intermediate = json_int(vc, "vision_config", "intermediate_size", 3072, &bad);
  c->vision.layers = json_int(vc, "vision_config", "num_hidden_layers", 12, &bad);
  c->vision.heads = json_int(vc, "vision_config", "num_attention_heads", 12, &bad);
  c->vision.ln_eps = (float)json_num(vc, "layer_norm_eps", 1e-5);
  if (parse_act(vc, DLUT_ACT_QUICK_GELU, &c->vision.act) != 0) return -1;
  c->image_size = json_int(vc, "vision_config", "image_size", 224, &bad);
  c->patch_size = json_int(vc, "vision_config", "patch_size", 32, &bad);
  int channels = json_int(vc, "vision_config", "num_channels", 3, &bad);
  if (bad) return -1;
  if (channels != 3) return dlut_error("config.json: only 3-channel vision models");
  c->projection_dim = json_int(root, "", "projection_dim", 512, &bad);
  c->logit_scale_init = (float)json_num(root, "logit_scale_init_value", 2.6592);
  if (c->family == DLUT_CLIP_OPENAI) { /* CLIPTextConfig defaults */
    c->text.width = json_int(tc, "text_config", "hidden_size", 512, &bad);
    c->text.intermediate = json_int(tc, "text_config", "intermediate_size", 2048, &bad);
    c->text.layers = json_int(tc, "text_config", "num_hidden_layers", 12, &bad);
    c->text.heads = json_int(tc, "text_config", "num_attention_heads", 8, &bad);
    c->text.ln_eps = (float)json_num(tc, "layer_norm_eps", 1e-5);
    if (parse_act(tc, DLUT_ACT_QUICK_GELU, &c->text.act) != 0) return -1;
    c->vocab_size = json_int(tc, "text_config", "vocab_size", 49408, &bad);
    c->max_positions = json_int(tc, "text_config", "max_position_embeddings", 77, &bad);
    c->eos_token_id = json_int(tc, "text_config", "eos_token_id", 49407, &bad);
    c->context_length = c->max_positions;
  } else { /* ChineseCLIPTextConfig (BertConfig) defaults */
    c->text.width = json_int(tc, "text_config", "hidden_size", 768, &bad);
    c->text.intermediate = json_int(tc, "text_config", "intermediate_size", 3072, &bad);
    c->text.layers = json_int(tc, "text_config", "num_hidden_layers", 12, &bad);
    c->text.heads = json_int(tc, "text_config", "num_attention_heads", 12, &bad);
    c->text.ln_eps = (float)json_num(tc, "layer_norm_eps", 1e-12);
    if (parse_act(tc, DLUT_ACT_GELU, &c->text.act) != 0) return -1;
    c->vocab_size = json_int(tc, "text_config", "vocab_size", 30522, &bad);
    c->max_positions = json_int(tc, "text_config", "max_position_embeddings", 512, &bad);
    c->type_vocab_size = json_int(tc, "text_config", "type_vocab_size", 2, &bad);
    const cJSON *pet = tc ? cJSON_GetObjectItemCaseSensitive(tc, "position_embedding_type") : NULL;
    if (cJSON_IsString(pet) && strcmp(pet->valuestring, "absolute") != 0)
      return dlut_error("config.json: position_embedding_type \"%s\" is not supported", pet->valuestring);
    /* cn_clip.clip.tokenize uses context_length 52; a tokenizer_config.json
     * model_max_length (as the reference cases write) overrides it. */
    c->context_length = 52;
    if (dir) {
      size_t len = strlen(dir) + 32;
      char *p = malloc(len);
      if (p) {
        snprintf(p, len, "%s/tokenizer_config.json", dir);
        size_t sz;
        char *txt = dlut_file_read_all(p, 1 << 20, &sz);
        dlut_error_clear();
        if (txt) {
          cJSON *tj = cJSON_Parse(txt);
          /* (transformers writes 1e30 for "no limit": out of range is ignored) */
          double n = json_num(tj, "model_max_length", 0);
          if (n >= 2 && n <= c->max_positions) c->context_length = (int)n;
          cJSON_Delete(tj);
          free(txt);
        }
        free(p);
      }
    }
    if (c->context_length > c->max_positions) c->context_length = c->max_positions;
  }
  if (bad) return -1; /* json_int's message */
  return config_check(c);
}

int dlut_clip_config_preset(const char *name, dlut_clip_config *c) {
  memset(c, 0, sizeof *c);
  c->family = DLUT_CLIP_OPENAI;
  c->text = (dlut_clip_tower_config){512, 12, 8, 2048, 1e-5f, DLUT_ACT_QUICK_GELU};
  c->vocab_size = 49408;
  c->max_positions = c->context_length = 77;
  c->eos_token_id = 49407;
  c->projection_dim = 512;
  c->logit_scale_init = 2.6592f;
  c->image_size = 224;
  c->vision = (dlut_clip_tower_config){768, 12, 12, 3072, 1e-5f, DLUT_ACT_QUICK_GELU};
  if (strcmp(name, "ViT-B/32") == 0) {
    c->patch_size = 32;
  } else if (strcmp(name, "ViT-B/16") == 0) {
    c->patch_size = 16;
  } else if (strcmp(name, "ViT-L/14") == 0 || strcmp(name, "ViT-L/14-336") == 0) {
    c->patch_size = 14;
    c->image_size = strstr(name, "336") ? 336 : 224;
    c->vision = (dlut_clip_tower_config){1024, 24, 16, 4096, 1e-5f, DLUT_ACT_QUICK_GELU};
    c->text = (dlut_clip_tower_config){768, 12, 12, 3072, 1e-5f, DLUT_ACT_QUICK_GELU};
    c->projection_dim = 768;
  } else if (strcmp(name, "ViT-H/14") == 0) { /* laion/CLIP-ViT-H-14-laion2B-s32B-b79K */
    c->patch_size = 14;
    c->vision = (dlut_clip_tower_config){1280, 32, 16, 5120, 1e-5f, DLUT_ACT_GELU};
    c->text = (dlut_clip_tower_config){1024, 24, 16, 4096, 1e-5f, DLUT_ACT_GELU};
    c->projection_dim = 1024;
  } else if (strcmp(name, "CN-ViT-B/16") == 0) { /* OFA-Sys/chinese-clip-vit-base-patch16 */
    c->family = DLUT_CLIP_CHINESE;
    c->patch_size = 16;
    c->text = (dlut_clip_tower_config){768, 12, 12, 3072, 1e-12f, DLUT_ACT_GELU};
    c->vocab_size = 21128;
    c->max_positions = 512;
    c->type_vocab_size = 2;
    c->context_length = 52;
    c->eos_token_id = 0;
  } else {
    return dlut_error("unknown model preset \"%s\"", name);
  }
  return 0;
}

/* ==== Parameters: names and shapes ==== */

/* The visitor sees every parameter once: its field, HF name and shape, and
 * how to randomise it. */
typedef enum { P_LINEAR, P_BIAS, P_LN_W, P_LN_B, P_EMB, P_SCALAR } pkind;
typedef int (*param_fn)(void *ctx, const float **field, const char *name, int ndim, const int64_t *shape, pkind kind);

static int visit_block(param_fn fn, void *ctx, clip_block_w *b, const char *pre, int bert, int C, int I) {
  char n[256];
  int64_t cc[2] = {C, C}, ic[2] = {I, C}, ci[2] = {C, I}, c1[1] = {C}, i1[1] = {I};
#define P(field, suffix, nd, shp, kind)                       \
  do {                                                        \
    snprintf(n, sizeof n, "%s.%s", pre, suffix);              \
    if (fn(ctx, &b->field, n, nd, shp, kind) != 0) return -1; \
  } while (0)
  if (!bert) {
    P(ln1_w, "layer_norm1.weight", 1, c1, P_LN_W);
    P(ln1_b, "layer_norm1.bias", 1, c1, P_LN_B);
    P(q_w, "self_attn.q_proj.weight", 2, cc, P_LINEAR);
    P(q_b, "self_attn.q_proj.bias", 1, c1, P_BIAS);
    P(k_w, "self_attn.k_proj.weight", 2, cc, P_LINEAR);
    P(k_b, "self_attn.k_proj.bias", 1, c1, P_BIAS);
    P(v_w, "self_attn.v_proj.weight", 2, cc, P_LINEAR);
    P(v_b, "self_attn.v_proj.bias", 1, c1, P_BIAS);
    P(o_w, "self_attn.out_proj.weight", 2, cc, P_LINEAR);
    P(o_b, "self_attn.out_proj.bias", 1, c1, P_BIAS);
    P(ln2_w, "layer_norm2.weight", 1, c1, P_LN_W);
    P(ln2_b, "layer_norm2.bias", 1, c1, P_LN_B);
    P(fc1_w, "mlp.fc1.weight", 2, ic, P_LINEAR);
    P(fc1_b, "mlp.fc1.bias", 1, i1, P_BIAS);
    P(fc2_w, "mlp.fc2.weight", 2, ci, P_LINEAR);
    P(fc2_b, "mlp.fc2.bias", 1, c1, P_BIAS);
  } else {
    P(q_w, "attention.self.query.weight", 2, cc, P_LINEAR);
    P(q_b, "attention.self.query.bias", 1, c1, P_BIAS);
    P(k_w, "attention.self.key.weight", 2, cc, P_LINEAR);
    P(k_b, "attention.self.key.bias", 1, c1, P_BIAS);
    P(v_w, "attention.self.value.weight", 2, cc, P_LINEAR);
    P(v_b, "attention.self.value.bias", 1, c1, P_BIAS);
    P(o_w, "attention.output.dense.weight", 2, cc, P_LINEAR);
    P(o_b, "attention.output.dense.bias", 1, c1, P_BIAS);
    P(ln1_w, "attention.output.LayerNorm.weight", 1, c1, P_LN_W);
    P(ln1_b, "attention.output.LayerNorm.bias", 1, c1, P_LN_B);
    P(fc1_w, "intermediate.dense.weight", 2, ic, P_LINEAR);
    P(fc1_b, "intermediate.dense.bias", 1, i1, P_BIAS);
    P(fc2_w, "output.dense.weight", 2, ci, P_LINEAR);
    P(fc2_b, "output.dense.bias", 1, c1, P_BIAS);
    P(ln2_w, "output.LayerNorm.weight", 1, c1, P_LN_W);
    P(ln2_b, "output.LayerNorm.bias", 1, c1, P_LN_B);
  }
#undef P
  return 0;
}

static int visit_params(dlut_clip *m, param_fn fn, void *ctx) {
  const dlut_clip_config *c = &m->cfg;
  int Cv = c->vision.width, Ct = c->text.width, E = c->projection_dim, p = c->patch_size;
  int G = c->image_size / p;
  char pre[128];
#define F(field, name, nd, kind, ...)                          \
  do {                                                         \
    int64_t s_[] = {__VA_ARGS__};                              \
    if (fn(ctx, &(field), name, nd, s_, kind) != 0) return -1; \
  } while (0)
  F(m->vw.patch_w, "vision_model.embeddings.patch_embedding.weight", 4, P_LINEAR, Cv, 3, p, p);
  F(m->vw.class_emb, "vision_model.embeddings.class_embedding", 1, P_EMB, Cv);
  F(m->vw.pos_emb, "vision_model.embeddings.position_embedding.weight", 2, P_EMB, 1 + G * G, Cv);
  F(m->vw.pre_ln_w, "vision_model.pre_layrnorm.weight", 1, P_LN_W, Cv);
  F(m->vw.pre_ln_b, "vision_model.pre_layrnorm.bias", 1, P_LN_B, Cv);
  for (int l = 0; l < c->vision.layers; l++) {
    snprintf(pre, sizeof pre, "vision_model.encoder.layers.%d", l);
    if (visit_block(fn, ctx, &m->vw.blocks[l], pre, 0, Cv, c->vision.intermediate) != 0) return -1;
  }
  F(m->vw.post_ln_w, "vision_model.post_layernorm.weight", 1, P_LN_W, Cv);
  F(m->vw.post_ln_b, "vision_model.post_layernorm.bias", 1, P_LN_B, Cv);
  F(m->vw.proj, "visual_projection.weight", 2, P_LINEAR, E, Cv);
  if (c->family == DLUT_CLIP_OPENAI) {
    F(m->tw.tok_emb, "text_model.embeddings.token_embedding.weight", 2, P_EMB, c->vocab_size, Ct);
    F(m->tw.pos_emb, "text_model.embeddings.position_embedding.weight", 2, P_EMB, c->max_positions, Ct);
    for (int l = 0; l < c->text.layers; l++) {
      snprintf(pre, sizeof pre, "text_model.encoder.layers.%d", l);
      if (visit_block(fn, ctx, &m->tw.blocks[l], pre, 0, Ct, c->text.intermediate) != 0) return -1;
    }
    F(m->tw.final_ln_w, "text_model.final_layer_norm.weight", 1, P_LN_W, Ct);
    F(m->tw.final_ln_b, "text_model.final_layer_norm.bias", 1, P_LN_B, Ct);
  } else {
    F(m->tw.tok_emb, "text_model.embeddings.word_embeddings.weight", 2, P_EMB, c->vocab_size, Ct);
    F(m->tw.pos_emb, "text_model.embeddings.position_embeddings.weight", 2, P_EMB, c->max_positions, Ct);
    F(m->tw.type_emb, "text_model.embeddings.token_type_embeddings.weight", 2, P_EMB, c->type_vocab_size, Ct);
    F(m->tw.emb_ln_w, "text_model.embeddings.LayerNorm.weight", 1, P_LN_W, Ct);
    F(m->tw.emb_ln_b, "text_model.embeddings.LayerNorm.bias", 1, P_LN_B, Ct);
    for (int l = 0; l < c->text.layers; l++) {
      snprintf(pre, sizeof pre, "text_model.encoder.layer.%d", l);
      if (visit_block(fn, ctx, &m->tw.blocks[l], pre, 1, Ct, c->text.intermediate) != 0) return -1;
    }
  }
  F(m->tw.proj, "text_projection.weight", 2, P_LINEAR, E, Ct);
  if (fn(ctx, &m->logit_scale_p, "logit_scale", 0, NULL, P_SCALAR) != 0) return -1;
#undef F
  return 0;
}

static int load_param(void *ctx, const float **field, const char *name, int ndim, const int64_t *shape, pkind k) {
  (void)k;
  dlut_ckpt *ck = ctx;
  *field = dlut_ckpt_f32(ck, name, ndim, shape);
  if (*field) return 0;
  /* logit_scale is 0-d in HF checkpoints but [1] in some conversions */
  if (ndim == 0 && dlut_ckpt_find(ck, name)) {
    int64_t one = 1;
    if ((*field = dlut_ckpt_f32(ck, name, 1, &one))) return 0;
  }
  return -1;
}

typedef struct {
  float *base;  /* NULL on the counting pass */
  size_t off;   /* floats used so far */
  uint64_t rng; /* xorshift64 state */
  float logit;  /* logit_scale_init */
} rnd_ctx;

static float rnd_uniform(rnd_ctx *r) { /* [-1, 1) */
  r->rng ^= r->rng << 13;
  r->rng ^= r->rng >> 7;
  r->rng ^= r->rng << 17;
  return (float)((r->rng >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

/* Random weights with sensible scales (uniform, fan-in scaled), so the
 * activations of a random model stay O(1) through many layers. */
static int rand_param(void *vctx, const float **field, const char *name, int ndim, const int64_t *shape, pkind k) {
  (void)name;
  rnd_ctx *r = vctx;
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
  size_t start = r->off;
  r->off += (n + 15) & ~(size_t)15;
  if (!r->base) return 0;
  float *w = r->base + start;
  float fan_in = ndim >= 2 ? (float)(n / (size_t)shape[0]) : 1.0f;
  for (size_t i = 0; i < n; i++) {
    float u = rnd_uniform(r);
    switch (k) {
      case P_LINEAR:
        w[i] = u * 1.7320508f / sqrtf(fan_in);
        break;
      case P_BIAS:
        w[i] = 0.02f * u;
        break;
      case P_LN_W:
        w[i] = 1.0f + 0.1f * u;
        break;
      case P_LN_B:
        w[i] = 0.05f * u;
        break;
      case P_EMB:
        w[i] = 0.5f * u;
        break;
      case P_SCALAR:
        w[i] = r->logit;
        break;
    }
  }
  *field = w;
  return 0;
}

/* ==== Arenas ==== */

typedef struct {
  float *base;
  size_t off;
} bump;

static float *take(bump *b, size_t n) {
  float *p = b->base ? b->base + b->off : NULL;
  b->off += (n + 15) & ~(size_t)15; /* 64-byte aligned slabs */
  return p;
}

/* Lay out one tower's arena (twice: count, then assign). */
static void layout_tower(bump *b, clip_tower_act *a, const dlut_clip_config *c, int vision, int keep_all) {
  const dlut_clip_tower_config *tc = vision ? &c->vision : &c->text;
  size_t C = (size_t)tc->width, I = (size_t)tc->intermediate, NH = (size_t)tc->heads, L = (size_t)tc->layers;
  size_t G = (size_t)(c->image_size / c->patch_size), P = G * G, K = 3 * (size_t)c->patch_size * c->patch_size;
  size_t T = vision ? 1 + P : (size_t)c->context_length, E = (size_t)c->projection_dim;
  int bert = !vision && c->family == DLUT_CLIP_CHINESE;
  int per_layer_bwd = vision || keep_all;
  a->T = (int)T;
  if (vision) {
    a->patch_out = take(b, P * C);
    a->cols = take(b, P * K);
  }
  a->emb = take(b, T * C);
  a->emb_mean = take(b, T);
  a->emb_rstd = take(b, T);
  /* residual stream */
  float *xs[2] = {NULL, NULL};
  if (!keep_all && !vision) xs[0] = take(b, T * C), xs[1] = take(b, T * C);
  for (size_t l = 0; l <= L; l++) {
    float *x = (keep_all || vision) ? take(b, T * C) : xs[l % 2];
    if (b->base) a->x[l] = x;
  }
  /* shared slabs for what is not kept per layer */
  clip_block_act sh = {0};
  if (!keep_all) {
    sh.ln1_out = take(b, T * C), sh.atty = take(b, T * C), sh.attn_out = take(b, T * C);
    sh.ln2_out = take(b, T * C), sh.fch_act = take(b, T * I), sh.mlp_out = take(b, T * C);
    sh.res_out_pre = take(b, T * C);
  }
  if (!per_layer_bwd) {
    sh.ln1_mean = take(b, T), sh.ln1_rstd = take(b, T), sh.qkv = take(b, T * 3 * C);
    sh.res_mid = take(b, T * C);
    sh.ln2_mean = take(b, T), sh.ln2_rstd = take(b, T), sh.fch = take(b, T * I);
  }
  /* attention probabilities: the backward recomputes them from q, k
   * (attention_probs), so one slab serves every layer unless kept */
  if (!keep_all) sh.att = take(b, NH * T * T);
  for (size_t l = 0; l < L; l++) {
    clip_block_act k = sh;
    if (keep_all) {
      k.ln1_out = take(b, T * C), k.atty = take(b, T * C), k.attn_out = take(b, T * C);
      k.ln2_out = take(b, T * C), k.fch_act = take(b, T * I), k.mlp_out = take(b, T * C);
      k.res_out_pre = bert ? take(b, T * C) : NULL;
    }
    if (keep_all) k.att = take(b, NH * T * T);
    if (per_layer_bwd) {
      k.ln1_mean = take(b, T), k.ln1_rstd = take(b, T), k.qkv = take(b, T * 3 * C);
      k.res_mid = take(b, T * C);
      k.ln2_mean = take(b, T), k.ln2_rstd = take(b, T), k.fch = take(b, T * I);
    }
    if (b->base) a->blk[l] = k;
  }
  if (!vision) {
    a->final_out = take(b, T * C);
    a->final_mean = take(b, T);
    a->final_rstd = take(b, T);
    a->key_bias = take(b, T);
  }
  a->pooled = take(b, C);
  a->pool_mean = take(b, T);
  a->pool_rstd = take(b, T);
  a->embed = take(b, E);
  if (vision) {
    a->d_res = take(b, T * C), a->d_c = take(b, T * C), a->d_i = take(b, T * I), a->d_i2 = take(b, T * I);
    a->d_qkv = take(b, T * 3 * C), a->d_att = take(b, NH * T * T), a->d_emb = take(b, T * C);
    a->d_cols = take(b, P * K), a->d_pooled = take(b, C);
    a->tok_scratch = take(b, P * C);
  }
}

static void tower_free(clip_tower_act *a) {
  free(a->arena);
  free(a->x);
  free(a->blk);
  memset(a, 0, sizeof *a);
}

static int tower_alloc(clip_tower_act *a, const dlut_clip_config *c, int vision, int keep_all) {
  const dlut_clip_tower_config *tc = vision ? &c->vision : &c->text;
  clip_tower_act tmp = {0};
  bump b = {NULL, 0};
  layout_tower(&b, &tmp, c, vision, keep_all);
  if (b.off > CLIP_MAX_ARENA / sizeof(float))
    return dlut_error("clip: activation arena of %zu MiB is over the limit", b.off * 4 >> 20);
  memset(a, 0, sizeof *a);
  a->x = calloc((size_t)tc->layers + 1, sizeof *a->x);
  a->blk = calloc((size_t)tc->layers, sizeof *a->blk);
  a->arena = aligned_alloc(64, b.off * sizeof(float));
  if (!a->x || !a->blk || !a->arena) {
    tower_free(a);
    return dlut_error("clip: out of memory for the %zu MiB activation arena", b.off * 4 >> 20);
  }
  memset(a->arena, 0, b.off * sizeof(float));
  a->arena_floats = b.off;
  bump b2 = {a->arena, 0};
  layout_tower(&b2, a, c, vision, keep_all);
  return 0;
}

int clip_arenas_alloc(dlut_clip *m) {
  clip_arenas_free(m);
  if (tower_alloc(&m->va, &m->cfg, 1, m->keep_all) != 0) return -1;
  if (tower_alloc(&m->ta, &m->cfg, 0, m->keep_all) != 0) {
    tower_free(&m->va);
    return -1;
  }
  return 0;
}

void clip_arenas_free(dlut_clip *m) {
  tower_free(&m->va);
  tower_free(&m->ta);
}

/* ==== Construction ==== */

static void fill_info(dlut_clip *m, const char *name) {
  const dlut_clip_config *c = &m->cfg;
  dlut_clip_info *i = &m->info;
  static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}; /* clip/clip.py _transform */
  static const float std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  i->family = c->family;
  i->image_size = c->image_size;
  i->patch_size = c->patch_size;
  i->vision_width = c->vision.width;
  i->text_width = c->text.width;
  i->embed_dim = c->projection_dim;
  i->context_length = c->context_length;
  int G = c->image_size / c->patch_size;
  i->n_patch_tokens = G * G;
  memcpy(i->mean, mean, sizeof mean);
  memcpy(i->std, std, sizeof std);
  i->logit_scale = m->logit_scale_p ? expf(*m->logit_scale_p) : expf(c->logit_scale_init);
  i->name = name;
  i->center_crop = c->family == DLUT_CLIP_OPENAI;
  i->vision_layers = c->vision.layers;
  i->vision_heads = c->vision.heads;
  i->text_layers = c->text.layers;
  i->text_heads = c->text.heads;
}

/* One of preprocessor_config.json's image_mean / image_std: a list of 3
 * numbers or one number for all channels (transformers accepts both), each
 * in [lo, hi]. A std of 1e-300 would divide by zero (it is 0 as a float) and
 * an absurd mean or std makes NaN or huge pixels, so both are refused. */
static int read_norm(const cJSON *j, const char *path, const char *key, double lo, double hi, float out[3]) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
  if (!v || cJSON_IsNull(v)) return 0; /* the default */
  int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : cJSON_IsNumber(v) ? 1 : 0;
  if (n != 1 && n != 3) return dlut_error("%s: %s is not a number or a list of 3 numbers", path, key);
  float tmp[3];
  for (int c = 0; c < 3; c++) {
    const cJSON *e = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, n == 3 ? c : 0) : v;
    if (!cJSON_IsNumber(e)) return dlut_error("%s: %s[%d] is not a number", path, key, n == 3 ? c : 0);
    double d = e->valuedouble;
    if (!(d >= lo && d <= hi))
      return dlut_error("%s: %s[%d] = %g is outside [%g, %g]", path, key, n == 3 ? c : 0, d, lo, hi);
    tmp[c] = (float)d;
  }
  memcpy(out, tmp, sizeof tmp);
  return 0;
}

/* preprocessor_config.json's image_mean / image_std, where given. */
static int read_preprocessor(dlut_clip *m) {
  size_t len = strlen(m->dir) + 40, sz;
  char *p = malloc(len);
  if (!p) return dlut_error("clip: out of memory");
  snprintf(p, len, "%s/preprocessor_config.json", m->dir);
  struct stat st;
  if (stat(p, &st) != 0) { /* optional: the upstream defaults */
    free(p);
    return 0;
  }
  int rc = -1;
  cJSON *j = NULL;
  char *txt = dlut_file_read_all(p, 1 << 20, &sz);
  if (!txt) goto done; /* the message names the file */
  j = cJSON_ParseWithLength(txt, sz);
  free(txt);
  if (!cJSON_IsObject(j)) {
    dlut_error("%s: not a JSON object", p);
    goto done;
  }
  float mean[3], sd[3];
  memcpy(mean, m->info.mean, sizeof mean);
  memcpy(sd, m->info.std, sizeof sd);
  if (read_norm(j, p, "image_mean", -10, 10, mean) != 0 || read_norm(j, p, "image_std", 1e-3, 1e3, sd) != 0) goto done;
  memcpy(m->info.mean, mean, sizeof mean);
  memcpy(m->info.std, sd, sizeof sd);
  rc = 0;
done:
  cJSON_Delete(j);
  free(p);
  return rc;
}

static dlut_clip *clip_new(const dlut_clip_config *cfg) {
  dlut_clip *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->cfg = *cfg;
  m->be = dlut_tensor_backend_cpu();
  m->block_storage = calloc((size_t)cfg->vision.layers + cfg->text.layers, sizeof *m->block_storage);
  m->ids_scratch = calloc((size_t)cfg->context_length, sizeof *m->ids_scratch);
  if (!m->block_storage || !m->ids_scratch) {
    free(m->block_storage), free(m->ids_scratch), free(m);
    return NULL;
  }
  m->vw.blocks = m->block_storage;
  m->tw.blocks = m->block_storage + cfg->vision.layers;
  return m;
}

dlut_clip *dlut_clip_load(const char *model_dir) {
  dlut_clip *m = NULL;
  dlut_clip_config cfg;
  struct stat st;
  /* "--model DIR/model.safetensors" would find the weights but read the
   * tokenizer files relative to the file: refused whole instead. */
  if (model_dir && stat(model_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
    dlut_error("%s: is a file: give the model folder, not the file", model_dir);
    return NULL;
  }
  dlut_ckpt *ck = dlut_ckpt_open(model_dir);
  if (!ck) return NULL;
  const cJSON *root = dlut_ckpt_config(ck);
  if (!root) {
    dlut_error("%s: no config.json", model_dir);
    goto fail;
  }
  if (config_from_json(root, model_dir, &cfg) != 0) {
    dlut_error_prefix(model_dir);
    goto fail;
  }
  if (!(m = clip_new(&cfg)) || !(m->dir = strdup(model_dir))) {
    dlut_error("clip: out of memory");
    goto fail;
  }
  m->ck = ck;
  ck = NULL;
  if (visit_params(m, load_param, m->ck) != 0) goto fail;
  if (clip_arenas_alloc(m) != 0) goto fail;
  fill_info(m, m->dir);
  if (!isfinite(m->info.logit_scale)) {
    dlut_error("%s: logit_scale is not finite (exp(%g)): the weights are damaged", model_dir,
               (double)*m->logit_scale_p);
    goto fail;
  }
  if (read_preprocessor(m) != 0) goto fail;
  /* The tokenizer is optional: without it images still work. */
  m->tok = dlut_tokenizer_load(
      model_dir, cfg.family == DLUT_CLIP_OPENAI ? DLUT_TOKENIZER_BPE : DLUT_TOKENIZER_WORDPIECE, cfg.context_length);
  if (!m->tok) m->tok_error = strdup(dlut_last_error());
  dlut_error_clear();
  return m;
fail:
  if (ck) dlut_ckpt_close(ck);
  dlut_clip_free(m);
  return NULL;
}

dlut_clip *dlut_clip_create_random(const dlut_clip_config *cfg, uint64_t seed) {
  if (config_check(cfg) != 0) return NULL;
  dlut_clip *m = clip_new(cfg);
  if (!m || !(m->dir = strdup("(random)"))) {
    dlut_clip_free(m);
    dlut_error("clip: out of memory");
    return NULL;
  }
  rnd_ctx r = {NULL, 0, seed * 2654435761u + 0x9E3779B97F4A7C15ull, cfg->logit_scale_init};
  visit_params(m, rand_param, &r);
  if (r.off > CLIP_MAX_ARENA / sizeof(float) || !(m->own_weights = aligned_alloc(64, r.off * sizeof(float)))) {
    dlut_error("clip: out of memory for %zu MiB of random weights", r.off * 4 >> 20);
    dlut_clip_free(m);
    return NULL;
  }
  r.base = m->own_weights;
  r.off = 0;
  visit_params(m, rand_param, &r);
  if (clip_arenas_alloc(m) != 0) {
    dlut_clip_free(m);
    return NULL;
  }
  fill_info(m, m->dir);
  m->tok_error = strdup("a random model has no tokenizer");
  return m;
}

void dlut_clip_free(dlut_clip *m) {
  if (!m) return;
  clip_vfast_free(m);
  clip_vpack_free(m);
  clip_arenas_free(m);
  if (m->ck) dlut_ckpt_close(m->ck);
  if (m->tok) dlut_tokenizer_free(m->tok);
  free(m->tok_error);
  free(m->own_weights);
  free(m->block_storage);
  free(m->ids_scratch);
  free(m->dir);
  free(m);
}

const dlut_clip_info *dlut_clip_get_info(const dlut_clip *m) {
  return m ? &m->info : NULL;
}
const dlut_clip_config *dlut_clip_get_config(const dlut_clip *m) {
  return m ? &m->cfg : NULL;
}

int dlut_clip_set_keep_activations(dlut_clip *m, int on) {
  on = !!on;
  if (m->keep_all == on) return 0;
  m->keep_all = on;
  if (clip_arenas_alloc(m) == 0) return 0;
  /* out of memory: fall back to the previous (smaller) layout if possible */
  char msg[512];
  snprintf(msg, sizeof msg, "%s", dlut_last_error());
  m->keep_all = !on;
  clip_arenas_alloc(m);
  return dlut_error("%s", msg);
}

/* ==== Text entry points ==== */

/* Every output is checked: a damaged checkpoint (NaN or huge weights) must
 * be an error, not NaN embeddings that callers print as invalid JSON. */
static int all_finite(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

int dlut_clip_tokenize(const dlut_clip *m, const char *text, int32_t *ids, int max_ids) {
  if (!m || !text || !ids) return dlut_error("clip: tokenize needs a model, a text and an output");
  if (!m->tok) return dlut_error("%s: cannot tokenize: %s", m->dir, m->tok_error ? m->tok_error : "no tokenizer");
  return dlut_tokenizer_encode(m->tok, text, ids, max_ids);
}

int dlut_clip_encode_ids(dlut_clip *m, const int32_t *ids, int n_ids, int n_ctx, float *embed) {
  if (!m || !ids || !embed) return dlut_error("clip: encode_ids needs a model, ids and an output");
  if (n_ctx == 0) n_ctx = n_ids;
  if (n_ids < 1 || n_ctx < n_ids || n_ctx > m->cfg.context_length)
    return dlut_error("clip: %d token ids in %d positions (context length %d)", n_ids, n_ctx, m->cfg.context_length);
  for (int i = 0; i < n_ids; i++)
    if (ids[i] < 0 || ids[i] >= m->cfg.vocab_size)
      return dlut_error("clip: token id %d out of the vocabulary (%d)", (int)ids[i], m->cfg.vocab_size);
  if (clip_text_forward(m, ids, n_ids, n_ctx) != 0) return -1;
  if (!all_finite(m->ta.embed, m->cfg.projection_dim))
    return dlut_error("%s: the text embedding is not finite (NaN or Inf): the model's weights are damaged", m->dir);
  memcpy(embed, m->ta.embed, sizeof(float) * (size_t)m->cfg.projection_dim);
  return 0;
}

int dlut_clip_encode_text(dlut_clip *m, const char *text, float *embed) {
  if (!m || !text || !embed) return dlut_error("clip: encode_text needs a model, a text and an output");
  int n = dlut_clip_tokenize(m, text, m->ids_scratch, m->cfg.context_length);
  if (n < 0) return -1;
  return dlut_clip_encode_ids(m, m->ids_scratch, n, 0, embed);
}

/* ==== Similarity ==== */

int dlut_clip_logits(const dlut_clip *m, const float *image_embeds, int n_images, const float *text_embeds, int n_texts,
                     float *logits) {
  int E = m->cfg.projection_dim;
  if (n_images < 0 || n_texts < 0) return dlut_error("clip: negative counts");
  for (int i = 0; i < n_images; i++)
    for (int t = 0; t < n_texts; t++) {
      const float *a = image_embeds + (size_t)i * E, *b = text_embeds + (size_t)t * E;
      double ab = 0, aa = 0, bb = 0;
      for (int k = 0; k < E; k++) ab += (double)a[k] * b[k], aa += (double)a[k] * a[k], bb += (double)b[k] * b[k];
      /* normalize(v) = v / ||v|| without epsilon, as CLIPModel; a zero vector gives 0 */
      logits[(size_t)i * n_texts + t] = aa > 0 && bb > 0 ? (float)(m->info.logit_scale * ab / sqrt(aa * bb)) : 0.0f;
    }
  return 0;
}

/* ==== Image entry points ==== */

int dlut_clip_encode_image(dlut_clip *m, const float *pixels, float *embed) {
  if (!m || !pixels || !embed) return dlut_error("clip: encode_image needs a model, pixels and an output");
  /* NaN in, NaN out: say which side is to blame */
  if (!all_finite(pixels, (size_t)3 * m->cfg.image_size * m->cfg.image_size))
    return dlut_error("clip: the image's pixels are not finite (NaN or Inf)");
  if (clip_vision_forward(m, pixels) != 0) return -1;
  if (!all_finite(m->va.embed, m->cfg.projection_dim))
    return dlut_error("%s: the image embedding is not finite (NaN or Inf): the model's weights are damaged", m->dir);
  memcpy(embed, m->va.embed, sizeof(float) * (size_t)m->cfg.projection_dim);
  return 0;
}

int dlut_clip_image_backward(dlut_clip *m, const float *d_embed, float *d_pixels) {
  if (!m || !d_embed || !d_pixels) return dlut_error("clip: image_backward needs a model, d_embed and an output");
  if (!m->va.valid) return dlut_error("clip: image_backward before any encode_image");
  return clip_vision_backward(m, d_embed, d_pixels);
}

/* ==== Named activations ==== */

const float *dlut_clip_activation(const dlut_clip *m, const char *name, int64_t *count) {
  if (!m || !name || !count) return NULL;
  int vision = strncmp(name, "vision.", 7) == 0, text = strncmp(name, "text.", 5) == 0;
  const clip_tower_act *a = NULL;
  const dlut_clip_tower_config *tc = NULL;
  if (strcmp(name, "image_embeds") == 0 && m->va.valid) {
    *count = m->cfg.projection_dim;
    return m->va.embed;
  }
  if (strcmp(name, "text_embeds") == 0 && m->ta.valid) {
    *count = m->cfg.projection_dim;
    return m->ta.embed;
  }
  if (vision)
    a = &m->va, tc = &m->cfg.vision, name += 7;
  else if (text)
    a = &m->ta, tc = &m->cfg.text, name += 5;
  else
    return NULL;
  if (!a->valid) return NULL;
  int64_t T = a->T_run, C = tc->width, I = tc->intermediate, P = (int64_t)m->info.n_patch_tokens;
  int bert = text && m->cfg.family == DLUT_CLIP_CHINESE;
  int l = -1, used = 0;
  if (strcmp(name, "embeddings") == 0) {
    *count = T * C;
    return bert ? a->x[0] : a->emb;
  }
  if (vision && strcmp(name, "patch_embeds") == 0) return *count = P * C, a->patch_out;
  if (vision && strcmp(name, "ln_pre_out") == 0) return *count = T * C, a->x[0];
  if (strcmp(name, "pooled") == 0) return *count = C, a->pooled;
  if (text && !bert && strcmp(name, "final_ln_out") == 0) return *count = T * C, a->final_out;
  if (sscanf(name, "block%d%n", &l, &used) != 1 || l < 0 || l >= tc->layers) return NULL;
  name += used;
  if (strcmp(name, "_out") == 0) {
    if (!vision && !m->keep_all && l != tc->layers - 1) return NULL;
    return *count = T * C, a->x[l + 1];
  }
  if (*name != '.' || !m->keep_all) return NULL;
  name++;
  const clip_block_act *b = &a->blk[l];
  static const struct {
    const char *n;
    int bert, big;
    size_t off;
  } k_fields[] = {
      {"ln_1_out", 0, 0, offsetof(clip_block_act, ln1_out)},
      {"attn_out", 0, 0, offsetof(clip_block_act, attn_out)},
      {"ln_2_out", 0, 0, offsetof(clip_block_act, ln2_out)},
      {"mlp_act", 0, 1, offsetof(clip_block_act, fch_act)},
      {"mlp_out", 0, 0, offsetof(clip_block_act, mlp_out)},
      {"self_attn_context", 1, 0, offsetof(clip_block_act, atty)},
      {"attn_out_dense", 1, 0, offsetof(clip_block_act, attn_out)},
      {"attention_out", 1, 0, offsetof(clip_block_act, ln1_out)},
      {"intermediate_act", 1, 1, offsetof(clip_block_act, fch_act)},
      {"output_dense", 1, 0, offsetof(clip_block_act, mlp_out)},
  };
  for (size_t i = 0; i < sizeof k_fields / sizeof k_fields[0]; i++)
    if (k_fields[i].bert == bert && strcmp(name, k_fields[i].n) == 0) {
      *count = T * (k_fields[i].big ? I : C);
      return *(float *const *)((const char *)b + k_fields[i].off);
    }
  return NULL;
}
