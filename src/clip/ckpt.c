/* ckpt.c - Hugging Face model folders: config.json plus the weights, from
 * model.safetensors (or its sharded index), else pytorch_model.bin (or its
 * sharded index). Weight files are memory-mapped read-only and tensors
 * point into the map, so the weights exist once in memory (the page cache);
 * only F16/BF16 conversions, unaligned F32 tensors, deflated zip entries and
 * strided views get owned copies. The format parsers live in
 * safetensors.c, zip.c, pickle.c and ckpt_bin.c; see docs/checkpoints.md.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clip/ckpt_internal.h"
#include "dlut/ckpt.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/parallel.h"

/* Both formats store little-endian data and F32 tensors are used in place. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "the checkpoint loader assumes a little-endian host"
#endif

#define CKPT_MAX_CONFIG (16u << 20) /* config.json / index json files */
#define CKPT_MAX_SHARDS 4096

/* One memory-mapped weights file. */
typedef struct ckpt_file {
  char *path;   /* owned: "<dir>/model.safetensors" */
  uint8_t *map; /* read-only mapping of the whole file */
  size_t size;  /* bytes mapped */
  int is_bin;   /* pytorch_model.bin (zip) rather than safetensors */
  ckpt_bin bin; /* zip directory and inflated storages, when is_bin */
} ckpt_file;

struct dlut_ckpt {
  char *dir;        /* owned copy of the folder name */
  cJSON *config;    /* parsed config.json */
  ckpt_file *files; /* nfiles weights files (more than one for sharded checkpoints) */
  int nfiles;
  ckpt_list t;        /* every tensor, in file order */
  int *by_name;       /* t.n indices sorted by name, for bsearch */
  pthread_mutex_t mu; /* guards lazy F32 conversion and CRC checks */
};

