/* `dlut refcheck CASE_DIR`: run a reference case (a Hugging Face model
 * folder with images/, texts.json and ref/ arrays made by the upstream
 * code) through the same code a user's model takes, and compare every
 * array that ref/index.json lists. Driven entirely by index.json, so cases
 * of any size work. Exit 0 if every array is within tolerance, 1 if not. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "clip/clip_npy.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/resize.h"
#include "refcheck_manip.h"
#include <sys/stat.h>

#define CMD "refcheck"
#define MAX_ITEMS 256

static void usage(FILE *f) {
  fprintf(f,
          "usage: dlut refcheck [OPTIONS] CASE_DIR\n"
          "\n"
          "Checks the CLIP engine against a reference case made by the upstream code\n"
          "(openai/CLIP or OFA-Sys/Chinese-CLIP). CASE_DIR is a Hugging Face model folder\n"
          "(config.json, model.safetensors or pytorch_model.bin, tokenizer files) that also\n"
          "holds images/, texts.json and ref/ (index.json plus .npy arrays). The model is\n"
          "loaded with dlut_clip_load, the images go through the 8-bit preprocessing, the\n"
          "texts through the tokenizer, and every array listed in ref/index.json is\n"
          "recomputed and compared: token ids, masks and uint8 pixels exactly, floats by\n"
          "relative error max|ours - ref| / max|ref| per array. Gradients are those of\n"
          "loss_i = 1 - cos(image_embeds[i], text_embeds[0]) with respect to the model\n"
          "input (grad_pixel_values) and the [0,1] RGB image (grad_rgb01).\n"
          "\n"
          "options:\n"
          "  --tol X        tolerance for embeddings, activations, logits (default 1e-4)\n"
          "  --grad-tol X   tolerance for gradients, names starting with grad_ (default 1e-3)\n"
          "  --f32          compare with ref/f32 (the upstream float32 run) instead of ref/f64\n"
          "  -q, --quiet    print only failures and the summary\n"
          "\n"
          "Where the folder has ref/manipulation/ (ColorizeDiffusion's text manipulation,\n"
          "computed by its own functions), every case its index.json lists is run from\n"
          "the stored inputs through dlut/manip.h and each intermediate and output is\n"
          "compared with --tol; one line per case id gives its worst relative error.\n"
          "\n"
          "Prints one line per array (status, worst relative error, tolerance) and exits\n"
          "0 when all pass, 1 when any array misses or cannot be computed, 2 on usage errors.\n"
          "\n"
          "example:\n"
          "  dlut refcheck ../shared/data/clip-ref/openai_tiny\n");
}

/* ==== computed arrays, by name ==== */

typedef struct {
  char name[128];
  double *v;
  int64_t n, cap;
} arr;

typedef struct {
  arr *a;
  int n, cap;
} arrs;

static arr *arr_get(arrs *s, const char *name) {
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->a[i].name, name) == 0) return &s->a[i];
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 64;
    arr *na = realloc(s->a, sizeof *na * (size_t)cap);
    if (!na) return NULL;
    s->a = na, s->cap = cap;
  }
  arr *a = &s->a[s->n++];
  memset(a, 0, sizeof *a);
  snprintf(a->name, sizeof a->name, "%s", name);
  return a;
}

static int arr_push(arrs *s, const char *name, const float *f, const double *d, int64_t n) {
  arr *a = arr_get(s, name);
  if (!a) return -1;
  if (a->n + n > a->cap) {
    int64_t cap = (a->n + n) * 2;
    double *nv = realloc(a->v, sizeof *nv * (size_t)cap);
    if (!nv) return -1;
    a->v = nv, a->cap = cap;
  }
  for (int64_t i = 0; i < n; i++) a->v[a->n + i] = f ? f[i] : d[i];
  a->n += n;
  return 0;
}

static void arrs_free(arrs *s) {
  for (int i = 0; i < s->n; i++) free(s->a[i].v);
  free(s->a);
}

