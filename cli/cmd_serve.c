/* `dlut serve`: the web page and the HTTP API (dlut/server.h). Argument
 * parsing only; the server lives in src/server/. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dlut/error.h"
#include "dlut/server.h"

static const char *k_cmd = "serve";

static void help(FILE *f) {
  fprintf(f,
          "usage: dlut serve [options]\n"
          "\n"
          "Serve DLUT's web page and HTTP API. Open the address it prints, drop a photo,\n"
          "type a look (\"温暖的日落胶片风\", \"cold teal night, high contrast\"), watch it\n"
          "change, grade, and download the .cube, .3dl or the graded photo. Apps call the\n"
          "same API: POST /v1/jobs, GET /v1/jobs/ID/events, GET /v1/jobs/ID/look.cube\n"
          "(described at /v1/openapi.json).\n"
          "\n"
          "Jobs and their files live in the data folder (SQLite + files), so a restart or\n"
          "a crash loses nothing: queued and running jobs run again, results stay.\n"
          "\n"
          "options:\n"
          "  --host H             address to bind (default 127.0.0.1, also written\n"
          "                       localhost; 0.0.0.0 for every interface: then set --token;\n"
          "                       IPv6: ::1, or :: for every interface, IPv4 and IPv6)\n"
          "  --port P             TCP port (default 8080; 0 = any free port)\n"
          "  --data DIR           state and files (default ./dlut-data)\n"
          "  --model DIR          CLIP model folder (default: found as 'dlut grade' finds\n"
          "                       one); --model none grades with the offline looks only\n"
          "  --token T            require 'Authorization: Bearer T' (default $DLUT_TOKEN)\n"
          "  --allow-host NAMES   on a loopback address the server answers only to\n"
          "                       Host: localhost or an IP address (against DNS\n"
          "                       rebinding); NAMES (comma-separated) are answered too,\n"
          "                       e.g. the name a reverse proxy passes on\n"
          "  --concurrency N      jobs at once (default: cores without a model, 1 with)\n"
          "  --queue-size N       waiting jobs before new ones get 429 (default 256)\n"
          "  --job-timeout S      seconds a job may run (default 900)\n"
          "  --max-upload-mb N    request body cap (default 64)\n"
          "  --max-pixels N       image cap, checked before decoding (default 50000000)\n"
          "  --max-steps N        cap on a job's steps (default 2000)\n"
          "  --max-photos N       photos in one set job (default 24, at most 64; together\n"
          "                       at most 4 x --max-pixels pixels)\n"
          "  --keep-hours H       keep finished jobs and their files this long (default 168;\n"
          "                       fractions allowed, e.g. 0.5)\n"
          "  --ready-file F       write the address to F once listening (for scripts)\n"
          "  -q, --quiet          no access log\n"
          "\n"
          "examples:\n"
          "  dlut serve                                  # http://127.0.0.1:8080/\n"
          "  dlut serve --host 0.0.0.0 --port 80 --token \"$(openssl rand -hex 16)\"\n"
          "  curl -F photo=@a.jpg -F prompt='warm film' http://127.0.0.1:8080/v1/jobs\n");
}

int dlut_cmd_serve(int argc, char **argv) {
  dlut_server_opts o;
  dlut_server_opts_init(&o);
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
    int n = 0;
    struct {
      const char *flag;
      int *dst;
      int lo, hi;
    } ints[] = {{"--port", &o.port, 0, 65535},
                {"--concurrency", &o.concurrency, 1, 256},
                {"--queue-size", &o.queue_size, 1, 1000000},
                {"--job-timeout", &o.job_timeout_s, 1, 86400 * 7},
                {"--max-upload-mb", &o.max_upload_mb, 1, 4096},
                {"--max-steps", &o.max_steps, 1, 1000000},
                {"--max-photos", &o.max_photos, 1, DLUT_SERVER_MAX_PHOTOS}};
    int matched = 0;
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
      if (!strcmp(a, ints[k].flag)) {
        if (cli_parse_int(v, &n) || n < ints[k].lo || n > ints[k].hi)
          return cli_usage(k_cmd, "%s must be an integer in %d..%d, not '%s'", a, ints[k].lo, ints[k].hi, v);
        *ints[k].dst = n;
        matched = 1;
      }
    if (matched) continue;
    if (!strcmp(a, "--host")) {
      o.host = !strcmp(v, "localhost") ? "127.0.0.1" : v; /* an address, not a name to resolve */
      unsigned char buf[sizeof(struct in6_addr)];
      if (inet_pton(strchr(o.host, ':') ? AF_INET6 : AF_INET, o.host, buf) != 1)
        return cli_usage(k_cmd,
                         "--host must be an IP address such as 127.0.0.1, 0.0.0.0 (every interface), ::1 or :: "
                         "(every interface, IPv4 and IPv6), not '%s'",
                         v);
    } else if (!strcmp(a, "--data"))
      o.data_dir = v;
    else if (!strcmp(a, "--model"))
      o.model_dir = !strcmp(v, "none") ? "" : v;
    else if (!strcmp(a, "--token"))
      o.token = v;
    else if (!strcmp(a, "--queue"))
      o.queue_url = v;
    else if (!strcmp(a, "--ready-file"))
      o.ready_file = v;
    else if (!strcmp(a, "--allow-host"))
      o.allow_hosts = v;
    else if (!strcmp(a, "--keep-hours")) {
      float h;
      if (cli_parse_float(v, &h) || !(h > 0) || h > 24 * 365 * 10)
        return cli_usage(k_cmd, "--keep-hours must be a number of hours above 0 (e.g. 168, or 0.5), not '%s'", v);
      o.keep_hours = h;
    } else if (!strcmp(a, "--max-pixels")) {
      char *end;
      long long p = strtoll(v, &end, 10);
      if (*end || end == v || p < 1 || p > ((long long)1 << 28))
        return cli_usage(k_cmd, "--max-pixels must be an integer in 1..268435456, not '%s'", v);
      o.max_pixels = p;
    } else
      return cli_usage(k_cmd, "unknown option '%s'", a);
  }
  if (dlut_server_run(&o) != 0) return cli_fail(k_cmd, "%s", dlut_last_error());
  return DLUT_EXIT_OK;
}
