/* `dlut looks`: the grading vocabulary understood without a model.
 *   dlut looks                 list it (grouped, English and Chinese)
 *   dlut looks "PROMPT"        what was understood and ignored, the look's parameters
 *   dlut looks "PROMPT" -o look.cube   also bake the look into a LUT file
 *   dlut looks "PROMPT" --json         the look's parameters as JSON; --params FILE reads them back */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "cli.h"
#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/looks.h"
#include "dlut/lut.h"

static const char *k_cmd = "looks";

static void help(void) {
  printf(
      "usage: dlut looks [PROMPT] [options]\n"
      "\n"
      "Without a prompt, list the grading vocabulary that dlut understands without a\n"
      "CLIP model: colour temperature and tint, tone, saturation, split toning,\n"
      "monochrome, film stocks, looks, light and seasons, moods, named colours, and\n"
      "the degree words (very, slightly, not too, 非常, 一点, 不要太 ...).\n"
      "With a prompt, show what was understood and what was ignored, and the\n"
      "parameters of the resulting look; with -o, also write it as a LUT.\n"
      "`dlut grade PHOTO \"PROMPT\"` uses the same look when no model is given.\n"
      "\n"
      "Numbers set a control as an editor's sliders do: \"contrast +20\",\n"
      "\"saturation -30\", \"对比度 +20\" (50 is the plain word, 100 twice it),\n"
      "\"exposure +0.5\" and \"+1 stop\" (stops), \"temperature 5600K\" (the white\n"
      "balance set to that light), \"blacks -10\", \"tint +15\"; beside a look or a\n"
      "stock a number is its strength in percent (\"portra 400 50%%\"). A prompt that\n"
      "starts with a minus goes after --: dlut looks -- \"-0.5 ev\".\n"
      "\n"
      "options:\n"
      "  -o, --output FILE   write the look as a LUT (.cube, .3dl or Hald .png)\n"
      "  -s, --size N        lattice points per axis for -o (2..256, default %d)\n"
      "  --input NAME        with -o: the LUT is for camera log footage: it decodes\n"
      "                      NAME, renders it for display (sRGB), then grades; one of\n"
      "                      slog3 logc3 logc4 vlog clog2 clog3 log3g10 flog2 applelog\n"
      "                      dlog acescct ('--input help' describes them)\n"
      "  --group NAME        list only one group (temperature, tint, tone, saturation,\n"
      "                      toning, monochrome, film, movie, photographer, era,\n"
      "                      platform, look, light, season, mood, phrase, colour)\n"
      "  --colors            list the named colours too (CSS/X11 and 中国传统色)\n"
      "  --json              print the look as JSON: every parameter by name under\n"
      "                      \"params\", and for a prompt what was understood, ignored\n"
      "                      and suggested; edit it and read it back with --params\n"
      "  --params FILE       the look from such a JSON file (the --json output or its\n"
      "                      \"params\" object) instead of a prompt\n"
      "  --color-strength X  scale the look's colour (white balance, saturation,\n"
      "                      toning, hue bands, monochrome) by X, 0..2 (default 1)\n"
      "  --tone-strength X   scale its tone (exposure, brightness, contrast, shadows,\n"
      "                      highlights, fade, crush, roll-off) by X, 0..2 (default 1)\n"
      "  --no-skin-protect   let skin tones follow the look like every colour (by\n"
      "                      default they keep their hue and most of their chroma,\n"
      "                      unless the prompt is about skin)\n"
      "  -h, --help          this help\n"
      "\n"
      "examples:\n"
      "  dlut looks\n"
      "  dlut looks \"cold teal night, high contrast\"\n"
      "  dlut looks \"温暖的日落胶片风，不要太饱和\" -o sunset.cube\n"
      "  dlut looks \"teal and orange\" --input slog3 -s 65 -o teal_slog3.cube\n"
      "  dlut looks \"kodak portra 400\" --json > portra.json   # edit, then:\n"
      "  dlut looks --params portra.json --tone-strength 0.5 -o portra_soft.cube\n",
      DLUT_LOOKS_DEFAULT_SIZE);
}

