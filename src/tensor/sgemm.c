/* fp32 matrix products for the CPU backend (dlut/tensor.h, "fp32
 * products"): an AVX-512F kernel of our own, OpenBLAS's cblas_sgemm as the
 * fallback and reference path, and a naive triple loop next to both.
 *
 * Why a kernel of our own: Debian's OpenBLAS 0.3.21 does not know AMD Zen 4
 * and Zen 5 and runs its Haswell AVX2 kernel there
 * (openblas_get_corename() says "Haswell"), although those cores have
 * 512-bit FMA datapaths; the fp32 CLIP tower spends ~86% of its time in
 * sgemm. So dlut_sgemm uses the kernel below where the CPU has AVX-512F (and
 * the OS saves the ZMM state) and OpenBLAS has no AVX-512 sgemm for it
 * (its core is not SkylakeX, CooperLake or SapphireRapids), else
 * cblas_sgemm. DLUT_SGEMM_KERNEL=blas|avx512 (read once) forces either.
 *
 * The algorithm is the BLIS/GotoBLAS one (Goto and van de Geijn, "Anatomy
 * of high-performance matrix multiplication", ACM TOMS 34(3), 2008), for
 * row-major C with the vector direction along n:
 *
 *   for each K block (kc <= 384):
 *     for each N block (nc <= 384):       pack op(B) block -> 32-column panels (L2)
 *       for each 14-row panel of op(A):   pack it -> Ap[k * 16 + i]       (L1)
 *         for each 32-column panel:       14 x 32 micro-kernel
 *
 * The micro-kernel keeps a 14 x 32 block of C in 28 zmm accumulators; per
 * k it loads two vectors of B (32 columns) and broadcasts 14 values of A
 * (VFMADD231PS with an embedded {1to16} broadcast), 28 FMAs for 16 loads.
 * Edge tiles: every row count 1..14 and a 16-column variant are compiled
 * as their own kernels (no wasted FMAs on the rows of a thin panel),
 * columns beyond N are masked at the store. C = alpha acc + beta C is
 * applied when a tile is written, beta only in the first K block (later
 * blocks add); beta = 0 never reads C.
 *
 * Scratch: one buffer per thread (the packed B block and A panel, ~600
 * KiB), allocated on the thread's first call and freed when the thread
 * ends (pthread key destructor). If it cannot be had the call goes to
 * cblas_sgemm. The kernel functions carry target attributes, so the rest
 * of the build stays generic. */
#include <cblas.h>
#include <ctype.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define DLUT_HAVE_AVX512_BUILD 1
#else
#define DLUT_HAVE_AVX512_BUILD 0
#endif

#define SG_TARGET __attribute__((target("avx512f")))

enum {
  SG_MR = 14,  /* rows of the micro-tile */
  SG_NR = 32,  /* columns of the micro-tile (two zmm) */
  SG_AS = 16,  /* floats per k in a packed A panel (14 used, 64-byte aligned rows) */
  SG_KC = 384, /* largest K block: A panel 24 KiB (L1), B panel 48 KiB streamed from L2 */
  SG_NC = 384, /* largest N block: the packed B block is 384 x 384 floats = 576 KiB (L2) */
};

/* ==== Selection ==== */

static int g_hw = -1;      /* what the CPU and OS allow: -1 unknown, else a DLUT_SGEMM_* level */
static int g_default = -1; /* the rule's choice (env override included) */
static int g_level = -1;   /* the level in effect */

static int detect(void) {
#if DLUT_HAVE_AVX512_BUILD
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, NULL) < 7) return DLUT_SGEMM_BLAS;
  __cpuid_count(1, 0, a, b, c, d);
  if (!(c & (1u << 27))) return DLUT_SGEMM_BLAS; /* OSXSAVE */
  __cpuid_count(7, 0, a, b, c, d);
  if (!((b >> 16) & 1)) return DLUT_SGEMM_BLAS; /* AVX512F */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xe6) != 0xe6) return DLUT_SGEMM_BLAS; /* XMM, YMM, opmask, ZMM state saved by the OS */
  return DLUT_SGEMM_AVX512;
#else
  return DLUT_SGEMM_BLAS;
#endif
}

static int hw_level(void) {
  int v = __atomic_load_n(&g_hw, __ATOMIC_ACQUIRE);
  if (v < 0) {
    v = detect();
    __atomic_store_n(&g_hw, v, __ATOMIC_RELEASE);
  }
  return v;
}

