/* The looks API from several threads at once, starting cold: the first
 * calls race to build the vocabulary (pthread_once) and the bake tables,
 * and every thread must get the same look and the same LUT as a serial
 * run afterwards. Run under ASan+UBSan in CI like every test. */
#include <pthread.h>

#include "dlut/looks.h"
#include "dlut/lut.h"
#include "test.h"

enum { NTHREADS = 4 };
static const char *k_prompts[NTHREADS] = {"温暖的日落胶片风", "cold teal night, high contrast",
                                          "cyberpunk, not too dark", "日系小清新，稍微冷一点"};

typedef struct job {
  const char *prompt;
  dlut_look look;
  dlut_lut *lut;
  int rc;
} job;

static pthread_barrier_t g_start;

static void *worker(void *arg) {
  job *j = arg;
  pthread_barrier_wait(&g_start); /* all threads hit the cold start together */
  j->rc = dlut_looks_parse(j->prompt, &j->look, NULL);
  if (j->rc == 0) {
    j->lut = dlut_look_bake(&j->look, 17);
    if (!j->lut) j->rc = -1;
  }
  return NULL;
}

int main(void) {
  job jobs[NTHREADS];
  pthread_t th[NTHREADS];
  pthread_barrier_init(&g_start, NULL, NTHREADS);
  for (int i = 0; i < NTHREADS; i++) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].prompt = k_prompts[i];
    CHECK(pthread_create(&th[i], NULL, worker, &jobs[i]) == 0);
  }
  for (int i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&g_start);
  for (int i = 0; i < NTHREADS; i++) {
    CHECK_MSG(jobs[i].rc == 0, "thread %d failed", i);
    dlut_look serial;
    CHECK(dlut_looks_parse(jobs[i].prompt, &serial, NULL) == 0);
    CHECK_MSG(memcmp(&serial, &jobs[i].look, sizeof serial) == 0, "thread %d parsed '%s' differently", i,
              jobs[i].prompt);
    dlut_lut *lut = dlut_look_bake(&serial, 17);
    CHECK(lut && jobs[i].lut);
    if (lut && jobs[i].lut)
      CHECK_MSG(memcmp(lut->table, jobs[i].lut->table, sizeof(float) * 3 * 17 * 17 * 17) == 0,
                "thread %d baked '%s' differently", i, jobs[i].prompt);
    dlut_lut_free(lut);
    dlut_lut_free(jobs[i].lut);
  }
  /* and the looks differ from each other (the test is not comparing identities) */
  CHECK(memcmp(&jobs[0].look, &jobs[1].look, sizeof jobs[0].look) != 0);
  return test_summary("looks_threads");
}
