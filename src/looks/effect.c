/* The effect language of the vocabulary ("temp=+1.6 shadow=200@16
 * hue.green=+30"; see vocab.c for the grammar), the table of dlut_look
 * fields it names, and dlut_look_describe. Numbers are parsed by hand so
 * the result does not depend on the C locale. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dlut/error.h"
#include "looks/looks_internal.h"

_Static_assert(sizeof(dlut_look) == LOOKS_NFIELDS * sizeof(float), "dlut_look must be a packed array of floats");

#define F(field) ((int)(offsetof(dlut_look, field) / sizeof(float)))

/* Scalar fields by name, and the scale used to compare fields (caps). */
static const struct {
  const char *name;
  int index;
} k_scalars[] = {
    {"temp", F(temp)},
    {"tint", F(tint)},
    {"exposure", F(exposure)},
    {"bright", F(brightness)},
    {"contrast", F(contrast)},
    {"shadows", F(shadows)},
    {"highlights", F(highlights)},
    {"fade", F(fade)},
    {"crush", F(crush)},
    {"rolloff", F(rolloff)},
    {"sat", F(saturation)},
    {"vib", F(vibrance)},
    {"mono", F(mono)},
    {"clip", F(clip)},
    {"mono.r", F(mono_mix[0])},
    {"mono.g", F(mono_mix[1])},
    {"mono.b", F(mono_mix[2])},
    {"skin_follow", F(skin_follow)},
    {"tint_ends", F(tint_ends)},
    {"shadow_sat", F(shadow_sat)},
    {"highlight_sat", F(highlight_sat)},
    {"keep_neutral", F(keep_neutral)},
};

float looks_field_scale(int i) {
  if (i >= F(shadow_ab[0]) && i <= F(cast_ab[1])) return 20.0f;
  if (i >= F(band_hue[0]) && i < F(band_hue[0]) + DLUT_LOOK_NBANDS) return 30.0f;
  return 1.0f;
}

/* Strict decimal: [+-]digits[.digits]; advances *s. */
static int parse_num(const char **s, float *out) {
  const char *p = *s;
  double sign = 1, v = 0, scale = 1;
  int digits = 0;
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0'), digits++;
  if (*p == '.') {
    p++;
    while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0'), scale *= 10, digits++;
  }
  if (!digits) return -1;
  *out = (float)(sign * v / scale);
  *s = p;
  return 0;
}

int looks_effect_apply(const char *effect, float weight, dlut_look *look) {
  float *f = (float *)look;
  const char *p = effect;
  while (*p) {
    while (*p == ' ') p++;
    if (!*p) break;
    const char *eq = strchr(p, '=');
    const char *end = strchr(p, ' ');
    if (!end) end = p + strlen(p);
    if (!eq || eq > end) return dlut_error("looks effect '%s': item without '='", effect);
    size_t klen = (size_t)(eq - p);
    const char *v = eq + 1;
    float a, c;
    if (parse_num(&v, &a) != 0) return dlut_error("looks effect '%s': bad number", effect);
    int done = 0;
    if (*v == '@') { /* H@C: a hue and a chroma */
      v++;
      if (parse_num(&v, &c) != 0) return dlut_error("looks effect '%s': bad chroma", effect);
      int base = -1;
      if (klen == 6 && memcmp(p, "shadow", 6) == 0) base = F(shadow_ab[0]);
      if (klen == 9 && memcmp(p, "highlight", 9) == 0) base = F(highlight_ab[0]);
      if (klen == 4 && memcmp(p, "cast", 4) == 0) base = F(cast_ab[0]);
      if (base < 0) return dlut_error("looks effect '%s': unknown toning '%.*s'", effect, (int)klen, p);
      double h = a * M_PI / 180.0;
      f[base] += weight * c * (float)cos(h);
      f[base + 1] += weight * c * (float)sin(h);
      done = 1;
    } else if ((klen > 4 && (memcmp(p, "hue.", 4) == 0 || memcmp(p, "sat.", 4) == 0 || memcmp(p, "lum.", 4) == 0)) ||
               (klen > 5 && memcmp(p, "keep.", 5) == 0)) {
      const size_t pre = p[0] == 'k' ? 5 : 4;
      int base = p[0] == 'h'   ? F(band_hue[0])
                 : p[0] == 's' ? F(band_sat[0])
                 : p[0] == 'l' ? F(band_lum[0])
                               : F(band_keep[0]);
      for (int k = 0; k < DLUT_LOOK_NBANDS && !done; k++)
        if (strlen(dlut_looks_band_name[k]) == klen - pre &&
            memcmp(p + pre, dlut_looks_band_name[k], klen - pre) == 0) {
          f[base + k] += weight * a;
          done = 1;
        }
    } else {
      for (size_t k = 0; k < sizeof k_scalars / sizeof k_scalars[0] && !done; k++)
        if (strlen(k_scalars[k].name) == klen && memcmp(p, k_scalars[k].name, klen) == 0) {
          f[k_scalars[k].index] += weight * a;
          done = 1;
        }
    }
    if (!done) return dlut_error("looks effect '%s': unknown field '%.*s'", effect, (int)klen, p);
    if (v != end) return dlut_error("looks effect '%s': junk after a value", effect);
    p = end;
  }
  return 0;
}

static size_t append(char *buf, size_t len, size_t at, const char *fmt, double v, const char *name) {
  if (len == 0) return at;
  if (at >= len - 1) return at;
  int n = snprintf(buf + at, len - at, fmt, at ? " " : "", name, v);
  if (n < 0) return at;
  at += (size_t)n;
  return at < len - 1 ? at : len - 1;
}

size_t dlut_look_describe(const dlut_look *look, char *buf, size_t len) {
  const float *f = (const float *)look;
  size_t at = 0;
  if (len) buf[0] = '\0';
  for (size_t k = 0; k < sizeof k_scalars / sizeof k_scalars[0]; k++)
    if (fabsf(f[k_scalars[k].index]) >= 0.005f)
      at = append(buf, len, at, "%s%s=%+.2f", f[k_scalars[k].index], k_scalars[k].name);
  static const char *const ab_names[3] = {"shadow", "highlight", "cast"};
  const int ab_base[3] = {F(shadow_ab[0]), F(highlight_ab[0]), F(cast_ab[0])};
  for (int k = 0; k < 3; k++) {
    float a = f[ab_base[k]], b = f[ab_base[k] + 1];
    float c = sqrtf(a * a + b * b);
    if (c < 0.05f) continue;
    float h = atan2f(b, a) * 180.0f / (float)M_PI;
    if (h < 0) h += 360.0f;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s=%.0f@%.1f", ab_names[k], h, c);
    at = append(buf, len, at, "%s%s", 0, tmp);
  }
  static const char *const band_kind[4] = {"hue", "sat", "lum", "keep"};
  const int band_base[4] = {F(band_hue[0]), F(band_sat[0]), F(band_lum[0]), F(band_keep[0])};
  for (int k = 0; k < 4; k++)
    for (int b = 0; b < DLUT_LOOK_NBANDS; b++) {
      float v = f[band_base[k] + b];
      if (fabsf(v) < 0.005f) continue;
      char tmp[32];
      snprintf(tmp, sizeof tmp, "%s.%s", band_kind[k], dlut_looks_band_name[b]);
      at = append(buf, len, at, "%s%s=%+.2f", v, tmp);
    }
  return at;
}
