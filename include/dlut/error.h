/* dlut/error.h - errors as values.
 *
 * Every library function that can fail returns an int status (0 on success,
 * -1 on failure) or a pointer (NULL on failure), and leaves a one-line,
 * human-readable reason in a thread-local buffer that dlut_last_error()
 * returns. Only the command line prints and exits. Messages name the file
 * (and line, where there is one) that caused the failure:
 *     "look.cube:12: expected 3 numbers, found 2"
 */
#ifndef DLUT_ERROR_H
#define DLUT_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The reason for the last failure on this thread ("" if none). The buffer
 * stays valid until the next dlut call on this thread. */
const char *dlut_last_error(void);

/* Set the reason (printf-style) and return -1, so `return dlut_error(...)`
 * reads naturally in functions that return a status. */
int dlut_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current reason with "prefix: " (e.g. a file name). Returns -1. */
int dlut_error_prefix(const char *prefix);

/* Clear the reason. */
void dlut_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
