/* tests/test_clip_preprocess.c - resizing and CLIP preprocessing.
 *
 * - dlut_resize_u8 reproduces Pillow's bicubic bit for bit: compared with
 *   the reference cases' image*_resized_uint8.npy (made by Pillow 9.4).
 * - the float resize is linear with the backward as its exact adjoint:
 *   <A x, y> == <x, A^T y> (down- and upscaling, each axis alone).
 * - dlut_clip_preprocess_backward matches finite differences of
 *   dlut_clip_preprocess, with and without centre crop.
 * - crop offsets and resized sizes follow torchvision (truncation, round
 *   half to even), using the reference cases' documented numbers. */
#include <stdint.h>

#include "clip/clip_npy.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/image.h"
#include "dlut/resize.h"
#include "test.h"

static uint64_t g_rng = 99;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0));
}

static void test_pillow_exact(const char *case_dir, int idx, const char *file) {
  char path[1024];
  snprintf(path, sizeof path, "%s/images/%s", test_shared(case_dir), file);
  dlut_image *im = dlut_image_load(path), *rgb = im ? dlut_image_convert(im, 3, DLUT_PIXEL_U8) : NULL;
  CHECK_MSG(rgb != NULL, "%s: %s", path, dlut_last_error());
  snprintf(path, sizeof path, "%s/ref/image%d_resized_uint8.npy", test_shared(case_dir), idx);
  dlut_npy ref;
  CHECK(dlut_npy_load(path, &ref) == 0);
  if (rgb && ref.ndim == 3) {
    int oh = (int)ref.shape[0], ow = (int)ref.shape[1], w = rgb->width, h = rgb->height;
    uint8_t *in = malloc((size_t)w * h * 3), *out = malloc((size_t)ow * oh * 3);
    for (int y = 0; y < h; y++) memcpy(in + (size_t)y * w * 3, dlut_image_pixel(rgb, 0, y), (size_t)w * 3);
    CHECK(dlut_resize_u8(in, w, h, 3, out, ow, oh) == 0);
    int bad = 0;
    for (int64_t i = 0; i < ref.count; i++) bad += out[i] != ((uint8_t *)ref.data)[i];
    CHECK_MSG(bad == 0, "%s image %d: %d of %lld samples differ from Pillow", case_dir, idx, bad, (long long)ref.count);
    free(in), free(out);
  }
  dlut_npy_free(&ref);
  dlut_image_free(im);
  dlut_image_free(rgb);
}

static void test_adjoint(int w, int h, int ow, int oh) {
  size_t n = (size_t)w * h * 3, m = (size_t)ow * oh * 3;
  float *x = malloc(n * 4), *ax = malloc(m * 4), *y = malloc(m * 4), *aty = malloc(n * 4);
  for (size_t i = 0; i < n; i++) x[i] = frand();
  for (size_t i = 0; i < m; i++) y[i] = frand() - 0.5f;
  CHECK(dlut_resize_f32(x, w, h, 3, ax, ow, oh) == 0);
  CHECK(dlut_resize_f32_backward(y, ow, oh, 3, aty, w, h) == 0);
  double a = 0, b = 0, s = 0;
  for (size_t i = 0; i < m; i++) a += (double)ax[i] * y[i], s += fabs(ax[i] * y[i]);
  for (size_t i = 0; i < n; i++) b += (double)x[i] * aty[i];
  CHECK_MSG(fabs(a - b) <= 1e-5 * s, "adjoint %dx%d->%dx%d: %g vs %g", w, h, ow, oh, a, b);
  /* a constant image stays constant (weights sum to 1) */
  for (size_t i = 0; i < n; i++) x[i] = 0.25f;
  CHECK(dlut_resize_f32(x, w, h, 3, ax, ow, oh) == 0);
  for (size_t i = 0; i < m; i++) CHECK_NEAR(ax[i], 0.25, 1e-6);
  free(x), free(ax), free(y), free(aty);
}

