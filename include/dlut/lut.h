/* dlut/lut.h - the canonical in-memory LUT, its application and its file formats.
 *
 * One representation that every loader converts into and every writer
 * converts from (as darktable's lut3d does):
 *
 *   - an optional 1D shaper: `shaper_size` entries of RGB, applied per
 *     channel first, input range [shaper_min, shaper_max] per channel;
 *   - an optional 3D table: size^3 entries of RGB, **red fastest**:
 *         table[((b * size + g) * size + r) * 3 + c]
 *     input range [domain_min, domain_max] per channel (the shaper's output,
 *     or the pixel when there is no shaper, is mapped from that range onto
 *     the lattice [0, size-1] and clamped to it).
 *
 * A 1D-only LUT has size == 0; a 3D-only LUT has shaper_size == 0.
 * Entries are floats and may lie outside [0,1].
 *
 * Ownership: dlut_lut_alloc/dlut_lut_load/dlut_lut_resample return LUTs
 * the caller frees with dlut_lut_free. Errors: NULL / -1 with
 * dlut_last_error() set, naming the file and line.
 */
#ifndef DLUT_LUT_H
#define DLUT_LUT_H

#include <stddef.h>
#include <stdint.h>

#include "dlut/image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DLUT_LUT_MAX_SIZE 256     /* largest 3D lattice accepted (.cube allows 2..256) */
#define DLUT_LUT_MAX_PORTABLE 129 /* largest 3D lattice written to .cube/.3dl: OpenColorIO reads no more */
#define DLUT_LUT_MAX_1D 65536     /* largest 1D table accepted */

typedef struct dlut_lut {
  int size;            /* 3D lattice points per axis (2..256), 0 = no 3D table */
  float *table;        /* size^3 * 3 floats, red fastest; owned */
  float domain_min[3]; /* 3D input range, per channel (default 0) */
  float domain_max[3]; /* (default 1) */
  int shaper_size;     /* 1D entries (2..65536), 0 = no 1D table */
  float *shaper;       /* shaper_size * 3 floats; owned */
  float shaper_min[3]; /* 1D input range, per channel (default 0) */
  float shaper_max[3]; /* (default 1) */
  char title[256];     /* TITLE, may be empty */
} dlut_lut;

typedef enum dlut_interp {
  DLUT_INTERP_TETRAHEDRAL = 0, /* default: as FFmpeg lut3d interp=tetrahedral, OCIO INTERP_TETRAHEDRAL */
  DLUT_INTERP_TRILINEAR = 1,
} dlut_interp;

/* ==== Construction ==== */

/* A LUT with a 3D table of `size` (0 for none) and a shaper of
 * `shaper_size` (0 for none), both set to the identity, domains [0,1]. */
dlut_lut *dlut_lut_alloc(int size, int shaper_size);
dlut_lut *dlut_lut_clone(const dlut_lut *lut);
void dlut_lut_free(dlut_lut *lut);

/* Trilinear or tetrahedral resampling of the whole LUT (shaper folded in)
 * onto a new 3D lattice of new_size over [0,1]. */
dlut_lut *dlut_lut_resample(const dlut_lut *lut, int new_size, dlut_interp interp);

/* The LUT blended with the identity: out = strength * LUT(x) + (1 - strength) * x,
 * exactly (trilinear and tetrahedral interpolation are linear in the table,
 * and reproduce the identity lattice), so applying it equals blending the
 * full grade with the original at that strength. A shaper or a domain other
 * than [0,1] is first folded into a 3D table of the LUT's size (33 for a 1D
 * LUT) by dlut_lut_resample. strength in [0, 1]. */
dlut_lut *dlut_lut_at_strength(const dlut_lut *lut, float strength);

/* ==== Application ==== */

/* Evaluate one colour (shaper then 3D). */
void dlut_lut_eval(const dlut_lut *lut, const float in[3], float out[3], dlut_interp interp);

