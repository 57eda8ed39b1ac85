/* tests/test_grade_set.c - one LUT over a set of photos, on the tiny random
 * CLIP models of the shared reference set:
 *   - the set's losses are exactly the mean of the per-photo problems'
 *     (each built with its share of the samples and its seed), and so is
 *     the gradient; finite differences of the set's total;
 *   - augmentation: a step's views are drawn again identically, differ
 *     between steps, and their gradient matches finite differences; a run
 *     with augmentation is reproducible bitwise and depends on the seed;
 *   - a set run lowers the loss; a set of one is the single-photo grade;
 *     bad sets are refused with a reason. */
#include <stdint.h>

#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/lut.h"
#include "test.h"

static uint64_t g_rng = 1234;
static double frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (g_rng >> 11) * (1.0 / 9007199254740992.0);
}

/* a contrast-reducing, tinted table away from the identity */
static void away_table(const float *id, float *t, int nt) {
  for (int i = 0; i < nt; i++) t[i] = 0.25f + 0.5f * id[i] + (float)(0.08 * (frand() - 0.5)) + (i % 3 == 0 ? 0.05f : 0);
}

/* Finite differences of L_total at table t against the analytic d. */
static void fd_check(dlut_grade_problem *p, float *t, const float *d, int nt, const char *what) {
  double gmax = 0;
  for (int i = 0; i < nt; i++) gmax = fmax(gmax, fabs(d[i]));
  CHECK(gmax > 0);
  int checked = 0, kinks = 0;
  double maxerr = 0;
  for (int k = 0; k < 50; k++) {
    int i = (int)(frand() * nt);
    float keep = t[i];
    const float h = 2e-3f;
    dlut_grade_losses a, b, c;
    t[i] = keep + h;
    dlut_grade_problem_eval(p, t, &a, NULL);
    t[i] = keep - h;
    dlut_grade_problem_eval(p, t, &b, NULL);
    t[i] = keep;
    dlut_grade_problem_eval(p, t, &c, NULL);
    double fd = (a.total - b.total) / (2.0 * h), fp = (a.total - c.total) / h, fm = (c.total - b.total) / h;
    if (fabs(fp - fm) > 0.05 * fmax(fabs(fd), 0.05 * gmax)) {
      kinks++;
      continue;
    }
    checked++;
    double err = fabs(fd - d[i]) / fmax(fabs(fd), 0.05 * gmax);
    if (err > maxerr) maxerr = err;
  }
  fprintf(stderr, "%s: FD over %d entries (%d near kinks), max rel err %.4f, max |grad| %.4g\n", what, checked, kinks,
          maxerr, gmax);
  CHECK(checked >= 30);
  CHECK_MSG(maxerr < 0.05, "%s: FD max relative error %g", what, maxerr);
}

