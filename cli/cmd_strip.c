/* `dlut strip`: draw a LUT as the original CLIP-DLUT pictures it - its blue
 * slices side by side (see dlut_lut_strip in dlut/lut.h) - into a PNG. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/lut.h"

static const char *const k_cmd = "strip";

static void help(void) {
  printf(
      "usage: dlut strip LUT -o STRIP.png [--scale S]\n"
      "\n"
      "Draw a LUT (.cube, .3dl, Hald .png) as a strip of its blue slices, as\n"
      "the original CLIP-DLUT does: slice b (blue = b / (size-1)) is the\n"
      "b-th tile from the left; inside a tile red increases to the right and\n"
      "green downwards. The image is size*size pixels wide and size tall,\n"
      "8-bit RGB, values clamped to [0,1]. An identity LUT draws as a row of\n"
      "red/green gradient squares growing bluer to the right. A 1D-only LUT\n"
      "is drawn on a 33^3 lattice.\n"
      "\n"
      "options:\n"
      "  -o, --output FILE   the picture (.png, or any image extension)\n"
      "  --scale S           draw each lattice point as an SxS block (1..64, default 1)\n"
      "  -h, --help          this help\n"
      "\n"
      "example:\n"
      "  dlut strip look.cube -o look-strip.png --scale 4\n");
}

int dlut_cmd_strip(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  int scale = 1;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (cli_is_help(a)) {
      help();
      return DLUT_EXIT_OK;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      if (i + 1 >= argc) return cli_usage(k_cmd, "%s needs a value", a);
      out = argv[++i];
    } else if (!strcmp(a, "--scale")) {
      if (i + 1 >= argc) return cli_usage(k_cmd, "%s needs a value", a);
      if (cli_parse_int(argv[++i], &scale) != 0 || scale < 1 || scale > 64)
        return cli_usage(k_cmd, "--scale must be an integer from 1 to 64, not '%s'", argv[i]);
    } else if (a[0] == '-' && a[1]) {
      return cli_usage(k_cmd, "unknown option '%s'", a);
    } else if (!in) {
      in = a;
    } else {
      return cli_usage(k_cmd, "one LUT at a time ('%s' is extra)", a);
    }
  }
  if (!in) return cli_usage(k_cmd, "need a LUT file");
  if (!out) return cli_usage(k_cmd, "-o STRIP.png is required");
  if (!strcmp(in, out) || dlut_file_same(in, out)) return cli_usage(k_cmd, "%s would overwrite the input %s", out, in);
  if (dlut_image_format_from_path(out) == DLUT_IMAGE_FORMAT_UNKNOWN)
    return cli_usage(k_cmd, "%s: unknown image extension (use .png, or .jpg .webp .tif .ppm)", out);
  dlut_lut *lut = dlut_lut_load(in);
  if (!lut) return cli_fail(k_cmd, "%s", dlut_last_error());
  dlut_image *img = dlut_lut_strip(lut, scale);
  int status = DLUT_EXIT_FAIL;
  if (!img) {
    cli_fail(k_cmd, "%s: %s", in, dlut_last_error());
    goto done;
  }
  if (dlut_image_save(img, out, NULL) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  status = DLUT_EXIT_OK;
done:
  dlut_image_free(img);
  dlut_lut_free(lut);
  return status;
}
