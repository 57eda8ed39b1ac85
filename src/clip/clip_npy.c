/* A strict .npy reader (format: numpy/lib/format.py, "NEP 1"): magic
 * "\x93NUMPY", version byte pair, little-endian header length (2 bytes in
 * v1, 4 in v2/v3), an ASCII dict literal padded with spaces and '\n', then
 * the raw C-order data. */
#include "clip/clip_npy.h"

#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/file.h"

#define NPY_MAX_BYTES ((size_t)1 << 31)

static const char *find_key(const char *hdr, const char *key) {
  const char *p = strstr(hdr, key);
  if (!p) return NULL;
  p += strlen(key);
  while (*p == ' ') p++;
  if (*p != ':') return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

int dlut_npy_parse(const void *data, size_t size, const char *path, dlut_npy *a) {
  memset(a, 0, sizeof *a);
  const unsigned char *buf = data;
  char *hdr = NULL;
  if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) {
    dlut_error("%s: not a .npy file", path);
    goto fail;
  }
  int major = buf[6];
  size_t hlen, off;
  if (major == 1) {
    hlen = buf[8] | (size_t)buf[9] << 8;
    off = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) goto trunc;
    hlen = buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    off = 12;
  } else {
    dlut_error("%s: unsupported .npy version %d", path, major);
    goto fail;
  }
  if (hlen > size - off || hlen > 65536) goto trunc;
  hdr = malloc(hlen + 1);
  if (!hdr) {
    dlut_error("%s: out of memory", path);
    goto fail;
  }
  memcpy(hdr, buf + off, hlen);
  hdr[hlen] = 0;
  const char *d = find_key(hdr, "'descr'"), *fo = find_key(hdr, "'fortran_order'"), *sh = find_key(hdr, "'shape'");
  if (!d || !fo || !sh) {
    dlut_error("%s: malformed .npy header", path);
    goto fail;
  }
  static const struct {
    const char *s;
    dlut_npy_type t;
    int size;
  } types[] = {{"'<f4'", DLUT_NPY_F32, 4}, {"'<f8'", DLUT_NPY_F64, 8}, {"'<i4'", DLUT_NPY_I32, 4},
               {"'<i8'", DLUT_NPY_I64, 8}, {"'|u1'", DLUT_NPY_U8, 1},  {"'<u1'", DLUT_NPY_U8, 1},
               {"'|i1'", DLUT_NPY_I8, 1}};
  int found = 0;
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (strncmp(d, types[i].s, strlen(types[i].s)) == 0) {
      a->type = types[i].t;
      a->itemsize = types[i].size;
      found = 1;
    }
  if (!found) {
    dlut_error("%s: unsupported dtype %.8s", path, d);
    goto fail;
  }
  if (strncmp(fo, "False", 5) != 0) {
    dlut_error("%s: Fortran-order arrays are not supported", path);
    goto fail;
  }
  if (*sh != '(') {
    dlut_error("%s: malformed shape", path);
    goto fail;
  }
  sh++;
  a->count = 1;
  for (;;) {
    while (*sh == ' ' || *sh == ',') sh++;
    if (*sh == ')') break;
    char *end;
    long long v = strtoll(sh, &end, 10);
    if (end == sh || v < 0 || a->ndim >= 8) {
      dlut_error("%s: malformed shape", path);
      goto fail;
    }
    if (v > 0 && a->count > INT64_MAX / 16 / v) {
      dlut_error("%s: array too large", path);
      goto fail;
    }
    a->shape[a->ndim++] = v;
    a->count *= v;
    sh = end;
  }
  size_t need = (size_t)a->count * (size_t)a->itemsize;
  if (size - off - hlen != need) {
    dlut_error("%s: data is %zu bytes, shape needs %zu", path, size - off - hlen, need);
    goto fail;
  }
  a->data = malloc(need ? need : 1);
  if (!a->data) {
    dlut_error("%s: out of memory", path);
    goto fail;
  }
  memcpy(a->data, buf + off + hlen, need);
  free(hdr);
  return 0;
trunc:
  dlut_error("%s: truncated .npy file", path);
fail:
  free(hdr);
  dlut_npy_free(a);
  return -1;
}

int dlut_npy_load(const char *path, dlut_npy *a) {
  memset(a, 0, sizeof *a);
  size_t size = 0;
  unsigned char *buf = dlut_file_read_all(path, NPY_MAX_BYTES, &size);
  if (!buf) return -1; /* the message already names the file */
  int rc = dlut_npy_parse(buf, size, path, a);
  free(buf);
  return rc;
}

void dlut_npy_free(dlut_npy *a) {
  free(a->data);
  memset(a, 0, sizeof *a);
}

double dlut_npy_get(const dlut_npy *a, int64_t i) {
  switch (a->type) {
    case DLUT_NPY_F32: {
      float v;
      memcpy(&v, (const char *)a->data + i * 4, 4);
      return v;
    }
    case DLUT_NPY_F64: {
      double v;
      memcpy(&v, (const char *)a->data + i * 8, 8);
      return v;
    }
    case DLUT_NPY_I32: {
      int32_t v;
      memcpy(&v, (const char *)a->data + i * 4, 4);
      return v;
    }
    case DLUT_NPY_I64: {
      int64_t v;
      memcpy(&v, (const char *)a->data + i * 8, 8);
      return (double)v;
    }
    case DLUT_NPY_U8:
      return ((const uint8_t *)a->data)[i];
    case DLUT_NPY_I8:
      return ((const int8_t *)a->data)[i];
  }
  return 0.0;
}
