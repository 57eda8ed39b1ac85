/* dlut/parallel.h - a small persistent thread pool and parallel-for.
 *
 * Usage:
 *     static void work(void *ctx, int64_t begin, int64_t end, int thread) {...}
 *     dlut_parallel_for(n_items, 1024, work, &ctx);
 * splits [0, n) into contiguous chunks of at least `grain` items and runs
 * them on the pool (the calling thread takes part). Returns when all chunks
 * are done. `thread` is in [0, dlut_threads_get()) and is stable for one
 * chunk, so callers may index per-thread scratch buffers with it.
 *
 * The thread count defaults to $DLUT_THREADS, else the number of online
 * CPUs; dlut_threads_set() changes it (it must not be called while a
 * parallel_for is running). Nested parallel_for calls run serially on the
 * calling thread. Results are deterministic as long as `work` writes only
 * to its own [begin, end) range; the chunking depends only on n, grain
 * and the thread count.
 */
#ifndef DLUT_PARALLEL_H
#define DLUT_PARALLEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*dlut_task_fn)(void *ctx, int64_t begin, int64_t end, int thread);

#define DLUT_MAX_THREADS 256

int dlut_threads_get(void);
void dlut_threads_set(int n); /* n <= 0: back to the default */
void dlut_parallel_for(int64_t n, int64_t grain, dlut_task_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
