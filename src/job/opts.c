/* Job options by name (dlut/job.h): one table of names, kinds, ranges,
 * defaults and help lines that the command line and the HTTP form fields
 * both go through, and the checks that need all options together. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/job.h"
#include "dlut/text.h"
#include "job/job_private.h"

/* clang-format off */
static const dlut_job_opt_info k_opts[] = {
  {"prompt",     DLUT_JOB_OPT_STRING, 0, 4096, NULL, "", "what the grade should look like, English or Chinese"},
  {"steps",      DLUT_JOB_OPT_INT, 1, 1000000, NULL, "200", "optimisation steps (field: 1000)"},
  {"lut_size",   DLUT_JOB_OPT_INT, 2, 65, NULL, "33", "LUT lattice points per axis"},
  {"seed",       DLUT_JOB_OPT_INT, 0, 4294967295.0, NULL, "0", "pixel sample and initialisation"},
  {"param",      DLUT_JOB_OPT_ENUM, 0, 0, "lattice|field", "lattice",
                 "lattice: coarse residual lattice (fast); field: the original CLIP-DLUT MLP field (slow)"},
  {"lr",         DLUT_JOB_OPT_FLOAT, 1e-8, 10, NULL, "0.02", "peak learning rate (field: 0.0002)"},
  {"coarse",     DLUT_JOB_OPT_INT, 2, 65, NULL, "17", "lattice: side of the coarse residual lattice"},
  {"source",     DLUT_JOB_OPT_STRING, 0, 1024, NULL, "", "neutral prompt the direction starts from"},
  {"weights",    DLUT_JOB_OPT_STRING, 0, 512, NULL, "clip=1,mono=1,smooth=1,vol=1,shift=20,eigen=10000",
                 "loss weights as name=value pairs"},
  {"samples",    DLUT_JOB_OPT_INT, 16, 16777216, NULL, "16384", "photo pixels for the colour terms (a set shares them)"},
  {"augment",    DLUT_JOB_OPT_INT, 0, 64, NULL, "0",
                 "random crop+flip views of each photo per step (0 = the whole photo; CLIP only)"},
  {"ref_mode",   DLUT_JOB_OPT_ENUM, 0, 0, "image|anchor|enhance|replace", "",
                 "how the prompt edits the reference (default: anchor with a prompt, image without)"},
  {"ref_scale",  DLUT_JOB_OPT_FLOAT, -100, 100, NULL, "1", "s of that edit, in the units of the reference token's projection on the text (docs/grading.md)"},
  {"ref_anchor", DLUT_JOB_OPT_STRING, 0, 1024, NULL, "", "anchor text for anchor/enhance (default: the source prompt)"},
  {"edits",      DLUT_JOB_OPT_STRING, 0, 16384, NULL, "",
                 "edits of the reference, ColorizeDiffusion's global manipulation: one TARGET|ANCHOR|SCALE[|ENHANCE] "
                 "per line (ANCHOR empty or none = no anchor; ENHANCE true/false, default false; SCALE as the "
                 "original's 0..15), applied in order, none unless some SCALE > 0; replaces ref_mode"},
  {"transfer",   DLUT_JOB_OPT_BOOL, 0, 1, NULL, "0", "start from a Reinhard colour transfer towards the reference"},
  {"start",      DLUT_JOB_OPT_ENUM, 0, 0, "look|identity", "look",
                 "look: start from the prompt's offline look; identity: from no grade"},
  {"strength",   DLUT_JOB_OPT_FLOAT, 0, 1, NULL, "1", "blend of the graded photo with the original"},
  {"quality",    DLUT_JOB_OPT_INT, 1, 100, NULL, "95", "JPEG/WebP quality of the graded photo"},
  {"input",      DLUT_JOB_OPT_STRING, 0, 16, NULL, "",
                 "the photos are camera log footage: slog3, logc3, logc4, vlog, clog2, clog3, log3g10, flog2, applelog, "
                 "dlog or acescct (default: sRGB pictures)"},
  {"color_strength", DLUT_JOB_OPT_FLOAT, 0, 2, NULL, "1",
                 "offline look: scale its colour (white balance, saturation, toning, hue bands)"},
  {"tone_strength", DLUT_JOB_OPT_FLOAT, 0, 2, NULL, "1",
                 "offline look: scale its tone (exposure, brightness, contrast, shadows, fade ...)"},
  {"skin_protect", DLUT_JOB_OPT_BOOL, 0, 1, NULL, "1",
                 "offline look: keep skin tones natural (0: skin follows the look; off anyway when the prompt is about skin)"},
  {"fast_encode", DLUT_JOB_OPT_BOOL, 0, 1, NULL, "0",
                 "graded JPEG with standard Huffman tables: the same pixels, about 10% larger, encoded about twice as fast"},
  {"feather",    DLUT_JOB_OPT_FLOAT, 0, 4096, NULL, "0",
                 "region masks: a hard mask edge ramps from 0 to 1 over this many photo pixels"},
  {"mask_threshold", DLUT_JOB_OPT_FLOAT, 0, 0.999, NULL, "0",
                 "region masks: 0 keeps soft mattes; else a matte becomes hard (inside where >= this), before feathering"},
};
/* clang-format on */
#define N_OPTS ((int)(sizeof k_opts / sizeof *k_opts))

