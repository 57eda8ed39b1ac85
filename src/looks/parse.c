/* The prompt parser: NFKC normalisation, segmentation (English by words
 * and longest phrase, Chinese by longest match against the vocabulary),
 * modifiers (degree, direction, negation, cap) and the sum of the matched
 * terms into a dlut_look. See dlut/looks.h for the rules.
 *
 * The lexicon (every form of every term, modifier, colour name, stop word
 * and separator) is built once, sorted, and searched by binary search;
 * it is read-only afterwards, so parsing is thread-safe. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/looks.h"
#include "looks/looks_internal.h"

/* ==== The lexicon ==== */

enum {
  LEX_TERM,
  LEX_QUAL,
  LEX_CAST,
  LEX_AWB,
  LEX_COLOR,
  LEX_MOD,
  LEX_SLIDER,
  LEX_STATE,
  LEX_EXCEPT,
  LEX_STOP,
  LEX_SEP
};
enum {
  MOD_INTENS,
  MOD_MORE,
  MOD_LESS,
  MOD_SOFT,
  MOD_NEG,
  MOD_CAP,
  MOD_EXTREME,
  MOD_TOO,
  MOD_FIX,
  MOD_ENOUGH,
  MOD_KEEP,
  MOD_COUNT
};
/* NEG reverses at half strength; CAP ("not too X") keeps X's direction: 0.4 is X's gentle amount when
 * the prompt says nothing else, otherwise it only caps X at half its plain amount (see the summing).
 * EXTREME is the step above "very"; TOO ("too", 过) alone is a complaint, "less" ("too blue", 过暖:
 * the photo is too blue), and after a negation it makes the negation a cap ("don't make it too
 * warm", 不要过暖 = "not too warm"). FIX ("fix", "correct", 校正) is a negation of a colour or a
 * tint ("fix the yellow cast" = "remove the yellow cast"), of a cast alone the photo's own cast ("correct
 * the colour cast"); before anything else ("fix the exposure") it is ignored: there is nothing it
 * could measure. ENOUGH after a negation is "more" ("not bright enough"), alone nothing. KEEP before a
 * control's name ("keep the highlights") holds that control where it is (CAP_KEEP), before anything
 * else it is nothing ("keep it warm" is warm). */
static const float k_mod_weight[MOD_COUNT] = {1.6f, 1.3f, -0.8f, 0.5f, -0.5f, 0.4f, 2.0f, 1.0f, -0.5f, 1.0f, 1.0f};
/* Degree words compound ("very very warm" x2.56) up to this much of the plain term, either way: a
 * prompt of a hundred "very"s is an extremely strong look, not an overflow. */
#define WEIGHT_MAX 2.4f
#define CAP_NEG 1      /* match.capped: "no X" */
#define CAP_TOO 2      /* match.capped: "not too X" */
#define CAP_KEEP 3     /* match.capped: "keep X": X's controls stay at zero, whatever the other terms do */
#define CAP_LIMIT 0.5f /* "not too X" caps X at this fraction of its plain amount */

typedef struct lex_entry {
  const char *s; /* normalised form (English: words joined by one space) */
  uint16_t len;  /* strlen(s) */
  uint8_t kind;  /* LEX_* */
  int8_t maker;  /* a film maker's name (looks_maker_forms index), else -1 */
  int16_t id;    /* term index, colour index or MOD_* */
} lex_entry;

#define MAX_FORM 96 /* bytes of one normalised form */

static struct {
  lex_entry *entries;
  int n;
  char *arena;            /* all normalised strings */
  dlut_look *term_delta;  /* (n_terms) the effect of each term at weight 1 */
  dlut_look *color_delta; /* (n_colors) */
  uint8_t *term_film;     /* (n_terms) nonzero for the terms of group "film" */
  uint8_t *term_tint;     /* (n_terms) nonzero for the terms of group "tint" (green tint, 偏粉 ...) */
  uint16_t *term_makers;  /* (n_terms) bit m: a stock of maker m (see stock_makers) */
  int term_shadows, term_highlights, term_natural, term_sea; /* terms that double as qualifiers (-1 if absent) */
  int term_saturated;                                        /* the degree-only hue edit ("make reds deeper") */
  int term_recover; /* the highlight roll-off, a correction itself ("blown", 溢出): no complaint turns it round */
  int term_warm, term_magenta, term_faded, term_crushed, term_exposure, term_bright, term_dark; /* sliders' terms */
  uint8_t *term_slider; /* (n_terms) nonzero for the terms a number reads on the editors' -100..100 scale */
  uint8_t *term_scene;  /* (n_terms) nonzero for the words that can say what the photo shows (light, season,
                         * sea, fog): in a description before a request they are content, not the grade */
  int ok;
  char error[256];
} g_lex;
static pthread_once_t g_lex_once = PTHREAD_ONCE_INIT;

/* NFKC + case fold, and accents dropped (utf8proc's STRIPMARK: "amélie" reads as "amelie", so Latin
 * words with diacritics match the ASCII forms; Chinese has no combining marks). malloc'd, or NULL. */
static utf8proc_uint8_t *fold(const char *s) {
  utf8proc_uint8_t *out = NULL;
  utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, 0, &out,
                                    UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                                        UTF8PROC_CASEFOLD | UTF8PROC_IGNORE | UTF8PROC_STRIPMARK);
  if (n < 0) return NULL;
  return out;
}

/* Normalise a form the way prompts are normalised: NFKC + case fold; ASCII
 * runs are split into words at anything that is not a letter or digit
 * (apostrophes are dropped: "don't" -> "dont"), words joined by one space.
 * Returns the length written into out (cap bytes), or -1. */
static int normalise_form(const char *in, char *out, size_t cap) {
  utf8proc_uint8_t *n = fold(in);
  if (!n) return -1;
  size_t o = 0;
  int pending_space = 0;
  for (const unsigned char *p = n; *p; p++) {
    unsigned char c = *p;
    if (c == '\'') continue;
    int word = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80;
    if (!word) {
      pending_space = o > 0;
      continue;
    }
    if (pending_space) {
      if (o + 1 >= cap) goto too_long;
      out[o++] = ' ';
      pending_space = 0;
    }
    if (o + 1 >= cap) goto too_long;
    out[o++] = (char)c;
  }
  out[o] = '\0';
  free(n);
  return (int)o;
too_long:
  free(n);
  return -1;
}

/* Traditional characters as the simplified ones of the vocabulary (hant.c), in place: both forms
 * of every pair are 3 bytes of UTF-8. s is valid UTF-8. */
static void hant_in_place(unsigned char *s) {
  for (size_t i = 0; s[i];) {
    if ((s[i] & 0xF0) != 0xE0) {
      i++;
      continue;
    }
    uint32_t cp = (uint32_t)(s[i] & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (uint32_t)(s[i + 2] & 0x3F);
    uint32_t to = looks_hant_to_hans(cp);
    if (to != cp && to >= 0x800 && to <= 0xFFFF) {
      s[i] = (unsigned char)(0xE0 | to >> 12);
      s[i + 1] = (unsigned char)(0x80 | (to >> 6 & 0x3F));
      s[i + 2] = (unsigned char)(0x80 | (to & 0x3F));
    }
    i += 3;
  }
}

static int lex_cmp(const void *a, const void *b) {
  const lex_entry *x = a, *y = b;
  int c = strcmp(x->s, y->s);
  if (c) return c;
  return x->kind != y->kind ? x->kind - y->kind : x->id - y->id; /* stable: terms win over colours etc. */
}

/* Add each '|'-separated form of `forms` to the lexicon (count only when entries is NULL). */
static int add_forms(const char *forms, int kind, int id, size_t *n, size_t *bytes, int fill) {
  if (!forms) return 0;
  const char *p = forms;
  while (*p) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    char raw[MAX_FORM], norm[MAX_FORM];
    if (len == 0 || len >= sizeof raw) return -1;
    memcpy(raw, p, len);
    raw[len] = '\0';
    int nl = normalise_form(raw, norm, sizeof norm);
    if (nl < 0) return -1;
    if (nl > 0) {
      if (fill) {
        char *dst = g_lex.arena + *bytes;
        memcpy(dst, norm, (size_t)nl + 1);
        g_lex.entries[*n] = (lex_entry){dst, (uint16_t)nl, (uint8_t)kind, -1, (int16_t)id};
      }
      (*n)++;
      *bytes += (size_t)nl + 1;
    }
    p += len;
    if (*p == '|') p++;
  }
  return 0;
}

static int add_all(size_t *n, size_t *bytes, int fill) {
  *n = *bytes = 0;
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    if (add_forms(t->en, LEX_TERM, i, n, bytes, fill) || add_forms(t->zh, LEX_TERM, i, n, bytes, fill)) return -1;
  }
  for (int i = 0; i < dlut_looks_modifier_count(); i++) {
    const dlut_looks_modifier *m = dlut_looks_modifier_get(i);
    if (add_forms(m->en, LEX_MOD, i, n, bytes, fill) || add_forms(m->zh, LEX_MOD, i, n, bytes, fill)) return -1;
  }
  for (int i = 0; i < looks_color_count(); i++) {
    const looks_color_name *c = looks_color_get(i);
    if (add_forms(c->en, LEX_COLOR, i, n, bytes, fill) || add_forms(c->zh, LEX_COLOR, i, n, bytes, fill)) return -1;
  }
  for (int q = 1; q < LOOKS_QUAL_COUNT; q++)
    for (int zh = 0; zh < 2; zh++)
      if (add_forms(looks_qual_forms(q, zh), LEX_QUAL, q, n, bytes, fill)) return -1;
  for (int zh = 0; zh < 2; zh++)
    if (add_forms(looks_cast_forms(zh), LEX_CAST, 0, n, bytes, fill) ||
        add_forms(looks_awb_forms(zh), LEX_AWB, 0, n, bytes, fill) ||
        add_forms(looks_neutral_forms(zh), LEX_AWB, 1, n, bytes, fill))
      return -1;
  for (int i = 0; i < looks_slider_count(); i++) {
    const looks_slider *sl = looks_slider_get(i);
    if (add_forms(sl->en, LEX_SLIDER, i, n, bytes, fill) || add_forms(sl->zh, LEX_SLIDER, i, n, bytes, fill)) return -1;
  }
  for (int zh = 0; zh < 2; zh++)
    for (int i = 0; i < looks_state_count(zh); i++)
      if (add_forms(looks_state_get(zh, i), LEX_STATE, 0, n, bytes, fill)) return -1;
  for (int zh = 0; zh < 2; zh++)
    for (int i = 0; i < looks_except_count(zh); i++) {
      int only;
      const char *form = looks_except_get(zh, i, &only);
      if (add_forms(form, LEX_EXCEPT, only, n, bytes, fill)) return -1;
    }
  for (int zh = 0; zh < 2; zh++) {
    for (int i = 0; i < looks_stop_count(zh); i++)
      if (add_forms(looks_stop_get(zh, i), LEX_STOP, 0, n, bytes, fill)) return -1;
    for (int i = 0; i < looks_sep_count(zh); i++)
      if (add_forms(looks_sep_get(zh, i), LEX_SEP, looks_sep_is_list(zh, i), n, bytes, fill)) return -1;
  }
  return 0;
}

/* The CIELAB hue (degrees) in which a faint cast of a named colour moves a
 * mid grey so that it looks like that colour: the colour's hue in OkLab
 * (Ottosson 2020, whose hue lines follow perceived hue, unlike CIELAB's
 * for blues: pure blue is at 306 deg in CIELAB, violet for a cast), taken
 * at low chroma around mid grey and measured in CIELAB. */
double looks_color_cast_hue(const unsigned char rgb8[3]) {
  double lin[3], ok[3];
  for (int c = 0; c < 3; c++) {
    double v = rgb8[c] / 255.0;
    lin[c] = v <= 0.04045 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
  }
  looks_oklab_from_linear(lin, ok);
  double h = atan2(ok[2], ok[1]);
  double g[3] = {0.6, 0.03 * cos(h), 0.03 * sin(h)}, l3[3];
  looks_oklab_to_linear(g, l3);
  float rgb[3], lab[3];
  for (int r = 0; r < 3; r++) {
    double v = l3[r];
    v = v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1.0 / 2.4) - 0.055;
    rgb[r] = (float)v;
  }
  dlut_color_srgb_to_lab(rgb, lab, 1);
  double hd = atan2(lab[2], lab[1]) * 180.0 / M_PI;
  return hd < 0 ? hd + 360.0 : hd;
}

/* The effect of a named colour: tint the image towards its (perceived)
 * hue, in proportion to its chroma; near-neutral colours desaturate and
 * move the brightness towards their lightness. */
static void color_effect(const looks_color_name *c, dlut_look *d) {
  float rgb[3] = {c->rgb[0] / 255.0f, c->rgb[1] / 255.0f, c->rgb[2] / 255.0f}, lab[3], lch[3];
  dlut_color_srgb_to_lab(rgb, lab, 1);
  dlut_color_lab_to_lch(lab, lch, 1);
  dlut_look_init(d);
  if (lch[1] < 10.0f) {
    d->saturation = -0.3f;
    d->brightness = (lch[0] - 50.0f) / 100.0f * 0.5f;
    return;
  }
  float cc = fminf(lch[1], 60.0f), h = (float)(looks_color_cast_hue(c->rgb) * M_PI / 180.0);
  float ca = cosf(h), sa = sinf(h);
  d->cast_ab[0] = 0.13f * cc * ca;
  d->cast_ab[1] = 0.13f * cc * sa;
  d->shadow_ab[0] = 0.10f * cc * ca;
  d->shadow_ab[1] = 0.10f * cc * sa;
  d->highlight_ab[0] = 0.06f * cc * ca;
  d->highlight_ab[1] = 0.06f * cc * sa;
}

static const lex_entry *lex_find(const char *s, size_t len);

/* Mark the makers' forms in the lexicon and find each film term's makers: maker m's own term (its
 * forms are terms' forms: "kodak" is Kodak Gold's) and every film term with a form that starts with
 * one of m's forms ("kodak portra", "富士200"; English at a word boundary). Returns 0, or -1 with
 * g_lex.error set (a maker form that is no term's form: a bug in vocab.c). */
static int stock_makers(void) {
  lex_entry *mk[32];
  int nmk = 0;
  for (int m = 0; m < looks_maker_count(); m++)
    for (int zh = 0; zh < 2; zh++)
      for (const char *p = looks_maker_forms(m, zh); p && *p;) {
        size_t k = strcspn(p, "|");
        char raw[MAX_FORM], norm[MAX_FORM];
        snprintf(raw, sizeof raw, "%.*s", (int)k, p);
        int nl = normalise_form(raw, norm, sizeof norm);
        lex_entry *e = nl > 0 ? (lex_entry *)lex_find(norm, (size_t)nl) : NULL;
        if (!e || e->kind != LEX_TERM || !g_lex.term_film[e->id] || nmk == (int)(sizeof mk / sizeof *mk)) {
          snprintf(g_lex.error, sizeof g_lex.error, "looks: maker form '%s' is not a film term's form", raw);
          return -1;
        }
        e->maker = (int8_t)m;
        mk[nmk++] = e;
        p += k;
        if (*p == '|') p++;
      }
  for (int i = 0; i < g_lex.n; i++) {
    const lex_entry *e = &g_lex.entries[i];
    if (e->kind != LEX_TERM || !g_lex.term_film[e->id]) continue;
    for (int k = 0; k < nmk; k++) {
      const lex_entry *m = mk[k];
      int own = e == m;
      int prefix =
          e->len > m->len && memcmp(e->s, m->s, m->len) == 0 && (e->s[m->len] == ' ' || (unsigned char)m->s[0] >= 0x80);
      if (own || prefix) g_lex.term_makers[e->id] |= (uint16_t)(1u << m->maker);
    }
  }
  return 0;
}

static void lex_build(void) {
  size_t n, bytes;
  if (add_all(&n, &bytes, 0) != 0) {
    snprintf(g_lex.error, sizeof g_lex.error, "looks: a vocabulary form is too long or not UTF-8");
    return;
  }
  g_lex.entries = malloc(n * sizeof *g_lex.entries);
  g_lex.arena = malloc(bytes ? bytes : 1);
  int nt = dlut_looks_term_count(), nc = looks_color_count();
  g_lex.term_delta = calloc((size_t)nt, sizeof(dlut_look));
  g_lex.color_delta = calloc((size_t)nc, sizeof(dlut_look));
  g_lex.term_film = calloc((size_t)nt, 1);
  g_lex.term_tint = calloc((size_t)nt, 1);
  g_lex.term_makers = calloc((size_t)nt, sizeof *g_lex.term_makers);
  g_lex.term_slider = calloc((size_t)nt, 1);
  g_lex.term_scene = calloc((size_t)nt, 1);
  if (!g_lex.entries || !g_lex.arena || !g_lex.term_delta || !g_lex.color_delta || !g_lex.term_film ||
      !g_lex.term_tint || !g_lex.term_makers || !g_lex.term_slider || !g_lex.term_scene) {
    snprintf(g_lex.error, sizeof g_lex.error, "looks: out of memory building the vocabulary");
    return;
  }
  if (add_all(&n, &bytes, 1) != 0) return;
  qsort(g_lex.entries, n, sizeof *g_lex.entries, lex_cmp);
  /* drop duplicate forms: the first (by kind: term, colour, modifier, stop, separator) wins */
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (w == 0 || strcmp(g_lex.entries[w - 1].s, g_lex.entries[i].s) != 0) g_lex.entries[w++] = g_lex.entries[i];
  g_lex.n = (int)w;
  for (int i = 0; i < nt; i++) {
    dlut_look_init(&g_lex.term_delta[i]);
    if (looks_effect_apply(dlut_looks_term_get(i)->effect, 1.0f, &g_lex.term_delta[i]) != 0) {
      snprintf(g_lex.error, sizeof g_lex.error, "looks: term %d: %s", i, dlut_last_error());
      return;
    }
  }
  for (int i = 0; i < nc; i++) color_effect(looks_color_get(i), &g_lex.color_delta[i]);
  for (int i = 0; i < nt; i++) {
    g_lex.term_film[i] = strcmp(dlut_looks_term_get(i)->group, "film") == 0;
    g_lex.term_tint[i] = strcmp(dlut_looks_term_get(i)->group, "tint") == 0;
    const char *gr = dlut_looks_term_get(i)->group;
    g_lex.term_slider[i] =
        !strcmp(gr, "temperature") || !strcmp(gr, "tint") || !strcmp(gr, "tone") || !strcmp(gr, "saturation");
    g_lex.term_scene[i] = !strcmp(gr, "light") || !strcmp(gr, "season");
  }
  if (stock_makers() != 0) return;
  const char *probe[11] = {"shadows", "highlights", "natural",  "ocean",  "warm", "magenta tint",
                           "faded",   "crushed",    "exposure", "bright", "dark"};
  int *dst[11] = {&g_lex.term_shadows,  &g_lex.term_highlights, &g_lex.term_natural, &g_lex.term_sea,
                  &g_lex.term_warm,     &g_lex.term_magenta,    &g_lex.term_faded,   &g_lex.term_crushed,
                  &g_lex.term_exposure, &g_lex.term_bright,     &g_lex.term_dark};
  for (int k = 0; k < 11; k++) {
    const lex_entry *e = lex_find(probe[k], strlen(probe[k]));
    *dst[k] = e && e->kind == LEX_TERM ? e->id : -1;
    if (k >= 4 && *dst[k] < 0) { /* the sliders need these: a bug in vocab.c */
      snprintf(g_lex.error, sizeof g_lex.error, "looks: the vocabulary has no term '%s'", probe[k]);
      return;
    }
  }
  const lex_entry *rec = lex_find("highlight rolloff", 17);
  g_lex.term_recover = rec && rec->kind == LEX_TERM ? rec->id : -1;
  const lex_entry *sat = lex_find("saturated", 9);
  g_lex.term_saturated = sat && sat->kind == LEX_TERM ? sat->id : -1;
  if (g_lex.term_saturated < 0) {
    snprintf(g_lex.error, sizeof g_lex.error, "looks: the vocabulary has no term 'saturated'");
    return;
  }
  const lex_entry *fog = lex_find("foggy", 5);
  if (g_lex.term_sea >= 0) g_lex.term_scene[g_lex.term_sea] = 1;
  if (fog && fog->kind == LEX_TERM) g_lex.term_scene[fog->id] = 1;
  const lex_entry *food = lex_find("food", 4); /* "a photo of food, make it cold" */
  if (food && food->kind == LEX_TERM) g_lex.term_scene[food->id] = 1;
  g_lex.ok = 1;
}

