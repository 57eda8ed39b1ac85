/* LUT construction and application: the fast kernels (apply.c) against the
 * naive double-precision references (apply_ref.c) on random LUTs and random
 * inputs, for every sample type, channel count, strength and interpolator;
 * identities and affine tables checked analytically. */
#include <float.h>
#include <stdint.h>

#include "dlut/error.h"
#include "dlut/lut.h"
#include "dlut/parallel.h"
#include "test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* xorshift64*, uniform in [0,1) */
  g_rng ^= g_rng >> 12, g_rng ^= g_rng << 25, g_rng ^= g_rng >> 27;
  return (double)((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}
static float frand(float lo, float hi) {
  return lo + (hi - lo) * (float)urand();
}

/* A random 3D LUT: identity plus noise, some entries outside [0,1]. */
static dlut_lut *random_lut(int size, int shaper) {
  dlut_lut *lut = dlut_lut_alloc(size, shaper);
  if (!lut) return NULL;
  for (size_t i = 0; i < (size_t)size * size * size * 3; i++) lut->table[i] += frand(-0.3f, 0.3f);
  if (shaper) { /* monotone random shaper from 0 to 1 */
    for (int c = 0; c < 3; c++) {
      double acc = 0;
      for (int i = 0; i < shaper; i++) lut->shaper[i * 3 + c] = (float)(acc += 0.2 + urand());
      for (int i = 0; i < shaper; i++) lut->shaper[i * 3 + c] /= (float)acc;
    }
  }
  return lut;
}

static void fill_inputs(float *in, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n * 3; i++) in[i] = frand(lo, hi);
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d; /* NaN propagates as a failure */
  }
  return m;
}

static const char *interp_name(dlut_interp in) {
  return in == DLUT_INTERP_TRILINEAR ? "trilinear" : "tetrahedral";
}

/* ==== Construction ==== */

static void test_alloc(void) {
  CHECK(dlut_lut_alloc(1, 0) == NULL && strstr(dlut_last_error(), "out of range"));
  CHECK(dlut_lut_alloc(DLUT_LUT_MAX_SIZE + 1, 0) == NULL);
  CHECK(dlut_lut_alloc(-5, 0) == NULL);
  CHECK(dlut_lut_alloc(2, 1) == NULL);
  CHECK(dlut_lut_alloc(0, DLUT_LUT_MAX_1D + 1) == NULL);
  dlut_lut *lut = dlut_lut_alloc(5, 0);
  CHECK(lut && lut->table && !lut->shaper && lut->domain_max[1] == 1.0f && lut->domain_min[2] == 0.0f);
  if (!lut) return;
  /* red fastest: entry (r=1, g=2, b=3) */
  const float *e = lut->table + ((3 * 5 + 2) * 5 + 1) * 3;
  CHECK(e[0] == 0.25f && e[1] == 0.5f && e[2] == 0.75f);
  strcpy(lut->title, "hello");
  dlut_lut *cl = dlut_lut_clone(lut);
  CHECK(cl && cl->size == 5 && memcmp(cl->table, lut->table, 125 * 3 * sizeof(float)) == 0);
  CHECK(cl && strcmp(cl->title, "hello") == 0 && cl->table != lut->table);
  dlut_lut_free(cl);
  dlut_lut_free(lut);
  lut = dlut_lut_alloc(0, 7);
  CHECK(lut && !lut->table && lut->shaper && lut->shaper[6 * 3] == 1.0f && lut->shaper[0] == 0.0f);
  dlut_lut_free(lut);
  dlut_lut_free(NULL);
}

/* ==== Identity and affine tables (analytic) ==== */

