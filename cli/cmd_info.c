/* `dlut info`: describe a LUT file - its kind, sizes, domain, title, value
 * range, whether each channel is monotone along its own axis and how far
 * the LUT is from the identity. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/error.h"
#include "dlut/lut.h"

static const char *const k_cmd = "info";

static void help(void) {
  printf(
      "usage: dlut info LUT [--json]\n"
      "\n"
      "Describe a LUT file (.cube, .3dl, Hald .png or .tif):\n"
      "  format, kind (3D, 1D, or 1D shaper + 3D), sizes, input domain, title,\n"
      "  the range of the output values per channel,\n"
      "  monotone: whether each output channel never decreases along its own\n"
      "    input axis (red out along red in, ...); a grade that reverses a\n"
      "    channel, or a noisy one, is not monotone,\n"
      "  identity: the largest |LUT(x) - x| over a 33^3 grid of [0,1]^3 inputs,\n"
      "    and 'close' when that is below half an 8-bit code (0.5/255).\n"
      "\n"
      "options:\n"
      "  --json      one JSON object instead of text\n"
      "  -h, --help  this help\n"
      "\n"
      "example:\n"
      "  dlut info look.cube\n");
}

typedef struct lut_stats {
  float vmin[3], vmax[3]; /* output value range per channel (3D table, else shaper) */
  int monotone;           /* 1 if every channel is non-decreasing along its own axis */
  char why[128];          /* where monotonicity fails */
  double identity_dev;    /* max |LUT(x) - x| on a 33^3 grid */
} lut_stats;

static void stats(const dlut_lut *l, lut_stats *s) {
  const float *v = l->size ? l->table : l->shaper;
  size_t n = l->size ? (size_t)l->size * l->size * l->size : (size_t)l->shaper_size;
  for (int c = 0; c < 3; c++) s->vmin[c] = INFINITY, s->vmax[c] = -INFINITY;
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 3; c++) {
      if (v[i * 3 + c] < s->vmin[c]) s->vmin[c] = v[i * 3 + c];
      if (v[i * 3 + c] > s->vmax[c]) s->vmax[c] = v[i * 3 + c];
    }
  static const char *names[3] = {"red", "green", "blue"};
  s->monotone = 1;
  s->why[0] = '\0';
  for (int i = 1; s->monotone && i < l->shaper_size; i++)
    for (int c = 0; c < 3; c++)
      if (l->shaper[i * 3 + c] < l->shaper[(i - 1) * 3 + c]) {
        s->monotone = 0;
        snprintf(s->why, sizeof s->why, "1D %s decreases at entry %d", names[c], i);
        break;
      }
  const int N = l->size;
  for (int b = 0; s->monotone && b < N; b++)
    for (int g = 0; s->monotone && g < N; g++)
      for (int r = 0; s->monotone && r < N; r++) {
        const float *p = l->table + (((size_t)b * N + g) * N + r) * 3;
        int idx[3] = {r, g, b};
        size_t stride[3] = {3, (size_t)N * 3, (size_t)N * N * 3};
        for (int c = 0; c < 3; c++)
          if (idx[c] > 0 && p[c] < (p - stride[c])[c]) {
            s->monotone = 0;
            snprintf(s->why, sizeof s->why, "%s decreases along %s at lattice (%d,%d,%d)", names[c], names[c], r, g, b);
            break;
          }
      }
  s->identity_dev = 0;
  const int G = 33;
  for (int b = 0; b < G; b++)
    for (int g = 0; g < G; g++)
      for (int r = 0; r < G; r++) {
        float in[3] = {(float)r / (G - 1), (float)g / (G - 1), (float)b / (G - 1)}, out[3];
        dlut_lut_eval(l, in, out, DLUT_INTERP_TETRAHEDRAL);
        for (int c = 0; c < 3; c++) {
          double d = fabs((double)out[c] - in[c]);
          if (d > s->identity_dev) s->identity_dev = d;
        }
      }
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static void json_vec(const char *key, const float v[3], int comma) {
  printf("\"%s\": [%.9g, %.9g, %.9g]%s", key, (double)v[0], (double)v[1], (double)v[2], comma ? ", " : "");
}

