/* ckpt_alloc.c - the checkpoint loader's allocation functions, with a
 * failure-injection hook for tests (SQLite-style: make the Nth allocation
 * fail, check the caller reports an error and frees everything).
 * Memory from these is released with plain free().
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "clip/ckpt_internal.h"

/* Allocations left before one fails; < 0 = never (the default). */
static atomic_long g_countdown = -1;

void ckpt_alloc_fail_after(long n) {
  atomic_store(&g_countdown, n);
}

long ckpt_alloc_countdown(void) {
  return atomic_load(&g_countdown);
}

static int should_fail(void) {
  long c = atomic_load_explicit(&g_countdown, memory_order_relaxed);
  if (c < 0) return 0;
  return atomic_fetch_sub(&g_countdown, 1) == 0;
}

void *ckpt_malloc(size_t n) {
  return should_fail() ? NULL : malloc(n);
}
void *ckpt_calloc(size_t n, size_t size) {
  return should_fail() ? NULL : calloc(n, size);
}
void *ckpt_realloc(void *p, size_t n) {
  return should_fail() ? NULL : realloc(p, n);
}

char *ckpt_strdup(const char *s) {
  return ckpt_strndup(s, strlen(s));
}

char *ckpt_strndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *d = ckpt_malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}
