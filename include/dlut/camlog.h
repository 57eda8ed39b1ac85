/* dlut/camlog.h - camera log encodings: decode log footage to scene-linear,
 * convert its gamut to linear Rec.709/sRGB (D65), render it for display as
 * sRGB, and bake "input transform then look" into one LUT for log input.
 *
 * A look LUT made for sRGB-encoded pictures, applied to log footage, grades
 * the wrong input: flat, desaturated log code values. This module supplies
 * the missing input transform, so a look graded on sRGB pictures can be
 * applied to (or baked for) S-Log3, LogC, V-Log, ... footage.
 *
 * USAGE
 *     dlut_camlog enc;
 *     if (dlut_camlog_from_name("slog3", &enc) != 0) fprintf(stderr, "%s\n", dlut_last_error());
 *     dlut_camlog_to_display(enc, in, out, n);     // (n,3) log code values -> sRGB-encoded
 *     dlut_lut *baked = dlut_camlog_bake(look, enc, 65, DLUT_INTERP_TETRAHEDRAL);
 *     // baked takes log code values: baked(x) ~= look(to_display(x))
 *     dlut_lut_free(baked);
 *
 * THE PIPELINE (dlut_camlog_to_display)
 *   1. decode: each channel's code value through the camera's log-to-linear
 *      curve (dlut_camlog_decode) -> scene-linear in the camera's gamut,
 *      0.18 = an 18% grey card (Canon's curves are scaled by 0.9 as in
 *      Canon's and ACES's definition, so 0.18 is grey there too);
 *   2. display rendering (dlut_camlog_tone): per channel of the camera's
 *      own RGB, identity below the knee 0.5, then an exponential shoulder
 *      towards display white 1:
 *          t(x) = x                                   x <= k
 *          t(x) = k + (1-k) (1 - exp(-(x-k)/(1-k)))   x >  k,  k = 0.5
 *      continuous with slope 1 at the knee (C1), strictly increasing, and
 *      exactly invertible below 1 (dlut_camlog_tone_inverse). Scene 0.18
 *      -> 0.18 -> sRGB 0.461; scene 1.0 -> 0.816 -> sRGB 0.918; scene 4
 *      -> 0.999. Negative values pass unchanged. Applied before the
 *      matrix so display values stay bounded and smooth in the code values
 *      (a gamut matrix first turns saturated highlights into differences of
 *      huge numbers, far too steep for any lattice); mid-tones, below the
 *      knee, keep their exact colorimetry;
 *   3. gamut: a 3x3 matrix to linear Rec.709 primaries, D65 white, built
 *      from the published primaries (dlut_camlog_to_rec709_matrix). Every
 *      camera gamut here is D65 except ACES AP1, whose ACES white (x 0.32168,
 *      y 0.33767) is adapted to D65 with the Bradford transform;
 *   4. the sRGB encoding (IEC 61966-2-1, dlut_linear_to_srgb).
 *
 * UNITS AND RANGES
 *   Code values are full-range normalised (10-bit code / 1023), the form
 *   the manufacturers' formulas use; ACEScct is its float value. Every
 *   curve is defined, finite and strictly increasing on all finite inputs
 *   (the formulas' own extensions below black), so decode(encode(x)) == x
 *   to float precision (tests/test_camlog.c).
 *
 * THREADS AND MEMORY
 *   Only dlut_camlog_bake allocates (the LUT, freed by dlut_lut_free; NULL
 *   and dlut_last_error() on failure); it runs on the thread pool. All
 *   functions are safe to call from any thread.
 */
#ifndef DLUT_CAMLOG_H
#define DLUT_CAMLOG_H

#include <stdint.h>

#include "dlut/color.h"
#include "dlut/image.h"
#include "dlut/lut.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dlut_camlog {
  DLUT_CAMLOG_SLOG3 = 0, /* Sony S-Log3 / S-Gamut3.Cine */
  DLUT_CAMLOG_LOGC3,     /* ARRI LogC3 EI 800 / ARRI Wide Gamut 3 */
  DLUT_CAMLOG_LOGC4,     /* ARRI LogC4 / ARRI Wide Gamut 4 */
  DLUT_CAMLOG_VLOG,      /* Panasonic V-Log / V-Gamut */
  DLUT_CAMLOG_CLOG2,     /* Canon Log 2 / Cinema Gamut */
  DLUT_CAMLOG_CLOG3,     /* Canon Log 3 / Cinema Gamut */
  DLUT_CAMLOG_LOG3G10,   /* RED Log3G10 / REDWideGamutRGB */
  DLUT_CAMLOG_FLOG2,     /* Fujifilm F-Log2 / F-Gamut (Rec.2020 primaries) */
  DLUT_CAMLOG_APPLELOG,  /* Apple Log / Rec.2020 */
  DLUT_CAMLOG_DLOG,      /* DJI D-Log / D-Gamut */
  DLUT_CAMLOG_ACESCCT,   /* ACEScct / ACES AP1 */
  DLUT_CAMLOG_COUNT
} dlut_camlog;

/* ==== Names ==== */

