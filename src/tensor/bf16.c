/* bf16 matrix products with fp32 accumulation on Intel AMX (dlut/tensor.h,
 * "bf16 products"), chosen at run time, with the naive reference next to
 * them and the vector exp the fast attention and QuickGELU share.
 *
 * Detection: CPUID leaf 7 (EDX bit 22 AMX-BF16, bit 24 AMX-TILE; EAX of
 * subleaf 1 bit 5 AVX512-BF16; EBX bit 16 AVX512F) and XGETBV that the OS
 * saves the ZMM and tile state, then Linux's
 * arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) (kernel
 * Documentation/arch/x86/xstate.rst), which every process must ask for
 * before its first tile instruction. Debian's OpenBLAS 0.3.21 does not
 * export cblas_sbgemm, so the kernel is our own.
 *
 * Layouts (Intel SDM vol. 1 ch. 18, "TDPBF16PS"): a tile is 16 rows of 64
 * bytes. An A tile holds 16 rows (m) x 32 bf16 (k). A B tile holds 16
 * rows of k pairs x 16 columns (n), the two k of a pair side by side
 * ("VNNI" order): B tile element (r, 2 n + j) = B[2 r + j][n]. Packed
 * matrices are arrays of such 1 KiB tiles, zero-padded to whole tiles:
 * A tile (mb, kb) at (mb * KB + kb) * 512 elements, B tile (nb, kb) at
 * (nb * KB + kb) * 512, KB = ceil(K / 32).
 *
 * The kernel keeps a 32 x 32 block of C in four accumulator tiles
 * (tmm0-3) and streams two A tiles (tmm4-5) and two B tiles (tmm6-7)
 * along k; C is written through a 16 x 16 fp32 buffer per tile so edges,
 * bias and accumulation are plain vector code. All functions compile with
 * function-level target attributes, so the build needs no -mamx flags and
 * runs on any x86-64; callers check dlut_bf16_available() first. */
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dlut/parallel.h"
#include "dlut/tensor.h"
#include "tensor/vexp.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define DLUT_HAVE_AMX_BUILD 1
#else
#define DLUT_HAVE_AMX_BUILD 0
#endif

#define AMX_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16")))
#define V512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))

/* ==== Detection ==== */

static int g_hw = -1;    /* what the CPU and OS allow: -1 unknown, else a DLUT_BF16_* level */
static int g_level = -1; /* the level in effect (<= g_hw) */

static int detect(void) {
#if DLUT_HAVE_AMX_BUILD
  unsigned a, b, c, d;
  if (__get_cpuid_max(0, NULL) < 7) return DLUT_BF16_NONE;
  __cpuid_count(1, 0, a, b, c, d);
  if (!(c & (1u << 27))) return DLUT_BF16_NONE; /* OSXSAVE */
  __cpuid_count(7, 0, a, b, c, d);
  int amx_bf16 = (d >> 22) & 1, amx_tile = (d >> 24) & 1, avx512f = (b >> 16) & 1, avx512bw = (b >> 30) & 1;
  int avx512dq = (b >> 17) & 1, avx512vl = (b >> 31) & 1;
  unsigned a1, b1, c1, d1;
  __cpuid_count(7, 1, a1, b1, c1, d1);
  int avx512bf16 = (a1 >> 5) & 1;
  if (!(avx512f && avx512bw && avx512dq && avx512vl && avx512bf16)) return DLUT_BF16_NONE;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xe6) != 0xe6) return DLUT_BF16_NONE; /* XMM, YMM, opmask, ZMM state saved by the OS */
  if (!(amx_bf16 && amx_tile)) return DLUT_BF16_AVX512;
#ifdef __linux__
  /* ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 */
  if (syscall(SYS_arch_prctl, 0x1023, 18) != 0) return DLUT_BF16_AVX512;
  return DLUT_BF16_AMX;
#else
  return DLUT_BF16_AVX512;
#endif
#else
  return DLUT_BF16_NONE;
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

int dlut_bf16_available(void) {
  int v = __atomic_load_n(&g_level, __ATOMIC_ACQUIRE);
  if (v < 0) {
    v = hw_level();
    const char *k = getenv("DLUT_BF16_KERNEL");
    if (k && strcmp(k, "avx512") == 0 && v > DLUT_BF16_AVX512) v = DLUT_BF16_AVX512;
    __atomic_store_n(&g_level, v, __ATOMIC_RELEASE);
  }
  return v;
}

int dlut_bf16_select(int level) {
  int hw = hw_level();
  if (level < 0 || level > hw) level = hw;
  __atomic_store_n(&g_level, level, __ATOMIC_RELEASE);
  return level;
}

