/* src/video/video.c - a LUT over a whole video file, and frames sampled to
 * grade (dlut/video.h), on FFmpeg's libavformat/libavcodec.
 *
 * apply: demux every packet; the video stream's go through the decoder,
 * each frame is converted to float RGB (yuv.c), graded by the LUT, converted
 * back and encoded; audio and subtitle packets are written as they are
 * (stream copy, rescaled to the output's time base only). The output is a
 * temporary file opened by name (dlut_atomic's tmp_path) and renamed into
 * place after the trailer is written. The shape of the loop follows FFmpeg's
 * doc/examples/transcode.c; what is kept from the input (colour tags, side
 * data, time bases) follows what fftools/ffmpeg.c copies for a re-encoded
 * stream. FFmpeg's log goes to a callback that keeps the last error line, so
 * our one-line errors can quote the decoder's reason. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/parallel.h"
#include "dlut/video.h"
#include "video/video_internal.h"

#define VIDEO_MAX_PIXELS ((int64_t)40000000) /* per frame; 8K UHD is 33.2 MP */

/* ==== FFmpeg's log ==== */

static char g_av_msg[512]; /* the last error line FFmpeg logged (process-wide, as its callback is) */
static pthread_mutex_t g_av_mu = PTHREAD_MUTEX_INITIALIZER;

static void av_log_cb(void *avcl, int level, const char *fmt, va_list vl) {
  if (level > AV_LOG_ERROR) return; /* warnings and chatter (x264's statistics) are not ours to print */
  char line[512];
  int prefix = 0; /* no "[mov,mp4,... @ 0x...]": the message alone */
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
  if (!n) return;
  pthread_mutex_lock(&g_av_mu);
  memcpy(g_av_msg, line, n + 1);
  pthread_mutex_unlock(&g_av_mu);
}

static pthread_once_t g_log_once = PTHREAD_ONCE_INIT;
static void log_init(void) {
  av_log_set_callback(av_log_cb);
}

static void av_msg_clear(void) {
  pthread_mutex_lock(&g_av_mu);
  g_av_msg[0] = 0;
  pthread_mutex_unlock(&g_av_mu);
}

/* "PATH: WHAT (FFmpeg's reason; its last message)"; returns -1 */
static int averr(const char *path, int r, dlut_error_code code, const char *what) {
  char msg[512], why[AV_ERROR_MAX_STRING_SIZE] = "";
  pthread_mutex_lock(&g_av_mu);
  memcpy(msg, g_av_msg, sizeof msg);
  pthread_mutex_unlock(&g_av_mu);
  if (r < 0) av_strerror(r, why, sizeof why);
  if (r == AVERROR(ENOENT)) code = DLUT_ERR_NOT_FOUND;
  if (r == AVERROR(ENOMEM)) code = DLUT_ERR_NOMEM;
  if (*why && *msg) return dlut_errorc(code, "%s: %s (%s; %s)", path, what, why, msg);
  if (*why || *msg) return dlut_errorc(code, "%s: %s (%s)", path, what, *why ? why : msg);
  return dlut_errorc(code, "%s: %s", path, what);
}

/* ==== Pixel formats ==== */

/* The layout of a format this module converts directly: 3 components (no
 * alpha), 8..16 bits each, bytes or little-endian words, chroma halved at
 * most (planar, semi-planar and packed layouts alike). */
static int layout_of(enum AVPixelFormat f, vid_layout *l) {
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f);
  const uint64_t bad = AV_PIX_FMT_FLAG_BE | AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL |
                       AV_PIX_FMT_FLAG_FLOAT | AV_PIX_FMT_FLAG_BAYER | AV_PIX_FMT_FLAG_BITSTREAM;
  if (!d || (d->flags & bad) || d->nb_components != 3) return -1;
  const int bits = d->comp[0].depth, bytes = bits > 8 ? 2 : 1;
  if (bits < 8 || bits > 16 || d->log2_chroma_w > 1 || d->log2_chroma_h > 1) return -1;
  memset(l, 0, sizeof *l);
  for (int c = 0; c < 3; c++) {
    const AVComponentDescriptor *k = &d->comp[c];
    if (k->depth != bits || k->plane > 2 || k->shift + bits > 8 * bytes || k->step < bytes) return -1;
    l->plane[c] = k->plane, l->step[c] = k->step, l->offset[c] = k->offset, l->shift[c] = k->shift;
  }
  l->rgb = (d->flags & AV_PIX_FMT_FLAG_RGB) != 0;
  if (l->rgb && (d->log2_chroma_w || d->log2_chroma_h)) return -1;
  l->bits = bits;
  l->log2_cw = d->log2_chroma_w;
  l->log2_ch = d->log2_chroma_h;
  return 0;
}

static const char *fmt_name(enum AVPixelFormat f) {
  const char *n = av_get_pix_fmt_name(f);
  return n ? n : "unknown";
}

/* matrix and range of a frame (or stream) with these tags */
static int layout_colour(vid_layout *l, int spc, int range, enum AVPixelFormat f, int w, int h) {
  const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(f);
  l->full = range == AVCOL_RANGE_JPEG || (d && !strncmp(d->name, "yuvj", 4));
  if (l->rgb) return 0;
  return vid_matrix_coeffs(spc, w, h, &l->kr, &l->kb);
}

/* The format decoded frames are brought to when the decoder's own is not
 * one layout_of takes (nv12, p010, packed RGB, ...): the planar format
 * FFmpeg finds closest, which for the common ones is a plain repacking. */
