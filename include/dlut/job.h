/* dlut/job.h - one grading job, the same for the command, the server and
 * the worker.
 *
 * A job is everything `dlut grade` does around the optimiser: options set
 * by name (so CLI flags and HTTP form fields share one parser, one set of
 * ranges and defaults), model discovery, the choice between CLIP, the
 * offline looks and a colour transfer, the start from the offline look, the
 * run, report.json built from the options actually used, and the bundle
 * (look.cube, graded.EXT, strip.png, report.json) written whole or not at
 * all.
 *
 * USAGE
 *     dlut_job_opts o;
 *     dlut_job_opts_init(&o);
 *     if (dlut_job_opts_set(&o, "steps", "100") != 0) -> dlut_last_error()
 *     dlut_job_opts_set(&o, "prompt", "cold teal night");
 *     dlut_job_input in = {.photo = img, .photo_name = "photo.jpg"};
 *     dlut_job_result r;
 *     if (dlut_job_run(&in, &o, on_progress, user, &r) == 0)
 *       dlut_job_bundle_write(&r, img, DLUT_IMAGE_FORMAT_JPEG, "out", NULL);
 *     dlut_job_result_free(&r);
 *     dlut_job_opts_free(&o);
 *
 * OPTIONS: dlut_job_opt_count()/dlut_job_opt_get() list them (name, kind,
 * range, default, help); the CLI maps --lut-size to "lut_size". Values are
 * parsed strictly (the whole string, finite numbers, in range); a bad value
 * fails with DLUT_ERR_INPUT and a message that states the range.
 *
 * REGIONS (dlut_job_opts_add_region, dlut/region.h): a text region needs
 * a model (its mask is found from its words), a mask region its matte in
 * in->masks[i]. With a model the global and region LUTs are optimised
 * together (dlut_region_grade_run), each region starting from its prompt's
 * offline look; without one each region's LUT is its prompt's offline look.
 * The result's regions[] hold the LUTs and masks; the bundle adds
 * region-N.cube, mask-N.png and heatmap.png and graded.EXT is the
 * composite. One photo only (not with a set).
 *
 * METHOD: with a model (in->model) the LUT is optimised through CLIP,
 * starting from the prompt's offline look (option start=look) or a colour
 * transfer (transfer=1). Without a model: a reference photo gives a
 * Reinhard colour transfer, a prompt the offline look; a prompt the looks
 * understand no word of is an error (DLUT_ERR_INPUT).
 *
 * THREADS: the thread pool (dlut/parallel.h) and OpenBLAS are process-wide,
 * and a model holds its activations: a dlut_clip must not be used by two
 * jobs at once. Jobs without a model may run on several threads at once
 * (their parallel loops take turns on the pool). The server therefore runs
 * model jobs one at a time per process and scales out with worker
 * processes (`dlut worker`), which share the memory-mapped weights through
 * the page cache.
 *
 * ERRORS: 0 / -1 with dlut_last_error() and dlut_last_error_code() set.
 * OWNERSHIP: options own copies of their strings (dlut_job_opts_free);
 * inputs stay the caller's; the result owns its LUT and report.
 */
#ifndef DLUT_JOB_H
#define DLUT_JOB_H

#include <stddef.h>

#include "dlut/clip.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/region.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== Options ==== */

/* A region (grading by region, dlut/region.h): a second LUT inside a mask,
 * composited with the global one. Regions are numbered 1, 2, ... in the
 * order they were added; outputs region-N.cube and mask-N.png. */
typedef enum dlut_job_region_kind {
  DLUT_JOB_REGION_TEXT = 0, /* the mask is found from `where` by the model (needs a model) */
  DLUT_JOB_REGION_MASK = 1, /* the mask is the user's matte (dlut_job_input.masks[i]) */
} dlut_job_region_kind;

typedef struct dlut_job_region {
  dlut_job_region_kind kind;
  char *where;  /* owned: TEXT: the control text naming the region ("the sky"); MASK: the matte's file name */
  char *prompt; /* owned: how the region should look ("deep teal") */
} dlut_job_region;

typedef int (*dlut_job_stop_fn)(void *user);

