/* A persistent pthread pool behind dlut/parallel.h.
 *
 * Workers sleep on a condition variable. dlut_parallel_for publishes a job
 * (function, context, chunk table) and bumps a generation counter; every
 * thread, the caller included, takes chunk indices from an atomic counter
 * until none are left, and the caller waits until all chunks are done.
 * Chunks are fixed by (n, grain, threads) alone, so a chunk always covers
 * the same items whichever thread runs it. */
#include "dlut/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
  dlut_task_fn fn;   /* the job's function */
  void *ctx;         /* its context */
  int64_t n;         /* items in the job */
  int64_t chunk;     /* items per chunk (last one may be short) */
  int64_t n_chunks;  /* number of chunks */
  atomic_llong next; /* next chunk to hand out */
  atomic_llong done; /* chunks finished */
} job_t;

static struct {
  pthread_mutex_t mu;      /* guards everything below but the atomics */
  pthread_cond_t wake;     /* workers wait here for a new generation */
  pthread_cond_t finished; /* the caller waits here for the job's end */
  pthread_t tid[DLUT_MAX_THREADS];
  int n_workers;            /* started worker threads (threads - 1) */
  int threads;              /* configured thread count, 0 = not yet read */
  unsigned long generation; /* bumped once per job */
  int shutdown;             /* set to stop the workers */
  int active;               /* workers inside run_chunks; a job is only published at 0 */
  job_t job;                /* the current job */
  pthread_mutex_t call_mu;  /* one parallel_for at a time */
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0, 0, 0, 0, 0, {0},
            PTHREAD_MUTEX_INITIALIZER};

static _Thread_local int t_in_job; /* nonzero inside a job: nested calls run serially */

static void run_chunks(job_t *job, int thread) {
  for (;;) {
    long long c = atomic_fetch_add(&job->next, 1);
    if (c >= job->n_chunks) break;
    int64_t b = c * job->chunk, e = b + job->chunk;
    if (e > job->n) e = job->n;
    job->fn(job->ctx, b, e, thread);
    if (atomic_fetch_add(&job->done, 1) + 1 == job->n_chunks) {
      pthread_mutex_lock(&g_pool.mu);
      pthread_cond_broadcast(&g_pool.finished);
      pthread_mutex_unlock(&g_pool.mu);
    }
  }
}

static void *worker_main(void *arg) {
  int thread = (int)(intptr_t)arg;
  unsigned long seen = 0;
  t_in_job = 1;
  pthread_mutex_lock(&g_pool.mu);
  for (;;) {
    while (g_pool.generation == seen && !g_pool.shutdown) pthread_cond_wait(&g_pool.wake, &g_pool.mu);
    if (g_pool.shutdown) break;
    seen = g_pool.generation;
    g_pool.active++;
    pthread_mutex_unlock(&g_pool.mu);
    run_chunks(&g_pool.job, thread);
    pthread_mutex_lock(&g_pool.mu);
    if (--g_pool.active == 0) pthread_cond_broadcast(&g_pool.finished);
  }
  pthread_mutex_unlock(&g_pool.mu);
  return NULL;
}

static int default_threads(void) {
  const char *env = getenv("DLUT_THREADS");
  long n = env ? strtol(env, NULL, 10) : 0;
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) n = 1;
  if (n > DLUT_MAX_THREADS) n = DLUT_MAX_THREADS;
  return (int)n;
}

static void stop_workers(void) {
  pthread_mutex_lock(&g_pool.mu);
  g_pool.shutdown = 1;
  pthread_cond_broadcast(&g_pool.wake);
  pthread_mutex_unlock(&g_pool.mu);
  for (int i = 0; i < g_pool.n_workers; i++) pthread_join(g_pool.tid[i], NULL);
  g_pool.n_workers = 0;
  g_pool.shutdown = 0;
}

static void start_workers(void) {
  static int registered;
  if (!registered) {
    atexit(stop_workers);
    registered = 1;
  }
  for (int i = 1; i < g_pool.threads; i++) {
    if (pthread_create(&g_pool.tid[g_pool.n_workers], NULL, worker_main, (void *)(intptr_t)i) != 0) {
      g_pool.threads = g_pool.n_workers + 1; /* run with what we have */
      break;
    }
    g_pool.n_workers++;
  }
}

int dlut_threads_get(void) {
  pthread_mutex_lock(&g_pool.call_mu);
  if (g_pool.threads == 0) g_pool.threads = default_threads();
  int n = g_pool.threads;
  pthread_mutex_unlock(&g_pool.call_mu);
  return n;
}

void dlut_threads_set(int n) {
  pthread_mutex_lock(&g_pool.call_mu);
  if (n <= 0) n = default_threads();
  if (n > DLUT_MAX_THREADS) n = DLUT_MAX_THREADS;
  if (g_pool.n_workers) stop_workers();
  g_pool.threads = n;
  pthread_mutex_unlock(&g_pool.call_mu);
}

void dlut_parallel_for(int64_t n, int64_t grain, dlut_task_fn fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (t_in_job) { /* nested: serial on this thread */
    fn(ctx, 0, n, 0);
    return;
  }
  pthread_mutex_lock(&g_pool.call_mu);
  if (g_pool.threads == 0) g_pool.threads = default_threads();
  int threads = g_pool.threads;
  /* About 4 chunks per thread for balance, never smaller than grain. */
  int64_t chunk = (n + (int64_t)threads * 4 - 1) / ((int64_t)threads * 4);
  if (chunk < grain) chunk = grain;
  int64_t n_chunks = (n + chunk - 1) / chunk;
  if (threads == 1 || n_chunks == 1) {
    pthread_mutex_unlock(&g_pool.call_mu);
    t_in_job = 1;
    for (int64_t c = 0; c < n_chunks; c++) {
      int64_t b = c * chunk, e = b + chunk < n ? b + chunk : n;
      fn(ctx, b, e, 0);
    }
    t_in_job = 0;
    return;
  }
  if (g_pool.n_workers == 0) start_workers();
  pthread_mutex_lock(&g_pool.mu);
  /* A worker that woke late for the previous job may still be checking out. */
  while (g_pool.active > 0) pthread_cond_wait(&g_pool.finished, &g_pool.mu);
  job_t *job = &g_pool.job;
  job->fn = fn;
  job->ctx = ctx;
  job->n = n;
  job->chunk = chunk;
  job->n_chunks = n_chunks;
  atomic_store(&job->next, 0);
  atomic_store(&job->done, 0);
  g_pool.generation++;
  pthread_cond_broadcast(&g_pool.wake);
  pthread_mutex_unlock(&g_pool.mu);

  t_in_job = 1;
  run_chunks(job, 0);
  t_in_job = 0;

  pthread_mutex_lock(&g_pool.mu);
  while (atomic_load(&job->done) < n_chunks || g_pool.active > 0) pthread_cond_wait(&g_pool.finished, &g_pool.mu);
  pthread_mutex_unlock(&g_pool.mu);
  pthread_mutex_unlock(&g_pool.call_mu);
}
