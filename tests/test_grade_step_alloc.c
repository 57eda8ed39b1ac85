/* tests/test_grade_step_alloc.c - a grading step allocates nothing. Linked
 * with tests/tools/wrap_alloc.c (-Wl,--wrap=malloc,...; see the Makefile),
 * so dlut_alloc_count() counts every allocation DLUT's own code makes.
 * Everything a step needs is allocated before the first step (the
 * grading state's scratch: src/grade/grade.c reserve_scratch, region.c,
 * the field's activations); this test fails when an allocation comes back
 * into the loop:
 *   - over dlut_grade_run (lattice and field; OpenAI and Chinese-CLIP, the
 *     latter resizing in its preprocessing; with augmentation, whose views
 *     are resized; a set of two photos of different sizes; a reference
 *     photo) and dlut_region_grade_run, the count read in the progress
 *     callback does not change from step 1 to the last step, and a grade
 *     of 2N steps makes exactly as many allocations as one of N;
 *   - dlut_grade_problem_eval, from its very first call after
 *     dlut_grade_problem_new (with and without the gradient), makes none,
 *     nor does dlut_region_problem_eval.
 * The bound is 0 everywhere: the callback's own work (no preview asked)
 * allocates nothing. */
#include <stdint.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/region.h"
#include "test.h"

long dlut_alloc_count(void);

#define MAX_STEPS 64

typedef struct counts {
  long at[MAX_STEPS + 1]; /* allocations so far when step s's callback ran */
  int n;                  /* last step seen */
} counts;

static int on_step(void *user, const dlut_grade_progress *p) {
  counts *c = user;
  if (p->step >= 1 && p->step <= MAX_STEPS) {
    c->at[p->step] = dlut_alloc_count();
    c->n = p->step;
  }
  return 0;
}

static void base_opts(dlut_grade_opts *o, dlut_grade_param param, int steps) {
  dlut_grade_opts_init(o);
  o->prompt = "cold teal night";
  o->param = param;
  o->lut_size = 17;
  o->samples = 2048;
  o->steps = steps;
  o->seed = 5;
  if (param == DLUT_GRADE_PARAM_FIELD) o->lut_size = 9; /* the original's 512-wide field, on 9^3 vertices */
}

/* allocations of a whole dlut_grade_run_set of o (with its callback set here) */
static long run_count(dlut_clip *m, const dlut_image *const *photos, int np, dlut_grade_opts o, counts *c) {
  memset(c, 0, sizeof *c);
  o.callback = on_step;
  o.user = c;
  dlut_grade_result r;
  const long before = dlut_alloc_count();
  const int rc = dlut_grade_run_set(m, photos, np, &o, &r);
  const long made = dlut_alloc_count() - before;
  CHECK_MSG(rc == 0 && r.lut && r.steps_done == o.steps, "grade: %s", rc ? dlut_last_error() : "short");
  dlut_grade_result_free(&r);
  return made;
}

static void check_loop(const char *what, dlut_clip *m, const dlut_image *const *photos, int np,
                       const dlut_grade_opts *o) {
  const int N = o->steps;
  counts a, b;
  /* a first run: what is made once per process (each pool thread's GEMM packing buffer, dlut_sgemm) is made here */
  (void)run_count(m, photos, np, *o, &a);
  const long total_n = run_count(m, photos, np, *o, &a);
  dlut_grade_opts o2 = *o;
  o2.steps = 2 * N;
  const long total_2n = run_count(m, photos, np, o2, &b);
  const long in_loop = b.n == 2 * N ? b.at[2 * N] - b.at[1] : -1;
  fprintf(stderr, "%-28s %ld allocations for %d steps, %ld for %d; %ld from step 1 to step %d\n", what, total_n, N,
          total_2n, 2 * N, in_loop, 2 * N);
  CHECK_MSG(in_loop == 0, "%s: %ld allocations in steps 2..%d", what, in_loop, 2 * N);
  CHECK_MSG(total_2n == total_n, "%s: %ld allocations for %d steps, %ld for %d (%.2f a step)", what, total_n, N,
            total_2n, 2 * N, (double)(total_2n - total_n) / N);
}

