/* zip.c - a minimal zip reader for the archives torch.save writes.
 *
 * Reads the central directory from memory (the mmap of pytorch_model.bin):
 * end-of-central-directory record, the zip64 locator and record when
 * present, and one central header per entry, taking 64-bit sizes and
 * offsets from the zip64 extra field (id 0x0001) where the 32-bit fields
 * hold 0xFFFFFFFF. Layouts follow PKWARE's APPNOTE.TXT 6.3.10, sections
 * 4.3.7 (local header), 4.3.12 (central header), 4.3.14-16 (zip64 and
 * end records) and 4.5.3 (zip64 extra field). torch writes entries
 * "stored" (method 0) and pads local headers so data is 64-byte aligned;
 * stored entries are returned as pointers into the archive, deflated ones
 * (method 8, e.g. after a re-zip) are inflated with zlib into owned memory.
 * Encrypted entries, other methods and multi-disk archives are refused.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clip/ckpt_internal.h"
#include "dlut/error.h"
#include "dlut/parallel.h"

static uint16_t rd16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
  return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u

static int entry_cmp(const void *a, const void *b) {
  return strcmp(((const ckpt_zip_entry *)a)->name, ((const ckpt_zip_entry *)b)->name);
}

/* The 64-bit values of a zip64 extra field, read in APPNOTE order for the
 * fields whose 32-bit versions are saturated. */
static int zip64_extra(const uint8_t *x, size_t xlen, uint64_t *usize, uint64_t *csize, uint64_t *off) {
  while (xlen >= 4) {
    uint16_t id = rd16(x), len = rd16(x + 2);
    if ((size_t)len > xlen - 4) return -1;
    if (id == 0x0001) {
      const uint8_t *p = x + 4;
      size_t left = len;
      uint64_t *want[3] = {usize, csize, off};
      for (int k = 0; k < 3; k++) {
        if (*want[k] != 0xffffffffu) continue;
        if (left < 8) return -1;
        *want[k] = rd64(p);
        p += 8;
        left -= 8;
      }
      return 0;
    }
    x += 4 + len;
    xlen -= 4 + (size_t)len;
  }
  return 0;
}