const char *dlut_bf16_kernel_name(int level) {
  return level >= DLUT_BF16_AMX ? "amx" : level == DLUT_BF16_AVX512 ? "avx512-bf16" : "none";
}

/* ==== Scalar conversion (round to nearest even, as VCVTNEPS2BF16) ==== */

uint16_t dlut_bf16_from_f32(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

float dlut_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

/* ==== Packing ==== */

size_t dlut_bf16_packed_size(int rows, int K) {
  size_t R = ((size_t)rows + 31) / 32 * 32, Kp = ((size_t)K + 31) / 32 * 32;
  return R * Kp;
}

/* In-place transpose of a 16 x 16 matrix of 32-bit units held in 16
 * registers (unpack 32-bit, unpack 64-bit, then 128-bit lane shuffles). */
V512_TARGET static inline void transpose16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  /* now r[4a + b] holds, in 128-bit lane L, elements (4L + ?) of rows 4a..4a+3 at column group b */
  for (int i = 0; i < 8; i++) {
    int a = (i / 4) * 8 + (i % 4); /* pairs (0,4) (1,5) (2,6) (3,7) (8,12) ... */
    t[a] = _mm512_shuffle_i32x4(r[a], r[a + 4], 0x88);
    t[a + 4] = _mm512_shuffle_i32x4(r[a], r[a + 4], 0xdd);
  }
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}

/* Rows k and k + 1 of src (16 columns from col, masked), converted and
 * interleaved: unit n of the result is the pair (src[k][n], src[k+1][n]). */
AMX_TARGET static inline __m512i pair_rows(const float *src, int ld, int k, int K, int col, __mmask16 nm, __m512i idx) {
  __m512 a = k < K ? _mm512_maskz_loadu_ps(nm, src + (size_t)k * ld + col) : _mm512_setzero_ps();
  __m512 b = k + 1 < K ? _mm512_maskz_loadu_ps(nm, src + (size_t)(k + 1) * ld + col) : _mm512_setzero_ps();
  return _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
}

/* output 2n + j takes a[n] (j = 0, low half) or b[n] (j = 1, high half) */
V512_TARGET static inline __m512i pair_index(void) {
  uint16_t perm[32];
  for (int i = 0; i < 32; i++) perm[i] = (uint16_t)((i >> 1) + (i & 1) * 16);
  return _mm512_loadu_si512(perm);
}

/* A[m][k] = trans ? src[k * ld + m] : src[m * ld + k], m < M, k < K; zero padding. */
AMX_TARGET void dlut_bf16_pack_a(uint16_t *dst, const float *src, int ld, int M, int K, int trans) {
  int KB = (K + 31) / 32, MB = (M + 31) / 32 * 2;
  for (int mb = 0; mb < MB; mb++)
    for (int kb = 0; kb < KB; kb++) {
      uint16_t *t = dst + ((size_t)mb * KB + kb) * 512;
      int m0 = mb * 16, k0 = kb * 32;
      int mr = M - m0 < 16 ? (M - m0 > 0 ? M - m0 : 0) : 16, kr = K - k0 < 32 ? K - k0 : 32;
      if (!trans) {
        __mmask16 lo = kr >= 16 ? 0xffff : (__mmask16)((1u << kr) - 1);
        __mmask16 hi = kr >= 32 ? 0xffff : kr > 16 ? (__mmask16)((1u << (kr - 16)) - 1) : 0;
        for (int r = 0; r < mr; r++) {
          const float *s = src + (size_t)(m0 + r) * ld + k0;
          __m512 a = _mm512_maskz_loadu_ps(lo, s), b = _mm512_maskz_loadu_ps(hi, s + 16);
          _mm512_storeu_si512(t + r * 32, (__m512i)_mm512_cvtne2ps_pbh(b, a));
        }
      } else {
        /* pairs of k rows interleaved (unit m = (A[m][2r], A[m][2r+1])),
         * then a 16 x 16 transpose of the 32-bit units: row m, units r */
        __mmask16 mm = mr >= 16 ? 0xffff : (__mmask16)((1u << mr) - 1);
        __m512i idx = pair_index(), v[16];
        for (int r = 0; r < 16; r++) v[r] = pair_rows(src, ld, k0 + 2 * r, K, m0, mm, idx);
        transpose16x16(v);
        for (int r = 0; r < mr; r++) _mm512_storeu_si512(t + r * 32, v[r]);
      }
      for (int r = mr; r < 16; r++) memset(t + r * 32, 0, 64);
    }
}

