/* Tests for dlut/looks.h: the vocabulary is well formed, the parser
 * understands degrees, negations, Chinese segmentation and reports what it
 * ignored, the fast bake agrees with the naive reference, and the baked LUT
 * of every vocabulary entry has the lattice properties of a good LUT
 * (finite, inside [0,1], monotone luminance, distinct inputs stay distinct,
 * smooth). */
#include <stdint.h>

#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "looks/looks_internal.h"
#include "test.h"

/* ==== Helpers ==== */

static uint64_t g_rng = 0x243F6A8885A308D3ull;
static double rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (double)((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

static dlut_look parse(const char *prompt, dlut_looks_report *rep) {
  dlut_look look;
  int rc = dlut_looks_parse(prompt, &look, rep);
  CHECK_MSG(rc == 0, "parse '%s': %s", prompt, dlut_last_error());
  return look;
}

/* Relative luminance of an sRGB-encoded colour. */
static double luma(const float *rgb) {
  return 0.2126 * dlut_srgb_to_linear(rgb[0]) + 0.7152 * dlut_srgb_to_linear(rgb[1]) +
         0.0722 * dlut_srgb_to_linear(rgb[2]);
}

static const float *node(const dlut_lut *lut, int r, int g, int b) {
  return lut->table + 3 * (((size_t)b * lut->size + g) * lut->size + r);
}

/* ==== Vocabulary ==== */

static void test_vocabulary(void) {
  int n = dlut_looks_term_count();
  CHECK(n >= 80);
  CHECK(dlut_looks_term_get(n) == NULL && dlut_looks_term_get(-1) == NULL);
  CHECK(dlut_looks_color_count() >= 148 + 30); /* all CSS names and the Chinese traditional colours */
  dlut_looks_report rep;
  for (int i = 0; i < n; i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    CHECK(t->en && *t->en && t->zh && *t->zh && t->what && *t->what && t->effect && *t->effect);
    /* every term's first English form and first Chinese form parse to that very term */
    char form[128];
    for (int lang = 0; lang < 2; lang++) {
      const char *forms = lang ? t->zh : t->en;
      size_t k = strcspn(forms, "|");
      snprintf(form, sizeof form, "%.*s", (int)k, forms);
      dlut_look look = parse(form, &rep);
      CHECK_MSG(rep.n_matches == 1 && rep.matches[0].term == i && rep.matches[0].weight == 1.0f,
                "'%s' parses to %d matches, first term %d (want term %d)", form, rep.n_matches,
                rep.n_matches ? rep.matches[0].term : -99, i);
      CHECK_MSG(rep.ignored[0] == '\0', "'%s': ignored '%s'", form, rep.ignored);
      /* and it does something */
      const float *f = (const float *)&look;
      float mag = 0;
      for (size_t j = 0; j < sizeof look / sizeof(float); j++) mag += fabsf(f[j]);
      CHECK_MSG(mag > 0.05f, "'%s' has no effect", form);
    }
  }
  /* every form of every term parses to that term alone (no form is shadowed by another term's,
   * a modifier, a stop word or a colour, and no form splits into several words) */
  int forms = 0, shadowed = 0;
  for (int i = 0; i < n; i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    for (int lang = 0; lang < 2; lang++)
      for (const char *p = lang ? t->zh : t->en; *p;) {
        size_t k = strcspn(p, "|");
        char form[128];
        snprintf(form, sizeof form, "%.*s", (int)k, p);
        parse(form, &rep);
        forms++;
        /* a comparative form of its own term ("warmer" beside "warm") weighs "more": 1.3 */
        int comparative = 0;
        for (const char *q = lang ? "" : t->en; *q && k > 2 && form[k - 1] == 'r';) {
          size_t k2 = strcspn(q, "|");
          if ((k2 == k - 1 || (k2 == k - 2 && form[k - 2] == 'e')) && !strncmp(q, form, k2)) comparative = 1;
          q += k2;
          if (*q == '|') q++;
        }
        float want = comparative ? 1.3f : 1.0f;
        if (!(rep.n_matches == 1 && rep.matches[0].term == i && rep.matches[0].weight == want && !rep.ignored[0])) {
          shadowed++;
          CHECK_MSG(0, "form '%s' of term %d parses to %d matches (first term %d), ignored '%s'", form, i,
                    rep.n_matches, rep.n_matches ? rep.matches[0].term : -99, rep.ignored);
        }
        p += k;
        if (*p == '|') p++;
      }
  }
  CHECK(forms >= 1500 && shadowed == 0);
  /* a sample of the names people type, in both languages, to the intended term */
  static const char *const k_named[][2] = {
      {"Kodak Portra 400", "portra 400"},
      {"fuji classic chrome", "classic chrome"},
      {"经典正片", "classic chrome"},
      {"Ilford HP5 Plus", "hp5"},
      {"伊尔福HP5", "hp5"},
      {"CineStill 50D", "cinestill 50d"},
      {"Polaroid SX-70", "sx-70"},
      {"富士拍立得", "instax"},
      {"LomoChrome Purple", "lomochrome purple"},
      {"Blade Runner 2049", "blade runner 2049"},
      {"银翼杀手", "blade runner 2049"},
      {"王家卫", "wong kar wai"},
      {"岩井俊二", "shunji iwai"},
      {"何藩", "fan ho"},
      {"森山大道", "daido moriyama"},
      {"90年代", "90s"},
      {"like a 90s film photo", "90s"},
      {"民国风", "republican era"},
      {"小红书", "xiaohongshu"},
      {"ins风", "instagram"},
      {"抖音", "tiktok"},
      {"胶片日系", "japanese film"},
      {"make it pop", "make it pop"},
      {"Tri-X 400", "tri-x"},
      {"Velvia 50", "velvia 50"},
      {"Amélie", "amelie"},
      {"AMÉLIE POULAIN", "amelie"},

      {"Vision3 500T", "vision3 500t"},
  };
  for (size_t i = 0; i < sizeof k_named / sizeof *k_named; i++) {
    parse(k_named[i][0], &rep);
    char nm[64] = "";
    if (rep.n_matches) dlut_looks_match_name(&rep.matches[0], nm, sizeof nm);
    CHECK_MSG(rep.n_matches == 1 && strcmp(nm, k_named[i][1]) == 0 && !rep.ignored[0],
              "'%s' -> %d matches, '%s' (want '%s'), ignored '%s'", k_named[i][0], rep.n_matches, nm, k_named[i][1],
              rep.ignored);
  }
  /* named colours: English and Chinese */
  dlut_look look = parse("teal", &rep); /* "teal" is also a toning term: the term wins */
  CHECK(rep.n_matches == 1 && rep.matches[0].term >= 0);
  look = parse("crimson", &rep);
  CHECK(rep.n_matches == 1 && rep.matches[0].term < 0);
  CHECK(look.cast_ab[0] > 0); /* crimson is red: +a* */
  look = parse("霁青色", &rep);
  CHECK(rep.n_matches == 1 && rep.matches[0].term < 0);
  CHECK(look.cast_ab[1] < 0); /* a blue-grey: -b* */
  char name[64];
  look = parse("胭脂", &rep);
  CHECK(rep.n_matches == 1 && strcmp(dlut_looks_match_name(&rep.matches[0], name, sizeof name), "胭脂") == 0);
  CHECK(look.cast_ab[0] > 0);
  for (int i = 0; i < dlut_looks_modifier_count(); i++) CHECK(dlut_looks_modifier_get(i)->what != NULL);
}

/* ==== Film stocks by their names (issue 10) ==== */

/* A form as the parser reads it, for comparing: ASCII lower case, runs of anything but letters, digits
 * and non-ASCII bytes as one space (apostrophes dropped). */
static void norm_form(const char *in, char *out, size_t cap) {
  size_t o = 0;
  int space = 0;
  for (const unsigned char *p = (const unsigned char *)in; *p && o + 2 < cap; p++) {
    unsigned char c = *p;
    if (c == '\'') continue;
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80)) {
      space = o > 0;
      continue;
    }
    if (space) out[o++] = ' ', space = 0;
    out[o++] = (char)c;
  }
  out[o] = '\0';
}

/* Nonzero if text (normalised) is one of the forms of term i. */
static int is_form_of(const char *text, int i) {
  const dlut_looks_term *t = dlut_looks_term_get(i);
  char a[160], b[160];
  norm_form(text, a, sizeof a);
  for (int lang = 0; lang < 2; lang++)
    for (const char *p = lang ? t->zh : t->en; *p;) {
      size_t k = strcspn(p, "|");
      char form[160];
      snprintf(form, sizeof form, "%.*s", (int)k, p);
      norm_form(form, b, sizeof b);
      if (strcmp(a, b) == 0) return 1;
      p += k;
      if (*p == '|') p++;
    }
  return 0;
}

/* Nonzero if some word-aligned tail of text that contains its last `tail` bytes is a form of term i
 * ("kodak ektachrome" + " 100": "ektachrome 100" is E100's form, so E100 is a right answer). */
static int tail_is_form_of(const char *text, size_t tail, int i) {
  size_t n = strlen(text);
  for (size_t at = 0; at + tail <= n; at++)
    if ((at == 0 || text[at - 1] == ' ' || (unsigned char)text[at] >= 0x80 || (unsigned char)text[at - 1] >= 0x80) &&
        ((unsigned char)text[at] & 0xC0) != 0x80 && is_form_of(text + at, i))
      return 1;
  return 0;
}

/* The makers, as a user names them (the spec the parser's own table in vocab.c is checked against). */
static const char *const k_maker_en[][4] = {
    {"kodak", NULL, NULL, NULL},    {"fuji", "fujifilm", "fujicolor", "fujichrome"},
    {"ilford", NULL, NULL, NULL},   {"agfa", "agfaphoto", "agfacolor", "agfachrome"},
    {"polaroid", NULL, NULL, NULL}, {"lomography", "lomo", NULL, NULL},
    {"cinestill", NULL, NULL, NULL}};
static const char *const k_maker_zh[] = {"柯达", "富士", "伊尔福", "爱克发", "宝丽来", "乐魔", "电影卷"};
#define NMAKERS ((int)(sizeof k_maker_zh / sizeof *k_maker_zh))

/* Which maker a form names at its start (its maker word and a space, or the Chinese maker word and
 * more), or -1; *alone is set when the form is the maker word itself. */
static int form_maker(const char *form, int *alone) {
  char f[160];
  norm_form(form, f, sizeof f);
  *alone = 0;
  for (int m = 0; m < NMAKERS; m++) {
    for (int k = 0; k < 4 && k_maker_en[m][k]; k++) {
      size_t l = strlen(k_maker_en[m][k]);
      if (strncmp(f, k_maker_en[m][k], l) == 0 && (f[l] == ' ' || f[l] == '\0')) return *alone = f[l] == '\0', m;
    }
    size_t l = strlen(k_maker_zh[m]);
    if (strncmp(f, k_maker_zh[m], l) == 0) return *alone = f[l] == '\0', m;
  }
  return -1;
}

