/* Core: errors, the thread pool, atomic files. */
#include <stdatomic.h>
#include <sys/stat.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/parallel.h"
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
  return test_summary("core");
}
