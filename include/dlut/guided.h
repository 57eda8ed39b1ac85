/* dlut/guided.h - edge-aware smoothing and upsampling of a map (a mask)
 * by the guided filter of He, Sun and Tang ("Guided Image Filtering",
 * ECCV 2010 / TPAMI 2013, Algorithm 1), with a grey guide.
 *
 * USAGE
 *     // a coarse map upsampled (e.g. bilinearly) to the photo's size, then
 *     // snapped to the photo's edges: guide = the photo's luma in [0,1]
 *     dlut_guided_filter(luma, map, out, w, h, 8, 1e-3f);
 *
 * THE FILTER: within every window w_k of radius r (side 2r+1, clipped at
 * the borders, as He's reference code: means divide by the number of
 * pixels inside), the output is a linear function of the guide,
 *     q_i = a_k I_i + b_k,  a_k = cov_k(I, p) / (var_k(I) + eps),
 *     b_k = mean_k(p) - a_k mean_k(I),
 * and every pixel averages the (a, b) of the windows that hold it:
 *     q = mean(a) I + mean(b).
 * Where the guide is flat q is the local mean of p (smoothing); where the
 * guide has an edge larger than sqrt(eps), q follows that edge. eps is in
 * squared guide units (guide in [0,1]: 1e-3 keeps edges of ~0.03 and up).
 *
 * dlut_guided_filter is the O(N) version (every mean a box filter by
 * running sums, independent of r); dlut_guided_filter_ref the naive one
 * (each window summed pixel by pixel in double), which the fast one is
 * tested against (tests/test_region_guided.c).
 *
 * LAYOUT AND ERRORS: single-channel float maps (h, w), rows top to bottom.
 * out may be the same buffer as src. Returns 0, or -1 with
 * dlut_last_error() set (bad size, r < 0, eps <= 0, no memory).
 */
#ifndef DLUT_GUIDED_H
#define DLUT_GUIDED_H

#ifdef __cplusplus
extern "C" {
#endif

int dlut_guided_filter(const float *guide, const float *src, float *out, int w, int h, int r, float eps);
int dlut_guided_filter_ref(const float *guide, const float *src, float *out, int w, int h, int r, float eps);

/* The clipped-window box mean of radius r (the filter's building block):
 * out_i = mean of in over the pixels of the (2r+1)^2 window at i that lie
 * inside the image. out may be in. O(N). */
int dlut_box_mean(const float *in, float *out, int w, int h, int r);

#ifdef __cplusplus
}
#endif
#endif
