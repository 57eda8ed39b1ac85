/* `dlut refcheck`'s second part: ColorizeDiffusion's text manipulation
 * (dlut/manip.h) against ref/manipulation/, the values its own functions
 * (global_manipulate, local_manipulate, local_manipulate_step) computed on
 * the case's model. Driven by ref/manipulation/index.json alone: every
 * case it lists is run from the stored inputs (the "full" token set and
 * the L2-normalised text embeddings, float64 cast to float32, as the
 * upstream float32 rerun), step by step, and every intermediate and output
 * the case names is compared (relative error max|ours - ref| / max|ref|
 * per array); the edit itself (output - input) is compared the same way,
 * and the CLS of a local case must pass through bit for bit. The engine's
 * own inputs are checked too: the full token set of every reference image
 * through this model and the texts' normalised embeddings. One line per
 * case names its id and worst relative error. */
#include "refcheck_manip.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip/clip_npy.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/manip.h"

#define MAX_GROUPS 32

typedef struct {
  char name[64];
  double worst;
  int n, fails;
} group_t;

typedef struct {
  const char *mdir; /* CASE_DIR/ref/manipulation */
  double tol;
  int quiet;
  int N, P, E;    /* images, patch tokens, embed dim (from inputs.full_tokens) */
  float *full;    /* (N, 1+P, E) stored input tokens */
  double *full_d; /* the same in float64 */
  cJSON *index;
  const cJSON *inputs;
  group_t groups[MAX_GROUPS];
  int n_groups;
} mctx;

/* One case's comparisons. */
typedef struct {
  double worst;
  char worst_name[96];
  int n_arrays;
  int failed;
  char why[256];
} case_res;

static const cJSON *get(const cJSON *o, const char *k) {
  return o ? cJSON_GetObjectItemCaseSensitive(o, k) : NULL;
}

static int load_npy(mctx *c, const char *file, dlut_npy *a) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", c->mdir, file);
  return dlut_npy_load(path, a);
}

/* Compare ours (count values) with the file meta {"file": ...}; updates r. */
static void cmp_file(mctx *c, case_res *r, const char *label, const cJSON *meta, const double *ours, int64_t count) {
  const cJSON *file = get(meta, "file");
  if (!cJSON_IsString(file)) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "%s: no file in index.json", label);
    return;
  }
  dlut_npy ref;
  if (load_npy(c, file->valuestring, &ref) != 0) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "%s: %s", label, dlut_last_error());
    return;
  }
  r->n_arrays++;
  if (!ours) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "%s (%s): not computed", label, file->valuestring);
  } else if (ref.count != count) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "%s (%s): %lld values computed, reference has %lld", label, file->valuestring,
             (long long)count, (long long)ref.count);
  } else {
    double md = 0, mx = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < count; i++) {
      double b = dlut_npy_get(&ref, i), d = fabs(ours[i] - b);
      if (!(d <= md)) md = d, at = i; /* NaN counts as worst */
      mx = fmax(mx, fabs(b));
    }
    double rel = mx > 0 ? md / mx : md;
    if (!(rel <= r->worst)) {
      r->worst = rel;
      snprintf(r->worst_name, sizeof r->worst_name, "%s", label);
    }
    if (!(rel <= c->tol)) {
      r->failed = 1;
      snprintf(r->why, sizeof r->why, "%s (%s): rel err %.3g at flat index %lld: ours %.9g, reference %.9g", label,
               file->valuestring, rel, (long long)at, ours[at], dlut_npy_get(&ref, at));
    }
  }
  dlut_npy_free(&ref);
}