/* B[k][n] = trans ? src[n * ld + k] : src[k * ld + n], k < K, n < N; zero padding. */
AMX_TARGET void dlut_bf16_pack_b(uint16_t *dst, const float *src, int ld, int K, int N, int trans) {
  int KB = (K + 31) / 32, NB = (N + 31) / 32 * 2;
  for (int nb = 0; nb < NB; nb++)
    for (int kb = 0; kb < KB; kb++) {
      uint16_t *t = dst + ((size_t)nb * KB + kb) * 512;
      int n0 = nb * 16, k0 = kb * 32;
      int nr = N - n0 < 16 ? (N - n0 > 0 ? N - n0 : 0) : 16, kr = K - k0 < 32 ? K - k0 : 32;
      if (nr == 0) {
        memset(t, 0, 1024);
        continue;
      }
      if (!trans) {
        /* rows k and k+1 of src, 16 n each, interleaved */
        __mmask16 nm = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
        __m512i idx = pair_index();
        for (int r = 0; r < 16; r++) _mm512_storeu_si512(t + r * 32, pair_rows(src, ld, k0 + 2 * r, K, n0, nm, idx));
      } else {
        /* rows n of src are contiguous in k: a k pair is one 32-bit unit;
         * row n converted gives units r, a 16 x 16 transpose gives rows r */
        __mmask16 lo = kr >= 16 ? 0xffff : (__mmask16)((1u << kr) - 1);
        __mmask16 hi = kr >= 32 ? 0xffff : kr > 16 ? (__mmask16)((1u << (kr - 16)) - 1) : 0;
        __m512i v[16];
        for (int n = 0; n < 16; n++) {
          if (n < nr) {
            const float *s = src + (size_t)(n0 + n) * ld + k0;
            __m512 a = _mm512_maskz_loadu_ps(lo, s), b = _mm512_maskz_loadu_ps(hi, s + 16);
            v[n] = (__m512i)_mm512_cvtne2ps_pbh(b, a);
          } else {
            v[n] = _mm512_setzero_si512();
          }
        }
        transpose16x16(v);
        for (int r = 0; r < 16; r++) _mm512_storeu_si512(t + r * 32, v[r]);
      }
    }
}

/* ==== The AMX kernel ==== */

typedef struct {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

AMX_TARGET static void tiles_on(void) {
  tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int i = 0; i < 8; i++) cfg.colsb[i] = 64, cfg.rows[i] = 16;
  _tile_loadconfig(&cfg);
}

/* One 16 x 16 accumulator tile (in buf) into C rows m0.., columns n0... */
V512_TARGET static inline void tile_out(float *C, int ldc, const float *buf, int m0, int n0, int M, int N, float alpha,
                                        int accumulate, const float *bias) {
  int mr = M - m0 < 16 ? M - m0 : 16, nr = N - n0 < 16 ? N - n0 : 16;
  if (mr <= 0 || nr <= 0) return;
  __mmask16 nm = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
  __m512 va = _mm512_set1_ps(alpha), vb = bias ? _mm512_maskz_loadu_ps(nm, bias + n0) : _mm512_setzero_ps();
  for (int r = 0; r < mr; r++) {
    float *c = C + (size_t)(m0 + r) * ldc + n0;
    __m512 v = _mm512_fmadd_ps(_mm512_loadu_ps(buf + r * 16), va, vb);
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(nm, c));
    _mm512_mask_storeu_ps(c, nm, v);
  }
}

/* C[m][n] (m < M, n < N) = (accumulate ? C : 0) + alpha * sum_k A[m][k] B[k][n] + bias[n],
 * for the 32-row blocks mb2 in [mb0, mb1) and 32-column blocks nb2 in [nb0, nb1). */
