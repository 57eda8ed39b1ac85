/* Linear sRGB <-> CIE XYZ (D65, Y of white = 1), chromatic adaptation
 * (Bradford, CAT02) and the colour temperature of the Planckian locus.
 *
 * The RGB->XYZ matrix is derived from the sRGB primaries (ITU-R BT.709:
 * r 0.64,0.33  g 0.30,0.60  b 0.15,0.06) and the D65 white (0.3127,
 * 0.3290), as tabulated by Bruce Lindbloom ("RGB/XYZ Matrices",
 * brucelindbloom.com). Its rows sum to the D65 white (0.95047, 1, 1.08883)
 * that the Lab conversions use, so white maps to L*=100, a*=b*=0 exactly
 * (to float precision). IEC 61966-2-1 prints the same matrix rounded to
 * four decimals. */
#include <math.h>

#include "dlut/color.h"

const double dlut_color_rgb_to_xyz_matrix[9] = {
    0.4124564, 0.3575761, 0.1804375,  //
    0.2126729, 0.7151522, 0.0721750,  //
    0.0193339, 0.1191920, 0.9503041,
};
const double dlut_color_xyz_to_rgb_matrix[9] = {
    3.2404542,  -1.5371385, -0.4985314,  //
    -0.9692660, 1.8760108,  0.0415560,   //
    0.0556434,  -0.2040259, 1.0572252,
};

/* Float copies for the array loops. */
static const float k_rgb2xyz[9] = {
    0.4124564f, 0.3575761f, 0.1804375f, 0.2126729f, 0.7151522f, 0.0721750f, 0.0193339f, 0.1191920f, 0.9503041f,
};
static const float k_xyz2rgb[9] = {
    3.2404542f, -1.5371385f, -0.4985314f, -0.9692660f, 1.8760108f, 0.0415560f, 0.0556434f, -0.2040259f, 1.0572252f,
};

/* out = M in, per pixel; reads the whole pixel before writing so in/out may alias. */
static void mat3_apply(const float m[9], const float *in, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float r = in[3 * i], g = in[3 * i + 1], b = in[3 * i + 2];
    out[3 * i + 0] = m[0] * r + m[1] * g + m[2] * b;
    out[3 * i + 1] = m[3] * r + m[4] * g + m[5] * b;
    out[3 * i + 2] = m[6] * r + m[7] * g + m[8] * b;
  }
}

/* d_in = M^T d_out (the backward of a linear map). */
static void mat3_apply_t(const float m[9], const float *d_out, float *d_in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    float x = d_out[3 * i], y = d_out[3 * i + 1], z = d_out[3 * i + 2];
    d_in[3 * i + 0] = m[0] * x + m[3] * y + m[6] * z;
    d_in[3 * i + 1] = m[1] * x + m[4] * y + m[7] * z;
    d_in[3 * i + 2] = m[2] * x + m[5] * y + m[8] * z;
  }
}

void dlut_color_linear_to_xyz(const float *in, float *out, int64_t n) {
  mat3_apply(k_rgb2xyz, in, out, n);
}
void dlut_color_xyz_to_linear(const float *in, float *out, int64_t n) {
  mat3_apply(k_xyz2rgb, in, out, n);
}

void dlut_color_linear_to_xyz_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  (void)in;
  mat3_apply_t(k_rgb2xyz, d_out, d_in, n);
}

void dlut_color_xyz_to_linear_backward(const float *in, const float *d_out, float *d_in, int64_t n) {
  (void)in;
  mat3_apply_t(k_xyz2rgb, d_out, d_in, n);
}

/* ==== Colour temperature ==== */