static void test_preprocess_fd(int crop, int w, int h) {
  dlut_clip_info info;
  memset(&info, 0, sizeof info);
  info.image_size = 8;
  info.center_crop = crop;
  for (int c = 0; c < 3; c++) info.mean[c] = 0.4f + 0.05f * c, info.std[c] = 0.25f + 0.01f * c;
  int S = 8, n = w * h * 3, np = 3 * S * S;
  float *rgb = malloc(sizeof(float) * n), *pix = malloc(sizeof(float) * np), *r = malloc(sizeof(float) * np);
  float *g = malloc(sizeof(float) * n);
  for (int i = 0; i < n; i++) rgb[i] = frand();
  for (int i = 0; i < np; i++) r[i] = frand() - 0.5f;
  CHECK(dlut_clip_preprocess(&info, rgb, w, h, pix) == 0);
  CHECK(dlut_clip_preprocess_backward(&info, w, h, r, g) == 0);
  double worst = 0, gmax = 0;
  for (int i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
  for (int i = 0; i < n; i++) {
    float x0 = rgb[i], hh = 1e-2f;
    double lp = 0, lm = 0;
    rgb[i] = x0 + hh;
    dlut_clip_preprocess(&info, rgb, w, h, pix);
    for (int k = 0; k < np; k++) lp += (double)r[k] * pix[k];
    rgb[i] = x0 - hh;
    dlut_clip_preprocess(&info, rgb, w, h, pix);
    for (int k = 0; k < np; k++) lm += (double)r[k] * pix[k];
    rgb[i] = x0;
    worst = fmax(worst, fabs((lp - lm) / (2 * hh) - g[i]));
  }
  CHECK_MSG(worst / gmax < 1e-3, "preprocess FD crop=%d %dx%d: %g", crop, w, h, worst / gmax);
  free(rgb), free(pix), free(r), free(g);
}

static void test_sizes(void) {
  dlut_clip_info info;
  memset(&info, 0, sizeof info);
  info.image_size = 32;
  info.center_crop = 1;
  int rw, rh, top, left;
  /* openai_tiny README: 100x60 -> 53x32, crop left 10 (10.5 rounds to even) */
  dlut_clip_preprocess_size(&info, 100, 60, &rw, &rh, &top, &left);
  CHECK(rw == 53 && rh == 32 && top == 0 && left == 10);
  /* 45x78 -> 32x55, crop top 12 (11.5 rounds to even) */
  dlut_clip_preprocess_size(&info, 45, 78, &rw, &rh, &top, &left);
  CHECK(rw == 32 && rh == 55 && top == 12 && left == 0);
  info.center_crop = 0;
  dlut_clip_preprocess_size(&info, 45, 78, &rw, &rh, &top, &left);
  CHECK(rw == 32 && rh == 32 && top == 0 && left == 0);
  /* hostile sizes are errors */
  float px[3 * 32 * 32], one[3] = {0};
  CHECK(dlut_clip_preprocess(&info, one, 0, 1, px) == -1);
  CHECK(dlut_clip_preprocess(&info, one, 1, -5, px) == -1);
  info.center_crop = 1;
  CHECK(dlut_clip_preprocess(&info, one, 1, 65535, px) == -1); /* would resize to 32 x 2097120 */
  uint8_t u = 0;
  CHECK(dlut_resize_u8(&u, 1, 1, 3, &u, 0, 1) == -1);
}

/* On a smooth image (no bicubic overshoot to clamp) the float path differs
 * from the bit-exact 8-bit path only by the uint8 roundings of the passes. */
static void test_u8_vs_float(int crop) {
  dlut_clip_info info;
  memset(&info, 0, sizeof info);
  info.image_size = 16;
  info.center_crop = crop;
  for (int c = 0; c < 3; c++) info.mean[c] = 0.45f, info.std[c] = 0.27f;
  int w = 45, h = 31, S = 16;
  uint8_t *u = malloc((size_t)w * h * 3);
  float *f = malloc(sizeof(float) * w * h * 3), p8[3 * 16 * 16], pf[3 * 16 * 16];
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int v = (int)(20 + 2.0 * x + 1.5 * y + 20 * c + 10 * sin(0.02 * x * y));
        u[((size_t)y * w + x) * 3 + c] = (uint8_t)v;
        f[((size_t)y * w + x) * 3 + c] = v / 255.0f;
      }
  CHECK(dlut_clip_preprocess_u8(&info, u, w, h, p8) == 0);
  CHECK(dlut_clip_preprocess(&info, f, w, h, pf) == 0);
  double md = 0;
  for (int i = 0; i < 3 * S * S; i++) md = fmax(md, fabs(p8[i] - pf[i]));
  CHECK_MSG(md < 1.3 / 255 / 0.27, "8-bit vs float preprocessing (crop=%d): %g", crop, md * 0.27 * 255);
  free(u), free(f);
}

int main(void) {
  test_u8_vs_float(1);
  test_u8_vs_float(0);
  test_pillow_exact("data/clip-ref/openai_tiny", 0, "img0_landscape_100x60.png");
  test_pillow_exact("data/clip-ref/openai_tiny", 1, "img1_portrait_45x78.png");
  test_pillow_exact("data/clip-ref/chinese_clip_tiny", 0, "img0_landscape_90x50.png");
  test_pillow_exact("data/clip-ref/chinese_clip_tiny", 1, "img1_portrait_37x61.png");
  test_adjoint(37, 23, 11, 9); /* down */
  test_adjoint(7, 5, 19, 13);  /* up */
  test_adjoint(20, 9, 20, 14); /* vertical only */
  test_adjoint(9, 20, 14, 20); /* horizontal only */
  test_preprocess_fd(1, 13, 9);
  test_preprocess_fd(1, 6, 11);
  test_preprocess_fd(0, 13, 9);
  test_sizes();
  return test_summary("clip_preprocess");
}
