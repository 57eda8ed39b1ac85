/* The Redis queue (server/queue_redis.h), on hiredis. The one file that
 * includes hiredis: streams with consumer groups carry jobs to workers and
 * events back to the server; hashes carry inputs and results, so a worker
 * needs nothing but the queue's address. */
#include "server/queue_redis.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlut/error.h"

#define K_JOBS "dlut:jobs"
#define K_EVENTS "dlut:events"
#define G_WORKERS "workers"
#define G_SERVERS "servers"

struct srv_redis {
  redisContext *c;
  char host[256];
  int port;
  int history_done; /* the server consumer has read its pending events */
};

void srv_kvs_free(srv_kvs *k) {
  for (int i = 0; i < k->n; i++) free(k->kv[i].data);
  free(k->kv);
  k->kv = NULL;
  k->n = k->cap = 0;
}

const srv_kv *srv_kvs_get(const srv_kvs *k, const char *name) {
  for (int i = 0; i < k->n; i++)
    if (!strcmp(k->kv[i].name, name)) return &k->kv[i];
  return NULL;
}

static int kvs_add(srv_kvs *k, const char *name, size_t nl, const void *data, size_t n) {
  if (k->n >= SRV_KVS_MAX || nl >= SRV_KV_NAME_MAX) return 0; /* extra fields: ignored */
  if (k->n == k->cap) {
    int cap = k->cap ? 2 * k->cap : 16;
    srv_kv *nk = realloc(k->kv, sizeof *nk * (size_t)cap);
    if (!nk) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    k->kv = nk;
    k->cap = cap;
  }
  srv_kv *e = &k->kv[k->n];
  if (!(e->data = malloc(n + 1))) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  memcpy(e->name, name, nl);
  e->name[nl] = 0;
  memcpy(e->data, data, n);
  e->data[n] = 0;
  e->size = n;
  k->n++;
  return 0;
}

int srv_kvs_add(srv_kvs *k, const char *name, const void *data, size_t size) {
  if (k->n >= SRV_KVS_MAX) return dlut_errorc(DLUT_ERR_INTERNAL, "too many fields");
  if (strlen(name) >= SRV_KV_NAME_MAX) return dlut_errorc(DLUT_ERR_INTERNAL, "field name too long");
  return kvs_add(k, name, strlen(name), data ? data : "", data ? size : 0);
}

/* ==== Connection ==== */

static int dial(srv_redis *r) {
  struct timeval tv = {5, 0};
  if (r->c) redisFree(r->c);
  r->c = redisConnectWithTimeout(r->host, r->port, tv);
  if (!r->c || r->c->err) {
    dlut_errorc(DLUT_ERR_IO, "redis://%s:%d: %s", r->host, r->port, r->c ? r->c->errstr : "cannot connect");
    if (r->c) redisFree(r->c);
    r->c = NULL;
    return -1;
  }
  struct timeval rw = {30, 0};
  redisSetTimeout(r->c, rw);
  r->history_done = 0;
  return 0;
}

/* One command (binary-safe arguments); reconnects once when the connection
 * broke (Redis restarted). NULL with an error set on failure or an error reply. */
static redisReply *cmd(srv_redis *r, int argc, const char **argv, const size_t *lens) {
  size_t small[32], *l = argc <= 32 ? small : malloc(sizeof *l * (size_t)argc);
  if (!l) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    return NULL;
  }
  for (int i = 0; i < argc; i++) l[i] = lens && lens[i] != (size_t)-1 ? lens[i] : strlen(argv[i]);
  redisReply *rep = NULL;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (!r->c && dial(r) != 0) break;
    rep = redisCommandArgv(r->c, argc, argv, l);
    if (!rep) { /* I/O error: the context is dead */
      dlut_errorc(DLUT_ERR_IO, "redis://%s:%d: %s", r->host, r->port,
                  r->c->errstr[0] ? r->c->errstr : "connection lost");
      redisFree(r->c);
      r->c = NULL;
      continue;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
      dlut_errorc(DLUT_ERR_IO, "redis: %s: %.200s", argv[0], rep->str);
      freeReplyObject(rep);
      rep = NULL;
    }
    break;
  }
  if (l != small) free(l);
  return rep;
}

static int cmd_ok(srv_redis *r, int argc, const char **argv, const size_t *lens) {
  redisReply *rep = cmd(r, argc, argv, lens);
  if (!rep) return -1;
  freeReplyObject(rep);
  return 0;
}

static int ensure_group(srv_redis *r, const char *stream, const char *group) {
  const char *a[] = {"XGROUP", "CREATE", stream, group, "0", "MKSTREAM"};
  redisReply *rep = cmd(r, 6, a, NULL);
  if (rep) {
    freeReplyObject(rep);
    return 0;
  }
  return strstr(dlut_last_error(), "BUSYGROUP") ? 0 : -1; /* it exists: fine */
}