static int lex_ready(void) {
  pthread_once(&g_lex_once, lex_build);
  if (!g_lex.ok) return dlut_error("%s", g_lex.error[0] ? g_lex.error : "looks: vocabulary not available");
  return 0;
}

/* Exact lookup of s[0..len). */
static const lex_entry *lex_find(const char *s, size_t len) {
  int lo = 0, hi = g_lex.n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    const lex_entry *e = &g_lex.entries[mid];
    size_t m = e->len < len ? e->len : len;
    int c = memcmp(e->s, s, m);
    if (c == 0) c = e->len < len ? -1 : e->len > len ? 1 : 0;
    if (c == 0) return e;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid - 1;
  }
  return NULL;
}

/* ==== Tokens ==== */

enum {
  TOK_TERM,
  TOK_COLOR,
  TOK_MOD,
  TOK_STOP,
  TOK_SEP,
  TOK_UNKNOWN,
  TOK_QUAL,
  TOK_CAST,
  TOK_AWB,
  TOK_SLIDER,
  TOK_STATE,
  TOK_EXCEPT, /* "except", 除了 (id 0), "keep only", 只保留 (id 1) */
  TOK_NUM
};

typedef struct token {
  int kind;   /* TOK_* */
  int id;     /* term / colour / modifier id */
  int at;     /* byte offset in the normalised prompt */
  int len;    /* bytes */
  int maker;  /* the token is a film maker's name alone ("kodak", "富士"): its looks_maker_forms index, else -1 */
  double val; /* TOK_NUM: the number, signed */
  int unit;   /* TOK_NUM: NUM_PLAIN, NUM_KELVIN, NUM_STOPS */
  int point;  /* TOK_NUM: written with a decimal point */
  const char *typo; /* a typing slip read as this lexicon form ("cinematik": "cinematic"), else NULL */
} token;
enum { NUM_PLAIN, NUM_KELVIN, NUM_STOPS, NUM_KELVIN_DELTA /* "+500K", 调低500k: a change of the white balance */ };

#define MAX_PHRASE_WORDS 5

static int is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '\'';
}

/* English fallback: try simple suffixes ("warmish", "greens", "contrasty") for terms and colours only. */
/* A term or colour under an English ending ("warmer", "bluish", "faded"). *degree is the modifier the
 * ending carries, or -1: the comparative is "more" ("warmer" as 更暖), the superlative "very"
 * ("warmest"). */
static const lex_entry *find_stemmed(const char *w, size_t len, int *degree) {
  static const char *const suffixes[] = {"ish", "es", "s", "er", "est", "y", "ly", "ed", "ness", "r", "d"};
  *degree = -1;
  /* "moodier", "sunniest" (y -> ier, iest); "redder", "dimmest" (the consonant doubled) */
  for (int sup = 0; sup < 2; sup++) {
    size_t sl = sup ? 4 : 3;
    if (len > sl + 2 && memcmp(w + len - sl, sup ? "iest" : "ier", sl) == 0 && len - sl + 1 < MAX_FORM) {
      char b[MAX_FORM];
      memcpy(b, w, len - sl);
      b[len - sl] = 'y';
      const lex_entry *e = lex_find(b, len - sl + 1);
      if (e && (e->kind == LEX_TERM || e->kind == LEX_COLOR)) {
        *degree = sup ? MOD_INTENS : MOD_MORE;
        return e;
      }
    }
    sl = sup ? 3 : 2;
    if (len > sl + 3 && memcmp(w + len - sl, sup ? "est" : "er", sl) == 0 && w[len - sl - 1] == w[len - sl - 2]) {
      const lex_entry *e = lex_find(w, len - sl - 1);
      if (e && (e->kind == LEX_TERM || e->kind == LEX_COLOR)) {
        *degree = sup ? MOD_INTENS : MOD_MORE;
        return e;
      }
    }
  }
  /* "warming", "cooling", "fading" (an e dropped), "dimming" (the consonant doubled): the verb, no degree */
  if (len > 6 && memcmp(w + len - 3, "ing", 3) == 0 && len - 2 < MAX_FORM) {
    const size_t bl = len - 3;
    char b[MAX_FORM];
    memcpy(b, w, bl);
    b[bl] = 'e';
    const lex_entry *e = lex_find(w, bl);
    if (!e || (e->kind != LEX_TERM && e->kind != LEX_COLOR)) e = lex_find(b, bl + 1);
    if ((!e || (e->kind != LEX_TERM && e->kind != LEX_COLOR)) && w[bl - 1] == w[bl - 2]) e = lex_find(w, bl - 1);
    if (e && (e->kind == LEX_TERM || e->kind == LEX_COLOR)) return e;
  }
  for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
    size_t sl = strlen(suffixes[i]);
    if (len > sl + 2 && memcmp(w + len - sl, suffixes[i], sl) == 0) {
      const lex_entry *e = lex_find(w, len - sl);
      if (e && (e->kind == LEX_TERM || e->kind == LEX_COLOR)) {
        if (!strcmp(suffixes[i], "er") || !strcmp(suffixes[i], "r")) *degree = MOD_MORE;
        if (!strcmp(suffixes[i], "est")) *degree = MOD_INTENS;
        return e;
      }
    }
  }
  return NULL;
}

/* A word typed with a letter held down ("moooody", "warmmm", "brighterrr"): each run of three or more of one
 * letter read as two, then as one, as a form or under an ending (find_stemmed). */
static const lex_entry *find_stretched(const char *w, int len, int *degree) {
  int run = 0;
  for (int k = 2; k < len && !run; k++) run = w[k] == w[k - 1] && w[k] == w[k - 2] && w[k] >= 'a' && w[k] <= 'z';
  if (!run || len >= MAX_FORM) return NULL;
  for (int keep = 2; keep >= 1; keep--) {
    char b[MAX_FORM];
    int o = 0;
    for (int k = 0; k < len;) {
      int r = k;
      while (r < len && w[r] == w[k]) r++;
      int n = r - k >= 3 ? keep : r - k; /* a run of three or more: `keep` of it */
      for (int c = 0; c < n; c++) b[o++] = w[k];
      k = r;
    }
    const lex_entry *e = lex_find(b, (size_t)o);
    if (e && (e->kind == LEX_TERM || e->kind == LEX_COLOR)) {
      *degree = -1;
      return e;
    }
    if ((e = find_stemmed(b, (size_t)o, degree)) != NULL) return e;
  }
  return NULL;
}

static int lex_kind_to_tok(int kind) {
  switch (kind) {
    case LEX_TERM:
      return TOK_TERM;
    case LEX_COLOR:
      return TOK_COLOR;
    case LEX_QUAL:
      return TOK_QUAL;
    case LEX_CAST:
      return TOK_CAST;
    case LEX_AWB:
      return TOK_AWB;
    case LEX_MOD:
      return TOK_MOD;
    case LEX_STOP:
      return TOK_STOP;
    case LEX_SLIDER:
      return TOK_SLIDER;
    case LEX_STATE:
      return TOK_STATE;
    case LEX_EXCEPT:
      return TOK_EXCEPT;
    default:
      return TOK_SEP;
  }
}

/* The longest lexicon phrase of up to MAX_PHRASE_WORDS English words at s[i] (a word start): its entry
 * in *e (NULL if none) and its end, or the end of the first word when there is none. */
static int longest_words(const char *s, int len, int i, const lex_entry **e) {
  int ends[MAX_PHRASE_WORDS], nw = 0, j = i;
  while (nw < MAX_PHRASE_WORDS) {
    while (j < len && is_word_byte((unsigned char)s[j])) j++;
    ends[nw++] = j;
    if (j + 1 < len && s[j] == ' ' && is_word_byte((unsigned char)s[j + 1]))
      j++;
    else
      break;
  }
  *e = NULL;
  for (int w = nw; w >= 1; w--)
    if ((*e = lex_find(s + i, (size_t)(ends[w - 1] - i))) != NULL) return ends[w - 1];
  return ends[0];
}

/* The longest lexicon form at s[i] (non-ASCII), at character boundaries: its entry in *e (NULL if
 * none) and its end (i when there is none). */
static int longest_cjk(const char *s, int len, int i, int max_len, const lex_entry **e) {
  *e = NULL;
  for (int l = (len - i < max_len ? len - i : max_len); l > 0; l--) {
    if (i + l < len && ((unsigned char)s[i + l] & 0xC0) == 0x80) continue; /* not a character boundary */
    if ((*e = lex_find(s + i, (size_t)l)) != NULL) return i + l;
  }
  return i;
}

/* Split the normalised prompt into tokens. English words inside the
 * prompt have been separated by single spaces already (see normalise). */
static int tokenize(const char *s, token *toks, int max) {
  int n = 0, len = (int)strlen(s), i = 0;
  int max_len = 0;
  for (int k = 0; k < g_lex.n; k++)
    if (g_lex.entries[k].len > max_len) max_len = g_lex.entries[k].len;
#define PUSH(K, ID, AT, LEN)                                                           \
  do {                                                                                 \
    if (n >= max) return dlut_error("looks: prompt has too many words (max %d)", max); \
    toks[n++] = (token){(K), (ID), (AT), (LEN), -1, 0, 0, 0, NULL};                    \
  } while (0)
#define PUSH_ENTRY(E, AT, LEN)                                   \
  do {                                                           \
    PUSH(lex_kind_to_tok((E)->kind), (E)->id, (AT), (LEN));      \
    toks[n - 1].maker = (E)->kind == LEX_TERM ? (E)->maker : -1; \
  } while (0)
  while (i < len) {
    unsigned char c = (unsigned char)s[i];
    if (c == ' ') {
      i++;
      continue;
    }
    if (is_word_byte(c)) {
      /* the end of the word at i; the phrases of several words are longest_words' */
      int word_end = i;
      while (word_end < len && is_word_byte((unsigned char)s[word_end])) word_end++;
      const lex_entry *e = NULL;
      /* a word run straight into Chinese ("90年代", "ccd相机"): the longest mixed form, at a character boundary */
      if (word_end < len && (unsigned char)s[word_end] >= 0x80) {
        for (int l = (len - i < max_len ? len - i : max_len); l > word_end - i && !e; l--) {
          if (i + l < len && ((unsigned char)s[i + l] & 0xC0) == 0x80) continue;
          if ((e = lex_find(s + i, (size_t)l)) != NULL) {
            PUSH_ENTRY(e, i, l);
            i += l;
          }
        }
        if (e) continue;
      }
      int end = longest_words(s, len, i, &e);
      if (e && end > word_end) {
        /* a maker word that the longest phrase runs into a shorter stock ("fuji superia" + "x tra 400"):
         * the maker alone when its stock is longer from the next word ("fuji" + "superia x tra 400";
         * the two are joined after, see join_stocks) */
        const lex_entry *mk = lex_find(s + i, (size_t)(word_end - i)), *e2 = NULL;
        if (mk && mk->kind == LEX_TERM && mk->maker >= 0) {
          int end2 = longest_words(s, len, word_end + 1, &e2);
          if (e2 && e2->kind == LEX_TERM && e2->maker < 0 && (g_lex.term_makers[e2->id] & (1u << mk->maker)) &&
              end2 > end)
            e = mk, end = word_end;
        }
      }
      if (e) {
        /* a comparative listed as a form of its own term ("warmer" beside "warm"): "more", as the
         * stemmed ones are */
        if (end == word_end && (e->kind == LEX_TERM || e->kind == LEX_COLOR))
          for (int sl = 1; sl <= 2; sl++) {
            int wl = word_end - i;
            if (wl <= sl + 2 || s[word_end - 1] != 'r' || (sl == 2 && s[word_end - 2] != 'e')) continue;
            const lex_entry *st = lex_find(s + i, (size_t)(wl - sl));
            if (st && st->kind == e->kind && st->id == e->id) {
              PUSH(TOK_MOD, MOD_MORE, i, 0);
              break;
            }
          }
        PUSH_ENTRY(e, i, end - i);
        i = end;
        continue;
      }
      int degree;
      e = find_stemmed(s + i, (size_t)(word_end - i), &degree);
      if (!e) e = find_stretched(s + i, word_end - i, &degree);
      const char *slip = NULL;
      if (!e) { /* a typing slip ("cinematik"): the one term form it is one edit from */
        char fn[MAX_FORM];
        int fl = looks_typo_fix(s + i, word_end - i, &slip), nl = -1;
        if (fl > 0 && fl < MAX_FORM) {
          char raw[MAX_FORM];
          memcpy(raw, slip, (size_t)fl);
          raw[fl] = '\0';
          nl = normalise_form(raw, fn, sizeof fn);
        }
        e = nl > 0 ? lex_find(fn, (size_t)nl) : NULL;
        if (e && e->kind != LEX_TERM) e = NULL;
        slip = e ? e->s : NULL;
        degree = -1;
      }
      if (e) {
        if (degree >= 0) PUSH(TOK_MOD, degree, i, 0); /* the ending's degree, as a prefix of no length */
        PUSH_ENTRY(e, i, word_end - i);
        toks[n - 1].typo = slip;
      } else
        PUSH(TOK_UNKNOWN, 0, i, word_end - i);
      i = word_end;
      continue;
    }
    /* ASCII punctuation: clause separators; other ASCII symbols are skipped. Non-ASCII
     * symbols and emoji ("🔥") are unknown words like any other: reported as ignored, so a
     * prompt of emoji alone says what was not understood (the job refuses it by that report) */
    if (c < 0x80) {
      if (strchr(",.;:!?()[]{}\n\t", c)) PUSH(TOK_SEP, 0, i, 1);
      i++;
      continue;
    }
    /* non-ASCII: longest match at character boundaries */
    const lex_entry *e = NULL;
    int best = longest_cjk(s, len, i, max_len, &e) - i;
    if (e) {
      /* a maker word that the longest match runs into a shorter stock ("富士维尔维亚" + "50"): the maker
       * alone when its stock is longer from the next character ("富士" + "维尔维亚50"), as for English */
      for (int l = best - 1; l > 0; l--) {
        if (((unsigned char)s[i + l] & 0xC0) == 0x80) continue;
        const lex_entry *mk = lex_find(s + i, (size_t)l), *e2 = NULL;
        if (!mk || mk->kind != LEX_TERM || mk->maker < 0) continue;
        unsigned char c2 = (unsigned char)s[i + l];
        int end2 = i + l;
        if (c2 >= 0x80 || is_word_byte(c2)) { /* English may run into Chinese ("宝丽来" + "sx70拍立得") */
          end2 = longest_cjk(s, len, i + l, max_len, &e2);
          if (c2 < 0x80 && e2 && end2 < len && is_word_byte((unsigned char)s[end2]) &&
              is_word_byte((unsigned char)s[end2 - 1]))
            end2 = longest_words(s, len, i + l, &e2); /* not at a word's end */
        }
        if (e2 && e2->kind == LEX_TERM && e2->maker < 0 && (g_lex.term_makers[e2->id] & (1u << mk->maker)) &&
            end2 > i + best)
          e = mk, best = l;
        break; /* the longest maker word only */
      }
      PUSH_ENTRY(e, i, best);
      i += best;
      continue;
    }
    utf8proc_int32_t cp;
    utf8proc_ssize_t cl = utf8proc_iterate((const utf8proc_uint8_t *)s + i, len - i, &cp);
    if (cl <= 0) return dlut_error("looks: prompt is not valid UTF-8");
    utf8proc_category_t cat = utf8proc_category(cp);
    if ((cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO) ||
        (cat >= UTF8PROC_CATEGORY_ZS && cat <= UTF8PROC_CATEGORY_ZP)) {
      PUSH(TOK_SEP, 0, i, (int)cl);
    } else if (n > 0 && toks[n - 1].kind == TOK_UNKNOWN && toks[n - 1].at + toks[n - 1].len == i &&
               (unsigned char)s[toks[n - 1].at] >= 0x80) {
      toks[n - 1].len += (int)cl; /* grow the unknown run (Chinese, or emoji with their joiners) */
    } else {
      PUSH(TOK_UNKNOWN, 0, i, (int)cl);
    }
    i += (int)cl;
  }
#undef PUSH_ENTRY
#undef PUSH
  return n;
}

/* ==== Film stock names ==== */

/* A film speed or a collection's variant number: 1-4 digits and at most 3 letters ("400", "1600",
 * "400x", "100uv", "800z", "2"). */
