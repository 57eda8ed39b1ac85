/* dlut_image_probe against the decoders: the size read from the header
 * alone equals the decoded size, for the real photos and for every format
 * we write (PNG 8/16, JPEG, WebP, TIFF, PPM); broken, truncated and
 * oversized headers fail with the right code before anything is decoded.
 * dlut_image_check_whole: every such file is whole, and cut past its
 * header (JPEG, PNG, WebP) it is not, where the decoder fails too. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "test.h"

/* dlut_image_probe_upright equals the decoder with the orientation applied */
static void upright_as_decoder(const void *data, size_t n, const char *what) {
  int w = -1, h = -1;
  int rc = dlut_image_probe_upright(data, n, &w, &h);
  dlut_image *img = dlut_image_load_memory(data, n, what);
  CHECK_MSG(rc == 0 && img && img->width == w && img->height == h, "%s: upright probe %dx%d, decoder %dx%d (%s)", what,
            w, h, img ? img->width : -1, img ? img->height : -1, dlut_last_error());
  dlut_image_free(img);
}

static void same_as_decoder(const void *data, size_t n, const char *what) {
  int w = -1, h = -1;
  int rc = dlut_image_probe(data, n, &w, &h);
  dlut_image *img = dlut_image_load_memory_flags(data, n, what, DLUT_IMAGE_LOAD_NO_ORIENT);
  CHECK_MSG(rc == 0 && img && img->width == w && img->height == h, "%s: probe %dx%d, decoder %dx%d (%s)", what, w, h,
            img ? img->width : -1, img ? img->height : -1, dlut_last_error());
  dlut_image_free(img);
  CHECK_MSG(dlut_image_check_whole(data, n) == 0, "%s: whole, yet check_whole says %s", what, dlut_last_error());
  /* cut anywhere past the header (the half, three quarters, all but the
   * last bytes): JPEG, PNG and WebP are found not whole, and the decoder
   * agrees (it fails too) - TIFF and PPM are the decoder's to judge */
  const dlut_image_format f = dlut_image_format_sniff(data, n);
  if (f != DLUT_IMAGE_FORMAT_JPEG && f != DLUT_IMAGE_FORMAT_PNG && f != DLUT_IMAGE_FORMAT_WEBP) return;
  const size_t cuts[] = {n / 2, n * 3 / 4, n - 100, n - 1};
  for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
    if (cuts[k] < 64 || cuts[k] >= n) continue;
    const int whole = dlut_image_check_whole(data, cuts[k]);
    CHECK_MSG(whole != 0 && dlut_last_error_code() == DLUT_ERR_INPUT, "%s cut to %zu of %zu bytes: check_whole %d",
              what, cuts[k], n, whole);
    if (cuts[k] < n - 2) { /* a one-scan JPEG without just its end marker still decodes (image.h) */
      dlut_image *cut = dlut_image_load_memory_flags(data, cuts[k], what, DLUT_IMAGE_LOAD_NO_ORIENT);
      CHECK_MSG(cut == NULL, "%s cut to %zu bytes: the decoder takes it", what, cuts[k]);
      dlut_image_free(cut);
    }
  }
}