static const enum AVPixelFormat k_planar[] = {AV_PIX_FMT_YUV420P,     AV_PIX_FMT_YUV422P,     AV_PIX_FMT_YUV444P,
                                              AV_PIX_FMT_YUV420P10LE, AV_PIX_FMT_YUV422P10LE, AV_PIX_FMT_YUV444P10LE,
                                              AV_PIX_FMT_YUV420P12LE, AV_PIX_FMT_YUV422P12LE, AV_PIX_FMT_YUV444P12LE,
                                              AV_PIX_FMT_YUV420P16LE, AV_PIX_FMT_YUV422P16LE, AV_PIX_FMT_YUV444P16LE,
                                              AV_PIX_FMT_GBRP,        AV_PIX_FMT_GBRP10LE,    AV_PIX_FMT_GBRP12LE,
                                              AV_PIX_FMT_GBRP16LE,    AV_PIX_FMT_NONE};

static void planes_of(const AVFrame *f, vid_planes *p) {
  for (int i = 0; i < 3; i++) p->data[i] = f->data[i], p->linesize[i] = f->linesize[i];
  p->width = f->width;
  p->height = f->height;
}

/* ==== Options and paths ==== */

void dlut_video_opts_init(dlut_video_opts *o) {
  memset(o, 0, sizeof *o);
  o->interp = DLUT_INTERP_TETRAHEDRAL;
  o->strength = 1.0f;
  o->crf = -1.0;
}

int dlut_video_is_path(const char *path) {
  static const char *const k_ext[] = {"mp4", "m4v", "mov", "mkv", "webm", "avi", "nut", "mxf", "ts", "m2ts", "mts"};
  char buf[16];
  const char *e = dlut_file_ext(path, buf);
  for (size_t i = 0; i < sizeof k_ext / sizeof k_ext[0]; i++)
    if (!strcmp(e, k_ext[i])) return 1;
  return 0;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ==== Input ==== */

typedef struct vin {
  const char *path;
  AVFormatContext *ic;
  AVCodecContext *dec;
  AVStream *ist;
  int vidx;                 /* the video stream */
  struct SwsContext *sws;   /* decoder format -> mid, or NULL when the decoder's is planar already */
  AVFrame *mid;             /* frame in mid's format */
  enum AVPixelFormat mid_f; /* the format converted from (the decoder's, or mid's) */
} vin;

static void vin_close(vin *v) {
  sws_freeContext(v->sws);
  av_frame_free(&v->mid);
  avcodec_free_context(&v->dec);
  avformat_close_input(&v->ic);
}

static int vin_open(vin *v, const char *path) {
  memset(v, 0, sizeof *v);
  v->path = path;
  pthread_once(&g_log_once, log_init);
  av_msg_clear();
  int r = avformat_open_input(&v->ic, path, NULL, NULL);
  if (r < 0) return averr(path, r, DLUT_ERR_INPUT, "cannot open as a video");
  if ((r = avformat_find_stream_info(v->ic, NULL)) < 0) {
    averr(path, r, DLUT_ERR_INPUT, "damaged or truncated video (no stream information)");
    goto fail;
  }
  const AVCodec *dc = NULL;
  v->vidx = av_find_best_stream(v->ic, AVMEDIA_TYPE_VIDEO, -1, -1, &dc, 0);
  if (v->vidx < 0 || !dc) {
    if (v->vidx == AVERROR_DECODER_NOT_FOUND)
      averr(path, 0, DLUT_ERR_UNSUPPORTED, "no decoder for its video stream");
    else
      averr(path, 0, DLUT_ERR_INPUT, "no video stream");
    goto fail;
  }
  v->ist = v->ic->streams[v->vidx];
  if (!(v->dec = avcodec_alloc_context3(dc))) goto nomem;
  if ((r = avcodec_parameters_to_context(v->dec, v->ist->codecpar)) < 0) {
    averr(path, r, DLUT_ERR_INPUT, "bad video stream parameters");
    goto fail;
  }
  v->dec->pkt_timebase = v->ist->time_base;
  v->dec->thread_count = 0; /* all cores */
  if ((r = avcodec_open2(v->dec, dc, NULL)) < 0) {
    averr(path, r, DLUT_ERR_UNSUPPORTED, "cannot open the video decoder");
    goto fail;
  }
  if (v->dec->width <= 0 || v->dec->height <= 0 || v->dec->width > 16384 || v->dec->height > 16384) {
    dlut_errorc(DLUT_ERR_INPUT, "%s: bad video frame size %dx%d", path, v->dec->width, v->dec->height);
    goto fail;
  }
  /* two float RGB frames are held (24 bytes a pixel): 8K UHD and a little more, not what a header may claim */
  if ((int64_t)v->dec->width * v->dec->height > VIDEO_MAX_PIXELS) {
    dlut_errorc(DLUT_ERR_TOO_LARGE, "%s: %dx%d frames are over the %d-megapixel limit", path, v->dec->width,
                v->dec->height, (int)(VIDEO_MAX_PIXELS / 1000000));
    goto fail;
  }
  vid_layout l;
  v->mid_f = v->dec->pix_fmt;
  if (v->dec->pix_fmt == AV_PIX_FMT_NONE) {
    dlut_errorc(DLUT_ERR_INPUT, "%s: the video's pixel format is unknown (damaged stream?)", path);
    goto fail;
  }
  if (layout_of(v->dec->pix_fmt, &l) != 0) {
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(v->dec->pix_fmt);
    if (!d || (d->flags & (AV_PIX_FMT_FLAG_ALPHA | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_PAL)) ||
        d->comp[0].depth > 16) {
      dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: pixel format %s is not supported (alpha, palette or over 16 bits)", path,
                  fmt_name(v->dec->pix_fmt));
      goto fail;
    }
    v->mid_f = avcodec_find_best_pix_fmt_of_list(k_planar, v->dec->pix_fmt, 0, NULL);
    /* a repacking (nv12 -> yuv420p, p010 -> yuv420p10, rgb24 -> gbrp): no range or matrix change */
    v->sws = sws_getContext(v->dec->width, v->dec->height, v->dec->pix_fmt, v->dec->width, v->dec->height, v->mid_f,
                            SWS_BICUBIC | SWS_ACCURATE_RND | SWS_BITEXACT, NULL, NULL, NULL);
    if (!v->sws || !(v->mid = av_frame_alloc())) goto nomem;
    v->mid->format = v->mid_f;
    v->mid->width = v->dec->width;
    v->mid->height = v->dec->height;
    if (av_frame_get_buffer(v->mid, 0) < 0) goto nomem;
  }
  return 0;
nomem:
  dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", path);
fail:
  vin_close(v);
  return -1;
}

