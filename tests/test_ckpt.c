/* Checkpoint loading (dlut/ckpt.h): both reference CLIP folders load from
 * model.safetensors and from pytorch_model.bin with identical tensors;
 * half-float conversion against a naive reference; hostile safetensors
 * headers, truncated files, forbidden pickle globals and opcodes give
 * errors, never crashes.
 *
 * Also a helper for tests/t_ckpt.py:
 *   test_ckpt --dump DIR OUT   writes OUT.txt (one line per tensor: name,
 *                              dtype, shape) and OUT.bin (every F32/F16/BF16
 *                              tensor via dlut_ckpt_f32, in that order);
 *                              on failure prints dlut_last_error() and exits 1.
 *   test_ckpt --bench-convert  times the F16/BF16 kernels against the reference.
 *   test_ckpt --bench DIR      times dlut_ckpt_open and dlut_ckpt_f32 of every
 *                              float tensor (plus one pass over the values),
 *                              prints one line of milliseconds (for
 *                              `t_ckpt.py --bench`; never part of a test).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <time.h>
#include <zlib.h>
#include <sys/stat.h>

#include "clip/ckpt_internal.h"
#include "dlut/ckpt.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "test.h"

static void *dlut_file_read_all_for_test(const char *path, size_t *size) {
  void *d = dlut_file_read_all(path, (size_t)1 << 30, size);
  CHECK_MSG(d != NULL, "%s", dlut_last_error());
  return d;
}

/* ==== Helpers ==== */

static int dump(const char *dir, const char *out) {
  dlut_ckpt *ck = dlut_ckpt_open(dir);
  if (!ck) {
    fprintf(stderr, "%s\n", dlut_last_error());
    return 1;
  }
  char p[4200];
  snprintf(p, sizeof p, "%s.txt", out);
  FILE *txt = fopen(p, "w");
  snprintf(p, sizeof p, "%s.bin", out);
  FILE *bin = fopen(p, "wb");
  int rc = 0;
  if (!txt || !bin) rc = 1;
  for (int i = 0; i < dlut_ckpt_count(ck) && !rc; i++) {
    const dlut_tensor_info *t = dlut_ckpt_at(ck, i);
    fprintf(txt, "%s %s", t->name, dlut_dtype_name(t->dtype));
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
      fprintf(txt, " %lld", (long long)t->shape[d]);
      numel *= (uint64_t)t->shape[d];
    }
    fputc('\n', txt);
    if (t->dtype == DLUT_DTYPE_OTHER) continue;
    const float *w = dlut_ckpt_f32(ck, t->name, t->ndim, t->shape);
    if (!w) {
      fprintf(stderr, "%s\n", dlut_last_error());
      rc = 1;
      break;
    }
    if (fwrite(w, 4, numel, bin) != numel) rc = 1;
  }
  if (txt) fclose(txt);
  if (bin) fclose(bin);
  dlut_ckpt_close(ck);
  return rc;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sum with 8 independent accumulators (so the pass is bound by memory, not
 * by the latency of one dependent add chain). */
static double sum8(const float *w, size_t n) {
  float acc[8] = {0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; j++) acc[j] += w[k + j];
  for (; k < n; k++) acc[0] += w[k];
  double s = 0;
  for (int j = 0; j < 8; j++) s += acc[j];
  return s;
}

static int bench(const char *dir) {
  double t0 = now_ms();
  dlut_ckpt *ck = dlut_ckpt_open(dir);
  double t1 = now_ms();
  if (!ck) {
    fprintf(stderr, "%s\n", dlut_last_error());
    return 1;
  }
  int count = dlut_ckpt_count(ck), nf = 0;
  const float **ptr = calloc((size_t)count, sizeof *ptr);
  size_t *len = calloc((size_t)count, sizeof *len), bytes = 0;
  for (int i = 0; i < count; i++) {
    const dlut_tensor_info *t = dlut_ckpt_at(ck, i);
    if (t->dtype == DLUT_DTYPE_OTHER) continue;
    ptr[nf] = dlut_ckpt_f32(ck, t->name, -1, NULL);
    if (!ptr[nf]) {
      fprintf(stderr, "%s\n", dlut_last_error());
      dlut_ckpt_close(ck);
      return 1;
    }
    len[nf] = t->nbytes / (t->dtype == DLUT_DTYPE_F32 ? 4 : 2);
    bytes += len[nf] * 4;
    nf++;
  }
  double t2 = now_ms(), sum = 0;
  for (int i = 0; i < nf; i++) sum += sum8(ptr[i], len[i]);
  double t3 = now_ms();
  dlut_ckpt_close(ck);
  double t4 = now_ms();
  printf("open_ms %.1f f32_ms %.1f sum_ms %.1f close_ms %.1f tensors %d f32_bytes %zu checksum %.6g\n", t1 - t0,
         t2 - t1, t3 - t2, t4 - t3, count, bytes, sum);
  free(ptr);
  free(len);
  return 0;
}