int dlut_job_opt_count(void) {
  return N_OPTS;
}

const dlut_job_opt_info *dlut_job_opt_get(int i) {
  return i >= 0 && i < N_OPTS ? &k_opts[i] : NULL;
}

const dlut_job_opt_info *dlut_job_opt_find(const char *name) {
  for (int i = 0; name && i < N_OPTS; i++)
    if (!strcmp(k_opts[i].name, name)) return &k_opts[i];
  return NULL;
}

void dlut_job_opts_init(dlut_job_opts *o) {
  memset(o, 0, sizeof *o);
  dlut_grade_opts_init(&o->grade);
  o->start_look = 1;
  o->strength = 1.0f;
  o->quality = 95;
  o->camlog = -1;
  o->color_strength = o->tone_strength = 1.0f;
  o->skin_protect = 1;
}

void dlut_job_opts_free(dlut_job_opts *o) {
  if (!o) return;
  free(o->prompt);
  free(o->source);
  free(o->ref_anchor);
  free(o->edits_buf);
  free(o->edits);
  o->edits_buf = NULL;
  o->edits = NULL;
  o->n_edits = 0;
  o->grade.ref_edits = NULL;
  o->grade.n_ref_edits = 0;
  for (int i = 0; i < o->n_regions; i++) {
    free(o->regions[i].where);
    free(o->regions[i].prompt);
  }
  o->n_regions = 0;
  o->prompt = o->source = o->ref_anchor = NULL;
  o->grade.prompt = o->grade.source_prompt = o->grade.ref_anchor = NULL;
}

/* ==== Parsing ==== */

/* Plain decimal numbers only: no leading space, no hex, no "inf"/"nan". */
static int plain_number(const char *s) {
  if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == '.')) return 0;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) return 0;
  return 1;
}

static int parse_ll(const char *s, long long *out) {
  if (!plain_number(s)) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

static int parse_double(const char *s, double *out) {
  if (!plain_number(s)) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

static int parse_bool(const char *s, int *out) {
  static const char *k_true[] = {"1", "true", "yes", "on"}, *k_false[] = {"0", "false", "no", "off"};
  for (int i = 0; i < 4; i++) {
    if (!strcasecmp(s, k_true[i])) return *out = 1, 0;
    if (!strcasecmp(s, k_false[i])) return *out = 0, 0;
  }
  return -1;
}

/* Index of `s` in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *s) {
  size_t n = strlen(s);
  int i = 0;
  for (const char *p = choices; *p; i++) {
    const char *bar = strchr(p, '|');
    size_t len = bar ? (size_t)(bar - p) : strlen(p);
    if (len == n && !strncmp(p, s, n)) return i;
    if (!bar) break;
    p = bar + 1;
  }
  return -1;
}

static int parse_weights(const char *s, dlut_grade_losses *w) {
  char buf[512];
  dlut_grade_losses v = *w;
  snprintf(buf, sizeof buf, "%s", s);
  char *save = NULL;
  for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    double x;
    if (!eq) return -1;
    *eq = 0;
    if (parse_double(eq + 1, &x) || x < 0 || x > 1e9) return -1;
    if (!strcmp(tok, "clip"))
      v.clip = x;
    else if (!strcmp(tok, "mono"))
      v.mono = x;
    else if (!strcmp(tok, "smooth"))
      v.smooth = x;
    else if (!strcmp(tok, "vol"))
      v.vol = x;
    else if (!strcmp(tok, "shift"))
      v.shift = x;
    else if (!strcmp(tok, "eigen"))
      v.eigen = x;
    else
      return -1;
  }
  *w = v;
  return 0;
}

/* Trim spaces and tabs at both ends, in place. */
static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) s[--n] = 0;
  return s;
}

