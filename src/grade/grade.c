/* src/grade/grade.c - the grading loop: a photo and a sentence (or a
 * reference photo) to a 3D LUT by gradient descent through CLIP.
 *
 * One step (CLIP-DLUT's loop, re-derived for C; see docs/grading.md):
 *   params -> table T (field: clamp(L + eps/2 phi(L)); lattice: clamp(B + up(R)))
 *   working image W (photo reduced once, short side = model side)
 *     -> dlut_lut_apply_f32(T) -> dlut_clip_preprocess -> dlut_clip_encode_image -> e
 *     -> L_clip(e)      backward: clip_image_backward -> preprocess_backward
 *                                 -> lut_apply_backward (dL/dT)
 *   fixed pixel sample P of the photo -> apply(T) -> sRGB->Lab -> scaled
 *     -> stats -> L_vol, L_eigen, L_shift   backward: colour backward ->
 *        Lab backward -> lut_apply_backward (dL/dT)
 *   T -> L_mono, L_smooth                   backward: lattice backward
 *   dL/dT -> parameterisation backward -> AdamW step (cosine schedule).
 * Everything is allocated once before the first step.
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
#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/resize.h"
#include "grade/grade_internal.h"

#define INTERP DLUT_INTERP_TETRAHEDRAL

void dlut_grade_opts_init(dlut_grade_opts *o) {
  memset(o, 0, sizeof *o);
  o->ref_mode = DLUT_GRADE_REF_IMAGE;
  o->ref_scale = 1.0f;
  o->lut_size = 33;
  o->steps = 0;
  o->seed = 0;
  o->param = DLUT_GRADE_PARAM_LATTICE;
  o->weights = (dlut_grade_losses){0, 1, 1, 1, 1, 20, 10000};
  o->weight_decay = 0.01f;
  o->field_eps = 2e-3f;
  o->field_hidden = 512;
  o->lattice_coarse = 17;
  o->samples = 16384;
  o->dir_eps = 3e-2f;
}

void dlut_grade_result_free(dlut_grade_result *res) {
  if (!res) return;
  dlut_lut_free(res->lut);
  res->lut = NULL;
}

/* ==== The state of one grade ==== */

/* One photo of the set: its working image, features and share of the
 * pooled pixel sample. */
typedef struct grade_photo {
  int ww, wh; /* working image size */
  int64_t npx;
  float *work;              /* working image (wh, ww, 3) */
  float *f_orig;            /* unit embedding of the ungraded working image (dim) */
  float *style;             /* unit direction for this photo (dim) */
  int64_t s_off, ns;        /* its rows of the pooled pixel sample */
  dlut_grade_stats st_orig; /* colour statistics of its ungraded sample */
} grade_photo;

typedef struct grade {
  dlut_clip *m;
  const dlut_clip_info *info;
  int dim, S;
  dlut_grade_losses w;
  double dir_eps;
  /* the photos of the set (1 for a single photo) */
  int np;
  grade_photo *ph;
  /* scratch for one view: the graded working image, its gradient, the
   * augmented crop and its gradient (sized for the largest photo) */
  int64_t npx_max;
  float *graded, *d_graded, *crop, *d_crop;
  float *pixels, *d_pixels; /* (3, S, S) */
  float *e, *d_e;           /* embed_dim */
  float *f_target;
  /* augmentation: views per photo (0 = the plain view) and the step whose
   * crops and flips are drawn (-1 = plain views) */
  int aug_views, aug_step;
  uint64_t aug_seed;
  /* pooled pixel sample of all photos for the colour terms */
  int64_t ns;
  float *samp, *samp_out, *lab, *d_lab, *d_samp;
  /* the LUT being evaluated and dL/dtable */
  int n;
  dlut_lut *lut;
  float *d_table;
  /* scratch of the LUT application and of the preprocessing, reserved
   * before the first step for every size a step uses, so a step allocates
   * nothing */
  dlut_lut_scratch lut_ws;
  dlut_clip_prep_scratch prep_ws;
} grade;

static void grade_free(grade *g) {
  for (int i = 0; g->ph && i < g->np; i++) {
    free(g->ph[i].work);
    free(g->ph[i].f_orig);
    free(g->ph[i].style);
  }
  free(g->ph);
  free(g->graded);
  free(g->d_graded);
  free(g->crop);
  free(g->d_crop);
  free(g->pixels);
  free(g->d_pixels);
  free(g->e);
  free(g->d_e);
  free(g->f_target);
  free(g->samp);
  free(g->samp_out);
  free(g->lab);
  free(g->d_lab);
  free(g->d_samp);
  dlut_lut_free(g->lut);
  free(g->d_table);
  dlut_lut_scratch_free(&g->lut_ws);
  dlut_clip_prep_scratch_free(&g->prep_ws);
}

/* Lab (L 0..100, a, b) -> the original's scale (L/100, a/128, b/128) */
static const float k_lab_scale[3] = {1.0f / 100.0f, 1.0f / 128.0f, 1.0f / 128.0f};

/* Reduce an image to float RGB (h, w, 3) whose short side is at most `side`
 * (Pillow bicubic, antialiased), so a step costs the same for any photo. */
static float *working_image(const dlut_image *img, int side, int *ow, int *oh) {
  dlut_image *f = dlut_image_convert(img, 3, DLUT_PIXEL_F32);
  if (!f) return NULL;
  int w = img->width, h = img->height, rw = w, rh = h;
  int sh = w < h ? w : h;
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
  float *out = malloc((size_t)rw * rh * 3 * sizeof(float));
  if (!out) {
    dlut_image_free(f);
    dlut_error("grade: out of memory");
    return NULL;
  }
  int rc;
  if (rw == w && rh == h) {
    for (int y = 0; y < h; y++)
      memcpy(out + (size_t)y * w * 3, (const uint8_t *)f->data + (size_t)y * f->stride, (size_t)w * 3 * sizeof(float));
    rc = 0;
  } else {
    /* dlut_image_convert gives tightly packed rows for F32 RGB */
    rc = dlut_resize_f32((const float *)f->data, w, h, 3, out, rw, rh);
  }
  dlut_image_free(f);
  if (rc != 0) {
    free(out);
    return NULL;
  }
  for (int64_t i = 0; i < (int64_t)rw * rh * 3; i++) out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  *ow = rw;
  *oh = rh;
  return out;
}

/* Unit image embedding of a float RGB image. */
static int embed_rgb(grade *g, const float *rgb, int w, int h, float *out) {
  if (dlut_clip_preprocess_ws(g->info, rgb, w, h, g->pixels, &g->prep_ws) != 0) return -1;
  if (dlut_clip_encode_image(g->m, g->pixels, out) != 0) return -1;
  for (int k = 0; k < g->dim; k++)
    if (!isfinite(out[k])) return dlut_error("grade: the model's image embedding is not finite");
  grade_unit_vec(out, g->dim);
  return 0;
}

