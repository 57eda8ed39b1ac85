/* Colour management for loading: embedded ICC profiles -> sRGB with
 * LittleCMS 2 (https://www.littlecms.com/LittleCMS2.14%20API.pdf).
 *
 * Intent: relative colorimetric with black-point compensation, the default
 * of Photoshop and of most photo software. Camera and phone profiles
 * (Display P3, Adobe RGB, ProPhoto, sRGB variants) are matrix/shaper
 * profiles with no perceptual tables, so "perceptual" would silently fall
 * back to colorimetric anyway; relative colorimetric keeps every in-gamut
 * colour exact (which the grading loss measures) and clips the rest. BPC
 * only matters for profiles whose black is not zero.
 *
 * Precision and speed: conversion runs at the image's own sample type, so
 * 16-bit files keep 16 bits. lcms's unoptimised pipeline is the reference
 * (dlut__icc_to_srgb_ref, also used for float images); matrix/shaper RGB
 * profiles go through our table+matrix kernel and grey profiles through a
 * per-code table, both within 1 code of the reference (tests/test_image.c)
 * and ~20x faster than it. Profiles that are sRGB in all but name (same
 * colorants and curves within 0.2 %, as most cameras embed) are detected
 * and skipped: converting them would only add rounding noise.
 *
 * Threads: transforms are created with cmsFLAGS_NOCACHE, which makes
 * cmsDoTransform safe to call from several threads at once; rows are split
 * with dlut_parallel_for.
 *
 * Memory: lcms reports no memory the way it reports a broken profile (a
 * NULL handle or tag), and 2.14 crashes when the allocation of a profile's
 * mutex fails (cmserr.c defMtxCreate initialises it unchecked). So lcms is
 * given our own allocator and mutex functions (plugins, registered once):
 * they count failed allocations per thread, and an operation during which
 * one failed ends in "out of memory" instead of treating the image as
 * untagged sRGB. */
#include <lcms2.h>
#include <lcms2_plugin.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/parallel.h"
#include "image/image_private.h"

/* ==== LittleCMS set-up: our allocator, failures counted ==== */

/* lcms's own cap on one allocation (cmserr.c MAX_MEMORY_FOR_ALLOC), which a
 * memory plugin replaces: kept, as a guard against hostile profiles */
#define LCMS_MAX_ALLOC ((cmsUInt32Number)512 << 20)

static _Thread_local unsigned t_lcms_nomem; /* lcms allocations that failed on this thread */

static void *lcms_malloc(cmsContext id, cmsUInt32Number n) {
  void *p = n <= LCMS_MAX_ALLOC ? malloc(n) : NULL;
  if (!p) t_lcms_nomem++;
  (void)id;
  return p;
}

static void *lcms_realloc(cmsContext id, void *p, cmsUInt32Number n) {
  void *r = n <= LCMS_MAX_ALLOC ? realloc(p, n) : NULL;
  if (!r) t_lcms_nomem++;
  (void)id;
  return r;
}

static void lcms_free(cmsContext id, void *p) {
  free(p);
  (void)id;
}

/* A profile whose mutex could not be allocated gets none (NULL): DLUT never
 * shares a profile handle between threads, and the failure is counted. */
static void *lcms_mutex_new(cmsContext id) {
  pthread_mutex_t *m = malloc(sizeof *m);
  if (m && pthread_mutex_init(m, NULL) != 0) {
    free(m);
    m = NULL;
  }
  if (!m) t_lcms_nomem++;
  (void)id;
  return m;
}

static void lcms_mutex_free(cmsContext id, void *m) {
  if (m) pthread_mutex_destroy(m);
  free(m);
  (void)id;
}

static cmsBool lcms_mutex_lock(cmsContext id, void *m) {
  (void)id;
  return !m || pthread_mutex_lock(m) == 0;
}

static void lcms_mutex_unlock(cmsContext id, void *m) {
  if (m) pthread_mutex_unlock(m);
  (void)id;
}

static cmsPluginMutex g_lcms_mutex = {{cmsPluginMagicNumber, LCMS_VERSION, cmsPluginMutexSig, NULL},
                                      lcms_mutex_new,
                                      lcms_mutex_free,
                                      lcms_mutex_lock,
                                      lcms_mutex_unlock};
