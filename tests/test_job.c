/* The job API (dlut/job.h): options by name with their ranges, the checks
 * across options, error codes, LUTs to and from memory, the offline and
 * CLIP methods, and the bundle written whole or not at all (a write that
 * fails half-way, under a file-size limit like a full disk, leaves the
 * earlier bundle as it was); the swap of a staged bundle into a folder,
 * undone whole when a rename fails. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/looks.h"
#include "dlut/job.h"
#include "dlut/lut.h"
#include "dlut/text.h"
#include "job/bundle.h"
#include "test.h"

static int exists(const char *dir, const char *name) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

static long file_size(const char *dir, const char *name) {
  char p[4400];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static int count_entries(const char *dir) {
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
  FILE *f = popen(cmd, "r");
  int n = -1;
  if (f) {
    if (fscanf(f, "%d", &n) != 1) n = -1;
    pclose(f);
  }
  return n;
}

static void test_opts(void) {
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  CHECK(dlut_job_opts_set(&o, "steps", "120") == 0 && o.grade.steps == 120);
  CHECK(dlut_job_opts_set(&o, "steps", "0") != 0 && dlut_last_error_code() == DLUT_ERR_INPUT);
  CHECK(strstr(dlut_last_error(), "1..1000000") != NULL);
  CHECK(dlut_job_opts_set(&o, "steps", "12abc") != 0);
  CHECK(dlut_job_opts_set(&o, "lut_size", "66") != 0 && o.grade.lut_size == 33);
  CHECK(dlut_job_opts_set(&o, "lut_size", "17") == 0 && o.grade.lut_size == 17);
  CHECK(dlut_job_opts_set(&o, "strength", "nan") != 0);
  CHECK(dlut_job_opts_set(&o, "strength", "1.5") != 0);
  CHECK(dlut_job_opts_set(&o, "strength", "0.25") == 0 && fabsf(o.strength - 0.25f) < 1e-6f);
  CHECK(dlut_job_opts_set(&o, "ref_mode", "sideways") != 0 && strstr(dlut_last_error(), "image,anchor"));
  CHECK(dlut_job_opts_set(&o, "param", "field") == 0 && o.grade.param == DLUT_GRADE_PARAM_FIELD);
  CHECK(dlut_job_opts_set(&o, "transfer", "yes") == 0 && o.grade.ref_transfer_init == 1);
  CHECK(dlut_job_opts_set(&o, "weights", "clip=2,shift=3") == 0 && o.grade.weights.clip == 2 &&
        o.grade.weights.shift == 3 && o.grade.weights.eigen == 10000);
  CHECK(dlut_job_opts_set(&o, "weights", "clip=-1") != 0 && o.grade.weights.clip == 2);
  CHECK(dlut_job_opts_set(&o, "no_such", "1") != 0 && dlut_last_error_code() == DLUT_ERR_INPUT);
  CHECK(dlut_job_opts_set(&o, "prompt", "bad \xff utf8") != 0 && strstr(dlut_last_error(), "UTF-8"));
  CHECK(dlut_job_opts_set(&o, "prompt", "\xed\xa0\x80") != 0); /* a surrogate */
  CHECK(dlut_job_opts_set(&o, "prompt", "\xc0\xaf") != 0);     /* overlong */
  CHECK(dlut_job_opts_set(&o, "prompt", "bell\a") != 0);
  CHECK(dlut_job_opts_set(&o, "prompt", "温暖的日落胶片风") == 0 && !strcmp(o.prompt, "温暖的日落胶片风"));
  /* every option in the table parses its own default */
  for (int i = 0; i < dlut_job_opt_count(); i++) {
    const dlut_job_opt_info *in = dlut_job_opt_get(i);
    if (in->def[0]) CHECK_MSG(dlut_job_opts_set(&o, in->name, in->def) == 0, "%s=%s", in->name, in->def);
  }
  CHECK(dlut_job_opt_get(-1) == NULL && dlut_job_opt_get(dlut_job_opt_count()) == NULL);
  dlut_job_opts_free(&o);

  /* checks across options */
  dlut_job_opts_init(&o);
  CHECK(dlut_job_opts_finish(&o, 0) != 0 && strstr(dlut_last_error(), "empty prompt"));
  CHECK(dlut_job_opts_finish(&o, 1) == 0 && o.grade.ref_mode == DLUT_GRADE_REF_IMAGE);
  dlut_job_opts_set(&o, "prompt", "warm");
  CHECK(dlut_job_opts_finish(&o, 1) == 0 && o.grade.ref_mode == DLUT_GRADE_REF_ANCHOR);
  dlut_job_opts_set(&o, "transfer", "1");
  CHECK(dlut_job_opts_finish(&o, 0) != 0);
  dlut_job_opts_free(&o);
  dlut_job_opts_init(&o);
  dlut_job_opts_set(&o, "ref_mode", "replace");
  CHECK(dlut_job_opts_finish(&o, 1) != 0 && strstr(dlut_last_error(), "give a prompt"));
  dlut_job_opts_free(&o);
}