void dlut_color_cct_to_xy(double kelvin, double xy[2]) {
  double t = kelvin;
  if (!(t >= 1667.0)) t = 1667.0; /* also catches NaN */
  if (t > 25000.0) t = 25000.0;
  double t1 = 1e3 / t, t2 = t1 * t1, t3 = t2 * t1; /* powers of 1000/T */
  double x;
  /* Kim et al. (2002), eq. for x_c, coefficients scaled to 1000/T. */
  if (t <= 4000.0)
    x = -0.2661239 * t3 - 0.2343589 * t2 + 0.8776956 * t1 + 0.179910;
  else
    x = -3.0258469 * t3 + 2.1070379 * t2 + 0.2226347 * t1 + 0.240390;
  double x2 = x * x, x3 = x2 * x, y;
  if (t <= 2222.0)
    y = -1.1063814 * x3 - 1.34811020 * x2 + 2.18555832 * x - 0.20219683;
  else if (t <= 4000.0)
    y = -0.9549476 * x3 - 1.37418593 * x2 + 2.09137015 * x - 0.16748867;
  else
    y = 3.0817580 * x3 - 5.87338670 * x2 + 3.75112997 * x - 0.37001483;
  xy[0] = x;
  xy[1] = y;
}

void dlut_color_xy_to_xyz(const double xy[2], double xyz[3]) {
  double y = xy[1] > 1e-9 ? xy[1] : 1e-9;
  xyz[0] = xy[0] / y;
  xyz[1] = 1.0;
  xyz[2] = (1.0 - xy[0] - xy[1]) / y;
}

/* ==== Chromatic adaptation ==== */

/* Cone-response matrices. Bradford: Lam (1985), as linearised in ICC.1
 * Annex E; CAT02: CIE 159:2004. */
static const double k_bradford[9] = {
    0.8951, 0.2664, -0.1614, -0.7502, 1.7135, 0.0367, 0.0389, -0.0685, 1.0296,
};
static const double k_cat02[9] = {
    0.7328, 0.4296, -0.1624, -0.7036, 1.6975, 0.0061, 0.0030, 0.0136, 0.9834,
};

static void mat3_mul(const double a[9], const double b[9], double out[9]) {
  double t[9];
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 3; c++) t[r * 3 + c] = a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
  for (int i = 0; i < 9; i++) out[i] = t[i];
}

/* Inverse by the adjugate; the matrices here are well conditioned. */
static void mat3_inv(const double m[9], double out[9]) {
  double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5], g = m[6], h = m[7], i = m[8];
  double A = e * i - f * h, B = -(d * i - f * g), C = d * h - e * g;
  double det = a * A + b * B + c * C;
  double s = 1.0 / det;
  out[0] = A * s;
  out[1] = -(b * i - c * h) * s;
  out[2] = (b * f - c * e) * s;
  out[3] = B * s;
  out[4] = (a * i - c * g) * s;
  out[5] = -(a * f - c * d) * s;
  out[6] = C * s;
  out[7] = -(a * h - b * g) * s;
  out[8] = (a * e - b * d) * s;
}

void dlut_color_adaptation_xyz(dlut_cat cat, const double src_white[3], const double dst_white[3], double m[9]) {
  const double *cone = cat == DLUT_CAT_CAT02 ? k_cat02 : k_bradford;
  double inv[9], s[3], d[3];
  double sy = src_white[1] > 1e-12 ? src_white[1] : 1e-12, dy = dst_white[1] > 1e-12 ? dst_white[1] : 1e-12;
  for (int r = 0; r < 3; r++) {
    s[r] = (cone[r * 3] * src_white[0] + cone[r * 3 + 1] * src_white[1] + cone[r * 3 + 2] * src_white[2]) / sy;
    d[r] = (cone[r * 3] * dst_white[0] + cone[r * 3 + 1] * dst_white[1] + cone[r * 3 + 2] * dst_white[2]) / dy;
  }
  double diag[9] = {0};
  for (int r = 0; r < 3; r++) diag[r * 4] = fabs(s[r]) > 1e-12 ? d[r] / s[r] : 1.0;
  mat3_inv(cone, inv);
  mat3_mul(diag, cone, m);
  mat3_mul(inv, m, m);
}

void dlut_color_adaptation_rgb(dlut_cat cat, const double src_white[3], const double dst_white[3], double m[9]) {
  dlut_color_adaptation_xyz(cat, src_white, dst_white, m);
  mat3_mul(m, dlut_color_rgb_to_xyz_matrix, m);
  mat3_mul(dlut_color_xyz_to_rgb_matrix, m, m);
}