static void test_identity(void) {
  int sizes[] = {2, 17, 33};
  for (int si = 0; si < 3; si++)
    for (int ip = 0; ip < 2; ip++) {
      dlut_lut *lut = dlut_lut_alloc(sizes[si], sizes[si] == 17 ? 9 : 0);
      if (!lut) continue;
      enum { N = 1001 };
      float in[N * 3], out[N * 3], want[N * 3];
      fill_inputs(in, N, -0.2f, 1.2f);
      for (int i = 0; i < N * 3; i++) want[i] = in[i] < 0 ? 0 : in[i] > 1 ? 1 : in[i];
      dlut_lut_apply_f32(lut, in, out, N, (dlut_interp)ip);
      CHECK_MSG(max_abs_diff(out, want, N * 3) < 2e-6, "identity size %d %s: %g", sizes[si], interp_name(ip),
                max_abs_diff(out, want, N * 3));
      float o[3];
      dlut_lut_eval(lut, in, o, (dlut_interp)ip);
      CHECK(fabsf(o[0] - want[0]) < 2e-6f && fabsf(o[2] - want[2]) < 2e-6f);
      /* 8-bit identity is exact. */
      dlut_image img = {16, 16, 3, DLUT_PIXEL_U8, 48, NULL, NULL, 0, NULL, 0};
      uint8_t px[16 * 16 * 3], orig[16 * 16 * 3];
      for (int i = 0; i < 16 * 16 * 3; i++) orig[i] = px[i] = (uint8_t)(i * 37 + (i >> 3));
      img.data = px;
      CHECK(dlut_lut_apply_image(lut, &img, &img, (dlut_interp)ip, 1.0f) == 0);
      CHECK_MSG(memcmp(px, orig, sizeof px) == 0, "8-bit identity size %d not exact", sizes[si]);
      dlut_lut_free(lut);
    }
}

/* An affine table (entry = A * lattice point + t) is reproduced exactly by
 * both interpolators, whatever the domain: this checks the domain mapping
 * and the interpolation weights independently of the reference. */
static void test_affine_domain(void) {
  const float lo[3] = {-0.5f, 0.1f, 0.0f}, hi[3] = {2.0f, 0.6f, 4.0f};
  const float A[3][3] = {{0.5f, 0.2f, -0.1f}, {0.0f, 1.0f, 0.3f}, {-0.2f, 0.1f, 0.8f}};
  const int S = 9;
  dlut_lut *lut = dlut_lut_alloc(S, 0);
  if (!lut) return;
  for (int c = 0; c < 3; c++) lut->domain_min[c] = lo[c], lut->domain_max[c] = hi[c];
  for (int b = 0; b < S; b++)
    for (int g = 0; g < S; g++)
      for (int r = 0; r < S; r++) {
        float v[3] = {lo[0] + (hi[0] - lo[0]) * r / (S - 1), lo[1] + (hi[1] - lo[1]) * g / (S - 1),
                      lo[2] + (hi[2] - lo[2]) * b / (S - 1)};
        for (int c = 0; c < 3; c++)
          lut->table[((b * S + g) * S + r) * 3 + c] = A[c][0] * v[0] + A[c][1] * v[1] + A[c][2] * v[2] + 0.05f;
      }
  enum { N = 333 };
  float in[N * 3], out[N * 3], want[N * 3];
  fill_inputs(in, N, -1.0f, 5.0f);
  for (int i = 0; i < N; i++) {
    float v[3];
    for (int c = 0; c < 3; c++) v[c] = fminf(fmaxf(in[i * 3 + c], lo[c]), hi[c]);
    for (int c = 0; c < 3; c++) want[i * 3 + c] = A[c][0] * v[0] + A[c][1] * v[1] + A[c][2] * v[2] + 0.05f;
  }
  for (int ip = 0; ip < 2; ip++) {
    dlut_lut_apply_f32(lut, in, out, N, (dlut_interp)ip);
    CHECK_MSG(max_abs_diff(out, want, N * 3) < 1e-5, "affine %s: %g", interp_name(ip), max_abs_diff(out, want, N * 3));
    dlut_lut_apply_f32_ref(lut, in, out, N, (dlut_interp)ip);
    CHECK_MSG(max_abs_diff(out, want, N * 3) < 1e-5, "affine ref %s: %g", interp_name(ip),
              max_abs_diff(out, want, N * 3));
  }
  dlut_lut_free(lut);
}

/* A hand-computed tetrahedral value: in a 2-point LUT whose only non-zero
 * entry is c110 = (1,1,1), the point with fractions (0.7, 0.4, 0.1) lies in
 * FFmpeg's first case (r > g > b), weight of c110 = g - b = 0.3; trilinear
 * gives r*g*(1-b) = 0.252. */