/* The makers of a film term: bit m when one of its forms starts with (or is) maker m's word. */
static unsigned term_makers(int i) {
  const dlut_looks_term *t = dlut_looks_term_get(i);
  unsigned bits = 0;
  if (strcmp(t->group, "film") != 0) return 0;
  for (int lang = 0; lang < 2; lang++)
    for (const char *p = lang ? t->zh : t->en; *p;) {
      size_t k = strcspn(p, "|");
      char form[160];
      snprintf(form, sizeof form, "%.*s", (int)k, p);
      int alone, m = form_maker(form, &alone);
      if (m >= 0) bits |= 1u << m;
      p += k;
      if (*p == '|') p++;
    }
  return bits;
}

/* One match of term `want` (or of a term that `tail` of the prompt names as a form), nothing ignored;
 * returns nonzero on success and counts failures, printing the first few. */
static int expect_one(const char *prompt, int want, size_t tail, int *fails) {
  dlut_looks_report rep;
  parse(prompt, &rep);
  /* the prompt as the lexicon may read it: a space after Chinese also dropped ("普罗维亚 400" is 普罗维亚400) */
  char joined[256];
  size_t o = 0;
  for (size_t i = 0; prompt[i] && o + 1 < sizeof joined; i++)
    if (!(prompt[i] == ' ' && i > 0 && (unsigned char)prompt[i - 1] >= 0x80)) joined[o++] = prompt[i];
  joined[o] = '\0';
  /* and a speed's letters dropped ("portra 160vc" is Portra 160 VC: "portra 160" names it) */
  char digits[256];
  snprintf(digits, sizeof digits, "%s", prompt);
  size_t dn = strlen(digits), dl = dn;
  while (dl > 0 && digits[dl - 1] >= 'a' && digits[dl - 1] <= 'z') dl--;
  if (dl < dn && dl > 0 && digits[dl - 1] >= '0' && digits[dl - 1] <= '9') digits[dl] = '\0';
  size_t dtail = tail > dn - dl ? tail - (dn - dl) : 0;
  int got_term = rep.n_matches ? rep.matches[0].term : -1;
  int ok = rep.n_matches == 1 && !rep.ignored[0] &&
           (got_term == want || (got_term >= 0 && (tail_is_form_of(prompt, tail, got_term) ||
                                                   tail_is_form_of(joined, tail < o ? tail : o, got_term) ||
                                                   (dl < dn && tail_is_form_of(digits, dtail, got_term)))));
  if (!ok && (*fails)++ < 12) {
    char got[64] = "", exp[64];
    if (rep.n_matches) dlut_looks_match_name(&rep.matches[0], got, sizeof got);
    dlut_looks_match m = {.term = want};
    dlut_looks_match_name(&m, exp, sizeof exp);
    fprintf(stderr, "'%s' -> %d matches ('%s'; first '%s'), ignored '%s' (want '%s' alone)\n", prompt, rep.n_matches,
            rep.understood, got, rep.ignored, exp);
  }
  return ok;
}

static void test_film_names(void) {
  dlut_looks_report rep;
  /* the names of issue 10 (the RawTherapee Film Simulation Collection's), each one stock */
  static const char *const k_stocks[][2] = {
      {"ilford hp5 plus 400", "hp5"},
      {"Ilford Pan F Plus 50", "pan f"},
      {"kodak elite chrome 400", "elite chrome"},
      {"kodak elite color 200", "ultramax"},
      {"kodak kodachrome 200", "kodachrome 64"},
      {"kodak ektachrome 100 gx", "e100"},
      {"Kodak E-100 GX Ektachrome 100", "e100"},
      {"Kodak Ektachrome 100 VS Generic", "ektachrome"},
      {"kodak portra 160 nc", "portra 160"},
      {"Kodak Portra 160 VC 2", "portra 160"},
      {"kodak portra 400 vc", "portra 400"},
      {"kodak portra 400 uc", "portra 400"},
      {"Kodak Portra 800 HC", "portra 800"},
      {"agfa ultra color 100", "agfa ultra"},
      {"lomography x-pro slide 200", "cross process"},
      {"fuji superia hg 1600", "superia 400"},
      {"fuji superia x-tra 400", "superia 400"},
      {"Fuji Superia X-Tra 800", "superia 400"},
      {"fuji neopan 1600", "acros"},
      {"Fuji Neopan 1600 3 +", "acros"},
      {"fuji neopan", "acros"},
      {"polaroid px-70", "polaroid"},
      {"polaroid px-100uv", "polaroid"},
      {"polaroid px-680", "polaroid"},
      {"polaroid polachrome", "polaroid"},
      {"Polaroid 690 3", "polaroid 690"},
      {"kodak bw 400 cn", "kodak bw400cn"},
      {"fuji 800z", "fuji 800z"},
      {"fuji pro 800z", "fuji 800z"},
      {"Fuji 800Z 1 -", "fuji 800z"},
      {"fuji fp-3000b", "fp-3000b"},
      {"Fuji FP-3000b Negative 3", "fp-3000b"},
      {"Fuji FP-3000b HC", "fp-3000b"},
      {"Polaroid 667", "fp-3000b"},
      {"agfa portrait xps 160", "agfa portrait xps 160"},
      {"ilford sfx 200", "ilford sfx 200"},
      {"Kodak TMAX 3200 3 Alt", "tmax 3200"},
      {"Kodak TRI-X 400 2", "tri-x"},
      {"Fuji Velvia 100 Generic", "velvia"},
      {"Kodak Portra 160 2", "portra 160"},
      {"Fuji 400H 2", "fuji 400h"},
      {"Fuji Provia 400X", "provia 400"},
      {"富士neopan 1600", "acros"},
      {"柯达的波特拉", "portra 400"},
      {"富士 维尔维亚", "velvia"},
      {"波特拉 160", "portra 160"}, /* the joined words are a form of their own: not Portra 400 at speed 160 */
      {"portra kodak", "portra 400"},
      {"kodak", "kodak gold"}, /* a maker alone keeps its own look */
      {"富士", "fuji"},
      {"fuji 400", "fuji"},
      {"kodak portra 400 film", "portra 400"},
  };
  int fails = 0;
  for (size_t i = 0; i < sizeof k_stocks / sizeof *k_stocks; i++) {
    parse(k_stocks[i][0], &rep);
    char nm[64] = "";
    if (rep.n_matches) dlut_looks_match_name(&rep.matches[0], nm, sizeof nm);
    CHECK_MSG(rep.n_matches == 1 && strcmp(nm, k_stocks[i][1]) == 0 && !rep.ignored[0],
              "'%s' -> %d matches ('%s'), first '%s' (want '%s'), ignored '%s'", k_stocks[i][0], rep.n_matches,
              rep.understood, nm, k_stocks[i][1], rep.ignored);
  }
  /* what is not one stock stays apart: two stocks, a maker and another maker's stock, a degree after a
   * variant word, a word that is neither a speed nor a variant, punctuation */
  parse("portra 400 velvia", &rep);
  CHECK(rep.n_matches == 2);
  parse("fuji portra", &rep);
  CHECK_MSG(rep.n_matches == 2, "fuji portra: '%s'", rep.understood);
  parse("kodak, portra", &rep);
  CHECK(rep.n_matches == 2);
  float t_warm = parse("super warm", NULL).temp;
  dlut_look l = parse("portra 400 super warm", &rep);
  CHECK_MSG(rep.n_matches == 2 && l.temp > parse("portra 400 warm", NULL).temp && t_warm > 0,
            "portra 400 super warm: '%s'", rep.understood);
  parse("portra 400 sparkle", &rep);
  CHECK(rep.n_matches == 1 && strcmp(rep.ignored, "sparkle") == 0);
  parse("portra, 400", &rep);
  CHECK(rep.n_matches == 1 && strcmp(rep.ignored, "400") == 0);
  parse("warm 400", &rep); /* a number after a term that is not a film is not a speed */
  CHECK(rep.n_matches == 1 && strcmp(rep.ignored, "400") == 0);
  parse("portra 400 800t", &rep); /* a number that is another stock's form is that stock */
  CHECK(rep.n_matches == 2);

  /* every film term, every English and Chinese form: a film speed or variant after it joins it (the
   * result is that term, or the term the joined words name as a form of their own) */
  static const char *const k_after[] = {" 400", " 1600", " 100uv", " 2", " nc", " plus 400", " vc 2", " generic"};
  int tried = 0;
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    if (strcmp(t->group, "film") != 0) continue;
    for (int lang = 0; lang < 2; lang++)
      for (const char *p = lang ? t->zh : t->en; *p;) {
        size_t k = strcspn(p, "|");
        for (size_t a = 0; a < sizeof k_after / sizeof *k_after; a++) {
          char prompt[200];
          snprintf(prompt, sizeof prompt, "%.*s%s", (int)k, p, k_after[a]);
          expect_one(prompt, i, strlen(k_after[a]) - 1, &fails);
          tried++;
        }
        p += k;
        if (*p == '|') p++;
      }
  }
  CHECK_MSG(fails == 0 && tried > 2000, "%d of %d film forms with a speed or variant after them are not one stock",
            fails, tried);
  printf("film names: %d prompts of a film form and a speed or variant\n", tried);

  /* every maker and every stock of that maker (read from the forms: a stock with a form that starts
   * with the maker's word), every form of it that does not name a maker itself: the maker word before
   * it (English with a space; Chinese with and without one) and after it is one term */
  fails = tried = 0;
  int stocks = 0;
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    unsigned bits = term_makers(i);
    if (!bits) continue;
    stocks++;
    for (int m = 0; m < NMAKERS; m++) {
      if (!(bits & (1u << m))) continue;
      for (int lang = 0; lang < 2; lang++)
        for (const char *p = lang ? t->zh : t->en; *p;) {
          size_t k = strcspn(p, "|");
          char form[160], prompt[256];
          snprintf(form, sizeof form, "%.*s", (int)k, p);
          int alone;
          if (form_maker(form, &alone) < 0) {
            int nv = lang ? 2 : 4;
            for (int v = 0; v < nv; v++) {
              const char *mk = lang ? k_maker_zh[m] : k_maker_en[m][v];
              if (!mk) continue;
              snprintf(prompt, sizeof prompt, "%s%s%s", mk, lang && v == 0 ? "" : " ", form);
              expect_one(prompt, i, strlen(prompt), &fails);
              snprintf(prompt, sizeof prompt, "%s %s", form, mk);
              expect_one(prompt, i, strlen(prompt), &fails);
              snprintf(prompt, sizeof prompt, "%s%s%s 400", mk, lang && v == 0 ? "" : " ", form);
              expect_one(prompt, i, 3, &fails);
              tried += 3;
            }
          }
          p += k;
          if (*p == '|') p++;
        }
    }
  }
  CHECK_MSG(fails == 0 && stocks >= 60 && tried > 1500,
            "%d of %d maker + stock prompts are not one stock (%d stocks of the makers)", fails, tried, stocks);
  printf("film names: %d prompts of a maker and one of its %d stocks\n", tried, stocks);
  /* a prompt of the longest length made of stock names and speeds joins them without running past it */
  static char many[DLUT_LOOKS_MAX_PROMPT + 1];
  many[0] = '\0';
  while (strlen(many) + 24 < DLUT_LOOKS_MAX_PROMPT) strcat(many, "kodak 400 nc 富士 200 ");
  dlut_look out;
  CHECK(dlut_looks_parse(many, &out, &rep) == 0 && rep.n_matches == DLUT_LOOKS_MAX_MATCHES);
  /* and the report says each term once, however often it is repeated */
  CHECK_MSG(strcmp(rep.understood, "kodak 400 nc, 富士 200") == 0, "'%.60s'", rep.understood);
  /* a name stops growing at the length of a match's text: "fuji 1 fuji 1 ..." is many (equal) matches */
  many[0] = '\0';
  while (strlen(many) + 8 < DLUT_LOOKS_MAX_PROMPT) strcat(many, "fuji 1 ");
  CHECK(dlut_looks_parse(many, &out, &rep) == 0 && rep.n_matches > 1 && rep.matches[0].text[0] &&
        rep.matches[0].term == rep.matches[1].term);
  /* and each maker word alone is its own look, one term */
  for (int m = 0; m < NMAKERS; m++)
    for (int v = 0; v < 5; v++) {
      const char *mk = v < 4 ? k_maker_en[m][v] : k_maker_zh[m];
      if (!mk) continue;
      parse(mk, &rep);
      CHECK_MSG(rep.n_matches == 1 && !rep.ignored[0] && (term_makers(rep.matches[0].term) & (1u << m)),
                "maker '%s' alone: '%s'", mk, rep.understood);
    }
}

