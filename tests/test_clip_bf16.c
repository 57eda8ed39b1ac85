/* tests/test_clip_bf16.c - the bf16 vision path (src/clip/vision_bf16.c)
 * against the fp32 one it replaces.
 *
 * With DLUT_CLIP_PRECISION=bf16 (small towers take it only when forced):
 * on random models (several widths, head sizes and sequence lengths,
 * QuickGELU and GELU) the image embedding is within cosine 0.9995 of fp32
 * and the pixel gradient's direction within cosine 0.999 (the issue's
 * bound); the bf16 backward agrees with directional finite differences
 * of the exact forward; and on the two upstream reference cases the bf16
 * image embeddings are within cosine 0.999 of the upstream outputs. With
 * DLUT_CLIP_PRECISION=fp32 (and by default on tiny towers) the result is
 * bit-identical to the fp32 path. The kernel is the CPU's (AMX or
 * AVX512-BF16; an AMX machine runs the random towers on AVX512-BF16 too).
 * On a CPU with neither the bf16 setting must fall back to fp32 bit for
 * bit, which is what is checked there. */
#include <stdint.h>

#include "clip/clip_internal.h"
#include "clip/clip_npy.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/parallel.h"
#include "test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double cosine(const float *a, const float *b, size_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; i++) ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
  return ab / sqrt(aa * bb + 1e-300);
}

static void set_precision(const char *p) {
  setenv("DLUT_CLIP_PRECISION", p, 1);
}

static dlut_clip_config model_config(int S, int p, int C, int L, int NH, dlut_act act) {
  dlut_clip_config c;
  memset(&c, 0, sizeof c);
  c.family = DLUT_CLIP_OPENAI;
  c.image_size = S;
  c.patch_size = p;
  c.vision = (dlut_clip_tower_config){C, L, NH, 4 * C, 1e-5f, act};
  c.text = (dlut_clip_tower_config){16, 1, 2, 32, 1e-5f, DLUT_ACT_QUICK_GELU};
  c.vocab_size = 50;
  c.max_positions = 8;
  c.context_length = 8;
  c.projection_dim = 16;
  c.eos_token_id = 49;
  c.logit_scale_init = 2.0f;
  return c;
}

