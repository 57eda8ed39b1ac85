/* Camera log encodings (dlut/camlog.h): each manufacturer's log-to-linear
 * curve and its inverse, the gamut matrices to linear Rec.709 built from the
 * published primaries, a fixed display rendering to sRGB, and the bake of
 * "input transform then look" into one LUT over log code values. Every
 * formula is written from the manufacturer's document cited beside it;
 * tests/t_camlog_ocio.py checks them against OpenColorIO's built-in camera
 * transforms and against the documents' reference code values. */
#include "dlut/camlog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlut/error.h"
#include "dlut/parallel.h"

/* ==== Names and gamuts ==== */

typedef struct camlog_info {
  const char *name; /* the command-line name */
  const char *what; /* one line for --help and messages */
  double xy[8];     /* gamut: xr yr xg yg xb yb xw yw */
} camlog_info;

#define D65_XY 0.3127, 0.3290
/* ITU-R BT.2020 primaries: F-Gamut (Fujifilm F-Log2 data sheet, section 1)
 * and Apple Log's gamut (Apple Log Profile white paper, 2023) are these. */
#define REC2020_XY 0.708, 0.292, 0.170, 0.797, 0.131, 0.046, D65_XY

static const camlog_info k_info[DLUT_CAMLOG_COUNT] = {
    /* Sony, "Technical Summary for S-Gamut3.Cine/S-Log3 and S-Gamut3/S-Log3" (2014), S-Gamut3.Cine primaries */
    [DLUT_CAMLOG_SLOG3] = {"slog3", "Sony S-Log3 / S-Gamut3.Cine", {0.766, 0.275, 0.225, 0.800, 0.089, -0.087, D65_XY}},
    /* ARRI, "ALEXA Log C Curve - Usage in VFX" (H. Brendel, 2017): ALEXA Wide Gamut primaries */
    [DLUT_CAMLOG_LOGC3] = {"logc3",
                           "ARRI LogC3 (EI 800) / ARRI Wide Gamut 3",
                           {0.6840, 0.3130, 0.2210, 0.8480, 0.0861, -0.1020, D65_XY}},
    /* ARRI, "ARRI LogC4 Logarithmic Color Space Specification" (2022): AWG4 primaries */
    [DLUT_CAMLOG_LOGC4] = {"logc4",
                           "ARRI LogC4 / ARRI Wide Gamut 4",
                           {0.7347, 0.2653, 0.1424, 0.8576, 0.0991, -0.0308, D65_XY}},
    /* Panasonic, "V-Log/V-Gamut Reference Manual" (2014): V-Gamut primaries */
    [DLUT_CAMLOG_VLOG] = {"vlog", "Panasonic V-Log / V-Gamut", {0.730, 0.280, 0.165, 0.840, 0.100, -0.030, D65_XY}},
    /* Canon, "Canon Log Gamma Curves" white paper / Cinema Gamut (Canon, EOS C300 Mark II documentation) */
    [DLUT_CAMLOG_CLOG2] = {"clog2", "Canon Log 2 / Cinema Gamut", {0.74, 0.27, 0.17, 1.14, 0.08, -0.10, D65_XY}},
    [DLUT_CAMLOG_CLOG3] = {"clog3", "Canon Log 3 / Cinema Gamut", {0.74, 0.27, 0.17, 1.14, 0.08, -0.10, D65_XY}},
    /* RED, "White Paper on REDWideGamutRGB and Log3G10" (2017): RWG primaries */
    [DLUT_CAMLOG_LOG3G10] = {"log3g10",
                             "RED Log3G10 / REDWideGamutRGB",
                             {0.780308, 0.304253, 0.121595, 1.493994, 0.095612, -0.084589, D65_XY}},
    [DLUT_CAMLOG_FLOG2] = {"flog2", "Fujifilm F-Log2 / F-Gamut (Rec.2020 primaries)", {REC2020_XY}},
    [DLUT_CAMLOG_APPLELOG] = {"applelog", "Apple Log / Rec.2020", {REC2020_XY}},
    /* DJI, "White Paper on D-Log and D-Gamut of DJI Cinema Color System" (2017): D-Gamut primaries */
    [DLUT_CAMLOG_DLOG] = {"dlog", "DJI D-Log / D-Gamut", {0.71, 0.31, 0.21, 0.88, 0.09, -0.08, D65_XY}},
    /* Academy S-2014-004 (ACEScg): AP1 primaries, ACES white (x 0.32168, y 0.33767) */
    [DLUT_CAMLOG_ACESCCT] = {"acescct",
                             "ACEScct / ACES AP1 (ACES white, Bradford-adapted to D65)",
                             {0.713, 0.293, 0.165, 0.830, 0.128, 0.044, 0.32168, 0.33767}},
};