/* ==== Parser ==== */

static void test_parser(void) {
  dlut_looks_report rep;
  dlut_look l;
  /* the examples of the brief */
  l = parse("温暖的日落胶片风", &rep);
  CHECK_MSG(rep.n_matches == 3 && strcmp(rep.understood, "温暖, 日落, 胶片风") == 0, "understood '%s'", rep.understood);
  CHECK(rep.ignored[0] == '\0');
  CHECK(l.temp > 2.0f);
  l = parse("cold teal night, high contrast", &rep);
  CHECK_MSG(strcmp(rep.understood, "cold, teal, night, high contrast") == 0, "understood '%s'", rep.understood);
  CHECK(l.temp < -1.0f && l.contrast > 0.5f);
  l = parse("warm film sparkle", &rep);
  CHECK(strcmp(rep.understood, "warm, film") == 0);
  CHECK_MSG(strcmp(rep.ignored, "sparkle") == 0, "ignored '%s'", rep.ignored);
  /* unknown Chinese runs are grouped and reported */
  parse("暖色调的猫咪照片", &rep);
  CHECK(rep.n_matches == 1);
  CHECK_MSG(strcmp(rep.ignored, "猫咪") == 0, "ignored '%s'", rep.ignored);

  /* degrees: very > plain > slightly > 0, in both languages */
  float t_very = parse("very warm", NULL).temp, t_plain = parse("warm", NULL).temp;
  float t_slight = parse("slightly warm", NULL).temp;
  CHECK(t_very > t_plain && t_plain > t_slight && t_slight > 0);
  float z_very = parse("非常暖", NULL).temp, z_plain = parse("暖", NULL).temp, z_slight = parse("稍微暖", NULL).temp;
  CHECK(z_very > z_plain && z_plain > z_slight && z_slight > 0);
  CHECK(parse("暖一点", NULL).temp == z_slight);     /* postfix softener */
  CHECK(parse("稍微暖一点", NULL).temp == z_slight); /* two softeners do not compound */
  /* a comparative is "more": "a bit warmer" between "slightly warm" and "warm", "warmer" above "warm" */
  CHECK(parse("a bit warmer", NULL).temp > t_slight && parse("a bit warmer", NULL).temp < t_plain);
  CHECK(parse("warmer", NULL).temp > t_plain && parse("warmer", NULL).temp < t_very);
  CHECK(parse("bluer", NULL).cast_ab[1] < parse("blue", NULL).cast_ab[1]); /* a stemmed one too */
  /* the step above "very", and no overflow however many degree words are stacked */
  float t_ext = parse("extremely warm", NULL).temp;
  CHECK(t_ext > t_very && parse("极其暖", NULL).temp > z_very);
  {
    char many[4000] = "";
    for (int k = 0; k < 300; k++) strcat(many, "very ");
    strcat(many, "warm");
    float t_many = parse(many, NULL).temp;
    CHECK_MSG(isfinite(t_many) && t_many >= t_ext && t_many <= 1.5f * t_ext, "300 x very: temp %g", (double)t_many);
    many[0] = '\0';
    for (int k = 0; k < 300; k++) strcat(many, "非常");
    strcat(many, "暗");
    float b_many = parse(many, NULL).brightness;
    CHECK_MSG(isfinite(b_many) && b_many < 0 && b_many > -5.0f, "300 x 非常暗: brightness %g", (double)b_many);
  }
  /* direction words, prefix and postfix */
  CHECK(parse("low contrast", NULL).contrast < 0);
  CHECK(parse("high contrast", NULL).contrast > 0);
  CHECK(parse("对比度高", NULL).contrast > 0);
  CHECK(parse("对比度低", NULL).contrast < 0);
  float s_low_bit = parse("饱和度低一点", NULL).saturation, s_low = parse("饱和度低", NULL).saturation;
  CHECK(s_low < s_low_bit && s_low_bit < 0);
  CHECK(parse("less saturation", NULL).saturation < 0);
  CHECK(parse("少一点饱和", NULL).saturation < 0);
  CHECK(parse("更暖", NULL).temp > z_plain);
  /* negation and caps */
  CHECK(parse("not warm", NULL).temp < 0);
  CHECK(parse("不要暖色", NULL).temp < 0);
  /* "not too X" alone: X, gently (between none and half the plain amount) */
  float sat_plain = parse("saturated", NULL).saturation, warm_plain = parse("warm", NULL).temp;
  l = parse("不要太饱和", &rep);
  CHECK(l.saturation > 0 && l.saturation < 0.5f * sat_plain && rep.matches[0].capped == 2);
  l = parse("不要太暖", &rep);
  CHECK_MSG(l.temp > 0 && l.temp < 0.5f * warm_plain, "不要太暖 alone: temp %g", l.temp);
  /* with another term: X capped at half its plain amount, not removed */
  float s_vivid = parse("vivid", NULL).saturation;
  l = parse("vivid, not too saturated", NULL);
  CHECK_MSG(l.saturation > 0 && l.saturation <= 0.5f * sat_plain + 1e-6f && l.saturation < s_vivid,
            "vivid, not too saturated: %g", l.saturation);
  l = parse("鲜艳但别太饱和", NULL);
  CHECK(l.saturation > 0 && l.saturation <= 0.5f * sat_plain + 1e-6f);
  l = parse("golden hour but not too warm", NULL);
  CHECK_MSG(l.temp > 0 && l.temp <= 0.5f * warm_plain + 1e-6f && l.temp < parse("golden hour", NULL).temp,
            "golden hour but not too warm: %g", l.temp);
  l = parse("winter, not too cold", NULL);
  CHECK(l.temp < 0 && l.temp >= 0.5f * parse("cold", NULL).temp - 1e-6f);
  CHECK(parse("不要黑白", NULL).mono <= 0);
  CHECK(parse("no black and white, no sepia", NULL).mono <= 0);
  CHECK(parse("sepia, not black and white", NULL).mono <= 0);
  CHECK(parse("not low contrast", NULL).contrast >= 0);
  /* a modifier does not cross a clause */
  CHECK(parse("very, warm", NULL).temp == t_plain);
  CHECK(parse("不要，暖", NULL).temp == z_plain);
  /* normalisation: full-width letters and punctuation, case, hyphens */
  l = parse("ＷＡＲＭ，Ｆｉｌｍ", &rep);
  CHECK_MSG(strcmp(rep.understood, "warm, film") == 0, "understood '%s'", rep.understood);
  CHECK(parse("Cross-Processed", &rep).contrast > 0 && rep.n_matches == 1);
  CHECK(parse("B&W", &rep).mono == 1 && rep.n_matches == 1);
  /* simple English stems */
  parse("warmish blues", &rep);
  CHECK(rep.n_matches == 2);
  /* a repeated term counts once */
  CHECK(parse("cyberpunk 赛博朋克", NULL).temp == parse("cyberpunk", NULL).temp);
  /* nothing understood is not an error */
  l = parse("", &rep);
  CHECK(rep.n_matches == 0 && rep.understood[0] == '\0');
  parse("sparkle, warm sparkle 猫咪 猫咪", &rep);
  CHECK_MSG(strcmp(rep.ignored, "sparkle, 猫咪") == 0, "ignored '%s'", rep.ignored); /* each ignored word once */
  l = parse("lorem ipsum 你好", &rep);
  CHECK(rep.n_matches == 0 && strcmp(rep.ignored, "lorem, ipsum, 你好") == 0);
  /* emoji are words not understood, reported as ignored (a prompt of emoji alone is not silently empty) */
  parse("🔥", &rep);
  CHECK_MSG(rep.n_matches == 0 && strcmp(rep.ignored, "🔥") == 0, "ignored '%s'", rep.ignored);
  parse("warm 🔥🔥, film ❤️", &rep);
  CHECK_MSG(rep.n_matches == 2 && strcmp(rep.ignored, "🔥🔥, \u2764") == 0, "ignored '%s'", rep.ignored);
  CHECK(parse("very 🔥 warm", NULL).temp == parse("very warm", NULL).temp); /* a modifier reaches past one */
  const float *f = (const float *)&l;
  for (size_t j = 0; j < sizeof l / sizeof(float); j++) CHECK(f[j] == 0);
  /* hostile input */
  dlut_look out;
  CHECK(dlut_looks_parse("\xff\xfe warm", &out, NULL) == -1 && strstr(dlut_last_error(), "UTF-8"));
  CHECK(dlut_looks_parse("warm \xe6\x9a", &out, NULL) == -1); /* truncated sequence */
  static char big[DLUT_LOOKS_MAX_PROMPT + 2];
  memset(big, 'a', sizeof big - 1);
  CHECK(dlut_looks_parse(big, &out, NULL) == -1);
  /* the longest allowed prompt, full of words and modifiers, works and reports bounded lists */
  static char many[DLUT_LOOKS_MAX_PROMPT + 1];
  many[0] = '\0';
  while (strlen(many) + 20 < DLUT_LOOKS_MAX_PROMPT) strcat(many, "very warm xyzzy 不要 ");
  CHECK(dlut_looks_parse(many, &out, &rep) == 0);
  CHECK(rep.n_matches == DLUT_LOOKS_MAX_MATCHES);
  CHECK(strlen(rep.understood) < sizeof rep.understood && strlen(rep.ignored) < sizeof rep.ignored);
  CHECK(dlut_looks_parse(NULL, &out, NULL) == -1);
  /* the most tokens a prompt can hold: one-letter words and CJK punctuation */
  for (size_t i = 0; i + 2 < DLUT_LOOKS_MAX_PROMPT; i += 2) many[i] = 'x', many[i + 1] = ' ';
  many[DLUT_LOOKS_MAX_PROMPT - 2] = '\0';
  CHECK(dlut_looks_parse(many, &out, &rep) == 0 && rep.n_matches == 0 && rep.ignored[0] == 'x');
  /* NFKC expands some characters (U+3371 "hPa" square, 3 bytes -> 3 letters): still fine */
  many[0] = '\0';
  while (strlen(many) + 4 < DLUT_LOOKS_MAX_PROMPT) strcat(many, "\xe3\x8d\xb1");
  CHECK(dlut_looks_parse(many, &out, &rep) == 0);
  /* describe */
  char desc[256];
  l = parse("very warm", NULL);
  dlut_look_describe(&l, desc, sizeof desc);
  CHECK_MSG(strcmp(desc, "temp=+2.56") == 0, "describe '%s'", desc);
  dlut_look_describe(&l, desc, 5);
  CHECK(strlen(desc) == 4);
}

