/* libFuzzer target: what `dlut serve` reads from a request before any
 * library call: the body parsers (multipart/form-data, urlencoded, JSON),
 * the route parser, and the job options set from the parsed fields.
 * The first input byte picks the content type; the rest is the body (and,
 * for the route parser, the path). Invariants: no crash; every part lies
 * inside the body or the form's arena; names are NUL-terminated and short;
 * a route naming a job has a 16-hex-digit id and a file name without '/'
 * or a leading dot, or a set's photos/N or thumbs/N (so no path can leave
 * the data folder). Region specs ("region" fields) go through
 * dlut_job_opts_add_region_spec. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dlut/job.h"
#include "server/form.h"
#include "server/server_internal.h"

static const char *k_types[] = {
    "multipart/form-data; boundary=xyz",
    "multipart/form-data; boundary=\"a b\"",
    "application/x-www-form-urlencoded",
    "application/json",
    "",
    "multipart/form-data",
    "text/plain",
    "multipart/form-data; boundary=" /* empty */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *ct = k_types[data[0] % (sizeof k_types / sizeof *k_types)];
  const uint8_t *body = data + 1;
  size_t n = size - 1;
  uint8_t *copy = malloc(n + 1); /* the server NUL-terminates bodies too */
  if (!copy) return 0;
  memcpy(copy, body, n);
  copy[n] = 0;

  srv_form f;
  srv_form_init(&f);
  if (srv_form_parse(&f, copy, n, ct) == 0) {
    dlut_job_opts o;
    dlut_job_opts_init(&o);
    for (int i = 0; i < f.n; i++) {
      const srv_form_part *p = &f.parts[i];
      if (strnlen(p->name, SRV_FORM_MAX_NAME) >= SRV_FORM_MAX_NAME) abort();
      const uint8_t *d = p->data;
      int in_body = d >= copy && d + p->size <= copy + n;
      int in_arena = f.arena && (const char *)d >= f.arena && (const char *)d + p->size <= f.arena + f.arena_cap;
      if (!in_body && !in_arena) abort();
      const char *v = srv_form_text(&f, p->name);
      if (v && dlut_job_opt_find(p->name)) dlut_job_opts_set(&o, p->name, v);
      if (v && !strcmp(p->name, "region")) dlut_job_opts_add_region_spec(&o, v); /* WHERE=PROMPT */
    }
    dlut_job_opts_finish(&o, 0);
    dlut_job_opts_free(&o);
  }
  srv_form_free(&f);

  srv_route_match m;
  int kind = srv_route_parse((const char *)copy, &m);
  if (kind == SRV_R_JOB || kind == SRV_R_JOB_FILE || kind == SRV_R_JOB_EVENTS) {
    if (!srv_id_valid(m.id)) abort();
    /* one plain name, or a set's photos/N, thumbs/N (N: 1..999, no leading zero) */
    const int numbered = !strncmp(m.name, "photos/", 7) || !strncmp(m.name, "thumbs/", 7);
    const char *num = m.name + 7;
    if (numbered && !(num[0] >= '1' && num[0] <= '9' && strspn(num, "0123456789") == strlen(num) && strlen(num) <= 3))
      abort();
    if (kind == SRV_R_JOB_FILE && ((!numbered && strchr(m.name, '/')) || m.name[0] == '.' || !m.name[0])) abort();
  }
  free(copy);
  return 0;
}
