/* dlut/looks.h - offline looks: grading language understood without a model.
 *
 * A prompt in English or Chinese ("温暖的日落胶片风", "cold teal night, high
 * contrast") is read against a fixed, documented vocabulary (colour
 * temperature and tint, named colours, tone, saturation, split toning,
 * monochrome, film stocks and looks, moods; see `dlut looks` and
 * docs/looks.md), with degrees and negations ("slightly", "very", "not
 * too", "一点", "非常", "不要", "别太"). The matched terms add up to a
 * parametric grade (dlut_look) which is baked into a standard 3D LUT. No
 * model, no files, a fraction of a millisecond for the parse and a few
 * milliseconds for a 33^3 bake.
 *
 * USAGE
 *     dlut_lut *lut = NULL;
 *     char understood[512], ignored[512];
 *     if (dlut_looks_from_prompt("cold teal night, high contrast", 33, &lut,
 *                                understood, sizeof understood, ignored, sizeof ignored) != 0)
 *       fprintf(stderr, "%s\n", dlut_last_error());
 *     // understood = "cold, teal, night, high contrast", ignored = ""
 *     dlut_lut_apply_image(lut, img, img, DLUT_INTERP_TETRAHEDRAL, 1.0f);
 *     dlut_lut_free(lut);
 *
 * Or in steps: dlut_looks_parse() fills a dlut_look and a report,
 * dlut_look_bake() turns any dlut_look into a LUT, dlut_look_eval() grades
 * single colours (the naive reference the bake is tested against).
 *
 * PARSING
 *   The prompt is NFKC-normalised and case-folded (full-width punctuation
 *   and letters become ASCII). English is split into words and matched by
 *   the longest phrase of up to four words; Chinese (any non-ASCII run) is
 *   segmented by longest match against the vocabulary. Modifiers:
 *     intensify  very, really, super, extremely, more, 非常, 很, 超, 特别, 更, 多一点 ...
 *     soften     slightly, a bit, a little, somewhat, 稍微, 有点, 一点, 一些, 略 ...
 *     direction  high/low, more/less, increase/reduce, 高/低, 强/弱, 提高/降低 ...
 *     negate     no, not, without, remove, 不, 不要, 没有, 别, 无, 去掉 (the term is
 *                reversed at half strength and capped: it cannot push its way
 *                at all; a negated colour loses its hues' chroma instead, and
 *                with a cast word, "remove the green cast", is corrected)
 *     cap        not too, 不要太, 别太, 不太 (X at most half its plain amount;
 *                a prompt that is only "not too X" gives a gentle X)
 *     too        too, 太, 过 (a complaint: less X); "X too" at the end is "also"
 *     enough     "not bright enough" is more of it
 *     keep       keep, preserve, 保留, 保持: before a control's name ("keep the
 *                highlights") that control stays at zero; else nothing
 *   A complaint needs no "too": "it looks washed out", "the photo is a bit
 *   dark", 照片有点灰 (a state word before a tone, colour, saturation or
 *   temperature word, with no request such as make / 把 / 调 before it)
 *   take the word back, as "too" does.
 *   Numbers set a control's degree as an editor's sliders do: "contrast +20",
 *   "saturation -30", 对比度+20 (-100..100, 50 = the plain word), "exposure
 *   +0.5", "+1 stop", "1/3 stop" (stops), "temperature 5600K", "色温 3200K"
 *   (the white balance set to that light; a kelvin value alone is a light
 *   of that colour), "tint +10", "blacks -10", "whites +20"; beside a look, a
 *   stock or a colour a number is its strength in percent ("portra 400 50%").
 *   A film stock's name is one term: a maker word (kodak, fuji, ilford,
 *   agfa, polaroid, lomography, cinestill, 柯达, 富士 ...) before or after one
 *   of its stocks, and a film speed or variant after any film term ("400",
 *   "100uv", "2", "nc", "vc", "hg", "plus" ...) join it: "Kodak Portra 160
 *   NC", "fuji neopan 1600", "Fuji Superia X-Tra 400" are one stock each; a
 *   maker alone keeps its own look (docs/looks.md).
 *   Qualifiers (sky, skin, foliage; shadows and highlights when their
 *   clause names a colour) confine the terms of their clause to that hue
 *   or tone range ("天空更蓝", "暗部偏青", "warmer skin"); see docs/looks.md.
 *   Prefix modifiers apply to the next term; postfix ones ("暖一点",
 *   "饱和度低一点", "contrast very high": a modifier after a term with no
 *   term after it in the clause) to the previous one. Two softeners do not
 *   compound; a term named twice counts once, at its strongest. Punctuation and "but",
 *   "and", "，" end a clause (modifiers do not cross it). Words that are
 *   neither terms, modifiers nor stop words ("the", "style", "的", "风") are
 *   reported as ignored, and so are non-ASCII symbols and emoji ("🔥").
 *
 * THE LOOK MODEL (dlut_look_eval, in this order, on sRGB-encoded input)
 *   1. decode to linear; white balance by Bradford chromatic adaptation
 *      from D65 to the white of a shifted correlated colour temperature
 *      (temp, in units of 25 mired) and tint (green-magenta), normalised
 *      so white does not clip; exposure (stops) with a soft shoulder
 *   2. channel mixer towards monochrome (mono, weights mono_mix)
 *   3. tone curve: a monotone cubic (Fritsch-Carlson) through control
 *      points set by brightness, contrast, shadows, highlights, fade
 *      (lifted blacks), crush (crushed blacks) and roll-off (soft, lowered
 *      whites). L* comes from the curve applied to the luminance (so it is
 *      monotone in every input channel); a* and b* from the curve applied
 *      to each encoded channel (as a print or a per-channel grade does)
 *   4. in CIELAB (L* untouched from here on, except by band_lum):
 *      saturation, vibrance, per-hue-band hue/saturation/lightness,
 *      split toning (shadow and highlight a*b* offsets), colour cast
 *      Then the protections: skin tones keep their hue and most of their
 *      chroma (skin_follow = 0), near-white keeps its colour (tint_ends = 0).
 *   5. back to sRGB with a soft, hue-preserving chroma compression (CIELAB
 *      chroma scaled, L* and hue kept), so nothing clips unless asked
 *      (clip > 0.5); it starts at the gamut boundary for the identity
 *      (which bakes to the identity) and at 85% of the way for looks that
 *      push colours hard.
 *   Sums of terms are soft-limited (L tanh(x/L)) for temp, tint,
 *   brightness, contrast, positive saturation and the toning vectors.
 *
 * OWNERSHIP AND ERRORS
 *   The LUT from dlut_looks_from_prompt/dlut_look_bake is the caller's
 *   (dlut_lut_free). Functions return 0 / -1 (NULL) with dlut_last_error()
 *   set. A prompt with nothing understood is NOT an error: the look is the
 *   identity and `understood` is empty (callers decide what to say).
 *   Prompts longer than DLUT_LOOKS_MAX_PROMPT bytes or not valid UTF-8 are
 *   errors. Thread-safe: no global mutable state after first use.
 */