static void set_is_mean(dlut_clip *m, const dlut_image *const *photos, int n, const char *prompt,
                        const dlut_image *ref) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = prompt;
  o.ref = ref;
  o.lut_size = 5;
  o.samples = 900;
  o.seed = 11;
  o.weights.eigen = 100;
  dlut_grade_problem *set = dlut_grade_problem_new_set(m, photos, n, &o);
  CHECK_MSG(set != NULL, "set problem: %s", dlut_last_error());
  if (!set) return;
  CHECK(dlut_grade_problem_photo_count(set) == n);
  const int nt = 5 * 5 * 5 * 3;
  float *t = malloc(nt * sizeof(float)), *d = malloc(nt * sizeof(float)), *dm = calloc(nt, sizeof(float)),
        *di = malloc(nt * sizeof(float));
  away_table(dlut_grade_problem_start(set), t, nt);
  dlut_grade_losses L, M;
  memset(&M, 0, sizeof M);
  CHECK(dlut_grade_problem_eval(set, t, &L, d) == 0);
  for (int i = 0; i < n; i++) {
    dlut_grade_opts oi = o;
    oi.samples = (o.samples + n - 1) / n;
    oi.seed = o.seed + (uint64_t)i;
    dlut_grade_problem *p = dlut_grade_problem_new(m, photos[i], &oi);
    CHECK_MSG(p != NULL, "photo %d: %s", i, dlut_last_error());
    if (!p) continue;
    dlut_grade_losses li;
    CHECK(dlut_grade_problem_eval(p, t, &li, di) == 0);
    fprintf(stderr, "  photo %d: total %.6f clip %.6f vol %.6f shift %.6f eigen %.7f\n", i, li.total, li.clip, li.vol,
            li.shift, li.eigen);
    M.total += li.total / n;
    M.clip += li.clip / n;
    M.vol += li.vol / n;
    M.shift += li.shift / n;
    M.eigen += li.eigen / n;
    M.mono = li.mono;
    M.smooth = li.smooth;
    for (int k = 0; k < nt; k++) dm[k] += di[k] / n;
    dlut_grade_problem_free(p);
  }
  fprintf(stderr, "%s set of %d: total %.6f (mean of photos %.6f) clip %.6f (%.6f)\n", ref ? "ref" : prompt, n, L.total,
          M.total, L.clip, M.clip);
  CHECK(L.clip > 0 && L.vol > 0 && L.shift > 0);
  CHECK_NEAR(L.total, M.total, 1e-5 * fabs(M.total));
  CHECK_NEAR(L.clip, M.clip, 1e-5 * fabs(M.clip));
  CHECK_NEAR(L.vol, M.vol, 1e-5 * fabs(M.vol) + 1e-12);
  CHECK_NEAR(L.shift, M.shift, 1e-5 * fabs(M.shift) + 1e-12);
  CHECK_NEAR(L.eigen, M.eigen, 1e-5 * fabs(M.eigen) + 1e-12);
  CHECK_NEAR(L.mono, M.mono, 1e-12);
  double gmax = 0, gerr = 0;
  for (int k = 0; k < nt; k++) {
    gmax = fmax(gmax, fabs(dm[k]));
    gerr = fmax(gerr, fabs(dm[k] - d[k]));
  }
  fprintf(stderr, "  gradient: max |set - mean of photos| %.3g of max %.3g\n", gerr, gmax);
  CHECK(gmax > 0 && gerr <= 1e-4 * gmax);
  fd_check(set, t, d, nt, ref ? "set (ref)" : "set");
  free(t);
  free(d);
  free(dm);
  free(di);
  dlut_grade_problem_free(set);
}

static void augmentation(dlut_clip *m, const dlut_image *const *photos, int n) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = "warm sunset film";
  o.lut_size = 5;
  o.samples = 600;
  o.augment = 2;
  o.seed = 3;
  dlut_grade_problem *p = dlut_grade_problem_new_set(m, photos, n, &o);
  CHECK_MSG(p != NULL, "augmented problem: %s", dlut_last_error());
  if (!p) return;
  const int nt = 5 * 5 * 5 * 3;
  float *t = malloc(nt * sizeof(float)), *d = malloc(nt * sizeof(float)), *d2 = malloc(nt * sizeof(float));
  away_table(dlut_grade_problem_start(p), t, nt);
  dlut_grade_losses plain, s3, s3b, s4, again;
  CHECK(dlut_grade_problem_eval(p, t, &plain, NULL) == 0);
  dlut_grade_problem_augment(p, 3);
  CHECK(dlut_grade_problem_eval(p, t, &s3, d) == 0);
  dlut_grade_problem_augment(p, 4);
  CHECK(dlut_grade_problem_eval(p, t, &s4, NULL) == 0);
  dlut_grade_problem_augment(p, 3);
  CHECK(dlut_grade_problem_eval(p, t, &s3b, d2) == 0);
  dlut_grade_problem_augment(p, -1);
  CHECK(dlut_grade_problem_eval(p, t, &again, NULL) == 0);
  fprintf(stderr, "augment: clip plain %.6f, step 3 %.6f (again %.6f), step 4 %.6f\n", plain.clip, s3.clip, s3b.clip,
          s4.clip);
  CHECK(s3.clip == s3b.clip && memcmp(d, d2, nt * sizeof(float)) == 0); /* drawn again identically */
  CHECK(s3.clip != s4.clip && s3.clip != plain.clip);                   /* other views */
  CHECK(again.clip == plain.clip);
  CHECK(s3.vol == plain.vol && s3.shift == plain.shift); /* colour terms are not augmented */
  dlut_grade_problem_augment(p, 3);
  fd_check(p, t, d, nt, "augmented views (step 3)");
  free(t);
  free(d);
  free(d2);
  dlut_grade_problem_free(p);

  /* whole runs: reproducible, seed-dependent, and they lower the plain loss */
  dlut_grade_opts r = o;
  r.lut_size = 9;
  r.steps = 12;
  r.samples = 1024;
  dlut_grade_result a, b, c;
  CHECK_MSG(dlut_grade_run_set(m, photos, n, &r, &a) == 0, "%s", dlut_last_error());
  CHECK(dlut_grade_run_set(m, photos, n, &r, &b) == 0);
  r.seed = 4;
  CHECK(dlut_grade_run_set(m, photos, n, &r, &c) == 0);
  if (a.lut && b.lut && c.lut) {
    const size_t bytes = (size_t)9 * 9 * 9 * 3 * sizeof(float);
    CHECK(memcmp(a.lut->table, b.lut->table, bytes) == 0);
    CHECK(memcmp(a.lut->table, c.lut->table, bytes) != 0);
    fprintf(stderr, "augmented run: total %.5f -> %.5f (plain views) in %d steps\n", a.start.total, a.end.total,
            a.steps_done);
    CHECK(a.steps_done == 12 && a.end.total < a.start.total);
  }
  dlut_grade_result_free(&a);
  dlut_grade_result_free(&b);
  dlut_grade_result_free(&c);
}

