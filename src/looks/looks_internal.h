/* looks/looks_internal.h - shared between the files of src/looks/ (not public). */
#ifndef DLUT_LOOKS_INTERNAL_H
#define DLUT_LOOKS_INTERNAL_H

#include "dlut/looks.h"

#define LOOKS_GAMUT_KNEE 0.85  /* for strong looks, soft gamut compression starts at 85% of the way to the boundary */
#define LOOKS_GAMUT_SLACK 0.02 /* the gamut's lower bound, for the compression, at -2% of the luminance (model.c) */
#define LOOKS_GAMUT_ITERS 24   /* at most this many regula falsi steps for the gamut compression's chroma factor ... */
#define LOOKS_GAMUT_TOL 1e-5   /* ... which stop once the excursion is this close to its target */
#define LOOKS_SKIN_HUE 55.0    /* CIELAB hue (degrees) at the centre of the skin-tone window */
#define LOOKS_SKIN_COS 0.57357643635104609     /* cos(55 deg) */
#define LOOKS_SKIN_SIN 0.81915204428899179     /* sin(55 deg) */
#define LOOKS_SKIN_KEEP 0.92                   /* how much of the look's colour change a full skin tone is spared */
#define LOOKS_SKIN_CMIN 0.9                    /* protected skin keeps at least this much of its chroma ... */
#define LOOKS_SKIN_CMAX 1.12                   /* ... and gains at most this much */
#define LOOKS_SKIN_TURN_SIN 0.0523359562429438 /* sin(3 deg): how far a full skin tone may turn (soft cap) */
#define LOOKS_SKIN_CAP_C0 5.0                  /* the cap fades in over this CIELAB chroma ... */
#define LOOKS_SKIN_CAP_C1 14.0                 /* ... to this */
#define LOOKS_WHITE_FROM 0.87 /* linear min channel from which a colour counts as near-white (0.94 encoded) */
#define LOOKS_TOE 0.35        /* tone controls keep a control point at least this fraction of its input from the ends */
#define LOOKS_END_RAMP 0.12   /* toning fades in over this much of L* / 100 from pure black and white */
#define LOOKS_BAND_COS_HALF 0.70710678118654752 /* cos(45 deg), the band half width */
#define LOOKS_NEUTRAL_C0 6.0                    /* keep_neutral: full below this CIELAB chroma of the input ... */
#define LOOKS_NEUTRAL_C1 20.0                   /* ... and none from this one */
#define LOOKS_OK_GREY 0.0057 /* OkLab chroma of CIELAB chroma 2: below it a colour has little hue to keep */

/* A look turned into the numbers both evaluation paths use. */
typedef struct looks_prepared {
  double wb[9];                     /* linear sRGB white-balance matrix, row-major, white normalised to not clip */
  double exposure;                  /* linear gain 2^ev */
  int shoulder;                     /* nonzero when exposure > 1: soft shoulder mapping `exposure` to 1 */
  double mono_w[3];                 /* channel-mixer weights, sum 1 */
  double mono;                      /* blend towards the mixer output */
  double ctrl_y[7];                 /* tone curve control values at x = 0 .1 .25 .5 .75 .9 1 */
  double ctrl_m[7];                 /* their Fritsch-Carlson tangents */
  double sat, vib;                  /* chroma multiplier, vibrance */
  double sat_shadow, sat_highlight; /* the tone-weighted chroma changes */
  double shadow_ab[2], highlight_ab[2], cast_ab[2];
  int any_band; /* nonzero if any hue band is active */
  double band_hue[DLUT_LOOK_NBANDS], band_sat[DLUT_LOOK_NBANDS], band_lum[DLUT_LOOK_NBANDS];
  double band_cos[DLUT_LOOK_NBANDS], band_sin[DLUT_LOOK_NBANDS]; /* unit vectors of the band centres */
  int clip;                                                      /* hard clip instead of soft gamut compression */
  double knee;                   /* soft gamut compression starts at this excursion (1 = only beyond the boundary) */
  double y_white;                /* luminance of white after the white balance (its lightness is restored to 1) */
  double skin;                   /* strength of the skin-tone protection, 0..1 (0 for monochrome) */
  double ends;                   /* strength of the white/black neutrality, 0..1 */
  double keep[DLUT_LOOK_NBANDS]; /* band_keep, clamped */
  int any_keep;                  /* nonzero when a band or the neutrals are spared */
  double keep_neutral;           /* keep_neutral, clamped */
  int any_protect;               /* nonzero when skin, ends or a kept band is active */
} looks_prepared;

/* OkLab (Ottosson 2020), the space whose hue the chroma operations keep (model.c):
 * linear sRGB -> LMS (m1), cube roots, -> L a b (m2), and the inverses, row-major. */
extern const double looks_ok_m1[9], looks_ok_m2[9], looks_ok_m2i[9], looks_ok_m1i[9];
void looks_oklab_from_linear(const double rgb[3], double ok[3]);
void looks_oklab_to_linear(const double ok[3], double rgb[3]);

extern const float dlut_looks_band_center[DLUT_LOOK_NBANDS];
extern const char *const dlut_looks_band_name[DLUT_LOOK_NBANDS];

