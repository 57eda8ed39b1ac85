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
 * write dL/din (overwriting).
 */
#ifndef DLUT_COLOR_H
#define DLUT_COLOR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

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
void dlut_color_xyz_to_lab_backward(const float *in, const float *d_out, float *d_in, int64_t n);
void dlut_color_srgb_to_lab_backward(const float *in, const float *d_out, float *d_in, int64_t n);

/* CIEDE2000 colour difference between two Lab colours. */
double dlut_delta_e2000(const double lab1[3], const double lab2[3]);

#ifdef __cplusplus
}
#endif
#endif
