/* src/grade/region.c - the region grade: a global LUT and one LUT per
 * region, optimised together through CLIP on the composite
 * out = (1 - m) global(I) + m region(I), with a local term per region on
 * the mask-weighted patch tokens (dlut/region.h has the definitions); and
 * masks found from text (ColorizeDiffusion's position weights on the
 * control map, dlut/manip.h, upsampled and snapped to the photo's edges by
 * the guided filter).
 *
 * One step:
 *   tables T_0..T_n -> composite C of the working image W:
 *     C = T_0(W); C <- (1 - m_k) C + m_k T_k(W), k = 1..n
 *   C -> preprocess -> vision tower -> tokens (CLS e, patches tok_p)
 *     L_clip(e); L_local,k(z_k = sum_p w_kp tok_p)
 *   back: d_tokens (row 0 dL/de, rows p sum_k w_local w_kp dL/dz_k)
 *     -> dlut_clip_image_tokens_backward -> preprocess backward -> dC
 *     -> dR_k = m_k dC_k, dC_{k-1} = (1 - m_k) dC_k -> apply backward (dL/dT_k)
 *   the photo's pixel sample composited the same way -> Lab -> colour terms
 *   every T_k -> lattice terms.
 * Everything is allocated once in dlut_region_problem_new.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dlut/clip.h"
#include "dlut/color.h"
#include "dlut/error.h"
#include "dlut/grade.h"
#include "dlut/guided.h"
#include "dlut/manip.h"
#include "dlut/region.h"
#include "dlut/resize.h"
#include "grade/grade_internal.h"

#define INTERP DLUT_INTERP_TETRAHEDRAL
#define NT (DLUT_REGION_MAX + 1) /* tables: the global one and one per region */

static const float k_lab_scale[3] = {1.0f / 100.0f, 1.0f / 128.0f, 1.0f / 128.0f};

void dlut_region_grade_opts_init(dlut_region_grade_opts *o) {
  memset(o, 0, sizeof *o);
  dlut_grade_opts_init(&o->global);
  o->w_local = 1.0f;
}

/* ==== The problem ==== */

struct dlut_region_problem {
  dlut_clip *m;
  const dlut_clip_info *info;
  int dim, S, G, P; /* embedding, model side, patch grid side, patches */
  int n, nl;        /* regions, lattice side */
  dlut_grade_losses w;
  double w_local, dir_eps;
  int any_local;
  /* the working image (wh, ww, 3), its masks, composite and gradients */
  int ww, wh;
  int64_t npx;
  float *work, *comp, *reg, *d_comp, *d_reg;
  float *wmask[DLUT_REGION_MAX];
  float *pixels, *d_pixels; /* (3, S, S) */
  float *tokens, *d_tokens; /* (1 + P, dim) */
  float *f_orig, *f_target, *style;
  /* per region: patch weights (P, sum 1) or NULL, its features */
  float *pw[DLUT_REGION_MAX], *z_orig[DLUT_REGION_MAX], *t_k[DLUT_REGION_MAX], *style_k[DLUT_REGION_MAX];
  float *z, *dz; /* (dim) scratch */
  /* the photo's pixel sample, its masks, composite and gradients */
  int64_t ns;
  float *samp, *s_comp, *s_reg, *lab, *d_lab, *d_scomp, *d_sreg;
  float *smask[DLUT_REGION_MAX];
  dlut_grade_stats st_orig;
  /* the tables being evaluated and the starts */
  dlut_lut *luts[NT];
  float *base[NT];
  /* scratch of the LUT application and of the preprocessing, reserved at
   * set-up, so an evaluation allocates nothing */
  dlut_lut_scratch lut_ws;
  dlut_clip_prep_scratch prep_ws;
};

void dlut_region_problem_free(dlut_region_problem *p) {
  if (!p) return;
  float *bufs[] = {p->work,   p->comp,     p->reg,    p->d_comp,   p->d_reg, p->pixels,  p->d_pixels,
                   p->tokens, p->d_tokens, p->f_orig, p->f_target, p->style, p->z,       p->dz,
                   p->samp,   p->s_comp,   p->s_reg,  p->lab,      p->d_lab, p->d_scomp, p->d_sreg};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  for (int k = 0; k < DLUT_REGION_MAX; k++) {
    free(p->wmask[k]);
    free(p->pw[k]);
    free(p->z_orig[k]);
    free(p->t_k[k]);
    free(p->style_k[k]);
    free(p->smask[k]);
  }
  for (int k = 0; k < NT; k++) {
    dlut_lut_free(p->luts[k]);
    free(p->base[k]);
  }
  dlut_lut_scratch_free(&p->lut_ws);
  dlut_clip_prep_scratch_free(&p->prep_ws);
  free(p);
}