static cmsPluginMemHandler g_lcms_mem = {
    {cmsPluginMagicNumber, LCMS_VERSION, cmsPluginMemHandlerSig, &g_lcms_mutex.base},
    lcms_malloc,
    lcms_free,
    lcms_realloc,
    NULL,
    NULL,
    NULL};
static pthread_once_t g_lcms_once = PTHREAD_ONCE_INIT;

/* lcms allocates nothing to register these (they go into its global context) */
static void lcms_setup(void) {
  cmsPlugin(&g_lcms_mem);
}

/* Call before an operation's first lcms call; the mark it returns is
 * passed to lcms_check after every lcms call that allocates, before its
 * result is used: an object lcms built while one of its allocations failed
 * may be incomplete (2.14 returns a transform whose cmsDoTransform then
 * crashes). */
static unsigned lcms_begin(void) {
  pthread_once(&g_lcms_once, lcms_setup);
  return t_lcms_nomem;
}

/* 0, or -1 with the error set when an lcms allocation failed since mark. */
static int lcms_check(unsigned mark) {
  if (t_lcms_nomem == mark) return 0;
  return dlut_errorc(DLUT_ERR_NOMEM, "colour management (lcms): out of memory");
}

/* ==== Is this profile really sRGB? ==== */

static int xyz_close(cmsHPROFILE a, cmsHPROFILE b, cmsTagSignature sig) {
  const cmsCIEXYZ *x = cmsReadTag(a, sig), *y = cmsReadTag(b, sig);
  if (!x || !y) return 0;
  return fabs(x->X - y->X) < 2e-3 && fabs(x->Y - y->Y) < 2e-3 && fabs(x->Z - y->Z) < 2e-3;
}

static int curve_close(cmsHPROFILE a, cmsHPROFILE b, cmsTagSignature sig) {
  const cmsToneCurve *x = cmsReadTag(a, sig), *y = cmsReadTag(b, sig);
  if (!x || !y) return 0;
  for (int i = 0; i <= 32; i++) {
    float t = (float)i / 32.0f;
    if (fabsf(cmsEvalToneCurveFloat(x, t) - cmsEvalToneCurveFloat(y, t)) > 2e-3f) return 0;
  }
  return 1;
}

static int profile_is_srgb(cmsHPROFILE p) {
  if (cmsGetColorSpace(p) != cmsSigRgbData || !cmsIsMatrixShaper(p)) return 0;
  if (cmsIsTag(p, cmsSigAToB0Tag) || cmsIsTag(p, cmsSigAToB1Tag)) return 0; /* LUT-based: cannot tell */
  cmsHPROFILE s = cmsCreate_sRGBProfile();
  if (!s) return 0;
  int same = xyz_close(p, s, cmsSigRedColorantTag) && xyz_close(p, s, cmsSigGreenColorantTag) &&
             xyz_close(p, s, cmsSigBlueColorantTag) && curve_close(p, s, cmsSigRedTRCTag) &&
             curve_close(p, s, cmsSigGreenTRCTag) && curve_close(p, s, cmsSigBlueTRCTag);
  cmsCloseProfile(s);
  return same;
}

/* ==== Transforms ==== */

typedef struct {
  cmsHTRANSFORM xf;
  uint8_t *data;
  size_t stride;
  int width;
} xf_ctx;

static void xf_rows(void *vctx, int64_t y0, int64_t y1, int thread) {
  const xf_ctx *c = vctx;
  for (int64_t y = y0; y < y1; y++) {
    uint8_t *row = c->data + (size_t)y * c->stride;
    cmsDoTransform(c->xf, row, row, (cmsUInt32Number)c->width);
  }
  (void)thread;
}

static cmsUInt32Number rgb_format(const dlut_image *img) {
  int extra = img->channels - 3;
  switch (img->type) {
    case DLUT_PIXEL_U8:
      return COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | EXTRA_SH(extra) | BYTES_SH(1);
    case DLUT_PIXEL_U16:
      return COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | EXTRA_SH(extra) | BYTES_SH(2);
    default:
      return FLOAT_SH(1) | COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | EXTRA_SH(extra) | BYTES_SH(4);
  }
}

