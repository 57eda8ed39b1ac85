/* bench/bench_region.c - what a region costs: one optimisation step of the
 * region grade (the global LUT and R region LUTs, the CLIP term on the
 * composite, the local terms through the token backward, colour and
 * lattice terms, the lattice parameterisation and AdamW for every table)
 * against one step of the global grade (dlut_grade_problem) on the same
 * model, photo and settings, measured in the same run.
 *
 *   bench_region [PRESET] [STEPS]    default ViT-B/32, 10 steps per variant
 *
 * Random weights (dlut_clip_create_random), so no tokenizer: the global
 * grade goes towards a reference photo (the per-step work is the same as
 * for text) and the regions towards fixed random embeddings. One thread
 * (DLUT and OpenBLAS) and process CPU time as the clock, variants
 * interleaved step by step, so a busy machine slows all of them alike.
 * The ratio asked for is at most 1.3 for one region.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/parallel.h"
#include "dlut/region.h"

void openblas_set_num_threads(int n);

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static dlut_image *synthetic_photo(int w, int h, int seed) {
  dlut_image *img = dlut_image_alloc(w, h, 3, DLUT_PIXEL_U8);
  if (!img) return NULL;
  for (int y = 0; y < h; y++) {
    uint8_t *row = (uint8_t *)img->data + (size_t)y * img->stride;
    for (int x = 0; x < w; x++) {
      int patch = ((x / 97) * 7 + (y / 61) * 13 + seed) % 17;
      row[x * 3 + 0] = (uint8_t)((x * 255 / w + patch * 11) & 255);
      row[x * 3 + 1] = (uint8_t)((y * 255 / h + patch * 23) & 255);
      row[x * 3 + 2] = (uint8_t)(((x + y) * 127 / (w + h) + patch * 5) & 255);
    }
  }
  return img;
}

/* one variant: a global problem (n = 0) or a region problem with n regions */
typedef struct variant {
  int n;
  dlut_grade_problem *g;
  dlut_region_problem *r;
  float *params, *pgrad, *tab, *dtab;
  dlut_adamw opt;
  double cpu;
} variant;

static void step(variant *v, int nl, int kc, int it) {
  const int64_t nt = (int64_t)nl * nl * nl * 3, npk = (int64_t)kc * kc * kc * 3;
  const float *tables[DLUT_REGION_MAX + 1];
  float *d_tables[DLUT_REGION_MAX + 1];
  const double c0 = cpu_s();
  for (int k = 0; k <= v->n; k++) {
    const float *base = v->n ? dlut_region_problem_start(v->r, k) : dlut_grade_problem_start(v->g);
    dlut_grade_lattice_param_forward_base(v->params + npk * k, kc, base, v->tab + nt * k, nl);
    tables[k] = v->tab + nt * k;
    d_tables[k] = v->dtab + nt * k;
  }
  int rc;
  if (v->n) {
    dlut_region_losses L;
    rc = dlut_region_problem_eval(v->r, tables, &L, d_tables);
  } else {
    dlut_grade_losses L;
    rc = dlut_grade_problem_eval(v->g, v->tab, &L, v->dtab);
  }
  if (rc != 0) {
    fprintf(stderr, "eval: %s\n", dlut_last_error());
    exit(1);
  }
  memset(v->pgrad, 0, (size_t)npk * (v->n + 1) * sizeof(float));
  for (int k = 0; k <= v->n; k++) {
    const float *base = v->n ? dlut_region_problem_start(v->r, k) : dlut_grade_problem_start(v->g);
    dlut_grade_lattice_param_backward_base(v->params + npk * k, kc, base, d_tables[k], nl, v->pgrad + npk * k);
  }
  dlut_adamw_step(&v->opt, v->params, v->pgrad, dlut_cosine_lr(it, 100, 2e-2f, 2e-4f));
  v->cpu += cpu_s() - c0;
}