/* ==== helpers ==== */

static cJSON *read_json(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t sz;
  char *txt = dlut_file_read_all(path, 64 << 20, &sz);
  if (!txt) return NULL;
  cJSON *j = cJSON_Parse(txt);
  free(txt);
  if (!j) dlut_error("%s: not valid JSON", path);
  return j;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Image files, in the order of reference_summary.json's "images" or else
 * sorted by name. Returns the count; names are malloc'd. */
static int list_images(const char *dir, char **out, int max) {
  int n = 0;
  cJSON *sum = read_json(dir, "reference_summary.json");
  const cJSON *ims = sum ? cJSON_GetObjectItemCaseSensitive(sum, "images") : NULL;
  if (cJSON_IsArray(ims)) {
    const cJSON *it;
    cJSON_ArrayForEach(it, ims) {
      const cJSON *f = cJSON_GetObjectItemCaseSensitive(it, "file");
      if (cJSON_IsString(f) && n < max) {
        size_t len = strlen(dir) + strlen(f->valuestring) + 2;
        out[n] = malloc(len);
        if (out[n]) snprintf(out[n++], len, "%s/%s", dir, f->valuestring);
      }
    }
    cJSON_Delete(sum);
    return n;
  }
  cJSON_Delete(sum);
  char path[4096];
  snprintf(path, sizeof path, "%s/images", dir);
  DIR *d = opendir(path);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < max) {
    if (e->d_name[0] == '.') continue;
    size_t len = strlen(path) + strlen(e->d_name) + 2;
    out[n] = malloc(len);
    if (out[n]) snprintf(out[n++], len, "%s/%s", path, e->d_name);
  }
  closedir(d);
  qsort(out, (size_t)n, sizeof *out, cmp_str);
  return n;
}

static double norm(const float *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
  return sqrt(s);
}

/* ==== the run ==== */

typedef struct {
  const char *dir;
  dlut_clip *m;
  const dlut_clip_info *info;
  cJSON *index;
  const cJSON *prec; /* index["f64"] or ["f32"] */
  arrs out;
  int n_img, n_txt, ctx;
  float *img_emb, *txt_emb; /* (N, E), (T, E) */
  float **pixels;           /* N x (3,S,S) */
} run_t;

/* Append every activation named in the index with this prefix. */
static int collect(run_t *r, const char *prefix, const char *embed_name) {
  const cJSON *it;
  size_t pl = strlen(prefix);
  cJSON_ArrayForEach(it, r->prec) {
    const char *name = it->string;
    if (strncmp(name, prefix, pl) != 0 && strcmp(name, embed_name) != 0) continue;
    int64_t n = 0;
    const float *v = dlut_clip_activation(r->m, name, &n);
    if (!v) continue; /* reported as "not computed" later */
    if (arr_push(&r->out, name, v, NULL, n) != 0) return dlut_error("out of memory");
  }
  return 0;
}

static int run_texts(run_t *r) {
  cJSON *texts = read_json(r->dir, "texts.json");
  if (!texts) return -1;
  int rc = -1, E = r->info->embed_dim, S = r->ctx;
  int32_t *ids = calloc((size_t)S, sizeof *ids);
  double *row = calloc((size_t)S, sizeof *row);
  r->n_txt = cJSON_GetArraySize(texts);
  r->txt_emb = calloc((size_t)(r->n_txt ? r->n_txt : 1) * E, sizeof(float));
  if (!ids || !row || !r->txt_emb || !cJSON_IsArray(texts)) {
    dlut_error("texts.json: not a list, or out of memory");
    goto done;
  }
  for (int t = 0; t < r->n_txt; t++) {
    const cJSON *s = cJSON_GetArrayItem(texts, t);
    if (!cJSON_IsString(s)) {
      dlut_error("texts.json: item %d is not a string", t);
      goto done;
    }
    int n = dlut_clip_tokenize(r->m, s->valuestring, ids, S);
    if (n < 0) goto done;
    for (int i = 0; i < S; i++) row[i] = i < n ? ids[i] : 0;
    if (arr_push(&r->out, "input_ids", NULL, row, S) != 0) goto done;
    for (int i = 0; i < S; i++) row[i] = i < n;
    if (arr_push(&r->out, "attention_mask", NULL, row, S) != 0) goto done;
    int eot = 0;
    for (int i = 1; i < n; i++)
      if (ids[i] > ids[eot]) eot = i;
    double e = eot;
    if (arr_push(&r->out, "eot_index", NULL, &e, 1) != 0) goto done;
    if (dlut_clip_encode_ids(r->m, ids, n, S, r->txt_emb + (size_t)t * E) != 0) goto done;
    if (collect(r, "text.", "text_embeds") != 0) goto done;
  }
  rc = 0;
done:
  free(ids);
  free(row);
  cJSON_Delete(texts);
  return rc;
}

