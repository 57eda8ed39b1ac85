/* dlut/video.h - applying a LUT to video files, and sampling frames to grade.
 *
 * Built on FFmpeg's libraries (libavformat, libavcodec, libavutil;
 * libswscale only to bring unusual pixel formats to a planar one). Only this
 * module includes them; nothing in the public API exposes an FFmpeg type.
 *
 * USAGE
 *     dlut_video_opts o;
 *     dlut_video_opts_init(&o);            // source's codec family and rate
 *     o.progress = my_progress; o.user = &state;
 *     if (dlut_video_apply("in.mp4", "out.mp4", lut, &o) != 0)
 *       fprintf(stderr, "%s\n", dlut_last_error());
 *
 * WHAT dlut_video_apply DOES
 *   - Decodes the best video stream. Every frame is converted to float RGB
 *     (R'G'B' code values, as displayed: no linearisation) with the frame's
 *     own matrix (BT.709, BT.601, BT.2020 NCL, SMPTE 240M, FCC) and range
 *     (limited "tv" or full "pc"), the LUT is applied tetrahedrally (or as
 *     asked) to the float values, and the result is converted back with the
 *     same matrix and range into the output's pixel format, which is the
 *     source's when the encoder takes it (10-bit stays 10-bit, 4:2:0 stays
 *     4:2:0). RGB sources (gbrp10le, FFV1's bgr0, ...) skip the matrix.
 *     Planar, semi-planar (nv12, p010) and packed (rgb24, yuyv422) formats
 *     are read and written directly; others (big-endian words) are first
 *     repacked by libswscale.
 *   - Chroma: a subsampled chroma sample is used, as it is, for every luma
 *     sample of the block it covers (2x2 for 4:2:0, 2x1 for 4:2:2), and the
 *     output chroma sample is the mean of the block's graded chroma. With an
 *     identity LUT this returns the source codes exactly (up to float
 *     rounding, within 1 code; tests measure 0) wherever the decoded colour lies inside the
 *     RGB cube: no chroma blur from up- and down-filtering, no clipping in
 *     between. A value beyond the LUT's input range (superwhites, and the
 *     out-of-cube colours a block's shared chroma makes at sharp edges)
 *     keeps its excess over the range's edge: out = LUT(clamp(x)) + x -
 *     clamp(x), so an identity LUT returns every code, everywhere. The matrix, range and chroma arithmetic follow ITU-R
 * BT.709-6, BT.601-7 and BT.2020-2 (Y' = Kr R' + Kg G' + Kb B', Cb = (B'-Y') / (2 (1-Kb)), limited range Y = (219 Y' +
 * 16) 2^(n-8), C = (224 C + 128) 2^(n-8); full range Y = (2^n - 1) Y', C = (2^n - 1) C + 2^(n-1)).
 *   - Encodes with the source's codec family (avcodec's default encoder for
 *     the source codec: libx264 for H.264, libx265 for HEVC, ...) at the
 *     source's bit rate (1-pass average bit rate) when the container states
 *     one, else CRF 18 for x264/x265 and the encoder's default for others;
 *     opts override codec, CRF, bit rate and preset.
 *   - Copies every audio and subtitle stream packet for packet (no
 *     re-encoding); other streams (data, attachments) are dropped. A stream
 *     the output container cannot hold is an error naming it.
 *   - Keeps timestamps (the encoder works in the source stream's time base,
 *     each frame keeps its pts), frame rate, sample aspect ratio, colour
 *     tags (primaries, transfer, matrix, range, chroma location), stream
 *     side data (the display matrix, i.e. rotation; mastering display and
 *     light level), stream and container metadata and dispositions.
 *   - Writes to a temporary file beside `out` (dlut/file.h), tracked so a
 *     signal removes it, and renames it over `out` only when the whole clip
 *     is written: a failure or Ctrl-C leaves no partial file.
 *
 * ERRORS (-1 with dlut_last_error(), naming the file)
 *   - not a video / unknown format / no video stream: DLUT_ERR_INPUT;
 *   - truncated or damaged data (a read error, a packet flagged corrupt, a
 *     frame the decoder reports as damaged, fewer frames than the index
 *     promises, or a clip that stops well short of its stated duration):
 *     DLUT_ERR_INPUT, with the decoder's own message when it gave one;
 *   - frames over 40 megapixels (8K UHD is 33): DLUT_ERR_TOO_LARGE;
 *   - pixel formats with alpha or more than 16 bits, frame sizes that change
 *     mid-stream, unknown matrices: DLUT_ERR_UNSUPPORTED;
 *   - encoder or container refusals (an option the encoder lacks, a codec the
 *     container cannot hold): DLUT_ERR_UNSUPPORTED; write failures DLUT_ERR_IO;
 *   - a progress callback that returns nonzero: DLUT_ERR_CANCELLED.
 *
 * THREADS
 *   The decoder and encoder use their own frame threads (all cores); the
 *   colour conversions and the LUT use dlut_parallel_for. One call at a time
 *   per process is intended (FFmpeg's log callback is process-wide).
 */