typedef struct dlut_job_opts {
  dlut_grade_opts grade; /* the optimiser's options (its strings point into the fields below) */
  char *prompt;          /* owned; "" = none */
  char *source;          /* owned or NULL (the model's default neutral prompt) */
  char *ref_anchor;      /* owned or NULL */
  int ref_mode_set;      /* ref_mode was given (else: anchor with a prompt, image without) */
  int start_look;        /* 1: start from the prompt's offline look (default), 0: identity */
  float strength;        /* blend of the graded photo with the original, 0..1 (default 1) */
  int quality;           /* JPEG/WebP quality of the graded photo 1..100 (default 95) */
  int fast_encode;       /* graded JPEG without optimised Huffman tables (default 0; the server's default 1) */
  int camlog;            /* option "input": -1 = the photos are sRGB pictures (default); else a dlut_camlog:
                            camera log footage, graded as displayed (see dlut_job_run) */
  float color_strength;  /* the offline look's colour and tone strengths, 0..2 (default 1; dlut_look_scale) */
  float tone_strength;
  int skin_protect; /* the offline look keeps skin tones natural (default 1) */
  /* option "edits": global edits of the reference, one "TARGET|ANCHOR|SCALE[|ENHANCE]" per line */
  char *edits_buf;            /* owned: the parsed lines (the edits' strings point into it) */
  dlut_grade_ref_edit *edits; /* owned, n_edits of them */
  int n_edits;
  int n_regions; /* regions added with dlut_job_opts_add_region */
  dlut_job_region regions[DLUT_REGION_MAX];
  float feather;        /* mask feathering in photo pixels (option "feather", default 0) */
  float mask_threshold; /* 0 = soft mattes; else hard at this value (option "mask_threshold") */
  /* Asked between the stages of a job (see STOPPING below); not an option by name: set by the caller */
  dlut_job_stop_fn stop; /* NULL = never stop */
  void *stop_user;       /* passed to stop */
} dlut_job_opts;

/* STOPPING: an optimiser run stops at the callback of dlut_job_run (after
 * any step), but a job without a model has no steps, and the photos of a
 * set are rendered and encoded one by one. o->stop is asked between those
 * stages: in dlut_job_run (before each method stage and each display
 * conversion of log footage), in dlut_job_bundle_write (before the render,
 * each encode and the move into place) and dlut_job_bundle_write_set
 * (before each photo's render and encode, the contact sheet, the report and
 * the move into place), and every 64 rows while a graded photo or the
 * contact sheet is encoded (dlut_image_save_opts.stop), so a stopped job
 * ends within about one photo's render. It returns 0 to go on, else the reason: DLUT_ERR_TIMEOUT, or any
 * other nonzero value for DLUT_ERR_CANCELLED. The function then fails with
 * that code ("cancelled" / "stopped: past the time limit"), and a bundle
 * leaves nothing behind (its staging folder is removed; an earlier bundle
 * in outdir stays as it was). Called from the job's thread; it must be
 * cheap (a flag, a clock). */

typedef enum dlut_job_opt_kind {
  DLUT_JOB_OPT_INT,
  DLUT_JOB_OPT_FLOAT,
  DLUT_JOB_OPT_STRING,
  DLUT_JOB_OPT_ENUM, /* one of `choices` ("a|b|c") */
  DLUT_JOB_OPT_BOOL, /* 1/0, true/false, yes/no, on/off */
} dlut_job_opt_kind;

typedef struct dlut_job_opt_info {
  const char *name; /* "steps", "lut_size" ... */
  dlut_job_opt_kind kind;
  double min, max;     /* INT / FLOAT range (inclusive); STRING: max = longest length in bytes */
  const char *choices; /* ENUM: "image|anchor|enhance|replace" */
  const char *def;     /* the default, as text ("" = none / per method) */
  const char *help;    /* one line */
} dlut_job_opt_info;

void dlut_job_opts_init(dlut_job_opts *o);
void dlut_job_opts_free(dlut_job_opts *o);
int dlut_job_opts_set(dlut_job_opts *o, const char *name, const char *value);
/* Add region number o->n_regions + 1: `where` is the control text (TEXT)
 * or the matte's name (MASK), `prompt` its look; both UTF-8, non-empty.
 * At most DLUT_REGION_MAX. DLUT_ERR_INPUT on bad text or too many. */
int dlut_job_opts_add_region(dlut_job_opts *o, dlut_job_region_kind kind, const char *where, const char *prompt);
/* A text region from its spec "WHERE=PROMPT" (split at the first '=';
 * the CLI's --region and the server's region field): the same checks as
 * dlut_job_opts_add_region, and DLUT_ERR_INPUT without an '='. */
