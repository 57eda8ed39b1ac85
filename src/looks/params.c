/* A look's parameters by name: the table of dlut_look fields (name,
 * position, length, accepted range, and whether a field is colour or tone),
 * the JSON form of a look (dlut_look_to_json / dlut_look_from_json) and the
 * separate colour and tone strengths (dlut_look_scale). Every function here
 * walks the table, so a new dlut_look field needs one line in k_fields (the
 * static assertion below fails until the table covers the whole struct).
 *
 * The JSON is read as hostile input: size and UTF-8 checked before parsing,
 * every member a known field given once, numbers finite and inside the
 * field's accepted range, arrays of the field's exact length; the first
 * problem is the error, named by field. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "dlut/error.h"
#include "dlut/looks.h"
#include "dlut/text.h"
#include "looks/looks_internal.h"

enum { KIND_COLOR, KIND_TONE, KIND_NONE }; /* which strength scales the field */

#define F(field) ((int)(offsetof(dlut_look, field) / sizeof(float)))
#define N(field) ((int)(sizeof(((dlut_look *)0)->field) / sizeof(float)))

/* The accepted range is wider than the working range of dlut/looks.h: a
 * prompt's terms add up beyond it and the model soft-limits or clamps the
 * sums (so "very very warm" is still a valid look); the bounds only keep out
 * values no prompt makes. */
static const struct {
  const char *name; /* JSON member, the dlut_look field's name */
  int index, count; /* position in dlut_look seen as floats, number of floats */
  float lo, hi;     /* accepted range of each value */
  int kind;         /* KIND_* */
} k_fields[] = {
    {"temp", F(temp), N(temp), -50, 50, KIND_COLOR},
    {"tint", F(tint), N(tint), -50, 50, KIND_COLOR},
    {"exposure", F(exposure), N(exposure), -50, 50, KIND_TONE},
    {"brightness", F(brightness), N(brightness), -50, 50, KIND_TONE},
    {"contrast", F(contrast), N(contrast), -50, 50, KIND_TONE},
    {"shadows", F(shadows), N(shadows), -50, 50, KIND_TONE},
    {"highlights", F(highlights), N(highlights), -50, 50, KIND_TONE},
    {"fade", F(fade), N(fade), -50, 50, KIND_TONE},
    {"crush", F(crush), N(crush), -50, 50, KIND_TONE},
    {"rolloff", F(rolloff), N(rolloff), -50, 50, KIND_TONE},
    {"saturation", F(saturation), N(saturation), -50, 50, KIND_COLOR},
    {"vibrance", F(vibrance), N(vibrance), -50, 50, KIND_COLOR},
    {"mono", F(mono), N(mono), -50, 50, KIND_COLOR},
    {"mono_mix", F(mono_mix), N(mono_mix), -50, 50, KIND_COLOR},
    {"shadow_ab", F(shadow_ab), N(shadow_ab), -500, 500, KIND_COLOR},
    {"highlight_ab", F(highlight_ab), N(highlight_ab), -500, 500, KIND_COLOR},
    {"cast_ab", F(cast_ab), N(cast_ab), -500, 500, KIND_COLOR},
    {"band_hue", F(band_hue), N(band_hue), -500, 500, KIND_COLOR},
    {"band_sat", F(band_sat), N(band_sat), -50, 50, KIND_COLOR},
    {"band_lum", F(band_lum), N(band_lum), -50, 50, KIND_COLOR},
    {"clip", F(clip), N(clip), -50, 50, KIND_NONE},                      /* a switch: on above 0.5 */
    {"skin_follow", F(skin_follow), N(skin_follow), -50, 50, KIND_NONE}, /* 0 = skin protected */
    {"tint_ends", F(tint_ends), N(tint_ends), -50, 50, KIND_NONE},       /* 0 = pure white and black neutral */
    {"shadow_sat", F(shadow_sat), N(shadow_sat), -50, 50, KIND_COLOR},
    {"highlight_sat", F(highlight_sat), N(highlight_sat), -50, 50, KIND_COLOR},
    {"band_keep", F(band_keep), N(band_keep), -50, 50, KIND_NONE},          /* 1 = the band keeps its colour */
    {"keep_neutral", F(keep_neutral), N(keep_neutral), -50, 50, KIND_NONE}, /* 1 = near-greys keep theirs */
};
#define NFIELDS ((int)(sizeof k_fields / sizeof k_fields[0]))