/* "TARGET|ANCHOR|SCALE[|ENHANCE]" per line (blank lines skipped) into edits
 * whose strings point into a copy of the text. ENHANCE is read as a real
 * boolean: upstream's UI reads saved lines with bool(" False"), which is
 * true for any non-empty text; here "false" means false. */
static int parse_edits(const char *value, dlut_job_opts *o) {
  char *buf = strdup(value);
  int cap = 1;
  for (const char *p = value; *p; p++) cap += *p == '\n';
  dlut_grade_ref_edit *e = calloc((size_t)cap, sizeof *e);
  if (!buf || !e) {
    free(buf), free(e);
    return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  }
  int n = 0, line = 0;
  char *save = NULL;
  for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    line++;
    l = trim(l);
    if (!*l) continue;
    char *f[5] = {0};
    int nf = 0;
    for (char *p = l; nf < 5;) {
      f[nf++] = p;
      char *bar = strchr(p, '|');
      if (!bar) break;
      *bar = 0;
      p = bar + 1;
    }
    double sc;
    int en = 0;
    const char *why = NULL;
    if (nf < 3 || nf > 4)
      why = "needs TARGET|ANCHOR|SCALE or TARGET|ANCHOR|SCALE|ENHANCE";
    else if (!*(f[0] = trim(f[0])))
      why = "has no target text";
    else if (parse_double(trim(f[2]), &sc) || sc < -100 || sc > 100)
      why = "has a SCALE that is not a number in -100..100";
    else if (nf == 4 && parse_bool(trim(f[3]), &en))
      why = "has an ENHANCE that is not true or false";
    if (why) {
      free(buf), free(e);
      return dlut_errorc(DLUT_ERR_INPUT, "edits: line %d %s", line, why);
    }
    f[1] = trim(f[1]);
    e[n].target = f[0];
    e[n].anchor = *f[1] && strcmp(f[1], "none") ? f[1] : NULL;
    e[n].scale = (float)sc;
    e[n].enhance = en;
    if (++n > 64) {
      free(buf), free(e);
      return dlut_errorc(DLUT_ERR_INPUT, "edits: more than 64 lines");
    }
  }
  free(o->edits_buf);
  free(o->edits);
  o->edits_buf = buf;
  o->edits = e;
  o->n_edits = n;
  return 0;
}

static int set_string(char **dst, const char *v) {
  char *c = strdup(v);
  if (!c) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  free(*dst);
  *dst = c;
  return 0;
}