int dlut_region_problem_lut_size(const dlut_region_problem *p) {
  return p->nl;
}
const float *dlut_region_problem_start(const dlut_region_problem *p, int k) {
  return k >= 0 && k <= p->n ? p->base[k] : NULL;
}
const float *dlut_region_problem_patch_weights(const dlut_region_problem *p, int k) {
  return k >= 1 && k <= p->n ? p->pw[k - 1] : NULL;
}

/* C = T_0(in); C <- C + m_k (T_k(in) - C). in, C, scratch: (n, 3). */
static void composite(dlut_region_problem *p, const float *in, int64_t n, float *const *masks, float *c, float *scr) {
  dlut_lut_apply_f32_ws(p->luts[0], in, c, n, INTERP, &p->lut_ws);
  for (int k = 0; k < p->n; k++) {
    dlut_lut_apply_f32_ws(p->luts[k + 1], in, scr, n, INTERP, &p->lut_ws);
    const float *m = masks[k];
    for (int64_t i = 0; i < n; i++)
      for (int ch = 0; ch < 3; ch++) c[i * 3 + ch] += m[i] * (scr[i * 3 + ch] - c[i * 3 + ch]);
  }
}

/* The composite's backward: d_c (n, 3) = dL/dC_n, consumed; ACCUMULATES
 * dL/dT_k into d_tables[k]. */
static void composite_backward(dlut_region_problem *p, const float *in, int64_t n, float *const *masks, float *d_c,
                               float *d_r, float *const *d_tables) {
  for (int k = p->n - 1; k >= 0; k--) {
    const float *m = masks[k];
    for (int64_t i = 0; i < n; i++)
      for (int ch = 0; ch < 3; ch++) {
        d_r[i * 3 + ch] = m[i] * d_c[i * 3 + ch];
        d_c[i * 3 + ch] *= 1.0f - m[i];
      }
    dlut_lut_apply_backward_ws(p->luts[k + 1], in, d_r, n, INTERP, d_tables[k + 1], NULL, &p->lut_ws);
  }
  dlut_lut_apply_backward_ws(p->luts[0], in, d_c, n, INTERP, d_tables[0], NULL, &p->lut_ws);
}

/* z (dim) = sum_p w_p tok_p over the patch rows of tokens (1 + P, dim). */
static void pool(const float *tokens, const float *w, int P, int dim, float *z) {
  for (int k = 0; k < dim; k++) z[k] = 0;
  for (int q = 0; q < P; q++) {
    const float *t = tokens + (int64_t)(1 + q) * dim;
    const float wq = w[q];
    if (wq == 0) continue;
    for (int k = 0; k < dim; k++) z[k] += wq * t[k];
  }
}

