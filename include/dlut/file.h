/* dlut/file.h - atomic output files and whole-file reads.
 *
 * Outputs are never written in place: dlut_atomic_begin() creates a
 * temporary file next to the destination ("DEST.tmp.XXXXXX"), the caller
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

/* Read a whole file into a malloc'd buffer (NUL-terminated for convenience;
 * the terminator is not counted in *size). Fails on files larger than
 * max_size bytes. Caller frees. */
void *dlut_file_read_all(const char *path, size_t max_size, size_t *size);

/* Lower-cased extension of path without the dot ("cube", "png"), or "" . */
const char *dlut_file_ext(const char *path, char buf[16]);

#ifdef __cplusplus
}
#endif
#endif
