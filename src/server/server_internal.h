/* server/server_internal.h - what the files of src/server/ share.
 *
 *   http.c    libmicrohttpd: requests in, bodies buffered under the cap,
 *             responses out, auth, the access log and latency metrics
 *   api.c     the routes of /v1, the page's assets, /healthz, /metrics
 *   jobs.c    the live job table (what GET and SSE read), the in-process
 *             worker pool, and running one job (shared with the Redis worker)
 *   store.c   SQLite: the durable copy of every job (the only file that
 *             includes sqlite3.h)
 *   run.c     a job's inputs (files or Redis fields) and outputs around dlut_job_run
 *   form.c    request bodies as parts (form.h)
 *   assets.c  the page (web/) embedded in the binary
 */
#ifndef DLUT_SERVER_INTERNAL_H
#define DLUT_SERVER_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dlut/clip.h"
#include "dlut/job.h"
#include "dlut/region.h"
#include "dlut/server.h"

#define DLUT_SRV_REGION_MAX DLUT_REGION_MAX

/* ==== Jobs ==== */

typedef enum srv_state {
  SRV_QUEUED = 0,
  SRV_RUNNING = 1,
  SRV_DONE = 2,
  SRV_FAILED = 3,
  SRV_CANCELLED = 4,
} srv_state;
#define SRV_N_STATES 5

const char *srv_state_name(srv_state s);
int srv_state_from_name(const char *s); /* -1 if unknown */
static inline int srv_state_terminal(srv_state s) {
  return s >= SRV_DONE;
}

#define SRV_ID_LEN 16

typedef struct srv_job {
  char id[SRV_ID_LEN + 1]; /* 16 lower-case hex digits */
  int64_t seq;             /* submission order (SQLite rowid) */
  srv_state state;
  char *options;        /* the submitted options as a JSON object of strings (owned) */
  char *prompt;         /* owned ("" if none) */
  char photo_name[256]; /* the upload's file name, for display */
  char graded_ext[8];   /* "jpg", "png" ... from the photo's content */
  int has_ref;
  int step, steps; /* progress */
  float *loss;     /* total loss per step, n_loss of them (owned) */
  int n_loss, cap_loss;
  double clip_loss; /* at the last step */
  char *error;      /* owned or NULL */
  char error_code[24];
  char understood[512];              /* what the offline looks understood */
  char method[12];                   /* "clip", "looks", "transfer" */
  double created, started, finished; /* unix seconds (0 = not yet) */
  int attempts;                      /* times a worker started it */
  /* live only (not stored) */
  uint8_t *preview; /* latest preview JPEG (owned) */
  size_t preview_size;
  unsigned preview_seq; /* bumps with each new preview */
  unsigned version;     /* bumps with every change */
  int cancel;           /* cancellation requested */
  int in_store;         /* the row exists */
  int refs;             /* SSE streams reading it (the janitor leaves it alone while > 0) */
  struct srv_job *next_queued;
} srv_job;

/* ==== The store (store.c) ==== */

typedef struct srv_store srv_store;
srv_store *srv_store_open(const char *path);
void srv_store_close(srv_store *s);
int srv_store_insert(srv_store *s, srv_job *j); /* sets j->seq */
int srv_store_update(srv_store *s, const srv_job *j);
int srv_store_delete(srv_store *s, const char *id);
/* Calls fn for every job in submission order; fn takes ownership. */
int srv_store_load_all(srv_store *s, void (*fn)(void *user, srv_job *j), void *user);

/* ==== The server ==== */

#define SRV_LAT_BUCKETS 12