/* A decoded frame as planes in a layout_of format, with its layout. */
static int vin_frame(vin *v, const AVFrame *f, vid_layout *l, vid_planes *p) {
  if (f->width != v->dec->width || f->height != v->dec->height || f->format != v->dec->pix_fmt)
    return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: the frame size or pixel format changes mid-stream (%dx%d %s)",
                       v->path, f->width, f->height, fmt_name((enum AVPixelFormat)f->format));
  if (v->sws) {
    if (av_frame_make_writable(v->mid) < 0) return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", v->path);
    sws_scale(v->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, v->mid->data, v->mid->linesize);
    planes_of(v->mid, p);
  } else {
    planes_of(f, p);
  }
  layout_of(v->mid_f, l);
  int spc = f->colorspace != AVCOL_SPC_UNSPECIFIED ? f->colorspace : v->dec->colorspace;
  int range = f->color_range != AVCOL_RANGE_UNSPECIFIED ? f->color_range : v->dec->color_range;
  if (layout_colour(l, spc, range, v->mid_f, f->width, f->height) != 0)
    return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: colour matrix %s is not supported", v->path,
                       av_color_space_name(spc) ? av_color_space_name(spc) : "?");
  return 0;
}

/* Frames the stream should hold: its index's count, else duration x rate. */
static int64_t vin_frames_expected(const vin *v) {
  if (v->ist->nb_frames > 0) return v->ist->nb_frames;
  AVRational fr = av_guess_frame_rate(v->ic, v->ist, NULL);
  double dur = v->ist->duration != AV_NOPTS_VALUE ? (double)v->ist->duration * av_q2d(v->ist->time_base)
               : v->ic->duration > 0              ? (double)v->ic->duration / AV_TIME_BASE
                                                  : 0.0;
  if (fr.num > 0 && fr.den > 0 && dur > 0) return (int64_t)llround(dur * av_q2d(fr));
  return 0;
}

static int frame_damaged(const AVFrame *f) {
  return f->decode_error_flags || (f->flags & AV_FRAME_FLAG_CORRUPT);
}

/* ==== Apply ==== */

typedef struct vapp {
  const dlut_lut *lut;
  const dlut_video_opts *o;
  const char *out;
  vin in;
  AVFormatContext *oc;
  AVCodecContext *enc;
  AVStream *ost;
  int *map;              /* input stream index -> output stream index, or -1 */
  vid_layout lout;       /* the output frames' layout */
  float *rgb, *orig;     /* (w*h, 3) working buffers: graded, as decoded */
  AVFrame *frame, *ofr;  /* decoded, to encode */
  AVPacket *pkt, *epkt;  /* demuxed, encoded */
  int64_t frames, total; /* frames written, expected */
  int64_t last_pts;      /* of the last frame sent to the encoder (encoder time base) */
  int64_t frame_dur;     /* one frame in the encoder's time base (for frames without a pts) */
  int64_t video_pkts;    /* video packets demuxed */
  int64_t end_us;        /* latest packet end seen, AV_TIME_BASE units, for the truncation check */
  double t0;
} vapp;

static int lossless_only(const AVCodec *c) {
  const AVCodecDescriptor *d = avcodec_descriptor_get(c->id);
  return d && (d->props & AV_CODEC_PROP_LOSSLESS) && !(d->props & AV_CODEC_PROP_LOSSY);
}

static int has_opt(void *obj, const char *name) {
  return av_opt_find(obj, name, NULL, 0, 0) != NULL;
}