/* ==== Bake vs reference ==== */

static dlut_look random_look(void) {
  dlut_look l;
  dlut_look_init(&l);
  l.temp = (float)(rnd() * 6 - 3);
  l.tint = (float)(rnd() * 4 - 2);
  l.exposure = (float)(rnd() * 2 - 1);
  l.brightness = (float)(rnd() * 2 - 1);
  l.contrast = (float)(rnd() * 2 - 1);
  l.shadows = (float)(rnd() * 2 - 1);
  l.highlights = (float)(rnd() * 2 - 1);
  l.fade = (float)rnd();
  l.crush = (float)rnd();
  l.rolloff = (float)rnd();
  l.saturation = (float)(rnd() * 2 - 1);
  l.vibrance = (float)(rnd() * 2 - 1);
  l.mono = rnd() < 0.3 ? (float)rnd() : 0;
  for (int i = 0; i < 2; i++) {
    l.shadow_ab[i] = (float)(rnd() * 30 - 15);
    l.highlight_ab[i] = (float)(rnd() * 30 - 15);
    l.cast_ab[i] = (float)(rnd() * 10 - 5);
  }
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
    l.band_hue[k] = (float)(rnd() * 60 - 30);
    l.band_sat[k] = (float)(rnd() - 0.5);
    l.band_lum[k] = (float)(rnd() - 0.5);
  }
  return l;
}

/* Exceptions: the range after "except" / 除了 / "keep" (in a prompt that drains colour) keeps its colour and
 * qualifies nothing; "keep only" drains the rest by itself; an exception with no range is said as ignored. */
static void test_exceptions(void) {
  dlut_looks_report rep;
  dlut_look l = parse("black and white except the reds", &rep);
  CHECK(l.mono == 1.0f && l.band_keep[0] > 0.8f && l.band_keep[5] == 0.0f && strstr(rep.understood, "except the reds"));
  dlut_look k = parse("black and white but keep the reds", NULL), z = parse("除了红色都变黑白", NULL);
  CHECK(!memcmp(k.band_keep, l.band_keep, sizeof l.band_keep) && !memcmp(z.band_keep, l.band_keep, sizeof l.band_keep));
  l = parse("keep only the reds", &rep);
  CHECK(l.saturation == -1.0f && l.band_keep[0] > 0.8f && rep.ignored[0] == '\0');
  l = parse("只保留红色", NULL);
  CHECK(l.saturation == -1.0f && l.band_keep[0] > 0.8f);
  /* the skin: not the qualifier of "desaturate" (which desaturated only the skin), the protection kept */
  l = parse("desaturate everything except skin", &rep);
  CHECK(l.saturation < -0.3f && l.skin_follow == 0.0f && l.band_sat[1] == 0.0f && rep.ignored[0] == '\0');
  l = parse("除了肤色都降低饱和度", NULL);
  CHECK(l.saturation < -0.3f && l.band_sat[1] == 0.0f);
  l = parse("portra 400 except the skin", NULL); /* a stock lets skin follow; the exception holds it */
  CHECK(l.skin_follow == 0.0f);
  l = parse("black and white except the skin", NULL); /* no protection under mono: the skin's bands keep */
  CHECK(l.band_keep[1] == 1.0f);
  l = parse("desaturate everything but the sky and the skin", NULL);
  CHECK(l.band_keep[5] == 1.0f && l.skin_follow == 0.0f && l.saturation < -0.3f);
  l = parse("天空以外都变黑白", NULL);
  CHECK(l.band_keep[5] == 1.0f && l.mono == 1.0f);
  /* "keep the reds" without a drain is not an exception, nor is "but not" (a negation) */
  l = parse("keep the reds", NULL);
  CHECK(l.band_keep[0] == 0.0f);
  l = parse("vivid but not too saturated", NULL);
  CHECK(l.saturation > 0.0f && l.band_keep[0] == 0.0f);
  parse("warm, except", &rep);
  CHECK(strstr(rep.ignored, "except") != NULL);
  /* a kept band spares the look's colour change and nothing else: the identity with kept bands is the
   * identity, and a kept red stays red under black and white while a blue goes grey */
  dlut_look id;
  dlut_look_init(&id);
  for (int b = 0; b < DLUT_LOOK_NBANDS; b++) id.band_keep[b] = 1.0f;
  dlut_lut *lut = dlut_look_bake(&id, 9);
  dlut_look_init(&id);
  dlut_lut *plain = dlut_look_bake(&id, 9);
  CHECK(lut && plain && !memcmp(lut->table, plain->table, sizeof(float) * 3 * 9 * 9 * 9));
  dlut_lut_free(lut);
  dlut_lut_free(plain);
  l = parse("black and white except the reds", NULL);
  const float red[3] = {0.8f, 0.15f, 0.1f}, blue[3] = {0.15f, 0.3f, 0.8f};
  float o[3];
  dlut_look_eval(&l, red, o);
  CHECK_MSG(o[0] - o[1] > 0.5f, "kept red: %g %g %g", o[0], o[1], o[2]);
  dlut_look_eval(&l, blue, o);
  CHECK_MSG(fabsf(o[2] - o[0]) < 0.02f, "drained blue: %g %g %g", o[0], o[1], o[2]);
}

/* A style's toning against an explicit colour is weakened, its hue kept; its matte gives way to contrast. */
static void test_style_conflicts(void) {
  dlut_look moody = parse("moody", NULL), wm = parse("warm moody", NULL), tao = parse("teal and orange", NULL);
  dlut_look wtao = parse("warm teal and orange", NULL), film = parse("film look", NULL);
  dlut_look hcf = parse("high contrast film look", NULL), hc = parse("high contrast", NULL);
  CHECK(hypotf(wm.shadow_ab[0], wm.shadow_ab[1]) < 0.5f * hypotf(moody.shadow_ab[0], moody.shadow_ab[1]));
  double h0 = atan2(tao.shadow_ab[1], tao.shadow_ab[0]), h1 = atan2(wtao.shadow_ab[1], wtao.shadow_ab[0]);
  CHECK_MSG(fabs(remainder(h1 - h0, 2 * M_PI)) < 1e-4, "teal turned from %g to %g", h0, h1);
  CHECK(hypotf(wtao.shadow_ab[0], wtao.shadow_ab[1]) > 0.3f * hypotf(tao.shadow_ab[0], tao.shadow_ab[1]));
  CHECK(hcf.contrast >= hc.contrast && hcf.fade < 0.5f * film.fade && hcf.rolloff < 0.5f * film.rolloff);
  /* a style alone, and a colour along the style's own toning, are untouched */
  dlut_look cm = parse("cool moody", NULL);
  CHECK(!memcmp(cm.shadow_ab, moody.shadow_ab, sizeof cm.shadow_ab));
  /* neutral greys: with a colour word the look spares them, alone the photo's cast goes (the report says so) */
  dlut_looks_report rep;
  dlut_look kn = parse("keep the greys neutral, warmer", &rep);
  CHECK(kn.keep_neutral == 1.0f && kn.temp > 1.0f && kn.saturation == 0.0f && !rep.neutral_wb);
  kn = parse("暖一点，白色不要偏色", &rep);
  CHECK(kn.keep_neutral == 1.0f && kn.temp > 0.0f && !rep.neutral_wb);
  kn = parse("neutral greys", &rep);
  CHECK(kn.keep_neutral == 0.0f && rep.neutral_wb);
  /* a near-grey keeps its colour under "warm, neutral whites", a saturated colour does not */
  kn = parse("warm, neutral whites", NULL);
  const float grey[3] = {0.5f, 0.5f, 0.5f}, blue[3] = {0.2f, 0.35f, 0.8f};
  float o[3], o2[3];
  dlut_look_eval(&kn, grey, o);
  CHECK_MSG(fabsf(o[0] - o[2]) < 2e-3f, "kept grey: %g %g %g", o[0], o[1], o[2]);
  dlut_look_eval(&kn, blue, o);
  dlut_look w = parse("warm", NULL);
  dlut_look_eval(&w, blue, o2);
  CHECK_MSG(fabsf(o[2] - o2[2]) < 1e-6f, "saturated blue: %g vs warm %g", o[2], o2[2]);
}

/* What people type that the vocabulary words differently: traditional characters, phone apostrophes,
 * negations with "too", "not as X", adjective-first qualified colours, water. */
