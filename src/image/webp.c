/* WebP through libwebp (decoder/encoder) and libwebpmux/libwebpdemux
 * (the RIFF container: ICCP, EXIF and XMP chunks), after the WebP
 * container specification (developers.google.com/speed/webp/docs/riff_container).
 *
 * Load: still images, lossy or lossless, with or without alpha; 8-bit
 * RGB(A). Animated WebPs are refused (which frame would one grade?). The
 * demuxer validates the whole container first, so a truncated file fails
 * there; the canvas size is checked against the caps before decoding,
 * and the decoder writes straight into our buffer (external memory), so
 * libwebp allocates no second copy of the pixels.
 *
 * Save: lossy (quality 1..100, sharp RGB->YUV at quality >= 90) or
 * lossless ("exact": RGB under transparent pixels is kept). EXIF and XMP
 * are added as chunks with WebPMux. WebP cannot store more than 16383
 * pixels per side. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "dlut/error.h"
#include "image/image_private.h"

static const char *vp8_status(VP8StatusCode s) {
  switch (s) {
    case VP8_STATUS_OUT_OF_MEMORY:
      return "out of memory";
    case VP8_STATUS_INVALID_PARAM:
      return "invalid parameter";
    case VP8_STATUS_BITSTREAM_ERROR:
      return "corrupt WebP bitstream";
    case VP8_STATUS_UNSUPPORTED_FEATURE:
      return "unsupported WebP feature";
    case VP8_STATUS_SUSPENDED:
      return "suspended";
    case VP8_STATUS_USER_ABORT:
      return "aborted";
    case VP8_STATUS_NOT_ENOUGH_DATA:
      return "truncated WebP data";
    default:
      return "WebP decoding failed";
  }
}

static int get_chunk(WebPDemuxer *dmx, const char fourcc[4], uint8_t **dst, size_t *dst_n, int is_exif) {
  WebPChunkIterator it;
  int rc = 0;
  if (WebPDemuxGetChunk(dmx, fourcc, 1, &it)) {
    rc = dlut__set_blob(dst, dst_n, it.chunk.bytes, it.chunk.size, is_exif);
    WebPDemuxReleaseChunkIterator(&it);
  }
  return rc;
}

int dlut__webp_load(const uint8_t *data, size_t size, dlut__decoded *out) {
  WebPData wd = {data, size};
  WebPDemuxer *dmx = WebPDemux(&wd); /* NULL for a truncated file too: partial files are not allowed */
  WebPIterator iter;
  int have_iter = 0;
  if (!dmx) return dlut_error("truncated or invalid WebP data");
  uint32_t flags = WebPDemuxGetI(dmx, WEBP_FF_FORMAT_FLAGS);
  if (flags & ANIMATION_FLAG) {
    dlut_error("animated WebP is not supported");
    goto fail;
  }
  uint32_t w = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_WIDTH), h = WebPDemuxGetI(dmx, WEBP_FF_CANVAS_HEIGHT);
  if (dlut__check_dims(w, h) != 0) goto fail;
  if (!WebPDemuxGetFrame(dmx, 1, &iter)) {
    dlut_error("WebP has no image");
    goto fail;
  }
  have_iter = 1;
  WebPBitstreamFeatures feat;
  VP8StatusCode st = WebPGetFeatures(iter.fragment.bytes, iter.fragment.size, &feat);
  if (st != VP8_STATUS_OK) {
    dlut_error("%s", vp8_status(st));
    goto fail;
  }
  if ((uint32_t)feat.width != w || (uint32_t)feat.height != h) {
    dlut_error("WebP frame size %dx%d differs from the canvas %ux%u", feat.width, feat.height, w, h);
    goto fail;
  }
  int ch = feat.has_alpha ? 4 : 3;
  out->img = dlut_image_alloc((int)w, (int)h, ch, DLUT_PIXEL_U8);
  if (!out->img) goto fail;
  dlut_image *img = out->img;
  WebPDecoderConfig cfg;
  if (!WebPInitDecoderConfig(&cfg)) {
    dlut_error("libwebp version mismatch");
    goto fail;
  }
  cfg.options.use_threads = 1; /* libwebp's second thread for lossy filtering */
  cfg.output.colorspace = ch == 4 ? MODE_RGBA : MODE_RGB;
  cfg.output.is_external_memory = 1;
  cfg.output.u.RGBA.rgba = img->data;
  cfg.output.u.RGBA.stride = (int)img->stride;
  cfg.output.u.RGBA.size = img->stride * (size_t)img->height;
  st = WebPDecode(iter.fragment.bytes, iter.fragment.size, &cfg);
  WebPFreeDecBuffer(&cfg.output);
  if (st != VP8_STATUS_OK) {
    dlut_error("%s", vp8_status(st));
    goto fail;
  }
  if (get_chunk(dmx, "EXIF", &img->exif, &img->exif_size, 1) != 0 ||
      get_chunk(dmx, "XMP ", &img->xmp, &img->xmp_size, 0) != 0 ||
      get_chunk(dmx, "ICCP", &out->icc, &out->icc_size, 0) != 0)
    goto fail;
  WebPDemuxReleaseIterator(&iter);
  WebPDemuxDelete(dmx);
  return 0;