int dlut_region_problem_eval(dlut_region_problem *p, const float *const *tables, dlut_region_losses *Lout,
                             float *const *d_tables) {
  const int grad = d_tables != NULL;
  const int64_t nt = (int64_t)p->nl * p->nl * p->nl * 3;
  dlut_region_losses L;
  memset(&L, 0, sizeof L);
  for (int k = 0; k <= p->n; k++) {
    memcpy(p->luts[k]->table, tables[k], (size_t)nt * sizeof(float));
    if (grad) memset(d_tables[k], 0, (size_t)nt * sizeof(float));
  }
  /* ---- CLIP terms on the composite working image ---- */
  composite(p, p->work, p->npx, p->wmask, p->comp, p->reg);
  if (dlut_clip_preprocess_ws(p->info, p->comp, p->ww, p->wh, p->pixels, &p->prep_ws) != 0) return -1;
  if (dlut_clip_encode_image(p->m, p->pixels, p->tokens) != 0) return -1; /* row 0 = e */
  if (p->any_local && dlut_clip_image_tokens(p->m, p->tokens) != 0) return -1;
  float *d_e = p->d_tokens; /* row 0 of d_tokens */
  L.g.clip = dlut_grade_clip_loss(p->tokens, p->f_orig, p->f_target, p->style, p->dim, 10.0, 0.7, p->dir_eps,
                                  grad ? d_e : NULL);
  if (grad) {
    for (int k = 0; k < p->dim; k++) d_e[k] *= (float)p->w.clip;
    memset(p->d_tokens + p->dim, 0, (size_t)p->P * p->dim * sizeof(float));
  }
  double local_sum = 0;
  for (int r = 0; r < p->n; r++) {
    if (!p->pw[r]) continue;
    pool(p->tokens, p->pw[r], p->P, p->dim, p->z);
    L.local[r] = dlut_grade_clip_loss(p->z, p->z_orig[r], p->t_k[r], p->style_k[r], p->dim, 10.0, 0.7, p->dir_eps,
                                      grad ? p->dz : NULL);
    L.has_local[r] = 1;
    local_sum += L.local[r];
    if (grad) /* d tok_p += w_local w_p dL/dz */
      for (int q = 0; q < p->P; q++) {
        const float c = (float)(p->w_local * p->pw[r][q]);
        if (c == 0) continue;
        float *d = p->d_tokens + (int64_t)(1 + q) * p->dim;
        for (int k = 0; k < p->dim; k++) d[k] += c * p->dz[k];
      }
  }
  if (grad && (p->w.clip != 0 || (p->any_local && p->w_local != 0))) {
    int rc = p->any_local ? dlut_clip_image_tokens_backward(p->m, p->d_tokens, p->d_pixels)
                          : dlut_clip_image_backward(p->m, d_e, p->d_pixels);
    if (rc != 0) return -1;
    if (dlut_clip_preprocess_backward_ws(p->info, p->ww, p->wh, p->d_pixels, p->d_comp, &p->prep_ws) != 0) return -1;
    composite_backward(p, p->work, p->npx, p->wmask, p->d_comp, p->d_reg, d_tables);
  }
  /* ---- colour terms on the composite of the photo's sample ---- */
  composite(p, p->samp, p->ns, p->smask, p->s_comp, p->s_reg);
  dlut_color_srgb_to_lab(p->s_comp, p->lab, p->ns);
  for (int64_t i = 0; i < p->ns * 3; i++) p->lab[i] *= k_lab_scale[i % 3];
  dlut_grade_stats se;
  const int stats_ok = dlut_grade_stats_compute(p->lab, p->ns, &se) == 0;
  if (stats_ok) {
    dlut_grade_color_forward(&p->st_orig, &se, &L.g.vol, &L.g.eigen, &L.g.shift);
  } else {
    dlut_error_clear();
    L.g.vol = L.g.eigen = L.g.shift = NAN;
  }
  if (grad && stats_ok) {
    dlut_grade_color_backward(&p->st_orig, &se, p->lab, p->ns, p->w.vol, p->w.eigen, p->w.shift, p->d_lab);
    for (int64_t i = 0; i < p->ns * 3; i++) p->d_lab[i] *= k_lab_scale[i % 3];
    dlut_color_srgb_to_lab_backward(p->s_comp, p->d_lab, p->d_scomp, p->ns);
    composite_backward(p, p->samp, p->ns, p->smask, p->d_scomp, p->d_sreg, d_tables);
  }
  /* ---- lattice terms of every table ---- */
  for (int k = 0; k <= p->n; k++) {
    double mono, smooth;
    dlut_grade_lattice_forward(tables[k], p->nl, &mono, &smooth);
    L.g.mono += mono;
    L.g.smooth += smooth;
    if (grad) dlut_grade_lattice_backward(tables[k], p->nl, p->w.mono, p->w.smooth, d_tables[k]);
  }
  L.g.total = p->w.clip * L.g.clip + p->w.mono * L.g.mono + p->w.smooth * L.g.smooth + p->w.vol * L.g.vol +
              p->w.shift * L.g.shift + p->w.eigen * L.g.eigen + p->w_local * local_sum;
  if (Lout) *Lout = L;
  return 0;
}

/* ---- set-up helpers ---- */

/* The photo reduced (Pillow bicubic) so its short side is at most `side`,
 * as float RGB; the same reduction as dlut_grade_run's working image. */
static float *reduce(const float *rgb, int w, int h, int ch, int side, int *ow, int *oh) {
  int rw = w, rh = h;
  const int sh = w < h ? w : h;
  if (sh > side) {
    if (w <= h) {
      rw = side;
      rh = (int)((double)h * side / w + 0.5);
    } else {
      rh = side;
      rw = (int)((double)w * side / h + 0.5);
    }
    if (rw < 1) rw = 1;
    if (rh < 1) rh = 1;
  }
  float *out = malloc((size_t)rw * rh * ch * sizeof(float));
  if (!out) {
    dlut_error("region grade: out of memory");
    return NULL;
  }
  if (rw == w && rh == h) {
    memcpy(out, rgb, (size_t)w * h * ch * sizeof(float));
  } else if (dlut_resize_f32(rgb, w, h, ch, out, rw, rh) != 0) {
    free(out);
    return NULL;
  }
  for (int64_t i = 0; i < (int64_t)rw * rh * ch; i++) out[i] = !(out[i] > 0) ? 0 : out[i] > 1 ? 1 : out[i];
  *ow = rw;
  *oh = rh;
  return out;
}

/* Patch weights of a working-image mask: through the model's resize and
 * crop (dlut_clip_preprocess_size), averaged over each patch, normalised
 * to sum 1. NULL with no error if the region is not in the model's view. */