int dlut_job_opts_set(dlut_job_opts *o, const char *name, const char *value) {
  const dlut_job_opt_info *in = dlut_job_opt_find(name);
  if (!in) return dlut_errorc(DLUT_ERR_INPUT, "unknown option '%s'", name ? name : "");
  if (!value) return dlut_errorc(DLUT_ERR_INPUT, "%s needs a value", in->name);
  long long iv = 0;
  double fv = 0;
  int bv = 0, ev = 0;
  switch (in->kind) {
    case DLUT_JOB_OPT_INT:
      if (parse_ll(value, &iv) || (double)iv < in->min || (double)iv > in->max)
        return dlut_errorc(DLUT_ERR_INPUT, "%s must be an integer in %.0f..%.0f, not '%.40s'", in->name, in->min,
                           in->max, value);
      break;
    case DLUT_JOB_OPT_FLOAT:
      if (parse_double(value, &fv) || fv < in->min || fv > in->max)
        return dlut_errorc(DLUT_ERR_INPUT, "%s must be a number in %g..%g, not '%.40s'", in->name, in->min, in->max,
                           value);
      break;
    case DLUT_JOB_OPT_BOOL:
      if (parse_bool(value, &bv))
        return dlut_errorc(DLUT_ERR_INPUT, "%s must be 1 or 0 (true/false), not '%.40s'", in->name, value);
      break;
    case DLUT_JOB_OPT_ENUM: {
      ev = choice_index(in->choices, value);
      if (ev < 0) {
        char list[128];
        snprintf(list, sizeof list, "%s", in->choices);
        for (char *p = list; *p; p++)
          if (*p == '|') *p = ',';
        return dlut_errorc(DLUT_ERR_INPUT, "%s must be one of %s, not '%.40s'", in->name, list, value);
      }
      break;
    }
    case DLUT_JOB_OPT_STRING: {
      size_t n = strlen(value);
      if (n > in->max) return dlut_errorc(DLUT_ERR_TOO_LARGE, "%s is longer than %.0f bytes", in->name, in->max);
      if (!dlut_utf8_valid(value, n)) return dlut_errorc(DLUT_ERR_INPUT, "%s is not valid UTF-8 text", in->name);
      /* line ends of any kind (a browser's textarea sends CRLF) and tabs are text */
      for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 && value[i] != '\n' && value[i] != '\r' && value[i] != '\t')
          return dlut_errorc(DLUT_ERR_INPUT, "%s holds a control character", in->name);
      break;
    }
  }
  dlut_grade_opts *g = &o->grade;
  if (!strcmp(name, "prompt")) return set_string(&o->prompt, value);
  if (!strcmp(name, "source")) return set_string(&o->source, value);
  if (!strcmp(name, "ref_anchor")) return set_string(&o->ref_anchor, value);
  if (!strcmp(name, "input")) {
    dlut_camlog enc;
    if (!*value || !strcasecmp(value, "srgb")) return o->camlog = -1, 0;
    if (dlut_camlog_from_name(value, &enc) != 0)
      return dlut_errorc(DLUT_ERR_INPUT, "input must be srgb or a camera log encoding: %s", dlut_camlog_names());
    o->camlog = (int)enc;
    return 0;
  }
  if (!strcmp(name, "edits")) return parse_edits(value, o);
  if (!strcmp(name, "weights")) {
    if (parse_weights(value, &g->weights))
      return dlut_errorc(DLUT_ERR_INPUT,
                         "weights takes name=value pairs (clip, mono, smooth, vol, shift, eigen; values >= 0)");
    return 0;
  }
  if (!strcmp(name, "steps"))
    g->steps = (int)iv;
  else if (!strcmp(name, "lut_size"))
    g->lut_size = (int)iv;
  else if (!strcmp(name, "seed"))
    g->seed = (uint64_t)iv;
  else if (!strcmp(name, "param"))
    g->param = ev == 1 ? DLUT_GRADE_PARAM_FIELD : DLUT_GRADE_PARAM_LATTICE;
  else if (!strcmp(name, "lr"))
    g->lr = (float)fv;
  else if (!strcmp(name, "coarse"))
    g->lattice_coarse = (int)iv;
  else if (!strcmp(name, "samples"))
    g->samples = (int)iv;
  else if (!strcmp(name, "augment"))
    g->augment = (int)iv;
  else if (!strcmp(name, "ref_mode")) {
    static const dlut_grade_ref_mode k_modes[] = {DLUT_GRADE_REF_IMAGE, DLUT_GRADE_REF_ANCHOR, DLUT_GRADE_REF_ENHANCE,
                                                  DLUT_GRADE_REF_REPLACE};
    g->ref_mode = k_modes[ev];
    o->ref_mode_set = 1;
  } else if (!strcmp(name, "ref_scale"))
    g->ref_scale = (float)fv;
  else if (!strcmp(name, "transfer"))
    g->ref_transfer_init = bv;
  else if (!strcmp(name, "start"))
    o->start_look = ev == 0;
  else if (!strcmp(name, "strength"))
    o->strength = (float)fv;
  else if (!strcmp(name, "quality"))
    o->quality = (int)iv;
  else if (!strcmp(name, "fast_encode"))
    o->fast_encode = bv;
  else if (!strcmp(name, "color_strength"))
    o->color_strength = (float)fv;
  else if (!strcmp(name, "tone_strength"))
    o->tone_strength = (float)fv;
  else if (!strcmp(name, "skin_protect"))
    o->skin_protect = bv;
  else if (!strcmp(name, "feather"))
    o->feather = (float)fv;
  else if (!strcmp(name, "mask_threshold"))
    o->mask_threshold = (float)fv;
  return 0;
}

