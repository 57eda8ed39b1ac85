/* tensor/vexp.h - the constants of the vector exp (not public), shared by
 * its AVX-512 form (exp16, bf16.c) and its AVX2 form (exp8, vec_avx2.c), so
 * the two widths compute the same function: x clamped to [LO, HI], n =
 * round(x log2 e), r = x - n ln2 with ln2 split in two (Cody-Waite: HI part
 * exact in float), exp(r) = 1 + r + r^2 (P0 + P1 r + ... + P5 r^5) (Cephes
 * expf's coefficients), times 2^n. */
#ifndef DLUT_TENSOR_VEXP_H
#define DLUT_TENSOR_VEXP_H

#define VEXP_LO -87.3f /* exp below is 0 */
#define VEXP_HI 88.7f  /* exp above is +inf */
#define VEXP_LOG2E 1.44269504088896341f
#define VEXP_LN2_HI 0.693359375f
#define VEXP_LN2_LO -2.12194440e-4f
#define VEXP_P5 1.9875691500e-4f
#define VEXP_P4 1.3981999507e-3f
#define VEXP_P3 8.3334519073e-3f
#define VEXP_P2 4.1665795894e-2f
#define VEXP_P1 1.6666665459e-1f
#define VEXP_P0 5.0000001201e-1f

#endif
