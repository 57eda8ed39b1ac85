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
 *
 * ADDITIONS (beyond the contract above):
 *
 *   - Models: a Hugging Face folder holding config.json and
 *     model.safetensors (or pytorch_model.bin) of a CLIPModel or a
 *     ChineseCLIPModel, any size config.json can describe (ViT-B/32 ...
 *     ViT-H/14); missing config fields take the transformers defaults.
 *     Tokenizer files (vocab.json + merges.txt, or vocab.txt) are only
 *     needed for text: without them images still work and the text calls
 *     fail with a message. dlut_clip_create_random() builds a model of a
 *     given shape with random weights and no files (benchmarks, tests).
 *   - Preprocessing follows the upstream code of each family: OpenAI
 *     CLIP (clip._transform) resizes the SHORT side to S (the long side to
 *     int(S * long / short)), centre-crops S x S (offsets rounded half to
 *     even, as Python's round), then normalises; Chinese-CLIP
 *     (cn_clip image_transform) resizes straight to S x S, no crop.
 *     Resizing is Pillow's bicubic (antialiased when shrinking), see
 *     dlut/resize.h. dlut_clip_preprocess_u8 is the bit-exact 8-bit path
 *     (what `dlut embed` feeds the model); dlut_clip_preprocess is the same
 *     map in float without the uint8 rounding, differentiable.
 *   - dlut_clip_encode_ids: the text tower on given token ids.
 *   - dlut_clip_image_patch_tokens: the projected patch tokens of the
 *     last encoded image (post-LayerNorm then projection applied to every
 *     patch token, as to the CLS token), for region maps.
 *   - dlut_clip_image_tokens / _backward: the whole projected token set
 *     (CLS + patches, un-normalised) and its gradient to the pixels.
 *   - dlut_clip_activation: named intermediate activations (the names of
 *     the reference cases, e.g. "vision.block0.ln_1_out"), for refcheck.
 *
 * Memory: weights are used in place from the memory-mapped checkpoint
 * (F32) and one activation arena per tower is allocated at load; the
 * encode/backward calls allocate nothing. The vision arena keeps what the
 * backward needs for every layer (residual streams, q/k/v, attention
 * probabilities, MLP pre-activations); see docs/clip.md for sizes.
 */
#ifndef DLUT_CLIP_H
#define DLUT_CLIP_H

#include <stdint.h>

#include "dlut/resize.h"
#include "dlut/tensor.h"

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
  int image_size;     /* S: the vision tower's input side */
  int patch_size;     /* vision patch side */
  int vision_width;   /* vision hidden size */
  int text_width;     /* text hidden size */
  int embed_dim;      /* projection dim: length of image and text embeddings */
  int context_length; /* max text tokens (77 for OpenAI, 52 or 512 for Chinese-CLIP configs) */
  int n_patch_tokens; /* (S/patch)^2 */
  float mean[3];      /* normalisation applied by the processor */
  float std[3];
  float logit_scale; /* exp(logit_scale parameter) */
  const char *name;  /* model folder */
  /* additions */
  int center_crop; /* 1: short side -> S then centre crop (OpenAI); 0: resize to S x S (Chinese-CLIP) */
  int vision_layers, vision_heads, text_layers, text_heads;
} dlut_clip_info;

/* The shape of a model: what config.json describes. Used by
 * dlut_clip_create_random; dlut_clip_load fills one from config.json. */
typedef struct dlut_clip_tower_config {
  int width;        /* hidden size */
  int layers;       /* transformer blocks */
  int heads;        /* attention heads (width % heads == 0) */
  int intermediate; /* MLP hidden size */
  float ln_eps;     /* LayerNorm epsilon */
  dlut_act act;     /* MLP activation */
} dlut_clip_tower_config;

typedef struct dlut_clip_config {
  dlut_clip_family family;
  int image_size, patch_size; /* vision input side and patch side */
  dlut_clip_tower_config vision, text;
  int vocab_size;         /* text vocabulary */
  int max_positions;      /* rows of the text position table */
  int type_vocab_size;    /* BERT token types (Chinese-CLIP); 0 for OpenAI */
  int context_length;     /* tokens the tokenizer produces at most */
  int projection_dim;     /* embed_dim */
  int eos_token_id;       /* OpenAI pooling: first position of this id; 2 = legacy argmax */
  float logit_scale_init; /* log-space logit scale for random models */
} dlut_clip_config;

/* Shapes of the public checkpoints: "ViT-B/32", "ViT-B/16", "ViT-L/14",
 * "ViT-L/14-336" (openai/clip-vit-*), "ViT-H/14" (laion CLIP-ViT-H-14),
 * "CN-ViT-B/16" (OFA-Sys/chinese-clip-vit-base-patch16). 0 or -1. */
int dlut_clip_config_preset(const char *name, dlut_clip_config *cfg);

/* A model of the given shape with deterministic random weights (no
 * tokenizer). NULL on a bad config or no memory. */
dlut_clip *dlut_clip_create_random(const dlut_clip_config *cfg, uint64_t seed);
const dlut_clip_config *dlut_clip_get_config(const dlut_clip *m);

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

