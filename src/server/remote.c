/* The server's side of a Redis queue (`dlut serve --queue redis://...`):
 * jobs go to Redis with their inputs, a listener thread applies the events
 * the workers send back (progress, previews, results) to the live table and
 * the store, and writes each finished job's files into the data folder so
 * they are served exactly as in-process results are. The protocol is in
 * server/queue_redis.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "server/queue_redis.h"
#include "server/server_internal.h"

typedef struct remote {
  srv_redis *cmd;    /* submissions and cancels (HTTP threads, under mu) */
  srv_redis *listen; /* the listener's own connection */
  pthread_mutex_t mu;
  pthread_t listener;
  int started;
  char consumer[64]; /* this server's name in the events group */
} remote;

static uint8_t *read_file(const char *path, size_t *n) {
  return dlut_file_read_all(path, (size_t)1 << 31, n);
}

/* The job's inputs from its folder (photos, reference, mattes), pushed to Redis. */
static int push(srv *s, remote *rm, const char *id, const char *options, const char *photo_name, const char *graded_ext,
                int has_ref) {
  char dir[4200], p[4400], names[SRV_INPUTS_MAX][32];
  srv_job_dir(s, id, dir, sizeof dir);
  srv_kvs f = {0};
  int rc = -1;
  const int n = srv_input_names(options, has_ref, names, SRV_INPUTS_MAX);
  if (srv_kvs_add(&f, "options", options, strlen(options)) ||
      srv_kvs_add(&f, "photo_name", photo_name, strlen(photo_name)) ||
      srv_kvs_add(&f, "graded_ext", graded_ext, strlen(graded_ext)))
    goto done;
  for (int i = 0; i < n; i++) {
    size_t len = 0;
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    uint8_t *data = read_file(p, &len);
    if (!data) goto done;
    int bad = srv_kvs_add(&f, names[i], data, len);
    free(data);
    if (bad) goto done;
  }
  pthread_mutex_lock(&rm->mu);
  rc = srv_redis_push_job(rm->cmd, id, &f);
  pthread_mutex_unlock(&rm->mu);
done:
  srv_kvs_free(&f);
  return rc;
}

int srv_remote_submit(srv *s, srv_job *j) {
  remote *rm = s->remote;
  /* Redis first: a job the workers cannot see must not be accepted. A crash
   * between the two leaves a job no client was told about; its events are
   * dropped as unknown. */
  if (push(s, rm, j->id, j->options, j->photo_name, j->graded_ext, j->has_ref) != 0) {
    dlut_error_set_code(DLUT_ERR_NOMEM); /* 503: the queue is unavailable, try again */
    return -1;
  }
  pthread_mutex_lock(&s->mu);
  int rc = -1;
  if (srv_store_insert(s->store, j) != 0) goto done;
  j->in_store = 1;
  if (srv_jobs_table_add(s, j) != 0) {
    srv_store_delete(s->store, j->id);
    goto done;
  }
  s->queued++;
  j->version++;
  pthread_cond_broadcast(&s->changed);
  rc = 0;
done:
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) {
    pthread_mutex_lock(&rm->mu);
    srv_redis_cancel(rm->cmd, j->id);
    pthread_mutex_unlock(&rm->mu);
  }
  return rc;
}

void srv_remote_cancel(srv *s, const char *id) {
  remote *rm = s->remote;
  pthread_mutex_lock(&rm->mu);
  if (srv_redis_cancel(rm->cmd, id) != 0) fprintf(stderr, "dlut serve: cancel %s: %s\n", id, dlut_last_error());
  pthread_mutex_unlock(&rm->mu);
}

/* ==== Events ==== */

static const char *field(const srv_kvs *ev, const char *name) {
  const srv_kv *kv = srv_kvs_get(ev, name);
  return kv ? (const char *)kv->data : NULL;
}

static double num(const srv_kvs *ev, const char *name) {
  const char *v = field(ev, name);
  return v ? strtod(v, NULL) : 0;
}

/* A bundle file's name as the worker sent it ("out/NAME" or
 * "out/graded/NAME"): plain names only, nothing a path could climb with. */
static int bundle_name_ok(const char *rel) {
  const char *name = !strncmp(rel, "graded/", 7) ? rel + 7 : rel;
  return *name && name[0] != '.' && !strchr(name, '/') && !strchr(name, '\\') && strlen(name) < 256;
}

static void rm_stage(const char *stage) {
  char q[4700];
  snprintf(q, sizeof q, "%s/graded", stage);
  DIR *d = opendir(q);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char f[5000];
    snprintf(f, sizeof f, "%s/%s", q, e->d_name);
    unlink(f);
  }
  if (d) closedir(d);
  rmdir(q);
  d = opendir(stage);
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char f[5000];
    snprintf(f, sizeof f, "%s/%s", stage, e->d_name);
    unlink(f);
  }
  if (d) closedir(d);
  rmdir(stage);
}

/* Write a finished job's files (from Redis) into its folder: previews and
 * thumbnails, then the bundle (every out/ field) staged and renamed whole
 * into out/. */
