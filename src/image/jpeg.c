/* JPEG through libjpeg-turbo (libjpeg 6b API, ITU T.81 / JFIF / Exif).
 *
 * Load: 8-bit baseline, extended and progressive JPEGs; grey and YCbCr come
 * out RGB (libjpeg-turbo converts grey -> RGB itself); CMYK/YCCK come out
 * RGB through their ICC profile with LittleCMS, or the naive formula when
 * untagged (Adobe APP14 files store inverted CMYK; see icc.c). Metadata:
 * APP1 "Exif\0\0" (orientation applied by image.c), APP1 XMP
 * ("http://ns.adobe.com/xap/1.0/\0"), APP2 ICC_PROFILE reassembled from its
 * chunks by jpeg_read_icc_profile (ICC.1:2010 annex B.4).
 *
 * Hostile input: libjpeg reports fatal errors through error_exit, which
 * longjmps back here; dimensions are checked after jpeg_read_header and
 * before anything large is allocated; a progress monitor stops files with
 * absurd numbers of progressive scans (a known CPU bomb: libjpeg-turbo's
 * own TurboJPEG API caps scans the same way). Truncated data is an ERROR:
 * libjpeg only warns ("Premature end of JPEG file") and pads the rest with
 * grey, which would silently grade a broken photo, so those two warnings
 * (JWRN_JPEG_EOF, JWRN_HIT_MARKER) are turned into failures, except the
 * one harmless case: a single-scan sequential file that lacks only its EOI
 * marker (see on_message). Other warnings (extraneous bytes before a
 * marker, ...) are tolerated.
 *
 * Save: 8-bit RGB, quality 1..100, 4:4:4 chroma at quality >= 90 (colour
 * edges matter after grading; libjpeg's default is 4:2:0), optimised
 * Huffman tables, an embedded sRGB ICC profile, and Exif/XMP APP1 markers
 * when the image carries them and they fit a marker (64 KB). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "dlut/error.h"
#include "image/image_private.h"

#define MAX_SCANS 1000

typedef struct {
  struct jpeg_error_mgr pub; /* libjpeg's part; must be first */
  jmp_buf jb;                /* where error_exit returns to */
  char msg[JMSG_LENGTH_MAX]; /* the reason */
} jerr;

static void on_error_exit(j_common_ptr c) {
  jerr *e = (jerr *)c->err;
  c->err->format_message(c, e->msg);
  longjmp(e->jb, 1);
}

/* The error after on_error_exit's longjmp. libjpeg's memory manager (and
 * our code below) stops with JERR_OUT_OF_MEMORY, whose text carries a
 * "case" number of no use to a user. */
static int jpeg_failed(j_common_ptr c, const char *what) {
  const jerr *e = (const jerr *)c->err;
  if (c->err->msg_code == JERR_OUT_OF_MEMORY) return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", what);
  return dlut_error("%s", e->msg[0] ? e->msg : what);
}

static void on_message(j_common_ptr c, int level) {
  jerr *e = (jerr *)c->err;
  if (level < 0) { /* a warning */
    int code = c->err->msg_code;
    /* JWRN_HIT_MARKER: the entropy decoder needed bits that are not there.
     * JWRN_JPEG_EOF alone: the data ended; harmless only when the file is
     * one interleaved sequential scan whose bits were all there (just the
     * EOI marker missing, which the decoder's read-ahead reports). A
     * progressive or multi-scan file cut between scans would decode
     * "successfully" with scans missing, so there it is an error too. */
    int fatal = code == JWRN_HIT_MARKER, multi = 0;
    if (code == JWRN_JPEG_EOF && c->is_decompressor) {
      j_decompress_ptr d = (j_decompress_ptr)c;
      multi = d->progressive_mode || d->comps_in_scan != d->num_components;
      fatal = multi;
    }
    if (fatal) {
      snprintf(e->msg, sizeof e->msg, "%s",
               multi ? "truncated JPEG data (the file ends without its end marker, and for a progressive or "
                       "multi-scan JPEG that cannot be told from one cut between scans)"
                     : "truncated JPEG data");
      longjmp(e->jb, 1);
    }
    c->err->num_warnings++;
  }
}