/* The edit alone: (ours_out - ours_in) against (ref_out - ref_in). */
static void cmp_delta(mctx *c, case_res *r, const char *label, const cJSON *meta, const double *ours_out,
                      const double *ours_in, const double *ref_in, int64_t count) {
  const cJSON *file = get(meta, "file");
  dlut_npy ref;
  if (!cJSON_IsString(file) || load_npy(c, file->valuestring, &ref) != 0) return; /* cmp_file reported it */
  if (ref.count == count) {
    double md = 0, mx = 0;
    for (int64_t i = 0; i < count; i++) {
      double rd = dlut_npy_get(&ref, i) - ref_in[i], od = ours_out[i] - ours_in[i];
      double d = fabs(od - rd);
      if (!(d <= md)) md = d;
      mx = fmax(mx, fabs(rd));
    }
    double rel = mx > 0 ? md / mx : md;
    r->n_arrays++;
    if (!(rel <= r->worst)) {
      r->worst = rel;
      snprintf(r->worst_name, sizeof r->worst_name, "%s", label);
    }
    if (!(rel <= c->tol)) {
      r->failed = 1;
      snprintf(r->why, sizeof r->why, "%s: the edit (output - input) is off by %.3g relative", label, rel);
    }
  }
  dlut_npy_free(&ref);
}

/* "clip_skip1" -> "cs1": the first letter of each word, digits kept (the
 * reference files name sources by such abbreviations: "_cs1"). */
static void abbrev(const char *s, size_t n, char *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < n && k + 1 < cap; i++)
    if ((s[i] >= '0' && s[i] <= '9') || ((i == 0 || s[i - 1] == '_') && s[i] != '_')) out[k++] = s[i];
  out[k] = 0;
}

/* The inputs array holding the texts of a source: "final" is
 * text_embeds_normalized; another source S is text_embeds_S_normalized if
 * present, else the text_embeds_X_normalized whose X abbreviates to S
 * (clip_skip1 for cs1), else the one other text_embeds_*_normalized. */
static const cJSON *text_input(mctx *c, const char *source) {
  char key[160];
  if (!strcmp(source, "final")) return get(c->inputs, "text_embeds_normalized");
  snprintf(key, sizeof key, "text_embeds_%s_normalized", source);
  if (get(c->inputs, key)) return get(c->inputs, key);
  const cJSON *it, *found = NULL;
  int n = 0;
  cJSON_ArrayForEach(it, c->inputs) {
    size_t l = strlen(it->string);
    if (!strncmp(it->string, "text_embeds_", 12) && l > 23 && !strcmp(it->string + l - 11, "_normalized")) {
      char ab[64];
      abbrev(it->string + 12, l - 23, ab, sizeof ab);
      if (!strcmp(ab, source)) return it;
      found = it, n++;
    }
  }
  return n == 1 ? found : NULL;
}

/* Text embeddings of a source as float (T, E); *nt = T. */
static float *load_texts(mctx *c, const char *source, int *nt, char *why, size_t wl) {
  const cJSON *meta = text_input(c, source);
  const cJSON *file = get(meta, "file");
  if (!cJSON_IsString(file)) {
    snprintf(why, wl, "no inputs array for text source \"%s\"", source);
    return NULL;
  }
  dlut_npy a;
  if (load_npy(c, file->valuestring, &a) != 0) {
    snprintf(why, wl, "%s", dlut_last_error());
    return NULL;
  }
  if (a.ndim != 2 || a.shape[1] != c->E) {
    snprintf(why, wl, "%s: not (T, %d)", file->valuestring, c->E);
    dlut_npy_free(&a);
    return NULL;
  }
  float *t = malloc(sizeof(float) * (size_t)a.count);
  if (t)
    for (int64_t i = 0; i < a.count; i++) t[i] = (float)dlut_npy_get(&a, i);
  *nt = (int)a.shape[0];
  dlut_npy_free(&a);
  if (!t) snprintf(why, wl, "out of memory");
  return t;
}

static int text_index(const cJSON *step, const char *key, int nt, int *out) {
  const cJSON *v = get(step, key);
  if (!v || cJSON_IsNull(v)) return *out = -1, 0;
  if (cJSON_IsString(v) && !strcmp(v->valuestring, "none")) return *out = -1, 0;
  if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= nt || v->valuedouble != floor(v->valuedouble))
    return -1;
  *out = (int)v->valuedouble;
  return 0;
}