/* OpenBLAS cores with an AVX-512 sgemm kernel (OpenBLAS kernel/x86_64/KERNEL.*) */
static int blas_has_avx512(void) {
  const char *name = openblas_get_corename();
  if (!name) return 0;
  char low[32];
  size_t i = 0;
  for (; name[i] && i + 1 < sizeof low; i++) low[i] = (char)tolower((unsigned char)name[i]);
  low[i] = 0;
  return strcmp(low, "skylakex") == 0 || strcmp(low, "cooperlake") == 0 || strcmp(low, "sapphirerapids") == 0;
}

static int default_level(void) {
  int v = __atomic_load_n(&g_default, __ATOMIC_ACQUIRE);
  if (v < 0) {
    int hw = hw_level();
    const char *k = getenv("DLUT_SGEMM_KERNEL");
    if (k && strcmp(k, "blas") == 0)
      v = DLUT_SGEMM_BLAS;
    else if (k && strcmp(k, "avx512") == 0)
      v = hw;
    else
      v = hw >= DLUT_SGEMM_AVX512 && !blas_has_avx512() ? DLUT_SGEMM_AVX512 : DLUT_SGEMM_BLAS;
    __atomic_store_n(&g_default, v, __ATOMIC_RELEASE);
  }
  return v;
}

int dlut_sgemm_kernel(void) {
  int v = __atomic_load_n(&g_level, __ATOMIC_ACQUIRE);
  if (v < 0) {
    v = default_level();
    __atomic_store_n(&g_level, v, __ATOMIC_RELEASE);
  }
  return v;
}

int dlut_sgemm_hw(void) {
  return hw_level();
}

int dlut_sgemm_select(int level) {
  int hw = hw_level();
  if (level < 0)
    level = default_level();
  else if (level > hw)
    level = hw;
  __atomic_store_n(&g_level, level, __ATOMIC_RELEASE);
  return level;
}

const char *dlut_sgemm_kernel_name(int level) {
  return level >= DLUT_SGEMM_AVX512 ? "avx512" : "blas";
}

#if DLUT_HAVE_AVX512_BUILD

/* ==== Per-thread scratch ==== */

#define SG_BUF_FLOATS ((size_t)SG_KC * SG_NC + (size_t)SG_KC * SG_AS)

static _Thread_local float *tl_buf;
static pthread_key_t g_buf_key;
static pthread_once_t g_buf_once = PTHREAD_ONCE_INIT;
static int g_buf_key_ok;

static void buf_free(void *p) {
  free(p);
}

static void buf_key_init(void) {
  g_buf_key_ok = pthread_key_create(&g_buf_key, buf_free) == 0;
}

static float *thread_buf(void) {
  if (tl_buf) return tl_buf;
  pthread_once(&g_buf_once, buf_key_init);
  if (!g_buf_key_ok) return NULL;
  float *p = aligned_alloc(64, SG_BUF_FLOATS * sizeof(float));
  if (!p) return NULL;
  if (pthread_setspecific(g_buf_key, p) != 0) {
    free(p);
    return NULL;
  }
  tl_buf = p;
  return p;
}

/* ==== Packing ==== */