static void test_phrasings(void) {
  static const char *const same[][2] = {
      {"復古 電影感 高對比", "复古 电影感 高对比"},
      {"溫暖", "温暖"},
      {"膚色紅潤", "肤色红润"},
      {"天空更藍", "天空更蓝"},
      {"不要太飽和", "不要太饱和"},
      {"黑白 高對比", "黑白 高对比"},
      {"don’t make it too warm", "dont make it too warm"},
      {"don‘t make it too warm", "don't make it too warm"},
  };
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
    dlut_look a = parse(same[i][0], NULL), b = parse(same[i][1], NULL);
    CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "'%s' does not read as '%s'", same[i][0], same[i][1]);
  }
  float warm = parse("warm", NULL).temp, zwarm = parse("暖", NULL).temp;
  /* a negation with "too" is "not too": partial, in X's direction */
  static const char *const not_too[] = {
      "don't make it too warm", "do not make it too warm", "dont go too warm", "不要过暖", "不是很暖", "不要过于暖",
      "not excessively warm"};
  for (size_t i = 0; i < sizeof not_too / sizeof not_too[0]; i++) {
    float t = parse(not_too[i], NULL).temp;
    CHECK_MSG(t > 0 && t < 0.8f * (i >= 3 && i < 6 ? zwarm : warm), "'%s': temp %g", not_too[i], (double)t);
  }
  CHECK(parse("too warm", NULL).temp < 0 && parse("过暖", NULL).temp < 0); /* "too" alone: there is too much of it */
  /* "not as X" is "less X": the complement */
  CHECK(parse("没那么暖", NULL).temp < 0 && parse("不要那么暖", NULL).temp < 0 && parse("别那么暖", NULL).temp < 0);
  dlut_look yel = parse("黄", NULL), less_yel = parse("没那么黄", NULL);
  CHECK(yel.cast_ab[1] > 0 && less_yel.cast_ab[1] < 0);
  /* a colour before "shadows" tones the shadows, with no cast over the frame */
  dlut_look ts = parse("teal shadows", NULL), st = parse("shadows teal", NULL);
  CHECK(ts.cast_ab[0] == 0 && ts.cast_ab[1] == 0 && ts.band_hue[3] == 0);
  CHECK(fabsf(ts.shadow_ab[0] - st.shadow_ab[0]) < 1e-4f && fabsf(ts.shadow_ab[1] - st.shadow_ab[1]) < 1e-4f);
  /* water: its bands only */
  static const char *const water[] = {"bluer water", "bluer ocean", "海水更蓝", "湖水更蓝"};
  for (size_t i = 0; i < sizeof water / sizeof water[0]; i++) {
    dlut_looks_report rep;
    dlut_look w = parse(water[i], &rep);
    CHECK_MSG(w.cast_ab[0] == 0 && w.cast_ab[1] == 0 && w.temp == 0 && w.band_hue[4] > 0 && w.band_hue[3] == 0 &&
                  rep.ignored[0] == '\0',
              "'%s': cast %g,%g, aqua turn %g, ignored '%s'", water[i], (double)w.cast_ab[0], (double)w.cast_ab[1],
              (double)w.band_hue[4], rep.ignored);
  }
  /* "deep blue sky": the colour is the edit, on the sky's bands (it was all ignored: "blue sky" was the
   * qualifier's own form) */
  dlut_look sky = parse("deep blue sky", NULL);
  CHECK(sky.cast_ab[0] == 0 && sky.cast_ab[1] == 0 && sky.band_sat[5] > 0 && sky.band_hue[4] > 0);
  /* a short word with another first letter is not offered as a typo of a term */
  {
    dlut_looks_report r2;
    parse("breaking bad", &r2);
    CHECK_MSG(!strstr(r2.suggested, "sad"), "'bad' suggests '%s'", r2.suggested);
    parse("wrm", &r2);
    CHECK_MSG(strstr(r2.suggested, "warm") != NULL, "'wrm' suggests '%s'", r2.suggested);
    parse("old film", &r2);
    CHECK_MSG(r2.n_matches == 2 && !r2.ignored[0], "'old film': %d matches, ignored '%s'", r2.n_matches, r2.ignored);
  }
  /* 洋红 is magenta */
  dlut_looks_report rep;
  parse("去掉洋红", &rep);
  CHECK_MSG(rep.ignored[0] == '\0' && rep.n_matches == 1, "去掉洋红: ignored '%s'", rep.ignored);
  /* a negation carries over "and" / 和 to the next bare colour or tint, and no further: not to a term
   * of another kind, a qualified colour or one with its own modifier */
  static const struct {
    const char *prompt;
    int n;      /* matches */
    int neg[2]; /* match k negated (weight < 0) */
  } carry[] = {
      {"remove the green cast and the magenta cast", 2, {1, 1}},
      {"no green and red", 2, {1, 1}},
      {"no green or red", 2, {1, 1}},
      {"去掉偏绿和偏红", 2, {1, 1}},
      {"不要蓝色和绿色", 2, {1, 1}},
      {"no green and warm", 2, {1, 0}},
      {"no green and more red", 2, {1, 0}},
      {"no green but red", 2, {1, 0}},
      {"remove the green cast and make the sky bluer", 2, {1, 0}},
      {"green and no red", 2, {0, 1}},
  };
  for (size_t i = 0; i < sizeof carry / sizeof carry[0]; i++) {
    parse(carry[i].prompt, &rep);
    int ok = rep.n_matches == carry[i].n;
    for (int k = 0; ok && k < carry[i].n; k++) ok = (rep.matches[k].weight < 0) == carry[i].neg[k];
    CHECK_MSG(ok, "'%s': %d matches, weights %g %g", carry[i].prompt, rep.n_matches, (double)rep.matches[0].weight,
              rep.n_matches > 1 ? (double)rep.matches[1].weight : 0.0);
  }
  /* the carried negation shares the list's cast word: both casts corrected (complement), not drained */
  dlut_look yg = parse("remove the yellow and green cast", NULL);
  CHECK_MSG(yg.cast_ab[1] < 0 && yg.cast_ab[0] > 0 && yg.band_sat[2] == 0 && yg.band_sat[3] == 0,
            "remove the yellow and green cast: cast %g,%g, sat.yellow %g, sat.green %g", (double)yg.cast_ab[0],
            (double)yg.cast_ab[1], (double)yg.band_sat[2], (double)yg.band_sat[3]);
  /* "fix" / "correct" / 校正 of a colour remove it; before another term they are ignored */
  CHECK(parse("fix the yellow cast", NULL).cast_ab[1] < 0 && parse("yellow cast", NULL).cast_ab[1] > 0);
  CHECK(parse("correct the green cast", NULL).cast_ab[0] > 0 && parse("校正偏黄", NULL).cast_ab[1] < 0);
  float fs = parse("fix the slight yellow cast", NULL).cast_ab[1], ff = parse("fix the yellow cast", NULL).cast_ab[1];
  CHECK_MSG(fs < 0 && fs > ff, "fix the slight yellow cast: b %g (fix the yellow cast %g)", (double)fs, (double)ff);
  parse("fix the exposure", &rep);
  CHECK_MSG(strcmp(rep.ignored, "fix") == 0 && rep.n_matches == 1 && rep.matches[0].weight > 0,
            "fix the exposure: ignored '%s'", rep.ignored);
  parse("correct the colour cast", &rep);
  CHECK(rep.neutral_wb == 1 && rep.ignored[0] == '\0');
  /* 太 is "too" (a complaint), 偏 before a colour its cast */
  CHECK(parse("太暗了", NULL).brightness > 0 && parse("太黄了", NULL).cast_ab[1] < 0 && parse("太冷了", NULL).temp > 0);
  dlut_look py = parse("去掉偏黄", NULL), ny = parse("去掉黄", NULL);
  CHECK(py.cast_ab[1] < 0 && py.band_sat[2] == 0 && ny.cast_ab[1] == 0 && ny.band_sat[2] < 0);
}

/* Numbers beside a control ("contrast +20", 曝光+0.5, "5600k"), as an editor's sliders read them. */
static void test_numbers(void) {
  const dlut_look plain_c = parse("contrast", NULL), plain_s = parse("saturation", NULL);
  const dlut_look plain_b = parse("brightness", NULL);
  static const struct {
    const char *prompt;
    int field;   /* 0 contrast, 1 sat, 2 brightness, 3 exposure (stops), 4 temp, 5 tint, 6 crush, 7 fade */
    double want; /* the field's value; for 0-2 as a multiple of the plain term's */
  } rows[] = {
      {"brightness -10", 2, -0.2},
      {"brightness +10", 2, 0.2},
      {"contrast +20", 0, 0.4},
      {"contrast: +20", 0, 0.4},
      {"contrast=20", 0, 0.4},
      {"+20 contrast", 0, 0.4},
      {"对比度：+20", 0, 0.4},
      {"saturation -30", 1, -0.6},
      {"饱和度－20", 1, -0.4},
      {"reduce the saturation by 20%", 1, -0.4},
      {"降低饱和度20%", 1, -0.4},
      {"increase contrast by 50", 0, 1.0},
      {"saturation -100", 1, -2.0},
      {"亮度 \xE2\x88\x92"
       "15",
       2, -0.3}, /* U+2212, the typographic minus */
      {"exposure +1", 3, 1.0},
      {"exposure -0.7", 3, -0.7},
      {"曝光+0.5", 3, 0.5},
      {"+1 stop", 3, 1.0},
      {"1/3 stop", 3, 1.0 / 3.0},
      {"brighter by 1 stop", 3, 1.0},
      {"darker by half a stop", 3, 0.0}, /* "half a" is no number: not a stop */
      {"2 stops darker", 3, -2.0},
      {"-0.5ev", 3, -0.5},
      {"tint +20", 5, 0.4 * 2.2},
      {"blacks -20", 6, 0.4 * 0.8},
      {"blacks +25", 7, 0.5 * 0.8},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    dlut_looks_report rep;
    dlut_look l = parse(rows[i].prompt, &rep);
    double got = 0;
    switch (rows[i].field) {
      case 0:
        got = l.contrast / plain_c.contrast;
        break;
      case 1:
        got = l.saturation / plain_s.saturation;
        break;
      case 2:
        got = l.brightness / plain_b.brightness;
        break;
      case 3:
        got = l.exposure;
        break;
      case 4:
        got = l.temp;
        break;
      case 5:
        got = l.tint;
        break;
      case 6:
        got = l.crush;
        break;
      default:
        got = l.fade;
        break;
    }
    if (rows[i].want == 0.0) /* not read as stops: the plain term's exposure, under one stop */
      CHECK_MSG(fabs(got) < 0.5 && rep.n_matches >= 1, "'%s': exposure %g", rows[i].prompt, got);
    else
      CHECK_MSG(fabs(got - rows[i].want) < 1e-4 && !rep.ignored[0], "'%s': %g (want %g), ignored '%s'", rows[i].prompt,
                got, rows[i].want, rep.ignored);
  }
  /* temperature in kelvin: the white balance set to that light (3200 K cools a daylight photo, 10000 K warms
   * it), or, with no temperature word, a light of that colour (a 3200 K light is warm) */
  CHECK(parse("white balance 3200k", NULL).temp < -3 && parse("temperature 10000 k", NULL).temp > 1.5);
  CHECK(parse("色温 5600K", NULL).temp < 0 && parse("3200k light", NULL).temp > 3);
  CHECK(fabsf(parse("temperature 6504k", NULL).temp) < 0.01f);
  CHECK(parse("色温 +30", NULL).temp > 0 && parse("temperature -30", NULL).temp < 0);
  /* a film speed is no degree; a signed number after a stock is its strength; a big number is nothing */
  dlut_looks_report rep;
  dlut_look p400 = parse("portra 400", &rep), p50 = parse("portra 400 50%", NULL);
  CHECK(rep.n_matches == 1 && fabsf(p50.temp - 0.5f * p400.temp) < 1e-4f);
  CHECK(fabsf(parse("portra 400 +20", NULL).temp - 0.2f * p400.temp) < 1e-4f);
  parse("contrast +999", &rep);
  CHECK_MSG(rep.n_matches == 1 && rep.matches[0].weight == 1.0f && strcmp(rep.ignored, "+999") == 0,
            "contrast +999: weight %g, ignored '%s'", (double)rep.matches[0].weight, rep.ignored);
  /* hyphens inside names stay hyphens */
  parse("sx-70", &rep);
  CHECK(rep.n_matches == 1 && !rep.ignored[0] && rep.matches[0].weight == 1.0f);
  /* a control no LUT can be: said, with its number, and nothing done */
  dlut_look cl = parse("clarity +20", &rep);
  dlut_look id;
  dlut_look_init(&id);
  CHECK_MSG(rep.n_matches == 0 && strcmp(rep.ignored, "clarity +20") == 0 && memcmp(&cl, &id, sizeof cl) == 0,
            "clarity +20: ignored '%s'", rep.ignored);
  /* two sliders, one number each */
  dlut_look two = parse("contrast 20 saturation -10", NULL);
  CHECK(fabsf(two.contrast - 0.4f * plain_c.contrast) < 1e-4f &&
        fabsf(two.saturation + 0.2f * plain_s.saturation) < 1e-4f);
}