/* ==== Half floats ==== */

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits (IEEE 754-2008 3.6). */
float ckpt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | man << 13; /* inf / NaN (payload kept) */
  } else if (exp != 0) {
    bits = sign | (exp + 112) << 23 | man << 13; /* normal: rebias 15 -> 127 */
  } else if (man == 0) {
    bits = sign; /* signed zero */
  } else {
    /* subnormal: value = man * 2^-24; normalise the mantissa */
    int e = -1;
    do {
      e++;
      man <<= 1;
    } while (!(man & 0x400));
    bits = sign | (uint32_t)(112 - e) << 23 | (man & 0x3ff) << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* bfloat16 is the top half of a binary32, so widening is a shift. */
float ckpt_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* Fast binary16 -> binary32, branch-free so the loop vectorises: the
 * exponent is rebiased with one add, Inf/NaN get a second add, and
 * subnormals are renormalised by a float subtraction of 2^-14 (F. Giesen,
 * half_to_float_fast4, https://gist.github.com/rygorous/2144712). Agrees
 * bitwise with ckpt_f16_to_f32 on all 65536 inputs (tests/test_ckpt.c). */
static inline uint32_t f16_bits_fast(uint16_t h) {
  uint32_t o = (uint32_t)(h & 0x7fff) << 13; /* exponent and mantissa, in binary32 position */
  uint32_t exp = o & 0x0f800000u;            /* 0x7c00 << 13 */
  o += 0x38000000u;                          /* rebias: (127 - 15) << 23 */
  uint32_t sub = o + 0x00800000u;            /* as float: 2^-14 * (1 + m/1024) */
  float fs, magic = 6.103515625e-05f;        /* 2^-14 = 0x38800000 */
  memcpy(&fs, &sub, 4);
  fs -= magic; /* = m * 2^-24 exactly */
  uint32_t subbits;
  memcpy(&subbits, &fs, 4);
  uint32_t is_inf = -(uint32_t)(exp == 0x0f800000u); /* masks, not branches, so that it vectorises */
  uint32_t is_sub = -(uint32_t)(exp == 0);
  o += is_inf & 0x38000000u; /* Inf/NaN: exponent all ones */
  o = (subbits & is_sub) | (o & ~is_sub);
  return o | (uint32_t)(h & 0x8000) << 16;
}

/* GCC's -O2 does not vectorise loops with this much work; clang's does. */
#if defined(__GNUC__) && !defined(__clang__)
#define CKPT_VECTORISE __attribute__((optimize("O3")))
#else
#define CKPT_VECTORISE
#endif

CKPT_VECTORISE void ckpt_f16_to_f32_n(float *out, const uint8_t *src, size_t n) {
  uint32_t *o = (uint32_t *)(void *)out;
  for (size_t i = 0; i < n; i++) o[i] = f16_bits_fast((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
}

CKPT_VECTORISE void ckpt_bf16_to_f32_n(float *out, const uint8_t *src, size_t n) {
  uint32_t *o = (uint32_t *)(void *)out;
  for (size_t i = 0; i < n; i++) o[i] = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
}

typedef struct convert_job {
  float *out;
  const uint8_t *src;
  dlut_dtype dtype;
} convert_job;

static void convert_range(void *ctx, int64_t b, int64_t e, int thread) {
  const convert_job *j = ctx;
  (void)thread;
  if (j->dtype == DLUT_DTYPE_F16)
    ckpt_f16_to_f32_n(j->out + b, j->src + 2 * b, (size_t)(e - b));
  else if (j->dtype == DLUT_DTYPE_BF16)
    ckpt_bf16_to_f32_n(j->out + b, j->src + 2 * b, (size_t)(e - b));
  else
    memcpy(j->out + b, j->src + 4 * b, (size_t)(e - b) * 4);
}

/* ==== Files ==== */

static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *path_join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *p = ckpt_malloc(a + b + 2);
  if (!p) {
    dlut_error("out of memory");
    return NULL;
  }
  memcpy(p, dir, a);
  p[a] = '/';
  memcpy(p + a + 1, name, b + 1);
  return p;
}

static int map_file(ckpt_file *f) {
  int fd = open(f->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return dlut_error("%s: cannot open: %s", f->path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return dlut_error("%s: cannot stat: %s", f->path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return dlut_error("%s: not a regular file", f->path);
  }
  if (st.st_size <= 0) {
    close(fd);
    return dlut_error("%s: empty file", f->path);
  }
  if ((uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return dlut_error("%s: too large to map", f->path);
  }
  void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  if (m == MAP_FAILED) return dlut_error("%s: cannot map: %s", f->path, strerror(e));
  f->map = m;
  f->size = (size_t)st.st_size;
  return 0;
}

/* Map and parse one weights file into ck->files[ck->nfiles]. */
static int add_file(dlut_ckpt *ck, const char *name, int is_bin) {
  ckpt_file *f = &ck->files[ck->nfiles];
  memset(f, 0, sizeof *f);
  f->is_bin = is_bin;
  f->path = path_join(ck->dir, name);
  if (!f->path) return -1;
  ck->nfiles++; /* from here on close() cleans it up */
  if (map_file(f) != 0) return -1;
  if (is_bin) return ckpt_bin_open(&f->bin, f->map, f->size, f->path, ck->nfiles - 1, &ck->t);
  return ckpt_safetensors_parse(f->map, f->size, f->path, ck->nfiles - 1, &ck->t);
}

static cJSON *read_json(const char *path) {
  size_t n = 0;
  char *text = dlut_file_read_all(path, CKPT_MAX_CONFIG, &n);
  if (!text) return NULL;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!j) {
    size_t at = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
    int line = 1;
    for (size_t i = 0; i < at; i++) line += text[i] == '\n';
    dlut_error("%s:%d: invalid JSON", path, line);
  }
  free(text);
  return j;
}

/* A sharded checkpoint: "<name>.index.json" = {"weight_map": {tensor: file}}.
 * Maps every distinct shard file once; the parsed index is returned in
 * *index_out (caller frees) so that dlut_ckpt_open can check, once names
 * are sorted, that every tensor it lists exists. */
static int add_sharded(dlut_ckpt *ck, const char *index_name, int is_bin, cJSON **index_out) {
  char *ipath = path_join(ck->dir, index_name);
  cJSON *idx = NULL;
  int rc = -1;
  if (!ipath) goto done;
  idx = read_json(ipath);
  if (!idx) goto done;
  const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
  if (!cJSON_IsObject(wm)) {
    dlut_error("%s: no \"weight_map\" object", ipath);
    goto done;
  }
  for (const cJSON *e = wm->child; e; e = e->next) {
    if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') || e->valuestring[0] == '.') {
      dlut_error("%s: tensor '%s': shard name must be a plain file name in the folder", ipath,
                 e->string ? e->string : "");
      goto done;
    }
    int seen = 0;
    for (int i = 0; i < ck->nfiles && !seen; i++) {
      const char *base = strrchr(ck->files[i].path, '/') + 1;
      seen = strcmp(base, e->valuestring) == 0;
    }
    if (seen) continue;
    if (ck->nfiles >= CKPT_MAX_SHARDS) {
      dlut_error("%s: more than %d shards", ipath, CKPT_MAX_SHARDS);
      goto done;
    }
    if (add_file(ck, e->valuestring, is_bin) != 0) goto done;
  }
  rc = 0;
  *index_out = idx;
  idx = NULL;
done:
  free(ipath);
  cJSON_Delete(idx);
  return rc;
}

/* ==== Name index ==== */

static const ckpt_list *g_sort_list; /* qsort has no context argument; guarded by g_sort_mu */
static pthread_mutex_t g_sort_mu = PTHREAD_MUTEX_INITIALIZER;

static int by_name_cmp(const void *a, const void *b) {
  return strcmp(g_sort_list->v[*(const int *)a].name, g_sort_list->v[*(const int *)b].name);
}

static int build_index(dlut_ckpt *ck) {
  ck->by_name = ckpt_malloc((size_t)(ck->t.n > 0 ? ck->t.n : 1) * sizeof *ck->by_name);
  if (!ck->by_name) return dlut_error("out of memory");
  for (int i = 0; i < ck->t.n; i++) ck->by_name[i] = i;
  pthread_mutex_lock(&g_sort_mu);
  g_sort_list = &ck->t;
  qsort(ck->by_name, (size_t)ck->t.n, sizeof *ck->by_name, by_name_cmp);
  g_sort_list = NULL;
  pthread_mutex_unlock(&g_sort_mu);
  for (int i = 1; i < ck->t.n; i++) {
    const ckpt_tensor *a = &ck->t.v[ck->by_name[i - 1]], *b = &ck->t.v[ck->by_name[i]];
    if (strcmp(a->name, b->name) == 0)
      return dlut_error("%s: tensor '%s' appears twice", ck->files[b->file].path, b->name);
  }
  return 0;
}

static ckpt_tensor *lookup(const dlut_ckpt *ck, const char *name);

/* Every tensor an index's weight_map lists must be in its shards. */
static int check_weight_map(const dlut_ckpt *ck, const cJSON *idx, const char *index_name) {
  const cJSON *wm = cJSON_GetObjectItemCaseSensitive(idx, "weight_map");
  for (const cJSON *e = wm ? wm->child : NULL; e; e = e->next) {
    ckpt_tensor *t = e->string ? lookup(ck, e->string) : NULL;
    if (!t)
      return dlut_error("%s/%s: tensor '%s' is not in its shard %s", ck->dir, index_name, e->string ? e->string : "",
                        e->valuestring);
    const char *base = strrchr(ck->files[t->file].path, '/') + 1;
    if (strcmp(base, e->valuestring) != 0)
      return dlut_error("%s/%s: tensor '%s' is listed in %s but found in %s", ck->dir, index_name, e->string,
                        e->valuestring, base);
  }
  return 0;
}

static ckpt_tensor *lookup(const dlut_ckpt *ck, const char *name) {
  int lo = 0, hi = ck->t.n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    ckpt_tensor *t = &ck->t.v[ck->by_name[mid]];
    int c = strcmp(name, t->name);
    if (c == 0) return t;
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return NULL;
}

/* ==== Public API ==== */

dlut_ckpt *dlut_ckpt_open(const char *model_dir) {
  if (!model_dir || !*model_dir) {
    dlut_error("checkpoint: no model folder given");
    return NULL;
  }
  dlut_ckpt *ck = ckpt_calloc(1, sizeof *ck);
  char *cfg_path = NULL, *probe = NULL, *direct = NULL;
  cJSON *index = NULL;
  if (!ck) {
    dlut_error("out of memory");
    return NULL;
  }
  pthread_mutex_init(&ck->mu, NULL);
  size_t dl = strlen(model_dir);
  while (dl > 1 && model_dir[dl - 1] == '/') dl--; /* "models/clip/" -> "models/clip" */
  ck->dir = ckpt_strndup(model_dir, dl);
  if (!ck->dir) {
    dlut_error("out of memory");
    goto fail;
  }
  struct stat st;
  if (stat(ck->dir, &st) != 0) {
    dlut_error("%s: cannot open model folder: %s", ck->dir, strerror(errno));
    goto fail;
  }
  /* A weights file may be named directly; config.json then comes from its folder. */
  int direct_bin = 0, direct_sharded = 0;
  if (S_ISREG(st.st_mode)) {
    char *slash = strrchr(ck->dir, '/');
    direct = ckpt_strdup(slash ? slash + 1 : ck->dir);
    if (!direct) {
      dlut_error("out of memory");
      goto fail;
    }
    if (slash && slash != ck->dir)
      *slash = '\0';
    else if (slash)
      slash[1] = '\0'; /* "/model.safetensors" -> "/" */
    else
      strcpy(ck->dir, "."); /* fits: the name was at least one byte */
    size_t dn = strlen(direct);
#define ENDS(lit) (dn >= sizeof(lit) - 1 && strcmp(direct + dn - (sizeof(lit) - 1), lit) == 0)
    if (ENDS(".safetensors.index.json"))
      direct_sharded = 1;
    else if (ENDS(".bin.index.json"))
      direct_sharded = direct_bin = 1;
    else if (ENDS(".bin") || ENDS(".pt") || ENDS(".pth"))
      direct_bin = 1;
    else if (!ENDS(".safetensors")) {
      dlut_error("%s/%s: not a model folder nor a .safetensors / .bin weights file", ck->dir, direct);
      goto fail;
    }
#undef ENDS
  } else if (!S_ISDIR(st.st_mode)) {
    dlut_error("%s: not a folder (a model is a Hugging Face folder with config.json and the weights)", ck->dir);
    goto fail;
  }
  cfg_path = path_join(ck->dir, "config.json");
  if (!cfg_path) goto fail;
  if (!file_exists(cfg_path)) {
    dlut_error("%s: no config.json (a Hugging Face model folder has config.json and the weights)", ck->dir);
    goto fail;
  }
  ck->config = read_json(cfg_path);
  if (!ck->config) goto fail;
  if (!cJSON_IsObject(ck->config)) {
    dlut_error("%s: not a JSON object", cfg_path);
    goto fail;
  }
  ck->files = ckpt_calloc(CKPT_MAX_SHARDS, sizeof *ck->files);
  if (!ck->files) {
    dlut_error("out of memory");
    goto fail;
  }
  /* Preference order as in transformers' modeling_utils: safetensors first. */
  static const struct {
    const char *name;
    int is_bin, sharded;
  } layouts[] = {
      {"model.safetensors", 0, 0},
      {"model.safetensors.index.json", 0, 1},
      {"pytorch_model.bin", 1, 0},
      {"pytorch_model.bin.index.json", 1, 1},
  };
  int found = -1, rc;
  if (direct) {
    rc = direct_sharded ? add_sharded(ck, direct, direct_bin, &index) : add_file(ck, direct, direct_bin);
    if (rc != 0) goto fail;
    goto loaded;
  }
  for (int i = 0; i < 4 && found < 0; i++) {
    free(probe);
    probe = path_join(ck->dir, layouts[i].name);
    if (!probe) goto fail;
    if (file_exists(probe)) found = i;
  }
  if (found < 0) {
    dlut_error("%s: no weights (expected model.safetensors or pytorch_model.bin, or a sharded .index.json)", ck->dir);
    goto fail;
  }
  rc = layouts[found].sharded ? add_sharded(ck, layouts[found].name, layouts[found].is_bin, &index)
                              : add_file(ck, layouts[found].name, layouts[found].is_bin);
  if (rc != 0) goto fail;
loaded:
  if (ck->t.n == 0) {
    dlut_error("%s: the checkpoint holds no tensors", ck->nfiles ? ck->files[0].path : ck->dir);
    goto fail;
  }
  if (build_index(ck) != 0) goto fail;
  if (index && check_weight_map(ck, index, found >= 0 ? layouts[found].name : "index") != 0) goto fail;
  cJSON_Delete(index);
  free(cfg_path);
  free(probe);
  free(direct);
  return ck;
fail:
  cJSON_Delete(index);
  free(cfg_path);
  free(probe);
  free(direct);
  dlut_ckpt_close(ck);
  return NULL;
}

void dlut_ckpt_close(dlut_ckpt *ck) {
  if (!ck) return;
  ckpt_list_free(&ck->t);
  for (int i = 0; i < ck->nfiles; i++) {
    ckpt_file *f = &ck->files[i];
    if (f->is_bin) ckpt_bin_close(&f->bin);
    if (f->map) munmap(f->map, f->size);
    free(f->path);
  }
  free(ck->files);
  free(ck->by_name);
  cJSON_Delete(ck->config);
  free(ck->dir);
  pthread_mutex_destroy(&ck->mu);
  free(ck);
}

struct cJSON *dlut_ckpt_config(const dlut_ckpt *ck) {
  return ck ? ck->config : NULL;
}

const dlut_tensor_info *dlut_ckpt_find(const dlut_ckpt *ck, const char *name) {
  if (!ck || !name) return NULL;
  const ckpt_tensor *t = lookup(ck, name);
  return t ? &t->info : NULL;
}

int dlut_ckpt_count(const dlut_ckpt *ck) {
  return ck ? ck->t.n : 0;
}

const dlut_tensor_info *dlut_ckpt_at(const dlut_ckpt *ck, int i) {
  if (!ck || i < 0 || i >= ck->t.n) return NULL;
  return &ck->t.v[i].info;
}

const char *dlut_ckpt_weights_path(const dlut_ckpt *ck) {
  return ck && ck->nfiles > 0 ? ck->files[0].path : NULL;
}

const char *dlut_dtype_name(dlut_dtype d) {
  switch (d) {
    case DLUT_DTYPE_F32:
      return "F32";
    case DLUT_DTYPE_F16:
      return "F16";
    case DLUT_DTYPE_BF16:
      return "BF16";
    default:
      return "other";
  }
}

static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

const float *dlut_ckpt_f32(dlut_ckpt *ck, const char *name, int ndim, const int64_t *shape) {
  if (!ck || !name) {
    dlut_error("checkpoint: no checkpoint or tensor name");
    return NULL;
  }
  const char *what = ck->files[0].path;
  ckpt_tensor *t = lookup(ck, name);
  if (!t) {
    dlut_error("%s: no tensor '%s'", what, name);
    return NULL;
  }
  what = ck->files[t->file].path;
  const dlut_tensor_info *in = &t->info;
  if (ndim >= 0) {
    int same = ndim == in->ndim && (ndim == 0 || shape);
    for (int i = 0; same && i < ndim; i++) same = shape[i] == in->shape[i];
    if (!same) {
      char got[256], want[256];
      fmt_shape(got, sizeof got, in->ndim, in->shape);
      fmt_shape(want, sizeof want, ndim > CKPT_MAX_DIMS ? CKPT_MAX_DIMS : ndim, shape);
      dlut_error("%s: tensor '%s' has shape %s, config expects %s", what, name, got, shape ? want : "?");
      return NULL;
    }
  }
  if (in->dtype == DLUT_DTYPE_OTHER) {
    dlut_error("%s: tensor '%s' is not floating point F32/F16/BF16, cannot read it as F32", what, name);
    return NULL;
  }
  const float *res = NULL;
  pthread_mutex_lock(&ck->mu);
  if (t->f32) {
    res = t->f32;
    goto done;
  }
  if (t->zip_entry >= 0) {
    ckpt_file *f = &ck->files[t->file];
    if (!f->bin.zip.e[t->zip_entry].checked) {
      const uint8_t *d;
      void *owned = NULL;
      if (ckpt_zip_data(&f->bin.zip, t->zip_entry, what, 1, &d, &owned) != 0) goto done;
      free(owned); /* deflated entries were inflated and checked at open; this only verifies */
    }
  }
  size_t numel = in->nbytes / (in->dtype == DLUT_DTYPE_F32 ? 4 : 2);
  if (in->dtype == DLUT_DTYPE_F32 && ((uintptr_t)in->data & 3) == 0) {
    res = in->data; /* straight from the map: the common case */
    goto done;
  }
  float *out = ckpt_malloc(numel ? numel * sizeof(float) : 1);
  if (!out) {
    dlut_error("%s: tensor '%s': out of memory converting %zu elements", what, name, numel);
    goto done;
  }
  /* F16/BF16 are converted (file data is little-endian: safetensors spec;
   * torch writes byteorder "little"); unaligned F32 (safetensors offsets
   * need not be multiples of 4) is copied. Big tensors use the thread pool. */
  convert_job job = {out, in->data, in->dtype};
  dlut_parallel_for((int64_t)numel, 1 << 16, convert_range, &job);
  t->f32 = out;
  res = out;
done:
  pthread_mutex_unlock(&ck->mu);
  return res;
}
