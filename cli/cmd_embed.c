/* `dlut embed`: CLIP image and text embeddings as JSON, with the model's
 * own preprocessing (Pillow-exact 8-bit resize, crop, normalise) and
 * tokenizer. Embeddings are printed before normalisation, as the model's
 * projections return them; logits are logit_scale * cosine similarity,
 * as CLIPModel's logits_per_image. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/image.h"

#define CMD "embed"

static void usage(FILE *f) {
  fprintf(f,
          "usage: dlut embed [--model DIR] [--image FILE]... [--text TEXT]... [--patch-tokens]\n"
          "\n"
          "Prints the CLIP embeddings of images and texts as JSON:\n"
          "  {\"image_embeds\": [[...]], \"text_embeds\": [[...]], \"logits_per_image\": [[...]]}\n"
          "one row per --image / --text in the order given. Embeddings are the projected\n"
          "vectors before normalisation; logits_per_image[i][t] = logit_scale * cos(image i,\n"
          "text t), as in Hugging Face CLIPModel (present when both kinds are given).\n"
          "\n"
          "options:\n"
          "  --model DIR    Hugging Face CLIP or Chinese-CLIP folder (config.json, weights,\n"
          "                 tokenizer files); default $DLUT_MODEL\n"
          "  --image FILE   JPEG, PNG, WebP, TIFF or PPM; resized with Pillow's bicubic,\n"
          "                 centre-cropped (OpenAI CLIP) or squashed to the input size\n"
          "                 (Chinese-CLIP), as the upstream preprocessing does (repeatable)\n"
          "  --text TEXT    a sentence, any language the model's tokenizer knows (repeatable)\n"
          "  --patch-tokens also print \"patch_tokens\": per image, (G*G) rows of embed_dim, the\n"
          "                 patch tokens after the post-LayerNorm and the projection (row-major\n"
          "                 patches), comparable with text embeddings for region maps\n"
          "\n"
          "example:\n"
          "  dlut embed --model models/clip-vit-base-patch32 --image photo.jpg \\\n"
          "             --text \"warm sunset film\" --text \"cold teal night\"\n");
}

/* [[...], ...] rows of cols floats; %.9g round-trips float32. */
static void print_matrix(const float *v, int rows, int cols, const char *indent) {
  printf("[");
  for (int r = 0; r < rows; r++) {
    printf("%s\n%s  [", r ? "," : "", indent);
    for (int c = 0; c < cols; c++) printf("%s%.9g", c ? ", " : "", v[(size_t)r * cols + c]);
    printf("]");
  }
  printf("%s]", rows ? "\n" : "");
  if (rows) printf("%s", indent);
}

static void print_rows(const char *key, const float *v, int rows, int cols, int last) {
  printf("  \"%s\": ", key);
  print_matrix(v, rows, cols, "  ");
  printf("%s\n", last ? "" : ",");
}