/* A grey image was expanded to R=G=B; read it as one grey channel followed
 * by "extra" channels (G, B and alpha) that lcms skips. */
static cmsUInt32Number grey_format(const dlut_image *img) {
  int extra = img->channels - 1;
  switch (img->type) {
    case DLUT_PIXEL_U8:
      return COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | EXTRA_SH(extra) | BYTES_SH(1);
    case DLUT_PIXEL_U16:
      return COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | EXTRA_SH(extra) | BYTES_SH(2);
    default:
      return FLOAT_SH(1) | COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | EXTRA_SH(extra) | BYTES_SH(4);
  }
}

/* XF_REF: the reference pipeline, evaluated in floating point stage by
 * stage (no optimisation); the tests compare the fast paths with it, and
 * float images use it. lcms's optimised transforms are not good enough for
 * us on matrix/shaper profiles: at 16 bits it resamples the pair into a 3D
 * table (300 codes off in dark saturated colours), and its 8-bit grey path
 * joins the curves into a coarse table (a linear grey 1 came out 6, not
 * 13). So matrix/shaper RGB profiles (nearly every photo profile) take our
 * own kernel, grey profiles a per-value table built with XF_REF, and only
 * LUT-based profiles (rare in photos; tables by nature) use lcms's
 * optimisation, at high resolution. */
#define XF_FLAGS cmsFLAGS_NOCACHE
#define XF_REF (XF_FLAGS | cmsFLAGS_NOOPTIMIZE)
#define XF_LUT (XF_FLAGS | cmsFLAGS_HIGHRESPRECALC)

/* Black-point compensation, for the profiles where it does something: those
 * whose black is not zero. A matrix/shaper RGB or TRC grey profile whose
 * curves start at 0 has a zero black point, and lcms then adds no BPC
 * stage ("if black points are equal, do nothing", cmscnvrt.c), so leaving
 * the flag out gives the same transform (checked byte for byte for
 * Ghostscript's grey profiles) without lcms's black-point detection, which
 * in 2.14 evaluates a transform it built while an allocation failed and
 * crashes. May read tags: the caller checks lcms_check after it. */
static cmsUInt32Number bpc_flag(cmsHPROFILE in) {
  if (cmsIsTag(in, cmsSigAToB0Tag) || cmsIsTag(in, cmsSigAToB1Tag)) return cmsFLAGS_BLACKPOINTCOMPENSATION;
  cmsColorSpaceSignature cs = cmsGetColorSpace(in);
  cmsTagSignature sig[3] = {cmsSigGrayTRCTag, cmsSigGrayTRCTag, cmsSigGrayTRCTag};
  if (cs == cmsSigRgbData) {
    if (!cmsIsMatrixShaper(in)) return cmsFLAGS_BLACKPOINTCOMPENSATION;
    sig[0] = cmsSigRedTRCTag, sig[1] = cmsSigGreenTRCTag, sig[2] = cmsSigBlueTRCTag;
  } else if (cs != cmsSigGrayData) {
    return cmsFLAGS_BLACKPOINTCOMPENSATION;
  }
  for (int k = 0; k < 3; k++) {
    const cmsToneCurve *trc = cmsReadTag(in, sig[k]);
    if (!trc || cmsEvalToneCurveFloat(trc, 0.0f) > 1e-5f) return cmsFLAGS_BLACKPOINTCOMPENSATION;
  }
  return 0;
}

/* ==== Matrix/shaper kernel (8 and 16 bits) ==== */

/* For a matrix/shaper profile (ICC.1:2010 F.3: TRC per channel, then the
 * colorant matrix into the D50 PCS) and lcms's sRGB profile (the same
 * structure), relative colorimetric is: linearise with the input TRCs,
 * multiply by inv(M_srgb) * M_in, clip to [0,1], encode with the sRGB TRC.
 * BPC is the identity when the input black is zero (checked). Tables: one
 * float per input code and channel, and a 2^20-entry linear -> output code
 * encoding table (its step, 1e-6 in linear light, is under 0.001 of a
 * 16-bit code after the 12.92 toe slope). */