static void on_progress(j_common_ptr c) {
  if (!c->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)c;
  if (d->input_scan_number > MAX_SCANS) {
    jerr *e = (jerr *)c->err;
    snprintf(e->msg, sizeof e->msg, "JPEG has more than %d scans", MAX_SCANS);
    longjmp(e->jb, 1);
  }
}

static const char XMP_ID[] = "http://ns.adobe.com/xap/1.0/"; /* + NUL: 29 bytes */

int dlut__jpeg_load(const uint8_t *data, size_t size, dlut__decoded *out) {
  struct jpeg_decompress_struct cinfo;
  jerr err;
  struct jpeg_progress_mgr prog;
  uint8_t *volatile cmyk = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_message;
  err.msg[0] = '\0';
  if (setjmp(err.jb)) {
    jpeg_failed((j_common_ptr)&cinfo, "corrupt JPEG");
    goto fail;
  }
  jpeg_create_decompress(&cinfo);
  prog.progress_monitor = on_progress;
  cinfo.progress = &prog;
  if (size > (unsigned long)-1) {
    dlut_error("JPEG too large");
    goto fail;
  }
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (dlut__check_dims(cinfo.image_width, cinfo.image_height) != 0) goto fail;
  /* Decompression bomb check: with Huffman coding every 8x8 block of the
   * first (or only) scan costs at least one bit (its DC difference symbol,
   * ITU T.81 F.1.2.1), so a file smaller than pixels/64/8 bytes cannot hold
   * the image it declares; refuse it before libjpeg allocates (a tiny
   * progressive header asks for whole-image coefficient buffers).
   * Arithmetic coding can go below a bit per block, so it is exempt. */
  if (!cinfo.arith_code && (uint64_t)size * 1024 < (uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height) {
    dlut_error("truncated JPEG data (%zu bytes cannot hold a %ux%u image)", size, cinfo.image_width,
               cinfo.image_height);
    goto fail;
  }
  int is_cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  if (is_cmyk) {
    cinfo.out_color_space = JCS_CMYK;
  } else if (cinfo.jpeg_color_space == JCS_GRAYSCALE || cinfo.jpeg_color_space == JCS_YCbCr ||
             cinfo.jpeg_color_space == JCS_RGB) {
    cinfo.out_color_space = JCS_RGB;
  } else {
    dlut_error("unsupported JPEG colour space (%d components)", cinfo.num_components);
    goto fail;
  }
  /* Metadata: first Exif and first XMP APP1; the ICC profile from APP2. */
  out->img = dlut_image_alloc((int)cinfo.image_width, (int)cinfo.image_height, 3, DLUT_PIXEL_U8);
  if (!out->img) goto fail;
  dlut_image *img = out->img;
  for (jpeg_saved_marker_ptr mk = cinfo.marker_list; mk; mk = mk->next) {
    if (mk->marker != JPEG_APP0 + 1) continue;
    if (!img->exif && mk->data_length > 6 && !memcmp(mk->data, "Exif\0\0", 6)) {
      if (dlut__set_blob(&img->exif, &img->exif_size, mk->data, mk->data_length, 1) != 0) goto fail;
    } else if (!img->xmp && mk->data_length > sizeof XMP_ID && !memcmp(mk->data, XMP_ID, sizeof XMP_ID)) {
      if (dlut__set_blob(&img->xmp, &img->xmp_size, mk->data + sizeof XMP_ID, mk->data_length - sizeof XMP_ID, 0) != 0)
        goto fail;
    }
  }
  /* jpeg_read_icc_profile mallocs; nothing between it and free() can longjmp. */
  JOCTET *icc = NULL;
  unsigned int icc_len = 0;
  if (jpeg_read_icc_profile(&cinfo, &icc, &icc_len) && icc && icc_len > 0) {
    out->icc = malloc(icc_len);
    if (out->icc) memcpy(out->icc, icc, icc_len);
    out->icc_size = out->icc ? icc_len : 0;
  }
  free(icc);
  if (icc_len > 0 && !out->icc) {
    dlut_error("out of memory");
    goto fail;
  }
  jpeg_start_decompress(&cinfo);
  if (cinfo.output_width != (JDIMENSION)img->width || cinfo.output_height != (JDIMENSION)img->height ||
      cinfo.output_components != (is_cmyk ? 4 : 3)) {
    dlut_error("unexpected JPEG output layout");
    goto fail;
  }
  size_t cmyk_stride = (size_t)img->width * 4;
  if (is_cmyk) {
    cmyk = malloc(cmyk_stride * (size_t)img->height);
    if (!cmyk) {
      dlut_error("out of memory");
      goto fail;
    }
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW rows[16];
    int k = 0;
    for (; k < 16 && cinfo.output_scanline + (JDIMENSION)k < cinfo.output_height; k++) {
      size_t y = cinfo.output_scanline + (size_t)k;
      rows[k] = is_cmyk ? cmyk + y * cmyk_stride : (JSAMPROW)img->data + y * img->stride;
    }
    if (jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)k) == 0) {
      dlut_error("truncated JPEG data");
      goto fail;
    }
  }
  jpeg_finish_decompress(&cinfo);
  if (is_cmyk) {
    if (dlut__cmyk_to_rgb(cmyk, img->data, (size_t)img->width * (size_t)img->height, cinfo.saw_Adobe_marker, out->icc,
                          out->icc_size) != 0)
      goto fail;
    out->icc_done = 1; /* the CMYK profile has been applied; image.c must not apply it again */
    free(cmyk);
  }
  jpeg_destroy_decompress(&cinfo);
  return 0;