static int run_images(run_t *r) {
  char *files[MAX_ITEMS];
  int S = r->info->image_size, E = r->info->embed_dim, rc = -1;
  size_t SS = (size_t)S * S;
  r->n_img = list_images(r->dir, files, MAX_ITEMS);
  if (r->n_img == 0) return dlut_error("%s: no images", r->dir);
  r->img_emb = calloc((size_t)r->n_img * E, sizeof(float));
  r->pixels = calloc((size_t)r->n_img, sizeof *r->pixels);
  double *tmpd = malloc(sizeof(double) * 3 * SS);
  if (!r->img_emb || !r->pixels || !tmpd) {
    dlut_error("out of memory");
    goto done;
  }
  for (int i = 0; i < r->n_img; i++) {
    dlut_image *img = dlut_image_load(files[i]), *rgb = NULL;
    if (!img) goto done;
    rgb = dlut_image_convert(img, 3, DLUT_PIXEL_U8);
    dlut_image_free(img);
    if (!rgb) goto done;
    int w = rgb->width, h = rgb->height, rw, rh, top, left;
    uint8_t *packed = malloc((size_t)w * h * 3);
    r->pixels[i] = malloc(sizeof(float) * 3 * SS);
    if (!packed || !r->pixels[i]) {
      free(packed);
      dlut_image_free(rgb);
      dlut_error("out of memory");
      goto done;
    }
    for (int y = 0; y < h; y++) memcpy(packed + (size_t)y * w * 3, dlut_image_pixel(rgb, 0, y), (size_t)w * 3);
    dlut_image_free(rgb);
    /* the intermediate uint8 arrays, recomputed with the same resize */
    dlut_clip_preprocess_size(r->info, w, h, &rw, &rh, &top, &left);
    uint8_t *rs = malloc((size_t)rw * rh * 3);
    double *rsd = malloc(sizeof(double) * (size_t)rw * rh * 3);
    int ok = rs && rsd && dlut_resize_u8(packed, w, h, 3, rs, rw, rh) == 0;
    if (ok) {
      char name[64];
      snprintf(name, sizeof name, "image%d_resized_uint8", i);
      for (size_t k = 0; k < (size_t)rw * rh * 3; k++) rsd[k] = rs[k];
      ok = arr_push(&r->out, name, NULL, rsd, (int64_t)rw * rh * 3) == 0;
      for (int y = 0; y < S && ok; y++)
        for (int x = 0; x < S; x++)
          for (int c = 0; c < 3; c++)
            tmpd[((size_t)y * S + x) * 3 + c] = rs[((size_t)(y + top) * rw + x + left) * 3 + c];
      if (ok) ok = arr_push(&r->out, "pixel_uint8", NULL, tmpd, 3 * (int64_t)SS) == 0;
    }
    free(rsd);
    if (ok) ok = dlut_clip_preprocess_u8(r->info, packed, w, h, r->pixels[i]) == 0;
    if (ok) { /* rgb01 (3,S,S): ToTensor output, reconstructed from the uint8 crop */
      for (int c = 0; c < 3; c++)
        for (int y = 0; y < S; y++)
          for (int x = 0; x < S; x++)
            tmpd[(size_t)c * SS + (size_t)y * S + x] = (float)rs[((size_t)(y + top) * rw + x + left) * 3 + c] / 255.0f;
      ok = arr_push(&r->out, "rgb01", NULL, tmpd, 3 * (int64_t)SS) == 0 &&
           arr_push(&r->out, "pixel_values", r->pixels[i], NULL, 3 * (int64_t)SS) == 0;
    }
    free(rs);
    free(packed);
    if (!ok) goto done;
    if (dlut_clip_encode_image(r->m, r->pixels[i], r->img_emb + (size_t)i * E) != 0) goto done;
    if (collect(r, "vision.", "image_embeds") != 0) goto done;
  }
  rc = 0;
done:
  for (int i = 0; i < r->n_img; i++) free(files[i]);
  free(tmpd);
  return rc;
}

