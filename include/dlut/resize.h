/* dlut/resize.h - bicubic resampling exactly as Pillow does it, in 8-bit
 * (bit-exact) and in float (differentiable, with its backward).
 *
 *     uint8_t small[oh * ow * 3];
 *     dlut_resize_u8(rgb8, w, h, 3, small, ow, oh);          // == PIL img.resize((ow, oh), BICUBIC)
 *     dlut_resize_f32(rgbf, w, h, 3, outf, ow, oh);          // same weights, no rounding
 *     dlut_resize_f32_backward(d_out, ow, oh, 3, d_in, w, h); // d_in = A^T d_out (overwritten)
 *
 * Algorithm (Pillow 9.4 libImaging/Resample.c, which torchvision's Resize
 * calls for PIL images and so what CLIP's preprocessing does): per axis
 * scale = in/out, filterscale = max(scale, 1), support = 2 * filterscale;
 * output o has centre (o + 0.5) * scale and takes inputs j in
 * [max(0, (int)(centre - support + 0.5)), min(in, (int)(centre + support + 0.5)))
 * with weights K((j - centre + 0.5) / filterscale), K = Keys cubic, a = -0.5,
 * normalised to sum 1. So downscaling is antialiased (the kernel widens)
 * and upscaling is plain bicubic. Horizontal pass first, then vertical; a
 * pass whose size does not change is skipped. The 8-bit path quantises
 * the weights to 22 fractional bits (round half away from zero), rounds
 * each pass to uint8 with clamping, exactly like Pillow; the float path
 * uses the unquantised weights and no rounding, so it is a linear map A
 * whose transpose is the backward.
 *
 * Layout: interleaved (h, w, ch) rows top to bottom, ch >= 1. Sizes are
 * capped at DLUT_RESIZE_MAX_DIM per side. Functions allocate their own
 * coefficient tables and intermediate row buffer, return 0, or -1 with
 * dlut_last_error() set (bad size, no memory).
 *
 * Repeated float resizes (a grading loop): the _ws forms take a scratch
 * (the coefficient tables and the intermediate image) that grows on
 * demand and is kept, so once reserved for the largest call they allocate
 * nothing. Results are bit-identical to the plain forms.
 *
 *     dlut_resize_scratch rs;
 *     dlut_resize_scratch_init(&rs);
 *     dlut_resize_scratch_reserve(&rs, w, h, 3, ow, oh);      // optional: allocate now
 *     for (...) dlut_resize_f32_ws(rgbf, w, h, 3, outf, ow, oh, &rs);
 *     dlut_resize_scratch_free(&rs);
 */
#ifndef DLUT_RESIZE_H
#define DLUT_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLUT_RESIZE_MAX_DIM 65535

int dlut_resize_u8(const uint8_t *in, int w, int h, int ch, uint8_t *out, int ow, int oh);
int dlut_resize_f32(const float *in, int w, int h, int ch, float *out, int ow, int oh);
/* d_in (h, w, ch) = A^T d_out; d_in is overwritten. */
int dlut_resize_f32_backward(const float *d_out, int ow, int oh, int ch, float *d_in, int w, int h);

/* Scratch of the _ws forms; zeroed (init) it is empty. One call at a time. */
typedef struct dlut_resize_scratch {
  double *k;           /* per-axis weights (out, ksize), one axis at a time */
  int *bounds;         /* per-axis first tap and tap count (out, 2) */
  float *tmp;          /* the image between the two passes (h, ow, ch) */
  size_t k_bytes;      /* capacity of k */
  size_t bounds_bytes; /* capacity of bounds */
  size_t tmp_bytes;    /* capacity of tmp */
} dlut_resize_scratch;

void dlut_resize_scratch_init(dlut_resize_scratch *s);
/* Grow s for a float resize (either direction) of (w, h, ch) <-> (ow, oh).
 * 0, or -1 (bad size, no memory; s keeps what it had). */
int dlut_resize_scratch_reserve(dlut_resize_scratch *s, int w, int h, int ch, int ow, int oh);
void dlut_resize_scratch_free(dlut_resize_scratch *s);
int dlut_resize_f32_ws(const float *in, int w, int h, int ch, float *out, int ow, int oh, dlut_resize_scratch *s);
int dlut_resize_f32_backward_ws(const float *d_out, int ow, int oh, int ch, float *d_in, int w, int h,
                                dlut_resize_scratch *s);

/* The per-axis weights (double, normalised, before quantisation) for an
 * in -> out resize: for output o, taps bounds[2o] .. bounds[2o]+bounds[2o+1]-1
 * with weights k[o * ksize + t]. Returns ksize, or -1. Caller frees *k and
 * *bounds. Exposed for tests and for anyone needing the same sampling. */
int dlut_resize_coeffs(int in, int out, double **k, int **bounds);

#ifdef __cplusplus
}
#endif
#endif
