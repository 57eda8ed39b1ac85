/* `dlut convert`: read a LUT in any supported format and write it in
 * another (by extension), optionally resampled to another lattice size. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/lut.h"

static const char *const k_cmd = "convert";

static void help(void) {
  printf(
      "usage: dlut convert LUT_IN LUT_OUT [options]\n"
      "\n"
      "Convert a LUT between .cube, .3dl and Hald CLUT .png or .tif (formats from the\n"
      "extensions), or resize it. Writes atomically: on failure LUT_OUT is not\n"
      "created (and an existing one is left as it was).\n"
      "\n"
      "What each format can hold, and what convert does about it:\n"
      "  .cube  everything (1D, 3D, Resolve 1D shaper + 3D, any input domain)\n"
      "  .3dl   a 3D table over [0,1] in integers: a shaper or domain is folded\n"
      "         in by resampling; values are clamped to [0,1]\n"
      "  .png   a Hald CLUT (.tif too: 16-bit TIFF) of level L holds an L^2\n"
      "         lattice over [0,1]; the LUT is resampled to the nearest L^2\n"
      "         unless --hald-level is given\n"
      "\n"
      "options:\n"
      "  --size N          resample onto an N^3 lattice over [0,1] (2..256; .cube\n"
      "                    and .3dl hold at most 129, as OpenColorIO reads),\n"
      "                    folding any shaper and domain in (default: keep)\n"
      "  --hald-level L    Hald level 2..16 (lattice L^2); implies --size L*L\n"
      "  --bits B          integer depth: .3dl 10, 12 (default) or 16;\n"
      "                    Hald .png 8 or 16 (default)\n"
      "  --interp MODE     resampling interpolation: tetrahedral (default) or trilinear\n"
      "  --title TEXT      set the title (.cube TITLE, .3dl comment)\n"
      "  -h, --help        this help\n"
      "\n"
      "examples:\n"
      "  dlut convert look.cube look.3dl\n"
      "  dlut convert look.3dl look.cube --size 33\n"
      "  dlut convert look.cube look-hald.png --hald-level 8\n");
}

int dlut_cmd_convert(int argc, char **argv) {
  const char *in = NULL, *out = NULL, *title = NULL;
  int size = 0, level = 0, bits = 0;
  dlut_interp interp = DLUT_INTERP_TETRAHEDRAL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_val = i + 1 < argc;
    if (cli_is_help(a)) {
      help();
      return DLUT_EXIT_OK;
    } else if (!strcmp(a, "--size")) {
      if (!has_val) return cli_usage(k_cmd, "%s needs a value", a);
      if (cli_parse_int(argv[++i], &size) != 0 || size < 2 || size > DLUT_LUT_MAX_SIZE)
        return cli_usage(k_cmd, "--size must be an integer from 2 to %d, not '%s'", DLUT_LUT_MAX_SIZE, argv[i]);
    } else if (!strcmp(a, "--hald-level")) {
      if (!has_val) return cli_usage(k_cmd, "%s needs a value", a);
      if (cli_parse_int(argv[++i], &level) != 0 || level < 2 || level > 16)
        return cli_usage(k_cmd, "--hald-level must be an integer from 2 to 16, not '%s'", argv[i]);
    } else if (!strcmp(a, "--bits")) {
      if (!has_val) return cli_usage(k_cmd, "%s needs a value", a);
      if (cli_parse_int(argv[++i], &bits) != 0 || (bits != 8 && bits != 10 && bits != 12 && bits != 16))
        return cli_usage(k_cmd, "--bits must be 8, 10, 12 or 16, not '%s'", argv[i]);
    } else if (!strcmp(a, "--interp")) {
      if (!has_val) return cli_usage(k_cmd, "%s needs a value", a);
      const char *m = argv[++i];
      if (!strcmp(m, "tetrahedral"))
        interp = DLUT_INTERP_TETRAHEDRAL;
      else if (!strcmp(m, "trilinear"))
        interp = DLUT_INTERP_TRILINEAR;
      else
        return cli_usage(k_cmd, "--interp must be tetrahedral or trilinear, not '%s'", m);
    } else if (!strcmp(a, "--title")) {
      if (!has_val) return cli_usage(k_cmd, "%s needs a value", a);
      title = argv[++i];
    } else if (a[0] == '-' && a[1] != '\0') {
      return cli_usage(k_cmd, "unknown option '%s'", a);
    } else if (!in) {
      in = a;
    } else if (!out) {
      out = a;
    } else {
      return cli_usage(k_cmd, "unexpected argument '%s' (one input and one output)", a);
    }
  }
  if (!in || !out) return cli_usage(k_cmd, "need LUT_IN and LUT_OUT");
  if (!strcmp(in, out) || dlut_file_same(in, out)) return cli_usage(k_cmd, "%s would overwrite the input %s", out, in);
  dlut_lut_format fmt = dlut_lut_format_from_path(out);
  if (fmt == DLUT_LUT_FORMAT_UNKNOWN)
    return cli_usage(k_cmd, "%s: unknown LUT extension (use .cube, .3dl, or .png / .tif for a Hald CLUT)", out);
  if (level && size && size != level * level)
    return cli_usage(k_cmd, "--size %d contradicts --hald-level %d (lattice %d)", size, level, level * level);
  if (level && fmt != DLUT_LUT_FORMAT_HALD) size = level * level;
  dlut_lut_save_opts opts = {0};
  /* a text LUT holds at most what OpenColorIO reads: a larger --size would be resampled back down */
  if (size > DLUT_LUT_MAX_PORTABLE && (fmt == DLUT_LUT_FORMAT_CUBE || fmt == DLUT_LUT_FORMAT_3DL))
    return cli_usage(k_cmd,
                     "--size %d: a %s is written with at most %d points a side (what OpenColorIO reads); a Hald "
                     ".png takes up to %d",
                     size, fmt == DLUT_LUT_FORMAT_CUBE ? ".cube" : ".3dl", DLUT_LUT_MAX_PORTABLE, DLUT_LUT_MAX_SIZE);
  if (bits) {
    if (fmt == DLUT_LUT_FORMAT_3DL && bits != 8)
      opts.bits_3dl = bits;
    else if (fmt == DLUT_LUT_FORMAT_HALD && (bits == 8 || bits == 16))
      opts.hald_bits = bits;
    else
      return cli_usage(k_cmd, "--bits %d does not apply to %s", bits, out);
  }
  opts.hald_level = level;
  if (fmt == DLUT_LUT_FORMAT_HALD && size && !level) {
    for (int l = 2; l <= 16; l++)
      if (l * l == size) opts.hald_level = l;
    if (!opts.hald_level) return cli_usage(k_cmd, "a Hald .png needs --size L*L (4, 9, 16, ..., 256), not %d", size);
  }

  dlut_lut *lut = dlut_lut_load(in), *res = NULL;
  if (!lut) return cli_fail(k_cmd, "%s", dlut_last_error());
  int status = DLUT_EXIT_FAIL;
  const dlut_lut *src = lut;
  if (size || (level && !(lut->size == level * level && !lut->shaper_size))) {
    int n = size ? size : level * level;
    if (!(res = dlut_lut_resample(lut, n, interp))) {
      cli_fail(k_cmd, "%s: %s", in, dlut_last_error());
      goto done;
    }
    memcpy(res->title, lut->title, sizeof res->title);
    src = res;
  }
  if (title) {
    dlut_lut *t = res ? res : lut;
    snprintf(t->title, sizeof t->title, "%s", title);
  }
  if (dlut_lut_save(src, out, &opts) != 0) {
    cli_fail(k_cmd, "%s", dlut_last_error());
    goto done;
  }
  /* say what the format cost, when it cost anything */
  const dlut_lut_save_info *info = dlut_lut_last_save_info();
  if (info->resampled && info->max_error > 0.5 / 255.0)
    fprintf(stderr,
            "dlut convert: note: %s holds the LUT on a %d-point lattice, up to %.1f 8-bit codes off (the format has no "
            "shaper or input range; .cube keeps them exactly)\n",
            out, info->size, info->max_error * 255.0);
  if (info->clamped)
    fprintf(stderr, "dlut convert: note: values outside 0..1 were clamped (%s cannot hold them; .cube can)\n", out);
  status = DLUT_EXIT_OK;
done:
  dlut_lut_free(res);
  dlut_lut_free(lut);
  return status;
}
