/* `dlut worker --queue redis://HOST:PORT`: run jobs for `dlut serve --queue`
 * on this machine (dlut/server.h). Argument parsing only. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/error.h"
#include "dlut/server.h"

static const char *k_cmd = "worker";

static void help(FILE *f) {
  fprintf(
      f,
      "usage: dlut worker --queue redis://HOST:PORT [options]\n"
      "\n"
      "Run grading jobs from the Redis queue of 'dlut serve --queue redis://HOST:PORT',\n"
      "on this machine or any other that reaches Redis: inputs, progress, previews and\n"
      "results all travel through Redis, so a worker needs only the queue's address\n"
      "(and a model folder to grade through CLIP). Start as many as you like; a job\n"
      "whose worker dies is taken over by another after --claim-idle seconds.\n"
      "Ctrl-C or SIGTERM stops after the current step; an unfinished job goes back to\n"
      "the queue for another worker.\n"
      "\n"
      "options:\n"
      "  --queue URL          redis://HOST:PORT (required)\n"
      "  --model DIR          CLIP model folder (default: found as 'dlut grade' finds\n"
      "                       one); --model none grades with the offline looks\n"
      "  --name NAME          this worker's name in the queue (default HOST-PID)\n"
      "  --claim-idle S       take over jobs idle this long on a dead worker (default 30)\n"
      "  --job-timeout S      seconds a job may run (default 900)\n"
      "  --max-steps N        cap on a job's steps (default 2000)\n"
      "  --max-pixels N       image cap, checked before decoding (default 50000000)\n"
      "  -q, --quiet          no line per job\n"
      "\n"
      "example:\n"
      "  dlut worker --queue redis://10.0.0.5:6379 --model ~/.local/share/dlut/models/chinese-clip-vit-base-patch16\n");
}

int dlut_cmd_worker(int argc, char **argv) {
  dlut_worker_opts o;
  dlut_worker_opts_init(&o);
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (cli_is_help(a)) {
      help(stdout);
      return DLUT_EXIT_OK;
    }
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
      o.quiet = 1;
      continue;
    }
    if (a[0] != '-') return cli_usage(k_cmd, "unexpected argument '%s'", a);
    if (i + 1 >= argc) return cli_usage(k_cmd, "%s needs a value (or unknown option)", a);
    const char *v = argv[++i];
    int n;
    if (!strcmp(a, "--queue"))
      o.queue_url = v;
    else if (!strcmp(a, "--model"))
      o.model_dir = !strcmp(v, "none") ? "" : v;
    else if (!strcmp(a, "--name"))
      o.name = v;
    else if (!strcmp(a, "--claim-idle") || !strcmp(a, "--job-timeout") || !strcmp(a, "--max-steps")) {
      if (cli_parse_int(v, &n) || n < 1 || n > 10000000)
        return cli_usage(k_cmd, "%s must be a positive integer, not '%s'", a, v);
      if (a[2] == 'c')
        o.claim_idle_s = n;
      else if (a[2] == 'j')
        o.job_timeout_s = n;
      else
        o.max_steps = n;
    } else if (!strcmp(a, "--max-pixels")) {
      char *end;
      long long p = strtoll(v, &end, 10);
      if (*end || end == v || p < 1 || p > ((long long)1 << 28))
        return cli_usage(k_cmd, "--max-pixels must be an integer in 1..268435456, not '%s'", v);
      o.max_pixels = p;
    } else
      return cli_usage(k_cmd, "unknown option '%s'", a);
  }
  if (!o.queue_url) return cli_usage(k_cmd, "--queue redis://HOST:PORT is required");
  if (dlut_worker_run(&o) != 0) return cli_fail(k_cmd, "%s", dlut_last_error());
  return DLUT_EXIT_OK;
}