static int is_speed(const char *w, int len) {
  int d = 0;
  while (d < len && w[d] >= '0' && w[d] <= '9') d++;
  if (d < 1 || d > 4 || len - d > 3) return 0;
  for (int k = d; k < len; k++)
    if (w[k] < 'a' || w[k] > 'z') return 0;
  return 1;
}

static int is_variant(const char *w, int len) {
  for (int i = 0; i < looks_stock_variant_count(); i++) {
    const char *v = looks_stock_variant_get(i);
    if ((int)strlen(v) == len && memcmp(v, w, (size_t)len) == 0) return 1;
  }
  return 0;
}

/* The lexicon entry of the words from cur to the first tlen bytes of t (a name's next part), as
 * written and, after Chinese, without the space between; NULL if they are not one form. */
static const lex_entry *joined_form(const char *s, const token *cur, const token *t, int tlen) {
  const lex_entry *e = lex_find(s + cur->at, (size_t)(t->at + tlen - cur->at));
  if (!e && s[t->at - 1] == ' ' && (unsigned char)s[t->at - 2] >= 0x80 && t->at + tlen - cur->at <= MAX_FORM) {
    char buf[MAX_FORM];
    int a = t->at - 1 - cur->at;
    memcpy(buf, s + cur->at, (size_t)a);
    memcpy(buf + a, s + t->at, (size_t)tlen);
    e = lex_find(buf, (size_t)(a + tlen));
  }
  return e && e->kind == LEX_TERM ? e : NULL;
}

/* One film stock, one look: after a film term, join the tokens that belong to its name (tokens are
 * merged in place; returns their new count):
 *   - a maker word before a stock of that maker ("fuji" + "neopan", "宝丽来" + "polachrome"; stop
 *     words may stand between: "柯达的波特拉"), or after it ("portra" + "kodak"): the stock's term;
 *   - the same term again ("fuji superia" + "superia"), a film speed or variant number (is_speed:
 *     "400", "100uv", "2") or a variant word (vocab.c: "nc", "vc", "hg", "color", "film" ...; the
 *     modifiers "plus", "super" only where no term, colour or modifier follows them).
 * Each join first asks the lexicon about the joined words ("波特拉 160" is 波特拉160, Portra 160, not
 * Portra 400 with a speed): a form of its own wins. A token that is not in the vocabulary and not a
 * speed ("vibes") ends the name and stays ignored. */
static int join_stocks(const char *s, token *toks, int n) {
  int w = 0;
  for (int r = 0; r < n; r++) {
    token cur = toks[r];
    while (cur.kind == TOK_TERM && g_lex.term_film[cur.id] && r + 1 < n) {
      int k = r + 1, id = cur.id, maker = cur.maker;
      const token *t = &toks[k];
      if (cur.maker >= 0 && t->kind == TOK_STOP) { /* maker, stop words, stock */
        int k2 = k;
        while (k2 < n && toks[k2].kind == TOK_STOP) k2++;
        if (k2 < n && toks[k2].kind == TOK_TERM && toks[k2].maker < 0 &&
            (g_lex.term_makers[toks[k2].id] & (1u << cur.maker)))
          k = k2, t = &toks[k];
      }
      if (t->kind == TOK_TERM && cur.maker >= 0 && t->maker < 0 && (g_lex.term_makers[t->id] & (1u << cur.maker)))
        id = t->id, maker = -1; /* maker + stock */
      else if (t->kind == TOK_TERM && cur.maker < 0 && t->maker >= 0 && (g_lex.term_makers[cur.id] & (1u << t->maker)))
        ; /* stock + maker */
      else if (t->kind == TOK_TERM && t->id == cur.id)
        maker = cur.maker >= 0 && t->maker >= 0 ? cur.maker : -1; /* the same stock again */
      else if (t->kind == TOK_UNKNOWN && is_speed(s + t->at, t->len) && s[t->at - 1] != '+' && s[t->at - 1] != '-' &&
               s[t->at + t->len] != '%')
        ;
      else if (t->kind != TOK_SEP && t->kind != TOK_QUAL && is_variant(s + t->at, t->len)) {
        if (t->kind == TOK_MOD && k + 1 < n &&
            (toks[k + 1].kind == TOK_TERM || toks[k + 1].kind == TOK_COLOR || toks[k + 1].kind == TOK_MOD))
          break; /* "xp2 super warm": super is the degree of warm */
      } else
        break;
      /* a name fits a match's text (a prompt of "fuji 1 fuji 1 ..." is not one name) */
      int end = t->at + t->len;
      if (end - cur.at >= (int)sizeof(((dlut_looks_match *)0)->text)) break;
      /* the joined words as one form ("波特拉 160" is 波特拉160; "portra 160vc" is Portra 160 VC) */
      const lex_entry *e = joined_form(s, &cur, t, t->len);
      if (!e && t->kind == TOK_UNKNOWN && (unsigned char)s[t->at + t->len - 1] >= 'a') {
        int d = 0;
        while (d < t->len && s[t->at + d] >= '0' && s[t->at + d] <= '9') d++;
        if (d > 0) e = joined_form(s, &cur, t, d);
      }
      if (e) id = e->id, maker = e->maker;
      cur.id = id, cur.maker = maker, cur.len = end - cur.at;
      r = k;
    }
    toks[w++] = cur;
  }
  return w;
}

/* ==== Numbers ("contrast +20", "曝光 +0.5", "5600k", "+1 stop") ==== */

/* The words left unknown that are numbers become TOK_NUM (tokens merged in place; returns their new
 * count): digits, a decimal point ("0.5": three tokens, the point a separator), the sign before them
 * (kept by the normalisation), and a unit run into them or after a space: "k" (kelvin, 1000-40000),
 * "ev", "stop", "stops", 档 (exposure stops). A film speed after a stock ("portra 400") was joined to the
 * stock before this. */
static int read_numbers(const char *s, token *toks, int n) {
  int w = 0;
  for (int r = 0; r < n; r++) {
    token t = toks[r];
    const char *p = s + t.at;
    int d = 0;
    while (d < t.len && p[d] >= '0' && p[d] <= '9') d++;
    const char *rest = p + d;
    int rl = t.len - d, unit = -1;
    if (t.kind == TOK_UNKNOWN && d > 0 && d <= 6) {
      if (rl == 0)
        unit = NUM_PLAIN;
      else if (rl == 1 && rest[0] == 'k')
        unit = NUM_KELVIN;
      else if ((rl == 2 && !memcmp(rest, "ev", 2)) || (rl == 4 && !memcmp(rest, "stop", 4)) ||
               (rl == 5 && !memcmp(rest, "stops", 5)))
        unit = NUM_STOPS;
    }
    if (unit < 0) {
      toks[w++] = t;
      continue;
    }
    char buf[32];
    int bl = d;
    memcpy(buf, p, (size_t)d);
    int end = r, point = 0;
    /* the decimals: "0" "." "5" written together */
    if (unit == NUM_PLAIN && r + 2 < n && toks[r + 1].kind == TOK_SEP && s[toks[r + 1].at] == '.' &&
        toks[r + 1].at == t.at + t.len && toks[r + 2].at == t.at + t.len + 1 && toks[r + 2].kind == TOK_UNKNOWN) {
      const token *f = &toks[r + 2];
      int fd = 0;
      while (fd < f->len && s[f->at + fd] >= '0' && s[f->at + fd] <= '9') fd++;
      const char *fr = s + f->at + fd;
      int frl = f->len - fd;
      int fu = frl == 0                                                                     ? NUM_PLAIN
               : (frl == 2 && !memcmp(fr, "ev", 2)) || (frl == 4 && !memcmp(fr, "stop", 4)) ? NUM_STOPS
                                                                                            : -1;
      if (fd > 0 && fd <= 6 && fu >= 0) {
        buf[bl++] = '.';
        memcpy(buf + bl, s + f->at, (size_t)fd);
        bl += fd;
        unit = fu, point = 1, end = r + 2;
      }
    }
    buf[bl] = '\0';
    double v = strtod(buf, NULL);
    /* a fraction: "1/3" (two tokens, the slash between them skipped) */
    if (unit == NUM_PLAIN && !point && end + 1 < n && s[t.at + t.len] == '/' && toks[end + 1].kind == TOK_UNKNOWN &&
        toks[end + 1].at == t.at + t.len + 1) {
      const token *f = &toks[end + 1];
      int fd = 0;
      while (fd < f->len && s[f->at + fd] >= '0' && s[f->at + fd] <= '9') fd++;
      const char *fr = s + f->at + fd;
      int frl = f->len - fd;
      int fu = frl == 0                                                                     ? NUM_PLAIN
               : (frl == 2 && !memcmp(fr, "ev", 2)) || (frl == 4 && !memcmp(fr, "stop", 4)) ? NUM_STOPS
                                                                                            : -1;
      double den = fd > 0 && fd <= 6 ? strtod(s + f->at, NULL) : 0.0;
      if (fu >= 0 && den > 0.0) {
        v /= den;
        unit = fu, point = 1, end++;
      }
    }
    int at = t.at, last = end;
    if (at > 0 && (s[at - 1] == '+' || s[at - 1] == '-')) {
      if (s[at - 1] == '-') v = -v;
      at--;
    }
    /* a unit after a space: "5600 k", "+1 ev", "1 stop", 1档 */
    if (unit == NUM_PLAIN && last + 1 < n) {
      const token *u = &toks[last + 1];
      int ul = u->len;
      const char *us = s + u->at;
      int kel = ul == 1 && us[0] == 'k',
          stops = (ul == 2 && !memcmp(us, "ev", 2)) || (ul == 4 && !memcmp(us, "stop", 4)) ||
                  (ul == 5 && !memcmp(us, "stops", 5)) || (ul == 3 && !memcmp(us, "档", 3));
      if (kel || stops) {
        unit = kel ? NUM_KELVIN : NUM_STOPS;
        last++;
      }
    }
    /* a change: under 1500 K (no light is that red), or signed ("+2000K", 色温-800k) */
    if (unit == NUM_KELVIN && !point && fabs(v) >= 50.0 && fabs(v) <= 20000.0 &&
        (fabs(v) < 1500.0 || v < 0.0 || s[at] == '+'))
      unit = NUM_KELVIN_DELTA;
    if (unit == NUM_KELVIN && (point || v < 1000.0 || v > 40000.0)) unit = -1; /* not a colour temperature */
    if (unit < 0) {
      toks[w++] = t;
      continue;
    }
    t.kind = TOK_NUM, t.id = 0, t.val = v, t.unit = unit, t.point = point;
    t.at = at, t.len = toks[last].at + toks[last].len - at;
    if (s[t.at + t.len] == '%') t.len++;
    toks[w++] = t;
    r = last;
  }
  return w;
}

/* The scale of a number beside a term: the editors' -100..+100 for the tone, colour and saturation
 * controls, where 50 is the plain term ("contrast +50" is "contrast", +100 twice it); a strength in
 * percent for a look, a stock or a colour ("vintage 50%" is half of it); exposure in stops. */
#define NUM_SLIDER_UNIT 50.0
#define NUM_PERCENT_UNIT 100.0
#define NUM_EV_MAX 3.0          /* stops, either way (the look's range) */
#define NUM_SCALAR_FIELDS 12    /* dlut_look's first fields, temp .. vibrance: one control each */
#define NUM_PLAIN_MAX 150       /* a larger plain number is no degree (the editors' tint runs to 150) */
#define NUM_MIRED 25.0          /* mired per unit of temp (model.c) */
#define LOOKS_BAND_LUM_MAX 0.4f /* the largest band lightness a prompt may ask for */
#define NUM_D65_K 6504.0        /* the neutral white's colour temperature */

static int is_temperature_term(int id) {
  return strcmp(dlut_looks_term_get(id)->group, "temperature") == 0;
}

/* Can the number at toks[k] set the degree of toks[j]? A temperature in kelvin goes to a temperature
 * (the slider or a word: "warm 3200k"), stops to a term that moves the exposure, a plain number to any. */
static int number_fits(const token *toks, int j, int k) {
  const token *t = &toks[j], *nm = &toks[k];
  if (nm->unit == NUM_PLAIN && fabs(nm->val) > NUM_PLAIN_MAX) return 0; /* "warm 400": no degree */
  if (t->kind == TOK_SLIDER) {
    int kind = looks_slider_get(t->id)->kind;
    if (nm->unit == NUM_KELVIN || nm->unit == NUM_KELVIN_DELTA) return kind == LOOKS_SLIDER_TEMP;
    return nm->unit == NUM_PLAIN || kind == LOOKS_SLIDER_SPATIAL;
  }
  if (t->kind == TOK_COLOR) return nm->unit == NUM_PLAIN;
  if (t->kind != TOK_TERM) return 0;
  if (nm->unit == NUM_KELVIN || nm->unit == NUM_KELVIN_DELTA) return is_temperature_term(t->id);
  if (nm->unit == NUM_STOPS) return g_lex.term_slider[t->id] && g_lex.term_delta[t->id].exposure != 0.0f;
  return 1;
}

/* Which term each number belongs to (link[] both ways: a number's term, a term's number; -1 for none):
 * the nearest term, colour or slider before it in its clause with no number yet ("contrast 20,
 * saturation -10"), else the first after it ("+20 contrast", 20%的饱和度). */
static void link_numbers(const token *toks, int nt, const int *clause_of, int *link) {
  for (int i = 0; i < nt; i++) link[i] = -1;
#define CANDIDATE(k) ((k) == TOK_TERM || (k) == TOK_COLOR || (k) == TOK_SLIDER)
  for (int k = 0; k < nt; k++) {
    if (toks[k].kind != TOK_NUM) continue;
    int owner = -1;
    for (int j = k - 1; j >= 0 && clause_of[j] == clause_of[k] && toks[j].kind != TOK_NUM; j--)
      if (CANDIDATE(toks[j].kind)) {
        if (link[j] < 0 && number_fits(toks, j, k)) owner = j;
        break;
      }
    for (int j = k + 1; owner < 0 && j < nt && clause_of[j] == clause_of[k] && toks[j].kind != TOK_NUM; j++)
      if (CANDIDATE(toks[j].kind)) {
        if (link[j] < 0 && number_fits(toks, j, k)) owner = j;
        break;
      }
    if (owner >= 0) link[k] = owner, link[owner] = k;
  }
#undef CANDIDATE
}

/* The term and degree of a term, colour or slider token t with the number nm (sgn: -1 when a degree word
 * before it reverses it, "reduce the contrast by 20"). Returns 0, or -1 when t is a control no LUT can be
 * (clarity, vignette: ignored). *term is a term index, or -1 - colour index. */
static int number_degree(const token *t, const token *nm, float sgn, int *term, float *w) {
  double v = nm->val, x;
  if (t->kind == TOK_SLIDER) {
    switch (looks_slider_get(t->id)->kind) {
      case LOOKS_SLIDER_TEMP:
        *term = g_lex.term_warm;
        if (nm->unit == NUM_KELVIN_DELTA) v = NUM_D65_K + sgn * v;    /* "-500K", 调低500k: from the neutral white */
        if (nm->unit == NUM_KELVIN || nm->unit == NUM_KELVIN_DELTA) { /* the white balance set to that light: 3200 K
                                                                       * cools daylight */
          x = fmax(-4.0, fmin(4.0, (1e6 / NUM_D65_K - 1e6 / v) / NUM_MIRED));
          *w = (float)(x / g_lex.term_delta[g_lex.term_warm].temp);
          return 0;
        }
        break;
      case LOOKS_SLIDER_TINT: /* + is magenta, as in the editors */
        *term = g_lex.term_magenta;
        break;
      case LOOKS_SLIDER_WHITES:
        *term = g_lex.term_highlights;
        break;
      case LOOKS_SLIDER_BLACKS: /* + lifts them (faded), - crushes them */
        *term = sgn * v >= 0 ? g_lex.term_faded : g_lex.term_crushed;
        v = fabs(v), sgn = 1.0f;
        break;
      default:
        return -1;
    }
    x = sgn * v / NUM_SLIDER_UNIT;
  } else if (t->kind == TOK_COLOR) {
    *term = -1 - t->id;
    x = sgn * v / NUM_PERCENT_UNIT;
  } else {
    *term = t->id;
    if (nm->unit == NUM_KELVIN_DELTA) { /* "warmer by 500K": its way, by that much from the neutral white */
      const double k = NUM_D65_K + (g_lex.term_delta[t->id].temp < 0 ? 1 : -1) * sgn * fabs(v);
      *term = g_lex.term_warm;
      x = fmax(-4.0, fmin(4.0, (1e6 / k - 1e6 / NUM_D65_K) / NUM_MIRED));
      *w = (float)(x / g_lex.term_delta[g_lex.term_warm].temp);
      return 0;
    }
    if (nm->unit == NUM_KELVIN) { /* a light of that colour ("warm 3200k light"): 3200 K is warm */
      *term = g_lex.term_warm;
      x = fmax(-4.0, fmin(4.0, (1e6 / v - 1e6 / NUM_D65_K) / NUM_MIRED));
      *w = (float)(x / g_lex.term_delta[g_lex.term_warm].temp);
      return 0;
    }
    const float ev = g_lex.term_delta[t->id].exposure;
    if (nm->unit == NUM_STOPS || (t->id == g_lex.term_exposure && (nm->point || fabs(v) <= 5.0))) {
      /* stops: "+1 stop brighter", "exposure -0.7" */
      *term = g_lex.term_exposure;
      x = sgn * (ev < 0 ? -v : v) / g_lex.term_delta[g_lex.term_exposure].exposure;
      const double lim = NUM_EV_MAX / g_lex.term_delta[g_lex.term_exposure].exposure;
      *w = (float)fmax(-lim, fmin(lim, x));
      return 0;
    }
    x = sgn * v / (g_lex.term_slider[t->id] ? NUM_SLIDER_UNIT : NUM_PERCENT_UNIT);
  }
  *w = (float)fmax(-WEIGHT_MAX, fmin(WEIGHT_MAX, x));
  return 0;
}

/* Nonzero if s[0..len) is one of a word list's words (vocab.c). */
static int word_in(const char *s, int len, int (*count)(void), const char *(*get)(int)) {
  for (int i = 0; i < count(); i++) {
    const char *w = get(i);
    if ((int)strlen(w) == len && memcmp(w, s, (size_t)len) == 0) return 1;
  }
  return 0;
}

