/* dlut/manip.h - ColorizeDiffusion's zero-shot text manipulation of CLIP
 * image tokens (global: the CLS token; local: the patch tokens, weighted
 * by the position weight map), its control map and its heatmap.
 *
 * WHAT IT COMPUTES (tellurion-kanata/colorizeDiffusion, refnet/sampling/
 * manipulation.py: global_manipulate_step, local_manipulate_step,
 * compute_pwv, get_heatmaps; backend/functool.py: visualize_heatmaps), on
 * the "full" token set v of one image, (1 + P, E): CLS first, then P patch
 * tokens, each ln_post(x) @ proj, NOT L2-normalised
 * (dlut_clip_image_tokens). t, a, c: target, anchor and control text
 * embeddings, L2-normalised (dlut_manip_text). '.' = dot product.
 *
 *   global step (v = the CLS row, edited in place, no renormalisation):
 *     no anchor, enhance 0:   v' = v + (s - v.t) t      (v'.t = s exactly)
 *     no anchor, enhance 1:   v' = v + s t
 *     anchor a,  enhance 0:   v' = v + s (t - a)
 *     anchor a,  enhance 1:   v' = v - (v.a) a + s t
 *   local step (CLS unchanged; l = the patch tokens):
 *     cur = cls.t;  c_map = l.c (P);  m = (c_map - min) / (max - min)
 *     no anchor:        dscale = s - cur;      l' = l + pwm t
 *     anchor, enh. 0:   dscale = s - cur;      l' = l + pwm (t - a)
 *     anchor, enh. 1:   dscale = s - cls.a;    l' = l + (pwm + l.a) (t - a)
 *     (enhance is ignored without an anchor, as upstream)
 *   pwm = piecewise weights of m (compute_pwv, ratio r = 2, thresholds
 *   t0 < t1 < t2 < t3, defaults 0.5 0.55 0.65 0.95):
 *     m <= t0: -r dscale;   t0 < m <= t1: -dscale + dscale (m - t0)/(t1 - t0);
 *     t1 < m <= t2: 0.5 dscale (m - t1)/(t2 - t1);
 *     t2 < m <= t3: 0.5 dscale + 0.5 dscale (m - t2)/(t3 - t2);  m > t3: dscale
 *   "everything" (control NULL): pwm = dscale for every token. Upstream wrote
 *   this branch (c == "everything") but cannot reach it (c is always an
 *   encoded tensor there); the reference data's extension cases show it.
 *
 * A sequence of edits is applied in order, each step seeing the tokens the
 * previous one produced. The steps apply their formula for any s, s = 0
 * included (as the upstream functions do); the upstream pipeline skips
 * manipulation entirely unless some s > 0 (check_manipulate):
 * dlut_manip_applies says whether it would.
 *
 * UNITS: s is in the units of the un-normalised projected token (what
 * v.t measures), so an s means what it means in ColorizeDiffusion for the
 * same model (its UI offers 0..15 for ViT-H/14).
 *
 * MEMORY AND ERRORS: every array is the caller's; the step functions
 * allocate only small scratch (3 P floats). They return 0, or -1 with
 * dlut_last_error() set (bad sizes, NaN input, a constant control map:
 * m = 0/0 upstream, refused here).
 */
#ifndef DLUT_MANIP_H
#define DLUT_MANIP_H

#include "dlut/clip.h"
#include "dlut/image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One manipulation line: target / anchor / control / scale / enhance /
 * thresholds, as a row of ColorizeDiffusion's manipulation prompt. */
typedef struct dlut_manip_edit {
  const float *target;  /* t (E), unit length; required */
  const float *anchor;  /* a (E), unit length, or NULL = no anchor */
  const float *control; /* c (E), unit length, local steps only; NULL = the "everything" branch */
  float scale;          /* s */
  int enhance;          /* 0 / 1 */
  float thresholds[4];  /* t0..t3 of the PWM (local only); all 0 = the defaults */
  float ratio;          /* weight of the m <= t0 branch (local only); 0 = 2 */
} dlut_manip_edit;

