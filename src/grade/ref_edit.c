/* The target a reference photo grades towards: ColorizeDiffusion's global
 * manipulation (refnet/sampling/manipulation.py global_manipulate) of the
 * reference's projected CLS token, as the original computes it: on the
 * un-normalised token, with L2-normalised texts, no renormalisation after,
 * the edits in order, and nothing at all unless some scale is > 0 (its
 * pipeline's check_manipulate). Only the finished target is normalised,
 * because the CLIP loss compares directions (dlut/grade.h). The formulas
 * are dlut/manip.h's, checked against the original's own outputs by
 * `dlut refcheck`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/manip.h"

static int is_none(const char *s) {
  return !s || !*s || !strcmp(s, "none");
}

int dlut_grade_ref_target(dlut_clip *model, const float *v, const dlut_grade_opts *o, const char *source_prompt,
                          float *out) {
  if (!model || !v || !o || !out) return dlut_error("grade: ref_target needs a model, an embedding and options");
  const dlut_clip_info *info = dlut_clip_get_info(model);
  const int E = info->embed_dim;
  const char *src = source_prompt && *source_prompt     ? source_prompt
                    : info->family == DLUT_CLIP_CHINESE ? "一张相机直出的相片"
                                                        : "a straight-out-of-camera photo";
  dlut_grade_ref_edit legacy;
  const dlut_grade_ref_edit *edits = o->ref_edits;
  int n = o->n_ref_edits;
  if (n < 0 || n > 64 || (n > 0 && !edits)) return dlut_error("grade: %d reference edits (at most 64)", n);
  if (n == 0 && o->ref_mode != DLUT_GRADE_REF_IMAGE) { /* the one edit the ref_mode options describe */
    if (!o->prompt || !*o->prompt)
      return dlut_error("grade: this reference mode edits the reference with text, but the prompt is empty");
    legacy.target = o->prompt;
    legacy.anchor = o->ref_mode == DLUT_GRADE_REF_REPLACE ? NULL
                    : o->ref_anchor && *o->ref_anchor     ? o->ref_anchor
                                                          : src;
    legacy.scale = o->ref_scale;
    legacy.enhance = o->ref_mode == DLUT_GRADE_REF_ENHANCE;
    edits = &legacy;
    n = 1;
  }
  memcpy(out, v, sizeof(float) * (size_t)E);
  int applied = 0, rc = -1;
  float *texts = NULL;
  for (int i = 0; i < n; i++) {
    if (!edits[i].target || !*edits[i].target) return dlut_error("grade: reference edit %d has no target text", i + 1);
    if (!isfinite(edits[i].scale)) return dlut_error("grade: reference edit %d: the scale is not finite", i + 1);
  }
  dlut_manip_edit me[64];
  if (n > 0 && !(texts = malloc(sizeof(float) * (size_t)E * 2 * n))) return dlut_error("grade: out of memory");
  for (int i = 0; i < n; i++) {
    dlut_manip_edit_init(&me[i]);
    me[i].scale = edits[i].scale;
    me[i].enhance = edits[i].enhance != 0;
  }
  if (dlut_manip_applies(me, n)) {
    for (int i = 0; i < n; i++) {
      float *t = texts + (size_t)2 * i * E, *a = t + E;
      if (dlut_manip_text(model, edits[i].target, t) != 0) goto done;
      me[i].target = t;
      if (!is_none(edits[i].anchor)) {
        if (dlut_manip_text(model, edits[i].anchor, a) != 0) goto done;
        me[i].anchor = a;
      }
    }
    if (dlut_manip_global(out, E, me, n) != 0) goto done;
    applied = n;
  }
  double s = 0;
  for (int k = 0; k < E; k++) s += (double)out[k] * out[k];
  s = sqrt(s);
  if (!(s > 0) || !isfinite(s)) {
    dlut_error("grade: the edited reference embedding is zero or not finite");
    goto done;
  }
  for (int k = 0; k < E; k++) out[k] = (float)(out[k] / s);
  rc = applied;
done:
  free(texts);
  return rc;
}
