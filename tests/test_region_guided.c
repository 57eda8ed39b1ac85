/* tests/test_region_guided.c - the O(N) guided filter and box mean against
 * their naive references (random maps and guides, several radii, windows
 * clipped at every border, radius larger than the image), and the filter's
 * defining behaviour: it keeps a step edge of the guide that a plain box
 * blur of the same radius smears. */
#include <stdint.h>

#include "dlut/guided.h"
#include "test.h"

static uint64_t g_rng = 7;
static float frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (float)((g_rng >> 11) * (1.0 / 9007199254740992.0));
}

static void agree(int w, int h, int r, float eps) {
  const int n = w * h;
  float *I = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float));
  float *q = malloc(n * sizeof(float)), *qr = malloc(n * sizeof(float));
  float *bm = malloc(n * sizeof(float));
  for (int i = 0; i < n; i++) {
    /* a guide with structure (a ramp, a step) plus noise */
    int x = i % w, y = i / w;
    I[i] = 0.3f * x / w + (y > h / 2 ? 0.5f : 0.0f) + 0.2f * frand();
    p[i] = frand() < 0.5f ? frand() : (x > w / 3 ? 1.0f : 0.0f);
  }
  CHECK(dlut_guided_filter(I, p, q, w, h, r, eps) == 0);
  CHECK(dlut_guided_filter_ref(I, p, qr, w, h, r, eps) == 0);
  double worst = 0;
  for (int i = 0; i < n; i++) worst = fmax(worst, fabs((double)q[i] - qr[i]));
  fprintf(stderr, "guided %dx%d r=%d eps=%g: fast vs naive max |diff| %.3g\n", w, h, r, eps, worst);
  CHECK_MSG(worst < 2e-5, "%dx%d r=%d: %g", w, h, r, worst);
  /* box mean vs a direct window sum */
  CHECK(dlut_box_mean(p, bm, w, h, r) == 0);
  double wb = 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      double s = 0;
      int c = 0;
      for (int v = y - r; v <= y + r; v++)
        for (int u = x - r; u <= x + r; u++)
          if (u >= 0 && v >= 0 && u < w && v < h) s += p[v * w + u], c++;
      wb = fmax(wb, fabs(s / c - bm[y * w + x]));
    }
  CHECK_MSG(wb < 1e-6, "box mean %dx%d r=%d: %g", w, h, r, wb);
  /* in place: out == src gives the same */
  memcpy(bm, p, n * sizeof(float));
  CHECK(dlut_guided_filter(I, bm, bm, w, h, r, eps) == 0);
  CHECK(memcmp(bm, q, n * sizeof(float)) == 0);
  free(I);
  free(p);
  free(q);
  free(qr);
  free(bm);
}

/* A guide with a vertical step edge at x = w/2 and a map that is a blurry
 * version of that step: the filter must make the map's transition as sharp
 * as the guide's, where a box blur of the same radius widens it. */
static void keeps_edges(void) {
  const int w = 64, h = 16, n = w * h, r = 6;
  float *I = malloc(n * sizeof(float)), *p = malloc(n * sizeof(float)), *q = malloc(n * sizeof(float));
  float *b = malloc(n * sizeof(float));
  for (int i = 0; i < n; i++) {
    int x = i % w;
    I[i] = x < w / 2 ? 0.1f : 0.9f;
    float t = (x - (w / 2 - 8)) / 16.0f; /* a 16-pixel ramp across the edge */
    p[i] = t < 0 ? 0 : t > 1 ? 1 : t;
  }
  CHECK(dlut_guided_filter(I, p, q, w, h, r, 1e-4f) == 0);
  CHECK(dlut_box_mean(p, b, w, h, r) == 0);
  /* just either side of the edge: the filtered map jumps; the blur does not */
  const int row = 8 * w;
  double jump_q = q[row + w / 2] - q[row + w / 2 - 1], jump_b = b[row + w / 2] - b[row + w / 2 - 1];
  fprintf(stderr, "step edge: guided jump %.3f, box jump %.3f\n", jump_q, jump_b);
  CHECK(jump_q > 0.3);
  CHECK(jump_b < 0.1);
  free(I);
  free(p);
  free(q);
  free(b);
}

int main(void) {
  agree(1, 1, 0, 1e-3f);
  agree(7, 5, 1, 1e-3f);
  agree(33, 21, 3, 1e-2f);
  agree(40, 30, 8, 1e-3f);
  agree(13, 9, 20, 1e-3f); /* radius beyond the image: every window is the whole image */
  agree(50, 3, 2, 1e-4f);
  keeps_edges();
  float x = 0;
  CHECK(dlut_guided_filter(&x, &x, &x, 0, 1, 1, 1e-3f) != 0);
  CHECK(dlut_guided_filter(&x, &x, &x, 1, 1, -1, 1e-3f) != 0);
  CHECK(dlut_guided_filter(&x, &x, &x, 1, 1, 1, 0.0f) != 0);
  return test_summary("region_guided");
}