static void test_random(int S, int p, int C, int L, int NH, dlut_act act, int fd) {
  dlut_clip_config cfg = model_config(S, p, C, L, NH, act);
  dlut_clip *m = dlut_clip_create_random(&cfg, 11);
  CHECK_MSG(m != NULL, "create_random: %s", dlut_last_error());
  if (!m) return;
  int n = 3 * S * S, E = cfg.projection_dim;
  float *pix = malloc(sizeof(float) * n), *g32 = malloc(sizeof(float) * n), *g16 = malloc(sizeof(float) * n);
  float *g32b = malloc(sizeof(float) * n), e32[16], e16[16], e32b[16], r[16];
  for (int i = 0; i < n; i++) pix[i] = 1.5f * frand();
  for (int i = 0; i < E; i++) r[i] = frand();
  set_precision("fp32");
  CHECK(dlut_clip_encode_image(m, pix, e32) == 0 && dlut_clip_image_backward(m, r, g32) == 0);
  set_precision("bf16");
  CHECK(dlut_clip_encode_image(m, pix, e16) == 0 && dlut_clip_image_backward(m, r, g16) == 0);
  int took = clip_vfast_used(m);
  CHECK(took == (dlut_bf16_available() != DLUT_BF16_NONE));
  double ce = cosine(e16, e32, E), cg = cosine(g16, g32, n);
  CHECK_MSG(ce > 0.9995, "S%d p%d C%d NH%d: embed cosine bf16 vs fp32 %.6f", S, p, C, NH, ce);
  CHECK_MSG(cg > 0.999, "S%d p%d C%d NH%d: pixel-gradient cosine bf16 vs fp32 %.6f", S, p, C, NH, cg);
  if (!took) CHECK(memcmp(e16, e32, sizeof e16) == 0 && memcmp(g16, g32, sizeof(float) * n) == 0);
  /* the bf16 result is not the fp32 one (the path really ran) */
  if (took) CHECK(memcmp(g16, g32, sizeof(float) * n) != 0);
  /* back to fp32: bit-identical to the first fp32 run */
  set_precision("fp32");
  CHECK(dlut_clip_encode_image(m, pix, e32b) == 0 && dlut_clip_image_backward(m, r, g32b) == 0);
  CHECK(memcmp(e32b, e32, sizeof e32) == 0 && memcmp(g32b, g32, sizeof(float) * n) == 0);
  if (fd && took) {
    /* the bf16 backward against directional finite differences of the
     * exact (fp32, smooth) forward, along the gradient and along a random
     * direction: (L(x + h v) - L(x - h v)) / 2h vs g . v. (The bf16
     * forward itself is too rough for differences: its rounding noise over
     * 2h swamps the slope.) */
    set_precision("fp32");
    float *v = malloc(sizeof(float) * n), *xp = malloc(sizeof(float) * n);
    for (int dir = 0; dir < 2; dir++) {
      double gv = 0, vn = 0;
      for (int i = 0; i < n; i++) v[i] = dir == 0 ? g16[i] : frand(), vn += (double)v[i] * v[i];
      vn = sqrt(vn);
      for (int i = 0; i < n; i++) v[i] = (float)(v[i] / vn), gv += (double)g16[i] * v[i];
      double h = 0.01, Lp = 0, Lm = 0;
      for (int sgn = -1; sgn <= 1; sgn += 2) {
        for (int i = 0; i < n; i++) xp[i] = pix[i] + (float)(sgn * h) * v[i];
        float e[16];
        dlut_clip_encode_image(m, xp, e);
        double s = 0;
        for (int k = 0; k < E; k++) s += (double)r[k] * e[k];
        if (sgn < 0)
          Lm = s;
        else
          Lp = s;
      }
      double fdv = (Lp - Lm) / (2 * h), gnorm = 0;
      for (int i = 0; i < n; i++) gnorm += (double)g16[i] * g16[i];
      /* error relative to the gradient's norm (the largest directional derivative) */
      CHECK_MSG(fabs(fdv - gv) < 0.02 * sqrt(gnorm), "C%d dir %d: finite difference %g vs backward %g (|g| %g)", C, dir,
                fdv, gv, sqrt(gnorm));
    }
    free(v), free(xp);
  }
  free(pix), free(g32), free(g16), free(g32b);
  dlut_clip_free(m);
}

/* bf16 image embeddings of an upstream reference case (pixel_values from
 * the case itself) against the upstream f32 outputs. */
static void test_reference(const char *name) {
  char dir[512], path[700];
  snprintf(dir, sizeof dir, "%s", test_shared(name));
  dlut_clip *m = dlut_clip_load(dir);
  CHECK_MSG(m != NULL, "load %s: %s", dir, dlut_last_error());
  if (!m) return;
  const dlut_clip_info *info = dlut_clip_get_info(m);
  int E = info->embed_dim, S = info->image_size, n = 3 * S * S;
  dlut_npy px, ie;
  snprintf(path, sizeof path, "%s/ref/f32/pixel_values.npy", dir);
  int ok = dlut_npy_load(path, &px) == 0;
  snprintf(path, sizeof path, "%s/ref/f32/image_embeds.npy", dir);
  ok = ok && dlut_npy_load(path, &ie) == 0;
  CHECK_MSG(ok, "%s: reference arrays", name);
  if (!ok) {
    dlut_clip_free(m);
    return;
  }
  int nimg = (int)(px.count / n);
  CHECK(nimg >= 1 && ie.count == (int64_t)nimg * E);
  float *pix = malloc(sizeof(float) * n), *e = malloc(sizeof(float) * E), *ref = malloc(sizeof(float) * E);
  float *r = malloc(sizeof(float) * E), *g32 = malloc(sizeof(float) * n), *g16 = malloc(sizeof(float) * n);
  for (int k = 0; k < E; k++) r[k] = frand();
  for (int im = 0; im < nimg; im++) {
    for (int i = 0; i < n; i++) pix[i] = (float)dlut_npy_get(&px, (int64_t)im * n + i);
    for (int k = 0; k < E; k++) ref[k] = (float)dlut_npy_get(&ie, (int64_t)im * E + k);
    set_precision("bf16");
    CHECK(dlut_clip_encode_image(m, pix, e) == 0 && dlut_clip_image_backward(m, r, g16) == 0);
    CHECK(clip_vfast_used(m) == (dlut_bf16_available() != DLUT_BF16_NONE));
    double c = cosine(e, ref, E);
    CHECK_MSG(c > 0.999, "%s image %d: bf16 embed vs upstream cosine %.6f", name, im, c);
    set_precision("fp32");
    CHECK(dlut_clip_encode_image(m, pix, e) == 0 && dlut_clip_image_backward(m, r, g32) == 0);
    c = cosine(g16, g32, n);
    CHECK_MSG(c > 0.999, "%s image %d: bf16 pixel gradient vs fp32 cosine %.6f", name, im, c);
  }
  free(pix), free(e), free(ref), free(r), free(g32), free(g16);
  dlut_npy_free(&px);
  dlut_npy_free(&ie);
  dlut_clip_free(m);
}

