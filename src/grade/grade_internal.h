/* src/grade/grade_internal.h - small helpers the files of src/grade/ share
 * (the grading loop, the region grade, the fit, the MLP field). Private. */
#ifndef DLUT_GRADE_INTERNAL_H
#define DLUT_GRADE_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <time.h>

/* Seconds on the monotonic clock (for durations). */
static inline double grade_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014): the next 64 random bits of the stream *s. */
static inline uint64_t grade_rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Scale v (n floats) to unit length. 0; -1 when its length is zero or NaN
 * (v is left as it is) or infinite (v is divided by it all the same). */
static inline int grade_unit_vec(float *v, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)v[i] * v[i];
  s = sqrt(s);
  if (!(s > 0)) return -1;
  for (int i = 0; i < n; i++) v[i] = (float)(v[i] / s);
  return isfinite(s) ? 0 : -1;
}

#endif
