/* The live job table, the in-process worker pool, and running one job.
 *
 * Every job of the data folder is in the table (s->jobs in submission
 * order, s->by_id by id), under s->mu. A change of state is written to the
 * store first and announced after (s->changed), so what a client was told
 * survives a crash. Progress of a running job (step, loss, preview) is kept
 * in memory only; a job that was running when the process died is queued
 * again on the next start. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonb.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "server/server_internal.h"

double srv_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *k_state_names[SRV_N_STATES] = {"queued", "running", "done", "failed", "cancelled"};

const char *srv_state_name(srv_state st) {
  return (unsigned)st < SRV_N_STATES ? k_state_names[st] : "failed";
}

int srv_state_from_name(const char *n) {
  for (int i = 0; n && i < SRV_N_STATES; i++)
    if (!strcmp(n, k_state_names[i])) return i;
  return -1;
}

/* ==== Ids and folders ==== */

int srv_id_valid(const char *id) {
  if (!id) return 0;
  for (int i = 0; i < SRV_ID_LEN; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f'))) return 0;
  return id[SRV_ID_LEN] == 0;
}

void srv_id_new(char out[SRV_ID_LEN + 1]) {
  uint8_t b[SRV_ID_LEN / 2];
  if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) { /* never on Linux >= 3.17; a fallback all the same */
    uint64_t t = (uint64_t)(srv_now() * 1e9) ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < sizeof b; i++) b[i] = (uint8_t)(t >> (8 * i));
  }
  for (size_t i = 0; i < sizeof b; i++) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void srv_job_dir(const srv *s, const char *id, char *out, size_t len) {
  snprintf(out, len, "%s/jobs/%s", s->data_dir, id);
}

static void rm_rf(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (d) {
      struct dirent *e;
      char p[4400];
      while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
          snprintf(p, sizeof p, "%s/%s", path, e->d_name);
          rm_rf(p);
        }
      closedir(d);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* ==== Jobs ==== */

srv_job *srv_job_new(void) {
  return calloc(1, sizeof(srv_job));
}

void srv_job_free(srv_job *j) {
  if (!j) return;
  free(j->options);
  free(j->prompt);
  free(j->loss);
  free(j->error);
  free(j->preview);
  free(j);
}

static uint32_t id_hash(const char *id) {
  uint32_t h = 2166136261u;
  for (; *id; id++) h = (h ^ (uint8_t)*id) * 16777619u;
  return h;
}

/* caller holds s->mu */
static int index_put(srv *s, srv_job *j) {
  if ((s->n_jobs + 1) * 2 > s->cap_index) {
    int cap = s->cap_index ? s->cap_index * 2 : 1024;
    srv_job **ix = calloc((size_t)cap, sizeof *ix);
    if (!ix) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < s->n_jobs; i++) {
      uint32_t h = id_hash(s->jobs[i]->id) & (uint32_t)(cap - 1);
      while (ix[h]) h = (h + 1) & (uint32_t)(cap - 1);
      ix[h] = s->jobs[i];
    }
    free(s->by_id);
    s->by_id = ix;
    s->cap_index = cap;
  }
  uint32_t h = id_hash(j->id) & (uint32_t)(s->cap_index - 1);
  while (s->by_id[h]) h = (h + 1) & (uint32_t)(s->cap_index - 1);
  s->by_id[h] = j;
  return 0;
}

int srv_jobs_table_add(srv *s, srv_job *j) {
  if (s->n_jobs == s->cap_jobs) {
    int cap = s->cap_jobs ? s->cap_jobs * 2 : 1024;
    srv_job **nj = realloc(s->jobs, sizeof *nj * (size_t)cap);
    if (!nj) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    s->jobs = nj;
    s->cap_jobs = cap;
  }
  if (index_put(s, j) != 0) return -1;
  s->jobs[s->n_jobs++] = j;
  return 0;
}

