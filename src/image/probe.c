/* dlut_image_probe: an image's size from its header alone, so a server can
 * refuse a 146 kB PNG that claims 7071 x 7071 pixels before anything is
 * decoded. Each format's header is read as its specification lays it out:
 * PNG IHDR (ISO/IEC 15948 section 11.2.2), JPEG SOFn frame headers (ITU-T
 * T.81 B.2.2), WebP through libwebp's own header parser, TIFF IFD0
 * ImageWidth/ImageLength (TIFF 6.0 section 2 and 3), and the PNM header.
 * dlut_image_probe_upright also finds the EXIF orientation where the
 * loaders take it from (JPEG APP1 "Exif", PNG eXIf, the WebP EXIF chunk,
 * the TIFF Orientation tag), so the size it gives is the decoded one. */
#include <string.h>
#include <webp/decode.h>

#include "dlut/error.h"
#include "dlut/image.h"
#include "image/image_private.h"

static uint32_t be16(const uint8_t *p) {
  return (uint32_t)p[0] << 8 | p[1];
}
static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int probe_png(const uint8_t *d, size_t n, int64_t *w, int64_t *h) {
  if (n < 24 || memcmp(d + 12, "IHDR", 4)) return dlut_errorc(DLUT_ERR_INPUT, "PNG without its IHDR header");
  *w = be32(d + 16);
  *h = be32(d + 20);
  return 0;
}

/* One step through a JPEG's marker segments (T.81 B.1.1), from *i: fill
 * bytes and the markers that have no length (SOI, RSTn, TEM) are passed
 * over, and the next marker found at *i, with the length field after it in
 * *len (unchecked; 0 for EOI). Returns 1 for a marker, 0 when fewer than 4
 * bytes are left, -1 for a byte at *i that is not a marker. The three
 * walkers below (size, orientation, whole) share it. */
static int jpeg_marker(const uint8_t *d, size_t n, size_t *i, uint8_t *m, size_t *len) {
  while (*i + 4 <= n) {
    if (d[*i] != 0xFF) return -1;
    const uint8_t c = d[*i + 1];
    if (c == 0xFF) { /* fill byte */
      (*i)++;
      continue;
    }
    if (c == 0xD8 || (c >= 0xD0 && c <= 0xD7) || c == 0x01) { /* markers without a length */
      *i += 2;
      continue;
    }
    *m = c;
    *len = c == 0xD9 ? 0 : be16(d + *i + 2);
    return 1;
  }
  return 0;
}

static int probe_jpeg(const uint8_t *d, size_t n, int64_t *w, int64_t *h) {
  size_t i = 2, len;
  uint8_t m;
  int r;
  while ((r = jpeg_marker(d, n, &i, &m, &len)) > 0) {
    if (m == 0xD9 || m == 0xDA) break; /* end of image / start of scan before any frame header */
    if (len < 2) return dlut_errorc(DLUT_ERR_INPUT, "JPEG with a broken segment length");
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
      if (i + 9 > n) break;
      *h = be16(d + i + 5);
      *w = be16(d + i + 7);
      return 0;
    }
    i += 2 + len;
  }
  if (r < 0) return dlut_errorc(DLUT_ERR_INPUT, "JPEG with a broken marker");
  return dlut_errorc(DLUT_ERR_INPUT, "JPEG without a frame header (truncated?)");
}

static int probe_webp(const uint8_t *d, size_t n, int64_t *w, int64_t *h) {
  int ww = 0, hh = 0;
  if (!WebPGetInfo(d, n, &ww, &hh)) return dlut_errorc(DLUT_ERR_INPUT, "WebP with a broken header");
  *w = ww;
  *h = hh;
  return 0;
}

static int probe_tiff(const uint8_t *d, size_t n, int64_t *w, int64_t *h) {
  if (n < 8) return dlut_errorc(DLUT_ERR_INPUT, "truncated TIFF header");
  const int le = d[0] == 'I';
  const uint16_t magic = le ? (uint16_t)(d[2] | d[3] << 8) : (uint16_t)be16(d + 2);
  if (magic != 42) { /* BigTIFF (43) and others: the decoder checks them */
    *w = *h = 0;
    return 1;
  }
#define U16(p) (le ? (uint32_t)((p)[0] | (p)[1] << 8) : be16(p))
#define U32(p) (le ? (uint32_t)((p)[0] | (p)[1] << 8 | (p)[2] << 16 | (uint32_t)(p)[3] << 24) : be32(p))
  const uint32_t off = U32(d + 4);
  if ((size_t)off + 2 > n) return dlut_errorc(DLUT_ERR_INPUT, "TIFF directory past the end of the file");
  const uint32_t count = U16(d + off);
  int64_t ww = -1, hh = -1;
  for (uint32_t k = 0; k < count; k++) {
    const size_t e = (size_t)off + 2 + (size_t)k * 12;
    if (e + 12 > n) return dlut_errorc(DLUT_ERR_INPUT, "truncated TIFF directory");
    const uint32_t tag = U16(d + e), type = U16(d + e + 2);
    const uint32_t v = type == 3 ? U16(d + e + 8) : U32(d + e + 8); /* SHORT or LONG */
    if (tag == 256) ww = v;
    if (tag == 257) hh = v;
  }
#undef U16
#undef U32
  if (ww < 0 || hh < 0) return dlut_errorc(DLUT_ERR_INPUT, "TIFF without ImageWidth/ImageLength");
  *w = ww;
  *h = hh;
  return 0;
}