static inline __mmask16 lane_mask(int n) {
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* In-place transpose of a 16 x 16 float matrix held in 16 registers. */
SG_TARGET static inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i]), _mm512_castps_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t[i + 1]), _mm512_castps_pd(t[i + 3])));
  }
  for (int i = 0; i < 8; i++) {
    int a = (i / 4) * 8 + (i % 4);
    t[a] = _mm512_shuffle_f32x4(r[a], r[a + 4], 0x88);
    t[a + 4] = _mm512_shuffle_f32x4(r[a], r[a + 4], 0xdd);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

/* dst[k * 16 + i] = op(A)[m0 + i][k0 + k] for i < mr (<= 14), k < kc; lanes
 * mr..15 zero. op(A)[m][k] = trans ? A[k * lda + m] : A[m * lda + k]. */
SG_TARGET static void pack_a(float *dst, const float *A, int lda, int trans, int m0, int mr, int k0, int kc) {
  if (trans) {
    __mmask16 mm = lane_mask(mr);
    for (int k = 0; k < kc; k++)
      _mm512_store_ps(dst + (size_t)k * SG_AS, _mm512_maskz_loadu_ps(mm, A + (size_t)(k0 + k) * lda + m0));
    return;
  }
  __m512 v[16];
  for (int k = 0; k < kc; k += 16) {
    __mmask16 km = lane_mask(kc - k);
    for (int i = 0; i < 16; i++)
      v[i] = i < mr ? _mm512_maskz_loadu_ps(km, A + (size_t)(m0 + i) * lda + k0 + k) : _mm512_setzero_ps();
    transpose16(v);
    int kr = kc - k < 16 ? kc - k : 16;
    for (int r = 0; r < kr; r++) _mm512_store_ps(dst + (size_t)(k + r) * SG_AS, v[r]);
  }
}

/* The B block op(B)[k0 .. k0+kc)[n0 .. n0+nc) as 32-column panels: panel p
 * at dst + p * 32 * kc, dst[p * 32 * kc + k * 32 + j] = op(B)[k0 + k][n0 + 32 p + j],
 * zero beyond nc. op(B)[k][n] = trans ? B[n * ldb + k] : B[k * ldb + n]. */
SG_TARGET static void pack_b(float *dst, const float *B, int ldb, int trans, int k0, int kc, int n0, int nc) {
  for (int p = 0; p * SG_NR < nc; p++) {
    float *d = dst + (size_t)p * SG_NR * kc;
    int nb = n0 + p * SG_NR, nr = nc - p * SG_NR < SG_NR ? nc - p * SG_NR : SG_NR;
    if (!trans) {
      __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
      for (int k = 0; k < kc; k++) {
        const float *s = B + (size_t)(k0 + k) * ldb + nb;
        _mm512_store_ps(d + (size_t)k * SG_NR, _mm512_maskz_loadu_ps(m0, s));
        _mm512_store_ps(d + (size_t)k * SG_NR + 16, _mm512_maskz_loadu_ps(m1, s + 16));
      }
      continue;
    }
    /* rows n of B are contiguous in k: 16 x 16 transposes */
    __m512 v[16];
    for (int h = 0; h < 2; h++) {
      int nh = nr - 16 * h; /* columns in this half */
      for (int k = 0; k < kc; k += 16) {
        __mmask16 km = lane_mask(kc - k);
        for (int j = 0; j < 16; j++)
          v[j] = j < nh ? _mm512_maskz_loadu_ps(km, B + (size_t)(nb + 16 * h + j) * ldb + k0 + k) : _mm512_setzero_ps();
        transpose16(v);
        int kr = kc - k < 16 ? kc - k : 16;
        for (int r = 0; r < kr; r++) _mm512_store_ps(d + (size_t)(k + r) * SG_NR + 16 * h, v[r]);
      }
    }
  }
}

/* ==== The micro-kernel ==== */

/* C (mr x (16 nv), masked by m0, m1) = alpha Ap Bp + beta C over kc. mr and
 * nv are compile-time constants in every instance (below), so the loops
 * unroll and the accumulators live in registers. */
SG_TARGET static inline __attribute__((always_inline)) void micro_body(const int mr, const int nv, int kc,
                                                                       const float *restrict Ap,
                                                                       const float *restrict Bp, float *C, int ldc,
                                                                       __mmask16 m0, __mmask16 m1, float alpha,
                                                                       float beta) {
  __m512 c0[SG_MR], c1[SG_MR];
#pragma GCC unroll 14
  for (int i = 0; i < mr; i++) {
    c0[i] = _mm512_setzero_ps();
    c1[i] = _mm512_setzero_ps();
    _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);
    if (nv == 2) _mm_prefetch((const char *)(C + (size_t)i * ldc + 16), _MM_HINT_T0);
  }
  for (int k = 0; k < kc; k++) {
    const float *a = Ap + (size_t)k * SG_AS;
    __m512 b0 = _mm512_load_ps(Bp + (size_t)k * SG_NR);
    __m512 b1 = nv == 2 ? _mm512_load_ps(Bp + (size_t)k * SG_NR + 16) : b0;
#pragma GCC unroll 14
    for (int i = 0; i < mr; i++) {
      __m512 av = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      if (nv == 2) c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
  }
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 14
  for (int i = 0; i < mr; i++) {
    float *c = C + (size_t)i * ldc;
    __m512 r0 = _mm512_mul_ps(c0[i], va);
    if (beta != 0.0f) r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
    _mm512_mask_storeu_ps(c, m0, r0);
    if (nv == 2) {
      __m512 r1 = _mm512_mul_ps(c1[i], va);
      if (beta != 0.0f) r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
      _mm512_mask_storeu_ps(c + 16, m1, r1);
    }
  }
}

typedef void (*micro_fn)(int kc, const float *Ap, const float *Bp, float *C, int ldc, __mmask16 m0, __mmask16 m1,
                         float alpha, float beta);

#define SG_MICRO(MRc, NV)                                                                                             \
  SG_TARGET static void micro_##MRc##_##NV(int kc, const float *Ap, const float *Bp, float *C, int ldc, __mmask16 m0, \
                                           __mmask16 m1, float alpha, float beta) {                                   \
    micro_body(MRc, NV, kc, Ap, Bp, C, ldc, m0, m1, alpha, beta);                                                     \
  }
