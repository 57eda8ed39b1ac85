/* tests/test.h - the tiny test harness every tests/test_*.c uses.
 *
 *     int main(void) {
 *       CHECK(1 + 1 == 2);
 *       CHECK_NEAR(x, 0.5, 1e-6);
 *       return test_summary("color");
 *     }
 *
 * A failed CHECK prints file:line and the expression and counts a failure;
 * test_summary prints the totals and returns non-zero if anything failed.
 * test_shared("data/photos/astronaut.png") resolves a path inside the
 * shared data folder: $DLUT_SHARED, else ../shared next to the repository.
 * A test that needs shared data and cannot find it fails (it never skips).
 */
#ifndef DLUT_TESTS_TEST_H
#define DLUT_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_test_checks, g_test_failures;

#define CHECK(cond)                                                            \
  do {                                                                         \
    g_test_checks++;                                                           \
    if (!(cond)) {                                                             \
      g_test_failures++;                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_MSG(cond, ...)                                                   \
  do {                                                                         \
    g_test_checks++;                                                           \
    if (!(cond)) {                                                             \
      g_test_failures++;                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                            \
      fputc('\n', stderr);                                                     \
    }                                                                          \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                         \
  do {                                                                                                                \
    double a_ = (double)(a), b_ = (double)(b);                                                                        \
    g_test_checks++;                                                                                                  \
    if (!(fabs(a_ - b_) <= (tol))) {                                                                                  \
      g_test_failures++;                                                                                              \
      fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n", __FILE__, __LINE__, #a, a_, #b, b_, \
              (double)(tol));                                                                                         \
    }                                                                                                                 \
  } while (0)

static inline const char *test_shared(const char *rel) {
  static char buf[4][4096];
  static int slot;
  char *out = buf[slot++ & 3];
  const char *env = getenv("DLUT_SHARED");
  if (env && *env) {
    snprintf(out, 4096, "%s/%s", env, rel);
    return out;
  }
  snprintf(out, 4096, "../shared/%s", rel);
  if (access(out, F_OK) == 0) return out;
  fprintf(stderr, "test_shared: cannot find %s (set DLUT_SHARED to the shared folder)\n", rel);
  g_test_failures++;
  return out;
}

/* A scratch directory for this test's outputs (created; under $TMPDIR). */
static inline const char *test_tmpdir(const char *name) {
  static char dir[4096];
  const char *t = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/dlut-test-%s-%d", t && *t ? t : "/tmp", name, (int)getpid());
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  if (system(cmd) != 0) g_test_failures++;
  return dir;
}

static inline int test_summary(const char *name) {
  fprintf(stderr, "%s: %d checks, %d failed\n", name, g_test_checks, g_test_failures);
  return g_test_failures ? 1 : 0;
}

#endif