AMX_TARGET static void gemm_blocks_amx(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K,
                                       float alpha, int accumulate, const float *bias, int mb0, int mb1, int nb0,
                                       int nb1) {
  int KB = (K + 31) / 32;
  float buf[4][256] __attribute__((aligned(64)));
  tiles_on();
  /* n outer in chunks that keep their B tiles in L2, m inner */
  int nchunk = 8; /* 8 x 32 columns x K bf16: 512 KiB at K = 1024 */
  for (int nc = nb0; nc < nb1; nc += nchunk) {
    int nce = nc + nchunk < nb1 ? nc + nchunk : nb1;
    for (int mb = mb0; mb < mb1; mb++) {
      const uint16_t *a0 = Ap + (size_t)(2 * mb) * KB * 512, *a1 = a0 + (size_t)KB * 512;
      for (int nb = nc; nb < nce; nb++) {
        const uint16_t *b0 = Bp + (size_t)(2 * nb) * KB * 512, *b1 = b0 + (size_t)KB * 512;
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        for (int kb = 0; kb < KB; kb++) {
          _tile_loadd(4, a0 + (size_t)kb * 512, 64);
          _tile_loadd(6, b0 + (size_t)kb * 512, 64);
          _tile_loadd(5, a1 + (size_t)kb * 512, 64);
          _tile_dpbf16ps(0, 4, 6);
          _tile_loadd(7, b1 + (size_t)kb * 512, 64);
          _tile_dpbf16ps(1, 5, 6);
          _tile_dpbf16ps(2, 4, 7);
          _tile_dpbf16ps(3, 5, 7);
        }
        _tile_stored(0, buf[0], 64);
        _tile_stored(1, buf[1], 64);
        _tile_stored(2, buf[2], 64);
        _tile_stored(3, buf[3], 64);
        int m0 = mb * 32, n0 = nb * 32;
        tile_out(C, ldc, buf[0], m0, n0, M, N, alpha, accumulate, bias);
        tile_out(C, ldc, buf[1], m0 + 16, n0, M, N, alpha, accumulate, bias);
        tile_out(C, ldc, buf[2], m0, n0 + 16, M, N, alpha, accumulate, bias);
        tile_out(C, ldc, buf[3], m0 + 16, n0 + 16, M, N, alpha, accumulate, bias);
      }
    }
  }
  _tile_release();
}

/* ==== The AVX512-BF16 kernel (no AMX: Cooper Lake, Zen 4, Zen 5) ====
 *
 * VDPBF16PS on the same packed tiles: acc[n] += A[m][2p] B[2p][n] +
 * A[m][2p+1] B[2p+1][n] for 16 columns n at once. Row p of a B tile is
 * exactly that operand (16 k pairs side by side), and the A pair (m, p) is
 * one 32-bit unit of row m of its A tile, broadcast. A micro-tile is 8 rows
 * of C by 32 columns (two B tiles): 16 accumulators, two B loads and eight
 * broadcasts for every 16 dot products. */

#define DP_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

/* one 8 x 32 micro-tile: rows r0..r0+7 of the A tiles at a (stride KB * 512
 * between k blocks), the B tile pair b0, b1; written into C rows m0.., columns n0.. */
DP_TARGET static void dp_micro(float *C, int ldc, const uint16_t *a, const uint16_t *b0, const uint16_t *b1, int KB,
                               int m0, int n0, int M, int N, float alpha, int accumulate, const float *bias) {
  __m512 acc[8][2];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int kb = 0; kb < KB; kb++) {
    const uint16_t *ta = a + (size_t)kb * 512, *tb0 = b0 + (size_t)kb * 512, *tb1 = b1 + (size_t)kb * 512;
    for (int p = 0; p < 16; p++) {
      __m512bh v0 = (__m512bh)_mm512_loadu_si512(tb0 + p * 32), v1 = (__m512bh)_mm512_loadu_si512(tb1 + p * 32);
#pragma GCC unroll 8
      for (int i = 0; i < 8; i++) {
        uint32_t u;
        memcpy(&u, ta + i * 32 + 2 * p, 4);
        __m512bh av = (__m512bh)_mm512_set1_epi32((int)u);
        acc[i][0] = _mm512_dpbf16_ps(acc[i][0], av, v0);
        acc[i][1] = _mm512_dpbf16_ps(acc[i][1], av, v1);
      }
    }
  }
  int mr = M - m0 < 8 ? M - m0 : 8;
  __m512 va = _mm512_set1_ps(alpha);
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++) {
    int c0 = n0 + 16 * h, nr = N - c0 < 16 ? N - c0 : 16;
    if (nr <= 0) break;
    __mmask16 nm = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __m512 vb = bias ? _mm512_maskz_loadu_ps(nm, bias + c0) : _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) {
      float *c = C + (size_t)(m0 + i) * ldc + c0;
      __m512 v = _mm512_fmadd_ps(acc[i][h], va, vb);
      if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(nm, c));
      _mm512_mask_storeu_ps(c, nm, v);
    }
  }
}