/* ITU-R BT.709 primaries, D65: the linear sRGB this module converts into. */
static const double k_rec709_xy[8] = {0.64, 0.33, 0.30, 0.60, 0.15, 0.06, D65_XY};

const char *dlut_camlog_name(dlut_camlog enc) {
  return (unsigned)enc < DLUT_CAMLOG_COUNT ? k_info[enc].name : NULL;
}

const char *dlut_camlog_description(dlut_camlog enc) {
  return (unsigned)enc < DLUT_CAMLOG_COUNT ? k_info[enc].what : NULL;
}

const char *dlut_camlog_names(void) {
  return "slog3, logc3, logc4, vlog, clog2, clog3, log3g10, flog2, applelog, dlog, acescct";
}

int dlut_camlog_from_name(const char *name, dlut_camlog *enc) {
  for (int i = 0; name && i < DLUT_CAMLOG_COUNT; i++)
    if (strcasecmp(name, k_info[i].name) == 0) {
      *enc = (dlut_camlog)i;
      return 0;
    }
  return dlut_errorc(DLUT_ERR_INPUT, "unknown input encoding '%.64s' (one of: %s)", name ? name : "",
                     dlut_camlog_names());
}

/* ==== Curves ==== */

/* Canon's curves take x = scene-linear / 0.9 (Canon white paper; the same
 * 0.9 as the ACES IDTs and OpenColorIO), so 18% grey decodes to 0.18. */
#define CANON_SCALE 0.9

