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
#include "grade_video.h"
#include "dlut/camlog.h"
#include "dlut/clip.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/grade.h"
#include "dlut/job.h"
#include "dlut/image.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "dlut/video.h"

static const char *k_cmd = "grade";

static void help(FILE *f) {
  fprintf(f,
          "usage: dlut grade PHOTO \"PROMPT\" [options]\n"
          "       dlut grade PHOTO --ref REFERENCE [\"PROMPT\"] [options]\n"
          "       dlut grade PHOTO|FOLDER... \"PROMPT\" -o OUTDIR [options]   (one look for a set)\n"
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
          "A set (several photos, or folders of them: their .jpg .png .webp .tif .ppm files,\n"
          "by name) gets one LUT for all: the CLIP loss is averaged over the photos, the\n"
          "colour constraints hold for each. Written: OUTDIR/look.cube, strip.png,\n"
          "report.json (every photo listed), contact.jpg (before/after, numbered in order)\n"
          "and OUTDIR/graded/NAME for every photo, in its own format (the same name from\n"
          "two folders: the later gets NAME-2). An existing OUTDIR/graded/ is replaced\n"
          "whole, so it may hold only the photos an earlier set wrote (those its\n"
          "OUTDIR/report.json lists): a file of yours in it is refused, named, before\n"
          "anything is done; choose another -o or move it.\n"
          "The prompt is the last argument unless that names an existing file or folder;\n"
          "--prompt TEXT says it outright.\n"
          "\n"
          "A video clip (.mp4 .mov .mkv .webm ...) is graded as the set of its frames:\n"
          "8 (--frames N) spread over the clip, near-duplicates skipped, each reduced\n"
          "to at most 640 px across. Written as for a set (graded/frame-NN-T.TTTs.png,\n"
          "contact.jpg of the frames before/after); --render also writes the whole clip\n"
          "through the LUT as OUTDIR/graded.EXT (its codec family and rate, audio and\n"
          "subtitles copied; see 'dlut apply --help', docs/video.md).\n"
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
          "  --prompt TEXT        the prompt (then every other argument is a photo or folder)\n"
          "  --samples N          photo pixels for the colour terms (default 16384; a set\n"
          "                       shares them)\n"
          "  --augment V          score V random crop+flip views of each photo per step\n"
          "                       instead of the whole photo (default 0; CLIP only)\n"
          "  --ref FILE           reference photo: grade towards its look\n"
          "  --ref-mode MODE      image (default without a prompt) | anchor (default with\n"
          "                       one) | enhance | replace: how PROMPT edits the reference\n"
          "  --ref-scale S        s of that edit (default 1; the units: docs/grading.md)\n"
          "  --ref-anchor TEXT    anchor text for anchor/enhance (default: the source prompt)\n"
          "  --edit \"T|A|S|E\"     edit the reference as ColorizeDiffusion does (repeatable,\n"
          "                       applied in order): target text T, anchor text A (empty or\n"
          "                       none: no anchor), scale S (the original's 0..15, in units\n"
          "                       of the embedding's projection on T), enhance E true|false\n"
          "                       (optional, default false); no edit applies unless some\n"
          "                       S > 0. Replaces --ref-mode. See docs/grading.md\n"
          "  --transfer           start from a Reinhard colour transfer towards --ref\n"
          "  --start MODE         look (default): start from the prompt's offline look\n"
          "                       ('dlut looks PROMPT'); identity: start from no grade\n"
          "  --input NAME         the photos are camera log footage: the look is graded on\n"
          "                       them as displayed (decoded, rendered to sRGB) and\n"
          "                       look.cube takes log code values (1D shaper + 65^3, for\n"
          "                       the log clips in Resolve or Premiere); graded.EXT is the\n"
          "                       look on the displayed photo. NAME: slog3 logc3 logc4\n"
          "                       vlog clog2 clog3 log3g10 flog2 applelog dlog acescct\n"
          "                       ('--input help' describes them)\n"
          "  --strength S         blend graded.EXT with the original, 0..1 (default 1;\n"
          "                       look.cube is always the full grade)\n"
          "  --quality Q          JPEG/WebP quality of graded.EXT, 1..100 (default 95)\n"
          "  -q, --quiet          no progress bar and no summary\n"
          "  --                   the end of the options: every argument after it is a\n"
          "                       photo, a folder or the prompt (a file named -x.png)\n"
          "\n"
          "grading by region (regions numbered 1, 2, ... in the order given, --region and\n"
          "--mask together; each adds OUTDIR/region-N.cube and OUTDIR/mask-N.png, a 16-bit\n"
          "matte at the photo's size; graded.EXT is then the composite\n"
          "(1 - m) look(I) + m region(I), region by region in order):\n"
          "  --region \"WHERE=PROMPT\"  grade what the model finds from the words WHERE (\"the\n"
          "                       sky\") as PROMPT (\"deep teal\"); needs a CLIP model; also\n"
          "                       writes OUTDIR/heatmap.png, what the words found\n"
          "  --mask FILE=PROMPT   grade the area of a matte (PNG/TIFF/JPEG/WebP, 8 or 16 bit,\n"
          "                       any size, resampled to the photo; white = inside) as\n"
          "                       PROMPT; the channel: alpha if not opaque, else grey, else\n"
          "                       the Rec.709 luma of RGB. Without a model PROMPT is read by\n"
          "                       the offline looks\n"
          "  --feather PX         soften the mask edges: a hard edge ramps over PX pixels\n"
          "                       (default 0)\n"
          "  --mask-threshold T   make soft mattes hard first: inside where >= T (0..0.999;\n"
          "                       default 0 keeps the matte as painted)\n"
          "\n"
          "The four files are written together or not at all: a failure leaves the folder\n"
          "as it was. No output may replace an input.\n"
          "Ctrl-C while the optimiser runs stops it after the current step, still writes\n"
          "the best LUT found so far and exits 130. At any other moment (loading the\n"
          "photos, writing the results, and always without a model, which has no\n"
          "optimisation to cut short) it stops at the next photo or encode, writes\n"
          "nothing (OUTDIR stays as it was) and exits 130. Either way it says so at\n"
          "once; a second Ctrl-C ends at once.\n"
          "\n"
          "examples:\n"
          "  dlut grade photo.jpg \"cold teal night, high contrast\" -o out\n"
          "  dlut grade photo.jpg \"温暖的日落胶片风\" --model models/chinese-clip-vit-base-patch16\n"
          "  dlut grade photo.jpg --ref film-still.jpg --transfer --steps 100\n"
          "  dlut grade day1/ day2/ \"warm sunset film\" -o trip-graded\n"
          "  dlut grade a.jpg b.jpg c.jpg --prompt \"b.jpg\" -o out\n"
          "  dlut grade frame_slog3.tif \"teal and orange\" --input slog3 -o out\n"
          "  dlut grade photo.jpg --ref still.jpg --edit \"warm golden light|cold blue light|6\" \\\n"
          "      --edit \"film grain||3|true\"\n"
          "  dlut grade photo.jpg \"warm golden film\" --mask sky.png=\"deep teal\" --feather 24\n"
          "  dlut grade photo.jpg \"warm golden film\" --region \"the sky=deep teal\" \\\n"
          "             --region \"skin=keep natural\" --model DIR\n");
}

