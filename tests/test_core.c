/* Core: errors, the thread pool, atomic files, UTF-8, the JSON builder. */
#include <stdatomic.h>
#include <sys/stat.h>

#include "core/jsonb.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/parallel.h"
#include "dlut/text.h"
#include "test.h"

typedef struct {
  int *hits; /* one counter per item */
  atomic_int calls;
} pf_ctx;

static void mark(void *ctx, int64_t b, int64_t e, int thread) {
  pf_ctx *c = ctx;
  for (int64_t i = b; i < e; i++) c->hits[i]++;
  atomic_fetch_add(&c->calls, 1);
  (void)thread;
}

static void nested(void *ctx, int64_t b, int64_t e, int thread) {
  pf_ctx *c = ctx;
  dlut_parallel_for(e - b, 1, mark, &(pf_ctx){c->hits + b, 0});
  (void)thread;
}

/* cJSON's allocations, the n-th of them failing (0: none) */
static long g_json_allocs, g_json_fail_at;
static void *json_malloc(size_t n) {
  return ++g_json_allocs == g_json_fail_at ? NULL : malloc(n);
}

/* A document with every kind of member the builder adds; NULL when it failed. */
static char *json_doc(void) {
  jsonb b = {0};
  cJSON *root = jsonb_root(&b);
  jsonb_str(&b, root, "prompt", "温暖的日落 film");
  jsonb_num(&b, root, "steps", 200);
  jsonb_num_or_null(&b, root, "clip", NAN);
  jsonb_bool(&b, root, "skin", 1);
  jsonb_null(&b, root, "anchor");
  cJSON *set = jsonb_obj(&b, root, "settings");
  jsonb_num(&b, set, "lut_size", 33);
  cJSON *list = jsonb_arr(&b, root, "photos");
  for (int i = 0; list && i < 5; i++) {
    cJSON *e = jsonb_obj(&b, list, NULL);
    jsonb_str(&b, e, "input", "a.jpg");
    jsonb_num(&b, e, "n", i);
  }
  jsonb_add(&b, set, "copy", cJSON_Duplicate(set, 1));
  jsonb_str(&b, root, "end", "last");
  return jsonb_print(&b, root, 0);
}

int main(void) {
  CHECK(dlut_error("x=%d", 3) == -1);
  CHECK(strcmp(dlut_last_error(), "x=3") == 0);
  dlut_error_prefix("file.cube");
  CHECK(strcmp(dlut_last_error(), "file.cube: x=3") == 0);

  for (int threads = 1; threads <= 4; threads++) {
    dlut_threads_set(threads);
    CHECK(dlut_threads_get() == threads);
    for (int rep = 0; rep < 50; rep++) {
      int n = 1 + rep * 37;
      int *hits = calloc((size_t)n, sizeof *hits);
      pf_ctx c = {hits, 0};
      dlut_parallel_for(n, 3, rep % 2 ? mark : nested, &c);
      int bad = 0;
      for (int i = 0; i < n; i++) bad += hits[i] != 1;
      CHECK_MSG(bad == 0, "threads %d n %d: %d items not run exactly once", threads, n, bad);
      free(hits);
    }
  }
  dlut_threads_set(0);

  const char *dir = test_tmpdir("core");
  char path[4200];
  snprintf(path, sizeof path, "%s/out.txt", dir);
  dlut_atomic a;
  CHECK(dlut_atomic_begin(&a, path) == 0);
  fputs("first", a.fp);
  CHECK(dlut_atomic_commit(&a) == 0);
  CHECK(dlut_atomic_begin(&a, path) == 0);
  fputs("second, abandoned", a.fp);
  dlut_atomic_abort(&a);
  size_t size = 0;
  char *text = dlut_file_read_all(path, 1 << 20, &size);
  CHECK(text && strcmp(text, "first") == 0);
  free(text);
  CHECK(dlut_file_read_all(path, 3, &size) == NULL);
  char cmd[4300];
  snprintf(cmd, sizeof cmd, "test $(ls '%s' | wc -l) -eq 1 && rm -rf '%s'", dir, dir);
  CHECK(system(cmd) == 0);
  char eb[16];
  CHECK(strcmp(dlut_file_ext("a/b.c/Look.CUBE", eb), "cube") == 0);
  CHECK(strcmp(dlut_file_ext("a/b.c/noext", eb), "") == 0);
  /* UTF-8: every code point round-trips through a hand encoder; the
   * ill-formed classes of RFC 3629 are refused */
  for (unsigned cp = 0; cp <= 0x10FFFF; cp += cp < 0x3000 ? 1 : 97) {
    unsigned char b[4];
    int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1)
      b[0] = (unsigned char)cp;
    else {
      for (int k = n - 1; k > 0; k--) b[k] = (unsigned char)(0x80 | ((cp >> (6 * (n - 1 - k))) & 0x3F));
      b[0] = (unsigned char)((0xF00u >> n) | (cp >> (6 * (n - 1))));
    }
    const int surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    CHECK_MSG(dlut_utf8_seq_len(b, 4) == (surrogate ? 0 : n), "U+%04X", cp);
    CHECK(dlut_utf8_seq_len(b, (size_t)n - 1) == 0 || n == 1); /* truncated */
  }
  CHECK(dlut_utf8_seq_len((const unsigned char *)"\xc0\xaf", 2) == 0);         /* overlong '/' */
  CHECK(dlut_utf8_seq_len((const unsigned char *)"\xe0\x80\xaf", 3) == 0);     /* overlong */
  CHECK(dlut_utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4) == 0); /* above U+10FFFF */
  CHECK(dlut_utf8_seq_len((const unsigned char *)"\x80", 1) == 0);             /* lone continuation */
  CHECK(dlut_utf8_valid("温暖的日落", strlen("温暖的日落")) && !dlut_utf8_valid("a\xff", 2));

  /* the JSON builder: a failed allocation anywhere gives NULL, never a document with a member missing */
  cJSON_InitHooks(&(cJSON_Hooks){json_malloc, free});
  g_json_fail_at = 0;
  g_json_allocs = 0;
  char *whole = json_doc();
  const long total = g_json_allocs;
  CHECK(whole && strstr(whole, "\"end\":\"last\"") && strstr(whole, "\"clip\":null") && total > 20);
  int failed = 0, same = 0;
  for (long k = 1; k <= total + 1 && whole; k++) {
    g_json_allocs = 0;
    g_json_fail_at = k;
    char *t = json_doc();
    CHECK_MSG(!t || !strcmp(t, whole), "allocation %ld failed: %s", k, t);
    failed += !t;
    same += t && !strcmp(t, whole);
    free(t);
  }
  CHECK_MSG(failed == total && same == 1, "%d of %ld failures gave NULL, %d the whole document", failed, total, same);
  cJSON_InitHooks(NULL);
  free(whole);
  return test_summary("core");
}