/* Apply to (n,3) float RGB arrays; in and out may alias. Multi-threaded. */
void dlut_lut_apply_f32(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp);

/* Naive references of the same (one pixel at a time, double precision,
 * written for clarity); the fast kernels are tested against these. */
void dlut_lut_apply_f32_ref(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp);

/* Apply to an image of any sample type; dst has the same size and type as
 * src and may be src itself (in place). strength in [0,1] blends the result
 * with the input (1 = full LUT). Alpha is copied. Multi-threaded and
 * vectorised. Returns 0 or -1. */
int dlut_lut_apply_image(const dlut_lut *lut, const dlut_image *src, dlut_image *dst, dlut_interp interp,
                         float strength);

/* Naive reference of dlut_lut_apply_image (double precision, one pixel at a
 * time): integer samples v map to v / (2^bits - 1), results are blended
 * in + strength * (lut - in), then rounded to nearest and clamped. The fast
 * path stays within 1 LSB of it for U8/U16 and 1e-5 for F32. */
int dlut_lut_apply_image_ref(const dlut_lut *lut, const dlut_image *src, dlut_image *dst, dlut_interp interp,
                             float strength);

/* Backward of the 3D application for (n,3) inputs: given dL/dout (n,3),
 * ACCUMULATES dL/dtable into d_table (size^3*3, same layout as table) and
 * WRITES dL/din into d_in (n,3). Either output may be NULL. The shaper, if
 * any, is not differentiated (inputs are taken as the 3D stage's inputs);
 * the domain is honoured. Inputs are clamped to the domain as in the
 * forward, so d_in is 0 where an input lies outside (one-sided at the
 * ends). Multi-threaded; the result does not depend on the thread count. */
void dlut_lut_apply_backward(const dlut_lut *lut, const float *in, const float *d_out, int64_t n, dlut_interp interp,
                             float *d_table, float *d_in);

/* Naive reference of dlut_lut_apply_backward (serial, scalar, one pixel at
 * a time); the fast one is tested against it. */
void dlut_lut_apply_backward_ref(const dlut_lut *lut, const float *in, const float *d_out, int64_t n,
                                 dlut_interp interp, float *d_table, float *d_in);

/* ==== Repeated application (a grading loop) ====
 *
 * The _ws forms take a scratch: the padded copy of the table the vector
 * kernels read, the backward's per-part accumulators and its kernel
 * context. It grows on demand and is kept, so a loop that reserves it
 * for its largest call (or after its first call) allocates nothing.
 * Results are bit-identical to the plain forms, which make and free the
 * same buffers on every call. Zeroed (init) a scratch is empty; one call at
 * a time per scratch.
 *
 *     dlut_lut_scratch ls;
 *     dlut_lut_scratch_init(&ls);
 *     if (dlut_lut_scratch_reserve(&ls, lut->size, n) != 0) ...;  // optional
 *     for (...) {
 *       dlut_lut_apply_f32_ws(lut, in, out, n, interp, &ls);
 *       dlut_lut_apply_backward_ws(lut, in, d_out, n, interp, d_table, NULL, &ls);
 *     }
 *     dlut_lut_scratch_free(&ls);
 *
 * With no memory to grow the scratch the calls fall back as the plain ones
 * do when their own allocations fail (gather kernels, a serial backward). */
typedef struct dlut_lut_scratch {
  float *t4;          /* the table padded to 4 floats an entry, 64-byte aligned */
  size_t t4_bytes;    /* capacity of t4 */
  float *parts;       /* the backward's per-part copies of d_table */
  size_t parts_bytes; /* capacity of parts */
  void *ctx;          /* the backward's kernel context (private to src/lut/) */
} dlut_lut_scratch;

void dlut_lut_scratch_init(dlut_lut_scratch *s);
/* Grow s for application and backward of a size^3 3D table over up to n
 * pixels. 0, or -1 (no memory; s keeps what it had). */