static void test_hand_values(void) {
  dlut_lut *lut = dlut_lut_alloc(2, 0);
  if (!lut) return;
  memset(lut->table, 0, 8 * 3 * sizeof(float));
  for (int c = 0; c < 3; c++) lut->table[((0 * 2 + 1) * 2 + 1) * 3 + c] = 1.0f; /* b=0, g=1, r=1 */
  float in[3] = {0.7f, 0.4f, 0.1f}, o[3], oref[3];
  dlut_lut_apply_f32(lut, in, o, 1, DLUT_INTERP_TETRAHEDRAL);
  dlut_lut_apply_f32_ref(lut, in, oref, 1, DLUT_INTERP_TETRAHEDRAL);
  CHECK_NEAR(o[0], 0.3, 1e-6);
  CHECK_NEAR(oref[1], 0.3, 1e-6);
  /* (0.7, 0.1, 0.4): case r > b > g, c110 not a vertex -> 0. */
  float in2[3] = {0.7f, 0.1f, 0.4f};
  dlut_lut_apply_f32(lut, in2, o, 1, DLUT_INTERP_TETRAHEDRAL);
  CHECK_NEAR(o[2], 0.0, 1e-6);
  dlut_lut_apply_f32(lut, in, o, 1, DLUT_INTERP_TRILINEAR);
  CHECK_NEAR(o[0], 0.7 * 0.4 * 0.9, 1e-6);
  /* Ties pick FFmpeg's tetrahedron: with fr == fg > fb FFmpeg takes its
   * last case (c000, c010, c110, c111), so a NaN planted in c100 (used
   * only by the r-first split) must not show; with fr == fb > fg its third
   * case (c000, c001, c101, c111), so a NaN in c100 must not show either,
   * and with fg == fb > fr its fifth (c000, c010, c011, c111). */
  /* 2 points: the padded-table kernel; 33 points and 64 pixels: the gather one. */
  for (int S = 2; S <= 33; S += 31) {
    dlut_lut *l = S == 2 ? lut : dlut_lut_alloc(S, 0);
    if (!l) break;
    for (int c = 0; c < 3; c++) l->table[1 * 3 + c] = NAN; /* c100 of the first cell: r=1, g=0, b=0 */
    float ties[3][3] = {{0.5f, 0.5f, 0.2f}, {0.5f, 0.2f, 0.5f}, {0.2f, 0.5f, 0.5f}};
    for (int t = 0; t < 3; t++) {
      float big[64 * 3];
      for (int k = 0; k < 3; k++) ties[t][k] /= (float)(S - 1); /* fractions in the first cell */
      for (int i = 0; i < 64; i++) memcpy(big + i * 3, ties[t], sizeof ties[t]);
      dlut_lut_apply_f32(l, big, big, 64, DLUT_INTERP_TETRAHEDRAL);
      dlut_lut_apply_f32_ref(l, ties[t], oref, 1, DLUT_INTERP_TETRAHEDRAL);
      CHECK_MSG(isfinite(big[0]) && isfinite(big[63 * 3]) && isfinite(oref[0]),
                "size %d tie %d used the wrong tetrahedron", S, t);
      CHECK_NEAR(big[1], oref[1], 1e-6);
    }
    if (l != lut) dlut_lut_free(l);
  }
  dlut_lut_free(lut);
}

/* ==== Fast vs naive ==== */

