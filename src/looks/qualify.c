/* Qualified edits: words that say WHERE a change goes ("the sky", "skin",
 * "foliage", "shadows", "highlights") turn the colour and tone terms of
 * their clause into changes of that hue or tone range, which a 3D LUT can
 * express without a mask: "天空更蓝" makes the blues and aquas bluer and
 * richer instead of casting the whole frame blue; "暗部偏青" tones the
 * shadows teal instead of lifting them. The hue ranges are the look
 * model's bands (raised cosines of 45 degrees half width, so the edit rolls
 * off smoothly); spatial regions ("the sky" as a place, not a colour) need
 * a model or a mask (dlut grade --region / --mask).
 *
 * Also the cast words ("remove the green cast", 去掉偏色): with a colour
 * they correct towards its complement. */
#include <math.h>
#include <string.h>

#include "looks/looks_internal.h"

typedef struct qual_def {
  const char *en, *zh;
  float band_w[DLUT_LOOK_NBANDS]; /* red orange yellow green aqua blue purple magenta */
  float max_shift;                /* the largest hue turn a colour word gives the range, degrees */
} qual_def;

/* QUAL_SHADOWS and QUAL_HIGHLIGHTS have no forms of their own: the terms
 * "shadows" and "highlights" (vocab.c) act as these qualifiers when their
 * clause holds a colour (parse.c). */
static const qual_def k_quals[LOOKS_QUAL_COUNT] = {
    /* not "blue sky": its colour word is the edit ("deep blue sky" = a deeper blue on the sky) */
    [LOOKS_QUAL_SKY] = {"sky|skies|the sky|sky tones",
                        "天空|蓝天|天色|天空的颜色|天际",
                        {0, 0, 0, 0, 0.55f, 1.0f, 0.2f, 0},
                        20.0f},
    [LOOKS_QUAL_SKIN] = {"skin|skin tone|skin tones|skintone|skintones|complexion|face|faces|skin colour|skin color",
                         "肤色|皮肤|肌肤|肤质|脸色|人脸|脸|面色|气色",
                         {0.45f, 1.0f, 0.2f, 0, 0, 0, 0, 0},
                         6.0f}, /* skin stays skin: rosier or warmer, never pink or green */
    [LOOKS_QUAL_FOLIAGE] = {"foliage|leaves|leaf|grass|greenery|trees|tree|plants|vegetation|greens|forest greens",
                            "树叶|绿叶|草地|植物|树木|草|绿植|叶子|植被|树",
                            {0, 0, 0.45f, 1.0f, 0.3f, 0, 0, 0},
                            20.0f},
    [LOOKS_QUAL_SHADOWS] = {NULL, NULL, {0}},
    [LOOKS_QUAL_HUE] = {NULL, NULL, {0}},
    [LOOKS_QUAL_HIGHLIGHTS] = {NULL, NULL, {0}},
    /* water: the aquas and blues of sea, lake and pool (more aqua than the sky's, and no green) */
    [LOOKS_QUAL_WATER] = {"water|sea|ocean|the sea|the ocean|lake|the lake|river|waves|seawater|sea water|pool",
                          "海水|大海|海洋|海面|湖水|湖面|河水|水面|海浪|泳池|江水",
                          {0, 0, 0, 0, 1.0f, 0.7f, 0, 0},
                          20.0f},
};

static const char *const k_cast_en = "cast|colour cast|color cast|tint cast|colour tint|color tint";
static const char *const k_cast_zh = "偏色|色偏|色罩|偏色问题|偏";

/* Asking for the photo's own cast to be taken out: dlut_look_neutralize measures it (a LUT alone
 * cannot know it). A negated cast word with no colour reads the same (parse.c). */
static const char *const k_awb_en =
    "auto white balance|automatic white balance|auto wb|awb|fix the white balance|fix white balance|correct the white "
    "balance|correct white balance|white balance correction|balance the whites|neutralise the cast|neutralize the "
    "cast|remove colour casts|remove color casts";

/* Neutral greys and whites: with another colour word in the prompt ("warmer, but keep the greys neutral"), the
 * look leaves near-neutral colours alone (keep_neutral); alone, the photo's own cast goes, as the AWB words say
 * (parse.c). */
static const char *const k_neutral_en =
    "neutral whites|neutral white|neutral greys|neutral grays|neutral grey|neutral gray|neutral neutrals|keep the "
    "greys neutral|keep greys neutral|keep the grays neutral|keep grays neutral|keep the whites neutral|keep whites "
    "neutral|keep the whites white|keep whites white|keep the whites clean|keep whites clean|keep the neutrals "
    "neutral|keep neutrals neutral|keep the greys grey|keep the grays gray|clean whites|true whites|pure whites|whites "
    "stay white|whites stay neutral|greys stay neutral|grays stay neutral|no cast on the whites|no colour cast on the "
    "whites|no color cast on the whites|no cast in the whites";
static const char *const k_neutral_zh =
    "白色不要偏色|白色不偏色|白色别偏色|白色不要带色|白色不带色|白的要白|白色保持中性|白色保持白色|保持白色中性|"
    "灰色中性|保持灰色中性|灰色保持中性|灰色不偏色|灰色不要偏色|中性灰|白色干净|白色纯净|白色要干净|白色要纯净";

const char *looks_neutral_forms(int zh) {
  return zh ? k_neutral_zh : k_neutral_en;
}
static const char *const k_awb_zh =
    "自动白平衡|校正白平衡|白平衡校正|修正白平衡|纠正白平衡|调整白平衡|矫正白平衡|校正偏色|纠正偏色|消除色偏|去偏色";