int dlut_lut_scratch_reserve(dlut_lut_scratch *s, int size, int64_t n);
void dlut_lut_scratch_free(dlut_lut_scratch *s);
void dlut_lut_apply_f32_ws(const dlut_lut *lut, const float *in, float *out, int64_t n, dlut_interp interp,
                           dlut_lut_scratch *s);
void dlut_lut_apply_backward_ws(const dlut_lut *lut, const float *in, const float *d_out, int64_t n, dlut_interp interp,
                                float *d_table, float *d_in, dlut_lut_scratch *s);

/* ==== Files ==== */

typedef enum dlut_lut_format {
  DLUT_LUT_FORMAT_UNKNOWN = 0,
  DLUT_LUT_FORMAT_CUBE, /* .cube (Adobe 1.0 and Resolve variants) */
  DLUT_LUT_FORMAT_3DL,  /* .3dl (Autodesk/Lustre style, blue fastest, integers) */
  DLUT_LUT_FORMAT_HALD, /* .png Hald CLUT (8/16 bit) */
} dlut_lut_format;

dlut_lut_format dlut_lut_format_from_path(const char *path);

/* Load any supported format (by extension, then by content). */
dlut_lut *dlut_lut_load(const char *path);

/* The same from memory (an upload, a Redis value): fmt UNKNOWN sniffs the
 * content; name is used in messages only (NULL = "LUT"). Malformed data
 * fails with DLUT_ERR_INPUT. */
dlut_lut *dlut_lut_load_memory(const void *data, size_t size, dlut_lut_format fmt, const char *name);

typedef struct dlut_lut_save_opts {
  int hald_level; /* Hald level (2..16) for .png; 0 = from the LUT size */
  int hald_bits;  /* 8 or 16 (default 16) */
  int bits_3dl;   /* output bit depth of .3dl integers: 10, 12, 16, or 0 (default): 12, or 16 when every
                     output is below 0.5, so readers that infer the depth from the largest value read
                     it right (a LUT whose outputs are all below 0.125 cannot be a .3dl: an error) */
} dlut_lut_save_opts;

/* Save atomically, format from the extension. opts may be NULL. */
int dlut_lut_save(const dlut_lut *lut, const char *path, const dlut_lut_save_opts *opts);

/* What the last save on this thread did to fit the format: the lattice it
 * wrote, and, when it had to resample (a shaper or domain folded into a
 * plain .3dl or Hald table, or a Hald level that differs from the size),
 * the largest output difference that cost over [0,1] inputs: saves choose
 * the smallest lattice within half an 8-bit code (0.5/255), up to 65 points
 * for .3dl and level 16 for Hald, and report what they reached when it is
 * more. clamped: the LUT has values outside [0,1], which .3dl and Hald
 * cannot hold. */
typedef struct dlut_lut_save_info {
  int size;         /* 3D lattice written */
  int resampled;    /* nonzero if the table was resampled */
  double max_error; /* largest output difference of the resampling (0..1) */
  int clamped;      /* values outside [0,1] were clamped */
} dlut_lut_save_info;
const dlut_lut_save_info *dlut_lut_last_save_info(void);

/* Encode into a malloc'd buffer (*data, *size; caller frees) exactly as
 * dlut_lut_save would write the file. 0, or -1 with *data NULL. */
int dlut_lut_save_memory(const dlut_lut *lut, dlut_lut_format fmt, const dlut_lut_save_opts *opts, const char *name,
                         uint8_t **data, size_t *size);

/* The picture of a LUT, as the original CLIP-DLUT draws it: `size` blue
 * slices side by side, each a size x size tile with red across and green
 * down; 8-bit RGB, size*size wide and size tall (scaled up by `scale`). */
dlut_image *dlut_lut_strip(const dlut_lut *lut, int scale);

#ifdef __cplusplus
}
#endif
#endif
