/* `dlut grade PHOTO "PROMPT"`: grade a photo towards a sentence or a
 * reference photo by gradient descent through a CLIP model (src/grade/),
 * and write the LUT, the graded photo, a picture of the LUT and a report.
 * Without a model it falls back to the offline looks (dlut/looks.h). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/looks.h"
#include "dlut/lut.h"

static const char *k_cmd = "grade";

static void help(FILE *f) {
  fprintf(f,
          "usage: dlut grade PHOTO \"PROMPT\" [options]\n"
          "       dlut grade PHOTO --ref REFERENCE [\"PROMPT\"] [options]\n"
          "\n"
          "Find a colour grade for PHOTO that matches PROMPT (English or Chinese, whichever\n"
          "the model understands) or a reference photo, by gradient descent through a CLIP\n"
          "model, and write it as a standard 3D LUT with the graded photo:\n"
          "  OUTDIR/look.cube     the LUT (Resolve, Premiere, Photoshop, FFmpeg, OCIO)\n"
          "  OUTDIR/graded.EXT    the photo graded at full resolution, in its own format\n"
          "  OUTDIR/strip.png     a picture of the LUT (blue slices side by side)\n"
          "  OUTDIR/report.json   prompt, model, settings, seed, time and every loss term\n"
          "\n"
          "The model: --model DIR, else $DLUT_MODEL, else the first model folder in\n"
          "${DLUT_MODELS:-~/.local/share/dlut/models}/ (tools/download-models.sh fills it;\n"
          "a Chinese-CLIP model is preferred there for a prompt in Chinese, an OpenAI one\n"
          "otherwise).\n"
          "With no model anywhere the prompt is read by the offline looks instead (see\n"
          "'dlut looks'), and a reference photo gives a colour transfer.\n"
          "\n"
          "options:\n"
          "  -o, --output DIR     output folder (default: PHOTO's name + \"-graded\")\n"
          "  --model DIR          CLIP model folder (Hugging Face layout)\n"
          "  --steps N            optimisation steps (default 200; field: 1000)\n"
          "  --size N             LUT lattice points per axis, 2..65 (default 33)\n"
          "  --seed N             pixel sample and initialisation (default 0); the same\n"
          "                       inputs, seed and DLUT_THREADS give the same LUT\n"
          "  --param NAME         lattice (default: coarse residual lattice, fast) or\n"
          "                       field (the original CLIP-DLUT MLP field, slow)\n"
          "  --lr X               peak learning rate (default 0.02; field 0.0002)\n"
          "  --coarse K           lattice: side of the coarse residual lattice, 2..65\n"
          "                       (default 17; smaller = smoother, coarser changes)\n"
          "  --source TEXT        neutral prompt the direction starts from (default\n"
          "                       \"a straight-out-of-camera photo\" / \"一张相机直出的相片\")\n"
          "  --weights LIST       loss weights, e.g. clip=1,mono=1,smooth=1,vol=1,shift=20,eigen=10000\n"
          "  --samples N          photo pixels for the colour terms (default 16384)\n"
          "  --ref FILE           reference photo: grade towards its look\n"
          "  --ref-mode MODE      image (default without a prompt) | anchor (default with\n"
          "                       one) | enhance | replace: how PROMPT edits the reference\n"
          "  --ref-scale S        strength of that edit (default 1)\n"
          "  --ref-anchor TEXT    anchor text for anchor/enhance (default: the source prompt)\n"
          "  --transfer           start from a Reinhard colour transfer towards --ref\n"
          "  --start MODE         look (default): start from the prompt's offline look\n"
          "                       ('dlut looks PROMPT'); identity: start from no grade\n"
          "  -q, --quiet          no progress bar and no summary\n"
          "\n"
          "Ctrl-C stops early and still writes the best LUT found so far.\n"
          "\n"
          "examples:\n"
          "  dlut grade photo.jpg \"cold teal night, high contrast\" -o out\n"
          "  dlut grade photo.jpg \"温暖的日落胶片风\" --model models/chinese-clip-vit-base-patch16\n"
          "  dlut grade photo.jpg --ref film-still.jpg --transfer --steps 100\n");
}

/* ==== Progress and Ctrl-C ==== */

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig) {
  (void)sig;
  g_interrupted = 1;
  signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends at once */
}

typedef struct progress {
  int bar;  /* draw a bar (stderr is a terminal and not quiet) */
  int open; /* a bar line is on screen without its newline */
} progress;

