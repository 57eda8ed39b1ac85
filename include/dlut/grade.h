/* dlut/grade.h - the grading engine: a photo and a sentence (or a reference
 * photo) in, a 3D LUT out, found by gradient descent through a CLIP model;
 * and the LUT that turns one photo into its graded version (`fit`).
 *
 * USAGE
 *
 *   dlut_grade_opts o;
 *   dlut_grade_opts_init(&o);                 // the defaults below
 *   o.prompt = "warm sunset film";
 *   o.steps = 200;
 *   o.callback = my_progress; o.user = me;    // optional: progress, preview, cancel
 *   dlut_grade_result r;
 *   if (dlut_grade_run(model, photo, &o, &r) != 0) fail(dlut_last_error());
 *   dlut_lut_save(r.lut, "look.cube", NULL);
 *   dlut_grade_result_free(&r);
 *
 *   // one LUT for a set of photos (a series, sampled video frames):
 *   const dlut_image *set[3] = {a, b, c};
 *   dlut_grade_run_set(model, set, 3, &o, &r);
 *
 * THE METHOD (CLIP-DLUT, as its authors define it; docs/grading.md has the
 * details, the sources and where we differ):
 *   - the photo is reduced once to a working image whose short side is the
 *     model's input side; every step applies the current LUT to it,
 *     preprocesses (bicubic, centre crop, normalise; differentiable) and
 *     encodes it, so a step costs the same for any photo size;
 *   - features (all L2-normalised): f_orig (photo), f_edit (graded photo),
 *     f_target (prompt), f_src (neutral source prompt). style = unit(f_target
 *     - f_src), edit = (f_edit - f_orig) / sqrt(|f_edit - f_orig|^2 + dir_eps^2);
 *     L_clip = 10 (1 - cos(edit, style)) + 0.7 (1 - cos(f_edit, f_target));
 *   - colour science on a fixed sample of the photo's real pixels, through
 *     the LUT, in CIELAB scaled (L/100, a/128, b/128): covariance S (+1e-6 I),
 *     L_vol = relu(logdet S_orig - logdet S_edit),
 *     L_eigen = relu(lmin(S_orig) - lmin(S_edit)),
 *     L_shift = |mean_edit - mean_orig|;
 *   - lattice terms along the three lattice axes (0 for the identity):
 *     L_mono = sum over axes of mean relu(-first difference),
 *     L_smooth = sum over axes of mean squared second difference;
 *   - total = 1 L_clip + 1 L_mono + 1 L_smooth + 1 L_vol + 20 L_shift
 *     + 10000 L_eigen (weights settable).
 *
 * PARAMETERISATIONS
 *   DLUT_GRADE_PARAM_FIELD   (the original's): an MLP phi 3->H->H->H->3,
 *       LeakyReLU(0.01), last layer zero; each step L <- clamp(L + eps/2
 *       phi(L), 0, 1) from the identity, gradients through that one step;
 *       AdamW, cosine schedule 2e-4 -> 1e-6.
 *   DLUT_GRADE_PARAM_LATTICE (ours, the default; see docs/grading.md for the
 *       measurements): a residual on a coarse lattice (17^3 by default),
 *       trilinearly upsampled to the output lattice and added to the
 *       identity, clamped to [0,1]; AdamW, cosine schedule 2e-2 -> 2e-4.
 *       The coarse lattice is the smoothness preconditioner: the optimiser
 *       cannot make detail finer than one coarse cell.
 *
 * SETS (dlut_grade_run_set): one LUT for n photos (1..DLUT_GRADE_SET_MAX).
 *   Each photo has its own working image and f_orig (with a reference, its
 *   own direction towards it); L_clip is the mean of the photos' L_clip.
 *   The colour terms are the mean of each photo's own terms, photo i
 *   scored on ceil(samples / n) of its pixels drawn with seed + i, so no
 *   photo may lose its colour volume or take a cast because the others
 *   make up for it. The set's total is therefore exactly the mean of the
 *   totals of n single-photo problems built with those samples and seeds
 *   (tests/test_grade_set.c), and a set of one is the single-photo grade.
 *   One step costs n CLIP forward and backward passes.
 *
 * AUGMENTATION (augment = V > 0): every step scores V random views of each
 *   photo instead of the whole working image: a crop of 70-100% of its
 *   sides at a random place, mirrored half of the time, drawn from (seed,
 *   step, photo, view), so a run is reproducible. L_clip is the mean over
 *   photos and views. As in CLIP-guided image optimisers, this keeps the
 *   grade from fitting one fixed set of pixels adversarially. The losses of
 *   different steps then score different views, so the result is the last
 *   LUT (not the lowest-loss one), and its start/end losses are scored on
 *   the plain views.
 *
 * DETERMINISM: the same inputs, seed and thread count give a bitwise equal
 * LUT (every parallel reduction is split by thread count only).
 *
 * OWNERSHIP AND ERRORS: the model and the photo stay the caller's; the
 * result's LUT is the caller's (dlut_grade_result_free). Functions return
 * 0 / a pointer, or -1 / NULL with dlut_last_error() set. NaN or Inf during
 * optimisation is a safe stop: the result keeps the best LUT seen so far
 * and says why it stopped. A model or calls on it must not be shared
 * between threads while a grade runs.
 */