/* loss_i = 1 - cos(e_i, t_0) and its gradients to the pixels. */
static int run_grads(run_t *r) {
  int S = r->info->image_size, E = r->info->embed_dim, rc = -1;
  size_t SS = (size_t)S * S;
  float *de = malloc(sizeof(float) * (size_t)E), *dpix = malloc(sizeof(float) * 3 * SS);
  float *drgb = malloc(sizeof(float) * 3 * SS), *tmp = malloc(sizeof(float) * (size_t)E);
  float *dchw = malloc(sizeof(float) * 3 * SS);
  if (!de || !dpix || !drgb || !tmp || !dchw) {
    dlut_error("out of memory");
    goto done;
  }
  const float *t = r->txt_emb;
  double nt = norm(t, E);
  for (int i = 0; i < r->n_img; i++) {
    const float *e = r->img_emb + (size_t)i * E;
    double ne = norm(e, E), dot = 0;
    for (int k = 0; k < E; k++) dot += (double)e[k] * t[k];
    double cs = dot / (ne * nt), loss = 1.0 - cs;
    if (arr_push(&r->out, "loss", NULL, &loss, 1) != 0) goto done;
    for (int k = 0; k < E; k++) de[k] = (float)(-(t[k] / (ne * nt) - cs * e[k] / (ne * ne)));
    /* the backward uses the last encoded image's activations */
    if (dlut_clip_encode_image(r->m, r->pixels[i], tmp) != 0) goto done;
    if (dlut_clip_image_backward(r->m, de, dpix) != 0) goto done;
    if (arr_push(&r->out, "grad_pixel_values", dpix, NULL, 3 * (int64_t)SS) != 0) goto done;
    /* through the differentiable preprocessing of an S x S image (resize
     * and crop are the identity there, as for the reference's rgb01) */
    if (dlut_clip_preprocess_backward(r->info, S, S, dpix, drgb) != 0) goto done;
    for (int c = 0; c < 3; c++)
      for (size_t yx = 0; yx < SS; yx++) dchw[(size_t)c * SS + yx] = drgb[yx * 3 + c];
    if (arr_push(&r->out, "grad_rgb01", dchw, NULL, 3 * (int64_t)SS) != 0) goto done;
  }
  rc = 0;
done:
  free(de), free(dpix), free(drgb), free(tmp), free(dchw);
  return rc;
}