/* Does the state word at toks[st] ("it looks", 照片) make the term at toks[i] a complaint ("it looks washed
 * out", 照片有点灰)? Only for a tone, colour, saturation or temperature word (not "this is a sunset"),
 * with only degree words, negations and stop words between them, no request before it in its clause
 * ("make the photo look warm", 把照片调暗, 让画面显得暖) and no degree after it (照片亮一点 asks for it). */
static int state_applies(const char *s, const token *toks, int nt, const int *clause_of, int st, int i) {
  const token *t = &toks[i];
  if (!(t->kind == TOK_COLOR || (t->kind == TOK_TERM && g_lex.term_slider[t->id]))) return 0;
  if (t->kind == TOK_TERM && t->id == g_lex.term_recover) return 0; /* "the highlights are blown": a fix already */
  for (int j = st + 1; j < i; j++) {
    const token *b = &toks[j];
    if (b->kind == TOK_MOD &&
        (b->id == MOD_MORE || b->id == MOD_LESS || b->id == MOD_CAP || b->id == MOD_FIX || b->id == MOD_KEEP))
      return 0;
    if (b->kind == TOK_TERM || b->kind == TOK_COLOR || b->kind == TOK_SLIDER || b->kind == TOK_QUAL ||
        b->kind == TOK_NUM || b->kind == TOK_AWB)
      return 0;
  }
  for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i]; j--)
    if (word_in(s + toks[j].at, toks[j].len, looks_request_word_count, looks_request_word_get)) return 0;
  if (i + 1 < nt && toks[i + 1].kind == TOK_MOD && (toks[i + 1].id == MOD_SOFT || toks[i + 1].id == MOD_MORE)) return 0;
  return 1;
}

/* Is the token the word w? */
static int word_is(const char *s, const token *t, const char *w) {
  return (int)strlen(w) == t->len && !memcmp(s + t->at, w, (size_t)t->len);
}

static int word_is_any(const char *s, const token *t, const char *const *words, size_t n) {
  for (size_t k = 0; k < n; k++)
    if (word_is(s, t, words[k])) return 1;
  return 0;
}
#define WORD_IS_ANY(s, t, list) word_is_any((s), (t), (list), sizeof(list) / sizeof *(list))

/* The rest of the photo beside its subject: 背景, "background" */
static int is_background(const char *s, const token *t) {
  static const char *const k_bg[] = {"背景", "背景色", "环境", "background", "backgrounds", "backdrop"};
  return WORD_IS_ANY(s, t, k_bg);
}

/* The subject set against the background: 人像, "the person" */
static int is_person(const char *s, const token *t) {
  static const char *const k_person[] = {"人像", "人物", "人", "主体", "模特", "person", "people", "subject", "model"};
  return WORD_IS_ANY(s, t, k_person);
}

/* A Chinese degree word that follows the word it grades (暖一点, 亮一些) */
static int is_zh_postfix(const char *s, const token *t) {
  static const char *const k_post[] = {"一点", "一点点", "一些", "点", "些", "一点儿", "点儿"};
  return WORD_IS_ANY(s, t, k_post);
}

static int is_article(const char *s, const token *t) {
  return word_is(s, t, "a") || word_is(s, t, "an") || word_is(s, t, "the") || word_is(s, t, "plain") ||
         word_is(s, t, "pure");
}

/* Is the colour or tone word at toks[i], with the qualifier at toks[qt], what the skin is now (皮肤偏黄, 肤色偏暗,
 * 脸色偏青, 皮肤有点黑)? In Chinese 偏 or 有点 before a colour after the skin says how it is, for the colours skin is
 * not wanted to be (yellow, red, green, cyan, purple, grey, dark, black): a complaint, as 照片偏黄 is. Not with a
 * degree after it (肤色偏红一点 asks for it) or a request before it in its clause (让皮肤偏黄); a colour skin may be
 * asked to lean to (肤色偏暖, 偏粉) is what the prompt wants. */
static int skin_complaint(const char *s, const token *toks, int nt, const int *clause_of, const int *qual_of, int qt,
                          int i) {
  static const char *const k_unwanted[] = {"黄", "红", "绿", "青", "紫", "灰", "暗", "黑"};
  const token *t = &toks[i];
  if (qt < 0 || qt >= i || qual_of[qt] != LOOKS_QUAL_SKIN || (unsigned char)s[t->at] < 0x80) return 0;
  if (t->kind != TOK_COLOR && t->kind != TOK_TERM) return 0;
  const char *w = s + t->at;
  int len = t->len, lean = 0;
  if (len > 3 && !memcmp(w, "偏", 3)) w += 3, len -= 3, lean = 1; /* 偏暗: one word */
  for (int j = qt + 1; j < i; j++) {
    const char *b = s + toks[j].at;
    if (toks[j].kind == TOK_CAST && toks[j].len == 3 && !memcmp(b, "偏", 3))
      lean = 1;
    else if (toks[j].kind == TOK_MOD && toks[j].len == 6 && (!memcmp(b, "有点", 6) || !memcmp(b, "有些", 6)))
      lean = 1; /* 皮肤有点黑 */
    else if (toks[j].kind != TOK_STOP)
      return 0;
  }
  if (!lean) return 0;
  int unwanted = 0;
  for (size_t k = 0; k < sizeof k_unwanted / sizeof *k_unwanted && !unwanted; k++)
    unwanted = !memcmp(w, k_unwanted[k], 3) && (len == 3 || (len == 6 && !memcmp(w + 3, "色", 3)));
  if (!unwanted) return 0;
  if (i + 1 < nt && clause_of[i + 1] == clause_of[i] && toks[i + 1].kind == TOK_MOD) return 0;
  for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i]; j--)
    if (word_in(s + toks[j].at, toks[j].len, looks_request_word_count, looks_request_word_get)) return 0;
  return 1;
}

/* Is the tone or colour word at toks[i] said with 了 after it (高光偏黄了, 欠曝了, 暗部死黑了, 照片变暗了): how the
 * photo is now, a complaint, as 太暗了 is? Not with a request before it in its clause (把它调暖了, 让画面亮了), but
 * 变 is how it came to be (变暗了). */
static int said_so(const char *s, const token *toks, int nt, const int *clause_of, int i) {
  const token *t = &toks[i];
  if ((unsigned char)s[t->at] < 0x80 || i + 1 >= nt || clause_of[i + 1] != clause_of[i] ||
      toks[i + 1].kind != TOK_STOP || !word_is(s, &toks[i + 1], "了"))
    return 0;
  if (t->kind == TOK_TERM) {
    const char *gr = dlut_looks_term_get(t->id)->group;
    if (t->id == g_lex.term_recover) return 0; /* 高光溢出了: the fix is asked for, not a state */
    if (!g_lex.term_slider[t->id] && !g_lex.term_tint[t->id] && strcmp(gr, "tone") && strcmp(gr, "temperature") &&
        strcmp(gr, "saturation"))
      return 0;
  } else if (t->kind != TOK_COLOR) {
    return 0;
  }
  for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i]; j--)
    if (!word_is(s, &toks[j], "变") && !word_is(s, &toks[j], "变得") &&
        word_in(s + toks[j].at, toks[j].len, looks_request_word_count, looks_request_word_get))
      return 0;
  return 1;
}

/* Is toks[i] the only word of its clause that asks for something, with only stop words and degree words beside
 * it (调白一点), and none saying the whole photo (整体暖一点)? */
static int clause_alone(const char *s, const token *toks, int nt, const int *clause_of, int i) {
  static const char *const k_whole[] = {"整体", "全部", "所有", "其他", "其它", "其余", "其他的", "都", "整个", "整张"};
  for (int j = 0; j < nt; j++) {
    if (j == i || clause_of[j] != clause_of[i]) continue;
    if (toks[j].kind != TOK_STOP && toks[j].kind != TOK_MOD) return 0;
    for (size_t k = 0; k < sizeof k_whole / sizeof *k_whole; k++) /* 整体暖一点: the whole photo */
      if ((int)strlen(k_whole[k]) == toks[j].len && !memcmp(s + toks[j].at, k_whole[k], (size_t)toks[j].len)) return 0;
  }
  return 1;
}

/* A separator that ends a sentence: . ! ? ; a line break, 。 */
static int is_sentence_end(const char *s, int len) {
  return (len == 1 && strchr(".!?;\n", s[0])) || (len == 3 && !memcmp(s, "\xE3\x80\x82", 3));
}

/* The band a colour names: its cast hue's nearest band centre ("blue" is the blues, not blue-violet). */
static double color_band_center(int color) {
  const double h = looks_color_cast_hue(looks_color_get(color)->rgb);
  int nb = 0;
  for (int k = 1; k < DLUT_LOOK_NBANDS; k++)
    if (fabs(remainder(h - dlut_looks_band_center[k], 360.0)) < fabs(remainder(h - dlut_looks_band_center[nb], 360.0)))
      nb = k;
  return dlut_looks_band_center[nb];
}

/* Colours named as the range to edit (LOOKS_QUAL_HUE), as an editor's HSL panel: "desaturate the blues",
 * "richer reds", "make the blues more cyan", "make reds deeper", 绿色降饱和, 绿色往黄色偏, 红色更浓. In English a
 * plural colour ("blues") or one after "the", in Chinese a colour that opens its clause, with a saturation word, a
 * target colour after it, or only degree words ("deeper", 更浓: richer, hue_rich[i] their degree) in its clause, and
 * no other qualifier, negation, "not too" or (without a target) cast word there. */
static void mark_hue_ranges(const char *s, const token *toks, int nt, const int *clause_of, int *qual_of,
                            double *hue_of, float *hue_rich, unsigned char *skip_tok) {
  for (int i = 0; i < nt; i++) {
    hue_rich[i] = 0.0f;
    if (toks[i].kind != TOK_COLOR) continue;
    const int c = clause_of[i], en = (unsigned char)s[toks[i].at] < 0x80;
    int blocked = 0, cast = 0, sat_term = -1, target = -1, first = 1, other_term = 0, deeper = 0;
    float degree = 1.0f;
    for (int j = 0; j < nt; j++) {
      if (clause_of[j] != c || j == i) continue;
      const token *b = &toks[j];
      if (qual_of[j]) blocked = 1;
      if (b->kind == TOK_CAST) cast = 1;
      if (b->kind == TOK_MOD && (b->id == MOD_NEG || b->id == MOD_FIX || b->id == MOD_CAP)) blocked = 1;
      if (b->kind == TOK_TERM) {
        const char *gr = dlut_looks_term_get(b->id)->group;
        const int pop = en && (b->len == 3 || b->len == 4) && (!memcmp(s + b->at, "pop", 3)) &&
                        (b->len == 3 || s[b->at + 3] == 's'); /* "make the reds pop": the reds' colour */
        const dlut_look *dd = &g_lex.term_delta[b->id];
        /* (a lightness word: 蓝色亮度降低, "darken the blues", 绿色亮一点: that band's lightness) */
        const int light = !strcmp(gr, "tone") && (dd->brightness != 0.0f || dd->exposure != 0.0f) &&
                          dd->contrast == 0.0f && b->id != g_lex.term_shadows && b->id != g_lex.term_highlights;
        if (!strcmp(gr, "saturation") || pop || light)
          sat_term = j;
        else if (j > i && target < 0 && (!strcmp(gr, "toning") || !strcmp(gr, "tint")) &&
                 looks_is_chromatic(&g_lex.term_delta[b->id]))
          target = j;
        else
          other_term = 1;
        if (j < i) first = 0;
      }
      if (b->kind == TOK_COLOR && j > i && target < 0) target = j;
      if (b->kind == TOK_COLOR && j < i) first = 0;
      /* (in English before it too: "boost the blues", "enhance the reds") */
      if (b->kind == TOK_MOD && (j > i || en) && (b->id == MOD_MORE || b->id == MOD_INTENS || b->id == MOD_EXTREME))
        degree *= k_mod_weight[b->id];
      if (b->kind == TOK_UNKNOWN && en &&
          ((b->len == 6 && !memcmp(s + b->at, "deeper", 6)) || (b->len == 4 && !memcmp(s + b->at, "deep", 4))))
        deeper = 1;
    }
    if (blocked || (cast && target < 0)) continue;
    const int plural = en && toks[i].len >= 4 && s[toks[i].at + toks[i].len - 1] == 's';
    const int the =
        en && i > 0 && clause_of[i - 1] == c && toks[i - 1].len == 3 && !memcmp(s + toks[i - 1].at, "the", 3);
    const int only_degree = sat_term < 0 && target < 0 && !other_term && (deeper || degree > 1.0f);
    int hue;
    if (en)
      hue = (plural || the) && (sat_term >= 0 || target >= 0 || only_degree);
    else
      hue = first && (sat_term > i || target >= 0 || (only_degree && degree > 1.0f));
    if (!hue) continue;
    qual_of[i] = LOOKS_QUAL_HUE;
    hue_of[i] = color_band_center(toks[i].id);
    if (!only_degree) continue;
    hue_rich[i] = fminf(0.6f * (deeper ? fmaxf(degree, k_mod_weight[MOD_MORE]) : degree), 1.5f);
    for (int j = 0; j < nt; j++) /* "deeper" is read with it, wherever it stands in the clause */
      if (clause_of[j] == c && toks[j].kind == TOK_UNKNOWN &&
          ((toks[j].len == 6 && !memcmp(s + toks[j].at, "deeper", 6)) ||
           (toks[j].len == 4 && !memcmp(s + toks[j].at, "deep", 4))))
        skip_tok[j] = 1;
  }
}

/* Colours listed before a range edit ("红色和绿色更浓", "the reds and the oranges desaturated",
 * 红色、黄色和绿色降饱和): each is edited as the last one is. A colour alone in its clause, then "and" / 和 / 与 / 及 /
 * 、, then a clause whose first word is a colour read as a range: hue_list[i] is that colour's token (the one whose
 * match it takes), else -1. */
static void list_hue_ranges(const char *s, const token *toks, int nt, const int *clause_of, int *qual_of,
                            double *hue_of, unsigned char *skip_tok, int *hue_list) {
  static const char *const k_and[] = {"和", "与", "及", "跟", "、", "and", "&", ","};
  for (int i = 0; i < nt; i++) hue_list[i] = -1;
  for (int i = nt - 1; i >= 0; i--) {
    if (toks[i].kind != TOK_COLOR || qual_of[i]) continue;
    int alone = 1, sep = -1, back = -1;
    for (int j = 0; j < nt && alone; j++)
      if (j != i && clause_of[j] == clause_of[i] && toks[j].kind != TOK_STOP && toks[j].kind != TOK_SEP) alone = 0;
    for (int j = i + 1; j < nt && sep < 0; j++)
      if (toks[j].kind == TOK_SEP) sep = j;
    for (int j = i - 1; j >= 0 && back < 0; j--)
      if (toks[j].kind == TOK_SEP) back = j;
    if (!alone) continue;
    int listed = 0, nx = -1;
    for (size_t k = 0; sep >= 0 && k < sizeof k_and / sizeof *k_and && !listed; k++)
      listed = word_is(s, &toks[sep], k_and[k]);
    if (listed) { /* the edit after it: 红色和绿色更浓 */
      nx = sep + 1;
      while (nx < nt && toks[nx].kind == TOK_STOP) nx++;
      const int q = nx < nt ? qual_of[nx] : 0; /* (a colour read as a range, or the greens, the sky) */
      if (!(q == LOOKS_QUAL_HUE || q == LOOKS_QUAL_FOLIAGE || q == LOOKS_QUAL_SKY || q == LOOKS_QUAL_WATER)) nx = -1;
    }
    listed = 0;
    for (size_t k = 0; nx < 0 && back >= 0 && k < sizeof k_and / sizeof *k_and && !listed; k++)
      listed = word_is(s, &toks[back], k_and[k]);
    if (nx < 0 && listed) /* or before it: "desaturate the reds and the oranges" */
      for (int j = back - 1; j >= 0 && clause_of[j] == clause_of[back] && nx < 0; j--)
        if (toks[j].kind == TOK_COLOR && qual_of[j] == LOOKS_QUAL_HUE) nx = j;
    if (nx < 0) continue;
    qual_of[i] = LOOKS_QUAL_HUE;
    hue_of[i] = color_band_center(toks[i].id);
    hue_list[i] = hue_list[nx] >= 0 ? hue_list[nx] : nx;
    skip_tok[i] = 1;
  }
}

/* ==== Interpretation ==== */

/* Where an explicit control and a style disagree on what is not one field (the sum's scalar rule handles
 * those): a style's milky blacks and soft shoulder (fade, rolloff) give way to explicit contrast or crushed
 * blacks, to 1 / (1 + firm / 0.15) of themselves ("high contrast film look": film's fade 0.3 and roll-off 0.5
 * took back 40% of the contrast), a style's crushed blacks to explicit fade or low contrast; and a style's toning
 * (shadows, highlights, cast) that points against the explicit colour is weakened by the cosine of the angle between
 * them, its hue kept ("warm moody": moody's blue shadows at 0.29 of their chroma; "warm teal and orange": the teal at
 * half). */
#define F_SHADOW_AB ((int)(offsetof(dlut_look, shadow_ab) / sizeof(float))) /* shadow, highlight, cast: 6 floats */
_Static_assert(offsetof(dlut_look, highlight_ab) == offsetof(dlut_look, shadow_ab) + 2 * sizeof(float) &&
                   offsetof(dlut_look, cast_ab) == offsetof(dlut_look, shadow_ab) + 4 * sizeof(float),
               "the toning vectors are adjacent");