int dlut_job_opts_add_region_spec(dlut_job_opts *o, const char *spec);
int dlut_job_opt_count(void);
const dlut_job_opt_info *dlut_job_opt_get(int i);             /* NULL out of range */
const dlut_job_opt_info *dlut_job_opt_find(const char *name); /* NULL if unknown */

/* Checks that need all options together (a prompt or a reference, a ref
 * mode that edits with text needs a prompt ...); has_ref says whether a
 * reference photo comes with the job. Fills in the derived defaults. */
int dlut_job_opts_finish(dlut_job_opts *o, int has_ref);

/* 0 when o->stop (may be NULL) says go on; else -1 with the error set
 * (DLUT_ERR_CANCELLED or DLUT_ERR_TIMEOUT, see STOPPING). For callers that
 * do their own work between the library's stages (decoding, thumbnails). */
int dlut_job_stop_check(const dlut_job_opts *o);

/* What a job will be given, known before anything is decoded (a server
 * reads the sizes from the uploads' headers, dlut_image_probe). */
typedef struct dlut_job_preflight_info {
  int n_photos;      /* 1 for one photo, more for a set */
  int width, height; /* the (first) photo's size as stored; 0 = not known (the shape is checked when decoded) */
  int has_model;     /* 1: a CLIP model will run it; 0: none; -1: not known here (a remote worker decides) */
  int mask_width[DLUT_REGION_MAX], mask_height[DLUT_REGION_MAX]; /* MASK regions: the matte's size (0 = none) */
} dlut_job_preflight_info;

/* The checks dlut_job_run makes of its inputs that need no pixels, so a
 * service can refuse a job at submission with the run's own words: regions
 * with a set or with log input, a text region without a model (has_model
 * == 0), a mask region without a matte or with a matte of another shape
 * (dlut_mask_shape_check), too many photos. 0 or -1 (DLUT_ERR_INPUT /
 * DLUT_ERR_TOO_LARGE). The run still checks everything again. */
int dlut_job_preflight(const dlut_job_opts *o, const dlut_job_preflight_info *p);

/* ==== Model discovery ==== */

/* The model folder for a prompt: `explicit_dir` if given, else
 * $DLUT_MODEL, else the folder under ${DLUT_MODELS:-~/.local/share/dlut/
 * models} whose family suits the prompt (Chinese-CLIP for Chinese text),
 * else the first there by name. Writes "" when there is none. *source gets
 * "explicit", "env", "downloads" or "" (may be NULL). */
void dlut_job_find_model(const char *explicit_dir, const char *prompt, char *out, size_t len, const char **source);

/* ==== Running ==== */

typedef struct dlut_job_input {
  const dlut_image *photo; /* required (unless photos is given) */
  const char *photo_name;  /* for the report (a file name); may be NULL */
  const dlut_image *ref;   /* reference photo or NULL */
  const char *ref_name;    /* may be NULL */
  dlut_clip *model;        /* NULL: offline looks / colour transfer */
  const char *model_path;  /* for the report; may be NULL */
  /* A set (one LUT for all, dlut_grade_run_set): n_photos photos, which
   * replace photo/photo_name; photo_names (n_photos, may be NULL) go into
   * the report's "photos" list. NULL / 0 = the one photo above. */
  const dlut_image *const *photos;
  const char *const *photo_names;
  int n_photos;
  const dlut_image *masks[DLUT_REGION_MAX]; /* the matte of each MASK region (by region index), any size */
} dlut_job_input;

typedef enum dlut_job_method {
  DLUT_JOB_CLIP = 0,     /* optimised through CLIP */
  DLUT_JOB_LOOKS = 1,    /* offline looks */
  DLUT_JOB_TRANSFER = 2, /* colour transfer towards the reference, no model */
} dlut_job_method;

