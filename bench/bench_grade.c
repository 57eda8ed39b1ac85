/* bench/bench_grade.c - how fast the grading engine runs.
 *
 *   bench_grade speed [STEPS]     seconds per step and peak memory of a grade
 *                                 (33^3 LUT; both parameterisations on ViT-B/16, the
 *                                 lattice on ViT-L/14-336; random weights,
 *                                 each in its own process so peak RSS is its own);
 *                                 and the field MLP's cost per step (sgemm) against
 *                                 its naive reference, measured in the same run
 *   bench_grade curves MODEL PHOTO PROMPT SECONDS OUT.csv
 *                                 (MODEL "preset:ViT-B/16" = random weights; PROMPT
 *                                 "ref:PATH" = towards a reference photo)
 *                                 loss against time of both parameterisations
 *                                 (field as the original: 512 wide, lr 2e-4, eps 2e-3;
 *                                 lattice: ours) on the same photo, prompt and model
 *
 * Random-weight models have no tokenizer, so `speed` grades towards a
 * reference photo (the per-step work is the same as for text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/parallel.h"

void openblas_set_num_threads(int n); /* OpenBLAS's own (cblas.h declares it too) */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a synthetic 1200x800 photo (gradients and patches), so the bench needs no files */
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

static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct timing {
  double t_first, t_last; /* wall, from the grade's start */
  double c_first, c_last; /* process CPU time */
  int first, last;
} timing;

static int on_step(void *user, const dlut_grade_progress *p) {
  timing *t = user;
  double s = p->seconds;
  if (p->step == 1) {
    t->t_first = s;
    t->c_first = cpu_s();
    t->first = 1;
  }
  t->t_last = s;
  t->c_last = cpu_s();
  t->last = p->step;
  return 0;
}

static int speed_child(const char *preset, int steps, int param) {
  dlut_clip_config cfg;
  if (dlut_clip_config_preset(preset, &cfg) != 0) {
    fprintf(stderr, "%s\n", dlut_last_error());
    return 1;
  }
  double t0 = now_s();
  dlut_clip *m = dlut_clip_create_random(&cfg, 1);
  if (!m) {
    fprintf(stderr, "%s: %s\n", preset, dlut_last_error());
    return 1;
  }
  double t_model = now_s() - t0;
  dlut_image *photo = synthetic_photo(1200, 800, 1), *ref = synthetic_photo(1200, 800, 5);
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.ref = ref;
  o.steps = steps;
  o.param = param;
  timing t = {0};
  o.callback = on_step;
  o.user = &t;
  dlut_grade_result r;
  if (dlut_grade_run(m, photo, &o, &r) != 0) {
    fprintf(stderr, "%s: %s\n", preset, dlut_last_error());
    return 1;
  }
  double per = t.last > 1 ? (t.t_last - t.t_first) / (t.last - 1) : t.t_last;
  double cper = t.last > 1 ? (t.c_last - t.c_first) / (t.last - 1) : 0;
  printf("%-14s %-8s %2d threads  model %.1f s  setup+first step %.2f s  %.3f s/step wall, %.3f CPU s/step", preset,
         param == DLUT_GRADE_PARAM_FIELD ? "field" : "lattice", dlut_threads_get(), t_model, t.t_first, per, cper);
  fflush(stdout);
  dlut_grade_result_free(&r);
  dlut_image_free(photo);
  dlut_image_free(ref);
  dlut_clip_free(m);
  return 0;
}

static void speed(int steps) {
  /* both parameterisations on ViT-B/16; the lattice (the default) on ViT-L/14-336 */
  const char *presets[] = {"ViT-B/16", "ViT-B/16", "ViT-L/14-336"};
  const int params[] = {DLUT_GRADE_PARAM_LATTICE, DLUT_GRADE_PARAM_FIELD, DLUT_GRADE_PARAM_LATTICE};
  const char *only = getenv("BENCH_GRADE_ONLY"); /* e.g. "field" or "ViT-L" to run one line */
  for (size_t i = 0; i < 3; i++) {
    if (only && !strstr(presets[i], only) && !strstr(params[i] ? "field" : "lattice", only)) continue;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(speed_child(presets[i], steps, params[i]));
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      printf("%s: failed\n", presets[i]);
      continue;
    }
    printf("  peak RSS %.0f MiB\n", ru.ru_maxrss / 1024.0);
  }
  /* the field parameterisation's own cost per step: MLP forward + backward
   * over the 33^3 lattice, h = 512, against the naive reference forward */
  dlut_grade_field f;
  if (dlut_grade_field_init(&f, 512, 1) != 0) return;
  const int64_t n = 33 * 33 * 33;
  float *in = malloc((size_t)n * 3 * sizeof(float)), *out = malloc((size_t)n * 3 * sizeof(float));
  for (int64_t i = 0; i < n * 3; i++) in[i] = (float)((i * 7919) % 1000) / 1000.0f;
  for (int64_t k = 0; k < f.n_params; k++) f.params[k] += 1e-3f;
  dlut_grade_field_forward(&f, in, out, n); /* warm up */
  int reps = 3;
  double t0 = now_s();
  for (int r = 0; r < reps; r++) dlut_grade_field_forward(&f, in, out, n);
  double fwd = (now_s() - t0) / reps;
  t0 = now_s();
  for (int r = 0; r < reps; r++) dlut_grade_field_backward(&f, in, out, n);
  double bwd = (now_s() - t0) / reps;
  const int64_t nref = 512; /* the reference is slow: time it on a slice */
  t0 = now_s();
  dlut_grade_field_forward_ref(&f, in, out, nref);
  double ref = (now_s() - t0) * (double)n / nref;
  double gflop = 2.0 * n * (3.0 * 512 + 2.0 * 512 * 512 + 512.0 * 3) / 1e9;
  printf(
      "field MLP 3-512-512-512-3 over 33^3: forward %.3f s (%.1f GFLOP/s), backward %.3f s, "
      "naive reference forward %.2f s (sgemm is %.0fx faster)\n",
      fwd, gflop / fwd, bwd, ref, ref / fwd);
  dlut_grade_field_free(&f);
  free(in);
  free(out);
}