/* ==== Progress and Ctrl-C ==== */

/* The first Ctrl-C: while the optimiser runs (g_optimising) it stops after
 * the current step and the best LUT so far is written (exit 130); at any
 * other time (loading, writing, and always without a model, which has no
 * optimisation to cut short) the job stops at its next stage - between
 * photos, before each encode (the job options' stop, dlut/job.h) - and
 * nothing is written (exit 130). The handler says which. A second Ctrl-C
 * ends at once, leaving no temporary files. */
static volatile sig_atomic_t g_interrupted; /* Ctrl-C was pressed */
static volatile sig_atomic_t g_optimising;  /* the optimiser runs: it takes the Ctrl-C */
static volatile sig_atomic_t g_optim_took;  /* it did: the best LUT so far is to be written */
static volatile sig_atomic_t g_sig_newline; /* a progress line may be open on the terminal */
static void on_sigint(int sig) {
  (void)sig;
  static const char k_optim[] =
      "dlut grade: stopping after the current step; the best LUT so far is written (Ctrl-C again to abort)\n";
  static const char k_stop[] =
      "dlut grade: stopping at the next photo; nothing is written (Ctrl-C again to abort at once)\n";
  g_interrupted = 1;
  if (g_optimising) g_optim_took = 1;       /* promised below: even if no step callback comes after this */
  signal(SIGINT, dlut_file_signal_cleanup); /* a second Ctrl-C ends at once, leaving no temporary files */
  ssize_t w = g_sig_newline ? write(2, "\n", 1) : 0;
  w = g_optimising ? write(2, k_optim, sizeof k_optim - 1) : write(2, k_stop, sizeof k_stop - 1);
  (void)w;
}