/* P5/P6 (and P2/P3) WIDTH HEIGHT MAXVAL with whitespace and # comments */
static int probe_ppm(const uint8_t *d, size_t n, int64_t *w, int64_t *h) {
  size_t i = 2;
  int64_t v[2];
  for (int k = 0; k < 2; k++) {
    for (;;) {
      while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n')) i++;
      if (i < n && d[i] == '#') {
        while (i < n && d[i] != '\n') i++;
        continue;
      }
      break;
    }
    if (i >= n || d[i] < '0' || d[i] > '9') return dlut_errorc(DLUT_ERR_INPUT, "bad PPM header");
    v[k] = 0;
    int digits = 0;
    while (i < n && d[i] >= '0' && d[i] <= '9') {
      if (++digits > 9) return dlut_errorc(DLUT_ERR_TOO_LARGE, "PPM size too large");
      v[k] = v[k] * 10 + (d[i++] - '0');
    }
  }
  *w = v[0];
  *h = v[1];
  return 0;
}

/* ==== Orientation ==== */

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The first APP1 "Exif" segment before the scan (jpeg.c keeps the first one). */
static int orient_jpeg(const uint8_t *d, size_t n) {
  size_t i = 2, len;
  uint8_t m;
  while (jpeg_marker(d, n, &i, &m, &len) > 0) {
    if (m == 0xD9 || m == 0xDA || len < 2 || i + 2 + len > n) return 0;
    if (m == 0xE1 && len > 8 && !memcmp(d + i + 4, "Exif\0\0", 6))
      return dlut_image_exif_orientation(d + i + 4, len - 2);
    i += 2 + len;
  }
  return 0;
}

/* The eXIf chunk, before or after the image data (png.c reads both places). */
static int orient_png(const uint8_t *d, size_t n) {
  size_t i = 8;
  while (i + 12 <= n) {
    const uint32_t len = be32(d + i);
    if (len > n - i - 12) return 0;
    if (!memcmp(d + i + 4, "eXIf", 4)) return dlut_image_exif_orientation(d + i + 8, len);
    if (!memcmp(d + i + 4, "IEND", 4)) return 0;
    i += 12 + (size_t)len;
  }
  return 0;
}

/* The EXIF chunk of the RIFF container, as webp.c reads it through
 * WebPDemux: only in an extended file (VP8X first) whose header's EXIF flag
 * (0x08) is set; libwebp skips an EXIF chunk the flags do not announce. */
static int orient_webp(const uint8_t *d, size_t n) {
  if (n < 21 || memcmp(d + 12, "VP8X", 4) || !(d[20] & 0x08)) return 0;
  size_t i = 12;
  while (i + 8 <= n) {
    const uint32_t len = le32(d + i + 4);
    if (len > n - i - 8) return 0;
    if (!memcmp(d + i, "EXIF", 4)) return dlut_image_exif_orientation(d + i + 8, len);
    i += 8 + (size_t)len + (len & 1);
  }
  return 0;
}

int dlut_image_probe_upright(const void *data, size_t size, int *width, int *height) {
  int w = 0, h = 0;
  if (dlut_image_probe(data, size, &w, &h) != 0) return -1;
  const uint8_t *d = data;
  int o = 0;
  switch (dlut_image_format_sniff(d, size)) {
    case DLUT_IMAGE_FORMAT_JPEG:
      o = orient_jpeg(d, size);
      break;
    case DLUT_IMAGE_FORMAT_PNG:
      o = orient_png(d, size);
      break;
    case DLUT_IMAGE_FORMAT_WEBP:
      o = orient_webp(d, size);
      break;
    case DLUT_IMAGE_FORMAT_TIFF: /* a TIFF file is itself a TIFF header and IFD0 */
      o = dlut_image_exif_orientation(d, size);
      break;
    default:
      break;
  }
  const int swap = o >= 5 && o <= 8; /* transposed orientations: rows become columns */
  if (width) *width = swap ? h : w;
  if (height) *height = swap ? w : h;
  return 0;
}

