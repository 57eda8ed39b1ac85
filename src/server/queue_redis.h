/* server/queue_redis.h - the Redis queue between `dlut serve --queue` and
 * `dlut worker`. Only queue_redis.c includes hiredis, so the protocol below
 * can be read (and replaced) in one place.
 *
 * KEYS (prefix "dlut:")
 *   dlut:jobs              stream of job entries {id}; consumer group "workers"
 *   dlut:job:ID            hash: options (JSON), photo, reference, photo_name, graded_ext;
 *                          a set: photo.2 ... photo.N (options "photos" names them); regions:
 *                          mask.K, the matte of mask region K (options "regions" lists them)
 *   dlut:cancel:ID         set when the job is to stop (expires after a day)
 *   dlut:done:ID           set once by the worker that finished it (SET NX): results are recorded once
 *   dlut:result:ID         hash: out/NAME for every file of the bundle the job library wrote
 *                          (out/look.cube, out/graded.jpg, out/region-1.cube, out/graded/NAME of a
 *                          set ...), preview.jpg, before.jpg, thumb-N.jpg (sets), method, understood
 *   dlut:events            stream of events {id, type, ...}; consumer group "servers"
 *
 * EVENTS: started {attempt, steps}, progress {step, steps, loss, clip},
 * preview {step, jpeg}, done {}, failed {code, message}, cancelled {}.
 *
 * DELIVERY: a worker takes an entry with XREADGROUP (or, first, takes over
 * one left pending by a dead worker with XAUTOCLAIM past claim_idle), keeps
 * it with XCLAIM while it runs (resetting its idle time), and XACKs it after
 * the results and the final event are written. The server reads events
 * through its own consumer group and XACKs each after applying it, so a
 * restarted server resumes where it stopped.
 *
 * THREADS: a connection is one hiredis context and serves one thread at a
 * time; every call reconnects once on a broken connection.
 */
#ifndef DLUT_SERVER_QUEUE_REDIS_H
#define DLUT_SERVER_QUEUE_REDIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_redis srv_redis;

/* "redis://HOST:PORT" (PORT default 6379). NULL with dlut_last_error(). */
srv_redis *srv_redis_connect(const char *url);
void srv_redis_free(srv_redis *r);

/* A field of a reply or a hash: name and bytes. A job's hash holds its
 * photos and mattes, a result every file of its bundle (a set of 64
 * photos: 64 graded photos and 64 thumbnails), hence the cap. */
#define SRV_KV_NAME_MAX 320
#define SRV_KVS_MAX 256
typedef struct srv_kv {
  char name[SRV_KV_NAME_MAX]; /* "photo", "mask.2", "out/graded/IMG_0001.jpg" ... */
  uint8_t *data;              /* NUL-terminated copy (owned by the array) */
  size_t size;
} srv_kv;

typedef struct srv_kvs {
  int n, cap;
  srv_kv *kv; /* owned; grows (at most SRV_KVS_MAX fields) */
} srv_kvs;
void srv_kvs_free(srv_kvs *k);
int srv_kvs_add(srv_kvs *k, const char *name, const void *data, size_t size); /* copies; 0 or -1 */
const srv_kv *srv_kvs_get(const srv_kvs *k, const char *name);

/* ---- the server's side ---- */
int srv_redis_push_job(srv_redis *r, const char *id, const srv_kvs *fields);
int srv_redis_job_exists(srv_redis *r, const char *id); /* 1, 0, -1 on error */
int srv_redis_cancel(srv_redis *r, const char *id);
/* The next event for consumer `me` (blocking up to block_ms): 1 with an event
 * (its stream entry id in entry, fields in ev), 0 on timeout, -1 on error.
 * Pending entries of this consumer (from before a restart) come first. */
int srv_redis_next_event(srv_redis *r, const char *me, int block_ms, char entry[64], srv_kvs *ev);
int srv_redis_ack_event(srv_redis *r, const char *entry);
int srv_redis_fetch_results(srv_redis *r, const char *id, srv_kvs *out);
int srv_redis_forget(srv_redis *r, const char *id, int keep_s); /* expire the job's keys */
int64_t srv_redis_queue_length(srv_redis *r);                   /* entries not yet acked, or -1 */

/* ---- the worker's side ---- */
/* Take a job: first one pending past claim_idle_ms on a dead consumer, else
 * a new one (blocking up to block_ms). 1 with entry/id/fields, 0 none, -1 error. */
int srv_redis_take_job(srv_redis *r, const char *me, int claim_idle_ms, int block_ms, char entry[64], char id[32],
                       srv_kvs *job);
int srv_redis_keep_job(srv_redis *r, const char *me, const char *entry); /* reset the idle time */
int srv_redis_ack_job(srv_redis *r, const char *entry);
int srv_redis_is_cancelled(srv_redis *r, const char *id);              /* 1, 0, -1 */
int srv_redis_mark_done(srv_redis *r, const char *id, const char *me); /* 1 first, 0 already done, -1 */
int srv_redis_store_results(srv_redis *r, const char *id, const srv_kvs *results);
int srv_redis_emit(srv_redis *r, const char *id, const char *type, const srv_kvs *fields);
int srv_redis_delivery_count(srv_redis *r, const char *entry); /* times the entry was delivered, or -1 */

#endif