int dlut_cmd_info(int argc, char **argv) {
  const char *path = NULL;
  int json = 0;
  for (int i = 1; i < argc; i++) {
    if (cli_is_help(argv[i])) {
      help();
      return DLUT_EXIT_OK;
    } else if (!strcmp(argv[i], "--json")) {
      json = 1;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_usage(k_cmd, "unknown option '%s'", argv[i]);
    } else if (!path) {
      path = argv[i];
    } else {
      return cli_usage(k_cmd, "one LUT at a time ('%s' is extra)", argv[i]);
    }
  }
  if (!path) return cli_usage(k_cmd, "need a LUT file");
  dlut_lut *l = dlut_lut_load(path);
  if (!l) return cli_fail(k_cmd, "%s", dlut_last_error());
  static const char *fmt_names[] = {"unknown", "cube", "3dl", "hald"};
  const char *fmt = fmt_names[dlut_lut_format_from_path(path)];
  const char *kind = l->size && l->shaper_size ? "1D shaper + 3D" : l->size ? "3D" : "1D";
  lut_stats s;
  stats(l, &s);
  const int close = s.identity_dev < 0.5 / 255.0;
  if (json) {
    printf("{\"file\": ");
    json_str(path);
    printf(", \"format\": \"%s\", \"kind\": \"%s\", \"size\": %d, \"shaper_size\": %d, ", fmt, kind, l->size,
           l->shaper_size);
    json_vec("domain_min", l->domain_min, 1);
    json_vec("domain_max", l->domain_max, 1);
    json_vec("shaper_min", l->shaper_min, 1);
    json_vec("shaper_max", l->shaper_max, 1);
    printf("\"title\": ");
    json_str(l->title);
    printf(", ");
    json_vec("value_min", s.vmin, 1);
    json_vec("value_max", s.vmax, 1);
    printf("\"monotone\": %s, \"identity_max_deviation\": %.9g, \"identity_close\": %s}\n",
           s.monotone ? "true" : "false", s.identity_dev, close ? "true" : "false");
  } else {
    printf("file:      %s\n", path);
    printf("format:    %s\n", fmt);
    printf("kind:      %s\n", kind);
    if (l->size) printf("3D size:   %d (%d entries)\n", l->size, l->size * l->size * l->size);
    if (l->shaper_size) printf("1D size:   %d\n", l->shaper_size);
    if (l->size)
      printf("domain:    R [%g, %g]  G [%g, %g]  B [%g, %g]\n", (double)l->domain_min[0], (double)l->domain_max[0],
             (double)l->domain_min[1], (double)l->domain_max[1], (double)l->domain_min[2], (double)l->domain_max[2]);
    if (l->shaper_size)
      printf("1D range:  R [%g, %g]  G [%g, %g]  B [%g, %g]\n", (double)l->shaper_min[0], (double)l->shaper_max[0],
             (double)l->shaper_min[1], (double)l->shaper_max[1], (double)l->shaper_min[2], (double)l->shaper_max[2]);
    printf("title:     %s\n", l->title[0] ? l->title : "(none)");
    printf("values:    R [%.6f, %.6f]  G [%.6f, %.6f]  B [%.6f, %.6f]\n", (double)s.vmin[0], (double)s.vmax[0],
           (double)s.vmin[1], (double)s.vmax[1], (double)s.vmin[2], (double)s.vmax[2]);
    printf("monotone:  %s%s%s%s\n", s.monotone ? "yes" : "no", s.monotone ? "" : " (", s.why, s.monotone ? "" : ")");
    printf("identity:  %s (max |LUT(x) - x| = %.6f, %.2f 8-bit codes)\n", close ? "close" : "no", s.identity_dev,
           s.identity_dev * 255.0);
  }
  dlut_lut_free(l);
  return DLUT_EXIT_OK;
}