/* The table covers the struct exactly: the counts add up to every float of it. */
static int table_floats(void) {
  int n = 0;
  for (int i = 0; i < NFIELDS; i++) n += k_fields[i].count;
  return n;
}

int dlut_look_field_count(void) {
  return NFIELDS;
}

const char *dlut_look_field_name(int i, int *count) {
  if (i < 0 || i >= NFIELDS) return NULL;
  if (count) *count = k_fields[i].count;
  return k_fields[i].name;
}

/* ==== Strengths ==== */

int dlut_look_scale(dlut_look *look, float color, float tone) {
  if (!look) return dlut_error("looks: NULL look");
  if (!(color >= 0 && color <= DLUT_LOOK_MAX_STRENGTH) || !(tone >= 0 && tone <= DLUT_LOOK_MAX_STRENGTH))
    return dlut_error("looks: strengths must be numbers from 0 to %g (colour %g, tone %g)",
                      (double)DLUT_LOOK_MAX_STRENGTH, (double)color, (double)tone);
  if (table_floats() != (int)(sizeof(dlut_look) / sizeof(float)))
    return dlut_error("looks: the field table does not cover dlut_look (a bug)");
  float *f = (float *)look;
  for (int i = 0; i < NFIELDS; i++) {
    if (k_fields[i].kind == KIND_NONE) continue;
    float s = k_fields[i].kind == KIND_COLOR ? color : tone;
    for (int k = 0; k < k_fields[i].count; k++) f[k_fields[i].index + k] *= s;
  }
  return 0;
}

/* ==== JSON ==== */

/* The shortest decimal that reads back as the same float (2.91, not 2.9100000858306885), as a double
 * that cJSON prints in full: what is written is exact and readable. */
static double shortest(float f) {
  char buf[32];
  for (int prec = 6; prec <= 9; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
    double d = strtod(buf, NULL);
    if ((float)d == f) return d;
  }
  return (double)f;
}

static const char *match_name(const dlut_looks_match *m, char *buf, size_t len) {
  return dlut_looks_match_name(m, buf, len);
}