static int open_encoder(vapp *v) {
  const dlut_video_opts *o = v->o;
  const AVStream *ist = v->in.ist;
  const AVCodecContext *dec = v->in.dec;
  const AVCodec *ec = o->codec ? avcodec_find_encoder_by_name(o->codec) : avcodec_find_encoder(ist->codecpar->codec_id);
  if (!ec || ec->type != AVMEDIA_TYPE_VIDEO) {
    if (o->codec) return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: no video encoder named '%s'", v->out, o->codec);
    return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: no encoder for the source's codec (%s): choose one with --codec",
                       v->out, avcodec_get_name(ist->codecpar->codec_id));
  }
  /* the pixel format: the source's when the encoder takes it and we can write it, else FFmpeg's closest */
  enum AVPixelFormat pf = v->in.mid_f, src = dec->pix_fmt;
  if (ec->pix_fmts) {
    int ok = 0;
    for (const enum AVPixelFormat *p = ec->pix_fmts; *p != AV_PIX_FMT_NONE; p++)
      if (*p == src && layout_of(src, &v->lout) == 0) ok = 1, pf = src;
    if (!ok) {
      enum AVPixelFormat cand[64];
      int n = 0;
      vid_layout tmp;
      for (const enum AVPixelFormat *p = ec->pix_fmts; *p != AV_PIX_FMT_NONE && n < 63; p++)
        if (layout_of(*p, &tmp) == 0) cand[n++] = *p;
      cand[n] = AV_PIX_FMT_NONE;
      if (!n)
        return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: encoder %s takes no planar 8..16-bit pixel format", v->out,
                           ec->name);
      pf = avcodec_find_best_pix_fmt_of_list(cand, src, 0, NULL);
    }
  } else if (layout_of(src, &v->lout) == 0) {
    pf = src;
  }
  layout_of(pf, &v->lout);
  if (!(v->enc = avcodec_alloc_context3(ec))) return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", v->out);
  AVCodecContext *e = v->enc;
  e->width = dec->width;
  e->height = dec->height;
  e->pix_fmt = pf;
  e->sample_aspect_ratio = ist->sample_aspect_ratio.num ? ist->sample_aspect_ratio : dec->sample_aspect_ratio;
  e->color_primaries = dec->color_primaries;
  e->color_trc = dec->color_trc;
  e->colorspace = dec->colorspace;
  e->color_range = dec->color_range;
  if (v->lout.full && !v->lout.rgb) e->color_range = AVCOL_RANGE_JPEG;
  e->chroma_sample_location = dec->chroma_sample_location;
  e->field_order = dec->field_order;
  e->framerate = av_guess_frame_rate(v->in.ic, (AVStream *)ist, NULL);
  e->time_base = ist->time_base; /* every frame keeps its own pts */
  e->thread_count = 0;
  if (v->oc->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  /* the output's colour: the input matrix and range unless the encoder forces RGB or full range */
  v->lout.full = e->color_range == AVCOL_RANGE_JPEG;
  if (!v->lout.rgb && vid_matrix_coeffs(e->colorspace, e->width, e->height, &v->lout.kr, &v->lout.kb) != 0)
    return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: colour matrix %s is not supported", v->in.path,
                       av_color_space_name(e->colorspace) ? av_color_space_name(e->colorspace) : "?");

  /* rate: as asked, else the source's bit rate, else CRF 18 where the encoder has CRF */
  if (o->bitrate > 0) {
    e->bit_rate = o->bitrate;
  } else if (o->crf >= 0) {
    if (!has_opt(e->priv_data, "crf") || av_opt_set_double(e->priv_data, "crf", o->crf, 0) < 0)
      return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: encoder %s has no CRF setting (use --bitrate)", v->out, ec->name);
  } else if (!lossless_only(ec)) {
    int64_t br = ist->codecpar->bit_rate;
    if (br <= 0 && v->in.ic->bit_rate > 0) { /* the container's rate less the other streams' stated rates */
      br = v->in.ic->bit_rate;
      for (unsigned i = 0; i < v->in.ic->nb_streams; i++)
        if ((int)i != v->in.vidx) br -= v->in.ic->streams[i]->codecpar->bit_rate;
    }
    if (br > 0)
      e->bit_rate = br;
    else if (has_opt(e->priv_data, "crf"))
      av_opt_set_double(e->priv_data, "crf", 18.0, 0);
  }
  if (o->preset && (!has_opt(e->priv_data, "preset") || av_opt_set(e->priv_data, "preset", o->preset, 0) < 0))
    return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: encoder %s has no preset '%s'", v->out, ec->name, o->preset);
  if (!strcmp(ec->name, "libx265")) av_opt_set(e->priv_data, "x265-params", "log-level=error", 0);

  int r = avcodec_open2(e, ec, NULL);
  if (r < 0 && e->time_base.den > 65535 && e->framerate.num > 0) { /* MPEG-4 part 2 and others cap the time base */
    e->time_base = av_inv_q(e->framerate);
    r = avcodec_open2(e, ec, NULL);
  }
  if (r < 0) return averr(v->out, r, DLUT_ERR_UNSUPPORTED, "the encoder refused these settings");
  if ((r = avcodec_parameters_from_context(v->ost->codecpar, e)) < 0)
    return averr(v->out, r, DLUT_ERR_INTERNAL, "cannot set the video stream up");
  v->ost->time_base = e->time_base;
  v->ost->avg_frame_rate = ist->avg_frame_rate;
  v->ost->r_frame_rate = ist->r_frame_rate;
  v->ost->sample_aspect_ratio = e->sample_aspect_ratio;
  AVRational fr = e->framerate.num > 0 ? e->framerate : (AVRational){25, 1};
  v->frame_dur = av_rescale_q(1, av_inv_q(fr), e->time_base);
  if (v->frame_dur < 1) v->frame_dur = 1;
  return 0;
}

/* copy the stream's side data (display matrix = rotation, HDR metadata ...), metadata and disposition */
static int copy_stream_extras(const AVStream *is, AVStream *os) {
  for (int i = 0; i < is->nb_side_data; i++) {
    const AVPacketSideData *sd = &is->side_data[i];
    if (sd->type == AV_PKT_DATA_CPB_PROPERTIES) continue; /* the encoder's own */
    uint8_t *dst = av_stream_new_side_data(os, sd->type, sd->size);
    if (!dst) return -1;
    memcpy(dst, sd->data, sd->size);
  }
  os->disposition = is->disposition;
  return av_dict_copy(&os->metadata, is->metadata, 0) < 0 ? -1 : 0;
}