/* F16/BF16 -> F32 kernels against the naive reference, single thread, on
 * 16M values already in memory (best of 3). */
static int bench_convert(void) {
  size_t n = (size_t)16 << 20;
  uint8_t *src = malloc(2 * n);
  float *out = malloc(4 * n);
  if (!src || !out) return 1;
  for (size_t i = 0; i < 2 * n; i++) src[i] = (uint8_t)((i * 2654435761u) >> 13);
  memset(out, 0, 4 * n);
  double best[3] = {1e30, 1e30, 1e30}, check = 0;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = now_ms();
    for (size_t i = 0; i < n; i++) out[i] = ckpt_f16_to_f32((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
    double t1 = now_ms();
    check += out[n / 2];
    ckpt_f16_to_f32_n(out, src, n);
    double t2 = now_ms();
    check += out[n / 3];
    ckpt_bf16_to_f32_n(out, src, n);
    double t3 = now_ms();
    check += out[n / 5];
    double t[3] = {t1 - t0, t2 - t1, t3 - t2};
    for (int k = 0; k < 3; k++)
      if (t[k] < best[k]) best[k] = t[k];
  }
  printf("F16->F32, 16M values, 1 thread: reference %.1f ms, fast %.1f ms (%.1fx); BF16->F32 fast %.1f ms  [%g]\n",
         best[0], best[1], best[0] / best[1], best[2], check);
  free(src);
  free(out);
  return 0;
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(data, 1, n, f) == n);
  fclose(f);
}

/* A model folder with config.json "{}" and model.safetensors built from a
 * JSON header and a data buffer. */
static void write_st(const char *dir, const char *header, const void *data, size_t dlen) {
  char p[4200];
  mkdir(dir, 0777);
  snprintf(p, sizeof p, "%s/config.json", dir);
  write_file(p, "{}", 2);
  size_t hl = strlen(header), n = 8 + hl + dlen;
  uint8_t *buf = malloc(n);
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hl >> (8 * i));
  memcpy(buf + 8, header, hl);
  if (dlen) memcpy(buf + 8 + hl, data, dlen);
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  write_file(p, buf, n);
  free(buf);
}

/* Copy the first `n` bytes of src to dst (n = SIZE_MAX: all). Returns bytes copied. */
static size_t copy_prefix(const char *src, const char *dst, size_t n) {
  size_t size = 0;
  uint8_t *d = dlut_file_read_all_for_test(src, &size);
  if (!d) return 0;
  if (n > size) n = size;
  write_file(dst, d, n);
  free(d);
  return n;
}

/* ==== Reference folders: safetensors vs pytorch_model.bin ==== */

