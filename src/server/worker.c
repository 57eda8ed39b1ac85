/* `dlut worker` (dlut/server.h): runs jobs from a Redis queue on any
 * machine. Inputs come from Redis, progress, previews and results go back
 * to it, so a worker needs only the queue's address (and, to grade through
 * CLIP, a model folder). The model is loaded once and kept. A job another
 * worker left pending past claim_idle is taken over; the results of a job
 * are recorded once (the first worker to finish marks it done). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/lut.h"
#include "server/queue_redis.h"
#include "server/server_internal.h"

void dlut_worker_opts_init(dlut_worker_opts *o) {
  memset(o, 0, sizeof *o);
  o->job_timeout_s = 900;
  o->claim_idle_s = 30;
  o->max_steps = 2000;
  o->max_pixels = 50000000;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct wctx {
  srv_redis *r;
  const dlut_worker_opts *o;
  const char *me, *entry, *id;
  dlut_image *small;
  double t0, last_preview, last_keep;
  double last_cancel_check; /* when should_stop last read the cancel mark */
  int cancelled, timed_out;
} wctx;

static int on_step(void *user, const dlut_grade_progress *p) {
  wctx *c = user;
  const double now = mono();
  char a[32], b[32], l[32], cl[32];
  snprintf(a, sizeof a, "%d", p->step);
  snprintf(b, sizeof b, "%d", p->steps);
  snprintf(l, sizeof l, "%.9g", p->losses.total);
  snprintf(cl, sizeof cl, "%.9g", p->losses.clip);
  srv_kvs f = {0};
  srv_kvs_add(&f, "step", a, strlen(a));
  srv_kvs_add(&f, "steps", b, strlen(b));
  srv_kvs_add(&f, "loss", l, strlen(l));
  srv_kvs_add(&f, "clip", cl, strlen(cl));
  srv_redis_emit(c->r, c->id, "progress", &f);
  srv_kvs_free(&f);
  if (p->lut && c->small && (p->step == 1 || p->step == p->steps || now - c->last_preview > 0.4)) {
    dlut_image *g = dlut_job_render(p->lut, c->small, 1.f);
    uint8_t *jpg = NULL;
    size_t jn = 0;
    if (g && srv_jpeg(g, &jpg, &jn) == 0) {
      srv_kvs_add(&f, "step", a, strlen(a));
      srv_kvs_add(&f, "jpeg", jpg, jn);
      srv_redis_emit(c->r, c->id, "preview", &f);
      srv_kvs_free(&f);
    }
    free(jpg);
    dlut_image_free(g);
    c->last_preview = now;
  }
  if (now - c->last_keep > 5) { /* still alive: keep the entry from being claimed */
    srv_redis_keep_job(c->r, c->me, c->entry);
    c->last_keep = now;
  }
  if (srv_redis_is_cancelled(c->r, c->id) == 1) c->cancelled = 1;
  if (c->o->job_timeout_s > 0 && now - c->t0 > c->o->job_timeout_s) c->timed_out = 1;
  return c->cancelled || c->timed_out || g_stop;
}

/* The job options' stop (dlut/job.h, STOPPING): between the stages of a
 * job, which a job without a model is made of only (it has no steps for
 * on_step); the cancel mark is read at most every 0.25 s. */
static int should_stop(void *user) {
  wctx *c = user;
  const double now = mono();
  if (c->o->job_timeout_s > 0 && now - c->t0 > c->o->job_timeout_s) c->timed_out = 1;
  if (!c->cancelled && now - c->last_cancel_check > 0.25) {
    c->last_cancel_check = now;
    if (srv_redis_is_cancelled(c->r, c->id) == 1) c->cancelled = 1;
  }
  /* our own stop, too: the job stays pending for another worker (abandoned in run_one) */
  return c->timed_out ? DLUT_ERR_TIMEOUT : c->cancelled || g_stop ? DLUT_ERR_CANCELLED : 0;
}