static void runs(dlut_clip *m, const dlut_image *const *photos, int n) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  o.prompt = "cold teal night";
  o.lut_size = 9;
  o.samples = 1024;
  o.steps = 15;
  dlut_grade_result r, one, single;
  CHECK_MSG(dlut_grade_run_set(m, photos, n, &o, &r) == 0, "%s", dlut_last_error());
  if (r.lut) {
    fprintf(stderr, "set of %d: total %.5f -> %.5f, clip %.5f -> %.5f, %.2f s\n", n, r.start.total, r.end.total,
            r.start.clip, r.end.clip, r.seconds);
    CHECK(r.end.total < r.start.total && r.steps_done == 15);
  }
  /* a set of one is the single-photo grade, bitwise */
  CHECK(dlut_grade_run_set(m, photos, 1, &o, &one) == 0);
  CHECK(dlut_grade_run(m, photos[0], &o, &single) == 0);
  if (one.lut && single.lut)
    CHECK(memcmp(one.lut->table, single.lut->table, (size_t)9 * 9 * 9 * 3 * sizeof(float)) == 0);
  /* the set's LUT is not photo 1's */
  if (one.lut && r.lut) CHECK(memcmp(one.lut->table, r.lut->table, (size_t)9 * 9 * 9 * 3 * sizeof(float)) != 0);
  dlut_grade_result_free(&r);
  dlut_grade_result_free(&one);
  dlut_grade_result_free(&single);

  /* refusals */
  dlut_grade_result bad;
  const dlut_image *holes[2] = {photos[0], NULL};
  CHECK(dlut_grade_run_set(m, holes, 2, &o, &bad) != 0 && strstr(dlut_last_error(), "photo 2"));
  CHECK(dlut_grade_run_set(m, photos, 0, &o, &bad) != 0);
  CHECK(dlut_grade_run_set(m, photos, DLUT_GRADE_SET_MAX + 1, &o, &bad) != 0 && strstr(dlut_last_error(), "at most"));
  o.augment = 65;
  CHECK(dlut_grade_run_set(m, photos, n, &o, &bad) != 0 && strstr(dlut_last_error(), "augment"));
}