int main(void) {
  static const char *k_photos[] = {"astronaut.png",         "chelsea.png", "coffee.png",
                                   "hubble_deep_field.jpg", "rocket.jpg",  "wood-4096.webp"};
  dlut_image *small = NULL;
  for (size_t i = 0; i < sizeof k_photos / sizeof *k_photos; i++) {
    char rel[256];
    snprintf(rel, sizeof rel, "data/photos/%s", k_photos[i]);
    size_t n = 0;
    uint8_t *d = dlut_file_read_all(test_shared(rel), 1 << 26, &n);
    CHECK(d != NULL);
    if (!d) continue;
    same_as_decoder(d, n, k_photos[i]);
    if (i == 1) small = dlut_image_load_memory(d, n, "chelsea");
    free(d);
  }
  CHECK(small != NULL);
  if (!small) return test_summary("image_probe");
  /* every format we write */
  static const dlut_image_format k_fmts[] = {DLUT_IMAGE_FORMAT_PNG, DLUT_IMAGE_FORMAT_JPEG, DLUT_IMAGE_FORMAT_WEBP,
                                             DLUT_IMAGE_FORMAT_TIFF, DLUT_IMAGE_FORMAT_PPM};
  dlut_image *wide = dlut_image_convert(small, 4, DLUT_PIXEL_U16);
  for (int k = 0; k < 2; k++)
    for (size_t f = 0; f < sizeof k_fmts / sizeof *k_fmts; f++) {
      uint8_t *d = NULL;
      size_t n = 0;
      CHECK(dlut_image_save_memory(k ? wide : small, k_fmts[f], NULL, &d, &n) == 0);
      char what[64];
      snprintf(what, sizeof what, "format %d (%s)", (int)k_fmts[f], k ? "16-bit RGBA" : "8-bit");
      same_as_decoder(d, n, what);
      /* truncated to a few bytes: the header is broken or the format unknown, never a crash */
      for (size_t cut = 0; cut < 40 && cut < n; cut += 3) {
        int w, h;
        int rc = dlut_image_probe(d, cut, &w, &h);
        CHECK(rc != 0 || (w >= 0 && h >= 0));
        if (rc != 0) CHECK(dlut_last_error_code() == DLUT_ERR_INPUT || dlut_last_error_code() == DLUT_ERR_UNSUPPORTED);
      }
      free(d);
    }
  dlut_image_free(wide);
  /* every orientation: a 60 x 40 JPEG with an APP1 Exif segment and a PNG with an eXIf chunk put in
   * by hand (our savers write orientation 1); the upright size is the decoded one, 40 x 60 for 5..8 */
  {
    uint8_t exif[26] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    dlut_image *im = dlut_image_alloc(60, 40, 3, DLUT_PIXEL_U8);
    uint8_t *jpg = NULL, *png60 = NULL;
    size_t jn = 0, pn = 0;
    CHECK(im && (memset(im->data, 128, im->stride * 40), 1) &&
          dlut_image_save_memory(im, DLUT_IMAGE_FORMAT_JPEG, NULL, &jpg, &jn) == 0 &&
          dlut_image_save_memory(im, DLUT_IMAGE_FORMAT_PNG, NULL, &png60, &pn) == 0);
    for (int o = 1; jpg && png60 && o <= 8; o++) {
      CHECK(dlut_image_exif_set_orientation(exif, sizeof exif, o) == 0);
      uint8_t *d = malloc(jn + pn + 64);
      /* JPEG: SOI, APP1 "Exif\0\0" + block, the rest */
      size_t n = 0;
      memcpy(d, jpg, 2), n = 2;
      const size_t seg = 2 + 6 + sizeof exif;
      d[n++] = 0xFF, d[n++] = 0xE1, d[n++] = (uint8_t)(seg >> 8), d[n++] = (uint8_t)seg;
      memcpy(d + n, "Exif\0\0", 6), n += 6;
      memcpy(d + n, exif, sizeof exif), n += sizeof exif;
      memcpy(d + n, jpg + 2, jn - 2), n += jn - 2;
      char what[64];
      snprintf(what, sizeof what, "JPEG, orientation %d", o);
      upright_as_decoder(d, n, what);
      int w = 0, h = 0;
      CHECK_MSG(dlut_image_probe_upright(d, n, &w, &h) == 0 && w == (o >= 5 ? 40 : 60) && h == (o >= 5 ? 60 : 40),
                "%s: %dx%d", what, w, h);
      /* PNG: signature and IHDR, an eXIf chunk (CRC over type and data), the rest */
      n = 0;
      memcpy(d, png60, 33), n = 33;
      d[n++] = 0, d[n++] = 0, d[n++] = 0, d[n++] = sizeof exif;
      memcpy(d + n, "eXIf", 4), n += 4;
      memcpy(d + n, exif, sizeof exif), n += sizeof exif;
      const uint32_t crc = (uint32_t)crc32(0, d + n - 4 - sizeof exif, 4 + sizeof exif);
      d[n++] = (uint8_t)(crc >> 24), d[n++] = (uint8_t)(crc >> 16), d[n++] = (uint8_t)(crc >> 8), d[n++] = (uint8_t)crc;
      memcpy(d + n, png60 + 33, pn - 33), n += pn - 33;
      snprintf(what, sizeof what, "PNG, orientation %d", o);
      upright_as_decoder(d, n, what);
      CHECK_MSG(dlut_image_probe_upright(d, n, &w, &h) == 0 && w == (o >= 5 ? 40 : 60) && h == (o >= 5 ? 60 : 40),
                "%s: %dx%d", what, w, h);
      free(d);
    }
    free(jpg);
    free(png60);
    dlut_image_free(im);
  }
  /* WebP: the decoder (WebPDemux) takes an EXIF chunk only when the VP8X
   * header's EXIF flag announces it, and so must the upright probe */
  {
    size_t n = 0;
    uint8_t *d = dlut_file_read_all("fuzz/corpus/fuzz_image/s_exif3.webp", 1 << 20, &n);
    CHECK(d != NULL && n > 30 && !memcmp(d + 12, "VP8X", 4));
    size_t at = 0, len = 0;
    for (size_t i = 12; d && i + 8 <= n; i += 8 + len + (len & 1)) {
      len = (size_t)d[i + 4] | (size_t)d[i + 5] << 8 | (size_t)d[i + 6] << 16 | (size_t)d[i + 7] << 24;
      if (i + 8 + len > n) break;
      if (!memcmp(d + i, "EXIF", 4)) {
        at = i + 8;
        break;
      }
    }
    CHECK(at > 0 && dlut_image_exif_set_orientation(d + at, len, 6) == 0);
    if (at > 0) {
      int w0 = 0, h0 = 0, w1 = 0, h1 = 0;
      CHECK(dlut_image_probe(d, n, &w0, &h0) == 0 && w0 != h0);
      upright_as_decoder(d, n, "WebP, orientation 6, EXIF flag set");
      CHECK(dlut_image_probe_upright(d, n, &w1, &h1) == 0 && w1 == h0 && h1 == w0);
      d[20] &= (uint8_t)~0x08; /* the chunk stays, the header no longer announces it */
      upright_as_decoder(d, n, "WebP, orientation 6, EXIF flag clear");
      CHECK(dlut_image_probe_upright(d, n, &w1, &h1) == 0 && w1 == w0 && h1 == h0);
    }
    free(d);
  }
  /* a PNG header that claims 60000 x 60000: too large, from 33 bytes */
  uint8_t png[33] = {0x89, 'P', 'N', 'G',  '\r', '\n', 0x1a, '\n', 0,    0, 0, 13, 'I', 'H', 'D',
                     'R',  0,   0,   0xEA, 0x60, 0,    0,    0xEA, 0x60, 8, 2, 0,  0,   0};
  int w, h;
  CHECK(dlut_image_probe(png, sizeof png, &w, &h) != 0 && dlut_last_error_code() == DLUT_ERR_TOO_LARGE);
  dlut_image_set_max_pixels(1000);
  CHECK(dlut_image_probe(png, sizeof png, &w, &h) != 0 && dlut_last_error_code() == DLUT_ERR_TOO_LARGE);
  dlut_image_set_max_pixels(0);
  png[18] = 0, png[19] = 0, png[22] = 0, png[23] = 0; /* 0 x 0 */
  CHECK(dlut_image_probe(png, sizeof png, &w, &h) != 0 && dlut_last_error_code() == DLUT_ERR_INPUT);
  const uint8_t jpeg_soi_only[] = {0xFF, 0xD8, 0xFF};
  CHECK(dlut_image_probe(jpeg_soi_only, sizeof jpeg_soi_only, &w, &h) != 0);
  CHECK(dlut_image_probe("hello world", 11, &w, &h) != 0 && dlut_last_error_code() == DLUT_ERR_UNSUPPORTED);
  CHECK(dlut_image_probe(NULL, 0, &w, &h) != 0);
  CHECK(dlut_image_probe("P6\n# c\n 12  7\n255\n", 18, &w, &h) == 0 && w == 12 && h == 7);
  CHECK(dlut_image_check_whole("hello world", 11) != 0 && dlut_last_error_code() == DLUT_ERR_UNSUPPORTED);
  CHECK(dlut_image_check_whole(NULL, 0) != 0);
  CHECK(dlut_image_check_whole(jpeg_soi_only, sizeof jpeg_soi_only) != 0);
  /* a JPEG with a trailer after its end marker is whole; an end marker before any scan is not */
  const uint8_t eoi_early[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xD9, 0xFF, 0xD9};
  CHECK(dlut_image_check_whole(eoi_early, sizeof eoi_early) != 0 && dlut_last_error_code() == DLUT_ERR_INPUT);
  dlut_image_free(small);
  return test_summary("image_probe");
}
