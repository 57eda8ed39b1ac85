/* ckpt_bin.c - pytorch_model.bin: the zip archive torch.save writes
 * (torch >= 1.6, "_use_new_zipfile_serialization"):
 *   <prefix>/data.pkl     the pickled state dict (see pickle.c)
 *   <prefix>/data/<key>   one entry per storage, raw little-endian elements
 *   <prefix>/byteorder    "little" (newer torch), <prefix>/version, ...
 * The prefix is the archive's name ("archive", "pytorch_model", ...), so it
 * is taken from the one entry called <prefix>/data.pkl. Each tensor is a
 * view (offset, size, stride) of a storage; contiguous views point into
 * the archive, strided ones get a contiguous copy. The pre-1.6 format (a
 * bare pickle stream with tar-like storages) is recognised and refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip/ckpt_internal.h"
#include "dlut/error.h"

/* Copy a strided view into a contiguous row-major buffer. */
static void gather(uint8_t *dst, const uint8_t *src, int elsize, int ndim, const int64_t *shape, const int64_t *stride,
                   uint64_t numel) {
  int64_t idx[CKPT_MAX_DIMS] = {0};
  uint64_t off = 0; /* element offset of idx in the source */
  for (uint64_t i = 0; i < numel; i++) {
    memcpy(dst + i * (uint64_t)elsize, src + off * (uint64_t)elsize, (size_t)elsize);
    for (int d = ndim - 1; d >= 0; d--) { /* odometer increment, last dim fastest */
      if (++idx[d] < shape[d]) {
        off += (uint64_t)stride[d];
        break;
      }
      off -= (uint64_t)stride[d] * (uint64_t)(shape[d] - 1);
      idx[d] = 0;
    }
  }
}

