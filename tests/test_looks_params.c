/* Tests for the editable look (src/looks/params.c) and the suggestions
 * (src/looks/suggest.c): a look written as JSON reads back as the same
 * floats and bakes to the same LUT, for every vocabulary term and for
 * random looks; hostile JSON (wrong types, non-finite and huge numbers,
 * unknown and repeated fields, wrong array lengths, deep nesting, invalid
 * UTF-8, junk, random corruption) is an error naming the problem, never a
 * crash; colour and tone strengths scale exactly their fields; ignored
 * words get the nearest vocabulary forms in both languages, and words
 * nowhere near any get none. */
#include <stdint.h>

#include "dlut/error.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "test.h"

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static double rnd(void) {
  g_rng ^= g_rng >> 12;
  g_rng ^= g_rng << 25;
  g_rng ^= g_rng >> 27;
  return (double)((g_rng * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
}

#define NFLOATS ((int)(sizeof(dlut_look) / sizeof(float)))

/* parse -> JSON -> look; returns 0 if the look read back is bit-identical */
static int round_trip(const dlut_look *in, const dlut_looks_report *rep, dlut_look *out) {
  char *text = dlut_look_to_json(in, rep);
  CHECK_MSG(text != NULL, "to_json: %s", dlut_last_error());
  if (!text) return -1;
  int rc = dlut_look_from_json(text, strlen(text), out);
  CHECK_MSG(rc == 0, "from_json: %s\n%s", dlut_last_error(), text);
  free(text);
  return rc == 0 && memcmp(in, out, sizeof *in) == 0 ? 0 : -1;
}

static void test_fields(void) {
  int n = dlut_look_field_count(), floats = 0;
  CHECK(n > 10);
  for (int i = 0; i < n; i++) {
    int c = 0;
    const char *name = dlut_look_field_name(i, &c);
    CHECK(name && *name && c >= 1);
    floats += c;
    for (int j = 0; j < i; j++) CHECK_MSG(strcmp(name, dlut_look_field_name(j, NULL)) != 0, "'%s' twice", name);
  }
  CHECK_MSG(floats == NFLOATS, "the field table covers %d of the %d floats of dlut_look", floats, NFLOATS);
  CHECK(dlut_look_field_name(n, NULL) == NULL && dlut_look_field_name(-1, NULL) == NULL);
}

static void test_round_trip(void) {
  dlut_looks_report rep;
  dlut_look look, back;
  /* every vocabulary term, plain and "very" */
  int bad = 0;
  for (int i = 0; i < dlut_looks_term_count(); i++) {
    const dlut_looks_term *t = dlut_looks_term_get(i);
    char prompt[160];
    size_t k = strcspn(t->en, "|");
    for (int very = 0; very < 2; very++) {
      snprintf(prompt, sizeof prompt, "%s%.*s", very ? "very " : "", (int)k, t->en);
      CHECK(dlut_looks_parse(prompt, &look, &rep) == 0);
      if (round_trip(&look, &rep, &back) != 0) {
        bad++;
        CHECK_MSG(0, "'%s' does not round-trip", prompt);
      }
    }
  }
  CHECK(bad == 0);
  /* random looks over every field, and the bake of a few: the same LUT bit for bit */
  for (int trial = 0; trial < 200; trial++) {
    float *f = (float *)&look;
    for (int j = 0; j < NFLOATS; j++) f[j] = rnd() < 0.3 ? 0.0f : (float)(rnd() * 4 - 2);
    look.clip = rnd() < 0.2 ? 1.0f : 0.0f;
    CHECK(round_trip(&look, NULL, &back) == 0);
  }
  const char *prompts[] = {"cold teal night, high contrast",
                           "温暖的日落胶片风，不要太饱和",
                           "kodak portra 400",
                           "cyberpunk neon, very vivid",
                           "ilford hp5 plus",
                           "王家卫"};
  for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
    CHECK(dlut_looks_parse(prompts[i], &look, &rep) == 0);
    CHECK(round_trip(&look, &rep, &back) == 0);
    dlut_lut *a = dlut_look_bake(&look, 17), *b = dlut_look_bake(&back, 17);
    CHECK(a && b);
    if (a && b)
      CHECK_MSG(memcmp(a->table, b->table, sizeof(float) * 3 * 17 * 17 * 17) == 0, "'%s': the LUT read back differs",
                prompts[i]);
    dlut_lut_free(a);
    dlut_lut_free(b);
  }
  /* an absurd prompt (degrees compound) still writes JSON that reads back */
  CHECK(dlut_looks_parse("very very very very very very very very very very very warm", &look, &rep) == 0);
  char *text = dlut_look_to_json(&look, &rep);
  CHECK(text && dlut_look_from_json(text, strlen(text), &back) == 0);
  free(text);
  /* the bare params object, missing fields = identity, the wrapper's other members ignored */
  const char *bare = "{\"temp\": 1.5, \"band_hue\": [0, 0, 0, 10, 0, 0, 0, 0]}";
  CHECK(dlut_look_from_json(bare, strlen(bare), &back) == 0);
  dlut_look_init(&look);
  look.temp = 1.5f;
  look.band_hue[3] = 10.0f;
  CHECK(memcmp(&look, &back, sizeof look) == 0);
  const char *wrapped = "{\"understood\": \"x\", \"whatever\": [1], \"params\": {\"contrast\": -0.25}}";
  CHECK(dlut_look_from_json(wrapped, strlen(wrapped), &back) == 0 && back.contrast == -0.25f && back.temp == 0);
  CHECK(dlut_look_from_json("{}", 2, &back) == 0 && back.temp == 0);
}

/* Each hostile text fails with a message containing `want`, and leaves the identity. */
static void hostile(const char *text, size_t len, const char *want) {
  dlut_look look;
  look.temp = 7;
  int rc = dlut_look_from_json(text, len, &look);
  CHECK_MSG(rc == -1, "accepted: %.80s", text);
  CHECK_MSG(strstr(dlut_last_error(), want) != NULL, "'%.60s': error '%s' (want '%s')", text, dlut_last_error(), want);
  CHECK(look.temp == 0);
}

static void test_hostile(void) {
#define H(s, want) hostile(s, strlen(s), want)
  H("{\"temp\": \"warm\"}", "'temp' must be a number");
  H("{\"temp\": NaN}", "not valid JSON");
  H("{\"temp\": nan}", "not valid JSON");
  H("{\"temp\": 1e999}", "'temp' is not a finite number");
  H("{\"temp\": -1e999}", "not a finite");
  H("{\"temp\": 1e6}", "'temp' is 1e+06, outside");
  H("{\"clip\": 99}", "'clip' is 99, outside -50..50");
  H("{\"warmth\": 1}", "unknown field 'warmth'");
  H("{\"temp\": 1, \"temp\": 2}", "'temp' is given twice");
  H("{\"shadow_ab\": [1, 2, 3]}", "'shadow_ab' must be an array of 2 numbers");
  H("{\"shadow_ab\": 1}", "'shadow_ab' must be an array of 2");
  H("{\"band_hue\": [0, 0, 0, \"x\", 0, 0, 0, 0]}", "'band_hue[3]' must be a number");
  H("{\"band_sat\": [0, 0, 0, 0, 0, 0, 0, 999]}", "'band_sat[7]' is 999");
  H("{\"temp\": null}", "must be a number");
  H("{\"temp\": true}", "must be a number");
  H("{\"temp\": {\"a\": 1}}", "must be a number");
  H("[1, 2]", "must be an object");
  H("\"temp\"", "must be an object");
  H("{\"params\": [1]}", "'params' must be an object");
  H("{\"params\": {\"temp\": \"x\"}}", "'temp' must be a number");
  H("{\"temp\": 1} junk", "text after the JSON value");
  H("{\"temp\": 1,}", "not valid JSON");
  H("{\"temp\": 1", "not valid JSON");
  H("", "not valid JSON");
  H("{\"te\xff\": 1}", "not valid UTF-8");
  H("{\"temp\": \"\xe6\x9a\"}", "not valid UTF-8");
  H("{\"\": 1}", "unknown field ''");
  /* a long unknown name is cut in the message */
  char longname[400];
  snprintf(longname, sizeof longname, "{\"%0300d\": 1}", 0);
  H(longname, "unknown field '0000");
  /* deep nesting: an error, not a stack overflow */
  static char deep[200002];
  for (int i = 0; i < 100000; i++) deep[i] = '[', deep[100000 + i] = ']';
  hostile(deep, 200000, "not valid JSON");
  for (int i = 0; i < 100000; i++) deep[i] = '{';
  hostile(deep, 100000, "not valid JSON");
  /* too big */
  static char big[DLUT_LOOK_MAX_JSON + 2];
  memset(big, ' ', sizeof big);
  big[0] = '{', big[DLUT_LOOK_MAX_JSON] = '}';
  hostile(big, DLUT_LOOK_MAX_JSON + 1, "max");
  /* NUL inside the text */
  hostile("{\"temp\": 1}\0{", 13, "text after");
  dlut_look look;
  CHECK(dlut_look_from_json(NULL, 0, &look) == -1);
  /* random corruption of a real document: never a crash, every answer 0 or -1, finite looks */
  dlut_looks_report rep;
  CHECK(dlut_looks_parse("kodak portra 400, teal and orange, very vivid", &look, &rep) == 0);
  char *text = dlut_look_to_json(&look, &rep);
  CHECK(text != NULL);
  if (text) {
    size_t n = strlen(text);
    char *m = malloc(n + 1);
    int ok = 0, err = 0;
    for (int trial = 0; trial < 3000 && m; trial++) {
      memcpy(m, text, n + 1);
      int edits = 1 + (int)(rnd() * 4);
      for (int e = 0; e < edits; e++) {
        size_t at = (size_t)(rnd() * n);
        static const char k_bytes[] = "{}[]\":,-+.eE0123456789 \xff\xe6nul";
        m[at] = rnd() < 0.5 ? k_bytes[(int)(rnd() * (sizeof k_bytes - 1))] : (char)(rnd() * 256);
      }
      size_t len = rnd() < 0.2 ? (size_t)(rnd() * n) : strlen(m);
      dlut_look out;
      int rc = dlut_look_from_json(m, len, &out);
      CHECK(rc == 0 || rc == -1);
      if (rc == 0) {
        ok++;
        const float *f = (const float *)&out;
        for (int j = 0; j < NFLOATS; j++) CHECK(isfinite(f[j]));
      } else {
        err++;
      }
    }
    CHECK(err > 100); /* the corruption does hit the checks */
    printf("corrupted JSON: %d read, %d rejected\n", ok, err);
    free(m);
  }
  free(text);
#undef H
}

static void test_scale(void) {
  dlut_look look, s;
  CHECK(dlut_looks_parse("warm, high contrast, faded, teal and orange, very vivid, sepia", &look, NULL) == 0);
  s = look;
  CHECK(dlut_look_scale(&s, 1, 1) == 0 && memcmp(&s, &look, sizeof s) == 0);
  s = look;
  CHECK(dlut_look_scale(&s, 0, 1) == 0);
  CHECK(s.temp == 0 && s.saturation == 0 && s.mono == 0 && s.shadow_ab[0] == 0 && s.band_hue[3] == 0);
  CHECK(s.contrast == look.contrast && s.fade == look.fade && s.contrast != 0);
  s = look;
  CHECK(dlut_look_scale(&s, 1, 0) == 0);
  CHECK(s.contrast == 0 && s.fade == 0 && s.temp == look.temp && s.highlight_ab[1] == look.highlight_ab[1]);
  s = look;
  CHECK(dlut_look_scale(&s, 2, 0.5f) == 0);
  CHECK(s.temp == 2 * look.temp && s.cast_ab[1] == 2 * look.cast_ab[1] && s.contrast == 0.5f * look.contrast);
  s = look;
  CHECK(dlut_look_scale(&s, -0.1f, 1) == -1 && strstr(dlut_last_error(), "0 to 2"));
  CHECK(dlut_look_scale(&s, 1, 2.5f) == -1);
  CHECK(dlut_look_scale(&s, NAN, 1) == -1);
  CHECK(memcmp(&s, &look, sizeof s) == 0); /* untouched on error */
  /* every float is either colour, tone or neither: colour 0 and tone 0 leave only the switches */
  float *f = (float *)&s;
  for (int j = 0; j < NFLOATS; j++) f[j] = 1.0f;
  CHECK(dlut_look_scale(&s, 0, 0) == 0);
  int left = 0;
  for (int j = 0; j < NFLOATS; j++) left += f[j] != 0;
  int kept = 0;
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) kept += s.band_keep[k] == 1.0f;
  /* the switches: clip, the two protections, the kept bands and neutrals (spared at any strength) */
  CHECK_MSG(left <= 4 + DLUT_LOOK_NBANDS && s.clip == 1.0f && s.skin_follow == 1.0f && s.tint_ends == 1.0f &&
                kept == DLUT_LOOK_NBANDS && s.keep_neutral == 1.0f,
            "%d fields are neither colour nor tone", left);
  /* tone strength 0 on a tone-only prompt bakes the identity; the library entry point */
  dlut_lut *lut = NULL;
  dlut_looks_report rep;
  CHECK(dlut_looks_parse("high contrast, brighter", &look, NULL) == 0 && dlut_look_scale(&look, 1, 0) == 0);
  dlut_look_init(&s);
  CHECK(memcmp(&look, &s, sizeof s) == 0);
  CHECK(dlut_looks_bake_prompt("high contrast, brighter", 9, 1, 0, 1, &lut, &rep) == 0 && lut);
  if (lut) {
    double worst = 0;
    for (int b = 0; b < 9; b++)
      for (int g = 0; g < 9; g++)
        for (int r = 0; r < 9; r++) {
          const float *o = lut->table + 3 * ((b * 9 + g) * 9 + r);
          worst = fmax(worst, fabs(o[0] - r / 8.0) + fabs(o[1] - g / 8.0) + fabs(o[2] - b / 8.0));
        }
    CHECK_MSG(worst < 1e-4, "tone strength 0: %g from the identity", worst); /* as test_looks.c */
    CHECK(strcmp(rep.understood, "high contrast, brighter") == 0);
  }
  dlut_lut_free(lut);
  CHECK(dlut_looks_bake_prompt("warm", 9, 3, 1, 1, &lut, NULL) == -1 && lut == NULL);
  CHECK(dlut_looks_bake_prompt("warm", 1, 1, 1, 1, &lut, NULL) == -1);
}