srv_redis *srv_redis_connect(const char *url) {
  srv_redis *r = calloc(1, sizeof *r);
  if (!r) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    return NULL;
  }
  const char *p = url;
  if (!strncmp(p, "redis://", 8))
    p += 8;
  else {
    dlut_errorc(DLUT_ERR_INPUT, "the queue must be redis://HOST:PORT, not '%.200s'", url);
    goto fail;
  }
  const char *colon = strrchr(p, ':');
  size_t hl = colon ? (size_t)(colon - p) : strcspn(p, "/");
  if (hl == 0 || hl >= sizeof r->host) {
    dlut_errorc(DLUT_ERR_INPUT, "the queue must be redis://HOST:PORT, not '%.200s'", url);
    goto fail;
  }
  memcpy(r->host, p, hl);
  r->host[hl] = 0;
  r->port = 6379;
  if (colon) {
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if ((*end && *end != '/') || port < 1 || port > 65535) {
      dlut_errorc(DLUT_ERR_INPUT, "bad port in '%.200s'", url);
      goto fail;
    }
    r->port = (int)port;
  }
  if (dial(r) != 0 || ensure_group(r, K_JOBS, G_WORKERS) != 0 || ensure_group(r, K_EVENTS, G_SERVERS) != 0) goto fail;
  return r;
fail:
  srv_redis_free(r);
  return NULL;
}

void srv_redis_free(srv_redis *r) {
  if (!r) return;
  if (r->c) redisFree(r->c);
  free(r);
}

/* ==== Replies ==== */

/* fields [k1, v1, k2, v2 ...] of a reply into kvs */
static int fields_into(const redisReply *arr, srv_kvs *out) {
  if (!arr || arr->type != REDIS_REPLY_ARRAY) return 0;
  for (size_t i = 0; i + 1 < arr->elements; i += 2) {
    const redisReply *k = arr->element[i], *v = arr->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
    if (kvs_add(out, k->str, k->len, v->str, v->len) != 0) return -1;
  }
  return 0;
}

/* The first entry of an XREADGROUP reply: [[stream, [[id, [fields]] ...]]] */
static int first_entry(const redisReply *rep, char entry[64], srv_kvs *out) {
  if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 1) return 0;
  const redisReply *st = rep->element[0];
  if (st->type != REDIS_REPLY_ARRAY || st->elements < 2) return 0;
  const redisReply *entries = st->element[1];
  if (entries->type != REDIS_REPLY_ARRAY || entries->elements < 1) return 0;
  const redisReply *e = entries->element[0];
  if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 || e->element[0]->type != REDIS_REPLY_STRING) return 0;
  snprintf(entry, 64, "%s", e->element[0]->str);
  if (fields_into(e->element[1], out) != 0) return -1;
  return 1;
}

/* ==== The server's side ==== */

/* HSET key with every field of f (binary-safe) */
static int hset(srv_redis *r, const char *key, const srv_kvs *f) {
  const char **a = malloc(sizeof *a * (size_t)(2 + 2 * f->n));
  size_t *l = malloc(sizeof *l * (size_t)(2 + 2 * f->n));
  if (!a || !l) {
    free(a);
    free(l);
    return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  }
  int n = 0;
  a[n] = "HSET", l[n++] = (size_t)-1;
  a[n] = key, l[n++] = (size_t)-1;
  for (int i = 0; i < f->n; i++) {
    a[n] = f->kv[i].name, l[n++] = (size_t)-1;
    a[n] = (const char *)f->kv[i].data, l[n++] = f->kv[i].size;
  }
  int rc = cmd_ok(r, n, a, l);
  free(a);
  free(l);
  return rc;
}

int srv_redis_push_job(srv_redis *r, const char *id, const srv_kvs *f) {
  char key[64];
  snprintf(key, sizeof key, "dlut:job:%s", id);
  if (hset(r, key, f) != 0) return -1;
  const char *x[] = {"XADD", K_JOBS, "*", "id", id};
  return cmd_ok(r, 5, x, NULL);
}

int srv_redis_job_exists(srv_redis *r, const char *id) {
  char key[64];
  snprintf(key, sizeof key, "dlut:job:%s", id);
  const char *a[] = {"EXISTS", key};
  redisReply *rep = cmd(r, 2, a, NULL);
  if (!rep) return -1;
  int v = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
  freeReplyObject(rep);
  return v;
}

int srv_redis_cancel(srv_redis *r, const char *id) {
  char key[64];
  snprintf(key, sizeof key, "dlut:cancel:%s", id);
  const char *a[] = {"SET", key, "1", "EX", "86400"};
  return cmd_ok(r, 5, a, NULL);
}