static int embed_text(grade *g, const char *text, float *out) {
  if (dlut_clip_encode_text(g->m, text, out) != 0) return -1;
  for (int k = 0; k < g->dim; k++)
    if (!isfinite(out[k])) return dlut_error("grade: the model's text embedding is not finite");
  grade_unit_vec(out, g->dim);
  return 0;
}

/* ==== Augmentation: random crops and flips of each view ==== */

/* The crop of view k of photo i at step t: a window of 70-100% of the
 * working image's sides (its aspect kept) at a random place, mirrored left
 * to right half of the time. A function of (seed, t, i, k) only, so a run
 * is reproducible and any step's views can be drawn again. CLIP-guided
 * optimisers (CLIPDraw, Frans et al. 2021; StyleCLIP's and CLIPstyler's
 * patch crops) score random views of the image so the optimiser cannot fit
 * one fixed set of pixels adversarially. */
typedef struct aug_view {
  int x0, y0, cw, ch, flip;
} aug_view;

static aug_view draw_view(const grade *g, int i, int k) {
  const grade_photo *ph = &g->ph[i];
  aug_view v = {0, 0, ph->ww, ph->wh, 0};
  if (g->aug_views <= 0 || g->aug_step < 0) return v;
  uint64_t st = g->aug_seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)(g->aug_step + 1)) ^
                (0xC2B2AE3D27D4EB4Full * (uint64_t)(i + 1)) ^ (0x165667B19E3779F9ull * (uint64_t)(k + 1));
  double f = 0.7 + 0.3 * (double)(grade_rng_next(&st) >> 11) * (1.0 / 9007199254740992.0);
  v.cw = (int)(f * ph->ww + 0.5);
  v.ch = (int)(f * ph->wh + 0.5);
  if (v.cw < 1) v.cw = 1;
  if (v.ch < 1) v.ch = 1;
  v.x0 = (int)(grade_rng_next(&st) % (uint64_t)(ph->ww - v.cw + 1));
  v.y0 = (int)(grade_rng_next(&st) % (uint64_t)(ph->wh - v.ch + 1));
  v.flip = (int)(grade_rng_next(&st) >> 63);
  return v;
}

/* crop (ch, cw, 3) <- the view of img (h, w, 3) */
static void view_forward(const aug_view *v, const float *img, int w, float *crop) {
  for (int y = 0; y < v->ch; y++)
    for (int x = 0; x < v->cw; x++) {
      const int sx = v->x0 + (v->flip ? v->cw - 1 - x : x);
      const float *src = img + ((int64_t)(v->y0 + y) * w + sx) * 3;
      float *dst = crop + ((int64_t)y * v->cw + x) * 3;
      dst[0] = src[0];
      dst[1] = src[1];
      dst[2] = src[2];
    }
}

/* d_img (h, w, 3) <- dL/dcrop scattered back (overwritten: 0 outside the crop) */
static void view_backward(const aug_view *v, const float *d_crop, int w, int h, float *d_img) {
  memset(d_img, 0, (size_t)w * h * 3 * sizeof(float));
  for (int y = 0; y < v->ch; y++)
    for (int x = 0; x < v->cw; x++) {
      const int sx = v->x0 + (v->flip ? v->cw - 1 - x : x);
      float *dst = d_img + ((int64_t)(v->y0 + y) * w + sx) * 3;
      const float *src = d_crop + ((int64_t)y * v->cw + x) * 3;
      dst[0] += src[0];
      dst[1] += src[1];
      dst[2] += src[2];
    }
}

/* All loss terms of g->lut; with grad, dL_total/dtable into g->d_table
 * (overwritten). Over a set, L_clip and the colour terms are the means of
 * the photos' own terms (and, with augmentation, of every view's). */
static int evaluate(grade *g, dlut_grade_losses *L, int grad) {
  const int64_t nt = (int64_t)g->n * g->n * g->n * 3;
  if (grad) memset(g->d_table, 0, (size_t)nt * sizeof(float));
  const int nv = g->aug_views > 0 && g->aug_step >= 0 ? g->aug_views : 1;
  const double share = 1.0 / ((double)g->np * nv);
  /* CLIP term on each photo's working image (or its views) */
  L->clip = 0;
  for (int i = 0; i < g->np; i++) {
    grade_photo *ph = &g->ph[i];
    dlut_lut_apply_f32_ws(g->lut, ph->work, g->graded, ph->npx, INTERP, &g->lut_ws);
    for (int k = 0; k < nv; k++) {
      const aug_view v = draw_view(g, i, k);
      const int plain = v.cw == ph->ww && v.ch == ph->wh && !v.flip;
      const float *img = g->graded;
      if (!plain) {
        view_forward(&v, g->graded, ph->ww, g->crop);
        img = g->crop;
      }
      if (dlut_clip_preprocess_ws(g->info, img, v.cw, v.ch, g->pixels, &g->prep_ws) != 0) return -1;
      if (dlut_clip_encode_image(g->m, g->pixels, g->e) != 0) return -1;
      double lc = dlut_grade_clip_loss(g->e, ph->f_orig, g->f_target, ph->style, g->dim, 10.0, 0.7, g->dir_eps,
                                       grad ? g->d_e : NULL);
      L->clip += g->np == 1 && nv == 1 ? lc : lc * share;
      if (grad && g->w.clip != 0) {
        const double wc = g->np == 1 && nv == 1 ? g->w.clip : g->w.clip * share;
        for (int d = 0; d < g->dim; d++) g->d_e[d] *= (float)wc;
        if (dlut_clip_image_backward(g->m, g->d_e, g->d_pixels) != 0) return -1;
        if (plain) {
          if (dlut_clip_preprocess_backward_ws(g->info, ph->ww, ph->wh, g->d_pixels, g->d_graded, &g->prep_ws) != 0)
            return -1;
        } else {
          if (dlut_clip_preprocess_backward_ws(g->info, v.cw, v.ch, g->d_pixels, g->d_crop, &g->prep_ws) != 0)
            return -1;
          view_backward(&v, g->d_crop, ph->ww, ph->wh, g->d_graded);
        }
        dlut_lut_apply_backward_ws(g->lut, ph->work, g->d_graded, ph->npx, INTERP, g->d_table, NULL, &g->lut_ws);
      }
    }
  }
  /* colour terms on each photo's share of the pooled pixel sample */
  dlut_lut_apply_f32_ws(g->lut, g->samp, g->samp_out, g->ns, INTERP, &g->lut_ws);
  dlut_color_srgb_to_lab(g->samp_out, g->lab, g->ns);
  for (int64_t i = 0; i < g->ns * 3; i++) g->lab[i] *= k_lab_scale[i % 3];
  L->vol = L->eigen = L->shift = 0;
  int stats_ok = 1;
  const double pshare = 1.0 / g->np;
  for (int i = 0; i < g->np && stats_ok; i++) {
    grade_photo *ph = &g->ph[i];
    const float *lab = g->lab + ph->s_off * 3;
    dlut_grade_stats se;
    double vol, eigen, shift;
    if (dlut_grade_stats_compute(lab, ph->ns, &se) != 0) {
      stats_ok = 0;
      break;
    }
    dlut_grade_color_forward(&ph->st_orig, &se, &vol, &eigen, &shift);
    L->vol += g->np == 1 ? vol : vol * pshare;
    L->eigen += g->np == 1 ? eigen : eigen * pshare;
    L->shift += g->np == 1 ? shift : shift * pshare;
    if (grad) {
      const double k = g->np == 1 ? 1.0 : pshare;
      dlut_grade_color_backward(&ph->st_orig, &se, lab, ph->ns, g->w.vol * k, g->w.eigen * k, g->w.shift * k,
                                g->d_lab + ph->s_off * 3);
    }
  }
  if (!stats_ok) { /* non-finite colours: reported as NaN losses, the caller stops safely */
    dlut_error_clear();
    L->vol = L->eigen = L->shift = NAN;
  }
  if (grad && stats_ok) {
    for (int64_t i = 0; i < g->ns * 3; i++) g->d_lab[i] *= k_lab_scale[i % 3];
    dlut_color_srgb_to_lab_backward(g->samp_out, g->d_lab, g->d_samp, g->ns);
    dlut_lut_apply_backward_ws(g->lut, g->samp, g->d_samp, g->ns, INTERP, g->d_table, NULL, &g->lut_ws);
  }
  /* lattice terms */
  dlut_grade_lattice_forward(g->lut->table, g->n, &L->mono, &L->smooth);
  if (grad) dlut_grade_lattice_backward(g->lut->table, g->n, g->w.mono, g->w.smooth, g->d_table);
  L->total = g->w.clip * L->clip + g->w.mono * L->mono + g->w.smooth * L->smooth + g->w.vol * L->vol +
             g->w.shift * L->shift + g->w.eigen * L->eigen;
  return 0;
}