static int on_progress(void *user, const dlut_grade_progress *p) {
  progress *pr = user;
  if (pr->bar) {
    const int width = 30;
    int done = (int)((double)p->step / p->steps * width);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '-';
    bar[width] = 0;
    fprintf(stderr, "\r[%s] %d/%d  loss %.4f  clip %.4f  %.1fs ", bar, p->step, p->steps, p->losses.total,
            p->losses.clip, p->seconds);
    pr->open = p->step != p->steps;
    if (!pr->open) fputc('\n', stderr);
    fflush(stderr);
  }
  return g_interrupted != 0;
}

/* ==== Model discovery ==== */

static int is_model_dir(const char *dir) {
  char p[4096];
  snprintf(p, sizeof p, "%s/config.json", dir);
  return access(p, R_OK) == 0;
}

/* "chinese_clip", "clip" ... from a model folder's config.json, or "" */
static void model_type(const char *dir, char *out, size_t len) {
  char p[4096];
  out[0] = 0;
  snprintf(p, sizeof p, "%s/config.json", dir);
  size_t n;
  char *text = dlut_file_read_all(p, 1 << 20, &n);
  if (!text) {
    dlut_error_clear();
    return;
  }
  cJSON *j = cJSON_Parse(text);
  const cJSON *t = j ? cJSON_GetObjectItemCaseSensitive(j, "model_type") : NULL;
  if (cJSON_IsString(t)) snprintf(out, len, "%s", t->valuestring);
  cJSON_Delete(j);
  free(text);
}

static int has_cjk(const char *s) { /* U+2E80..U+9FFF and U+F900..U+FAFF: 3-byte UTF-8 leads E2 BA.. to EF */
  for (const unsigned char *p = (const unsigned char *)s; p && *p; p++)
    if (*p >= 0xE2 && *p <= 0xEF && !(*p == 0xE2 && p[1] < 0xBA)) return 1;
  return 0;
}

/* A model folder under the download folder, or "": the first by name whose
 * family suits the prompt (Chinese-CLIP for a prompt with Chinese
 * characters, an OpenAI CLIP otherwise), else the first by name. */
static void find_downloaded(const char *prompt, char *out, size_t len) {
  out[0] = 0;
  const char *root = getenv("DLUT_MODELS");
  char def[4096];
  if (!root || !*root) {
    const char *home = getenv("HOME");
    if (!home || !*home) return;
    snprintf(def, sizeof def, "%s/.local/share/dlut/models", home);
    root = def;
  }
  DIR *d = opendir(root);
  if (!d) return;
  const int want_zh = has_cjk(prompt);
  char first[256] = "", suited[256] = "";
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof first) continue;
    char p[4096], type[64];
    snprintf(p, sizeof p, "%s/%s", root, e->d_name);
    if (!is_model_dir(p)) continue;
    if (!first[0] || strcmp(e->d_name, first) < 0) snprintf(first, sizeof first, "%s", e->d_name);
    model_type(p, type, sizeof type);
    int zh = strcmp(type, "chinese_clip") == 0;
    if (type[0] && zh == want_zh && (!suited[0] || strcmp(e->d_name, suited) < 0))
      snprintf(suited, sizeof suited, "%s", e->d_name);
  }
  closedir(d);
  const char *pick = suited[0] ? suited : first;
  if (pick[0]) snprintf(out, len, "%s/%s", root, pick);
}

/* ==== Outputs ==== */