#ifndef DLUT_GRADE_H
#define DLUT_GRADE_H

#include <stdint.h>

#include "dlut/clip.h"
#include "dlut/image.h"
#include "dlut/lut.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Grading ==== */

typedef enum dlut_grade_param {
  DLUT_GRADE_PARAM_LATTICE = 0, /* coarse residual lattice (default) */
  DLUT_GRADE_PARAM_FIELD = 1,   /* the original's MLP field */
} dlut_grade_param;

/* How a reference photo guides the grade (ColorizeDiffusion's zero-shot
 * global manipulation of the reference's projected CLS token v, NOT
 * normalised, with unit target text t, unit anchor text a and scale s;
 * no renormalisation after; see dlut/manip.h and docs/grading.md). Each
 * mode is one edit: target = the prompt, anchor = ref_anchor (default the
 * source prompt), s = ref_scale (default 1); a list of edits
 * (opts.ref_edits) replaces it. */
typedef enum dlut_grade_ref_mode {
  DLUT_GRADE_REF_IMAGE = 0,   /* target = v; direction from the photo towards v */
  DLUT_GRADE_REF_ANCHOR = 1,  /* v' = v + s (t - a) */
  DLUT_GRADE_REF_ENHANCE = 2, /* v' = v - (v.a) a + s t */
  DLUT_GRADE_REF_REPLACE = 3, /* v' = v + (s - v.t) t */
} dlut_grade_ref_mode;

/* One global edit of the reference (a row of ColorizeDiffusion's
 * manipulation prompt): no anchor + enhance 0: v + (s - v.t) t; no anchor +
 * enhance 1: v + s t; anchor + enhance 0: v + s (t - a); anchor + enhance
 * 1: v - (v.a) a + s t. Edits apply in order; as upstream, none applies
 * unless some s > 0. */
typedef struct dlut_grade_ref_edit {
  const char *target; /* target text (required) */
  const char *anchor; /* anchor text; NULL, "" or "none" = no anchor */
  float scale;        /* s, in the units of v.t (ColorizeDiffusion's UI: 0..15) */
  int enhance;        /* 0 or 1 */
} dlut_grade_ref_edit;

/* Loss weights (and the unweighted terms of a result). */
typedef struct dlut_grade_losses {
  double total;  /* weighted sum (in results); unused in weights */
  double clip;   /* CLIP directional + content term */
  double mono;   /* lattice monotonicity */
  double smooth; /* lattice smoothness */
  double vol;    /* colour-volume collapse */
  double shift;  /* mean colour shift */
  double eigen;  /* smallest-axis collapse */
} dlut_grade_losses;

