/* The `dlut` command: dispatches to the subcommands in cli/cmd_*.c. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <math.h>

#include "cli.h"
#include "dlut/file.h"

/* One line on stderr: control characters from prompts and paths are not
 * echoed raw (a path holding ESC sequences must not drive the terminal). */
static void print_clean(const char *cmd, const char *fmt, va_list ap, const char *tail) {
  char buf[4096];
  vsnprintf(buf, sizeof buf, fmt, ap);
  for (char *p = buf; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
  fprintf(stderr, "dlut %s: %s%s\n", cmd, buf, tail);
}

int cli_fail(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  print_clean(cmd, fmt, ap, "");
  va_end(ap);
  return DLUT_EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  char tail[96];
  snprintf(tail, sizeof tail, " (see 'dlut %s --help')", cmd);
  va_start(ap, fmt);
  print_clean(cmd, fmt, ap, tail);
  va_end(ap);
  return DLUT_EXIT_USAGE;
}

int cli_is_help(const char *s) {
  return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0;
}

int cli_is_option(const char *s) {
  return s[0] == '-' && s[1] != '\0' && !(s[1] >= '0' && s[1] <= '9') && !(s[1] == '.' && s[2] >= '0' && s[2] <= '9');
}

int cli_parse_int(const char *s, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < -2147483647L || v > 2147483647L) return -1;
  *out = (int)v;
  return 0;
}

int cli_parse_float(const char *s, float *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return -1;
  *out = (float)v;
  return 0;
}

/* Subcommands are weak references: a command whose file is not linked in
 * is simply not offered. */
/* clang-format off */
#define CMD(name) int dlut_cmd_##name(int argc, char **argv) __attribute__((weak));
CMD(apply) CMD(convert) CMD(info) CMD(strip) CMD(grade) CMD(fit) CMD(looks) CMD(embed) CMD(tokenize) CMD(refcheck) CMD(serve) CMD(worker)
/* clang-format on */
#undef CMD

        typedef struct {
  const char *name;                 /* subcommand */
  int (*fn)(int argc, char **argv); /* its entry point, NULL if not built */
  const char *summary;              /* one line for `dlut --help` */
} command_t;

static const command_t k_commands[] = {
    {"grade", dlut_cmd_grade, "grade a photo towards a sentence or a reference photo; writes a LUT"},
    {"apply", dlut_cmd_apply, "apply a LUT to images"},
    {"convert", dlut_cmd_convert, "convert a LUT between .cube, .3dl and Hald .png, or resize it"},
    {"info", dlut_cmd_info, "describe a LUT file"},
    {"strip", dlut_cmd_strip, "draw a LUT as a strip of blue slices (PNG)"},
    {"fit", dlut_cmd_fit, "fit the LUT that turns one photo into its graded version"},
    {"looks", dlut_cmd_looks, "list the grading vocabulary understood without a model"},
    {"embed", dlut_cmd_embed, "CLIP image/text embeddings as JSON"},
    {"tokenize", dlut_cmd_tokenize, "the token ids a CLIP text tower receives"},
    {"refcheck", dlut_cmd_refcheck, "check the CLIP engine against an upstream reference case"},
    {"serve", dlut_cmd_serve, "the web page and HTTP API: jobs, live previews, downloads"},
    {"worker", dlut_cmd_worker, "run jobs from a Redis queue of 'dlut serve --queue' (any machine)"},
};

static void usage(FILE *f) {
  fprintf(f,
          "dlut - natural-language colour grading to standard 3D LUTs\n\n"
          "usage: dlut COMMAND [ARGS...]   (dlut COMMAND --help for each)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
    if (k_commands[i].fn) fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
  fprintf(f,
          "\nenvironment:\n"
          "  DLUT_THREADS  worker threads (default: all cores)\n"
          "  DLUT_MODEL    CLIP model folder used when --model is not given\n"
          "  DLUT_TOKEN    bearer token `dlut serve` requires when --token is not given\n");
}

/* Model weights are memory-mapped: if the file is truncated or replaced
 * while in use, reading it raises SIGBUS. Say so in one line instead of
 * dying silently, and leave no temporary files. */
static void on_sigbus(int sig) {
  static const char msg[] =
      "dlut: a memory-mapped input (the model's weights or a photo) was truncated or changed on disk while in use\n";
  (void)sig;
  dlut_file_remove_tracked();
  if (write(2, msg, sizeof msg - 1) < 0) _exit(1);
  _exit(1);
}

int main(int argc, char **argv) {
  dlut_file_cleanup_on_signals(); /* Ctrl-C or a kill never leaves OUT.tmp.XXXXXX behind */
  signal(SIGBUS, on_sigbus);
  const char *th = getenv("DLUT_THREADS");
  int nth;
  if (th && *th && (cli_parse_int(th, &nth) != 0 || nth < 1 || nth > 256)) {
    fprintf(stderr, "dlut: DLUT_THREADS must be an integer from 1 to 256, not '%.40s'\n", th);
    return DLUT_EXIT_USAGE;
  }
  if (argc < 2) {
    usage(stderr);
    return DLUT_EXIT_USAGE;
  }
  if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return DLUT_EXIT_OK;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("dlut 0.1.0\n");
    return DLUT_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
    if (k_commands[i].fn && strcmp(argv[1], k_commands[i].name) == 0) {
      /* an option given twice is a mistake the commands would settle silently (the last one wins):
       * refused here for all of them, except those meant to repeat (embed's --image and --text, grade's
       * --region, --mask and --edit) */
      for (int a = 2; a < argc; a++) {
        const char *o = argv[a];
        if (o[0] != '-' || !o[1] || (o[1] >= '0' && o[1] <= '9') || o[1] == '.') continue;
        if (!strcmp(argv[1], "embed") && (!strcmp(o, "--image") || !strcmp(o, "--text"))) continue;
        if (!strcmp(argv[1], "grade") && !strcmp(o, "--edit")) continue; /* one reference edit each */
        if (!strcmp(argv[1], "grade") && (!strcmp(o, "--region") || !strcmp(o, "--mask"))) continue;
        for (int b = 2; b < a; b++)
          if (!strcmp(argv[b], o)) return cli_usage(argv[1], "option %s given twice", o);
      }
      return k_commands[i].fn(argc - 1, argv + 1);
    }
  fprintf(stderr, "dlut: unknown command '%s' (see 'dlut --help')\n", argv[1]);
  return DLUT_EXIT_USAGE;
}
