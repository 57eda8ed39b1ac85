/* `dlut fit BEFORE AFTER -o look.cube`: the LUT that turns one photo into its
 * graded version (no model; see src/grade/fit.c for the method). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/grade.h"
#include "dlut/image.h"
#include "dlut/lut.h"

static void help(FILE *f) {
  fprintf(f,
          "usage: dlut fit BEFORE AFTER -o LOOK [options]\n"
          "\n"
          "Fit the 3D LUT that turns BEFORE into AFTER: the same photo before and after a\n"
          "colour grade done elsewhere (same size, same framing). The LUT then carries\n"
          "that grade to any other photo or video: dlut apply, FFmpeg lut3d, Resolve ...\n"
          "\n"
          "The fit is a regularised least-squares solve on the lattice: every pixel pair\n"
          "constrains the tetrahedron it falls in; colours the photo does not contain are\n"
          "filled smoothly from those it does. Pixel-level edits (retouching, crops,\n"
          "vignettes) cannot be expressed by a LUT and show up as a larger RMSE.\n"
          "\n"
          "options:\n"
          "  -o, --output LOOK   the LUT to write: .cube, .3dl or .png (Hald) (required)\n"
          "  --size N            lattice points per axis, 2..129 (default 33)\n"
          "  --smooth W          weight of the smoothness term against the squared error\n"
          "                      (default 0.001; raise it for noisy or JPEG-damaged pairs)\n"
          "  --refine N          extra gradient steps with the monotonicity term (default 0)\n"
          "  --samples N         pixel pairs used, a fixed sample beyond that (default 262144)\n"
          "  --seed N            the pixel sample (default 0)\n"
          "  -q, --quiet         print nothing on success\n"
          "\n"
          "example:\n"
          "  dlut fit raw.jpg graded.jpg -o look.cube && dlut apply other.jpg --lut look.cube -o other-graded.jpg\n");
}

int dlut_cmd_fit(int argc, char **argv) {
  const char *cmd = "fit";
  const char *in[2] = {NULL, NULL}, *out = NULL;
  int nin = 0, quiet = 0;
  dlut_fit_opts o;
  dlut_fit_opts_init(&o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (cli_is_help(a)) {
      help(stdout);
      return DLUT_EXIT_OK;
    }
    int needs = !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--size") || !strcmp(a, "--smooth") ||
                !strcmp(a, "--refine") || !strcmp(a, "--samples") || !strcmp(a, "--seed");
    if (needs && i + 1 >= argc) return cli_usage(cmd, "%s needs a value", a);
    if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      out = argv[++i];
    } else if (!strcmp(a, "--size")) {
      if (cli_parse_int(argv[++i], &o.lut_size) || o.lut_size < 2 || o.lut_size > 129)
        return cli_usage(cmd, "--size must be an integer in 2..129, not '%s'", argv[i]);
    } else if (!strcmp(a, "--smooth")) {
      if (cli_parse_float(argv[++i], &o.smooth) || o.smooth < 0)
        return cli_usage(cmd, "--smooth must be a number >= 0, not '%s'", argv[i]);
    } else if (!strcmp(a, "--refine")) {
      if (cli_parse_int(argv[++i], &o.refine_steps) || o.refine_steps < 0 || o.refine_steps > 100000)
        return cli_usage(cmd, "--refine must be an integer in 0..100000, not '%s'", argv[i]);
    } else if (!strcmp(a, "--samples")) {
      if (cli_parse_int(argv[++i], &o.max_samples) || o.max_samples < 16)
        return cli_usage(cmd, "--samples must be an integer >= 16, not '%s'", argv[i]);
    } else if (!strcmp(a, "--seed")) {
      int s;
      if (cli_parse_int(argv[++i], &s) || s < 0)
        return cli_usage(cmd, "--seed must be a non-negative integer, not '%s'", argv[i]);
      o.seed = (uint64_t)s;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      quiet = 1;
    } else if (a[0] == '-' && a[1]) {
      return cli_usage(cmd, "unknown option '%s'", a);
    } else {
      if (nin >= 2) return cli_usage(cmd, "expected two photos, got a third: '%s'", a);
      in[nin++] = a;
    }
  }
  if (nin < 2) return cli_usage(cmd, "expected two photos, BEFORE and AFTER");
  if (!out) return cli_usage(cmd, "no output LUT given (-o look.cube)");
  if (dlut_lut_format_from_path(out) == DLUT_LUT_FORMAT_UNKNOWN)
    return cli_usage(cmd, "cannot tell the LUT format of '%s' (use .cube, .3dl, or .png / .tif for a Hald CLUT)", out);
  for (int k = 0; k < 2; k++)
    if (!strcmp(out, in[k]) || dlut_file_same(out, in[k]))
      return cli_usage(cmd, "%s would overwrite the input %s", out, in[k]);
  int rc = DLUT_EXIT_FAIL;
  dlut_image *b = NULL, *a = NULL;
  dlut_lut *lut = NULL;
  if (!(b = dlut_image_load(in[0]))) {
    cli_fail(cmd, "%s", dlut_last_error());
    goto done;
  }
  if (!(a = dlut_image_load(in[1]))) {
    cli_fail(cmd, "%s", dlut_last_error());
    goto done;
  }
  dlut_fit_stats st;
  if (!(lut = dlut_fit(b, a, &o, &st))) {
    cli_fail(cmd, "%s", dlut_last_error());
    goto done;
  }
  if (dlut_lut_save(lut, out, NULL) != 0) {
    cli_fail(cmd, "%s", dlut_last_error());
    goto done;
  }
  if (!quiet)
    printf("%s: %d^3 LUT, RMS error %.2f/255 over %lld pixel pairs (%d CG iterations)\n", out, o.lut_size,
           st.rmse * 255.0, (long long)st.samples, st.cg_iters);
  rc = DLUT_EXIT_OK;
done:
  dlut_lut_free(lut);
  dlut_image_free(a);
  dlut_image_free(b);
  return rc;
}
