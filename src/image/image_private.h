/* src/image/image_private.h - what the image codecs share (not public).
 *
 * Every decoder has the shape
 *     int dlut__X_load(const uint8_t *data, size_t size, dlut__decoded *out);
 * It fills out->img (RGB or RGBA, U8/U16/F32, rows as stored in the file),
 * the image's exif/xmp blobs, out->icc (the embedded ICC profile, malloc'd)
 * and out->orientation (a TIFF-style orientation tag the container itself
 * carries, or 0 to take it from the EXIF block). It returns 0, or -1 with
 * dlut_last_error() set to a reason WITHOUT the file name: image.c adds
 * the name, converts ICC -> sRGB and applies the orientation, so those
 * steps are written once for all formats.
 *
 * Every encoder has the shape
 *     int dlut__X_save(const dlut_image *img, FILE *fp, const dlut__meta *m,
 *                      const dlut_image_save_opts *opts);
 * and receives an image already converted to a sample type and channel
 * count the format takes (see image.c), metadata already normalised (EXIF
 * orientation patched to 1), and a temporary FILE* from dlut/file.h that
 * image.c commits or aborts.
 */
#ifndef DLUT_IMAGE_PRIVATE_H
#define DLUT_IMAGE_PRIVATE_H

#include <stdint.h>
#include <stdio.h>

#include "dlut/image.h"

typedef struct dlut__decoded {
  dlut_image *img; /* the decoded raster (owned until handed over) */
  uint8_t *icc;    /* embedded ICC profile or NULL (malloc'd, owned) */
  size_t icc_size; /* bytes in icc */
  int orientation; /* 1..8 from the container (TIFF tag), 0 = use EXIF */
  int icc_done;    /* nonzero: the decoder already converted to sRGB (CMYK JPEG) */
} dlut__decoded;

typedef struct dlut__meta {
  const uint8_t *exif; /* EXIF (TIFF header onwards), orientation = 1, or NULL */
  size_t exif_size;
  const uint8_t *xmp; /* XMP packet or NULL */
  size_t xmp_size;
} dlut__meta;

/* Largest ICC profile, EXIF or XMP block we accept from a file. */
#define DLUT__MAX_META_BYTES ((size_t)64 << 20)

/* The current pixel cap (DLUT_IMAGE_MAX_PIXELS unless lowered). */
int64_t dlut__max_pixels(void);

/* 0 if width x height is within the caps, else -1 with a reason. Call this
 * on the header's dimensions before allocating anything. */
int dlut__check_dims(int64_t width, int64_t height);

/* Store a copy of a metadata blob into *dst and *dst_size (replacing). For
 * EXIF a leading "Exif\0\0" is dropped. 0 or -1 (no memory / too big). */
int dlut__set_blob(uint8_t **dst, size_t *dst_size, const void *src, size_t n, int is_exif);

/* dlut_image_convert through the naive per-sample reference kernel. */
dlut_image *dlut__image_convert_ref(const dlut_image *img, int channels, dlut_pixel_type type);

/* dlut_image_orient through the naive per-pixel reference kernel. */
dlut_image *dlut__image_orient_ref(const dlut_image *img, int orientation);

/* Free everything a decoder left in *d. */
void dlut__decoded_free(dlut__decoded *d);

/* Codecs (one file each). */
int dlut__ppm_load(const uint8_t *data, size_t size, dlut__decoded *out);
int dlut__png_load(const uint8_t *data, size_t size, dlut__decoded *out);
int dlut__jpeg_load(const uint8_t *data, size_t size, dlut__decoded *out);
int dlut__webp_load(const uint8_t *data, size_t size, dlut__decoded *out);
int dlut__tiff_load(const uint8_t *data, size_t size, dlut__decoded *out);

int dlut__ppm_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o);
int dlut__png_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o);

/* The encoders' stop check (o->stop, may be absent): 0 to go on, else -1 with DLUT_ERR_CANCELLED set. */
int dlut__save_stopped(const dlut_image_save_opts *o);
/* How many rows an encoder writes between two stop checks */
#define DLUT__SAVE_STOP_ROWS 64
int dlut__jpeg_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o);
int dlut__webp_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o);
int dlut__tiff_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o);

/* ICC (icc.c). Convert img in place from the profile to sRGB (RGB profiles;
 * a grey profile is applied to the R channel of an expanded grey image).
 * Leaves sRGB-equivalent profiles alone. 0 or -1. */
int dlut__icc_to_srgb(dlut_image *img, const uint8_t *icc, size_t icc_size);

/* The naive reference for the above: lcms's unoptimised floating-point
 * pipeline at every depth (slow; tests compare the fast paths with it). */
int dlut__icc_to_srgb_ref(dlut_image *img, const uint8_t *icc, size_t icc_size);

/* Convert n pixels of 8-bit CMYK (Adobe-inverted if `inverted`) to 8-bit
 * RGB with the given CMYK profile, or with the naive formula when icc is
 * NULL. 0 or -1. */
int dlut__cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t n, int inverted, const uint8_t *icc, size_t icc_size);

/* The sRGB profile we embed in the JPEGs and TIFFs we write (built once,
 * kept), or NULL with the error set when it cannot be built (no memory). */
const uint8_t *dlut__srgb_icc(size_t *size);

#endif