/* Defaults: scale 0, enhance 0, thresholds 0.5 0.55 0.65 0.95, ratio 2;
 * target/anchor/control NULL. */
void dlut_manip_edit_init(dlut_manip_edit *e);

/* What a local step computed (any pointer may be NULL; arrays are (P)). */
typedef struct dlut_manip_trace {
  double cur;          /* cls . t ('cur_target_scale') */
  double anchor_scale; /* cls . a (0 without an anchor) */
  double dscale;       /* the step's dscale */
  float *c_map;        /* l . c (NULL control: still not computed) */
  float *a_map;        /* l . a (anchor only) */
  float *m;            /* normalised control map */
  float *pwm;          /* the weight each token got */
} dlut_manip_trace;

/* Text embedding, L2-normalised (E = embed_dim floats), as the original's
 * encode_text(normalize=True). */
int dlut_manip_text(dlut_clip *model, const char *text, float *out);

/* 1 if ColorizeDiffusion's pipeline would manipulate at all (some s > 0). */
int dlut_manip_applies(const dlut_manip_edit *edits, int n);

/* Global step on the CLS row v (E), in place. */
int dlut_manip_global_step(float *v, int E, const dlut_manip_edit *e);
/* A sequence, in order (no gate: see dlut_manip_applies). */
int dlut_manip_global(float *v, int E, const dlut_manip_edit *edits, int n);

/* c_map (P) = l . c for the patch rows of tokens (1 + P, E). */
int dlut_manip_control_map(const float *tokens, int P, int E, const float *c, float *c_map);
/* Per-image [0,1] normalisation: m = (map - min) / (max - min). -1 if the
 * map is constant or not finite. */
int dlut_manip_normalize(const float *map, int P, float *m);
/* compute_pwv: pwm (P) from the RAW control map c_map (normalised inside,
 * as upstream), dscale, thresholds (NULL = defaults) and ratio (0 = 2).
 * m_out (P) receives the normalised map if not NULL. */
int dlut_manip_pwm(const float *c_map, int P, double dscale, const float *thresholds, float ratio, float *pwm,
                   float *m_out);
/* Local step on tokens (1 + P, E), in place (row 0 untouched). */
int dlut_manip_local_step(float *tokens, int P, int E, const dlut_manip_edit *e, dlut_manip_trace *trace);
/* A sequence, in order. */
int dlut_manip_local(float *tokens, int P, int E, const dlut_manip_edit *edits, int n);

/* ==== Maps of a photo ==== */

/* The patch-grid map of a text on a photo: the photo resized straight to
 * the model's S x S (no centre crop, as ColorizeDiffusion's embedder, so
 * the grid covers the whole frame), its full token set, then `edits`
 * (local steps, may be NULL / 0, as get_heatmaps applies them first), then
 * map = l . unit(text), normalised to [0,1]. map (G*G) row-major (gy * G +
 * gx), G = image_size / patch_size; raw (G*G) gets the un-normalised
 * l . c if not NULL. The model's last-image activations are overwritten. */
int dlut_manip_text_map(dlut_clip *model, const dlut_image *photo, const char *text, const dlut_manip_edit *edits,
                        int n_edits, float *map, float *raw);

/* The heatmap as the original draws it (visualize_heatmaps): the G x G map
 * upsampled to the photo by bicubic interpolation (PyTorch's
 * F.interpolate(mode="bicubic"), a = -0.75, half-pixel centres), normalised
 * to [0,1] over the pixels, a level of 0.25 (63 in 8 bits) added for each
 * threshold the pixel reaches (thresholds NULL = 0.5 0.55 0.65 0.95), JET
 * colour map, blended 0.3 photo + 0.7 heat, and black lines on the token
 * grid. Photos larger than 4096 on a side are drawn at 4096 (as upstream).
 * Returns a new 8-bit RGB image (caller frees) or NULL. */
dlut_image *dlut_manip_heatmap(const dlut_image *photo, const float *map, int G, const float *thresholds);

/* The bicubic upsampling alone: src (G, G) -> dst (h, w), as above. */
int dlut_manip_upsample(const float *src, int G, float *dst, int w, int h);

#ifdef __cplusplus
}
#endif
#endif
