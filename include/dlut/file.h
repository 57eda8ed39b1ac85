/* dlut/file.h - atomic output files and whole-file reads.
 *
 * Outputs are never written in place: dlut_atomic_begin() creates a
 * temporary file next to the destination ("DEST.tmp.XXXXXX", or
 * ".dlut.tmp.XXXXXX" in the same folder for names too long for that), the caller
 * writes it (through `fp`, or by name through `tmp_path` for libraries that
 * open files themselves), and dlut_atomic_commit() flushes, fsyncs and
 * renames it over the destination. dlut_atomic_abort() removes the
 * temporary file. So a failure never leaves a half-written file and never
 * destroys an existing one.
 *
 *     dlut_atomic out;
 *     if (dlut_atomic_begin(&out, path) != 0) return -1;
 *     if (write_things(out.fp) != 0) { dlut_atomic_abort(&out); return -1; }
 *     return dlut_atomic_commit(&out);
 */
#ifndef DLUT_FILE_H
#define DLUT_FILE_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlut_atomic {
  FILE *fp;        /* open for writing ("wb") on the temporary file */
  char *tmp_path;  /* the temporary file's name (owned) */
  char *dest_path; /* the final name (owned) */
} dlut_atomic;

int dlut_atomic_begin(dlut_atomic *a, const char *dest_path);
int dlut_atomic_commit(dlut_atomic *a); /* closes fp; on failure removes the temp file */
void dlut_atomic_abort(dlut_atomic *a); /* closes fp, removes the temp file; safe twice */

/* Nonzero if a and b name the same existing file, however spelled
 * (symlinks, hard links, ./): the check that keeps a command from writing
 * over its own input. */
int dlut_file_same(const char *a, const char *b);

/* Temporary files and staging folders that a signal must not leave behind:
 * dlut_atomic_begin tracks its temporary file until commit or abort, and
 * callers may track more (a staging folder and the files in it).
 * dlut_file_cleanup_on_signals() installs dlut_file_signal_cleanup for
 * SIGINT, SIGTERM, SIGHUP and SIGQUIT (not where they are ignored); the
 * handler removes every tracked path (files, then folders), then dies of the
 * signal as it would have. A program with its own handler may call
 * dlut_file_signal_cleanup from it. At most 64 paths are tracked at once. */
void dlut_file_track(const char *path);
void dlut_file_untrack(const char *path);
void dlut_file_cleanup_on_signals(void);
void dlut_file_signal_cleanup(int sig);
void dlut_file_remove_tracked(void); /* async-signal-safe: what the handler removes */
/* A function dlut_file_remove_tracked calls last (NULL = none), for a
 * writer with more temporary paths than the table holds; it must be
 * async-signal-safe (unlink/rmdir over paths prepared beforehand). */
void dlut_file_set_cleanup_hook(void (*fn)(void));
/* Between begin and end the handler only notes a signal; end acts on it
 * (after the caller untracked what must stay). Not nested. */
void dlut_file_critical_begin(void);
void dlut_file_critical_end(void);

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience;
 * the terminator is not counted in *size). Fails on files larger than
 * max_size bytes. Caller frees. */
void *dlut_file_read_all(const char *path, size_t max_size, size_t *size);

/* Write data[0..n) to path atomically (dlut_atomic). 0 or -1. */
int dlut_file_write_all(const char *path, const void *data, size_t n);

/* mkdir -p with mode (before the umask); 0 if path is then a folder. */
int dlut_file_mkdir_p(const char *path, unsigned mode);

/* Lower-cased extension of path without the dot ("cube", "png"), or "" . */
const char *dlut_file_ext(const char *path, char buf[16]);

#ifdef __cplusplus
}
#endif
#endif