/* Complaints without "too" ("it looks washed out", 照片有点灰), "keep X", "not X enough", "X too". */
static void test_states(void) {
  CHECK(parse("it looks washed out", NULL).contrast > 0 && parse("washed out", NULL).contrast < 0);
  CHECK(parse("照片有点灰", NULL).saturation > 0 && parse("有点灰", NULL).saturation < 0);
  CHECK(parse("the photo is a bit dark", NULL).brightness > 0 && parse("it's dark", NULL).brightness > 0);
  CHECK(parse("照片很暗", NULL).brightness > 0 && parse("照片偏黄", NULL).cast_ab[1] < 0);
  CHECK(parse("it looks dark and flat", NULL).contrast > 0); /* the state carries over "and" */
  /* requests stay requests */
  CHECK(parse("make the photo look dark", NULL).brightness < 0 && parse("把照片调暗", NULL).brightness < 0);
  CHECK(parse("照片亮一点", NULL).brightness > 0 && parse("让画面看起来暖一点", NULL).temp > 0);
  CHECK(parse("this is a sunset photo, make it warmer", NULL).temp > parse("sunset", NULL).temp);
  CHECK(parse("整体偏冷", NULL).temp < 0);
  /* "too" after a state is one complaint, not two */
  CHECK(parse("it's too dark", NULL).brightness > 0 && parse("it's not bright", NULL).brightness > 0);
  /* "not X enough": more X */
  CHECK(parse("not bright enough", NULL).brightness > 0 && parse("not warm enough", NULL).temp > 0);
  CHECK(parse("warm enough", NULL).temp > 0);
  /* "X too" at the end is "also" */
  CHECK(parse("make it warm too", NULL).temp > 0 && parse("too warm", NULL).temp < 0);
  /* keep: a control's name stays where it is, a description is asked for */
  dlut_looks_report rep;
  dlut_look k = parse("brighter but keep the highlights", &rep);
  CHECK_MSG(k.highlights == 0.0f && k.brightness > 0 && rep.n_matches == 2, "highlights %g, brightness %g",
            (double)k.highlights, (double)k.brightness);
  CHECK(parse("brighter highlights", NULL).highlights > 0 && parse("保留高光", NULL).highlights == 0.0f);
  CHECK(parse("hdr, keep the contrast", NULL).contrast == 0.0f && parse("keep it warm", NULL).temp > 0);
  /* a colour that names a thing in the photo is no grade */
  dlut_look cat = parse("a photo of my orange cat, make it black and white", &rep), bw = parse("black and white", NULL);
  CHECK_MSG(memcmp(&cat, &bw, sizeof cat) == 0 && strstr(rep.ignored, "orange cat") != NULL, "ignored '%s'",
            rep.ignored);
  CHECK(parse("橙色的猫，调成黑白", NULL).cast_ab[1] == 0.0f && parse("橙色", NULL).cast_ab[1] > 0);
  /* an explicit control against a style's default of the other sign: the control wins */
  CHECK(parse("vintage but cool", NULL).temp == parse("cool", NULL).temp && parse("vintage", NULL).temp > 0);
  CHECK(parse("vintage, warm", NULL).temp > parse("warm", NULL).temp); /* the same sign: they add */
  /* two "lower" words are one direction (降到最低), not a double negative */
  CHECK(parse("饱和度降到最低", NULL).saturation < parse("饱和度降低", NULL).saturation);
  /* a slider's name with a degree word and no number */
  CHECK(parse("色温调高", NULL).temp > 0 && parse("lower the temperature", NULL).temp < 0);
  CHECK(parse("lower the blacks", NULL).crush > 0 && parse("黑位压低", NULL).crush > 0 &&
        parse("raise the blacks", NULL).fade > 0 && parse("temperature", NULL).temp == 0.0f);
  /* scene words before a request say what the photo shows; alone, or after it, they are the look */
  dlut_look sc = parse("a picture of mountains at sunrise, I want it cold", &rep);
  CHECK_MSG(sc.temp == parse("cold", NULL).temp && strcmp(rep.scene, "sunrise") == 0, "temp %g, scene '%s'",
            (double)sc.temp, rep.scene);
  CHECK(parse("雪山日出，想要冷一点的感觉", NULL).temp < 0 && parse("雪山日出", NULL).temp != 0.0f);
  CHECK(parse("make it cold, sunrise", NULL).highlight_ab[1] > 0 && parse("cold", NULL).highlight_ab[1] == 0.0f);
  CHECK(parse("温暖的日落胶片风", &rep).temp > parse("温暖的胶片风", NULL).temp && !rep.scene[0]);
  /* stretched letters */
  CHECK(parse("moooody", NULL).brightness == parse("moody", NULL).brightness && parse("warmmm", NULL).temp > 0);
  /* a colour named as the range to edit: its band only, no cast */
  dlut_look db = parse("desaturate the blues", NULL), gz = parse("绿色降饱和", NULL),
            rc = parse("make reds deeper", NULL);
  CHECK_MSG(db.band_sat[5] < -0.3f && db.saturation == 0.0f && db.cast_ab[0] == 0.0f && db.band_sat[3] == 0.0f,
            "desaturate the blues: sat.blue %g, sat %g", (double)db.band_sat[5], (double)db.saturation);
  CHECK(gz.band_sat[3] < -0.3f && gz.saturation == 0.0f && rc.band_sat[0] > 0.2f && rc.cast_ab[0] == 0.0f);
  dlut_look bc = parse("make the blues more cyan", NULL), gy = parse("绿色往黄色偏", NULL);
  CHECK(bc.band_hue[5] < -5.0f && bc.cast_ab[1] == 0.0f && gy.band_hue[3] < -5.0f && gy.cast_ab[1] == 0.0f);
  CHECK(parse("blue", NULL).cast_ab[1] < 0 && parse("no blues", NULL).band_sat[5] < 0); /* as before */
  /* English puts the colour before its qualifier, Chinese after */
  dlut_look tso = parse("teal shadows orange highlights", NULL), zso = parse("阴影偏青高光偏橙", NULL);
  CHECK(tso.shadow_ab[1] < 0 && tso.highlight_ab[1] > 0 && zso.shadow_ab[1] < 0 && zso.highlight_ab[1] > 0);
}

static void test_bake_matches_reference(void) {
  for (int trial = 0; trial < 9; trial++) {
    dlut_look l = random_look();
    if (trial == 0) dlut_look_init(&l);
    if (trial >= 6) { /* the tone-weighted saturation and the kept bands too */
      l.shadow_sat = (float)(rnd() * 2 - 1), l.highlight_sat = (float)(rnd() * 2 - 1);
      for (int k = 0; k < DLUT_LOOK_NBANDS; k++) l.band_keep[k] = rnd() < 0.4 ? (float)rnd() : 0.0f;
      l.keep_neutral = trial == 7 ? (float)rnd() : 0.0f;
    }
    int n = trial == 5 ? 33 : trial >= 6 ? 17 : 9 + trial * 2;
    dlut_lut *lut = dlut_look_bake(&l, n);
    CHECK(lut != NULL);
    if (!lut) continue;
    double worst = 0;
    for (int b = 0; b < n; b++)
      for (int g = 0; g < n; g++)
        for (int r = 0; r < n; r++) {
          float in[3] = {(float)r / (n - 1), (float)g / (n - 1), (float)b / (n - 1)}, ref[3];
          dlut_look_eval(&l, in, ref);
          const float *o = node(lut, r, g, b);
          for (int c = 0; c < 3; c++) {
            worst = fmax(worst, fabs((double)o[c] - ref[c]));
            if (trial == 0) worst = fmax(worst, fabs((double)o[c] - in[c])); /* identity look = identity LUT */
          }
        }
    /* 1e-4 (a fortieth of an 8-bit step): float arithmetic and the arithmetic pow of the bake
     * against the double-precision reference */
    CHECK_MSG(worst < 1e-4, "trial %d (size %d): bake differs from the reference by %g", trial, n, worst);
    dlut_lut_free(lut);
  }
  dlut_look l;
  dlut_look_init(&l);
  CHECK(dlut_look_bake(&l, 1) == NULL && dlut_look_bake(&l, DLUT_LUT_MAX_SIZE + 1) == NULL);
  CHECK(dlut_look_bake(NULL, 17) == NULL);
  dlut_lut *lut = NULL;
  char u[8], ig[8];
  CHECK(dlut_looks_from_prompt("very warm film look, kind of vibey", 0, &lut, u, sizeof u, ig, sizeof ig) == 0);
  CHECK(lut && lut->size == DLUT_LOOKS_DEFAULT_SIZE);
  CHECK(strcmp(u, "very w") == 0 || strlen(u) < sizeof u); /* truncated to the buffer */
  dlut_lut_free(lut);
  CHECK(dlut_looks_from_prompt("warm", 1, &lut, NULL, 0, NULL, 0) == -1 && lut == NULL);
}

/* ==== Lattice properties of every vocabulary entry ==== */

/* Checks one baked LUT; returns the number of failed properties. */
/* band_lum: the look's largest hue-band lightness edit (|band_lum|), 0 for none. An HSL panel's lightness edit
 * of a hue lifts that hue and not its neighbours, so along a line that leaves the hue (towards another hue
 * or grey) luminance may fall by up to the lift itself: at mid grey 8 x band_lum L*, about 0.0084 of
 * luminance per L*. Other looks may lose 2e-3 a step at most. */
static int check_lattice(const dlut_lut *lut, const char *what, int allow_clip, double band_lum) {
  int n = lut->size, fails = 0;
  double worst_mono = 0, worst_bend = 0, min_step = 1;
  int out_of_range = 0;
  for (size_t i = 0; i < (size_t)n * n * n * 3; i++)
    if (!(lut->table[i] >= 0.0f && lut->table[i] <= 1.0f)) out_of_range++;
  /* monotone luminance along every lattice line of each axis, and no bends */
  for (int axis = 0; axis < 3; axis++)
    for (int u = 0; u < n; u++)
      for (int v = 0; v < n; v++) {
        double prev = -1, d_prev = 0;
        for (int k = 0; k < n; k++) {
          int idx[3];
          idx[axis] = k;
          idx[(axis + 1) % 3] = u;
          idx[(axis + 2) % 3] = v;
          const float *o = node(lut, idx[0], idx[1], idx[2]);
          double y = luma(o);
          if (k > 0) {
            double d = y - prev;
            worst_mono = fmin(worst_mono, d);
            if (k > 1) worst_bend = fmax(worst_bend, fabs(d - d_prev));
            d_prev = d;
          }
          prev = y;
        }
      }
  /* the grey axis: strictly increasing lightness (distinct inputs stay distinct), in L* */
  for (int k = 1; k < n; k++) {
    double y1 = luma(node(lut, k, k, k)), y0 = luma(node(lut, k - 1, k - 1, k - 1));
    double l1 = y1 > 0.008856 ? 116 * cbrt(y1) - 16 : 903.3 * y1, l0 = y0 > 0.008856 ? 116 * cbrt(y0) - 16 : 903.3 * y0;
    min_step = fmin(min_step, l1 - l0);
  }
  if (out_of_range) fails++, fprintf(stderr, "%s: %d entries outside [0,1] or not finite\n", what, out_of_range);
  /* a tolerance of 2e-3 per step: the soft gamut compression may trade a hair of luminance near the boundary */
  const double max_fall = fmax(2e-3, 0.0084 * 8.0 * band_lum);
  if (worst_mono < -max_fall) fails++, fprintf(stderr, "%s: luminance falls by %g along an axis\n", what, -worst_mono);
  if (!allow_clip && min_step < 0.02)
    fails++, fprintf(stderr, "%s: grey axis flattens (step %g): clipping\n", what, min_step);
  /* smoothness: luminance steps change by less than this between neighbours (17^3 lattice, step 1/16) */
  if (worst_bend > 0.08) fails++, fprintf(stderr, "%s: luminance bends by %g between neighbours\n", what, worst_bend);
  return fails;
}