static int open_output(vapp *v, const char *tmp_path) {
  int r = avformat_alloc_output_context2(&v->oc, NULL, NULL, v->out); /* container from the final name */
  if (r < 0 || !v->oc) return averr(v->out, r, DLUT_ERR_UNSUPPORTED, "unknown video container (extension)");
  if (!(v->map = malloc(v->in.ic->nb_streams * sizeof *v->map)))
    return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", v->out);
  for (unsigned i = 0; i < v->in.ic->nb_streams; i++) {
    AVStream *is = v->in.ic->streams[i];
    v->map[i] = -1;
    if ((int)i == v->in.vidx) {
      if (!(v->ost = avformat_new_stream(v->oc, NULL))) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      v->map[i] = v->ost->index;
      if (open_encoder(v) != 0) return -1;
      if (copy_stream_extras(is, v->ost) != 0) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      continue;
    }
    const enum AVMediaType t = is->codecpar->codec_type;
    if (t != AVMEDIA_TYPE_AUDIO && t != AVMEDIA_TYPE_SUBTITLE) continue; /* data, attachments, cover art */
    if (avformat_query_codec(v->oc->oformat, is->codecpar->codec_id, FF_COMPLIANCE_NORMAL) == 0)
      return dlut_errorc(DLUT_ERR_UNSUPPORTED, "%s: the %s container cannot hold stream %u (%s %s) of %s", v->out,
                         v->oc->oformat->name, i, av_get_media_type_string(t), avcodec_get_name(is->codecpar->codec_id),
                         v->in.path);
    AVStream *os = avformat_new_stream(v->oc, NULL);
    if (!os || avcodec_parameters_copy(os->codecpar, is->codecpar) < 0)
      return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    os->codecpar->codec_tag = 0; /* the output container's own tag */
    os->time_base = is->time_base;
    if (copy_stream_extras(is, os) != 0) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    v->map[i] = os->index;
  }
  av_dict_copy(&v->oc->metadata, v->in.ic->metadata, 0);
  if ((r = avio_open(&v->oc->pb, tmp_path, AVIO_FLAG_WRITE)) < 0)
    return averr(v->out, r, DLUT_ERR_IO, "cannot open for writing");
  if ((r = avformat_write_header(v->oc, NULL)) < 0)
    return averr(v->out, r, DLUT_ERR_UNSUPPORTED, "cannot write the container header");
  return 0;
}

static int write_encoded(vapp *v, const AVFrame *f) {
  int r = avcodec_send_frame(v->enc, f);
  if (r < 0) return averr(v->out, r, DLUT_ERR_INTERNAL, "the encoder failed");
  while ((r = avcodec_receive_packet(v->enc, v->epkt)) >= 0) {
    av_packet_rescale_ts(v->epkt, v->enc->time_base, v->ost->time_base);
    v->epkt->stream_index = v->ost->index;
    if ((r = av_interleaved_write_frame(v->oc, v->epkt)) < 0) return averr(v->out, r, DLUT_ERR_IO, "write failed");
  }
  if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
  return averr(v->out, r, DLUT_ERR_INTERNAL, "the encoder failed");
}

/* The range the LUT reads its input over (the shaper's, else the 3D table's). */
static void lut_input_range(const dlut_lut *l, float lo[3], float hi[3]) {
  for (int c = 0; c < 3; c++) {
    lo[c] = l->shaper_size ? l->shaper_min[c] : l->size ? l->domain_min[c] : 0.0f;
    hi[c] = l->shaper_size ? l->shaper_max[c] : l->size ? l->domain_max[c] : 1.0f;
    if (!(hi[c] > lo[c])) lo[c] = 0.0f, hi[c] = 1.0f;
  }
}

/* After the LUT: a value beyond the LUT's input range keeps its excess over
 * the range's edge (out = LUT(clamp(x)) + x - clamp(x)), so superwhites and
 * the colours outside the RGB cube that subsampled chroma makes at sharp
 * edges come back as they were under an identity LUT instead of clipped;
 * then the strength blend. */
typedef struct finish_ctx {
  const float *orig; /* (n,3) before the LUT */
  float *rgb;        /* (n,3) after it; the result */
  float strength;
  float lo[3], hi[3];
} finish_ctx;

static void finish_rows(void *ctx, int64_t a, int64_t b, int thread) {
  (void)thread;
  const finish_ctx *c = ctx;
  for (int64_t i = a; i < b; i++)
    for (int k = 0; k < 3; k++) {
      const float x = c->orig[3 * i + k];
      const float cl = x < c->lo[k] ? c->lo[k] : x > c->hi[k] ? c->hi[k] : x;
      const float y = c->rgb[3 * i + k] + (x - cl);
      c->rgb[3 * i + k] = x + c->strength * (y - x);
    }
}

static int grade_frame(vapp *v, const AVFrame *f) {
  vid_layout lin;
  vid_planes pin, pout;
  if (vin_frame(&v->in, f, &lin, &pin) != 0) return -1;
  const int64_t n = (int64_t)f->width * f->height;
  vid_to_rgb(&lin, &pin, v->rgb);
  memcpy(v->orig, v->rgb, (size_t)n * 3 * sizeof(float));
  dlut_lut_apply_f32(v->lut, v->rgb, v->rgb, n, v->o->interp);
  finish_ctx fc = {v->orig, v->rgb, v->o->strength, {0}, {1}};
  lut_input_range(v->lut, fc.lo, fc.hi);
  dlut_parallel_for(n, 8192, finish_rows, &fc);
  /* a fresh buffer each frame: the encoder may still hold the previous one */
  av_frame_unref(v->ofr);
  v->ofr->format = v->enc->pix_fmt;
  v->ofr->width = v->enc->width;
  v->ofr->height = v->enc->height;
  if (av_frame_get_buffer(v->ofr, 0) < 0) return dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", v->out);
  planes_of(v->ofr, &pout);
  vid_from_rgb(&v->lout, v->rgb, &pout);
  int64_t pts = f->best_effort_timestamp;
  if (pts != AV_NOPTS_VALUE) pts = av_rescale_q(pts, v->in.ist->time_base, v->enc->time_base);
  if (pts == AV_NOPTS_VALUE) pts = v->frames ? v->last_pts + v->frame_dur : 0;
  if (v->frames && pts <= v->last_pts) pts = v->last_pts + 1; /* encoders need increasing timestamps */
  v->last_pts = pts;
  v->ofr->pts = pts;
  v->ofr->sample_aspect_ratio = f->sample_aspect_ratio;
  v->ofr->color_primaries = v->enc->color_primaries;
  v->ofr->color_trc = v->enc->color_trc;
  v->ofr->colorspace = v->enc->colorspace;
  v->ofr->color_range = v->enc->color_range;
  v->ofr->chroma_location = v->enc->chroma_sample_location;
  if (write_encoded(v, v->ofr) != 0) return -1;
  v->frames++;
  if (v->o->progress) {
    dlut_video_progress p = {v->frames, v->total > v->frames ? v->total : v->frames, now_s() - v->t0};
    if (v->o->progress(v->o->user, &p))
      return dlut_errorc(DLUT_ERR_CANCELLED, "%s: stopped after %lld frames", v->in.path, (long long)v->frames);
  }
  return 0;
}