DP_TARGET static void gemm_blocks_dp(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K,
                                     float alpha, int accumulate, const float *bias, int mb0, int mb1, int nb0,
                                     int nb1) {
  int KB = (K + 31) / 32;
  int nchunk = 8;
  for (int nc = nb0; nc < nb1; nc += nchunk) {
    int nce = nc + nchunk < nb1 ? nc + nchunk : nb1;
    for (int mb = mb0; mb < mb1; mb++)
      for (int nb = nc; nb < nce; nb++) {
        const uint16_t *b0 = Bp + (size_t)(2 * nb) * KB * 512, *b1 = b0 + (size_t)KB * 512;
        for (int q = 0; q < 4; q++) {
          int m0 = mb * 32 + q * 8;
          if (m0 >= M) break;
          const uint16_t *a = Ap + (size_t)(2 * mb + q / 2) * KB * 512 + (q & 1) * 8 * 32;
          dp_micro(C, ldc, a, b0, b1, KB, m0, nb * 32, M, N, alpha, accumulate, bias);
        }
      }
  }
}

/* the kernel the level in effect asks for */
static void gemm_blocks(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K, float alpha,
                        int accumulate, const float *bias, int mb0, int mb1, int nb0, int nb1) {
  if (dlut_bf16_available() >= DLUT_BF16_AMX)
    gemm_blocks_amx(C, ldc, Ap, Bp, M, N, K, alpha, accumulate, bias, mb0, mb1, nb0, nb1);
  else
    gemm_blocks_dp(C, ldc, Ap, Bp, M, N, K, alpha, accumulate, bias, mb0, mb1, nb0, nb1);
}

void dlut_bf16_gemm(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K, float alpha,
                    int accumulate, const float *bias) {
  if (M <= 0 || N <= 0) return;
  gemm_blocks(C, ldc, Ap, Bp, M, N, K, alpha, accumulate, bias, 0, (M + 31) / 32, 0, (N + 31) / 32);
}

typedef struct {
  float *C;
  const uint16_t *Ap, *Bp;
  const float *bias;
  int ldc, M, N, K, accumulate, by_n;
  float alpha;
} gemm_par_ctx;

static void gemm_par_task(void *vctx, int64_t b0, int64_t b1, int thread) {
  (void)thread;
  gemm_par_ctx *g = vctx;
  int MB = (g->M + 31) / 32, NB = (g->N + 31) / 32;
  if (g->by_n)
    gemm_blocks(g->C, g->ldc, g->Ap, g->Bp, g->M, g->N, g->K, g->alpha, g->accumulate, g->bias, 0, MB, (int)b0,
                (int)b1);
  else
    gemm_blocks(g->C, g->ldc, g->Ap, g->Bp, g->M, g->N, g->K, g->alpha, g->accumulate, g->bias, (int)b0, (int)b1, 0,
                NB);
}

void dlut_bf16_gemm_par(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K, float alpha,
                        int accumulate, const float *bias) {
  if (M <= 0 || N <= 0) return;
  int MB = (M + 31) / 32, NB = (N + 31) / 32, nt = dlut_threads_get();
  gemm_par_ctx g = {C, Ap, Bp, bias, ldc, M, N, K, accumulate, NB >= MB, alpha};
  int64_t len = g.by_n ? NB : MB;
  if (nt <= 1 || len < 2) {
    dlut_bf16_gemm(C, ldc, Ap, Bp, M, N, K, alpha, accumulate, bias);
    return;
  }
  dlut_parallel_for(len, (len + nt - 1) / nt, gemm_par_task, &g);
}

typedef struct {
  uint16_t *dst;
  const float *src;
  int ld, M, K, trans;
} pack_par_ctx;

static void pack_a_task(void *vctx, int64_t b0, int64_t b1, int thread) {
  (void)thread;
  pack_par_ctx *p = vctx;
  int KB = (p->K + 31) / 32;
  /* 32-row blocks b0..b1 are independent slices of the packed array */
  int m0 = (int)b0 * 32, m1 = (int)b1 * 32 < p->M ? (int)b1 * 32 : p->M;
  const float *s = p->trans ? p->src + m0 : p->src + (size_t)m0 * p->ld;
  dlut_bf16_pack_a(p->dst + (size_t)b0 * 2 * KB * 512, s, p->ld, m1 - m0, p->K, p->trans);
  /* the last block's padding rows beyond M were zeroed by pack_a */
}

void dlut_bf16_pack_a_par(uint16_t *dst, const float *src, int ld, int M, int K, int trans) {
  int MB = (M + 31) / 32, nt = dlut_threads_get();
  pack_par_ctx p = {dst, src, ld, M, K, trans};
  if (nt <= 1 || MB < 4) {
    dlut_bf16_pack_a(dst, src, ld, M, K, trans);
    return;
  }
  dlut_parallel_for(MB, (MB + nt - 1) / nt, pack_a_task, &p);
}

/* ==== Reference ==== */

/* The same product from fp32 inputs: each input rounded to bf16 as the
 * packers do, products summed in double. */