fail:
  if (have_iter) WebPDemuxReleaseIterator(&iter);
  WebPDemuxDelete(dmx);
  dlut__decoded_free(out);
  return -1;
}

/* ==== Save ==== */

static const char *enc_error(WebPEncodingError e) {
  switch (e) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY:
      return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION:
      return "bad dimensions for WebP";
    case VP8_ENC_ERROR_FILE_TOO_BIG:
      return "image too big for WebP (4 GB)";
    default:
      return "WebP encoding failed";
  }
}

/* libwebp's progress hook: 0 aborts the encode (o->stop said stop) */
static int on_progress(int percent, const WebPPicture *pic) {
  (void)percent;
  const dlut_image_save_opts *o = pic->user_data;
  return !(o && o->stop && o->stop(o->stop_user));
}

int dlut__webp_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o) {
  if (img->type != DLUT_PIXEL_U8) return dlut_error("WebP writer needs U8");
  if (img->width > WEBP_MAX_DIMENSION || img->height > WEBP_MAX_DIMENSION)
    return dlut_error("WebP cannot store %dx%d (at most %d pixels per side)", img->width, img->height,
                      WEBP_MAX_DIMENSION);
  int rc = -1;
  WebPConfig cfg;
  WebPPicture pic;
  WebPMemoryWriter wr;
  WebPMux *mux = NULL;
  WebPData assembled = {NULL, 0};
  WebPMemoryWriterInit(&wr);
  if (!WebPConfigInit(&cfg) || !WebPPictureInit(&pic)) return dlut_error("libwebp version mismatch");
  cfg.quality = (float)o->quality;
  cfg.method = 4;
  cfg.thread_level = 1; /* libwebp may use a second thread */
  if (o->lossless) {
    cfg.lossless = 1;
    cfg.exact = 1;
  } else if (o->quality >= 90) {
    cfg.use_sharp_yuv = 1;
  }
  pic.use_argb = cfg.lossless;
  pic.width = img->width;
  pic.height = img->height;
  int ok = img->channels == 4 ? WebPPictureImportRGBA(&pic, img->data, (int)img->stride)
                              : WebPPictureImportRGB(&pic, img->data, (int)img->stride);
  if (!ok) {
    dlut_error("out of memory");
    goto done;
  }
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &wr;
  if (o->stop) {
    pic.progress_hook = on_progress;
    pic.user_data = (void *)o;
  }
  if (!WebPEncode(&cfg, &pic)) {
    if (pic.error_code == VP8_ENC_ERROR_USER_ABORT)
      dlut_errorc(DLUT_ERR_CANCELLED, "cancelled while writing");
    else
      dlut_error("%s", enc_error(pic.error_code));
    goto done;
  }
  const uint8_t *bytes = wr.mem;
  size_t n = wr.size;
  if ((m->exif && m->exif_size) || (m->xmp && m->xmp_size)) {
    WebPData bits = {wr.mem, wr.size};
    mux = WebPMuxCreate(&bits, 0);
    if (!mux) {
      dlut_error("WebP mux failed");
      goto done;
    }
    WebPData ex = {m->exif, m->exif_size}, xm = {m->xmp, m->xmp_size};
    if ((m->exif && m->exif_size && WebPMuxSetChunk(mux, "EXIF", &ex, 0) != WEBP_MUX_OK) ||
        (m->xmp && m->xmp_size && WebPMuxSetChunk(mux, "XMP ", &xm, 0) != WEBP_MUX_OK) ||
        WebPMuxAssemble(mux, &assembled) != WEBP_MUX_OK) {
      dlut_error("WebP mux failed");
      goto done;
    }
    bytes = assembled.bytes;
    n = assembled.size;
  }
  if (fwrite(bytes, 1, n, fp) != n) {
    dlut_error("write failed");
    goto done;
  }
  rc = 0;
done:
  WebPDataClear(&assembled);
  WebPMuxDelete(mux);
  WebPMemoryWriterClear(&wr);
  WebPPictureFree(&pic);
  return rc;
}