/* An input of a job from its Redis hash (run.c's srv_blob_fn): borrowed. */
static const uint8_t *kvs_blob(void *user, const char *name, size_t *size, int *owned) {
  const srv_kv *kv = srv_kvs_get(user, name);
  *owned = 0;
  if (!kv) {
    dlut_errorc(DLUT_ERR_INTERNAL, "the job's input '%s' is missing from the queue", name);
    return NULL;
  }
  *size = kv->size;
  return kv->data;
}

static int add_file(srv_kvs *out, const char *field, const char *path) {
  size_t n = 0;
  uint8_t *d = dlut_file_read_all(path, (size_t)1 << 31, &n);
  if (!d) return -1;
  int rc = srv_kvs_add(out, field, d, n);
  free(d);
  return rc;
}

/* Every plain file of dir (and, one level down, of its folders) as fields
 * PREFIX/NAME, PREFIX/SUB/NAME. */
static int add_tree(srv_kvs *out, const char *dir, const char *prefix, int depth) {
  DIR *d = opendir(dir);
  if (!d) return dlut_errorc(DLUT_ERR_IO, "%s: %s", dir, strerror(errno));
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[4600], field[SRV_KV_NAME_MAX + 64];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    snprintf(field, sizeof field, "%s/%s", prefix, e->d_name);
    if (strlen(field) >= SRV_KV_NAME_MAX || lstat(p, &st) != 0) {
      rc = dlut_errorc(DLUT_ERR_INTERNAL, "%s: cannot send it", p);
    } else if (S_ISDIR(st.st_mode)) {
      rc = depth > 0 ? add_tree(out, p, field, depth - 1) : 0;
    } else if (S_ISREG(st.st_mode)) {
      rc = add_file(out, field, p);
    }
  }
  closedir(d);
  return rc;
}

static void rm_tree(const char *dir, int depth) {
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char p[4600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && depth > 0)
      rm_tree(p, depth - 1);
    else
      unlink(p);
  }
  if (d) closedir(d);
  rmdir(dir);
}

/* Run one job; emits its events; 0 when it reached an end (any), -1 when
 * the queue failed (the job stays pending for a retry or another worker). */