void dlut_bf16_gemm_ref(float *C, int ldc, const float *A, int lda, int transa, const float *B, int ldb, int transb,
                        int M, int N, int K, float alpha, int accumulate, const float *bias) {
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double s = 0.0;
      for (int k = 0; k < K; k++) {
        float a = transa ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
        float b = transb ? B[(size_t)n * ldb + k] : B[(size_t)k * ldb + n];
        s += (double)dlut_bf16_to_f32(dlut_bf16_from_f32(a)) * dlut_bf16_to_f32(dlut_bf16_from_f32(b));
      }
      float v = (float)(alpha * s) + (bias ? bias[n] : 0.0f);
      C[(size_t)m * ldc + n] = accumulate ? C[(size_t)m * ldc + n] + v : v;
    }
}

/* ==== Vector exp ==== */

/* exp(x) for 16 floats: x = n ln2 + r, |r| <= ln2/2 (Cody-Waite split of
 * ln2), exp(r) by a degree-6 polynomial (Cephes expf coefficients), times
 * 2^n built in the exponent field; about 1 ulp over the float range,
 * 0 below -87.3, +inf above 88.7. */
V512_TARGET static inline __m512 exp16(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(VEXP_LO)), _mm512_set1_ps(VEXP_HI));
  __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(VEXP_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VEXP_LN2_HI), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(VEXP_LN2_LO), r);
  __m512 p = _mm512_set1_ps(VEXP_P5);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VEXP_P0));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

/* out (n) = exp(scale * in - sub); returns their sum. */
V512_TARGET float dlut_vexp_sub_sum(float *out, const float *in, int n, float scale, float sub) {
  __m512 vs = _mm512_set1_ps(scale), vm = _mm512_set1_ps(sub), acc = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 e = exp16(_mm512_fmsub_ps(_mm512_loadu_ps(in + i), vs, vm));
    _mm512_storeu_ps(out + i, e);
    acc = _mm512_add_ps(acc, e);
  }
  if (i < n) {
    __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    __m512 e = exp16(_mm512_fmsub_ps(_mm512_maskz_loadu_ps(k, in + i), vs, vm));
    _mm512_mask_storeu_ps(out + i, k, e);
    acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(k, e));
  }
  return _mm512_reduce_add_ps(acc);
}

/* QuickGELU x sigmoid(1.702 x), forward out = act(in), and backward
 * dinp = act'(in) * dout (overwrite), 16 at a time. */
V512_TARGET void dlut_vquickgelu(float *out, const float *in, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), c = _mm512_set1_ps(-1.702f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(in + i);
    __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_mul_ps(c, x))));
    _mm512_storeu_ps(out + i, _mm512_mul_ps(x, s));
  }
  for (; i < n; i++) out[i] = dlut_act_value(in[i], DLUT_ACT_QUICK_GELU);
}

V512_TARGET void dlut_vquickgelu_backward(float *dinp, const float *in, const float *dout, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), c = _mm512_set1_ps(-1.702f), k = _mm512_set1_ps(1.702f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(in + i);
    __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_mul_ps(c, x))));
    /* s + 1.702 x s (1 - s) */
    __m512 g = _mm512_fmadd_ps(_mm512_mul_ps(k, x), _mm512_mul_ps(s, _mm512_sub_ps(one, s)), s);
    _mm512_storeu_ps(dinp + i, _mm512_mul_ps(g, _mm512_loadu_ps(dout + i)));
  }
  for (; i < n; i++) dinp[i] = dlut_act_grad(in[i], DLUT_ACT_QUICK_GELU) * dout[i];
}

/* One softmax row in place (max, exp, normalise); returns its log-sum-exp. */
V512_TARGET float dlut_vsoftmax_row(float *r, int n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int i = 0;
  for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_loadu_ps(r + i));
  if (i < n)
    mx = _mm512_mask_max_ps(mx, (__mmask16)((1u << (n - i)) - 1), mx,
                            _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), r + i));
  float m = _mm512_reduce_max_ps(mx);
  float sum = dlut_vexp_sub_sum(r, r, n, 1.0f, m);
  __m512 inv = _mm512_set1_ps(1.0f / sum);
  for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(r + i, _mm512_mul_ps(_mm512_loadu_ps(r + i), inv));
  if (i < n) {
    __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(r + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, r + i), inv));
  }
  return m + logf(sum);
}

