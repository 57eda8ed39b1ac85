/* Thread-local last-error buffer behind dlut/error.h. */
#include "dlut/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_error[1024];

const char *dlut_last_error(void) {
  return g_error;
}

int dlut_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  return -1;
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
}