static void resolve_style_conflicts(const float *ctl, const float *style, dlut_look *look) {
  const dlut_look *c = (const dlut_look *)ctl, *st = (const dlut_look *)style;
  const float firm = fmaxf(c->contrast, 0.0f) + fmaxf(c->crush, 0.0f), soft = fmaxf(-c->contrast, 0.0f) + c->fade;
  if (firm > 0.0f && st->fade > 0.0f) look->fade -= st->fade * (1.0f - 1.0f / (1.0f + firm / 0.15f));
  if (firm > 0.0f && st->rolloff > 0.0f) look->rolloff -= st->rolloff * (1.0f - 1.0f / (1.0f + firm / 0.15f));
  if (soft > 0.0f && st->crush > 0.0f) look->crush -= st->crush * (1.0f - 1.0f / (1.0f + soft / 0.3f));
  /* the explicit colour's direction in (a*, b*), as qualify.c's chroma push: temp towards amber (75 deg),
   * tint towards magenta (340 deg), the casts and toning as they are */
  const double dt = 75.0 * M_PI / 180.0, dm = 340.0 * M_PI / 180.0;
  double u[2] = {
      c->cast_ab[0] + 0.6 * (c->shadow_ab[0] + c->highlight_ab[0]) + 6.0 * c->temp * cos(dt) + 5.0 * c->tint * cos(dm),
      c->cast_ab[1] + 0.6 * (c->shadow_ab[1] + c->highlight_ab[1]) + 6.0 * c->temp * sin(dt) + 5.0 * c->tint * sin(dm)};
  double m = hypot(u[0], u[1]);
  if (m < 2.0) return; /* no clear explicit colour */
  u[0] /= m, u[1] /= m;
  const float *sv[3] = {st->shadow_ab, st->highlight_ab, st->cast_ab};
  float *lv[3] = {look->shadow_ab, look->highlight_ab, look->cast_ab};
  for (int k = 0; k < 3; k++) { /* scaled by 1 + cos of the angle between them, its hue kept */
    double v = hypot(sv[k][0], sv[k][1]), p = sv[k][0] * u[0] + sv[k][1] * u[1];
    if (v > 0 && p < 0) lv[k][0] += (float)(p / v * sv[k][0]), lv[k][1] += (float)(p / v * sv[k][1]);
  }
}

static void append_list(char *buf, size_t cap, const char *text, int tlen);
static int list_contains(const char *list, const char *text, int tlen);

/* A term that takes colour out of the whole image: black and white, desaturated, muted. */
static int drains_colour(const dlut_look *d) {
  return d->mono >= 0.5f || d->saturation <= -0.3f;
}

/* The range an exception names: a colour, a hue range or a qualifier (sky, skin, foliage, water) at toks[j]; its
 * bands into w (the skin: *skin instead, the protection). 0 when toks[j] names none. */
static int except_target(const token *t, int qual, double hue, float w[DLUT_LOOK_NBANDS], int *skin) {
  float b[DLUT_LOOK_NBANDS] = {0};
  if (t->kind == TOK_QUAL && qual == LOOKS_QUAL_SKIN) {
    *skin = 1;
    return 1;
  }
  if (t->kind == TOK_QUAL && qual > 0 && qual != LOOKS_QUAL_HUE) {
    looks_qual_band_w(qual, b);
  } else if (t->kind == TOK_COLOR) {
    const looks_color_name *c = looks_color_get(t->id);
    float rgb[3] = {c->rgb[0] / 255.0f, c->rgb[1] / 255.0f, c->rgb[2] / 255.0f}, lab[3];
    dlut_color_srgb_to_lab(rgb, lab, 1);
    if (hypotf(lab[1], lab[2]) < 10.0f) return 0; /* white, grey, black: no hue to keep (the ends stay anyway) */
    looks_hue_band_w(qual == LOOKS_QUAL_HUE ? hue : looks_color_cast_hue(c->rgb), b);
  } else {
    return 0;
  }
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) w[k] = fmaxf(w[k], b[k]);
  return 1;
}

/* Exceptions: "except" / 除了 / "everything but" before a colour, a hue range or a qualifier, 以外 / 之外 after
 * one, and "keep" before one in a prompt that drains colour ("black and white but keep the reds", "keep only the
 * reds", 只保留红色): the range keeps its own colour (band_keep; the skin its protection) and is no qualifier
 * of its clause (so "desaturate everything except the skin" desaturates the rest, not the skin). A list after
 * one ("except the sky and the skin") is excepted whole. The words go to the report; an exception that names
 * no range is reported as ignored. */
static void except_ranges(const char *s, const token *toks, int nt, const int *clause_of, int *qual_of,
                          const double *hue_of, float *hue_rich, unsigned char *skip_tok, float *keep_w, int *keep_skin,
                          int *keep_only, char *text, size_t text_cap, dlut_looks_report *rep) {
  int drain = 0;
  for (int i = 0; i < nt; i++)
    if (toks[i].kind == TOK_TERM && drains_colour(&g_lex.term_delta[toks[i].id])) drain = 1;
  for (int i = 0; i < nt; i++) {
    const token *t = &toks[i];
    const int keep = t->kind == TOK_MOD && t->id == MOD_KEEP && drain;
    if ((t->kind != TOK_EXCEPT && !keep) || skip_tok[i]) continue;
    const int after = t->kind == TOK_EXCEPT && t->len >= 3 && (unsigned char)s[t->at] >= 0x80 &&
                      (!memcmp(s + t->at, "以外", 6) || !memcmp(s + t->at, "之外", 6) || !memcmp(s + t->at, "除外", 6));
    int first = -1, last = -1, found = 0;
    if (after) { /* 天空以外: the range before it, unless 除了 took it already */
      for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i] && first < 0; j--) {
        if (toks[j].kind == TOK_STOP) continue;
        if (skip_tok[j]) { /* 除了天空以外: read with the 除了 */
          found = 1;
          break;
        }
        if (except_target(&toks[j], qual_of[j], hue_of[j], keep_w, keep_skin)) first = last = j;
        break;
      }
    } else {
      int want = 1; /* a range is wanted next: after the exception word, or after "and" in its list */
      for (int j = i + 1; j < nt; j++) {
        const token *b = &toks[j];
        if (b->kind == TOK_STOP) continue;
        if (want && (b->kind == TOK_EXCEPT || (b->kind == TOK_MOD && b->id == MOD_KEEP))) continue; /* "除了保留" */
        if (b->kind == TOK_SEP && b->id == 1 && !want) { /* a list: "and", "or", 和, 与 */
          want = 1;
          continue;
        }
        if (b->kind == TOK_SEP || !want) break;
        if (!except_target(b, qual_of[j], hue_of[j], keep_w, keep_skin)) break;
        if (first < 0) first = j;
        last = j;
        want = 0;
      }
    }
    if (first < 0) {
      if (!found && t->kind == TOK_EXCEPT && !list_contains(rep->ignored, s + t->at, t->len))
        append_list(rep->ignored, sizeof rep->ignored, s + t->at, t->len);
      continue;
    }
    if (t->kind == TOK_EXCEPT && t->id == 1 && !drain) *keep_only = 1;
    for (int j = first; j <= last; j++) qual_of[j] = 0, hue_rich[j] = 0.0f;
    for (int j = i < first ? i : first; j <= (i > last ? i : last); j++) skip_tok[j] = 1; /* all its words */
    const int a = i < first ? t->at : toks[first].at;
    const int e = i > last ? t->at + t->len : toks[last].at + toks[last].len;
    if (!list_contains(text, s + a, e - a)) append_list(text, text_cap, s + a, e - a);
  }
}

static void append_list(char *buf, size_t cap, const char *text, int tlen) {
  size_t at = strlen(buf);
  if (at + (at ? 2 : 0) + (size_t)tlen + 1 > cap) return; /* full: drop rather than cut a character */
  if (at) {
    memcpy(buf + at, ", ", 2);
    at += 2;
  }
  memcpy(buf + at, text, (size_t)tlen);
  buf[at + (size_t)tlen] = '\0';
}

/* Nonzero if the ", "-separated list already holds text[0..tlen). */
static int list_contains(const char *list, const char *text, int tlen) {
  for (const char *p = list; *p;) {
    size_t n = strcspn(p, ",");
    if (n == (size_t)tlen && memcmp(p, text, n) == 0) return 1;
    p += n;
    while (*p == ',' || *p == ' ') p++;
  }
  return 0;
}

/* Combine a modifier into a running weight. Two softeners do not compound
 * ("稍微暖一点" is one "a bit", not a quarter). */
static void combine(float *w, int *soft, int *cap, int mod) {
  if (mod == MOD_SOFT) {
    if (*soft) return;
    *soft = 1;
    if (fabsf(*w) > 1.5f && *cap == 0) { /* "very slightly", 非常轻微: the slightness made stronger, not the term (a
                                          * "more" before it is a bit more: 高一点) */
      *w = *w > 0 ? 0.3f : -0.3f;
      return;
    }
  }
  if (mod == MOD_TOO) {
    if (*cap != CAP_NEG) { /* "too blue": there is too much of it */
      *w *= k_mod_weight[MOD_LESS];
      return;
    }
    /* a negation then "too": the negation's reversal undone, "not too" in its place */
    *cap = CAP_TOO;
    *w = fabsf(*w / k_mod_weight[MOD_NEG]) * k_mod_weight[MOD_CAP];
    return;
  }
  if (mod == MOD_ENOUGH) { /* "not bright enough": more of it; "bright enough": nothing */
    if (*cap == CAP_NEG) {
      *cap = 0;
      *w = fabsf(*w / k_mod_weight[MOD_NEG]) * k_mod_weight[MOD_MORE];
    }
    return;
  }
  if (mod == MOD_LESS && *cap == 0 && *w < 0) { /* 降到最低, "lower ... low": one direction, stronger */
    *w = fmaxf(*w * k_mod_weight[MOD_MORE], -WEIGHT_MAX);
    return;
  }
  if (mod == MOD_NEG && *cap != CAP_TOO) *cap = CAP_NEG;
  if (mod == MOD_CAP) {
    if (*cap == CAP_TOO) return; /* "不要太 ... 过于" once */
    *cap = CAP_TOO;
    *w = fabsf(*w); /* "not too" after a "no" (不要 + 太): the cap wins */
  }
  *w *= k_mod_weight[mod];
  if (*w > WEIGHT_MAX) *w = WEIGHT_MAX;
  if (*w < -WEIGHT_MAX) *w = -WEIGHT_MAX;
}

/* Append s[at..at+len) to a match's text (with a space between English words). */
static void match_text_add(dlut_looks_match *m, const char *s, int at, int len) {
  if (len <= 0) return; /* a word ending's degree (find_stemmed) has no text of its own */
  size_t cur = strlen(m->text);
  int space = cur > 0 && (unsigned char)s[at] < 0x80 && (unsigned char)m->text[cur - 1] < 0x80;
  if (cur + (size_t)space + (size_t)len + 1 > sizeof m->text) return;
  if (space) m->text[cur++] = ' ';
  memcpy(m->text + cur, s + at, (size_t)len);
  m->text[cur + (size_t)len] = '\0';
}