static void test_f32_vs_ref(void) {
  int sizes[] = {2, 17, 33, 65};
  for (int si = 0; si < 4; si++)
    for (int sh = 0; sh < 2; sh++) {
      /* sh = 0: n below S^3/4 for S >= 33, which takes the gather kernels;
       * sh = 1: n above it, which takes the padded-table kernels. */
      int64_t S3 = (int64_t)sizes[si] * sizes[si] * sizes[si];
      int64_t n = sh && S3 / 4 + 13 > 4099 ? S3 / 4 + 13 : 4099; /* not a multiple of 8 or of the block */
      dlut_lut *lut = random_lut(sizes[si], sh ? 1 + sizes[si] * 3 : 0);
      if (!lut) continue;
      if (sh) /* a domain other than [0,1] behind the shaper */
        for (int c = 0; c < 3; c++) lut->domain_min[c] = -0.1f * c, lut->domain_max[c] = 1.0f + 0.2f * c;
      float *in = malloc(n * 3 * sizeof(float)), *a = malloc(n * 3 * sizeof(float)), *b = malloc(n * 3 * sizeof(float));
      if (!in || !a || !b) {
        CHECK(!"malloc");
        goto next;
      }
      fill_inputs(in, n, -0.25f, 1.25f);
      /* Exact lattice points and the top edge. */
      for (int i = 0; i < 30; i++) in[i] = (float)(i % sizes[si]) / (float)(sizes[si] - 1);
      in[30] = 1.0f, in[31] = 1.0f, in[32] = 1.0f;
      in[33] = NAN, in[34] = INFINITY, in[35] = -INFINITY;
      for (int ip = 0; ip < 2; ip++) {
        dlut_lut_apply_f32(lut, in, a, n, (dlut_interp)ip);
        dlut_lut_apply_f32_ref(lut, in, b, n, (dlut_interp)ip);
        double d = max_abs_diff(a, b, n * 3);
        CHECK_MSG(d <= 1e-5, "f32 size %d shaper %d %s: max diff %g", sizes[si], sh, interp_name(ip), d);
        /* In place gives the same. */
        memcpy(a, in, n * 3 * sizeof(float));
        dlut_lut_apply_f32(lut, a, a, n, (dlut_interp)ip);
        d = max_abs_diff(a, b, n * 3);
        CHECK_MSG(d <= 1e-5, "f32 in place size %d %s: max diff %g", sizes[si], interp_name(ip), d);
        /* eval agrees too. */
        float o[3];
        dlut_lut_eval(lut, in + 300, o, (dlut_interp)ip);
        CHECK(fabsf(o[0] - b[300]) <= 1e-5f && fabsf(o[1] - b[301]) <= 1e-5f && fabsf(o[2] - b[302]) <= 1e-5f);
      }
      /* The two interpolators really differ on a random LUT. */
      dlut_lut_apply_f32(lut, in, a, n, DLUT_INTERP_TETRAHEDRAL);
      dlut_lut_apply_f32(lut, in, b, n, DLUT_INTERP_TRILINEAR);
      if (sizes[si] > 2) CHECK(max_abs_diff(a, b, n * 3) > 1e-3);
    next:
      free(in), free(a), free(b);
      dlut_lut_free(lut);
    }
}

static void fill_image(dlut_image *img) {
  size_t n = (size_t)img->width * img->height * img->channels;
  for (size_t i = 0; i < n; i++) {
    if (img->type == DLUT_PIXEL_U8)
      ((uint8_t *)img->data)[i] = (uint8_t)(urand() * 256);
    else if (img->type == DLUT_PIXEL_U16)
      ((uint16_t *)img->data)[i] = (uint16_t)(urand() * 65536);
    else
      ((float *)img->data)[i] = frand(-0.2f, 1.2f);
  }
}

static dlut_image *new_image(int w, int h, int ch, dlut_pixel_type t) {
  dlut_image *img = calloc(1, sizeof *img);
  if (!img) return NULL;
  img->width = w, img->height = h, img->channels = ch, img->type = t;
  img->stride = (size_t)w * ch * t;
  img->data = malloc(img->stride * h);
  if (!img->data) {
    free(img);
    return NULL;
  }
  return img;
}
static void del_image(dlut_image *img) {
  if (img) free(img->data);
  free(img);
}

/* Largest difference between two images of the same shape, in LSBs for
 * integer types (alpha must match exactly: returns 1e9 otherwise). */