int dlut_image_probe(const void *data, size_t size, int *width, int *height) {
  const uint8_t *d = data;
  int64_t w = 0, h = 0;
  int rc;
  if (!d || !size) return dlut_errorc(DLUT_ERR_INPUT, "empty image");
  switch (dlut_image_format_sniff(d, size)) {
    case DLUT_IMAGE_FORMAT_PNG:
      rc = probe_png(d, size, &w, &h);
      break;
    case DLUT_IMAGE_FORMAT_JPEG:
      rc = probe_jpeg(d, size, &w, &h);
      break;
    case DLUT_IMAGE_FORMAT_WEBP:
      rc = probe_webp(d, size, &w, &h);
      break;
    case DLUT_IMAGE_FORMAT_TIFF:
      rc = probe_tiff(d, size, &w, &h);
      break;
    case DLUT_IMAGE_FORMAT_PPM:
      rc = probe_ppm(d, size, &w, &h);
      break;
    default:
      return dlut_errorc(DLUT_ERR_UNSUPPORTED, "not a supported image (expected JPEG, PNG, WebP, TIFF or PPM)");
  }
  if (rc < 0) return -1;
  if (rc == 0 && dlut__check_dims(w, h) != 0) return -1;
  if (width) *width = (int)w;
  if (height) *height = (int)h;
  return 0;
}

/* ==== Is the file whole? ==== */

/* The segments up to the first scan (SOS), then an end-of-image marker
 * after it: in the entropy-coded data a 0xFF byte is always followed by 0x00
 * or a restart marker (T.81 B.1.1.5), so an FF D9 there is the EOI. A
 * trailer after the EOI (a second image, maker data) is allowed. */
static int whole_jpeg(const uint8_t *d, size_t n) {
  size_t i = 2, len;
  uint8_t m;
  for (;;) {
    const int r = jpeg_marker(d, n, &i, &m, &len);
    if (r == 0) return dlut_errorc(DLUT_ERR_INPUT, "truncated JPEG (it ends before its first scan)");
    if (r < 0) return dlut_errorc(DLUT_ERR_INPUT, "JPEG with a broken marker");
    if (m == 0xD9) return dlut_errorc(DLUT_ERR_INPUT, "JPEG without a scan (no image data)");
    if (len < 2) return dlut_errorc(DLUT_ERR_INPUT, "JPEG with a broken segment length");
    i += 2 + len;
    if (m == 0xDA) break;
  }
  if (n >= 2 && d[n - 2] == 0xFF && d[n - 1] == 0xD9 && n - 2 >= i) return 0; /* the usual end */
  for (const uint8_t *p = d + i, *end = d + n; p + 1 < end; p++) {
    p = memchr(p, 0xFF, (size_t)(end - p) - 1);
    if (!p) break;
    if (p[1] == 0xD9) return 0;
  }
  return dlut_errorc(DLUT_ERR_INPUT, "truncated JPEG (no end-of-image marker after its image data)");
}

/* Chunk by chunk (length, type, data, CRC; ISO/IEC 15948 5.3) to IEND, with
 * image data before it; the CRCs are the decoder's to check. */
static int whole_png(const uint8_t *d, size_t n) {
  size_t i = 8;
  int idat = 0;
  while (i + 12 <= n) {
    const size_t len = be32(d + i);
    if (len > 0x7FFFFFFF || len > n - i - 12) break;
    if (!memcmp(d + i + 4, "IDAT", 4)) idat = 1;
    if (!memcmp(d + i + 4, "IEND", 4))
      return idat ? 0 : dlut_errorc(DLUT_ERR_INPUT, "PNG without image data (no IDAT chunk)");
    i += 12 + len;
  }
  return dlut_errorc(DLUT_ERR_INPUT, "truncated PNG (it ends before its IEND chunk)");
}

/* The RIFF container's size (bytes 4..7, little-endian, + 8) within the
 * data; one still image (the decoder reads no animation). */
static int whole_webp(const uint8_t *d, size_t n) {
  if (n < 12) return dlut_errorc(DLUT_ERR_INPUT, "truncated WebP header");
  const uint64_t riff = (uint64_t)d[4] | (uint64_t)d[5] << 8 | (uint64_t)d[6] << 16 | (uint64_t)d[7] << 24;
  if (riff + 8 > n)
    return dlut_errorc(DLUT_ERR_INPUT, "truncated WebP (%zu of the %llu bytes its header declares)", n,
                       (unsigned long long)(riff + 8));
  WebPBitstreamFeatures f;
  if (WebPGetFeatures(d, n, &f) != VP8_STATUS_OK) return dlut_errorc(DLUT_ERR_INPUT, "WebP with a broken header");
  if (f.has_animation) return dlut_errorc(DLUT_ERR_UNSUPPORTED, "animated WebP is not supported (send one frame)");
  return 0;
}

int dlut_image_check_whole(const void *data, size_t size) {
  const uint8_t *d = data;
  if (!d || !size) return dlut_errorc(DLUT_ERR_INPUT, "empty image");
  switch (dlut_image_format_sniff(d, size)) {
    case DLUT_IMAGE_FORMAT_JPEG:
      return whole_jpeg(d, size);
    case DLUT_IMAGE_FORMAT_PNG:
      return whole_png(d, size);
    case DLUT_IMAGE_FORMAT_WEBP:
      return whole_webp(d, size);
    case DLUT_IMAGE_FORMAT_TIFF:
    case DLUT_IMAGE_FORMAT_PPM:
      return 0; /* the header says nothing cheap about the end: the decoder checks */
    default:
      return dlut_errorc(DLUT_ERR_UNSUPPORTED, "not a supported image (expected JPEG, PNG, WebP, TIFF or PPM)");
  }
}