#define SG_MICRO2(MRc) SG_MICRO(MRc, 1) SG_MICRO(MRc, 2)
SG_MICRO2(1)
SG_MICRO2(2)
SG_MICRO2(3)
SG_MICRO2(4)
SG_MICRO2(5)
SG_MICRO2(6)
SG_MICRO2(7)
SG_MICRO2(8)
SG_MICRO2(9)
SG_MICRO2(10)
SG_MICRO2(11)
SG_MICRO2(12)
SG_MICRO2(13)
SG_MICRO2(14)

#define SG_ROW(MRc) \
  { micro_##MRc##_1, micro_##MRc##_2 }
static const micro_fn k_micro[SG_MR + 1][2] = {
    {NULL, NULL}, SG_ROW(1), SG_ROW(2),  SG_ROW(3),  SG_ROW(4),  SG_ROW(5),  SG_ROW(6),  SG_ROW(7),
    SG_ROW(8),    SG_ROW(9), SG_ROW(10), SG_ROW(11), SG_ROW(12), SG_ROW(13), SG_ROW(14),
};

/* ==== The blocked product ==== */

SG_TARGET static void scale_c(float *C, int ldc, int M, int N, float beta) {
  for (int m = 0; m < M; m++) {
    float *c = C + (size_t)m * ldc;
    if (beta == 0.0f)
      memset(c, 0, sizeof(float) * (size_t)N);
    else if (beta != 1.0f)
      for (int n = 0; n < N; n++) c[n] *= beta;
  }
}

SG_TARGET static void sgemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                                   const float *B, int ldb, float beta, float *C, int ldc, float *buf) {
  if (K == 0 || alpha == 0.0f) {
    scale_c(C, ldc, M, N, beta);
    return;
  }
  int nkb = (K + SG_KC - 1) / SG_KC, kcb = (K + nkb - 1) / nkb;
  int nnb = (N + SG_NC - 1) / SG_NC, ncb = ((N + nnb - 1) / nnb + SG_NR - 1) / SG_NR * SG_NR;
  float *Bp = buf, *Ap = buf + (size_t)SG_KC * SG_NC;
  for (int pc = 0; pc < K; pc += kcb) {
    int kc = K - pc < kcb ? K - pc : kcb;
    float be = pc == 0 ? beta : 1.0f;
    for (int jc = 0; jc < N; jc += ncb) {
      int nc = N - jc < ncb ? N - jc : ncb;
      pack_b(Bp, B, ldb, tb, pc, kc, jc, nc);
      for (int ic = 0; ic < M; ic += SG_MR) {
        int mr = M - ic < SG_MR ? M - ic : SG_MR;
        pack_a(Ap, A, lda, ta, ic, mr, pc, kc);
        float *Crow = C + (size_t)ic * ldc + jc;
        for (int jr = 0; jr < nc; jr += SG_NR) {
          int nr = nc - jr < SG_NR ? nc - jr : SG_NR;
          k_micro[mr][nr > 16](kc, Ap, Bp + (size_t)jr * kc, Crow + jr, ldc, lane_mask(nr), lane_mask(nr - 16), alpha,
                               be);
        }
      }
    }
  }
}