static int decode_packet(vapp *v, const AVPacket *p) {
  int r = avcodec_send_packet(v->in.dec, p);
  if (r < 0 && r != AVERROR_EOF) return averr(v->in.path, r, DLUT_ERR_INPUT, "damaged video data");
  while ((r = avcodec_receive_frame(v->in.dec, v->frame)) >= 0) {
    if (frame_damaged(v->frame)) {
      av_frame_unref(v->frame);
      return averr(v->in.path, 0, DLUT_ERR_INPUT, "damaged or truncated video data");
    }
    r = grade_frame(v, v->frame);
    av_frame_unref(v->frame);
    if (r != 0) return -1;
  }
  if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return 0;
  return averr(v->in.path, r, DLUT_ERR_INPUT, "damaged video data");
}

/* What the demuxer's clean end of file still has to prove: that the file
 * was not cut short. */
static int check_complete(vapp *v) {
  const vin *in = &v->in;
  if (in->ic->pb && in->ic->pb->error < 0) return averr(in->path, in->ic->pb->error, DLUT_ERR_INPUT, "read error");
  if (in->ist->nb_frames > 0 && v->video_pkts < in->ist->nb_frames)
    return dlut_errorc(DLUT_ERR_INPUT, "%s: truncated: %lld of the %lld video frames its index lists are there",
                       in->path, (long long)v->video_pkts, (long long)in->ist->nb_frames);
  if (in->ic->duration > 0 && v->end_us != AV_NOPTS_VALUE) {
    int64_t start = in->ic->start_time != AV_NOPTS_VALUE ? in->ic->start_time : 0;
    double have = (double)(v->end_us - start) / AV_TIME_BASE, want = (double)in->ic->duration / AV_TIME_BASE;
    if (have < want - 0.25 - 0.02 * want)
      return dlut_errorc(DLUT_ERR_INPUT, "%s: truncated: the streams stop at %.2f s of the %.2f s it declares",
                         in->path, have, want);
  }
  if (!v->frames) return dlut_errorc(DLUT_ERR_INPUT, "%s: no video frame could be decoded", in->path);
  return 0;
}

static void note_end(vapp *v, const AVPacket *p) {
  const AVStream *s = v->in.ic->streams[p->stream_index];
  if (s->codecpar->codec_type != AVMEDIA_TYPE_VIDEO && s->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
    return; /* a subtitle's duration may run to the end of a file cut short */
  int64_t t = p->pts != AV_NOPTS_VALUE ? p->pts : p->dts;
  if (t == AV_NOPTS_VALUE) return;
  t = av_rescale_q(t + (p->duration > 0 ? p->duration : 0), s->time_base, AV_TIME_BASE_Q);
  if (v->end_us == AV_NOPTS_VALUE || t > v->end_us) v->end_us = t;
}

static int run_apply(vapp *v) {
  int r;
  while ((r = av_read_frame(v->in.ic, v->pkt)) >= 0) {
    const int si = v->pkt->stream_index;
    if (v->pkt->flags & AV_PKT_FLAG_CORRUPT) {
      av_packet_unref(v->pkt);
      return dlut_errorc(DLUT_ERR_INPUT, "%s: damaged or truncated data in stream %d", v->in.path, si);
    }
    note_end(v, v->pkt);
    if (si == v->in.vidx) {
      v->video_pkts++;
      r = decode_packet(v, v->pkt);
      av_packet_unref(v->pkt);
      if (r != 0) return -1;
    } else if (v->map[si] >= 0) {
      AVStream *is = v->in.ic->streams[si], *os = v->oc->streams[v->map[si]];
      av_packet_rescale_ts(v->pkt, is->time_base, os->time_base);
      v->pkt->stream_index = os->index;
      v->pkt->pos = -1;
      if ((r = av_interleaved_write_frame(v->oc, v->pkt)) < 0) return averr(v->out, r, DLUT_ERR_IO, "write failed");
    } else {
      av_packet_unref(v->pkt);
    }
  }
  if (r != AVERROR_EOF) return averr(v->in.path, r, DLUT_ERR_INPUT, "read error (damaged or truncated file)");
  if (decode_packet(v, NULL) != 0) return -1;
  if (check_complete(v) != 0) return -1;
  if (write_encoded(v, NULL) != 0) return -1;
  if ((r = av_write_trailer(v->oc)) < 0) return averr(v->out, r, DLUT_ERR_IO, "cannot finish the file");
  return 0;
}

int dlut_video_apply(const char *in, const char *out, const dlut_lut *lut, const dlut_video_opts *opts) {
  dlut_video_opts defaults;
  if (!opts) dlut_video_opts_init(&defaults), opts = &defaults;
  if (!lut) return dlut_errorc(DLUT_ERR_INPUT, "no LUT");
  if (!(opts->strength >= 0.0f && opts->strength <= 1.0f))
    return dlut_errorc(DLUT_ERR_INPUT, "strength must be in [0,1]");
  vapp v;
  memset(&v, 0, sizeof v);
  v.lut = lut;
  v.o = opts;
  v.out = out;
  v.end_us = AV_NOPTS_VALUE;
  v.t0 = now_s();
  dlut_atomic a;
  int rc = -1, have_tmp = 0;
  if (vin_open(&v.in, in) != 0) return -1;
  v.total = vin_frames_expected(&v.in);
  const size_t n = (size_t)v.in.dec->width * (size_t)v.in.dec->height * 3;
  if (!(v.rgb = malloc(n * sizeof(float))) || !(v.orig = malloc(n * sizeof(float))) || !(v.frame = av_frame_alloc()) ||
      !(v.ofr = av_frame_alloc()) || !(v.pkt = av_packet_alloc()) || !(v.epkt = av_packet_alloc())) {
    dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", in);
    goto done;
  }
  if (dlut_atomic_begin(&a, out) != 0) goto done;
  have_tmp = 1;
  fclose(a.fp); /* libavformat opens the temporary file by name */
  a.fp = NULL;
  if (open_output(&v, a.tmp_path) != 0 || run_apply(&v) != 0) goto done;
  int r = avio_closep(&v.oc->pb);
  if (r < 0) {
    averr(out, r, DLUT_ERR_IO, "write failed");
    goto done;
  }
  int fd = open(a.tmp_path, O_RDONLY); /* dlut_atomic_commit fsyncs only its own FILE */
  if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
    dlut_errorc(DLUT_ERR_IO, "%s: fsync failed: %s", out, strerror(errno));
    if (fd >= 0) close(fd);
    goto done;
  }
  close(fd);
  have_tmp = 0;
  rc = dlut_atomic_commit(&a);
done:
  if (v.oc) {
    if (v.oc->pb) avio_closep(&v.oc->pb);
    avformat_free_context(v.oc);
  }
  if (have_tmp) dlut_atomic_abort(&a);
  avcodec_free_context(&v.enc);
  av_frame_free(&v.frame);
  av_frame_free(&v.ofr);
  av_packet_free(&v.pkt);
  av_packet_free(&v.epkt);
  free(v.map);
  free(v.rgb);
  free(v.orig);
  vin_close(&v.in);
  return rc;
}