/* Size the scratch for every call a step makes: the LUT application over
 * the largest working image and the pixel sample, the preprocessing of
 * every view of every photo the loop's `steps` steps will draw (views are
 * functions of the step, so they can be drawn ahead). A call outside these
 * (dlut_grade_problem_augment with a later step) still works: the scratch
 * grows. */
static int reserve_scratch(grade *g, int steps) {
  if (dlut_lut_scratch_reserve(&g->lut_ws, g->n, g->npx_max > g->ns ? g->npx_max : g->ns) != 0) return -1;
  const int keep = g->aug_step;
  int rc = 0;
  for (int i = 0; i < g->np && rc == 0; i++) {
    rc = dlut_clip_prep_scratch_reserve(&g->prep_ws, g->info, g->ph[i].ww, g->ph[i].wh);
    for (int t = 0; g->aug_views > 0 && t < steps && rc == 0; t++) {
      g->aug_step = t;
      for (int k = 0; k < g->aug_views && rc == 0; k++) {
        const aug_view v = draw_view(g, i, k);
        rc = dlut_clip_prep_scratch_reserve(&g->prep_ws, g->info, v.cw, v.ch);
      }
    }
  }
  g->aug_step = keep;
  return rc;
}

/* Reinhard et al. 2001, "Color Transfer between Images", in CIELAB (the
 * brief's variant): per channel (x - mean_src) * std_ref / std_src + mean_ref,
 * baked into a table. */