typedef struct srv {
  dlut_server_opts o;
  char data_dir[4096];
  char token[256];
  int check_host; /* on loopback, or with no token: Host is checked (http.c request_guard) */
  srv_store *store;
  /* the live table: every job, in submission order, and by id */
  pthread_mutex_t mu;
  pthread_cond_t changed; /* broadcast on every job change (SSE waits here) */
  pthread_cond_t work;    /* workers wait here for a queued job */
  srv_job **jobs;         /* submission order */
  int n_jobs, cap_jobs;
  srv_job **by_id; /* open addressing, cap_index slots */
  int cap_index;
  srv_job *queue_head, *queue_tail;
  int queued;  /* jobs in the queue */
  int running; /* jobs in a worker now */
  int heavy;   /* full-resolution decodes outside the workers now (api.c) */
  int shutdown;
  /* workers */
  pthread_t *workers;
  int n_workers;
  dlut_clip *model; /* shared by the (then single) worker */
  void *remote;     /* the Redis queue (remote.c), or NULL for in-process workers */
  char model_path[4096];
  /* metrics */
  uint64_t steps_total, jobs_finished[SRV_N_STATES], requests_total, rejected_full;
  uint64_t lat_count[SRV_LAT_BUCKETS + 1];
  double lat_sum;
  double started_at;
} srv;

double srv_now(void); /* unix seconds */

/* jobs.c */
int srv_jobs_start(srv *s); /* load the store, requeue, start workers */
void srv_jobs_stop(srv *s); /* stop workers (their jobs stay queued in the store) */
srv_job *srv_job_new(void);
int srv_jobs_table_add(srv *s, srv_job *j);             /* caller holds s->mu */
void srv_jobs_changed(srv *s, srv_job *j, int persist); /* caller holds s->mu: store (if persist), announce */
void srv_job_add_loss(srv_job *j, float loss);
void srv_job_free(srv_job *j);
srv_job *srv_job_find(srv *s, const char *id);         /* caller holds s->mu */
int srv_job_submit(srv *s, srv_job *j);                /* 0: the table owns j; -1 (j still the caller's): queue full
                                                          (DLUT_ERR_TOO_LARGE) or store error */
int srv_job_cancel(srv *s, const char *id);            /* 0, or -1 not found */
char *srv_job_json(const srv_job *j, int with_losses); /* caller holds s->mu; malloc'd */
void srv_job_dir(const srv *s, const char *id, char *out, size_t len);
/* Remove what a killed run left in a job's folder `dir`: the bundle's staging folders
 * (out.tmp.XXXXXX, out/.dlut-stage.XXXXXX); with `all` also preview.jpg and thumb-N.jpg. */
void srv_job_rm_leftovers(const char *dir, int all);
int srv_id_valid(const char *id);
void srv_id_new(char out[SRV_ID_LEN + 1]);
void srv_janitor_run(srv *s); /* delete finished jobs older than keep_hours */

/* shared by the in-process workers and `dlut worker` (jobs.c) */
struct dlut_image;
struct dlut_job_opts;
struct dlut_image *srv_small_rgb8(const struct dlut_image *img, int side); /* long side <= side, U8 RGB */
int srv_jpeg(const struct dlut_image *img, uint8_t **data, size_t *size);  /* preview JPEG, no metadata */
int srv_opts_from_json(const char *json, struct dlut_job_opts *o, int max_steps);

/* run.c: a job's inputs and outputs, the same for both kinds of worker */
struct dlut_job_result;
struct dlut_job_input;
typedef struct srv_inputs {
  int n_photos;                                  /* 1, or a set's */
  struct dlut_image **photos;                    /* n_photos (owned) */
  char **names;                                  /* their labels, the set bundle's paths (owned) */
  struct dlut_image *ref;                        /* or NULL (owned) */
  struct dlut_image *masks[DLUT_SRV_REGION_MAX]; /* mattes of mask regions, by region index (owned) */
} srv_inputs;
/* The bytes of one input ("photo", "photo.2", "reference", "mask.3"): NULL
 * with an error if missing; *owned says the caller frees them. */
typedef const uint8_t *(*srv_blob_fn)(void *user, const char *name, size_t *size, int *owned);
int srv_inputs_load(const char *options_json, const struct dlut_job_opts *o, int has_ref, const char *photo_name,
                    srv_blob_fn get, void *user, srv_inputs *in);
