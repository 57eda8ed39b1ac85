/* dlut/image.h - images in memory, and reading/writing them.
 *
 * A dlut_image is a tightly packed, interleaved RGB or RGBA raster in one of
 * three sample types: 8-bit, 16-bit (native-endian uint16) or float
 * (nominal range [0,1], values outside allowed). Rows are top to bottom,
 * `stride` = width * channels * bytes-per-sample. Colours are sRGB-encoded
 * after loading: an embedded ICC profile (e.g. Display P3) is converted to
 * sRGB on load, and EXIF orientation is applied so pixels are upright.
 *
 * Ownership: dlut_image_alloc/dlut_image_load return images the caller
 * frees with dlut_image_free. Metadata blobs (exif, xmp) are owned by the
 * image and copied by dlut_image_copy_meta.
 *
 * Limits (hostile input): width and height at most DLUT_IMAGE_MAX_DIM, and
 * width*height at most DLUT_IMAGE_MAX_PIXELS (a server or fuzzer may lower
 * it with dlut_image_set_max_pixels), checked from the file's header before
 * anything is allocated; every size computation is overflow-checked.
 * Failures return NULL / -1 with dlut_last_error() set.
 *
 * USAGE
 *     dlut_image *img = dlut_image_load("photo.jpg");      // upright, sRGB
 *     if (!img) { fprintf(stderr, "%s\n", dlut_last_error()); return 1; }
 *     dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32); // 0..1 floats
 *     ... grade f ...
 *     dlut_image_copy_meta(f, img);                          // keep EXIF/XMP
 *     dlut_image_save(f, "graded.png", NULL);               // 16-bit PNG, atomic
 *     dlut_image_free(f); dlut_image_free(img);
 *
 * FORMATS (docs/image.md has the details)
 *   load  JPEG (8-bit; grey, YCbCr, CMYK/YCCK), PNG (1..16-bit, grey,
 *         palette, alpha), WebP (still images), TIFF (8/16-bit integer and
 *         16/32-bit float RGB/RGBA/grey, strips or tiles; other layouts through
 *         libtiff's RGBA reader at 8 bits), PPM/PGM binary P6/P5 (any
 *         maxval 1..65535, rescaled to the full 8- or 16-bit range).
 *         Grey and palette images come out RGB; grey+alpha as RGBA.
 *   save  .jpg/.jpeg (8-bit, 4:4:4 at quality >= 90, sRGB ICC embedded),
 *         .png (8/16-bit, sRGB chunk), .webp (8-bit, lossy or lossless),
 *         .tif/.tiff (8/16-bit, 32-bit float for F32 images; deflate),
 *         .ppm/.pnm (P6 8/16-bit, alpha dropped).
 *   Colour: embedded ICC profiles are converted to sRGB with LittleCMS,
 *   relative colorimetric intent, at the image's own precision.
 *   Orientation: EXIF (JPEG, PNG eXIf, WebP) or the TIFF tag is applied on
 *   load; the EXIF kept on the image then says orientation 1, and savers
 *   also force 1 in what they write and unlink the EXIF thumbnail (IFD1),
 *   which would show the ungraded original.
 *   Metadata: EXIF and XMP are read from and written to JPEG, PNG, WebP
 *   and TIFF (TIFF: IFD0's descriptive strings and the EXIF IFD; GPS and
 *   Interop IFDs are not carried). Pictures that are data (Hald CLUTs)
 *   load with dlut_image_load_flags(path, DLUT_IMAGE_LOAD_RAW).
 *
 * ERRORS
 *   Messages start with the file name ("photo.jpg: truncated JPEG data").
 *   Truncated or corrupt compressed data is an error, never a grey image.
 *
 * THREADS
 *   Loading/saving different images from different threads is safe. The
 *   ICC conversion and dlut_image_convert use dlut_parallel_for.
 */
#ifndef DLUT_IMAGE_H
#define DLUT_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DLUT_IMAGE_MAX_DIM 65535
#define DLUT_IMAGE_MAX_PIXELS ((int64_t)1 << 28) /* 268 megapixels */

typedef enum dlut_pixel_type {
  DLUT_PIXEL_U8 = 1,  /* uint8_t, 0..255 */
  DLUT_PIXEL_U16 = 2, /* uint16_t, 0..65535 */
  DLUT_PIXEL_F32 = 4, /* float, nominal 0..1 */
} dlut_pixel_type;

