/* dlut/error.h - errors as values.
 *
 * Every library function that can fail returns an int status (0 on success,
 * -1 on failure) or a pointer (NULL on failure), and leaves a one-line,
 * human-readable reason in a thread-local buffer that dlut_last_error()
 * returns. Only the command line prints and exits. Messages name the file
 * (and line, where there is one) that caused the failure:
 *     "look.cube:12: expected 3 numbers, found 2"
 *
 * Beside the message, every failure carries a machine-readable code
 * (dlut_last_error_code), so a caller such as the HTTP server maps failures
 * to statuses without parsing text. dlut_error() sets DLUT_ERR_INTERNAL
 * (unclassified); dlut_errorc() sets a given code; dlut_error_set_code()
 * re-tags the current failure (a layer that knows better, e.g. "this came
 * from an upload, so it is bad input"). dlut_error_prefix keeps the code.
 */
#ifndef DLUT_ERROR_H
#define DLUT_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum dlut_error_code {
  DLUT_ERR_NONE = 0,        /* no failure recorded */
  DLUT_ERR_INTERNAL = 1,    /* unclassified, or a bug: HTTP 500 */
  DLUT_ERR_INPUT = 2,       /* malformed or invalid input: 400 */
  DLUT_ERR_TOO_LARGE = 3,   /* input over a size cap: 413 */
  DLUT_ERR_NOT_FOUND = 4,   /* a named file, job or model does not exist: 404 */
  DLUT_ERR_UNSUPPORTED = 5, /* valid but not supported (format variant, option): 415 / 422 */
  DLUT_ERR_NOMEM = 6,       /* an allocation failed: 503 */
  DLUT_ERR_IO = 7,          /* reading or writing our own files failed (disk full ...): 500 */
  DLUT_ERR_CANCELLED = 8,   /* stopped on request */
  DLUT_ERR_TIMEOUT = 9,     /* ran past its time limit */
} dlut_error_code;

/* The reason for the last failure on this thread ("" if none). The buffer
 * stays valid until the next dlut call on this thread. */
const char *dlut_last_error(void);

/* Set the reason (printf-style) and return -1, so `return dlut_error(...)`
 * reads naturally in functions that return a status. */
int dlut_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefix the current reason with "prefix: " (e.g. a file name). Returns -1. */
int dlut_error_prefix(const char *prefix);

/* As dlut_error, with a code. Returns -1. */
int dlut_errorc(dlut_error_code code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The code of the last failure on this thread (DLUT_ERR_NONE if cleared). */
dlut_error_code dlut_last_error_code(void);

/* Re-tag the current failure. Returns -1. */
int dlut_error_set_code(dlut_error_code code);

/* "internal", "bad_input", "too_large", "not_found", "unsupported",
 * "out_of_memory", "io", "cancelled", "timeout" ("none" for DLUT_ERR_NONE). */
const char *dlut_error_code_name(dlut_error_code code);

/* Clear the reason. */
void dlut_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