/* Print s padded with spaces to `width` terminal columns (CJK characters are two wide). */
static void print_padded(const char *s, int width) {
  int cols = 0;
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
  utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(s);
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) break;
    cols += utf8proc_charwidth(cp);
    p += n, left -= n;
  }
  fputs(s, stdout);
  for (; cols < width; cols++) putchar(' ');
}

static void print_forms(const char *label, const char *forms) {
  if (!forms || !*forms) return;
  printf("      %s ", label);
  for (const char *p = forms; *p; p++) fputs(*p == '|' ? ", " : (char[2]){*p, 0}, stdout);
  putchar('\n');
}

static int list_vocab(const char *only, int colors) {
  static const char *const groups[] = {"temperature", "tint",   "tone",         "saturation", "toning",   "monochrome",
                                       "film",        "movie",  "photographer", "era",        "platform", "look",
                                       "light",       "season", "mood",         "phrase"};
  int shown = 0;
  for (size_t g = 0; g < sizeof groups / sizeof *groups; g++) {
    if (only && strcmp(only, groups[g]) != 0) continue;
    printf("== %s ==\n", groups[g]);
    for (int i = 0; i < dlut_looks_term_count(); i++) {
      const dlut_looks_term *t = dlut_looks_term_get(i);
      if (strcmp(t->group, groups[g]) != 0) continue;
      char name[64];
      size_t n = strcspn(t->en, "|");
      snprintf(name, sizeof name, "%.*s", (int)n, t->en);
      printf("  %-18s %s\n", name, t->what);
      print_forms("en:", t->en);
      print_forms("zh:", t->zh);
      printf("      does: %s\n", t->effect);
      shown++;
    }
  }
  if (!only || strcmp(only, "modifiers") == 0) {
    printf("== modifiers (degree and negation) ==\n");
    for (int i = 0; i < dlut_looks_modifier_count(); i++) {
      const dlut_looks_modifier *m = dlut_looks_modifier_get(i);
      printf("  %s\n", m->what);
      print_forms("en:", m->en);
      print_forms("zh:", m->zh);
      shown++;
    }
  }
  if (colors || (only && strcmp(only, "colour") == 0)) {
    printf("== colour (named colours tint the image towards their hue) ==\n");
    for (int i = 0; i < dlut_looks_color_count(); i++) {
      const char *en, *zh;
      unsigned char rgb[3];
      dlut_looks_color_get(i, &en, &zh, rgb);
      printf("  #%02x%02x%02x  %-22s %s\n", rgb[0], rgb[1], rgb[2], en ? en : "", zh ? zh : "");
      shown++;
    }
  } else if (!only) {
    printf("== colour ==\n  %d named colours (CSS/X11 and 中国传统色): 'dlut looks --colors' lists them\n",
           dlut_looks_color_count());
  }
  if (only && !shown) return cli_usage(k_cmd, "unknown group '%s'", only);
  return DLUT_EXIT_OK;
}

static void look_eval_cb(void *ctx, const float in[3], float out[3]) {
  dlut_look_eval(ctx, in, out);
}