double dlut_camlog_decode(dlut_camlog enc, double v) {
  switch (enc) {
    case DLUT_CAMLOG_SLOG3:
      /* Sony S-Log3 technical summary, "S-Log3 formula", reflection out from 10-bit code in/1023 */
      if (v >= 171.2102946929 / 1023.0) return pow(10.0, (v * 1023.0 - 420.0) / 261.5) * (0.18 + 0.01) - 0.01;
      return (v * 1023.0 - 95.0) * 0.01125000 / (171.2102946929 - 95.0);
    case DLUT_CAMLOG_LOGC3: {
      /* ARRI "ALEXA Log C Curve - Usage in VFX", Log C (v3) EI 800 parameters:
       * t > e*cut + f ? (10^((t - d)/c) - b)/a : (t - f)/e */
      const double cut = 0.010591, a = 5.555556, b = 0.052272, c = 0.247190, d = 0.385537, e = 5.367655, f = 0.092809;
      return v > e * cut + f ? (pow(10.0, (v - d) / c) - b) / a : (v - f) / e;
    }
    case DLUT_CAMLOG_LOGC4: {
      /* ARRI LogC4 specification, section "Decoding function":
       * a = (2^18 - 16)/117.45, b = (1023 - 95)/1023, c = 95/1023,
       * s = 7 ln2 2^(7 - 14c/b)/(ab), t = (2^(14(-c/b) + 6) - 64)/a;
       * E >= 0 ? (2^(14(E - c)/b + 6) - 64)/a : E s + t */
      const double a = (262144.0 - 16.0) / 117.45, b = (1023.0 - 95.0) / 1023.0, c = 95.0 / 1023.0;
      const double s = (7.0 * log(2.0) * pow(2.0, 7.0 - 14.0 * c / b)) / (a * b);
      const double t = (pow(2.0, 14.0 * (-c / b) + 6.0) - 64.0) / a;
      return v >= 0.0 ? (pow(2.0, 14.0 * (v - c) / b + 6.0) - 64.0) / a : v * s + t;
    }
    case DLUT_CAMLOG_VLOG:
      /* Panasonic V-Log/V-Gamut reference manual, "V-Log to linear": cut2 = 0.181,
       * b = 0.00873, c = 0.241514, d = 0.598206 */
      if (v < 0.181) return (v - 0.125) / 5.6;
      return pow(10.0, (v - 0.598206) / 0.241514) - 0.00873;
    case DLUT_CAMLOG_CLOG2:
      /* Canon white paper, Canon Log 2 (inverse of
       * y = +-0.24136077 log10(+-87.09937546 x + 1) + 0.092864125) */
      if (v < 0.092864125) return -CANON_SCALE * (pow(10.0, (0.092864125 - v) / 0.24136077) - 1.0) / 87.09937546;
      return CANON_SCALE * (pow(10.0, (v - 0.092864125) / 0.24136077) - 1.0) / 87.09937546;
    case DLUT_CAMLOG_CLOG3:
      /* Canon white paper, Canon Log 3 (three segments, linear for |x| <= 0.014) */
      /* the cuts 0.097465473 and 0.15277891 are 1.9754798 (-+0.014) + 0.12512219 */
      if (v < 0.12512219 - 1.9754798 * 0.014)
        return -CANON_SCALE * (pow(10.0, (0.12783901 - v) / 0.36726845) - 1.0) / 14.98325;
      if (v <= 0.12512219 + 1.9754798 * 0.014) return CANON_SCALE * (v - 0.12512219) / 1.9754798;
      return CANON_SCALE * (pow(10.0, (v - 0.12240537) / 0.36726845) - 1.0) / 14.98325;
    case DLUT_CAMLOG_LOG3G10:
      /* RED Log3G10 white paper (v2): a = 0.224282, b = 155.975327, c = 0.01, g = 15.1927;
       * y < 0 ? y/g - c : (10^(y/a) - 1)/b - c */
      if (v < 0.0) return v / 15.1927 - 0.01;
      return (pow(10.0, v / 0.224282) - 1.0) / 155.975327 - 0.01;
    case DLUT_CAMLOG_FLOG2: {
      /* Fujifilm "F-Log2 Data Sheet" Ver.1.0, "F-Log2 to scene linear reflection":
       * out >= cut2 ? (10^((out - d)/c) - b)/a : (out - f)/e */
      const double a = 5.555556, b = 0.064829, c = 0.245281, d = 0.384316, e = 8.799461, f = 0.092864,
                   cut2 = 0.100686685370811;
      return v >= cut2 ? (pow(10.0, (v - d) / c) - b) / a : (v - f) / e;
    }
    case DLUT_CAMLOG_APPLELOG: {
      /* Apple Log Profile white paper (2023), "Apple Log to scene reflection":
       * P >= Pt ? 2^((P - beta)/gamma) - b : 0 <= P < Pt ? sqrt(P/c) + R0 : R0.
       * Below 0 the curve is flat at R0; the inverse takes the mirror image
       * R0 - sqrt(-P/c) there, so it stays strictly increasing. */
      const double r0 = -0.05641088, rt = 0.01, c = 47.28711236, b = 0.00964052, gamma = 0.08550479, beta = 0.69336945,
                   pt = c * (rt - r0) * (rt - r0);
      if (v >= pt) return pow(2.0, (v - beta) / gamma) - b;
      if (v >= 0.0) return sqrt(v / c) + r0;
      return r0 - sqrt(-v / c);
    }
    case DLUT_CAMLOG_DLOG:
      /* DJI D-Log white paper, "D-Log to linear":
       * x <= 0.14 ? (x - 0.0929)/6.025 : (10^(3.89616 x - 2.27752) - 0.0108)/0.9892.
       * Its 3.89616 and 2.27752 are 1/0.256663 and 0.584555/0.256663 rounded,
       * and its cut 0.14 is the encoding's 0.0078 -> 0.139895 rounded; the
       * unrounded forms are used so decode is the exact inverse of encode
       * (they differ from the printed ones by < 1e-6). */
      if (v <= 6.025 * 0.0078 + 0.0929) return (v - 0.0929) / 6.025;
      return (pow(10.0, (v - 0.584555) / 0.256663) - 0.0108) / 0.9892;
    case DLUT_CAMLOG_ACESCCT:
      /* Academy S-2016-001 (ACEScct), section 4.2 "ACEScct to ACES" (the clamp to
       * HALF_MAX above 1.468 is left out: it would break the exact inverse) */
      if (v <= 0.155251141552511) return (v - 0.0729055341958355) / 10.5402377416545;
      return pow(2.0, v * 17.52 - 9.72);
    default:
      return v;
  }
}