typedef struct dlut_grade_progress {
  int step;                  /* steps done (1..steps) */
  int steps;                 /* steps planned */
  double seconds;            /* since the start */
  dlut_grade_losses losses;  /* at this step (unweighted terms + weighted total) */
  const dlut_image *preview; /* the working image through the current LUT (U8 RGB), or NULL */
  const dlut_lut *lut;       /* the current LUT (valid during the call only) */
} dlut_grade_progress;

/* Called after every step; return nonzero to cancel (the result then keeps
 * the best LUT so far). */
typedef int (*dlut_grade_callback)(void *user, const dlut_grade_progress *p);

typedef struct dlut_grade_opts {
  const char *prompt;        /* what the grade should look like (UTF-8); required unless ref is set */
  const char *source_prompt; /* neutral prompt; NULL = "a straight-out-of-camera photo" (OpenAI)
                                or "一张相机直出的相片" (Chinese-CLIP) */
  const dlut_image *ref;     /* reference photo or NULL */
  dlut_grade_ref_mode ref_mode;
  const char *ref_anchor;    /* anchor text for REF_ANCHOR / REF_ENHANCE; NULL = source_prompt */
  float ref_scale;           /* s of that edit, in the units of v.t (default 1) */
  int ref_transfer_init;     /* nonzero: start from a Reinhard Lab transfer towards ref */
  const dlut_lut *start_lut; /* starting LUT (e.g. the prompt's offline look, dlut/looks.h), evaluated
                                tetrahedrally at the lattice points; NULL = the identity. Overridden by
                                ref_transfer_init. Not kept after dlut_grade_run returns. */
  int lut_size;              /* output lattice (2..65; default 33) */
  int steps;                 /* optimisation steps; 0 = 200 (lattice) or 1000 (field, as the original) */
  uint64_t seed;             /* pixel sample and initialisation (default 0) */
  dlut_grade_param param;    /* parameterisation (default LATTICE) */
  dlut_grade_losses weights; /* default 1,1,1,1,20,10000 (total ignored) */
  float lr;                  /* peak learning rate; 0 = per parameterisation (2e-2 / 2e-4) */
  float lr_min;              /* final learning rate; 0 = lr / 100 (field: 1e-6) */
  float weight_decay;        /* AdamW (default 0.01, as PyTorch) */
  float field_eps;           /* field step eps (default 2e-3) */
  int field_hidden;          /* field MLP width (default 512) */
  int lattice_coarse;        /* coarse lattice side (2..65; default 17) */
  int samples;               /* photo pixels for the colour terms (default 16384; a set shares them) */
  float dir_eps;             /* smoothing of |edit|: sqrt(|edit|^2 + eps^2) (default 3e-2, see docs) */
  int augment;               /* random crop+flip views per photo per step, 0..64 (default 0 = none) */
  int preview_every;         /* preview to the callback every N steps (0 = never; a set previews photo 1) */
  dlut_grade_callback callback;
  void *user;
  const dlut_grade_ref_edit *ref_edits; /* global edits of the reference, in order; with n_ref_edits > 0
                                           they replace ref_mode/ref_scale/ref_anchor (not kept) */
  int n_ref_edits;
} dlut_grade_opts;

typedef struct dlut_grade_result {
  dlut_lut *lut;           /* the best LUT found (lowest total); caller frees */
  dlut_grade_losses start; /* losses of the starting LUT */
  dlut_grade_losses end;   /* losses of the returned LUT */
  int steps_done;          /* steps taken */
  double seconds;          /* wall time of the optimisation */
  int stopped;             /* 0 finished, 1 cancelled, 2 non-finite loss */
  char stop_reason[160];   /* "" or why it stopped early */
} dlut_grade_result;

void dlut_grade_opts_init(dlut_grade_opts *o);

/* The most photos in one set. */
#define DLUT_GRADE_SET_MAX 1024