static float *patch_weights(const dlut_region_problem *p, const float *wm, int *err) {
  int rw, rh, top, left;
  *err = 0;
  dlut_clip_preprocess_size(p->info, p->ww, p->wh, &rw, &rh, &top, &left);
  float *rs = malloc((size_t)rw * rh * sizeof(float)), *pw = calloc((size_t)p->P, sizeof(float));
  if (!rs || !pw || dlut_resize_f32(wm, p->ww, p->wh, 1, rs, rw, rh) != 0) {
    if (!rs || !pw) dlut_error("region grade: out of memory");
    free(rs);
    free(pw);
    *err = 1;
    return NULL;
  }
  const int ps = p->info->patch_size;
  double sum = 0;
  for (int gy = 0; gy < p->G; gy++)
    for (int gx = 0; gx < p->G; gx++) {
      double s = 0;
      for (int y = 0; y < ps; y++)
        for (int x = 0; x < ps; x++) {
          const int yy = top + gy * ps + y, xx = left + gx * ps + x;
          float v = yy >= 0 && yy < rh && xx >= 0 && xx < rw ? rs[(int64_t)yy * rw + xx] : 0.0f;
          s += v < 0 ? 0 : v > 1 ? 1 : v;
        }
      pw[gy * p->G + gx] = (float)(s / (ps * ps));
      sum += s / (ps * ps);
    }
  free(rs);
  if (!(sum >= 1e-6)) {
    free(pw);
    return NULL;
  }
  for (int q = 0; q < p->P; q++) pw[q] = (float)(pw[q] / sum);
  return pw;
}

static int embed_text(dlut_clip *m, const char *text, float *out, int dim) {
  if (dlut_clip_encode_text(m, text, out) != 0) return -1;
  for (int k = 0; k < dim; k++)
    if (!isfinite(out[k])) return dlut_error("region grade: the model's text embedding is not finite");
  if (grade_unit_vec(out, dim) != 0) return dlut_error("region grade: the model's text embedding is zero");
  return 0;
}

/* A start table: the identity, or `lut` sampled at the lattice points. */
static void start_table(float *t, int n, const dlut_lut *lut) {
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        float *v = t + (((int64_t)b * n + g) * n + r) * 3;
        v[0] = (float)r / (n - 1);
        v[1] = (float)g / (n - 1);
        v[2] = (float)b / (n - 1);
      }
  if (!lut) return;
  for (int64_t i = 0; i < (int64_t)n * n * n; i++) {
    float in[3] = {t[i * 3], t[i * 3 + 1], t[i * 3 + 2]};
    dlut_lut_eval(lut, in, t + i * 3, INTERP);
    for (int c = 0; c < 3; c++) {
      float v = t[i * 3 + c];
      t[i * 3 + c] = isfinite(v) ? (v < 0 ? 0 : v > 1 ? 1 : v) : in[c];
    }
  }
}