/* ==== Sampling frames to grade ==== */

#define THUMB_W 32
#define THUMB_H 18

void dlut_video_frames_free(dlut_video_frames *f) {
  if (!f) return;
  for (int i = 0; i < f->n; i++) dlut_image_free(f->frames[i]);
  free(f->frames);
  free(f->times);
  memset(f, 0, sizeof *f);
}

/* EXIF orientation that shows the stream upright (dlut_image_orient), from its display matrix */
static int stream_orientation(const AVStream *st) {
  size_t size = 0;
  const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
  if (!m || size < 9 * sizeof(int32_t)) return 1;
  double a = av_display_rotation_get((const int32_t *)m); /* counter-clockwise degrees */
  if (isnan(a)) return 1;
  int cw = ((int)lround(-a) % 360 + 360) % 360; /* clockwise turn that makes it upright */
  return cw == 90 ? 6 : cw == 180 ? 3 : cw == 270 ? 8 : 1;
}

/* the frame as a U16 RGB image reduced by a whole factor (box), and its thumbnail */
static dlut_image *frame_image(vin *v, const AVFrame *f, float *rgb, int max_width, float *thumb) {
  vid_layout l;
  vid_planes p;
  if (vin_frame(v, f, &l, &p) != 0) return NULL;
  vid_to_rgb(&l, &p, rgb);
  const int w = f->width, h = f->height;
  int k = max_width > 0 ? (w + max_width - 1) / max_width : 1;
  if (k < 1) k = 1;
  const int ow = w / k > 0 ? w / k : 1, oh = h / k > 0 ? h / k : 1;
  dlut_image *img = dlut_image_alloc(ow, oh, 3, DLUT_PIXEL_U16);
  if (!img) return NULL;
  for (int y = 0; y < oh; y++) {
    uint16_t *row = dlut_image_pixel(img, 0, y);
    for (int x = 0; x < ow; x++)
      for (int c = 0; c < 3; c++) {
        double s = 0;
        int n = 0;
        for (int yy = y * k; yy < (y + 1) * k && yy < h; yy++)
          for (int xx = x * k; xx < (x + 1) * k && xx < w; xx++, n++) s += rgb[((size_t)yy * w + xx) * 3 + c];
        double m = n ? s / n : 0;
        m = m < 0 ? 0 : m > 1 ? 1 : m;
        row[3 * x + c] = (uint16_t)lround(m * 65535.0);
      }
  }
  for (int ty = 0; ty < THUMB_H; ty++) /* nearest-cell means over the reduced image */
    for (int tx = 0; tx < THUMB_W; tx++)
      for (int c = 0; c < 3; c++) {
        double s = 0;
        int n = 0;
        for (int y = ty * oh / THUMB_H; y < (ty + 1) * oh / THUMB_H || (n == 0 && y < oh); y++)
          for (int x = tx * ow / THUMB_W; x < (tx + 1) * ow / THUMB_W || (x == tx * ow / THUMB_W && x < ow); x++, n++)
            s += ((const uint16_t *)dlut_image_pixel(img, x, y))[c] / 65535.0;
        thumb[(ty * THUMB_W + tx) * 3 + c] = n ? (float)(s / n) : 0.0f;
      }
  return img;
}