srv_job *srv_job_find(srv *s, const char *id) {
  if (!s->cap_index || !srv_id_valid(id)) return NULL;
  uint32_t h = id_hash(id) & (uint32_t)(s->cap_index - 1);
  while (s->by_id[h]) {
    if (!strcmp(s->by_id[h]->id, id)) return s->by_id[h];
    h = (h + 1) & (uint32_t)(s->cap_index - 1);
  }
  return NULL;
}

static void enqueue(srv *s, srv_job *j) {
  j->next_queued = NULL;
  if (s->queue_tail)
    s->queue_tail->next_queued = j;
  else
    s->queue_head = j;
  s->queue_tail = j;
  s->queued++;
  pthread_cond_signal(&s->work);
}

static void dequeue(srv *s, srv_job *j) {
  srv_job **pp = &s->queue_head, *prev = NULL;
  while (*pp && *pp != j) prev = *pp, pp = &(*pp)->next_queued;
  if (!*pp) return;
  *pp = j->next_queued;
  if (s->queue_tail == j) s->queue_tail = prev;
  j->next_queued = NULL;
  s->queued--;
}

/* caller holds s->mu: store, then announce */
void srv_jobs_changed(srv *s, srv_job *j, int persist) {
  j->version++;
  if (persist && srv_store_update(s->store, j) != 0)
    fprintf(stderr, "dlut serve: %s (job %s)\n", dlut_last_error(), j->id);
  pthread_cond_broadcast(&s->changed);
}