enum { ENC_BITS = 20 };

typedef struct {
  float *lin;    /* (3, ncodes) linearisation tables */
  uint16_t *enc; /* (2^ENC_BITS + 1) encoding table, output codes */
  int ncodes;    /* 256 or 65536 */
  float m[3][3]; /* linear input RGB -> linear sRGB */
  dlut_image *img;
} ms_ctx;

static inline float ms_pixel(const ms_ctx *c, int k, int i0, int i1, int i2) {
  const float *l = c->lin;
  int n = c->ncodes;
  float v = c->m[k][0] * l[i0] + c->m[k][1] * l[n + i1] + c->m[k][2] * l[2 * n + i2];
  return v > 0.0f ? (v < 1.0f ? v : 1.0f) : 0.0f;
}

static void ms_rows(void *vctx, int64_t y0, int64_t y1, int thread) {
  const ms_ctx *c = vctx;
  dlut_image *img = c->img;
  const float scale = (float)(1 << ENC_BITS);
  for (int64_t y = y0; y < y1; y++) {
    uint8_t *row = (uint8_t *)img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++) {
      if (img->type == DLUT_PIXEL_U16) {
        uint16_t *p = (uint16_t *)row + (size_t)x * img->channels;
        int i0 = p[0], i1 = p[1], i2 = p[2];
        for (int k = 0; k < 3; k++) p[k] = c->enc[(int)(ms_pixel(c, k, i0, i1, i2) * scale + 0.5f)];
      } else {
        uint8_t *p = row + (size_t)x * img->channels;
        int i0 = p[0], i1 = p[1], i2 = p[2];
        for (int k = 0; k < 3; k++) p[k] = (uint8_t)c->enc[(int)(ms_pixel(c, k, i0, i1, i2) * scale + 0.5f)];
      }
    }
  }
  (void)thread;
}

static int inv3(const double a[3][3], double o[3][3]) {
  double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
               a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
  if (!(fabs(det) > 1e-12)) return -1;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      o[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
    }
  return 0;
}

static int colorant_matrix(cmsHPROFILE p, double m[3][3]) {
  const cmsCIEXYZ *c[3] = {cmsReadTag(p, cmsSigRedColorantTag), cmsReadTag(p, cmsSigGreenColorantTag),
                           cmsReadTag(p, cmsSigBlueColorantTag)};
  for (int i = 0; i < 3; i++) {
    if (!c[i]) return -1;
    m[0][i] = c[i]->X;
    m[1][i] = c[i]->Y;
    m[2][i] = c[i]->Z;
  }
  return 0;
}

/* 0 done, 1 not applicable (caller falls back to lcms), -1 error. */
static int matrix_shaper(dlut_image *img, cmsHPROFILE in, unsigned mark) {
  if (img->type == DLUT_PIXEL_F32 || cmsGetColorSpace(in) != cmsSigRgbData || !cmsIsMatrixShaper(in) ||
      cmsIsTag(in, cmsSigAToB0Tag) || cmsIsTag(in, cmsSigAToB1Tag))
    return 1;
  const cmsToneCurve *trc[3] = {cmsReadTag(in, cmsSigRedTRCTag), cmsReadTag(in, cmsSigGreenTRCTag),
                                cmsReadTag(in, cmsSigBlueTRCTag)};
  if (lcms_check(mark) != 0) return -1;
  if (!trc[0] || !trc[1] || !trc[2]) return 1;
  for (int k = 0; k < 3; k++)
    if (cmsEvalToneCurveFloat(trc[k], 0.0f) > 1e-5f) return 1; /* raised black: BPC matters, let lcms do it */
  double mi[3][3], ms[3][3], msi[3][3];
  cmsHPROFILE srgb = cmsCreate_sRGBProfile();
  int ok = srgb && colorant_matrix(in, mi) == 0 && colorant_matrix(srgb, ms) == 0 && inv3(ms, msi) == 0;
  if (srgb) cmsCloseProfile(srgb);
  if (lcms_check(mark) != 0) return -1;
  if (!ok) return 1;
  ms_ctx c = {0};
  c.img = img;
  c.ncodes = img->type == DLUT_PIXEL_U16 ? 65536 : 256;
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++) {
      double v = 0;
      for (int k = 0; k < 3; k++) v += msi[i][k] * mi[k][j];
      c.m[i][j] = (float)v;
    }
  c.lin = malloc(sizeof *c.lin * 3 * (size_t)c.ncodes);
  c.enc = malloc(sizeof *c.enc * ((1u << ENC_BITS) + 1));
  if (!c.lin || !c.enc) {
    free(c.lin);
    free(c.enc);
    return dlut_error("out of memory");
  }
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < c.ncodes; i++)
      c.lin[k * c.ncodes + i] = cmsEvalToneCurveFloat(trc[k], (float)i / (float)(c.ncodes - 1));
  /* sRGB encoding, IEC 61966-2-1 (the curve lcms's sRGB profile carries). */
  double full = c.ncodes - 1;
  for (uint32_t i = 0; i <= (1u << ENC_BITS); i++) {
    double v = (double)i / (double)(1u << ENC_BITS);
    double e = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
    c.enc[i] = (uint16_t)(e * full + 0.5);
  }
  dlut_parallel_for(img->height, 1 + (1 << 15) / img->width, ms_rows, &c);
  free(c.lin);
  free(c.enc);
  return 0;
}