/* Grade `photo` (any pixel type, RGB or RGBA) with `model`. The same as
 * dlut_grade_run_set with n = 1. */
int dlut_grade_run(dlut_clip *model, const dlut_image *photo, const dlut_grade_opts *o, dlut_grade_result *res);

/* One LUT for photos[0..n-1] (n in 1..DLUT_GRADE_SET_MAX; see SETS above).
 * The photos stay the caller's and may differ in size and pixel type. */
int dlut_grade_run_set(dlut_clip *model, const dlut_image *const *photos, int n, const dlut_grade_opts *o,
                       dlut_grade_result *res);
void dlut_grade_result_free(dlut_grade_result *res);

/* Without a model: Reinhard et al.'s colour transfer in CIELAB (means and
 * standard deviations per channel) from photo towards ref, baked into a
 * LUT of `size` (the starting point --transfer uses). */
dlut_lut *dlut_grade_transfer(const dlut_image *photo, const dlut_image *ref, int size, uint64_t seed);
/* The same for a set: the statistics of all photos' pixels together
 * (ceil(65536 / n) sampled from each, photo i with seed + i), one LUT for all. */
dlut_lut *dlut_grade_transfer_set(const dlut_image *const *photos, int n, const dlut_image *ref, int size,
                                  uint64_t seed);

/* The model-free loss terms of any LUT on a photo (clip = NaN; total
 * leaves it out). weights NULL = the defaults. */
int dlut_grade_lut_losses(const dlut_image *photo, const dlut_lut *lut, const dlut_grade_losses *weights, int samples,
                          uint64_t seed, dlut_grade_losses *out);
/* The same over a set, as the engine scores one: the mean of each photo's
 * terms, photo i on ceil(samples / n) pixels drawn with seed + i. */
int dlut_grade_lut_losses_set(const dlut_image *const *photos, int n, const dlut_lut *lut,
                              const dlut_grade_losses *weights, int samples, uint64_t seed, dlut_grade_losses *out);

/* The grading problem without the optimiser: set up once (working image,
 * pixel sample, features, starting table), then score any table (n^3,3)
 * and, if d_table is not NULL, write dL_total/dtable. The server and the
 * tests use it; dlut_grade_run is built on it. The model is borrowed and
 * must outlive the problem; opts' strings and images are not kept. */
typedef struct dlut_grade_problem dlut_grade_problem;
dlut_grade_problem *dlut_grade_problem_new(dlut_clip *model, const dlut_image *photo, const dlut_grade_opts *o);
dlut_grade_problem *dlut_grade_problem_new_set(dlut_clip *model, const dlut_image *const *photos, int n,
                                               const dlut_grade_opts *o);
int dlut_grade_problem_photo_count(const dlut_grade_problem *p);
/* With o->augment > 0: evaluations from now on score the views drawn for
 * optimiser step `step` (a fixed crop and flip per photo and view, so eval
 * is an ordinary differentiable function of the table); step < 0 (the
 * state after new) scores the plain working images. */
void dlut_grade_problem_augment(dlut_grade_problem *p, int step);
void dlut_grade_problem_free(dlut_grade_problem *p);
int dlut_grade_problem_lut_size(const dlut_grade_problem *p);
const float *dlut_grade_problem_start(const dlut_grade_problem *p); /* the starting table */
int dlut_grade_problem_eval(dlut_grade_problem *p, const float *table, dlut_grade_losses *losses, float *d_table);

/* The unit target a reference grades towards: v (E) = the reference's
 * projected CLS embedding as dlut_clip_encode_image returns it (NOT
 * normalised), edited by o->ref_edits (or the one edit o->ref_mode,
 * ref_scale and ref_anchor describe; source_prompt = the anchor's default,
 * NULL = the model's neutral prompt), then out = unit(v'). Returns the
 * number of edits applied (0: none given, or none with s > 0) or -1. */
int dlut_grade_ref_target(dlut_clip *model, const float *v, const dlut_grade_opts *o, const char *source_prompt,
                          float *out);