int srv_job_submit(srv *s, srv_job *j) {
  if (s->remote) {
    pthread_mutex_lock(&s->mu);
    const int full = s->queued >= s->o.queue_size;
    if (full) s->rejected_full++;
    pthread_mutex_unlock(&s->mu);
    if (full) return dlut_errorc(DLUT_ERR_TOO_LARGE, "the queue is full; try again shortly");
    return srv_remote_submit(s, j);
  }
  pthread_mutex_lock(&s->mu);
  int rc = -1;
  if (s->queued >= s->o.queue_size) {
    s->rejected_full++;
    dlut_errorc(DLUT_ERR_TOO_LARGE, "the queue is full (%d jobs waiting); try again shortly", s->queued);
    goto done;
  }
  if (srv_store_insert(s->store, j) != 0) goto done;
  j->in_store = 1;
  if (srv_jobs_table_add(s, j) != 0) {
    srv_store_delete(s->store, j->id);
    goto done;
  }
  enqueue(s, j);
  j->version++;
  pthread_cond_broadcast(&s->changed);
  rc = 0;
done:
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int srv_job_cancel(srv *s, const char *id) {
  pthread_mutex_lock(&s->mu);
  srv_job *j = srv_job_find(s, id);
  int rc = 0;
  if (!j) {
    rc = dlut_errorc(DLUT_ERR_NOT_FOUND, "no job %s", id);
  } else if (j->state == SRV_QUEUED) {
    if (s->remote)
      s->queued--; /* the worker that takes it sees the cancel mark and drops it */
    else
      dequeue(s, j);
    j->state = SRV_CANCELLED;
    j->finished = srv_now();
    free(j->error); /* as a running job's cancel says it */
    j->error = strdup("cancelled");
    snprintf(j->error_code, sizeof j->error_code, "%s", dlut_error_code_name(DLUT_ERR_CANCELLED));
    s->jobs_finished[SRV_CANCELLED]++;
    srv_jobs_changed(s, j, 1);
  } else if (j->state == SRV_RUNNING) {
    j->cancel = 1; /* the worker stops after its current step */
    srv_jobs_changed(s, j, 0);
  }
  const int tell_workers = s->remote && j && (j->state == SRV_CANCELLED || j->cancel);
  pthread_mutex_unlock(&s->mu);
  if (tell_workers) srv_remote_cancel(s, id);
  return rc;
}

void srv_job_add_loss(srv_job *j, float loss) {
  if (j->n_loss == j->cap_loss) {
    int cap = j->cap_loss ? j->cap_loss * 2 : 64;
    float *nl = realloc(j->loss, sizeof *nl * (size_t)cap);
    if (!nl) return;
    j->loss = nl;
    j->cap_loss = cap;
  }
  j->loss[j->n_loss++] = loss;
}

/* ==== JSON ==== */

static void add_link(jsonb *b, cJSON *files, const char *id, const char *name) {
  char url[160];
  snprintf(url, sizeof url, "/v1/jobs/%s/%s", id, name);
  jsonb_str(b, files, name, url);
}

/* What the job is (one photo or a set, its regions) and, once it is done,
 * every file it can be asked for: "files" {name: url}, a set's "photos"
 * [{name, graded, thumb}], each region's {number, kind, where, prompt,
 * lut, mask}. */
static void add_files(jsonb *b, cJSON *o, const srv_job *j, const cJSON *opts) {
  const int done = j->state == SRV_DONE;
  const cJSON *list = cJSON_GetObjectItemCaseSensitive(opts, "photos"),
              *regions = cJSON_GetObjectItemCaseSensitive(opts, "regions");
  const int n = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : 1;
  jsonb_str(b, o, "kind", n > 1 ? "set" : "photo");
  jsonb_num(b, o, "n_photos", n);
  char url[200];
  if (n > 1) {
    cJSON *ph = jsonb_arr(b, o, "photos");
    const char **paths = calloc((size_t)n, sizeof *paths);
    char(*names)[DLUT_JOB_SET_NAME_LEN] = calloc((size_t)n, sizeof *names);
    if (paths && names) {
      srv_photo_names(list, n, paths, names);
      for (int i = 0; i < n && ph; i++) {
        cJSON *e = jsonb_obj(b, ph, NULL);
        jsonb_str(b, e, "input", paths[i]);
        jsonb_str(b, e, "name", names[i]);
        if (done) {
          snprintf(url, sizeof url, "/v1/jobs/%s/photos/%d", j->id, i + 1);
          jsonb_str(b, e, "graded", url);
          snprintf(url, sizeof url, "/v1/jobs/%s/thumbs/%d", j->id, i + 1);
          jsonb_str(b, e, "thumb", url);
        }
      }
    } else {
      b->failed = 1;
    }
    free(paths);
    free(names);
  }
  int text_regions = 0, k = 0;
  if (cJSON_IsArray(regions)) {
    cJSON *rs = jsonb_arr(b, o, "regions");
    for (const cJSON *r = regions->child; r && rs; r = r->next) {
      cJSON *e = jsonb_add(b, rs, NULL, cJSON_Duplicate(r, 1));
      if (!e) break;
      k++;
      jsonb_num(b, e, "number", k);
      const cJSON *kind = cJSON_GetObjectItemCaseSensitive(r, "kind");
      text_regions += cJSON_IsString(kind) && !strcmp(kind->valuestring, "text");
      if (done) {
        snprintf(url, sizeof url, "/v1/jobs/%s/region-%d.cube", j->id, k);
        jsonb_str(b, e, "lut", url);
        snprintf(url, sizeof url, "/v1/jobs/%s/mask-%d.png", j->id, k);
        jsonb_str(b, e, "mask", url);
      }
    }
  }
  if (!done) return;
  cJSON *files = jsonb_obj(b, o, "files");
  if (!files) return;
  static const char *k_common[] = {"look.cube",   "look.3dl",    "hald.png",  "strip.png",
                                   "report.json", "preview.jpg", "before.jpg"};
  for (size_t i = 0; i < sizeof k_common / sizeof *k_common; i++) add_link(b, files, j->id, k_common[i]);
  char name[48];
  if (n > 1) {
    add_link(b, files, j->id, "contact.jpg");
  } else {
    snprintf(name, sizeof name, "graded.%s", j->graded_ext);
    add_link(b, files, j->id, name);
  }
  for (int r = 1; r <= k; r++) {
    snprintf(name, sizeof name, "region-%d.cube", r);
    add_link(b, files, j->id, name);
    snprintf(name, sizeof name, "mask-%d.png", r);
    add_link(b, files, j->id, name);
  }
  if (text_regions) add_link(b, files, j->id, "heatmap.png");
}

/* NULL when out of memory: never a job description with a member missing */
char *srv_job_json(const srv_job *j, int with_losses) {
  jsonb b = {0};
  cJSON *o = jsonb_root(&b);
  jsonb_str(&b, o, "id", j->id);
  jsonb_str(&b, o, "state", srv_state_name(j->state));
  jsonb_str(&b, o, "prompt", j->prompt ? j->prompt : "");
  jsonb_str(&b, o, "photo_name", j->photo_name);
  jsonb_bool(&b, o, "has_reference", j->has_ref != 0);
  jsonb_num(&b, o, "step", j->step);
  jsonb_num(&b, o, "steps", j->steps);
  if (j->n_loss > 0) jsonb_num(&b, o, "loss", j->loss[j->n_loss - 1]);
  if (with_losses) {
    cJSON *a = jsonb_arr(&b, o, "losses");
    for (int i = 0; a && i < j->n_loss; i++) jsonb_num(&b, a, NULL, j->loss[i]);
  }
  if (j->method[0]) jsonb_str(&b, o, "method", j->method);
  if (j->understood[0] || !strcmp(j->method, "looks")) jsonb_str(&b, o, "understood", j->understood);
  if (j->error) {
    cJSON *e = jsonb_obj(&b, o, "error");
    jsonb_str(&b, e, "code", j->error_code[0] ? j->error_code : "internal");
    jsonb_str(&b, e, "message", j->error);
  }
  cJSON *t = jsonb_obj(&b, o, "timings");
  jsonb_num(&b, t, "created", j->created);
  if (j->started > 0) jsonb_num(&b, t, "started", j->started);
  if (j->finished > 0) jsonb_num(&b, t, "finished", j->finished);
  if (j->started > 0) jsonb_num(&b, t, "queued_s", j->started - j->created);
  if (j->started > 0 && j->finished > 0) jsonb_num(&b, t, "run_s", j->finished - j->started);
  jsonb_num(&b, o, "attempts", j->attempts);
  if (j->cancel && !srv_state_terminal(j->state)) jsonb_bool(&b, o, "cancel_requested", 1);
  if (j->options) {
    cJSON *opts = cJSON_Parse(j->options); /* written by this server: failing is running out of memory */
    if (!opts) {
      b.failed = 1;
    } else {
      add_files(&b, o, j, opts);
      jsonb_add(&b, o, "options", opts);
    }
  }
  return jsonb_print(&b, o, 0);
}

/* ==== Running one job ==== */

/* At most `side` pixels on the long side, 8-bit RGB: the mean of each
 * k x k block, k the smallest integer that fits (an area filter, so no
 * aliasing; previews need no finer resampler, and this is a tenth of the
 * time of the exact bicubic for a megapixel photo). */
dlut_image *srv_small_rgb8(const dlut_image *img, int side) {
  const int w = img->width, h = img->height, big = w > h ? w : h;
  const int k = (big + side - 1) / side;
  const int direct = k > 1 && img->type == DLUT_PIXEL_U8 && img->channels == 3; /* read the photo as it is */
  dlut_image *u8 = direct ? (dlut_image *)img : dlut_image_convert(img, 3, DLUT_PIXEL_U8);
  if (!u8) return NULL;
  if (k <= 1) return u8;
  const int ow = w / k > 0 ? w / k : 1, oh = h / k > 0 ? h / k : 1;
  dlut_image *out = dlut_image_alloc(ow, oh, 3, DLUT_PIXEL_U8);
  uint32_t *acc = out ? malloc((size_t)w * 3 * sizeof *acc) : NULL; /* column sums of k rows */
  if (!acc) {
    dlut_image_free(out);
    if (!direct) dlut_image_free(u8);
    return NULL;
  }
  const uint32_t area = (uint32_t)k * (uint32_t)k;
  const size_t rw = (size_t)w * 3;
  for (int oy = 0; oy < oh; oy++) {
    memset(acc, 0, rw * sizeof *acc);
    for (int dy = 0; dy < k && oy * k + dy < h; dy++) {
      const uint8_t *row = (const uint8_t *)u8->data + (size_t)(oy * k + dy) * u8->stride;
      for (size_t x = 0; x < rw; x++) acc[x] += row[x]; /* vectorises */
    }
    uint8_t *o = (uint8_t *)out->data + (size_t)oy * out->stride;
    for (int ox = 0; ox < ow; ox++) {
      const uint32_t *a = acc + (size_t)ox * k * 3;
      uint32_t r = 0, g = 0, b = 0;
      for (int dx = 0; dx < k; dx++) r += a[dx * 3], g += a[dx * 3 + 1], b += a[dx * 3 + 2];
      o[ox * 3] = (uint8_t)((r + area / 2) / area);
      o[ox * 3 + 1] = (uint8_t)((g + area / 2) / area);
      o[ox * 3 + 2] = (uint8_t)((b + area / 2) / area);
    }
  }
  free(acc);
  if (!direct) dlut_image_free(u8);
  return out;
}

int srv_jpeg(const dlut_image *img, uint8_t **data, size_t *size) {
  dlut_image_save_opts so = {.quality = 85, .strip_meta = 1, .fast = 1};
  return dlut_image_save_memory(img, DLUT_IMAGE_FORMAT_JPEG, &so, data, size);
}

typedef struct run_ctx {
  srv *s;
  srv_job *j;
  dlut_image *small; /* the photo at preview size */
  double t0, last_preview;
  int timeout_s;
  int timed_out;
  int shutdown; /* stopped by the server's own stop: queued again, not cancelled */
} run_ctx;

static int on_step(void *user, const dlut_grade_progress *p) {
  run_ctx *c = user;
  srv *s = c->s;
  uint8_t *jpg = NULL;
  size_t jn = 0;
  const double now = mono_now();
  if (p->lut && c->small && (p->step == 1 || p->step == p->steps || now - c->last_preview > 0.4)) {
    dlut_image *g = dlut_job_render(p->lut, c->small, 1.f);
    if (g && srv_jpeg(g, &jpg, &jn) != 0) jpg = NULL;
    dlut_image_free(g);
    c->last_preview = now;
  }
  if (c->timeout_s > 0 && now - c->t0 > c->timeout_s) c->timed_out = 1;
  pthread_mutex_lock(&s->mu);
  srv_job *j = c->j;
  j->step = p->step;
  j->steps = p->steps;
  srv_job_add_loss(j, (float)p->losses.total);
  j->clip_loss = p->losses.clip;
  if (jpg) {
    free(j->preview);
    j->preview = jpg;
    j->preview_size = jn;
    j->preview_seq++;
  }
  s->steps_total++;
  int stop = j->cancel || c->timed_out || s->shutdown;
  if (s->shutdown && !j->cancel && !c->timed_out) c->shutdown = 1;
  srv_jobs_changed(s, j, 0);
  pthread_mutex_unlock(&s->mu);
  return stop;
}

/* The job options' stop (dlut/job.h, STOPPING): between the stages of a
 * job, which a job without a model is made of only (it has no steps for
 * on_step). The server's own stop stops it too, and it is queued again. */
static int should_stop(void *user) {
  run_ctx *c = user;
  if (c->timeout_s > 0 && mono_now() - c->t0 > c->timeout_s) c->timed_out = 1;
  pthread_mutex_lock(&c->s->mu);
  const int cancel = c->j->cancel;
  if (c->s->shutdown && !cancel && !c->timed_out) c->shutdown = 1;
  pthread_mutex_unlock(&c->s->mu);
  return c->timed_out ? DLUT_ERR_TIMEOUT : cancel || c->shutdown ? DLUT_ERR_CANCELLED : 0;
}

/* The options of a job (a JSON object of strings) into job options. */
int srv_opts_from_json(const char *json, dlut_job_opts *o, int max_steps) {
  cJSON *j = cJSON_Parse(json);
  if (!j) return dlut_errorc(DLUT_ERR_INTERNAL, "stored options are not JSON");
  int rc = 0;
  for (cJSON *it = j->child; it && rc == 0; it = it->next) {
    if (cJSON_IsString(it)) {
      rc = dlut_job_opts_set(o, it->string, it->valuestring);
    } else if (!strcmp(it->string, "regions") && cJSON_IsArray(it)) { /* in order: region 1, 2 ... */
      for (cJSON *r = it->child; r && rc == 0; r = r->next) {
        const cJSON *k = cJSON_GetObjectItemCaseSensitive(r, "kind"), *w = cJSON_GetObjectItemCaseSensitive(r, "where"),
                    *p = cJSON_GetObjectItemCaseSensitive(r, "prompt");
        if (!cJSON_IsString(k) || !cJSON_IsString(w) || !cJSON_IsString(p))
          rc = dlut_errorc(DLUT_ERR_INTERNAL, "stored regions are malformed");
        else
          rc = dlut_job_opts_add_region(o, strcmp(k->valuestring, "mask") ? DLUT_JOB_REGION_TEXT : DLUT_JOB_REGION_MASK,
                                        w->valuestring, p->valuestring);
      }
    } /* "photos" (a set's names) is the worker's, not an option */
  }
  cJSON_Delete(j);
  if (rc == 0 && o->grade.steps > max_steps)
    rc = dlut_errorc(DLUT_ERR_INPUT, "steps must be at most %d on this server", max_steps);
  return rc;
}

/* An input of a job from its folder (run.c's srv_blob_fn). */
typedef struct dir_blobs {
  const char *dir;
  size_t cap;
  const dlut_job_opts *o; /* its stop is asked before each input is read and decoded */
} dir_blobs;

static const uint8_t *dir_blob(void *user, const char *name, size_t *size, int *owned) {
  const dir_blobs *d = user;
  char p[4400];
  if (dlut_job_stop_check(d->o) != 0) return NULL;
  snprintf(p, sizeof p, "%s/%s", d->dir, name);
  *owned = 1;
  return dlut_file_read_all(p, d->cap, size);
}

/* What a run leaves in the job's folder besides its inputs: the page's
 * preview.jpg and thumb-N.jpg, and staging folders of the bundle
 * (out.tmp.XXXXXX beside out/, .dlut-stage.XXXXXX inside it), which a run
 * killed while writing (SIGKILL, a power cut) leaves behind. `all` = 0:
 * only the staging folders (before a run starts again: they are no
 * run's now); 1: the side files too (a run that failed or was stopped
 * leaves nothing half-written). */
void srv_job_rm_leftovers(const char *dir, int all) {
  /* always: an earlier attempt's staging and encoded downloads; with all, its previews too */
  static const char *k_prefixes[] = {"out.tmp.", "cache.", "preview.jpg", "thumb-"};
  char p[4400];
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    for (int k = 0; k < (all ? 4 : 2); k++)
      if (!strncmp(e->d_name, k_prefixes[k], strlen(k_prefixes[k]))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        rm_rf(p);
        break;
      }
  }
  if (d) closedir(d);
  snprintf(p, sizeof p, "%s/out", dir);
  if (!(d = opendir(p))) return;
  while ((e = readdir(d)))
    if (!strncmp(e->d_name, ".dlut-stage.", 12)) {
      snprintf(p, sizeof p, "%s/out/%s", dir, e->d_name);
      rm_rf(p);
    }
  closedir(d);
}

