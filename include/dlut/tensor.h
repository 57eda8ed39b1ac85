/* dlut/tensor.h - the dense float kernels the CLIP towers are made of, each
 * a forward function with its backward next to it (llm.c style).
 *
 * Usage:
 *     const dlut_tensor_backend *be = dlut_tensor_backend_cpu();
 *     be->matmul_forward(out, OC, inp, w, bias, N, C, OC);   // out = inp @ w^T + bias
 *     be->matmul_backward(dinp, dout, OC, w, N, C, OC);       // dinp += dout @ w
 *
 * Layout: every tensor is a plain row-major float array; shapes are given
 * in the comments as (rows, cols). Linear weights use the Hugging Face /
 * PyTorch nn.Linear layout (out_features, in_features), so a forward is
 * `out = inp @ w^T + bias`.
 *
 * Backward convention (llm.c): every backward ADDS into its input
 * gradients (`dinp += ...`), so a residual stream can collect the
 * gradients of both of its branches in place; callers zero a gradient
 * buffer before its first use. Only gradients with respect to the inputs
 * are computed, never with respect to weights (the optimiser changes the
 * pixels, not the model).
 *
 * Backends: a dlut_tensor_backend is a table of function pointers. The CPU
 * backend (OpenBLAS cblas_sgemm + the dlut thread pool) is canonical; the
 * reference backend is naive loops accumulating in double, kept to check
 * the fast one (tests/test_tensor.c) and usable for a whole model. A CUDA
 * backend would be a third table with the same signatures.
 *
 * Threads: the CPU backend splits its work over the dlut thread pool
 * (dlut_threads_get() threads): big GEMMs by column or row blocks,
 * attention by heads, element-wise kernels by ranges; OpenBLAS runs
 * single-threaded inside each task. Callers bracket a pass with
 * dlut_tensor_threads_enter/leave, which set OpenBLAS to one thread and
 * restore the previous count (so other OpenBLAS users keep theirs).
 * No kernel allocates memory: all scratch is passed in by the caller.
 */
#ifndef DLUT_TENSOR_H
#define DLUT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Activation functions a tower can use. */
typedef enum dlut_act {
  DLUT_ACT_QUICK_GELU = 1, /* x * sigmoid(1.702 x)  (OpenAI CLIP, clip/model.py QuickGELU) */
  DLUT_ACT_GELU = 2,       /* x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))  (BERT, exact form) */
  DLUT_ACT_GELU_TANH = 3,  /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))  ("gelu_new") */
} dlut_act;

typedef struct dlut_tensor_backend {
  const char *name; /* "cpu", "ref" */

  /* out (N, ld_out) columns [0,OC) = inp (N, C) @ w^T + bias;  w is (OC, C),
   * bias (OC) or NULL. ld_out >= OC lets a caller write into a slice of a
   * wider buffer (q, k, v side by side). */
  void (*matmul_forward)(float *out, int ld_out, const float *inp, const float *w, const float *bias, int N, int C,
                         int OC);
  /* dinp (N, C) += dout (N, ld_dout)[:, 0:OC] @ w (OC, C). */
  void (*matmul_backward)(float *dinp, const float *dout, int ld_dout, const float *w, int N, int C, int OC);

  /* out (N, C) = (inp - mean) * rstd * w + b per row; mean, rstd (N) are
   * saved for the backward. Biased variance, eps inside the sqrt
   * (torch.nn.LayerNorm). out may equal inp. */
  void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                            int N, int C, float eps);
  /* dinp (N, C) += d LN / d inp . dout, from the forward's inp, mean, rstd. */
  void (*layernorm_backward)(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                             const float *rstd, int N, int C);

  /* out (n) = act(inp (n)). out may equal inp. */
  void (*act_forward)(float *out, const float *inp, int64_t n, dlut_act act);
  /* dinp (n) += act'(inp) * dout. */
  void (*act_backward)(float *dinp, const float *inp, const float *dout, int64_t n, dlut_act act);

  /* Multi-head self-attention core (no projections).
   * qkv (T, ld_qkv): q in columns [0,C), k in [C,2C), v in [2C,3C); head h
   * uses columns h*hd .. h*hd+hd-1 of each (hd = C/NH).
   * out (T, C) = per head softmax(q k^T / sqrt(hd) + mask) v, heads side by side.
   * att (NH, T, T): the probabilities, saved for the backward.
   * causal: query i sees keys 0..i only. key_bias (T) or NULL: added to
   * every query's logit for key j (BERT's (1 - mask) * -10000). */
  void (*attention_forward)(float *out, float *att, const float *qkv, int ld_qkv, int T, int C, int NH, int causal,
                            const float *key_bias);
  /* Only the probabilities att (NH, T, T) of attention_forward, bit for
   * bit, recomputed from qkv: a backward can redo them instead of keeping
   * NH T^2 floats per layer. */
  void (*attention_probs)(float *att, const float *qkv, int ld_qkv, int T, int C, int NH, int causal,
                          const float *key_bias);
  /* dqkv (T, ld_qkv) += d/dqkv; datt (NH, T, T) is scratch. */
  void (*attention_backward)(float *dqkv, float *datt, const float *dout, const float *qkv, int ld_qkv,
                             const float *att, int T, int C, int NH);

  /* Patch embedding = conv2d(pixels, w, stride p, no bias), as im2col + GEMM.
   * pixels (3, S, S) planar; w (D, 3, p, p); out (G*G, ld_out), G = S/p,
   * patches row-major (index gy*G + gx). cols (G*G, 3*p*p) is scratch. */
  void (*patch_forward)(float *out, int ld_out, float *cols, const float *pixels, const float *w, int S, int p, int D);
  /* dpixels (3, S, S) += from dout (G*G, ld_dout); dcols (G*G, 3*p*p) scratch. */
  void (*patch_backward)(float *dpixels, float *dcols, const float *dout, int ld_dout, const float *w, int S, int p,
                         int D);
} dlut_tensor_backend;

