/* dlut/region.h - grading by region: a second LUT inside a mask,
 * composited with the global one,
 *     out = (1 - m) global(I) + m region(I),
 * with the mask from the user (a painted or exported matte) or found from
 * text by a CLIP model (the position weight map of ColorizeDiffusion,
 * dlut/manip.h, upsampled to the photo along its edges by the guided
 * filter, dlut/guided.h).
 *
 * USAGE (a user matte, no model)
 *     dlut_mask_opts mo = {.feather = 12, .threshold = 0};
 *     dlut_mask_channel ch;
 *     float *m = dlut_mask_load("sky.png", photo->width, photo->height, &mo, &ch);
 *     const dlut_lut *luts[1] = {sky_lut};
 *     const float *masks[1] = {m};
 *     dlut_image *out = dlut_region_render(global_lut, 1, luts, masks, photo, 1.0f);
 *     dlut_mask_save_png16(m, photo->width, photo->height, "mask-1.png");
 *
 * MASKS are single-channel float maps (h, w) in [0,1] at the photo's size,
 * rows top to bottom; 1 = inside the region. The caller frees them (free).
 *
 * MATTE FILES (dlut_mask_load): PNG, TIFF, JPEG, WebP, PPM/PGM, 8 or 16 bits,
 * grey or RGB(A), any size. The code values are used as they are (no ICC
 * conversion; EXIF orientation is applied, as for the photo). The channel:
 *   - alpha, when the file has an alpha channel that is not fully opaque
 *     (an exported matte or a layer mask saved with transparency);
 *   - else the grey value, when R = G = B everywhere (a grey file, or a
 *     grey matte saved as RGB);
 *   - else the Rec. 709 luma of the code values, 0.2126 R + 0.7152 G +
 *     0.0722 B (a painted colour matte);
 * and `used` says which. A matte of another size is resampled to the photo
 * (Pillow's bicubic, antialiased when shrinking, clamped to [0,1]); its
 * aspect ratio must match the photo's within 1% (+1 pixel): a matte of
 * another shape belongs to another picture and is refused.
 *
 * THRESHOLD AND FEATHER (in this order; dlut_mask_opts):
 *   threshold t in (0,1): the matte becomes hard, m = (m >= t); 0 keeps the
 *     soft matte as painted.
 *   feather F pixels (of the photo): the mask is blurred by two box filters
 *     of radii ceil(R/2) and R - ceil(R/2), R = round(F/2) (a trapezoid,
 *     close to a tent), so a hard straight edge ramps from 0 to 1 across
 *     exactly 2R ~ F pixels centred on the edge and pixels farther than R
 *     from it keep their value. 0 = no feathering. Windows are clipped at
 *     the photo's borders (a mask that reaches the border stays 1 there).
 *
 * RENDERING (dlut_region_render): every pixel is converted to float,
 * through every LUT (tetrahedral), composited in float, layer by layer in
 * region order (region k over the result of regions 1..k-1:
 * out = (1 - m_k) out + m_k R_k(I)), blended with the original at
 * `strength` and rounded once to the photo's sample type. Where every
 * mask is 0 the result is the global LUT's, within 1 code of
 * dlut_lut_apply_image. Alpha is copied.
 *
 * MASK FILES (dlut_mask_save_png16): a 16-bit greyscale PNG at the photo's
 * size, value round(65535 m), no colour chunks (mattes are data): what
 * Resolve, Premiere and Photoshop import as a luma matte.
 *
 * ERRORS: NULL / -1 with dlut_last_error() set (the file name first).
 */
#ifndef DLUT_REGION_H
#define DLUT_REGION_H

#include <stdint.h>

#include "dlut/image.h"
#include "dlut/lut.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DLUT_REGION_MAX 8 /* regions per grade */

/* ==== Masks ==== */

typedef struct dlut_mask_opts {
  float feather;   /* pixels; a hard edge ramps 0 -> 1 over this width (0 = none; at most 4096) */
  float threshold; /* 0 = soft matte as given; (0,1): hard, m >= threshold */
} dlut_mask_opts;

typedef enum dlut_mask_channel {
  DLUT_MASK_GREY = 0,  /* R = G = B: the grey value */
  DLUT_MASK_ALPHA = 1, /* the alpha channel */
  DLUT_MASK_LUMA = 2,  /* Rec. 709 luma of the RGB code values */
} dlut_mask_channel;

const char *dlut_mask_channel_name(dlut_mask_channel c); /* "grey", "alpha", "luma" */

/* A mask (h, w) from a matte image (any size, type, 3 or 4 channels),
 * resampled, thresholded and feathered as above. used may be NULL. */
float *dlut_mask_from_image(const dlut_image *matte, int w, int h, const dlut_mask_opts *o, dlut_mask_channel *used);
/* The same from a file. */
float *dlut_mask_load(const char *path, int w, int h, const dlut_mask_opts *o, dlut_mask_channel *used);

/* Threshold (t > 0) then feather (f > 0) a mask in place. */
int dlut_mask_refine(float *m, int w, int h, float threshold, float feather);

/* Mean of the mask: the fraction of the photo the region covers. */
double dlut_mask_coverage(const float *m, int w, int h);

/* 16-bit greyscale PNG, round(65535 m), written atomically; or in memory
 * (*data malloc'd, caller frees). */
int dlut_mask_save_png16(const float *m, int w, int h, const char *path);
int dlut_mask_encode_png16(const float *m, int w, int h, uint8_t **data, size_t *size);

/* ==== Compositing ==== */

/* The photo through the global LUT and n region LUTs with their masks
 * (each (photo->height, photo->width)), composited as above, at strength
 * (0..1). Same size, channels and sample type as the photo, with its
 * metadata. n may be 0 (the global grade alone, in float). */
dlut_image *dlut_region_render(const dlut_lut *global, int n, const dlut_lut *const *luts, const float *const *masks,
                               const dlut_image *photo, float strength);

#ifdef __cplusplus
}
#endif
#endif