int dlut_looks_parse(const char *prompt, dlut_look *look, dlut_looks_report *report) {
  token *toks = NULL;
  dlut_looks_report *rep = NULL;
  char *norm = NULL;
  int ret = -1;
  if (!prompt || !look) return dlut_error("looks: NULL argument");
  dlut_look_init(look);
  if (report) memset(report, 0, sizeof *report);
  if (lex_ready() != 0) return -1;
  size_t plen = strlen(prompt);
  if (plen > DLUT_LOOKS_MAX_PROMPT)
    return dlut_error("looks: prompt is %zu bytes (max %d)", plen, DLUT_LOOKS_MAX_PROMPT);
  if (utf8proc_decompose((const utf8proc_uint8_t *)prompt, (utf8proc_ssize_t)plen, NULL, 0, 0) < 0)
    return dlut_error("looks: prompt is not valid UTF-8");
  /* normalise: NFKC + case fold, then English words separated by single spaces */
  utf8proc_uint8_t *nf = fold(prompt);
  if (!nf) return dlut_error("looks: prompt is not valid UTF-8");
  hant_in_place(nf); /* 復古 reads as 复古 */
  size_t nlen = strlen((char *)nf);
  norm = malloc(nlen + 1);
  toks = malloc((nlen + 1) * sizeof *toks); /* a token is at least one byte */
  rep = calloc(1, sizeof *rep);
  if (!norm || !toks || !rep) {
    free(nf);
    dlut_error("looks: out of memory");
    goto fail;
  }
  {
    size_t o = 0;
    for (size_t i = 0; i < nlen; i++) {
      unsigned char c = nf[i];
      if (c == '\'') continue;
      /* the apostrophes phones and word processors type (U+2019, U+2018, U+02BC) are dropped like
       * ASCII's: "don’t" reads as "dont" */
      if (i + 2 < nlen && c == 0xE2 && nf[i + 1] == 0x80 && (nf[i + 2] == 0x98 || nf[i + 2] == 0x99)) {
        i += 2;
        continue;
      }
      if (i + 1 < nlen && c == 0xCA && nf[i + 1] == 0xBC) {
        i += 1;
        continue;
      }
      /* a number's sign ("contrast -20", 曝光+0.5; U+2212 is the typographic minus) stays, unless a letter
       * or digit is just before it */
      int digit_next = i + 1 < nlen && nf[i + 1] >= '0' && nf[i + 1] <= '9';
      if (i + 3 < nlen && c == 0xE2 && nf[i + 1] == 0x88 && nf[i + 2] == 0x92 && nf[i + 3] >= '0' && nf[i + 3] <= '9') {
        c = '-', i += 2, digit_next = 1;
      }
      int after_word = o > 0 && norm[o - 1] != ' ' && (unsigned char)norm[o - 1] < 0x80 &&
                       !strchr(",.;:!?()[]{}", norm[o - 1]); /* "sx-70", "fp-100c": a hyphen; "10-20" a range */
      if ((c == '+' || c == '-') && digit_next && !after_word) {
        norm[o++] = (char)c;
        continue;
      }
      /* a percent sign stays with its number ("50%": no film speed) */
      if (c == '%' && o > 0 && norm[o - 1] >= '0' && norm[o - 1] <= '9') {
        norm[o++] = '%';
        continue;
      }
      /* a fraction ("1/3 stop") stays one */
      if (c == '/' && digit_next && o > 0 && norm[o - 1] >= '0' && norm[o - 1] <= '9') {
        norm[o++] = '/';
        continue;
      }
      /* a colon before a number is no clause break ("exposure: +0.5", 对比度：20) */
      if (c == ':') {
        size_t k = i + 1;
        while (k < nlen && nf[k] == ' ') k++;
        if (k < nlen && ((nf[k] >= '0' && nf[k] <= '9') || nf[k] == '+' || nf[k] == '-')) c = ' ';
      }
      if (c < 0x80 && !is_word_byte(c) && !strchr(",.;:!?()[]{}", c)) c = ' '; /* '-', '&', '_' ... join words */
      if (c == ' ' && (o == 0 || norm[o - 1] == ' ')) continue;
      norm[o++] = (char)c;
    }
    while (o > 0 && norm[o - 1] == ' ') o--;
    norm[o] = '\0';
  }
  free(nf);
  int nt = tokenize(norm, toks, (int)nlen + 1);
  if (nt < 0) goto fail;
  nt = join_stocks(norm, toks, nt);
  nt = read_numbers(norm, toks, nt);
  for (int i = 0; i < nt; i++)
    if (toks[i].typo) { /* "cinematik → cinematic" */
      char c[2 * MAX_FORM + 8];
      int cl = snprintf(c, sizeof c, "%.*s \xE2\x86\x92 %s", toks[i].len, norm + toks[i].at, toks[i].typo);
      if (cl > 0 && cl < (int)sizeof c && !list_contains(rep->corrected, c, cl))
        append_list(rep->corrected, sizeof rep->corrected, c, cl);
    }

  /* clauses: a qualifier ("the sky", "skin", and "shadows"/"highlights" in a clause that names a
   * colour) acts on the terms of its clause; a cast word changes what a negated colour means */
  int *qual_of = malloc(((size_t)nt + 1) * sizeof *qual_of); /* per token: its qualifier kind (qualifier tokens) */
  int *clause_of = calloc((size_t)nt + 1, sizeof *clause_of);
  int *match_of = malloc(((size_t)nt + 1) * sizeof *match_of);   /* per token: the match it made, or -1 */
  int *num_link = malloc(((size_t)nt + 1) * sizeof *num_link);   /* a number's term, a term's number (link_numbers) */
  unsigned char *desc = malloc((size_t)nt + 1);                  /* per clause: a description before a request */
  double *hue_of = malloc(((size_t)nt + 1) * sizeof *hue_of);    /* per LOOKS_QUAL_HUE token: its CIELAB hue */
  unsigned char *skip_tok = calloc((size_t)nt + 1, 1);           /* tokens already read with a hue edit */
  float *hue_rich = malloc(((size_t)nt + 1) * sizeof *hue_rich); /* and the degree of "richer" when nothing else */
  int *hue_list = malloc(((size_t)nt + 1) * sizeof *hue_list);   /* a listed colour's range edit: its partner's */
  dlut_look *eff = malloc(DLUT_LOOKS_MAX_MATCHES * sizeof *eff); /* per match: its effect at weight 1 */
  int mqual_tok[DLUT_LOOKS_MAX_MATCHES], mneg_color[DLUT_LOOKS_MAX_MATCHES];
  /* exceptions ("black and white except the reds"): the bands that keep their colour, the skin kept, a
   * "keep only" with nothing else draining the colour, and their words for the report */
  float keep_w[DLUT_LOOK_NBANDS] = {0};
  int keep_skin = 0, keep_only = 0;
  char except_text[256] = "";
  if (!qual_of || !clause_of || !match_of || !eff || !num_link || !desc || !hue_of || !hue_rich || !skip_tok ||
      !hue_list) {
    free(qual_of), free(clause_of), free(match_of), free(eff), free(num_link), free(desc), free(hue_of), free(hue_rich),
        free(skip_tok), free(hue_list);
    dlut_error("looks: out of memory");
    goto fail;
  }
  {
    int c = 0, c_terms = 0;
    for (int i = 0; i < nt; i++) {
      /* 人物暖一点背景冷一点: the background, or the subject, after a term starts a clause of its own */
      if (c_terms && (toks[i].kind == TOK_UNKNOWN || toks[i].kind == TOK_STOP) &&
          (toks[i - 1].kind == TOK_MOD || toks[i - 1].kind == TOK_TERM) && /* (黑色的背景: a black background) */
          (is_background(norm, &toks[i]) || is_person(norm, &toks[i])))
        c++, c_terms = 0;
      clause_of[i] = c;
      if (toks[i].kind == TOK_TERM || toks[i].kind == TOK_COLOR) c_terms = 1;
      if (toks[i].kind == TOK_SEP) c_terms = 0;
      qual_of[i] = toks[i].kind == TOK_QUAL ? toks[i].id : 0;
      match_of[i] = -1;
      if (toks[i].kind == TOK_SEP) c++;
    }
    link_numbers(toks, nt, clause_of, num_link);
    /* descriptions: in a sentence with a request ("..., I want it moody", "..., 想要冷一点的感觉"), the
     * clauses before the first request say what the photo shows ("a picture of mountains at sunrise",
     * 雪山日出): their scene words are content, not the grade */
    for (int i = 0; i <= nt; i++) desc[i] = 0;
    for (int a = 0; a < nt;) {
      int b = a, first_req = -1;
      while (b < nt && !(toks[b].kind == TOK_SEP && is_sentence_end(norm + toks[b].at, toks[b].len))) b++;
      for (int j = a; j < b && first_req < 0; j++)
        if (word_in(norm + toks[j].at, toks[j].len, looks_request_word_count, looks_request_word_get))
          first_req = clause_of[j];
      for (int j = a; j < b && first_req >= 0; j++)
        if (clause_of[j] < first_req) desc[clause_of[j]] = 1;
      a = b + 1;
    }
    /* a subject set against the background ("人像暖一点，背景冷一点", "the person warmer, the background cooler"):
     * the person's words are the skin's qualifier; alone (清冷感人像) they say what the photo shows */
    int n_bg = 0;
    for (int i = 0; i < nt; i++) n_bg += toks[i].kind == TOK_UNKNOWN && is_background(norm, &toks[i]);
    for (int i = 0; i < nt && n_bg > 0; i++)
      if ((toks[i].kind == TOK_STOP || toks[i].kind == TOK_UNKNOWN) && is_person(norm, &toks[i])) {
        int bg_here = 0;
        for (int j = 0; j < nt && !bg_here; j++)
          bg_here = clause_of[j] == clause_of[i] && toks[j].kind == TOK_UNKNOWN && is_background(norm, &toks[j]);
        if (!bg_here) qual_of[i] = LOOKS_QUAL_SKIN;
      }
    /* "shadows"/"highlights" are qualifiers when their clause has a chromatic term, a colour or a saturation
     * word ("desaturated shadows", "lower saturation in the shadows", 暗部饱和度低一点: the shadows' chroma,
     * not a lift) */
    for (int i = 0; i < nt; i++) {
      if (toks[i].kind != TOK_TERM || (toks[i].id != g_lex.term_shadows && toks[i].id != g_lex.term_highlights))
        continue;
      int chromatic = 0;
      /* the control's bare name ("shadows", 阴影, 高光) with a lightness word: that range lighter or darker
       * (阴影暗一点 lifted the shadows and darkened the rest; 高光过曝了: the highlights down) */
      const int noun = word_in(norm + toks[i].at, toks[i].len, looks_control_noun_count, looks_control_noun_get);
      for (int j = 0; j < nt && !chromatic; j++) {
        if (j == i || clause_of[j] != clause_of[i]) continue;
        if (toks[j].kind == TOK_COLOR) chromatic = 1;
        if (toks[j].kind != TOK_TERM || toks[j].id == g_lex.term_shadows || toks[j].id == g_lex.term_highlights)
          continue;
        const dlut_look *d = &g_lex.term_delta[toks[j].id];
        if (looks_is_chromatic(d) || !strcmp(dlut_looks_term_get(toks[j].id)->group, "saturation")) chromatic = 1;
        if (noun && !strcmp(dlut_looks_term_get(toks[j].id)->group, "tone") &&
            (d->brightness != 0.0f || d->exposure != 0.0f) && d->contrast == 0.0f)
          chromatic = 1;
      }
      if (chromatic) qual_of[i] = toks[i].id == g_lex.term_shadows ? LOOKS_QUAL_SHADOWS : LOOKS_QUAL_HIGHLIGHTS;
      /* the bare name beside another tone word is where that word acts, no edit of its own ("highlights are
       * blown", 亮部不要过曝, 暗部太死了: "highlights" brightened them on top) */
      for (int j = 0; j < nt && noun && !chromatic && !skip_tok[i]; j++)
        if (j != i && clause_of[j] == clause_of[i] && toks[j].kind == TOK_TERM && toks[j].id != g_lex.term_shadows &&
            toks[j].id != g_lex.term_highlights && !strcmp(dlut_looks_term_get(toks[j].id)->group, "tone"))
          skip_tok[i] = 1;
    }
    /* the seaside look ("ocean", "sea", 大海) is the water qualifier when its clause names a colour
     * ("bluer ocean", 大海更蓝); with other terms ("ocean sunset") it stays a look */
    for (int i = 0; i < nt; i++) {
      if (toks[i].kind != TOK_TERM || toks[i].id != g_lex.term_sea) continue;
      for (int j = 0; j < nt; j++)
        if (j != i && clause_of[j] == clause_of[i] && toks[j].kind == TOK_COLOR) qual_of[i] = LOOKS_QUAL_WATER;
    }
    mark_hue_ranges(norm, toks, nt, clause_of, qual_of, hue_of, hue_rich, skip_tok);
    list_hue_ranges(norm, toks, nt, clause_of, qual_of, hue_of, skip_tok, hue_list);
    except_ranges(norm, toks, nt, clause_of, qual_of, hue_of, hue_rich, skip_tok, keep_w, &keep_skin, &keep_only,
                  except_text, sizeof except_text, rep);
  }
  /* the qualifier token of a term: in English the one right after it ("teal shadows orange highlights"; Chinese
   * puts it first: 阴影偏青高光偏橙), else the nearest
   * before it in its clause, else the first after it */
#define QUAL_TOKEN_OF(i, out)                                                           \
  do {                                                                                  \
    (out) = (i) + 1 < nt && clause_of[(i) + 1] == clause_of[i] && qual_of[(i) + 1] &&   \
                    (unsigned char)norm[toks[i].at] < 0x80                              \
                ? (i) + 1                                                               \
                : -1;                                                                   \
    for (int q_ = (i)-1; q_ >= 0 && clause_of[q_] == clause_of[i] && (out) < 0; q_--)   \
      if (qual_of[q_]) (out) = q_;                                                      \
    for (int q_ = (i) + 1; q_ < nt && clause_of[q_] == clause_of[i] && (out) < 0; q_++) \
      if (qual_of[q_]) (out) = q_;                                                      \
  } while (0)

  /* interpret */
  char awb_text[256] = "";
  int want_neutral = 0; /* "keep the greys neutral", 白色不要偏色: the look spares them, or alone the photo's cast */
  float pre_w = 1.0f;
  int pre_soft = 0, pre_cap = 0;
  int pre_text_at = -1, pre_text_end = -1; /* span of pending prefix modifiers */
  int last = -1;                           /* the match postfix modifiers attach to */
  int last_soft = 0;
  int pre_fix = -1;     /* a pending "fix" / 校正 token, or -1 */
  int pre_too = 0;      /* a "too" among the pending prefix modifiers */
  int pre_keep = 0;     /* a pending "keep" / 保留 */
  int skip_mod = -1;    /* a modifier already read with the slider before it (黑位压低) */
  int state = -1;       /* a pending "it looks" / 照片 (a complaint about the next tone or colour word), or -1 */
  int state_from = -1;  /* where its words end: the state, or the "and" it carried over */
  int skin_said = -1;   /* the qualifier of a complaint about a thing (皮肤偏黄, 草地太黄了), or -1 */
  int skin_include = 0; /* the skin named as included (包括皮肤): it follows the look */
  int bg_tok = -1;      /* a "background" word whose clause's terms are not for the skin (背景冷一点), or -1 */
  int state_used = -1;  /* the state that the clause's last match took: it carries over "and" ("it looks dark and
                         * flat") */
  int carry = -1;       /* a negated colour or tint before "and" / 和: the next bare one is negated too ("remove the
                         * green and the magenta cast", 去掉偏绿和偏红), with the same weight */
  /* clauses that a carried negation joined share their cast words ("remove the yellow and green cast") */
  int *group_of = malloc(((size_t)nt + 1) * sizeof *group_of);
  unsigned char *fix_used = calloc((size_t)nt + 1, 1);
  if (!group_of || !fix_used) {
    free(group_of), free(fix_used), free(qual_of), free(clause_of), free(match_of), free(eff), free(num_link),
        free(desc), free(hue_of), free(hue_rich), free(skip_tok), free(hue_list);
    dlut_error("looks: out of memory");
    goto fail;
  }
  for (int i = 0; i <= nt; i++) group_of[i] = i;
#define COLOURISH(tk) ((tk).kind == TOK_COLOR || ((tk).kind == TOK_TERM && g_lex.term_tint[(tk).id]))
  for (int i = 0; i < nt; i++) {
    token *t = &toks[i];
    if (t->kind == TOK_STOP || t->kind == TOK_CAST) continue;
    if (t->kind == TOK_STATE) {
      state = state_from = i;
      continue;
    }
    int slider_term = -1; /* a slider's name with a degree word and no number ("increase the temperature", 色温调高) */
    if (t->kind == TOK_SLIDER && num_link[i] < 0) {
      const int sk = looks_slider_get(t->id)->kind;
      int dir = pre_text_at >= 0 && pre_w != 1.0f ? (pre_w < 0 ? -1 : 1) : 0;
      int after = -1;
      for (int j = i + 1; !dir && j < nt && clause_of[j] == clause_of[i]; j++) {
        if (toks[j].kind == TOK_MOD && (toks[j].id == MOD_MORE || toks[j].id == MOD_LESS))
          dir = toks[j].id == MOD_MORE ? 2 : -2, after = j; /* after it: the modifier attaches to it below */
        else if (!(toks[j].kind == TOK_STOP || toks[j].kind == TOK_UNKNOWN ||
                   (toks[j].kind == TOK_MOD && (toks[j].id == MOD_SOFT || toks[j].id == MOD_INTENS))))
          break;
      }
      if (dir && sk != LOOKS_SLIDER_SPATIAL) {
        slider_term = sk == LOOKS_SLIDER_TEMP     ? g_lex.term_warm
                      : sk == LOOKS_SLIDER_TINT   ? g_lex.term_magenta
                      : sk == LOOKS_SLIDER_WHITES ? g_lex.term_highlights
                      : dir > 0                   ? g_lex.term_faded
                                                  : g_lex.term_crushed;
        if (sk == LOOKS_SLIDER_BLACKS && dir == -1) pre_w = -pre_w; /* "lower the blacks": crushed, as asked */
        if (sk == LOOKS_SLIDER_BLACKS && dir == -2) { /* 黑位压低: crushed by the "lower" after it, not reversed */
          pre_w = -k_mod_weight[MOD_LESS];
          skip_mod = after;
        }
      } else { /* a slider's name alone: nothing to do */
        if (sk == LOOKS_SLIDER_SPATIAL && !list_contains(rep->ignored, norm + t->at, t->len))
          append_list(rep->ignored, sizeof rep->ignored, norm + t->at, t->len);
        continue;
      }
    }
    if (t->kind == TOK_NUM && (num_link[i] >= 0 || t->unit == NUM_PLAIN)) {
      if (num_link[i] < 0 && !list_contains(rep->ignored, norm + t->at, t->len)) /* a number of nothing */
        append_list(rep->ignored, sizeof rep->ignored, norm + t->at, t->len);
      continue; /* else read with its term */
    }
    if (t->kind == TOK_AWB) { /* "auto white balance", 校正白平衡: the photo's own cast, measured where it is known */
      /* negated ("not auto white balance", 不要校正白平衡): understood, and nothing is done */
      int at = pre_text_at >= 0 ? pre_text_at : t->at;
      if (pre_cap != CAP_NEG) *(t->id == 1 ? &want_neutral : &rep->neutral_wb) = 1; /* neutral greys: below */
      if (!list_contains(awb_text, norm + at, t->at + t->len - at))
        append_list(awb_text, sizeof awb_text, norm + at, t->at + t->len - at);
      pre_w = 1.0f, pre_soft = pre_cap = 0, pre_text_at = -1;
      continue;
    }
    if (t->kind == TOK_SEP) {
      carry = -1;
      state = t->id == 1 ? state_used : -1;
      state_from = i;
      state_used = -1;
      if (t->id == 1 && last >= 0 && rep->matches[last].capped == CAP_NEG && rep->matches[last].weight < 0.0f)
        for (int j = i - 1; j >= 0 && carry < 0; j--)
          if (match_of[j] == last && COLOURISH(toks[j])) carry = j;
      pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, last = -1, pre_fix = -1;
      continue;
    }
    if (qual_of[i] == LOOKS_QUAL_HUE && hue_rich[i] > 0.0f && rep->n_matches < DLUT_LOOKS_MAX_MATCHES) {
      /* "make reds deeper", 红色更浓: the range richer; the degree words were read with it */
      dlut_looks_match *m = &rep->matches[rep->n_matches];
      memset(m, 0, sizeof *m);
      m->term = g_lex.term_saturated;
      m->weight = hue_rich[i];
      mqual_tok[rep->n_matches] = i;
      mneg_color[rep->n_matches] = 0;
      if (pre_text_at >= 0) match_text_add(m, norm, pre_text_at, pre_text_end - pre_text_at); /* "boost the blues" */
      for (int j = 0; j < nt; j++) /* its words in order: "deeper" (marked), itself, its degree words after it */
        if (clause_of[j] == clause_of[i] && (j == i || skip_tok[j] || (j > i && toks[j].kind == TOK_MOD))) {
          if (j != i) skip_tok[j] = 1;
          match_text_add(m, norm, toks[j].at, toks[j].len);
        }
      match_of[i] = rep->n_matches++;
      pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, pre_fix = -1;
      continue;
    }
    if (skip_tok[i]) continue;
    if (t->kind == TOK_EXCEPT) continue; /* one that named no range is in the ignored list already */
    if (qual_of[i]) {                    /* a qualifier: its words join the first match of its clause (see below) */
      int has_term = 0;
      for (int j = 0; j < nt && !has_term; j++)
        has_term = j != i && clause_of[j] == clause_of[i] && (toks[j].kind == TOK_COLOR || toks[j].kind == TOK_TERM) &&
                   !qual_of[j];
      const int q = qual_of[i];
      int keep_here = pre_keep;
      for (int j = i + 1; j < nt && clause_of[j] == clause_of[i]; j++)
        keep_here |= toks[j].kind == TOK_MOD && toks[j].id == MOD_KEEP;
      int include = 0; /* 整体暖，包括皮肤, "warm, including the skin": the skin follows the look */
      for (int j = 0; j < nt && q == LOOKS_QUAL_SKIN && !has_term; j++)
        if (clause_of[j] == clause_of[i] &&
            (word_is(norm, &toks[j], "包括") || word_is(norm, &toks[j], "包含") ||
             word_is(norm, &toks[j], "including") || word_is(norm, &toks[j], "include") ||
             word_is(norm, &toks[j], "也") || word_is(norm, &toks[j], "too")))
          include = 1;
      if (include && !keep_here) {
        skin_include = 1;
        if (rep->n_matches > 0) match_text_add(&rep->matches[rep->n_matches - 1], norm, t->at, t->len);
        continue;
      }
      if (!has_term && q == LOOKS_QUAL_SKIN && keep_here) { /* "skin untouched", 皮肤不变: the protection */
        keep_skin = 1;
        if (!list_contains(except_text, norm + t->at, t->len))
          append_list(except_text, sizeof except_text, norm + t->at, t->len);
        continue;
      }
      if (!has_term &&
          (q == LOOKS_QUAL_SKY || q == LOOKS_QUAL_FOLIAGE || q == LOOKS_QUAL_WATER || q == LOOKS_QUAL_SKIN)) {
        /* a thing named alone, then one colour or tone word alone (只调天空，变蓝; 皮肤，白一点): about that thing */
        int nx = -1;
        for (int j = i + 1; j < nt && nx < 0 && clause_of[j] <= clause_of[i] + 1; j++)
          if (clause_of[j] == clause_of[i] + 1 &&
              (COLOURISH(toks[j]) || (toks[j].kind == TOK_TERM && g_lex.term_slider[toks[j].id])))
            nx = j;
        if (nx >= 0 && clause_alone(norm, toks, nt, clause_of, nx)) {
          skin_said = i;
          match_of[i] = -1;
          continue;
        }
      }
      if (!has_term && pre_w > 1.0f && pre_cap == 0 && g_lex.term_saturated >= 0 &&
          (q == LOOKS_QUAL_SKY || q == LOOKS_QUAL_FOLIAGE || q == LOOKS_QUAL_WATER) &&
          rep->n_matches < DLUT_LOOKS_MAX_MATCHES) {
        /* "boost the greens", "more greens", "enhance the sky": the range richer, as "richer greens" */
        dlut_looks_match *m = &rep->matches[rep->n_matches];
        memset(m, 0, sizeof *m);
        m->term = g_lex.term_saturated;
        m->weight = fminf(0.6f * pre_w, 1.5f);
        mqual_tok[rep->n_matches] = i;
        mneg_color[rep->n_matches] = 0;
        if (pre_text_at >= 0) match_text_add(m, norm, pre_text_at, pre_text_end - pre_text_at);
        match_text_add(m, norm, t->at, t->len);
        match_of[i] = rep->n_matches;
        last = rep->n_matches++;
        pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, pre_fix = -1;
        continue;
      }
      if (!has_term && !list_contains(rep->ignored, norm + t->at, t->len))
        append_list(rep->ignored, sizeof rep->ignored, norm + t->at, t->len);
      if (has_term) /* qualifier after its term ("bluer sky"): add its words to that match now */
        for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i]; j--)
          if (match_of[j] >= 0) {
            int qt;
            QUAL_TOKEN_OF(j, qt);
            if (qt == i) match_text_add(&rep->matches[match_of[j]], norm, t->at, t->len);
            break;
          }
      continue;
    }
    if (t->kind == TOK_UNKNOWN && is_background(norm, t)) {
      /* "背景冷一点", "background cooler", "make the background black and white": the rest of the photo, the
       * skin kept as it is (the look's one skin switch: with a skin edit too, the skin is protected) */
      int has_term = 0;
      for (int j = i + 1; j < nt && clause_of[j] == clause_of[i] && !has_term; j++)
        has_term = toks[j].kind == TOK_TERM || toks[j].kind == TOK_COLOR;
      for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i] && !has_term; j--)
        has_term = toks[j].kind == TOK_TERM || toks[j].kind == TOK_COLOR;
      if (has_term) {
        keep_skin = 1;
        bg_tok = i;
        continue;
      }
    }
    if (t->kind == TOK_UNKNOWN) {
      if (!list_contains(rep->ignored, norm + t->at, t->len)) /* each ignored word once */
        append_list(rep->ignored, sizeof rep->ignored, norm + t->at, t->len);
      continue;
    }
    if (t->kind == TOK_MOD && i == skip_mod) {
      match_text_add(&rep->matches[last], norm, t->at, t->len);
      continue;
    }
    /* a clause of degree words alone after the terms ("teal and orange, but subtle", "warm, not too strong",
     * 青橙色调但是不要太重, "cinematic, but strong"): the strength of everything before it */
    if (t->kind == TOK_MOD && last < 0 && pre_text_at < 0 && rep->n_matches > 0 &&
        (t->id == MOD_SOFT || t->id == MOD_CAP || t->id == MOD_INTENS || t->id == MOD_EXTREME ||
         (t->id == MOD_NEG && i + 1 < nt && toks[i + 1].kind == TOK_MOD && toks[i + 1].id == MOD_INTENS))) {
      int alone = 1, e = i;
      for (int j = i; j < nt && clause_of[j] == clause_of[i] && toks[j].kind != TOK_SEP; j++, e = j)
        if (toks[j].kind != TOK_MOD && toks[j].kind != TOK_STOP) alone = 0;
      if (alone) {
        float tw = 1.0f;
        int ts = 0, tc = 0;
        for (int j = i; j < e; j++)
          if (toks[j].kind == TOK_MOD) combine(&tw, &ts, &tc, toks[j].id);
        /* softer ("subtle", "not too strong": a negation or a cap of strength) or stronger ("but strong") */
        const float k = tc || tw < 0.0f || tw < 1.0f ? 0.5f : fminf(tw, 1.6f);
        for (int k2 = 0; k2 < rep->n_matches;
             k2++) /* (a capped term is moderate already: "not too warm, just a touch") */
          if (k > 1.0f || !rep->matches[k2].capped) rep->matches[k2].weight *= k;
        match_text_add(&rep->matches[rep->n_matches - 1], norm, t->at, toks[e - 1].at + toks[e - 1].len - t->at);
        i = e - 1;
        continue;
      }
    }
    if (t->kind == TOK_MOD) {
#define SKIPPABLE(k)                                                                                                  \
  ((k) == TOK_STOP || (k) == TOK_UNKNOWN || (k) == TOK_QUAL || (k) == TOK_CAST || (k) == TOK_AWB || (k) == TOK_NUM || \
   (k) == TOK_STATE)
#define TERMISH(k) ((k) == TOK_TERM || (k) == TOK_COLOR || (k) == TOK_SLIDER)
      int nx = i + 1;
      while (nx < nt && SKIPPABLE(toks[nx].kind)) nx++;
      int next_is_term = nx < nt && TERMISH(toks[nx].kind);
      int next_is_mod_then_term = 0;
      if (nx < nt && toks[nx].kind == TOK_MOD) {
        int n2 = nx + 1;
        while (n2 < nt && SKIPPABLE(toks[n2].kind)) n2++;
        next_is_mod_then_term = n2 < nt && TERMISH(toks[n2].kind);
      }
#undef TERMISH
#undef SKIPPABLE
      /* a correction in a later clause than the colour it corrects, with nothing after it to act on
       * ("the photo has a green tint, please remove it", 照片偏绿了，帮我校正一下): nothing after it in
       * its clause, it removes that colour or tint, as "remove the green tint" does */
      if ((t->id == MOD_FIX || t->id == MOD_NEG) && last < 0 && pre_text_at < 0 && rep->n_matches > 0) {
        int later = 0, prev = -1; /* (a thing after it is what it is about: 不要影响人物, "don't change the car") */
        for (int j = i + 1; j < nt && clause_of[j] == clause_of[i] && !later; j++)
          later = toks[j].kind == TOK_TERM || toks[j].kind == TOK_COLOR || toks[j].kind == TOK_UNKNOWN ||
                  toks[j].kind == TOK_QUAL;
        for (int j = i - 1; j >= 0 && prev < 0; j--)
          if (match_of[j] >= 0) prev = j;
        dlut_looks_match *pm = prev >= 0 ? &rep->matches[match_of[prev]] : NULL;
        if (!later && pm && match_of[prev] == rep->n_matches - 1 && COLOURISH(toks[prev])) {
          if (pm->capped == 0 && pm->weight > 0.0f) { /* not already a complaint (发黄，修正一下) */
            int soft_ = 0;
            combine(&pm->weight, &soft_, &pm->capped, MOD_NEG);
          }
          match_text_add(pm, norm, t->at, t->len);
          fix_used[i] = 1;
          continue;
        }
      }
      if (t->id == MOD_FIX) { /* a negation of what follows if it is a colour or tint (below) */
        if (next_is_term || next_is_mod_then_term) pre_fix = i; /* "fix the slight yellow cast" too */
        continue; /* else a cast alone (the photo's own, below) or nothing: ignored there */
      }
      if (t->id == MOD_KEEP && !next_is_term && !next_is_mod_then_term && last >= 0 && pre_text_at < 0) {
        /* after a control's name ("shadows untouched", 阴影不变, 高光不变): that control stays where it is */
        int lt = -1;
        for (int j = i - 1; j >= 0 && clause_of[j] == clause_of[i] && lt < 0; j--)
          if (match_of[j] == last) lt = j;
        if (lt >= 0 && toks[lt].kind == TOK_TERM &&
            word_in(norm + toks[lt].at, toks[lt].len, looks_control_noun_count, looks_control_noun_get)) {
          rep->matches[last].weight = 0.0f;
          rep->matches[last].capped = CAP_KEEP;
          match_text_add(&rep->matches[last], norm, t->at, t->len);
          continue;
        }
      }
      if (t->id == MOD_KEEP) { /* held until its term: a control's name is kept, a description is asked for */
        pre_keep = 1;
        if (pre_text_at < 0) pre_text_at = t->at;
        pre_text_end = t->at + t->len;
        continue;
      }
      /* 暖一点冷一点: a Chinese degree word that follows its word is that word's, whatever comes after */
      const int zh_post = last >= 0 && pre_text_at < 0 && i > 0 && match_of[i - 1] == last &&
                          toks[i - 1].at + toks[i - 1].len == t->at && is_zh_postfix(norm, t);
      if (zh_post || (last >= 0 && pre_text_at < 0 && !next_is_term && !next_is_mod_then_term)) {
        dlut_looks_match *m = &rep->matches[last];
        if (t->id == MOD_TOO && t->len == 3 && !memcmp(norm + t->at, "too", 3)) continue; /* "warm too": also */
        combine(&m->weight, &last_soft, &m->capped, t->id);
        match_text_add(m, norm, t->at, t->len);
      } else if (t->id == MOD_TOO && pre_cap == CAP_NEG && word_is(norm, t, "发")) {
        pre_text_end = t->at + t->len; /* 不要发蓝: "don't turn blue", the cast refused, as 不要偏蓝 (not "not too") */
        t->kind = TOK_CAST;
      } else {
        combine(&pre_w, &pre_soft, &pre_cap, t->id);
        if (t->id == MOD_TOO) pre_too = 1;
        if (t->len > 0) { /* a word ending's degree (find_stemmed) has no text of its own */
          if (pre_text_at < 0) pre_text_at = t->at;
          pre_text_end = t->at + t->len;
        }
      }
      continue;
    }
    /* a colour that names a thing in the photo ("my orange cat", "a red car", 红色的墙, 绿裙子): no grade, said as
     * ignored with its thing */
    if (t->kind == TOK_COLOR && pre_text_at < 0 && pre_fix < 0 && num_link[i] < 0) {
      int j = i + 1;
      const int zh = (unsigned char)norm[t->at] >= 0x80;
      if (zh && j < nt && toks[j].kind == TOK_STOP && toks[j].len == 3 && !memcmp(norm + toks[j].at, "的", 3)) j++;
      if (j < nt && toks[j].kind == TOK_UNKNOWN && clause_of[j] == clause_of[i] &&
          ((unsigned char)norm[toks[j].at] >= 0x80) == zh) {
        const int e = toks[j].at + toks[j].len;
        if (!list_contains(rep->ignored, norm + t->at, e - t->at))
          append_list(rep->ignored, sizeof rep->ignored, norm + t->at, e - t->at);
        i = j;
        continue;
      }
      /* a backdrop ("a watch on black", "shot against white"): what the photo shows (report.scene), not "a bit
       * on the blue side" */
      int b = i - 1;
      while (b >= 0 && clause_of[b] == clause_of[i] && toks[b].kind == TOK_STOP && is_article(norm, &toks[b])) b--;
      if (!zh && b >= 0 && clause_of[b] == clause_of[i] &&
          (word_is(norm, &toks[b], "on") || word_is(norm, &toks[b], "against")) &&
          !(i + 1 < nt && word_is(norm, &toks[i + 1], "side"))) {
        const int a = toks[b].at, e = t->at + t->len;
        if (!list_contains(rep->scene, norm + a, e - a)) append_list(rep->scene, sizeof rep->scene, norm + a, e - a);
        continue;
      }
    }
    /* a scene word in a description before a request ("a picture of mountains at sunrise, I want it cold"):
     * what the photo shows */
    /* (or the subject of a complaint: 雪发蓝, 天空太灰 with a scene word, "the snow looks blue") */
    int subject = 0;
    if (t->kind == TOK_TERM && g_lex.term_scene[t->id] && num_link[i] < 0) {
      int j = i + 1;
      while (j < nt && clause_of[j] == clause_of[i] && (toks[j].kind == TOK_STOP || toks[j].kind == TOK_STATE)) j++;
      const int in = j < nt && clause_of[j] == clause_of[i];
      if (in && j > i + 1 && toks[j - 1].kind == TOK_STATE) { /* "the snow looks blue" */
        subject = COLOURISH(toks[j]);
      } else if (in && ((toks[j].kind == TOK_MOD && toks[j].id == MOD_TOO) || toks[j].kind == TOK_CAST)) { /* 雪发蓝 */
        int k = j + 1;
        while (k < nt && clause_of[k] == clause_of[i] && (toks[k].kind == TOK_STOP || toks[k].kind == TOK_MOD)) k++;
        subject = k < nt && clause_of[k] == clause_of[i] && COLOURISH(toks[k]);
      }
    }
    if (t->kind == TOK_TERM && g_lex.term_scene[t->id] && (desc[clause_of[i]] || subject) && num_link[i] < 0) {
      if (!list_contains(rep->scene, norm + t->at, t->len))
        append_list(rep->scene, sizeof rep->scene, norm + t->at, t->len);
      pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, pre_fix = -1;
      continue;
    }
    /* a term or a colour */
    if (rep->n_matches >= DLUT_LOOKS_MAX_MATCHES) {
      append_list(rep->ignored, sizeof rep->ignored, norm + t->at, t->len);
      continue;
    }
    int fixed = 0;
    if (pre_fix >= 0 && COLOURISH(*t)) { /* "fix the yellow cast", 校正偏黄: remove it */
      combine(&pre_w, &pre_soft, &pre_cap, MOD_NEG);
      fixed = 1;
      fix_used[pre_fix] = 1;
    }
    if (carry >= 0 && pre_fix < 0 && pre_text_at < 0 && pre_cap == 0 && COLOURISH(*t)) {
      int qt_;
      QUAL_TOKEN_OF(i, qt_);
      if (qt_ < 0) {
        pre_w = rep->matches[match_of[carry]].weight, pre_cap = CAP_NEG;
        group_of[clause_of[i]] = group_of[clause_of[carry]];
      }
    }
    carry = -1;
    /* a number: the degree it says ("contrast +20", "5600k"), reversed by a degree word before it ("reduce
     * the contrast by 20"); a temperature in kelvin alone is a light of that colour, stops alone ("+1 ev")
     * the exposure */
    const int nk = t->kind == TOK_NUM ? i : num_link[i];
    int mterm = slider_term >= 0 ? slider_term : t->kind == TOK_TERM ? t->id : -1 - t->id; /* colours: -1 - index */
    float mw = pre_w;
    int mcap = pre_cap;
    if (nk >= 0) {
      const token alone = {
          TOK_TERM, t->unit == NUM_KELVIN ? g_lex.term_warm : g_lex.term_exposure, t->at, t->len, -1, 0, 0, 0, NULL};
      if (number_degree(t->kind == TOK_NUM ? &alone : t, &toks[nk], pre_w < 0 ? -1.0f : 1.0f, &mterm, &mw) != 0) {
        /* a control no LUT can be ("clarity +20"): said, with its number */
        int a = t->at < toks[nk].at ? t->at : toks[nk].at;
        int e = t->at + t->len > toks[nk].at + toks[nk].len ? t->at + t->len : toks[nk].at + toks[nk].len;
        if (!list_contains(rep->ignored, norm + a, e - a))
          append_list(rep->ignored, sizeof rep->ignored, norm + a, e - a);
        pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, pre_fix = -1;
        continue;
      }
      mcap = 0;
    }
    dlut_looks_match *m = &rep->matches[rep->n_matches];
    memset(m, 0, sizeof *m);
    m->term = mterm;
    m->weight = mw;
    m->capped = mcap;
    /* "it looks washed out", 照片有点灰: a complaint, as "too" is ("it's not bright" asks for bright) */
    int stated = 0;
    if (state >= 0 && nk < 0 && mcap != CAP_TOO && state_applies(norm, toks, nt, clause_of, state_from, i)) {
      if (mcap == CAP_NEG) {
        m->weight = fabsf(m->weight / k_mod_weight[MOD_NEG]);
        m->capped = 0;
      } else if (!pre_too) {
        m->weight *= k_mod_weight[MOD_LESS];
      }
      stated = 1;
      state_used = state;
      state = -1;
    }
    /* "keep the highlights", 保留高光: the control stays where it is */
    if (pre_keep && nk < 0 && t->kind == TOK_TERM &&
        word_in(norm + t->at, t->len, looks_control_noun_count, looks_control_noun_get)) {
      m->weight = 0.0f;
      m->capped = CAP_KEEP;
    }
    int qt;
    QUAL_TOKEN_OF(i, qt);
    const int tone_word = t->kind == TOK_TERM && g_lex.term_slider[t->id];
    if (qt >= 0 && t->kind == TOK_TERM && !g_lex.term_slider[t->id] &&
        strcmp(dlut_looks_term_get(t->id)->group, "toning")) {
      /* a style (a look, a mood, a stock) takes only a qualifier right beside it ("moody sky"): "moody forest with
       * deep greens" is moody, and the greens deeper, not moody greens; a toning colour is a colour (海水更青) */
      int lo = qt < i ? qt : i, hi = qt < i ? i : qt, beside = 1;
      for (int j = lo + 1; j < hi && beside; j++) /* (or a keep: 树叶保持自然) */
        beside = toks[j].kind == TOK_STOP || (toks[j].kind == TOK_MOD && toks[j].id == MOD_KEEP);
      if (!beside) qt = -1;
    }
    if (!stated && nk < 0 && mcap == 0 && skin_complaint(norm, toks, nt, clause_of, qual_of, qt, i)) {
      m->weight *= k_mod_weight[MOD_LESS]; /* 皮肤偏黄: the skin is yellowish now, less of it */
      if (t->kind == TOK_COLOR && g_lex.term_dark >= 0 && looks_color_get(t->id)->rgb[0] == 0 &&
          looks_color_get(t->id)->rgb[1] == 0 && looks_color_get(t->id)->rgb[2] == 0)
        m->term = g_lex.term_dark; /* 皮肤偏黑 is skin too dark, not too black in colour: lighter, its chroma kept */
      skin_said = qt;
    } else if (!stated && nk < 0 && mcap == 0 && m->weight > 0.0f && said_so(norm, toks, nt, clause_of, i)) {
      m->weight *= k_mod_weight[MOD_LESS]; /* 高光偏黄了, 欠曝了: how the photo is now, less of it */
    } else if (qt < 0 && skin_said >= 0 && clause_of[i] == clause_of[skin_said] + 1 && (COLOURISH(*t) || tone_word) &&
               clause_alone(norm, toks, nt, clause_of, i)) {
      qt = skin_said; /* 皮肤偏黄，调白一点: the request after the skin's complaint is about the skin */
    }
    /* a thing's colour in a description before the request ("green trees and blue sky, make it moody",
     * 天空和海都很蓝，想要更通透): what the photo shows, unless it complains (太, 偏, "too") or compares (更) */
    if (qt >= 0 && desc[clause_of[i]] && COLOURISH(*t) && nk < 0 &&
        (qual_of[qt] == LOOKS_QUAL_SKY || qual_of[qt] == LOOKS_QUAL_FOLIAGE || qual_of[qt] == LOOKS_QUAL_WATER ||
         qual_of[qt] == LOOKS_QUAL_SKIN)) {
      int plain = 1;
      for (int j = 0; j < nt && plain; j++)
        if (clause_of[j] == clause_of[i] &&
            (toks[j].kind == TOK_CAST ||
             (toks[j].kind == TOK_MOD && toks[j].id != MOD_INTENS && toks[j].id != MOD_SOFT)))
          plain = 0;
      if (plain) {
        const int a = toks[qt].at < t->at ? toks[qt].at : t->at;
        const int e = toks[qt].at < t->at ? t->at + t->len : toks[qt].at + toks[qt].len;
        if (!list_contains(rep->scene, norm + a, e - a)) append_list(rep->scene, sizeof rep->scene, norm + a, e - a);
        pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, pre_fix = -1;
        continue;
      }
    }
    /* a complaint about a thing in the photo (草地太黄了, 天空太灰了, 皮肤偏黄): the request after it is about it too
     * (草地太黄了，想要更绿) */
    if (qt >= 0 && m->weight < 0.0f && m->capped == 0 &&
        (qual_of[qt] == LOOKS_QUAL_SKIN || qual_of[qt] == LOOKS_QUAL_SKY || qual_of[qt] == LOOKS_QUAL_FOLIAGE ||
         qual_of[qt] == LOOKS_QUAL_WATER))
      skin_said = qt;
    mqual_tok[rep->n_matches] = qt;
    mneg_color[rep->n_matches] = 0;
    if (qt >= 0 && qt < i) { /* the qualifier's words first ("天空更蓝"), once per clause */
      int first = 1;
      for (int j = qt + 1; j < i; j++)
        if (match_of[j] >= 0) first = 0;
      if (first) match_text_add(m, norm, toks[qt].at, toks[qt].len);
    }
    if (bg_tok >= 0 && clause_of[bg_tok] == clause_of[i]) {
      match_text_add(m, norm, toks[bg_tok].at, toks[bg_tok].len);
      bg_tok = -1;
    }
    if (stated && state_from == state_used) match_text_add(m, norm, toks[state_used].at, toks[state_used].len);
    if (fixed) match_text_add(m, norm, toks[pre_fix].at, toks[pre_fix].len);
    if (pre_text_at >= 0) match_text_add(m, norm, pre_text_at, pre_text_end - pre_text_at);
    match_text_add(m, norm, t->at, t->len);
    if (nk >= 0 && nk != i) match_text_add(m, norm, toks[nk].at, toks[nk].len);
    match_of[i] = rep->n_matches;
    last = rep->n_matches++;
    last_soft = pre_soft;
    pre_w = 1.0f, pre_soft = pre_cap = pre_too = pre_keep = 0, pre_text_at = -1, pre_fix = -1;
  }