/* The job options' stop: a Ctrl-C the optimiser did not take stops the job. */
static int stop_on_sigint(void *user) {
  (void)user;
  return g_interrupted && !g_optimising && !g_optim_took ? DLUT_ERR_CANCELLED : 0;
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
  if (g_interrupted) g_optim_took = 1;
  return g_interrupted != 0;
}

/* --region "WHERE=PROMPT" (split at the first '='), --mask FILE=PROMPT
 * (split at the first '=' whose left side is an existing file, so a file
 * name may hold '=' too). */
static int cli_region_arg(dlut_job_opts *o, dlut_job_region_kind kind, const char *v) {
  if (kind == DLUT_JOB_REGION_TEXT) return dlut_job_opts_add_region_spec(o, v);
  char buf[8192];
  if (strlen(v) >= sizeof buf) return dlut_errorc(DLUT_ERR_INPUT, "too long");
  snprintf(buf, sizeof buf, "%s", v);
  char *eq = strchr(buf, '=');
  if (kind == DLUT_JOB_REGION_MASK) {
    for (char *e = eq; e; e = strchr(e + 1, '=')) {
      *e = 0;
      int exists = access(buf, F_OK) == 0;
      *e = '=';
      if (exists) {
        eq = e;
        break;
      }
    }
    if (!eq) return dlut_errorc(DLUT_ERR_INPUT, "give the matte and the look as FILE=PROMPT");
    *eq = 0;
    if (access(buf, F_OK) != 0) return dlut_errorc(DLUT_ERR_INPUT, "%s: no such file", buf);
  }
  return dlut_job_opts_add_region(o, kind, buf, eq + 1);
}

/* --lut-size -> "lut_size"; --size is the short spelling of the same option. */
static const char *opt_name(const char *flag, char *buf, size_t len) {
  if (!strcmp(flag, "--size")) return "lut_size";
  snprintf(buf, len, "%s", flag + 2);
  for (char *p = buf; *p; p++)
    if (*p == '-') *p = '_';
  return buf;
}

/* ==== Photos and the prompt ==== */

static int path_exists(const char *p, int *is_dir) {
  struct stat st;
  if (stat(p, &st) != 0) return 0;
  *is_dir = S_ISDIR(st.st_mode);
  return 1;
}