static int write_results(srv *s, const char *id, const char *ext, const srv_kvs *res) {
  char dir[4200], stage[4400], p[4600];
  (void)ext;
  srv_job_dir(s, id, dir, sizeof dir);
  const srv_kv *cube = srv_kvs_get(res, "out/look.cube"), *report = srv_kvs_get(res, "out/report.json"),
               *preview = srv_kvs_get(res, "preview.jpg"), *before = srv_kvs_get(res, "before.jpg");
  if (!cube || !report || !preview || !before)
    return dlut_errorc(DLUT_ERR_INTERNAL, "the worker's results for %s are incomplete", id);
  for (int i = 0; i < res->n; i++) { /* previews and thumbnails beside the bundle */
    const srv_kv *kv = &res->kv[i];
    int t = 0;
    const int side = !strcmp(kv->name, "before.jpg") || !strcmp(kv->name, "preview.jpg") ||
                     (sscanf(kv->name, "thumb-%d.jpg", &t) == 1 && t >= 1 && t <= DLUT_SERVER_MAX_PHOTOS);
    if (!side) continue;
    char name[48];
    if (t)
      snprintf(name, sizeof name, "thumb-%d.jpg", t);
    else
      snprintf(name, sizeof name, "%s", kv->name);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (dlut_file_write_all(p, kv->data, kv->size) != 0) return -1;
  }
  srv_job_rm_leftovers(dir, 0); /* a staging folder of an earlier try, killed while writing */
  snprintf(stage, sizeof stage, "%s/out.tmp.XXXXXX", dir);
  if (!mkdtemp(stage)) return dlut_errorc(DLUT_ERR_IO, "%s: %s", stage, strerror(errno));
  chmod(stage, 0755);
  int rc = 0, sub = 0;
  for (int i = 0; i < res->n && rc == 0; i++) {
    const srv_kv *kv = &res->kv[i];
    if (strncmp(kv->name, "out/", 4)) continue;
    const char *rel = kv->name + 4;
    if (!bundle_name_ok(rel)) {
      rc = dlut_errorc(DLUT_ERR_INTERNAL, "the worker sent a file named '%.80s'", kv->name);
      break;
    }
    if (!strncmp(rel, "graded/", 7) && !sub) {
      snprintf(p, sizeof p, "%s/graded", stage);
      if (mkdir(p, 0755) != 0) rc = dlut_errorc(DLUT_ERR_IO, "%s: %s", p, strerror(errno));
      sub = 1;
    }
    snprintf(p, sizeof p, "%s/%s", stage, rel);
    if (rc == 0) rc = dlut_file_write_all(p, kv->data, kv->size);
  }
  snprintf(p, sizeof p, "%s/out", dir);
  if (rc == 0 && rename(stage, p) != 0) rc = dlut_errorc(DLUT_ERR_IO, "%s: %s", p, strerror(errno));
  if (rc != 0) rm_stage(stage); /* leave nothing half-written */
  return rc;
}

/* caller holds s->mu */
static void leave_state(srv *s, srv_job *j) {
  if (j->state == SRV_QUEUED) s->queued--;
  if (j->state == SRV_RUNNING) s->running--;
}

