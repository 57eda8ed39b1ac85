/* tests/test_clip.c - the CLIP model as a whole: CPU backend against the
 * reference backend on random tiny models of both families, the image
 * backward against finite differences of the forward, invariances of the
 * text towers (padding, causal mask), patch tokens, and the public calls on
 * the upstream reference cases (encode_text with unpadded ids,
 * encode_image of the 8-bit preprocessing). The per-array comparison of
 * every activation lives in `dlut refcheck` (tests/t_clip_refcheck.sh). */
#include <stdint.h>

#include "clip/clip_internal.h"
#include "clip/clip_npy.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/image.h"
#include "test.h"

static uint64_t g_rng = 12345;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double max_rel(const float *a, const float *b, size_t n) {
  double mx = 0, md = 0;
  for (size_t i = 0; i < n; i++) {
    md = fmax(md, fabs((double)a[i] - b[i]));
    mx = fmax(mx, fabs(b[i]));
  }
  return mx > 0 ? md / mx : md;
}

static dlut_clip_config tiny_config(dlut_clip_family fam) {
  dlut_clip_config c;
  memset(&c, 0, sizeof c);
  c.family = fam;
  c.image_size = 16;
  c.patch_size = 4;
  c.vision = (dlut_clip_tower_config){16, 2, 2, 32, 1e-5f, DLUT_ACT_QUICK_GELU};
  c.text = (dlut_clip_tower_config){12,
                                    2,
                                    3,
                                    24,
                                    fam == DLUT_CLIP_CHINESE ? 1e-12f : 1e-5f,
                                    fam == DLUT_CLIP_CHINESE ? DLUT_ACT_GELU : DLUT_ACT_QUICK_GELU};
  c.vocab_size = 50;
  c.max_positions = 12;
  c.context_length = 10;
  c.type_vocab_size = fam == DLUT_CLIP_CHINESE ? 2 : 0;
  c.projection_dim = 8;
  c.eos_token_id = 49;
  c.logit_scale_init = 2.0f;
  return c;
}

/* L(pixels) = r . embed(pixels) */
static double probe_loss(dlut_clip *m, const float *pix, const float *r, float *e) {
  dlut_clip_encode_image(m, pix, e);
  double s = 0;
  for (int i = 0; i < m->cfg.projection_dim; i++) s += (double)r[i] * e[i];
  return s;
}

