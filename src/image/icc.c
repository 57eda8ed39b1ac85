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
 * Precision: the transform runs at the image's own sample type (8-bit,
 * 16-bit or float formats of lcms), so 16-bit files keep 16 bits.
 * Profiles that are sRGB in all but name (same colorants and curves within
 * 0.2 %, as most cameras embed) are detected and skipped: converting them
 * would only add rounding noise.
 *
 * Threads: transforms are created with cmsFLAGS_NOCACHE, which makes
 * cmsDoTransform safe to call from several threads at once; rows are split
 * with dlut_parallel_for. */
#include <lcms2.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/parallel.h"
#include "image/image_private.h"

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
  case DLUT_PIXEL_U8: return COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | EXTRA_SH(extra) | BYTES_SH(1);
  case DLUT_PIXEL_U16: return COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | EXTRA_SH(extra) | BYTES_SH(2);
  default: return FLOAT_SH(1) | COLORSPACE_SH(PT_RGB) | CHANNELS_SH(3) | EXTRA_SH(extra) | BYTES_SH(4);
  }
}

/* A grey image was expanded to R=G=B; read it as one grey channel followed
 * by "extra" channels (G, B and alpha) that lcms skips. */
static cmsUInt32Number grey_format(const dlut_image *img) {
  int extra = img->channels - 1;
  switch (img->type) {
  case DLUT_PIXEL_U8: return COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | EXTRA_SH(extra) | BYTES_SH(1);
  case DLUT_PIXEL_U16: return COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | EXTRA_SH(extra) | BYTES_SH(2);
  default: return FLOAT_SH(1) | COLORSPACE_SH(PT_GRAY) | CHANNELS_SH(1) | EXTRA_SH(extra) | BYTES_SH(4);
  }
}

#define XF_FLAGS (cmsFLAGS_NOCACHE | cmsFLAGS_BLACKPOINTCOMPENSATION | cmsFLAGS_NOOPTIMIZE)

int dlut__icc_to_srgb(dlut_image *img, const uint8_t *icc, size_t icc_size) {
  if (!icc || icc_size < 132) return 0; /* shorter than an ICC header: not a profile, ignore it */
  if (icc_size > DLUT__MAX_META_BYTES) return dlut_error("ICC profile too large");
  cmsHPROFILE in = cmsOpenProfileFromMem(icc, (cmsUInt32Number)icc_size);
  if (!in) return 0; /* a broken profile is treated like none (as browsers do): assume sRGB */
  int rc = 0;
  cmsHPROFILE out = NULL;
  cmsHTRANSFORM xf = NULL;
  cmsColorSpaceSignature cs = cmsGetColorSpace(in);
  if (cs != cmsSigRgbData && cs != cmsSigGrayData) goto done; /* e.g. a CMYK profile on an RGB PNG: ignore */
  if (profile_is_srgb(in)) goto done;
  out = cmsCreate_sRGBProfile();
  if (!out) {
    rc = dlut_error("cannot create the sRGB profile");
    goto done;
  }
  cmsUInt32Number fin = cs == cmsSigGrayData ? grey_format(img) : rgb_format(img);
  xf = cmsCreateTransform(in, fin, out, rgb_format(img), INTENT_RELATIVE_COLORIMETRIC, XF_FLAGS);
  if (!xf) goto done; /* lcms cannot link this profile: keep the pixels as they are (assume sRGB) */
  xf_ctx c = {xf, img->data, img->stride, img->width};
  dlut_parallel_for(img->height, 1 + (1 << 15) / img->width, xf_rows, &c);
done:
  if (xf) cmsDeleteTransform(xf);
  if (out) cmsCloseProfile(out);
  cmsCloseProfile(in);
  return rc;
}

int dlut__cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t n, int inverted, const uint8_t *icc,
                      size_t icc_size) {
  cmsHPROFILE in = NULL, out = NULL;
  cmsHTRANSFORM xf = NULL;
  if (icc && icc_size >= 132 && icc_size <= DLUT__MAX_META_BYTES) {
    in = cmsOpenProfileFromMem(icc, (cmsUInt32Number)icc_size);
    if (in && cmsGetColorSpace(in) == cmsSigCmykData && (out = cmsCreate_sRGBProfile()) != NULL)
      xf = cmsCreateTransform(in, inverted ? TYPE_CMYK_8_REV : TYPE_CMYK_8, out, TYPE_RGB_8,
                              INTENT_RELATIVE_COLORIMETRIC, XF_FLAGS);
  }
  if (xf) {
    /* One call per 1 M pixels keeps cmsUInt32Number counts in range. */
    for (size_t i = 0; i < n; i += (size_t)1 << 20) {
      size_t k = n - i < ((size_t)1 << 20) ? n - i : ((size_t)1 << 20);
      cmsDoTransform(xf, cmyk + 4 * i, rgb + 3 * i, (cmsUInt32Number)k);
    }
  } else {
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
  return 0;
}

/* ==== The sRGB profile we embed ==== */

static pthread_once_t g_srgb_once = PTHREAD_ONCE_INIT;
static uint8_t *g_srgb_icc;
static size_t g_srgb_icc_size;

static void build_srgb(void) {
  cmsHPROFILE p = cmsCreate_sRGBProfile();
  if (!p) return;
  /* lcms builds an ICC v4 profile whose curves are parametric ('para'),
   * about 600 bytes; as v2 it would carry 4096-entry sampled curves (8.8
   * KB in every JPEG). Every current browser and OS reads v4. */
  cmsUInt32Number n = 0;
  if (cmsSaveProfileToMem(p, NULL, &n) && n > 0) {
    uint8_t *b = malloc(n);
    if (b && cmsSaveProfileToMem(p, b, &n)) {
      g_srgb_icc = b;
      g_srgb_icc_size = n;
    } else {
      free(b);
    }
  }
  cmsCloseProfile(p);
}

const uint8_t *dlut__srgb_icc(size_t *size) {
  pthread_once(&g_srgb_once, build_srgb);
  *size = g_srgb_icc_size;
  return g_srgb_icc;
}
