/* dlut/server.h - `dlut serve`: the web page, the HTTP API with jobs, and
 * the workers that run them.
 *
 * USAGE
 *     dlut_server_opts o;
 *     dlut_server_opts_init(&o);
 *     o.port = 8080; o.data_dir = "dlut-data";
 *     return dlut_server_run(&o);   // until SIGINT/SIGTERM
 *
 * WHAT RUNS WHERE
 *   - HTTP: libmicrohttpd, one thread per connection (Server-Sent Events
 *     block in their thread while they wait for the next step).
 *   - State: SQLite (WAL) in DATA/dlut.db, the uploads and results in
 *     DATA/jobs/<id>/. A job is accepted (202) only once its files and its
 *     row are on disk, so a crash loses nothing: on start, queued and
 *     running jobs are queued again. Results are served only from a bundle
 *     that was renamed into place whole (dlut/job.h), so nothing
 *     half-written is ever served.
 *   - Workers: `concurrency` threads in this process. Without a model they
 *     run offline-look jobs side by side; with a model the model is loaded
 *     once and jobs run one at a time (a dlut_clip and OpenBLAS are not to
 *     be shared by concurrent jobs; see dlut/job.h), and more throughput
 *     comes from more worker processes (`dlut worker` with a Redis queue).
 *
 * LIMITS: every one is an option with a default (below). A full queue is
 * answered 429 with Retry-After; an upload over the cap 413 before it is
 * read; an image over the pixel cap 413 before it is decoded.
 *
 * SAFETY: binds to 127.0.0.1 unless told otherwise. With a token every
 * route but /healthz needs `Authorization: Bearer TOKEN`. Job ids are 16
 * lower-case hex digits, checked before any path is built.
 *
 * ERRORS: dlut_server_run returns 0 after a clean shutdown, -1 with
 * dlut_last_error() when it cannot start (port taken, data folder not
 * writable, model not loadable).
 */
#ifndef DLUT_SERVER_H
#define DLUT_SERVER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLUT_SERVER_MAX_PHOTOS 64 /* the most max_photos may be (a request holds at most 128 fields) */

typedef struct dlut_server_opts {
  const char *host;        /* bind address (default "127.0.0.1") */
  int port;                /* TCP port (default 8080; 0 = any free port, printed) */
  const char *data_dir;    /* state and files (default "dlut-data") */
  const char *model_dir;   /* CLIP model folder, or NULL: discovered as `dlut grade` does; "" = none */
  const char *queue_url;   /* NULL: in-process workers; "redis://HOST:PORT": Redis stream */
  const char *token;       /* bearer token or NULL (also $DLUT_TOKEN) */
  int concurrency;         /* in-process worker threads (default: cores without a model, 1 with) */
  int queue_size;          /* queued jobs before 429 (default 256) */
  int job_timeout_s;       /* per job (default 900) */
  int max_upload_mb;       /* request body cap (default 64) */
  int64_t max_pixels;      /* image cap, checked before decoding (default 50 000 000) */
  int max_steps;           /* cap on a job's steps (default 2000) */
  int max_photos;          /* photos in one set job (default 24, at most DLUT_SERVER_MAX_PHOTOS); their pixels
                              together at most 4 x max_pixels */
  double keep_hours;       /* job files kept after they finish (default 168 = 7 days; fractions allowed) */
  int quiet;               /* no access log on stderr */
  const char *ready_file;  /* if set, written with "http://HOST:PORT/\n" once listening (tests) */
  const char *allow_hosts; /* comma-separated host names a loopback server also answers to (a reverse proxy that
                            * passes its own Host), besides IP addresses and localhost; NULL: none */
} dlut_server_opts;

void dlut_server_opts_init(dlut_server_opts *o);
int dlut_server_run(const dlut_server_opts *o);

/* `dlut worker`: run jobs from a Redis queue until SIGINT/SIGTERM. */
typedef struct dlut_worker_opts {
  const char *queue_url; /* "redis://HOST:PORT" (required) */
  const char *model_dir; /* as for the server */
  const char *name;      /* consumer name (default HOST-PID) */
  int job_timeout_s;     /* default 900 */
  int claim_idle_s;      /* jobs pending this long on a dead worker are taken over (default 30) */
  int max_steps;         /* default 2000 */
  int64_t max_pixels;    /* default 50 000 000 */
  int quiet;
} dlut_worker_opts;

void dlut_worker_opts_init(dlut_worker_opts *o);
int dlut_worker_run(const dlut_worker_opts *o);

#ifdef __cplusplus
}
#endif
#endif
