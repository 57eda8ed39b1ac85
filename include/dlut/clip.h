/* dlut/clip.h - CLIP models (OpenAI CLIP and Chinese-CLIP) in C: load a
 * Hugging Face model folder, embed images and texts, and differentiate an
 * image embedding back to the pixels.
 *
 * CONTRACT (the grading engine codes against these; the CLIP engine owns
 * this header and may add to it, but keeps these meanings):
 *
 *   dlut_clip *m = dlut_clip_load("models/openai-clip-vit-base-patch32");
 *   const dlut_clip_info *info = dlut_clip_get_info(m);
 *   float t[info->embed_dim], e[info->embed_dim];
 *   dlut_clip_encode_text(m, "warm sunset film", t);        // projected, not normalised
 *   // pixels: (3, S, S) planar, already normalised with info->mean/std,
 *   // S = info->image_size, as the upstream processor produces them
 *   dlut_clip_encode_image(m, pixels, e);                   // projected, not normalised
 *   dlut_clip_image_backward(m, dL_de, dL_dpixels);         // uses the last encode_image's activations
 *   dlut_clip_free(m);
 *
 * Differentiable preprocessing: dlut_clip_preprocess takes an RGB float
 * image in [0,1] (H, W, 3 interleaved) of any size and produces the
 * model's (3, S, S) input exactly as the upstream processor would (bicubic
 * resize of the short side to S, centre crop, normalise); its backward
 * maps dL/dpixels back to dL/drgb.
 *
 * Threading: a dlut_clip holds its own activation arena; calls on one
 * model must not run concurrently. Errors: NULL / -1 with
 * dlut_last_error() set (naming the file or tensor).
 */
#ifndef DLUT_CLIP_H
#define DLUT_CLIP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlut_clip dlut_clip;

typedef enum dlut_clip_family {
  DLUT_CLIP_OPENAI = 1,  /* CLIPModel: BPE tokenizer, causal text transformer, EOT pooling */
  DLUT_CLIP_CHINESE = 2, /* ChineseCLIPModel: WordPiece tokenizer, BERT text tower, [CLS] pooling */
} dlut_clip_family;

typedef struct dlut_clip_info {
  dlut_clip_family family;
  int image_size;      /* S: the vision tower's input side */
  int patch_size;      /* vision patch side */
  int vision_width;    /* vision hidden size */
  int text_width;      /* text hidden size */
  int embed_dim;       /* projection dim: length of image and text embeddings */
  int context_length;  /* max text tokens (77 for OpenAI, 52 or 512 for Chinese-CLIP configs) */
  int n_patch_tokens;  /* (S/patch)^2 */
  float mean[3];       /* normalisation applied by the processor */
  float std[3];
  float logit_scale;   /* exp(logit_scale parameter) */
  const char *name;    /* model folder */
} dlut_clip_info;

dlut_clip *dlut_clip_load(const char *model_dir);
void dlut_clip_free(dlut_clip *m);
const dlut_clip_info *dlut_clip_get_info(const dlut_clip *m);

/* Token ids the text tower receives, with special tokens and truncation as
 * upstream, without padding. Returns the count (<= max_ids) or -1. */
int dlut_clip_tokenize(const dlut_clip *m, const char *text, int32_t *ids, int max_ids);

/* Text embedding (embed_dim floats, projected, not normalised). */
int dlut_clip_encode_text(dlut_clip *m, const char *text, float *embed);

/* Image embedding of one preprocessed image (3,S,S). Keeps the activations
 * for dlut_clip_image_backward. */
int dlut_clip_encode_image(dlut_clip *m, const float *pixels, float *embed);

/* dL/dpixels (3,S,S) from dL/dembed (embed_dim), for the last encoded image.
 * No weight gradients are computed. */
int dlut_clip_image_backward(dlut_clip *m, const float *d_embed, float *d_pixels);

/* Differentiable preprocessing: rgb (h, w, 3) in [0,1] -> pixels (3,S,S). */
int dlut_clip_preprocess(const dlut_clip_info *info, const float *rgb, int w, int h, float *pixels);
/* Backward: d_pixels (3,S,S) -> d_rgb (h, w, 3), overwritten. */
int dlut_clip_preprocess_backward(const dlut_clip_info *info, int w, int h, const float *d_pixels, float *d_rgb);

#ifdef __cplusplus
}
#endif
#endif
