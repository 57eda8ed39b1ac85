/* UTF-8 checks (dlut/text.h). */
#include "dlut/text.h"

int dlut_utf8_seq_len(const unsigned char *s, size_t n) {
  if (!n) return 0;
  const unsigned c = s[0];
  const int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (!len || (size_t)len > n || (len == 2 && c < 0xC2)) return 0;
  unsigned cp = len == 1 ? c : c & (0x7Fu >> len);
  for (int k = 1; k < len; k++) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (s[k] & 0x3Fu);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return len;
}

int dlut_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    int l = dlut_utf8_seq_len(p + i, n - i);
    if (!l) return 0;
    i += (size_t)l;
  }
  return 1;
}
