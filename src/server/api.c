/* The routes of `dlut serve` (the API is written down in web/openapi.json,
 * served at /v1/openapi.json): jobs, their events and files, the offline
 * looks preview, apply, health, metrics and the page's assets. Every
 * handler answers; a malformed request gets a 4xx with a JSON error
 * {"error": {"code", "message", "status"}} and the server lives on. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/jsonb.h"
#include "dlut/error.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "dlut/looks.h"
#include "dlut/lut.h"
#include "dlut/text.h"
#include "server/form.h"
#include "server/server_internal.h"

static int fail_from_error(struct MHD_Connection *c) {
  dlut_error_code code = dlut_last_error_code();
  if (code == DLUT_ERR_NONE) code = DLUT_ERR_INTERNAL;
  return srv_respond_error(c, srv_status_for(code), dlut_error_code_name(code), "%s", dlut_last_error());
}

static const char *query(const srv_request *r, const char *key) {
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static int parse_int_arg(const char *s, long lo, long hi, long *out) {
  if (!(*s >= '0' && *s <= '9') && *s != '-') return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

static int parse_float_arg(const char *s, double lo, double hi, double *out) {
  for (const char *p = s; *p; p++) /* plain decimals only (no hex, spaces, inf/nan) */
    if (!((*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == '.' || *p == 'e' || *p == 'E')) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

static const char *mime_for(dlut_image_format f) {
  switch (f) {
    case DLUT_IMAGE_FORMAT_JPEG:
      return "image/jpeg";
    case DLUT_IMAGE_FORMAT_WEBP:
      return "image/webp";
    case DLUT_IMAGE_FORMAT_TIFF:
      return "image/tiff";
    case DLUT_IMAGE_FORMAT_PPM:
      return "image/x-portable-pixmap";
    default:
      return "image/png";
  }
}

static char *base64(const uint8_t *d, size_t n) {
  static const char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = malloc((n + 2) / 3 * 4 + 1), *w = o;
  if (!o) return NULL;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    *w++ = k[v >> 18], *w++ = k[(v >> 12) & 63], *w++ = k[(v >> 6) & 63], *w++ = k[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
    *w++ = k[v >> 18], *w++ = k[(v >> 12) & 63];
    *w++ = i + 1 < n ? k[(v >> 6) & 63] : '=';
    *w++ = '=';
  }
  *w = 0;
  return o;
}

/* A file name as a label: printable, valid UTF-8 (invalid bytes and
 * control characters dropped, cut at a character boundary), no quotes. */
void srv_label_clean(const char *in, char *out, size_t cap) {
  size_t w = 0, n = strlen(in);
  const unsigned char *p = (const unsigned char *)in, *end = p + n;
  while (p < end && w + 1 < cap) {
    int len = dlut_utf8_seq_len(p, (size_t)(end - p));
    if (!len) {
      p++;
      continue;
    }
    if (w + (size_t)len >= cap) break;
    if (!(len == 1 && (*p < 0x20 || *p == 0x7F || *p == '"' || *p == '\\'))) {
      memcpy(out + w, p, (size_t)len);
      w += (size_t)len;
    }
    p += len;
  }
  out[w] = 0;
}

/* An upload's header, checked before anything is decoded: a known format,
 * a readable size, within the pixel cap (and max_side, if > 0), and the
 * file whole as far as its structure tells (dlut_image_check_whole). The
 * size is the upright one (EXIF orientation applied), as the job decodes it. */
static int check_upload_size(struct MHD_Connection *c, const char *what, const srv_form_part *p, int max_side, int *ret,
                             int *pw, int *ph) {
  int w = 0, h = 0;
  if (dlut_image_probe_upright(p->data, p->size, &w, &h) != 0 || dlut_image_check_whole(p->data, p->size) != 0) {
    *ret = srv_respond_error(c, srv_status_for(dlut_last_error_code()), dlut_error_code_name(dlut_last_error_code()),
                             "%s: %s", what, dlut_last_error());
    return -1;
  }
  if (w > 0 && h > 0 && (w < 2 && h < 2)) {
    *ret = srv_respond_error(c, 400, "bad_input", "%s: a photo needs at least 2 pixels", what);
    return -1;
  }
  if (max_side > 0 && (w > max_side || h > max_side)) {
    *ret =
        srv_respond_error(c, 413, "too_large", "%s must be at most %d px a side (send a small copy)", what, max_side);
    return -1;
  }
  if (pw) *pw = w;
  if (ph) *ph = h;
  return 0;
}

static int check_upload(struct MHD_Connection *c, const char *what, const srv_form_part *p, int max_side, int *ret) {
  return check_upload_size(c, what, p, max_side, ret, NULL, NULL);
}

/* At most `concurrency` full-resolution decodes at once outside the workers
 * (POST /v1/apply, graded?strength=): a small upload can decode to hundreds
 * of megabytes. */
static int heavy_enter(srv *s) {
  pthread_mutex_lock(&s->mu);
  int ok = s->heavy < (s->o.concurrency > 0 ? s->o.concurrency : 2);
  if (ok) s->heavy++;
  pthread_mutex_unlock(&s->mu);
  return ok;
}

/* The answer when heavy_enter says no (503 carries Retry-After: 1). */
static int srv_respond_busy(struct MHD_Connection *c) {
  return srv_respond_error(c, 503, "busy", "too many photos being graded at once; try again shortly");
}

static void heavy_leave(srv *s) {
  pthread_mutex_lock(&s->mu);
  s->heavy--;
  pthread_mutex_unlock(&s->mu);
}

/* ==== POST /v1/jobs ==== */

/* A photo's label: its upload's file name without folders (a label only),
 * its extension the one of its content, so a set's graded/NAME is written
 * in the photo's own format (dlut_job_set_names keeps it). */
/* A file name after its last folder, of either kind (C:\\Users\\me\\a.jpg). */
static const char *name_base(const char *name) {
  const char *base = name;
  for (const char *q = name; *q; q++)
    if (*q == '/' || *q == '\\') base = q + 1;
  return base;
}

static void photo_label(const srv_form_part *p, dlut_image_format fmt, char *out, size_t cap) {
  const char *base = name_base(p->filename);
  char clean[196]; /* cut at a character boundary; with ".EXT" within the 200 bytes a set's names keep */
  srv_label_clean(base, clean, sizeof clean);
  char *dot = strrchr(clean, '.');
  if (dot && dot != clean) *dot = 0;
  while (clean[0] == '.') memmove(clean, clean + 1, strlen(clean)); /* .hidden.png, ..a.png: a file that shows */
  if (!clean[0]) snprintf(clean, sizeof clean, "photo");
  snprintf(out, cap, "%s.%s", clean, dlut_job_graded_ext(fmt));
}

/* The regions of a submission, in the order of the body's "region" and
 * "mask" parts (as `dlut grade` numbers --region and --mask): a region
 * field holds one "WHERE=PROMPT" per line; the k-th mask file part takes
 * the k-th mask_prompt field. */
typedef struct post_region {
  const srv_form_part *mask; /* a mask region's matte, else NULL */
  char label[256];           /* the matte's name (its file name) */
  int width, height;         /* the matte's size from its header */
} post_region;

static int parse_regions(struct MHD_Connection *c, srv_form *f, dlut_job_opts *check, jsonb *jb, cJSON *regions,
                         post_region *pr, int *ret) {
  const srv_form_part *prompts[SRV_FORM_MAX_PARTS];
  int n_prompts = 0, n_masks = 0;
  for (int i = 0; i < f->n; i++) {
    const srv_form_part *pt = &f->parts[i];
    if (!strcmp(pt->name, "mask_prompt")) prompts[n_prompts++] = pt;
    if (!strcmp(pt->name, "mask")) n_masks++;
  }
  if (n_masks != n_prompts) {
    *ret = srv_respond_error(c, 400, "bad_input",
                             "%d mask files but %d mask_prompt fields: each mask needs its look (mask_prompt, in the "
                             "same order)",
                             n_masks, n_prompts);
    return -1;
  }
  int k_mask = 0;
  for (int i = 0; i < f->n; i++) {
    const srv_form_part *pt = &f->parts[i];
    const int is_region = !strcmp(pt->name, "region"), is_mask = !strcmp(pt->name, "mask");
    if (!is_region && !is_mask) continue;
    if (is_region) {
      /* one spec per line; blank lines are skipped */
      const char *t = (const char *)pt->data, *end = t + pt->size;
      while (t < end) {
        const char *nl = memchr(t, '\n', (size_t)(end - t));
        size_t len = nl ? (size_t)(nl - t) : (size_t)(end - t);
        size_t l = len;
        while (l && (t[l - 1] == '\r' || t[l - 1] == ' ')) l--;
        if (l) {
          if (check->n_regions >= DLUT_REGION_MAX) {
            *ret = srv_respond_error(c, 400, "bad_input", "at most %d regions (region lines and masks together)",
                                     DLUT_REGION_MAX);
            return -1;
          }
          if (l > 4096) {
            *ret =
                srv_respond_error(c, 400, "bad_input", "region %d: a line of at most 4096 bytes", check->n_regions + 1);
            return -1;
          }
          char line[4097];
          memcpy(line, t, l);
          line[l] = 0;
          if (dlut_job_opts_add_region_spec(check, line) != 0) {
            *ret = srv_respond_error(c, 400, "bad_input", "region %d: %s", check->n_regions + 1, dlut_last_error());
            return -1;
          }
          const dlut_job_region *r = &check->regions[check->n_regions - 1];
          cJSON *o = jsonb_obj(jb, regions, NULL);
          jsonb_str(jb, o, "kind", "text");
          jsonb_str(jb, o, "where", r->where);
          jsonb_str(jb, o, "prompt", r->prompt);
        }
        t += len + (nl ? 1 : 0);
      }
      continue;
    }
    /* a mask: an image, judged by its content, within the pixel cap */
    const int number = check->n_regions + 1;
    if (check->n_regions >= DLUT_REGION_MAX) {
      *ret = srv_respond_error(c, 400, "bad_input", "at most %d regions (region lines and masks together)",
                               DLUT_REGION_MAX);
      return -1;
    }
    char what[64];
    snprintf(what, sizeof what, "region %d's mask", number);
    if (!pt->is_file || pt->size == 0 || dlut_image_format_sniff(pt->data, pt->size) == DLUT_IMAGE_FORMAT_UNKNOWN) {
      *ret = srv_respond_error(c, 415, "unsupported", "%s is not a PNG, TIFF, JPEG, WebP or PPM/PGM image", what);
      return -1;
    }
    post_region *q = &pr[check->n_regions];
    if (check_upload_size(c, what, pt, 0, ret, &q->width, &q->height) != 0) return -1;
    q->mask = pt;
    const char *base = strrchr(pt->filename, '/');
    srv_label_clean(base ? base + 1 : pt->filename, q->label, sizeof q->label);
    if (!q->label[0]) snprintf(q->label, sizeof q->label, "mask-%d", number);
    const srv_form_part *pp = prompts[k_mask++];
    char prompt[4097];
    if (pp->size > 4096) {
      *ret = srv_respond_error(c, 400, "bad_input", "region %d: a look of at most 4096 bytes", number);
      return -1;
    }
    memcpy(prompt, pp->data, pp->size);
    prompt[pp->size] = 0;
    if (dlut_job_opts_add_region(check, DLUT_JOB_REGION_MASK, q->label, prompt) != 0) {
      *ret = srv_respond_error(c, 400, "bad_input", "region %d: %s", number, dlut_last_error());
      return -1;
    }
    cJSON *o = jsonb_obj(jb, regions, NULL);
    jsonb_str(jb, o, "kind", "mask");
    jsonb_str(jb, o, "where", q->label);
    jsonb_str(jb, o, "prompt", prompt);
  }
  return 0;
}

/* The fields of POST /v1/jobs besides the job options (text, once each):
 * a set's photos, one reference, and the regions (region lines, mask
 * files with a mask_prompt each), as dlut grade takes them. A photo, the
 * reference or a mask sent as text is judged by its content (415). */
static const srv_form_rule job_fields[] = {
    {"photo", SRV_FORM_REPEAT, NULL},
    {"reference", 0, NULL},
    {"region", SRV_FORM_TEXT | SRV_FORM_REPEAT, " (\"WHERE=PROMPT\", one per line)"},
    {"mask", SRV_FORM_REPEAT, NULL},
    {"mask_prompt", SRV_FORM_TEXT | SRV_FORM_REPEAT, NULL},
    {NULL, 0, NULL},
};

static int is_job_option(const char *name) {
  return dlut_job_opt_find(name) != NULL;
}

static int post_job(srv *s, const srv_request *r) {
  struct MHD_Connection *c = r->conn;
  srv_form f;
  srv_form_init(&f);
  srv_job *j = NULL;
  cJSON *opts_json = NULL, *regions = NULL, *names = NULL;
  jsonb jb = {0};
  dlut_job_opts check;
  dlut_job_opts_init(&check);
  char dir[4200] = "", p[4400];
  const srv_form_part *photos[DLUT_SERVER_MAX_PHOTOS];
  dlut_image_format fmts[DLUT_SERVER_MAX_PHOTOS];
  post_region pr[DLUT_REGION_MAX];
  memset(pr, 0, sizeof pr);
  int n_photos = 0, width = 0, height = 0, ret;
  if (srv_form_parse(&f, r->body, r->body_size, r->content_type) != 0 ||
      srv_form_check(&f, job_fields, is_job_option) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  const srv_form_part *ref = srv_form_get(&f, "reference");
  for (int i = 0; i < f.n; i++)
    if (!strcmp(f.parts[i].name, "photo")) {
      if (n_photos == s->o.max_photos) {
        ret = srv_respond_error(c, 413, "too_large", "at most %d photos in one set on this server", s->o.max_photos);
        goto done;
      }
      photos[n_photos++] = &f.parts[i];
    }
  /* a browser sends a file field with no file chosen as filename="" and 0 bytes: that is no photo */
  if (!n_photos || (n_photos == 1 && photos[0]->size == 0 && !photos[0]->filename[0])) {
    ret = srv_respond_error(c, 400, "bad_input", "no photo: send it as the multipart file field 'photo'");
    goto done;
  }
  for (int i = 0; i < n_photos; i++)
    if (photos[i]->size == 0) {
      char label[256];
      srv_label_clean(photos[i]->filename, label, sizeof label);
      if (n_photos > 1)
        ret = srv_respond_error(c, 400, "bad_input", "photo %d%s%s%s is empty (0 bytes)", i + 1, label[0] ? " ('" : "",
                                label, label[0] ? "')" : "");
      else
        ret = srv_respond_error(c, 400, "bad_input", "the photo%s%s%s is empty (0 bytes)", label[0] ? " '" : "", label,
                                label[0] ? "'" : "");
      goto done;
    }
  /* uploads are judged by their content, never by their name */
  int64_t set_pixels = 0;
  for (int i = 0; i < n_photos; i++) {
    char what[48];
    if (n_photos > 1)
      snprintf(what, sizeof what, "photo %d", i + 1);
    else
      snprintf(what, sizeof what, "the photo");
    fmts[i] = dlut_image_format_sniff(photos[i]->data, photos[i]->size);
    if (fmts[i] == DLUT_IMAGE_FORMAT_UNKNOWN) {
      ret = srv_respond_error(c, 415, "unsupported", "%s is not a JPEG, PNG, WebP, TIFF or PPM image", what);
      goto done;
    }
    int w = 0, h = 0;
    if (check_upload_size(c, what, photos[i], 0, &ret, &w, &h) != 0) goto done;
    if (i == 0) width = w, height = h;
    set_pixels += (int64_t)w * h;
  }
  if (n_photos > 1 && set_pixels > 4 * s->o.max_pixels) {
    ret = srv_respond_error(c, 413, "too_large",
                            "the %d photos hold %lld pixels together; a set may hold at most %lld (4 x the pixel cap)",
                            n_photos, (long long)set_pixels, (long long)(4 * s->o.max_pixels));
    goto done;
  }
  if (ref && ref->size == 0 && !ref->filename[0]) ref = NULL; /* a form's file field with no file chosen */
  if (ref && ref->size == 0) {
    char label[256];
    srv_label_clean(ref->filename, label, sizeof label);
    ret = srv_respond_error(c, 400, "bad_input", "the reference '%s' is empty (0 bytes)", label);
    goto done;
  }
  if (ref && dlut_image_format_sniff(ref->data, ref->size) == DLUT_IMAGE_FORMAT_UNKNOWN) {
    ret = srv_respond_error(c, 415, "unsupported", "the reference is not a JPEG, PNG, WebP, TIFF or PPM image");
    goto done;
  }
  if (ref && check_upload(c, "the reference", ref, 0, &ret) != 0) goto done;
  /* every other field is a job option, checked now with the same parser the CLI uses */
  opts_json = jsonb_root(&jb);
  regions = jsonb_root_array(&jb);
  if (!opts_json || !regions) {
    ret = srv_respond_error(c, 503, "out_of_memory", "out of memory");
    goto done;
  }
  for (int i = 0; i < f.n; i++) { /* srv_form_check has refused unknown, repeated and non-text options */
    const srv_form_part *pt = &f.parts[i];
    if (!is_job_option(pt->name)) continue;
    const char *v = srv_form_text(&f, pt->name);
    if (dlut_job_opts_set(&check, pt->name, v) != 0) {
      ret = fail_from_error(c);
      goto done;
    }
    jsonb_str(&jb, opts_json, pt->name, v);
  }
  if (parse_regions(c, &f, &check, &jb, regions, pr, &ret) != 0) goto done;
  /* what the run would refuse for want of pixels, refused now in its words */
  dlut_job_preflight_info pf = {
      .n_photos = n_photos, .width = width, .height = height, .has_model = s->remote ? -1 : s->model != NULL};
  for (int k = 0; k < check.n_regions; k++) pf.mask_width[k] = pr[k].width, pf.mask_height[k] = pr[k].height;
  if (dlut_job_preflight(&check, &pf) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  if (check.n_regions) {
    jsonb_add(&jb, opts_json, "regions", regions);
    regions = NULL;
  }
  if (n_photos > 1) {
    names = jsonb_arr(&jb, opts_json, "photos");
    for (int i = 0; names && i < n_photos; i++) {
      char label[256];
      photo_label(photos[i], fmts[i], label, sizeof label);
      jsonb_str(&jb, names, NULL, label);
    }
  }
  /* the server favours throughput: the graded JPEG's pixels are the same, its
   * Huffman tables standard (a few % larger, half the encoding time) */
  if (!cJSON_GetObjectItemCaseSensitive(opts_json, "fast_encode")) {
    jsonb_str(&jb, opts_json, "fast_encode", "1");
    check.fast_encode = 1;
  }
  if (check.grade.steps > s->o.max_steps) {
    ret = srv_respond_error(c, 400, "bad_input", "steps must be at most %d on this server", s->o.max_steps);
    goto done;
  }
  if (dlut_job_opts_finish(&check, ref != NULL) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  if (!s->model && !s->remote && !ref && check.prompt) {
    /* no model here: the offline looks grade it, and tell in a millisecond whether they understand a word
     * of it; a prompt they do not is refused now, not queued to fail */
    dlut_look lk;
    dlut_looks_report *rep = calloc(1, sizeof *rep);
    if (!rep) {
      ret = srv_respond_error(c, 503, "out_of_memory", "out of memory");
      goto done;
    }
    const int none = dlut_looks_parse(check.prompt, &lk, rep) == 0 && !rep->understood[0] && !rep->neutral_wb;
    if (none)
      ret =
          srv_respond_error(c, 400, "bad_input",
                            "this server has no CLIP model, and the offline looks understand no word of the "
                            "prompt%s%s%s (they read words such as warm, film, teal night, 胶片, 冷色调)",
                            rep->suggested[0] ? "; did you mean: " : "", rep->suggested, rep->suggested[0] ? "?" : "");
    free(rep);
    if (none) goto done;
  }
  pthread_mutex_lock(&s->mu);
  const int full = s->queued >= s->o.queue_size;
  if (full) s->rejected_full++;
  pthread_mutex_unlock(&s->mu);
  if (full) {
    ret = srv_respond_error(c, 429, "queue_full", "the queue is full; try again shortly");
    goto done;
  }

  /* the options as the job will run them: every field, or out of memory */
  if (jb.failed || !(j = srv_job_new()) || !(j->options = cJSON_PrintUnformatted(opts_json)) ||
      !(j->prompt = strdup(check.prompt ? check.prompt : ""))) {
    ret = srv_respond_error(c, 503, "out_of_memory", "out of memory");
    goto done;
  }
  srv_id_new(j->id);
  j->state = SRV_QUEUED;
  j->created = srv_now();
  j->has_ref = ref != NULL;
  snprintf(j->graded_ext, sizeof j->graded_ext, "%s", dlut_job_graded_ext(fmts[0]));
  /* the file name is only a label: keep printable ASCII and UTF-8, drop paths */
  srv_label_clean(name_base(photos[0]->filename), j->photo_name, sizeof j->photo_name);
  while (j->photo_name[0] == '.') memmove(j->photo_name, j->photo_name + 1, strlen(j->photo_name));
  if (s->model)
    j->steps = check.grade.steps ? check.grade.steps : (check.grade.param == DLUT_GRADE_PARAM_FIELD ? 1000 : 200);

  srv_job_dir(s, j->id, dir, sizeof dir);
  if (mkdir(dir, 0755) != 0) {
    dir[0] = 0;
    ret = srv_respond_error(c, 500, "io", "cannot create the job folder: %s", strerror(errno));
    goto done;
  }
  /* the inputs under the names run.c reads them by: photo, photo.2 ..., reference, mask.K */
  for (int i = 0; i < n_photos; i++) {
    if (i == 0)
      snprintf(p, sizeof p, "%s/photo", dir);
    else
      snprintf(p, sizeof p, "%s/photo.%d", dir, i + 1);
    if (dlut_file_write_all(p, photos[i]->data, photos[i]->size) != 0) {
      ret = fail_from_error(c);
      goto done;
    }
  }
  if (ref) {
    snprintf(p, sizeof p, "%s/reference", dir);
    if (dlut_file_write_all(p, ref->data, ref->size) != 0) {
      ret = fail_from_error(c);
      goto done;
    }
  }
  for (int k = 0; k < check.n_regions; k++) {
    if (!pr[k].mask) continue;
    snprintf(p, sizeof p, "%s/mask.%d", dir, k + 1);
    if (dlut_file_write_all(p, pr[k].mask->data, pr[k].mask->size) != 0) {
      ret = fail_from_error(c);
      goto done;
    }
  }
  char id[SRV_ID_LEN + 1];
  memcpy(id, j->id, sizeof id);
  if (srv_job_submit(s, j) != 0) { /* not taken: j and its folder are removed below */
    ret = dlut_last_error_code() == DLUT_ERR_TOO_LARGE
              ? srv_respond_error(c, 429, "queue_full", "%s", dlut_last_error())
              : fail_from_error(c);
    goto done;
  }
  j = NULL;
  dir[0] = 0; /* the job owns its folder now */
  char body[400], loc[64];
  snprintf(
      body, sizeof body,
      "{\"id\":\"%s\",\"state\":\"queued\",\"links\":{\"self\":\"/v1/jobs/%s\",\"events\":\"/v1/jobs/%s/events\"}}", id,
      id, id);
  snprintf(loc, sizeof loc, "/v1/jobs/%s", id);
  struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
  MHD_add_response_header(resp, "Content-Type", "application/json; charset=utf-8");
  MHD_add_response_header(resp, "Location", loc);
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  ret = MHD_queue_response(c, 202, resp);
  MHD_destroy_response(resp);
done:
  if (dir[0]) { /* not accepted: leave nothing behind */
    snprintf(p, sizeof p, "%s/photo", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/reference", dir);
    unlink(p);
    for (int i = 2; i <= n_photos; i++) {
      snprintf(p, sizeof p, "%s/photo.%d", dir, i);
      unlink(p);
    }
    for (int k = 1; k <= DLUT_REGION_MAX; k++) {
      snprintf(p, sizeof p, "%s/mask.%d", dir, k);
      unlink(p);
    }
    rmdir(dir);
  }
  srv_job_free(j); /* NULL once the table took it */
  cJSON_Delete(opts_json);
  cJSON_Delete(regions);
  dlut_job_opts_free(&check);
  srv_form_free(&f);
  return ret;
}

/* ==== GET /v1/jobs ==== */

static int list_jobs(srv *s, const srv_request *r) {
  long limit = 20, before = -1;
  const char *ls = query(r, "limit"), *bs = query(r, "before");
  if (ls && parse_int_arg(ls, 1, 100, &limit))
    return srv_respond_error(r->conn, 400, "bad_input", "limit must be an integer in 1..100, not '%.40s'", ls);
  if (bs && parse_int_arg(bs, 0, 0x7fffffffL, &before))
    return srv_respond_error(r->conn, 400, "bad_input", "before must be a job sequence number");
  const char *state = query(r, "state");
  if (state && srv_state_from_name(state) < 0)
    return srv_respond_error(r->conn, 400, "bad_input", "state must be queued, running, done, failed or cancelled");
  size_t cap = 256, w = 0;
  char *out = malloc(cap);
  if (!out) return srv_respond_error(r->conn, 503, "out_of_memory", "out of memory");
  w += (size_t)snprintf(out, cap, "{\"jobs\":[");
  int n = 0;
  int64_t last_seq = -1;
  int more = 0, oom = 0;
  pthread_mutex_lock(&s->mu);
  for (int i = s->n_jobs - 1; i >= 0; i--) {
    const srv_job *j = s->jobs[i];
    if (before >= 0 && j->seq >= before) continue;
    if (state && strcmp(state, srv_state_name(j->state))) continue;
    if (n == limit) {
      more = 1;
      break;
    }
    char *js = srv_job_json(j, 0);
    if (!js) {
      oom = 1;
      break;
    }
    size_t jl = strlen(js);
    if (w + jl + 64 > cap) {
      while (w + jl + 64 > cap) cap *= 2;
      char *no = realloc(out, cap);
      if (!no) {
        free(js);
        oom = 1;
        break;
      }
      out = no;
    }
    w += (size_t)snprintf(out + w, cap - w, "%s%s", n ? "," : "", js);
    free(js);
    last_seq = j->seq;
    n++;
  }
  pthread_mutex_unlock(&s->mu);
  if (oom) { /* never a list with a job missing */
    free(out);
    return srv_respond_error(r->conn, 503, "out_of_memory", "out of memory");
  }
  if (more)
    snprintf(out + w, cap - w, "],\"next\":%lld}", (long long)last_seq);
  else
    snprintf(out + w, cap - w, "],\"next\":null}");
  return srv_respond_json(r->conn, 200, out);
}

/* ==== Server-Sent Events ==== */

typedef struct sse {
  srv *s;
  srv_job *j;
  unsigned seen_version, seen_preview;
  int last_state, last_step, started, finished;
  char *buf;
  size_t len, off, cap;
} sse;

static int sse_add(sse *e, const char *event, const char *data) {
  size_t need = strlen(event) + strlen(data) + 32;
  if (e->len + need > e->cap) {
    size_t cap = e->cap ? e->cap : 4096;
    while (cap < e->len + need) cap *= 2;
    char *nb = realloc(e->buf, cap);
    if (!nb) return -1;
    e->buf = nb;
    e->cap = cap;
  }
  e->len += (size_t)snprintf(e->buf + e->len, e->cap - e->len, "event: %s\ndata: %s\n\n", event, data);
  return 0;
}

/* caller holds s->mu: queue what changed since the last call */
static void sse_collect(sse *e) {
  srv_job *j = e->j;
  char small[256];
  if (!e->started || (int)j->state != e->last_state) {
    char *js = srv_job_json(j, !e->started);
    if (js) sse_add(e, "state", js);
    free(js);
    if (!e->started) e->last_step = j->step; /* the first state holds every loss so far */
    e->started = 1;
  }
  /* one progress event for every step since the last call, even when this
   * stream was slower than the optimiser (the loss history has them all) */
  if (j->state == SRV_RUNNING && j->step > e->last_step && j->step > 0) {
    int from = e->last_step + 1 < 1 ? 1 : e->last_step + 1;
    if (j->step - from > 10000) from = j->step - 10000; /* a stream that slept through a long job */
    for (int st = from; st <= j->step; st++) {
      const double loss = st - 1 < j->n_loss ? (double)j->loss[st - 1] : NAN;
      const double clip = st == j->step ? j->clip_loss : NAN;
      char ls[32] = "null", cs[32] = "null"; /* JSON has no NaN */
      if (isfinite(loss)) snprintf(ls, sizeof ls, "%.6g", loss);
      if (isfinite(clip)) snprintf(cs, sizeof cs, "%.6g", clip);
      snprintf(small, sizeof small, "{\"step\":%d,\"steps\":%d,\"loss\":%s,\"clip\":%s}", st, j->steps, ls, cs);
      sse_add(e, "progress", small);
    }
  }
  if (j->preview && j->preview_seq != e->seen_preview) {
    char *b = base64(j->preview, j->preview_size);
    if (b) {
      size_t n = strlen(b) + 96;
      char *d = malloc(n);
      if (d) {
        snprintf(d, n, "{\"step\":%d,\"jpeg\":\"%s\"}", j->step, b);
        sse_add(e, "preview", d);
        free(d);
      }
      free(b);
    }
    e->seen_preview = j->preview_seq;
  }
  if (srv_state_terminal(j->state)) {
    char *js = srv_job_json(j, 1);
    if (js) sse_add(e, "end", js);
    free(js);
    e->finished = 1;
  }
  e->last_state = (int)j->state;
  e->last_step = j->step;
  e->seen_version = j->version;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max) {
  sse *e = cls;
  (void)pos;
  for (;;) {
    if (e->off < e->len) {
      size_t n = e->len - e->off < max ? e->len - e->off : max;
      memcpy(out, e->buf + e->off, n);
      e->off += n;
      if (e->off == e->len) e->off = e->len = 0;
      return (ssize_t)n;
    }
    if (e->finished) return MHD_CONTENT_READER_END_OF_STREAM;
    srv *s = e->s;
    pthread_mutex_lock(&s->mu);
    if (s->shutdown) {
      pthread_mutex_unlock(&s->mu);
      return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (e->started && e->j->version == e->seen_version) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 15;
      int w = 0;
      while (e->j->version == e->seen_version && !s->shutdown && w == 0)
        w = pthread_cond_timedwait(&s->changed, &s->mu, &ts);
      if (w != 0 && e->j->version == e->seen_version) { /* quiet for 15 s: a comment keeps proxies from closing */
        pthread_mutex_unlock(&s->mu);
        static const char ping[] = ": ping\n\n";
        memcpy(out, ping, sizeof ping - 1 < max ? sizeof ping - 1 : max);
        return (ssize_t)(sizeof ping - 1 < max ? sizeof ping - 1 : max);
      }
    }
    sse_collect(e);
    pthread_mutex_unlock(&s->mu);
    if (e->len == 0 && !e->finished) continue;
  }
}

static void sse_free(void *cls) {
  sse *e = cls;
  pthread_mutex_lock(&e->s->mu);
  e->j->refs--;
  pthread_mutex_unlock(&e->s->mu);
  free(e->buf);
  free(e);
}

static int job_events(srv *s, const srv_request *r, const char *id) {
  sse *e = calloc(1, sizeof *e);
  if (!e) return srv_respond_error(r->conn, 503, "out_of_memory", "out of memory");
  pthread_mutex_lock(&s->mu);
  srv_job *j = srv_job_find(s, id);
  if (j) j->refs++;
  pthread_mutex_unlock(&s->mu);
  if (!j) {
    free(e);
    return srv_respond_error(r->conn, 404, "not_found", "no job %s", id);
  }
  if (!strcmp(r->method, "HEAD")) { /* the stream's headers and no body (a chunked one would end in 0\r\n\r\n) */
    free(e);
    pthread_mutex_lock(&s->mu);
    j->refs--;
    pthread_mutex_unlock(&s->mu);
    struct MHD_Response *h = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!h) return MHD_NO;
    MHD_add_response_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    MHD_add_response_header(h, "Cache-Control", "no-store");
    int ret = MHD_queue_response(r->conn, 200, h);
    MHD_destroy_response(h);
    return ret;
  }
  e->s = s;
  e->j = j;
  e->last_state = -1;
  e->last_step = -1;
  struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, sse_read, e, sse_free);
  if (!resp) {
    sse_free(e);
    return MHD_NO;
  }
  MHD_add_response_header(resp, "Content-Type", "text/event-stream; charset=utf-8");
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_add_response_header(resp, "X-Accel-Buffering", "no");
  int ret = MHD_queue_response(r->conn, 200, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* ==== Job files ==== */

/* look.cube, look.3dl or hald.png of job folder `dir` at strength k < 1, encoded for this request (under
 * the limit on heavy work: a Hald is large), named dlut-ID-PCT.EXT. */
static int lut_at_strength(srv *s, struct MHD_Connection *c, const char *dir, const char *id, const char *name,
                           double k) {
  char p[4400], dl[96];
  if (!heavy_enter(s)) return srv_respond_busy(c);
  snprintf(p, sizeof p, "%s/out/look.cube", dir);
  dlut_lut *lut = dlut_lut_load(p), *at = lut ? dlut_lut_at_strength(lut, (float)k) : NULL;
  const dlut_lut_format f = name[5] == 'c'   ? DLUT_LUT_FORMAT_CUBE
                            : name[5] == '3' ? DLUT_LUT_FORMAT_3DL
                                             : DLUT_LUT_FORMAT_HALD;
  uint8_t *out = NULL;
  size_t on = 0;
  const int ok = at && dlut_lut_save_memory(at, f, NULL, name, &out, &on) == 0;
  dlut_lut_free(at);
  dlut_lut_free(lut);
  heavy_leave(s);
  if (!ok) {
    free(out);
    return fail_from_error(c);
  }
  const int pct = (int)(k * 100.0 + 0.5);
  snprintf(dl, sizeof dl, "dlut-%s-%d%s", id, pct,
           f == DLUT_LUT_FORMAT_CUBE  ? ".cube"
           : f == DLUT_LUT_FORMAT_3DL ? ".3dl"
                                      : "-hald.png");
  return srv_respond_download(c, f == DLUT_LUT_FORMAT_HALD ? "image/png" : "application/octet-stream", out, on, dl);
}

/* An input of job folder `dir` through its bundle at `strength`
 * (dlut_job_bundle_render), as a download. */
static int render_at_strength(srv *s, struct MHD_Connection *c, const char *dir, const char *input, double strength,
                              dlut_image_format fmt, const char *dl) {
  char p[4400], out_dir[4400];
  if (!heavy_enter(s)) return srv_respond_busy(c);
  size_t n = 0;
  snprintf(p, sizeof p, "%s/%s", dir, input);
  snprintf(out_dir, sizeof out_dir, "%s/out", dir);
  uint8_t *data = dlut_file_read_all(p, (size_t)s->o.max_upload_mb << 20, &n);
  dlut_image *photo = data ? dlut_image_load_memory(data, n, "photo") : NULL;
  dlut_image *g = photo ? dlut_job_bundle_render(out_dir, photo, (float)strength) : NULL;
  uint8_t *out = NULL;
  size_t on = 0;
  int ok = g && dlut_image_save_memory(g, fmt, NULL, &out, &on) == 0; /* a float TIFF in, a float TIFF out */
  dlut_image_free(g);
  dlut_image_free(photo);
  free(data);
  heavy_leave(s);
  if (!ok) return fail_from_error(c);
  return srv_respond_download(c, mime_for(fmt), out, on, dl);
}

static int job_file(srv *s, const srv_request *r, const char *id, const char *name) {
  struct MHD_Connection *c = r->conn;
  char dir[4200], p[4400], dl[96];
  pthread_mutex_lock(&s->mu);
  srv_job *j = srv_job_find(s, id);
  int state = j ? (int)j->state : -1;
  char ext[8] = "";
  uint8_t *preview = NULL;
  size_t preview_size = 0;
  int set_n = 1; /* photos of a set (read under the lock: the janitor may remove j after it) */
  char photo_name[256] = "";
  if (j) {
    set_n = srv_set_size(j->options);
    snprintf(photo_name, sizeof photo_name, "%s", j->photo_name);
    snprintf(ext, sizeof ext, "%s", j->graded_ext);
    if (!strcmp(name, "preview.jpg") && j->preview && (preview = malloc(j->preview_size))) {
      memcpy(preview, j->preview, j->preview_size);
      preview_size = j->preview_size;
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (!j) return srv_respond_error(c, 404, "not_found", "no job %s", id);
  srv_job_dir(s, id, dir, sizeof dir);
  if (!strcmp(name, "preview.jpg")) {
    if (preview) return srv_respond(c, 200, "image/jpeg", preview, preview_size, 0);
    snprintf(p, sizeof p, "%s/preview.jpg", dir);
    if (access(p, R_OK) != 0) return srv_respond_error(c, 404, "not_found", "no preview yet");
    return srv_respond_file(c, p, "image/jpeg", NULL);
  }
  /* the photo as it was uploaded (the first of a set), under its own name: the page grades an old job
   * anew from it */
  if (!strcmp(name, "photo")) {
    snprintf(p, sizeof p, "%s/photo", dir);
    uint8_t head[16] = {0};
    FILE *f = fopen(p, "rb");
    const size_t hn = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    if (!hn) return srv_respond_error(c, 404, "not_found", "job %s has no photo any more", id);
    return srv_respond_file(c, p, mime_for(dlut_image_format_sniff(head, hn)), photo_name[0] ? photo_name : "photo");
  }
  /* the photo before the grade (the first of a set), 640 px: a queued or
   * running job's card shows it too; not a failed or cancelled job's */
  if (!strcmp(name, "before.jpg") && state != SRV_FAILED && state != SRV_CANCELLED) {
    snprintf(p, sizeof p, "%s/before.jpg", dir);
    if (access(p, R_OK) != 0) { /* made once, when first asked for: most jobs never need it */
      if (!heavy_enter(s)) return srv_respond_busy(c);
      char src[4400];
      snprintf(src, sizeof src, "%s/photo", dir);
      size_t n = 0;
      uint8_t *data = dlut_file_read_all(src, (size_t)s->o.max_upload_mb << 20, &n), *jpg = NULL;
      dlut_image *photo = data ? dlut_image_load_memory(data, n, "photo") : NULL;
      dlut_image *small = photo ? srv_small_rgb8(photo, 640) : NULL;
      size_t jn = 0;
      int ok = small && srv_jpeg(small, &jpg, &jn) == 0 && dlut_file_write_all(p, jpg, jn) == 0;
      free(jpg);
      dlut_image_free(small);
      dlut_image_free(photo);
      free(data);
      heavy_leave(s);
      if (!ok) return fail_from_error(c);
    }
    return srv_respond_file(c, p, "image/jpeg", NULL);
  }
  if (state == SRV_FAILED || state == SRV_CANCELLED)
    return srv_respond_error(c, 404, "not_found", "job %s %s: it has no results", id,
                             state == SRV_FAILED ? "failed" : "was cancelled");
  if (state != SRV_DONE)
    return srv_respond_error(c, 409, "not_ready", "job %s is %s: its results exist once it is done", id,
                             srv_state_name((srv_state)state));
  /* a set's photos: photos/N is graded/NAME of the bundle, thumbs/N its thumbnail */
  if (!strncmp(name, "photos/", 7) || !strncmp(name, "thumbs/", 7)) {
    const int k = atoi(name + 7);
    char graded[DLUT_JOB_SET_NAME_LEN] = "";
    pthread_mutex_lock(&s->mu);
    j = srv_job_find(s, id);
    const int n = j ? srv_set_names(j->options, k, graded) : 0;
    pthread_mutex_unlock(&s->mu);
    if (n < 2) return srv_respond_error(c, 404, "not_found", "job %s is one photo, not a set", id);
    if (k > n) return srv_respond_error(c, 404, "not_found", "the set of job %s has %d photos", id, n);
    if (name[0] == 't') {
      snprintf(p, sizeof p, "%s/thumb-%d.jpg", dir, k);
      return srv_respond_file(c, p, "image/jpeg", NULL);
    }
    snprintf(p, sizeof p, "%s/out/graded/%s", dir, graded);
    /* saved under the photo's own name (any UTF-8: filename*=, srv_respond_file) */
    const char *ss = query(r, "strength");
    double strength = 1;
    if (ss && parse_float_arg(ss, 0, 1, &strength))
      return srv_respond_error(c, 400, "bad_input", "strength must be a number in 0..1");
    if (strength != 1) { /* photo k through the set's look at another strength */
      char input[32];
      if (k == 1)
        snprintf(input, sizeof input, "photo");
      else
        snprintf(input, sizeof input, "photo.%d", k);
      return render_at_strength(s, c, dir, input, strength, dlut_image_format_from_path(graded), graded);
    }
    return srv_respond_file(c, p, mime_for(dlut_image_format_from_path(graded)), graded);
  }
  /* the files only some bundles have: regions (region-N.cube, mask-N.png,
   * heatmap.png) and sets (contact.jpg) */
  {
    int k = 0;
    char tail[8] = "";
    const int region_cube = sscanf(name, "region-%d.cub%1s", &k, tail) == 2 && !strcmp(tail, "e");
    const int region_mask = !region_cube && sscanf(name, "mask-%d.pn%1s", &k, tail) == 2 && !strcmp(tail, "g");
    char canon[32] = "";
    if ((region_cube || region_mask) && k >= 1 && k <= DLUT_REGION_MAX)
      snprintf(canon, sizeof canon, region_cube ? "region-%d.cube" : "mask-%d.png", k);
    if (canon[0] && !strcmp(canon, name)) {
      snprintf(p, sizeof p, "%s/out/%s", dir, name);
      if (access(p, R_OK) != 0) return srv_respond_error(c, 404, "not_found", "job %s has no region %d", id, k);
      snprintf(dl, sizeof dl, "dlut-%s-%s", id, name);
      return srv_respond_file(c, p, region_cube ? "application/octet-stream" : "image/png", dl);
    }
    if (!strcmp(name, "heatmap.png") || !strcmp(name, "contact.jpg")) {
      snprintf(p, sizeof p, "%s/out/%s", dir, name);
      if (access(p, R_OK) != 0)
        return srv_respond_error(c, 404, "not_found", "job %s has no %s (%s)", id, name,
                                 name[0] == 'h' ? "it has no text region" : "it is one photo, not a set");
      return srv_respond_file(c, p, name[0] == 'h' ? "image/png" : "image/jpeg", NULL);
    }
  }
  /* the LUT files at a strength below 1: the LUT blended with the identity (dlut_lut_at_strength), which
   * grades as graded?strength= does (a global grade: region LUTs stay as they are) */
  const int is_lut_file = !strcmp(name, "look.cube") || !strcmp(name, "look.3dl") || !strcmp(name, "hald.png");
  if (is_lut_file && query(r, "strength")) {
    double k = 1;
    if (parse_float_arg(query(r, "strength"), 0, 1, &k))
      return srv_respond_error(c, 400, "bad_input", "strength must be a number in 0..1");
    if (k < 1) return lut_at_strength(s, c, dir, id, name, k);
  }
  if (!strcmp(name, "look.cube")) {
    snprintf(p, sizeof p, "%s/out/look.cube", dir);
    snprintf(dl, sizeof dl, "dlut-%s.cube", id);
    return srv_respond_file(c, p, "application/octet-stream", dl);
  }
  if (!strcmp(name, "strip.png")) {
    snprintf(p, sizeof p, "%s/out/strip.png", dir);
    return srv_respond_file(c, p, "image/png", NULL);
  }
  if (!strcmp(name, "report.json")) {
    snprintf(p, sizeof p, "%s/out/report.json", dir);
    return srv_respond_file(c, p, "application/json; charset=utf-8", NULL);
  }
  const int is_3dl = !strcmp(name, "look.3dl"), is_hald = !strcmp(name, "hald.png");
  char graded_name[32];
  snprintf(graded_name, sizeof graded_name, "graded.%s", ext);
  const int is_graded = !strcmp(name, graded_name) || !strcmp(name, "graded");
  if (!is_3dl && !is_hald && !is_graded)
    return srv_respond_error(c, 404, "not_found", "no file '%.64s' for a job", name);
  if (is_graded && set_n > 1)
    return srv_respond_error(c, 404, "not_found", "job %s is a set: its graded photos are photos/1 ... photos/%d", id,
                             set_n);
  if (is_graded) {
    const char *ss = query(r, "strength");
    double strength = 1;
    if (ss && parse_float_arg(ss, 0, 1, &strength))
      return srv_respond_error(c, 400, "bad_input", "strength must be a number in 0..1");
    snprintf(dl, sizeof dl, "dlut-%s.%s", id, ext);
    char ext_path[32];
    snprintf(ext_path, sizeof ext_path, "x.%s", ext);
    const dlut_image_format fmt = dlut_image_format_from_path(ext_path);
    if (strength == 1) {
      snprintf(p, sizeof p, "%s/out/%s", dir, graded_name);
      return srv_respond_file(c, p, mime_for(fmt), dl);
    }
    /* another strength: the original through the bundle (with its regions), encoded as the original was */
    return render_at_strength(s, c, dir, "photo", strength, fmt, dl);
  }
  /* .3dl and Hald from the stored .cube: encoded once, under the limit on
   * heavy work (a 65^3 Hald is a 45 MB PNG), then served from the file */
  char cached[4400];
  snprintf(cached, sizeof cached, "%s/cache.%s", dir, name);
  snprintf(dl, sizeof dl, "dlut-%s%s", id, is_3dl ? ".3dl" : "-hald.png"); /* not the graded photo's name */
  const char *mime = is_3dl ? "application/octet-stream" : "image/png";
  if (access(cached, R_OK) == 0) return srv_respond_file(c, cached, mime, dl);
  if (!heavy_enter(s)) return srv_respond_busy(c);
  snprintf(p, sizeof p, "%s/out/look.cube", dir);
  dlut_lut *lut = dlut_lut_load(p);
  uint8_t *out = NULL;
  size_t on = 0;
  int ok =
      lut && dlut_lut_save_memory(lut, is_3dl ? DLUT_LUT_FORMAT_3DL : DLUT_LUT_FORMAT_HALD, NULL, name, &out, &on) == 0;
  dlut_lut_free(lut);
  if (ok && dlut_file_write_all(cached, out, on) != 0) /* served all the same; encoded again next time */
    fprintf(stderr, "dlut serve: %s\n", dlut_last_error());
  heavy_leave(s);
  if (!ok) {
    free(out);
    return fail_from_error(c);
  }
  return srv_respond_download(c, mime, out, on, dl);
}

/* ==== POST /v1/looks ==== */

static int post_looks(srv *s, const srv_request *r) {
  struct MHD_Connection *c = r->conn;
  srv_form f;
  srv_form_init(&f);
  dlut_lut *lut = NULL;
  dlut_image *photo = NULL, *g = NULL;
  uint8_t *out = NULL;
  size_t on = 0;
  int ret;
  dlut_look look;
  dlut_looks_report *rep = NULL;
  (void)s;
  if (srv_form_parse(&f, r->body, r->body_size, r->content_type) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  static const srv_form_rule looks_fields[] = {
      {"prompt", SRV_FORM_TEXT, NULL},
      {"output", SRV_FORM_TEXT, NULL},
      {"lut_size", SRV_FORM_TEXT, NULL},
      {"params", SRV_FORM_TEXT, NULL},
      {"color_strength", SRV_FORM_TEXT, NULL},
      {"tone_strength", SRV_FORM_TEXT, NULL},
      {"skin_protect", SRV_FORM_TEXT, NULL},
      {"photo", 0, NULL},
      {NULL, 0, NULL},
  };
  if (srv_form_check(&f, looks_fields, NULL) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  const char *prompt = srv_form_text(&f, "prompt");
  const char *output = srv_form_text(&f, "output");
  const char *size_s = srv_form_text(&f, "lut_size");
  if (!output) output = "json";
  const int want_cube = !strcmp(output, "cube"), want_3dl = !strcmp(output, "3dl"),
            want_jpg = !strcmp(output, "preview.jpg"), want_json = !strcmp(output, "json");
  if (!want_cube && !want_3dl && !want_jpg && !want_json) {
    ret = srv_respond_error(c, 400, "bad_input", "output must be json, cube, 3dl or preview.jpg");
    goto done;
  }
  long size = want_json || want_jpg ? 17 : 33;
  if (size_s && parse_int_arg(size_s, 2, 65, &size)) {
    ret = srv_respond_error(c, 400, "bad_input", "lut_size must be an integer in 2..65, not '%.40s'", size_s);
    goto done;
  }
  /* the look: from the prompt, or from its parameters ("params": the JSON of `dlut looks --json`, as text),
   * scaled by the optional colour and tone strengths (validated by the job options' table) */
  const char *params = srv_form_text(&f, "params");
  const char *cs = srv_form_text(&f, "color_strength"), *ts = srv_form_text(&f, "tone_strength");
  const char *sp = srv_form_text(&f, "skin_protect");
  if (prompt && params) {
    ret = srv_respond_error(c, 400, "bad_input", "give a prompt or params, not both");
    goto done;
  }
  dlut_job_opts o;
  dlut_job_opts_init(&o);
  int bad = (!prompt && !params) || (prompt && dlut_job_opts_set(&o, "prompt", prompt) != 0) ||
            (cs && dlut_job_opts_set(&o, "color_strength", cs) != 0) ||
            (ts && dlut_job_opts_set(&o, "tone_strength", ts) != 0) ||
            (sp && dlut_job_opts_set(&o, "skin_protect", sp) != 0);
  const float color_strength = o.color_strength, tone_strength = o.tone_strength;
  const int skin_protect = o.skin_protect;
  dlut_job_opts_free(&o);
  if (bad) {
    ret = prompt || params ? fail_from_error(c) : srv_respond_error(c, 400, "bad_input", "no prompt");
    goto done;
  }
  if (!(rep = calloc(1, sizeof *rep))) {
    ret = srv_respond_error(c, 500, "internal", "out of memory");
    goto done;
  }
  if ((prompt ? dlut_looks_parse(prompt, &look, rep) : dlut_look_from_json(params, strlen(params), &look)) != 0 ||
      (skin_protect ? 0 : (look.skin_follow = 1.0f, 0)) != 0 ||
      dlut_look_scale(&look, color_strength, tone_strength) != 0) {
    dlut_error_set_code(DLUT_ERR_INPUT);
    ret = fail_from_error(c);
    goto done;
  }
  if (!(lut = dlut_look_bake(&look, (int)size))) {
    ret = fail_from_error(c);
    goto done;
  }
  if (want_cube || want_3dl) {
    if (dlut_lut_save_memory(lut, want_cube ? DLUT_LUT_FORMAT_CUBE : DLUT_LUT_FORMAT_3DL, NULL, "look", &out, &on) !=
        0) {
      ret = fail_from_error(c);
      goto done;
    }
    ret = srv_respond(c, 200, "application/octet-stream", out, on, 0);
    out = NULL;
    goto done;
  }
  const srv_form_part *ph = srv_form_get(&f, "photo");
  if (ph && ph->size) {
    if (check_upload(c, "the preview photo", ph, 1024, &ret) != 0) goto done;
    if (!(photo = dlut_image_load_memory(ph->data, ph->size, "photo"))) {
      if (dlut_last_error_code() == DLUT_ERR_INTERNAL) dlut_error_set_code(DLUT_ERR_INPUT);
      ret = fail_from_error(c);
      goto done;
    }
    if (photo->width > 1024 || photo->height > 1024) {
      ret = srv_respond_error(c, 413, "too_large",
                              "the preview photo must be at most 1024 px a side (send a small copy)");
      goto done;
    }
    dlut_image_save_opts so = {.quality = 85, .strip_meta = 1};
    if (!(g = dlut_job_render(lut, photo, 1.f)) ||
        dlut_image_save_memory(g, DLUT_IMAGE_FORMAT_JPEG, &so, &out, &on) != 0) {
      ret = fail_from_error(c);
      goto done;
    }
  } else if (want_jpg) {
    ret = srv_respond_error(c, 400, "bad_input", "output=preview.jpg needs a photo");
    goto done;
  }
  if (want_jpg) {
    ret = srv_respond(c, 200, "image/jpeg", out, on, 0);
    out = NULL;
    goto done;
  }
  char desc[512] = "";
  dlut_look_describe(&look, desc, sizeof desc);
  jsonb jb = {0};
  cJSON *j = jsonb_root(&jb);
  jsonb_str(&jb, j, "understood", rep->understood);
  jsonb_str(&jb, j, "ignored", rep->ignored);
  jsonb_str(&jb, j, "suggested", rep->suggested);
  if (rep->corrected[0]) jsonb_str(&jb, j, "corrected", rep->corrected);
  if (rep->scene[0]) jsonb_str(&jb, j, "scene", rep->scene);
  jsonb_str(&jb, j, "parameters", desc);
  char *lj = dlut_look_to_json(&look, NULL); /* every parameter by name, for sliders and edits */
  cJSON *lo = lj ? cJSON_Parse(lj) : NULL;
  free(lj);
  jsonb_add(&jb, j, "params", lo ? cJSON_DetachItemFromObjectCaseSensitive(lo, "params") : NULL);
  cJSON_Delete(lo);
  if (out) {
    char *b = base64(out, on);
    size_t n = b ? strlen(b) + 32 : 0;
    char *uri = b ? malloc(n) : NULL;
    if (uri) snprintf(uri, n, "data:image/jpeg;base64,%s", b);
    jsonb_str(&jb, j, "preview", uri); /* NULL: out of memory */
    free(uri);
    free(b);
  }
  /* the answer whole, or 503 */
  ret = srv_respond_json(c, 200, jsonb_print(&jb, j, 0));
done:
  free(rep);
  free(out);
  dlut_image_free(g);
  dlut_image_free(photo);
  dlut_lut_free(lut);
  srv_form_free(&f);
  return ret;
}

/* ==== POST /v1/apply ==== */

static int post_apply(srv *s, const srv_request *r) {
  struct MHD_Connection *c = r->conn;
  srv_form f;
  srv_form_init(&f);
  dlut_lut *lut = NULL;
  dlut_image *photo = NULL, *g = NULL;
  uint8_t *out = NULL;
  size_t on = 0;
  int ret, heavy = 0;
  if (srv_form_parse(&f, r->body, r->body_size, r->content_type) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  static const srv_form_rule apply_fields[] = {
      {"strength", SRV_FORM_TEXT, NULL},
      {"interp", SRV_FORM_TEXT, NULL},
      {"photo", 0, NULL},
      {"lut", 0, NULL},
      {NULL, 0, NULL},
  };
  if (srv_form_check(&f, apply_fields, NULL) != 0) {
    ret = fail_from_error(c);
    goto done;
  }
  const srv_form_part *ph = srv_form_get(&f, "photo"), *lp = srv_form_get(&f, "lut");
  if (!ph || !lp) {
    ret = srv_respond_error(c, 400, "bad_input",
                            "send the multipart file fields 'photo' and 'lut' (.cube, .3dl or Hald .png)");
    goto done;
  }
  if (!ph->size || !lp->size) {
    ret = srv_respond_error(c, 400, "bad_input", "the %s is empty (0 bytes)", !ph->size ? "photo" : "LUT");
    goto done;
  }
  double strength = 1;
  const char *ss = srv_form_text(&f, "strength");
  if (ss && parse_float_arg(ss, 0, 1, &strength)) {
    ret = srv_respond_error(c, 400, "bad_input", "strength must be a number in 0..1");
    goto done;
  }
  const char *interp = srv_form_text(&f, "interp");
  if (interp && strcmp(interp, "tetrahedral") && strcmp(interp, "trilinear")) {
    ret = srv_respond_error(c, 400, "bad_input", "interp must be tetrahedral or trilinear");
    goto done;
  }
  const dlut_image_format fmt = dlut_image_format_sniff(ph->data, ph->size);
  if (fmt == DLUT_IMAGE_FORMAT_UNKNOWN) {
    ret = srv_respond_error(c, 415, "unsupported", "the photo is not a JPEG, PNG, WebP, TIFF or PPM image");
    goto done;
  }
  if (!(lut = dlut_lut_load_memory(lp->data, lp->size, DLUT_LUT_FORMAT_UNKNOWN,
                                   lp->filename[0] ? lp->filename : "lut"))) {
    ret = fail_from_error(c);
    goto done;
  }
  if (!(heavy = heavy_enter(s))) { /* the decode below is the photo at full resolution */
    ret = srv_respond_busy(c);
    goto done;
  }
  if (!(photo = dlut_image_load_memory(ph->data, ph->size, "photo"))) {
    if (dlut_last_error_code() == DLUT_ERR_INTERNAL) dlut_error_set_code(DLUT_ERR_INPUT);
    ret = fail_from_error(c);
    goto done;
  }
  if (!(g = dlut_image_alloc(photo->width, photo->height, photo->channels, photo->type)) ||
      dlut_lut_apply_image(lut, photo, g,
                           interp && !strcmp(interp, "trilinear") ? DLUT_INTERP_TRILINEAR : DLUT_INTERP_TETRAHEDRAL,
                           (float)strength) != 0 ||
      dlut_image_copy_meta(g, photo) != 0 ||
      dlut_image_save_memory(g, fmt, NULL, &out, &on) != 0) { /* a float TIFF stays float */
    ret = fail_from_error(c);
    goto done;
  }
  ret = srv_respond(c, 200, mime_for(fmt), out, on, 0);
  out = NULL;
done:
  if (heavy) heavy_leave(s);
  free(out);
  dlut_image_free(g);
  dlut_image_free(photo);
  dlut_lut_free(lut);
  srv_form_free(&f);
  return ret;
}

/* ==== Health and metrics ==== */

static int healthz(srv *s, const srv_request *r) {
  char *b = malloc(4600);
  if (!b) return MHD_NO;
  pthread_mutex_lock(&s->mu);
  snprintf(b, 4600,
           "{\"ok\":true,\"queued\":%d,\"running\":%d,\"workers\":%d,\"model\":%s%s%s,\"max_photos\":%d,"
           "\"max_pixels\":%lld}",
           s->queued, s->running, s->n_workers, s->model ? "\"" : "", s->model ? "loaded" : "null",
           s->model ? "\"" : "", s->o.max_photos, (long long)s->o.max_pixels);
  pthread_mutex_unlock(&s->mu);
  return srv_respond_json(r->conn, 200, b);
}

static int metrics(srv *s, const srv_request *r) {
  size_t cap = 8192, w = 0;
  char *b = malloc(cap);
  if (!b) return MHD_NO;
  int by_state[SRV_N_STATES] = {0};
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->n_jobs; i++) by_state[s->jobs[i]->state]++;
#define OUT(...) w += (size_t)snprintf(b + w, w < cap ? cap - w : 0, __VA_ARGS__)
  OUT("# HELP dlut_jobs Jobs in the data folder, by state.\n# TYPE dlut_jobs gauge\n");
  for (int i = 0; i < SRV_N_STATES; i++) OUT("dlut_jobs{state=\"%s\"} %d\n", srv_state_name((srv_state)i), by_state[i]);
  OUT("# HELP dlut_queue_depth Jobs waiting for a worker.\n# TYPE dlut_queue_depth gauge\ndlut_queue_depth %d\n",
      s->queued);
  OUT("# HELP dlut_jobs_running Jobs in a worker now.\n# TYPE dlut_jobs_running gauge\ndlut_jobs_running %d\n",
      s->running);
  OUT("# HELP dlut_steps_total Optimiser steps taken (rate() gives the step rate).\n# TYPE dlut_steps_total "
      "counter\ndlut_steps_total %llu\n",
      (unsigned long long)s->steps_total);
  OUT("# HELP dlut_jobs_finished_total Jobs that ended since start, by final state.\n# TYPE dlut_jobs_finished_total "
      "counter\n");
  for (int i = SRV_DONE; i < SRV_N_STATES; i++)
    OUT("dlut_jobs_finished_total{state=\"%s\"} %llu\n", srv_state_name((srv_state)i),
        (unsigned long long)s->jobs_finished[i]);
  OUT("# HELP dlut_rejected_total Submissions refused because the queue was full.\n# TYPE dlut_rejected_total "
      "counter\ndlut_rejected_total %llu\n",
      (unsigned long long)s->rejected_full);
  OUT("# HELP dlut_http_request_duration_seconds Time to answer a request.\n# TYPE "
      "dlut_http_request_duration_seconds histogram\n");
  static const char *k_le[SRV_LAT_BUCKETS] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                              "0.1",   "0.25",   "0.5",   "1",    "2.5",   "10"};
  uint64_t cum = 0;
  for (int i = 0; i < SRV_LAT_BUCKETS; i++) {
    cum += s->lat_count[i];
    OUT("dlut_http_request_duration_seconds_bucket{le=\"%s\"} %llu\n", k_le[i], (unsigned long long)cum);
  }
  cum += s->lat_count[SRV_LAT_BUCKETS];
  OUT("dlut_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
  OUT("dlut_http_request_duration_seconds_sum %.6f\ndlut_http_request_duration_seconds_count %llu\n", s->lat_sum,
      (unsigned long long)cum);
  OUT("# HELP dlut_uptime_seconds Seconds since the server started.\n# TYPE dlut_uptime_seconds gauge\n"
      "dlut_uptime_seconds %.1f\n",
      srv_now() - s->started_at);
#undef OUT
  pthread_mutex_unlock(&s->mu);
  if (w >= cap) w = cap - 1;
  return srv_respond(r->conn, 200, "text/plain; version=0.0.4; charset=utf-8", b, w, 0);
}

/* ==== Routing ==== */

/* The query string is as strict as the bodies: a parameter the route does
 * not take, or one given twice, is a 400 that names it (a misspelt
 * "strenght" would otherwise give the full-strength photo in silence). */
typedef struct query_scan {
  const char *const *known; /* the route's parameters, NULL-terminated */
  int count[4];             /* times each known one was given */
  char unknown[72], twice[72];
  int control;   /* a key or value held a control character (see srv_unescape) */
  char bare[72]; /* a known parameter given with no value (?strength) */
} query_scan;

static enum MHD_Result query_scan_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  query_scan *q = cls;
  (void)kind;
  for (const char *p = key; *p; p++) q->control |= (unsigned char)*p < 0x20 || *p == 0x7F;
  for (const char *p = value ? value : ""; *p; p++) q->control |= (unsigned char)*p < 0x20 || *p == 0x7F;
  int k = 0;
  while (q->known[k] && strcmp(q->known[k], key)) k++;
  if (!q->known[k]) {
    if (!q->unknown[0]) srv_label_clean(key[0] ? key : "(empty)", q->unknown, sizeof q->unknown);
  } else if (++q->count[k] == 2 && !q->twice[0]) {
    snprintf(q->twice, sizeof q->twice, "%s", key);
  }
  if (q->known[k] && (!value || !*value) && strcmp(key, "token") && !q->bare[0]) /* ?token= is the page's */
    snprintf(q->bare, sizeof q->bare, "%s", key);
  return MHD_YES;
}

/* 0 if the query string holds only `known` parameters, once each; else the
 * 400 is answered (*ret) and -1 returned. */
static int query_check(const srv_request *r, const char *const *known, int *ret) {
  query_scan q = {.known = known};
  MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_scan_one, &q);
  if (q.control) {
    *ret = srv_respond_error(r->conn, 400, "bad_input", "the query string holds a control character");
    return -1;
  }
  if (q.bare[0]) {
    *ret = srv_respond_error(r->conn, 400, "bad_input", "query parameter '%s' needs a value (%s=...)", q.bare, q.bare);
    return -1;
  }
  if (q.unknown[0]) {
    char list[128] = "";
    for (int k = 0; known[k]; k++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", known[k]);
    *ret = srv_respond_error(r->conn, 400, "bad_input", "unknown query parameter '%s' (%s%s)", q.unknown,
                             list[0] ? "this route takes: " : "this route takes none", list);
    return -1;
  }
  if (q.twice[0]) {
    *ret = srv_respond_error(r->conn, 400, "bad_input", "query parameter '%s' given twice", q.twice);
    return -1;
  }
  return 0;
}

/* The query parameters of a route (method and match), or NULL where it is
 * not checked (the route answers 404, 405 or 414 first). */
static const char *const *route_query(const srv_route_match *rt, int get, int post, int del) {
  static const char *const none[] = {NULL};
  static const char *const list[] = {"limit", "before", "state", NULL};
  static const char *const strength[] = {"strength", NULL};
  static const char *const page[] = {"token", NULL}; /* the page reads ?token= (web/app.js) */
  switch (rt->kind) {
    case SRV_R_HEALTH:
    case SRV_R_METRICS:
    case SRV_R_OPENAPI:
    case SRV_R_JOB_EVENTS:
      return get ? none : NULL;
    case SRV_R_JOBS:
      return get ? list : post ? none : NULL;
    case SRV_R_LOOKS:
    case SRV_R_APPLY:
      return post ? none : NULL;
    case SRV_R_JOB:
      return get || del ? none : NULL;
    case SRV_R_JOB_FILE: {
      if (!get) return NULL;
      const char *n = rt->name;
      const int graded = (!strncmp(n, "graded", 6) && (n[6] == 0 || n[6] == '.')) || !strncmp(n, "photos/", 7) ||
                         !strcmp(n, "look.cube") || !strcmp(n, "look.3dl") || !strcmp(n, "hald.png");
      return graded ? strength : none;
    }
    case SRV_R_ASSET:
      return get ? page : NULL;
    default:
      return NULL;
  }
}

/* 1 if s holds a control character: srv_unescape turns a decoded one into
 * DEL so that a "%00" cannot cut the path short before it is routed. */
static int has_control(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || *s == 0x7F) return 1;
  return 0;
}

static int method_not_allowed(const srv_request *r, const char *allow) {
  return srv_respond_error_allow(r->conn, allow, "%.16s is not allowed on %.100s (allowed: %s)", r->method, r->url,
                                 allow);
}

int srv_route_parse(const char *u, srv_route_match *m) {
  memset(m, 0, sizeof *m);
  if (!u || strlen(u) > 512) return m->kind = SRV_R_TOO_LONG;
  if (!strcmp(u, "/healthz")) return m->kind = SRV_R_HEALTH;
  if (!strcmp(u, "/metrics")) return m->kind = SRV_R_METRICS;
  if (strncmp(u, "/v1/", 4)) return m->kind = srv_asset_find(u) ? SRV_R_ASSET : SRV_R_NO_PAGE;
  const char *rest = u + 4;
  if (!strcmp(rest, "openapi.json")) return m->kind = SRV_R_OPENAPI;
  if (!strcmp(rest, "jobs")) return m->kind = SRV_R_JOBS;
  if (!strcmp(rest, "looks")) return m->kind = SRV_R_LOOKS;
  if (!strcmp(rest, "apply")) return m->kind = SRV_R_APPLY;
  if (strncmp(rest, "jobs/", 5)) return m->kind = SRV_R_NO_ROUTE;
  const char *idp = rest + 5, *slash = strchr(idp, '/');
  size_t idl = slash ? (size_t)(slash - idp) : strlen(idp);
  if (idl != SRV_ID_LEN) return m->kind = SRV_R_BAD_ID;
  memcpy(m->id, idp, SRV_ID_LEN);
  m->id[SRV_ID_LEN] = 0;
  if (!srv_id_valid(m->id)) return m->kind = SRV_R_BAD_ID;
  if (!slash || !slash[1]) return m->kind = SRV_R_JOB;
  const char *name = slash + 1;
  /* a set's photos by number: photos/N (graded), thumbs/N (320 px), N in 1..999 */
  if (!strncmp(name, "photos/", 7) || !strncmp(name, "thumbs/", 7)) {
    const char *d = name + 7;
    size_t nd = strspn(d, "0123456789");
    if (nd < 1 || nd > 3 || d[nd] || d[0] == '0') return m->kind = SRV_R_NO_FILE;
    snprintf(m->name, sizeof m->name, "%s", name);
    return m->kind = SRV_R_JOB_FILE;
  }
  /* one plain file name: no folders, no dot files, nothing a path could climb with */
  if (strchr(name, '/') || strchr(name, '\\') || name[0] == '.' || strlen(name) >= sizeof m->name)
    return m->kind = SRV_R_NO_FILE;
  snprintf(m->name, sizeof m->name, "%s", name);
  return m->kind = !strcmp(name, "events") ? SRV_R_JOB_EVENTS : SRV_R_JOB_FILE;
}

int srv_route(srv *s, const srv_request *r) {
  const char *m = r->method;
  const int get = !strcmp(m, "GET") || !strcmp(m, "HEAD"), post = !strcmp(m, "POST"), del = !strcmp(m, "DELETE");
  srv_route_match rt;
  if (has_control(r->url))
    return srv_respond_error(r->conn, 400, "bad_input", "the path holds a control character (%%00-%%1F or %%7F)");
  srv_route_parse(r->url, &rt);
  const char *const *known = route_query(&rt, get, post, del);
  int qret;
  if (known && query_check(r, known, &qret) != 0) return qret;
  switch (rt.kind) {
    case SRV_R_TOO_LONG:
      return srv_respond_error(r->conn, 414, "bad_input", "the path is too long");
    case SRV_R_HEALTH:
      return get ? healthz(s, r) : method_not_allowed(r, "GET, HEAD");
    case SRV_R_METRICS:
      return get ? metrics(s, r) : method_not_allowed(r, "GET, HEAD");
    case SRV_R_OPENAPI: {
      const srv_asset *a = srv_asset_find("/openapi.json");
      if (!get) return method_not_allowed(r, "GET, HEAD");
      return a ? srv_respond(r->conn, 200, a->content_type, a->data, a->size, 1)
               : srv_respond_error(r->conn, 500, "internal", "no API document built in");
    }
    case SRV_R_JOBS:
      return post ? post_job(s, r) : get ? list_jobs(s, r) : method_not_allowed(r, "GET, HEAD, POST");
    case SRV_R_LOOKS:
      return post ? post_looks(s, r) : method_not_allowed(r, "POST");
    case SRV_R_APPLY:
      return post ? post_apply(s, r) : method_not_allowed(r, "POST");
    case SRV_R_BAD_ID:
      return srv_respond_error(r->conn, 404, "not_found", "no such job (ids are 16 hex digits)");
    case SRV_R_JOB: {
      if (del) {
        if (srv_job_cancel(s, rt.id) != 0) return fail_from_error(r->conn);
      } else if (!get) {
        return method_not_allowed(r, "GET, HEAD, DELETE");
      }
      pthread_mutex_lock(&s->mu);
      srv_job *j = srv_job_find(s, rt.id);
      char *js = j ? srv_job_json(j, 1) : NULL;
      pthread_mutex_unlock(&s->mu);
      if (!j) return srv_respond_error(r->conn, 404, "not_found", "no job %s", rt.id);
      return srv_respond_json(r->conn, 200, js);
    }
    case SRV_R_JOB_EVENTS:
      return get ? job_events(s, r, rt.id) : method_not_allowed(r, "GET, HEAD");
    case SRV_R_JOB_FILE:
      return get ? job_file(s, r, rt.id, rt.name) : method_not_allowed(r, "GET, HEAD");
    case SRV_R_NO_FILE:
      return srv_respond_error(r->conn, 404, "not_found", "no such file");
    case SRV_R_NO_ROUTE:
      return srv_respond_error(r->conn, 404, "not_found", "no route %.100s (see /v1/openapi.json)", r->url);
    case SRV_R_ASSET: {
      const srv_asset *a = srv_asset_find(r->url);
      return get ? srv_respond(r->conn, 200, a->content_type, a->data, a->size, 1) : method_not_allowed(r, "GET, HEAD");
    }
    default:
      return srv_respond_error(r->conn, 404, "not_found", "no page %.100s", r->url);
  }
}