static void check_same_tensors(const char *model) {
  char src[4200], dir[4200], p[4200], q[4200];
  snprintf(src, sizeof src, "%s", test_shared(model));
  snprintf(dir, sizeof dir, "%s/%s-bin", test_tmpdir("ckpt"), strrchr(model, '/') + 1);
  mkdir(dir, 0777);
  snprintf(p, sizeof p, "%s/config.json", src);
  snprintf(q, sizeof q, "%s/config.json", dir);
  CHECK(copy_prefix(p, q, SIZE_MAX) > 0);
  snprintf(p, sizeof p, "%s/pytorch_model.bin", src);
  snprintf(q, sizeof q, "%s/pytorch_model.bin", dir);
  CHECK(copy_prefix(p, q, SIZE_MAX) > 0);

  dlut_ckpt *st = dlut_ckpt_open(src);
  CHECK_MSG(st != NULL, "%s", dlut_last_error());
  dlut_ckpt *pt = dlut_ckpt_open(dir);
  CHECK_MSG(pt != NULL, "%s", dlut_last_error());
  if (!st || !pt) goto done;
  CHECK(strstr(dlut_ckpt_weights_path(st), "model.safetensors") != NULL);
  CHECK(strstr(dlut_ckpt_weights_path(pt), "pytorch_model.bin") != NULL);
  CHECK(dlut_ckpt_count(st) > 30);
  CHECK_MSG(dlut_ckpt_count(st) == dlut_ckpt_count(pt), "%d vs %d", dlut_ckpt_count(st), dlut_ckpt_count(pt));
  int mismatched = 0;
  for (int i = 0; i < dlut_ckpt_count(st); i++) {
    const dlut_tensor_info *a = dlut_ckpt_at(st, i), *b = dlut_ckpt_find(pt, a->name);
    CHECK(dlut_ckpt_find(st, a->name) == a);
    if (!b) {
      CHECK_MSG(b != NULL, "%s: '%s' missing from pytorch_model.bin", model, a->name);
      continue;
    }
    int same = a->dtype == b->dtype && a->ndim == b->ndim && a->nbytes == b->nbytes &&
               memcmp(a->shape, b->shape, sizeof a->shape) == 0 && memcmp(a->data, b->data, a->nbytes) == 0;
    if (!same) {
      mismatched++;
      fprintf(stderr, "%s: tensor '%s' differs between the two files\n", model, a->name);
    }
    const float *fa = dlut_ckpt_f32(st, a->name, a->ndim, a->shape);
    const float *fb = dlut_ckpt_f32(pt, a->name, b->ndim, b->shape);
    CHECK_MSG(fa && fb, "%s", dlut_last_error());
    if (fa && fb && a->dtype == DLUT_DTYPE_F32) {
      CHECK(memcmp(fa, fb, a->nbytes) == 0);
      CHECK(fa == a->data); /* F32, aligned: straight from the map, no copy */
      CHECK(((uintptr_t)fa & 3) == 0);
    }
  }
  CHECK(mismatched == 0);

  /* The config and the weights agree (projection_dim rows). */
  cJSON *cfg = dlut_ckpt_config(st);
  CHECK(cfg != NULL);
  const cJSON *pd = cJSON_GetObjectItemCaseSensitive(cfg, "projection_dim");
  CHECK(cJSON_IsNumber(pd));
  const dlut_tensor_info *vp = dlut_ckpt_find(st, "visual_projection.weight");
  CHECK(vp && pd && vp->ndim == 2 && vp->shape[0] == pd->valueint);
  CHECK(dlut_ckpt_find(st, "no.such.tensor") == NULL);
  CHECK(dlut_ckpt_at(st, -1) == NULL && dlut_ckpt_at(st, dlut_ckpt_count(st)) == NULL);

  /* Errors name the file and the tensor. */
  if (vp) {
    int64_t wrong[2] = {vp->shape[0] + 1, vp->shape[1]};
    CHECK(dlut_ckpt_f32(st, "visual_projection.weight", 2, wrong) == NULL);
    char want[256];
    snprintf(want, sizeof want,
             "model.safetensors: tensor 'visual_projection.weight' has shape [%lld, %lld], "
             "config expects [%lld, %lld]",
             (long long)vp->shape[0], (long long)vp->shape[1], (long long)wrong[0], (long long)wrong[1]);
    CHECK_MSG(strstr(dlut_last_error(), want) != NULL, "%s", dlut_last_error());
    CHECK(dlut_ckpt_f32(st, "visual_projection.weight", 1, wrong) == NULL);
    CHECK(dlut_ckpt_f32(st, "visual_projection.weight", -1, NULL) != NULL); /* any shape */
  }
  CHECK(dlut_ckpt_f32(st, "no.such.tensor", 1, (int64_t[]){1}) == NULL);
  CHECK(strstr(dlut_last_error(), "no tensor 'no.such.tensor'") != NULL);

  /* A weights file named directly: the same tensors, config from its folder. */
  const char *direct[2] = {"model.safetensors", "pytorch_model.bin"};
  for (int k = 0; k < 2; k++) {
    snprintf(p, sizeof p, "%s/%s", k ? dir : src, direct[k]);
    dlut_ckpt *d = dlut_ckpt_open(p);
    CHECK_MSG(d != NULL, "%s", dlut_last_error());
    if (!d) continue;
    CHECK(dlut_ckpt_count(d) == dlut_ckpt_count(st) && dlut_ckpt_config(d) != NULL);
    CHECK(strcmp(dlut_ckpt_weights_path(d), p) == 0);
    const dlut_tensor_info *a = dlut_ckpt_at(st, 0), *b = dlut_ckpt_find(d, a->name);
    CHECK(b && b->nbytes == a->nbytes && memcmp(a->data, b->data, a->nbytes) == 0);
    dlut_ckpt_close(d);
  }
  snprintf(p, sizeof p, "%s/model.safetensors", test_tmpdir("ckpt")); /* a weights file without config.json */
  snprintf(q, sizeof q, "%s/model.safetensors", src);
  CHECK(copy_prefix(q, p, SIZE_MAX) > 0);
  CHECK(dlut_ckpt_open(p) == NULL);
  CHECK(strstr(dlut_last_error(), "no config.json") != NULL);
  remove(p);
  snprintf(p, sizeof p, "%s/config.json", src);
  CHECK(dlut_ckpt_open(p) == NULL);
  CHECK_MSG(strstr(dlut_last_error(), "not a model folder nor a .safetensors / .bin weights file") != NULL, "%s",
            dlut_last_error());
done:
  dlut_ckpt_close(st);
  dlut_ckpt_close(pt);
}