static void test_random_model(dlut_clip_family fam) {
  dlut_clip_config cfg = tiny_config(fam);
  dlut_clip *m = dlut_clip_create_random(&cfg, 7);
  CHECK_MSG(m != NULL, "create_random: %s", dlut_last_error());
  if (!m) return;
  const dlut_clip_info *info = dlut_clip_get_info(m);
  CHECK(info->image_size == 16 && info->n_patch_tokens == 16 && info->embed_dim == 8);
  int S = 16, E = 8, n = 3 * S * S;
  float pix[3 * 16 * 16], e1[8], e2[8], r[8], g1[3 * 16 * 16], g2[3 * 16 * 16];
  for (int i = 0; i < n; i++) pix[i] = 2.0f * frand();
  for (int i = 0; i < E; i++) r[i] = frand();

  /* CPU vs reference backend, forward and backward */
  CHECK(dlut_clip_encode_image(m, pix, e1) == 0);
  CHECK(dlut_clip_image_backward(m, r, g1) == 0);
  m->be = dlut_tensor_backend_ref();
  CHECK(dlut_clip_encode_image(m, pix, e2) == 0);
  CHECK(dlut_clip_image_backward(m, r, g2) == 0);
  CHECK_MSG(max_rel(e1, e2, E) < 1e-5, "image embed cpu vs ref %g", max_rel(e1, e2, E));
  CHECK_MSG(max_rel(g1, g2, n) < 1e-4, "image grad cpu vs ref %g", max_rel(g1, g2, n));

  /* finite differences of the whole tower (reference backend, every 7th pixel) */
  double gmax = 0, worst = 0;
  for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g2[i]));
  for (int i = 0; i < n; i += 7) {
    float h = 1e-2f, x0 = pix[i];
    pix[i] = x0 + h;
    double lp = probe_loss(m, pix, r, e2);
    pix[i] = x0 - h;
    double lm = probe_loss(m, pix, r, e2);
    pix[i] = x0;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - g2[i]));
  }
  CHECK_MSG(worst / gmax < 5e-3, "image backward FD: %g (family %d)", worst / gmax, fam);
  m->be = dlut_tensor_backend_cpu();

  /* the backward is not disturbed by an encode_text in between */
  int32_t ids[10] = {48, 5, 9, 17, 49};
  float t1[8], t2[8];
  CHECK(dlut_clip_encode_image(m, pix, e1) == 0);
  CHECK(dlut_clip_encode_ids(m, ids, 5, 0, t1) == 0);
  CHECK(dlut_clip_image_backward(m, r, g2) == 0);
  CHECK(max_rel(g2, g1, n) < 1e-6);

  /* text: the embedding does not depend on the padded length (causal mask /
   * padding mask), CPU matches reference */
  CHECK(dlut_clip_encode_ids(m, ids, 5, 10, t2) == 0);
  CHECK_MSG(max_rel(t1, t2, E) < 1e-5, "text padding invariance %g", max_rel(t1, t2, E));
  m->be = dlut_tensor_backend_ref();
  CHECK(dlut_clip_encode_ids(m, ids, 5, 7, t2) == 0);
  m->be = dlut_tensor_backend_cpu();
  CHECK_MSG(max_rel(t1, t2, E) < 1e-5, "text cpu vs ref %g", max_rel(t1, t2, E));
  /* ... but it does depend on the tokens */
  ids[2] = 10;
  CHECK(dlut_clip_encode_ids(m, ids, 5, 0, t2) == 0);
  CHECK(max_rel(t1, t2, E) > 1e-3);
  /* bad ids and lengths are errors, not crashes */
  ids[1] = 50;
  CHECK(dlut_clip_encode_ids(m, ids, 5, 0, t2) == -1);
  ids[1] = -1;
  CHECK(dlut_clip_encode_ids(m, ids, 5, 0, t2) == -1);
  ids[1] = 3;
  CHECK(dlut_clip_encode_ids(m, ids, 5, 11, t2) == -1);
  CHECK(dlut_clip_encode_ids(m, ids, 0, 0, t2) == -1);
  CHECK(dlut_clip_encode_text(m, "hello", t2) == -1); /* no tokenizer */
  CHECK(strstr(dlut_last_error(), "tokenizer") != NULL);

  /* patch tokens = post-LN + projection of every patch token, by hand in double */
  CHECK(dlut_clip_encode_image(m, pix, e1) == 0);
  float tok[16 * 8];
  CHECK(dlut_clip_image_patch_tokens(m, tok) == 0);
  int C = cfg.vision.width;
  const float *xL = m->va.x[cfg.vision.layers];
  double wst = 0;
  for (int p = 0; p < 16; p++) {
    const float *x = xL + (size_t)(p + 1) * C;
    double mu = 0, var = 0, y[16];
    for (int c = 0; c < C; c++) mu += x[c];
    mu /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    var /= C;
    for (int c = 0; c < C; c++)
      y[c] = (x[c] - mu) / sqrt(var + cfg.vision.ln_eps) * m->vw.post_ln_w[c] + m->vw.post_ln_b[c];
    for (int k = 0; k < E; k++) {
      double s = 0;
      for (int c = 0; c < C; c++) s += y[c] * m->vw.proj[(size_t)k * C + c];
      wst = fmax(wst, fabs(s - tok[p * E + k]));
    }
  }
  CHECK_MSG(wst < 1e-4, "patch tokens %g", wst);
  /* patch tokens did not disturb the backward state */
  CHECK(dlut_clip_image_backward(m, r, g2) == 0);
  CHECK(max_rel(g2, g1, n) < 1e-6);

  /* activations: per-layer internals only with keep_activations */
  int64_t cnt = 0;
  CHECK(dlut_clip_activation(m, "vision.block0.ln_1_out", &cnt) == NULL);
  CHECK(dlut_clip_activation(m, "vision.block1_out", &cnt) != NULL && cnt == 17 * C);
  CHECK(dlut_clip_set_keep_activations(m, 1) == 0);
  CHECK(dlut_clip_encode_image(m, pix, e2) == 0);
  CHECK(max_rel(e1, e2, E) < 1e-6);
  CHECK(dlut_clip_activation(m, "vision.block0.mlp_act", &cnt) != NULL && cnt == 17 * 32);
  CHECK(dlut_clip_activation(m, "vision.block2_out", &cnt) == NULL);
  CHECK(dlut_clip_activation(m, "nonsense", &cnt) == NULL);
  dlut_clip_free(m);
}