#ifndef DLUT_LOOKS_H
#define DLUT_LOOKS_H

#include <stddef.h>

#include "dlut/image.h"
#include "dlut/lut.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DLUT_LOOKS_MAX_PROMPT 4096 /* bytes */
#define DLUT_LOOKS_DEFAULT_SIZE 33 /* lattice points per axis */
#define DLUT_LOOK_NBANDS 8         /* hue bands: red orange yellow green aqua blue purple magenta */

/* A parametric grade. All zeros is the identity (dlut_look_init), with
 * the two protections on (skin tones kept natural, pure white and black
 * kept neutral). Every field is additive: the terms of a prompt add their
 * effects, scaled by their degrees, and the sum is soft-limited or clamped
 * to the ranges given here. */
typedef struct dlut_look {
  float temp;            /* white balance, + warmer / - cooler, 1 = 25 mired (about 6500 K -> 5600 K); -4..4 */
  float tint;            /* + magenta / - green; 1 = (+0.0085, -0.007) in CIE 1960 (u, v) (soft-limited to 3); -4..4 */
  float exposure;        /* stops, -3..3 (positive with a soft shoulder, whites do not clip) */
  float brightness;      /* midtone lift, -1..1 (endpoints fixed) */
  float contrast;        /* S-curve around mid grey, -1..1.5 */
  float shadows;         /* lift (+) or deepen (-) the shadows, -1..1 */
  float highlights;      /* raise (+) or lower (-) the highlights, -1..1 */
  float fade;            /* lifted, milky blacks (matte), 0..1 */
  float crush;           /* crushed blacks: deep shadows pulled to black, 0..1 */
  float rolloff;         /* highlight roll-off: softer shoulder, lowered white, 0..1 */
  float saturation;      /* chroma x (1 + saturation); -1 = grey; -1..1.5 */
  float vibrance;        /* saturation weighted to muted colours, -1..1 */
  float mono;            /* blend towards monochrome, 0..1 */
  float mono_mix[3];     /* added to the Rec.709 luma weights for the mono channel mixer (colour filters) */
  float shadow_ab[2];    /* split toning: a*, b* added in the shadows (full at L* = 0), each -40..40 */
  float highlight_ab[2]; /* split toning: a*, b* added in the highlights (full at L* = 100) */
  float cast_ab[2];      /* a*, b* added across the midtones (a colour cast / wash) */
  float band_hue[DLUT_LOOK_NBANDS]; /* hue shift of each band in degrees, -60..60 */
  float band_sat[DLUT_LOOK_NBANDS]; /* chroma x (1 + band_sat) within the band, -1..1.5 */
  float band_lum[DLUT_LOOK_NBANDS]; /* L* shift within the band, in L* units x 10, -1..1 */
  float clip;                       /* 0 = soft gamut compression; 1 = hard clip only (asked for "clipped", "harsh") */
  float skin_follow;   /* 0 = skin tones protected (default), 1 = skin follows the look like every colour; 0..1 */
  float tint_ends;     /* 0 = pure white and black stay neutral (default), 1 = the look may tint them; 0..1 */
  float shadow_sat;    /* chroma x (1 + shadow_sat (1 - L* / 100)^2): the shadows' saturation, -1..1 */
  float highlight_sat; /* chroma x (1 + highlight_sat (L* / 100)^2): the highlights' saturation (a boost still
                          fades out at white), -1..1 */
  float band_keep[DLUT_LOOK_NBANDS]; /* how much of the look's colour change (a*, b*) each hue band of the input is
                                        spared, 0..1 ("black and white except the reds", 除了天空都降低饱和度) */
  float keep_neutral; /* how much of the look's colour change near-neutral colours (CIELAB chroma under about 10)
                         are spared, 0..1 ("warmer, but keep the greys neutral", 白色不要偏色) */
} dlut_look;