#ifndef DLUT_VIDEO_H
#define DLUT_VIDEO_H

#include <stdint.h>

#include "dlut/image.h"
#include "dlut/lut.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of a running apply, passed to the callback after every frame. */
typedef struct dlut_video_progress {
  int64_t frame;  /* frames written so far */
  int64_t frames; /* frames expected in all (from the index or duration x rate), 0 if unknown */
  double seconds; /* wall time since the start */
} dlut_video_progress;

/* Return nonzero to stop (the call then fails with DLUT_ERR_CANCELLED). */
typedef int (*dlut_video_progress_fn)(void *user, const dlut_video_progress *p);

typedef struct dlut_video_opts {
  dlut_interp interp;              /* default tetrahedral */
  float strength;                  /* 0..1 blend with the source, default 1 */
  const char *codec;               /* encoder name ("libx264", "ffv1", ...); NULL = the source's family */
  double crf;                      /* constant rate factor; < 0 (default) = not set */
  int64_t bitrate;                 /* bits per second; 0 (default) = the source's */
  const char *preset;              /* encoder preset ("medium", "slow"); NULL = the encoder's default */
  dlut_video_progress_fn progress; /* may be NULL */
  void *user;                      /* passed to progress */
} dlut_video_opts;

void dlut_video_opts_init(dlut_video_opts *o);

/* Nonzero if the path's extension is a video container DLUT handles
 * (.mp4 .m4v .mov .mkv .webm .avi .nut .mxf .ts .m2ts .mts): how
 * `dlut apply` and `dlut grade` tell a clip from a photo. */
int dlut_video_is_path(const char *path);

/* Apply `lut` to every frame of the video `in`, writing `out` (container
 * from its extension). 0 or -1. */
int dlut_video_apply(const char *in, const char *out, const dlut_lut *lut, const dlut_video_opts *opts);

/* ==== Sampling frames to grade ==== */

/* Up to max_frames frames of `path` spread over the clip, decoded as
 * 16-bit RGB images (the matrix and range as in dlut_video_apply, clamped
 * to [0,1]), reduced by a whole factor (box filter) to at most max_width
 * pixels across (0 = full size), in clip order. Candidates are taken at 3
 * evenly spaced times per wanted frame; the middle one of each triple is
 * kept unless it is a near-duplicate of a frame already kept (mean absolute
 * difference of 32x18 thumbnails below 2% of full scale), then its
 * neighbours are tried, then none. Frames are turned upright as the
 * stream's display matrix says (90/180/270 degrees; the LUT does not care,
 * the previews do). times[i] is frame i's time in seconds.
 * The caller frees the result with dlut_video_frames_free. 0 or -1. */
typedef struct dlut_video_frames {
  int n;               /* frames kept */
  dlut_image **frames; /* n images (RGB, U16), owned */
  double *times;       /* n presentation times in seconds, owned */
  double duration;     /* the clip's duration in seconds (0 if unknown) */
} dlut_video_frames;

int dlut_video_sample(const char *path, int max_frames, int max_width, dlut_video_frames *out);
void dlut_video_frames_free(dlut_video_frames *f);

#ifdef __cplusplus
}
#endif
#endif
