/* The durable copy of every job, in SQLite (WAL mode, one file:
 * DATA/dlut.db). This is the only file that talks to SQLite, so the store
 * can be read (and replaced) here. The live table in jobs.c is what the
 * routes read; every change of state is written here before it is
 * announced, so a restart finds what clients were told. synchronous=NORMAL
 * in WAL mode survives a crash of the process (the case tested); a power
 * cut may lose the last transactions, never corrupt the file. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "server/server_internal.h"

struct srv_store {
  sqlite3 *db;
  sqlite3_stmt *ins, *upd, *del;
  pthread_mutex_t mu; /* one statement at a time on the connection */
};

static const char *k_schema =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS jobs("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " id TEXT UNIQUE NOT NULL,"
    " state TEXT NOT NULL,"
    " options TEXT NOT NULL,"
    " prompt TEXT NOT NULL,"
    " photo_name TEXT NOT NULL,"
    " graded_ext TEXT NOT NULL,"
    " has_ref INTEGER NOT NULL,"
    " step INTEGER NOT NULL DEFAULT 0,"
    " steps INTEGER NOT NULL DEFAULT 0,"
    " losses TEXT,"
    " clip_loss REAL,"
    " error TEXT,"
    " error_code TEXT,"
    " understood TEXT,"
    " method TEXT,"
    " created REAL, started REAL, finished REAL,"
    " attempts INTEGER NOT NULL DEFAULT 0);";

static int db_error(srv_store *s, const char *what) {
  return dlut_errorc(DLUT_ERR_IO, "job store: %s: %s", what, sqlite3_errmsg(s->db));
}

srv_store *srv_store_open(const char *path) {
  srv_store *s = calloc(1, sizeof *s);
  if (!s) {
    dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&s->mu, NULL);
  if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
      SQLITE_OK) {
    dlut_errorc(DLUT_ERR_IO, "%s: cannot open the job store: %s", path, s->db ? sqlite3_errmsg(s->db) : "?");
    goto fail;
  }
  sqlite3_busy_timeout(s->db, 5000);
  char *msg = NULL;
  if (sqlite3_exec(s->db, k_schema, NULL, NULL, &msg) != SQLITE_OK) {
    dlut_errorc(DLUT_ERR_IO, "%s: cannot set up the job store: %s", path, msg ? msg : "?");
    sqlite3_free(msg);
    goto fail;
  }
  if (sqlite3_prepare_v2(s->db,
                         "INSERT INTO jobs(id,state,options,prompt,photo_name,graded_ext,has_ref,steps,created)"
                         " VALUES(?,?,?,?,?,?,?,?,?)",
                         -1, &s->ins, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db,
                         "UPDATE jobs SET state=?,step=?,steps=?,losses=?,clip_loss=?,error=?,error_code=?,"
                         "understood=?,method=?,started=?,finished=?,attempts=? WHERE id=?",
                         -1, &s->upd, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(s->db, "DELETE FROM jobs WHERE id=?", -1, &s->del, NULL) != SQLITE_OK) {
    db_error(s, "prepare");
    goto fail;
  }
  return s;
fail:
  srv_store_close(s);
  return NULL;
}

void srv_store_close(srv_store *s) {
  if (!s) return;
  sqlite3_finalize(s->ins);
  sqlite3_finalize(s->upd);
  sqlite3_finalize(s->del);
  sqlite3_close(s->db);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

int srv_store_insert(srv_store *s, srv_job *j) {
  pthread_mutex_lock(&s->mu);
  sqlite3_stmt *st = s->ins;
  sqlite3_bind_text(st, 1, j->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, srv_state_name(j->state), -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, j->options ? j->options : "{}", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 4, j->prompt ? j->prompt : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 5, j->photo_name, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 6, j->graded_ext, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 7, j->has_ref);
  sqlite3_bind_int(st, 8, j->steps);
  sqlite3_bind_double(st, 9, j->created);
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, "insert");
  if (rc == 0) j->seq = sqlite3_last_insert_rowid(s->db);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* "[1.25,1.2,...]" from the loss history (NULL = empty) */
static char *losses_text(const srv_job *j) {
  size_t cap = (size_t)j->n_loss * 16 + 3, w = 0;
  char *t = malloc(cap);
  if (!t) return NULL;
  t[w++] = '[';
  for (int i = 0; i < j->n_loss; i++)
    w += (size_t)snprintf(t + w, cap - w, "%s%.6g", i ? "," : "", isfinite(j->loss[i]) ? (double)j->loss[i] : 0.0);
  t[w++] = ']';
  t[w] = 0;
  return t;
}

int srv_store_update(srv_store *s, const srv_job *j) {
  char *losses = losses_text(j);
  pthread_mutex_lock(&s->mu);
  sqlite3_stmt *st = s->upd;
  sqlite3_bind_text(st, 1, srv_state_name(j->state), -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, j->step);
  sqlite3_bind_int(st, 3, j->steps);
  sqlite3_bind_text(st, 4, losses ? losses : "[]", -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 5, j->clip_loss);
  if (j->error)
    sqlite3_bind_text(st, 6, j->error, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 6);
  sqlite3_bind_text(st, 7, j->error_code, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, j->understood, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 9, j->method, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 10, j->started);
  sqlite3_bind_double(st, 11, j->finished);
  sqlite3_bind_int(st, 12, j->attempts);
  sqlite3_bind_text(st, 13, j->id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, "update");
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  pthread_mutex_unlock(&s->mu);
  free(losses);
  return rc;
}

int srv_store_delete(srv_store *s, const char *id) {
  pthread_mutex_lock(&s->mu);
  sqlite3_bind_text(s->del, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s->del) == SQLITE_DONE ? 0 : db_error(s, "delete");
  sqlite3_reset(s->del);
  sqlite3_clear_bindings(s->del);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

static char *dup_col(sqlite3_stmt *st, int c) {
  const unsigned char *t = sqlite3_column_text(st, c);
  return strdup(t ? (const char *)t : "");
}

static void copy_col(sqlite3_stmt *st, int c, char *out, size_t len) {
  const unsigned char *t = sqlite3_column_text(st, c);
  snprintf(out, len, "%s", t ? (const char *)t : "");
}

/* the loss history back from "[...]" */
static void parse_losses(srv_job *j, const char *t) {
  if (!t || *t != '[') return;
  int n = 0;
  for (const char *p = t; *p; p++) n += *p == ',';
  if (t[1] != ']') n++;
  if (n <= 0 || !(j->loss = malloc(sizeof(float) * (size_t)n))) return;
  j->cap_loss = n;
  char *p = (char *)t + 1;
  while (j->n_loss < n) {
    char *end;
    double v = strtod(p, &end);
    if (end == p) break;
    j->loss[j->n_loss++] = (float)v;
    p = *end == ',' ? end + 1 : end;
  }
}

int srv_store_load_all(srv_store *s, void (*fn)(void *user, srv_job *j), void *user) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = -1;
  if (sqlite3_prepare_v2(s->db,
                         "SELECT seq,id,state,options,prompt,photo_name,graded_ext,has_ref,step,steps,losses,"
                         "clip_loss,error,error_code,understood,method,created,started,finished,attempts"
                         " FROM jobs ORDER BY seq",
                         -1, &st, NULL) != SQLITE_OK) {
    db_error(s, "load");
    goto done;
  }
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
    srv_job *j = srv_job_new();
    if (!j) {
      dlut_errorc(DLUT_ERR_NOMEM, "out of memory loading jobs");
      goto done;
    }
    j->seq = sqlite3_column_int64(st, 0);
    copy_col(st, 1, j->id, sizeof j->id);
    int state = srv_state_from_name((const char *)sqlite3_column_text(st, 2));
    j->state = state < 0 ? SRV_FAILED : (srv_state)state;
    j->options = dup_col(st, 3);
    j->prompt = dup_col(st, 4);
    copy_col(st, 5, j->photo_name, sizeof j->photo_name);
    copy_col(st, 6, j->graded_ext, sizeof j->graded_ext);
    j->has_ref = sqlite3_column_int(st, 7);
    j->step = sqlite3_column_int(st, 8);
    j->steps = sqlite3_column_int(st, 9);
    parse_losses(j, (const char *)sqlite3_column_text(st, 10));
    j->clip_loss = sqlite3_column_double(st, 11);
    if (sqlite3_column_type(st, 12) != SQLITE_NULL) j->error = dup_col(st, 12);
    copy_col(st, 13, j->error_code, sizeof j->error_code);
    copy_col(st, 14, j->understood, sizeof j->understood);
    copy_col(st, 15, j->method, sizeof j->method);
    j->created = sqlite3_column_double(st, 16);
    j->started = sqlite3_column_double(st, 17);
    j->finished = sqlite3_column_double(st, 18);
    j->attempts = sqlite3_column_int(st, 19);
    j->in_store = 1;
    if (!j->options || !j->prompt || !srv_id_valid(j->id)) {
      srv_job_free(j);
      continue;
    }
    fn(user, j);
  }
  rc = r == SQLITE_DONE ? 0 : db_error(s, "load");
done:
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}