char *dlut_look_to_json(const dlut_look *look, const dlut_looks_report *rep) {
  cJSON *o = NULL, *p = NULL;
  char *text = NULL;
  if (!look) {
    dlut_error("looks: NULL look");
    return NULL;
  }
  if (table_floats() != (int)(sizeof(dlut_look) / sizeof(float))) {
    dlut_error("looks: the field table does not cover dlut_look (a bug)");
    return NULL;
  }
  if (!(o = cJSON_CreateObject())) goto nomem;
  if (rep) {
    if (!cJSON_AddStringToObject(o, "understood", rep->understood) ||
        !cJSON_AddStringToObject(o, "ignored", rep->ignored) || !cJSON_AddStringToObject(o, "scene", rep->scene) ||
        !cJSON_AddStringToObject(o, "corrected", rep->corrected) ||
        !cJSON_AddStringToObject(o, "suggested", rep->suggested) ||
        !cJSON_AddBoolToObject(o, "photo_cast", rep->neutral_wb != 0)) /* the photo's cast is to go (grade) */
      goto nomem;
    cJSON *arr = cJSON_AddArrayToObject(o, "matches");
    if (!arr) goto nomem;
    for (int i = 0; i < rep->n_matches; i++) {
      char name[64];
      cJSON *m = cJSON_CreateObject();
      if (!m || !cJSON_AddItemToArray(arr, m)) {
        cJSON_Delete(m);
        goto nomem;
      }
      if (!cJSON_AddStringToObject(m, "text", rep->matches[i].text) ||
          !cJSON_AddStringToObject(m, "term", match_name(&rep->matches[i], name, sizeof name)) ||
          !cJSON_AddNumberToObject(m, "weight", round((double)rep->matches[i].weight * 1e4) / 1e4) ||
          !cJSON_AddBoolToObject(m, "capped", rep->matches[i].capped != 0))
        goto nomem;
    }
  }
  char desc[2048];
  dlut_look_describe(look, desc, sizeof desc);
  if (!cJSON_AddStringToObject(o, "look", desc)) goto nomem;
  if (!(p = cJSON_AddObjectToObject(o, "params"))) goto nomem;
  const float *f = (const float *)look;
  for (int i = 0; i < NFIELDS; i++) {
    /* values beyond the accepted range (only from absurd prompts: the model has long saturated
     * there) are written at the bound, so that everything written reads back */
    cJSON *v;
    if (k_fields[i].count == 1) {
      double x = f[k_fields[i].index];
      x = isfinite(x) ? fmin(fmax(x, k_fields[i].lo), k_fields[i].hi) : 0;
      v = cJSON_CreateNumber(shortest((float)x));
    } else {
      v = cJSON_CreateArray();
      for (int k = 0; v && k < k_fields[i].count; k++) {
        double x = f[k_fields[i].index + k];
        x = isfinite(x) ? fmin(fmax(x, k_fields[i].lo), k_fields[i].hi) : 0;
        cJSON *e = cJSON_CreateNumber(shortest((float)x));
        if (!e || !cJSON_AddItemToArray(v, e)) {
          cJSON_Delete(e);
          cJSON_Delete(v);
          v = NULL;
        }
      }
    }
    if (!v || !cJSON_AddItemToObject(p, k_fields[i].name, v)) {
      cJSON_Delete(v);
      goto nomem;
    }
  }
  text = cJSON_Print(o);
  if (!text) goto nomem;
  cJSON_Delete(o);
  return text;
nomem:
  cJSON_Delete(o);
  dlut_error("looks: out of memory writing the look as JSON");
  return NULL;
}

/* One number of field i (element k) from item v. */
static int read_value(const cJSON *v, int i, int k, float *out) {
  const char *name = k_fields[i].name;
  char where[48];
  if (k_fields[i].count > 1)
    snprintf(where, sizeof where, "%s[%d]", name, k);
  else
    snprintf(where, sizeof where, "%s", name);
  if (!cJSON_IsNumber(v)) return dlut_error("looks params: '%s' must be a number", where);
  double x = v->valuedouble;
  if (!isfinite(x)) return dlut_error("looks params: '%s' is not a finite number", where);
  if (x < k_fields[i].lo || x > k_fields[i].hi)
    return dlut_error("looks params: '%s' is %g, outside %g..%g", where, x, (double)k_fields[i].lo,
                      (double)k_fields[i].hi);
  *out = (float)x;
  return 0;
}