/* What the parser understood: one entry per matched term. */
#define DLUT_LOOKS_MAX_MATCHES 64
typedef struct dlut_looks_match {
  int term;      /* >= 0: index into the vocabulary (dlut_looks_term_get); < 0: named colour number -1-term */
  float weight;  /* the degree it was applied with (1 = plain; negative = reversed) */
  int capped;    /* nonzero: "not too"/"no": the term's direction is capped */
  char text[64]; /* the words as written (NFKC-normalised), with their modifiers */
} dlut_looks_match;

typedef struct dlut_looks_report {
  int n_matches;
  dlut_looks_match matches[DLUT_LOOKS_MAX_MATCHES];
  char understood[1024]; /* "warm, film, very high contrast" */
  char ignored[1024];    /* "vibes, xyz" */
  char
      suggested[512]; /* nearest vocabulary forms for the ignored words ("cinematic, portra"; see dlut_looks_suggest) */
  int neutral_wb;     /* "remove the colour cast", "auto white balance", 去掉偏色: the photo's own cast is to go
                         (dlut_look_neutralize; the look itself does not hold it) */
  char corrected[256]; /* typing slips read as the term meant: "cinematik → cinematic" (one edit from one term's
                          form for words of 6 letters or more, a swap or a doubled letter for 5; never a word of
                          the system's word list, /usr/share/dict/words) */
  char scene[256];     /* scene words read as what the photo shows, not graded: in a sentence with a request,
                          those before it ("a picture of mountains at sunrise, I want it cold": "sunrise") */
} dlut_looks_report;