/* Run job j (state RUNNING, owned by this worker) to its end. */
static void run_job(srv *s, srv_job *j, dlut_clip *model, const char *model_path) {
  char dir[4200], p[4400], id[SRV_ID_LEN + 1];
  dlut_job_opts o;
  dlut_job_result r;
  srv_inputs in;
  dlut_image *small = NULL;
  int ok = 0;
  memset(&r, 0, sizeof r);
  memset(&in, 0, sizeof in);
  dlut_job_opts_init(&o);
  pthread_mutex_lock(&s->mu);
  snprintf(id, sizeof id, "%s", j->id);
  char *options = strdup(j->options ? j->options : "{}");
  const int has_ref = j->has_ref;
  char name[256], ext[8];
  snprintf(name, sizeof name, "%s", j->photo_name);
  snprintf(ext, sizeof ext, "%s", j->graded_ext);
  pthread_mutex_unlock(&s->mu);
  srv_job_dir(s, id, dir, sizeof dir);
  srv_job_rm_leftovers(dir, 0); /* an earlier attempt's staging folders */

  run_ctx c = {.s = s, .j = j, .t0 = mono_now(), .timeout_s = s->o.job_timeout_s};
  o.stop = should_stop;
  o.stop_user = &c;
  if (!options || srv_opts_from_json(options, &o, s->o.max_steps) != 0) goto end;
  if (dlut_job_opts_finish(&o, has_ref) != 0) goto end;
  dir_blobs blobs = {.dir = dir, .cap = (size_t)s->o.max_upload_mb << 20, .o = &o};
  if (srv_inputs_load(options, &o, has_ref, name, dir_blob, &blobs, &in) != 0) goto end;
  if (!(small = srv_small_rgb8(in.photos[0], 640))) goto end;
  c.small = small;
  dlut_job_input ji;
  srv_inputs_job(&in, model, model_path, &ji);
  if (dlut_job_run(&ji, &o, on_step, &c, &r) != 0) goto end;
  pthread_mutex_lock(&s->mu);
  if (j->cancel) r.grade.stopped = 1; /* an offline job has no steps to stop at: it stops here */
  pthread_mutex_unlock(&s->mu);
  if (r.grade.stopped == 1) {
    if (c.timed_out)
      dlut_errorc(DLUT_ERR_TIMEOUT, "the job ran past the time limit of %d s", s->o.job_timeout_s);
    else
      dlut_errorc(DLUT_ERR_CANCELLED, "cancelled");
    goto end;
  }
  /* preview.jpg (and thumbnails) first, the bundle last: its arrival is
   * what "done" means (before.jpg is made from the photo when first asked for) */
  snprintf(p, sizeof p, "%s/out", dir);
  if (srv_outputs_write(&r, &in, &o, ext, dir, p, small) != 0) goto end;
  ok = 1;
end:;
  dlut_error_code code = ok ? DLUT_ERR_NONE : dlut_last_error_code();
  if (!ok && c.timed_out && (code == DLUT_ERR_TIMEOUT || code == DLUT_ERR_CANCELLED)) {
    code = DLUT_ERR_TIMEOUT; /* stopped between stages by should_stop */
    dlut_errorc(code, "the job ran past the time limit of %d s", s->o.job_timeout_s);
  }
  if (!ok) srv_job_rm_leftovers(dir, 1);
  uint8_t *jpg = NULL;
  size_t jn = 0;
  if (ok) {
    snprintf(p, sizeof p, "%s/preview.jpg", dir);
    jpg = dlut_file_read_all(p, (size_t)64 << 20, &jn);
  }
  pthread_mutex_lock(&s->mu);
  if (!ok && c.shutdown && !j->cancel && !c.timed_out) {
    /* stopped by the server's own stop (SIGTERM, Ctrl-C): not the user's
     * cancel, so it is queued again, on disk, and the next start runs it
     * from the beginning, as after a crash */
    j->state = SRV_QUEUED;
    j->step = 0;
    j->n_loss = 0;
    s->running--;
    srv_jobs_changed(s, j, 1);
    pthread_mutex_unlock(&s->mu);
    goto out;
  }
  if (ok) {
    j->state = SRV_DONE;
    snprintf(j->method, sizeof j->method, "%s", dlut_job_method_name(r.method));
    snprintf(j->understood, sizeof j->understood, "%s", r.understood);
    if (jpg) {
      free(j->preview);
      j->preview = jpg;
      j->preview_size = jn;
      j->preview_seq++;
      jpg = NULL;
    }
    if (j->steps == 0) j->step = j->steps = r.grade.steps_done;
  } else {
    j->state = code == DLUT_ERR_CANCELLED ? SRV_CANCELLED : SRV_FAILED;
    free(j->error);
    j->error = strdup(dlut_last_error()[0] ? dlut_last_error() : "failed");
    snprintf(j->error_code, sizeof j->error_code, "%s", dlut_error_code_name(code ? code : DLUT_ERR_INTERNAL));
  }
  j->finished = srv_now();
  s->jobs_finished[j->state]++;
  s->running--;
  srv_jobs_changed(s, j, 1);
  pthread_mutex_unlock(&s->mu);
out:
  free(options);
  free(jpg);
  dlut_image_free(small);
  srv_inputs_free(&in);
  dlut_job_result_free(&r);
  dlut_job_opts_free(&o);
}