/* The problem API: the first evaluation already allocates nothing. */
static void check_eval(const char *what, dlut_clip *m, const dlut_image *const *photos, int np,
                       const dlut_grade_opts *o) {
  dlut_grade_problem *p = dlut_grade_problem_new_set(m, photos, np, o);
  CHECK_MSG(p != NULL, "problem: %s", dlut_last_error());
  if (!p) return;
  const int n = dlut_grade_problem_lut_size(p);
  const size_t nt = (size_t)n * n * n * 3;
  float *t = malloc(nt * sizeof(float)), *d = malloc(nt * sizeof(float));
  memcpy(t, dlut_grade_problem_start(p), nt * sizeof(float));
  for (size_t i = 0; i < nt; i++) t[i] = 0.1f + 0.8f * t[i];
  dlut_grade_losses L;
  long before = dlut_alloc_count();
  int rc = dlut_grade_problem_eval(p, t, &L, d);
  rc |= dlut_grade_problem_eval(p, t, &L, NULL);
  if (o->augment > 0)
    for (int s = 0; s < o->steps; s++) {
      dlut_grade_problem_augment(p, s);
      rc |= dlut_grade_problem_eval(p, t, &L, d);
    }
  const long made = dlut_alloc_count() - before;
  fprintf(stderr, "%-28s problem_eval: %ld allocations\n", what, made);
  CHECK(rc == 0);
  CHECK_MSG(made == 0, "%s: dlut_grade_problem_eval made %ld allocations", what, made);
  free(t);
  free(d);
  dlut_grade_problem_free(p);
}

static void check_grade(const char *what, dlut_clip *m, const dlut_image *const *photos, int np,
                        const dlut_grade_opts *o) {
  check_loop(what, m, photos, np, o);
  check_eval(what, m, photos, np, o);
}

static float *ramp_mask(int w, int h) {
  float *mk = malloc((size_t)w * h * sizeof(float));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) mk[(int64_t)y * w + x] = (float)x / (float)(w - 1);
  return mk;
}

static long region_count(dlut_clip *m, const dlut_image *photo, dlut_region_grade_opts o, counts *c) {
  memset(c, 0, sizeof *c);
  o.global.callback = on_step;
  o.global.user = c;
  dlut_region_grade_result r;
  const long before = dlut_alloc_count();
  const int rc = dlut_region_grade_run(m, photo, &o, &r);
  const long made = dlut_alloc_count() - before;
  CHECK_MSG(rc == 0 && r.global && r.steps_done == o.global.steps, "region grade: %s",
            rc ? dlut_last_error() : "short");
  dlut_region_grade_result_free(&r);
  return made;
}

