/* src/video/video_internal.h - the colour conversions between decoded video
 * planes and float RGB (yuv.c), shared by the apply and sampling paths and
 * tested by tests/test_video_yuv.c against a double-precision reference. */
#ifndef DLUT_VIDEO_INTERNAL_H
#define DLUT_VIDEO_INTERNAL_H

#include <stdint.h>

/* How one pixel format stores colour: component c (R, G, B for RGB
 * formats, else Y, Cb, Cr) of pixel x in row y is the byte (bits <= 8) or
 * little-endian 16-bit word at data[plane[c]] + y * linesize + x * step[c]
 * + offset[c], shifted left by shift[c] (FFmpeg's AVComponentDescriptor).
 * Planar (yuv420p, gbrp10le), semi-planar (nv12, p010le) and packed
 * (rgb24, bgr0, rgb48le, yuyv422) formats all fit. */
typedef struct vid_layout {
  int rgb;                                    /* components are R, G, B; else Y, Cb, Cr */
  int bits;                                   /* significant bits per sample, 8..16 (16-bit words above 8) */
  int plane[3], step[3], offset[3], shift[3]; /* per component, step and offset in bytes */
  int log2_cw;                                /* chroma subsampling: width shift (0 or 1) */
  int log2_ch;                                /* height shift (0 or 1) */
  double kr, kb;                              /* luma coefficients of the matrix (unused for rgb) */
  int full;                                   /* full ("pc") range; else limited ("tv") */
} vid_layout;

/* Planes of one frame: data[p] + y * linesize[p] is row y of plane p (up to 3 planes). */
typedef struct vid_planes {
  uint8_t *data[3];
  int linesize[3];
  int width, height; /* luma size */
} vid_planes;

/* Planes -> (height*width, 3) float R'G'B' (rows top to bottom), not
 * clamped: codes beyond the nominal range give values beyond [0,1]. Every
 * luma sample takes the chroma sample of the block it lies in. */
void vid_to_rgb(const vid_layout *l, const vid_planes *p, float *rgb);

/* (height*width, 3) float R'G'B' -> planes: luma per pixel, chroma the mean
 * over the block of each pixel's chroma; codes rounded to nearest and
 * clamped to [0, 2^bits - 1]. */
void vid_from_rgb(const vid_layout *l, const float *rgb, vid_planes *p);

/* Naive references (one pixel at a time, double precision). */
void vid_to_rgb_ref(const vid_layout *l, const vid_planes *p, float *rgb);
void vid_from_rgb_ref(const vid_layout *l, const float *rgb, vid_planes *p);

/* Kr, Kb of an FFmpeg AVColorSpace value (AVCOL_SPC_*): BT.709 (1), FCC (4),
 * BT.470BG/SMPTE 170M = BT.601 (5, 6), SMPTE 240M (7), BT.2020 NCL (9).
 * Unspecified (2) or reserved: BT.709 for frames at least 1280 wide or 720
 * high, BT.601 below (what players assume). -1 for matrices this module
 * cannot convert (YCgCo, BT.2020 CL, ICtCp, ...). */
int vid_matrix_coeffs(int avcol_spc, int width, int height, double *kr, double *kb);

#endif