/* Softmax backward of one row: d = p (d - sum_j p_j d_j), in place. */
V512_TARGET void dlut_vsoftmax_backward_row(float *d, const float *p, int n) {
  __m512 acc = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(p + i), _mm512_loadu_ps(d + i), acc);
  __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
  if (i < n) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, p + i), _mm512_maskz_loadu_ps(k, d + i), acc);
  __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc));
  for (i = 0; i + 16 <= n; i += 16)
    _mm512_storeu_ps(d + i, _mm512_mul_ps(_mm512_loadu_ps(p + i), _mm512_sub_ps(_mm512_loadu_ps(d + i), dot)));
  if (i < n)
    _mm512_mask_storeu_ps(
        d + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + i), _mm512_sub_ps(_mm512_maskz_loadu_ps(k, d + i), dot)));
}

/* ==== Fused element-wise passes that write packed A directly ==== */

/* Row m (K floats in v, already computed) into packed A. */
AMX_TARGET static inline void put_row(uint16_t *dst, int KB, int m, const float *v, int K) {
  uint16_t *t = dst + ((size_t)(m / 16) * KB) * 512 + (m % 16) * 32;
  int kb = 0;
  for (; (kb + 1) * 32 <= K; kb++)
    _mm512_storeu_si512(t + (size_t)kb * 512,
                        (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(v + kb * 32 + 16), _mm512_loadu_ps(v + kb * 32)));
  if (kb < KB) {
    int kr = K - kb * 32;
    __mmask16 lo = kr >= 16 ? 0xffff : (__mmask16)((1u << kr) - 1);
    __mmask16 hi = kr > 16 ? (__mmask16)((1u << (kr - 16)) - 1) : 0;
    _mm512_storeu_si512(t + (size_t)kb * 512, (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, v + kb * 32 + 16),
                                                                           _mm512_maskz_loadu_ps(lo, v + kb * 32)));
  }
}

/* The zero rows M .. (M rounded up to 32) of packed A. */
static void zero_pad_rows(uint16_t *dst, int M, int K) {
  int KB = (K + 31) / 32, Mp = (M + 31) / 32 * 32;
  for (int m = M; m < Mp; m++)
    for (int kb = 0; kb < KB; kb++) memset(dst + ((size_t)(m / 16) * KB + kb) * 512 + (m % 16) * 32, 0, 64);
}

typedef struct {
  uint16_t *dst;
  float *mean, *rstd, *dinp;
  const float *x, *w, *b, *dout, *cmean, *crstd;
  int C;
  float eps;
  int act; /* fused pass: 0 LayerNorm, 1 QuickGELU, 2 QuickGELU backward */
} fuse_ctx;

V512_TARGET static inline float hsum_row(const float *x, int n, float sub, int sq) {
  __m512 acc = _mm512_setzero_ps(), vs = _mm512_set1_ps(sub);
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(x + i), vs);
    acc = sq ? _mm512_fmadd_ps(d, d, acc) : _mm512_add_ps(acc, d);
  }
  float s = _mm512_reduce_add_ps(acc);
  for (; i < n; i++) s += sq ? (x[i] - sub) * (x[i] - sub) : x[i] - sub;
  return s;
}

AMX_TARGET static void fuse_rows(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  fuse_ctx *c = vctx;
  int C = c->C, KB = (C + 31) / 32;
  float buf[16384] __attribute__((aligned(64)));
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->x + r * C;
    int i = 0;
    if (c->act == 0) { /* LayerNorm: two passes for mean and variance, then affine */
      float m = hsum_row(x, C, 0.0f, 0) / C;
      float var = hsum_row(x, C, m, 1) / C, rs = 1.0f / sqrtf(var + c->eps);
      __m512 vm = _mm512_set1_ps(m), vr = _mm512_set1_ps(rs);
      for (; i + 16 <= C; i += 16)
        _mm512_storeu_ps(buf + i, _mm512_fmadd_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vr),
                                                  _mm512_loadu_ps(c->w + i), _mm512_loadu_ps(c->b + i)));
      for (; i < C; i++) buf[i] = (x[i] - m) * rs * c->w[i] + c->b[i];
      c->mean[r] = m;
      c->rstd[r] = rs;
    } else if (c->act == 1) {
      dlut_vquickgelu(buf, x, C);
    } else {
      dlut_vquickgelu_backward(buf, x, c->dout + r * C, C);
    }
    put_row(c->dst, KB, (int)r, buf, C);
  }
}

/* dst = packed A (N, C) of LayerNorm(x) (mean, rstd (N) saved), of
 * QuickGELU(x), or of QuickGELU'(x) * dout; C <= 16384. */