/* ==== Half floats against a naive reference ==== */

static double f16_ref(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

static void check_half(void) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    float f = ckpt_f16_to_f32((uint16_t)h);
    double r = f16_ref((uint16_t)h);
    if (isnan(r) ? !isnan(f) : (f != r || !signbit(f) != !signbit(r))) bad++;
  }
  CHECK_MSG(bad == 0, "%d half floats convert wrongly", bad);
  /* The fast converters agree bitwise with the references on every input,
   * at an odd (unaligned) source address. */
  uint8_t *src = malloc(2 * 65536 + 1);
  float *fast = malloc(65536 * sizeof *fast);
  for (uint32_t h = 0; h < 65536; h++) {
    src[1 + 2 * h] = (uint8_t)h;
    src[2 + 2 * h] = (uint8_t)(h >> 8);
  }
  int fbad = 0, bbad = 0;
  ckpt_f16_to_f32_n(fast, src + 1, 65536);
  for (uint32_t h = 0; h < 65536; h++) {
    float r = ckpt_f16_to_f32((uint16_t)h);
    fbad += memcmp(&r, &fast[h], 4) != 0;
  }
  ckpt_bf16_to_f32_n(fast, src + 1, 65536);
  for (uint32_t h = 0; h < 65536; h++) {
    float r = ckpt_bf16_to_f32((uint16_t)h);
    bbad += memcmp(&r, &fast[h], 4) != 0;
  }
  CHECK_MSG(fbad == 0, "fast F16 conversion differs from the reference on %d inputs", fbad);
  CHECK_MSG(bbad == 0, "fast BF16 conversion differs from the reference on %d inputs", bbad);
  free(src);
  free(fast);
  CHECK(ckpt_bf16_to_f32(0x3f80) == 1.0f);
  CHECK(ckpt_bf16_to_f32(0xc049) == -3.140625f);
  CHECK(isinf(ckpt_bf16_to_f32(0x7f80)));
  CHECK(isnan(ckpt_bf16_to_f32(0x7fc1)));
  CHECK(ckpt_bf16_to_f32(0x0001) == ldexpf(1.0f, -133)); /* smallest subnormal */
}

/* ==== Parallel CRC-32 against zlib's single pass ==== */

static void check_crc(void) {
  size_t n = (size_t)21 << 20; /* 5+ chunks of 4 MiB */
  uint8_t *buf = malloc(n + 1);
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < n + 1; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    buf[i] = (uint8_t)x;
  }
  size_t lens[] = {0, 1, 4u << 20, (4u << 20) + 1, (16u << 20) - 1, 16u << 20, n};
  for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++)
    for (int off = 0; off < 2; off++) {
      uint32_t ref = (uint32_t)crc32_z(0, buf + off, (z_size_t)lens[k]);
      CHECK_MSG(ckpt_crc32(buf + off, lens[k]) == ref, "crc of %zu bytes at +%d", lens[k], off);
    }
  free(buf);
}

