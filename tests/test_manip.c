/* tests/test_manip.c - the full token set and its backward (finite
 * differences through the whole vision tower, the reference backend
 * against the CPU one), ColorizeDiffusion's manipulation steps checked
 * against their defining properties (v'.t = s for the no-anchor replace,
 * the PWM's branches and ends, CLS pass-through, sequences), the bicubic
 * upsampling and the heatmap. The comparison with the upstream functions'
 * own outputs is `dlut refcheck` on ref/manipulation/
 * (tests/t_clip_refcheck.sh). */
#include <stdint.h>

#include "clip/clip_internal.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/image.h"
#include "dlut/manip.h"
#include "test.h"

static uint64_t g_rng = 777;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static double dotd(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static void unit(float *v, int n) {
  double s = sqrt(dotd(v, v, n));
  for (int i = 0; i < n; i++) v[i] = (float)(v[i] / s);
}

static dlut_clip_config tiny_config(void) {
  dlut_clip_config c;
  memset(&c, 0, sizeof c);
  c.family = DLUT_CLIP_OPENAI;
  c.image_size = 16;
  c.patch_size = 4;
  c.vision = (dlut_clip_tower_config){16, 2, 2, 32, 1e-5f, DLUT_ACT_QUICK_GELU};
  c.text = (dlut_clip_tower_config){12, 1, 3, 24, 1e-5f, DLUT_ACT_QUICK_GELU};
  c.vocab_size = 50;
  c.max_positions = 12;
  c.context_length = 10;
  c.projection_dim = 8;
  c.eos_token_id = 49;
  c.logit_scale_init = 2.0f;
  return c;
}

enum { S = 16, E = 8, P = 16, T = 17, NPIX = 3 * 16 * 16 };

/* L = sum W . tokens(pixels) */
static double probe(dlut_clip *m, const float *pix, const float *W) {
  float e[E], tok[T * E];
  dlut_clip_encode_image(m, pix, e);
  dlut_clip_image_tokens(m, tok);
  return dotd(W, tok, T * E);
}

static void test_tokens(void) {
  dlut_clip_config cfg = tiny_config();
  dlut_clip *m = dlut_clip_create_random(&cfg, 11);
  CHECK_MSG(m != NULL, "create_random: %s", dlut_last_error());
  if (!m) return;
  static float pix[NPIX], W[T * E], g1[NPIX], g2[NPIX], g0[NPIX], tok[T * E], tok2[T * E], patches[P * E], e[E];
  for (int i = 0; i < NPIX; i++) pix[i] = 2.0f * frand();
  for (int i = 0; i < T * E; i++) W[i] = frand();
  CHECK(dlut_clip_image_tokens(m, tok) == -1); /* before any image */

  CHECK(dlut_clip_encode_image(m, pix, e) == 0);
  CHECK(dlut_clip_image_tokens(m, tok) == 0);
  CHECK(dlut_clip_image_patch_tokens(m, patches) == 0);
  CHECK(memcmp(tok, e, sizeof e) == 0); /* row 0 is the image embedding */
  CHECK(memcmp(tok + E, patches, sizeof patches) == 0);
  /* the patch rows by hand: LN_post(x_L[p]) @ proj^T, in double */
  {
    int C = cfg.vision.width;
    const float *xL = m->va.x[cfg.vision.layers];
    double worst = 0;
    for (int p = 0; p < T; p++) {
      const float *x = xL + (size_t)p * C;
      double mu = 0, var = 0;
      for (int c = 0; c < C; c++) mu += x[c];
      mu /= C;
      for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
      var /= C;
      for (int k = 0; k < E; k++) {
        double s = 0;
        for (int c = 0; c < C; c++)
          s += ((x[c] - mu) / sqrt(var + 1e-5) * m->vw.post_ln_w[c] + m->vw.post_ln_b[c]) * m->vw.proj[k * C + c];
        worst = fmax(worst, fabs(s - tok[p * E + k]));
      }
    }
    CHECK_MSG(worst < 1e-4, "tokens by hand: %g", worst);
  }

  /* backward: CPU vs the reference backend, and finite differences */
  CHECK(dlut_clip_image_tokens_backward(m, W, g1) == 0);
  m->be = dlut_tensor_backend_ref();
  CHECK(dlut_clip_encode_image(m, pix, e) == 0);
  CHECK(dlut_clip_image_tokens(m, tok2) == 0);
  CHECK(dlut_clip_image_tokens_backward(m, W, g2) == 0);
  double gmax = 0, md = 0;
  for (int i = 0; i < NPIX; i++) gmax = fmax(gmax, fabs(g2[i])), md = fmax(md, fabs(g1[i] - g2[i]));
  CHECK_MSG(gmax > 0 && md / gmax < 1e-4, "tokens backward cpu vs ref %g", md / gmax);
  double worst = 0;
  for (int i = 0; i < NPIX; i += 5) {
    float h = 1e-2f, x0 = pix[i];
    pix[i] = x0 + h;
    double lp = probe(m, pix, W);
    pix[i] = x0 - h;
    double lm = probe(m, pix, W);
    pix[i] = x0;
    worst = fmax(worst, fabs((lp - lm) / (2 * h) - g2[i]));
  }
  CHECK_MSG(worst / gmax < 5e-3, "tokens backward FD: %g", worst / gmax);
  m->be = dlut_tensor_backend_cpu();

  /* only row 0 seeded = the CLS-embedding backward */
  static float W0[T * E];
  memcpy(W0, W, sizeof(float) * E);
  CHECK(dlut_clip_encode_image(m, pix, e) == 0);
  CHECK(dlut_clip_image_backward(m, W0, g0) == 0);
  CHECK(dlut_clip_image_tokens_backward(m, W0, g1) == 0);
  md = 0, gmax = 0;
  for (int i = 0; i < NPIX; i++) gmax = fmax(gmax, fabs(g0[i])), md = fmax(md, fabs(g1[i] - g0[i]));
  CHECK_MSG(md <= 1e-6 * gmax, "row-0 tokens backward vs image backward %g", md / gmax);
  /* the backward does not depend on whether image_tokens ran in between */
  CHECK(dlut_clip_encode_image(m, pix, e) == 0);
  CHECK(dlut_clip_image_tokens_backward(m, W, g2) == 0);
  CHECK(dlut_clip_encode_image(m, pix, e) == 0);
  CHECK(dlut_clip_image_tokens(m, tok) == 0);
  CHECK(dlut_clip_image_tokens_backward(m, W, g1) == 0);
  CHECK(memcmp(g1, g2, sizeof g1) == 0);
  dlut_clip_free(m);
}

static void rand_tokens(float *tok) {
  for (int i = 0; i < T * E; i++) tok[i] = 3.0f * frand();
}

static void rand_unit(float *v) {
  for (int i = 0; i < E; i++) v[i] = frand();
  unit(v, E);
}

static void test_global(void) {
  float v[E], v0[E], t[E], a[E];
  rand_unit(t);
  rand_unit(a);
  for (int i = 0; i < E; i++) v0[i] = 4.0f * frand();
  dlut_manip_edit e;
  dlut_manip_edit_init(&e);
  e.target = t;
  e.scale = 3.5f;
  /* no anchor, no enhance: v' . t = s exactly, the rest of v kept */
  memcpy(v, v0, sizeof v);
  CHECK(dlut_manip_global_step(v, E, &e) == 0);
  CHECK_NEAR(dotd(v, t, E), 3.5, 1e-5);
  double d = 3.5 - dotd(v0, t, E);
  for (int k = 0; k < E; k++) CHECK_NEAR(v[k], v0[k] + d * t[k], 1e-5);
  /* no anchor, enhance: v + s t */
  e.enhance = 1;
  memcpy(v, v0, sizeof v);
  CHECK(dlut_manip_global_step(v, E, &e) == 0);
  for (int k = 0; k < E; k++) CHECK_NEAR(v[k], v0[k] + 3.5 * t[k], 1e-5);
  /* anchor, enhance: v - (v.a) a + s t: no component along a is left but s t's */
  e.anchor = a;
  memcpy(v, v0, sizeof v);
  CHECK(dlut_manip_global_step(v, E, &e) == 0);
  CHECK_NEAR(dotd(v, a, E), 3.5 * dotd(t, a, E), 1e-5);
  /* anchor, no enhance: v + s (t - a) */
  e.enhance = 0;
  memcpy(v, v0, sizeof v);
  CHECK(dlut_manip_global_step(v, E, &e) == 0);
  for (int k = 0; k < E; k++) CHECK_NEAR(v[k], v0[k] + 3.5 * (t[k] - a[k]), 1e-5);
  /* a sequence is the steps in order */
  dlut_manip_edit seq[2] = {e, e};
  seq[1].anchor = NULL;
  seq[1].scale = 1.0f;
  memcpy(v, v0, sizeof v);
  CHECK(dlut_manip_global(v, E, seq, 2) == 0);
  CHECK_NEAR(dotd(v, t, E), 1.0, 1e-5);
  /* the pipeline gate: only some s > 0 manipulates */
  seq[0].scale = 0, seq[1].scale = -2;
  CHECK(dlut_manip_applies(seq, 2) == 0);
  seq[1].scale = 0.5f;
  CHECK(dlut_manip_applies(seq, 2) == 1);
  CHECK(dlut_manip_applies(NULL, 0) == 0);
  e.target = NULL;
  CHECK(dlut_manip_global_step(v, E, &e) == -1);
}

static void test_pwm(void) {
  /* a control map whose normalised values are known: m = p / (P - 1) */
  float c_map[P], m[P], pwm[P];
  for (int p = 0; p < P; p++) c_map[p] = 2.0f + 3.0f * p / (P - 1);
  const float th[4] = {0.5f, 0.55f, 0.65f, 0.95f};
  double ds = 1.7;
  CHECK(dlut_manip_pwm(c_map, P, ds, th, 2, pwm, m) == 0);
  for (int p = 0; p < P; p++) {
    double mm = (double)p / (P - 1), want;
    CHECK_NEAR(m[p], mm, 1e-6);
    if (mm <= 0.5)
      want = -2 * ds;
    else if (mm <= 0.55)
      want = -ds + ds * (mm - 0.5) / 0.05;
    else if (mm <= 0.65)
      want = 0.5 * ds * (mm - 0.55) / 0.1;
    else if (mm <= 0.95)
      want = 0.5 * ds + 0.5 * ds * (mm - 0.65) / 0.3;
    else
      want = ds;
    CHECK_NEAR(pwm[p], want, 1e-5);
  }
  CHECK_NEAR(pwm[0], -2 * ds, 1e-6);                            /* least similar: -ratio dscale */
  CHECK_NEAR(pwm[P - 1], ds, 1e-6);                             /* most similar: dscale */
  CHECK(dlut_manip_pwm(c_map, P, ds, NULL, 0, pwm, NULL) == 0); /* defaults = the same */
  CHECK_NEAR(pwm[0], -2 * ds, 1e-6);
  CHECK(dlut_manip_pwm(c_map, P, ds, th, 3, pwm, NULL) == 0);
  CHECK_NEAR(pwm[0], -3 * ds, 1e-6);
  for (int p = 0; p < P; p++) c_map[p] = 1.0f; /* constant: refused (upstream NaN) */
  CHECK(dlut_manip_pwm(c_map, P, ds, th, 2, pwm, NULL) == -1);
}

static void test_local(void) {
  float tok[T * E], tok0[T * E], t[E], a[E], c[E], cm[P], pw[P], mm[P], am[P];
  rand_tokens(tok0);
  rand_unit(t);
  rand_unit(a);
  rand_unit(c);
  dlut_manip_edit e;
  dlut_manip_edit_init(&e);
  e.target = t;
  e.control = c;
  e.scale = 2.0f;
  dlut_manip_trace tr = {0, 0, 0, cm, am, mm, pw};
  /* no anchor: l + pwm t, dscale = s - cls.t; CLS bit-identical */
  memcpy(tok, tok0, sizeof tok);
  CHECK(dlut_manip_local_step(tok, P, E, &e, &tr) == 0);
  CHECK(memcmp(tok, tok0, sizeof(float) * E) == 0);
  CHECK_NEAR(tr.cur, dotd(tok0, t, E), 1e-6);
  CHECK_NEAR(tr.dscale, 2.0 - tr.cur, 1e-6);
  for (int p = 0; p < P; p++) {
    CHECK_NEAR(cm[p], dotd(tok0 + (p + 1) * E, c, E), 1e-5);
    for (int k = 0; k < E; k++) CHECK_NEAR(tok[(p + 1) * E + k], tok0[(p + 1) * E + k] + pw[p] * t[k], 1e-5);
  }
  /* enhance is ignored without an anchor (bit-identical, as upstream) */
  float tok_e[T * E];
  memcpy(tok_e, tok0, sizeof tok);
  e.enhance = 1;
  CHECK(dlut_manip_local_step(tok_e, P, E, &e, NULL) == 0);
  CHECK(memcmp(tok_e, tok, sizeof tok) == 0);
  /* anchor + enhance: dscale = s - cls.a, l + (pwm + l.a)(t - a) */
  e.anchor = a;
  memcpy(tok, tok0, sizeof tok);
  CHECK(dlut_manip_local_step(tok, P, E, &e, &tr) == 0);
  CHECK_NEAR(tr.dscale, 2.0 - dotd(tok0, a, E), 1e-6);
  for (int p = 0; p < P; p++) {
    double w = pw[p] + dotd(tok0 + (p + 1) * E, a, E);
    CHECK_NEAR(am[p], dotd(tok0 + (p + 1) * E, a, E), 1e-5);
    for (int k = 0; k < E; k++) CHECK_NEAR(tok[(p + 1) * E + k], tok0[(p + 1) * E + k] + w * (t[k] - a[k]), 1e-5);
  }
  /* anchor, no enhance: dscale = s - cls.t, l + pwm (t - a) */
  e.enhance = 0;
  memcpy(tok, tok0, sizeof tok);
  CHECK(dlut_manip_local_step(tok, P, E, &e, &tr) == 0);
  CHECK_NEAR(tr.dscale, 2.0 - dotd(tok0, t, E), 1e-6);
  for (int p = 0; p < P; p++)
    for (int k = 0; k < E; k++) CHECK_NEAR(tok[(p + 1) * E + k], tok0[(p + 1) * E + k] + pw[p] * (t[k] - a[k]), 1e-5);
  /* "everything": the same weight dscale for every token */
  e.control = NULL;
  e.anchor = NULL;
  memcpy(tok, tok0, sizeof tok);
  CHECK(dlut_manip_local_step(tok, P, E, &e, &tr) == 0);
  for (int p = 0; p < P; p++) CHECK_NEAR(pw[p], tr.dscale, 1e-6);
  /* a sequence: the second step sees the first one's tokens */
  dlut_manip_edit seq[2];
  dlut_manip_edit_init(&seq[0]);
  seq[0].target = t, seq[0].control = c, seq[0].scale = 1.0f;
  seq[1] = seq[0];
  seq[1].target = a, seq[1].scale = 3.0f, seq[1].thresholds[0] = 0.4f;
  float tok_s[T * E];
  memcpy(tok_s, tok0, sizeof tok);
  CHECK(dlut_manip_local(tok_s, P, E, seq, 2) == 0);
  memcpy(tok, tok0, sizeof tok);
  CHECK(dlut_manip_local_step(tok, P, E, &seq[0], NULL) == 0);
  CHECK(dlut_manip_local_step(tok, P, E, &seq[1], NULL) == 0);
  CHECK(memcmp(tok, tok_s, sizeof tok) == 0);
  CHECK(memcmp(tok, tok0, sizeof tok) != 0);
}

/* Keys' kernel, A = -0.75 */
static double keys(double x) {
  const double A = -0.75;
  x = fabs(x);
  if (x <= 1) return ((A + 2) * x - (A + 3)) * x * x + 1;
  if (x < 2) return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  return 0;
}

static void test_heatmap(void) {
  /* upsampling to the same size is the identity; a constant stays constant */
  enum { G = 4 };
  float src[G * G], dst[G * G], big[37 * 23];
  for (int i = 0; i < G * G; i++) src[i] = frand();
  CHECK(dlut_manip_upsample(src, G, dst, G, G) == 0);
  for (int i = 0; i < G * G; i++) CHECK_NEAR(dst[i], src[i], 1e-6);
  for (int i = 0; i < G * G; i++) src[i] = 0.25f;
  CHECK(dlut_manip_upsample(src, G, big, 37, 23) == 0);
  for (int i = 0; i < 37 * 23; i++) CHECK_NEAR(big[i], 0.25, 1e-6);
  /* against a naive 2-D reference: Keys' cubic convolution (A = -0.75)
   * written out per output pixel, PyTorch's align_corners=False source
   * coordinate (i + 0.5) in/out - 0.5 and replicated borders */
  float rnd[G * G], up[11 * 7];
  for (int i = 0; i < G * G; i++) rnd[i] = frand();
  CHECK(dlut_manip_upsample(rnd, G, up, 11, 7) == 0);
  double worst = 0;
  for (int y = 0; y < 7; y++)
    for (int x = 0; x < 11; x++) {
      double sy = (y + 0.5) * G / 7.0 - 0.5, sx = (x + 0.5) * G / 11.0 - 0.5, acc = 0;
      for (int j = (int)floor(sy) - 1; j <= (int)floor(sy) + 2; j++)
        for (int i = (int)floor(sx) - 1; i <= (int)floor(sx) + 2; i++) {
          double ky = keys(sy - j), kx = keys(sx - i);
          int jj = j < 0 ? 0 : j > G - 1 ? G - 1 : j, ii = i < 0 ? 0 : i > G - 1 ? G - 1 : i;
          acc += ky * kx * rnd[jj * G + ii];
        }
      worst = fmax(worst, fabs(acc - up[y * 11 + x]));
    }
  CHECK_MSG(worst < 1e-5, "upsample vs naive: %g", worst);
  /* the heatmap: photo size, grid lines black, the most similar corner red-ish */
  dlut_image *ph = dlut_image_alloc(40, 24, 3, DLUT_PIXEL_U8);
  for (int y = 0; y < 24; y++) memset(dlut_image_pixel(ph, 0, y), 128, 40 * 3);
  for (int i = 0; i < G * G; i++) src[i] = (float)i; /* grows to the bottom right */
  dlut_image *hm = dlut_manip_heatmap(ph, src, G, NULL);
  CHECK_MSG(hm != NULL, "%s", dlut_last_error());
  if (hm) {
    CHECK(hm->width == 40 && hm->height == 24 && hm->channels == 3 && hm->type == DLUT_PIXEL_U8);
    const uint8_t *gl = dlut_image_pixel(hm, 10, 3); /* column 40/4 * 1 */
    CHECK(gl[0] == 0 && gl[1] == 0 && gl[2] == 0);
    const uint8_t *lo = dlut_image_pixel(hm, 3, 2), *hi = dlut_image_pixel(hm, 38, 22);
    /* m = 0: JET(0) = (0, 0, 128) -> 0.3*128 + 0.7*(0,0,128) = (38, 38, 128) */
    CHECK(lo[0] == 38 && lo[1] == 38 && lo[2] == 128);
    /* m = 1: all four thresholds -> level 252: JET r = 255 (4.5 - 4 * 252/255) = 139.5, g = b = 0 */
    CHECK_MSG((hi[0] == 135 || hi[0] == 136) && hi[1] == 38 && hi[2] == 38, "%d %d %d", hi[0], hi[1], hi[2]);
    dlut_image_free(hm);
  }
  dlut_image_free(ph);
}

int main(void) {
  test_tokens();
  test_global();
  test_pwm();
  test_local();
  test_heatmap();
  return test_summary("manip");
}
