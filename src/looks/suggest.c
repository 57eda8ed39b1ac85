/* "Did you mean": the vocabulary forms nearest to a word the parser ignored.
 *
 * English (a word of ASCII letters and digits): the Damerau-Levenshtein
 * distance (optimal string alignment: insertions, deletions, substitutions
 * and transpositions of neighbours, each 1; Damerau 1964, as in most spell
 * checkers) to every form of every term, modifier and named colour, forms
 * compared without their spaces and punctuation ("tealorange" is one edit
 * from nothing but "teal orange"). A form is near when the distance is at
 * most 1 for words of 3-5 letters (with the same first letter: "old" is
 * not a typo of "cold"), 2 for 6-8, 3 for longer, or when the
 * word is the first 4 or more letters of the form ("lomochr" ->
 * "lomochrome purple"); words of 1-2 letters get no suggestion.
 * Chinese (any non-ASCII character): the longest common substring in
 * characters with the Chinese forms; near when it is at least 2
 * characters. The best candidates (smallest distance, then longest common
 * run, then terms before colours and modifiers, then the closest length)
 * are kept, at most 3 a word, each form once.
 *
 * The vocabulary tables are walked on every call (about 2,000 forms, a
 * fraction of a millisecond a word), only for ignored words. The one
 * global is the system's word list, read once for the typing slips. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/looks.h"
#include "looks/looks_internal.h"

#define MAX_KEY 96     /* bytes of a compared form */
#define MAX_PER_WORD 3 /* suggestions a word */
#define MAX_WORDS 8    /* ignored words looked at (bounds the cost: about 0.2 ms a word) */
#define MAX_CHARS 48   /* characters of a Chinese word compared */

typedef struct cand {
  const char *form; /* in the vocabulary table, '|'-terminated */
  int len;          /* its length */
  int owner;        /* the term, modifier or colour it belongs to (one suggestion each) */
  int score;        /* lower is better: 100 x distance + tie-breaks */
} cand;

/* Lower-case ASCII letters and digits of s[0..n) (other ASCII dropped, other bytes kept). */
static int key_of(const char *s, int n, char *key) {
  int k = 0;
  for (int i = 0; i < n && k < MAX_KEY - 1; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) key[k++] = (char)c;
  }
  key[k] = '\0';
  return k;
}

/* Optimal string alignment distance, stopping early above `cap`. */
static int osa_distance(const char *a, int n, const char *b, int m, int cap) {
  if (n - m > cap || m - n > cap) return cap + 1;
  int d[MAX_KEY + 1][MAX_KEY + 1];
  for (int i = 0; i <= n; i++) d[i][0] = i;
  for (int j = 0; j <= m; j++) d[0][j] = j;
  for (int i = 1; i <= n; i++) {
    int row_min = cap + 1;
    for (int j = 1; j <= m; j++) {
      int cost = a[i - 1] != b[j - 1];
      int v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
      if (v < row_min) row_min = v;
    }
    if (row_min > cap) return cap + 1;
  }
  return d[n][m];
}

/* Byte offsets of the code points of s[0..n) in start[0..k), and start[k] = the end; returns k (at most max). */
static int utf8_chars(const char *s, int n, int *start, int max) {
  int k = 0, i = 0;
  while (i < n && k < max) {
    start[k++] = i;
    unsigned char c = (unsigned char)s[i];
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  }
  start[k] = i < n ? i : n;
  return k;
}

/* Longest common substring of a and b, in characters. */
static int lcs_chars(const char *a, int na, const char *b, int nb, int *na_chars, int *nb_chars) {
  int sa[MAX_CHARS + 1], sb[MAX_CHARS + 1];
  int ca = utf8_chars(a, na, sa, MAX_CHARS), cb = utf8_chars(b, nb, sb, MAX_CHARS);
  *na_chars = ca, *nb_chars = cb;
  int best = 0, run[MAX_CHARS + 1] = {0}; /* run[j]: common run ending at a's char i-1 and b's char j-1 */
  for (int i = 1; i <= ca; i++) {
    int diag = 0; /* run[j-1] of the previous row */
    for (int j = 1; j <= cb; j++) {
      int la = sa[i] - sa[i - 1], lb = sb[j] - sb[j - 1];
      int cur = la == lb && memcmp(a + sa[i - 1], b + sb[j - 1], (size_t)la) == 0 ? diag + 1 : 0;
      diag = run[j];
      run[j] = cur;
      if (cur > best) best = cur;
    }
  }
  return best;
}

