/* dlut/color.h - colour science: sRGB <-> linear <-> XYZ (D65) <-> CIELAB,
 * and CIEDE2000, each conversion with its backward for the optimiser.
 *
 * CONTRACT (the grading engine and the offline looks code against these;
 * the colour engineer owns this header and may add to it, keeping these
 * meanings):
 *   - sRGB transfer: IEC 61966-2-1 piecewise curve (0.04045 / 12.92 /
 *     2.4 / 0.055), extended to negative values by odd symmetry.
 *   - XYZ: linear sRGB (D65) -> CIE XYZ with Y of white = 1.
 *   - Lab: CIE 1976 L*a*b* relative to the D65 white (0.95047, 1, 1.08883),
 *     L in 0..100.
 *   - ΔE2000: Sharma, Wu, Dalal (2005) formulation.
 * Array functions take (n, 3) interleaved float arrays; in and out may
 * alias. Backward functions take the forward's INPUT and dL/dout and
 * write dL/din (overwriting); d_in may alias d_out.
 *
 * USAGE
 *     float lab[3 * n];
 *     dlut_color_srgb_to_lab(rgb, lab, n);            // rgb is (n,3), sRGB-encoded, nominal 0..1
 *     dlut_color_srgb_to_lab_backward(rgb, dlab, drgb, n);  // dL/drgb from dL/dlab
 *
 * UNITS AND RANGES
 *   sRGB and linear values are nominally 0..1 but any finite value is
 *   accepted (no clamping anywhere: out-of-gamut colours survive a round
 *   trip). XYZ has Y(white) = 1. Lab has L* 0..100 for in-gamut colours;
 *   a* and b* are roughly -128..128. The Lab companding f(t) uses the CIE
 *   linear segment below (6/29)^3, which also extends it to negative t, so
 *   every conversion is finite and invertible on all finite inputs.
 *
 * PRECISION
 *   Arrays are float, intermediate arithmetic float (the matrices are the
 *   double-derived sRGB primaries of Bruce Lindbloom's tables rounded to
 *   float). Round trips agree to about 1e-5 relative; see tests/test_color.c.
 *
 * THREADS AND MEMORY
 *   No function allocates or keeps state; all are safe to call from any
 *   thread. The array loops are single-threaded: callers that convert whole
 *   images split the work with dlut_parallel_for.
 *
 * EXTRAS (added by the colour module for the looks and grading code)
 *   LCh conversions, the Planckian-locus chromaticity of a colour
 *   temperature, and von Kries-type chromatic adaptation (Bradford, CAT02).
 */
#ifndef DLUT_COLOR_H
#define DLUT_COLOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* D65 reference white in XYZ (Y = 1), as used by the Lab conversions. */
#define DLUT_D65_X 0.95047f
#define DLUT_D65_Y 1.0f
#define DLUT_D65_Z 1.08883f

/* Scalars */
float dlut_srgb_to_linear(float v);
float dlut_linear_to_srgb(float v);

/* (n,3) arrays, forward */
void dlut_color_srgb_to_linear(const float *in, float *out, int64_t n);
void dlut_color_linear_to_srgb(const float *in, float *out, int64_t n);
void dlut_color_linear_to_xyz(const float *in, float *out, int64_t n);
void dlut_color_xyz_to_linear(const float *in, float *out, int64_t n);
void dlut_color_xyz_to_lab(const float *in, float *out, int64_t n);
void dlut_color_lab_to_xyz(const float *in, float *out, int64_t n);
void dlut_color_srgb_to_lab(const float *in, float *out, int64_t n); /* the three above composed */
void dlut_color_lab_to_srgb(const float *in, float *out, int64_t n);

/* (n,3) arrays, backward: in = the forward's input, d_out = dL/dout, d_in = dL/din */
void dlut_color_srgb_to_linear_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_linear_to_srgb_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_linear_to_xyz_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_xyz_to_linear_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_xyz_to_lab_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_lab_to_xyz_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_srgb_to_lab_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_lab_to_srgb_backward(const float *in, const float *d_out, float *d_in, int64_t n);

/* Lab <-> LCh(ab): C = hypot(a, b), h = atan2(b, a) in DEGREES 0..360.
 * (n,3) arrays; in and out may alias. */
void dlut_color_lab_to_lch(const float *in, float *out, int64_t n);
void dlut_color_lch_to_lab(const float *in, float *out, int64_t n);

/* CIEDE2000 colour difference between two Lab colours. */
double dlut_delta_e2000(const double lab1[3], const double lab2[3]);

/* ==== Chromatic adaptation and colour temperature ==== */

/* CIE 1931 xy chromaticity of a blackbody at `kelvin` (clamped to
 * 1667..25000 K), by the cubic-spline fit of Kim et al. (2002), "Design of
 * advanced color temperature control system for HDTV applications", J.
 * Korean Phys. Soc. 41(6). Accurate to about 1e-3 in xy. */
void dlut_color_cct_to_xy(double kelvin, double xy[2]);

/* XYZ (Y = 1) of a chromaticity xy. */
void dlut_color_xy_to_xyz(const double xy[2], double xyz[3]);

typedef enum dlut_cat {
  DLUT_CAT_BRADFORD = 0, /* Lam (1985) / ICC v4 linearised Bradford */
  DLUT_CAT_CAT02 = 1,    /* CIECAM02 (CIE 159:2004) */
} dlut_cat;

/* The 3x3 row-major matrix M that maps XYZ seen under `src_white` to the
 * corresponding XYZ under `dst_white` (both XYZ, any scale; Y is
 * normalised): M = C^-1 diag(dst_cone / src_cone) C. */
void dlut_color_adaptation_xyz(dlut_cat cat, const double src_white[3], const double dst_white[3], double m[9]);

/* The same expressed on linear sRGB: M_rgb = XYZ->RGB * M_xyz * RGB->XYZ. */
void dlut_color_adaptation_rgb(dlut_cat cat, const double src_white[3], const double dst_white[3], double m[9]);

/* The linear-sRGB <-> XYZ matrices (row-major), for callers that compose. */
extern const double dlut_color_rgb_to_xyz_matrix[9];
extern const double dlut_color_xyz_to_rgb_matrix[9];

#ifdef __cplusplus
}
#endif
#endif