static void test_lut_memory(void) {
  dlut_lut *l = NULL;
  CHECK(dlut_looks_from_prompt("warm faded film", 9, &l, NULL, 0, NULL, 0) == 0 && l);
  if (!l) return;
  static const dlut_lut_format k_fmts[] = {DLUT_LUT_FORMAT_CUBE, DLUT_LUT_FORMAT_3DL, DLUT_LUT_FORMAT_HALD};
  static const char *k_ext[] = {"cube", "3dl", "png"};
  const char *dir = test_tmpdir("job-mem");
  for (int f = 0; f < 3; f++) {
    uint8_t *data = NULL;
    size_t n = 0;
    CHECK(dlut_lut_save_memory(l, k_fmts[f], NULL, "mem", &data, &n) == 0 && n > 0);
    /* the same bytes as the file writer */
    char p[4400];
    snprintf(p, sizeof p, "%s/l.%s", dir, k_ext[f]);
    CHECK(dlut_lut_save(l, p, NULL) == 0);
    size_t fn = 0;
    uint8_t *fd = dlut_file_read_all(p, 1 << 26, &fn);
    CHECK_MSG(fd && fn == n && memcmp(fd, data, n) == 0, "format %s", k_ext[f]);
    free(fd);
    /* and it loads back, by sniffing too */
    dlut_lut *back = dlut_lut_load_memory(data, n, DLUT_LUT_FORMAT_UNKNOWN, "mem");
    CHECK_MSG(back != NULL, "%s: %s", k_ext[f], dlut_last_error());
    if (back && f == 0) {
      double worst = 0;
      for (int i = 0; i < 9 * 9 * 9 * 3; i++) worst = fmax(worst, fabs(back->table[i] - l->table[i]));
      CHECK(worst < 1e-5);
    }
    dlut_lut_free(back);
    free(data);
  }
  CHECK(dlut_lut_load_memory("LUT_3D_SIZE 2\n0 0 0\n", 20, DLUT_LUT_FORMAT_CUBE, "bad.cube") == NULL);
  CHECK(dlut_last_error_code() == DLUT_ERR_INPUT && strstr(dlut_last_error(), "bad.cube"));
  CHECK(dlut_lut_load_memory("", 0, DLUT_LUT_FORMAT_UNKNOWN, NULL) == NULL);
  dlut_lut_free(l);
}

static void test_errors(void) {
  dlut_error_clear();
  CHECK(dlut_last_error_code() == DLUT_ERR_NONE);
  CHECK(dlut_file_read_all("/no/such/file", 10, &(size_t){0}) == NULL && dlut_last_error_code() == DLUT_ERR_NOT_FOUND);
  dlut_error("plain");
  CHECK(dlut_last_error_code() == DLUT_ERR_INTERNAL);
  dlut_errorc(DLUT_ERR_TOO_LARGE, "big");
  dlut_error_prefix("x.png");
  CHECK(dlut_last_error_code() == DLUT_ERR_TOO_LARGE && !strcmp(dlut_last_error(), "x.png: big"));
  CHECK(!strcmp(dlut_error_code_name(DLUT_ERR_INPUT), "bad_input"));
  /* an image over the pixel cap says so with its code */
  dlut_image_set_max_pixels(100);
  CHECK(dlut_image_load(test_shared("data/photos/chelsea.png")) == NULL &&
        dlut_last_error_code() == DLUT_ERR_TOO_LARGE);
  dlut_image_set_max_pixels(0);
}