double dlut_camlog_encode(dlut_camlog enc, double x) {
  switch (enc) {
    case DLUT_CAMLOG_SLOG3:
      /* Sony S-Log3 technical summary, reflection in -> code/1023 out */
      if (x >= 0.01125000) return (420.0 + log10((x + 0.01) / (0.18 + 0.01)) * 261.5) / 1023.0;
      return (x * (171.2102946929 - 95.0) / 0.01125000 + 95.0) / 1023.0;
    case DLUT_CAMLOG_LOGC3: {
      /* ARRI Log C (v3) EI 800: x > cut ? c log10(a x + b) + d : e x + f */
      const double cut = 0.010591, a = 5.555556, b = 0.052272, c = 0.247190, d = 0.385537, e = 5.367655, f = 0.092809;
      return x > cut ? c * log10(a * x + b) + d : e * x + f;
    }
    case DLUT_CAMLOG_LOGC4: {
      /* ARRI LogC4 specification, "Encoding function":
       * x >= t ? (log2(a x + 64) - 6)/14 b + c : (x - t)/s */
      const double a = (262144.0 - 16.0) / 117.45, b = (1023.0 - 95.0) / 1023.0, c = 95.0 / 1023.0;
      const double s = (7.0 * log(2.0) * pow(2.0, 7.0 - 14.0 * c / b)) / (a * b);
      const double t = (pow(2.0, 14.0 * (-c / b) + 6.0) - 64.0) / a;
      return x >= t ? (log2(a * x + 64.0) - 6.0) / 14.0 * b + c : (x - t) / s;
    }
    case DLUT_CAMLOG_VLOG:
      /* Panasonic V-Log: in < cut1 = 0.01 ? 5.6 in + 0.125 : c log10(in + b) + d */
      if (x < 0.01) return 5.6 * x + 0.125;
      return 0.241514 * log10(x + 0.00873) + 0.598206;
    case DLUT_CAMLOG_CLOG2: {
      double u = x / CANON_SCALE;
      if (u < 0.0) return -0.24136077 * log10(-87.09937546 * u + 1.0) + 0.092864125;
      return 0.24136077 * log10(87.09937546 * u + 1.0) + 0.092864125;
    }
    case DLUT_CAMLOG_CLOG3: {
      double u = x / CANON_SCALE;
      if (u < -0.014) return -0.36726845 * log10(-14.98325 * u + 1.0) + 0.12783901;
      if (u <= 0.014) return 1.9754798 * u + 0.12512219;
      return 0.36726845 * log10(14.98325 * u + 1.0) + 0.12240537;
    }
    case DLUT_CAMLOG_LOG3G10: {
      /* RED Log3G10: x += c; x < 0 ? x g : a log10(x b + 1) */
      double u = x + 0.01;
      if (u < 0.0) return u * 15.1927;
      return 0.224282 * log10(u * 155.975327 + 1.0);
    }
    case DLUT_CAMLOG_FLOG2: {
      /* Fujifilm F-Log2: in >= cut1 ? c log10(a in + b) + d : e in + f */
      const double a = 5.555556, b = 0.064829, c = 0.245281, d = 0.384316, e = 8.799461, f = 0.092864, cut1 = 0.000889;
      return x >= cut1 ? c * log10(a * x + b) + d : e * x + f;
    }
    case DLUT_CAMLOG_APPLELOG: {
      /* Apple Log: R >= Rt ? gamma log2(R + b) + beta : R0 <= R < Rt ? c (R - R0)^2 : 0
       * (below R0: -c (R - R0)^2, the mirror image, for a strictly increasing curve) */
      const double r0 = -0.05641088, rt = 0.01, c = 47.28711236, b = 0.00964052, gamma = 0.08550479, beta = 0.69336945;
      if (x >= rt) return gamma * log2(x + b) + beta;
      if (x >= r0) return c * (x - r0) * (x - r0);
      return -c * (x - r0) * (x - r0);
    }
    case DLUT_CAMLOG_DLOG:
      /* DJI D-Log: x <= 0.0078 ? 6.025 x + 0.0929 : log10(0.9892 x + 0.0108) 0.256663 + 0.584555 */
      if (x <= 0.0078) return 6.025 * x + 0.0929;
      return log10(x * 0.9892 + 0.0108) * 0.256663 + 0.584555;
    case DLUT_CAMLOG_ACESCCT:
      /* S-2016-001, "ACES to ACEScct": lin <= 0.0078125 ? A + B lin : (log2(lin) + 9.72)/17.52 */
      if (x <= 0.0078125) return 10.5402377416545 * x + 0.0729055341958355;
      return (log2(x) + 9.72) / 17.52;
    default:
      return x;
  }
}