/* ==== Allocation failures (SQLite-style injection) ==== */

/* Open `dir`, read every float tensor (read_all) and close. 0 or -1. */
static int open_read_close(const char *dir, int read_all) {
  dlut_ckpt *ck = dlut_ckpt_open(dir);
  if (!ck) return -1;
  int rc = 0;
  for (int i = 0; read_all && i < dlut_ckpt_count(ck) && rc == 0; i++) {
    const dlut_tensor_info *t = dlut_ckpt_at(ck, i);
    if (t->dtype != DLUT_DTYPE_OTHER && !dlut_ckpt_f32(ck, t->name, -1, NULL)) rc = -1;
  }
  dlut_ckpt_close(ck);
  return rc;
}

static int unpickle_once(const char *pkl, size_t n) {
  ckpt_pickle_tensor *t = NULL;
  int count = 0, rc = ckpt_pickle_state_dict((const uint8_t *)pkl, n, "test.bin", &t, &count);
  ckpt_pickle_free(t, count);
  return rc;
}

/* Fail the k-th allocation for k = 0, 1, ... (all of the first 150, then
 * ~150 spread over the rest): each run must either succeed or fail with a
 * message, and (under ASan/LSan) leak nothing. */
static void inject(const char *what, const char *dir, int read_all, const char *pkl, size_t pkl_n) {
  ckpt_alloc_fail_after(1L << 40);
  int ok = dir ? open_read_close(dir, read_all) : unpickle_once(pkl, pkl_n);
  long total = (1L << 40) - ckpt_alloc_countdown();
  ckpt_alloc_fail_after(-1);
  CHECK_MSG(ok == 0, "%s: fails without injection: %s", what, dlut_last_error());
  CHECK(total > 3);
  long step = total > 300 ? (total - 150) / 150 : 1, runs = 0, failed = 0, silent = 0;
  for (long k = 0; k < total; k += k < 150 ? 1 : step) {
    dlut_error_clear();
    ckpt_alloc_fail_after(k);
    int rc = dir ? open_read_close(dir, read_all) : unpickle_once(pkl, pkl_n);
    int injected = ckpt_alloc_countdown() < 0;
    ckpt_alloc_fail_after(-1);
    runs++;
    if (rc != 0) {
      failed++;
      if (!dlut_last_error()[0]) silent++;
    }
    CHECK_MSG(injected || rc == 0, "%s: failed without an injected failure at k=%ld", what, k);
  }
  CHECK_MSG(silent == 0, "%s: %ld failures without a message", what, silent);
  CHECK_MSG(failed > runs / 2, "%s: only %ld of %ld runs failed", what, failed, runs);
  fprintf(stderr, "alloc failures: %s: %ld allocations, %ld runs, %ld reported failures\n", what, total, runs, failed);
}

/* ==== Hand-made safetensors: dtypes, alignment, hostile headers ==== */

static void expect_open_error(const char *dir, const char *substr) {
  dlut_ckpt *ck = dlut_ckpt_open(dir);
  CHECK_MSG(ck == NULL, "%s opened but should not", dir);
  CHECK_MSG(strstr(dlut_last_error(), substr) != NULL, "expected '%s' in: %s", substr, dlut_last_error());
  dlut_ckpt_close(ck);
}