static void test_bad_configs(void) {
  dlut_clip_config c = tiny_config(DLUT_CLIP_OPENAI);
  c.vision.heads = 3; /* 16 % 3 != 0 */
  CHECK(dlut_clip_create_random(&c, 1) == NULL);
  c = tiny_config(DLUT_CLIP_OPENAI);
  c.image_size = 18; /* not a multiple of the patch */
  CHECK(dlut_clip_create_random(&c, 1) == NULL);
  c = tiny_config(DLUT_CLIP_OPENAI);
  c.image_size = 4096, c.patch_size = 1; /* 16.7 M patches: over the cap, not an overflow */
  CHECK(dlut_clip_create_random(&c, 1) == NULL);
  c = tiny_config(DLUT_CLIP_OPENAI);
  c.context_length = 13; /* more than max_positions */
  CHECK(dlut_clip_create_random(&c, 1) == NULL);
  c.context_length = 10;
  c.vision.layers = 100000;
  CHECK(dlut_clip_create_random(&c, 1) == NULL);
  CHECK(dlut_clip_load("/nonexistent/model") == NULL);
  CHECK(strlen(dlut_last_error()) > 0);
  dlut_clip_config p;
  CHECK(dlut_clip_config_preset("ViT-L/14-336", &p) == 0 && p.image_size == 336 && p.vision.width == 1024);
  CHECK(dlut_clip_config_preset("ViT-Z/99", &p) == -1);
}

/* A model folder with the reference case's weights and a hostile or wrong
 * config.json: every case is an error naming the problem, never a crash. */