/* A noisy RGB photo (compresses badly, so its PNG is large). */
static dlut_image *noise_photo(int w, int h) {
  dlut_image *img = dlut_image_alloc(w, h, 3, DLUT_PIXEL_U8);
  uint32_t s = 12345;
  for (int y = 0; img && y < h; y++) {
    uint8_t *row = (uint8_t *)img->data + (size_t)y * img->stride;
    for (int x = 0; x < w * 3; x++) {
      s = s * 1664525u + 1013904223u;
      row[x] = (uint8_t)(s >> 24);
    }
  }
  return img;
}

static void test_run_and_bundle(void) {
  const char *dir = test_tmpdir("job-bundle");
  char out[4200], photo_path[4200];
  dlut_image *photo = dlut_image_load(test_shared("data/photos/chelsea.png"));
  CHECK(photo != NULL);
  if (!photo) return;
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  dlut_job_opts_set(&o, "prompt", "cold teal night, high contrast");
  dlut_job_opts_set(&o, "lut_size", "9");
  CHECK(dlut_job_opts_finish(&o, 0) == 0);
  dlut_job_input in = {.photo = photo, .photo_name = "chelsea.png"};
  dlut_job_result r;
  CHECK(dlut_job_run(&in, &o, NULL, NULL, &r) == 0);
  CHECK(r.method == DLUT_JOB_LOOKS && r.lut && r.lut->size == 9 && r.understood[0] && r.report_json);
  CHECK(strstr(r.report_json, "\"method\":\t\"looks\"") != NULL);

  /* a new folder: the staging folder renamed; nothing else left beside it */
  snprintf(out, sizeof out, "%s/new/sub", dir);
  CHECK(dlut_job_bundle_write(&r, photo, DLUT_IMAGE_FORMAT_JPEG, &o, out, NULL) == 0);
  CHECK(exists(out, "look.cube") && exists(out, "graded.jpg") && exists(out, "strip.png") &&
        exists(out, "report.json"));
  CHECK(count_entries(out) == 4);
  snprintf(out, sizeof out, "%s/new", dir);
  CHECK(count_entries(out) == 1);

  /* into an existing folder: a PNG bundle replaces the JPEG one (no stale graded.jpg), other files stay */
  snprintf(out, sizeof out, "%s/new/sub", dir);
  char keep[4400];
  snprintf(keep, sizeof keep, "%s/notes.txt", out);
  FILE *f = fopen(keep, "w");
  if (f) fputs("mine\n", f), fclose(f);
  CHECK(dlut_job_bundle_write(&r, photo, DLUT_IMAGE_FORMAT_PNG, &o, out, NULL) == 0);
  CHECK(exists(out, "graded.png") && !exists(out, "graded.jpg") && exists(out, "notes.txt"));
  CHECK(count_entries(out) == 5);

  /* an output that is an input (through a symlink) is refused, nothing changes */
  snprintf(photo_path, sizeof photo_path, "%s/graded.png", out);
  char link[4400];
  snprintf(link, sizeof link, "%s/alias.png", dir);
  CHECK(symlink(photo_path, link) == 0);
  const long before = file_size(out, "graded.png");
  const char *inputs[] = {link, NULL};
  CHECK(dlut_job_bundle_write(&r, photo, DLUT_IMAGE_FORMAT_PNG, &o, out, inputs) != 0);
  CHECK(strstr(dlut_last_error(), "one of the inputs") && dlut_last_error_code() == DLUT_ERR_INPUT);
  CHECK(file_size(out, "graded.png") == before && count_entries(out) == 5);

  /* a write that fails half-way (the graded photo over a file-size limit,
   * as on a full disk): the earlier bundle is untouched, no staging left */
  dlut_image *big = noise_photo(700, 700); /* ~1.4 MB as PNG */
  dlut_job_result r2;
  dlut_job_input in2 = {.photo = big};
  CHECK(big && dlut_job_run(&in2, &o, NULL, NULL, &r2) == 0);
  const long cube_before = file_size(out, "look.cube"), report_before = file_size(out, "report.json");
  struct rlimit old, lim;
  getrlimit(RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 400000;
  signal(SIGXFSZ, SIG_IGN);
  setrlimit(RLIMIT_FSIZE, &lim);
  int wr = dlut_job_bundle_write(&r2, big, DLUT_IMAGE_FORMAT_PNG, &o, out, NULL);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK_MSG(wr != 0, "the write under the limit should fail");
  CHECK(file_size(out, "graded.png") == before && file_size(out, "look.cube") == cube_before &&
        file_size(out, "report.json") == report_before);
  CHECK_MSG(count_entries(out) == 5, "%d entries", count_entries(out));
  /* and the same under the limit into a new folder leaves nothing */
  snprintf(out, sizeof out, "%s/never", dir);
  setrlimit(RLIMIT_FSIZE, &lim);
  wr = dlut_job_bundle_write(&r2, big, DLUT_IMAGE_FORMAT_PNG, &o, out, NULL);
  setrlimit(RLIMIT_FSIZE, &old);
  CHECK(wr != 0 && access(out, F_OK) != 0 && count_entries(dir) == 2);
  /* (two more folders below: enc-opt, enc-fast) */
  dlut_job_result_free(&r2);
  dlut_image_free(big);

  /* fast_encode: the same pixels in a larger JPEG */
  {
    char a[4400], b[4400];
    snprintf(a, sizeof a, "%s/enc-opt", dir);
    snprintf(b, sizeof b, "%s/enc-fast", dir);
    CHECK(dlut_job_bundle_write(&r, photo, DLUT_IMAGE_FORMAT_JPEG, &o, a, NULL) == 0);
    dlut_job_opts_set(&o, "fast_encode", "1");
    CHECK(dlut_job_bundle_write(&r, photo, DLUT_IMAGE_FORMAT_JPEG, &o, b, NULL) == 0);
    dlut_job_opts_set(&o, "fast_encode", "0");
    strcat(a, "/graded.jpg");
    strcat(b, "/graded.jpg");
    dlut_image *ia = dlut_image_load(a), *ib = dlut_image_load(b);
    CHECK(ia && ib && ia->width == ib->width && ia->height == ib->height);
    int same = ia && ib;
    for (int y = 0; same && y < ia->height; y++)
      same = !memcmp((uint8_t *)ia->data + (size_t)y * ia->stride, (uint8_t *)ib->data + (size_t)y * ib->stride,
                     (size_t)ia->width * 3);
    struct stat sa, sb;
    CHECK(same && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sb.st_size > sa.st_size);
    dlut_image_free(ia);
    dlut_image_free(ib);
  }

  /* words the looks do not know: a clear bad-input error without a model */
  dlut_job_opts_set(&o, "prompt", "qwzx blorf");
  CHECK(dlut_job_run(&in, &o, NULL, NULL, &r2) != 0 && dlut_last_error_code() == DLUT_ERR_INPUT);
  dlut_job_result_free(&r);
  dlut_job_opts_free(&o);

  /* with a (tiny, random) model: optimised through CLIP from the offline look */
  dlut_clip *m = dlut_clip_load(test_shared("data/clip-ref/openai_tiny"));
  CHECK(m != NULL);
  if (m) {
    dlut_job_opts_init(&o);
    dlut_job_opts_set(&o, "prompt", "warm film");
    dlut_job_opts_set(&o, "steps", "3");
    dlut_job_opts_set(&o, "lut_size", "9");
    dlut_job_opts_set(&o, "samples", "256");
    CHECK(dlut_job_opts_finish(&o, 0) == 0);
    in.model = m;
    in.model_path = "tiny";
    CHECK(dlut_job_run(&in, &o, NULL, NULL, &r) == 0);
    CHECK(r.method == DLUT_JOB_CLIP && r.grade.steps_done == 3 && !strncmp(r.start, "offline look", 12));
    CHECK(r.report_json && strstr(r.report_json, "\"model\":\t\"tiny\""));
    dlut_job_result_free(&r);
    dlut_job_opts_free(&o);
    dlut_clip_free(m);
  }
  dlut_image_free(photo);
}

static void put(const char *dir, const char *name, const char *text) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (f) fputs(text, f), fclose(f);
}