int dlut_cmd_looks(int argc, char **argv) {
  const char *prompt = NULL, *output = NULL, *group = NULL, *params = NULL;
  int size = DLUT_LOOKS_DEFAULT_SIZE, colors = 0, json = 0, has_input = 0, has_strength = 0;
  float color_strength = 1.0f, tone_strength = 1.0f;
  int skin_free = 0;
  dlut_camlog input = DLUT_CAMLOG_SLOG3;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (cli_is_help(a)) {
      help();
      return DLUT_EXIT_OK;
    } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
      if (++i >= argc) return cli_usage(k_cmd, "%s needs a file name", a);
      output = argv[i];
    } else if (strcmp(a, "-s") == 0 || strcmp(a, "--size") == 0) {
      if (++i >= argc || cli_parse_int(argv[i], &size) != 0 || size < 2 || size > DLUT_LUT_MAX_SIZE)
        return cli_usage(k_cmd, "%s needs a whole number from 2 to %d", a, DLUT_LUT_MAX_SIZE);
    } else if (strcmp(a, "--input") == 0) {
      if (++i >= argc) return cli_usage(k_cmd, "--input needs a name (one of: %s)", dlut_camlog_names());
      if (strcmp(argv[i], "help") == 0) {
        for (int k = 0; k < DLUT_CAMLOG_COUNT; k++)
          printf("  %-9s %s\n", dlut_camlog_name((dlut_camlog)k), dlut_camlog_description((dlut_camlog)k));
        return DLUT_EXIT_OK;
      }
      if (dlut_camlog_from_name(argv[i], &input) != 0) return cli_usage(k_cmd, "--input: %s", dlut_last_error());
      has_input = 1;
    } else if (strcmp(a, "--group") == 0) {
      if (++i >= argc) return cli_usage(k_cmd, "--group needs a name");
      group = argv[i];
    } else if (strcmp(a, "--colors") == 0 || strcmp(a, "--colours") == 0) {
      colors = 1;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (strcmp(a, "--no-skin-protect") == 0) {
      skin_free = 1;
    } else if (strcmp(a, "--params") == 0) {
      if (++i >= argc) return cli_usage(k_cmd, "--params needs a JSON file (from dlut looks PROMPT --json)");
      params = argv[i];
    } else if (strcmp(a, "--color-strength") == 0 || strcmp(a, "--colour-strength") == 0 ||
               strcmp(a, "--tone-strength") == 0) {
      float *dst = a[2] == 't' ? &tone_strength : &color_strength;
      if (++i >= argc || cli_parse_float(argv[i], dst) != 0 || !(*dst >= 0 && *dst <= DLUT_LOOK_MAX_STRENGTH))
        return cli_usage(k_cmd, "%s needs a number from 0 to %g", a, (double)DLUT_LOOK_MAX_STRENGTH);
      has_strength = 1;
    } else if (strcmp(a, "--") == 0 && i + 1 < argc && !prompt) { /* what follows is the prompt */
      prompt = argv[++i];
    } else if (cli_is_option(a)) {
      return cli_usage(k_cmd, "unknown option '%s'", a);
    } else if (!prompt) {
      prompt = a;
    } else {
      return cli_usage(k_cmd, "one prompt only (quote it: dlut looks \"warm film\")");
    }
  }
  if (prompt && params) return cli_usage(k_cmd, "give a prompt or --params FILE, not both");
  if (!prompt && !params) {
    if (output) return cli_usage(k_cmd, "-o needs a prompt or --params");
    if (json) return cli_usage(k_cmd, "--json needs a prompt or --params");
    if (has_input) return cli_usage(k_cmd, "--input needs a prompt and -o");
    if (has_strength) return cli_usage(k_cmd, "--color-strength/--tone-strength need a prompt or --params");
    return list_vocab(group, colors);
  }
  if (has_input && !output) return cli_usage(k_cmd, "--input needs -o (it changes the LUT written)");
  dlut_look look;
  dlut_looks_report *rep = NULL;
  if (params) {
    size_t n = 0;
    char *text = dlut_file_read_all(params, DLUT_LOOK_MAX_JSON, &n);
    if (!text) return cli_fail(k_cmd, "%s", dlut_last_error()); /* it names the file */
    int rc = dlut_look_from_json(text, n, &look);
    free(text);
    if (rc != 0)
      return cli_fail(k_cmd, "%s: %s", params,
                      strncmp(dlut_last_error(), "looks ", 6) ? dlut_last_error() : dlut_last_error() + 6);
  } else {
    if (!(rep = malloc(sizeof *rep))) return cli_fail(k_cmd, "out of memory");
    if (dlut_looks_parse(prompt, &look, rep) != 0) {
      free(rep);
      return cli_fail(k_cmd, "%s",
                      strncmp(dlut_last_error(), "looks: ", 7) ? dlut_last_error() : dlut_last_error() + 7);
    }
  }
  if (skin_free) look.skin_follow = 1.0f;
  if (dlut_look_scale(&look, color_strength, tone_strength) != 0) {
    free(rep);
    return cli_fail(k_cmd, "%s", dlut_last_error());
  }
  /* never silent: a prompt of which nothing was understood says so, with the nearest terms */
  if (rep && rep->n_matches == 0 && !rep->understood[0]) {
    fprintf(stderr, "dlut looks: no word of the prompt is in the vocabulary%s%s%s; 'dlut looks' lists it\n",
            rep->suggested[0] ? " (did you mean: " : "", rep->suggested, rep->suggested[0] ? "?)" : "");
    if (output) {
      free(rep);
      return cli_fail(k_cmd, "nothing understood: no LUT written (the look would be the identity)");
    }
  }
  /* the photo's own cast: measured by dlut grade, which has the photo */
  if (rep && rep->neutral_wb) {
    fprintf(stderr,
            "dlut looks: taking out the colour cast needs the photo: 'dlut grade PHOTO \"%s\"' measures it; the look "
            "here leaves it%s\n",
            prompt, rep->n_matches ? "" : " (the identity)");
    if (output && rep->n_matches == 0) {
      free(rep);
      return cli_fail(k_cmd, "only the photo's colour cast to take out: no LUT written (see dlut grade)");
    }
  }
  char desc[2048];
  dlut_look_describe(&look, desc, sizeof desc);
  if (json) {
    char *text = dlut_look_to_json(&look, rep);
    if (!text) {
      free(rep);
      return cli_fail(k_cmd, "%s", dlut_last_error());
    }
    puts(text);
    free(text);
  } else {
    if (rep) {
      printf("understood: %s\n", rep->understood[0] ? rep->understood : "(nothing)");
      printf("ignored:    %s%s%s%s\n", rep->ignored[0] ? rep->ignored : "(nothing)",
             rep->suggested[0] ? " (did you mean: " : "", rep->suggested, rep->suggested[0] ? "?)" : "");
      if (rep->corrected[0]) printf("read as:    %s\n", rep->corrected);
      if (rep->scene[0]) printf("scene:      %s (what the photo shows, before the request: not graded)\n", rep->scene);
      for (int i = 0; i < rep->n_matches; i++) {
        char name[64];
        dlut_looks_match_name(&rep->matches[i], name, sizeof name);
        printf("  ");
        print_padded(rep->matches[i].text, 24);
        printf(" -> %-18s x%+.2f%s\n", name, rep->matches[i].weight, rep->matches[i].capped ? " (capped)" : "");
      }
    }
    if (has_strength) printf("strength:   colour x%.2f, tone x%.2f\n", color_strength, tone_strength);
    printf("look:       %s\n", desc[0] ? desc : "(identity)");
  }
  free(rep);
  if (output) {
    /* with --input the look is evaluated exactly on the rendered log input (no double interpolation) */
    dlut_lut *lut = has_input ? dlut_camlog_bake_fn(input, size, look_eval_cb, &look) : dlut_look_bake(&look, size);
    if (!lut) return cli_fail(k_cmd, "%s", dlut_last_error());
    snprintf(lut->title, sizeof lut->title, "dlut looks: %.200s", prompt ? prompt : params);
    int rc = dlut_lut_save(lut, output, NULL);
    dlut_lut_free(lut);
    if (rc != 0) return cli_fail(k_cmd, "%s", dlut_last_error());
    if (!json)
      printf("wrote %s (%d^3%s%s)\n", output, size, has_input ? ", for " : "",
             has_input ? dlut_camlog_name(input) : "");
  }
  return DLUT_EXIT_OK;
}
