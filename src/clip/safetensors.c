/* safetensors.c - the safetensors header parser.
 *
 * Format (https://github.com/huggingface/safetensors, README "Format"):
 *   8 bytes   N, unsigned little-endian: the header length
 *   N bytes   JSON object: {"name": {"dtype": "F32", "shape": [..],
 *             "data_offsets": [begin, end]}, ..., "__metadata__": {..}}
 *   rest      the byte buffer; offsets are relative to its start
 * The upstream parser caps N at 100 MB, requires the header to be a JSON
 * object, end - begin == numel * dtype size, and the tensors to tile the
 * buffer without overlap. We check the same, overflow-safe, and hand back
 * pointers into the caller's buffer (the mmap): nothing is copied here.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "clip/ckpt_internal.h"
#include "dlut/error.h"

/* ==== Tensor table ==== */

ckpt_tensor *ckpt_list_push(ckpt_list *l, const char *name, size_t name_len) {
  if (l->n >= CKPT_MAX_TENSORS) {
    dlut_error("more than %d tensors", CKPT_MAX_TENSORS);
    return NULL;
  }
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 64;
    ckpt_tensor *v = ckpt_realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) {
      dlut_error("out of memory");
      return NULL;
    }
    l->v = v;
    l->cap = cap;
  }
  char *copy = ckpt_malloc(name_len + 1);
  if (!copy) {
    dlut_error("out of memory");
    return NULL;
  }
  memcpy(copy, name, name_len);
  copy[name_len] = '\0';
  ckpt_tensor *t = &l->v[l->n++];
  memset(t, 0, sizeof *t);
  t->name = copy;
  t->info.name = copy;
  t->zip_entry = -1;
  return t;
}

void ckpt_list_free(ckpt_list *l) {
  for (int i = 0; i < l->n; i++) {
    free(l->v[i].name);
    free(l->v[i].owned);
    free(l->v[i].f32);
  }
  free(l->v);
  memset(l, 0, sizeof *l);
}

int ckpt_numel(int ndim, const int64_t *shape, uint64_t limit, uint64_t *numel) {
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0) return -1;
    uint64_t d = (uint64_t)shape[i];
    if (d != 0 && n > limit / d) return -1;
    n *= d;
  }
  if (n > limit) return -1;
  *numel = n;
  return 0;
}

/* The dtypes of the safetensors spec (safetensors/src/tensor.rs, enum Dtype). */
int ckpt_safetensors_dtype(const char *s, dlut_dtype *dtype) {
  static const struct {
    const char *name;
    int size;
    dlut_dtype dtype;
  } table[] = {
      {"F32", 4, DLUT_DTYPE_F32},    {"F16", 2, DLUT_DTYPE_F16},       {"BF16", 2, DLUT_DTYPE_BF16},
      {"F64", 8, DLUT_DTYPE_OTHER},  {"I64", 8, DLUT_DTYPE_OTHER},     {"U64", 8, DLUT_DTYPE_OTHER},
      {"I32", 4, DLUT_DTYPE_OTHER},  {"U32", 4, DLUT_DTYPE_OTHER},     {"I16", 2, DLUT_DTYPE_OTHER},
      {"U16", 2, DLUT_DTYPE_OTHER},  {"I8", 1, DLUT_DTYPE_OTHER},      {"U8", 1, DLUT_DTYPE_OTHER},
      {"BOOL", 1, DLUT_DTYPE_OTHER}, {"F8_E4M3", 1, DLUT_DTYPE_OTHER}, {"F8_E5M2", 1, DLUT_DTYPE_OTHER},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(s, table[i].name) == 0) {
      *dtype = table[i].dtype;
      return table[i].size;
    }
  return 0;
}

/* A JSON number that is an exact non-negative integer <= 2^53. */
static int json_u64(const cJSON *j, uint64_t *out) {
  if (!cJSON_IsNumber(j)) return -1;
  double d = j->valuedouble;
  if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d) return -1;
  *out = (uint64_t)d;
  return 0;
}

typedef struct span {
  uint64_t begin, end;
  int tensor;
} span;