static int run_one(srv_redis *r, const dlut_worker_opts *o, const char *me, dlut_clip *model, const char *model_path,
                   const char *entry, const char *id, const srv_kvs *job) {
  dlut_job_opts jo;
  dlut_job_result res;
  srv_inputs in;
  dlut_image *small = NULL;
  srv_kvs out = {0}, ev = {0};
  char tmp[4200] = "", p[4400];
  memset(&res, 0, sizeof res);
  memset(&in, 0, sizeof in);
  dlut_job_opts_init(&jo);
  int ok = 0, abandoned = 0;
  const srv_kv *opts = srv_kvs_get(job, "options"), *ph = srv_kvs_get(job, "photo"),
               *rf = srv_kvs_get(job, "reference"), *name = srv_kvs_get(job, "photo_name"),
               *ext = srv_kvs_get(job, "graded_ext");
  char attempt[16], steps[16];
  snprintf(attempt, sizeof attempt, "%d",
           srv_redis_delivery_count(r, entry) > 0 ? srv_redis_delivery_count(r, entry) : 1);
  wctx c = {.r = r, .o = o, .me = me, .entry = entry, .id = id, .t0 = mono(), .last_keep = mono()};
  jo.stop = should_stop;
  jo.stop_user = &c;
  if (!opts || !ph) {
    dlut_errorc(DLUT_ERR_INTERNAL, "the job's inputs are missing from the queue");
    goto end;
  }
  if (srv_opts_from_json((const char *)opts->data, &jo, o->max_steps) != 0 ||
      dlut_job_opts_finish(&jo, rf != NULL) != 0)
    goto end;
  snprintf(steps, sizeof steps, "%d",
           model ? (jo.grade.steps ? jo.grade.steps : (jo.grade.param == DLUT_GRADE_PARAM_FIELD ? 1000 : 200)) : 0);
  srv_kvs_add(&ev, "attempt", attempt, strlen(attempt));
  srv_kvs_add(&ev, "steps", steps, strlen(steps));
  if (srv_redis_emit(r, id, "started", &ev) != 0) {
    srv_kvs_free(&ev);
    dlut_job_opts_free(&jo);
    return -1;
  }
  srv_kvs_free(&ev);
  if (srv_inputs_load((const char *)opts->data, &jo, rf != NULL, name && name->size ? (const char *)name->data : NULL,
                      kvs_blob, (void *)job, &in) != 0)
    goto end;
  if (!(small = srv_small_rgb8(in.photos[0], 640))) goto end;
  c.small = small;
  dlut_job_input ji;
  srv_inputs_job(&in, model, model_path, &ji);
  if (dlut_job_run(&ji, &jo, on_step, &c, &res) != 0) goto end;
  if (srv_redis_is_cancelled(r, id) == 1) { /* an offline job has no steps to stop at: it stops here */
    c.cancelled = 1;
    res.grade.stopped = 1;
  }
  if (res.grade.stopped == 1 && g_stop && !c.cancelled && !c.timed_out) {
    abandoned = 1; /* our own shutdown: the job stays pending for another worker */
    goto end;
  }
  if (res.grade.stopped == 1) {
    if (c.timed_out)
      dlut_errorc(DLUT_ERR_TIMEOUT, "the job ran past the time limit of %d s", o->job_timeout_s);
    else
      dlut_errorc(DLUT_ERR_CANCELLED, "cancelled");
    goto end;
  }
  /* the library writes the bundle (as for the in-process workers) into a
   * scratch folder; every file of it goes back through Redis */
  const char *td = getenv("TMPDIR");
  snprintf(tmp, sizeof tmp, "%s/dlut-worker-%s.XXXXXX", td && *td ? td : "/tmp", id);
  if (!mkdtemp(tmp)) {
    tmp[0] = 0;
    dlut_errorc(DLUT_ERR_IO, "cannot make a scratch folder: %s", strerror(errno));
    goto end;
  }
  snprintf(p, sizeof p, "%s/out", tmp);
  if (srv_outputs_write(&res, &in, &jo, ext && ext->size ? (const char *)ext->data : "png", tmp, p, small) != 0 ||
      add_tree(&out, p, "out", 1) != 0)
    goto end;
  snprintf(p, sizeof p, "%s/preview.jpg", tmp);
  if (add_file(&out, "preview.jpg", p) != 0) goto end;
  for (int i = 0; in.n_photos > 1 && i < in.n_photos; i++) {
    char f[32];
    snprintf(f, sizeof f, "thumb-%d.jpg", i + 1);
    snprintf(p, sizeof p, "%s/%s", tmp, f);
    if (add_file(&out, f, p) != 0) goto end;
  }
  uint8_t *jpg = NULL;
  size_t jn = 0;
  if (srv_jpeg(small, &jpg, &jn) != 0) goto end;
  srv_kvs_add(&out, "before.jpg", jpg, jn);
  free(jpg);
  const char *m = dlut_job_method_name(res.method);
  srv_kvs_add(&out, "method", m, strlen(m));
  srv_kvs_add(&out, "understood", res.understood, strlen(res.understood));
  ok = 1;
end:;
  int rc = 0;
  if (!ok && g_stop && !c.cancelled && !c.timed_out && dlut_last_error_code() == DLUT_ERR_CANCELLED)
    abandoned = 1; /* stopped between stages by our own shutdown (should_stop) */
  if (abandoned) {
    rc = -1;
  } else if (ok) {
    int first = srv_redis_mark_done(r, id, me);
    if (first == 1) {
      if (srv_redis_store_results(r, id, &out) != 0 || srv_redis_emit(r, id, "done", NULL) != 0) rc = -1;
    } else if (first < 0) {
      rc = -1;
    } /* else: another worker recorded it already */
  } else {
    if (c.timed_out && (dlut_last_error_code() == DLUT_ERR_TIMEOUT || dlut_last_error_code() == DLUT_ERR_CANCELLED))
      dlut_errorc(DLUT_ERR_TIMEOUT, "the job ran past the time limit of %d s", o->job_timeout_s);
    const dlut_error_code code = dlut_last_error_code();
    const char *msg = dlut_last_error()[0] ? dlut_last_error() : "failed";
    const char *cn = dlut_error_code_name(code ? code : DLUT_ERR_INTERNAL);
    srv_kvs_add(&ev, "code", cn, strlen(cn));
    srv_kvs_add(&ev, "message", msg, strlen(msg));
    if (srv_redis_mark_done(r, id, me) >= 0 &&
        srv_redis_emit(r, id, code == DLUT_ERR_CANCELLED ? "cancelled" : "failed", &ev) != 0)
      rc = -1;
    srv_kvs_free(&ev);
  }
  if (!o->quiet)
    fprintf(stderr, "dlut worker: job %s %s%s%s (%.2f s)\n", id, ok ? "done" : "ended: ", ok ? "" : dlut_last_error(),
            "", mono() - c.t0);
  if (tmp[0]) rm_tree(tmp, 2);
  srv_kvs_free(&out);
  dlut_image_free(small);
  srv_inputs_free(&in);
  dlut_job_result_free(&res);
  dlut_job_opts_free(&jo);
  return rc;
}