typedef struct dlut_image {
  int width;            /* pixels */
  int height;           /* pixels */
  int channels;         /* 3 (RGB) or 4 (RGBA; alpha is carried through untouched) */
  dlut_pixel_type type; /* sample type; also the number of bytes per sample */
  size_t stride;        /* bytes per row */
  void *data;           /* height * stride bytes, owned */
  uint8_t *exif;        /* raw EXIF block (TIFF header onwards) or NULL; owned */
  size_t exif_size;     /* bytes in exif */
  uint8_t *xmp;         /* raw XMP packet or NULL; owned */
  size_t xmp_size;      /* bytes in xmp */
} dlut_image;

typedef enum dlut_image_format {
  DLUT_IMAGE_FORMAT_UNKNOWN = 0,
  DLUT_IMAGE_FORMAT_JPEG,
  DLUT_IMAGE_FORMAT_PNG,
  DLUT_IMAGE_FORMAT_WEBP,
  DLUT_IMAGE_FORMAT_TIFF,
  DLUT_IMAGE_FORMAT_PPM,
} dlut_image_format;

/* A new image with uninitialised pixels (NULL on bad size or no memory). */
dlut_image *dlut_image_alloc(int width, int height, int channels, dlut_pixel_type type);
void dlut_image_free(dlut_image *img);

/* Pointer to pixel (x, y). */
static inline void *dlut_image_pixel(const dlut_image *img, int x, int y) {
  return (uint8_t *)img->data + (size_t)y * img->stride + (size_t)x * (size_t)img->channels * (size_t)img->type;
}

/* A copy converted to another sample type and/or channel count (3 <-> 4;
 * dropping alpha discards it, adding it sets it opaque). Rounds to nearest
 * and clamps when narrowing. Metadata is copied. */
dlut_image *dlut_image_convert(const dlut_image *img, int channels, dlut_pixel_type type);

/* Copy exif/xmp from src to dst (replacing dst's). */
int dlut_image_copy_meta(dlut_image *dst, const dlut_image *src);

/* Format from the file name's extension (.jpg .jpeg .png .webp .tif .tiff
 * .ppm .pnm), or UNKNOWN. */
dlut_image_format dlut_image_format_from_path(const char *path);

/* Load an image (format sniffed from content). 8-bit sources load as U8,
 * 16-bit sources as U16; float TIFF as F32. */
dlut_image *dlut_image_load(const char *path);
dlut_image *dlut_image_load_memory(const void *data, size_t size, const char *name_for_errors);

/* Save options; zero-initialise for defaults. */
typedef struct dlut_image_save_opts {
  int quality;    /* JPEG/WebP quality 1..100; 0 = default (95) */
  int lossless;   /* WebP: nonzero for lossless */
  int strip_meta; /* nonzero: write no EXIF/XMP even if the image has them */
  int fast;       /* faster, larger: JPEG with standard Huffman tables instead of optimised ones (the
                     same pixels, ~10% larger at quality 95, half the time), PNG at zlib level 1
                     instead of 3 (previews, LUT strips) */
  /* Asked every few rows while a JPEG, PNG or TIFF is encoded (WebP: at libwebp's progress steps); nonzero
   * stops the save: -1 with DLUT_ERR_CANCELLED, nothing written at the path. NULL = never stop. A large
   * photo takes seconds to encode, and a Ctrl-C or a job's time limit should not wait for it. */
  int (*stop)(void *user);
  void *stop_user;
} dlut_image_save_opts;

/* Save atomically, format from the extension. U16 images keep 16 bits in
 * PNG, TIFF and PPM; JPEG and WebP are 8-bit only (rounded). F32 stays
 * 32-bit float in TIFF (values outside 0..1 kept: a float TIFF in, a float
 * TIFF out), else it is saved as 16-bit where the format allows, else
 * 8-bit; for a 16-bit integer TIFF of an F32 image, dlut_image_convert it to
 * U16 first. Metadata is kept where the format allows. opts may be NULL. */
int dlut_image_save(const dlut_image *img, const char *path, const dlut_image_save_opts *opts);