/* JSON has no NaN or Inf: a damaged model must not print "nan". */
static int all_finite(const float *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* Load an image file into the model's (3,S,S) input. */
static int image_pixels(const dlut_clip_info *info, const char *path, float *pixels) {
  dlut_image *img = dlut_image_load(path), *rgb = NULL;
  uint8_t *packed = NULL;
  int rc = -1;
  if (!img) return -1;
  if (!(rgb = dlut_image_convert(img, 3, DLUT_PIXEL_U8))) goto done;
  if (!(packed = malloc((size_t)rgb->width * rgb->height * 3))) {
    dlut_error("%s: out of memory", path);
    goto done;
  }
  for (int y = 0; y < rgb->height; y++)
    memcpy(packed + (size_t)y * rgb->width * 3, dlut_image_pixel(rgb, 0, y), (size_t)rgb->width * 3);
  rc = dlut_clip_preprocess_u8(info, packed, rgb->width, rgb->height, pixels);
  if (rc != 0) dlut_error_prefix(path);
done:
  free(packed);
  dlut_image_free(rgb);
  dlut_image_free(img);
  return rc;
}

int dlut_cmd_embed(int argc, char **argv) {
  const char *model = getenv("DLUT_MODEL");
  const char **images = calloc((size_t)argc, sizeof *images), **texts = calloc((size_t)argc, sizeof *texts);
  int ni = 0, nt = 0, status = DLUT_EXIT_FAIL, patches = 0;
  dlut_clip *m = NULL;
  float *ie = NULL, *te = NULL, *pix = NULL, *logits = NULL, *tok = NULL;
  if (!images || !texts) {
    status = cli_fail(CMD, "out of memory");
    goto done;
  }
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      usage(stdout);
      status = DLUT_EXIT_OK;
      goto done;
    }
    int has_val = i + 1 < argc;
    if (strcmp(argv[i], "--model") == 0 && has_val)
      model = argv[++i];
    else if (strcmp(argv[i], "--image") == 0 && has_val)
      images[ni++] = argv[++i];
    else if (strcmp(argv[i], "--text") == 0 && has_val)
      texts[nt++] = argv[++i];
    else if (strcmp(argv[i], "--patch-tokens") == 0)
      patches = 1;
    else if (strcmp(argv[i], "--model") == 0 || strcmp(argv[i], "--image") == 0 || strcmp(argv[i], "--text") == 0) {
      status = cli_usage(CMD, "%s needs a value", argv[i]);
      goto done;
    } else {
      status = cli_usage(CMD, "unexpected argument '%s'", argv[i]);
      goto done;
    }
  }
  if (!model || !*model) {
    status = cli_usage(CMD, "no model: give --model DIR or set DLUT_MODEL");
    goto done;
  }
  if (ni + nt == 0) {
    status = cli_usage(CMD, "nothing to embed: give --image and/or --text");
    goto done;
  }
  if (!(m = dlut_clip_load(model))) {
    status = cli_fail(CMD, "%s", dlut_last_error());
    goto done;
  }
  const dlut_clip_info *info = dlut_clip_get_info(m);
  int E = info->embed_dim, S = info->image_size;
  ie = calloc((size_t)ni * E + 1, sizeof *ie);
  te = calloc((size_t)nt * E + 1, sizeof *te);
  pix = malloc(sizeof *pix * 3 * (size_t)S * S);
  logits = calloc((size_t)ni * nt + 1, sizeof *logits);
  size_t tok_n = patches ? (size_t)ni * info->n_patch_tokens * E : 0;
  tok = malloc(sizeof *tok * (tok_n + 1));
  if (!ie || !te || !pix || !logits || !tok) {
    status = cli_fail(CMD, "out of memory");
    goto done;
  }
  for (int i = 0; i < ni; i++)
    if (image_pixels(info, images[i], pix) != 0 || dlut_clip_encode_image(m, pix, ie + (size_t)i * E) != 0 ||
        (patches && dlut_clip_image_patch_tokens(m, tok + (size_t)i * info->n_patch_tokens * E) != 0)) {
      status = cli_fail(CMD, "%s", dlut_last_error());
      goto done;
    }
  for (int t = 0; t < nt; t++)
    if (dlut_clip_encode_text(m, texts[t], te + (size_t)t * E) != 0) {
      status = cli_fail(CMD, "text %d: %s", t + 1, dlut_last_error());
      goto done;
    }
  dlut_clip_logits(m, ie, ni, te, nt, logits);
  if (!all_finite(ie, (size_t)ni * E) || !all_finite(te, (size_t)nt * E) || !all_finite(logits, (size_t)ni * nt) ||
      !all_finite(tok, tok_n)) {
    status = cli_fail(CMD, "%s: the model gives NaN or Inf: its weights are damaged", model);
    goto done;
  }
  printf("{\n");
  print_rows("image_embeds", ie, ni, E, 0);
  print_rows("text_embeds", te, nt, E, 0);
  print_rows("logits_per_image", logits, ni, nt, !patches);
  if (patches) {
    printf("  \"patch_tokens\": [");
    for (int i = 0; i < ni; i++) {
      printf("%s\n    ", i ? "," : "");
      print_matrix(tok + (size_t)i * info->n_patch_tokens * E, info->n_patch_tokens, E, "    ");
    }
    printf("%s]\n", ni ? "\n  " : "");
  }
  printf("}\n");
  status = fflush(stdout) == 0 ? DLUT_EXIT_OK : cli_fail(CMD, "cannot write the output");
done:
  free(images), free(texts), free(ie), free(te), free(pix), free(logits), free(tok);
  dlut_clip_free(m);
  return status;
}