/* ==== Fitting a LUT to a before/after pair ==== */

typedef struct dlut_fit_opts {
  int lut_size;     /* output lattice (default 33) */
  float smooth;     /* weight of L_smooth against the mean squared error (default 1e-3) */
  int max_samples;  /* pixel pairs used (default 262144; a fixed sample beyond that) */
  int refine_steps; /* AdamW steps on MSE + smooth + mono after the solve (default 0) */
  float mono;       /* weight of L_mono during refinement (default 1) */
  uint64_t seed;    /* pixel sample (default 0) */
} dlut_fit_opts;

typedef struct dlut_fit_stats {
  double rmse;     /* RGB root mean squared error of the fit over the samples */
  int cg_iters;    /* conjugate-gradient iterations used */
  int64_t samples; /* pixel pairs used */
} dlut_fit_stats;

void dlut_fit_opts_init(dlut_fit_opts *o);

/* The LUT that maps `before` onto `after` (same width and height). The
 * solve is a regularised least-squares fit on the lattice: tetrahedral
 * interpolation weights of every sample, the squared second differences
 * along the three axes as regulariser, solved by conjugate gradients per
 * channel. stats may be NULL. */
dlut_lut *dlut_fit(const dlut_image *before, const dlut_image *after, const dlut_fit_opts *o, dlut_fit_stats *stats);

/* ==== Building blocks (forward/backward pairs; tests and benches use them) ==== */

/* Lattice terms of table (n^3, 3), red fastest. Backward ACCUMULATES
 * d_mono * dL_mono/dT + d_smooth * dL_smooth/dT into d_table. */
void dlut_grade_lattice_forward(const float *table, int n, double *mono, double *smooth);
void dlut_grade_lattice_backward(const float *table, int n, double d_mono, double d_smooth, float *d_table);

/* Statistics of (m,3) scaled Lab samples: mean, covariance (+1e-6 I; the
 * unbiased 1/(m-1) estimate, as torch.cov / the original), log det and
 * smallest eigenvalue with its unit eigenvector. */
typedef struct dlut_grade_stats {
  double mean[3];
  double cov[9]; /* row major, symmetric */
  double logdet;
  double lmin;
  double vmin[3]; /* eigenvector of lmin */
} dlut_grade_stats;

int dlut_grade_stats_compute(const float *lab, int64_t m, dlut_grade_stats *s);

/* Colour terms of the edit against the original; backward writes dL/dlab
 * (m,3) for dL = d_vol dL_vol + d_eigen dL_eigen + d_shift dL_shift. */
void dlut_grade_color_forward(const dlut_grade_stats *orig, const dlut_grade_stats *edit, double *vol, double *eigen,
                              double *shift);
void dlut_grade_color_backward(const dlut_grade_stats *orig, const dlut_grade_stats *edit, const float *lab, int64_t m,
                               double d_vol, double d_eigen, double d_shift, float *d_lab);

/* Symmetric 3x3 eigen-decomposition (Jacobi): eigenvalues ascending, the
 * columns of vecs (row major) their unit eigenvectors. */
void dlut_grade_eig3(const double a[9], double vals[3], double vecs[9]);

/* The CLIP term from the raw image embedding e (dim), given unit vectors
 * f_orig, f_target and style (dim). Returns the loss and, if d_e is not
 * NULL, writes dL/de. w_dir = 10, w_content = 0.7 in the original. */
double dlut_grade_clip_loss(const float *e, const float *f_orig, const float *f_target, const float *style, int dim,
                            double w_dir, double w_content, double dir_eps, float *d_e);

/* The MLP field phi: 3 -> h -> h -> h -> 3, LeakyReLU(0.01) after the first
 * three layers. Weights are PyTorch Linear layouts W (out,in), b (out). */