static void apply_event(srv *s, remote *rm, const srv_kvs *ev) {
  const char *id = field(ev, "id"), *type = field(ev, "type");
  if (!id || !type || !srv_id_valid(id)) return;
  pthread_mutex_lock(&s->mu);
  srv_job *j = srv_job_find(s, id);
  if (!j || srv_state_terminal(j->state)) { /* unknown, or its end is recorded already: once only */
    pthread_mutex_unlock(&s->mu);
    return;
  }
  if (!strcmp(type, "started")) {
    leave_state(s, j);
    j->state = SRV_RUNNING;
    s->running++;
    j->started = srv_now();
    j->attempts = (int)num(ev, "attempt");
    j->steps = (int)num(ev, "steps");
    j->step = 0;
    j->n_loss = 0;
    srv_jobs_changed(s, j, 1);
  } else if (!strcmp(type, "progress")) {
    j->step = (int)num(ev, "step");
    j->steps = (int)num(ev, "steps");
    srv_job_add_loss(j, (float)num(ev, "loss"));
    j->clip_loss = num(ev, "clip");
    s->steps_total++;
    srv_jobs_changed(s, j, 0);
  } else if (!strcmp(type, "preview")) {
    const srv_kv *jpg = srv_kvs_get(ev, "jpeg");
    uint8_t *copy = jpg ? malloc(jpg->size) : NULL;
    if (copy) {
      memcpy(copy, jpg->data, jpg->size);
      free(j->preview);
      j->preview = copy;
      j->preview_size = jpg->size;
      j->preview_seq++;
      srv_jobs_changed(s, j, 0);
    }
  } else if (!strcmp(type, "done")) {
    char ext[8];
    snprintf(ext, sizeof ext, "%s", j->graded_ext);
    pthread_mutex_unlock(&s->mu);
    srv_kvs res = {0};
    int ok = srv_redis_fetch_results(rm->listen, id, &res) == 0 && write_results(s, id, ext, &res) == 0;
    char err[512];
    snprintf(err, sizeof err, "%s", ok ? "" : dlut_last_error());
    pthread_mutex_lock(&s->mu);
    if (!srv_state_terminal(j->state)) {
      leave_state(s, j);
      if (ok) {
        j->state = SRV_DONE;
        const srv_kv *m = srv_kvs_get(&res, "method"), *u = srv_kvs_get(&res, "understood");
        if (m) snprintf(j->method, sizeof j->method, "%s", (const char *)m->data);
        if (u) snprintf(j->understood, sizeof j->understood, "%s", (const char *)u->data);
        const srv_kv *pv = srv_kvs_get(&res, "preview.jpg");
        uint8_t *copy = pv ? malloc(pv->size) : NULL;
        if (copy) {
          memcpy(copy, pv->data, pv->size);
          free(j->preview);
          j->preview = copy;
          j->preview_size = pv->size;
          j->preview_seq++;
        }
      } else {
        j->state = SRV_FAILED;
        free(j->error);
        j->error = strdup(err);
        snprintf(j->error_code, sizeof j->error_code, "internal");
      }
      j->finished = srv_now();
      s->jobs_finished[j->state]++;
      srv_jobs_changed(s, j, 1);
    }
    srv_kvs_free(&res);
    pthread_mutex_unlock(&s->mu);
    srv_redis_forget(rm->listen, id, 3600);
    return;
  } else if (!strcmp(type, "failed") || !strcmp(type, "cancelled")) {
    leave_state(s, j);
    j->state = type[0] == 'f' ? SRV_FAILED : SRV_CANCELLED;
    const char *msg = field(ev, "message"), *code = field(ev, "code");
    if (msg) {
      free(j->error);
      j->error = strdup(msg);
    }
    snprintf(j->error_code, sizeof j->error_code, "%s",
             code ? code : (j->state == SRV_CANCELLED ? "cancelled" : "internal"));
    j->finished = srv_now();
    s->jobs_finished[j->state]++;
    srv_jobs_changed(s, j, 1);
    pthread_mutex_unlock(&s->mu);
    srv_redis_forget(rm->listen, id, 3600);
    return;
  }
  pthread_mutex_unlock(&s->mu);
}

static void *listener_main(void *arg) {
  srv *s = arg;
  remote *rm = s->remote;
  int quiet_errors = 0;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    int stop = s->shutdown;
    pthread_mutex_unlock(&s->mu);
    if (stop) break;
    char entry[64];
    srv_kvs ev = {0};
    int got = srv_redis_next_event(rm->listen, rm->consumer, 500, entry, &ev);
    if (got < 0) {
      if (quiet_errors++ % 20 == 0) fprintf(stderr, "dlut serve: queue: %s (retrying)\n", dlut_last_error());
      srv_kvs_free(&ev);
      usleep(250000);
      continue;
    }
    quiet_errors = 0;
    if (got > 0) {
      apply_event(s, rm, &ev);
      srv_redis_ack_event(rm->listen, entry);
    }
    srv_kvs_free(&ev);
  }
  return NULL;
}

int srv_remote_start(srv *s) {
  remote *rm = calloc(1, sizeof *rm);
  if (!rm) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  pthread_mutex_init(&rm->mu, NULL);
  snprintf(rm->consumer, sizeof rm->consumer, "server");
  if (!(rm->cmd = srv_redis_connect(s->o.queue_url)) || !(rm->listen = srv_redis_connect(s->o.queue_url))) {
    srv_redis_free(rm->cmd);
    free(rm);
    return -1;
  }
  s->remote = rm;
  /* jobs the store says are waiting but Redis does not hold (lost before
   * they were pushed, or Redis lost its data): push them again */
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->n_jobs; i++) {
    srv_job *j = s->jobs[i];
    if (srv_state_terminal(j->state)) continue;
    if (j->state == SRV_QUEUED) s->queued++;
    if (j->state == SRV_RUNNING) s->running++;
    int exists = srv_redis_job_exists(rm->cmd, j->id);
    if (exists == 0 && push(s, rm, j->id, j->options, j->photo_name, j->graded_ext, j->has_ref) == 0 &&
        j->state == SRV_RUNNING) {
      s->running--;
      s->queued++;
      j->state = SRV_QUEUED;
      srv_jobs_changed(s, j, 1);
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (pthread_create(&rm->listener, NULL, listener_main, s) != 0)
    return dlut_errorc(DLUT_ERR_INTERNAL, "cannot start the queue listener");
  rm->started = 1;
  return 0;
}

void srv_remote_stop(srv *s) {
  remote *rm = s->remote;
  if (!rm) return;
  if (rm->started) pthread_join(rm->listener, NULL);
  srv_redis_free(rm->cmd);
  srv_redis_free(rm->listen);
  pthread_mutex_destroy(&rm->mu);
  free(rm);
  s->remote = NULL;
}