/* ==== Gamuts ==== */

void dlut_camlog_primaries(dlut_camlog enc, double xy[8]) {
  memcpy(xy, k_info[(unsigned)enc < DLUT_CAMLOG_COUNT ? enc : 0].xy, 8 * sizeof *xy);
}

static void mat3_mul(const double a[9], const double b[9], double out[9]) {
  double t[9];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) t[3 * i + j] = a[3 * i] * b[j] + a[3 * i + 1] * b[3 + j] + a[3 * i + 2] * b[6 + j];
  memcpy(out, t, sizeof t);
}

static void mat3_inv(const double m[9], double out[9]) {
  double c[9] = {m[4] * m[8] - m[5] * m[7], m[2] * m[7] - m[1] * m[8], m[1] * m[5] - m[2] * m[4],
                 m[5] * m[6] - m[3] * m[8], m[0] * m[8] - m[2] * m[6], m[2] * m[3] - m[0] * m[5],
                 m[3] * m[7] - m[4] * m[6], m[1] * m[6] - m[0] * m[7], m[0] * m[4] - m[1] * m[3]};
  double det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6];
  for (int i = 0; i < 9; i++) out[i] = c[i] / det;
}

/* SMPTE RP 177-1993: columns are the primaries' XYZ scaled so that
 * RGB (1,1,1) maps to the white with Y = 1. */
void dlut_camlog_rgb_to_xyz(const double xy[8], double m[9]) {
  double p[9], pinv[9], w[3], s[3];
  for (int k = 0; k < 3; k++) {
    double x = xy[2 * k], y = xy[2 * k + 1];
    p[k] = x / y, p[3 + k] = 1.0, p[6 + k] = (1.0 - x - y) / y;
  }
  w[0] = xy[6] / xy[7], w[1] = 1.0, w[2] = (1.0 - xy[6] - xy[7]) / xy[7];
  mat3_inv(p, pinv);
  for (int i = 0; i < 3; i++) s[i] = pinv[3 * i] * w[0] + pinv[3 * i + 1] * w[1] + pinv[3 * i + 2] * w[2];
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 3; k++) m[3 * i + k] = p[3 * i + k] * s[k];
}

void dlut_camlog_gamut_matrix(const double src_xy[8], const double dst_xy[8], dlut_cat cat, double m[9]) {
  double src[9], dst[9], dst_inv[9];
  dlut_camlog_rgb_to_xyz(src_xy, src);
  dlut_camlog_rgb_to_xyz(dst_xy, dst);
  mat3_inv(dst, dst_inv);
  if (fabs(src_xy[6] - dst_xy[6]) > 1e-9 || fabs(src_xy[7] - dst_xy[7]) > 1e-9) {
    double sw[3], dw[3], cam[9];
    const double sxy[2] = {src_xy[6], src_xy[7]}, dxy[2] = {dst_xy[6], dst_xy[7]};
    dlut_color_xy_to_xyz(sxy, sw);
    dlut_color_xy_to_xyz(dxy, dw);
    dlut_color_adaptation_xyz(cat, sw, dw, cam);
    mat3_mul(cam, src, src);
  }
  mat3_mul(dst_inv, src, m);
}