int srv_redis_next_event(srv_redis *r, const char *me, int block_ms, char entry[64], srv_kvs *ev) {
  char ms[32];
  snprintf(ms, sizeof ms, "%d", block_ms);
  if (!r->history_done) { /* what this consumer read before a restart but did not ack */
    const char *a[] = {"XREADGROUP", "GROUP", G_SERVERS, me, "COUNT", "1", "STREAMS", K_EVENTS, "0"};
    redisReply *rep = cmd(r, 9, a, NULL);
    if (!rep) return -1;
    int got = first_entry(rep, entry, ev);
    freeReplyObject(rep);
    if (got != 0) return got;
    r->history_done = 1;
  }
  const char *a[] = {"XREADGROUP", "GROUP", G_SERVERS, me, "COUNT", "1", "BLOCK", ms, "STREAMS", K_EVENTS, ">"};
  redisReply *rep = cmd(r, 11, a, NULL);
  if (!rep) {
    if (strstr(dlut_last_error(), "NOGROUP")) { /* Redis lost the group (restarted without its data) */
      ensure_group(r, K_EVENTS, G_SERVERS);
      ensure_group(r, K_JOBS, G_WORKERS);
    }
    return -1;
  }
  int got = rep->type == REDIS_REPLY_NIL ? 0 : first_entry(rep, entry, ev);
  freeReplyObject(rep);
  return got;
}

int srv_redis_ack_event(srv_redis *r, const char *entry) {
  const char *a[] = {"XACK", K_EVENTS, G_SERVERS, entry};
  const char *d[] = {"XDEL", K_EVENTS, entry};
  return cmd_ok(r, 4, a, NULL) == 0 && cmd_ok(r, 3, d, NULL) == 0 ? 0 : -1;
}

int srv_redis_fetch_results(srv_redis *r, const char *id, srv_kvs *out) {
  char key[64];
  snprintf(key, sizeof key, "dlut:result:%s", id);
  const char *a[] = {"HGETALL", key};
  redisReply *rep = cmd(r, 2, a, NULL);
  if (!rep) return -1;
  int rc = fields_into(rep, out);
  freeReplyObject(rep);
  if (rc == 0 && out->n == 0) return dlut_errorc(DLUT_ERR_NOT_FOUND, "redis: no results for job %s", id);
  return rc;
}

int srv_redis_forget(srv_redis *r, const char *id, int keep_s) {
  char ks[32];
  snprintf(ks, sizeof ks, "%d", keep_s);
  static const char *k_kinds[] = {"job", "result", "cancel", "done"};
  int rc = 0;
  for (int i = 0; i < 4; i++) {
    char key[64];
    snprintf(key, sizeof key, "dlut:%s:%s", k_kinds[i], id);
    const char *a[] = {"EXPIRE", key, ks};
    rc |= cmd_ok(r, 3, a, NULL);
  }
  return rc;
}

int64_t srv_redis_queue_length(srv_redis *r) {
  const char *a[] = {"XLEN", K_JOBS};
  redisReply *rep = cmd(r, 2, a, NULL);
  if (!rep) return -1;
  int64_t n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
  freeReplyObject(rep);
  return n;
}

/* ==== The worker's side ==== */

static int load_job(srv_redis *r, const char *id, srv_kvs *job) {
  char key[64];
  snprintf(key, sizeof key, "dlut:job:%s", id);
  const char *a[] = {"HGETALL", key};
  redisReply *rep = cmd(r, 2, a, NULL);
  if (!rep) return -1;
  int rc = fields_into(rep, job);
  freeReplyObject(rep);
  return rc;
}