/* ==== Loss against time ==== */

typedef struct curve {
  FILE *csv;
  const char *name;
  double limit;
  double best;
  double cpu0;
} curve;

/* the curves use process CPU time as the clock: with one thread it is the work
 * done, whatever else the (shared) machine is running; wall time is logged beside it */
static int on_curve(void *user, const dlut_grade_progress *p) {
  curve *c = user;
  double t = cpu_s() - c->cpu0;
  if (p->losses.total < c->best) c->best = p->losses.total;
  fprintf(c->csv, "%s,%d,%.4f,%.4f,%.6f,%.6f,%.6f\n", c->name, p->step, t, p->seconds, p->losses.total, c->best,
          p->losses.clip);
  return t > c->limit;
}

static int curves(const char *model_dir, const char *photo_path, const char *prompt, double seconds,
                  const char *csv_path) {
  /* MODEL may be "preset:ViT-B/16" (random weights, no tokenizer) and PROMPT
   * "ref:PATH" (grade towards a reference photo instead of text) */
  dlut_clip *m = NULL;
  if (strncmp(model_dir, "preset:", 7) == 0) {
    dlut_clip_config cfg;
    if (dlut_clip_config_preset(model_dir + 7, &cfg) == 0) m = dlut_clip_create_random(&cfg, 1);
  } else {
    m = dlut_clip_load(model_dir);
  }
  dlut_image *ref = strncmp(prompt, "ref:", 4) == 0 ? dlut_image_load(prompt + 4) : NULL;
  if (strncmp(prompt, "ref:", 4) == 0 && !ref) {
    fprintf(stderr, "curves: %s\n", dlut_last_error());
    return 1;
  }
  dlut_image *photo = dlut_image_load(photo_path);
  FILE *csv = fopen(csv_path, "w");
  if (!m || !photo || !csv) {
    fprintf(stderr, "curves: %s\n", !csv ? "cannot write the CSV" : dlut_last_error());
    return 1;
  }
  fprintf(csv, "param,step,cpu_seconds,wall_seconds,total,best_total,clip\n");
  dlut_threads_set(1); /* one thread, CPU time as the clock: fair on a busy machine */
  openblas_set_num_threads(1);
  struct {
    const char *name;
    int param;
    int steps;
    int hidden;
    int coarse;
  } runs[] = {
      {"lattice", DLUT_GRADE_PARAM_LATTICE, 200, 0, 17},
      {"lattice9", DLUT_GRADE_PARAM_LATTICE, 200, 0, 9},
      {"field", DLUT_GRADE_PARAM_FIELD, 1000, 512, 0},
      {"field64", DLUT_GRADE_PARAM_FIELD, 1000, 64, 0},
  };
  for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
    dlut_grade_opts o;
    dlut_grade_opts_init(&o);
    if (ref)
      o.ref = ref;
    else
      o.prompt = prompt;
    o.param = runs[i].param;
    o.steps = runs[i].steps;
    if (runs[i].hidden) o.field_hidden = runs[i].hidden;
    if (runs[i].coarse) o.lattice_coarse = runs[i].coarse;
    curve c = {csv, runs[i].name, seconds, 1e30, cpu_s()};
    o.callback = on_curve;
    o.user = &c;
    dlut_grade_result r;
    if (dlut_grade_run(m, photo, &o, &r) != 0) {
      fprintf(stderr, "curves: %s\n", dlut_last_error());
      return 1;
    }
    printf("%-10s start %.4f  best %.4f after %d steps, %.1f CPU s (%.1f s wall)%s\n", runs[i].name, r.start.total,
           r.end.total, r.steps_done, cpu_s() - c.cpu0, r.seconds, r.stopped == 1 ? " (CPU time limit)" : "");
    dlut_grade_result_free(&r);
  }
  fclose(csv);
  dlut_image_free(ref);
  dlut_image_free(photo);
  dlut_clip_free(m);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "speed") == 0) {
    speed(argc >= 3 ? atoi(argv[2]) : 4);
    return 0;
  }
  if (argc == 7 && strcmp(argv[1], "curves") == 0) return curves(argv[2], argv[3], argv[4], atof(argv[5]), argv[6]);
  fprintf(stderr,
          "usage: bench_grade speed [STEPS]\n"
          "       bench_grade curves MODEL_DIR PHOTO PROMPT SECONDS OUT.csv\n");
  return 2;
}