static void test_bad_folders(void) {
  const char *dir = test_tmpdir("clip-bad");
  char path[4200], cmd[9000];
  char *src = realpath(test_shared("data/clip-ref/openai_tiny/model.safetensors"), NULL);
  CHECK(src != NULL);
  if (!src) return;
  snprintf(cmd, sizeof cmd, "ln -sf '%s' '%s/model.safetensors'", src, dir);
  free(src);
  CHECK(system(cmd) == 0);
  static const struct {
    const char *json, *expect;
  } cases[] = {
      {"{\"model_type\": \"llama\"}", "neither"},
      {"{\"model_type\": \"clip\", \"projection_dim\": 16, \"vision_config\": {\"hidden_size\": 32, "
       "\"num_attention_heads\": 3}}",
       "vision tower"},
      {"{\"model_type\": \"clip\", \"vision_config\": {\"image_size\": 30, \"patch_size\": 8}}", "multiple"},
      {"{\"model_type\": \"clip\", \"vision_config\": {\"hidden_act\": \"swish\"}}", "hidden_act"},
      {"{\"model_type\": \"clip\", \"projection_dim\": -4}", "projection_dim"},
      /* a valid config whose shapes do not match the weights: names the tensor */
      {"{\"model_type\": \"clip\", \"projection_dim\": 16, \"text_config\": {\"hidden_size\": 48, "
       "\"num_hidden_layers\": 2, \"num_attention_heads\": 3, \"intermediate_size\": 192}, \"vision_config\": "
       "{\"hidden_size\": 32, \"num_hidden_layers\": 3, \"num_attention_heads\": 2, \"intermediate_size\": 128, "
       "\"image_size\": 32, \"patch_size\": 8}}",
       "layers.2"},
      {"{not json", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(cases[i].json, f);
    fclose(f);
    dlut_clip *m = dlut_clip_load(dir);
    CHECK_MSG(m == NULL, "case %zu loaded", i);
    CHECK_MSG(strstr(dlut_last_error(), cases[i].expect) != NULL, "case %zu: error \"%s\" lacks \"%s\"", i,
              dlut_last_error(), cases[i].expect);
    dlut_clip_free(m);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CHECK(system(cmd) == 0);
}

/* The public calls on an upstream reference case. */
static void test_reference_case(const char *name) {
  char dir[512], path[700];
  snprintf(dir, sizeof dir, "%s", test_shared(name));
  dlut_clip *m = dlut_clip_load(dir);
  CHECK_MSG(m != NULL, "load %s: %s", dir, dlut_last_error());
  if (!m) return;
  const dlut_clip_info *info = dlut_clip_get_info(m);
  int E = info->embed_dim, S = info->image_size;
  dlut_npy te, ie;
  snprintf(path, sizeof path, "%s/ref/f64/text_embeds.npy", dir);
  CHECK(dlut_npy_load(path, &te) == 0);
  snprintf(path, sizeof path, "%s/ref/f64/image_embeds.npy", dir);
  CHECK(dlut_npy_load(path, &ie) == 0);
  float *e = malloc(sizeof(float) * E), *ref = malloc(sizeof(float) * E);
  /* text 0 through the public string API (unpadded ids) */
  const char *t0 = info->family == DLUT_CLIP_OPENAI ? "a photo of a cat" : "一只猫的照片";
  CHECK_MSG(dlut_clip_encode_text(m, t0, e) == 0, "%s", dlut_last_error());
  for (int k = 0; k < E; k++) ref[k] = (float)dlut_npy_get(&te, k);
  CHECK_MSG(max_rel(e, ref, E) < 1e-4, "%s text 0: %g", name, max_rel(e, ref, E));
  /* image 0 through dlut_image_load + the 8-bit preprocessing */
  snprintf(path, sizeof path, "%s/images", dir);
  const char *img0 = info->family == DLUT_CLIP_OPENAI ? "img0_landscape_100x60.png" : "img0_landscape_90x50.png";
  snprintf(path, sizeof path, "%s/images/%s", dir, img0);
  dlut_image *im = dlut_image_load(path), *rgb = im ? dlut_image_convert(im, 3, DLUT_PIXEL_U8) : NULL;
  CHECK_MSG(rgb != NULL, "%s", dlut_last_error());
  if (rgb) {
    uint8_t *packed = malloc((size_t)rgb->width * rgb->height * 3);
    for (int y = 0; y < rgb->height; y++)
      memcpy(packed + (size_t)y * rgb->width * 3, dlut_image_pixel(rgb, 0, y), (size_t)rgb->width * 3);
    float *pix = malloc(sizeof(float) * 3 * S * S);
    CHECK(dlut_clip_preprocess_u8(info, packed, rgb->width, rgb->height, pix) == 0);
    CHECK(dlut_clip_encode_image(m, pix, e) == 0);
    for (int k = 0; k < E; k++) ref[k] = (float)dlut_npy_get(&ie, k);
    CHECK_MSG(max_rel(e, ref, E) < 1e-4, "%s image 0: %g", name, max_rel(e, ref, E));
    /* logits_per_image[0][0] from the two embeddings */
    float img_e[64], txt_e[64], lg = 0;
    dlut_npy lr;
    snprintf(path, sizeof path, "%s/ref/f64/logits_per_image.npy", dir);
    CHECK(dlut_npy_load(path, &lr) == 0 && E <= 64);
    if (E <= 64 && lr.count > 0) {
      memcpy(img_e, e, sizeof(float) * E);
      CHECK(dlut_clip_encode_text(m, t0, txt_e) == 0);
      CHECK(dlut_clip_logits(m, img_e, 1, txt_e, 1, &lg) == 0);
      CHECK_MSG(fabs(lg - dlut_npy_get(&lr, 0)) < 1e-4 * fabs(dlut_npy_get(&lr, 0)) + 1e-5, "logit %g vs %g", lg,
                dlut_npy_get(&lr, 0));
    }
    dlut_npy_free(&lr);
    /* the float preprocessing of the same photo is close to the 8-bit one */
    float *rgbf = malloc(sizeof(float) * rgb->width * rgb->height * 3), *pixf = malloc(sizeof(float) * 3 * S * S);
    for (int i = 0; i < rgb->width * rgb->height * 3; i++) rgbf[i] = packed[i] / 255.0f;
    CHECK(dlut_clip_preprocess(info, rgbf, rgb->width, rgb->height, pixf) == 0);
    /* (differences are the uint8 roundings, and the clamping of bicubic
     * overshoot at sharp edges, which the float path does not do) */
    double sum = 0;
    for (int i = 0; i < 3 * S * S; i++) sum += fabs(pixf[i] - pix[i]);
    CHECK_MSG(sum / (3 * S * S) < 1.0 / 255 / 0.26, "float vs 8-bit preprocessing, mean %g", sum / (3 * S * S));
    free(rgbf), free(pixf), free(pix), free(packed);
  }
  dlut_image_free(im);
  dlut_image_free(rgb);
  dlut_npy_free(&te);
  dlut_npy_free(&ie);
  free(e), free(ref);
  dlut_clip_free(m);
}

/* The fp32 vision blocks on pre-packed weights (vision_packed.c): made on
 * the first CPU forward where the AVX-512 kernel is in effect, equal to
 * the unpacked products (DLUT_CLIP_PACKED=0) and to the reference backend;
 * not used with the OpenBLAS kernel. Width 48 and MLP 100: panels that end
 * inside the 32-column tile. */
static void test_packed_weights(void) {
  dlut_clip_config cfg = tiny_config(DLUT_CLIP_OPENAI);
  cfg.vision = (dlut_clip_tower_config){48, 2, 3, 100, 1e-5f, DLUT_ACT_QUICK_GELU};
  dlut_clip *m = dlut_clip_create_random(&cfg, 11);
  CHECK_MSG(m != NULL, "create_random: %s", dlut_last_error());
  if (!m) return;
  enum { S = 16, E = 8, n = 3 * S * S };
  float pix[n], r[E], e[3][E], g[3][n];
  for (int i = 0; i < n; i++) pix[i] = 2.0f * frand();
  for (int i = 0; i < E; i++) r[i] = frand();
  int avx512 = dlut_sgemm_kernel() == DLUT_SGEMM_AVX512;
  CHECK(m->vpack == NULL);
  CHECK(dlut_clip_encode_image(m, pix, e[0]) == 0 && dlut_clip_image_backward(m, r, g[0]) == 0);
  CHECK_MSG((m->vpack != NULL) == avx512, "packed weights %s with the %s kernel", m->vpack ? "made" : "not made",
            dlut_sgemm_kernel_name(dlut_sgemm_kernel()));
  setenv("DLUT_CLIP_PACKED", "0", 1);
  CHECK(clip_vpack_get(m) == NULL);
  CHECK(dlut_clip_encode_image(m, pix, e[1]) == 0 && dlut_clip_image_backward(m, r, g[1]) == 0);
  unsetenv("DLUT_CLIP_PACKED");
  m->be = dlut_tensor_backend_ref();
  CHECK(clip_vpack_get(m) == NULL);
  CHECK(dlut_clip_encode_image(m, pix, e[2]) == 0 && dlut_clip_image_backward(m, r, g[2]) == 0);
  m->be = dlut_tensor_backend_cpu();
  CHECK_MSG(max_rel(e[0], e[1], E) < 1e-6, "packed vs unpacked embed %g", max_rel(e[0], e[1], E));
  CHECK_MSG(max_rel(g[0], g[1], n) < 1e-6, "packed vs unpacked grad %g", max_rel(g[0], g[1], n));
  CHECK_MSG(max_rel(e[0], e[2], E) < 1e-5, "packed vs ref embed %g", max_rel(e[0], e[2], E));
  CHECK_MSG(max_rel(g[0], g[2], n) < 1e-4, "packed vs ref grad %g", max_rel(g[0], g[2], n));
  if (avx512) { /* the OpenBLAS kernel: the plain weights */
    CHECK(dlut_sgemm_select(DLUT_SGEMM_BLAS) == DLUT_SGEMM_BLAS);
    CHECK(clip_vpack_get(m) == NULL);
    CHECK(dlut_sgemm_select(-1) == DLUT_SGEMM_AVX512);
    CHECK(clip_vpack_get(m) != NULL);
  }
  dlut_clip_free(m);
}

int main(void) {
  test_packed_weights();
  test_random_model(DLUT_CLIP_OPENAI);
  test_random_model(DLUT_CLIP_CHINESE);
  test_bad_configs();
  test_bad_folders();
  test_reference_case("data/clip-ref/openai_tiny");
  test_reference_case("data/clip-ref/chinese_clip_tiny");
  return test_summary("clip");
}
