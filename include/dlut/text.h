/* dlut/text.h - UTF-8 checks shared by everything that puts text into JSON
 * or files (prompts, options, LUT titles, upload names).
 *
 * Well-formed UTF-8 per RFC 3629: no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF.
 */
#ifndef DLUT_TEXT_H
#define DLUT_TEXT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Length (1..4) of the well-formed UTF-8 sequence at s (n bytes left), or 0
 * if the bytes there are not one. */
int dlut_utf8_seq_len(const unsigned char *s, size_t n);

/* Nonzero if s[0..n) is all well-formed UTF-8. */
int dlut_utf8_valid(const char *s, size_t n);

#ifdef __cplusplus
}
#endif
#endif