const char *looks_awb_forms(int zh) {
  return zh ? k_awb_zh : k_awb_en;
}

const char *looks_qual_forms(int q, int zh) {
  if (q <= 0 || q >= LOOKS_QUAL_COUNT) return NULL;
  return zh ? k_quals[q].zh : k_quals[q].en;
}
const char *looks_cast_forms(int zh) {
  return zh ? k_cast_zh : k_cast_en;
}
const char *looks_qual_name(int q) {
  static const char *const names[LOOKS_QUAL_COUNT] = {"",        "sky",        "skin",  "foliage",
                                                      "shadows", "highlights", "water", "hue"};
  return q > 0 && q < LOOKS_QUAL_COUNT ? names[q] : "";
}

/* The chromatic push of a term: where (CIELAB a*, b*) it moves colours, all
 * its white-balance and toning parts together. 1 unit of temp is about 6
 * a*b* units towards amber (75 deg) or blue (255 deg); 1 of tint about 5
 * towards magenta (340 deg). */
static void chroma_push(const dlut_look *d, double v[2]) {
  const double dt = 75.0 * M_PI / 180.0, dm = 340.0 * M_PI / 180.0;
  v[0] =
      d->cast_ab[0] + 0.6 * (d->shadow_ab[0] + d->highlight_ab[0]) + 6.0 * d->temp * cos(dt) + 5.0 * d->tint * cos(dm);
  v[1] =
      d->cast_ab[1] + 0.6 * (d->shadow_ab[1] + d->highlight_ab[1]) + 6.0 * d->temp * sin(dt) + 5.0 * d->tint * sin(dm);
}

int looks_is_chromatic(const dlut_look *d) {
  double v[2];
  chroma_push(d, v);
  return hypot(v[0], v[1]) > 0.5;
}

/* The band loop of a hue-range qualifier: band_w the weight of each band, max_shift its largest hue turn. */
static void qualify_bands(const dlut_look *d, const float *band_w, float max_shift, dlut_look *out) {
  double v[2];
  chroma_push(d, v);
  double m = hypot(v[0], v[1]);
  double th = atan2(v[1], v[0]) * 180.0 / M_PI, strength = fmin(1.0, m / 8.0);
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
    float w = band_w[k];
    if (w == 0) continue;
    if (m > 0.5) {
      double dh = remainder(th - dlut_looks_band_center[k], 360.0); /* -180..180: towards the push */
      double shift = dh > 0 ? fmin(dh * 0.35, max_shift) : fmax(dh * 0.35, -max_shift);
      out->band_hue[k] += (float)(w * shift * strength);
      out->band_sat[k] += (float)(w * 0.35 * cos(dh * M_PI / 180.0) * strength); /* richer towards it */
    }
    out->band_sat[k] += w * (d->saturation + 0.7f * d->vibrance);
    /* (a highlight recovery darkens the range: "the sky is blown out") */
    out->band_lum[k] += w * (0.8f * d->brightness + 0.5f * d->exposure + 0.5f * d->highlights - 0.2f * d->rolloff);
  }
}

void looks_hue_band_w(double hue_deg, float w[DLUT_LOOK_NBANDS]) {
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) { /* a raised cosine of the band half width around the hue */
    double dd = fabs(remainder(hue_deg - dlut_looks_band_center[k], 360.0));
    w[k] = dd < 45.0 ? (float)(0.5 * (1.0 + cos(M_PI * dd / 45.0))) : 0.0f;
  }
}

void looks_qual_band_w(int q, float w[DLUT_LOOK_NBANDS]) {
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) w[k] = q > 0 && q < LOOKS_QUAL_COUNT ? k_quals[q].band_w[k] : 0.0f;
}

void looks_qualify_hue(const dlut_look *d, double hue_deg, dlut_look *out) {
  float w[DLUT_LOOK_NBANDS];
  looks_hue_band_w(hue_deg, w);
  dlut_look_init(out);
  qualify_bands(d, w, 30.0f, out);
}

void looks_qualify(const dlut_look *d, int q, dlut_look *out) {
  dlut_look_init(out);
  double v[2];
  chroma_push(d, v);
  if (q == LOOKS_QUAL_SHADOWS || q == LOOKS_QUAL_HIGHLIGHTS) {
    float *ab = q == LOOKS_QUAL_SHADOWS ? out->shadow_ab : out->highlight_ab;
    ab[0] = (float)(1.3 * v[0]);
    ab[1] = (float)(1.3 * v[1]);
    float tone = d->brightness + 0.7f * d->exposure, sat = d->saturation + 0.7f * d->vibrance;
    if (q == LOOKS_QUAL_SHADOWS)
      out->shadows = 1.2f * tone + d->shadows, out->shadow_sat = 1.5f * sat;
    else
      out->highlights = 1.2f * tone + d->highlights, out->highlight_sat = 1.5f * sat;
    return;
  }
  if (q <= 0 || q >= LOOKS_QUAL_COUNT || q == LOOKS_QUAL_HUE) return;
  qualify_bands(d, k_quals[q].band_w, k_quals[q].max_shift, out);
  if (q == LOOKS_QUAL_SKIN) out->skin_follow = 1.0f; /* the prompt is about skin: no protection from itself */
}

void looks_band_desaturate(double hue_deg, float amount, dlut_look *out) {
  dlut_look_init(out);
  for (int k = 0; k < DLUT_LOOK_NBANDS; k++) {
    double d = fabs(remainder(hue_deg - dlut_looks_band_center[k], 360.0));
    if (d < 45.0) out->band_sat[k] = -amount * (float)(0.5 * (1.0 + cos(M_PI * d / 45.0)));
  }
}