/* The identity look. */
void dlut_look_init(dlut_look *look);

/* Parse a prompt into a look. report may be NULL. Returns 0, or -1 on a
 * prompt that is too long or not UTF-8. */
int dlut_looks_parse(const char *prompt, dlut_look *look, dlut_looks_report *report);

/* Grade one sRGB colour (encoded, 0..1; values outside are clamped) with
 * the look, in double precision, written for clarity. The reference the
 * bake is tested against. */
void dlut_look_eval(const dlut_look *look, const float in[3], float out[3]);

/* Bake a look into a new 3D LUT of `size` (2..DLUT_LUT_MAX_SIZE) points
 * per axis over [0,1]. Multi-threaded. NULL on bad size or no memory. */
dlut_lut *dlut_look_bake(const dlut_look *look, int size);

/* Parse and bake in one call (the entry point `dlut grade` uses without a
 * model). understood/ignored (may be NULL) receive comma-separated lists,
 * truncated to their lengths. lut_size 0 means DLUT_LOOKS_DEFAULT_SIZE. */
int dlut_looks_from_prompt(const char *prompt, int lut_size, dlut_lut **out, char *understood, size_t ulen,
                           char *ignored, size_t ilen);

/* The non-zero parameters of a look as "temp=+1.20 contrast=+0.30 ...";
 * returns the length written (truncated to len-1). */
size_t dlut_look_describe(const dlut_look *look, char *buf, size_t len);

/* ==== Suggestions, parameters as JSON, strengths (src/looks/suggest.c, params.c) ==== */

/* "Did you mean": for each word of a ", "-separated list of ignored words
 * (the report's `ignored`; the first 8 words), the nearest vocabulary
 * forms (English by Damerau-Levenshtein distance, at most 1 edit for 3-5
 * letters, 2 for 6-8, 3 beyond, or a prefix of 4+ letters; Chinese by the
 * longest common run of at least 2 characters), at most 3 a word, written
 * ", "-separated into out (truncated to len, each form once). Returns how
 * many words got a suggestion. dlut_looks_parse fills report->suggested
 * with it. dlut_looks_suggest_word does one word. */
int dlut_looks_suggest(const char *ignored, char *out, size_t len);
int dlut_looks_suggest_word(const char *word, char *out, size_t len);

/* A look as JSON text (malloc'd, the caller frees it): {"look": describe,
 * "params": {every dlut_look field by name: numbers, or arrays for
 * mono_mix (3), shadow_ab/highlight_ab/cast_ab (2: a*, b*), band_hue/
 * band_sat/band_lum (8, in the band order of DLUT_LOOK_NBANDS)}}, and with
 * a report also "understood", "ignored", "suggested" and "matches". Values
 * are exact (a float read back is the same float). NULL on no memory. */
char *dlut_look_to_json(const dlut_look *look, const dlut_looks_report *report);

/* Read a look from JSON text (len bytes, at most DLUT_LOOK_MAX_JSON): the
 * params object, or an object with a "params" member (the output of
 * dlut_look_to_json; its other members are ignored). Fields by name;
 * missing ones are the identity (0); an unknown name, a field given twice,
 * a wrong type or array length, a number that is not finite or outside the
 * field's accepted range, invalid UTF-8 or JSON are errors naming the
 * field (-1, look set to the identity). */
#define DLUT_LOOK_MAX_JSON (1 << 20)
int dlut_look_from_json(const char *text, size_t len, dlut_look *look);

/* The fields of dlut_look by name, in the JSON's order: count of them, and
 * the name of field i (count receives its number of floats). */
int dlut_look_field_count(void);
const char *dlut_look_field_name(int i, int *count);

/* Scale a look's colour fields (temp, tint, saturation, vibrance, mono and
 * its mixer, the toning vectors, the hue bands) by `color` and its tone
 * fields (exposure, brightness, contrast, shadows, highlights, fade, crush,
 * rolloff) by `tone`; 1 leaves them, 0 removes them, 2 doubles them (the
 * model then soft-limits the sums as for any prompt). Both 0..2; -1 when
 * out of range. */