static int lower_contains(const char *s, const char *w) {
  char buf[512];
  size_t i = 0;
  for (; s[i] && i + 1 < sizeof buf; i++) buf[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  buf[i] = 0;
  return strstr(buf, w) != NULL;
}

/* Run one case; fills r. */
static void run_case(mctx *c, const cJSON *cs, case_res *r) {
  int N = c->N, P = c->P, E = c->E, T1 = 1 + P, nt = 0;
  const cJSON *kind = get(cs, "kind"), *steps = get(cs, "steps"), *outs = get(cs, "outputs");
  const cJSON *src = get(cs, "text_source"), *grp = get(cs, "group"), *ext = get(cs, "extension");
  int local = cJSON_IsString(kind) && !strcmp(kind->valuestring, "local");
  int global = cJSON_IsString(kind) && !strcmp(kind->valuestring, "global");
  /* the upstream branch c == "everything" (pwm = dscale), flagged as an extension */
  int uniform = local && ((cJSON_IsString(ext) && lower_contains(ext->valuestring, "everything")) ||
                          (cJSON_IsString(grp) && lower_contains(grp->valuestring, "everything")));
  float *texts = NULL, *tok = NULL;
  double *o = NULL, *o_in = NULL;
  float *c_map = NULL, *a_map = NULL, *m = NULL, *pwm = NULL;
  if (!local && !global) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "unknown kind");
    return;
  }
  if (!cJSON_IsArray(steps) || cJSON_GetArraySize(steps) < 1) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "no steps");
    return;
  }
  if (!(texts = load_texts(c, cJSON_IsString(src) ? src->valuestring : "final", &nt, r->why, sizeof r->why))) {
    r->failed = 1;
    return;
  }
  size_t rows = local ? (size_t)T1 : 1;
  tok = malloc(sizeof(float) * (size_t)N * rows * E);
  o = malloc(sizeof(double) * ((size_t)N * T1 * E + 16));
  o_in = malloc(sizeof(double) * (size_t)N * rows * E);
  c_map = malloc(sizeof(float) * (size_t)N * P * 4);
  if (!tok || !o || !o_in || !c_map) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "out of memory");
    goto done;
  }
  a_map = c_map + (size_t)N * P, m = a_map + (size_t)N * P, pwm = m + (size_t)N * P;
  for (int n = 0; n < N; n++)
    for (size_t k = 0; k < rows * E; k++) tok[(size_t)n * rows * E + k] = c->full[(size_t)n * T1 * E + k];
  int si = 0;
  const cJSON *st;
  cJSON_ArrayForEach(st, steps) {
    int ti, ai, ci;
    if (text_index(st, "target", nt, &ti) != 0 || ti < 0 || text_index(st, "anchor", nt, &ai) != 0 ||
        text_index(st, "control", nt, &ci) != 0 || (local && ci < 0 && !uniform)) {
      r->failed = 1;
      snprintf(r->why, sizeof r->why, "step %d: bad target/anchor/control", si);
      goto done;
    }
    const cJSON *s = get(st, "s"), *en = get(st, "enhance"), *th = get(st, "thresholds"), *ra = get(st, "ratio");
    dlut_manip_edit e;
    dlut_manip_edit_init(&e);
    e.target = texts + (size_t)ti * E;
    e.anchor = ai >= 0 ? texts + (size_t)ai * E : NULL;
    e.control = local && !uniform ? texts + (size_t)ci * E : NULL;
    e.scale = cJSON_IsNumber(s) ? (float)s->valuedouble : NAN;
    e.enhance = cJSON_IsTrue(en);
    if (cJSON_IsNumber(ra)) e.ratio = (float)ra->valuedouble;
    if (cJSON_GetArraySize(th) == 4)
      for (int k = 0; k < 4; k++) e.thresholds[k] = (float)cJSON_GetArrayItem(th, k)->valuedouble;
    double *v_t = o, *v_a = o + N; /* per image scalars, reused below */
    double cur[64], asc[64], dsc[64];
    if (N > 64) {
      r->failed = 1;
      snprintf(r->why, sizeof r->why, "more than 64 images");
      goto done;
    }
    for (int n = 0; n < N; n++) {
      float *v = tok + (size_t)n * rows * E;
      if (global) {
        double vt = 0, va = 0;
        for (int k = 0; k < E; k++) vt += (double)v[k] * e.target[k], va += e.anchor ? (double)v[k] * e.anchor[k] : 0;
        v_t[n] = vt, v_a[n] = va;
        if (dlut_manip_global_step(v, E, &e) != 0) {
          r->failed = 1;
          snprintf(r->why, sizeof r->why, "step %d: %s", si, dlut_last_error());
          goto done;
        }
      } else {
        dlut_manip_trace tr = {
            0, 0, 0, c_map + (size_t)n * P, a_map + (size_t)n * P, m + (size_t)n * P, pwm + (size_t)n * P};
        if (uniform) /* upstream computes c_map before its "everything" test */
          dlut_manip_control_map(v, P, E, texts + (size_t)(ci >= 0 ? ci : 0) * E, c_map + (size_t)n * P);
        if (dlut_manip_local_step(v, P, E, &e, &tr) != 0) {
          r->failed = 1;
          snprintf(r->why, sizeof r->why, "step %d: %s", si, dlut_last_error());
          goto done;
        }
        cur[n] = tr.cur, asc[n] = tr.anchor_scale, dsc[n] = tr.dscale;
      }
    }
    /* the step's intermediates the index names */
    const cJSON *so = get(st, "outputs"), *it;
    cJSON_ArrayForEach(it, so) {
      char label[96];
      snprintf(label, sizeof label, "step%d.%s", si, it->string);
      const char *nm = it->string;
      static double buf[1 << 16];
      const double *ours = NULL;
      int64_t cnt = 0;
      const float *fsrc = NULL;
      if (global && !strcmp(nm, "v_dot_t"))
        ours = v_t, cnt = N;
      else if (global && !strcmp(nm, "v_dot_a") && e.anchor)
        ours = v_a, cnt = N;
      else if (local && !strcmp(nm, "cur_target_scale"))
        ours = cur, cnt = N;
      else if (local && !strcmp(nm, "anchor_scale") && e.anchor)
        ours = asc, cnt = N;
      else if (local && !strcmp(nm, "dscale"))
        ours = dsc, cnt = N;
      else if (local && !strcmp(nm, "c_map"))
        fsrc = c_map;
      else if (local && !strcmp(nm, "a_map") && e.anchor)
        fsrc = a_map;
      else if (local && !strcmp(nm, "m") && !uniform)
        fsrc = m;
      else if (local && !strcmp(nm, "pwm"))
        fsrc = pwm;
      if (fsrc && (int64_t)N * P <= (int64_t)(sizeof buf / sizeof *buf)) {
        for (int64_t i = 0; i < (int64_t)N * P; i++) buf[i] = fsrc[i];
        ours = buf, cnt = (int64_t)N * P;
      }
      cmp_file(c, r, label, it, ours, cnt);
    }
    si++;
  }
  /* the case's output and the edit itself */
  int64_t cnt = (int64_t)N * rows * E;
  for (int64_t i = 0; i < cnt; i++) o[i] = tok[i];
  for (int n = 0; n < N; n++)
    for (size_t k = 0; k < rows * E; k++) o_in[(size_t)n * rows * E + k] = c->full_d[(size_t)n * T1 * E + k];
  const cJSON *out = get(outs, local ? "tokens" : "cls");
  if (!out) {
    r->failed = 1;
    snprintf(r->why, sizeof r->why, "no %s output in index.json", local ? "tokens" : "cls");
    goto done;
  }
  cmp_file(c, r, local ? "tokens" : "cls", out, o, cnt);
  {
    double *ours_in = malloc(sizeof(double) * (size_t)cnt);
    if (ours_in) {
      for (int n = 0; n < N; n++)
        for (size_t k = 0; k < rows * E; k++) ours_in[(size_t)n * rows * E + k] = c->full[(size_t)n * T1 * E + k];
      cmp_delta(c, r, local ? "tokens - input" : "cls - input", out, o, ours_in, o_in, cnt);
      free(ours_in);
    }
  }
  if (local) /* the CLS passes through untouched */
    for (int n = 0; n < N; n++)
      if (memcmp(tok + (size_t)n * T1 * E, c->full + (size_t)n * T1 * E, sizeof(float) * (size_t)E) != 0) {
        r->failed = 1;
        snprintf(r->why, sizeof r->why, "the CLS token of image %d changed", n);
      }