int ckpt_zip_open(ckpt_zip *z, const uint8_t *buf, size_t size, const char *what) {
  memset(z, 0, sizeof *z);
  z->buf = buf;
  z->size = size;
  if (size < 22) return dlut_error("%s: not a zip archive (too short; truncated?)", what);
  /* The end record sits in the last 22 + 65535 (comment) bytes. */
  size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0, eocd = SIZE_MAX;
  for (size_t p = size - 22 + 1; p-- > lo;)
    if (rd32(buf + p) == SIG_EOCD && p + 22 + rd16(buf + p + 20) <= size) {
      eocd = p;
      break;
    }
  if (eocd == SIZE_MAX)
    return dlut_error("%s: not a zip archive (no end-of-central-directory record; truncated?)", what);
  const uint8_t *e = buf + eocd;
  uint64_t count = rd16(e + 10), cd_size = rd32(e + 12), cd_off = rd32(e + 16);
  if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != rd16(e + 10))
    return dlut_error("%s: multi-disk zip archives are not supported", what);
  if (eocd >= 20 && rd32(buf + eocd - 20) == SIG_EOCD64_LOC) {
    uint64_t r = rd64(buf + eocd - 20 + 8);
    if (r > eocd - 20 || eocd - 20 - r < 56 || rd32(buf + r) != SIG_EOCD64)
      return dlut_error("%s: damaged zip64 end-of-central-directory record", what);
    const uint8_t *e64 = buf + r;
    if (rd32(e64 + 16) != 0 || rd32(e64 + 20) != 0 || rd64(e64 + 24) != rd64(e64 + 32))
      return dlut_error("%s: multi-disk zip archives are not supported", what);
    count = rd64(e64 + 32);
    cd_size = rd64(e64 + 40);
    cd_off = rd64(e64 + 48);
  }
  if (cd_off > size || cd_size > size - cd_off)
    return dlut_error("%s: zip central directory lies outside the file (truncated?)", what);
  if (count > CKPT_MAX_ZIP_ENTRIES || count > cd_size / 46)
    return dlut_error("%s: zip directory claims %llu entries in %llu bytes", what, (unsigned long long)count,
                      (unsigned long long)cd_size);
  z->e = ckpt_calloc(count ? (size_t)count : 1, sizeof *z->e);
  if (!z->e) return dlut_error("%s: out of memory", what);
  const uint8_t *p = buf + cd_off, *end = buf + cd_off + cd_size;
  for (uint64_t i = 0; i < count; i++) {
    if (end - p < 46 || rd32(p) != SIG_CENTRAL) {
      dlut_error("%s: damaged zip central directory (entry %llu)", what, (unsigned long long)i);
      goto fail;
    }
    uint16_t flags = rd16(p + 8), method = rd16(p + 10), nlen = rd16(p + 28), xlen = rd16(p + 30), clen = rd16(p + 32);
    if ((size_t)(end - p) < 46u + nlen + xlen + clen || nlen == 0) {
      dlut_error("%s: damaged zip central directory (entry %llu)", what, (unsigned long long)i);
      goto fail;
    }
    ckpt_zip_entry *ze = &z->e[z->n];
    ze->name = ckpt_malloc((size_t)nlen + 1);
    if (!ze->name) {
      dlut_error("%s: out of memory", what);
      goto fail;
    }
    memcpy(ze->name, p + 46, nlen);
    ze->name[nlen] = '\0';
    z->n++;
    if (memchr(p + 46, 0, nlen)) {
      dlut_error("%s: zip entry name contains a NUL byte", what);
      goto fail;
    }
    if (flags & 0x41) { /* bit 0: encrypted, bit 6: strong encryption */
      dlut_error("%s: zip entry '%s' is encrypted", what, ze->name);
      goto fail;
    }
    if (method != 0 && method != 8) {
      dlut_error("%s: zip entry '%s' uses compression method %u (only stored and deflate are supported)", what,
                 ze->name, method);
      goto fail;
    }
    uint64_t usize = rd32(p + 24), csize = rd32(p + 20), loff = rd32(p + 42);
    if (zip64_extra(p + 46 + nlen, xlen, &usize, &csize, &loff) != 0) {
      dlut_error("%s: zip entry '%s' has a damaged zip64 extra field", what, ze->name);
      goto fail;
    }
    /* The local header repeats the name and has its own extra field (torch
     * pads it to align the data); the data follows it. */
    if (loff > size || size - loff < 30 || rd32(buf + loff) != SIG_LOCAL) {
      dlut_error("%s: zip entry '%s': local header missing (truncated?)", what, ze->name);
      goto fail;
    }
    uint64_t data = loff + 30 + rd16(buf + loff + 26) + rd16(buf + loff + 28);
    if (data > size || csize > size - data) {
      dlut_error("%s: zip entry '%s': %llu bytes of data run past the end of the file (truncated?)", what, ze->name,
                 (unsigned long long)csize);
      goto fail;
    }
    if (method == 0 && csize != usize) {
      dlut_error("%s: zip entry '%s' is stored but its sizes differ (%llu vs %llu)", what, ze->name,
                 (unsigned long long)csize, (unsigned long long)usize);
      goto fail;
    }
    ze->data_off = data;
    ze->csize = csize;
    ze->usize = usize;
    ze->crc = rd32(p + 16);
    ze->method = method;
    p += 46 + nlen + xlen + clen;
  }
  qsort(z->e, (size_t)z->n, sizeof *z->e, entry_cmp);
  for (int i = 1; i < z->n; i++)
    if (strcmp(z->e[i - 1].name, z->e[i].name) == 0) {
      dlut_error("%s: zip entry '%s' appears twice", what, z->e[i].name);
      goto fail;
    }
  return 0;
fail:
  ckpt_zip_close(z);
  return -1;
}

void ckpt_zip_close(ckpt_zip *z) {
  for (int i = 0; i < z->n; i++) free(z->e[i].name);
  free(z->e);
  z->e = NULL;
  z->n = 0;
}

int ckpt_zip_find(const ckpt_zip *z, const char *name) {
  int lo = 0, hi = z->n - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    int c = strcmp(name, z->e[mid].name);
    if (c == 0) return mid;
    if (c < 0)
      hi = mid - 1;
    else
      lo = mid + 1;
  }
  return -1;
}

/* CRC-32 of big storages in parallel: the thread pool computes the CRC of
 * each 4 MiB chunk, then zlib's crc32_combine joins them in order (CRC of
 * a concatenation from the parts' CRCs and the second part's length). */
#define CRC_CHUNK ((uint64_t)4 << 20)

typedef struct crc_job {
  const uint8_t *p;
  uint64_t n;
  uint32_t *part; /* one CRC per chunk */
} crc_job;