int ckpt_bin_open(ckpt_bin *b, const uint8_t *buf, size_t size, const char *what, int file, ckpt_list *out) {
  ckpt_pickle_tensor *pt = NULL;
  int npt = 0, first = out->n;
  char *prefix = NULL, *ename = NULL;
  void *pkl_owned = NULL;
  memset(b, 0, sizeof *b);
  if (size >= 2 && buf[0] == 0x80 && buf[1] <= 5) {
    dlut_error(
        "%s: legacy (torch < 1.6) pickle-only checkpoint; re-save it with a newer torch or convert it to "
        "safetensors",
        what);
    goto fail;
  }
  if (size < 4 || memcmp(buf, "PK\003\004", 4) != 0) {
    dlut_error("%s: not a torch.save zip archive (does not start with a zip local header)", what);
    goto fail;
  }
  if (ckpt_zip_open(&b->zip, buf, size, what) != 0) goto fail;
  b->inflated = ckpt_calloc((size_t)(b->zip.n > 0 ? b->zip.n : 1), sizeof *b->inflated);
  if (!b->inflated) {
    dlut_error("%s: out of memory", what);
    goto fail;
  }
  /* Find "<prefix>/data.pkl" (exactly one, prefix without '/'). */
  int pkl = -1;
  for (int i = 0; i < b->zip.n; i++) {
    const char *nm = b->zip.e[i].name, *slash = strchr(nm, '/');
    if (slash && slash != nm && strcmp(slash, "/data.pkl") == 0) {
      if (pkl >= 0) {
        dlut_error("%s: two data.pkl entries ('%s', '%s')", what, b->zip.e[pkl].name, nm);
        goto fail;
      }
      pkl = i;
    }
  }
  if (pkl < 0) {
    dlut_error("%s: no <name>/data.pkl entry (not a torch.save archive)", what);
    goto fail;
  }
  size_t plen = strlen(b->zip.e[pkl].name) - strlen("data.pkl"); /* includes the '/' */
  prefix = ckpt_strndup(b->zip.e[pkl].name, plen);
  ename = ckpt_malloc(plen + 64);
  if (!prefix || !ename) {
    dlut_error("%s: out of memory", what);
    goto fail;
  }
  snprintf(ename, plen + 64, "%sbyteorder", prefix);
  int bo = ckpt_zip_find(&b->zip, ename);
  if (bo >= 0) {
    const uint8_t *d;
    void *own = NULL;
    if (ckpt_zip_data(&b->zip, bo, what, 1, &d, &own) != 0) goto fail;
    int little = b->zip.e[bo].usize == 6 && memcmp(d, "little", 6) == 0;
    free(own);
    if (!little) {
      dlut_error("%s: storages are not little-endian (byteorder entry)", what);
      goto fail;
    }
  }
  const uint8_t *pdata;
  if (b->zip.e[pkl].usize > CKPT_MAX_PICKLE) { /* before inflating it */
    dlut_error("%s: data.pkl is %llu bytes (at most %u)", what, (unsigned long long)b->zip.e[pkl].usize,
               CKPT_MAX_PICKLE);
    goto fail;
  }
  if (ckpt_zip_data(&b->zip, pkl, what, 1, &pdata, &pkl_owned) != 0) goto fail;
  if (ckpt_pickle_state_dict(pdata, (size_t)b->zip.e[pkl].usize, what, &pt, &npt) != 0) goto fail;

  for (int k = 0; k < npt; k++) {
    const ckpt_pickle_tensor *p = &pt[k];
    size_t klen = strlen(p->storage_key);
    if (klen == 0 || klen > 40 || strchr(p->storage_key, '/')) {
      dlut_error("%s: tensor '%s': bad storage key", what, p->name);
      goto fail;
    }
    snprintf(ename, plen + 64, "%sdata/%s", prefix, p->storage_key);
    int ei = ckpt_zip_find(&b->zip, ename);
    if (ei < 0) {
      dlut_error("%s: tensor '%s': storage entry '%s' is missing", what, p->name, ename);
      goto fail;
    }
    ckpt_zip_entry *ze = &b->zip.e[ei];
    if (p->storage_numel < 0 || (uint64_t)p->storage_numel > ze->usize / (uint64_t)p->elsize ||
        (uint64_t)p->storage_numel * (uint64_t)p->elsize != ze->usize) {
      dlut_error("%s: tensor '%s': storage '%s' has %llu bytes, expected %lld elements of %d bytes (truncated?)", what,
                 p->name, ename, (unsigned long long)ze->usize, (long long)p->storage_numel, p->elsize);
      goto fail;
    }
    const uint8_t *sdata = NULL;
    if (ze->method == 0) {
      sdata = buf + ze->data_off; /* CRC checked lazily, on first dlut_ckpt_f32 */
    } else {
      if (!b->inflated[ei]) {
        const uint8_t *d;
        if (ckpt_zip_data(&b->zip, ei, what, 1, &d, &b->inflated[ei]) != 0) goto fail;
      }
      sdata = b->inflated[ei];
    }
    uint64_t numel;
    if (ckpt_numel(p->ndim, p->shape, (uint64_t)p->storage_numel, &numel) != 0) {
      dlut_error("%s: tensor '%s' has more elements than its storage", what, p->name);
      goto fail;
    }
    /* The furthest element the view touches must lie inside the storage. */
    uint64_t last = (uint64_t)p->offset, contiguous = 1, expect = 1;
    if (numel > 0) {
      for (int d = p->ndim - 1; d >= 0; d--) {
        uint64_t span = (uint64_t)(p->shape[d] - 1), st = (uint64_t)p->stride[d];
        if (st != 0 && span > (UINT64_MAX - last) / st) {
          last = UINT64_MAX;
          break;
        }
        last += span * st;
        if (p->shape[d] != 1 && st != expect) contiguous = 0;
        expect *= (uint64_t)p->shape[d];
      }
      if (last >= (uint64_t)p->storage_numel) {
        dlut_error("%s: tensor '%s': view (offset %lld) runs past the end of its storage of %lld elements", what,
                   p->name, (long long)p->offset, (long long)p->storage_numel);
        goto fail;
      }
    } else if (p->offset > p->storage_numel) {
      dlut_error("%s: tensor '%s': offset past the end of its storage", what, p->name);
      goto fail;
    }
    ckpt_tensor *t = ckpt_list_push(out, p->name, strlen(p->name));
    if (!t) {
      dlut_error_prefix(what);
      goto fail;
    }
    t->file = file;
    t->info.dtype = p->dtype;
    t->info.ndim = p->ndim;
    memcpy(t->info.shape, p->shape, sizeof p->shape);
    t->info.nbytes = (size_t)(numel * (uint64_t)p->elsize);
    if (contiguous || numel == 0) {
      t->info.data = sdata + (uint64_t)p->offset * (uint64_t)p->elsize;
      t->zip_entry = ze->method == 0 ? ei : -1;
    } else {
      /* Strided view (a transposed or sliced tensor saved as is): keep a
       * contiguous copy, verified against the CRC first. */
      if (ze->method == 0) {
        const uint8_t *d;
        void *own = NULL;
        if (ckpt_zip_data(&b->zip, ei, what, 1, &d, &own) != 0) goto fail;
      }
      t->owned = ckpt_malloc(t->info.nbytes ? t->info.nbytes : 1);
      if (!t->owned) {
        dlut_error("%s: tensor '%s': out of memory", what, p->name);
        goto fail;
      }
      gather(t->owned, sdata + (uint64_t)p->offset * (uint64_t)p->elsize, p->elsize, p->ndim, p->shape, p->stride,
             numel);
      t->info.data = t->owned;
    }
  }
  ckpt_pickle_free(pt, npt);
  free(pkl_owned);
  free(prefix);
  free(ename);
  return 0;
fail:
  for (int i = first; i < out->n; i++) {
    free(out->v[i].name);
    free(out->v[i].owned);
    free(out->v[i].f32);
  }
  out->n = first;
  ckpt_pickle_free(pt, npt);
  free(pkl_owned);
  free(prefix);
  free(ename);
  ckpt_bin_close(b);
  return -1;
}

void ckpt_bin_close(ckpt_bin *b) {
  if (b->inflated)
    for (int i = 0; i < b->zip.n; i++) free(b->inflated[i]);
  free(b->inflated);
  b->inflated = NULL;
  ckpt_zip_close(&b->zip);
}
