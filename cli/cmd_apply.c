/* `dlut apply`: apply a LUT file (.cube, .3dl, Hald .png) to one or more
 * images, keeping each image's bit depth and metadata. Outputs are written
 * atomically (temporary name, then rename), so a failure never leaves a
 * partial file and never touches an input. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "dlut/camlog.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/lut.h"
#include "dlut/video.h"

static const char *const k_cmd = "apply";

/* -q was --quality here before it meant --quiet as in the other commands:
 * a number after it still reads as the quality. */
static int quality_like(const char *v) {
  int q;
  return cli_parse_int(v, &q) == 0;
}

static void help(void) {
  printf(
      "usage: dlut apply INPUT... --lut LUT -o OUTPUT [options]\n"
      "\n"
      "Apply a 3D LUT to images. The LUT is a .cube (Adobe or Resolve, with or\n"
      "without a 1D shaper), a .3dl or a Hald CLUT (.png, .tif). Each output keeps its\n"
      "input's bit depth (8 or 16 bit; a float TIFF stays float; JPEG and WebP\n"
      "are 8-bit only), alpha and EXIF/XMP metadata; the output format follows\n"
      "OUTPUT's extension (.jpg .png .webp .tif .ppm).\n"
      "\n"
      "With one INPUT, OUTPUT is the output file (or, if it is an existing\n"
      "folder or ends in '/', the folder to write INPUT's name into). With\n"
      "several INPUTs, OUTPUT is a folder, created if needed, and each output\n"
      "is named like its input. An input is never overwritten.\n"
      "\n"
      "options:\n"
      "  -l, --lut LUT         the LUT file (required)\n"
      "  -o, --output OUTPUT   output file or folder (required)\n"
      "  --interp MODE         tetrahedral (default) or trilinear; the same\n"
      "                        interpolation as FFmpeg lut3d interp=... and\n"
      "                        OpenColorIO INTERP_TETRAHEDRAL / INTERP_LINEAR\n"
      "  --strength S          blend with the original, 0..1 (default 1 = full LUT)\n"
      "  --input NAME          the inputs are camera log footage: decode NAME, render\n"
      "                        it for display (sRGB), then apply the LUT (made for\n"
      "                        sRGB pictures); done as one baked 65^3 LUT. NAME is one\n"
      "                        of: slog3 logc3 logc4 vlog clog2 clog3 log3g10 flog2\n"
      "                        applelog dlog acescct ('--input help' describes them)\n"
      "  --quality Q           JPEG/WebP quality 1..100 (default 95)\n"
      "  -q, --quiet           no progress lines (as in every dlut command; '-q N'\n"
      "                        with a number is still read as --quality N)\n"
      "  -h, --help            this help\n"
      "\n"
      "video (INPUT .mp4 .mov .mkv .webm .avi .nut .mxf .ts .m2ts .mts; one at a time):\n"
      "  every frame is graded at the source's bit depth and chroma layout (10-bit\n"
      "  stays 10-bit) with its own matrix and range, and encoded with the source's\n"
      "  codec family at its bit rate; audio and subtitles are copied unchanged;\n"
      "  timestamps, frame rate, colour tags and rotation are kept (docs/video.md).\n"
      "  --codec NAME          encoder (libx264, libx265, ffv1, prores_ks, ...)\n"
      "  --crf X               constant rate factor instead of the source's bit rate\n"
      "  --bitrate R           bits per second (suffix k or M: 8M)\n"
      "  --preset NAME         encoder preset (x264/x265: ultrafast ... veryslow)\n"

      "\n"
      "A progress line per file (per frame for a video, with an ETA) goes to a\n"
      "terminal on stderr, none with --quiet. Exit status: 0 all written, 1 some\n"
      "input failed (one line each), 2 usage error.\n"
      "\n"
      "examples:\n"
      "  dlut apply photo.jpg --lut look.cube -o graded.jpg\n"
      "  dlut apply shots/*.png --lut look.3dl --strength 0.7 -o graded/\n"
      "  dlut apply frame_slog3.tif --input slog3 --lut look.cube -o graded.tif\n"
      "  dlut apply clip.mp4 --lut look.cube -o graded.mp4\n"
      "  dlut apply clip.mov --lut look.cube --codec prores_ks -o graded.mov\n");
}

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* mkdir -p */
static int make_dirs(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf) return dlut_error("%s: bad folder name", path);
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char c = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0777) != 0 && errno != EEXIST)
      return dlut_error("%s: cannot create folder: %s", buf, strerror(errno));
    buf[i] = c;
  }
  if (!is_dir(path)) return dlut_error("%s: not a folder", path);
  return 0;
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Same file (by device and inode) - guards inputs against being overwritten. */
static int apply_one(const dlut_lut *lut, const char *in, const char *out, dlut_interp interp, float strength,
                     const dlut_image_save_opts *opts) {
  int rc = -1;
  dlut_image *img = dlut_image_load(in);
  if (!img) return -1;
  if (dlut_lut_apply_image(lut, img, img, interp, strength) != 0) {
    dlut_error_prefix(in);
    goto done;
  }
  /* The bit depth is kept: a float TIFF stays float (dlut_image_save; other
   * formats have no float samples and take 16 bits where they can). */
  if (dlut_image_save(img, out, opts) != 0) goto done;
  rc = 0;
done:
  dlut_image_free(img);
  return rc;
}