static void crc_chunks(void *ctx, int64_t b, int64_t e, int thread) {
  const crc_job *j = ctx;
  (void)thread;
  for (int64_t c = b; c < e; c++) {
    uint64_t off = (uint64_t)c * CRC_CHUNK, len = j->n - off < CRC_CHUNK ? j->n - off : CRC_CHUNK;
    j->part[c] = (uint32_t)crc32_z(0, j->p + off, (z_size_t)len);
  }
}

uint32_t ckpt_crc32(const uint8_t *p, uint64_t n) {
  uint64_t chunks = (n + CRC_CHUNK - 1) / CRC_CHUNK;
  uint32_t *part = chunks >= 4 ? ckpt_malloc((size_t)chunks * sizeof *part) : NULL;
  if (!part) return (uint32_t)crc32_z(0, p, (z_size_t)n); /* small, or no memory: one pass */
  crc_job j = {p, n, part};
  dlut_parallel_for((int64_t)chunks, 1, crc_chunks, &j);
  uLong crc = part[0];
  for (uint64_t c = 1; c < chunks; c++) {
    uint64_t len = n - c * CRC_CHUNK < CRC_CHUNK ? n - c * CRC_CHUNK : CRC_CHUNK;
    crc = crc32_combine(crc, part[c], (z_off_t)len);
  }
  free(part);
  return (uint32_t)crc;
}

int ckpt_zip_data(ckpt_zip *z, int i, const char *what, int check_crc, const uint8_t **data, void **owned) {
  *data = NULL;
  *owned = NULL;
  if (i < 0 || i >= z->n) return dlut_error("%s: no such zip entry", what);
  ckpt_zip_entry *e = &z->e[i];
  const uint8_t *src = z->buf + e->data_off;
  if (e->method == 0) {
    if (check_crc && !e->checked) {
      if (ckpt_crc32(src, e->usize) != e->crc)
        return dlut_error("%s: zip entry '%s' fails its CRC-32 check (the file is damaged)", what, e->name);
      e->checked = 1;
    }
    *data = src;
    return 0;
  }
  /* Deflate cannot expand 1 byte into more than 1032 (zlib's zlib.h on
   * deflateBound), so a larger claimed size is a lie; cap it anyway. */
  if (e->usize > CKPT_MAX_INFLATE || (e->csize < (UINT64_MAX - 1024) / 1032 && e->usize > e->csize * 1032 + 1024))
    return dlut_error("%s: zip entry '%s' claims %llu bytes uncompressed from %llu", what, e->name,
                      (unsigned long long)e->usize, (unsigned long long)e->csize);
  uint8_t *out = ckpt_malloc(e->usize ? (size_t)e->usize : 1);
  if (!out)
    return dlut_error("%s: zip entry '%s': out of memory inflating %llu bytes", what, e->name,
                      (unsigned long long)e->usize);
  z_stream s;
  memset(&s, 0, sizeof s);
  if (inflateInit2(&s, -MAX_WBITS) != Z_OK) {
    free(out);
    return dlut_error("%s: zlib init failed", what);
  }
  uint64_t in_left = e->csize, out_left = e->usize;
  const uint8_t *in = src;
  uint8_t *o = out;
  int zr = Z_OK;
  while (zr == Z_OK) {
    uInt ci = in_left > 0x40000000u ? 0x40000000u : (uInt)in_left;
    uInt co = out_left > 0x40000000u ? 0x40000000u : (uInt)out_left;
    s.next_in = (Bytef *)in;
    s.avail_in = ci;
    s.next_out = o;
    s.avail_out = co;
    zr = inflate(&s, Z_NO_FLUSH);
    in += ci - s.avail_in;
    in_left -= ci - s.avail_in;
    o += co - s.avail_out;
    out_left -= co - s.avail_out;
    if (zr == Z_OK && ci == s.avail_in && co == s.avail_out) zr = Z_BUF_ERROR; /* no progress */
  }
  inflateEnd(&s);
  if (zr != Z_STREAM_END || out_left != 0) {
    free(out);
    return dlut_error("%s: zip entry '%s': damaged deflate data", what, e->name);
  }
  if (ckpt_crc32(out, e->usize) != e->crc) {
    free(out);
    return dlut_error("%s: zip entry '%s' fails its CRC-32 check (the file is damaged)", what, e->name);
  }
  e->checked = 1;
  *data = out;
  *owned = out;
  return 0;
}
