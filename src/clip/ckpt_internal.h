/* clip/ckpt_internal.h - the parts of the checkpoint loader (dlut/ckpt.h)
 * that talk to each other: the safetensors header parser, the zip reader,
 * the safe unpickler, and the tensor table they fill.
 *
 * Every parser here works on bytes in memory (usually a read-only mmap of
 * the file) and treats them as hostile: sizes are overflow-checked, counts
 * are capped, and a failure returns -1 with dlut_last_error() naming `what`
 * (the file) and, where there is one, the tensor or zip entry. They are
 * exposed (rather than static) so that the fuzz targets in fuzz/ and the
 * tests can drive them from memory.
 */
#ifndef DLUT_CLIP_CKPT_INTERNAL_H
#define DLUT_CLIP_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dlut/ckpt.h"

/* ==== Limits ==== */

#define CKPT_MAX_DIMS 8                 /* dlut_tensor_info.shape has 8 slots */
#define CKPT_MAX_TENSORS (1 << 20)      /* a ViT-L CLIP has ~600 */
#define CKPT_MAX_NAME 1024              /* bytes in one tensor name */
#define CKPT_MAX_ST_HEADER (100u << 20) /* safetensors caps its JSON header at 100 MB */
#define CKPT_MAX_PICKLE (256u << 20)    /* data.pkl of a ViT-L state dict is ~100 KB */
#define CKPT_MAX_ZIP_ENTRIES (1 << 20)
#define CKPT_MAX_INFLATE ((uint64_t)16 << 30) /* one deflated zip entry, inflated */

/* ==== Allocation (ckpt_alloc.c) ==== */

/* malloc & co. for everything the loader owns (freed with free()). Tests
 * call ckpt_alloc_fail_after(n) to make the allocation after the next n
 * fail (n < 0: never), then check every failure path reports and frees. */
void *ckpt_malloc(size_t n);
void *ckpt_calloc(size_t n, size_t size);
void *ckpt_realloc(void *p, size_t n);
char *ckpt_strdup(const char *s);
char *ckpt_strndup(const char *s, size_t n);
void ckpt_alloc_fail_after(long n);
/* What is left of the countdown (< 0 once an allocation was failed). */
long ckpt_alloc_countdown(void);

/* ==== Tensor table ==== */

/* One tensor of a checkpoint. info is what dlut_ckpt_find/at return. */
typedef struct ckpt_tensor {
  dlut_tensor_info info; /* public view; info.name == name, info.data into a map or `owned` */
  char *name;            /* owned, NUL-terminated */
  void *owned;           /* owned raw bytes behind info.data (inflated entry, contiguous copy), or NULL */
  float *f32;            /* owned F32 copy (F16/BF16 converted, or unaligned F32), NULL until asked */
  int zip_entry;         /* index of the zip entry holding the storage (CRC checked on first use), or -1 */
  int file;              /* index of the weights file (shards) it came from */
} ckpt_tensor;

typedef struct ckpt_list {
  ckpt_tensor *v; /* n tensors, capacity cap */
  int n, cap;
} ckpt_list;

/* Append a tensor (copies name[0..name_len)); returns its slot or NULL. */
ckpt_tensor *ckpt_list_push(ckpt_list *l, const char *name, size_t name_len);
void ckpt_list_free(ckpt_list *l);

/* Size in bytes of one element of a dtype ("F32" -> 4); 0 if unknown. */
int ckpt_safetensors_dtype(const char *s, dlut_dtype *dtype);

/* numel = product(shape), checked against overflow and against `limit`.
 * Returns 0 and sets *numel, or -1 (no error message set). */
int ckpt_numel(int ndim, const int64_t *shape, uint64_t limit, uint64_t *numel);

/* ==== safetensors ==== */

/* Parse a whole safetensors file held in buf[0..size): 8-byte little-endian
 * header length N, N bytes of JSON, then the data. Appends one tensor per
 * header entry to `out`, with info.data pointing into buf. `what` names the
 * file in errors. */
int ckpt_safetensors_parse(const uint8_t *buf, size_t size, const char *what, int file, ckpt_list *out);

/* ==== zip (the container torch.save writes) ==== */