const dlut_tensor_backend *dlut_tensor_backend_cpu(void);
const dlut_tensor_backend *dlut_tensor_backend_ref(void);

/* Before a pass of CPU-backend kernels: OpenBLAS to one thread (the
 * backend threads itself); returns the previous OpenBLAS count for
 * dlut_tensor_threads_leave. Cheap. */
int dlut_tensor_threads_enter(void);
void dlut_tensor_threads_leave(int prev);
/* dlut_tensor_threads_enter without the restore (tests, benchmarks). */
void dlut_tensor_threads_sync(void);

/* Scalar activation helpers (also used by the reference backend). */
float dlut_act_value(float x, dlut_act act);
float dlut_act_grad(float x, dlut_act act);

/* ==== bf16 products (src/tensor/bf16.c) ====
 * Matrix products with bf16 inputs and fp32 accumulation, for the fast
 * vision tower (src/clip/vision_bf16.c), with two kernels on one packed
 * layout chosen at run time: Intel AMX (TDPBF16PS: Sapphire Rapids and
 * later; needs AMX-BF16, AMX-TILE, AVX512-BF16 and the tile state granted
 * by Linux, arch_prctl ARCH_REQ_XCOMP_PERM) and AVX512-BF16 (VDPBF16PS:
 * Cooper Lake, AMD Zen 4 and Zen 5). dlut_bf16_available() gives the level
 * in effect (DLUT_BF16_NONE: every caller stays fp32). DLUT_BF16_KERNEL=avx512
 * in the environment, read once, keeps an AMX machine on the AVX512-BF16
 * kernel; dlut_bf16_select(level) sets the level (capped by the hardware;
 * -1 restores the hardware's) and returns it, for tests and benchmarks.
 *
 * Packed layout: an operand is converted once (round to nearest even) to
 * an array of 1 KiB tiles, zero-padded to multiples of 32 rows and 32 k;
 * dlut_bf16_packed_size(rows, K) elements (uint16_t). A packed "A" is
 * (M, K), a packed "B" is (K, N) with N the rows of the size.
 *   pack_a: A[m][k] = trans ? src[k*ld + m] : src[m*ld + k]
 *   pack_b: B[k][n] = trans ? src[n*ld + k] : src[k*ld + n]
 *   (an nn.Linear weight w (OC, C) is B = w^T with trans = 1 for the
 *   forward, B = w with trans = 0 for the input gradient)
 * gemm: C (M, N; ldc) = (accumulate ? C : 0) + alpha A B + bias (N or NULL).
 * dlut_bf16_gemm runs on the calling thread; _par splits over the dlut
 * pool. dlut_bf16_gemm_ref is the naive reference from fp32 inputs (each
 * rounded to bf16, sums in double). Nothing here allocates. */