/* ---- Extras (added by the image module) ---- */

/* Encode to a malloc'd buffer (*data, *size; caller frees) instead of a
 * file, e.g. for an HTTP response; same conversions and metadata as
 * dlut_image_save. 0 or -1 (then *data is NULL). */
int dlut_image_save_memory(const dlut_image *img, dlut_image_format format, const dlut_image_save_opts *opts,
                           uint8_t **data, size_t *size);

/* Load flags for pictures that are data rather than photos (Hald CLUT
 * PNGs, masks, test patterns): skip the ICC -> sRGB conversion and/or the
 * EXIF orientation. dlut_image_load*() use 0 (both applied). The EXIF
 * block is kept unchanged when orientation is not applied. */
enum {
  DLUT_IMAGE_LOAD_NO_ICC = 1,    /* keep the stored code values, ignore an embedded profile */
  DLUT_IMAGE_LOAD_NO_ORIENT = 2, /* keep the stored row/column order */
  DLUT_IMAGE_LOAD_RAW = 3,       /* both */
};
dlut_image *dlut_image_load_flags(const char *path, unsigned flags);
dlut_image *dlut_image_load_memory_flags(const void *data, size_t size, const char *name_for_errors, unsigned flags);

/* An image's width and height from its header alone (nothing decoded, no
 * allocation), checked against the pixel caps: 0, or -1 with DLUT_ERR_INPUT
 * (broken or truncated header), DLUT_ERR_TOO_LARGE (over the caps) or
 * DLUT_ERR_UNSUPPORTED (not an image). A header that cannot tell (BigTIFF)
 * gives 0 x 0: the decoder checks it then. width/height may be NULL. */
int dlut_image_probe(const void *data, size_t size, int *width, int *height);

/* As dlut_image_probe, but the size as dlut_image_load*() gives it: with
 * the EXIF orientation applied (5..8 swap width and height), the
 * orientation read where the loaders read it (JPEG APP1 Exif, PNG eXIf,
 * WebP EXIF, TIFF tag 274). A photo stored 64x48 with orientation 6 is
 * 48x64 here. */
int dlut_image_probe_upright(const void *data, size_t size, int *width, int *height);

/* A cheap structural check that an image file is whole, for a service that
 * refuses a broken upload before it queues it (no pixel is decoded; one
 * pass over the bytes at most): JPEG: its segments up to the first scan,
 * then an end-of-image marker after it (a trailer after it is allowed);
 * PNG: its chunks up to IEND, with image data; WebP: the RIFF size within
 * the data, and not animated (DLUT_ERR_UNSUPPORTED: the decoder reads one
 * still image). TIFF and PPM: 0 (nothing cheap tells; the decoder checks).
 * 0, or -1 with DLUT_ERR_INPUT naming what is missing. Stricter than the
 * decoder in one rare case: a one-scan baseline JPEG whose scan is whole
 * but whose two-byte end marker is missing decodes, yet fails here. */
int dlut_image_check_whole(const void *data, size_t size);

/* Format from the first bytes of a file (magic numbers), or UNKNOWN. */
dlut_image_format dlut_image_format_sniff(const void *data, size_t size);

/* Lower the pixel cap for this process (servers, fuzzers): loads of images
 * with more than max_pixels pixels fail before allocating. max_pixels <= 0
 * or above DLUT_IMAGE_MAX_PIXELS restores DLUT_IMAGE_MAX_PIXELS. */
void dlut_image_set_max_pixels(int64_t max_pixels);

/* A copy transformed as EXIF orientation `orientation` (1..8) says, i.e.
 * the upright version of an image stored that way (5..8 swap width and
 * height). Metadata is copied unchanged. NULL on error. */
dlut_image *dlut_image_orient(const dlut_image *img, int orientation);

/* The orientation tag (1..8) of an EXIF block (TIFF header onwards, or
 * with a leading "Exif\0\0"), or 0 if it has none or is malformed. */
int dlut_image_exif_orientation(const uint8_t *exif, size_t size);

/* Set the orientation tag of an EXIF block in place (the tag must exist).
 * Returns 0 if it was found and set, -1 if not. */
int dlut_image_exif_set_orientation(uint8_t *exif, size_t size, int orientation);

#ifdef __cplusplus
}
#endif
#endif