typedef struct ckpt_zip_entry {
  char *name;        /* owned */
  uint64_t data_off; /* offset of the (compressed) data in the archive */
  uint64_t csize;    /* compressed size */
  uint64_t usize;    /* uncompressed size */
  uint32_t crc;      /* CRC-32 of the uncompressed data */
  int method;        /* 0 stored, 8 deflated */
  int checked;       /* CRC verified already */
} ckpt_zip_entry;

typedef struct ckpt_zip {
  const uint8_t *buf; /* the archive (not owned) */
  size_t size;
  ckpt_zip_entry *e; /* n entries, in central-directory order */
  int n;
} ckpt_zip;

/* Read the central directory (zip64 aware). */
int ckpt_zip_open(ckpt_zip *z, const uint8_t *buf, size_t size, const char *what);
void ckpt_zip_close(ckpt_zip *z);
/* Index of the entry called name, or -1. */
int ckpt_zip_find(const ckpt_zip *z, const char *name);
/* The uncompressed bytes of entry i: stored entries point into the archive
 * (*owned = NULL), deflated ones are inflated into *owned (caller frees).
 * check_crc: verify the CRC-32 (always done for deflated entries). */
int ckpt_zip_data(ckpt_zip *z, int i, const char *what, int check_crc, const uint8_t **data, void **owned);

/* CRC-32 (zlib's polynomial) of p[0..n), on the thread pool for large n
 * (chunk CRCs joined with crc32_combine); equals crc32_z(0, p, n). */
uint32_t ckpt_crc32(const uint8_t *p, uint64_t n);

/* ==== The safe unpickler (torch state dicts) ==== */

/* One tensor as _rebuild_tensor_v2 describes it. */
typedef struct ckpt_pickle_tensor {
  char *name;            /* state-dict key (owned) */
  char *storage_key;     /* storage file name inside <prefix>/data/ (owned) */
  dlut_dtype dtype;      /* from the storage type */
  int elsize;            /* bytes per element */
  int64_t storage_numel; /* elements in the storage, as the persistent id says */
  int64_t offset;        /* storage offset, elements */
  int ndim;
  int64_t shape[CKPT_MAX_DIMS];
  int64_t stride[CKPT_MAX_DIMS]; /* elements */
} ckpt_pickle_tensor;

/* Run the restricted unpickler over data.pkl. Produces the state dict's
 * tensors in order. Refuses every global and opcode not on the allow-list
 * (see docs/checkpoints.md). Caller frees with ckpt_pickle_free. */
int ckpt_pickle_state_dict(const uint8_t *pkl, size_t size, const char *what, ckpt_pickle_tensor **out, int *count);
void ckpt_pickle_free(ckpt_pickle_tensor *t, int count);

/* ==== pytorch_model.bin (zip + data.pkl + storages) ==== */

typedef struct ckpt_bin {
  ckpt_zip zip;    /* the archive's directory */
  void **inflated; /* zip.n slots: owned inflated bytes of deflated storages, or NULL */
} ckpt_bin;

/* Read a torch.save zip archive held in buf[0..size): find <prefix>/data.pkl,
 * unpickle it, resolve each tensor's storage <prefix>/data/<key>, and append
 * the tensors to `out` (info.data into buf, or into b->inflated, or into an
 * owned contiguous copy for strided views). */
int ckpt_bin_open(ckpt_bin *b, const uint8_t *buf, size_t size, const char *what, int file, ckpt_list *out);
void ckpt_bin_close(ckpt_bin *b);

/* ==== Half floats ==== */

/* IEEE 754 binary16 -> float, exactly (subnormals, inf, NaN kept). The
 * naive reference: one branch per class of input. */
float ckpt_f16_to_f32(uint16_t h);
/* bfloat16 -> float, exactly (the top 16 bits of a binary32). */
float ckpt_bf16_to_f32(uint16_t h);
/* The fast (vectorisable) versions over n little-endian values at src
 * (any alignment) into out; bitwise equal to the scalar references above. */
void ckpt_f16_to_f32_n(float *out, const uint8_t *src, size_t n);
void ckpt_bf16_to_f32_n(float *out, const uint8_t *src, size_t n);

#endif