int dlut_worker_run(const dlut_worker_opts *o) {
  if (!o->queue_url || !*o->queue_url) return dlut_errorc(DLUT_ERR_INPUT, "a worker needs --queue redis://HOST:PORT");
  char me[128], model_path[4096] = "";
  if (o->name && *o->name) {
    snprintf(me, sizeof me, "%s", o->name);
  } else {
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(me, sizeof me, "%s-%d", host, (int)getpid());
  }
  dlut_image_set_max_pixels(o->max_pixels);
  srv_redis *r = srv_redis_connect(o->queue_url);
  if (!r) return -1;
  dlut_clip *model = NULL;
  const char *from = "";
  if (!o->model_dir || *o->model_dir) dlut_job_find_model(o->model_dir, "", model_path, sizeof model_path, &from);
  if (model_path[0] && !(model = dlut_clip_load(model_path))) {
    dlut_error_prefix(model_path);
    srv_redis_free(r);
    return -1;
  }
  fprintf(stderr, "dlut worker %s: taking jobs from %s (%s)\n", me, o->queue_url,
          model ? model_path : "no CLIP model: offline looks");
  g_stop = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  int errors = 0;
  while (!g_stop) {
    char entry[64], id[32];
    srv_kvs job = {0};
    int got = srv_redis_take_job(r, me, o->claim_idle_s * 1000, 1000, entry, id, &job);
    if (got < 0) {
      if (errors++ % 20 == 0) fprintf(stderr, "dlut worker: queue: %s (retrying)\n", dlut_last_error());
      srv_kvs_free(&job);
      usleep(250000);
      continue;
    }
    errors = 0;
    if (got == 0) continue;
    if (srv_redis_is_cancelled(r, id) == 1 || srv_kvs_get(&job, "photo") == NULL) {
      /* cancelled while queued, or its inputs expired: end it without work */
      srv_kvs ev = {0};
      srv_kvs_add(&ev, "code", "cancelled", 9);
      srv_kvs_add(&ev, "message", "cancelled", 9);
      srv_redis_emit(r, id, srv_kvs_get(&job, "photo") ? "cancelled" : "failed", &ev);
      srv_kvs_free(&ev);
      srv_redis_ack_job(r, entry);
      srv_kvs_free(&job);
      continue;
    }
    int rc = run_one(r, o, me, model, model_path, entry, id, &job);
    srv_kvs_free(&job);
    /* a job finished is acknowledged even when a stop came meanwhile; one stopped by our own shutdown
     * (rc != 0) stays pending: another worker (or we, restarted) takes it over */
    if (rc == 0) srv_redis_ack_job(r, entry);
    if (g_stop) break;
  }
  fprintf(stderr, "dlut worker %s: stopping\n", me);
  dlut_clip_free(model);
  srv_redis_free(r);
  return 0;
}