fail:
  free(cmyk);
  jpeg_destroy_decompress(&cinfo);
  dlut__decoded_free(out);
  return -1;
}

/* ==== Save ==== */

int dlut__jpeg_save(const dlut_image *img, FILE *fp, const dlut__meta *m, const dlut_image_save_opts *o) {
  struct jpeg_compress_struct cinfo;
  jerr err;
  uint8_t *volatile buf = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_message;
  err.msg[0] = '\0';
  if (setjmp(err.jb)) {
    free(buf);
    jpeg_failed((j_common_ptr)&cinfo, "JPEG write");
    jpeg_destroy_compress(&cinfo);
    return -1;
  }
  if (img->type != DLUT_PIXEL_U8 || img->channels != 3) return dlut_error("JPEG writer needs RGB U8");
  size_t icc_n = 0;
  const uint8_t *icc = dlut__srgb_icc(&icc_n);
  if (!icc) return -1;
  jpeg_create_compress(&cinfo);
  jpeg_stdio_dest(&cinfo, fp);
  cinfo.image_width = (JDIMENSION)img->width;
  cinfo.image_height = (JDIMENSION)img->height;
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, o->quality, TRUE);
  if (o->quality >= 90) cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = 1;
  cinfo.optimize_coding = o->fast ? FALSE : TRUE;
  /* Exif (CIPA DC-008 4.5.4) wants its APP1 right after SOI, in place of JFIF's APP0. */
  const size_t max_payload = 65533;
  int has_exif = m->exif && m->exif_size > 0 && m->exif_size + 6 <= max_payload;
  if (has_exif) cinfo.write_JFIF_header = FALSE;
  jpeg_start_compress(&cinfo, TRUE);
  if (has_exif) {
    buf = malloc(m->exif_size + 6);
    if (!buf) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    memcpy(buf, "Exif\0\0", 6);
    memcpy(buf + 6, m->exif, m->exif_size);
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, buf, (unsigned)(m->exif_size + 6));
    free(buf);
    buf = NULL;
  }
  if (m->xmp && m->xmp_size > 0 && m->xmp_size + sizeof XMP_ID <= max_payload) {
    buf = malloc(m->xmp_size + sizeof XMP_ID);
    if (!buf) ERREXIT1(&cinfo, JERR_OUT_OF_MEMORY, 0);
    memcpy(buf, XMP_ID, sizeof XMP_ID);
    memcpy(buf + sizeof XMP_ID, m->xmp, m->xmp_size);
    jpeg_write_marker(&cinfo, JPEG_APP0 + 1, buf, (unsigned)(m->xmp_size + sizeof XMP_ID));
    free(buf);
    buf = NULL;
  }
  jpeg_write_icc_profile(&cinfo, icc, (unsigned)icc_n);
  while (cinfo.next_scanline < cinfo.image_height) {
    if (cinfo.next_scanline % DLUT__SAVE_STOP_ROWS == 0 && dlut__save_stopped(o) != 0) {
      jpeg_destroy_compress(&cinfo); /* (an abort: nothing more is written) */
      return -1;
    }
    JSAMPROW row = (JSAMPROW)img->data + (size_t)cinfo.next_scanline * img->stride;
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return 0;
}