dlut_region_problem *dlut_region_problem_new(dlut_clip *model, const dlut_image *photo,
                                             const dlut_region_grade_opts *o) {
  dlut_region_problem *p = calloc(1, sizeof *p);
  dlut_image *f = NULL;
  float *src_text = NULL;
  if (!p) {
    dlut_error("region grade: out of memory");
    return NULL;
  }
  dlut_lut_scratch_init(&p->lut_ws);
  dlut_clip_prep_scratch_init(&p->prep_ws);
  const dlut_grade_opts *g = o ? &o->global : NULL;
  if (!model || !photo || !o || photo->width < 1 || photo->height < 1) {
    dlut_error("region grade: needs a model, a photo and options");
    goto fail;
  }
  if (o->n < 1 || o->n > DLUT_REGION_MAX) {
    dlut_error("region grade: %d regions (1..%d)", o->n, DLUT_REGION_MAX);
    goto fail;
  }
  const int has_prompt = g->prompt && *g->prompt;
  if (!has_prompt && !g->ref) {
    dlut_error("region grade: the global grade needs a prompt or a reference photo");
    goto fail;
  }
  if (g->ref && g->ref_mode != DLUT_GRADE_REF_IMAGE) {
    dlut_error("region grade: a reference photo edited by text is not supported with regions (use the image mode)");
    goto fail;
  }
  if (g->param != DLUT_GRADE_PARAM_LATTICE) {
    dlut_error("region grade: regions use the lattice parameterisation only");
    goto fail;
  }
  if (g->lut_size < 2 || g->lut_size > 65 || g->lattice_coarse < 2 || g->lattice_coarse > 65) {
    dlut_error("region grade: LUT size %d / coarse %d out of range 2..65", g->lut_size, g->lattice_coarse);
    goto fail;
  }
  for (int k = 0; k < o->n; k++)
    if (!o->masks[k] || (!(o->prompts[k] && *o->prompts[k]) && !o->targets[k])) {
      dlut_error("region grade: region %d needs a mask and a prompt", k + 1);
      goto fail;
    }
  p->m = model;
  p->info = dlut_clip_get_info(model);
  p->dim = p->info->embed_dim;
  p->S = p->info->image_size;
  p->G = p->S / p->info->patch_size;
  p->P = p->G * p->G;
  p->n = o->n;
  p->nl = g->lut_size;
  p->w = g->weights;
  p->w_local = o->w_local;
  p->dir_eps = g->dir_eps > 0 ? g->dir_eps : 3e-2;
  if (p->dim < 1 || p->P != p->info->n_patch_tokens) {
    dlut_error("region grade: the model reports %d patch tokens, expected %d", p->info->n_patch_tokens, p->P);
    goto fail;
  }
  const int W = photo->width, H = photo->height, dim = p->dim;
  const int64_t nt = (int64_t)p->nl * p->nl * p->nl * 3;

  /* ---- the working image and its masks ---- */
  if (!(f = dlut_image_convert(photo, 3, DLUT_PIXEL_F32))) goto fail;
  if (!(p->work = reduce((const float *)f->data, W, H, 3, p->S, &p->ww, &p->wh))) goto fail;
  p->npx = (int64_t)p->ww * p->wh;
  for (int k = 0; k < p->n; k++) {
    int a, b;
    if (!(p->wmask[k] = reduce(o->masks[k], W, H, 1, p->S, &a, &b))) goto fail;
  }
#define ALLOC(ptr, count)                                             \
  do {                                                                \
    if (!((ptr) = malloc((size_t)(count) * sizeof(float)))) goto oom; \
  } while (0)
  ALLOC(p->comp, p->npx * 3);
  ALLOC(p->reg, p->npx * 3);
  ALLOC(p->d_comp, p->npx * 3);
  ALLOC(p->d_reg, p->npx * 3);
  ALLOC(p->pixels, 3 * p->S * p->S);
  ALLOC(p->d_pixels, 3 * p->S * p->S);
  ALLOC(p->tokens, (int64_t)(1 + p->P) * dim);
  ALLOC(p->d_tokens, (int64_t)(1 + p->P) * dim);
  ALLOC(p->f_orig, dim);
  ALLOC(p->f_target, dim);
  ALLOC(p->style, dim);
  ALLOC(p->z, dim);
  ALLOC(p->dz, dim);
  ALLOC(src_text, dim);
  for (int k = 0; k <= p->n; k++) {
    ALLOC(p->base[k], nt);
    if (!(p->luts[k] = dlut_lut_alloc(p->nl, 0))) goto oom;
  }

  /* ---- the pixel sample and its masks ---- */
  {
    const int64_t np = (int64_t)W * H, want = g->samples >= 16 ? g->samples : 16;
    p->ns = np < want ? np : want;
    if (p->ns < 2) {
      dlut_error("region grade: the photo has too few pixels");
      goto fail;
    }
    ALLOC(p->samp, p->ns * 3);
    ALLOC(p->s_comp, p->ns * 3);
    ALLOC(p->s_reg, p->ns * 3);
    ALLOC(p->lab, p->ns * 3);
    ALLOC(p->d_lab, p->ns * 3);
    ALLOC(p->d_scomp, p->ns * 3);
    ALLOC(p->d_sreg, p->ns * 3);
    for (int k = 0; k < p->n; k++) ALLOC(p->smask[k], p->ns);
    uint64_t st = g->seed ^ 0xa54ff53a5f1d36f1ull;
    for (int64_t i = 0; i < p->ns; i++) {
      const int64_t q = p->ns == np ? i : (int64_t)(grade_rng_next(&st) % (uint64_t)np);
      const float *px = (const float *)((const uint8_t *)f->data + (size_t)(q / W) * f->stride) + (q % W) * 3;
      for (int c = 0; c < 3; c++) p->samp[i * 3 + c] = !(px[c] > 0) ? 0 : px[c] > 1 ? 1 : px[c];
      for (int k = 0; k < p->n; k++) p->smask[k][i] = o->masks[k][q];
    }
  }
  dlut_image_free(f);
  f = NULL;

  /* ---- features ---- */
  if (dlut_clip_preprocess(p->info, p->work, p->ww, p->wh, p->pixels) != 0) goto fail;
  if (dlut_clip_encode_image(model, p->pixels, p->f_orig) != 0) goto fail;
  if (grade_unit_vec(p->f_orig, dim) != 0) {
    dlut_error("region grade: the model's image embedding is zero or not finite");
    goto fail;
  }
  for (int k = 0; k < p->n; k++) {
    int err;
    p->pw[k] = patch_weights(p, p->wmask[k], &err);
    if (err) goto fail;
    p->any_local |= p->pw[k] != NULL;
  }
  if (p->any_local && dlut_clip_image_tokens(model, p->tokens) != 0) goto fail; /* the photo's tokens */
  int have_src = has_prompt && !g->ref;
  for (int k = 0; k < p->n; k++) have_src |= o->prompts[k] && *o->prompts[k];
  const char *src_prompt = g->source_prompt && *g->source_prompt  ? g->source_prompt
                           : p->info->family == DLUT_CLIP_CHINESE ? "一张相机直出的相片"
                                                                  : "a straight-out-of-camera photo";
  for (int k = 0; k < p->n; k++) {
    ALLOC(p->t_k[k], dim);
    ALLOC(p->style_k[k], dim);
    ALLOC(p->z_orig[k], dim);
    if (p->pw[k]) {
      pool(p->tokens, p->pw[k], p->P, dim, p->z_orig[k]);
      if (grade_unit_vec(p->z_orig[k], dim) != 0) {
        dlut_error("region grade: region %d's pooled tokens are zero", k + 1);
        goto fail;
      }
    }
  }
  if (have_src && embed_text(model, src_prompt, src_text, dim) != 0) goto fail;
  if (g->ref) {
    int rw, rh;
    dlut_image *rf = dlut_image_convert(g->ref, 3, DLUT_PIXEL_F32);
    float *rwork = rf ? reduce((const float *)rf->data, g->ref->width, g->ref->height, 3, p->S, &rw, &rh) : NULL;
    dlut_image_free(rf);
    int rc = rwork ? dlut_clip_preprocess(p->info, rwork, rw, rh, p->pixels) : -1;
    free(rwork);
    if (rc != 0 || dlut_clip_encode_image(model, p->pixels, p->f_target) != 0 || grade_unit_vec(p->f_target, dim) != 0)
      goto fail;
    for (int k = 0; k < dim; k++) p->style[k] = p->f_target[k] - p->f_orig[k];
  } else {
    if (embed_text(model, g->prompt, p->f_target, dim) != 0) goto fail;
    for (int k = 0; k < dim; k++) p->style[k] = p->f_target[k] - src_text[k];
  }
  if (grade_unit_vec(p->style, dim) != 0) {
    dlut_error("region grade: the target is indistinguishable from the source for this model");
    goto fail;
  }
  for (int r = 0; r < p->n; r++) {
    if (o->prompts[r] && *o->prompts[r]) {
      if (embed_text(model, o->prompts[r], p->t_k[r], dim) != 0) goto fail;
    } else {
      memcpy(p->t_k[r], o->targets[r], (size_t)dim * sizeof(float));
      if (grade_unit_vec(p->t_k[r], dim) != 0) {
        dlut_error("region grade: region %d's target embedding is zero", r + 1);
        goto fail;
      }
    }
    /* the direction from the source text (or, given embeddings only, from
     * the region's own look) to the region's prompt */
    const float *from = have_src ? src_text : p->z_orig[r];
    for (int k = 0; k < dim; k++) p->style_k[r][k] = p->t_k[r][k] - from[k];
    if (p->pw[r] && grade_unit_vec(p->style_k[r], dim) != 0) {
      dlut_error("region grade: region %d's prompt is indistinguishable from the source", r + 1);
      goto fail;
    }
  }
  dlut_color_srgb_to_lab(p->samp, p->lab, p->ns);
  for (int64_t i = 0; i < p->ns * 3; i++) p->lab[i] *= k_lab_scale[i % 3];
  if (dlut_grade_stats_compute(p->lab, p->ns, &p->st_orig) != 0) goto fail;

  /* ---- starts: the global look, and each region's (or the global one) ---- */
  start_table(p->base[0], p->nl, g->start_lut);
  for (int k = 0; k < p->n; k++) {
    if (o->start_luts[k])
      start_table(p->base[k + 1], p->nl, o->start_luts[k]);
    else
      memcpy(p->base[k + 1], p->base[0], (size_t)nt * sizeof(float));
  }
  if (dlut_lut_scratch_reserve(&p->lut_ws, p->nl, p->npx > p->ns ? p->npx : p->ns) != 0 ||
      dlut_clip_prep_scratch_reserve(&p->prep_ws, p->info, p->ww, p->wh) != 0)
    goto fail;
  free(src_text);
  return p;
#undef ALLOC
oom:
  dlut_error("region grade: out of memory");
fail:
  dlut_image_free(f);
  free(src_text);
  dlut_region_problem_free(p);
  return NULL;
}