done:
  free(texts), free(tok), free(o), free(o_in), free(c_map);
}

static group_t *group_of(mctx *c, const char *name) {
  for (int i = 0; i < c->n_groups; i++)
    if (!strcmp(c->groups[i].name, name)) return &c->groups[i];
  if (c->n_groups == MAX_GROUPS) return NULL;
  group_t *g = &c->groups[c->n_groups++];
  memset(g, 0, sizeof *g);
  snprintf(g->name, sizeof g->name, "%s", name);
  return g;
}

/* The engine's own inputs: full token set of each image, normalised texts. */
static int check_inputs(mctx *c, dlut_clip *model, float *const *pixels, int n_img) {
  int fails = 0, E = c->E, T1 = 1 + c->P;
  const dlut_clip_info *info = dlut_clip_get_info(model);
  if (info->embed_dim != E || info->n_patch_tokens != c->P) {
    printf("FAIL  manip inputs: the model has %d patch tokens of %d, the reference %d of %d\n", info->n_patch_tokens,
           info->embed_dim, c->P, E);
    return 1;
  }
  int n = n_img < c->N ? n_img : c->N;
  float *tok = malloc(sizeof(float) * (size_t)T1 * E), *e = malloc(sizeof(float) * (size_t)E);
  double md = 0, mx = 0;
  for (int i = 0; tok && e && i < n; i++) {
    if (dlut_clip_encode_image(model, pixels[i], e) != 0 || dlut_clip_image_tokens(model, tok) != 0) {
      fails++;
      break;
    }
    for (int k = 0; k < T1 * E; k++) {
      double b = c->full_d[(size_t)i * T1 * E + k];
      md = fmax(md, fabs(tok[k] - b));
      mx = fmax(mx, fabs(b));
    }
  }
  double rel = mx > 0 ? md / mx : md;
  int ok = tok && e && !fails && rel <= c->tol;
  if (!ok || !c->quiet)
    printf("%s  manip inputs.full_tokens (this engine, %d of %d images)  rel err %.3g (tol %.0e)\n",
           ok ? "ok  " : "FAIL", n, c->N, rel, c->tol);
  fails = !ok;
  /* texts of the "final" source through this model's text tower */
  const cJSON *texts = get(c->index, "texts"), *meta = get(c->inputs, "text_embeds_normalized");
  if (cJSON_IsArray(texts) && meta) {
    int nt = 0;
    char why[256];
    float *ref = load_texts(c, "final", &nt, why, sizeof why);
    md = 0, mx = 0;
    int bad = !ref || nt != cJSON_GetArraySize(texts);
    for (int t = 0; !bad && t < nt; t++) {
      const cJSON *s = cJSON_GetArrayItem(texts, t);
      if (!cJSON_IsString(s) || dlut_manip_text(model, s->valuestring, e) != 0) {
        bad = 1;
        break;
      }
      for (int k = 0; k < E; k++)
        md = fmax(md, fabs(e[k] - ref[(size_t)t * E + k])), mx = fmax(mx, fabs(ref[t * E + k]));
    }
    rel = mx > 0 ? md / mx : md;
    ok = !bad && rel <= c->tol;
    if (!ok || !c->quiet)
      printf("%s  manip inputs.text_embeds_normalized (this engine, %d texts)  rel err %.3g (tol %.0e)%s%s\n",
             ok ? "ok  " : "FAIL", nt, rel, c->tol, bad ? ": " : "", bad ? dlut_last_error() : "");
    fails += !ok;
    free(ref);
  }
  free(tok), free(e);
  return fails;
}