static double image_diff(const dlut_image *a, const dlut_image *b) {
  size_t n = (size_t)a->width * a->height * a->channels;
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double x, y;
    if (a->type == DLUT_PIXEL_U8)
      x = ((uint8_t *)a->data)[i], y = ((uint8_t *)b->data)[i];
    else if (a->type == DLUT_PIXEL_U16)
      x = ((uint16_t *)a->data)[i], y = ((uint16_t *)b->data)[i];
    else
      x = ((float *)a->data)[i], y = ((float *)b->data)[i];
    double d = fabs(x - y);
    if (a->channels == 4 && i % 4 == 3 && d != 0) return 1e9;
    if (!(d <= m)) m = d;
  }
  return m;
}

static void test_images_vs_ref(void) {
  int sizes[] = {2, 17, 33, 65};
  dlut_pixel_type types[] = {DLUT_PIXEL_U8, DLUT_PIXEL_U16, DLUT_PIXEL_F32};
  float strengths[] = {0.0f, 0.5f, 1.0f};
  for (int si = 0; si < 4; si++) {
    /* Enough pixels that the padded-table kernels run (see apply.c), but
     * for 65 (the f32 test covers that size): keep the run short. */
    int w = 67, h = sizes[si] <= 33 ? sizes[si] * sizes[si] * sizes[si] / 4 / 67 + 1 : 23;
    if (h < 23) h = 23;
    dlut_lut *lut = random_lut(sizes[si], si == 1 ? 33 : 0);
    if (!lut) continue;
    for (int ti = 0; ti < 3; ti++)
      for (int ch = 3; ch <= 4; ch++)
        for (int st = 0; st < 3; st++)
          for (int ip = 0; ip < 2; ip++) {
            dlut_image *src = new_image(w, h, ch, types[ti]);
            dlut_image *fast = new_image(w, h, ch, types[ti]);
            dlut_image *ref = new_image(w, h, ch, types[ti]);
            if (!src || !fast || !ref) {
              CHECK(!"alloc");
              goto next;
            }
            fill_image(src);
            CHECK(dlut_lut_apply_image(lut, src, fast, (dlut_interp)ip, strengths[st]) == 0);
            CHECK(dlut_lut_apply_image_ref(lut, src, ref, (dlut_interp)ip, strengths[st]) == 0);
            double tol = types[ti] == DLUT_PIXEL_F32 ? 1e-5 : 1.0;
            double d = image_diff(fast, ref);
            CHECK_MSG(d <= tol, "image size %d type %d ch %d strength %g %s: max diff %g", sizes[si], types[ti], ch,
                      strengths[st], interp_name(ip), d);
            if (st == 0) { /* strength 0 leaves integer images exactly as they were */
              double d0 = image_diff(fast, src);
              CHECK_MSG(d0 <= (types[ti] == DLUT_PIXEL_F32 ? 0 : 0), "strength 0 changed the image: %g", d0);
            }
            /* In place. */
            CHECK(dlut_lut_apply_image(lut, src, src, (dlut_interp)ip, strengths[st]) == 0);
            d = image_diff(src, fast);
            CHECK_MSG(d == 0, "in place differs from out of place: %g", d);
          next:
            del_image(src), del_image(fast), del_image(ref);
          }
    dlut_lut_free(lut);
  }
}

