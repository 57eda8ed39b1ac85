/* tests/test_video_yuv.c - the video colour conversions (src/video/yuv.c):
 * the fast kernels against the double-precision references on random codes
 * for planar, semi-planar and packed layouts at 8..16 bits and 4:2:0 /
 * 4:2:2 / 4:4:4 with odd sizes; the round trip planes -> RGB -> planes
 * returns every code; and published BT.709 values (100% red is Y'CbCr
 * 63/102/240 at 8 bits, limited range, ITU-R BT.709-6 Table 4 arithmetic). */
#include <stdint.h>

#include "test.h"
#include "video/video_internal.h"

static uint32_t g_rng = 12345;
static uint32_t rnd(void) {
  g_rng = g_rng * 1664525u + 1013904223u;
  return g_rng >> 8;
}

/* a frame's buffers for layout l: up to 3 planes of rows with padding */
typedef struct frame {
  vid_planes p;
  uint8_t *buf[3];
} frame;

static void frame_alloc(frame *f, const vid_layout *l, int w, int h) {
  memset(f, 0, sizeof *f);
  f->p.width = w, f->p.height = h;
  for (int c = 0; c < 3; c++) {
    const int pl = l->plane[c], sub = !l->rgb && c > 0;
    const int cw = sub ? (w + (1 << l->log2_cw) - 1) >> l->log2_cw : w;
    const int ch = sub ? (h + (1 << l->log2_ch) - 1) >> l->log2_ch : h;
    const int ls = cw * l->step[c] + 16;
    if (!f->buf[pl]) {
      f->buf[pl] = calloc((size_t)ls * (size_t)ch, 1);
      f->p.data[pl] = f->buf[pl];
      f->p.linesize[pl] = ls;
    }
  }
}

static void frame_free(frame *f) {
  for (int i = 0; i < 3; i++) free(f->buf[i]);
}

/* every sample of every component, in order: (count, values) */
static int samples(const vid_layout *l, const frame *f, unsigned *out) {
  int n = 0;
  for (int c = 0; c < 3; c++) {
    const int sub = !l->rgb && c > 0, w = f->p.width, h = f->p.height;
    const int cw = sub ? (w + (1 << l->log2_cw) - 1) >> l->log2_cw : w;
    const int ch = sub ? (h + (1 << l->log2_ch) - 1) >> l->log2_ch : h;
    for (int y = 0; y < ch; y++)
      for (int x = 0; x < cw; x++) {
        const uint8_t *s = f->p.data[l->plane[c]] + (size_t)y * (size_t)f->p.linesize[l->plane[c]] +
                           (size_t)x * (size_t)l->step[c] + (size_t)l->offset[c];
        unsigned v = l->bits > 8 ? (unsigned)(s[0] | s[1] << 8) : s[0];
        if (out) out[n] = (v >> l->shift[c]) & ((1u << l->bits) - 1);
        n++;
      }
  }
  return n;
}

static void fill_random(const vid_layout *l, frame *f) {
  for (int c = 0; c < 3; c++) {
    const int sub = !l->rgb && c > 0, w = f->p.width, h = f->p.height;
    const int cw = sub ? (w + (1 << l->log2_cw) - 1) >> l->log2_cw : w;
    const int ch = sub ? (h + (1 << l->log2_ch) - 1) >> l->log2_ch : h;
    for (int y = 0; y < ch; y++)
      for (int x = 0; x < cw; x++) {
        uint8_t *s = f->p.data[l->plane[c]] + (size_t)y * (size_t)f->p.linesize[l->plane[c]] +
                     (size_t)x * (size_t)l->step[c] + (size_t)l->offset[c];
        unsigned v = (rnd() & ((1u << l->bits) - 1)) << l->shift[c];
        s[0] = (uint8_t)v;
        if (l->bits > 8) s[1] = (uint8_t)(v >> 8);
      }
  }
}

static vid_layout planar(int bits, int cw, int ch, int rgb, int full, double kr, double kb) {
  vid_layout l;
  memset(&l, 0, sizeof l);
  l.rgb = rgb, l.bits = bits, l.log2_cw = cw, l.log2_ch = ch, l.full = full, l.kr = kr, l.kb = kb;
  const int b = bits > 8 ? 2 : 1;
  for (int c = 0; c < 3; c++) l.plane[c] = rgb ? (c + 2) % 3 : c, l.step[c] = b; /* gbrp: R in plane 2 */
  return l;
}