static void *worker_main(void *arg) {
  srv *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->queue_head && !s->shutdown) pthread_cond_wait(&s->work, &s->mu);
    if (s->shutdown) break;
    srv_job *j = s->queue_head;
    dequeue(s, j);
    j->state = SRV_RUNNING;
    j->started = srv_now();
    j->attempts++;
    j->step = 0;
    j->n_loss = 0;
    s->running++;
    srv_jobs_changed(s, j, 1);
    pthread_mutex_unlock(&s->mu);
    run_job(s, j, s->model, s->model_path);
    pthread_mutex_lock(&s->mu);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* ==== Start and stop ==== */

static void load_one(void *user, srv_job *j) {
  srv *s = user;
  if (srv_jobs_table_add(s, j) != 0) {
    srv_job_free(j);
    return;
  }
  if (s->o.queue_url && *s->o.queue_url) return; /* Redis holds the queue (srv_remote_start) */
  if (j->state == SRV_QUEUED || j->state == SRV_RUNNING) {
    /* interrupted by a crash or a stop: run it again from the start */
    j->state = SRV_QUEUED;
    j->step = 0;
    j->n_loss = 0;
    enqueue(s, j);
  }
}

int srv_jobs_start(srv *s) {
  pthread_mutex_lock(&s->mu);
  int rc = srv_store_load_all(s->store, load_one, s);
  for (srv_job *j = s->queue_head; rc == 0 && j; j = j->next_queued) srv_store_update(s->store, j);
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) return -1;
  if (s->o.queue_url && *s->o.queue_url) return srv_remote_start(s);
  s->workers = calloc((size_t)s->o.concurrency, sizeof *s->workers);
  if (!s->workers) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  for (int i = 0; i < s->o.concurrency; i++) {
    if (pthread_create(&s->workers[i], NULL, worker_main, s) != 0)
      return dlut_errorc(DLUT_ERR_INTERNAL, "cannot start worker threads");
    s->n_workers++;
  }
  return 0;
}

