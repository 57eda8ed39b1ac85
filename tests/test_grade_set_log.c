/* tests/test_grade_set_log.c - grading camera log footage (dlut grade
 * --input): the look baked for log input as a 1D shaper + 3D table
 * (dlut_camlog_bake_shaper) against the exact composition
 * look(to_display(code)), and against the plain lattice over code values
 * (dlut_camlog_bake, what `dlut apply --input` bakes), on a log encoding of
 * a real photo and on random code values; the shaper is the display value
 * of grey; a job with input=slog3 grades the displayed photo and writes the
 * baked LUT. */
#include <stdint.h>

#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "test.h"

static uint64_t g_rng = 77;
static double frand(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return (g_rng >> 11) * (1.0 / 9007199254740992.0);
}

typedef struct err_stats {
  double max, mean, p999; /* in 8-bit codes */
} err_stats;

static int cmp_f(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* |lut(code) - look(clamp(to_display(code)))| over n codes */
static err_stats bake_error(const dlut_lut *baked, const dlut_lut *look, dlut_camlog enc, const float *codes, int n) {
  float *disp = malloc((size_t)n * 3 * sizeof(float)), *e = malloc((size_t)n * 3 * sizeof(float));
  dlut_camlog_to_display(enc, codes, disp, n);
  err_stats s = {0, 0, 0};
  for (int i = 0; i < n; i++) {
    float ref[3], got[3];
    dlut_lut_eval(look, disp + 3 * i, ref, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut_eval(baked, codes + 3 * i, got, DLUT_INTERP_TETRAHEDRAL);
    for (int c = 0; c < 3; c++) {
      float r = ref[c] < 0 ? 0 : ref[c] > 1 ? 1 : ref[c], g = got[c] < 0 ? 0 : got[c] > 1 ? 1 : got[c];
      e[3 * i + c] = fabsf(r - g) * 255.0f;
      s.mean += e[3 * i + c] / (3.0 * n);
      if (e[3 * i + c] > s.max) s.max = e[3 * i + c];
    }
  }
  qsort(e, (size_t)n * 3, sizeof *e, cmp_f);
  s.p999 = e[(int)(0.999 * (n * 3 - 1))];
  free(disp);
  free(e);
  return s;
}

/* Log code values of a real photo: its sRGB values decoded to linear,
 * exposed by `gain`, and encoded with enc's curve. */
static float *photo_codes(const dlut_image *img, dlut_camlog enc, double gain, int *n) {
  dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32);
  const int m = f->width * f->height;
  float *c = malloc((size_t)m * 3 * sizeof(float));
  for (int y = 0; y < f->height; y++) {
    const float *row = (const float *)((const uint8_t *)f->data + (size_t)y * f->stride);
    for (int x = 0; x < f->width * 3; x++) {
      double l = dlut_srgb_to_linear(row[x]) * gain;
      double v = dlut_camlog_encode(enc, l);
      c[(size_t)y * f->width * 3 + x] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
  }
  dlut_image_free(f);
  *n = m;
  return c;
}

static void shaper_accuracy(const dlut_image *photo, const dlut_lut *look) {
  const dlut_camlog encs[] = {DLUT_CAMLOG_SLOG3, DLUT_CAMLOG_LOGC3, DLUT_CAMLOG_VLOG, DLUT_CAMLOG_ACESCCT};
  for (size_t k = 0; k < sizeof encs / sizeof *encs; k++) {
    dlut_camlog enc = encs[k];
    dlut_lut *sh = dlut_camlog_bake_shaper(look, enc, 65, 4096, DLUT_INTERP_TETRAHEDRAL);
    dlut_lut *plain = dlut_camlog_bake(look, enc, 65, DLUT_INTERP_TETRAHEDRAL);
    CHECK_MSG(sh && plain, "bake: %s", dlut_last_error());
    if (!sh || !plain) continue;
    CHECK(sh->shaper_size == 4096 && sh->size == 65);
    /* the shaper is the display value of grey */
    for (int i = 0; i < 4096; i += 455) {
      float code = (float)i / 4095, g[3] = {code, code, code}, d[3];
      dlut_camlog_to_display(enc, g, d, 1);
      CHECK_NEAR(sh->shaper[3 * i], d[0], 1e-5);
      CHECK_NEAR(d[0], d[2], 1e-5);
    }
    int n;
    float *codes = photo_codes(photo, enc, 1.5, &n);
    err_stats es = bake_error(sh, look, enc, codes, n), ep = bake_error(plain, look, enc, codes, n);
    fprintf(stderr,
            "%-8s photo (%d px): shaper+65^3 max %.3f mean %.4f p99.9 %.3f | plain 65^3 max %.3f mean %.4f p99.9 %.3f "
            "(8-bit codes)\n",
            dlut_camlog_name(enc), n, es.max, es.mean, es.p999, ep.max, ep.mean, ep.p999);
    CHECK(es.mean < 0.5 * ep.mean && es.p999 < 0.5 * ep.p999 && es.max < ep.max);
    /* measured 0.08-0.11 and 1.4-1.8: the look keeps OkLab hue since issue 10's second part, and
     * its dark saturated colours (L* < 20) bend more between lattice points than the CIELAB
     * look's did (0.07-0.10 and 1.1-1.4 on the same photo) */
    CHECK(es.mean < 0.12 && es.p999 < 2.0);
    free(codes);
    /* random code values over the whole range (saturated colours the gamut
     * matrix takes outside the display: the clamp's kink is in the table) */
    const int nr = 60000;
    float *rc = malloc((size_t)nr * 3 * sizeof(float));
    for (int i = 0; i < nr * 3; i++) rc[i] = (float)(0.1 + 0.8 * frand());
    es = bake_error(sh, look, enc, rc, nr);
    ep = bake_error(plain, look, enc, rc, nr);
    fprintf(stderr,
            "%-8s random: shaper+65^3 max %.3f mean %.4f p99.9 %.3f | plain 65^3 max %.3f mean %.4f p99.9 %.3f\n",
            dlut_camlog_name(enc), es.max, es.mean, es.p999, ep.max, ep.mean, ep.p999);
    CHECK(es.mean < 0.5 * ep.mean && es.p999 < ep.p999);
    CHECK(es.mean < 0.12);
    free(rc);
    dlut_lut_free(sh);
    dlut_lut_free(plain);
  }
}

/* A job with input=slog3 grades the displayed photo and writes the look baked for log input. */
static void log_job(const dlut_image *photo) {
  int n;
  float *codes = photo_codes(photo, DLUT_CAMLOG_SLOG3, 1.5, &n);
  dlut_image *log = dlut_image_alloc(photo->width, photo->height, 3, DLUT_PIXEL_F32);
  memcpy(log->data, codes, (size_t)n * 3 * sizeof(float));
  free(codes);
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  CHECK(dlut_job_opts_set(&o, "input", "bogus") != 0 && strstr(dlut_last_error(), "slog3"));
  CHECK(dlut_job_opts_set(&o, "input", "slog3") == 0 && o.camlog == DLUT_CAMLOG_SLOG3);
  CHECK(dlut_job_opts_set(&o, "prompt", "warm sunset film") == 0);
  CHECK(dlut_job_opts_finish(&o, 0) == 0);
  dlut_job_input in = {.photo = log, .photo_name = "log.tif"};
  dlut_job_result r;
  CHECK_MSG(dlut_job_run(&in, &o, NULL, NULL, &r) == 0, "job: %s", dlut_last_error());
  if (r.lut && r.look) {
    CHECK(r.camlog == DLUT_CAMLOG_SLOG3 && r.lut->shaper_size == DLUT_JOB_LOG_SHAPER_SIZE &&
          r.lut->size == DLUT_JOB_LOG_LUT_SIZE && r.look->shaper_size == 0);
    CHECK(strstr(r.report_json, "\"input\":\t\"slog3\"") != NULL);
    /* the look itself is the one the offline looks give on a displayed picture */
    dlut_lut *plain = NULL;
    char u[256], ig[256];
    CHECK(dlut_looks_from_prompt("warm sunset film", 33, &plain, u, sizeof u, ig, sizeof ig) == 0);
    if (plain) CHECK(memcmp(plain->table, r.look->table, (size_t)33 * 33 * 33 * 3 * sizeof(float)) == 0);
    dlut_lut_free(plain);
    /* the graded photo is look.cube on the log photo */
    dlut_image *g = dlut_job_render_result(&r, log, 1.0f), *ref = dlut_job_render(r.lut, log, 1.0f);
    CHECK(g && ref && memcmp(g->data, ref->data, (size_t)g->height * g->stride) == 0);
    dlut_image_free(g);
    dlut_image_free(ref);
  }
  dlut_job_result_free(&r);
  dlut_job_opts_free(&o);
  dlut_image_free(log);
}

int main(void) {
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  CHECK(photo != NULL);
  dlut_lut *look = NULL;
  char u[256], ig[256];
  CHECK(dlut_looks_from_prompt("teal and orange, high contrast", 33, &look, u, sizeof u, ig, sizeof ig) == 0);
  if (photo && look) {
    shaper_accuracy(photo, look);
    log_job(photo);
  }
  dlut_lut_free(look);
  dlut_image_free(photo);
  return test_summary("grade_set_log");
}