static int region_text(const char *what, const char *v) {
  size_t n = v ? strlen(v) : 0;
  if (!n) return dlut_errorc(DLUT_ERR_INPUT, "a region's %s is empty", what);
  if (n > 1024) return dlut_errorc(DLUT_ERR_TOO_LARGE, "a region's %s is longer than 1024 bytes", what);
  if (!dlut_utf8_valid(v, n)) return dlut_errorc(DLUT_ERR_INPUT, "a region's %s is not valid UTF-8 text", what);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
      return dlut_errorc(DLUT_ERR_INPUT, "a region's %s holds a control character", what);
  return 0;
}

int dlut_job_opts_add_region(dlut_job_opts *o, dlut_job_region_kind kind, const char *where, const char *prompt) {
  if (o->n_regions >= DLUT_REGION_MAX)
    return dlut_errorc(DLUT_ERR_INPUT, "at most %d regions (--region and --mask together)", DLUT_REGION_MAX);
  if (kind != DLUT_JOB_REGION_TEXT && kind != DLUT_JOB_REGION_MASK)
    return dlut_errorc(DLUT_ERR_INPUT, "unknown region kind %d", (int)kind);
  if (region_text(kind == DLUT_JOB_REGION_TEXT ? "text (what to find)" : "matte name", where) != 0 ||
      region_text("prompt", prompt) != 0)
    return -1;
  dlut_job_region *r = &o->regions[o->n_regions];
  r->kind = kind;
  r->where = strdup(where);
  r->prompt = strdup(prompt);
  if (!r->where || !r->prompt) {
    free(r->where);
    free(r->prompt);
    r->where = r->prompt = NULL;
    return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  }
  o->n_regions++;
  return 0;
}

int dlut_job_opts_add_region_spec(dlut_job_opts *o, const char *spec) {
  const char *eq = spec ? strchr(spec, '=') : NULL;
  if (!eq)
    return dlut_errorc(DLUT_ERR_INPUT, "give the region and the look as \"WHERE=PROMPT\", not '%.80s'",
                       spec ? spec : "");
  const size_t wl = (size_t)(eq - spec);
  if (wl > 1024) return dlut_errorc(DLUT_ERR_TOO_LARGE, "a region's text (what to find) is longer than 1024 bytes");
  char where[1025];
  memcpy(where, spec, wl);
  where[wl] = 0;
  return dlut_job_opts_add_region(o, DLUT_JOB_REGION_TEXT, where, eq + 1);
}

int dlut_job_preflight(const dlut_job_opts *o, const dlut_job_preflight_info *p) {
  if (p->n_photos < 1) return dlut_errorc(DLUT_ERR_INPUT, "no photo");
  if (p->n_photos > DLUT_GRADE_SET_MAX)
    return dlut_errorc(DLUT_ERR_TOO_LARGE, "%d photos in one set; at most %d", p->n_photos, DLUT_GRADE_SET_MAX);
  if (o->n_regions && p->n_photos > 1)
    return dlut_errorc(DLUT_ERR_INPUT, "regions belong to one photo: grade a set of photos without regions");
  if (o->n_regions && o->camlog >= 0)
    return dlut_errorc(DLUT_ERR_INPUT, "regions grade one photo in sRGB, not log footage (input=%s)",
                       dlut_camlog_name((dlut_camlog)o->camlog));
  for (int i = 0; i < o->n_regions; i++) {
    const dlut_job_region *r = &o->regions[i];
    if (r->kind == DLUT_JOB_REGION_TEXT && p->has_model == 0)
      return dlut_errorc(DLUT_ERR_INPUT,
                         "region %d (\"%s=%s\"): finding \"%s\" in the photo needs a CLIP model, and there is none "
                         "here; give a matte (mask) of it instead",
                         i + 1, r->where, r->prompt, r->where);
    if (r->kind != DLUT_JOB_REGION_MASK) continue;
    if (p->mask_width[i] < 1 || p->mask_height[i] < 1)
      return dlut_errorc(DLUT_ERR_INPUT, "region %d (%s): no matte image given", i + 1, r->where);
    if (p->width > 0 && p->height > 0 &&
        dlut_mask_shape_check(p->mask_width[i], p->mask_height[i], p->width, p->height) != 0) {
      char why[512];
      snprintf(why, sizeof why, "%s", dlut_last_error());
      return dlut_errorc(DLUT_ERR_INPUT, "region %d (%s): %s", i + 1, r->where, why);
    }
  }
  return 0;
}