static void check_layout(const char *name, vid_layout l, int w, int h) {
  frame a, b, r;
  frame_alloc(&a, &l, w, h);
  frame_alloc(&b, &l, w, h);
  frame_alloc(&r, &l, w, h);
  fill_random(&l, &a);
  const size_t n = (size_t)w * h * 3;
  float *rgb = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
  vid_to_rgb(&l, &a.p, rgb);
  vid_to_rgb_ref(&l, &a.p, ref);
  double worst = 0;
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(rgb[i] - ref[i]));
  CHECK_MSG(worst < 2e-5, "%s: to_rgb fast vs reference %g", name, worst);
  /* back: the round trip returns every code, fast and reference alike */
  vid_from_rgb(&l, rgb, &b.p);
  vid_from_rgb_ref(&l, ref, &r.p);
  const int ns = samples(&l, &a, NULL);
  unsigned *sa = malloc(ns * sizeof *sa), *sb = malloc(ns * sizeof *sb), *sr = malloc(ns * sizeof *sr);
  samples(&l, &a, sa), samples(&l, &b, sb), samples(&l, &r, sr);
  int diff_fast = 0, diff_ref = 0;
  for (int i = 0; i < ns; i++) diff_fast += sa[i] != sb[i], diff_ref += sa[i] != sr[i];
  CHECK_MSG(diff_fast == 0 && diff_ref == 0, "%s: round trip changed %d (fast) / %d (reference) of %d codes", name,
            diff_fast, diff_ref, ns);
  /* a graded picture (random RGB in and beyond [0,1]): fast within 1 code of the reference, nearly always equal */
  for (size_t i = 0; i < n; i++) rgb[i] = ref[i] = (float)((double)(rnd() % 100000) / 80000.0 - 0.1);
  vid_from_rgb(&l, rgb, &b.p);
  vid_from_rgb_ref(&l, ref, &r.p);
  samples(&l, &b, sb), samples(&l, &r, sr);
  int over = 0, differ = 0;
  for (int i = 0; i < ns; i++) {
    int d = abs((int)sb[i] - (int)sr[i]);
    over += d > 1, differ += d != 0;
  }
  CHECK_MSG(over == 0 && differ * 100 <= ns, "%s: from_rgb fast vs reference: %d over 1 code, %d differ of %d", name,
            over, differ, ns);
  free(sa), free(sb), free(sr), free(rgb), free(ref);
  frame_free(&a), frame_free(&b), frame_free(&r);
}

int main(void) {
  const double k709[2] = {0.2126, 0.0722}, k601[2] = {0.299, 0.114}, k2020[2] = {0.2627, 0.0593};
  check_layout("yuv420p tv 709", planar(8, 1, 1, 0, 0, k709[0], k709[1]), 37, 23);
  check_layout("yuv420p10 tv 2020", planar(10, 1, 1, 0, 0, k2020[0], k2020[1]), 64, 48);
  check_layout("yuv422p10 pc 601", planar(10, 1, 0, 0, 1, k601[0], k601[1]), 33, 17);
  check_layout("yuv444p12 tv 709", planar(12, 0, 0, 0, 0, k709[0], k709[1]), 20, 9);
  check_layout("yuv420p16 pc 709", planar(16, 1, 1, 0, 1, k709[0], k709[1]), 15, 15);
  check_layout("gbrp", planar(8, 0, 0, 1, 1, 0, 0), 31, 7);
  check_layout("gbrp10", planar(10, 0, 0, 1, 1, 0, 0), 16, 16);
  vid_layout nv12 = planar(8, 1, 1, 0, 0, k709[0], k709[1]); /* Y plane, then CbCr interleaved */
  nv12.plane[2] = 1, nv12.step[1] = nv12.step[2] = 2, nv12.offset[2] = 1;
  check_layout("nv12", nv12, 41, 27);
  vid_layout p010 = planar(10, 1, 1, 0, 0, k709[0], k709[1]); /* 10 bits in the top of 16-bit words */
  p010.plane[2] = 1, p010.step[1] = p010.step[2] = 4, p010.offset[2] = 2;
  for (int c = 0; c < 3; c++) p010.shift[c] = 6;
  check_layout("p010", p010, 22, 14);
  vid_layout rgb24 = planar(8, 0, 0, 1, 1, 0, 0);
  for (int c = 0; c < 3; c++) rgb24.plane[c] = 0, rgb24.step[c] = 3, rgb24.offset[c] = c;
  check_layout("rgb24", rgb24, 19, 11);

  /* published values: BT.709 limited-range 8-bit 100% red and white, 10-bit full-range white */
  vid_layout l = planar(8, 0, 0, 0, 0, k709[0], k709[1]);
  frame f;
  frame_alloc(&f, &l, 2, 1);
  float rgb[6] = {1, 0, 0, 1, 1, 1};
  vid_from_rgb(&l, rgb, &f.p);
  CHECK(f.p.data[0][0] == 63 && f.p.data[1][0] == 102 && f.p.data[2][0] == 240);
  CHECK(f.p.data[0][1] == 235 && f.p.data[1][1] == 128 && f.p.data[2][1] == 128);
  f.p.data[0][0] = 16;
  f.p.data[1][0] = f.p.data[2][0] = 128;
  vid_to_rgb(&l, &f.p, rgb);
  CHECK(fabsf(rgb[0]) < 1e-6f && fabsf(rgb[1]) < 1e-6f && fabsf(rgb[2]) < 1e-6f);
  CHECK(fabsf(rgb[3] - 1) < 1e-6f && fabsf(rgb[4] - 1) < 1e-6f && fabsf(rgb[5] - 1) < 1e-6f);
  frame_free(&f);

  double kr, kb;
  CHECK(vid_matrix_coeffs(1, 64, 48, &kr, &kb) == 0 && kr == 0.2126 && kb == 0.0722);
  CHECK(vid_matrix_coeffs(6, 1920, 1080, &kr, &kb) == 0 && kr == 0.299 && kb == 0.114);
  CHECK(vid_matrix_coeffs(9, 64, 48, &kr, &kb) == 0 && kr == 0.2627 && kb == 0.0593);
  CHECK(vid_matrix_coeffs(2, 1920, 1080, &kr, &kb) == 0 && kr == 0.2126); /* unspecified HD: 709 */
  CHECK(vid_matrix_coeffs(2, 640, 480, &kr, &kb) == 0 && kr == 0.299);    /* unspecified SD: 601 */
  CHECK(vid_matrix_coeffs(8, 64, 48, &kr, &kb) == -1);                    /* YCgCo: refused */
  CHECK(vid_matrix_coeffs(10, 64, 48, &kr, &kb) == -1);                   /* BT.2020 CL: refused */
  return test_summary("video_yuv");
}
