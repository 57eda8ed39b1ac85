/* Thread-local last-error buffer behind dlut/error.h. */
#include "dlut/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_error[1024];
static _Thread_local dlut_error_code g_code;

const char *dlut_last_error(void) {
  return g_error;
}

int dlut_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  g_code = DLUT_ERR_INTERNAL;
  return -1;
}

int dlut_errorc(dlut_error_code code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  g_code = code;
  return -1;
}

dlut_error_code dlut_last_error_code(void) {
  return g_code;
}

int dlut_error_set_code(dlut_error_code code) {
  g_code = code;
  return -1;
}

const char *dlut_error_code_name(dlut_error_code code) {
  static const char *k_names[] = {"none",        "internal",      "bad_input", "too_large", "not_found",
                                  "unsupported", "out_of_memory", "io",        "cancelled", "timeout"};
  return (unsigned)code < sizeof k_names / sizeof *k_names ? k_names[code] : "internal";
}

int dlut_error_prefix(const char *prefix) {
  char tmp[sizeof g_error];
  memcpy(tmp, g_error, sizeof tmp);
  size_t n = strlen(prefix);
  if (n > sizeof g_error / 2) n = sizeof g_error / 2;
  memcpy(g_error, prefix, n);
  memcpy(g_error + n, ": ", 2);
  size_t rest = sizeof g_error - n - 3;
  size_t m = strnlen(tmp, rest);
  memcpy(g_error + n + 2, tmp, m);
  g_error[n + 2 + m] = '\0';
  return -1;
}

void dlut_error_clear(void) {
  g_error[0] = '\0';
  g_code = DLUT_ERR_NONE;
}