int dlut_job_opts_finish(dlut_job_opts *o, int has_ref) {
  /* a prompt of only spaces and line ends (the no-break and the ideographic space too) says nothing:
   * as no prompt */
  int blank = 1;
  for (const char *p = o->prompt; p && *p && blank;) {
    if (strchr(" \t\r\n", *p))
      p++;
    else if (!strncmp(p, "\xC2\xA0", 2))
      p += 2;
    else if (!strncmp(p, "\xE3\x80\x80", 3))
      p += 3;
    else
      blank = 0;
  }
  if (o->prompt && blank) {
    free(o->prompt);
    o->prompt = NULL;
  }
  const int has_prompt = o->prompt != NULL;
  if (!has_ref && !has_prompt)
    return dlut_errorc(DLUT_ERR_INPUT, "empty prompt: say what the grade should look like, e.g. \"warm sunset film\"");
  if (o->grade.ref_transfer_init && !has_ref) return dlut_errorc(DLUT_ERR_INPUT, "transfer needs a reference photo");
  if (o->n_edits > 0 && !has_ref) return dlut_errorc(DLUT_ERR_INPUT, "edits change a reference photo: give one");
  if (o->n_edits > 0 && o->ref_mode_set)
    return dlut_errorc(DLUT_ERR_INPUT, "give either edits or ref_mode (edits replace it)");
  o->grade.ref_edits = o->n_edits > 0 ? o->edits : NULL;
  o->grade.n_ref_edits = o->n_edits;
  if (o->n_edits > 0) o->grade.ref_mode = DLUT_GRADE_REF_IMAGE; /* unused: the edits say it */
  if (has_ref && !o->ref_mode_set && o->n_edits == 0)
    o->grade.ref_mode = has_prompt ? DLUT_GRADE_REF_ANCHOR : DLUT_GRADE_REF_IMAGE;
  if (!has_ref && o->ref_mode_set) return dlut_errorc(DLUT_ERR_INPUT, "ref_mode needs a reference photo");
  if (has_ref && o->grade.ref_mode != DLUT_GRADE_REF_IMAGE && !has_prompt)
    return dlut_errorc(DLUT_ERR_INPUT, "ref_mode %s edits the reference with text: give a prompt",
                       o->grade.ref_mode == DLUT_GRADE_REF_ANCHOR    ? "anchor"
                       : o->grade.ref_mode == DLUT_GRADE_REF_ENHANCE ? "enhance"
                                                                     : "replace");
  o->grade.prompt = has_prompt ? o->prompt : NULL;
  o->grade.source_prompt = o->source && *o->source ? o->source : NULL;
  o->grade.ref_anchor = o->ref_anchor && *o->ref_anchor ? o->ref_anchor : NULL;
  return 0;
}

int dlut__job_save_image(const dlut_image *img, const char *path, const dlut_image_save_opts *so,
                         const dlut_job_opts *o) {
  dlut_image_save_opts s = {0};
  if (so) s = *so;
  if (o && o->stop) s.stop = o->stop, s.stop_user = o->stop_user;
  if (dlut_image_save(img, path, &s) == 0) return 0;
  if (dlut_last_error_code() == DLUT_ERR_CANCELLED && o && o->stop) {
    if (dlut_job_stop_check(o) == 0) return dlut_errorc(DLUT_ERR_CANCELLED, "cancelled"); /* (asked once more) */
  }
  return -1;
}

int dlut_job_stop_check(const dlut_job_opts *o) {
  const int why = o && o->stop ? o->stop(o->stop_user) : 0;
  if (!why) return 0;
  if (why == DLUT_ERR_TIMEOUT) return dlut_errorc(DLUT_ERR_TIMEOUT, "stopped: past the time limit");
  return dlut_errorc(DLUT_ERR_CANCELLED, "cancelled");
}