/* Text embedding from token ids (as dlut_clip_tokenize returns them).
 * n_ctx >= n_ids is the number of positions the tower runs (the rest padded
 * with id 0 and, for BERT, masked); 0 means n_ids. The embedding does not
 * depend on n_ctx (causal mask / padding mask); the per-position
 * activations do. */
int dlut_clip_encode_ids(dlut_clip *m, const int32_t *ids, int n_ids, int n_ctx, float *embed);

/* logits (n_images, n_texts) = logit_scale * cos(image i, text t), as
 * CLIPModel's logits_per_image; embeddings (n, embed_dim) as returned by
 * the encoders (un-normalised). */
int dlut_clip_logits(const dlut_clip *m, const float *image_embeds, int n_images, const float *text_embeds, int n_texts,
                     float *logits);

/* Projected patch tokens of the last encoded image: out (n_patch_tokens,
 * embed_dim), row-major patches (gy * G + gx). Each is
 * post_layernorm(token) @ visual_projection^T, like the CLS embedding. */
int dlut_clip_image_patch_tokens(dlut_clip *m, float *out);

/* The "full" token set of the last encoded image: out (1 + n_patch_tokens,
 * embed_dim), CLS first (row 0 = the image embedding), then the patches
 * row-major; each row is post_layernorm(token) @ visual_projection^T, NOT
 * L2-normalised (ColorizeDiffusion's post_process(x, "full"); the input of
 * dlut/manip.h). */
int dlut_clip_image_tokens(dlut_clip *m, float *out);
/* Its backward: d_pixels (3,S,S), overwritten, from d_tokens (1 + P,
 * embed_dim) seeded at every token, for the last encoded image. Row 0 of
 * d_tokens is dL/dembed, so one call serves a loss on the embedding and
 * the patch tokens together (dlut_clip_image_backward is the row-0-only
 * case). Uses the same block backward as dlut_clip_image_backward. */
int dlut_clip_image_tokens_backward(dlut_clip *m, const float *d_tokens, float *d_pixels);

/* Keep every intermediate activation of every layer (for
 * dlut_clip_activation; costs memory). Reallocates the arenas. */
int dlut_clip_set_keep_activations(dlut_clip *m, int on);
/* A named activation of the last encode_image / encode_text call, in the
 * reference cases' naming ("vision.embeddings", "vision.block3.mlp_act",
 * "text.block0_out", "text.pooled", "image_embeds", ...). Returns the
 * data and its element count, or NULL (unknown name, not computed yet, or
 * per-layer internals without keep_activations). */
const float *dlut_clip_activation(const dlut_clip *m, const char *name, int64_t *count);

/* Bit-exact 8-bit preprocessing as the upstream processor (Pillow bicubic
 * on uint8, crop, /255, normalise in float32): rgb (h, w, 3) uint8. */
int dlut_clip_preprocess_u8(const dlut_clip_info *info, const uint8_t *rgb, int w, int h, float *pixels);
/* The size the image is resized to before the crop. */
void dlut_clip_preprocess_size(const dlut_clip_info *info, int w, int h, int *rw, int *rh, int *top, int *left);

/* Differentiable preprocessing: rgb (h, w, 3) in [0,1] -> pixels (3,S,S). */
int dlut_clip_preprocess(const dlut_clip_info *info, const float *rgb, int w, int h, float *pixels);
/* Backward: d_pixels (3,S,S) -> d_rgb (h, w, 3), overwritten. */
int dlut_clip_preprocess_backward(const dlut_clip_info *info, int w, int h, const float *d_pixels, float *d_rgb);

/* The same two with a scratch (the resized image and the resize's own
 * scratch) that grows on demand and is kept: reserved for every size a
 * loop will use, they allocate nothing. Bit-identical to the plain forms.
 * Zeroed (init) a scratch is empty; one call at a time. */
typedef struct dlut_clip_prep_scratch {
  float *tmp;             /* the image resized before the crop (rh, rw, 3) */
  size_t tmp_bytes;       /* capacity of tmp */
  dlut_resize_scratch rs; /* the resize's coefficients and intermediate image */
} dlut_clip_prep_scratch;

void dlut_clip_prep_scratch_init(dlut_clip_prep_scratch *s);
/* Grow s for the forward and backward of a w x h image. 0, or -1 (bad size,
 * no memory; s keeps what it had). */
int dlut_clip_prep_scratch_reserve(dlut_clip_prep_scratch *s, const dlut_clip_info *info, int w, int h);
void dlut_clip_prep_scratch_free(dlut_clip_prep_scratch *s);
int dlut_clip_preprocess_ws(const dlut_clip_info *info, const float *rgb, int w, int h, float *pixels,
                            dlut_clip_prep_scratch *s);
int dlut_clip_preprocess_backward_ws(const dlut_clip_info *info, int w, int h, const float *d_pixels, float *d_rgb,
                                     dlut_clip_prep_scratch *s);

#ifdef __cplusplus
}
#endif
#endif