typedef struct dlut_job_result {
  dlut_lut *lut;  /* the grade (owned); with log input (camlog >= 0) it takes log code values */
  dlut_lut *look; /* with log input: the look graded on the displayed photos (owned); else NULL */
  int camlog;     /* -1, or the log encoding of the photos */
  dlut_job_method method;
  dlut_grade_result grade; /* losses (start/end), steps, seconds, stop reason; grade.lut is NULL */
  char understood[1024];   /* what the offline looks understood of the prompt ("" = nothing) */
  char ignored[1024];      /* words they did not */
  char suggested[512];     /* the vocabulary forms nearest to the ignored words (dlut_looks_suggest) */
  char corrected[256];     /* typing slips read as the words meant ("cinematik → cinematic") */
  char scene[256];         /* scene words read as what the photo shows, not graded (dlut_looks_report.scene) */
  int neutral_wb;          /* the prompt asked for the photo's own colour cast to go ("remove the colour cast") */
  double cast_ab[2];       /* then: the cast measured on the photos (CIELAB a*, b*; dlut_looks_photo_cast) */
  double cast_taken;       /* and the fraction of it the look takes out (the colour strength; 0: none) */
  char start[1100];        /* where the optimisation started ("identity", "offline look: ...") */
  char note[1200];         /* one line for the user ("no CLIP model: offline looks understood ...") */
  char *report_json;       /* report.json (owned, UTF-8, valid JSON) */
  int n_regions;           /* as in the options */
  struct dlut_job_region_result {
    dlut_lut *lut;                 /* the region's LUT (owned) */
    float *mask;                   /* (photo h, w) in [0,1] (owned) */
    int width, height;             /* the mask's size (the photo's) */
    double coverage;               /* mean of the mask */
    dlut_mask_channel channel;     /* MASK: which channel of the matte was used */
    char understood[512];          /* what the offline looks understood of the region's prompt */
    float *heat;                   /* TEXT: the coarse map (grid x grid) or NULL (owned) */
    int grid;                      /* its side */
    int has_local;                 /* with a model: the region has a local term (its mask reaches the model's view) */
    double local_start, local_end; /* its local term at the start and the end */
  } regions[DLUT_REGION_MAX];
  double seconds; /* wall time of dlut_job_run */
} dlut_job_result;

/* Run a job. cb (may be NULL) is called after every optimiser step; a
 * nonzero return cancels (the result then holds the best LUT so far and
 * grade.stopped = 1).
 *
 * Camera log footage (option input=NAME, o->camlog >= 0): every photo is
 * decoded and rendered for display (dlut_camlog_image_to_display) and the
 * look is graded on that, as any picture (res->look); res->lut is then that
 * look baked for log input, a 1D shaper of DLUT_JOB_LOG_SHAPER_SIZE and a
 * DLUT_JOB_LOG_LUT_SIZE^3 table (dlut_camlog_bake_shaper), so look.cube
 * goes on the log clips in an editor. The graded photos are that LUT on the
 * log photos (dlut_job_render_result). */
#define DLUT_JOB_LOG_LUT_SIZE 65
#define DLUT_JOB_LOG_SHAPER_SIZE 4096
int dlut_job_run(const dlut_job_input *in, const dlut_job_opts *o, dlut_grade_callback cb, void *user,
                 dlut_job_result *res);
void dlut_job_result_free(dlut_job_result *res);

/* "clip", "looks", "transfer". */
const char *dlut_job_method_name(dlut_job_method m);

/* The extension the graded photo gets for a source format ("jpg", "png",
 * "webp", "tif", "ppm"; UNKNOWN -> "png"). */
const char *dlut_job_graded_ext(dlut_image_format f);

/* The photo through the LUT (tetrahedral) at `strength` (0..1), with the
 * photo's metadata. Caller frees. */
dlut_image *dlut_job_render(const dlut_lut *lut, const dlut_image *photo, float strength);

/* The graded photo of a result: dlut_job_render(res->lut, ...) - with log
 * input that is look.cube on the log photo, what an editor will show; a
 * strength below 1 with log input blends the look with the displayed
 * photo instead (in the photo's own pixel type). Caller frees. */
dlut_image *dlut_job_render_result(const dlut_job_result *res, const dlut_image *photo, float strength);

/* ==== The bundle ==== */

/* Write look.cube, graded.EXT (EXT from `format`), strip.png and
 * report.json (and with regions region-N.cube, mask-N.png, heatmap.png
 * for text regions; graded.EXT is then the composite) into `outdir`, whole or not at all: everything is written
 * into a staging folder first. A new outdir is the staging folder renamed
 * in one step; into an existing one the four files (and any graded.* of
 * another extension left by an earlier run) are moved with rollback, so a
 * failure restores the earlier set. `inputs` (NULL-terminated, may be
 * NULL) are files the bundle must not overwrite: an output that is one of
 * them (any spelling: symlinks, hard links, ./) is refused before anything
 * is written. */