static void check_region(dlut_clip *m, const dlut_image *photo) {
  float *mk = ramp_mask(photo->width, photo->height);
  dlut_region_grade_opts o;
  dlut_region_grade_opts_init(&o);
  o.global.prompt = "warm golden film";
  o.global.lut_size = 9;
  o.global.lattice_coarse = 5;
  o.global.samples = 1024;
  o.global.steps = 6;
  o.n = 1;
  o.prompts[0] = "deep teal";
  o.masks[0] = mk;
  counts a, b;
  const long total_n = region_count(m, photo, o, &a);
  dlut_region_grade_opts o2 = o;
  o2.global.steps = 12;
  const long total_2n = region_count(m, photo, o2, &b);
  const long in_loop = b.n == 12 ? b.at[12] - b.at[1] : -1;
  fprintf(stderr, "%-28s %ld allocations for 6 steps, %ld for 12; %ld from step 1 to step 12\n", "region", total_n,
          total_2n, in_loop);
  CHECK_MSG(in_loop == 0, "region: %ld allocations in steps 2..12", in_loop);
  CHECK_MSG(total_2n == total_n, "region: %ld allocations for 6 steps, %ld for 12", total_n, total_2n);
  /* the problem API: the first evaluation allocates nothing */
  dlut_region_problem *p = dlut_region_problem_new(m, photo, &o);
  CHECK_MSG(p != NULL, "region problem: %s", dlut_last_error());
  if (p) {
    const int n = dlut_region_problem_lut_size(p);
    const size_t nt = (size_t)n * n * n * 3;
    float *t = malloc(2 * nt * sizeof(float)), *d = malloc(2 * nt * sizeof(float));
    memcpy(t, dlut_region_problem_start(p, 0), nt * sizeof(float));
    memcpy(t + nt, dlut_region_problem_start(p, 1), nt * sizeof(float));
    const float *tables[2] = {t, t + nt};
    float *d_tables[2] = {d, d + nt};
    dlut_region_losses L;
    const long before = dlut_alloc_count();
    int rc = dlut_region_problem_eval(p, tables, &L, d_tables);
    rc |= dlut_region_problem_eval(p, tables, &L, NULL);
    const long made = dlut_alloc_count() - before;
    fprintf(stderr, "%-28s problem_eval: %ld allocations\n", "region", made);
    CHECK(rc == 0);
    CHECK_MSG(made == 0, "region: dlut_region_problem_eval made %ld allocations", made);
    free(t);
    free(d);
    dlut_region_problem_free(p);
  }
  free(mk);
}

int main(void) {
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  dlut_image *other = dlut_image_load(test_shared("data/photos/rocket.jpg"));
  dlut_image *ref = dlut_image_load(test_shared("data/photos/coffee.png"));
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  dlut_clip *mz = dlut_clip_load(test_shared("data/clip-ref/chinese_clip_tiny"));
  CHECK(photo && other && ref);
  CHECK_MSG(m && mz, "%s", dlut_last_error());
  CHECK(dlut_alloc_count() > 0); /* the counter is linked in */
  if (photo && other && ref && m && mz) {
    const dlut_image *one[1] = {photo}, *two[2] = {photo, other};
    dlut_grade_opts o;
    base_opts(&o, DLUT_GRADE_PARAM_LATTICE, 8);
    check_grade("lattice", m, one, 1, &o);
    base_opts(&o, DLUT_GRADE_PARAM_FIELD, 4);
    check_grade("field", m, one, 1, &o);
    base_opts(&o, DLUT_GRADE_PARAM_LATTICE, 8);
    o.prompt = "温暖的日落";
    check_grade("chinese-clip lattice", mz, one, 1, &o);
    base_opts(&o, DLUT_GRADE_PARAM_FIELD, 4);
    o.prompt = "温暖的日落";
    check_grade("chinese-clip field", mz, one, 1, &o);
    base_opts(&o, DLUT_GRADE_PARAM_LATTICE, 8);
    o.augment = 3;
    check_grade("augment 3 lattice", m, one, 1, &o);
    base_opts(&o, DLUT_GRADE_PARAM_FIELD, 4);
    o.augment = 2;
    check_grade("augment 2 field (chinese)", mz, one, 1, &o);
    base_opts(&o, DLUT_GRADE_PARAM_LATTICE, 8);
    check_grade("set of 2 lattice", m, two, 2, &o);
    base_opts(&o, DLUT_GRADE_PARAM_FIELD, 4);
    check_grade("set of 2 field", m, two, 2, &o);
    base_opts(&o, DLUT_GRADE_PARAM_LATTICE, 8);
    o.prompt = NULL;
    o.ref = ref;
    check_grade("reference lattice", m, one, 1, &o);
    check_region(m, photo);
  }
  dlut_clip_free(m);
  dlut_clip_free(mz);
  dlut_image_free(photo);
  dlut_image_free(other);
  dlut_image_free(ref);
  return test_summary("grade_step_alloc");
}