static int span_cmp(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* ==== Parser ==== */

int ckpt_safetensors_parse(const uint8_t *buf, size_t size, const char *what, int file, ckpt_list *out) {
  cJSON *root = NULL;
  span *spans = NULL;
  int first = out->n, nspans = 0;
  if (size < 8) {
    dlut_error("%s: truncated safetensors file (%zu bytes, the header length alone is 8)", what, size);
    goto fail;
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
  if (hlen < 2 || hlen > CKPT_MAX_ST_HEADER) {
    dlut_error("%s: not a safetensors file (header length %llu; expected 2..%u)", what, (unsigned long long)hlen,
               CKPT_MAX_ST_HEADER);
    goto fail;
  }
  if (hlen > size - 8) {
    dlut_error("%s: truncated safetensors file (header of %llu bytes, file has %zu)", what, (unsigned long long)hlen,
               size);
    goto fail;
  }
  const char *hdr = (const char *)buf + 8;
  if (hdr[0] != '{') {
    dlut_error("%s: not a safetensors file (header does not start with '{')", what);
    goto fail;
  }
  const uint8_t *data = buf + 8 + hlen;
  uint64_t data_size = size - 8 - hlen;
  root = cJSON_ParseWithLength(hdr, (size_t)hlen);
  if (!root || !cJSON_IsObject(root)) {
    dlut_error("%s: safetensors header is not valid JSON", what);
    goto fail;
  }
  int count = cJSON_GetArraySize(root);
  if (count > CKPT_MAX_TENSORS) {
    dlut_error("%s: more than %d tensors", what, CKPT_MAX_TENSORS);
    goto fail;
  }
  spans = ckpt_malloc((size_t)(count > 0 ? count : 1) * sizeof *spans);
  if (!spans) {
    dlut_error("%s: out of memory", what);
    goto fail;
  }
  for (const cJSON *e = root->child; e; e = e->next) {
    const char *name = e->string ? e->string : "";
    if (strcmp(name, "__metadata__") == 0) continue; /* free-form string map; ignored */
    size_t name_len = strlen(name);
    if (name_len == 0 || name_len > CKPT_MAX_NAME) {
      dlut_error("%s: tensor name of %zu bytes (expected 1..%d)", what, name_len, CKPT_MAX_NAME);
      goto fail;
    }
    if (!cJSON_IsObject(e)) {
      dlut_error("%s: tensor '%s': header entry is not an object", what, name);
      goto fail;
    }
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo)) {
      dlut_error("%s: tensor '%s': header entry needs \"dtype\", \"shape\" and \"data_offsets\"", what, name);
      goto fail;
    }
    dlut_dtype dtype;
    int elsize = ckpt_safetensors_dtype(jd->valuestring, &dtype);
    if (!elsize) {
      dlut_error("%s: tensor '%s': unknown dtype \"%.32s\"", what, name, jd->valuestring);
      goto fail;
    }
    int ndim = cJSON_GetArraySize(js);
    if (ndim > CKPT_MAX_DIMS) {
      dlut_error("%s: tensor '%s': %d dimensions (at most %d)", what, name, ndim, CKPT_MAX_DIMS);
      goto fail;
    }
    int64_t shape[CKPT_MAX_DIMS] = {0};
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
      uint64_t v;
      if (json_u64(d, &v) != 0 || v > (uint64_t)INT64_MAX) {
        dlut_error("%s: tensor '%s': shape[%d] is not a non-negative integer", what, name, k);
        goto fail;
      }
      shape[k] = (int64_t)v;
    }
    uint64_t numel, begin, end;
    if (ckpt_numel(ndim, shape, UINT64_MAX / 8, &numel) != 0) {
      dlut_error("%s: tensor '%s': shape too large", what, name);
      goto fail;
    }
    if (cJSON_GetArraySize(jo) != 2 || json_u64(jo->child, &begin) != 0 || json_u64(jo->child->next, &end) != 0 ||
        begin > end) {
      dlut_error("%s: tensor '%s': \"data_offsets\" must be [begin, end] with begin <= end", what, name);
      goto fail;
    }
    if (end > data_size) {
      dlut_error("%s: tensor '%s': data [%llu, %llu) runs past the end of the file (%llu data bytes; truncated?)", what,
                 name, (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
      goto fail;
    }
    if (end - begin != numel * (uint64_t)elsize) {
      dlut_error("%s: tensor '%s': %llu data bytes, but %s with %llu elements needs %llu", what, name,
                 (unsigned long long)(end - begin), jd->valuestring, (unsigned long long)numel,
                 (unsigned long long)(numel * (uint64_t)elsize));
      goto fail;
    }
    ckpt_tensor *t = ckpt_list_push(out, name, name_len);
    if (!t) {
      dlut_error_prefix(what);
      goto fail;
    }
    t->file = file;
    t->info.dtype = dtype;
    t->info.ndim = ndim;
    memcpy(t->info.shape, shape, sizeof shape);
    t->info.data = data + begin;
    t->info.nbytes = (size_t)(end - begin);
    spans[nspans++] = (span){begin, end, out->n - 1};
  }
  /* A name listed twice (JSON allows it, the format does not) is named as
   * such, before it shows up as an overlap with itself. */
  for (int i = 0; i < nspans; i++)
    for (int k = i + 1; k < nspans && nspans <= 4096; k++)
      if (!strcmp(out->v[spans[i].tensor].name, out->v[spans[k].tensor].name)) {
        dlut_errorc(DLUT_ERR_INPUT, "%s: tensor '%s' appears twice in the header", what, out->v[spans[i].tensor].name);
        goto fail;
      }
  /* No two tensors may share bytes (upstream: "InvalidOffset"). Empty
   * tensors occupy nothing and may sit anywhere. */
  qsort(spans, (size_t)nspans, sizeof *spans, span_cmp);
  uint64_t reach = 0;
  int reach_t = -1;
  for (int i = 0; i < nspans; i++) {
    if (spans[i].begin == spans[i].end) continue;
    if (spans[i].begin < reach) {
      dlut_error("%s: tensors '%s' and '%s' overlap in the data buffer", what, out->v[reach_t].name,
                 out->v[spans[i].tensor].name);
      goto fail;
    }
    reach = spans[i].end;
    reach_t = spans[i].tensor;
  }
  free(spans);
  cJSON_Delete(root);
  return 0;
fail:
  /* Drop what this call appended, keep what was there. */
  for (int i = first; i < out->n; i++) {
    free(out->v[i].name);
    free(out->v[i].owned);
    free(out->v[i].f32);
  }
  out->n = first;
  free(spans);
  cJSON_Delete(root);
  return -1;
}