/* ==== Grey profiles: one table entry per code ==== */

typedef struct {
  const uint16_t *tab; /* (ncodes, 3) sRGB output per grey code */
  dlut_image *img;
} grey_ctx;

static void grey_rows(void *vctx, int64_t y0, int64_t y1, int thread) {
  const grey_ctx *c = vctx;
  dlut_image *img = c->img;
  for (int64_t y = y0; y < y1; y++) {
    uint8_t *row = (uint8_t *)img->data + (size_t)y * img->stride;
    for (int x = 0; x < img->width; x++) {
      if (img->type == DLUT_PIXEL_U16) {
        uint16_t *p = (uint16_t *)row + (size_t)x * img->channels;
        const uint16_t *t = c->tab + 3 * (size_t)p[0];
        p[0] = t[0], p[1] = t[1], p[2] = t[2];
      } else {
        uint8_t *p = row + (size_t)x * img->channels;
        const uint16_t *t = c->tab + 3 * (size_t)p[0];
        p[0] = (uint8_t)t[0], p[1] = (uint8_t)t[1], p[2] = (uint8_t)t[2];
      }
    }
  }
  (void)thread;
}

/* 0 done, 1 not applicable, -1 error. The image was expanded from grey, so
 * R is the grey code. */
static int grey_table(dlut_image *img, cmsHPROFILE in, cmsHPROFILE out, unsigned mark) {
  if (img->type == DLUT_PIXEL_F32 || cmsGetColorSpace(in) != cmsSigGrayData) return 1;
  int n = img->type == DLUT_PIXEL_U16 ? 65536 : 256;
  cmsUInt32Number fin = n == 256 ? TYPE_GRAY_8 : TYPE_GRAY_16, fout = n == 256 ? TYPE_RGB_8 : TYPE_RGB_16;
  cmsUInt32Number bpc = bpc_flag(in);
  if (lcms_check(mark) != 0) return -1;
  cmsHTRANSFORM xf = cmsCreateTransform(in, fin, out, fout, INTENT_RELATIVE_COLORIMETRIC, XF_REF | bpc);
  if (lcms_check(mark) != 0) {
    if (xf) cmsDeleteTransform(xf);
    return -1;
  }
  if (!xf) return 1;
  uint16_t *ramp = malloc(sizeof *ramp * (size_t)n), *tab = malloc(sizeof *tab * 3 * (size_t)n);
  uint8_t *ramp8 = (uint8_t *)ramp, *tab8 = (uint8_t *)tab;
  if (!ramp || !tab) {
    free(ramp);
    free(tab);
    cmsDeleteTransform(xf);
    return dlut_error("out of memory");
  }
  for (int i = 0; i < n; i++) {
    if (n == 256)
      ramp8[i] = (uint8_t)i;
    else
      ramp[i] = (uint16_t)i;
  }
  cmsDoTransform(xf, ramp, tab, (cmsUInt32Number)n);
  cmsDeleteTransform(xf);
  if (n == 256) /* widen the 8-bit table in place, from the end */
    for (int i = 3 * n - 1; i >= 0; i--) tab[i] = tab8[i];
  grey_ctx c = {tab, img};
  dlut_parallel_for(img->height, 1 + (1 << 15) / img->width, grey_rows, &c);
  free(ramp);
  free(tab);
  return 0;
}