static void model_free_set(const dlut_image *const *photos, int n) {
  dlut_lut *lut = dlut_lut_alloc(9, 0);
  for (int i = 0; i < 9 * 9 * 9 * 3; i++) lut->table[i] = 0.1f + 0.8f * lut->table[i];
  dlut_grade_losses s, li, mean;
  memset(&mean, 0, sizeof mean);
  CHECK(dlut_grade_lut_losses_set(photos, n, lut, NULL, 3000, 5, &s) == 0);
  for (int i = 0; i < n; i++) {
    CHECK(dlut_grade_lut_losses(photos[i], lut, NULL, 1000, 5 + (uint64_t)i, &li) == 0);
    mean.vol += li.vol / n;
    mean.shift += li.shift / n;
    mean.total += li.total / n;
  }
  CHECK(s.vol > 0 && s.shift > 0);
  CHECK_NEAR(s.vol, mean.vol, 1e-12);
  CHECK_NEAR(s.shift, mean.shift, 1e-12);
  CHECK_NEAR(s.total, mean.total, 1e-9);
  dlut_lut_free(lut);
  /* one transfer for the set; a set of one is the single transfer */
  dlut_lut *t1 = dlut_grade_transfer_set(photos, 1, photos[n - 1], 9, 0),
           *t0 = dlut_grade_transfer(photos[0], photos[n - 1], 9, 0);
  dlut_lut *ts = dlut_grade_transfer_set(photos, n, photos[n - 1], 9, 0);
  CHECK(t1 && t0 && ts);
  if (t1 && t0) CHECK(memcmp(t1->table, t0->table, (size_t)9 * 9 * 9 * 3 * sizeof(float)) == 0);
  if (t1 && ts) CHECK(memcmp(t1->table, ts->table, (size_t)9 * 9 * 9 * 3 * sizeof(float)) != 0);
  dlut_lut_free(t0);
  dlut_lut_free(t1);
  dlut_lut_free(ts);
}

/* The job API takes a set: one LUT, every photo in the report. */
static void job_set(dlut_clip *m, const dlut_image *const *photos, int n) {
  const char *names[3] = {"a.png", "b.png", "c.jpg"};
  for (int with_model = 0; with_model < 2; with_model++) {
    dlut_job_opts o;
    dlut_job_opts_init(&o);
    CHECK(dlut_job_opts_set(&o, "prompt", "warm sunset film") == 0);
    CHECK(dlut_job_opts_set(&o, "steps", "5") == 0);
    CHECK(dlut_job_opts_set(&o, "lut_size", "9") == 0);
    CHECK(dlut_job_opts_set(&o, "augment", "2") == 0);
    CHECK(dlut_job_opts_set(&o, "augment", "65") != 0);
    CHECK(dlut_job_opts_finish(&o, 0) == 0);
    dlut_job_input in = {.photos = photos, .photo_names = names, .n_photos = n, .model = with_model ? m : NULL};
    dlut_job_result r;
    CHECK_MSG(dlut_job_run(&in, &o, NULL, NULL, &r) == 0, "job: %s", dlut_last_error());
    if (r.report_json) {
      CHECK(r.method == (with_model ? DLUT_JOB_CLIP : DLUT_JOB_LOOKS));
      CHECK(strstr(r.report_json, "\"photos\"") && strstr(r.report_json, "c.jpg"));
      CHECK(!with_model || strstr(r.report_json, "\"augment\""));
      CHECK(r.lut && r.lut->size == 9);
      if (with_model) CHECK(r.grade.steps_done == 5);
    }
    dlut_job_result_free(&r);
    const dlut_image *holes[2] = {photos[0], NULL};
    dlut_job_input bad = {.photos = holes, .n_photos = 2};
    CHECK(dlut_job_run(&bad, &o, NULL, NULL, &r) != 0 && strstr(dlut_last_error(), "photo 2"));
    dlut_job_opts_free(&o);
  }
}

int main(void) {
  dlut_image *a = dlut_image_load(test_shared("data/photos/chelsea.png"));
  dlut_image *b = dlut_image_load(test_shared("data/photos/coffee.png"));
  dlut_image *c = dlut_image_load(test_shared("data/photos/rocket.jpg"));
  CHECK(a && b && c);
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  CHECK_MSG(m != NULL, "tiny model: %s", dlut_last_error());
  dlut_clip *mc = dlut_clip_load(test_shared("data/clip-ref/chinese_clip_tiny"));
  CHECK_MSG(mc != NULL, "tiny Chinese model: %s", dlut_last_error());
  if (a && b && c && m && mc) {
    const dlut_image *set[3] = {a, b, c};
    set_is_mean(m, set, 3, "cold teal night, high contrast", NULL);
    set_is_mean(mc, set, 2, "温暖的日落胶片风", NULL);
    set_is_mean(m, set, 2, "", c); /* towards a reference: each photo its own direction */
    augmentation(m, set, 2);
    runs(m, set, 3);
    model_free_set(set, 3);
    job_set(m, set, 3);
  }
  dlut_clip_free(m);
  dlut_clip_free(mc);
  dlut_image_free(a);
  dlut_image_free(b);
  dlut_image_free(c);
  return test_summary("grade_set");
}