/* decode the first frame at or after stream time ts (after a backward seek); 1 found, 0 none, -1 error */
static int decode_at(vin *v, int64_t ts, AVPacket *pkt, AVFrame *fr, AVFrame *last, int *have_last) {
  int r = av_seek_frame(v->ic, v->vidx, ts, AVSEEK_FLAG_BACKWARD);
  if (r < 0) r = av_seek_frame(v->ic, v->vidx, ts, AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
  if (r < 0) return averr(v->path, r, DLUT_ERR_UNSUPPORTED, "cannot seek (needed to sample frames)");
  avcodec_flush_buffers(v->dec);
  *have_last = 0;
  int eof = 0;
  for (;;) {
    while ((r = avcodec_receive_frame(v->dec, fr)) >= 0) {
      if (frame_damaged(fr)) {
        av_frame_unref(fr);
        continue;
      }
      av_frame_unref(last);
      av_frame_move_ref(last, fr);
      *have_last = 1;
      if (last->best_effort_timestamp == AV_NOPTS_VALUE || last->best_effort_timestamp >= ts) return 1;
    }
    if (r == AVERROR_EOF) return *have_last; /* past the end: the last frame there is */
    if (r != AVERROR(EAGAIN)) return averr(v->path, r, DLUT_ERR_INPUT, "damaged video data");
    if (eof) return *have_last;
    while ((r = av_read_frame(v->ic, pkt)) >= 0 && pkt->stream_index != v->vidx) av_packet_unref(pkt);
    if (r < 0) {
      eof = 1;
      avcodec_send_packet(v->dec, NULL);
      continue;
    }
    r = avcodec_send_packet(v->dec, pkt);
    av_packet_unref(pkt);
    if (r < 0 && r != AVERROR(EAGAIN)) return averr(v->path, r, DLUT_ERR_INPUT, "damaged video data");
  }
}

int dlut_video_sample(const char *path, int max_frames, int max_width, dlut_video_frames *out) {
  memset(out, 0, sizeof *out);
  if (max_frames < 1 || max_frames > 256) return dlut_errorc(DLUT_ERR_INPUT, "frames to sample: 1..256");
  vin v;
  if (vin_open(&v, path) != 0) return -1;
  const int nc = 3 * max_frames, w = v.dec->width, h = v.dec->height;
  int rc = -1, have_last = 0;
  float *rgb = malloc((size_t)w * h * 3 * sizeof(float)), *thumbs = calloc((size_t)nc, THUMB_W * THUMB_H * 3 * 4);
  dlut_image **cand = calloc((size_t)nc, sizeof *cand);
  double *ctime = calloc((size_t)nc, sizeof *ctime);
  const float **kept = calloc((size_t)max_frames, sizeof *kept); /* thumbnails of the frames kept */
  AVPacket *pkt = av_packet_alloc();
  AVFrame *fr = av_frame_alloc(), *last = av_frame_alloc();
  out->frames = calloc((size_t)max_frames, sizeof *out->frames);
  out->times = calloc((size_t)max_frames, sizeof *out->times);
  if (!rgb || !thumbs || !cand || !ctime || !kept || !pkt || !fr || !last || !out->frames || !out->times) {
    dlut_errorc(DLUT_ERR_NOMEM, "%s: out of memory", path);
    goto done;
  }
  const AVRational tb = v.ist->time_base;
  const int64_t start = v.ist->start_time != AV_NOPTS_VALUE ? v.ist->start_time : 0;
  double dur = v.ist->duration != AV_NOPTS_VALUE && v.ist->duration > 0 ? (double)v.ist->duration * av_q2d(tb)
               : v.ic->duration > 0                                     ? (double)v.ic->duration / AV_TIME_BASE
                                                                        : 0.0;
  if (!(dur > 0)) {
    dlut_errorc(DLUT_ERR_INPUT, "%s: the clip states no duration (cannot spread samples over it)", path);
    goto done;
  }
  out->duration = dur;
  const int orient = stream_orientation(v.ist);
  for (int k = 0; k < nc; k++) {
    const double t = (k + 0.5) * dur / nc;
    const int64_t ts = start + (int64_t)llround(t / av_q2d(tb));
    int got = decode_at(&v, ts, pkt, fr, last, &have_last);
    if (got < 0) goto done;
    if (!got) continue;
    float *th = thumbs + (size_t)k * THUMB_W * THUMB_H * 3;
    if (!(cand[k] = frame_image(&v, last, rgb, max_width, th))) goto done;
    if (orient != 1) {
      dlut_image *up = dlut_image_orient(cand[k], orient);
      if (!up) goto done;
      dlut_image_free(cand[k]);
      cand[k] = up;
    }
    int64_t p = last->best_effort_timestamp;
    ctime[k] = p != AV_NOPTS_VALUE ? (double)(p - start) * av_q2d(tb) : t;
  }
  /* keep the middle of each triple, else a neighbour, unless it repeats a kept frame */
  for (int k = 0; k < max_frames; k++) {
    const int order[3] = {3 * k + 1, 3 * k, 3 * k + 2};
    for (int j = 0; j < 3; j++) {
      const int c = order[j];
      if (!cand[c]) continue;
      const float *th = thumbs + (size_t)c * THUMB_W * THUMB_H * 3;
      double nearest = 1e9;
      for (int i = 0; i < out->n; i++) {
        const float *o = kept[i];
        double s = 0;
        for (int q = 0; q < THUMB_W * THUMB_H * 3; q++) s += fabs(th[q] - o[q]);
        s /= THUMB_W * THUMB_H * 3;
        if (s < nearest) nearest = s;
      }
      if (nearest < 0.02) continue;
      out->frames[out->n] = cand[c];
      cand[c] = NULL;
      kept[out->n] = th;
      out->times[out->n++] = ctime[c];
      break;
    }
  }
  if (!out->n) {
    dlut_errorc(DLUT_ERR_INPUT, "%s: no video frame could be decoded", path);
    goto done;
  }
  rc = 0;
done:
  if (rc != 0) dlut_video_frames_free(out);
  free(kept);
  for (int k = 0; k < nc && cand; k++) dlut_image_free(cand[k]);
  free(cand);
  free(ctime);
  free(thumbs);
  free(rgb);
  av_packet_free(&pkt);
  av_frame_free(&fr);
  av_frame_free(&last);
  vin_close(&v);
  return rc;
}