static int mkdir_p(const char *path) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
      *p = '/';
    }
  if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
  struct stat st;
  return stat(tmp, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static const char *ext_for(dlut_image_format f) {
  switch (f) {
    case DLUT_IMAGE_FORMAT_JPEG:
      return "jpg";
    case DLUT_IMAGE_FORMAT_WEBP:
      return "webp";
    case DLUT_IMAGE_FORMAT_TIFF:
      return "tif";
    case DLUT_IMAGE_FORMAT_PPM:
      return "ppm";
    default:
      return "png";
  }
}

static cJSON *losses_json(const dlut_grade_losses *l) {
  cJSON *o = cJSON_CreateObject();
#define NUM(k, v) cJSON_AddItemToObject(o, k, isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull())
  NUM("total", l->total);
  NUM("clip", l->clip);
  NUM("mono", l->mono);
  NUM("smooth", l->smooth);
  NUM("vol", l->vol);
  NUM("shift", l->shift);
  NUM("eigen", l->eigen);
#undef NUM
  return o;
}

static int write_text(const char *path, const char *text) {
  dlut_atomic a;
  if (dlut_atomic_begin(&a, path) != 0) return -1;
  if (fputs(text, a.fp) < 0 || fputc('\n', a.fp) < 0) {
    dlut_atomic_abort(&a);
    return dlut_error("%s: write failed", path);
  }
  return dlut_atomic_commit(&a);
}

static int parse_weights(const char *s, dlut_grade_losses *w) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s", s);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    char *eq = strchr(tok, '=');
    if (!eq) return -1;
    *eq = 0;
    float v;
    if (cli_parse_float(eq + 1, &v) || v < 0) return -1;
    if (!strcmp(tok, "clip"))
      w->clip = v;
    else if (!strcmp(tok, "mono"))
      w->mono = v;
    else if (!strcmp(tok, "smooth"))
      w->smooth = v;
    else if (!strcmp(tok, "vol"))
      w->vol = v;
    else if (!strcmp(tok, "shift"))
      w->shift = v;
    else if (!strcmp(tok, "eigen"))
      w->eigen = v;
    else
      return -1;
  }
  return 0;
}

static int str_eq(const char *a, const char *b) {
  return strcmp(a, b) == 0;
}