int main(int argc, char **argv) {
  const char *preset = argc > 1 ? argv[1] : "ViT-B/32";
  const int steps = argc > 2 ? atoi(argv[2]) : 10;
  dlut_threads_set(1);
  openblas_set_num_threads(1);
  dlut_clip_config cfg;
  if (dlut_clip_config_preset(preset, &cfg) != 0) {
    fprintf(stderr, "unknown preset %s\n", preset);
    return 1;
  }
  dlut_clip *m = dlut_clip_create_random(&cfg, 1);
  dlut_image *photo = synthetic_photo(1200, 800, 0), *ref = synthetic_photo(900, 600, 5);
  if (!m || !photo || !ref) {
    fprintf(stderr, "setup: %s\n", dlut_last_error());
    return 1;
  }
  const dlut_clip_info *info = dlut_clip_get_info(m);
  const int W = photo->width, H = photo->height, E = info->embed_dim;
  /* two soft masks (a ramp, a disc) and two random unit targets */
  float *masks[2], *targets[2];
  uint64_t s = 7;
  for (int k = 0; k < 2; k++) {
    masks[k] = malloc((size_t)W * H * sizeof(float));
    targets[k] = malloc((size_t)E * sizeof(float));
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        double v = k == 0 ? (x - 0.3 * W) / (0.4 * W)
                          : 1.5 - sqrt((x - 0.6 * W) * (x - 0.6 * W) + (y - 0.45 * H) * (y - 0.45 * H)) / (0.3 * H);
        masks[k][(int64_t)y * W + x] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
      }
    for (int i = 0; i < E; i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      targets[k][i] = (float)((double)(s >> 11) / 9007199254740992.0 - 0.5);
    }
  }
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.ref = ref;
  o.global.ref_mode = DLUT_GRADE_REF_IMAGE;
  const int nl = o.global.lut_size, kc = o.global.lattice_coarse;
  const int64_t nt = (int64_t)nl * nl * nl * 3, npk = (int64_t)kc * kc * kc * 3;
  variant v[3];
  memset(v, 0, sizeof v);
  for (int i = 0; i < 3; i++) {
    v[i].n = i;
    if (i == 0) {
      v[i].g = dlut_grade_problem_new(m, photo, &o.global);
    } else {
      o.n = i;
      for (int k = 0; k < i; k++) {
        o.masks[k] = masks[k];
        o.targets[k] = targets[k];
      }
      v[i].r = dlut_region_problem_new(m, photo, &o);
    }
    if (!v[i].g && !v[i].r) {
      fprintf(stderr, "problem: %s\n", dlut_last_error());
      return 1;
    }
    v[i].params = calloc((size_t)npk * (i + 1), sizeof(float));
    v[i].pgrad = malloc((size_t)npk * (i + 1) * sizeof(float));
    v[i].tab = malloc((size_t)nt * (i + 1) * sizeof(float));
    v[i].dtab = malloc((size_t)nt * (i + 1) * sizeof(float));
    dlut_adamw_init(&v[i].opt, npk * (i + 1), 0.01f);
  }
  for (int i = 0; i < 3; i++) step(&v[i], nl, kc, 0); /* warm-up, not counted */
  for (int i = 0; i < 3; i++) v[i].cpu = 0;
  for (int it = 1; it <= steps; it++)
    for (int i = 0; i < 3; i++) step(&v[i], nl, kc, it);
  const double g = v[0].cpu / steps;
  printf("%s, 1200x800 photo, %d^3 LUT (coarse %d), 1 thread, %d steps each, CPU s/step:\n", preset, nl, kc, steps);
  printf("  global grade         %.4f\n", g);
  printf("  region grade, 1 region  %.4f  ratio %.3f\n", v[1].cpu / steps, v[1].cpu / steps / g);
  printf("  region grade, 2 regions %.4f  ratio %.3f\n", v[2].cpu / steps, v[2].cpu / steps / g);
  for (int i = 0; i < 3; i++) {
    dlut_grade_problem_free(v[i].g);
    dlut_region_problem_free(v[i].r);
    free(v[i].params);
    free(v[i].pgrad);
    free(v[i].tab);
    free(v[i].dtab);
    dlut_adamw_free(&v[i].opt);
  }
  for (int k = 0; k < 2; k++) {
    free(masks[k]);
    free(targets[k]);
  }
  dlut_image_free(photo);
  dlut_image_free(ref);
  dlut_clip_free(m);
  return 0;
}