enum { DLUT_BF16_NONE = 0, DLUT_BF16_AVX512 = 1, DLUT_BF16_AMX = 2 };
int dlut_bf16_available(void);
int dlut_bf16_select(int level);
const char *dlut_bf16_kernel_name(int level);
uint16_t dlut_bf16_from_f32(float x);
float dlut_bf16_to_f32(uint16_t h);
size_t dlut_bf16_packed_size(int rows, int K);
void dlut_bf16_pack_a(uint16_t *dst, const float *src, int ld, int M, int K, int trans);
void dlut_bf16_pack_a_par(uint16_t *dst, const float *src, int ld, int M, int K, int trans);
void dlut_bf16_pack_b(uint16_t *dst, const float *src, int ld, int K, int N, int trans);
void dlut_bf16_gemm(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K, float alpha,
                    int accumulate, const float *bias);
void dlut_bf16_gemm_par(float *C, int ldc, const uint16_t *Ap, const uint16_t *Bp, int M, int N, int K, float alpha,
                        int accumulate, const float *bias);
void dlut_bf16_gemm_ref(float *C, int ldc, const float *A, int lda, int transa, const float *B, int ldb, int transb,
                        int M, int N, int K, float alpha, int accumulate, const float *bias);
/* AVX512 helpers of the fast path (same availability): out (n) =
 * exp(scale * in - sub), returning the sum; QuickGELU forward and its
 * backward dinp = act'(in) * dout (overwriting). About 1 ulp. */
float dlut_vexp_sub_sum(float *out, const float *in, int n, float scale, float sub);
void dlut_vquickgelu(float *out, const float *in, int64_t n);
void dlut_vquickgelu_backward(float *dinp, const float *in, const float *dout, int64_t n);
/* dinp += QuickGELU'(in) * dout. The fp32 CPU backend uses these vector
 * forms of exp (softmax, QuickGELU) where dlut_cpu_has_avx512() (AVX512
 * F/BW/DQ/VL, checked once through CPUID), the AVX2 ones below where only
 * those are there, the scalar libm ones elsewhere. */
void dlut_vquickgelu_backward_add(float *dinp, const float *in, const float *dout, int64_t n);
int dlut_cpu_has_avx512(void);
/* softmax of one row in place, returning its log-sum-exp; the softmax
 * backward of one row d = p (d - p . d) in place */
float dlut_vsoftmax_row(float *r, int n);
void dlut_vsoftmax_backward_row(float *d, const float *p, int n);
/* The same passes in AVX2 + FMA (src/tensor/vec_avx2.c), 8 lanes, about
 * 1 ulp: what the fp32 CPU backend uses where dlut_cpu_has_avx2() (CPUID
 * AVX2 and FMA) and not dlut_cpu_has_avx512(). */
int dlut_cpu_has_avx2(void);
float dlut_vexp_sub_sum_avx2(float *out, const float *in, int n, float scale, float sub);
float dlut_vsoftmax_row_avx2(float *r, int n);
void dlut_vsoftmax_backward_row_avx2(float *d, const float *p, int n);
void dlut_vquickgelu_avx2(float *out, const float *in, int64_t n);
void dlut_vquickgelu_backward_add_avx2(float *dinp, const float *in, const float *dout, int64_t n);
/* Fused passes writing packed A (N, C) directly, C <= 16384, over the
 * pool: LayerNorm(x) (saving mean, rstd (N); float sums), QuickGELU(x),
 * QuickGELU'(x) * dout. And the LayerNorm backward, vectorised:
 * dinp += d LN / d inp . dout, as layernorm_backward. */
void dlut_bf16_pack_layernorm(uint16_t *dst, float *mean, float *rstd, const float *x, const float *w, const float *b,
                              int N, int C, float eps);
void dlut_bf16_pack_quickgelu(uint16_t *dst, const float *x, int N, int C);
void dlut_bf16_pack_quickgelu_backward(uint16_t *dst, const float *x, const float *dout, int N, int C);
void dlut_vlayernorm_backward(float *dinp, const float *dout, const float *inp, const float *w, const float *mean,
                              const float *rstd, int N, int C);