#undef COLOURISH
#undef QUAL_TOKEN_OF
  /* a negated cast word with no colour in its clause ("remove the colour cast", 去掉偏色): the
   * photo's own cast is what is to go, as "auto white balance" */
  for (int i = 0; i < nt; i++) {
    if (toks[i].kind != TOK_CAST) continue;
    int neg = -1, n_neg = 0, named = 0;
    for (int j = 0; j < nt; j++) {
      if (clause_of[j] != clause_of[i]) continue;
      if (toks[j].kind == TOK_MOD && (toks[j].id == MOD_NEG || toks[j].id == MOD_FIX) && n_neg++ == 0) neg = j;
      if (toks[j].kind == TOK_COLOR || toks[j].kind == TOK_TERM || toks[j].kind == TOK_AWB || match_of[j] >= 0)
        named = 1;
    }
    /* one negation: "remove the cast"; two ("don't remove the cast", 不要去掉偏色) undo it */
    if (neg < 0 || named) continue;
    if (n_neg != 1) {
      int a = toks[neg].at, e = toks[i].at + toks[i].len;
      if (!list_contains(awb_text, norm + a, e - a)) append_list(awb_text, sizeof awb_text, norm + a, e - a);
      continue;
    }
    rep->neutral_wb = 1;
    fix_used[neg] = 1;
    int a = toks[neg].at < toks[i].at ? toks[neg].at : toks[i].at;
    int e = toks[neg].at + toks[neg].len > toks[i].at + toks[i].len ? toks[neg].at + toks[neg].len
                                                                    : toks[i].at + toks[i].len;
    if (!list_contains(awb_text, norm + a, e - a)) append_list(awb_text, sizeof awb_text, norm + a, e - a);
  }
  /* a "fix" / 校正 that found neither a colour nor a cast ("fix the exposure") did nothing: say so */
  for (int i = 0; i < nt; i++)
    if (toks[i].kind == TOK_MOD && toks[i].id == MOD_FIX && !fix_used[i] &&
        !list_contains(rep->ignored, norm + toks[i].at, toks[i].len))
      append_list(rep->ignored, sizeof rep->ignored, norm + toks[i].at, toks[i].len);

  /* a listed colour takes its partner's range edit (红色和绿色更浓: the reds richer too, not a red cast) */
  for (int i = 0; i < nt; i++) {
    if (hue_list[i] < 0 || rep->n_matches >= DLUT_LOOKS_MAX_MATCHES) continue;
    for (int k = 0; k < rep->n_matches; k++) {
      if (mqual_tok[k] != hue_list[i]) continue;
      dlut_looks_match *m = &rep->matches[rep->n_matches];
      *m = rep->matches[k];
      m->text[0] = '\0';
      match_text_add(m, norm, toks[i].at, toks[i].len);
      mqual_tok[rep->n_matches] = i;
      mneg_color[rep->n_matches] = mneg_color[k];
      match_of[i] = rep->n_matches++;
      break;
    }
  }
  /* crushed blacks complained of (暗部死黑了, 暗部太死了, "the shadows are crushed"): the shadows lifted, which a
   * crush below zero cannot say */
  for (int k = 0; k < rep->n_matches; k++)
    if (rep->matches[k].term == g_lex.term_crushed && rep->matches[k].weight < 0.0f && !rep->matches[k].capped &&
        g_lex.term_shadows >= 0) {
      rep->matches[k].term = g_lex.term_shadows;
      rep->matches[k].weight = -rep->matches[k].weight;
    }
  /* each match's effect at weight 1: its term's or colour's, confined to its qualifier's range; a
   * negated colour without a cast word ("不要蓝色", "no blue") takes that colour out of the image (its
   * hues lose chroma) instead of casting the complement; with one ("remove the green cast") it is the
   * complement, a correction */
  int n_plain = 0;
  for (int k = 0; k < rep->n_matches; k++) {
    dlut_looks_match *m = &rep->matches[k];
    const dlut_look *d = m->term >= 0 ? &g_lex.term_delta[m->term] : &g_lex.color_delta[-1 - m->term];
    int qual = mqual_tok[k] >= 0 ? qual_of[mqual_tok[k]] : 0, cast_word = 0;
    int tok_k = -1;
    for (int i = 0; i < nt && tok_k < 0; i++)
      if (match_of[i] == k) tok_k = i;
    for (int i = 0; i < nt; i++)
      if (toks[i].kind == TOK_CAST && group_of[clause_of[i]] == group_of[clause_of[tok_k]]) cast_word = 1;
    eff[k] = *d;
    /* (in the shadows or the highlights, "no blue in the shadows", the toning's correction: a tone range has no
     * hue band to drain) */
    if (m->term < 0 && m->capped == CAP_NEG && !cast_word && qual != LOOKS_QUAL_SHADOWS &&
        qual != LOOKS_QUAL_HIGHLIGHTS) {
      const looks_color_name *c = looks_color_get(-1 - m->term);
      float rgb[3] = {c->rgb[0] / 255.0f, c->rgb[1] / 255.0f, c->rgb[2] / 255.0f}, lab[3];
      dlut_color_srgb_to_lab(rgb, lab, 1);
      if (hypotf(lab[1], lab[2]) >= 10.0f) {
        looks_band_desaturate(looks_color_cast_hue(c->rgb), 1.2f, &eff[k]);
        mneg_color[k] = 1;
      }
    }
    if (qual && !mneg_color[k]) {
      if (qual == LOOKS_QUAL_SKIN && m->term == g_lex.term_natural) {
        dlut_look_init(&eff[k]); /* "keep the skin natural": the protection, which is on already */
      } else if ((qual == LOOKS_QUAL_SKY || qual == LOOKS_QUAL_FOLIAGE || qual == LOOKS_QUAL_WATER) &&
                 m->term == g_lex.term_natural) {
        /* "keep the trees natural", 天空保持自然: that range keeps its colour, as an exception does */
        float bw[DLUT_LOOK_NBANDS];
        looks_qual_band_w(qual, bw);
        for (int b = 0; b < DLUT_LOOK_NBANDS; b++) keep_w[b] = fmaxf(keep_w[b], bw[b]);
        dlut_look_init(&eff[k]);
      } else {
        dlut_look q;
        if (qual == LOOKS_QUAL_HUE)
          looks_qualify_hue(&eff[k], hue_of[mqual_tok[k]], &q);
        else
          looks_qualify(&eff[k], qual, &q);
        eff[k] = q;
      }
    }
    if (m->capped != CAP_TOO && m->capped != CAP_KEEP) n_plain++;
  }

  /* sum the terms */
  float *f = (float *)look;
  float f_ctl[LOOKS_NFIELDS] = {0}, f_style[LOOKS_NFIELDS] = {0};
  float skin_on = 0.0f; /* the largest skin_follow a term asks for, whatever its degree (a switch) */
  for (int k = 0; k < rep->n_matches; k++) {
    const dlut_looks_match *m = &rep->matches[k];
    /* a term named twice ("cyberpunk 赛博朋克") counts once, at its strongest */
    int dup = 0;
    for (int j = 0; j < rep->n_matches && !dup; j++)
      if (j != k && rep->matches[j].term == m->term && mqual_tok[j] < 0 && mqual_tok[k] < 0 &&
          (fabsf(rep->matches[j].weight) > fabsf(m->weight) ||
           (fabsf(rep->matches[j].weight) == fabsf(m->weight) && j < k)))
        dup = 1;
    if (dup) continue;
    /* "not too X" adds X only when the prompt says nothing else: then X, gently */
    if (m->capped == CAP_TOO && n_plain > 0) continue;
    const float *d = (const float *)&eff[k];
    float w = mneg_color[k] ? fabsf(m->weight) : m->weight; /* the colour's chroma goes, whatever the sign */
    /* an explicit control (a tone, temperature, tint or saturation word, or a colour) and a style (a look, a
     * stock, a mood) pushing one field opposite ways: the control wins ("vintage but cool" is cool, not the
     * two cancelled); the style's share of that field is dropped below */
    const int explicit_ = m->term < 0 || g_lex.term_slider[m->term];
    /* a toning term's toning is what it asks for ("warm teal and orange" keeps its teal): no style's there */
    const int toning_ = m->term >= 0 && !strcmp(dlut_looks_term_get(m->term)->group, "toning");
    /* (a skin-qualified edit either way: "less yellow skin" is about skin too) */
    if ((w > 0 || mqual_tok[k] >= 0) && eff[k].skin_follow > skin_on)
      skin_on = eff[k].skin_follow; /* "肤色更白一点" is about skin too */
    for (int j = 0; j < LOOKS_NFIELDS; j++) {
      f[j] += w * d[j];
      if (toning_ && !explicit_ && j >= F_SHADOW_AB && j < F_SHADOW_AB + 6) continue; /* (below) */
      (explicit_ ? f_ctl : f_style)[j] += w * d[j];
    }
  }
  for (int j = 0; j < NUM_SCALAR_FIELDS; j++)
    if (f_ctl[j] * f_style[j] < 0.0f) f[j] = f_ctl[j];
  resolve_style_conflicts(f_ctl, f_style, look);
  /* caps on a term's main fields: "no X" (X may not move its way at all), "not too X" (X at most half its
   * plain amount) */
  for (int k = 0; k < rep->n_matches; k++) {
    const dlut_looks_match *m = &rep->matches[k];
    if (!m->capped || mneg_color[k]) continue;
    if (m->capped == CAP_TOO && n_plain == 0) continue;
    const float *d = (const float *)&eff[k];
    float dmax = 0;
    for (int j = 0; j < LOOKS_NFIELDS; j++) dmax = fmaxf(dmax, fabsf(d[j]) / looks_field_scale(j));
    for (int j = 0; j < LOOKS_NFIELDS; j++) {
      if (fabsf(d[j]) / looks_field_scale(j) < 0.5f * dmax || d[j] == 0) continue;
      float lim = m->capped == CAP_TOO ? CAP_LIMIT * d[j] : 0.0f; /* in the plain term's direction */
      if (m->capped == CAP_KEEP) {                                /* held where it is, either way */
        f[j] = 0.0f;
        continue;
      }
      if (d[j] > 0 && f[j] > lim) f[j] = lim;
      if (d[j] < 0 && f[j] < lim) f[j] = lim;
    }
  }
  /* a refused cast beside a term that casts it ("雪景，不要发蓝", "snow scene, not blue", "night, no blue cast"):
   * the other terms' push towards that hue goes (their white balance, cast and toning along it), and the
   * correction, which is for a photo's own cast, is not added on top; alone (不要偏蓝) it corrects the photo */
  for (int k = 0; k < rep->n_matches; k++) {
    const dlut_looks_match *m = &rep->matches[k];
    if (m->capped != CAP_NEG || mneg_color[k] || mqual_tok[k] >= 0) continue;
    double hue;
    if (m->term < 0)
      hue = looks_color_cast_hue(looks_color_get(-1 - m->term)->rgb);
    else if (g_lex.term_tint[m->term])
      hue = m->term == g_lex.term_magenta ? 340.0 : 160.0;
    else
      continue;
    const double ux = cos(hue * M_PI / 180.0), uy = sin(hue * M_PI / 180.0);
    dlut_look rest = *look; /* the look without this correction */
    const float *d = (const float *)&eff[k];
    float *r = (float *)&rest;
    for (int j = 0; j < LOOKS_NFIELDS; j++) r[j] -= m->weight * d[j];
    const double dt = 75.0 * M_PI / 180.0, dm = 340.0 * M_PI / 180.0;
    double px = rest.cast_ab[0] + 0.6 * (rest.shadow_ab[0] + rest.highlight_ab[0]) + 6.0 * rest.temp * cos(dt) +
                5.0 * rest.tint * cos(dm);
    double py = rest.cast_ab[1] + 0.6 * (rest.shadow_ab[1] + rest.highlight_ab[1]) + 6.0 * rest.temp * sin(dt) +
                5.0 * rest.tint * sin(dm);
    /* nothing else casts it: no push within 60 deg of it, 1 unit along it ("remove the green cast and warm it
     * up": amber is 60 deg from green, a warmth, not a green cast) */
    const double along = px * ux + py * uy;
    if (along < 1.0 || along < 0.5 * hypot(px, py)) continue;
#define NEAR(c) fmax(0.0, ((c)-0.5) / 0.5) /* 1 on the hue, 0 from 60 deg away */
    const double ct = NEAR((rest.temp > 0 ? 1 : -1) * (cos(dt) * ux + sin(dt) * uy)),
                 cm = NEAR((rest.tint > 0 ? 1 : -1) * (cos(dm) * ux + sin(dm) * uy));
    rest.temp *= (float)(1.0 - ct);
    rest.tint *= (float)(1.0 - cm);
    float *abs_[3] = {rest.cast_ab, rest.shadow_ab, rest.highlight_ab};
    for (int q = 0; q < 3; q++) { /* less of a toning the nearer its hue is, its hue kept (not turned away) */
      const double len = hypot(abs_[q][0], abs_[q][1]);
      const double c = len > 0 ? NEAR((abs_[q][0] * ux + abs_[q][1] * uy) / len) : 0.0;
      abs_[q][0] *= (float)(1.0 - c), abs_[q][1] *= (float)(1.0 - c);
    }
#undef NEAR
    *look = rest;
  }
  /* the protections are switches in [0, 1] (1: skin follows the look; the paper's own ends), whatever
   * the weights of the terms that set them ("warmer skin" x1.3) */
  look->skin_follow = fminf(fmaxf(fmaxf(look->skin_follow, skin_on), 0.0f), 1.0f);
  look->tint_ends = fminf(fmaxf(look->tint_ends, 0.0f), 1.0f);
  /* the exceptions: their bands keep their colour, an excepted skin its protection, and "keep only" with no
   * other word draining the colour drains it (only the kept range stays in colour) */
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) look->band_keep[k] = fminf(fmaxf(look->band_keep[k], keep_w[k]), 1.0f);
  if (skin_include) look->skin_follow = 1.0f;
  /* a band's lightness within +-LOOKS_BAND_LUM_MAX: beyond it a lifted band bends luminance against its
   * neighbours ("very bright blues" at +0.76 failed the lattice test's smoothness, 绿色非常亮 at 0.5 its
   * monotony along an axis; 0.4 passes both) */
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++)
    look->band_lum[k] = fminf(fmaxf(look->band_lum[k], -LOOKS_BAND_LUM_MAX), LOOKS_BAND_LUM_MAX);
  if (keep_skin) look->skin_follow = 0.0f;
  if (keep_skin && look->mono > 0.0f) { /* black and white turns the protection off: the skin's bands keep */
    float sw[DLUT_LOOK_NBANDS];
    looks_qual_band_w(LOOKS_QUAL_SKIN, sw);
    for (int k = 0; k < DLUT_LOOK_NBANDS; k++) look->band_keep[k] = fmaxf(look->band_keep[k], sw[k]);
  }
  if (keep_only) look->saturation = -1.0f;
  /* neutral greys with a look that moves colour: it leaves them alone; with nothing else, the photo's own cast
   * is what is to go (as "auto white balance") */
  if (want_neutral && looks_is_chromatic(look))
    look->keep_neutral = 1.0f;
  else if (want_neutral)
    rep->neutral_wb = 1;
  free(qual_of), free(clause_of), free(match_of), free(eff), free(group_of), free(fix_used), free(num_link), free(desc),
      free(hue_of), free(hue_rich), free(skip_tok), free(hue_list);
  for (int k = 0; k < rep->n_matches; k++) { /* each term said once, however often the prompt repeats it */
    const int tl = (int)strlen(rep->matches[k].text);
    if (!list_contains(rep->understood, rep->matches[k].text, tl))
      append_list(rep->understood, sizeof rep->understood, rep->matches[k].text, tl);
  }
  if (awb_text[0]) append_list(rep->understood, sizeof rep->understood, awb_text, (int)strlen(awb_text));
  if (except_text[0]) append_list(rep->understood, sizeof rep->understood, except_text, (int)strlen(except_text));
  if (rep->ignored[0]) dlut_looks_suggest(rep->ignored, rep->suggested, sizeof rep->suggested);
  if (report) memcpy(report, rep, sizeof *rep);
  ret = 0;