/* The command-line name ("slog3") and a one-line description. NULL when
 * enc is out of range. */
const char *dlut_camlog_name(dlut_camlog enc);
const char *dlut_camlog_description(dlut_camlog enc);

/* Look a name up (case-insensitive). 0, or -1 with dlut_last_error() set
 * to a message listing the valid names (code DLUT_ERR_INPUT). */
int dlut_camlog_from_name(const char *name, dlut_camlog *enc);

/* "slog3, logc3, logc4, vlog, clog2, clog3, log3g10, flog2, applelog, dlog, acescct" */
const char *dlut_camlog_names(void);

/* ==== Curves (scalars, double) ==== */

/* Log code value -> scene-linear (camera gamut) and its exact inverse. */
double dlut_camlog_decode(dlut_camlog enc, double code);
double dlut_camlog_encode(dlut_camlog enc, double lin);

/* ==== Gamuts ==== */

/* The gamut's chromaticities: {xr, yr, xg, yg, xb, yb, xw, yw}. */
void dlut_camlog_primaries(dlut_camlog enc, double xy[8]);

/* Linear RGB -> XYZ (Y of white = 1) of any primaries (row-major 3x3). */
void dlut_camlog_rgb_to_xyz(const double xy[8], double m[9]);

/* Linear RGB of src primaries -> linear RGB of dst primaries, adapting the
 * white with `cat` when the whites differ (row-major 3x3). */
void dlut_camlog_gamut_matrix(const double src_xy[8], const double dst_xy[8], dlut_cat cat, double m[9]);

/* Camera linear -> linear Rec.709 (D65), Bradford where the white differs. */
void dlut_camlog_to_rec709_matrix(dlut_camlog enc, double m[9]);

/* ==== Display rendering ==== */

/* The tone curve of step 3 above (scene-linear -> display-linear) and its
 * inverse (defined for y < 1; y >= 1 gives +inf). */
double dlut_camlog_tone(double x);
double dlut_camlog_tone_inverse(double y);

/* ==== Arrays: (n,3) interleaved floats; in and out may alias ==== */

/* Log code values -> scene-linear Rec.709 (steps 1 and 3, no rendering), and back. */
void dlut_camlog_to_linear(dlut_camlog enc, const float *in, float *out, int64_t n);
void dlut_camlog_from_linear(dlut_camlog enc, const float *in, float *out, int64_t n);

/* Log code values -> sRGB-encoded display values (steps 1-4), and back
 * (camera-RGB values that would need display 1 or above have no inverse
 * and come back as the code value of scene-linear 64). */
void dlut_camlog_to_display(dlut_camlog enc, const float *in, float *out, int64_t n);
void dlut_camlog_from_display(dlut_camlog enc, const float *in, float *out, int64_t n);

/* ==== Baking ==== */

/* A look as a function of one sRGB-encoded colour. */
typedef void (*dlut_camlog_look_fn)(void *ctx, const float in[3], float out[3]);

/* A new 3D LUT of `size` (2..DLUT_LUT_MAX_SIZE) points per axis over log
 * code values [0,1]: entry(x) = look(to_display(x)). look NULL = no look
 * (the LUT is then the input transform alone). Multi-threaded. */
dlut_lut *dlut_camlog_bake_fn(dlut_camlog enc, int size, dlut_camlog_look_fn look, void *ctx);

/* The same with a look LUT made for sRGB-encoded input (any domain and
 * shaper; evaluated with `interp`). look_lut NULL = no look. */
dlut_lut *dlut_camlog_bake(const dlut_lut *look_lut, dlut_camlog enc, int size, dlut_interp interp);

/* The same as a 1D shaper of `shaper_size` entries followed by a 3D table
 * of `size` (Resolve's .cube layout; DLUT and OpenColorIO apply the shaper
 * by linear interpolation). The shaper is, per channel, the sRGB encoding
 * of the tone-mapped decode (steps 1, 2 and 4: the display value of a grey
 * of that code); the 3D table, over [lo, 1] (lo = the shaper's lowest
 * value rounded down to 1/64, 0 unless the curve goes below black), holds
 * look(srgb(M srgb^-1(u))) with M the gamut matrix of step 3. Equal to
 * look(to_display(x)) up to interpolation, which the shaper makes far
 * smaller than a plain lattice over code values of the same size
 * (tests/test_camlog.c). */
dlut_lut *dlut_camlog_bake_shaper_fn(dlut_camlog enc, int size, int shaper_size, dlut_camlog_look_fn look, void *ctx);
dlut_lut *dlut_camlog_bake_shaper(const dlut_lut *look_lut, dlut_camlog enc, int size, int shaper_size,
                                  dlut_interp interp);

/* ==== Images ==== */

/* A log-encoded image as displayed (steps 1-4), as float RGB with the
 * image's metadata (alpha dropped). Caller frees; NULL and
 * dlut_last_error() on failure. */
dlut_image *dlut_camlog_image_to_display(dlut_camlog enc, const dlut_image *img);

#ifdef __cplusplus
}
#endif
#endif
