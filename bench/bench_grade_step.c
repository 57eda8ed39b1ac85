/* bench/bench_grade_step.c - DLUT's grading step as a child of
 * bench/peer_torch_grade.py, so that DLUT's step and the original
 * pipeline's step (PyTorch) are timed alternately in one script.
 *
 *   bench_grade_step MODEL_DIR PHOTO REF
 *
 * Loads MODEL_DIR (a Hugging Face CLIPModel folder) once, then reads
 * commands from stdin, one a line:
 *   "grade PARAM PREC STEPS SEED DUMP"
 *       PARAM lattice | field, PREC fp32 | bf16 | auto (set as
 *       DLUT_CLIP_PRECISION for this grade); grades PHOTO towards REF
 *       (33^3, identity start, everything else the defaults) and answers
 *       "PRECISION_USED t1 t2 ... tSTEPS\n": the wall seconds of each step
 *       (step 1 includes the problem's set-up). DUMP ("-" for none) gets
 *       the result as float32: the LUT evaluated (tetrahedral) at the
 *       17^3 lattice points (red fastest), then PHOTO's pixels through it
 *       (W H 3, in [0,1]).
 *   "q" exit
 * The first line printed is "ready". Threads: DLUT_THREADS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip/clip_internal.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/tensor.h"

#define MAX_STEPS 1000

typedef struct steps {
  double t[MAX_STEPS + 1];
  int n;
} steps;

static int on_step(void *user, const dlut_grade_progress *p) {
  steps *s = user;
  if (p->step >= 1 && p->step <= MAX_STEPS) {
    s->t[p->step] = p->seconds;
    s->n = p->step;
  }
  return 0;
}

static int dump(const char *path, const dlut_lut *lut, const dlut_image *photo) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  const int k = 17;
  for (int b = 0; b < k; b++)
    for (int g = 0; g < k; g++)
      for (int r = 0; r < k; r++) {
        float in[3] = {r / (float)(k - 1), g / (float)(k - 1), b / (float)(k - 1)}, out[3];
        dlut_lut_eval(lut, in, out, DLUT_INTERP_TETRAHEDRAL);
        fwrite(out, sizeof(float), 3, f);
      }
  int64_t n = (int64_t)photo->width * photo->height;
  float *px = malloc((size_t)n * 3 * sizeof(float)), *out = malloc((size_t)n * 3 * sizeof(float));
  if (!px || !out) {
    free(px);
    free(out);
    fclose(f);
    return -1;
  }
  for (int y = 0; y < photo->height; y++) {
    const uint8_t *row = (const uint8_t *)photo->data + (size_t)y * photo->stride;
    for (int x = 0; x < photo->width; x++)
      for (int c = 0; c < 3; c++) px[((int64_t)y * photo->width + x) * 3 + c] = row[x * 3 + c] / 255.0f;
  }
  dlut_lut_apply_f32(lut, px, out, n, DLUT_INTERP_TETRAHEDRAL);
  fwrite(out, sizeof(float), (size_t)n * 3, f);
  free(px);
  free(out);
  return fclose(f);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: bench_grade_step MODEL_DIR PHOTO REF\n");
    return 2;
  }
  dlut_tensor_threads_sync();
  dlut_clip *m = dlut_clip_load(argv[1]);
  dlut_image *photo = dlut_image_load(argv[2]), *ref = dlut_image_load(argv[3]);
  if (!m || !photo || !ref) {
    fprintf(stderr, "bench_grade_step: %s\n", dlut_last_error());
    return 1;
  }
  if (photo->type != DLUT_PIXEL_U8 || photo->channels != 3) {
    fprintf(stderr, "bench_grade_step: PHOTO must be 8-bit RGB\n");
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  char line[1200], param[32], prec[32], path[1024];
  while (fgets(line, sizeof line, stdin)) {
    if (line[0] == 'q') break;
    int n = 0;
    unsigned long long seed = 0;
    if (sscanf(line, "grade %31s %31s %d %llu %1023s", param, prec, &n, &seed, path) != 5 || n < 1 || n > MAX_STEPS) {
      printf("error bad command\n");
      fflush(stdout);
      continue;
    }
    setenv("DLUT_CLIP_PRECISION", prec, 1);
    dlut_grade_opts o;
    dlut_grade_opts_init(&o);
    o.ref = ref;
    o.steps = n;
    o.seed = seed;
    o.param = strcmp(param, "field") == 0 ? DLUT_GRADE_PARAM_FIELD : DLUT_GRADE_PARAM_LATTICE;
    steps s = {{0}, 0};
    o.callback = on_step;
    o.user = &s;
    dlut_grade_result r;
    if (dlut_grade_run(m, photo, &o, &r) != 0) {
      printf("error %s\n", dlut_last_error());
      fflush(stdout);
      continue;
    }
    if (strcmp(path, "-") != 0 && dump(path, r.lut, photo) != 0) {
      printf("error cannot write %s\n", path);
      fflush(stdout);
      dlut_grade_result_free(&r);
      continue;
    }
    printf("%s", clip_vfast_used(m) ? "bf16" : "fp32");
    for (int i = 1; i <= s.n; i++) printf(" %.6f", s.t[i] - (i > 1 ? s.t[i - 1] : 0.0));
    printf("\n");
    fflush(stdout);
    dlut_grade_result_free(&r);
  }
  dlut_image_free(photo);
  dlut_image_free(ref);
  dlut_clip_free(m);
  return 0;
}