static int run_derived(run_t *r) {
  int E = r->info->embed_dim, N = r->n_img, T = r->n_txt;
  double ls = r->info->logit_scale;
  if (arr_push(&r->out, "logit_scale_exp", NULL, &ls, 1) != 0) return -1;
  double *li = malloc(sizeof(double) * (size_t)(N * T + 1)), *lt = malloc(sizeof(double) * (size_t)(N * T + 1));
  double *nv = malloc(sizeof(double) * (size_t)E);
  if (!li || !lt || !nv) {
    free(li), free(lt), free(nv);
    return dlut_error("out of memory");
  }
  for (int i = 0; i < N; i++) {
    const float *e = r->img_emb + (size_t)i * E;
    double ne = norm(e, E);
    for (int k = 0; k < E; k++) nv[k] = e[k] / ne;
    arr_push(&r->out, "image_embeds_normalized", NULL, nv, E);
  }
  for (int t = 0; t < T; t++) {
    const float *e = r->txt_emb + (size_t)t * E;
    double ne = norm(e, E);
    for (int k = 0; k < E; k++) nv[k] = e[k] / ne;
    arr_push(&r->out, "text_embeds_normalized", NULL, nv, E);
  }
  for (int i = 0; i < N; i++)
    for (int t = 0; t < T; t++) {
      const float *a = r->img_emb + (size_t)i * E, *b = r->txt_emb + (size_t)t * E;
      double dot = 0;
      for (int k = 0; k < E; k++) dot += (double)a[k] * b[k];
      li[i * T + t] = lt[t * N + i] = ls * dot / (norm(a, E) * norm(b, E));
    }
  arr_push(&r->out, "logits_per_image", NULL, li, (int64_t)N * T);
  arr_push(&r->out, "logits_per_text", NULL, lt, (int64_t)N * T);
  free(li), free(lt), free(nv);
  return 0;
}

/* Compare one index entry. Returns 1 on pass, 0 on miss. */
static int compare(run_t *r, const char *subdir, const char *name, const cJSON *meta, double tol, int exact,
                   int quiet) {
  const cJSON *file = cJSON_GetObjectItemCaseSensitive(meta, "file");
  char path[4096];
  snprintf(path, sizeof path, "%s/ref/%s%s%s", r->dir, subdir, *subdir ? "/" : "",
           cJSON_IsString(file) ? file->valuestring : name);
  dlut_npy ref;
  if (dlut_npy_load(path, &ref) != 0) {
    printf("FAIL  %-36s cannot read: %s\n", name, dlut_last_error());
    return 0;
  }
  arr *a = NULL;
  for (int i = 0; i < r->out.n; i++)
    if (strcmp(r->out.a[i].name, name) == 0) a = &r->out.a[i];
  int pass = 0;
  if (!a) {
    printf("FAIL  %-36s not computed\n", name);
  } else if (a->n != ref.count) {
    printf("FAIL  %-36s %lld values computed, reference has %lld\n", name, (long long)a->n, (long long)ref.count);
  } else {
    double md = 0, mx = 0;
    int64_t worst = 0;
    for (int64_t i = 0; i < ref.count; i++) {
      double b = dlut_npy_get(&ref, i), d = fabs(a->v[i] - b);
      if (!(d <= md)) md = d, worst = i; /* also catches NaN */
      if (fabs(b) > mx) mx = fabs(b);
    }
    double rel = mx > 0 ? md / mx : md;
    pass = exact ? md == 0 : rel <= tol;
    if (!pass || !quiet) {
      if (exact)
        printf("%s  %-36s %s (%lld values)%s\n", pass ? "ok  " : "FAIL", name, pass ? "exact" : "differs",
               (long long)ref.count, "");
      else
        printf("%s  %-36s rel err %.3g (tol %.0e)\n", pass ? "ok  " : "FAIL", name, rel, tol);
      if (!pass && a->n > 0)
        printf("      worst at flat index %lld: ours %.9g, reference %.9g\n", (long long)worst, a->v[worst],
               dlut_npy_get(&ref, worst));
    }
  }
  dlut_npy_free(&ref);
  return pass;
}