int srv_redis_take_job(srv_redis *r, const char *me, int claim_idle_ms, int block_ms, char entry[64], char id[32],
                       srv_kvs *job) {
  char idle[32], ms[32];
  snprintf(idle, sizeof idle, "%d", claim_idle_ms);
  snprintf(ms, sizeof ms, "%d", block_ms);
  srv_kvs f = {0};
  int got = 0;
  /* a job left pending by a worker that stopped answering */
  const char *c[] = {"XAUTOCLAIM", K_JOBS, G_WORKERS, me, idle, "0-0", "COUNT", "1"};
  redisReply *rep = cmd(r, 8, c, NULL);
  if (!rep) {
    if (strstr(dlut_last_error(), "NOGROUP")) ensure_group(r, K_JOBS, G_WORKERS);
    return -1;
  }
  if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2 && rep->element[1]->type == REDIS_REPLY_ARRAY &&
      rep->element[1]->elements >= 1) {
    const redisReply *e = rep->element[1]->element[0];
    if (e->type == REDIS_REPLY_ARRAY && e->elements >= 2 && e->element[0]->type == REDIS_REPLY_STRING) {
      snprintf(entry, 64, "%s", e->element[0]->str);
      if (fields_into(e->element[1], &f) == 0) got = 1;
    }
  }
  freeReplyObject(rep);
  if (!got) {
    const char *a[] = {"XREADGROUP", "GROUP", G_WORKERS, me, "COUNT", "1", "BLOCK", ms, "STREAMS", K_JOBS, ">"};
    if (!(rep = cmd(r, 11, a, NULL))) return -1;
    got = rep->type == REDIS_REPLY_NIL ? 0 : first_entry(rep, entry, &f);
    freeReplyObject(rep);
  }
  if (got <= 0) {
    srv_kvs_free(&f);
    return got;
  }
  const srv_kv *idkv = srv_kvs_get(&f, "id");
  if (!idkv || idkv->size == 0 || idkv->size >= 32) { /* not one of ours: drop it */
    srv_kvs_free(&f);
    srv_redis_ack_job(r, entry);
    return 0;
  }
  snprintf(id, 32, "%s", (const char *)idkv->data);
  srv_kvs_free(&f);
  if (load_job(r, id, job) != 0) return -1;
  return 1;
}

int srv_redis_keep_job(srv_redis *r, const char *me, const char *entry) {
  const char *a[] = {"XCLAIM", K_JOBS, G_WORKERS, me, "0", entry, "JUSTID"};
  return cmd_ok(r, 7, a, NULL);
}

int srv_redis_ack_job(srv_redis *r, const char *entry) {
  const char *a[] = {"XACK", K_JOBS, G_WORKERS, entry};
  const char *d[] = {"XDEL", K_JOBS, entry};
  return cmd_ok(r, 4, a, NULL) == 0 && cmd_ok(r, 3, d, NULL) == 0 ? 0 : -1;
}

int srv_redis_is_cancelled(srv_redis *r, const char *id) {
  char key[64];
  snprintf(key, sizeof key, "dlut:cancel:%s", id);
  const char *a[] = {"EXISTS", key};
  redisReply *rep = cmd(r, 2, a, NULL);
  if (!rep) return -1;
  int v = rep->type == REDIS_REPLY_INTEGER && rep->integer > 0;
  freeReplyObject(rep);
  return v;
}

int srv_redis_mark_done(srv_redis *r, const char *id, const char *me) {
  char key[64];
  snprintf(key, sizeof key, "dlut:done:%s", id);
  const char *a[] = {"SET", key, me, "NX", "EX", "604800"};
  redisReply *rep = cmd(r, 6, a, NULL);
  if (!rep) return -1;
  int first = rep->type == REDIS_REPLY_STATUS; /* OK; nil when it was set already */
  freeReplyObject(rep);
  return first;
}

int srv_redis_store_results(srv_redis *r, const char *id, const srv_kvs *res) {
  char key[64];
  snprintf(key, sizeof key, "dlut:result:%s", id);
  return hset(r, key, res);
}

int srv_redis_emit(srv_redis *r, const char *id, const char *type, const srv_kvs *f) {
  const char *a[8 + 2 * 16];
  size_t l[8 + 2 * 16];
  int n = 0;
  a[n] = "XADD", l[n++] = (size_t)-1;
  a[n] = K_EVENTS, l[n++] = (size_t)-1;
  a[n] = "MAXLEN", l[n++] = (size_t)-1;
  a[n] = "~", l[n++] = (size_t)-1;
  a[n] = "100000", l[n++] = (size_t)-1;
  a[n] = "*", l[n++] = (size_t)-1;
  a[n] = "id", l[n++] = (size_t)-1;
  a[n] = id, l[n++] = (size_t)-1;
  const char *tk = "type";
  a[n] = tk, l[n++] = (size_t)-1;
  a[n] = type, l[n++] = (size_t)-1;
  for (int i = 0; f && i < f->n && n + 2 <= (int)(sizeof a / sizeof *a); i++) {
    a[n] = f->kv[i].name, l[n++] = (size_t)-1;
    a[n] = (const char *)f->kv[i].data, l[n++] = f->kv[i].size;
  }
  return cmd_ok(r, n, a, l);
}

int srv_redis_delivery_count(srv_redis *r, const char *entry) {
  const char *a[] = {"XPENDING", K_JOBS, G_WORKERS, entry, entry, "1"};
  redisReply *rep = cmd(r, 6, a, NULL);
  if (!rep) return -1;
  int n = -1;
  if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 && rep->element[0]->type == REDIS_REPLY_ARRAY &&
      rep->element[0]->elements >= 4 && rep->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
    n = (int)rep->element[0]->element[3]->integer;
  freeReplyObject(rep);
  return n;
}
