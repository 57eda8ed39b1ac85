/* cli/grade_video.h - the video side of `dlut grade CLIP "PROMPT"`
 * (cli/grade_video.c): the clip's sampled frames become the set that
 * cmd_grade.c grades with one LUT, and --render applies that LUT to the
 * whole clip. */
#ifndef DLUT_CLI_GRADE_VIDEO_H
#define DLUT_CLI_GRADE_VIDEO_H

#include "dlut/image.h"
#include "dlut/lut.h"

#define CLI_GRADE_VIDEO_FRAMES 8  /* frames sampled by default */
#define CLI_GRADE_VIDEO_WIDTH 640 /* sampled frames are reduced to at most this width */

/* Sample up to n frames of clip (dlut_video_sample) into a set: *set gets n
 * images and *paths their names "frame-NN-T.TTTs.png" (clip order, T the
 * time in seconds), both malloc'd, replacing what *paths held (its *n_set
 * entries are freed). Prints one line per frame kept unless quiet. 0 or
 * -1 (dlut_last_error). */
int cli_grade_video_frames(const char *clip, int n, int quiet, dlut_image ***set, char ***paths, int *n_set);

/* Apply lut to the whole clip at strength into OUTDIR/graded.EXT (EXT the
 * clip's), with the clip's codec family and rate, progress on a terminal. */
int cli_grade_video_render(const char *clip, const dlut_lut *lut, float strength, const char *outdir, int quiet);

#endif
