/* Allocation-failure injection linked into a test build of dlut
 * ($(BUILD)/tests/dlut-allocfail, linked with -Wl,--wrap=malloc,... so the
 * allocations of DLUT's own code come here; other libraries keep theirs).
 * DLUT_FAIL_AT=N makes the Nth one fail; DLUT_FAIL_COUNT=FILE writes the
 * number made to FILE at exit. Unlike the LD_PRELOAD shim (malloc_fail.c),
 * this works under AddressSanitizer, whose LeakSanitizer then checks every
 * error path for leaks (tests/t_alloc_fail.sh). To see where allocation N
 * is made: gdb -ex 'break dlut_alloc_fail_point' -ex run -ex bt --args
 * env DLUT_FAIL_AT=N build/tests/dlut-allocfail ARGS...
 * Test binaries linked the same way (tests/test_grade_step_alloc.c) read
 * the running count with dlut_alloc_count(). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);

static atomic_long g_count;
static atomic_long g_fail_at = -2; /* -2: not read yet */

/* called when an allocation is made to fail: a place for a breakpoint */
__attribute__((noinline)) void dlut_alloc_fail_point(long n);
__attribute__((noinline)) void dlut_alloc_fail_point(long n) {
  __asm__ volatile("" ::"r"(n) : "memory");
}

static int fail_now(void) {
  long at = atomic_load(&g_fail_at);
  if (at == -2) {
    const char *e = getenv("DLUT_FAIL_AT");
    at = e ? atol(e) : -1;
    atomic_store(&g_fail_at, at);
  }
  if (at <= 0) return atomic_fetch_add(&g_count, 1), 0;
  long n = atomic_fetch_add(&g_count, 1) + 1;
  if (n != at) return 0;
  dlut_alloc_fail_point(n);
  return 1;
}

void *__wrap_malloc(size_t n) {
  return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  return fail_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  return fail_now() ? NULL : __real_realloc(p, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n) {
  return fail_now() ? NULL : __real_aligned_alloc(align, n);
}

char *__wrap_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = __wrap_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

long dlut_alloc_count(void);
long dlut_alloc_count(void) {
  return atomic_load(&g_count);
}

__attribute__((destructor)) static void report(void) {
  const char *path = getenv("DLUT_FAIL_COUNT");
  FILE *f = path ? fopen(path, "w") : NULL;
  if (f) {
    fprintf(f, "%ld\n", atomic_load(&g_count));
    fclose(f);
  }
}