fail:
  free(norm);
  free(toks);
  free(rep);
  return ret;
}

const char *dlut_looks_match_name(const dlut_looks_match *m, char *buf, size_t len) {
  const char *forms = "";
  if (!buf || !len) return buf;
  if (m->term >= 0 && m->term < dlut_looks_term_count())
    forms = dlut_looks_term_get(m->term)->en;
  else if (m->term < 0 && -1 - m->term < looks_color_count()) {
    const looks_color_name *c = looks_color_get(-1 - m->term);
    forms = c->en ? c->en : c->zh;
  }
  size_t n = strcspn(forms, "|");
  if (n >= len) n = len - 1;
  memcpy(buf, forms, n);
  buf[n] = '\0';
  return buf;
}

int dlut_looks_from_prompt(const char *prompt, int lut_size, dlut_lut **out, char *understood, size_t ulen,
                           char *ignored, size_t ilen) {
  dlut_look look;
  dlut_looks_report *rep = NULL;
  if (!out) return dlut_error("looks: NULL output");
  *out = NULL;
  if (lut_size == 0) lut_size = DLUT_LOOKS_DEFAULT_SIZE;
  if (lut_size < 2 || lut_size > DLUT_LUT_MAX_SIZE)
    return dlut_error("looks: LUT size %d out of range (2..%d)", lut_size, DLUT_LUT_MAX_SIZE);
  rep = malloc(sizeof *rep);
  if (!rep) return dlut_error("looks: out of memory");
  if (dlut_looks_parse(prompt, &look, rep) != 0) goto fail;
  if (understood && ulen) snprintf(understood, ulen, "%s", rep->understood);
  if (ignored && ilen) snprintf(ignored, ilen, "%s", rep->ignored);
  *out = dlut_look_bake(&look, lut_size);
  if (!*out) goto fail;
  free(rep);
  return 0;
fail:
  free(rep);
  return -1;
}