/* The same product with op(B) pre-packed (dlut_sgemm_pack_b's layout,
 * below): the K and N blocks are cut as above, so every element of C is
 * the same sum in the same order as sgemm_avx512's, bit for bit; only
 * pack_b is gone. Bp covers columns [n0, n0 + N) of a packed matrix Np
 * columns wide (n0 a multiple of 32). The A panel lives on the stack
 * (24 KiB), so this path needs no per-thread buffer and cannot fail. */
SG_TARGET static void sgemm_avx512_packed(int ta, int M, int N, int K, float alpha, const float *A, int lda,
                                          const float *Bp, int n0, size_t Np, float beta, float *C, int ldc) {
  if (K == 0 || alpha == 0.0f) {
    scale_c(C, ldc, M, N, beta);
    return;
  }
  float Ap[SG_KC * SG_AS] __attribute__((aligned(64)));
  int nkb = (K + SG_KC - 1) / SG_KC, kcb = (K + nkb - 1) / nkb;
  int nnb = (N + SG_NC - 1) / SG_NC, ncb = ((N + nnb - 1) / nnb + SG_NR - 1) / SG_NR * SG_NR;
  for (int pc = 0; pc < K; pc += kcb) {
    int kc = K - pc < kcb ? K - pc : kcb;
    float be = pc == 0 ? beta : 1.0f;
    const float *Bk = Bp + (size_t)pc * Np + (size_t)n0 * kc; /* this K block, panel n0 / 32 */
    for (int jc = 0; jc < N; jc += ncb) {
      int nc = N - jc < ncb ? N - jc : ncb;
      for (int ic = 0; ic < M; ic += SG_MR) {
        int mr = M - ic < SG_MR ? M - ic : SG_MR;
        pack_a(Ap, A, lda, ta, ic, mr, pc, kc);
        float *Crow = C + (size_t)ic * ldc + jc;
        for (int jr = 0; jr < nc; jr += SG_NR) {
          int nr = nc - jr < SG_NR ? nc - jr : SG_NR;
          k_micro[mr][nr > 16](kc, Ap, Bk + (size_t)(jc + jr) * kc, Crow + jr, ldc, lane_mask(nr), lane_mask(nr - 16),
                               alpha, be);
        }
      }
    }
  }
}

SG_TARGET static void pack_b_all_avx512(float *dst, const float *B, int ldb, int trans, int K, int N, size_t Np) {
  int nkb = (K + SG_KC - 1) / SG_KC, kcb = (K + nkb - 1) / nkb;
  for (int pc = 0; pc < K; pc += kcb) {
    int kc = K - pc < kcb ? K - pc : kcb;
    pack_b(dst + (size_t)pc * Np, B, ldb, trans, pc, kc, 0, N);
  }
}
#endif /* DLUT_HAVE_AVX512_BUILD */

/* ==== Entry points ==== */

void dlut_sgemm_with(int level, int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
#if DLUT_HAVE_AVX512_BUILD
  if (level >= DLUT_SGEMM_AVX512 && hw_level() >= DLUT_SGEMM_AVX512) {
    float *buf = thread_buf();
    if (buf) {
      sgemm_avx512(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, buf);
      return;
    }
  }
#endif
  cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A,
              lda, B, ldb, beta, C, ldc);
}

/* Products with N < 16 or K < 16 (the grading field's 3-wide layers) stay
 * on OpenBLAS: there the kernel is bound by packing and by C's stores and
 * measured 0.5-0.8x OpenBLAS (bench/bench_sgemm.c, 35937 x 3 x 512 and
 * 35937 x 512 x 3). */
void dlut_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc) {
  int level = dlut_sgemm_kernel();
  if (N < 16 || K < 16) level = DLUT_SGEMM_BLAS;
  dlut_sgemm_with(level, transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void dlut_sgemm_ref(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = 0.0;
      for (int k = 0; k < K; k++)
        s += (double)(transa ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k]) *
             (transb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n]);
      float *c = C + (size_t)m * ldc + n;
      *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
    }
}

/* ==== Split over the dlut pool ==== */

/* C split along N (columns of C and of op(B)) when N is the larger side,
 * else along M (rows of C and of op(A)), one block per thread, each
 * block's dlut_sgemm on its own thread (its own packing buffer; OpenBLAS
 * single-threaded inside, see dlut_tensor_threads_enter). Small products
 * run directly. */