/* Rows with padding at their ends (stride > row bytes) are handled. */
static void test_strided(void) {
  dlut_lut *lut = random_lut(17, 0);
  dlut_image *a = new_image(37, 19, 3, DLUT_PIXEL_U8), *b = new_image(37, 19, 3, DLUT_PIXEL_U8);
  if (!lut || !a || !b) {
    CHECK(!"alloc");
    goto done;
  }
  fill_image(a);
  dlut_image pad = *a;
  pad.stride = a->stride + 5;
  pad.height = a->height - 2; /* (h-2) rows of (stride+5) fit in the buffer */
  pad.data = a->data;
  dlut_image padb = pad;
  padb.data = b->data;
  memcpy(b->data, a->data, a->stride * a->height);
  CHECK(dlut_lut_apply_image(lut, &pad, &padb, DLUT_INTERP_TETRAHEDRAL, 1.0f) == 0);
  CHECK(dlut_lut_apply_image_ref(lut, &pad, &pad, DLUT_INTERP_TETRAHEDRAL, 1.0f) == 0);
  /* Padding bytes untouched (they still equal the original in b), pixels within 1 LSB. */
  int bad = 0;
  for (int y = 0; y < pad.height; y++)
    for (size_t x = 0; x < pad.stride; x++) {
      int va = ((uint8_t *)a->data)[y * pad.stride + x], vb = ((uint8_t *)b->data)[y * pad.stride + x];
      if (x >= 37 * 3) continue;
      if (abs(va - vb) > 1) bad++;
    }
  CHECK_MSG(bad == 0, "%d strided samples off by more than 1", bad);
  /* Bad arguments. */
  CHECK(dlut_lut_apply_image(lut, a, b, DLUT_INTERP_TETRAHEDRAL, 1.5f) == -1);
  CHECK(dlut_lut_apply_image(lut, a, b, DLUT_INTERP_TETRAHEDRAL, NAN) == -1);
  b->channels = 4;
  CHECK(dlut_lut_apply_image(lut, a, b, DLUT_INTERP_TETRAHEDRAL, 1.0f) == -1 && strstr(dlut_last_error(), "differs"));
done:
  del_image(a), del_image(b);
  dlut_lut_free(lut);
}

/* Threads: the result does not depend on the thread count. */
static void test_threads(void) {
  dlut_lut *lut = random_lut(33, 0);
  int64_t n = 50000;
  float *in = malloc(n * 3 * sizeof(float)), *a = malloc(n * 3 * sizeof(float)), *b = malloc(n * 3 * sizeof(float));
  if (!lut || !in || !a || !b) {
    CHECK(!"alloc");
    goto done;
  }
  fill_inputs(in, n, 0, 1);
  dlut_threads_set(1);
  dlut_lut_apply_f32(lut, in, a, n, DLUT_INTERP_TETRAHEDRAL);
  dlut_threads_set(3);
  dlut_lut_apply_f32(lut, in, b, n, DLUT_INTERP_TETRAHEDRAL);
  dlut_threads_set(0);
  CHECK(memcmp(a, b, n * 3 * sizeof(float)) == 0);
done:
  free(in), free(a), free(b);
  dlut_lut_free(lut);
}

/* 1D-only LUTs (size 0) apply just the shaper. */
static void test_1d_only(void) {
  dlut_lut *lut = dlut_lut_alloc(0, 5);
  if (!lut) return;
  for (int i = 0; i < 5; i++)
    for (int c = 0; c < 3; c++) lut->shaper[i * 3 + c] = (float)(i * i) / 16.0f * (c + 1);
  lut->shaper_min[1] = -1.0f; /* green over [-1,1] */
  float in[6] = {0.5f, 0.0f, 0.125f, 2.0f, -3.0f, 0.6f}, out[6], ref[6];
  dlut_lut_apply_f32(lut, in, out, 2, DLUT_INTERP_TETRAHEDRAL);
  dlut_lut_apply_f32_ref(lut, in, ref, 2, DLUT_INTERP_TETRAHEDRAL);
  CHECK(max_abs_diff(out, ref, 6) < 1e-6);
  CHECK_NEAR(out[0], 4.0 / 16.0, 1e-6);                       /* t = 2 exactly */
  CHECK_NEAR(out[1], 2.0 * 4.0 / 16.0, 1e-6);                 /* green 0 in [-1,1] -> t = 2 */
  CHECK_NEAR(out[2], 3.0 * (0.5 * 0 + 0.5 * 1) / 16.0, 1e-6); /* t = 0.5 */
  CHECK_NEAR(out[3], 1.0, 1e-6);                              /* clamped high */
  CHECK_NEAR(out[4], 0.0, 1e-6);                              /* clamped low */
  dlut_lut_free(lut);
  /* ... and on images of every type, against the reference. */
  lut = dlut_lut_alloc(0, 17);
  if (!lut) return;
  for (int i = 0; i < 17; i++)
    for (int c = 0; c < 3; c++) lut->shaper[i * 3 + c] = (float)pow(i / 16.0, 0.5 + 0.4 * c) * 1.1f - 0.05f;
  dlut_pixel_type types[] = {DLUT_PIXEL_U8, DLUT_PIXEL_U16, DLUT_PIXEL_F32};
  for (int ti = 0; ti < 3; ti++)
    for (int ch = 3; ch <= 4; ch++) {
      dlut_image *src = new_image(41, 7, ch, types[ti]), *a = new_image(41, 7, ch, types[ti]);
      dlut_image *b = new_image(41, 7, ch, types[ti]);
      if (src && a && b) {
        fill_image(src);
        CHECK(dlut_lut_apply_image(lut, src, a, DLUT_INTERP_TETRAHEDRAL, 0.7f) == 0);
        CHECK(dlut_lut_apply_image_ref(lut, src, b, DLUT_INTERP_TETRAHEDRAL, 0.7f) == 0);
        double d = image_diff(a, b);
        CHECK_MSG(d <= (types[ti] == DLUT_PIXEL_F32 ? 1e-5 : 1.0), "1D-only image type %d ch %d: %g", types[ti], ch, d);
        CHECK(image_diff(a, src) > 0); /* it did something */
      } else {
        CHECK(!"alloc");
      }
      del_image(src), del_image(a), del_image(b);
    }
  dlut_lut_free(lut);
}