/* ==== The loop ==== */

void dlut_region_grade_result_free(dlut_region_grade_result *res) {
  if (!res) return;
  dlut_lut_free(res->global);
  res->global = NULL;
  for (int k = 0; k < DLUT_REGION_MAX; k++) {
    dlut_lut_free(res->luts[k]);
    res->luts[k] = NULL;
  }
}

static int finite_losses(const dlut_region_losses *l) {
  const dlut_grade_losses *g = &l->g;
  int ok = isfinite(g->total) && isfinite(g->clip) && isfinite(g->mono) && isfinite(g->smooth) && isfinite(g->vol) &&
           isfinite(g->shift) && isfinite(g->eigen);
  for (int k = 0; k < DLUT_REGION_MAX; k++) ok &= isfinite(l->local[k]);
  return ok;
}

static dlut_image *preview(const dlut_region_problem *p) {
  dlut_image *im = dlut_image_alloc(p->ww, p->wh, 3, DLUT_PIXEL_U8);
  if (!im) return NULL;
  for (int y = 0; y < p->wh; y++) {
    uint8_t *row = (uint8_t *)im->data + (size_t)y * im->stride;
    const float *src = p->comp + (int64_t)y * p->ww * 3;
    for (int x = 0; x < p->ww * 3; x++) {
      float v = src[x] * 255.0f + 0.5f;
      row[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  return im;
}

int dlut_region_grade_run(dlut_clip *model, const dlut_image *photo, const dlut_region_grade_opts *o,
                          dlut_region_grade_result *res) {
  if (!res) return dlut_error("region grade: no result given");
  memset(res, 0, sizeof *res);
  const double t0 = grade_now_s();
  dlut_region_problem *p = dlut_region_problem_new(model, photo, o);
  if (!p) return -1;
  const dlut_grade_opts *g = &o->global;
  const int n = p->n, nl = p->nl, kc = g->lattice_coarse;
  const int steps = g->steps > 0 ? g->steps : 200;
  const float lr = g->lr > 0 ? g->lr : 2e-2f, lr_min = g->lr_min > 0 ? g->lr_min : lr / 100;
  const int64_t nt = (int64_t)nl * nl * nl * 3, npk = (int64_t)kc * kc * kc * 3, np = npk * (n + 1);
  float *params = calloc((size_t)np, sizeof(float)), *pgrad = malloc((size_t)np * sizeof(float));
  float *tab = malloc((size_t)nt * (n + 1) * sizeof(float)), *dtab = malloc((size_t)nt * (n + 1) * sizeof(float));
  float *best = malloc((size_t)nt * (n + 1) * sizeof(float));
  float *pre = malloc((size_t)nt * sizeof(float)); /* the lattice backward's pre-clamp table */
  dlut_adamw opt;
  memset(&opt, 0, sizeof opt);
  int rc = -1;
  if (!params || !pgrad || !tab || !dtab || !best || !pre) {
    dlut_error("region grade: out of memory");
    goto done;
  }
  if (dlut_adamw_init(&opt, np, g->weight_decay) != 0) goto done;
  const float *tables[NT];
  float *d_tables[NT];
  for (int k = 0; k <= n; k++) {
    tables[k] = tab + nt * k;
    d_tables[k] = dtab + nt * k;
  }
  double best_total = INFINITY;
  dlut_region_losses L;
  for (int step = 0; step <= steps; step++) {
    const int last = step == steps; /* the last update, scored without a step */
    for (int k = 0; k <= n; k++)
      dlut_grade_lattice_param_forward_base(params + npk * k, kc, p->base[k], tab + nt * k, nl);
    if (dlut_region_problem_eval(p, tables, &L, last ? NULL : d_tables) != 0) goto done;
    if (step == 0) res->start = L;
    if (!finite_losses(&L)) {
      if (last) break;
      res->stopped = 2;
      snprintf(res->stop_reason, sizeof res->stop_reason, "the loss became non-finite at step %d; kept the best LUTs",
               step + 1);
      break;
    }
    if (L.g.total < best_total) {
      best_total = L.g.total;
      res->end = L;
      memcpy(best, tab, (size_t)nt * (n + 1) * sizeof(float));
    }
    if (last) break;
    res->steps_done = step + 1;
    int bad = 0;
    for (int64_t i = 0; i < nt * (n + 1); i++) bad |= !isfinite(dtab[i]);
    if (bad) {
      res->stopped = 2;
      snprintf(res->stop_reason, sizeof res->stop_reason,
               "the gradient became non-finite at step %d; kept the best LUTs", step + 1);
      break;
    }
    memset(pgrad, 0, (size_t)np * sizeof(float));
    for (int k = 0; k <= n; k++)
      dlut_grade_lattice_param_backward_pre(params + npk * k, kc, p->base[k], d_tables[k], nl, pgrad + npk * k, pre);
    dlut_adamw_step(&opt, params, pgrad, dlut_cosine_lr(step, steps, lr, lr_min));
    if (g->callback) {
      dlut_grade_progress pr;
      memset(&pr, 0, sizeof pr);
      pr.step = step + 1;
      pr.steps = steps;
      pr.seconds = grade_now_s() - t0;
      pr.losses = L.g;
      pr.lut = p->luts[0];
      dlut_image *pv = NULL;
      if (g->preview_every > 0 && ((step + 1) % g->preview_every == 0 || step + 1 == steps)) pv = preview(p);
      pr.preview = pv;
      int stop = g->callback(g->user, &pr);
      dlut_image_free(pv);
      if (stop) {
        res->stopped = 1;
        snprintf(res->stop_reason, sizeof res->stop_reason, "cancelled after step %d; kept the best LUTs", step + 1);
        break;
      }
    }
  }
  if (!(best_total < INFINITY)) {
    dlut_error("region grade: the loss was never finite");
    goto done;
  }
  if (!(res->global = dlut_lut_alloc(nl, 0))) goto oom;
  memcpy(res->global->table, best, (size_t)nt * sizeof(float));
  for (int k = 0; k < n; k++) {
    if (!(res->luts[k] = dlut_lut_alloc(nl, 0))) goto oom;
    memcpy(res->luts[k]->table, best + nt * (k + 1), (size_t)nt * sizeof(float));
    snprintf(res->luts[k]->title, sizeof res->luts[k]->title, "dlut grade: region %d", k + 1);
  }
  snprintf(res->global->title, sizeof res->global->title, "dlut grade: global look");
  res->seconds = grade_now_s() - t0;
  rc = 0;
  goto done;
oom:
  dlut_error("region grade: out of memory");
done:
  if (rc != 0) dlut_region_grade_result_free(res);
  dlut_adamw_free(&opt);
  free(params);
  free(pgrad);
  free(tab);
  free(dtab);
  free(best);
  free(pre);
  dlut_region_problem_free(p);
  return rc;
}

/* ==== Masks from text ==== */

float *dlut_region_text_mask(dlut_clip *model, const dlut_image *photo, const char *control, const dlut_mask_opts *mo,
                             float *map_out, int *grid) {
  if (!model || !photo || !control || !*control) {
    dlut_error("text mask: needs a model, a photo and the words to find");
    return NULL;
  }
  const dlut_clip_info *info = dlut_clip_get_info(model);
  const int G = info->image_size / info->patch_size, P = G * G, W = photo->width, H = photo->height;
  float *map = malloc((size_t)P * sizeof(float)), *raw = malloc((size_t)P * sizeof(float));
  float *pwm = malloc((size_t)P * sizeof(float)), *m = malloc((size_t)W * H * sizeof(float));
  float *luma = malloc((size_t)W * H * sizeof(float));
  dlut_image *f = NULL;
  if (!map || !raw || !pwm || !m || !luma) {
    dlut_error("text mask: out of memory");
    goto fail;
  }
  if (dlut_manip_text_map(model, photo, control, NULL, 0, map, raw) != 0) goto fail;
  /* the position weights at dscale 1, clamped: 0 up to t1, then 0.5 at t2, 1 from t3 */
  if (dlut_manip_pwm(raw, P, 1.0, NULL, 0, pwm, NULL) != 0) goto fail;
  for (int i = 0; i < P; i++) pwm[i] = pwm[i] < 0 ? 0 : pwm[i] > 1 ? 1 : pwm[i];
  if (dlut_manip_upsample(pwm, G, m, W, H) != 0) goto fail;
  /* the guide: Rec. 709 luma of the code values, read in the photo's own
   * sample type (no float copy of the whole photo) */
  for (int y = 0; y < H; y++) {
    const uint8_t *row = (const uint8_t *)photo->data + (size_t)y * photo->stride;
    for (int x = 0; x < W; x++) {
      float px[3];
      for (int c = 0; c < 3; c++) {
        const int64_t k = (int64_t)x * photo->channels + c;
        px[c] = photo->type == DLUT_PIXEL_U8    ? row[k] / 255.0f
                : photo->type == DLUT_PIXEL_U16 ? ((const uint16_t *)row)[k] / 65535.0f
                                                : ((const float *)row)[k];
      }
      luma[(int64_t)y * W + x] = 0.2126f * px[0] + 0.7152f * px[1] + 0.0722f * px[2];
    }
  }
  for (int64_t i = 0; i < (int64_t)W * H; i++) m[i] = m[i] < 0 ? 0 : m[i] > 1 ? 1 : m[i];
  {
    const int shorter = W < H ? W : H;
    int r = (int)lrint(shorter / (2.0 * G));
    if (r < 1) r = 1;
    if (dlut_guided_filter(luma, m, m, W, H, r, 1e-3f) != 0) goto fail;
  }
  for (int64_t i = 0; i < (int64_t)W * H; i++) m[i] = !(m[i] > 0) ? 0 : m[i] > 1 ? 1 : m[i];
  if (mo && dlut_mask_refine(m, W, H, mo->threshold, mo->feather) != 0) goto fail;
  if (map_out) memcpy(map_out, map, (size_t)P * sizeof(float));
  if (grid) *grid = G;
  dlut_image_free(f);
  free(map);
  free(raw);
  free(pwm);
  free(luma);
  return m;
fail:
  dlut_image_free(f);
  free(map);
  free(raw);
  free(pwm);
  free(luma);
  free(m);
  return NULL;
}