/* ==== fp32 products (src/tensor/sgemm.c) ====
 * C (M, N; ldc) = alpha op(A) op(B) + beta C, row-major, on the calling
 * thread, as cblas_sgemm(CblasRowMajor, ...): op(A) is (M, K), A[m*lda + k]
 * or, transa, A[k*lda + m]; op(B) is (K, N), B[k*ldb + n] or, transb,
 * B[n*ldb + k]. beta = 0 never reads C (it may hold NaN). Every fp32 GEMM
 * of the CPU backend goes through it. Two kernels: OpenBLAS's cblas_sgemm
 * (DLUT_SGEMM_BLAS) and our AVX-512F one (DLUT_SGEMM_AVX512: CPUID AVX512F
 * and XGETBV ZMM state), which is the default where the CPU has it and the
 * OpenBLAS linked has no AVX-512 sgemm for the CPU (openblas_get_corename()
 * not SkylakeX, CooperLake or SapphireRapids: e.g. AMD Zen 4/5, where
 * 0.3.21 runs its Haswell kernel). DLUT_SGEMM_KERNEL=blas|avx512 in the
 * environment (read once) forces either. dlut_sgemm_select(level) sets the
 * kernel (capped by the hardware; -1 restores the default) and returns it;
 * dlut_sgemm_hw() is the highest the CPU allows (tests, benchmarks).
 * Products with N < 16 or K < 16 always take OpenBLAS (faster there);
 * dlut_sgemm_with(level, ...) runs the given kernel on any shape (tests).
 * The AVX-512 kernel keeps one ~600 KiB packing buffer per calling thread
 * (allocated on its first call, freed at thread exit; without it the call
 * falls back to cblas_sgemm). Results differ from OpenBLAS's by the order
 * of the fp32 sums only. dlut_sgemm_ref is the naive triple loop (sums in
 * double). dlut_sgemm_par is the same product split over the dlut pool
 * (C by column blocks when N >= M, else by row blocks; small products on
 * the calling thread); with the OpenBLAS kernel and OpenBLAS itself
 * multi-threaded (outside dlut_tensor_threads_enter) it is one
 * cblas_sgemm call, threaded by OpenBLAS. */
enum { DLUT_SGEMM_BLAS = 0, DLUT_SGEMM_AVX512 = 1 };
int dlut_sgemm_kernel(void);
int dlut_sgemm_hw(void);
int dlut_sgemm_select(int level);
const char *dlut_sgemm_kernel_name(int level);
void dlut_sgemm(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                int ldb, float beta, float *C, int ldc);
void dlut_sgemm_with(int level, int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);
void dlut_sgemm_par(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc);
void dlut_sgemm_ref(int transa, int transb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                    int ldb, float beta, float *C, int ldc);

/* Pre-packed B, for a matrix used in many products (a model's weights):
 * dlut_sgemm_pack_b(dst, B, ldb, transb, K, N) writes op(B) (K, N) into
 * dst, dlut_sgemm_packed_size(K, N) floats (K times N rounded up to 32;
 * 64-byte aligned, the caller's), in the AVX-512 kernel's panel layout
 * (src/tensor/sgemm.c, "Pre-packed B"). dlut_sgemm_packed(transa, M, N, K,
 * alpha, A, lda, Bp, beta, C, ldc) is dlut_sgemm with that B: where the
 * CPU has AVX-512F it runs the AVX-512 kernel whatever dlut_sgemm_kernel()
 * says, and its results equal dlut_sgemm_with(DLUT_SGEMM_AVX512, ...) on
 * the unpacked B bit for bit (the same blocks, minus the per-call packing
 * of B); elsewhere it is a plain C loop on the same layout (correct, slow:
 * pack only where dlut_sgemm_kernel() is DLUT_SGEMM_AVX512). N and K must
 * be those given to the pack. _par splits over the dlut pool as
 * dlut_sgemm_par does (columns in whole 32-wide panels). _with(level, ...)
 * force the plain C forms with DLUT_SGEMM_BLAS (tests). Nothing here
 * allocates (the A panel is 24 KiB of stack). */
size_t dlut_sgemm_packed_size(int K, int N);
void dlut_sgemm_pack_b(float *dst, const float *B, int ldb, int transb, int K, int N);
void dlut_sgemm_pack_b_with(int level, float *dst, const float *B, int ldb, int transb, int K, int N);
void dlut_sgemm_packed(int transa, int M, int N, int K, float alpha, const float *A, int lda, const float *Bp,
                       float beta, float *C, int ldc);
void dlut_sgemm_packed_with(int level, int transa, int M, int N, int K, float alpha, const float *A, int lda,
                            const float *Bp, float beta, float *C, int ldc);
void dlut_sgemm_packed_par(int transa, int M, int N, int K, float alpha, const float *A, int lda, const float *Bp,
                           float beta, float *C, int ldc);

/* FLOP counts used by the benchmark (multiply-add = 2). */
static inline double dlut_matmul_flops(int N, int C, int OC) {
  return 2.0 * N * C * OC;
}

#ifdef __cplusplus
}
#endif
#endif