/* ==== Video ==== */

/* "8000000", "8000k", "8M" -> bits per second; -1 if malformed */
static int64_t parse_bitrate(const char *s) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || !(v > 0)) return -1;
  if (*end == 'k' || *end == 'K')
    v *= 1e3, end++;
  else if (*end == 'm' || *end == 'M')
    v *= 1e6, end++;
  if (*end || v < 1000 || v > 1e11) return -1;
  return (int64_t)v;
}

typedef struct vprog {
  int open; /* a progress line is on screen without its newline */
} vprog;

static int video_progress(void *user, const dlut_video_progress *p) {
  vprog *vp = user;
  const int width = 30;
  double f = p->frames > 0 ? (double)p->frame / (double)p->frames : 0.0;
  if (f > 1) f = 1;
  char bar[64];
  for (int i = 0; i < width; i++) bar[i] = i < (int)(f * width) ? '#' : '-';
  bar[width] = 0;
  double fps = p->seconds > 0 ? (double)p->frame / p->seconds : 0.0;
  double eta = fps > 0 && p->frames > p->frame ? (double)(p->frames - p->frame) / fps : 0.0;
  fprintf(stderr, "\r[%s] %3d%%  frame %lld/%lld  %.1f fps  ETA %d:%02d ", bar, (int)(f * 100 + 0.5),
          (long long)p->frame, (long long)p->frames, fps, (int)eta / 60, (int)eta % 60);
  fflush(stderr);
  vp->open = 1;
  return 0;
}

static int apply_video(const dlut_lut *lut, const char *in, const char *out, dlut_video_opts *vo, int quiet) {
  vprog vp = {0};
  if (!quiet && isatty(2)) {
    vo->progress = video_progress;
    vo->user = &vp;
    fprintf(stderr, "%s -> %s\n", in, out);
  }
  int rc = dlut_video_apply(in, out, lut, vo);
  if (vp.open) fputc('\n', stderr);
  return rc;
}