int dlut_cmd_grade(int argc, char **argv) {
  dlut_grade_opts o;
  dlut_grade_opts_init(&o);
  const char *photo_path = NULL, *prompt = NULL, *outdir = NULL, *model_arg = NULL, *ref_path = NULL;
  int quiet = 0, ref_mode_set = 0, start_look = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (cli_is_help(a)) {
      help(stdout);
      return DLUT_EXIT_OK;
    }
    static const char *k_valued[] = {"-o",      "--output",   "--model",     "--steps",      "--size",    "--seed",
                                     "--param", "--lr",       "--coarse",    "--source",     "--weights", "--samples",
                                     "--ref",   "--ref-mode", "--ref-scale", "--ref-anchor", "--start"};
    int valued = 0;
    for (size_t k = 0; k < sizeof k_valued / sizeof *k_valued; k++) valued |= str_eq(a, k_valued[k]);
    if (valued && i + 1 >= argc) return cli_usage(k_cmd, "%s needs a value", a);
    const char *v = valued ? argv[i + 1] : NULL;
    if (valued) i++;
    if (str_eq(a, "-o") || str_eq(a, "--output"))
      outdir = v;
    else if (str_eq(a, "--model"))
      model_arg = v;
    else if (str_eq(a, "--steps")) {
      if (cli_parse_int(v, &o.steps) || o.steps < 1 || o.steps > 1000000)
        return cli_usage(k_cmd, "--steps must be an integer in 1..1000000");
    } else if (str_eq(a, "--size")) {
      if (cli_parse_int(v, &o.lut_size) || o.lut_size < 2 || o.lut_size > 65)
        return cli_usage(k_cmd, "--size must be an integer in 2..65");
    } else if (str_eq(a, "--seed")) {
      int s;
      if (cli_parse_int(v, &s) || s < 0) return cli_usage(k_cmd, "--seed must be a non-negative integer");
      o.seed = (uint64_t)s;
    } else if (str_eq(a, "--param")) {
      if (str_eq(v, "lattice"))
        o.param = DLUT_GRADE_PARAM_LATTICE;
      else if (str_eq(v, "field"))
        o.param = DLUT_GRADE_PARAM_FIELD;
      else
        return cli_usage(k_cmd, "--param must be 'lattice' or 'field'");
    } else if (str_eq(a, "--lr")) {
      if (cli_parse_float(v, &o.lr) || !(o.lr > 0)) return cli_usage(k_cmd, "--lr must be a positive number");
    } else if (str_eq(a, "--coarse")) {
      if (cli_parse_int(v, &o.lattice_coarse) || o.lattice_coarse < 2 || o.lattice_coarse > 65)
        return cli_usage(k_cmd, "--coarse must be an integer in 2..65");
    } else if (str_eq(a, "--source"))
      o.source_prompt = v;
    else if (str_eq(a, "--weights")) {
      if (parse_weights(v, &o.weights))
        return cli_usage(k_cmd,
                         "--weights takes name=value pairs (clip, mono, smooth, vol, shift, eigen; values >= 0)");
    } else if (str_eq(a, "--samples")) {
      if (cli_parse_int(v, &o.samples) || o.samples < 16 || o.samples > 16777216)
        return cli_usage(k_cmd, "--samples must be an integer in 16..16777216");
    } else if (str_eq(a, "--ref"))
      ref_path = v;
    else if (str_eq(a, "--ref-mode")) {
      ref_mode_set = 1;
      if (str_eq(v, "image"))
        o.ref_mode = DLUT_GRADE_REF_IMAGE;
      else if (str_eq(v, "anchor"))
        o.ref_mode = DLUT_GRADE_REF_ANCHOR;
      else if (str_eq(v, "enhance"))
        o.ref_mode = DLUT_GRADE_REF_ENHANCE;
      else if (str_eq(v, "replace"))
        o.ref_mode = DLUT_GRADE_REF_REPLACE;
      else
        return cli_usage(k_cmd, "--ref-mode must be image, anchor, enhance or replace");
    } else if (str_eq(a, "--ref-scale")) {
      if (cli_parse_float(v, &o.ref_scale)) return cli_usage(k_cmd, "--ref-scale must be a number");
    } else if (str_eq(a, "--ref-anchor"))
      o.ref_anchor = v;
    else if (str_eq(a, "--transfer"))
      o.ref_transfer_init = 1;
    else if (str_eq(a, "--start")) {
      if (str_eq(v, "look"))
        start_look = 1;
      else if (str_eq(v, "identity"))
        start_look = 0;
      else
        return cli_usage(k_cmd, "--start must be 'look' or 'identity'");
    } else if (str_eq(a, "-q") || str_eq(a, "--quiet"))
      quiet = 1;
    else if (a[0] == '-' && a[1])
      return cli_usage(k_cmd, "unknown option '%s'", a);
    else if (!photo_path)
      photo_path = a;
    else if (!prompt)
      prompt = a;
    else
      return cli_usage(k_cmd, "unexpected argument '%s' (quote the prompt)", a);
  }
  if (!photo_path) return cli_usage(k_cmd, "no photo given");
  if (!ref_path && (!prompt || !*prompt))
    return cli_usage(k_cmd, "empty prompt: say what the grade should look like, e.g. \"warm sunset film\"");
  if (o.ref_transfer_init && !ref_path) return cli_usage(k_cmd, "--transfer needs --ref");
  if (ref_path && !ref_mode_set) o.ref_mode = prompt && *prompt ? DLUT_GRADE_REF_ANCHOR : DLUT_GRADE_REF_IMAGE;
  if (ref_path && o.ref_mode != DLUT_GRADE_REF_IMAGE && (!prompt || !*prompt))
    return cli_usage(k_cmd, "--ref-mode %s edits the reference with text: give a prompt",
                     o.ref_mode == DLUT_GRADE_REF_ANCHOR    ? "anchor"
                     : o.ref_mode == DLUT_GRADE_REF_ENHANCE ? "enhance"
                                                            : "replace");
  o.prompt = prompt;

  /* Ctrl-C from here on stops the optimisation after the current step (the
   * first one, if it comes during loading) and the outputs are still written */
  g_interrupted = 0;
  void (*old_sigint)(int) = signal(SIGINT, on_sigint);
  int rc = DLUT_EXIT_FAIL;
  dlut_image *photo = NULL, *ref = NULL, *graded = NULL, *strip = NULL;
  dlut_clip *model = NULL;
  dlut_lut *lut = NULL, *start_lut = NULL;
  char start_desc[700] = "identity";
  dlut_grade_result res;
  memset(&res, 0, sizeof res);
  cJSON *rep = NULL;
  char *json = NULL;
  char outbuf[4096], path[4200], model_path[4096] = "", note[1200] = "";

  if (!(photo = dlut_image_load(photo_path))) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (ref_path && !(ref = dlut_image_load(ref_path))) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  o.ref = ref;
  /* the model: explicit choices fail loudly; the download folder is a convenience */
  const char *env = getenv("DLUT_MODEL");
  const char *chosen = model_arg ? model_arg : (env && *env) ? env : NULL;
  if (chosen) {
    snprintf(model_path, sizeof model_path, "%s", chosen);
  } else {
    find_downloaded(prompt, model_path, sizeof model_path);
  }
  if (model_path[0]) {
    if (!(model = dlut_clip_load(model_path))) {
      cli_fail(k_cmd, "cannot load the model %s%s: %s", model_path,
               model_arg ? ""
               : chosen  ? " (from $DLUT_MODEL)"
                         : "",
               dlut_last_error());
      goto done;
    }
  }

  if (model) {
    /* the optimisation starts from the prompt's offline look, when it has one */
    if (o.ref_transfer_init) {
      snprintf(start_desc, sizeof start_desc, "colour transfer towards the reference");
    } else if (start_look && prompt && *prompt) {
      char understood[512] = "";
      /* a prompt the looks cannot read (not UTF-8, too long) is still the model's to judge */
      if (dlut_looks_from_prompt(prompt, o.lut_size, &start_lut, understood, sizeof understood, NULL, 0) != 0) {
        if (!quiet) fprintf(stderr, "dlut grade: starting from no grade (offline looks: %s)\n", dlut_last_error());
        understood[0] = '\0';
      }
      if (understood[0] && start_lut) {
        o.start_lut = start_lut;
        snprintf(start_desc, sizeof start_desc, "offline look: %s", understood);
        if (!quiet) fprintf(stderr, "dlut grade: starting from the offline look (understood: %s)\n", understood);
      }
    }
    progress pr = {.bar = !quiet && isatty(2), .open = 0};
    o.callback = on_progress;
    o.user = &pr;
    int r = dlut_grade_run(model, photo, &o, &res);
    if (pr.open) fputc('\n', stderr);
    if (r != 0) {
      cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
    lut = res.lut;
    res.lut = NULL;
    if (res.stopped && !quiet) fprintf(stderr, "dlut grade: %s\n", res.stop_reason);
  } else {
    /* no model anywhere: the offline looks, or a colour transfer for --ref */
    if (ref) {
      if (!(lut = dlut_grade_transfer(photo, ref, o.lut_size, o.seed))) {
        cli_fail(k_cmd, "%s", dlut_last_error());
        goto done;
      }
      snprintf(note, sizeof note, "no CLIP model: colour transfer towards the reference");
    } else {
      char understood[512] = "", ignored[512] = "";
      if (dlut_looks_from_prompt(prompt, o.lut_size, &lut, understood, sizeof understood, ignored, sizeof ignored) !=
          0) {
        cli_fail(k_cmd, "%s", dlut_last_error());
        goto done;
      }
      if (!understood[0]) {
        cli_fail(k_cmd,
                 "no CLIP model found and the offline looks understand no word of \"%s\"; see 'dlut looks', or get a "
                 "model with tools/download-models.sh (or pass --model DIR)",
                 prompt);
        goto done;
      }
      snprintf(note, sizeof note, "no CLIP model: offline looks understood \"%s\"%s%s%s", understood,
               ignored[0] ? ", ignored \"" : "", ignored, ignored[0] ? "\"" : "");
    }
    if (!quiet)
      fprintf(stderr,
              "dlut grade: no CLIP model found (--model, $DLUT_MODEL, ${DLUT_MODELS:-~/.local/share/dlut/models}); "
              "%s. Get a model with tools/download-models.sh\n",
              ref ? "using a colour transfer towards the reference" : "using the offline looks");
    dlut_grade_losses start, end;
    dlut_lut *id = dlut_lut_alloc(lut->size, 0);
    if (!id || dlut_grade_lut_losses(photo, id, &o.weights, o.samples, o.seed, &start) != 0 ||
        dlut_grade_lut_losses(photo, lut, &o.weights, o.samples, o.seed, &end) != 0) {
      dlut_lut_free(id);
      cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
    dlut_lut_free(id);
    res.start = start;
    res.end = end;
  }

  /* ---- outputs ---- */
  if (!outdir) {
    const char *base = strrchr(photo_path, '/');
    base = base ? base + 1 : photo_path;
    snprintf(outbuf, sizeof outbuf, "%s", base);
    char *dot = strrchr(outbuf, '.');
    if (dot && dot != outbuf) *dot = 0;
    size_t l = strlen(outbuf);
    snprintf(outbuf + l, sizeof outbuf - l, "-graded");
    outdir = outbuf;
  }
  if (mkdir_p(outdir) != 0) {
    cli_fail(k_cmd, "cannot create the output folder %s: %s", outdir, strerror(errno));
    goto done;
  }
  snprintf(path, sizeof path, "%s/look.cube", outdir);
  if (dlut_lut_save(lut, path, NULL) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (!(graded = dlut_image_alloc(photo->width, photo->height, photo->channels, photo->type)) ||
      dlut_lut_apply_image(lut, photo, graded, DLUT_INTERP_TETRAHEDRAL, 1.0f) != 0 ||
      dlut_image_copy_meta(graded, photo) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  snprintf(path, sizeof path, "%s/graded.%s", outdir, ext_for(dlut_image_format_from_path(photo_path)));
  if (dlut_image_save(graded, path, NULL) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  snprintf(path, sizeof path, "%s/strip.png", outdir);
  if (!(strip = dlut_lut_strip(lut, lut->size >= 33 ? 1 : (33 + lut->size - 1) / lut->size)) ||
      dlut_image_save(strip, path, NULL) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  /* report.json */
  rep = cJSON_CreateObject();
  cJSON_AddStringToObject(rep, "prompt", prompt ? prompt : "");
  cJSON_AddStringToObject(rep, "model", model ? model_path : ref ? "none (colour transfer)" : "none (offline looks)");
  cJSON *set = cJSON_AddObjectToObject(rep, "settings");
  const int steps_planned = model ? (o.steps ? o.steps : (o.param == DLUT_GRADE_PARAM_FIELD ? 1000 : 200)) : 0;
  cJSON_AddStringToObject(set, "param", o.param == DLUT_GRADE_PARAM_FIELD ? "field" : "lattice");
  cJSON_AddNumberToObject(set, "lut_size", lut->size);
  cJSON_AddNumberToObject(set, "steps_planned", steps_planned);
  cJSON_AddNumberToObject(set, "lr", o.lr > 0 ? o.lr : (o.param == DLUT_GRADE_PARAM_FIELD ? 2e-4 : 2e-2));
  if (o.param == DLUT_GRADE_PARAM_LATTICE) cJSON_AddNumberToObject(set, "coarse", o.lattice_coarse);
  cJSON_AddNumberToObject(set, "samples", o.samples);
  cJSON_AddStringToObject(set, "source_prompt", o.source_prompt ? o.source_prompt : "(default for the model)");
  cJSON_AddItemToObject(set, "weights", losses_json(&o.weights));
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(set, "weights"), "total");
  if (ref_path) {
    static const char *k_modes[] = {"image", "anchor", "enhance", "replace"};
    cJSON_AddStringToObject(set, "ref", ref_path);
    cJSON_AddStringToObject(set, "ref_mode", k_modes[o.ref_mode]);
    cJSON_AddNumberToObject(set, "ref_scale", o.ref_scale);
    cJSON_AddBoolToObject(set, "transfer_init", o.ref_transfer_init != 0);
  }
  if (model) cJSON_AddStringToObject(set, "start", start_desc);
  if (note[0]) cJSON_AddStringToObject(rep, "note", note);
  cJSON_AddNumberToObject(rep, "seed", (double)o.seed);
  cJSON_AddNumberToObject(rep, "steps", res.steps_done);
  cJSON_AddNumberToObject(rep, "seconds", res.seconds);
  if (res.stopped) cJSON_AddStringToObject(rep, "stopped", res.stop_reason);
  cJSON_AddItemToObject(rep, "start", losses_json(&res.start));
  cJSON_AddItemToObject(rep, "end", losses_json(&res.end));
  json = cJSON_Print(rep);
  snprintf(path, sizeof path, "%s/report.json", outdir);
  if (!json || write_text(path, json) != 0) {
    cli_fail(k_cmd, "%s", json ? dlut_last_error() : "out of memory");
    goto done;
  }
  if (!quiet) {
    if (model)
      printf("%s: loss %.4f -> %.4f (clip %.4f -> %.4f) in %d steps, %.1f s\n", outdir, res.start.total, res.end.total,
             res.start.clip, res.end.clip, res.steps_done, res.seconds);
    else
      printf("%s: %s\n", outdir, note);
  }
  rc = DLUT_EXIT_OK;
done:
  signal(SIGINT, old_sigint == SIG_ERR ? SIG_DFL : old_sigint);
  free(json);
  cJSON_Delete(rep);
  dlut_grade_result_free(&res);
  dlut_lut_free(lut);
  dlut_lut_free(start_lut);
  dlut_image_free(strip);
  dlut_image_free(graded);
  dlut_image_free(ref);
  dlut_image_free(photo);
  dlut_clip_free(model);
  return rc;
}