/* Keep the best MAX_PER_WORD candidates (one per owner), sorted by score. */
static void keep(cand *best, int *nbest, const char *form, int len, int owner, int score) {
  for (int i = 0; i < *nbest; i++)
    if (best[i].owner == owner || (best[i].len == len && memcmp(best[i].form, form, (size_t)len) == 0)) {
      if (score >= best[i].score) return;
      memmove(best + i, best + i + 1, (size_t)(*nbest - i - 1) * sizeof *best); /* replaced below */
      (*nbest)--;
      break;
    }
  int at = *nbest;
  while (at > 0 && best[at - 1].score > score) at--;
  if (at >= MAX_PER_WORD) return;
  int n = *nbest < MAX_PER_WORD ? *nbest + 1 : MAX_PER_WORD;
  memmove(best + at + 1, best + at, (size_t)(n - 1 - at) * sizeof *best);
  best[at] = (cand){form, len, owner, score};
  *nbest = n;
}

/* Score every form of a '|'-separated list; rank_bias orders terms before colours and modifiers. */
static void score_forms(const char *forms, const char *w, int wn, int zh, int rank_bias, int owner, cand *best,
                        int *nbest) {
  if (!forms) return;
  char wkey[MAX_KEY];
  int wk = key_of(w, wn, wkey);
  int cap = wk <= 2 ? -1 : wk <= 5 ? 1 : wk <= 8 ? 2 : 3;
  if (wk == 3 && rank_bias) cap = -1; /* 3 letters: only terms ("wrm"), not every colour and modifier ("cut") */
  for (const char *p = forms; *p;) {
    int n = (int)strcspn(p, "|");
    char fkey[MAX_KEY];
    int fk = key_of(p, n, fkey);
    int has_zh = 0;
    for (int i = 0; i < fk; i++) has_zh |= (unsigned char)fkey[i] >= 0x80;
    int score = -1;
    if (zh && has_zh) {
      int wc, fc, l = lcs_chars(wkey, wk, fkey, fk, &wc, &fc);
      /* distance: the characters of either outside the common run */
      if (l >= 2) score = 100 * ((wc - l) + (fc - l)) + 10 * rank_bias;
    } else if (!zh && !has_zh && cap >= 0 && fk > 0) {
      int d = osa_distance(wkey, wk, fkey, fk, cap);
      if (d > cap && wk >= 4 && fk > wk && memcmp(fkey, wkey, (size_t)wk) == 0) d = cap; /* a prefix */
      /* a short word with another first letter is another word, not a typo ("old" is not "cold", "bad"
       * not "sad", "100" not "e100") */
      if (wk <= 5 && fkey[0] != wkey[0]) d = cap + 1;
      if (d >= 1 && d <= cap) {
        int diff = fk > wk ? fk - wk : wk - fk;
        score = 100 * d + 10 * rank_bias + (diff < 9 ? diff : 9);
      }
    }
    if (score >= 0) keep(best, nbest, p, n, owner, score);
    p += n;
    if (*p == '|') p++;
  }
}

/* Append s[0..n) to out (", "-separated), unless already there or full. */
static size_t append(char *out, size_t len, size_t at, const char *s, int n) {
  for (const char *p = out; p < out + at;) {
    size_t m = strcspn(p, ",");
    if (m == (size_t)n && memcmp(p, s, m) == 0) return at;
    p += m;
    while (*p == ',' || *p == ' ') p++;
  }
  size_t need = (at ? 2 : 0) + (size_t)n;
  if (at + need + 1 > len) return at;
  if (at) out[at++] = ',', out[at++] = ' ';
  memcpy(out + at, s, (size_t)n);
  at += (size_t)n;
  out[at] = '\0';
  return at;
}