void dlut_bf16_pack_layernorm(uint16_t *dst, float *mean, float *rstd, const float *x, const float *w, const float *b,
                              int N, int C, float eps) {
  fuse_ctx c = {.dst = dst, .mean = mean, .rstd = rstd, .x = x, .w = w, .b = b, .C = C, .eps = eps, .act = 0};
  dlut_parallel_for(N, 16, fuse_rows, &c);
  zero_pad_rows(dst, N, C);
}

void dlut_bf16_pack_quickgelu(uint16_t *dst, const float *x, int N, int C) {
  fuse_ctx c = {.dst = dst, .x = x, .C = C, .act = 1};
  dlut_parallel_for(N, 16, fuse_rows, &c);
  zero_pad_rows(dst, N, C);
}

void dlut_bf16_pack_quickgelu_backward(uint16_t *dst, const float *x, const float *dout, int N, int C) {
  fuse_ctx c = {.dst = dst, .x = x, .dout = dout, .C = C, .act = 2};
  dlut_parallel_for(N, 16, fuse_rows, &c);
  zero_pad_rows(dst, N, C);
}

/* LayerNorm backward (as tensor_cpu.c's, vectorised, float sums): dinp += rstd (g - mean(g) - xhat mean(g xhat)),
 * g = dout w. */
V512_TARGET static void ln_bwd_rows_v(void *vctx, int64_t r0, int64_t r1, int thread) {
  (void)thread;
  fuse_ctx *c = vctx;
  int C = c->C;
  for (int64_t r = r0; r < r1; r++) {
    const float *x = c->x + r * C, *dy = c->dout + r * C;
    float *dx = c->dinp + r * C;
    __m512 vm = _mm512_set1_ps(c->cmean[r]), vr = _mm512_set1_ps(c->crstd[r]);
    __m512 sg = _mm512_setzero_ps(), sgx = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= C; i += 16) {
      __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vr);
      __m512 g = _mm512_mul_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(c->w + i));
      sg = _mm512_add_ps(sg, g);
      sgx = _mm512_fmadd_ps(g, xh, sgx);
    }
    float s1 = _mm512_reduce_add_ps(sg), s2 = _mm512_reduce_add_ps(sgx), m = c->cmean[r], rs = c->crstd[r];
    for (int j = i; j < C; j++) {
      float xh = (x[j] - m) * rs, g = dy[j] * c->w[j];
      s1 += g, s2 += g * xh;
    }
    s1 /= C, s2 /= C;
    __m512 v1 = _mm512_set1_ps(s1), v2 = _mm512_set1_ps(s2);
    for (i = 0; i + 16 <= C; i += 16) {
      __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm), vr);
      __m512 g = _mm512_mul_ps(_mm512_loadu_ps(dy + i), _mm512_loadu_ps(c->w + i));
      __m512 d = _mm512_mul_ps(vr, _mm512_sub_ps(_mm512_sub_ps(g, v1), _mm512_mul_ps(xh, v2)));
      _mm512_storeu_ps(dx + i, _mm512_add_ps(_mm512_loadu_ps(dx + i), d));
    }
    for (; i < C; i++) {
      float xh = (x[i] - m) * rs, g = dy[i] * c->w[i];
      dx[i] += rs * (g - s1 - xh * s2);
    }
  }
}

void dlut_vlayernorm_backward(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                              const float *rstd, int N, int C) {
  fuse_ctx c = {.dinp = dinp, .dout = dout, .x = inp, .w = w, .cmean = mean, .crstd = rstd, .C = C};
  dlut_parallel_for(N, 16, ln_bwd_rows_v, &c);
}

/* dinp += QuickGELU'(in) * dout (the accumulating form of the backward). */
V512_TARGET void dlut_vquickgelu_backward_add(float *dinp, const float *in, const float *dout, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f), c = _mm512_set1_ps(-1.702f), k = _mm512_set1_ps(1.702f);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512 x = _mm512_loadu_ps(in + i);
    __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, exp16(_mm512_mul_ps(c, x))));
    __m512 g = _mm512_fmadd_ps(_mm512_mul_ps(k, x), _mm512_mul_ps(s, _mm512_sub_ps(one, s)), s);
    _mm512_storeu_ps(dinp + i, _mm512_fmadd_ps(g, _mm512_loadu_ps(dout + i), _mm512_loadu_ps(dinp + i)));
  }
  for (; i < n; i++) dinp[i] += dlut_act_grad(in[i], DLUT_ACT_QUICK_GELU) * dout[i];
}

int dlut_cpu_has_avx512(void) {
#if DLUT_HAVE_AMX_BUILD
  static int v = -1;
  if (v < 0) {
    __builtin_cpu_init();
    v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl");
  }
  return v;
#else
  return 0;
#endif
}
