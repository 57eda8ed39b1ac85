/* LD_PRELOAD shim for the allocation-failure tests (tests/t_alloc_fail.sh),
 * in the spirit of SQLite's malloc tests: with DLUT_FAIL_AT=N the Nth
 * allocation of the process (malloc, calloc, realloc, aligned_alloc,
 * posix_memalign; counting from 1) fails, and with DLUT_FAIL_PERSIST=1 every
 * one after it too. DLUT_FAIL_COUNT=FILE writes the number of allocations
 * made to FILE at exit (to size the sweep). Allocation by other libraries
 * counts too: their failures must end in a clean error as well.
 * Allocations before main() are counted but never failed (the shim wraps
 * __libc_start_main to know when main starts): the constructors of the
 * shared libraries the program links run before any of its code and
 * cannot report an error; glib's (pulled in by libavcodec's dependencies)
 * deadlocks on a failed g_malloc there. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static atomic_long g_count;
static long g_fail_at = -1;
static int g_persist, g_init;
static char g_count_file[512];

/* dlsym may allocate (calloc) before real_calloc is known: a small static pool serves that */
static char g_boot[4096];
static size_t g_boot_used;

static void init(void) {
  if (g_init) return;
  g_init = 1;
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  const char *at = getenv("DLUT_FAIL_AT"), *p = getenv("DLUT_FAIL_PERSIST"), *c = getenv("DLUT_FAIL_COUNT");
  g_fail_at = at ? atol(at) : -1;
  g_persist = p && *p == '1';
  if (c) snprintf(g_count_file, sizeof g_count_file, "%s", c);
}

/* armed once main() runs: __libc_start_main is called by _start after the
 * dynamic loader has run every library constructor */
static atomic_int g_armed;
typedef int (*main_fn)(int, char **, char **);
static main_fn g_real_main;
static int armed_main(int argc, char **argv, char **envp) {
  atomic_store(&g_armed, 1);
  return g_real_main(argc, argv, envp);
}
int __libc_start_main(main_fn main, int argc, char **argv, void (*init_fn)(void), void (*fini_fn)(void),
                      void (*rtld_fini)(void), void *stack_end) {
  int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *) =
      (int (*)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void), void *))dlsym(
          RTLD_NEXT, "__libc_start_main");
  g_real_main = main;
  return real(armed_main, argc, argv, init_fn, fini_fn, rtld_fini, stack_end);
}

static int fail_now(void) {
  long n = atomic_fetch_add(&g_count, 1) + 1;
  if (!atomic_load(&g_armed)) return 0; /* counted, never failed: a library constructor */
  return g_fail_at > 0 && (n == g_fail_at || (g_persist && n > g_fail_at));
}

void *malloc(size_t n) {
  if (!real_malloc) init();
  if (!real_malloc) return NULL;
  if (fail_now()) return errno = ENOMEM, NULL;
  return real_malloc(n);
}

void *calloc(size_t n, size_t s) {
  if (!real_calloc) {
    if (!g_init) init();
    if (!real_calloc) { /* during dlsym itself */
      size_t need = (n * s + 15) & ~(size_t)15;
      if (g_boot_used + need > sizeof g_boot) return NULL;
      void *r = g_boot + g_boot_used;
      g_boot_used += need;
      return r; /* static, zeroed */
    }
  }
  if (fail_now()) return errno = ENOMEM, NULL;
  return real_calloc(n, s);
}

void *realloc(void *p, size_t n) {
  if (!real_realloc) init();
  if (fail_now()) return errno = ENOMEM, NULL;
  return real_realloc(p, n);
}

static void (*real_free)(void *);
void free(void *p) {
  if ((char *)p >= g_boot && (char *)p < g_boot + sizeof g_boot) return; /* from the boot pool */
  if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
  real_free(p);
}

void *aligned_alloc(size_t a, size_t n) {
  if (!real_aligned_alloc) init();
  if (fail_now()) return errno = ENOMEM, NULL;
  return real_aligned_alloc(a, n);
}

int posix_memalign(void **out, size_t a, size_t n) {
  if (!real_posix_memalign) init();
  if (fail_now()) return ENOMEM;
  return real_posix_memalign(out, a, n);
}

__attribute__((destructor)) static void report(void) {
  if (!g_count_file[0]) return;
  FILE *f = fopen(g_count_file, "w");
  if (f) {
    fprintf(f, "%ld\n", atomic_load(&g_count));
    fclose(f);
  }
}