#define DLUT_LOOK_MAX_STRENGTH 2.0f
int dlut_look_scale(dlut_look *look, float color, float tone);

/* Parse, scale and bake (the entry point of `dlut grade` without a model
 * and of the server): report (may be NULL) receives what was understood,
 * ignored and suggested. lut_size 0 means DLUT_LOOKS_DEFAULT_SIZE.
 * skin_protect 0 lets skin tones follow the look like every colour (the
 * protection is on by default in every look unless the prompt is about
 * skin). */
int dlut_looks_bake_prompt(const char *prompt, int lut_size, float color, float tone, int skin_protect, dlut_lut **out,
                           dlut_looks_report *report);

/* The same with the photos the LUT is for (n_photos >= 1; photos may be
 * NULL with n_photos 0, as dlut_looks_bake_prompt): a prompt that asks for
 * the photo's own colour cast to go ("remove the colour cast", "auto white
 * balance", 去掉偏色; report->neutral_wb) has it measured on them and taken
 * out (dlut_look_neutralize) after the scaling, `color` times (the colour
 * strength scales the correction too); cast (may be NULL) receives the
 * measured a*, b* and the fraction taken out (0 when nothing was). */
int dlut_looks_bake_prompt_photos(const char *prompt, int lut_size, float color, float tone, int skin_protect,
                                  const dlut_image *const *photos, int n_photos, dlut_lut **out,
                                  dlut_looks_report *report, double cast[3]);

/* The photos' colour cast: the mean CIELAB (a*, b*) of their opaque
 * near-neutral pixels (chroma < 14, L* 15..95); (0, 0) where under 2% of
 * the pixels are near neutral (no grey to judge a cast by). neutral_share
 * (may be NULL) receives that share. 0, or -1 with no photo. */
int dlut_looks_photo_cast(const dlut_image *const *photos, int n_photos, double cast_ab[2], double *neutral_share);

/* Change the look's white balance (temp, tint within -4..4), exposure (at
 * most 1 stop, keeping the cast's grey at its lightness) and, for what the
 * white balance cannot reach, its mid-tone cast, so that the photos' cast
 * (amount times it, 0..2) comes out neutral through the look (solved on
 * dlut_look_eval, the look's other terms in place), with the skin and
 * white/black protections off (the cast is there too). cast (may be NULL)
 * receives the measured a*, b* and the amount taken out (0: a cast under
 * 0.5, or amount 0, changes nothing). */
int dlut_look_neutralize(dlut_look *look, const dlut_image *const *photos, int n_photos, float amount, double cast[3]);

/* ==== The vocabulary ==== */

typedef struct dlut_looks_term {
  const char *en;     /* English forms, '|' separated ("warm|warmer|warmth") */
  const char *zh;     /* Chinese forms, '|' separated ("暖|温暖|暖色") */
  const char *group;  /* "temperature", "tone", "film", "mood", "colour" ... */
  const char *what;   /* what it does to the image, one line */
  const char *effect; /* its parameters, "temp=+1.2 sat=+0.1 shadows_ab=200@8" */
} dlut_looks_term;

int dlut_looks_term_count(void);
const dlut_looks_term *dlut_looks_term_get(int i); /* NULL when out of range */

/* Modifiers (degree, negation), for listing. */
typedef struct dlut_looks_modifier {
  const char *en; /* '|' separated */
  const char *zh;
  const char *what;
} dlut_looks_modifier;
int dlut_looks_modifier_count(void);
const dlut_looks_modifier *dlut_looks_modifier_get(int i);

/* Named colours (CSS/X11 named colours and Chinese traditional colours;
 * see docs/looks.md for the sources). en or zh may be NULL ('|'-separated
 * forms); rgb is 8-bit sRGB. Returns 0, or -1 when i is out of range. */
int dlut_looks_color_count(void);
int dlut_looks_color_get(int i, const char **en, const char **zh, unsigned char rgb[3]);

/* The canonical name of a match (its term's or colour's first English
 * form, else its first Chinese form), copied into buf. Returns buf. */
const char *dlut_looks_match_name(const dlut_looks_match *m, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
