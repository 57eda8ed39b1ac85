/* src/lut/io_internal.h - private interface of the LUT file readers and
 * writers (src/lut/io*.c). Not installed; the public contract is the Files
 * section of dlut/lut.h.
 *
 * Every reader parses from memory (so the fuzz targets in fuzz/ reach the
 * exact code that dlut_lut_load runs) and names `name` (the file name) and
 * the line in every error: "look.cube:12: expected 3 numbers, found 2".
 * Every writer writes to a FILE* that the caller opened (dlut_lut_save
 * hands it the temporary file of an atomic write).
 */
#ifndef DLUT_LUT_IO_INTERNAL_H
#define DLUT_LUT_IO_INTERNAL_H

#include <stddef.h>
#include <stdio.h>

#include "dlut/lut.h"

/* Largest LUT text file accepted. A 256^3 .cube written with 9 decimals is
 * about 560 MB, so 1 GiB leaves room for wide spacing and comments while
 * still refusing absurd inputs before they are read into memory. */
#define DLUT_LUT_MAX_FILE_BYTES ((size_t)1 << 30)

/* ==== Text scanning shared by the .cube and .3dl readers (io_text.c) ==== */

/* A cursor over a text buffer, one line at a time. Lines end at "\n",
 * "\r\n" or a lone "\r"; the last line may lack a terminator. */
typedef struct lut_text {
  const char *p;    /* next unread byte */
  const char *end;  /* one past the last byte */
  const char *name; /* file name for messages */
  int line;         /* 1-based number of the line last returned by lut_text_next */
} lut_text;

/* At most this many whitespace-separated tokens are looked at per line;
 * a line with more is reported with its real count (up to INT_MAX). */
#define LUT_TEXT_MAX_TOKENS 8

/* One line split into tokens (pointers into the buffer, not terminated). */
typedef struct lut_line {
  const char *tok[LUT_TEXT_MAX_TOKENS]; /* token starts */
  int len[LUT_TEXT_MAX_TOKENS];         /* token lengths */
  int n;                                /* number of tokens on the line (may exceed LUT_TEXT_MAX_TOKENS) */
  const char *start;                    /* the whole line, without its terminator */
  const char *stop;
} lut_line;

void lut_text_init(lut_text *t, const void *data, size_t size, const char *name);

/* Next line, split on spaces and tabs. Returns 1 and fills *ln, or 0 at the
 * end of the buffer. */
int lut_text_next(lut_text *t, lut_line *ln);

/* Parse a token as a finite number in the C locale ("0.5", "-1", "1e-3",
 * ".5", "5."). Rejects nan, inf, hex floats, values beyond float range and
 * trailing junk. Returns 0, or -1 with dlut_last_error() set to
 * "NAME:LINE: <reason>". */
int lut_parse_float(const lut_text *t, const char *tok, int len, float *out);

/* Parse a token as a decimal integer in [lo, hi] (optional sign). */
int lut_parse_int(const lut_text *t, const char *tok, int len, long lo, long hi, long *out);

/* Nonzero if token equals the keyword (exact, case-sensitive). */
int lut_tok_is(const char *tok, int len, const char *kw);

/* Set "NAME:LINE: message" as the error and return -1. */
int lut_text_error(const lut_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Write a float with '.' as the decimal point whatever the locale: fixed
 * notation, 9 decimals, trailing zeros trimmed ("0.5", "1", "-0.001953125"),
 * never an exponent; |v| >= 1e9 as a plain integer. The text is within
 * 5e-10 of v; read back, |v| >= 2^-6 gives v exactly, smaller values come
 * back within 1e-9. buf needs 64 bytes. Returns buf. */
char *lut_format_float(float v, char buf[64]);
int lut_format_float_len(float v, char buf[64]); /* the same, returning the length */

/* ==== Format readers (in memory) ==== */

dlut_lut *dlut_lut_parse_cube(const void *data, size_t size, const char *name);
dlut_lut *dlut_lut_parse_3dl(const void *data, size_t size, const char *name);
/* A Hald CLUT from an encoded image (PNG etc.; uses dlut_image_load_memory). */
dlut_lut *dlut_lut_parse_hald(const void *data, size_t size, const char *name);
/* A Hald CLUT from a decoded image (any sample type, 3 or 4 channels). */
dlut_lut *dlut_lut_from_hald_image(const dlut_image *img, const char *name);

/* ==== Format writers ==== */

int dlut_lut_write_cube(const dlut_lut *lut, FILE *f, const char *name);
/* bits: 10, 12 or 16 (output integers); the LUT must be 3D with domain
 * [0,1] and no shaper (dlut_lut_save resamples others first). */
int dlut_lut_write_3dl(const dlut_lut *lut, FILE *f, int bits, const char *name);
/* The Hald image of level L for a 3D LUT of size L*L over [0,1] without a
 * shaper; bits 8 or 16. */
dlut_image *dlut_lut_to_hald_image(const dlut_lut *lut, int bits, const char *name);

/* A LUT with size 0/shaper 0 is allowed by dlut_lut_alloc; this checks the
 * invariants that every reader guarantees on what it returns. */
int lut_io_check(const dlut_lut *lut);

/* The title as a writer can put it on one line: control bytes (and, with
 * no_quotes, '"') become `sub`, and a UTF-8 sequence cut short at the end
 * (a title truncated to the field's 255 bytes in the middle of a Chinese
 * character) is dropped, so the file stays valid UTF-8. out has 256 bytes. */
void lut_title_line(const dlut_lut *lut, int no_quotes, char sub, char out[256]);

#endif