void srv_inputs_free(srv_inputs *in);
void srv_inputs_job(const srv_inputs *in, dlut_clip *model, const char *model_path, struct dlut_job_input *ji);
/* The job's input files ("photo", "photo.2", "reference", "mask.1" ...), at most cap; returns the count. */
#define SRV_INPUTS_MAX (DLUT_SERVER_MAX_PHOTOS + 1 + DLUT_REGION_MAX)
int srv_input_names(const char *options_json, int has_ref, char (*names)[32], int cap);
int srv_set_size(const char *options_json);
/* The photos of a job (1 = one photo); for a set and k in 1..n also graded = the bundle's name of photo k
 * (graded/NAME, dlut_job_set_names; DLUT_JOB_SET_NAME_LEN bytes). */
int srv_set_names(const char *options_json, int k, char *graded);
/* paths[i] (pointers into list, a cJSON array of n photo paths) and
 * names[i] (DLUT_JOB_SET_NAME_LEN bytes each): the names a set's bundle
 * gives its photos (dlut_job_set_names). */
struct cJSON;
void srv_photo_names(
    const struct cJSON *list, int n, const char **paths,
    char (*names)[DLUT_JOB_SET_NAME_LEN]); /* photos of a job from its stored options (1 = one photo) */
/* preview.jpg (and a set's thumb-N.jpg) into side_dir, then the bundle into outdir (whole or not at all) */
int srv_outputs_write(const struct dlut_job_result *r, const srv_inputs *in, const struct dlut_job_opts *o,
                      const char *graded_ext, const char *side_dir, const char *outdir, const struct dlut_image *small);

/* remote.c: the server's side of a Redis queue */
int srv_remote_start(srv *s); /* connect, requeue what Redis lost, start the event listener */
void srv_remote_stop(srv *s);
int srv_remote_submit(srv *s, srv_job *j); /* as srv_job_submit */
void srv_remote_cancel(srv *s, const char *id);

/* api.c */
struct MHD_Connection;
typedef struct srv_request {
  struct MHD_Connection *conn;
  const char *method, *url;
  const uint8_t *body;
  size_t body_size;
  const char *content_type;
} srv_request;
int srv_route(srv *s, const srv_request *r); /* returns an MHD_Result */

/* What a path names (pure: fuzz/fuzz_server.c runs it on anything). */
typedef enum srv_route_kind {
  SRV_R_NO_PAGE = 0,
  SRV_R_TOO_LONG,
  SRV_R_HEALTH,
  SRV_R_METRICS,
  SRV_R_OPENAPI,
  SRV_R_JOBS,
  SRV_R_LOOKS,
  SRV_R_APPLY,
  SRV_R_BAD_ID,
  SRV_R_JOB,
  SRV_R_JOB_EVENTS,
  SRV_R_JOB_FILE,
  SRV_R_NO_FILE,
  SRV_R_NO_ROUTE,
  SRV_R_ASSET,
} srv_route_kind;
typedef struct srv_route_match {
  int kind;                /* srv_route_kind */
  char id[SRV_ID_LEN + 1]; /* JOB*: a valid id */
  char name[64];           /* JOB_FILE: one plain file name */
} srv_route_match;
int srv_route_parse(const char *url, srv_route_match *m); /* returns m->kind */

/* http.c */
int srv_respond(struct MHD_Connection *c, int status, const char *content_type, const void *data, size_t size,
                int copy);
int srv_respond_json(struct MHD_Connection *c, int status, char *json /* taken */);
/* 200 with the bytes (taken) as an attachment named download_name */
int srv_respond_download(struct MHD_Connection *c, const char *content_type, void *data, size_t size,
                         const char *download_name);
int srv_respond_error(struct MHD_Connection *c, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int srv_respond_error_allow(struct MHD_Connection *c, const char *allow, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void srv_label_clean(const char *in, char *out, size_t cap);
int srv_respond_file(struct MHD_Connection *c, const char *path, const char *content_type, const char *download_name);
int srv_status_for(int dlut_error_code);

/* assets.c */
typedef struct srv_asset {
  const char *path; /* "/", "/app.js" ... */
  const char *content_type;
  const unsigned char *data;
  size_t size;
} srv_asset;
const srv_asset *srv_asset_find(const char *path);

#endif