static void test_suggest(void) {
  char out[256];
  static const struct {
    const char *word, *want;
  } k_cases[] = {
      {"cinematc", "cinematic"}, {"portr", "portra"},     {"wram", "warm"},          {"saturatd", "saturate"},
      {"contrst", "contrast"},   {"vintge", "vintage"},   {"cyberpnk", "cyberpunk"}, {"teel", "teal"},
      {"kodakk", "kodak"},       {"slighly", "slightly"}, {"赛博朋", "赛博朋克"},    {"日系小清", "日系小清新"},
      {"港风味道", "港风"},      {"波特兰", "波特拉"},    {"岩井", "岩井俊二"},      {"维尔维", "维尔维亚"},
      {"胶片风格味", "胶片风"},
  };
  for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++) {
    int n = dlut_looks_suggest_word(k_cases[i].word, out, sizeof out);
    int found = 0;
    for (const char *p = out; *p;) {
      size_t m = strcspn(p, ",");
      found |= m == strlen(k_cases[i].want) && memcmp(p, k_cases[i].want, m) == 0;
      p += m;
      while (*p == ',' || *p == ' ') p++;
    }
    CHECK_MSG(n >= 1 && found, "'%s' -> '%s' (want '%s')", k_cases[i].word, out, k_cases[i].want);
  }
  /* nowhere near anything: no suggestion */
  static const char *const k_none[] = {"xyzzy", "lorem", "ipsum", "猫咪", "电音", "qq", "zzzzzzzzzzzz"};
  for (size_t i = 0; i < sizeof k_none / sizeof *k_none; i++) {
    int n = dlut_looks_suggest_word(k_none[i], out, sizeof out);
    CHECK_MSG(n == 0 && out[0] == '\0', "'%s' -> '%s'", k_none[i], out);
  }
  /* the report: parse fills it, each form once, in the order of the words */
  dlut_looks_report rep;
  dlut_look look;
  CHECK(dlut_looks_parse("cinemattik portr, wram, xyzzy, 波特兰", &look, &rep) == 0);
  CHECK_MSG(rep.n_matches == 0 && !rep.corrected[0], "%d matches, corrected '%s'", rep.n_matches, rep.corrected);
  CHECK_MSG(strncmp(rep.suggested, "cinematic, portra", 17) == 0 && strstr(rep.suggested, "warm") &&
                strstr(rep.suggested, "波特拉"),
            "suggested '%s'", rep.suggested);
  CHECK(dlut_looks_parse("warm film", &look, &rep) == 0 && rep.suggested[0] == '\0');
  /* a typing slip one edit from one term (6 letters or more), or two letters swapped or one doubled (5): read as
   * that term, and said; a real word one letter from a term is not ("bench" is not "beach", "contract" not
   * "contrast") */
  static const char *const k_slips[][2] = {
      {"cinematc", "cinematic"}, {"cinematik", "cinematic"}, {"vinatge", "vintage"}, {"dessaturated", "desaturated"},
      {"pastle", "pastel"},      {"sepiaa", "sepia"},        {"vintge", "vintage"},  {"vinage", "vintage"},
      {"dreemy", "dreamy"},      {"mooddy", "moody"}};
  for (size_t i = 0; i < sizeof k_slips / sizeof *k_slips; i++) {
    dlut_looks_report want;
    dlut_look lw, ls;
    CHECK(dlut_looks_parse(k_slips[i][1], &lw, &want) == 0 && dlut_looks_parse(k_slips[i][0], &ls, &rep) == 0);
    CHECK_MSG(memcmp(&lw, &ls, sizeof lw) == 0 && strstr(rep.corrected, k_slips[i][1]) && !rep.ignored[0],
              "'%s': corrected '%s', ignored '%s'", k_slips[i][0], rep.corrected, rep.ignored);
  }
  static const char *const k_words[] = {"bench",    "puppy",    "bridge",  "lovely",  "story",   "laughter", "clouds",
                                        "contract", "mourning", "growing", "dessert", "vantage", "incense",  "precise",
                                        "topical",  "gentile",  "vision",  "double",  "pairs",   "brighton"};
  for (size_t i = 0; i < sizeof k_words / sizeof *k_words; i++) {
    CHECK(dlut_looks_parse(k_words[i], &look, &rep) == 0);
    CHECK_MSG(!rep.corrected[0] && rep.n_matches == 0, "'%s' read as '%s'", k_words[i], rep.corrected);
  }
  /* every word of the system's word list (wamerican, a test dependency): none is read as a slip, unless the term
   * is that word with an ending ("highlight" -> "highlights") */
  FILE *f = fopen("/usr/share/dict/words", "r");
  CHECK_MSG(f != NULL, "no /usr/share/dict/words (Debian's wamerican)");
  int words = 0, slips = 0;
  char line[128];
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    size_t n = strlen(line), k = 0;
    while (k < n && ((line[k] >= 'a' && line[k] <= 'z') || (line[k] >= 'A' && line[k] <= 'Z'))) k++;
    if (n < 5 || k < n) continue;
    words++;
    if (dlut_looks_parse(line, &look, &rep) != 0 || !rep.corrected[0]) continue;
    const char *to = strstr(rep.corrected, "\xe2\x86\x92 "); /* "word → term" */
    char low[128];
    for (size_t i = 0; i <= n; i++) low[i] = (char)(line[i] >= 'A' && line[i] <= 'Z' ? line[i] - 'A' + 'a' : line[i]);
    int ending = to && strncmp(to + 4, low, n) == 0 &&
                 (!strcmp(to + 4 + n, "s") || !strcmp(to + 4 + n, "d") || !strcmp(to + 4 + n, "ed"));
    slips += !ending;
    CHECK_MSG(ending, "the word '%s' read as a slip: '%s'", line, rep.corrected);
  }
  if (f) fclose(f);
  CHECK_MSG(!f || words > 10000, "%d words", words);
  printf("  word list: %d words of 5 letters or more, %d read as slips\n", words, slips);
  /* lists and truncation */
  CHECK(dlut_looks_suggest("cinematc, cinematc, wram", out, sizeof out) == 3 && strcmp(out, "cinematic, warm") == 0);
  CHECK(dlut_looks_suggest("cinematc, wram", out, 12) >= 1 && strcmp(out, "cinematic") == 0);
  CHECK(dlut_looks_suggest("", out, sizeof out) == 0 && out[0] == '\0');
  CHECK(dlut_looks_suggest(NULL, out, sizeof out) == 0);
  char tiny[1] = {'x'};
  CHECK(dlut_looks_suggest("wram", tiny, 1) >= 0 && tiny[0] == '\0');
  /* a long word: no overflow */
  static char longw[300];
  memset(longw, 'a', sizeof longw - 1);
  CHECK(dlut_looks_suggest_word(longw, out, sizeof out) == 0);
}

int main(void) {
  test_fields();
  test_round_trip();
  test_hostile();
  test_scale();
  test_suggest();
  return test_summary("looks_params");
}