/* ==== Profile -> sRGB ==== */

static int icc_convert(dlut_image *img, const uint8_t *icc, size_t icc_size, int reference) {
  if (!icc || icc_size < 132) return 0; /* shorter than an ICC header: not a profile, ignore it */
  if (icc_size > DLUT__MAX_META_BYTES) return dlut_error("ICC profile too large");
  unsigned mark = lcms_begin();
  cmsHPROFILE in = cmsOpenProfileFromMem(icc, (cmsUInt32Number)icc_size);
  int rc = lcms_check(mark);
  cmsHPROFILE out = NULL;
  cmsHTRANSFORM xf = NULL;
  if (!in || rc != 0) goto done; /* a broken profile is treated like none (as browsers do): assume sRGB */
  cmsColorSpaceSignature cs = cmsGetColorSpace(in);
  if (cs != cmsSigRgbData && cs != cmsSigGrayData) goto done; /* e.g. a CMYK profile on an RGB PNG: ignore */
  int same = profile_is_srgb(in);
  if ((rc = lcms_check(mark)) != 0 || same) goto done;
  if (!reference) {
    int r = matrix_shaper(img, in, mark);
    if (r <= 0) {
      rc = r;
      goto done;
    }
  }
  out = cmsCreate_sRGBProfile();
  if ((rc = lcms_check(mark)) != 0) goto done;
  if (!out) {
    rc = dlut_error("cannot create the sRGB profile");
    goto done;
  }
  if (!reference) {
    int r = grey_table(img, in, out, mark);
    if (r <= 0) {
      rc = r;
      goto done;
    }
  }
  cmsUInt32Number fin = cs == cmsSigGrayData ? grey_format(img) : rgb_format(img);
  cmsUInt32Number flags = (reference || img->type == DLUT_PIXEL_F32 ? XF_REF : XF_LUT) | bpc_flag(in);
  if ((rc = lcms_check(mark)) != 0) goto done;
  xf = cmsCreateTransform(in, fin, out, rgb_format(img), INTENT_RELATIVE_COLORIMETRIC, flags);
  if ((rc = lcms_check(mark)) != 0) goto done;
  if (!xf) goto done; /* lcms cannot link this profile: keep the pixels as they are (assume sRGB) */
  xf_ctx c = {xf, img->data, img->stride, img->width};
  dlut_parallel_for(img->height, 1 + (1 << 15) / img->width, xf_rows, &c);
done:
  if (xf) cmsDeleteTransform(xf);
  if (out) cmsCloseProfile(out);
  if (in) cmsCloseProfile(in);
  return rc;
}

int dlut__icc_to_srgb(dlut_image *img, const uint8_t *icc, size_t icc_size) {
  return icc_convert(img, icc, icc_size, 0);
}

int dlut__icc_to_srgb_ref(dlut_image *img, const uint8_t *icc, size_t icc_size) {
  return icc_convert(img, icc, icc_size, 1);
}

typedef struct {
  cmsHTRANSFORM xf;
  const uint8_t *cmyk; /* (n, 4) */
  uint8_t *rgb;        /* (n, 3) */
} cmyk_ctx;

static void cmyk_chunks(void *vctx, int64_t i0, int64_t i1, int thread) {
  const cmyk_ctx *c = vctx;
  cmsDoTransform(c->xf, c->cmyk + 4 * (size_t)i0, c->rgb + 3 * (size_t)i0, (cmsUInt32Number)(i1 - i0));
  (void)thread;
}

/* CMYK profiles are LUT-based, so lcms's optimised (resampled) transform is
 * used: within 5 codes of the unoptimised reference and of ImageMagick
 * (tests/t_image.py), which is 6x slower. CMYK photos are rare. */
