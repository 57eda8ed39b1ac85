/* src/job/contact.c - the contact sheet of a graded set (dlut/job.h): one
 * picture with every photo before and after, numbered in the order given.
 *
 * Layout (the numbers tests/t_grade_set.py checks): each photo is a pair of
 * thumbnails, before then after, each fitted into a 320x240 box (aspect
 * kept, centred), 4 px apart, under a 28 px band holding the photo's number
 * (1-based) drawn in a 3x5 pixel font at 4x. Pairs are 644x268, laid out
 * in rows of up to 3 (more columns when 200 rows would not hold the set),
 * 16 px margins and gutters, on a dark grey ground. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/resize.h"

#define BOX_W 320
#define BOX_H 240
#define GAP 4
#define BAND 28
#define MARGIN 16
#define PAIR_W (2 * BOX_W + GAP)
#define PAIR_H (BAND + BOX_H)
#define GLYPH_SCALE 4

/* 3x5 digits, one row per 3 bits (msb left) */
static const unsigned char k_digits[10][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
};

static void sheet_layout(int n, int *cols, int *rows) {
  int c = n < 3 ? n : 3;
  if ((n + c - 1) / c > 200) c = (n + 199) / 200;
  *cols = c;
  *rows = (n + c - 1) / c;
}

void dlut_job_contact_size(int n, int *width, int *height) {
  int cols, rows;
  if (n < 1) n = 1;
  sheet_layout(n, &cols, &rows);
  *width = MARGIN + cols * (PAIR_W + MARGIN);
  *height = MARGIN + rows * (PAIR_H + MARGIN);
}

dlut_image *dlut_job_contact_new(int n) {
  if (n < 1 || n > DLUT_GRADE_SET_MAX) {
    dlut_errorc(DLUT_ERR_INPUT, "contact sheet: %d photos (1..%d)", n, DLUT_GRADE_SET_MAX);
    return NULL;
  }
  int w, h;
  dlut_job_contact_size(n, &w, &h);
  dlut_image *s = dlut_image_alloc(w, h, 3, DLUT_PIXEL_U8);
  if (!s) return NULL;
  memset(s->data, 24, (size_t)h * s->stride);
  return s;
}

/* img fitted into a box x box_h at (x0, y0) of the sheet */
static int draw_thumb(dlut_image *sheet, const dlut_image *img, int x0, int y0) {
  dlut_image *u = dlut_image_convert(img, 3, DLUT_PIXEL_U8);
  if (!u) return -1;
  double sx = (double)BOX_W / u->width, sy = (double)BOX_H / u->height, k = sx < sy ? sx : sy;
  int tw = (int)(u->width * k + 0.5), th = (int)(u->height * k + 0.5);
  if (tw < 1) tw = 1;
  if (th < 1) th = 1;
  if (tw > BOX_W) tw = BOX_W;
  if (th > BOX_H) th = BOX_H;
  uint8_t *t = malloc((size_t)tw * th * 3);
  int rc = -1;
  if (!t) {
    dlut_errorc(DLUT_ERR_NOMEM, "contact sheet: out of memory");
    goto done;
  }
  if (dlut_resize_u8((const uint8_t *)u->data, u->width, u->height, 3, t, tw, th) != 0) goto done;
  const int ox = x0 + (BOX_W - tw) / 2, oy = y0 + (BOX_H - th) / 2;
  for (int y = 0; y < th; y++)
    memcpy((uint8_t *)sheet->data + (size_t)(oy + y) * sheet->stride + (size_t)ox * 3, t + (size_t)y * tw * 3,
           (size_t)tw * 3);
  rc = 0;
done:
  free(t);
  dlut_image_free(u);
  return rc;
}

static void draw_number(dlut_image *sheet, int number, int x0, int y0) {
  char txt[16];
  int len = snprintf(txt, sizeof txt, "%d", number);
  for (int c = 0; c < len; c++) {
    const unsigned char *g = k_digits[txt[c] - '0'];
    for (int r = 0; r < 5; r++)
      for (int b = 0; b < 3; b++) {
        if (!(g[r] >> (2 - b) & 1)) continue;
        for (int dy = 0; dy < GLYPH_SCALE; dy++)
          for (int dx = 0; dx < GLYPH_SCALE; dx++) {
            int x = x0 + c * 4 * GLYPH_SCALE + b * GLYPH_SCALE + dx, y = y0 + r * GLYPH_SCALE + dy;
            if (x < sheet->width && y < sheet->height)
              memset((uint8_t *)sheet->data + (size_t)y * sheet->stride + (size_t)x * 3, 210, 3);
          }
      }
  }
}

int dlut_job_contact_add(dlut_image *sheet, int n, int i, const dlut_image *before, const dlut_image *after) {
  int cols, rows, w, h;
  if (!sheet || !before || !after || i < 0 || i >= n) return dlut_errorc(DLUT_ERR_INPUT, "contact sheet: bad entry");
  dlut_job_contact_size(n, &w, &h);
  if (sheet->width != w || sheet->height != h || sheet->channels != 3 || sheet->type != DLUT_PIXEL_U8)
    return dlut_errorc(DLUT_ERR_INPUT, "contact sheet: not a sheet for %d photos", n);
  sheet_layout(n, &cols, &rows);
  const int x0 = MARGIN + (i % cols) * (PAIR_W + MARGIN), y0 = MARGIN + (i / cols) * (PAIR_H + MARGIN);
  draw_number(sheet, i + 1, x0, y0 + (BAND - 5 * GLYPH_SCALE) / 2 - 2);
  if (draw_thumb(sheet, before, x0, y0 + BAND) != 0) return -1;
  return draw_thumb(sheet, after, x0 + BOX_W + GAP, y0 + BAND);
}