int dlut_look_from_json(const char *text, size_t len, dlut_look *look) {
  cJSON *root = NULL;
  int ret = -1;
  if (!text || !look) return dlut_error("looks params: NULL argument");
  dlut_look_init(look);
  if (len > DLUT_LOOK_MAX_JSON) return dlut_error("looks params: %zu bytes (max %d)", len, DLUT_LOOK_MAX_JSON);
  if (!dlut_utf8_valid(text, len)) return dlut_error("looks params: not valid UTF-8");
  if (table_floats() != (int)(sizeof(dlut_look) / sizeof(float)))
    return dlut_error("looks: the field table does not cover dlut_look (a bug)");
  const char *end = NULL;
  root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  if (!root) {
    size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
    size_t line = 1;
    for (size_t i = 0; i < at; i++) line += text[i] == '\n';
    return dlut_error("looks params: not valid JSON (line %zu, byte %zu; nesting is limited to %d levels)", line, at,
                      CJSON_NESTING_LIMIT);
  }
  for (const char *p = end; p && p < text + len; p++)
    if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t' && *p != '\0') {
      dlut_error("looks params: text after the JSON value");
      goto done;
    }
  if (!cJSON_IsObject(root)) {
    dlut_error("looks params: the JSON must be an object (the params, or `dlut looks --json` output)");
    goto done;
  }
  /* `dlut looks --json` output: its "params" member; the rest describes the prompt */
  const cJSON *params = root;
  const cJSON *wrapped = cJSON_GetObjectItemCaseSensitive(root, "params");
  if (wrapped) {
    if (!cJSON_IsObject(wrapped)) {
      dlut_error("looks params: 'params' must be an object");
      goto done;
    }
    params = wrapped;
  }
  float *f = (float *)look;
  unsigned char seen[64] = {0};
  _Static_assert(NFIELDS <= 64, "seen[] too small");
  for (const cJSON *it = params->child; it; it = it->next) {
    int i;
    for (i = 0; i < NFIELDS; i++)
      if (it->string && strcmp(it->string, k_fields[i].name) == 0) break;
    if (i == NFIELDS) {
      char shown[40];
      snprintf(shown, sizeof shown, "%s", it->string ? it->string : "");
      dlut_error("looks params: unknown field '%s%s' (run `dlut looks PROMPT --json` for the names)", shown,
                 it->string && strlen(it->string) >= sizeof shown ? "..." : "");
      goto done;
    }
    if (seen[i]++) {
      dlut_error("looks params: '%s' is given twice", k_fields[i].name);
      goto done;
    }
    if (k_fields[i].count == 1) {
      if (read_value(it, i, 0, &f[k_fields[i].index]) != 0) goto done;
      continue;
    }
    if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != k_fields[i].count) {
      dlut_error("looks params: '%s' must be an array of %d numbers", k_fields[i].name, k_fields[i].count);
      goto done;
    }
    int k = 0;
    for (const cJSON *e = it->child; e; e = e->next, k++)
      if (read_value(e, i, k, &f[k_fields[i].index + k]) != 0) goto done;
  }
  ret = 0;
done:
  cJSON_Delete(root);
  if (ret != 0) dlut_look_init(look);
  return ret;
}

/* ==== Prompt to LUT with strengths ==== */

int dlut_looks_bake_prompt_photos(const char *prompt, int lut_size, float color, float tone, int skin_protect,
                                  const dlut_image *const *photos, int n_photos, dlut_lut **out,
                                  dlut_looks_report *report, double cast[3]) {
  dlut_look look;
  dlut_looks_report local;
  if (!out) return dlut_error("looks: NULL output");
  *out = NULL;
  if (cast) cast[0] = cast[1] = cast[2] = 0.0;
  if (lut_size == 0) lut_size = DLUT_LOOKS_DEFAULT_SIZE;
  if (lut_size < 2 || lut_size > DLUT_LUT_MAX_SIZE)
    return dlut_error("looks: LUT size %d out of range (2..%d)", lut_size, DLUT_LUT_MAX_SIZE);
  if (!report) report = &local;
  if (dlut_looks_parse(prompt, &look, report) != 0) return -1;
  if (!skin_protect) look.skin_follow = 1.0f;
  if (dlut_look_scale(&look, color, tone) != 0) return -1;
  if (report->neutral_wb && photos && n_photos > 0 && dlut_look_neutralize(&look, photos, n_photos, color, cast) != 0)
    return -1;
  *out = dlut_look_bake(&look, lut_size);
  return *out ? 0 : -1;
}

int dlut_looks_bake_prompt(const char *prompt, int lut_size, float color, float tone, int skin_protect, dlut_lut **out,
                           dlut_looks_report *report) {
  return dlut_looks_bake_prompt_photos(prompt, lut_size, color, tone, skin_protect, NULL, 0, out, report, NULL);
}
