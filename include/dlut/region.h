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
 *     of radii ceil(R/2) and R - ceil(R/2), R = round(F/2) (half to even,
 *     so the width is F rounded to an even number of pixels; a trapezoid,
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

#include "dlut/clip.h"
#include "dlut/grade.h"
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
/* The shape rule above from sizes alone (a matte mw x mh for a photo
 * w x h): 0, or -1 with DLUT_ERR_INPUT and a message giving both shapes.
 * Servers check uploads with it before anything is decoded. */
int dlut_mask_shape_check(int mw, int mh, int w, int h);
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

/* ==== The region grade (with a model) ====
 *
 * The global LUT T_0 and one LUT T_k per region, optimised together on
 *   L = w_clip L_clip(C) + w_vol L_vol + w_shift L_shift + w_eigen L_eigen
 *       + sum_k (w_mono L_mono(T_k) + w_smooth L_smooth(T_k))   (k = 0..n)
 *       + w_local sum_k L_local,k
 * where C is the composite of the working image (the photo reduced to the
 * model's side, as dlut_grade_run), the colour terms are on the composite
 * of the photo's pixel sample (the masks read at those pixels), and the
 * local term of region k is the CLIP term (dlut_grade_clip_loss, weights
 * 10 / 0.7) on the mask-weighted mean of the patch tokens,
 *   z_k = sum_p w_kp tok_p / sum_p w_kp,
 * w_kp the region's mask averaged over patch p of the model's input
 * (through the same resize and crop as the pixels), tok_p = the projected
 * un-normalised patch tokens (dlut_clip_image_tokens), against the
 * region's prompt: f_orig = z_k of the photo, target t_k, style
 * unit(t_k - t_source). A region the model's view does not reach
 * (sum w_kp < 1e-6 of a patch) has no local term.
 * Each table is the lattice parameterisation (a coarse residual, AdamW,
 * cosine schedule) around its start. The backward of the composite is
 * dC_{k-1} = (1 - m_k) dC_k, dR_k = m_k dC_k; the CLS gradient and the
 * token gradients go back through the vision tower in one call
 * (dlut_clip_image_tokens_backward). */

typedef struct dlut_region_grade_opts {
  dlut_grade_opts global; /* the global grade: prompt (or ref in image mode), start_lut, lut_size, steps, seed,
                             weights, lr, lr_min, weight_decay, lattice_coarse, samples, dir_eps, callback ... */
  int n;                  /* regions, 1..DLUT_REGION_MAX */
  const char *prompts[DLUT_REGION_MAX];        /* each region's look (text), or NULL with targets[k] */
  const float *targets[DLUT_REGION_MAX];       /* or its text embedding (embed_dim, any norm) */
  const float *masks[DLUT_REGION_MAX];         /* (photo h, w) in [0,1] */
  const dlut_lut *start_luts[DLUT_REGION_MAX]; /* each region's start (its offline look); NULL = the global start */
  float w_local;                               /* weight of the local terms (default 1) */
} dlut_region_grade_opts;

void dlut_region_grade_opts_init(dlut_region_grade_opts *o);

typedef struct dlut_region_losses {
  dlut_grade_losses g;            /* clip (on the composite), mono/smooth (summed over the tables), colour, total */
  double local[DLUT_REGION_MAX];  /* each region's local term (unweighted; 0 when it has none) */
  int has_local[DLUT_REGION_MAX]; /* 1 if the region has a local term */
} dlut_region_losses;

typedef struct dlut_region_grade_result {
  dlut_lut *global;                /* the global LUT (owned) */
  dlut_lut *luts[DLUT_REGION_MAX]; /* each region's LUT (owned) */
  dlut_region_losses start, end;   /* losses at the start and of the returned tables */
  int steps_done;
  double seconds;
  int stopped; /* 0 finished, 1 cancelled, 2 non-finite */
  char stop_reason[160];
} dlut_region_grade_result;

int dlut_region_grade_run(dlut_clip *model, const dlut_image *photo, const dlut_region_grade_opts *o,
                          dlut_region_grade_result *res);
void dlut_region_grade_result_free(dlut_region_grade_result *res);

/* The problem without the optimiser (tests, benches): tables[0] the global
 * table, tables[1..n] the regions', each (lut_size^3, 3); with d_tables
 * (may be NULL) dL_total/dtable into each (overwritten). */
typedef struct dlut_region_problem dlut_region_problem;
dlut_region_problem *dlut_region_problem_new(dlut_clip *model, const dlut_image *photo,
                                             const dlut_region_grade_opts *o);
void dlut_region_problem_free(dlut_region_problem *p);
int dlut_region_problem_lut_size(const dlut_region_problem *p);
const float *dlut_region_problem_start(const dlut_region_problem *p, int k); /* k = 0 global, 1..n */
int dlut_region_problem_eval(dlut_region_problem *p, const float *const *tables, dlut_region_losses *L,
                             float *const *d_tables);
/* Patch weights of region k (1..n) on the model's grid (n_patch_tokens), normalised to sum 1, or NULL
 * if it has no local term. */
const float *dlut_region_problem_patch_weights(const dlut_region_problem *p, int k);

/* ==== Masks from text (with a model) ==== */

/* The mask of the words `control` in the photo: the patch-grid map of
 * ColorizeDiffusion (dlut_manip_text_map: the local tokens projected on
 * the control text, normalised per image to [0,1]) through its position
 * weights at dscale 1 (dlut_manip_pwm, thresholds NULL = 0.5 0.55 0.65
 * 0.95), clamped to [0,1] (so the map is 0 below t1, ramps to 0.5 at t2
 * and to 1 at t3), upsampled to the photo (bicubic, as the heatmap) and
 * snapped to its edges by the guided filter (guide: the photo's Rec.709
 * luma; radius the cell size / 2, eps 1e-3), then threshold and feather
 * as for mattes. map_out (G*G) receives the normalised map (may be NULL;
 * G = image_size / patch_size). */
float *dlut_region_text_mask(dlut_clip *model, const dlut_image *photo, const char *control, const dlut_mask_opts *mo,
                             float *map_out, int *grid);
#ifdef __cplusplus
}
#endif
#endif