int dlut_cmd_apply(int argc, char **argv) {
  const char *lut_path = NULL, *out = NULL;
  dlut_interp interp = DLUT_INTERP_TETRAHEDRAL;
  float strength = 1.0f;
  dlut_image_save_opts opts = {0};
  int has_input = 0, quiet = 0, video_opt = 0;
  dlut_camlog input = DLUT_CAMLOG_SLOG3;
  dlut_video_opts vo;
  dlut_video_opts_init(&vo);
  const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
  char **outs = NULL;
  dlut_lut *lut = NULL;
  int n_in = 0, status = DLUT_EXIT_FAIL;
  if (!inputs) return cli_fail(k_cmd, "out of memory");

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_val = i + 1 < argc;
    if (cli_is_help(a)) {
      help();
      status = DLUT_EXIT_OK;
      goto done;
    } else if (!strcmp(a, "-l") || !strcmp(a, "--lut")) {
      if (!has_val) goto missing;
      lut_path = argv[++i];
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      if (!has_val) goto missing;
      out = argv[++i];
    } else if (!strcmp(a, "--interp")) {
      if (!has_val) goto missing;
      const char *m = argv[++i];
      if (!strcmp(m, "tetrahedral"))
        interp = DLUT_INTERP_TETRAHEDRAL;
      else if (!strcmp(m, "trilinear"))
        interp = DLUT_INTERP_TRILINEAR;
      else {
        status = cli_usage(k_cmd, "--interp must be tetrahedral or trilinear, not '%s'", m);
        goto done;
      }
    } else if (!strcmp(a, "--strength")) {
      if (!has_val) goto missing;
      if (cli_parse_float(argv[++i], &strength) != 0 || strength < 0.0f || strength > 1.0f) {
        status = cli_usage(k_cmd, "--strength must be a number from 0 to 1, not '%s'", argv[i]);
        goto done;
      }
    } else if (!strcmp(a, "--input")) {
      if (!has_val) goto missing;
      const char *name = argv[++i];
      if (!strcmp(name, "help")) {
        for (int k = 0; k < DLUT_CAMLOG_COUNT; k++)
          printf("  %-9s %s\n", dlut_camlog_name((dlut_camlog)k), dlut_camlog_description((dlut_camlog)k));
        status = DLUT_EXIT_OK;
        goto done;
      }
      if (dlut_camlog_from_name(name, &input) != 0) {
        status = cli_usage(k_cmd, "--input: %s", dlut_last_error());
        goto done;
      }
      has_input = 1;
    } else if (!strcmp(a, "--quality") || (!strcmp(a, "-q") && has_val && quality_like(argv[i + 1]))) {
      if (!has_val) goto missing;
      if (cli_parse_int(argv[++i], &opts.quality) != 0 || opts.quality < 1 || opts.quality > 100) {
        status = cli_usage(k_cmd, "--quality must be an integer from 1 to 100, not '%s'", argv[i]);
        goto done;
      }
    } else if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
      quiet = 1;
    } else if (!strcmp(a, "--codec") || !strcmp(a, "--preset")) {
      if (!has_val) goto missing;
      *(a[2] == 'c' ? &vo.codec : &vo.preset) = argv[++i];
      video_opt = 1;
    } else if (!strcmp(a, "--crf")) {
      if (!has_val) goto missing;
      float crf;
      if (cli_parse_float(argv[++i], &crf) != 0 || crf < 0.0f || crf > 63.0f) {
        status = cli_usage(k_cmd, "--crf must be a number from 0 to 63, not '%s'", argv[i]);
        goto done;
      }
      vo.crf = crf;
      video_opt = 1;
    } else if (!strcmp(a, "--bitrate")) {
      if (!has_val) goto missing;
      if ((vo.bitrate = parse_bitrate(argv[++i])) < 0) {
        status = cli_usage(k_cmd, "--bitrate must be bits per second (e.g. 8000000, 8000k, 8M), not '%s'", argv[i]);
        goto done;
      }
      video_opt = 1;
    } else if (a[0] == '-' && a[1] != '\0') {
      status = cli_usage(k_cmd, "unknown option '%s'", a);
      goto done;
    } else {
      inputs[n_in++] = a;
    }
    continue;
  missing:
    status = cli_usage(k_cmd, "%s needs a value", a);
    goto done;
  }
  if (!n_in) {
    status = cli_usage(k_cmd, "no input images");
    goto done;
  }
  if (!lut_path) {
    status = cli_usage(k_cmd, "--lut LUT is required");
    goto done;
  }
  if (!out) {
    status = cli_usage(k_cmd, "-o OUTPUT is required");
    goto done;
  }
  int n_video = 0;
  for (int i = 0; i < n_in; i++) n_video += dlut_video_is_path(inputs[i]);
  if (n_video && n_in > 1) {
    status = cli_usage(k_cmd, "a video is applied on its own: give one video input at a time");
    goto done;
  }
  if (!n_video && video_opt) {
    status = cli_usage(k_cmd, "--codec, --crf, --bitrate and --preset are for video inputs");
    goto done;
  }
  if (vo.crf >= 0 && vo.bitrate > 0) {
    status = cli_usage(k_cmd, "give --crf or --bitrate, not both");
    goto done;
  }
  vo.interp = interp;
  vo.strength = strength;
  size_t ol = strlen(out);
  int folder = n_in > 1 || (ol && out[ol - 1] == '/') || is_dir(out);
  if (n_video && !folder && !dlut_video_is_path(out)) {
    status = cli_usage(k_cmd, "%s: a video's output needs a video extension (.mp4 .mov .mkv ...)", out);
    goto done;
  }
  char oext[16];
  if (!n_video && !folder &&
      (dlut_image_format_from_path(out) == DLUT_IMAGE_FORMAT_UNKNOWN || !strcmp(dlut_file_ext(out, oext), "pgm"))) {
    status = cli_usage(k_cmd, "%s: unknown image extension (use .jpg .png .webp .tif .ppm)", out);
    goto done;
  }

  /* Plan every output name first, so that a collision or an input that
   * would be overwritten stops the command before anything is written. */
  outs = calloc((size_t)n_in, sizeof *outs);
  if (!outs) {
    status = cli_fail(k_cmd, "out of memory");
    goto done;
  }
  for (int i = 0; i < n_in; i++) {
    if (folder) {
      size_t n = ol + strlen(base_name(inputs[i])) + 2;
      if (!(outs[i] = malloc(n))) {
        status = cli_fail(k_cmd, "out of memory");
        goto done;
      }
      snprintf(outs[i], n, "%s%s%s", out, (ol && out[ol - 1] == '/') ? "" : "/", base_name(inputs[i]));
      if (!n_video && dlut_image_format_from_path(outs[i]) == DLUT_IMAGE_FORMAT_UNKNOWN) {
        status = cli_usage(k_cmd, "%s: unknown image extension (use .jpg .png .webp .tif .ppm)", inputs[i]);
        goto done;
      }
      for (int j = 0; j < i; j++)
        if (!strcmp(outs[i], outs[j])) {
          status = cli_usage(k_cmd, "%s and %s would both be written to %s", inputs[j], inputs[i], outs[i]);
          goto done;
        }
    } else if (!(outs[i] = strdup(out))) {
      status = cli_fail(k_cmd, "out of memory");
      goto done;
    }
    for (int j = 0; j < n_in; j++)
      if (!strcmp(outs[i], inputs[j]) || dlut_file_same(outs[i], inputs[j])) {
        status = cli_usage(k_cmd, "%s would overwrite the input %s", outs[i], inputs[j]);
        goto done;
      }
    if (!strcmp(outs[i], lut_path) || dlut_file_same(outs[i], lut_path)) {
      status = cli_usage(k_cmd, "%s would overwrite the LUT %s", outs[i], lut_path);
      goto done;
    }
  }

  if (!(lut = dlut_lut_load(lut_path))) {
    status = cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (has_input) { /* log footage: the input transform and the look as one LUT over code values */
    dlut_lut *baked = dlut_camlog_bake(lut, input, 65, interp);
    if (!baked) {
      status = cli_fail(k_cmd, "%s", dlut_last_error());
      goto done;
    }
    dlut_lut_free(lut);
    lut = baked;
  }
  if (folder && make_dirs(out) != 0) {
    status = cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  if (n_video) {
    status =
        apply_video(lut, inputs[0], outs[0], &vo, quiet) == 0 ? DLUT_EXIT_OK : cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  int tty = isatty(2) && !quiet, failures = 0;
  for (int i = 0; i < n_in; i++) {
    if (tty) fprintf(stderr, "[%d/%d] %s -> %s\n", i + 1, n_in, inputs[i], outs[i]);
    if (apply_one(lut, inputs[i], outs[i], interp, strength, &opts) != 0) {
      cli_fail(k_cmd, "%s", dlut_last_error());
      failures++;
    }
  }
  status = failures ? DLUT_EXIT_FAIL : DLUT_EXIT_OK;
done:
  if (outs)
    for (int i = 0; i < n_in; i++) free(outs[i]);
  free(outs);
  free(inputs);
  dlut_lut_free(lut);
  return status;
}