/* Hostile LUT fields and inputs: degenerate, inverted and non-finite
 * ranges, non-finite entries, non-finite inputs. Nothing may read outside
 * the tables (ASan build), and the fast path must agree with the reference
 * (NaN where it gives NaN). */
static void test_hostile(void) {
  const float bad[] = {0.0f, 1.0f, -1.0f, NAN, INFINITY, -INFINITY, 1e30f, -1e-30f};
  enum { N = 300 };
  float in[N * 3], a[N * 3], b[N * 3];
  fill_inputs(in, N, -2.0f, 3.0f);
  for (int i = 0; i < 24; i++) in[i] = bad[i % 8];
  for (int trial = 0; trial < 40; trial++) {
    dlut_lut *lut = random_lut(trial % 3 ? 5 : 2, trial % 2 ? 9 : 0);
    if (!lut) continue;
    for (int c = 0; c < 3; c++) {
      lut->domain_min[c] = bad[(trial + c) % 8];
      lut->domain_max[c] = bad[(trial / 2 + 2 * c + 1) % 8];
      lut->shaper_min[c] = bad[(trial / 3 + c) % 8];
      lut->shaper_max[c] = bad[(trial / 5 + c + 1) % 8];
    }
    if (trial % 4 == 0) lut->table[trial % 24] = NAN;
    if (trial % 4 == 1) lut->table[trial % 24] = INFINITY;
    for (int ip = 0; ip < 2; ip++) {
      dlut_lut_apply_f32(lut, in, a, N, (dlut_interp)ip);
      dlut_lut_apply_f32_ref(lut, in, b, N, (dlut_interp)ip);
      /* Where the reference is finite the fast path is close to it; where
       * it is not (an infinite or NaN entry among the vertices), the fast
       * path is not finite either (inf may come out as NaN: the fast kernel
       * sums differences of vertices, inf - inf). */
      int bad_n = 0;
      for (int i = 0; i < N * 3; i++) {
        if (isfinite(b[i]) ? !(fabs(a[i] - b[i]) <= 1e-5 * (1 + fabs(b[i]))) : isfinite(a[i])) bad_n++;
      }
      CHECK_MSG(bad_n == 0, "hostile trial %d %s: %d outputs differ from the reference", trial, interp_name(ip), bad_n);
      float d_tab[5 * 5 * 5 * 3] = {0}, d_in[N * 3];
      float ones[N * 3];
      for (int i = 0; i < N * 3; i++) ones[i] = 1.0f;
      dlut_lut_apply_backward(lut, in, ones, N, (dlut_interp)ip, d_tab, d_in); /* must not crash */
    }
    dlut_lut_free(lut);
  }
}

int main(void) {
  test_hostile();
  test_alloc();
  test_identity();
  test_affine_domain();
  test_hand_values();
  test_f32_vs_ref();
  test_images_vs_ref();
  test_strided();
  test_threads();
  test_1d_only();
  return test_summary("lut_apply");
}