static void test_lattice_properties(void) {
  const int n = 17;
  int total_fails = 0;
  /* every vocabulary term, plain and "very" */
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    for (int very = 0; very < 2; very++) {
      char prompt[160];
      size_t k = strcspn(t->en, "|");
      snprintf(prompt, sizeof prompt, "%s%.*s", very ? "very " : "", (int)k, t->en);
      dlut_look l = parse(prompt, NULL);
      dlut_lut *lut = dlut_look_bake(&l, n);
      CHECK(lut != NULL);
      if (!lut) continue;
      double lum_edit = 0;
      for (int b = 0; b < DLUT_LOOK_NBANDS; b++) lum_edit = fmax(lum_edit, fabs(l.band_lum[b]));
      int f = check_lattice(lut, prompt, l.clip > 0.5f || l.crush > 0.5f, lum_edit);
      CHECK_MSG(f == 0, "lattice properties of '%s'", prompt);
      total_fails += f;
      dlut_lut_free(lut);
    }
  }
  /* every named colour, and a few heavy combinations */
  for (int i = 0; i < dlut_looks_color_count(); i++) {
    const char *en, *zh;
    dlut_looks_color_get(i, &en, &zh, NULL);
    char prompt[96];
    snprintf(prompt, sizeof prompt, "very %.40s", en ? en : zh);
    if (!en) { /* first Chinese form */
      size_t k = strcspn(zh, "|");
      snprintf(prompt, sizeof prompt, "非常%.*s", (int)k, zh);
    }
    dlut_look l = parse(prompt, NULL);
    dlut_lut *lut = dlut_look_bake(&l, n);
    if (!lut) continue;
    CHECK_MSG(check_lattice(lut, prompt, 0, 0) == 0, "lattice properties of '%s'", prompt);
    dlut_lut_free(lut);
  }
  /* a band's lightness asked for by a colour and a lightness word: bounded as the skin terms are */
  const char *band_light[] = {"brighter greens", "very bright blues", "darken the blues",     "蓝色亮度降低",
                              "红色暗一点",      "绿色非常亮",        "the sky is blown out", "much darker reds"};
  for (size_t i = 0; i < sizeof band_light / sizeof *band_light; i++) {
    dlut_look l = parse(band_light[i], NULL);
    dlut_lut *lut = dlut_look_bake(&l, n);
    CHECK(lut != NULL);
    if (!lut) continue;
    double lum_edit = 0;
    for (int b = 0; b < DLUT_LOOK_NBANDS; b++) lum_edit = fmax(lum_edit, fabs(l.band_lum[b]));
    CHECK_MSG(lum_edit > 0.1, "'%s' is no band lightness edit", band_light[i]);
    CHECK_MSG(check_lattice(lut, band_light[i], 0, lum_edit) == 0, "lattice properties of '%s'", band_light[i]);
    dlut_lut_free(lut);
  }
  const char *combos[] = {"very warm golden hour sunset, very saturated, very high contrast",
                          "cyberpunk neon teal and orange, very vivid, crushed blacks",
                          "very cold moonlight, very faded, very bright, high key",
                          "非常暖的日落胶片风，非常鲜艳，高对比", "very magenta, very green tint, very overexposed"};
  for (size_t i = 0; i < sizeof combos / sizeof *combos; i++) {
    dlut_look l = parse(combos[i], NULL);
    dlut_lut *lut = dlut_look_bake(&l, n);
    CHECK(lut != NULL);
    if (!lut) continue;
    CHECK_MSG(check_lattice(lut, combos[i], l.crush > 0.5f, 0) == 0, "lattice properties of '%s'", combos[i]);
    dlut_lut_free(lut);
  }
  /* the checker itself catches a bad LUT: a hard threshold (clipping) and a non-monotone curve */
  dlut_lut *bad = dlut_lut_alloc(n, 0);
  for (size_t i = 0; i < (size_t)n * n * n * 3; i++) bad->table[i] = bad->table[i] > 0.5f ? 1.0f : bad->table[i] * 1.2f;
  CHECK(check_lattice(bad, "(deliberately clipped LUT, expected to fail)", 0, 0) > 0);
  for (size_t i = 0; i < (size_t)n * n * n * 3; i++) bad->table[i] = 0.5f + 0.4f * sinf(bad->table[i] * 12.0f);
  CHECK(check_lattice(bad, "(deliberately wavy LUT, expected to fail)", 0, 0) > 0);
  dlut_lut_free(bad);
  (void)total_fails;
}

/* ==== The protections and hue keeping, on single colours (dlut_look_eval) ==== */

static double lab_hue_deg(const float lab[3]) {
  return atan2(lab[2], lab[1]) * 180.0 / M_PI;
}

/* OkLab of an sRGB colour (Ottosson 2020), from his published matrices, written here so that the
 * test does not reuse the model's code */
static void srgb_to_oklab(const float s[3], double ok[3]) {
  static const double m1[9] = {0.4122214708, 0.5363325363, 0.0514459929, 0.2119034982, 0.6806995451,
                               0.1073969566, 0.0883024619, 0.2817188376, 0.6299787005};
  static const double m2[9] = {0.2104542553, 0.7936177850, -0.0040720468, 1.9779984951, -2.4285922050,
                               0.4505937099, 0.0259040371, 0.7827717662,  -0.8086757660};
  double lin[3], l[3];
  for (int c = 0; c < 3; c++) lin[c] = dlut_srgb_to_linear(s[c]);
  for (int r = 0; r < 3; r++) l[r] = cbrt(m1[3 * r] * lin[0] + m1[3 * r + 1] * lin[1] + m1[3 * r + 2] * lin[2]);
  for (int r = 0; r < 3; r++) ok[r] = m2[3 * r] * l[0] + m2[3 * r + 1] * l[1] + m2[3 * r + 2] * l[2];
}

/* Saturation and vibrance keep the perceived hue (the bound: 3 deg of OkLCh hue): every
 * named saturated colour (sRGB blue and near blues, reds, an orange-red, skin, foliage, the other
 * primaries) under every saturation term, up and down, and 20,000 random colours of OkLab chroma
 * >= 0.1 (mean under 0.5 deg, at most 0.5% over 3 deg). At a fixed CIELAB hue, halving pure blue's
 * chroma turned it 26 deg of OkLCh hue (the old model). */
static void test_okhue(void) {
  static const unsigned char named[][3] = {
      {0, 0, 255},   {20, 40, 230},  {40, 80, 200},   {70, 130, 220}, {20, 30, 120},  {255, 0, 0},   {200, 30, 30},
      {230, 90, 25}, {240, 150, 30}, {222, 160, 128}, {185, 122, 95}, {140, 90, 65},  {60, 115, 40}, {90, 140, 50},
      {25, 90, 25},  {0, 255, 0},    {0, 200, 220},   {200, 0, 200},  {110, 40, 170}, {240, 220, 20}};
  static const char *const prompts[] = {"saturated",        "very saturated", "vivid",  "vibrant",     "desaturated",
                                        "very desaturated", "饱和度高",       "低饱和", "make it pop", "high contrast"};
  for (size_t p = 0; p < sizeof prompts / sizeof *prompts; p++) {
    dlut_look l = parse(prompts[p], NULL);
    double worst = 0;
    int worst_i = 0;
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
      float in[3] = {named[i][0] / 255.0f, named[i][1] / 255.0f, named[i][2] / 255.0f}, o[3];
      double a[3], b[3];
      dlut_look_eval(&l, in, o);
      srgb_to_oklab(in, a), srgb_to_oklab(o, b);
      double d = fabs(remainder((atan2(b[2], b[1]) - atan2(a[2], a[1])) * 180.0 / M_PI, 360.0));
      if (d > worst) worst = d, worst_i = (int)i;
    }
    CHECK_MSG(worst < 3.0, "'%s' turns %d,%d,%d by %.2f deg of OkLCh hue", prompts[p], named[worst_i][0],
              named[worst_i][1], named[worst_i][2], worst);
    uint64_t st = 11;
    double sum = 0;
    int n = 0, over = 0;
    for (int i = 0; i < 20000; i++) {
      float in[3], o[3];
      double a[3], b[3];
      for (int c = 0; c < 3; c++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        in[c] = (float)((st >> 40) / 16777216.0);
      }
      srgb_to_oklab(in, a);
      if (hypot(a[1], a[2]) < 0.1) continue;
      dlut_look_eval(&l, in, o);
      srgb_to_oklab(o, b);
      if (hypot(b[1], b[2]) < 0.02) continue; /* drained: no hue left to keep */
      double d = fabs(remainder((atan2(b[2], b[1]) - atan2(a[2], a[1])) * 180.0 / M_PI, 360.0));
      sum += d, n++, over += d > 3.0;
    }
    CHECK_MSG(n > 1000 && sum / n < 0.5 && over <= n / 200,
              "'%s': random saturated colours turn by %.2f deg of OkLCh hue on average, %d of %d over 3 deg",
              prompts[p], sum / n, over, n);
  }
}