static int reinhard_table(const float *src, int64_t ns, const float *ref, int64_t nr, int n, float *table) {
  double ms[3] = {0}, mr[3] = {0}, vs[3] = {0}, vr[3] = {0};
  float *ls = malloc((size_t)ns * 3 * sizeof(float)), *lr = malloc((size_t)nr * 3 * sizeof(float));
  if (!ls || !lr) {
    free(ls);
    free(lr);
    return dlut_error("grade: out of memory");
  }
  dlut_color_srgb_to_lab(src, ls, ns);
  dlut_color_srgb_to_lab(ref, lr, nr);
  for (int64_t i = 0; i < ns; i++)
    for (int c = 0; c < 3; c++) ms[c] += ls[i * 3 + c] / (double)ns;
  for (int64_t i = 0; i < nr; i++)
    for (int c = 0; c < 3; c++) mr[c] += lr[i * 3 + c] / (double)nr;
  for (int64_t i = 0; i < ns; i++)
    for (int c = 0; c < 3; c++) vs[c] += (ls[i * 3 + c] - ms[c]) * (ls[i * 3 + c] - ms[c]) / (double)ns;
  for (int64_t i = 0; i < nr; i++)
    for (int c = 0; c < 3; c++) vr[c] += (lr[i * 3 + c] - mr[c]) * (lr[i * 3 + c] - mr[c]) / (double)nr;
  free(ls);
  free(lr);
  const int64_t nodes = (int64_t)n * n * n;
  for (int b = 0; b < n; b++)
    for (int g = 0; g < n; g++)
      for (int r = 0; r < n; r++) {
        float *t = table + (((int64_t)b * n + g) * n + r) * 3;
        t[0] = (float)r / (n - 1);
        t[1] = (float)g / (n - 1);
        t[2] = (float)b / (n - 1);
      }
  dlut_color_srgb_to_lab(table, table, nodes);
  for (int64_t i = 0; i < nodes; i++)
    for (int c = 0; c < 3; c++) {
      double sd = sqrt(vs[c]), rd = sqrt(vr[c]);
      double k = sd > 1e-3 ? rd / sd : 1.0;
      if (k > 4) k = 4; /* a flat photo must not explode */
      table[i * 3 + c] = (float)((table[i * 3 + c] - ms[c]) * k + mr[c]);
    }
  dlut_color_lab_to_srgb(table, table, nodes);
  for (int64_t i = 0; i < nodes * 3; i++) {
    float v = table[i];
    table[i] = !isfinite(v) ? 0.5f : v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return 0;
}

/* Fixed pixel sample (with replacement beyond the photo's size) as float RGB. */
/* `want` pixels of img (all of them when it has fewer), as (m,3) floats in
 * [0,1]. Only the sampled pixels are converted: they are gathered, in their
 * own sample type, into a small image that dlut_image_convert turns into
 * floats exactly as it would the whole photo. */
static float *pixel_sample(const dlut_image *img, int64_t want, uint64_t seed, int64_t *got) {
  const int64_t np = (int64_t)img->width * img->height;
  const int64_t m = np < want ? np : want;
  const int gw = m < DLUT_IMAGE_MAX_DIM ? (int)m : DLUT_IMAGE_MAX_DIM, gh = (int)((m + gw - 1) / gw);
  const size_t bpp = (size_t)img->channels * (size_t)img->type;
  dlut_image *g = dlut_image_alloc(gw, gh, img->channels, img->type), *f = NULL;
  float *s = malloc((size_t)m * 3 * sizeof(float));
  if (!g || !s) {
    dlut_image_free(g);
    free(s);
    dlut_error("grade: out of memory");
    return NULL;
  }
  memset(g->data, 0, (size_t)gh * g->stride);
  uint64_t st = seed ^ 0xa54ff53a5f1d36f1ull;
  for (int64_t k = 0; k < m; k++) {
    int64_t p = m == np ? k : (int64_t)(grade_rng_next(&st) % (uint64_t)np);
    const uint8_t *src =
        (const uint8_t *)img->data + (size_t)(p / img->width) * img->stride + (size_t)(p % img->width) * bpp;
    memcpy((uint8_t *)g->data + (size_t)(k / gw) * g->stride + (size_t)(k % gw) * bpp, src, bpp);
  }
  if (!(f = dlut_image_convert(g, 3, DLUT_PIXEL_F32))) {
    dlut_image_free(g);
    free(s);
    return NULL;
  }
  for (int64_t k = 0; k < m; k++) {
    const float *px = (const float *)((const uint8_t *)f->data + (size_t)(k / gw) * f->stride) + (k % gw) * 3;
    for (int c = 0; c < 3; c++) {
      float v = px[c];
      s[k * 3 + c] = !isfinite(v) ? 0 : v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  dlut_image_free(f);
  dlut_image_free(g);
  *got = m;
  return s;
}

/* Photo 0's working image through the current LUT, as 8-bit RGB. */
static dlut_image *preview_image(grade *g) {
  const grade_photo *ph = &g->ph[0];
  dlut_image *p = dlut_image_alloc(ph->ww, ph->wh, 3, DLUT_PIXEL_U8);
  if (!p) return NULL;
  dlut_lut_apply_f32_ws(g->lut, ph->work, g->graded, ph->npx, INTERP, &g->lut_ws);
  for (int y = 0; y < ph->wh; y++) {
    uint8_t *row = (uint8_t *)p->data + (size_t)y * p->stride;
    const float *src = g->graded + (int64_t)y * ph->ww * 3;
    for (int x = 0; x < ph->ww * 3; x++) {
      float v = src[x] * 255.0f + 0.5f;
      row[x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  return p;
}

static int finite_losses(const dlut_grade_losses *l) {
  return isfinite(l->total) && isfinite(l->clip) && isfinite(l->mono) && isfinite(l->smooth) && isfinite(l->vol) &&
         isfinite(l->shift) && isfinite(l->eigen);
}

/* TITLE "dlut grade: PROMPT" made safe for every LUT text format: valid
 * UTF-8 only (invalid bytes and a character cut by truncation dropped), no
 * control characters, quotes or backslashes. */
static void safe_title(char *out, size_t cap, const char *prompt) {
  size_t o = (size_t)snprintf(out, cap, "dlut grade: ");
  const unsigned char *p = (const unsigned char *)prompt;
  while (*p && o + 5 < cap && o < 160) {
    int len = *p < 0x80 ? 1 : (*p & 0xE0) == 0xC0 ? 2 : (*p & 0xF0) == 0xE0 ? 3 : (*p & 0xF8) == 0xF0 ? 4 : 0;
    int ok = len > 0 && !(len == 2 && *p < 0xC2) && !(len == 4 && *p > 0xF4);
    for (int k = 1; ok && k < len; k++) ok = (p[k] & 0xC0) == 0x80;
    /* overlong forms and UTF-16 surrogates (RFC 3629, section 4) */
    if (ok && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0) || (p[0] == 0xF0 && p[1] < 0x90) ||
               (p[0] == 0xF4 && p[1] >= 0x90)))
      ok = 0;
    if (!ok) {
      p++;
      continue;
    }
    if (len == 1) {
      out[o++] = (*p < 32 || *p == '"' || *p == '\\' || *p == 127) ? ' ' : (char)*p;
    } else {
      memcpy(out + o, p, (size_t)len);
      o += (size_t)len;
    }
    p += len;
  }
  out[o] = 0;
}

/* ==== Without a model: a colour transfer, and the model-free loss terms ==== */

dlut_lut *dlut_grade_transfer(const dlut_image *photo, const dlut_image *ref, int size, uint64_t seed) {
  return dlut_grade_transfer_set(&photo, 1, ref, size, seed);
}

dlut_lut *dlut_grade_transfer_set(const dlut_image *const *photos, int n, const dlut_image *ref, int size,
                                  uint64_t seed) {
  if (!photos || n < 1 || !ref) {
    dlut_error("grade: transfer needs a photo and a reference");
    return NULL;
  }
  if (n > DLUT_GRADE_SET_MAX) {
    dlut_error("grade: %d photos in one set; at most %d", n, DLUT_GRADE_SET_MAX);
    return NULL;
  }
  for (int i = 0; i < n; i++)
    if (!photos[i]) {
      dlut_error("grade: transfer needs a photo and a reference");
      return NULL;
    }
  if (size < 2 || size > 65) {
    dlut_error("grade: LUT size %d out of range 2..65", size);
    return NULL;
  }
  /* all photos' samples pooled: ceil(65536 / n) from each, photo i with seed + i */
  const int64_t per = (65536 + n - 1) / n;
  int64_t ns = 0, nr = 0;
  float *a = malloc((size_t)per * n * 3 * sizeof(float)), *b = NULL;
  dlut_lut *lut = NULL;
  if (!a) {
    dlut_error("grade: out of memory");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    int64_t got;
    float *part = pixel_sample(photos[i], per, seed + (uint64_t)i, &got);
    if (!part) goto done;
    memcpy(a + ns * 3, part, (size_t)got * 3 * sizeof(float));
    ns += got;
    free(part);
  }
  b = pixel_sample(ref, 65536, seed + 1, &nr);
  lut = b ? dlut_lut_alloc(size, 0) : NULL;
  if (lut && reinhard_table(a, ns, b, nr, size, lut->table) != 0) {
    dlut_lut_free(lut);
    lut = NULL;
  }
  if (lut) snprintf(lut->title, sizeof lut->title, "dlut grade: colour transfer (Reinhard, Lab)");
done:
  free(a);
  free(b);
  return lut;
}

int dlut_grade_lut_losses_set(const dlut_image *const *photos, int n, const dlut_lut *lut,
                              const dlut_grade_losses *weights, int samples, uint64_t seed, dlut_grade_losses *out) {
  if (!photos || n < 1 || n > DLUT_GRADE_SET_MAX)
    return dlut_error("grade: losses need 1..%d photos", DLUT_GRADE_SET_MAX);
  if (n == 1) return dlut_grade_lut_losses(photos[0], lut, weights, samples, seed, out);
  const int per = (int)(((int64_t)(samples < 16 ? 16 : samples) + n - 1) / n);
  dlut_grade_losses sum;
  memset(&sum, 0, sizeof sum);
  for (int i = 0; i < n; i++) {
    dlut_grade_losses l;
    if (dlut_grade_lut_losses(photos[i], lut, weights, per, seed + (uint64_t)i, &l) != 0) return -1;
    sum.total += l.total / n;
    sum.mono = l.mono; /* the lattice terms are the LUT's own */
    sum.smooth = l.smooth;
    sum.vol += l.vol / n;
    sum.shift += l.shift / n;
    sum.eigen += l.eigen / n;
  }
  sum.clip = NAN;
  *out = sum;
  return 0;
}

int dlut_grade_lut_losses(const dlut_image *photo, const dlut_lut *lut, const dlut_grade_losses *w_in, int samples,
                          uint64_t seed, dlut_grade_losses *out) {
  if (!photo || !lut || !lut->table || lut->size < 2) return dlut_error("grade: losses need a photo and a 3D LUT");
  dlut_grade_losses w = {0, 1, 1, 1, 1, 20, 10000};
  if (w_in) w = *w_in;
  int64_t ns = 0;
  float *s = pixel_sample(photo, samples < 16 ? 16 : samples, seed, &ns);
  if (!s) return -1;
  float *lab = malloc((size_t)ns * 3 * sizeof(float)), *o = malloc((size_t)ns * 3 * sizeof(float));
  int rc = -1;
  if (!lab || !o) {
    dlut_error("grade: out of memory");
    goto done;
  }
  dlut_grade_stats so, se;
  dlut_color_srgb_to_lab(s, lab, ns);
  for (int64_t i = 0; i < ns * 3; i++) lab[i] *= k_lab_scale[i % 3];
  if (dlut_grade_stats_compute(lab, ns, &so) != 0) goto done;
  dlut_lut_apply_f32(lut, s, o, ns, INTERP);
  for (int64_t i = 0; i < ns * 3; i++) o[i] = !isfinite(o[i]) ? 0 : o[i] < 0 ? 0 : o[i] > 1 ? 1 : o[i];
  dlut_color_srgb_to_lab(o, lab, ns);
  for (int64_t i = 0; i < ns * 3; i++) lab[i] *= k_lab_scale[i % 3];
  if (dlut_grade_stats_compute(lab, ns, &se) != 0) goto done;
  memset(out, 0, sizeof *out);
  dlut_grade_color_forward(&so, &se, &out->vol, &out->eigen, &out->shift);
  dlut_grade_lattice_forward(lut->table, lut->size, &out->mono, &out->smooth);
  out->clip = NAN;
  out->total =
      w.mono * out->mono + w.smooth * out->smooth + w.vol * out->vol + w.shift * out->shift + w.eigen * out->eigen;
  rc = 0;
done:
  free(s);
  free(lab);
  free(o);
  return rc;
}

/* ==== The problem: everything a step needs, set up once ==== */

struct dlut_grade_problem {
  grade g;
  dlut_grade_opts o; /* with defaults resolved */
  float *base;       /* the starting table (identity or a colour transfer) */
  int has_prompt;
};

void dlut_grade_problem_free(dlut_grade_problem *p) {
  if (!p) return;
  grade_free(&p->g);
  free(p->base);
  free(p);
}

dlut_grade_problem *dlut_grade_problem_new(dlut_clip *model, const dlut_image *photo, const dlut_grade_opts *o) {
  return dlut_grade_problem_new_set(model, &photo, 1, o);
}

dlut_grade_problem *dlut_grade_problem_new_set(dlut_clip *model, const dlut_image *const *photos, int n_photos,
                                               const dlut_grade_opts *o_in) {
  dlut_grade_problem *P = calloc(1, sizeof *P);
  if (!P) {
    dlut_error("grade: out of memory");
    return NULL;
  }
  float *ref_work = NULL, *text_tmp = NULL, *ref_samp = NULL;
  grade *g = &P->g;
  dlut_lut_scratch_init(&g->lut_ws);
  dlut_clip_prep_scratch_init(&g->prep_ws);
  if (o_in)
    P->o = *o_in;
  else
    dlut_grade_opts_init(&P->o);
  dlut_grade_opts *o = &P->o;

  /* ---- validate ---- */
  if (!model) {
    dlut_error("grade: no model");
    goto fail;
  }
  if (!photos || n_photos < 1) {
    dlut_error("grade: no photo");
    goto fail;
  }
  if (n_photos > DLUT_GRADE_SET_MAX) {
    dlut_error("grade: %d photos in one set; at most %d", n_photos, DLUT_GRADE_SET_MAX);
    goto fail;
  }
  for (int i = 0; i < n_photos; i++)
    if (!photos[i] || photos[i]->width < 1 || photos[i]->height < 1) {
      if (n_photos == 1)
        dlut_error("grade: no photo");
      else
        dlut_error("grade: photo %d of the set is missing or empty", i + 1);
      goto fail;
    }
  if (o->augment < 0 || o->augment > 64) {
    dlut_error("grade: augment %d out of range 0..64 views", o->augment);
    goto fail;
  }
  P->has_prompt = o->prompt && *o->prompt;
  if (!P->has_prompt && !o->ref) {
    dlut_error("grade: empty prompt (say what the grade should look like, or give a reference photo)");
    goto fail;
  }
  if (o->ref && o->ref_mode != DLUT_GRADE_REF_IMAGE && o->n_ref_edits == 0 && !P->has_prompt) {
    dlut_error("grade: this reference mode edits the reference with text, but the prompt is empty");
    goto fail;
  }
  if (o->lut_size < 2 || o->lut_size > 65) {
    dlut_error("grade: LUT size %d out of range 2..65", o->lut_size);
    goto fail;
  }
  if (o->steps == 0) o->steps = o->param == DLUT_GRADE_PARAM_FIELD ? 1000 : 200;
  if (o->steps < 1 || o->steps > 1000000) {
    dlut_error("grade: steps %d out of range 1..1000000", o->steps);
    goto fail;
  }
  if (o->param != DLUT_GRADE_PARAM_FIELD && o->param != DLUT_GRADE_PARAM_LATTICE) {
    dlut_error("grade: unknown parameterisation %d", (int)o->param);
    goto fail;
  }
  if (o->lattice_coarse < 2 || o->lattice_coarse > 65) {
    dlut_error("grade: coarse lattice %d out of range 2..65", o->lattice_coarse);
    goto fail;
  }
  if (o->field_hidden < 1 || o->field_hidden > 8192) {
    dlut_error("grade: field width %d out of range 1..8192", o->field_hidden);
    goto fail;
  }
  if (o->samples < 16) o->samples = 16;
  if (!(o->dir_eps > 0)) o->dir_eps = 3e-2f;
  if (!(o->lr > 0)) o->lr = o->param == DLUT_GRADE_PARAM_FIELD ? 2e-4f : 2e-2f;
  if (!(o->lr_min > 0)) o->lr_min = o->param == DLUT_GRADE_PARAM_FIELD ? 1e-6f : o->lr / 100;

  g->m = model;
  g->info = dlut_clip_get_info(model);
  g->dim = g->info->embed_dim;
  g->S = g->info->image_size;
  g->w = o->weights;
  g->dir_eps = o->dir_eps;
  g->n = o->lut_size;
  const int n = g->n;
  const int64_t nt = (int64_t)n * n * n * 3;
  if (g->dim < 1 || g->S < 1) {
    dlut_error("grade: the model reports no embedding or image size");
    goto fail;
  }

  /* ---- allocate everything once ---- */
  g->np = n_photos;
  if (!(g->ph = calloc((size_t)n_photos, sizeof *g->ph))) goto oom;
  for (int i = 0; i < n_photos; i++) {
    grade_photo *ph = &g->ph[i];
    if (!(ph->work = working_image(photos[i], g->S, &ph->ww, &ph->wh))) goto fail;
    ph->npx = (int64_t)ph->ww * ph->wh;
    if (ph->npx > g->npx_max) g->npx_max = ph->npx;
    ph->f_orig = malloc((size_t)g->dim * sizeof(float));
    ph->style = malloc((size_t)g->dim * sizeof(float));
    if (!ph->f_orig || !ph->style) goto oom;
  }
  g->aug_views = o->augment;
  g->aug_step = -1;
  g->aug_seed = o->seed ^ 0x6a09e667f3bcc909ull;
  g->graded = malloc((size_t)g->npx_max * 3 * sizeof(float));
  g->d_graded = malloc((size_t)g->npx_max * 3 * sizeof(float));
  g->crop = malloc((size_t)g->npx_max * 3 * sizeof(float));
  g->d_crop = malloc((size_t)g->npx_max * 3 * sizeof(float));
  g->pixels = malloc((size_t)3 * g->S * g->S * sizeof(float));
  g->d_pixels = malloc((size_t)3 * g->S * g->S * sizeof(float));
  g->e = malloc((size_t)g->dim * sizeof(float));
  g->d_e = malloc((size_t)g->dim * sizeof(float));
  g->f_target = malloc((size_t)g->dim * sizeof(float));
  text_tmp = malloc((size_t)g->dim * 2 * sizeof(float));
  g->lut = dlut_lut_alloc(n, 0);
  g->d_table = malloc((size_t)nt * sizeof(float));
  P->base = malloc((size_t)nt * sizeof(float));
  if (!g->graded || !g->d_graded || !g->crop || !g->d_crop || !g->pixels || !g->d_pixels || !g->e || !g->d_e ||
      !g->f_target || !text_tmp || !g->lut || !g->d_table || !P->base)
    goto oom;
  /* the pooled sample: photo i gives ceil(samples / n) pixels drawn with
   * seed + i (a set of one is exactly the single-photo sample) */
  {
    const int64_t per = ((int64_t)o->samples + n_photos - 1) / n_photos;
    int64_t total = 0;
    float **parts = calloc((size_t)n_photos, sizeof *parts);
    if (!parts) goto oom;
    int ok = 1;
    for (int i = 0; i < n_photos && ok; i++) {
      if (!(parts[i] = pixel_sample(photos[i], per, o->seed + (uint64_t)i, &g->ph[i].ns))) ok = 0;
      if (ok && g->ph[i].ns < 2) {
        if (n_photos == 1)
          dlut_error("grade: the photo has too few pixels for colour statistics");
        else
          dlut_error("grade: photo %d has too few pixels for colour statistics", i + 1);
        ok = 0;
      }
      if (ok) {
        g->ph[i].s_off = total;
        total += g->ph[i].ns;
      }
    }
    if (ok && n_photos == 1) {
      g->samp = parts[0];
      parts[0] = NULL;
    } else if (ok && !(g->samp = malloc((size_t)total * 3 * sizeof(float)))) {
      dlut_error("grade: out of memory");
      ok = 0;
    } else if (ok) {
      for (int i = 0; i < n_photos; i++)
        memcpy(g->samp + g->ph[i].s_off * 3, parts[i], (size_t)g->ph[i].ns * 3 * sizeof(float));
    }
    for (int i = 0; i < n_photos; i++) free(parts[i]);
    free(parts);
    if (!ok) goto fail;
    g->ns = total;
  }
  g->samp_out = malloc((size_t)g->ns * 3 * sizeof(float));
  g->lab = malloc((size_t)g->ns * 3 * sizeof(float));
  g->d_lab = malloc((size_t)g->ns * 3 * sizeof(float));
  g->d_samp = malloc((size_t)g->ns * 3 * sizeof(float));
  if (!g->samp_out || !g->lab || !g->d_lab || !g->d_samp) goto oom;
  if (reserve_scratch(g, o->steps) != 0) goto fail;

  /* ---- features ---- */
  for (int i = 0; i < n_photos; i++) {
    grade_photo *ph = &g->ph[i];
    if (embed_rgb(g, ph->work, ph->ww, ph->wh, ph->f_orig) != 0) goto fail;
  }
  dlut_color_srgb_to_lab(g->samp, g->lab, g->ns);
  for (int64_t i = 0; i < g->ns * 3; i++) g->lab[i] *= k_lab_scale[i % 3];
  for (int i = 0; i < n_photos; i++)
    if (dlut_grade_stats_compute(g->lab + g->ph[i].s_off * 3, g->ph[i].ns, &g->ph[i].st_orig) != 0) goto fail;
  const char *src_prompt = o->source_prompt && *o->source_prompt  ? o->source_prompt
                           : g->info->family == DLUT_CLIP_CHINESE ? "一张相机直出的相片"
                                                                  : "a straight-out-of-camera photo";
  if (!o->ref) {
    /* text: style = unit(f_target - f_src) */
    if (embed_text(g, o->prompt, g->f_target) != 0) goto fail;
    if (embed_text(g, src_prompt, text_tmp) != 0) goto fail;
    for (int i = 0; i < n_photos; i++)
      for (int k = 0; k < g->dim; k++) g->ph[i].style[k] = g->f_target[k] - text_tmp[k];
  } else {
    int rw, rh;
    if (!(ref_work = working_image(o->ref, g->S, &rw, &rh))) goto fail;
    /* the reference's un-normalised CLS embedding, edited as ColorizeDiffusion
     * does (ref_edit.c), then normalised */
    if (dlut_clip_preprocess(g->info, ref_work, rw, rh, g->pixels) != 0 ||
        dlut_clip_encode_image(g->m, g->pixels, text_tmp) != 0)
      goto fail;
    if (dlut_grade_ref_target(g->m, text_tmp, o, src_prompt, g->f_target) < 0) goto fail;
    /* the direction from each photo towards the (edited) reference */
    for (int i = 0; i < n_photos; i++)
      for (int k = 0; k < g->dim; k++) g->ph[i].style[k] = g->f_target[k] - g->ph[i].f_orig[k];
  }
  for (int i = 0; i < n_photos; i++) {
    double ns2 = 0;
    float *style = g->ph[i].style;
    for (int k = 0; k < g->dim; k++) ns2 += (double)style[k] * style[k];
    if (!(ns2 > 1e-16)) {
      if (n_photos > 1 && o->ref)
        dlut_error("grade: the target is indistinguishable from photo %d for this model; nothing to grade towards",
                   i + 1);
      else
        dlut_error("grade: the target is indistinguishable from the %s for this model; nothing to grade towards",
                   o->ref ? "photo" : "source prompt");
      goto fail;
    }
    grade_unit_vec(style, g->dim);
  }

  /* ---- the starting table ---- */
  for (int b = 0; b < n; b++)
    for (int gg = 0; gg < n; gg++)
      for (int r = 0; r < n; r++) {
        float *t = P->base + (((int64_t)b * n + gg) * n + r) * 3;
        t[0] = (float)r / (n - 1);
        t[1] = (float)gg / (n - 1);
        t[2] = (float)b / (n - 1);
      }
  if (o->start_lut && !(o->ref && o->ref_transfer_init)) {
    /* a given start (the offline look of the prompt): sampled at the lattice points */
    for (int64_t i = 0; i < (int64_t)n * n * n; i++) {
      float in[3] = {P->base[i * 3], P->base[i * 3 + 1], P->base[i * 3 + 2]};
      dlut_lut_eval(o->start_lut, in, P->base + i * 3, DLUT_INTERP_TETRAHEDRAL);
      for (int c = 0; c < 3; c++) {
        float v = P->base[i * 3 + c];
        P->base[i * 3 + c] = isfinite(v) ? (v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v) : in[c];
      }
    }
  }
  if (o->ref && o->ref_transfer_init) {
    int64_t nr;
    if (!(ref_samp = pixel_sample(o->ref, o->samples, o->seed + 1, &nr))) goto fail;
    if (reinhard_table(g->samp, g->ns, ref_samp, nr, n, P->base) != 0) goto fail;
  }
  /* options that point into the caller's memory are not kept */
  o->prompt = o->source_prompt = o->ref_anchor = NULL;
  o->ref = NULL;
  o->ref_edits = NULL;
  o->n_ref_edits = 0;
  o->start_lut = NULL;
  free(ref_work);
  free(ref_samp);
  free(text_tmp);
  return P;
oom:
  dlut_error("grade: out of memory");
fail:
  free(ref_work);
  free(ref_samp);
  free(text_tmp);
  dlut_grade_problem_free(P);
  return NULL;
}

int dlut_grade_problem_lut_size(const dlut_grade_problem *p) {
  return p->g.n;
}

const float *dlut_grade_problem_start(const dlut_grade_problem *p) {
  return p->base;
}

int dlut_grade_problem_eval(dlut_grade_problem *p, const float *table, dlut_grade_losses *losses, float *d_table) {
  grade *g = &p->g;
  const int64_t nt = (int64_t)g->n * g->n * g->n * 3;
  memcpy(g->lut->table, table, (size_t)nt * sizeof(float));
  dlut_grade_losses L;
  if (evaluate(g, &L, d_table != NULL) != 0) return -1;
  if (d_table) memcpy(d_table, g->d_table, (size_t)nt * sizeof(float));
  if (losses) *losses = L;
  return 0;
}

int dlut_grade_problem_photo_count(const dlut_grade_problem *p) {
  return p->g.np;
}

void dlut_grade_problem_augment(dlut_grade_problem *p, int step) {
  p->g.aug_step = step < 0 ? -1 : step;
}

/* ==== The loop ==== */

int dlut_grade_run(dlut_clip *model, const dlut_image *photo, const dlut_grade_opts *o, dlut_grade_result *res) {
  return dlut_grade_run_set(model, &photo, 1, o, res);
}

int dlut_grade_run_set(dlut_clip *model, const dlut_image *const *photos, int n_photos, const dlut_grade_opts *o_in,
                       dlut_grade_result *res) {
  if (!res) return dlut_error("grade: no result given");
  memset(res, 0, sizeof *res);
  dlut_grade_opts user;
  if (o_in)
    user = *o_in;
  else
    dlut_grade_opts_init(&user);
  const double t0 = grade_now_s();
  dlut_grade_problem *P = dlut_grade_problem_new_set(model, photos, n_photos, &user);
  if (!P) return -1;
  grade *g = &P->g;
  const dlut_grade_opts o = P->o;
  const int n = g->n;
  const int64_t nt = (int64_t)n * n * n * 3;
  float *best = NULL, *params = NULL, *pgrad = NULL, *state = NULL, *phi = NULL, *pre = NULL;
  dlut_grade_field field;
  memset(&field, 0, sizeof field);
  dlut_adamw opt;
  memset(&opt, 0, sizeof opt);
  int rc = -1;
  /* with augmentation every step scores other views, so the losses of two
   * steps are not comparable: the result is the last LUT with a finite
   * loss, scored on the plain views */
  const int aug = o.augment > 0;

  best = malloc((size_t)nt * sizeof(float));
  if (!best) goto oom;
  /* ---- the parameterisation ---- */
  int64_t np;
  if (o.param == DLUT_GRADE_PARAM_FIELD) {
    if (dlut_grade_field_init(&field, o.field_hidden, o.seed) != 0) goto fail;
    if (dlut_grade_field_reserve(&field, nt / 3) != 0) goto fail; /* its activations, before the first step */
    np = field.n_params;
    state = malloc((size_t)nt * sizeof(float));
    phi = malloc((size_t)nt * sizeof(float));
    if (!state || !phi) goto oom;
    memcpy(state, P->base, (size_t)nt * sizeof(float));
    params = field.params;
    pgrad = field.grads;
  } else {
    const int k = o.lattice_coarse;
    np = (int64_t)k * k * k * 3;
    params = calloc((size_t)np, sizeof(float));
    pgrad = malloc((size_t)np * sizeof(float));
    pre = malloc((size_t)nt * sizeof(float)); /* the backward's pre-clamp table */
    if (!params || !pgrad || !pre) goto oom;
  }
  if (dlut_adamw_init(&opt, np, o.weight_decay) != 0) goto fail;

  /* ---- the loop ---- */
  double best_total = INFINITY;
  dlut_grade_losses L;
  for (int step = 0; step < o.steps; step++) {
    /* params -> table */
    if (o.param == DLUT_GRADE_PARAM_FIELD) {
      if (dlut_grade_field_forward(&field, state, phi, nt / 3) != 0) goto fail;
      const float h = 0.5f * o.field_eps;
      for (int64_t i = 0; i < nt; i++) {
        float v = state[i] + h * phi[i];
        g->lut->table[i] = v < 0 ? 0 : v > 1 ? 1 : v;
      }
    } else {
      dlut_grade_lattice_param_forward_base(params, o.lattice_coarse, P->base, g->lut->table, n);
    }
    int table_ok = 1;
    for (int64_t i = 0; i < nt; i++) table_ok &= isfinite(g->lut->table[i]);
    if (!table_ok) {
      res->stopped = 2;
      snprintf(res->stop_reason, sizeof res->stop_reason,
               "the parameters became non-finite at step %d; kept the best LUT", step + 1);
      break;
    }
    if (aug && step == 0) {
      dlut_grade_problem_augment(P, -1);
      if (evaluate(g, &res->start, 0) != 0) goto fail;
    }
    if (aug) dlut_grade_problem_augment(P, step);
    if (evaluate(g, &L, 1) != 0) goto fail;
    if (step == 0 && !aug) res->start = L;
    res->steps_done = step + 1;
    if (!finite_losses(&L)) {
      res->stopped = 2;
      snprintf(res->stop_reason, sizeof res->stop_reason, "the loss became non-finite at step %d; kept the best LUT",
               step + 1);
      break;
    }
    if (L.total < best_total || aug) {
      best_total = L.total;
      res->end = L;
      memcpy(best, g->lut->table, (size_t)nt * sizeof(float));
    }
    int bad = 0;
    for (int64_t i = 0; i < nt; i++) bad |= !isfinite(g->d_table[i]);
    if (bad) {
      res->stopped = 2;
      snprintf(res->stop_reason, sizeof res->stop_reason,
               "the gradient became non-finite at step %d; kept the best LUT", step + 1);
      break;
    }
    /* table gradient -> parameter gradient */
    memset(pgrad, 0, (size_t)np * sizeof(float));
    if (o.param == DLUT_GRADE_PARAM_FIELD) {
      /* through the clamp and the one step: d phi = eps/2 dT where unclamped */
      const float h = 0.5f * o.field_eps;
      for (int64_t i = 0; i < nt; i++) {
        float v = state[i] + h * phi[i];
        phi[i] = (v < 0 || v > 1) ? 0.0f : h * g->d_table[i];
      }
      dlut_grade_field_backward(&field, state, phi, nt / 3);
    } else {
      dlut_grade_lattice_param_backward_pre(params, o.lattice_coarse, P->base, g->d_table, n, pgrad, pre);
    }
    dlut_adamw_step(&opt, params, pgrad, dlut_cosine_lr(step, o.steps, o.lr, o.lr_min));
    if (o.param == DLUT_GRADE_PARAM_FIELD) memcpy(state, g->lut->table, (size_t)nt * sizeof(float));
    if (o.callback) {
      dlut_grade_progress p;
      memset(&p, 0, sizeof p);
      p.step = step + 1;
      p.steps = o.steps;
      p.seconds = grade_now_s() - t0;
      p.losses = L;
      p.lut = g->lut;
      dlut_image *pv = NULL;
      if (o.preview_every > 0 && ((step + 1) % o.preview_every == 0 || step + 1 == o.steps)) pv = preview_image(g);
      p.preview = pv;
      int stop = o.callback(o.user, &p);
      dlut_image_free(pv);
      if (stop) {
        res->stopped = 1;
        snprintf(res->stop_reason, sizeof res->stop_reason, "cancelled after step %d; kept the best LUT", step + 1);
        break;
      }
    }
  }
  dlut_grade_problem_augment(P, -1);
  if (o.param == DLUT_GRADE_PARAM_LATTICE && res->stopped == 0) {
    /* the last update has not been scored yet */
    dlut_grade_lattice_param_forward_base(params, o.lattice_coarse, P->base, g->lut->table, n);
    if (evaluate(g, &L, 0) != 0) goto fail;
    if (finite_losses(&L) && (L.total < best_total || aug)) {
      best_total = L.total;
      res->end = L;
      memcpy(best, g->lut->table, (size_t)nt * sizeof(float));
    }
  } else if (aug && best_total < INFINITY) {
    memcpy(g->lut->table, best, (size_t)nt * sizeof(float));
    if (evaluate(g, &L, 0) != 0) goto fail;
    res->end = L;
  }
  if (!(best_total < INFINITY)) {
    dlut_error("grade: the loss was never finite (the model or the photo gives NaN)");
    goto fail;
  }
  res->lut = dlut_lut_alloc(n, 0);
  if (!res->lut) goto oom;
  memcpy(res->lut->table, best, (size_t)nt * sizeof(float));
  safe_title(res->lut->title, sizeof res->lut->title, P->has_prompt ? user.prompt : "reference photo");
  res->seconds = grade_now_s() - t0;
  rc = 0;
  goto done;
oom:
  dlut_error("grade: out of memory");
fail:
  dlut_lut_free(res->lut);
  res->lut = NULL;
  rc = -1;
done:
  if (o.param == DLUT_GRADE_PARAM_FIELD) {
    dlut_grade_field_free(&field);
  } else {
    free(params);
    free(pgrad);
  }
  dlut_adamw_free(&opt);
  free(state);
  free(phi);
  free(pre);
  free(best);
  dlut_grade_problem_free(P);
  return rc;
}