void srv_jobs_stop(srv *s) {
  pthread_mutex_lock(&s->mu);
  s->shutdown = 1;
  pthread_cond_broadcast(&s->work);
  pthread_cond_broadcast(&s->changed);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
  srv_remote_stop(s);
  free(s->workers);
  s->workers = NULL;
  s->n_workers = 0;
}

void srv_janitor_run(srv *s) {
  const double cutoff = srv_now() - (double)s->o.keep_hours * 3600.0;
  char dir[4200];
  pthread_mutex_lock(&s->mu);
  int w = 0, removed = 0;
  for (int i = 0; i < s->n_jobs; i++) {
    srv_job *j = s->jobs[i];
    if (srv_state_terminal(j->state) && j->finished > 0 && j->finished < cutoff && j->refs == 0) {
      srv_store_delete(s->store, j->id);
      srv_job_dir(s, j->id, dir, sizeof dir);
      rm_rf(dir);
      srv_job_free(j);
      removed++;
    } else {
      s->jobs[w++] = j;
    }
  }
  s->n_jobs = w;
  if (removed) { /* rebuild the index */
    memset(s->by_id, 0, sizeof *s->by_id * (size_t)s->cap_index);
    for (int i = 0; i < s->n_jobs; i++) {
      uint32_t h = id_hash(s->jobs[i]->id) & (uint32_t)(s->cap_index - 1);
      while (s->by_id[h]) h = (h + 1) & (uint32_t)(s->cap_index - 1);
      s->by_id[h] = s->jobs[i];
    }
  }
  pthread_mutex_unlock(&s->mu);
}