static void check_safetensors_cases(void) {
  const char *tmp = test_tmpdir("ckpt");
  char dir[4200];
  /* F16 at offset 0, F32 at offset 6 (unaligned: dlut copies it), BF16, I64. */
  uint8_t data[6 + 8 + 4 + 8];
  uint16_t h[3] = {0x3c00, 0xc000, 0x3555}; /* 1, -2, 0.333251953125 */
  float f[2] = {1.5f, -7.25f};
  uint16_t bf[2] = {0x3f80, 0xc049};
  int64_t i64 = 42;
  memcpy(data, h, 6);
  memcpy(data + 6, f, 8);
  memcpy(data + 14, bf, 4);
  memcpy(data + 18, &i64, 8);
  snprintf(dir, sizeof dir, "%s/mixed", tmp);
  write_st(dir,
           "{\"__metadata__\":{\"format\":\"pt\"},"
           "\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
           "\"f\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[6,14]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[14,18]},"
           "\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[18,26]},"
           "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[26,26]}}",
           data, sizeof data);
  dlut_ckpt *ck = dlut_ckpt_open(dir);
  CHECK_MSG(ck != NULL, "%s", dlut_last_error());
  if (ck) {
    CHECK(dlut_ckpt_count(ck) == 5);
    const float *x = dlut_ckpt_f32(ck, "h", 1, (int64_t[]){3});
    CHECK(x && x[0] == 1.0f && x[1] == -2.0f && x[2] == 0.333251953125f);
    CHECK(x == dlut_ckpt_f32(ck, "h", 1, (int64_t[]){3})); /* converted once */
    x = dlut_ckpt_f32(ck, "f", 2, (int64_t[]){2, 1});
    CHECK(x && ((uintptr_t)x & 3) == 0 && x[0] == 1.5f && x[1] == -7.25f);
    CHECK(x != dlut_ckpt_find(ck, "f")->data);
    x = dlut_ckpt_f32(ck, "b", 2, (int64_t[]){1, 2});
    CHECK(x && x[0] == 1.0f && x[1] == -3.140625f);
    CHECK(dlut_ckpt_find(ck, "ids")->dtype == DLUT_DTYPE_OTHER);
    CHECK(dlut_ckpt_f32(ck, "ids", 1, (int64_t[]){1}) == NULL);
    CHECK(strstr(dlut_last_error(), "'ids'") != NULL);
    CHECK(dlut_ckpt_f32(ck, "empty", 2, (int64_t[]){0, 4}) != NULL);
    dlut_ckpt_close(ck);
  }

  static const struct {
    const char *header;
    size_t dlen;
    const char *error;
  } bad[] = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "past the end"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12"},
      {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8, "dimensions"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
       "too large"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin <= end"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
       12, "overlap"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
       16, "appears twice"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "needs"},
      {"{\"a\":[1,2]}", 8, "not an object"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON"},
      {"[1,2,3]", 0, "start with '{'"},
      {"{}", 0, "no tensors"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(dir, sizeof dir, "%s/bad%zu", tmp, i);
    uint8_t zeros[16] = {0};
    write_st(dir, bad[i].header, zeros, bad[i].dlen);
    expect_open_error(dir, bad[i].error);
  }

  /* Header length larger than the file, and absurd. */
  char p[4300];
  snprintf(dir, sizeof dir, "%s/hlen", tmp);
  write_st(dir, "{}", NULL, 0);
  snprintf(p, sizeof p, "%s/model.safetensors", dir);
  uint8_t big[10] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
  write_file(p, big, sizeof big);
  expect_open_error(dir, "truncated");
  big[5] = 0x80;
  write_file(p, big, sizeof big);
  expect_open_error(dir, "header length");
  write_file(p, big, 5);
  expect_open_error(dir, "truncated");
  write_file(p, big, 0);
  expect_open_error(dir, "empty");

  /* Folders without config or weights. */
  snprintf(dir, sizeof dir, "%s/noconfig", tmp);
  mkdir(dir, 0777);
  expect_open_error(dir, "no config.json");
  snprintf(p, sizeof p, "%s/config.json", dir);
  write_file(p, "{\"a\": 1,\n oops}", 15);
  expect_open_error(dir, "config.json:2: invalid JSON");
  write_file(p, "{}", 2);
  expect_open_error(dir, "no weights");
  expect_open_error("/nonexistent/dlut/model", "cannot open model folder");
  CHECK(dlut_ckpt_open(NULL) == NULL);
}

/* ==== Truncated and damaged reference files ==== */

static void check_damaged(void) {
  const char *tmp = test_tmpdir("ckpt");
  char dir[4200], p[4300], q[4300];
  const char *models[2] = {"data/clip-ref/openai_tiny", "data/clip-ref/chinese_clip_tiny"};
  for (int m = 0; m < 2; m++) {
    const char *src = test_shared(models[m]);
    snprintf(dir, sizeof dir, "%s/damaged%d", tmp, m);
    mkdir(dir, 0777);
    snprintf(p, sizeof p, "%s/config.json", src);
    snprintf(q, sizeof q, "%s/config.json", dir);
    copy_prefix(p, q, SIZE_MAX);
    /* safetensors cut anywhere: header, mid-data, last byte */
    snprintf(p, sizeof p, "%s/model.safetensors", src);
    snprintf(q, sizeof q, "%s/model.safetensors", dir);
    size_t full = copy_prefix(p, q, SIZE_MAX);
    size_t cuts[4] = {7, 100, full / 2, full - 1};
    for (int c = 0; c < 4; c++) {
      copy_prefix(p, q, cuts[c]);
      expect_open_error(dir, "truncated");
    }
    remove(q);
    /* pytorch_model.bin cut: the central directory is at the end */
    snprintf(p, sizeof p, "%s/pytorch_model.bin", src);
    snprintf(q, sizeof q, "%s/pytorch_model.bin", dir);
    full = copy_prefix(p, q, SIZE_MAX);
    size_t bcuts[3] = {3, full / 2, full - 10};
    for (int c = 0; c < 3; c++) {
      copy_prefix(p, q, bcuts[c]);
      dlut_ckpt *ck = dlut_ckpt_open(dir);
      CHECK_MSG(ck == NULL, "truncated pytorch_model.bin at %zu opened", bcuts[c]);
      CHECK(strstr(dlut_last_error(), "pytorch_model.bin") != NULL);
      dlut_ckpt_close(ck);
    }
    /* One flipped byte inside the token embedding storage: open succeeds,
     * reading that tensor fails its CRC, the others still read. */
    size_t size = 0;
    uint8_t *d = dlut_file_read_all_for_test(p, &size);
    CHECK(d != NULL);
    if (!d) continue;
    d[size / 3] ^= 0x40; /* storage 1 (the token embedding) covers most of the file */
    write_file(q, d, size);
    free(d);
    dlut_ckpt *ck = dlut_ckpt_open(dir);
    CHECK_MSG(ck != NULL, "%s", dlut_last_error());
    if (ck) {
      const char *tok =
          m == 0 ? "text_model.embeddings.token_embedding.weight" : "text_model.embeddings.word_embeddings.weight";
      CHECK(dlut_ckpt_f32(ck, tok, -1, NULL) == NULL);
      CHECK_MSG(strstr(dlut_last_error(), "CRC") != NULL, "%s", dlut_last_error());
      CHECK(dlut_ckpt_f32(ck, "visual_projection.weight", -1, NULL) != NULL);
      dlut_ckpt_close(ck);
    }
  }
}

/* ==== The unpickler, from memory ==== */

static int unpickle(const char *bytes, size_t n, ckpt_pickle_tensor **t, int *count) {
  return ckpt_pickle_state_dict((const uint8_t *)bytes, n, "test.bin", t, count);
}

/* A minimal protocol-2 state dict: {'w': _rebuild_tensor_v2(storage('0', Half, 6), 1, (2, 2), (1, 2), False,
 * OrderedDict())} */
static const char k_good_pickle[] =
    "\x80\x02"
    "ccollections\nOrderedDict\nq\x00)Rq\x01("
    "X\x01\x00\x00\x00w"
    "ctorch._utils\n_rebuild_tensor_v2\nq\x02"
    "((X\x07\x00\x00\x00storageq\x03"
    "ctorch\nHalfStorage\nq\x04X\x01\x00\x00\x00"
    "0X\x03\x00\x00\x00"
    "cpuK\x06tq\x05Q"
    "K\x01K\x02K\x02\x86K\x01K\x02\x86\x89h\x00)Rtq\x06R"
    "u}X\x09\x00\x00\x00_metadata}sb.";

#define S(lit) lit, sizeof(lit) - 1

static void check_pickle(void) {
  ckpt_pickle_tensor *t = NULL;
  int n = 0;
  const char *good = k_good_pickle;
  CHECK_MSG(unpickle(good, sizeof k_good_pickle - 1, &t, &n) == 0, "%s", dlut_last_error());
  CHECK(n == 1);
  if (n == 1) {
    CHECK(strcmp(t[0].name, "w") == 0 && strcmp(t[0].storage_key, "0") == 0);
    CHECK(t[0].dtype == DLUT_DTYPE_F16 && t[0].elsize == 2 && t[0].storage_numel == 6 && t[0].offset == 1);
    CHECK(t[0].ndim == 2 && t[0].shape[0] == 2 && t[0].shape[1] == 2 && t[0].stride[0] == 1 && t[0].stride[1] == 2);
  }
  ckpt_pickle_free(t, n);

  /* Every prefix of a valid pickle fails cleanly (no STOP, or an unfinished argument). */
  int prefix_ok = 0;
  for (size_t k = 0; k + 1 < sizeof k_good_pickle - 1; k++) {
    t = NULL;
    n = 0;
    if (unpickle(good, k, &t, &n) == 0) prefix_ok++;
    ckpt_pickle_free(t, n);
  }
  CHECK(prefix_ok == 0);

  static const struct {
    const char *bytes;
    size_t n;
    const char *error;
  } bad[] = {
      /* os.system('ls'): never executed, refused at GLOBAL */
      {S("\x80\x02"
         "cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03."),
       "refusing pickle global 'os.system'"},
      {S("\x80\x02"
         "cbuiltins\neval\n."),
       "refusing pickle global 'builtins.eval'"},
      {S("\x80\x04\x8c\x05posix\x8c\x06system\x93."), "refusing pickle global 'posix.system'"},
      {S("\x80\x02"
         "ctorch\nload\n."),
       "refusing pickle global 'torch.load'"},
      {S("\x80\x02}I1\n."), "refusing pickle opcode 0x49"}, /* text INT */
      {S("\x80\x02}c\x00\nx\n."), "refusing pickle global '?.x'"},
      {S("\x80\x02]K\x01"
         "a."),
       "not hold a state dict"},
      {S("\x80\x02}K\x01K\x02s."), "not a tensor name"},
      {S("\x80\x02}X\x01\x00\x00\x00wK\x02s."), "is not a tensor"},
      {S("\x80\x02}h\x05."), "never PUT"},
      {S("\x80\x02}r\xff\xff\xff\x7f."), "memo index too large"},
      {S("\x80\x02}t."), "no MARK"},
      {S("\x80\x02(."), "stack underflow"},
      {S("(t."), "not hold a state dict"}, /* found by fuzz_ckpt: empty stack + MARK */
      {S("(l."), "not hold a state dict"},
      {S("(e."), "stack underflow"},
      {S("\x80\x02X\xff\xff\xff\xff."), "string runs past the end"},
      {S("\x80\x09}."), "protocol"},
      {S("\x80\x02}"), "no STOP"},
      {S("\x80\x02"
         "ctorch\nFloatStorage\n)R."),
       "REDUCE on a storage type"},
      {S("\x80\x02}(K\x01t"
         "Q."),
       "persistent id"},
      {S("\x80\x02}K\x01\x8a\x09."), "LONG1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    t = NULL;
    n = 0;
    int rc = unpickle(bad[i].bytes, bad[i].n, &t, &n);
    CHECK_MSG(rc == -1, "bad pickle %zu accepted", i);
    CHECK_MSG(strstr(dlut_last_error(), bad[i].error) != NULL, "case %zu: expected '%s' in: %s", i, bad[i].error,
              dlut_last_error());
    ckpt_pickle_free(t, n);
  }
}

static void check_alloc_failures(void) {
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/mixed", test_tmpdir("ckpt")); /* F16, unaligned F32, BF16, I64 (made above) */
  inject("safetensors mixed dtypes", dir, 1, NULL, 0);
  inject("openai_tiny model.safetensors", test_shared("data/clip-ref/openai_tiny"), 0, NULL, 0);
  snprintf(dir, sizeof dir, "%s/openai_tiny-bin", test_tmpdir("ckpt")); /* made by check_same_tensors */
  inject("openai_tiny pytorch_model.bin", dir, 0, NULL, 0);
  inject("unpickler", NULL, 0, k_good_pickle, sizeof k_good_pickle - 1);
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--dump") == 0) return dump(argv[2], argv[3]);
  if (argc == 3 && strcmp(argv[1], "--bench") == 0) return bench(argv[2]);
  if (argc == 2 && strcmp(argv[1], "--bench-convert") == 0) return bench_convert();
  check_half();
  check_pickle();
  check_crc();
  check_same_tensors("data/clip-ref/openai_tiny");
  check_same_tensors("data/clip-ref/chinese_clip_tiny");
  check_safetensors_cases();
  check_damaged();
  check_alloc_failures();
  if (g_test_failures == 0) { /* keep the scratch folder (model copies, damaged files) only to debug failures */
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir("ckpt"));
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", test_tmpdir("ckpt"));
  }
  return test_summary("ckpt");
}