void dlut_camlog_to_rec709_matrix(dlut_camlog enc, double m[9]) {
  double xy[8];
  dlut_camlog_primaries(enc, xy);
  dlut_camlog_gamut_matrix(xy, k_rec709_xy, DLUT_CAT_BRADFORD, m);
}

/* ==== Display rendering ==== */

#define TONE_KNEE 0.5

double dlut_camlog_tone(double x) {
  if (x <= TONE_KNEE) return x;
  const double r = 1.0 - TONE_KNEE;
  return TONE_KNEE + r * -expm1(-(x - TONE_KNEE) / r);
}

double dlut_camlog_tone_inverse(double y) {
  if (y <= TONE_KNEE) return y;
  if (y >= 1.0) return INFINITY;
  const double r = 1.0 - TONE_KNEE;
  return TONE_KNEE - r * log1p(-(y - TONE_KNEE) / r);
}

/* sRGB transfer in double (IEC 61966-2-1, odd extension below 0). */
static double srgb_encode(double v) {
  double a = fabs(v), e = a <= 0.0031308 ? 12.92 * a : 1.055 * pow(a, 1.0 / 2.4) - 0.055;
  return v < 0 ? -e : e;
}

static double srgb_decode(double v) {
  double a = fabs(v), l = a <= 0.04045 ? a / 12.92 : pow((a + 0.055) / 1.055, 2.4);
  return v < 0 ? -l : l;
}

/* One colour, double precision: log code -> linear Rec.709. */
static void to_linear1(dlut_camlog enc, const double m[9], const double in[3], double out[3]) {
  double l[3];
  for (int c = 0; c < 3; c++) l[c] = dlut_camlog_decode(enc, in[c]);
  for (int i = 0; i < 3; i++) out[i] = m[3 * i] * l[0] + m[3 * i + 1] * l[1] + m[3 * i + 2] * l[2];
}

/* The shoulder acts in the camera's own RGB, before the matrix: display
 * values stay bounded (|out| <= the matrix's absolute row sums), so the
 * rendering is as smooth as the curves themselves and a lattice over code
 * values follows it. Below the knee the tone curve is the identity, so
 * mid-tones keep their exact colorimetry. */
static void to_display1(dlut_camlog enc, const double m[9], const double in[3], double out[3]) {
  double l[3];
  for (int c = 0; c < 3; c++) l[c] = dlut_camlog_tone(dlut_camlog_decode(enc, in[c]));
  for (int i = 0; i < 3; i++) out[i] = srgb_encode(m[3 * i] * l[0] + m[3 * i + 1] * l[1] + m[3 * i + 2] * l[2]);
}

void dlut_camlog_to_linear(dlut_camlog enc, const float *in, float *out, int64_t n) {
  double m[9];
  dlut_camlog_to_rec709_matrix(enc, m);
  for (int64_t p = 0; p < n; p++) {
    double v[3] = {in[3 * p], in[3 * p + 1], in[3 * p + 2]}, o[3];
    to_linear1(enc, m, v, o);
    for (int c = 0; c < 3; c++) out[3 * p + c] = (float)o[c];
  }
}

static void from_linear1(dlut_camlog enc, const double minv[9], const double in[3], double out[3]) {
  for (int i = 0; i < 3; i++)
    out[i] = dlut_camlog_encode(enc, minv[3 * i] * in[0] + minv[3 * i + 1] * in[1] + minv[3 * i + 2] * in[2]);
}

void dlut_camlog_from_linear(dlut_camlog enc, const float *in, float *out, int64_t n) {
  double m[9], minv[9];
  dlut_camlog_to_rec709_matrix(enc, m);
  mat3_inv(m, minv);
  for (int64_t p = 0; p < n; p++) {
    double v[3] = {in[3 * p], in[3 * p + 1], in[3 * p + 2]}, o[3];
    from_linear1(enc, minv, v, o);
    for (int c = 0; c < 3; c++) out[3 * p + c] = (float)o[c];
  }
}