static int looks_like_image_name(const char *p) {
  return dlut_image_format_from_path(p) != DLUT_IMAGE_FORMAT_UNKNOWN;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append path (owned copy) to the list. */
static int list_add(char ***list, int *n, int *cap, const char *path) {
  if (*n >= DLUT_GRADE_SET_MAX)
    return dlut_errorc(DLUT_ERR_TOO_LARGE, "more than %d photos in one set", DLUT_GRADE_SET_MAX);
  if (*n == *cap) {
    int nc = *cap ? *cap * 2 : 16;
    char **nl = realloc(*list, (size_t)nc * sizeof *nl);
    if (!nl) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
    *list = nl;
    *cap = nc;
  }
  if (!((*list)[*n] = strdup(path))) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  (*n)++;
  return 0;
}

/* The photos of a folder: its files with an image extension (not hidden,
 * not in subfolders, not the results of a bundle graded into it), sorted
 * by name. */
static int list_folder(const char *dir, char ***list, int *n, int *cap) {
  DIR *d = opendir(dir);
  if (!d) return dlut_errorc(DLUT_ERR_IO, "%s: cannot read the folder: %s", dir, strerror(errno));
  char **names = NULL;
  int nn = 0, nc = 0, rc = 0;
  struct dirent *e;
  while ((e = readdir(d)) && rc == 0) {
    if (e->d_name[0] == '.' || !looks_like_image_name(e->d_name) || dlut_job_bundle_owns(dir, e->d_name)) continue;
    char p[4400];
    struct stat st;
    snprintf(p, sizeof p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    rc = list_add(&names, &nn, &nc, p);
  }
  closedir(d);
  if (rc == 0 && nn == 0)
    rc = dlut_errorc(DLUT_ERR_INPUT, "%s: no photos in the folder (.jpg .png .webp .tif .ppm)", dir);
  if (rc == 0) qsort(names, (size_t)nn, sizeof *names, cmp_str);
  for (int i = 0; i < nn; i++) {
    if (rc == 0) rc = list_add(list, n, cap, names[i]);
    free(names[i]);
  }
  free(names);
  return rc;
}

static void on_set_written(void *user, int done, int total, const char *name) {
  const int *tty = user;
  if (*tty) fprintf(stderr, "\r[%d/%d] graded/%s\033[K%s", done, total, name, done == total ? "\n" : "");
}

int dlut_cmd_grade(int argc, char **argv) {
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  const char *photo_path = NULL, *prompt = NULL, *outdir = NULL, *model_arg = NULL, *ref_path = NULL,
             *prompt_opt = NULL;
  int quiet = 0, rc = DLUT_EXIT_FAIL, n_pos = 0, n_set = 0, cap_set = 0, is_set = 0;
  int render = 0, n_frames = 0, is_video = 0; /* a clip: --render, --frames (cli/grade_video.c) */
  dlut_image *photo = NULL, *ref = NULL, **set = NULL, *mattes[DLUT_REGION_MAX] = {0};
  char **set_paths = NULL;
  const char **pos = calloc((size_t)argc + 1, sizeof *pos);
  char *edits = NULL; /* --edit lines, joined by newlines */
  dlut_clip *model = NULL;
  dlut_job_result res;
  memset(&res, 0, sizeof res);
  char outbuf[4096], model_path[4096] = "";
  unsigned char seen[64] = {0};
  void (*old_sigint)(int) = SIG_ERR;
  if (!pos) return cli_fail(k_cmd, "out of memory");

  int only_pos = 0; /* after "--": every argument is a photo, a folder or the prompt ("-dash.png") */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    char nb[64];
    if (!only_pos && !strcmp(a, "--")) {
      only_pos = 1;
      continue;
    }
    if (only_pos) {
      pos[n_pos++] = a;
      continue;
    }
    if (cli_is_help(a)) {
      help(stdout);
      rc = DLUT_EXIT_OK;
      goto done;
    }
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (!strcmp(a, "--edit")) { /* repeatable: one line of the "edits" option each */
      if (i + 1 >= argc || strchr(argv[i + 1], '\n')) {
        rc = cli_usage(k_cmd, "--edit needs one \"TARGET|ANCHOR|SCALE[|ENHANCE]\"");
        goto done;
      }
      size_t have = edits ? strlen(edits) : 0, add = strlen(argv[++i]);
      char *ne = realloc(edits, have + add + 2);
      if (!ne) {
        rc = cli_fail(k_cmd, "out of memory");
        goto done;
      }
      edits = ne;
      snprintf(edits + have, add + 2, "%s%s", have ? "\n" : "", argv[i]);
    } else if (!strcmp(a, "--region") || !strcmp(a, "--mask")) {
      if (i + 1 >= argc) {
        rc = cli_usage(k_cmd, "%s needs a value (%s)", a, a[2] == 'r' ? "\"WHERE=PROMPT\"" : "FILE=PROMPT");
        goto done;
      }
      if (cli_region_arg(&o, a[2] == 'r' ? DLUT_JOB_REGION_TEXT : DLUT_JOB_REGION_MASK, argv[++i]) != 0) {
        rc = cli_usage(k_cmd, "%s %s: %s", a, argv[i], dlut_last_error());
        goto done;
      }
    } else if (!strcmp(a, "--render")) {
      render = 1;
    } else if (!strcmp(a, "--frames")) {
      if (i + 1 >= argc || cli_parse_int(argv[++i], &n_frames) != 0 || n_frames < 1 || n_frames > 64) {
        rc = cli_usage(k_cmd, "--frames needs a number from 1 to 64");
        goto done;
      }
    } else if (!strcmp(a, "--transfer")) {
      dlut_job_opts_set(&o, "transfer", "1");
    } else if (!strcmp(a, "--input") && i + 1 < argc && !strcmp(argv[i + 1], "help")) {
      for (int k = 0; k < DLUT_CAMLOG_COUNT; k++)
        printf("  %-9s %s\n", dlut_camlog_name((dlut_camlog)k), dlut_camlog_description((dlut_camlog)k));
      rc = DLUT_EXIT_OK;
      goto done;
    } else if (!strcmp(a, "--prompt")) {
      if (i + 1 >= argc) {
        rc = cli_usage(k_cmd, "%s needs a value", a);
        goto done;
      }
      if (prompt_opt) {
        rc = cli_usage(k_cmd, "%s given twice", a);
        goto done;
      }
      prompt_opt = argv[++i];
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--model") || !strcmp(a, "--ref")) {
      if (i + 1 >= argc) {
        rc = cli_usage(k_cmd, "%s needs a value", a);
        goto done;
      }
      const char *v = argv[++i];
      if (a[1] == 'o' || a[2] == 'o')
        outdir = v;
      else if (a[2] == 'm')
        model_arg = v;
      else
        ref_path = v;
    } else if (a[0] == '-' && a[1] == '-' && strlen(a) < sizeof nb && dlut_job_opt_find(opt_name(a, nb, sizeof nb))) {
      const char *name = opt_name(a, nb, sizeof nb);
      int idx = (int)(dlut_job_opt_find(name) - dlut_job_opt_get(0));
      if (i + 1 >= argc) {
        rc = cli_usage(k_cmd, "%s needs a value", a);
        goto done;
      }
      if (seen[idx]++) {
        rc = cli_usage(k_cmd, "%s given twice", a);
        goto done;
      }
      if (dlut_job_opts_set(&o, name, argv[++i]) != 0) {
        /* the message names the option as the table does (lut_size); say it as typed (--size) */
        const char *msg = dlut_last_error();
        const size_t nl = strlen(name);
        if (!strncmp(msg, name, nl))
          rc = cli_usage(k_cmd, "%s%s", a, msg + nl);
        else
          rc = cli_usage(k_cmd, "%s: %s", a, msg);
        goto done;
      }
    } else if (cli_is_option(a)) {
      rc = cli_usage(k_cmd, "unknown option '%s'", a);
      goto done;
    } else {
      pos[n_pos++] = a;
    }
  }
  if (!n_pos) {
    rc = cli_usage(k_cmd, "no photo given");
    goto done;
  }
  /* Which positional is the prompt: --prompt names it (then every
   * positional is a photo or a folder); else, of two or more, the last
   * one unless it names an existing file or folder. */
  int n_photo_args = n_pos, d = 0;
  if (prompt_opt) {
    prompt = prompt_opt;
  } else if (n_pos >= 2 && !path_exists(pos[n_pos - 1], &d)) {
    if (n_pos > 2 && looks_like_image_name(pos[n_pos - 1])) {
      rc = cli_fail(k_cmd, "%s: no such file (a prompt that reads like a file name goes in --prompt)", pos[n_pos - 1]);
      goto done;
    }
    prompt = pos[n_pos - 1];
    n_photo_args = n_pos - 1;
  }
  /* a set: several photos or any folder; one photo file is graded as before */
  for (int i = 0; i < n_photo_args; i++) {
    int is_dir = 0;
    if (!path_exists(pos[i], &is_dir)) {
      if (n_photo_args == 1) break; /* the loader says why */
      if (looks_like_image_name(pos[i]) || strchr(pos[i], '/'))
        rc = cli_fail(k_cmd, "%s: no such file or folder", pos[i]);
      else
        rc = cli_usage(k_cmd, "'%s' is neither a photo nor a folder (quote a prompt of several words)", pos[i]);
      goto done;
    }
    if (is_dir) is_set = 1;
    if ((is_dir ? list_folder(pos[i], &set_paths, &n_set, &cap_set) : list_add(&set_paths, &n_set, &cap_set, pos[i])) !=
        0) {
      rc = dlut_last_error_code() == DLUT_ERR_INPUT || dlut_last_error_code() == DLUT_ERR_TOO_LARGE
               ? cli_usage(k_cmd, "%s", dlut_last_error())
               : cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
  }
  if (n_photo_args > 1) is_set = 1;
  is_video = n_photo_args == 1 && dlut_video_is_path(pos[0]); /* a clip is graded as the set of its frames */
  if ((render || n_frames) && !is_video) {
    rc = cli_usage(k_cmd, "--frames and --render are for a video clip");
    goto done;
  }
  if (is_video) is_set = 1;
  if (o.n_regions && (is_set || o.camlog >= 0)) {
    rc = cli_usage(k_cmd, "--region/--mask grade one photo in sRGB, not a set or --input footage");
    goto done;
  }
  photo_path = pos[0];
  if (edits && (seen[dlut_job_opt_find("edits") - dlut_job_opt_get(0)] || dlut_job_opts_set(&o, "edits", edits) != 0)) {
    rc = cli_usage(k_cmd, "--edit: %s",
                   seen[dlut_job_opt_find("edits") - dlut_job_opt_get(0)] ? "give --edit or --edits, not both"
                                                                          : dlut_last_error());
    goto done;
  }
  if (prompt && dlut_job_opts_set(&o, "prompt", prompt) != 0) {
    rc = cli_usage(k_cmd, "the prompt: %s", dlut_last_error());
    goto done;
  }
  if (dlut_job_opts_finish(&o, ref_path != NULL) != 0) {
    rc = cli_usage(k_cmd, "%s", dlut_last_error());
    goto done;
  }

  if (!outdir) {
    char first[4096];
    snprintf(first, sizeof first, "%s", photo_path);
    for (size_t l = strlen(first); l > 1 && first[l - 1] == '/'; l--) first[l - 1] = 0; /* a folder's "shots/" */
    const char *base = strrchr(first, '/');
    base = base ? base + 1 : first;
    snprintf(outbuf, sizeof outbuf, "%s", base);
    char *dot = strrchr(outbuf, '.');
    if (dot && dot != outbuf) *dot = 0;
    size_t l = strlen(outbuf);
    snprintf(outbuf + l, sizeof outbuf - l, is_set && n_photo_args > 1 ? "-set-graded" : "-graded");
    outdir = outbuf;
  }
  /* a set's graded/ is replaced whole: refuse one with files DLUT did not write before grading, not after */
  if (is_set && dlut_job_bundle_set_check(outdir) != 0) {
    rc = cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }

  /* Ctrl-C from here on: see on_sigint */
  g_interrupted = g_optimising = g_optim_took = 0;
  g_sig_newline = !quiet && isatty(2);
  o.stop = stop_on_sigint;
  old_sigint = signal(SIGINT, on_sigint);
  if (is_video) {
    if (cli_grade_video_frames(pos[0], n_frames ? n_frames : CLI_GRADE_VIDEO_FRAMES, quiet, &set, &set_paths, &n_set) !=
        0) {
      cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
  } else if (is_set) {
    if (!(set = calloc((size_t)n_set, sizeof *set))) {
      cli_fail(k_cmd, "out of memory");
      goto done;
    }
    const int tty = !quiet && isatty(2);
    for (int i = 0; i < n_set; i++) {
      if (tty) fprintf(stderr, "\r[%d/%d] loading %s\033[K", i + 1, n_set, set_paths[i]);
      if (dlut_job_stop_check(&o) != 0) {
        if (tty) fputc('\n', stderr);
        goto interrupted;
      }
      if (!(set[i] = dlut_image_load(set_paths[i]))) {
        if (tty) fputc('\n', stderr);
        cli_fail(k_cmd, "%s", dlut_last_error());
        goto done;
      }
    }
    if (tty) fprintf(stderr, "\r\033[K");
  } else if (!(photo = dlut_image_load(photo_path))) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (ref_path && !(ref = dlut_image_load(ref_path))) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  for (int k = 0; k < o.n_regions; k++)
    if (o.regions[k].kind == DLUT_JOB_REGION_MASK &&
        !(mattes[k] = dlut_image_load_flags(o.regions[k].where, DLUT_IMAGE_LOAD_NO_ICC))) {
      cli_fail(k_cmd, "--mask: %s", dlut_last_error());
      goto done;
    }
  /* the model: explicit choices fail loudly; the download folder is a convenience */
  const char *from = "";
  dlut_job_find_model(model_arg, prompt, model_path, sizeof model_path, &from);
  if (model_path[0] && !(model = dlut_clip_load(model_path))) {
    cli_fail(k_cmd, "cannot load the model %s%s: %s", model_path, !strcmp(from, "env") ? " (from $DLUT_MODEL)" : "",
             dlut_last_error());
    goto done;
  }
  if (!model && !quiet)
    fprintf(stderr,
            "dlut grade: no CLIP model found (--model, $DLUT_MODEL, ${DLUT_MODELS:-~/.local/share/dlut/models}); "
            "%s. Get a model with tools/download-models.sh\n",
            ref ? "using a colour transfer towards the reference" : "using the offline looks");

  progress pr = {.bar = !quiet && isatty(2), .open = 0};
  dlut_job_input in = {.photo = photo,
                       .photo_name = photo_path,
                       .ref = ref,
                       .ref_name = ref_path,
                       .model = model,
                       .model_path = model_path};
  if (is_set) {
    in.photos = (const dlut_image *const *)set;
    in.photo_names = (const char *const *)set_paths;
    in.n_photos = n_set;
    if (!quiet && model) fprintf(stderr, "dlut grade: one look over %d photos\n", n_set);
  }
  for (int k = 0; k < o.n_regions; k++) in.masks[k] = mattes[k];
  g_optimising = model != NULL;
  int r = dlut_job_run(&in, &o, on_progress, &pr, &res);
  g_optimising = 0;
  if (pr.open) fputc('\n', stderr);
  if (r != 0 && dlut_last_error_code() == DLUT_ERR_CANCELLED && g_interrupted) goto interrupted;
  if (r != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (model && !quiet && !strncmp(res.start, "offline look", 12))
    fprintf(stderr, "dlut grade: started from the %s\n", res.start);
  if (res.grade.stopped && !quiet) fprintf(stderr, "dlut grade: %s\n", res.grade.stop_reason);

  const char *inputs[2 + DLUT_REGION_MAX + 1] = {photo_path, ref_path};
  int n_in = ref_path ? 2 : 1;
  for (int k = 0; k < o.n_regions; k++)
    if (o.regions[k].kind == DLUT_JOB_REGION_MASK) inputs[n_in++] = o.regions[k].where;
  inputs[n_in] = NULL;
  if (is_set) {
    int tty = !quiet && isatty(2);
    const char *extra[] = {ref_path, NULL};
    if (dlut_job_bundle_write_set(&res, (const dlut_image *const *)set, (const char *const *)set_paths, n_set, &o,
                                  outdir, extra, on_set_written, &tty) != 0) {
      if (tty) fputc('\n', stderr);
      if (dlut_last_error_code() == DLUT_ERR_CANCELLED && g_interrupted) goto interrupted;
      cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
  } else if (dlut_job_bundle_write(&res, photo, dlut_image_format_from_path(photo_path), &o, outdir, inputs) != 0) {
    if (dlut_last_error_code() == DLUT_ERR_CANCELLED && g_interrupted) goto interrupted;
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (is_video && render && cli_grade_video_render(photo_path, res.lut, o.strength, outdir, quiet) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (!quiet) {
    if (model)
      printf("%s: loss %.4f -> %.4f (clip %.4f -> %.4f) in %d steps, %.1f s\n", outdir, res.grade.start.total,
             res.grade.end.total, res.grade.start.clip, res.grade.end.clip, res.grade.steps_done, res.grade.seconds);
    else
      printf("%s: %s\n", outdir, res.note);
  }
  /* an interrupted run still wrote the best LUT, but says it did not finish */
  rc = res.grade.stopped == 1 && g_interrupted ? 130 : DLUT_EXIT_OK;
  goto done;
interrupted: /* stopped by a Ctrl-C the optimiser did not take: the job library wrote nothing */
  fprintf(stderr, "dlut grade: interrupted: nothing written%s%s%s\n", outdir ? " (" : "", outdir ? outdir : "",
          outdir ? " is as it was)" : "");
  rc = 130;
done:
  if (old_sigint != SIG_ERR) signal(SIGINT, old_sigint == SIG_DFL ? dlut_file_signal_cleanup : old_sigint);
  dlut_job_result_free(&res);
  dlut_image_free(ref);
  dlut_image_free(photo);
  for (int i = 0; i < n_set; i++) {
    if (set) dlut_image_free(set[i]);
    free(set_paths[i]);
  }
  free(set);
  free(set_paths);
  free(pos);
  for (int k = 0; k < DLUT_REGION_MAX; k++) dlut_image_free(mattes[k]);
  dlut_clip_free(model);
  dlut_job_opts_free(&o);
  free(edits);
  return rc;
}