static void test_protections(void) {
  static const char *const tinting[] = {"very cold",    "非常暖",       "cyberpunk",          "teal and orange",
                                        "magenta tint", "split toning", "暗部偏青，高光偏暖", "golden hour"};
  const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0};
  for (size_t i = 0; i < sizeof tinting / sizeof *tinting; i++) {
    dlut_look l = parse(tinting[i], NULL);
    float o[3], lab[3];
    dlut_look_eval(&l, white, o);
    dlut_color_srgb_to_lab(o, lab, 1);
    CHECK_MSG(lab[0] > 99.0f && hypotf(lab[1], lab[2]) < 1.0f, "'%s': white -> L*%.2f C*%.2f", tinting[i], lab[0],
              hypotf(lab[1], lab[2]));
    dlut_look_eval(&l, black, o);
    dlut_color_srgb_to_lab(o, lab, 1);
    CHECK_MSG(hypotf(lab[1], lab[2]) < 1.0f, "'%s': black -> C*%.2f", tinting[i], hypotf(lab[1], lab[2]));
    /* asked for (tint_ends = 1): the same look may tint them */
    l.tint_ends = 1;
    dlut_look_eval(&l, white, o);
    dlut_color_srgb_to_lab(o, lab, 1);
    if (i < 2)
      CHECK_MSG(hypotf(lab[1], lab[2]) > 2.0f, "'%s' with tint_ends: white C*%.2f", tinting[i], hypotf(lab[1], lab[2]));
  }
  /* skin: a light and a dark skin tone keep their hue under a strong cool look; unprotected they turn */
  const float skins[2][3] = {{0.87f, 0.67f, 0.56f}, {0.55f, 0.38f, 0.29f}};
  for (int k = 0; k < 2; k++) {
    dlut_look l = parse("very cold", NULL), u = l;
    u.skin_follow = 1;
    float o[3], lab0[3], lab1[3], lab2[3];
    dlut_color_srgb_to_lab(skins[k], lab0, 1);
    dlut_look_eval(&l, skins[k], o);
    dlut_color_srgb_to_lab(o, lab1, 1);
    dlut_look_eval(&u, skins[k], o);
    dlut_color_srgb_to_lab(o, lab2, 1);
    double d1 = fabs(remainder(lab_hue_deg(lab1) - lab_hue_deg(lab0), 360.0));
    double d2 = fabs(remainder(lab_hue_deg(lab2) - lab_hue_deg(lab0), 360.0));
    CHECK_MSG(d1 < 3.0 && d2 > 3.0 * d1, "skin %d: protected turns %.2f deg, unprotected %.2f", k, d1, d2);
    /* a prompt about skin turns the protection off */
    CHECK(parse("warmer skin", NULL).skin_follow == 1.0f && parse("warm", NULL).skin_follow == 0.0f);
  }
  /* the turn's cap: under looks that turn skin hues hard (a band turn, strong split toning; the blend
   * alone left 8% of a 90 deg turn, 7 deg), a mid skin tone ends within about 3 deg of its hue, and the
   * cap stays smooth: neighbouring colours 1/255 apart move by similar amounts */
  {
    const char *hard[] = {"red and orange bands -60 deg", "blue split toning and cast",
                          "orange and yellow bands +60 deg", "temp -4, tint +4"};
    const float skin[3] = {0.78f, 0.56f, 0.45f};
    for (int i = 0; i < 4; i++) {
      dlut_look l, u;
      dlut_look_init(&l);
      const float ca = cosf(250.0f * 3.14159265f / 180.0f), sa = sinf(250.0f * 3.14159265f / 180.0f);
      if (i == 0) l.band_hue[0] = l.band_hue[1] = -60; /* bands: red, orange, yellow ... */
      if (i == 1)
        l.shadow_ab[0] = l.highlight_ab[0] = 30 * ca, l.shadow_ab[1] = l.highlight_ab[1] = 30 * sa,
        l.cast_ab[0] = 20 * ca, l.cast_ab[1] = 20 * sa;
      if (i == 2) l.band_hue[1] = l.band_hue[2] = 60;
      if (i == 3) l.temp = -4, l.tint = 4;
      u = l, u.skin_follow = 1;
      float o[3], lab0[3], lab1[3], lab2[3];
      dlut_color_srgb_to_lab(skin, lab0, 1);
      dlut_look_eval(&l, skin, o);
      dlut_color_srgb_to_lab(o, lab1, 1);
      dlut_look_eval(&u, skin, o);
      dlut_color_srgb_to_lab(o, lab2, 1);
      double d1 = fabs(remainder(lab_hue_deg(lab1) - lab_hue_deg(lab0), 360.0));
      double d2 = fabs(remainder(lab_hue_deg(lab2) - lab_hue_deg(lab0), 360.0));
      CHECK_MSG(d1 <= 3.2 && d2 > 15.0, "'%s': protected skin turns %.2f deg (unprotected %.2f)", hard[i], d1, d2);
      double worst = 0;
      for (int s = -20; s <= 20; s++) {
        float a[3] = {skin[0] + s / 255.0f, skin[1], skin[2]}, b[3] = {a[0] + 1.0f / 255.0f, a[1], a[2]}, oa[3], ob[3];
        dlut_look_eval(&l, a, oa);
        dlut_look_eval(&l, b, ob);
        for (int c = 0; c < 3; c++) worst = fmax(worst, fabs((double)ob[c] - oa[c]));
      }
      CHECK_MSG(worst < 6.0 / 255.0, "'%s': a 1/255 step near skin moves the output by %.4f", hard[i], worst);
    }
  }
  /* saturation keeps hue: random colours of chroma >= 30 turn by under 1.5 deg on average */
  dlut_look l = parse("very saturated", NULL);
  uint64_t st = 7;
  double sum = 0;
  int n = 0;
  for (int i = 0; i < 20000; i++) {
    float in[3], o[3], a[3], b[3];
    for (int c = 0; c < 3; c++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      in[c] = (float)((st >> 40) / 16777216.0);
    }
    dlut_color_srgb_to_lab(in, a, 1);
    if (hypotf(a[1], a[2]) < 30) continue;
    dlut_look_eval(&l, in, o);
    dlut_color_srgb_to_lab(o, b, 1);
    sum += fabs(remainder(lab_hue_deg(b) - lab_hue_deg(a), 360.0)), n++;
  }
  CHECK_MSG(n > 1000 && sum / n < 1.5, "very saturated turns hues by %.2f deg on average (%d colours)", sum / n, n);
  test_okhue();
}

/* A clause of degree words alone after the terms is the strength of everything before it: "but subtle",
 * 但是不要太重 and "not too strong" halve the look's every field, "but strong" makes it stronger; "very
 * slightly" is slighter than "slightly". */
static void test_strength_clause(void) {
  static const char *const halves[][2] = {
      {"orange and teal but subtle", "orange and teal"},
      {"青橙色调但是不要太重", "青橙色调"},
      {"warm, not too strong", "warm"},
      {"cinematic, teal shadows, but subtle", "cinematic, teal shadows"},
  };
  for (size_t i = 0; i < sizeof halves / sizeof *halves; i++) {
    dlut_looks_report r1, r2;
    parse(halves[i][0], &r1);
    parse(halves[i][1], &r2);
    int ok = r1.n_matches == r2.n_matches && r1.n_matches > 0;
    for (int k = 0; ok && k < r1.n_matches; k++)
      ok =
          r1.matches[k].term == r2.matches[k].term && fabsf(r1.matches[k].weight - 0.5f * r2.matches[k].weight) < 1e-6f;
    CHECK_MSG(ok, "'%s' is not half of '%s'", halves[i][0], halves[i][1]);
  }
  dlut_look strong = parse("cinematic, but strong", NULL), plain = parse("cinematic", NULL);
  CHECK(strong.contrast > plain.contrast * 1.2f);
  dlut_look vs = parse("very slightly warm", NULL), sl = parse("slightly warm", NULL);
  CHECK_MSG(vs.temp > 0.0f && vs.temp < sl.temp, "very slightly %g, slightly %g", vs.temp, sl.temp);
  dlut_look tad = parse("warm it up a tad", NULL), up = parse("warm it up", NULL);
  CHECK_MSG(tad.temp > 0.0f && tad.temp < 0.6f * up.temp, "a tad %g, warm it up %g", tad.temp, up.temp);
  /* said with 了, the photo's state: the other way (高光偏黄了 takes yellow out of the highlights) */
  dlut_look hy = parse("高光偏黄了", NULL), hyr = parse("高光偏黄", NULL);
  CHECK_MSG(hy.highlight_ab[1] < 0.0f && hyr.highlight_ab[1] > 0.0f, "高光偏黄了 b %g, 高光偏黄 b %g",
            hy.highlight_ab[1], hyr.highlight_ab[1]);
  CHECK(parse("欠曝了", NULL).exposure > 0.0f && parse("欠曝", NULL).exposure < 0.0f);
  /* a control's name then "untouched": held; the shadows' bare name with a lightness word is that range */
  dlut_look su = parse("highlights warmer, shadows untouched", NULL);
  CHECK(su.shadows == 0.0f && hypotf(su.highlight_ab[0], su.highlight_ab[1]) > 5.0f);
  /* colours listed with a range edit: each edited, none cast over the frame */
  static const char *const lists[][3] = {{"红色和绿色更浓", "red", "green"},
                                         {"desaturate the reds and the oranges", "red", "orange"},
                                         {"红色、黄色和绿色降饱和", "red", "green"},
                                         {"make the blues and greens more vivid", "blue", "green"}};
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++) {
    dlut_look l = parse(lists[i][0], NULL);
    int b1 = -1, b2 = -1;
    for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
      if (!strcmp(dlut_looks_band_name[k], lists[i][1])) b1 = k;
      if (!strcmp(dlut_looks_band_name[k], lists[i][2])) b2 = k;
    }
    CHECK_MSG(b1 >= 0 && b2 >= 0 && l.band_sat[b1] * l.band_sat[b2] > 0.0f && fabsf(l.band_sat[b1]) > 0.2f &&
                  l.cast_ab[0] == 0.0f && l.cast_ab[1] == 0.0f,
              "'%s': %s %g, %s %g, cast %g %g", lists[i][0], lists[i][1], b1 >= 0 ? l.band_sat[b1] : 0.0f, lists[i][2],
              b2 >= 0 ? l.band_sat[b2] : 0.0f, l.cast_ab[0], l.cast_ab[1]);
  }
  /* blown highlights are a fix, whatever state word is before it; in a range, that range darker */
  dlut_look hb = parse("highlights are blown", NULL), sb = parse("the sky is blown out", NULL);
  CHECK_MSG(hb.highlights < 0.0f && hb.rolloff > 0.0f, "highlights are blown: %g %g", hb.highlights, hb.rolloff);
  CHECK_MSG(sb.band_lum[5] < -0.1f && sb.exposure == 0.0f, "the sky is blown out: blue lum %g", sb.band_lum[5]);
  /* crushed blacks complained of lift the shadows; a description before the request is not graded */
  CHECK(parse("the shadows are crushed, lift them", NULL).shadows > 0.3f);
  dlut_look gm = parse("green trees and blue sky, make it moody", NULL), mo = parse("moody", NULL);
  CHECK(!memcmp(&gm, &mo, sizeof gm));
  dlut_look sd = parse("阴影暗一点", NULL);
  CHECK_MSG(sd.shadows < 0.0f && sd.brightness == 0.0f && sd.exposure == 0.0f, "阴影暗一点: shadows %g bright %g",
            sd.shadows, sd.brightness);
}

int main(void) {
  test_vocabulary();
  test_film_names();
  test_parser();
  test_phrasings();
  test_exceptions();
  test_style_conflicts();
  test_numbers();
  test_states();
  test_bake_matches_reference();
  test_lattice_properties();
  test_protections();
  test_strength_clause();
  return test_summary("looks");
}