int dlut_cmd_refcheck(int argc, char **argv) {
  float tol = 1e-4f, gtol = 1e-3f;
  int quiet = 0, f32 = 0;
  const char *dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      usage(stdout);
      return DLUT_EXIT_OK;
    } else if (strcmp(argv[i], "--tol") == 0 || strcmp(argv[i], "--grad-tol") == 0) {
      float *dst = argv[i][2] == 't' ? &tol : &gtol;
      if (i + 1 >= argc || cli_parse_float(argv[i + 1], dst) != 0 || *dst < 0)
        return cli_usage(CMD, "%s needs a non-negative number", argv[i]);
      i++;
    } else if (strcmp(argv[i], "--f32") == 0) {
      f32 = 1;
    } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else if (argv[i][0] == '-') {
      return cli_usage(CMD, "unknown option %s", argv[i]);
    } else if (!dir) {
      dir = argv[i];
    } else {
      return cli_usage(CMD, "one CASE_DIR only");
    }
  }
  if (!dir) return cli_usage(CMD, "missing CASE_DIR");
  run_t r = {.dir = dir};
  int status = DLUT_EXIT_FAIL;
  r.index = read_json(dir, "ref/index.json");
  if (!r.index) {
    cli_fail(CMD, "%s", dlut_last_error());
    goto done;
  }
  r.prec = cJSON_GetObjectItemCaseSensitive(r.index, f32 ? "f32" : "f64");
  const cJSON *root = cJSON_GetObjectItemCaseSensitive(r.index, "root");
  if (!cJSON_IsObject(r.prec) || !cJSON_IsObject(root)) {
    cli_fail(CMD, "%s/ref/index.json: no \"root\" / \"%s\" sections", dir, f32 ? "f32" : "f64");
    goto done;
  }
  if (!(r.m = dlut_clip_load(dir)) || dlut_clip_set_keep_activations(r.m, 1) != 0) {
    cli_fail(CMD, "%s", dlut_last_error());
    goto done;
  }
  r.info = dlut_clip_get_info(r.m);
  r.ctx = r.info->context_length;
  const cJSON *ids_meta = cJSON_GetObjectItemCaseSensitive(root, "input_ids");
  const cJSON *shape = ids_meta ? cJSON_GetObjectItemCaseSensitive(ids_meta, "shape") : NULL;
  if (cJSON_GetArraySize(shape) == 2) r.ctx = cJSON_GetArrayItem(shape, 1)->valueint; /* padded length */
  if (run_texts(&r) != 0 || run_images(&r) != 0 || run_grads(&r) != 0 || run_derived(&r) != 0) {
    cli_fail(CMD, "%s", dlut_last_error());
    goto done;
  }
  int n = 0, fails = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, root) {
    n++;
    fails += !compare(&r, "", it->string, it, 0, 1, quiet);
  }
  cJSON_ArrayForEach(it, r.prec) {
    n++;
    int grad = strncmp(it->string, "grad_", 5) == 0;
    fails += !compare(&r, f32 ? "f32" : "f64", it->string, it, grad ? gtol : tol, 0, quiet);
  }
  printf("%s: %d/%d arrays within tolerance (%s reference)\n", dir, n - fails, n, f32 ? "f32" : "f64");
  /* ColorizeDiffusion's manipulation cases, where the folder has them */
  char mpath[4200];
  struct stat mst;
  snprintf(mpath, sizeof mpath, "%s/ref/manipulation/index.json", dir);
  if (stat(mpath, &mst) == 0) {
    int mc = 0, mf = 0;
    if (refcheck_manip(dir, r.m, r.pixels, r.n_img, tol, quiet, &mc, &mf) != 0) {
      printf("FAIL  manipulation: %s\n", dlut_last_error());
      fails++;
    } else {
      printf("%s: %d/%d manipulation cases within tolerance (ref/manipulation, f64)\n", dir, mc - (mf > mc ? mc : mf),
             mc);
      fails += mf;
    }
  }
  status = fails ? DLUT_EXIT_FAIL : DLUT_EXIT_OK;
done:
  if (r.pixels)
    for (int i = 0; i < r.n_img; i++) free(r.pixels[i]);
  free(r.pixels);
  free(r.img_emb);
  free(r.txt_emb);
  arrs_free(&r.out);
  dlut_clip_free(r.m);
  cJSON_Delete(r.index);
  return status;
}