int main(void) {
  printf("test_clip_bf16: bf16 kernel %s\n",
         dlut_bf16_available() ? dlut_bf16_kernel_name(dlut_bf16_available()) : "none (fallback checked)");
  test_random(32, 8, 32, 2, 2, DLUT_ACT_QUICK_GELU, 1); /* T 17, hd 16 */
  test_random(48, 4, 64, 2, 1, DLUT_ACT_GELU, 0);       /* T 145, hd 64, not a tile multiple */
  test_random(56, 8, 96, 3, 3, DLUT_ACT_QUICK_GELU, 1); /* T 50, hd 32 */
  if (dlut_bf16_available() == DLUT_BF16_AMX) {         /* the AVX512-BF16 kernel too, on an AMX machine */
    dlut_bf16_select(DLUT_BF16_AVX512);
    test_random(48, 4, 64, 2, 1, DLUT_ACT_GELU, 0);
    test_random(56, 8, 96, 3, 3, DLUT_ACT_QUICK_GELU, 1);
    dlut_bf16_select(-1);
  }
  /* the default on a tiny tower is fp32, bit for bit */
  {
    dlut_clip_config cfg = model_config(32, 8, 32, 2, 2, DLUT_ACT_QUICK_GELU);
    dlut_clip *m = dlut_clip_create_random(&cfg, 3);
    float pix[3 * 32 * 32], e1[16], e2[16];
    for (int i = 0; i < 3 * 32 * 32; i++) pix[i] = frand();
    unsetenv("DLUT_CLIP_PRECISION");
    CHECK(m && dlut_clip_encode_image(m, pix, e1) == 0 && !clip_vfast_used(m));
    set_precision("fp32");
    CHECK(m && dlut_clip_encode_image(m, pix, e2) == 0 && memcmp(e1, e2, sizeof e1) == 0);
    dlut_clip_free(m);
  }
  int nt = dlut_threads_get();
  dlut_threads_set(3); /* more threads than heads, uneven splits */
  test_random(32, 8, 32, 2, 2, DLUT_ACT_QUICK_GELU, 0);
  dlut_threads_set(nt);
  {
    /* threads added between a forward and its backward: the same gradient */
    dlut_clip_config cfg = model_config(32, 8, 32, 2, 2, DLUT_ACT_QUICK_GELU);
    dlut_clip *m = dlut_clip_create_random(&cfg, 5);
    float pix[3 * 32 * 32], e[16], r[16], g1[3 * 32 * 32], g2[3 * 32 * 32];
    for (int i = 0; i < 3 * 32 * 32; i++) pix[i] = frand();
    for (int i = 0; i < 16; i++) r[i] = frand();
    set_precision("bf16");
    dlut_threads_set(1);
    CHECK(m && dlut_clip_encode_image(m, pix, e) == 0 && dlut_clip_image_backward(m, r, g1) == 0);
    CHECK(m && dlut_clip_encode_image(m, pix, e) == 0);
    dlut_threads_set(4);
    CHECK(m && dlut_clip_image_backward(m, r, g2) == 0);
    CHECK(cosine(g1, g2, 3 * 32 * 32) > 0.99999);
    dlut_threads_set(nt);
    dlut_clip_free(m);
  }
  test_reference("data/clip-ref/openai_tiny");
  test_reference("data/clip-ref/chinese_clip_tiny");
  unsetenv("DLUT_CLIP_PRECISION");
  return test_summary("clip_bf16");
}