int dlut_job_bundle_write(const dlut_job_result *res, const dlut_image *photo, dlut_image_format format,
                          const dlut_job_opts *o, const char *outdir, const char *const *inputs);

/* A photo through a bundle written by dlut_job_bundle_write, at another
 * strength (0..1): look.cube, and with regions the composite of
 * region-N.cube inside mask-N.png (the 16-bit masks: within 1/131070 of
 * the run's). The same pixels graded.EXT holds at strength 1 (within a code
 * of rounding), for any other strength the linear blend with the photo.
 * Caller frees; NULL with dlut_last_error() (a missing or broken file). */
dlut_image *dlut_job_bundle_render(const char *outdir, const dlut_image *photo, float strength);

/* ==== The bundle of a set ==== */

/* Progress while a set's graded photos are written: `done` of `total`,
 * the last one written as graded/NAME. */
typedef void (*dlut_job_set_progress)(void *user, int done, int total, const char *name);

#define DLUT_JOB_SET_NAME_LEN 256

/* The names the set's graded photos get in graded/: each input's file
 * name; a name already taken (the same name from two folders, compared
 * without case) gets -2, -3 ... before its extension; a name whose
 * extension no writer knows gets .png added (it is written as PNG). */
int dlut_job_set_names(const char *const *paths, int n, char (*names)[DLUT_JOB_SET_NAME_LEN]);

/* Write a set's bundle into `outdir`, whole or not at all (staged and
 * moved into place as dlut_job_bundle_write does; an existing graded/ is
 * replaced whole, so it may hold only what an earlier set wrote: plain
 * files that outdir/report.json lists as "graded/NAME"; anything else in
 * it, the user's own files, is refused with DLUT_ERR_INPUT naming one,
 * before anything is written):
 *   look.cube, strip.png     the one LUT for the set, and its picture
 *   graded/NAME              every photo through it (at o->strength), in
 *                            its input's format and bit depth
 *                            (names: dlut_job_set_names)
 *   contact.jpg              before/after of every photo, numbered in order
 *                            (dlut_job_contact_new)
 *   report.json              the job's report, "photos" as {input, graded}
 * paths (n) are the photos' file names (for the names, the report, and
 * the check that no output replaces an input); inputs (NULL-terminated,
 * may be NULL) are other files that must not be replaced. cb may be NULL.
 * Set bundles are written one at a time per process (a lock: the signal
 * cleanup's list of staged files is the process's). */
int dlut_job_bundle_write_set(const dlut_job_result *res, const dlut_image *const *photos, const char *const *paths,
                              int n, const dlut_job_opts *o, const char *outdir, const char *const *inputs,
                              dlut_job_set_progress cb, void *user);

/* The check dlut_job_bundle_write_set makes of an existing outdir's
 * graded/ (everything in it listed by outdir/report.json, see above), on
 * its own: a caller can refuse before grading, not after. 0 when outdir
 * or its graded/ does not exist; -1 (DLUT_ERR_INPUT, naming one entry). */
int dlut_job_bundle_set_check(const char *outdir);

/* Nonzero if `name` (a plain file name) in folder `dir` is one of the
 * results of the DLUT bundle there, by its report.json (its "files", a
 * set's contact sheet; an older DLUT's bundle names): a folder of photos
 * graded into itself and listed again skips its own strip.png,
 * contact.jpg and graded.EXT. */
int dlut_job_bundle_owns(const char *dir, const char *name);

/* The contact sheet of n photos (src/job/contact.c): each photo a pair of
 * thumbnails, before and after, each fitted into 320x240 (aspect kept,
 * centred) 4 px apart under a 28 px band with its number (1-based, in the
 * order given); pairs 644x268 in rows of up to 3 (more columns where 200
 * rows would not hold n), 16 px margins and gutters. 8-bit RGB. */
void dlut_job_contact_size(int n, int *width, int *height);
dlut_image *dlut_job_contact_new(int n); /* blank sheet; caller frees */
int dlut_job_contact_add(dlut_image *sheet, int n, int i, const dlut_image *before, const dlut_image *after);

#ifdef __cplusplus
}
#endif
#endif