static int holds(const char *dir, const char *name, const char *text) {
  char p[4400], got[64] = "";
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "r");
  if (!f) return 0;
  size_t n = fread(got, 1, sizeof got - 1, f);
  fclose(f);
  got[n] = 0;
  return strcmp(got, text) == 0;
}

/* dlut__bundle_swap (src/job/bundle.h), which both bundles use: the old
 * names set aside, the new ones moved in; a rename that fails (here: a
 * staged name that is missing) undoes every one before it. */
static void test_bundle_swap(void) {
  const char *dir = test_tmpdir("job-swap");
  char out[4200], stage[4400];
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(stage, sizeof stage, "%s/.dlut-stage.t", out);
  CHECK(mkdir(out, 0777) == 0 && mkdir(stage, 0777) == 0);
  put(out, "a.cube", "old a");
  put(out, "c.png", "old c"); /* not in the new bundle: set aside all the same */
  put(stage, "a.cube", "new a");
  put(stage, "b.png", "new b");
  const char *olds[] = {"a.cube", "b.png", "c.png"}, *news[] = {"a.cube", "b.png", "missing.json"};
  CHECK(dlut__bundle_swap(stage, out, olds, 3, news, 3) != 0);
  CHECK(dlut_last_error_code() == DLUT_ERR_IO && strstr(dlut_last_error(), "missing.json"));
  CHECK(holds(out, "a.cube", "old a") && holds(out, "c.png", "old c") && !exists(out, "b.png"));
  CHECK(holds(stage, "a.cube", "new a") && holds(stage, "b.png", "new b"));
  CHECK(count_entries(out) == 3 && count_entries(stage) == 2);
  /* and with every staged name there: the new bundle in, the old one beside it in the stage */
  CHECK(dlut__bundle_swap(stage, out, olds, 3, news, 2) == 0);
  CHECK(holds(out, "a.cube", "new a") && holds(out, "b.png", "new b") && !exists(out, "c.png"));
  CHECK(holds(stage, "old.a.cube", "old a") && holds(stage, "old.c.png", "old c") && count_entries(stage) == 2);
  CHECK(dlut__bundle_swap(stage, out, olds, DLUT__BUNDLE_SWAP_MAX + 1, news, 1) != 0);
}

int main(void) {
  test_bundle_swap();
  test_opts();
  test_errors();
  test_lut_memory();
  test_run_and_bundle();
  /* set names: a long UTF-8 name is cut at a character boundary, never inside one */
  {
    char longname[700] = "";
    for (int i = 0; i < 80; i++) strcat(longname, "\xe6\x97\xa5"); /* 240 bytes of U+65E5 */
    strcat(longname, ".png");
    const char *paths[3] = {"dir/a.jpg", "other/A.jpg", longname};
    char names[3][DLUT_JOB_SET_NAME_LEN];
    dlut_job_set_names(paths, 3, names);
    CHECK(!strcmp(names[0], "a.jpg") && !strcmp(names[1], "A-2.jpg"));
    CHECK(dlut_utf8_valid(names[2], strlen(names[2])) && strlen(names[2]) == 198 + 4 &&
          !strcmp(names[2] + 198, ".png"));
  }
  return test_summary("job");
}