void looks_prepare(const dlut_look *look, looks_prepared *p);
double looks_tone(const looks_prepared *p, double x); /* the tone curve on encoded values */
void looks_eval_prepared(const looks_prepared *p, const float in[3], float out[3]);

/* dlut_look seen as an array of floats (all its fields are floats). */
#define LOOKS_NFIELDS 60
float looks_field_scale(int field); /* typical magnitude of a field, for comparing them */

/* Apply an effect string ("temp=+1 shadow=200@8 hue.green=+20") scaled by
 * weight to a look. Returns 0, or -1 on a malformed string (a bug in the
 * vocabulary table; the tests parse every entry). */
int looks_effect_apply(const char *effect, float weight, dlut_look *look);

/* Named colours (CSS/X11 and Chinese traditional colours): sRGB 0..255. */
typedef struct looks_color_name {
  const char *en; /* English name ("teal"), may be NULL */
  const char *zh; /* Chinese name(s), '|' separated, may be NULL */
  unsigned char rgb[3];
  const char *src; /* "css" or "zh" */
} looks_color_name;
int looks_color_count(void);
const looks_color_name *looks_color_get(int i);

/* Stop words and clause separators (vocab.c); zh selects the Chinese list. */
int looks_stop_count(int zh);
const char *looks_stop_get(int zh, int i);
int looks_sep_count(int zh);
const char *looks_sep_get(int zh, int i);
int looks_sep_is_list(int zh, int i); /* 1 for the separators that join a list ("and", "or", 和, 与, 及, 或) */

/* Sliders: the names of an editor's controls that take their term and degree from a number beside them
 * ("temperature +20", "blacks -10"; vocab.c, parse.c). */
enum { LOOKS_SLIDER_TEMP, LOOKS_SLIDER_TINT, LOOKS_SLIDER_WHITES, LOOKS_SLIDER_BLACKS, LOOKS_SLIDER_SPATIAL };
typedef struct looks_slider {
  const char *en, *zh; /* '|'-separated forms */
  int kind;            /* LOOKS_SLIDER_* */
} looks_slider;
int looks_slider_count(void);
const looks_slider *looks_slider_get(int i);
/* The names of controls that "keep" holds ("highlights", 高光), the words that say the photo is so now
 * ("it looks", 照片), and those that make such a word a request ("make", 把) (vocab.c). */
int looks_control_noun_count(void);
const char *looks_control_noun_get(int i);
int looks_state_count(int zh);
const char *looks_state_get(int zh, int i);
int looks_except_count(int zh);
const char *looks_except_get(int zh, int i, int *only); /* "except", 除了; *only: "keep only", 只保留 */
int looks_request_word_count(void);
const char *looks_request_word_get(int i);

/* Film makers ('|'-separated forms of maker m, English or Chinese; NULL out of range) and the words that
 * name a stock's variant ("nc", "vc", "plus" ...), joined to the stock before them (vocab.c, parse.c). */
int looks_maker_count(void);
const char *looks_maker_forms(int m, int zh);
int looks_stock_variant_count(void);
const char *looks_stock_variant_get(int i);

/* The CIELAB hue of a faint cast that looks like the named colour (parse.c). */
double looks_color_cast_hue(const unsigned char rgb8[3]);

/* A traditional Chinese character's simplified form, or cp itself (hant.c). */
uint32_t looks_hant_to_hans(uint32_t cp);

/* A typing slip's term form ("cinematik": "cinematic"), or 0 (suggest.c). */
int looks_typo_fix(const char *w, int wn, const char **form);

/* Qualified edits (qualify.c). */
enum {
  LOOKS_QUAL_NONE,
  LOOKS_QUAL_SKY,
  LOOKS_QUAL_SKIN,
  LOOKS_QUAL_FOLIAGE,
  LOOKS_QUAL_SHADOWS,
  LOOKS_QUAL_HIGHLIGHTS,
  LOOKS_QUAL_WATER,
  LOOKS_QUAL_HUE, /* a colour named as the range to edit ("desaturate the blues", 绿色降饱和): looks_qualify_hue */
  LOOKS_QUAL_COUNT
};
const char *looks_qual_forms(int q, int zh); /* '|'-separated forms, NULL for none */
const char *looks_awb_forms(int zh);         /* "auto white balance", 校正白平衡 */
const char *looks_qual_name(int q);
const char *looks_cast_forms(int zh);
const char *looks_neutral_forms(int zh); /* "keep the greys neutral", 白色不要偏色 (parse.c: keep_neutral or AWB) */
int looks_is_chromatic(const dlut_look *d);                    /* the term moves colours (white balance, toning) */
void looks_qualify(const dlut_look *d, int q, dlut_look *out); /* d's effect confined to q's range */
void looks_band_desaturate(double hue_deg, float amount, dlut_look *out); /* "no blue": the blues lose chroma */
/* d's effect confined to the bands around CIELAB hue hue_deg, as the sky's to its bands ("the blues more cyan") */
void looks_qualify_hue(const dlut_look *d, double hue_deg, dlut_look *out);
void looks_hue_band_w(double hue_deg, float w[DLUT_LOOK_NBANDS]); /* the bands around a hue (raised cosine, 45 deg) */
void looks_qual_band_w(int q, float w[DLUT_LOOK_NBANDS]);         /* a qualifier's bands (0 for tone ranges) */

#endif