int dlut_looks_suggest_word(const char *word, char *out, size_t len) {
  if (!out || !len) return 0;
  out[0] = '\0';
  if (!word) return 0;
  int wn = (int)strlen(word), zh = 0;
  if (wn == 0 || wn >= MAX_KEY) return 0;
  for (int i = 0; i < wn; i++) zh |= (unsigned char)word[i] >= 0x80;
  cand best[MAX_PER_WORD];
  int nbest = 0;
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    score_forms(t->en, word, wn, zh, 0, i, best, &nbest);
    score_forms(t->zh, word, wn, zh, 0, i, best, &nbest);
  }
  for (int i = 0; i < dlut_looks_modifier_count(); i++) {
    const dlut_looks_modifier *m = dlut_looks_modifier_get(i);
    score_forms(m->en, word, wn, zh, 1, 100000 + i, best, &nbest);
    score_forms(m->zh, word, wn, zh, 1, 100000 + i, best, &nbest);
  }
  for (int i = 0; i < looks_color_count(); i++) {
    const looks_color_name *c = looks_color_get(i);
    score_forms(c->en, word, wn, zh, 1, 200000 + i, best, &nbest);
    score_forms(c->zh, word, wn, zh, 1, 200000 + i, best, &nbest);
  }
  /* only the best distance (English) or the longest common run (Chinese) */
  int n = 0;
  size_t at = 0;
  for (int i = 0; i < nbest; i++) {
    if (best[i].score / 100 != best[0].score / 100) break;
    at = append(out, len, at, best[i].form, best[i].len);
    n++;
  }
  return n;
}

/* Is a (n letters) b with two neighbouring letters swapped ("pastle") or one letter doubled ("sepiaa")? */
static int swapped_or_doubled(const char *a, int n, const char *b, int m) {
  if (n == m) {
    int i = 0;
    while (i < n && a[i] == b[i]) i++;
    return i + 1 < n && a[i] == b[i + 1] && a[i + 1] == b[i] && !memcmp(a + i + 2, b + i + 2, (size_t)(n - i - 2));
  }
  if (n != m + 1) return 0;
  int i = 0;
  while (i < m && a[i] == b[i]) i++;
  return i > 0 && a[i] == a[i - 1] && !memcmp(a + i + 1, b + i, (size_t)(m - i));
}

/* ==== The word list: a real English word is not a typing slip ==== */

/* The system's word list (Debian's wamerican, /usr/share/dict/words, or DLUT_WORDS), read once, the
 * first time a slip is considered: its words lower-cased, letters only, sorted for a binary search.
 * Without it the slip rule stands alone (with 5 or 6 letter words only swapped or doubled letters). */
static struct {
  char *text;
  char **words;
  size_t n;
} g_dict;
static pthread_once_t g_dict_once = PTHREAD_ONCE_INIT;