typedef struct dlut_grade_field {
  int hidden; /* h */
  int64_t n_params;
  float *params;                      /* all weights and biases, one block (owned) */
  float *grads;                       /* same layout (owned) */
  float *w[4], *b[4], *dw[4], *db[4]; /* views into params / grads */
  int64_t cap;                        /* rows the activation buffers hold */
  float *act;                         /* activations: pre-activations of layers 1..3 and their outputs (owned) */
  float *scratch;                     /* backward scratch (owned) */
  uint16_t *bf;                       /* bf16 packed operands of the fast path (owned) */
  int64_t bf_cap;                     /* rows bf holds */
  int bf16_used;                      /* the last forward took the bf16 products */
} dlut_grade_field;

/* Kaiming-uniform init as torch.nn.Linear (seeded), last layer zero. */
int dlut_grade_field_init(dlut_grade_field *f, int hidden, uint64_t seed);
void dlut_grade_field_free(dlut_grade_field *f);
/* out (n,3) = phi(in (n,3)); keeps activations for backward. The two
 * h x h layers (forward, input gradient and weight gradient) take bf16
 * products with fp32 accumulation (dlut/tensor.h) where the CPU has them,
 * under the same switch as the vision tower: DLUT_CLIP_PRECISION=fp32
 * keeps fp32 sgemm, bf16 forces the bf16 products, auto (the default) takes
 * them for h >= 256 (the original's 512). The backward follows the forward. */
int dlut_grade_field_forward(dlut_grade_field *f, const float *in, float *out, int64_t n);
/* Allocate what a forward and backward over n rows keep (activations,
 * scratch, the bf16 operands where the forward would take them), so a loop
 * over the same n allocates nothing. 0, or -1 (no memory for the fp32
 * activations). Optional: the forward grows them itself. */
int dlut_grade_field_reserve(dlut_grade_field *f, int64_t n);
/* Given dL/dout (n,3) of the last forward, ACCUMULATES into f->grads. */
void dlut_grade_field_backward(dlut_grade_field *f, const float *in, const float *d_out, int64_t n);
/* Naive reference forward (loops, double accumulation). */
void dlut_grade_field_forward_ref(const dlut_grade_field *f, const float *in, float *out, int64_t n);

/* AdamW as torch.optim.AdamW (decoupled weight decay, bias correction). */
typedef struct dlut_adamw {
  int64_t n;
  float *m, *v; /* moments (owned) */
  int t;        /* steps taken */
  float beta1, beta2, eps, weight_decay;
} dlut_adamw;

int dlut_adamw_init(dlut_adamw *a, int64_t n, float weight_decay);
void dlut_adamw_free(dlut_adamw *a);
void dlut_adamw_step(dlut_adamw *a, float *params, const float *grads, float lr);

/* CosineAnnealingLR: lr at step t of T (t = 0 gives lr_max, t = T lr_min). */
float dlut_cosine_lr(int t, int T, float lr_max, float lr_min);

/* Coarse residual lattice: table (n^3,3) = clamp(identity + up(res), 0, 1),
 * res (k^3,3) upsampled trilinearly (lattice corners aligned). The backward
 * ACCUMULATES dL/dres from dL/dtable (zero where clamped). */
void dlut_grade_lattice_param_forward(const float *res, int k, float *table, int n);
void dlut_grade_lattice_param_backward(const float *res, int k, const float *table, const float *d_table, int n,
                                       float *d_res);
/* The same around a starting table `base` (n^3,3) instead of the identity
 * (NULL = identity): table = clamp(base + up(res), 0, 1). */
void dlut_grade_lattice_param_forward_base(const float *res, int k, const float *base, float *table, int n);
void dlut_grade_lattice_param_backward_base(const float *res, int k, const float *base, const float *d_table, int n,
                                            float *d_res);
/* The same with the caller's scratch pre (n^3,3 floats, overwritten: the
 * pre-clamp table) instead of one allocated per call, for a loop. */
void dlut_grade_lattice_param_backward_pre(const float *res, int k, const float *base, const float *d_table, int n,
                                           float *d_res, float *pre);

#ifdef __cplusplus
}
#endif
#endif