void dlut_camlog_to_display(dlut_camlog enc, const float *in, float *out, int64_t n) {
  double m[9];
  dlut_camlog_to_rec709_matrix(enc, m);
  for (int64_t p = 0; p < n; p++) {
    double v[3] = {in[3 * p], in[3 * p + 1], in[3 * p + 2]}, o[3];
    to_display1(enc, m, v, o);
    for (int c = 0; c < 3; c++) out[3 * p + c] = (float)o[c];
  }
}

void dlut_camlog_from_display(dlut_camlog enc, const float *in, float *out, int64_t n) {
  double m[9], minv[9];
  dlut_camlog_to_rec709_matrix(enc, m);
  mat3_inv(m, minv);
  for (int64_t p = 0; p < n; p++) {
    double v[3];
    for (int c = 0; c < 3; c++) v[c] = srgb_decode(in[3 * p + c]);
    for (int i = 0; i < 3; i++) {
      double t = dlut_camlog_tone_inverse(minv[3 * i] * v[0] + minv[3 * i + 1] * v[1] + minv[3 * i + 2] * v[2]);
      out[3 * p + i] = (float)dlut_camlog_encode(enc, isinf(t) ? 64.0 : t);
    }
  }
}

/* ==== Baking ==== */

typedef struct bake_ctx {
  dlut_camlog enc;
  int size;
  double m[9];              /* camera -> Rec.709 */
  dlut_camlog_look_fn look; /* NULL = none */
  void *look_ctx;
  float *table; /* size^3 * 3, red fastest */
} bake_ctx;

/* Rows (b, g) of the lattice [begin, end): size entries each. */
static void bake_rows(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  bake_ctx *k = arg;
  const double step = 1.0 / (k->size - 1);
  for (int64_t row = begin; row < end; row++) {
    int b = (int)(row / k->size), g = (int)(row % k->size);
    for (int r = 0; r < k->size; r++) {
      double code[3] = {r * step, g * step, b * step}, d[3];
      to_display1(k->enc, k->m, code, d);
      float disp[3] = {(float)d[0], (float)d[1], (float)d[2]};
      float *o = k->table + 3 * (row * k->size + r);
      if (k->look)
        k->look(k->look_ctx, disp, o);
      else
        memcpy(o, disp, sizeof disp);
    }
  }
}

dlut_lut *dlut_camlog_bake_fn(dlut_camlog enc, int size, dlut_camlog_look_fn look, void *ctx) {
  if ((unsigned)enc >= DLUT_CAMLOG_COUNT) {
    dlut_errorc(DLUT_ERR_INPUT, "camlog: bad encoding %d", (int)enc);
    return NULL;
  }
  if (size < 2 || size > DLUT_LUT_MAX_SIZE) {
    dlut_errorc(DLUT_ERR_INPUT, "camlog: LUT size %d is outside 2..%d", size, DLUT_LUT_MAX_SIZE);
    return NULL;
  }
  dlut_lut *lut = dlut_lut_alloc(size, 0);
  if (!lut) return NULL;
  bake_ctx k = {.enc = enc, .size = size, .look = look, .look_ctx = ctx, .table = lut->table};
  dlut_camlog_to_rec709_matrix(enc, k.m);
  dlut_parallel_for((int64_t)size * size, 16, bake_rows, &k);
  snprintf(lut->title, sizeof lut->title, "dlut: %s input", k_info[enc].name);
  return lut;
}

typedef struct lut_look {
  const dlut_lut *lut;
  dlut_interp interp;
} lut_look;

static void eval_lut_look(void *arg, const float in[3], float out[3]) {
  const lut_look *l = arg;
  dlut_lut_eval(l->lut, in, out, l->interp);
}

dlut_lut *dlut_camlog_bake(const dlut_lut *look_lut, dlut_camlog enc, int size, dlut_interp interp) {
  lut_look l = {look_lut, interp};
  dlut_lut *out = dlut_camlog_bake_fn(enc, size, look_lut ? eval_lut_look : NULL, &l);
  if (out && look_lut && look_lut->title[0])
    snprintf(out->title, sizeof out->title, "%.200s (%s input)", look_lut->title, k_info[enc].name);
  return out;
}

/* ==== Baking with a shaper ==== */