typedef struct {
  int ta, tb; /* 1: transposed */
  int M, N, K, lda, ldb, ldc, by_rows;
  float alpha, beta;
  const float *A, *B;
  float *C;
} sgemm_args;

static void sgemm_block(void *ctx, int64_t b0, int64_t b1, int thread) {
  (void)thread;
  const sgemm_args *g = ctx;
  int n = (int)(b1 - b0);
  if (g->by_rows) {
    const float *A = !g->ta ? g->A + b0 * g->lda : g->A + b0;
    dlut_sgemm(g->ta, g->tb, n, g->N, g->K, g->alpha, A, g->lda, g->B, g->ldb, g->beta, g->C + b0 * g->ldc, g->ldc);
  } else {
    const float *B = !g->tb ? g->B + b0 : g->B + b0 * g->ldb;
    dlut_sgemm(g->ta, g->tb, g->M, n, g->K, g->alpha, g->A, g->lda, B, g->ldb, g->beta, g->C + b0, g->ldc);
  }
}

void dlut_sgemm_par(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  int nt = dlut_threads_get();
  if (dlut_sgemm_kernel() == DLUT_SGEMM_BLAS && openblas_get_num_threads() > 1) {
    /* OpenBLAS threads itself (a caller outside dlut_tensor_threads_enter) */
    cblas_sgemm(CblasRowMajor, transa ? CblasTrans : CblasNoTrans, transb ? CblasTrans : CblasNoTrans, M, N, K, alpha,
                A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (nt <= 1 || 2.0 * M * N * K < 2e6 || (M < 32 * nt && N < 32 * nt)) {
    dlut_sgemm(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  sgemm_args g = {transa, transb, M, N, K, lda, ldb, ldc, M > N, alpha, beta, A, B, C};
  int64_t len = g.by_rows ? M : N;
  int64_t grain = ((len + nt - 1) / nt + 15) & ~(int64_t)15; /* <= nt blocks, 16-aligned edges */
  dlut_parallel_for(len, grain, sgemm_block, &g);
}

/* ==== Pre-packed B ====
 *
 * Layout (what pack_b makes for a whole N, block after block): op(B) (K,
 * N) is cut into the kernel's K blocks (kcb from K alone, as in
 * sgemm_avx512); the block starting at row pc holds every 32-column panel
 * of N, panel p (columns 32 p .. 32 p + 31, zero beyond N) at
 * dst + pc * Np + p * 32 * kc, element [k][j] at + k * 32 + j, with
 * Np = N rounded up to 32. In all K * Np floats. A column range starting
 * at a multiple of 32 is therefore a contiguous run of panels in every K
 * block, which is how the pool splits a product by columns. */

static size_t packed_cols(int N) {
  return ((size_t)(N > 0 ? N : 0) + SG_NR - 1) / SG_NR * SG_NR;
}

size_t dlut_sgemm_packed_size(int K, int N) {
  return (size_t)(K > 0 ? K : 0) * packed_cols(N);
}

static int kblock(int K) {
  int nkb = (K + SG_KC - 1) / SG_KC;
  return (K + nkb - 1) / nkb;
}

/* plain C: the same layout, for CPUs without AVX-512F */
static void pack_b_all_c(float *dst, const float *B, int ldb, int trans, int K, int N, size_t Np) {
  int kcb = kblock(K);
  for (int pc = 0; pc < K; pc += kcb) {
    int kc = K - pc < kcb ? K - pc : kcb;
    float *d = dst + (size_t)pc * Np;
    for (size_t n = 0; n < Np; n++)
      for (int k = 0; k < kc; k++) {
        float v = 0.0f;
        if (n < (size_t)N) v = trans ? B[n * ldb + pc + k] : B[(size_t)(pc + k) * ldb + n];
        d[n / SG_NR * SG_NR * kc + (size_t)k * SG_NR + n % SG_NR] = v;
      }
  }
}

void dlut_sgemm_pack_b_with(int level, float *dst, const float *B, int ldb, int transb, int K, int N) {
  if (K <= 0 || N <= 0) return;
  size_t Np = packed_cols(N);
#if DLUT_HAVE_AVX512_BUILD
  if (level >= DLUT_SGEMM_AVX512 && hw_level() >= DLUT_SGEMM_AVX512) {
    pack_b_all_avx512(dst, B, ldb, transb, K, N, Np);
    return;
  }
#endif
  pack_b_all_c(dst, B, ldb, transb, K, N, Np);
}

void dlut_sgemm_pack_b(float *dst, const float *B, int ldb, int transb, int K, int N) {
  dlut_sgemm_pack_b_with(hw_level(), dst, B, ldb, transb, K, N);
}

/* plain C on the packed layout (sums in double), for CPUs without AVX-512F */
static void sgemm_packed_c(int ta, int M, int N, int K, float alpha, const float *A, int lda, const float *Bp, int n0,
                           size_t Np, float beta, float *C, int ldc) {
  int kcb = K > 0 ? kblock(K) : 1;
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      size_t col = (size_t)n0 + n;
      double s = 0.0;
      for (int pc = 0; pc < K; pc += kcb) {
        int kc = K - pc < kcb ? K - pc : kcb;
        const float *b = Bp + (size_t)pc * Np + col / SG_NR * SG_NR * kc + col % SG_NR;
        for (int k = 0; k < kc; k++)
          s += (double)(ta ? A[(size_t)(pc + k) * lda + m] : A[(size_t)m * lda + pc + k]) * b[(size_t)k * SG_NR];
      }
      float *c = C + (size_t)m * ldc + n;
      *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
    }
}

/* columns [n0, n0 + N) of a packed op(B) Ntot columns wide */
static void packed_run(int level, int ta, int M, int N, int K, float alpha, const float *A, int lda, const float *Bp,
                       int n0, int Ntot, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
#if DLUT_HAVE_AVX512_BUILD
  if (level >= DLUT_SGEMM_AVX512 && hw_level() >= DLUT_SGEMM_AVX512) {
    sgemm_avx512_packed(ta, M, N, K, alpha, A, lda, Bp, n0, packed_cols(Ntot), beta, C, ldc);
    return;
  }
#endif
  sgemm_packed_c(ta, M, N, K, alpha, A, lda, Bp, n0, packed_cols(Ntot), beta, C, ldc);
}

void dlut_sgemm_packed_with(int level, int transa, int M, int N, int K, float alpha, const float *A, int lda,
                            const float *Bp, float beta, float *C, int ldc) {
  packed_run(level, transa, M, N, K, alpha, A, lda, Bp, 0, N, beta, C, ldc);
}

void dlut_sgemm_packed(int transa, int M, int N, int K, float alpha, const float *A, int lda, const float *Bp,
                       float beta, float *C, int ldc) {
  packed_run(hw_level(), transa, M, N, K, alpha, A, lda, Bp, 0, N, beta, C, ldc);
}

typedef struct {
  int ta, M, N, K, lda, ldc, by_rows;
  float alpha, beta;
  const float *A, *Bp;
  float *C;
} packed_args;

static void packed_block(void *ctx, int64_t b0, int64_t b1, int thread) {
  (void)thread;
  const packed_args *g = ctx;
  int n = (int)(b1 - b0), lv = hw_level();
  if (g->by_rows) {
    const float *A = !g->ta ? g->A + b0 * g->lda : g->A + b0;
    packed_run(lv, g->ta, n, g->N, g->K, g->alpha, A, g->lda, g->Bp, 0, g->N, g->beta, g->C + b0 * g->ldc, g->ldc);
  } else {
    packed_run(lv, g->ta, g->M, n, g->K, g->alpha, g->A, g->lda, g->Bp, (int)b0, g->N, g->beta, g->C + b0, g->ldc);
  }
}

/* As dlut_sgemm_par; a split by columns cuts at multiples of 32 (whole
 * panels). */
void dlut_sgemm_packed_par(int transa, int M, int N, int K, float alpha, const float *A, int lda, const float *Bp,
                           float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  int nt = dlut_threads_get();
  if (nt <= 1 || 2.0 * M * N * K < 2e6 || (M < 32 * nt && N < 32 * nt)) {
    dlut_sgemm_packed(transa, M, N, K, alpha, A, lda, Bp, beta, C, ldc);
    return;
  }
  packed_args g = {transa, M, N, K, lda, ldc, M > N, alpha, beta, A, Bp, C};
  int64_t len = g.by_rows ? M : N, align = g.by_rows ? 16 : SG_NR;
  int64_t grain = ((len + nt - 1) / nt + align - 1) / align * align; /* <= nt blocks */
  dlut_parallel_for(len, grain, packed_block, &g);
}