static int cmp_word(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dict_load(void) {
  const char *path = getenv("DLUT_WORDS");
  FILE *f = fopen(path && *path ? path : "/usr/share/dict/words", "rb");
  if (!f) return;
  char *text = NULL, **words = NULL;
  size_t cap = 0, len = 0, n = 0;
  for (;;) { /* the whole file; a word list is about a megabyte */
    if (len + 65536 + 1 > cap) {
      size_t nc = cap ? cap * 2 : (size_t)1 << 20;
      char *t = realloc(text, nc);
      if (!t) goto fail;
      text = t, cap = nc;
    }
    size_t got = fread(text + len, 1, 65536, f);
    len += got;
    if (got < 65536) break;
  }
  text[len] = '\0';
  for (size_t i = 0; i < len; i++) n += text[i] == '\n';
  words = malloc((n + 1) * sizeof *words);
  if (!words) goto fail;
  n = 0;
  for (char *p = text; *p;) {
    size_t l = strcspn(p, "\r\n");
    int letters = l > 0;
    for (size_t i = 0; i < l; i++) {
      unsigned char c = (unsigned char)p[i];
      if (c >= 'A' && c <= 'Z')
        p[i] = (char)(c - 'A' + 'a');
      else if (c < 'a' || c > 'z')
        letters = 0; /* "Brighton's", accented words: not compared */
    }
    char *next = p + l;
    while (*next == '\r' || *next == '\n') next++;
    p[l] = '\0';
    if (letters) words[n++] = p;
    p = next;
  }
  qsort(words, n, sizeof *words, cmp_word);
  fclose(f);
  g_dict.text = text, g_dict.words = words, g_dict.n = n;
  return;
fail:
  fclose(f);
  free(text);
  free(words);
}

/* 1 when the lower-case key is a word of the list, 0 when not, -1 when there is no list. */
static int dict_has(const char *key) {
  pthread_once(&g_dict_once, dict_load);
  if (!g_dict.n) return -1;
  return bsearch(&key, g_dict.words, g_dict.n, sizeof *g_dict.words, cmp_word) != NULL;
}

/* A typing slip read as the word meant (parse.c): the English one-word term form nearest to w[0..wn) that
 * starts with the same letter, when no form of another term is as near, one edit away (a letter added,
 * dropped, changed, or two swapped: "cinematik", "vinatge", "vintge", "dreemy", "dessaturated"). A word
 * of the system's word list is what it says, not a slip ("contract" is not "contrast", "mourning" not
 * "morning", "bench" not "beach"), unless the form is that word with -s, -d or -ed ("highlight" ->
 * "highlights"). Words of 5 letters, and of 6 without the list, take only two neighbours swapped or one
 * letter doubled ("pastle", "sepiaa"); under 5 letters never. Returns the form's length with *form
 * pointing at it (not 0-terminated), or 0. */
int looks_typo_fix(const char *w, int wn, const char **form) {
  char wkey[MAX_KEY];
  if (wn < 5 || wn >= MAX_KEY) return 0;
  int wk = key_of(w, wn, wkey);
  if (wk < 5) return 0;
  const int cap = 1;
  int best_d = cap + 1, best_owner = -1, tie = 0, best_len = 0, have_list = -2;
  const char *best = NULL;
  char best_key[MAX_KEY];
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const char *forms = dlut_looks_term_get(i)->en;
    for (const char *p = forms; p && *p;) {
      int n = (int)strcspn(p, "|");
      char fkey[MAX_KEY];
      int fk = key_of(p, n, fkey);
      if (fk > 0 && fkey[0] == wkey[0] && (int)strcspn(p, " ") >= n) { /* one word forms only */
        int d = osa_distance(wkey, wk, fkey, fk, cap);
        if (d == 1 && wk < 7 && !swapped_or_doubled(wkey, wk, fkey, fk)) {
          if (have_list == -2) have_list = dict_has(wkey) >= 0;
          if (wk < 6 || !have_list) d = cap + 1;
        }
        if (d >= 1 && d < best_d)
          best_d = d, best_owner = i, tie = 0, best = p, best_len = n, memcpy(best_key, fkey, (size_t)fk + 1);
        else if (d >= 1 && d == best_d && i != best_owner)
          tie = 1;
      }
      p += n;
      if (*p == '|') p++;
    }
  }
  if (!best || tie || best_d > cap) return 0;
  if (dict_has(wkey) == 1) { /* a real word: only when the form is it with an ending */
    const char *end = best_key + wk;
    if (memcmp(best_key, wkey, (size_t)wk) != 0 || (strcmp(end, "s") && strcmp(end, "d") && strcmp(end, "ed")))
      return 0; /* "vision" is not "vision3", "double" not "double x" */
  }
  *form = best;
  return best_len;
}

int dlut_looks_suggest(const char *ignored, char *out, size_t len) {
  if (!out || !len) return 0;
  out[0] = '\0';
  if (!ignored) return 0;
  int words = 0, found = 0;
  size_t at = 0;
  for (const char *p = ignored; *p && words < MAX_WORDS; words++) {
    size_t n = strcspn(p, ",");
    char w[MAX_KEY], s[256];
    if (n > 0 && n < sizeof w) {
      memcpy(w, p, n);
      w[n] = '\0';
      if (dlut_looks_suggest_word(w, s, sizeof s) > 0) {
        found++;
        for (const char *q = s; *q;) { /* merge, each form once */
          size_t m = strcspn(q, ",");
          at = append(out, len, at, q, (int)m);
          q += m;
          while (*q == ',' || *q == ' ') q++;
        }
      }
    }
    p += n;
    while (*p == ',' || *p == ' ') p++;
  }
  return found;
}