/* The shaper is each channel's code value through decode, the display
 * rendering's tone curve and the sRGB encoding: the display value a grey
 * of that code would have (the gamut matrix keeps white). What is left for
 * the 3D table is the gamut matrix between sRGB encodings and the look,
 * both smooth in display values, so the lattice spends its points where
 * the look was graded, not on the steep exponential of the decode. */
typedef struct shaper_ctx {
  double m[9];
  int size;
  double lo, hi; /* 3D input range */
  dlut_camlog_look_fn look;
  void *look_ctx;
  float *table;
} shaper_ctx;

static void shaper_rows(void *arg, int64_t begin, int64_t end, int thread) {
  (void)thread;
  shaper_ctx *k = arg;
  const double step = (k->hi - k->lo) / (k->size - 1);
  for (int64_t row = begin; row < end; row++) {
    int b = (int)(row / k->size), g = (int)(row % k->size);
    for (int r = 0; r < k->size; r++) {
      double u[3] = {k->lo + r * step, k->lo + g * step, k->lo + b * step}, v[3];
      for (int c = 0; c < 3; c++) v[c] = srgb_decode(u[c]);
      float disp[3];
      for (int i = 0; i < 3; i++)
        disp[i] = (float)srgb_encode(k->m[3 * i] * v[0] + k->m[3 * i + 1] * v[1] + k->m[3 * i + 2] * v[2]);
      float *o = k->table + 3 * (row * k->size + r);
      if (k->look)
        k->look(k->look_ctx, disp, o);
      else
        memcpy(o, disp, sizeof disp);
    }
  }
}

dlut_lut *dlut_camlog_bake_shaper_fn(dlut_camlog enc, int size, int shaper_size, dlut_camlog_look_fn look, void *ctx) {
  if ((unsigned)enc >= DLUT_CAMLOG_COUNT) {
    dlut_errorc(DLUT_ERR_INPUT, "camlog: bad encoding %d", (int)enc);
    return NULL;
  }
  if (size < 2 || size > DLUT_LUT_MAX_SIZE || shaper_size < 2 || shaper_size > 65536) {
    dlut_errorc(DLUT_ERR_INPUT, "camlog: LUT size %d / shaper size %d outside 2..%d / 2..65536", size, shaper_size,
                DLUT_LUT_MAX_SIZE);
    return NULL;
  }
  dlut_lut *lut = dlut_lut_alloc(size, shaper_size);
  if (!lut) return NULL;
  double lo = 0;
  for (int i = 0; i < shaper_size; i++) {
    double x = (double)i / (shaper_size - 1);
    double s = srgb_encode(dlut_camlog_tone(dlut_camlog_decode(enc, x)));
    for (int c = 0; c < 3; c++) lut->shaper[3 * i + c] = (float)s;
    if (s < lo) lo = s;
  }
  /* below black the curves go negative: the 3D range starts there */
  lo = floor(lo * 64.0) / 64.0;
  shaper_ctx k = {.size = size, .lo = lo, .hi = 1.0, .look = look, .look_ctx = ctx, .table = lut->table};
  dlut_camlog_to_rec709_matrix(enc, k.m);
  for (int c = 0; c < 3; c++) {
    lut->shaper_min[c] = 0;
    lut->shaper_max[c] = 1;
    lut->domain_min[c] = (float)lo;
    lut->domain_max[c] = 1;
  }
  dlut_parallel_for((int64_t)size * size, 16, shaper_rows, &k);
  snprintf(lut->title, sizeof lut->title, "dlut: %s input", k_info[enc].name);
  return lut;
}

dlut_lut *dlut_camlog_bake_shaper(const dlut_lut *look_lut, dlut_camlog enc, int size, int shaper_size,
                                  dlut_interp interp) {
  lut_look l = {look_lut, interp};
  dlut_lut *out = dlut_camlog_bake_shaper_fn(enc, size, shaper_size, look_lut ? eval_lut_look : NULL, &l);
  if (out && look_lut && look_lut->title[0])
    snprintf(out->title, sizeof out->title, "%.200s (%s input)", look_lut->title, k_info[enc].name);
  return out;
}
