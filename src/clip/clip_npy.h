/* src/clip/clip_npy.h - a small, strict reader of NumPy .npy files (private
 * to the CLIP engine: refcheck and the tests read the reference arrays
 * with it).
 *
 * Accepts format versions 1.0, 2.0 and 3.0, C order only, little-endian
 * or byte-sized dtypes: <f4 <f8 <i4 <i8 |u1 |i1 (also written <u1). The
 * header is parsed as the Python-literal dict numpy writes ('descr',
 * 'fortran_order', 'shape'); anything else is rejected. Sizes are
 * overflow-checked against the file length (hostile input).
 */
#ifndef DLUT_CLIP_NPY_H
#define DLUT_CLIP_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef enum dlut_npy_type {
  DLUT_NPY_F32 = 1,
  DLUT_NPY_F64,
  DLUT_NPY_I32,
  DLUT_NPY_I64,
  DLUT_NPY_U8,
  DLUT_NPY_I8
} dlut_npy_type;

typedef struct dlut_npy {
  dlut_npy_type type; /* element type */
  int itemsize;       /* bytes per element */
  int ndim;           /* 0..8 (0 = scalar, count 1) */
  int64_t shape[8];   /* dimensions */
  int64_t count;      /* product of shape */
  void *data;         /* count * itemsize bytes, owned (malloc) */
} dlut_npy;

/* Read path into *a. 0, or -1 with dlut_last_error() naming the file. */
int dlut_npy_load(const char *path, dlut_npy *a);
/* The same from memory (size bytes); name is used in error messages. */
int dlut_npy_parse(const void *data, size_t size, const char *name, dlut_npy *a);
void dlut_npy_free(dlut_npy *a);
/* Element i as double. */
double dlut_npy_get(const dlut_npy *a, int64_t i);

#endif