int refcheck_manip(const char *case_dir, dlut_clip *model, float *const *pixels, int n_img, double tol, int quiet,
                   int *n_cases, int *n_failed) {
  char mdir[4096], path[4200];
  snprintf(mdir, sizeof mdir, "%s/ref/manipulation", case_dir);
  snprintf(path, sizeof path, "%s/index.json", mdir);
  mctx c = {.mdir = mdir, .tol = tol, .quiet = quiet};
  *n_cases = *n_failed = 0;
  int rc = -1;
  size_t sz;
  char *txt = dlut_file_read_all(path, 64 << 20, &sz);
  if (!txt) return -1;
  c.index = cJSON_ParseWithLength(txt, sz);
  free(txt);
  dlut_npy full;
  memset(&full, 0, sizeof full);
  if (!cJSON_IsObject(c.index)) {
    dlut_error("%s: not a JSON object", path);
    goto done;
  }
  c.inputs = get(c.index, "inputs");
  const cJSON *ft = get(get(c.inputs, "full_tokens"), "file"), *cases = get(c.index, "cases");
  if (!cJSON_IsString(ft) || !cJSON_IsArray(cases)) {
    dlut_error("%s: no inputs.full_tokens or cases", path);
    goto done;
  }
  if (load_npy(&c, ft->valuestring, &full) != 0) goto done;
  if (full.ndim != 3 || full.shape[0] < 1 || full.shape[0] > 64 || full.shape[1] < 2 || full.shape[2] < 1 ||
      full.shape[1] * full.shape[2] > (1 << 24)) {
    dlut_error("%s: inputs.full_tokens is not (N, 1+P, E)", path);
    goto done;
  }
  c.N = (int)full.shape[0], c.P = (int)full.shape[1] - 1, c.E = (int)full.shape[2];
  c.full = malloc(sizeof(float) * (size_t)full.count);
  c.full_d = malloc(sizeof(double) * (size_t)full.count);
  if (!c.full || !c.full_d) {
    dlut_error("out of memory");
    goto done;
  }
  for (int64_t i = 0; i < full.count; i++) c.full_d[i] = dlut_npy_get(&full, i), c.full[i] = (float)c.full_d[i];
  int fails = model ? check_inputs(&c, model, pixels, n_img) : 0;
  const cJSON *cs;
  cJSON_ArrayForEach(cs, cases) {
    const cJSON *id = get(cs, "id"), *grp = get(cs, "group");
    const char *ids = cJSON_IsString(id) ? id->valuestring : "(no id)";
    case_res r = {0};
    run_case(&c, cs, &r);
    if (r.n_arrays == 0 && !r.failed) r.failed = 1, snprintf(r.why, sizeof r.why, "nothing to compare");
    (*n_cases)++;
    if (r.failed) (*n_failed)++;
    group_t *g = group_of(&c, cJSON_IsString(grp) ? grp->valuestring : "-");
    if (g) g->n++, g->fails += r.failed, g->worst = fmax(g->worst, r.worst);
    if (r.failed || !quiet)
      printf("%s  manip %-6s worst rel err %.3g (%s; %d arrays; tol %.0e)%s%s\n", r.failed ? "FAIL" : "ok  ", ids,
             r.worst, r.worst_name[0] ? r.worst_name : "-", r.n_arrays, tol, r.failed ? ": " : "", r.why);
  }
  for (int i = 0; i < c.n_groups; i++)
    printf("      manip group %-22s %d/%d cases, worst rel err %.3g\n", c.groups[i].name,
           c.groups[i].n - c.groups[i].fails, c.groups[i].n, c.groups[i].worst);
  *n_failed += fails;
  rc = 0;
done:
  dlut_npy_free(&full);
  free(c.full), free(c.full_d);
  cJSON_Delete(c.index);
  return rc;
}