int dlut__cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t n, int inverted, const uint8_t *icc, size_t icc_size) {
  cmsHPROFILE in = NULL, out = NULL;
  cmsHTRANSFORM xf = NULL;
  unsigned mark = lcms_begin();
  if (icc && icc_size >= 132 && icc_size <= DLUT__MAX_META_BYTES) {
    in = cmsOpenProfileFromMem(icc, (cmsUInt32Number)icc_size);
    if (in && cmsGetColorSpace(in) == cmsSigCmykData && (out = cmsCreate_sRGBProfile()) != NULL)
      xf = cmsCreateTransform(in, inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8, out, TYPE_RGB_8,
                              INTENT_RELATIVE_COLORIMETRIC, XF_FLAGS | cmsFLAGS_BLACKPOINTCOMPENSATION);
  }
  /* the formula below is for a missing or unusable profile, not for no memory */
  int rc = lcms_check(mark);
  if (rc == 0 && xf) {
    /* Chunks of 64 K pixels over the pool (NOCACHE transforms are thread-safe). */
    cmyk_ctx c = {xf, cmyk, rgb};
    dlut_parallel_for((int64_t)n, 1 << 16, cmyk_chunks, &c);
  } else if (rc == 0) {
    /* No usable profile: the textbook formula R = (1-C)(1-K) etc. Adobe
     * APP14 files store inverted samples (255 = no ink), so for them the
     * stored values are already 1-C and 1-K. */
    for (size_t i = 0; i < n; i++) {
      const uint8_t *p = cmyk + 4 * i;
      unsigned c = p[0], m = p[1], y = p[2], k = p[3];
      if (!inverted) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
      rgb[3 * i] = (uint8_t)((c * k + 127) / 255);
      rgb[3 * i + 1] = (uint8_t)((m * k + 127) / 255);
      rgb[3 * i + 2] = (uint8_t)((y * k + 127) / 255);
    }
  }
  if (xf) cmsDeleteTransform(xf);
  if (out) cmsCloseProfile(out);
  if (in) cmsCloseProfile(in);
  return rc;
}

/* ==== The sRGB profile we embed ==== */

/* Built on first use and kept; a failed build (no memory) is tried again by
 * the next caller. */
static pthread_mutex_t g_srgb_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *g_srgb_icc;
static size_t g_srgb_icc_size;

static uint8_t *build_srgb(size_t *size) {
  unsigned mark = lcms_begin();
  uint8_t *b = NULL;
  cmsHPROFILE p = cmsCreate_sRGBProfile();
  /* lcms builds an ICC v4 profile whose curves are parametric ('para'),
   * about 600 bytes; as v2 it would carry 4096-entry sampled curves (8.8
   * KB in every JPEG). Every current browser and OS reads v4. */
  cmsUInt32Number n = 0;
  if (p && cmsSaveProfileToMem(p, NULL, &n) && n >= 128 && (b = malloc(n)) != NULL && !cmsSaveProfileToMem(p, b, &n)) {
    free(b);
    b = NULL;
  }
  if (p) cmsCloseProfile(p);
  if (lcms_check(mark) != 0 || !b) {
    free(b);
    dlut_errorc(DLUT_ERR_NOMEM, "cannot build the sRGB profile to embed: out of memory");
    return NULL;
  }
  /* The header's creation date (ICC.1:2010 7.2.8, bytes 24-35: year, month,
   * day, hours, minutes, seconds, big-endian) is when lcms made it, which
   * would make every output differ from the last; a fixed one keeps the same
   * input giving the same bytes. The profile ID (bytes 84-99) is left zero
   * by lcms, so nothing else depends on the date. */
  static const uint8_t date[12] = {0x07, 0xd0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0}; /* 2000-01-01 00:00:00 */
  memcpy(b + 24, date, sizeof date);
  *size = n;
  return b;
}

const uint8_t *dlut__srgb_icc(size_t *size) {
  pthread_mutex_lock(&g_srgb_mu);
  if (!g_srgb_icc) g_srgb_icc = build_srgb(&g_srgb_icc_size);
  const uint8_t *r = g_srgb_icc;
  *size = r ? g_srgb_icc_size : 0;
  pthread_mutex_unlock(&g_srgb_mu);
  return r;
}
