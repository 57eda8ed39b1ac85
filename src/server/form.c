/* Request bodies as parts (server/form.h): multipart/form-data after RFC
 * 7578 / RFC 2046 section 5.1, urlencoded forms and query strings after
 * the WHATWG URL standard's application/x-www-form-urlencoded parser, and
 * flat JSON objects through cJSON. */
#include "server/form.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dlut/error.h"

void srv_form_init(srv_form *f) {
  memset(f, 0, sizeof *f);
}

void srv_form_free(srv_form *f) {
  free(f->arena);
  memset(f, 0, sizeof *f);
}

/* Copy n bytes into the arena (NUL-terminated); NULL if out of memory.
 * The arena is sized once per body (at most the body's length plus one
 * byte per part), so earlier pointers stay valid. */
static char *arena_put(srv_form *f, const char *s, size_t n) {
  if (f->arena_used + n + 1 > f->arena_cap) return NULL;
  char *p = f->arena + f->arena_used;
  memcpy(p, s, n);
  p[n] = 0;
  f->arena_used += n + 1;
  return p;
}

static int arena_reserve(srv_form *f, size_t n) {
  if (f->arena) return 0;
  if (n > SIZE_MAX - 2 * SRV_FORM_MAX_PARTS - 64) return dlut_errorc(DLUT_ERR_TOO_LARGE, "request body too large");
  f->arena_cap = n + 2 * SRV_FORM_MAX_PARTS + 64;
  f->arena = malloc(f->arena_cap);
  if (!f->arena) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  return 0;
}

static srv_form_part *add_part(srv_form *f, const char *name, size_t name_len) {
  if (f->n >= SRV_FORM_MAX_PARTS) {
    dlut_errorc(DLUT_ERR_INPUT, "more than %d fields", SRV_FORM_MAX_PARTS);
    return NULL;
  }
  if (name_len == 0 || name_len >= SRV_FORM_MAX_NAME) {
    dlut_errorc(DLUT_ERR_INPUT, "a field name is empty or longer than %d bytes", SRV_FORM_MAX_NAME - 1);
    return NULL;
  }
  srv_form_part *p = &f->parts[f->n];
  memset(p, 0, sizeof *p);
  memcpy(p->name, name, name_len);
  p->name[name_len] = 0;
  for (size_t i = 0; i < name_len; i++)
    if ((unsigned char)p->name[i] < 0x20) {
      dlut_errorc(DLUT_ERR_INPUT, "a field name holds a control character");
      return NULL;
    }
  f->n++;
  return p;
}

/* ==== urlencoded ==== */

static int hexval(int c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Percent-decode (and '+' -> ' ') s[0..n) into the arena. A '%' not
 * followed by two hex digits is refused (*bad set), where WHATWG would keep
 * it as text: an API client that sends one has a bug worth hearing about. */
static char *decode_into_arena(srv_form *f, const char *s, size_t n, size_t *out_len, int *bad) {
  if (f->arena_used + n + 1 > f->arena_cap) return NULL;
  char *o = f->arena + f->arena_used, *w = o;
  for (size_t i = 0; i < n; i++) {
    int h1, h2;
    if (s[i] == '+')
      *w++ = ' ';
    else if (s[i] == '%') {
      if (i + 2 >= n || (h1 = hexval((unsigned char)s[i + 1])) < 0 || (h2 = hexval((unsigned char)s[i + 2])) < 0) {
        *bad = 1;
        return o;
      }
      *w++ = (char)(h1 * 16 + h2);
      i += 2;
    } else
      *w++ = s[i];
  }
  *w = 0;
  *out_len = (size_t)(w - o);
  f->arena_used += *out_len + 1;
  return o;
}

int srv_form_parse_urlencoded(srv_form *f, const char *s, size_t n) {
  if (arena_reserve(f, n) != 0) return -1;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] != '&') j++;
    if (j > i) {
      const char *eq = memchr(s + i, '=', j - i);
      size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
      size_t name_len = 0, vlen = 0;
      int bad = 0;
      char *name = decode_into_arena(f, s + i, klen, &name_len, &bad);
      if (!name) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      if (bad) return dlut_errorc(DLUT_ERR_INPUT, "a '%%' in a field name is not followed by two hex digits");
      if (memchr(name, 0, name_len)) return dlut_errorc(DLUT_ERR_INPUT, "a field name holds a NUL byte");
      srv_form_part *p = add_part(f, name, name_len);
      if (!p) return -1;
      char *v = eq ? decode_into_arena(f, eq + 1, (size_t)(s + j - eq - 1), &vlen, &bad) : arena_put(f, "", 0);
      if (!v) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      if (bad)
        return dlut_errorc(DLUT_ERR_INPUT, "a '%%' in the value of '%.64s' is not followed by two hex digits", p->name);
      p->data = (const uint8_t *)v;
      p->size = vlen;
    }
    i = j + 1;
  }
  return 0;
}

/* ==== multipart/form-data ==== */

/* The value of parameter `key` in a header value such as
 * `form-data; name="photo"; filename="a.jpg"` (RFC 7578 section 4.2; quoted
 * strings with backslash escapes, or tokens), or -1 if absent, -2 if
 * longer than cap - 1, -3 if a quoted string never ends (the header is
 * malformed: RFC 7230 section 3.2.6 gives no way to read the rest). Only
 * the matching parameter's value is written to out (NUL-terminated).
 * Parameters are split at ';' outside quotes only, so a quoted value cannot
 * smuggle in another parameter. */
static int header_param(const char *h, size_t n, const char *key, char *out, size_t cap) {
  const size_t kl = strlen(key);
  size_t i = 0;
  /* skip the disposition type (or media type) up to the first ';' */
  while (i < n && h[i] != ';') {
    if (h[i] == '"') return -1; /* a quote before any parameter: not a header we read */
    i++;
  }
  int found = -1;
  while (i < n) {
    i++; /* past ';' */
    while (i < n && (h[i] == ' ' || h[i] == '\t')) i++;
    size_t ks = i;
    while (i < n && h[i] != '=' && h[i] != ';' && h[i] != '"') i++;
    size_t ke = i;
    while (ke > ks && (h[ke - 1] == ' ' || h[ke - 1] == '\t')) ke--;
    const int match = found == -1 && ke - ks == kl && !strncasecmp(h + ks, key, kl);
    if (i >= n || h[i] == ';') continue; /* a parameter without a value */
    if (h[i] == '"') return -3;          /* a quote inside a parameter's name */
    i++;                                 /* past '=' */
    while (i < n && (h[i] == ' ' || h[i] == '\t')) i++;
    size_t w = 0;
    int too_long = 0;
    if (i < n && h[i] == '"') {
      i++;
      while (i < n && h[i] != '"') {
        /* \" and \\ are escapes (RFC 7230 quoted-pair); any other backslash is itself: browsers and
         * curl send names unescaped (WHATWG: only " CR LF, as %22 %0D %0A), C:\dir\a.jpg included */
        if (h[i] == '\\' && i + 1 < n && (h[i + 1] == '"' || h[i + 1] == '\\')) i++;
        if (match && w + 1 < cap)
          out[w++] = h[i];
        else if (match)
          too_long = 1;
        i++;
      }
      if (i >= n) return -3; /* unterminated quote */
      i++;
      while (i < n && h[i] != ';') {
        if (h[i] == '"') return -3; /* text after the closing quote that opens another */
        i++;
      }
    } else {
      while (i < n && h[i] != ';' && h[i] != ' ' && h[i] != '\t') {
        if (h[i] == '"') return -3; /* a quote inside a token */
        if (match && w + 1 < cap)
          out[w++] = h[i];
        else if (match)
          too_long = 1;
        i++;
      }
      while (i < n && h[i] != ';') {
        if (h[i] == '"') return -3;
        i++;
      }
    }
    if (match) {
      if (too_long) {
        out[w] = 0; /* what fits, for a caller that takes a cut value */
        found = -2;
      } else {
        out[w] = 0;
        found = (int)w;
      }
    }
  }
  return found;
}

/* The boundary from `multipart/form-data; boundary=...`. */
static int get_boundary(const char *ct, char *out, size_t cap) {
  int r = header_param(ct, strlen(ct), "boundary", out, cap);
  if (r < 1 || r > 70) return dlut_errorc(DLUT_ERR_INPUT, "multipart body without a valid boundary");
  return 0;
}

/* Text fields of a multipart body get NUL-terminated copies in the arena,
 * sized once for all of them. */
static int copy_text_parts(srv_form *f) {
  size_t total = 0;
  for (int i = 0; i < f->n; i++)
    if (!f->parts[i].is_file) total += f->parts[i].size;
  if (arena_reserve(f, total) != 0) return -1;
  for (int i = 0; i < f->n; i++)
    if (!f->parts[i].is_file) {
      char *c = arena_put(f, (const char *)f->parts[i].data, f->parts[i].size);
      if (!c) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      f->parts[i].data = (const uint8_t *)c;
    }
  return 0;
}

int srv_form_parse_multipart(srv_form *f, const uint8_t *body, size_t n, const char *content_type) {
  char boundary[80], delim[84];
  if (!content_type || get_boundary(content_type, boundary, sizeof boundary) != 0) return -1;
  size_t dl = (size_t)snprintf(delim, sizeof delim, "--%s", boundary);
  /* the first delimiter: at the very start, or after a preamble line */
  size_t pos;
  if (n >= dl && !memcmp(body, delim, dl)) {
    pos = dl;
  } else {
    char crlf_delim[88];
    size_t cl = (size_t)snprintf(crlf_delim, sizeof crlf_delim, "\r\n%s", delim);
    const uint8_t *d = memmem(body, n, crlf_delim, cl);
    if (!d) return dlut_errorc(DLUT_ERR_INPUT, "multipart body without its boundary");
    pos = (size_t)(d - body) + cl;
  }
  char close_delim[88];
  const size_t cdl = (size_t)snprintf(close_delim, sizeof close_delim, "\r\n%s", delim);
  for (;;) {
    /* after a delimiter: "--" ends the body, else optional spaces and CRLF */
    if (pos + 2 <= n && body[pos] == '-' && body[pos + 1] == '-') return copy_text_parts(f);
    while (pos < n && (body[pos] == ' ' || body[pos] == '\t')) pos++;
    if (pos + 2 > n || body[pos] != '\r' || body[pos + 1] != '\n')
      return dlut_errorc(DLUT_ERR_INPUT, "malformed multipart body (no line end after a boundary)");
    pos += 2;
    /* headers up to the empty line */
    const uint8_t *hend = memmem(body + pos, n - pos, "\r\n\r\n", 4);
    size_t hlen;
    if (pos + 2 <= n && body[pos] == '\r' && body[pos + 1] == '\n') { /* no headers at all */
      hlen = 0;
      hend = body + pos - 2;
    } else {
      if (!hend) return dlut_errorc(DLUT_ERR_INPUT, "malformed multipart body (headers never end)");
      hlen = (size_t)(hend - (body + pos));
    }
    if (hlen > SRV_FORM_MAX_HEADER) return dlut_errorc(DLUT_ERR_INPUT, "multipart part headers too long");
    char name[SRV_FORM_MAX_NAME] = "", filename[256] = "", ctype[128] = "";
    int have_name = 0, have_filename = 0;
    const char *h = (const char *)body + pos;
    size_t hi = 0;
    while (hi < hlen) {
      size_t e = hi;
      while (e < hlen && !(h[e] == '\r' && e + 1 < hlen && h[e + 1] == '\n')) e++;
      const char *line = h + hi;
      size_t ll = e - hi;
      const char *colon = memchr(line, ':', ll);
      if (!colon) return dlut_errorc(DLUT_ERR_INPUT, "malformed multipart header line");
      size_t kl = (size_t)(colon - line);
      const char *v = colon + 1;
      size_t vl = ll - kl - 1;
      while (vl && (*v == ' ' || *v == '\t')) v++, vl--;
      if (kl == 19 && !strncasecmp(line, "Content-Disposition", 19)) {
        if (vl < 9 || strncasecmp(v, "form-data", 9))
          return dlut_errorc(DLUT_ERR_INPUT, "multipart part is not form-data");
        int r = header_param(v, vl, "name", name, sizeof name);
        if (r == -3)
          return dlut_errorc(DLUT_ERR_INPUT, "malformed Content-Disposition (a quoted string never ends): %.*s",
                             (int)(vl < 120 ? vl : 120), v);
        if (r == -2) return dlut_errorc(DLUT_ERR_INPUT, "a field name is longer than %d bytes", SRV_FORM_MAX_NAME - 1);
        if (r > 0 && memchr(name, 0, (size_t)r)) return dlut_errorc(DLUT_ERR_INPUT, "a field name holds a NUL byte");
        have_name = r > 0;
        r = header_param(v, vl, "filename", filename, sizeof filename);
        if (r == -2) r = 0; /* an over-long file name is only a label: its first 255 bytes (cut whole later) */
        have_filename = r >= 0;
      } else if (kl == 12 && !strncasecmp(line, "Content-Type", 12)) {
        size_t cl = vl < sizeof ctype - 1 ? vl : sizeof ctype - 1;
        memcpy(ctype, v, cl);
        ctype[cl] = 0;
      }
      hi = e + 2;
    }
    if (!have_name) return dlut_errorc(DLUT_ERR_INPUT, "multipart part without a field name");
    size_t dstart = (size_t)(hend - body) + 4;
    if (dstart > n) return dlut_errorc(DLUT_ERR_INPUT, "truncated multipart body");
    const uint8_t *dend = memmem(body + dstart, n - dstart, close_delim, cdl);
    if (!dend) return dlut_errorc(DLUT_ERR_INPUT, "truncated multipart body (no closing boundary)");
    srv_form_part *p = add_part(f, name, strlen(name));
    if (!p) return -1;
    snprintf(p->filename, sizeof p->filename, "%s", filename);
    snprintf(p->content_type, sizeof p->content_type, "%s", ctype);
    p->is_file = have_filename;
    p->data = body + dstart;
    p->size = (size_t)(dend - (body + dstart));
    pos = (size_t)(dend - body) + cdl;
  }
}

/* ==== JSON ==== */

/* 1 if a JSON string in s[0..n) holds the escape \u0000: cJSON decodes it
 * into a NUL that would silently cut the value short. */
static int json_has_nul_escape(const char *s, size_t n) {
  int in_str = 0;
  for (size_t i = 0; i < n; i++) {
    if (!in_str) {
      in_str = s[i] == '"';
    } else if (s[i] == '"') {
      in_str = 0;
    } else if (s[i] == '\\' && i + 1 < n) {
      if (s[i + 1] == 'u' && i + 5 < n && !memcmp(s + i + 2, "0000", 4)) return 1;
      i++; /* the escaped character, whatever it is */
    }
  }
  return 0;
}

int srv_form_parse_json(srv_form *f, const char *s, size_t n) {
  if (arena_reserve(f, n + 64 * SRV_FORM_MAX_PARTS) != 0) return -1;
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, 0);
  if (!j) return dlut_errorc(DLUT_ERR_INPUT, "malformed JSON body");
  int rc = -1;
  for (const char *e = s + n; end && end < e; end++)
    if (*end != ' ' && *end != '\t' && *end != '\r' && *end != '\n') {
      dlut_errorc(DLUT_ERR_INPUT, "malformed JSON body (text after the object)");
      goto done;
    }
  if (json_has_nul_escape(s, n)) {
    dlut_errorc(DLUT_ERR_INPUT, "a JSON string holds \\u0000 (a NUL character)");
    goto done;
  }
  if (!cJSON_IsObject(j)) {
    dlut_errorc(DLUT_ERR_INPUT, "the JSON body must be an object");
    goto done;
  }
  for (cJSON *it = j->child; it; it = it->next) {
    char num[64];
    const char *v;
    if (!it->string) continue;
    if (cJSON_IsString(it))
      v = it->valuestring;
    else if (cJSON_IsBool(it))
      v = cJSON_IsTrue(it) ? "1" : "0";
    else if (cJSON_IsNumber(it)) {
      snprintf(num, sizeof num, "%.17g", it->valuedouble);
      v = num;
    } else {
      dlut_errorc(DLUT_ERR_INPUT, "JSON field '%.60s' must be a string, number or boolean", it->string);
      goto done;
    }
    srv_form_part *p = add_part(f, it->string, strlen(it->string));
    if (!p) goto done;
    char *c = arena_put(f, v, strlen(v));
    if (!c) {
      dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
      goto done;
    }
    p->data = (const uint8_t *)c;
    p->size = strlen(v);
  }
  rc = 0;
done:
  cJSON_Delete(j);
  return rc;
}

/* ct's media type is exactly `type` (case-insensitive; parameters may follow) */
static int media_is(const char *ct, const char *type) {
  size_t n = strlen(type);
  return !strncasecmp(ct, type, n) && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

int srv_form_parse(srv_form *f, const uint8_t *body, size_t n, const char *content_type) {
  const char *ct = content_type ? content_type : "";
  while (*ct == ' ') ct++;
  if (media_is(ct, "multipart/form-data")) return srv_form_parse_multipart(f, body, n, ct);
  if (media_is(ct, "application/json")) return srv_form_parse_json(f, (const char *)body, n);
  if (media_is(ct, "application/x-www-form-urlencoded")) return srv_form_parse_urlencoded(f, (const char *)body, n);
  if (!*ct) { /* nothing to read a body by: an empty one is an empty form, any other a client's mistake */
    if (n == 0) return srv_form_parse_urlencoded(f, "", 0);
    return dlut_errorc(DLUT_ERR_UNSUPPORTED,
                       "the body has no Content-Type: send multipart/form-data (or application/json, or "
                       "application/x-www-form-urlencoded)");
  }
  return dlut_errorc(DLUT_ERR_UNSUPPORTED,
                     "unsupported Content-Type (use multipart/form-data, JSON or a urlencoded form)");
}

const srv_form_part *srv_form_get(const srv_form *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->parts[i].name, name)) return &f->parts[i];
  return NULL;
}

const char *srv_form_text(srv_form *f, const char *name) {
  const srv_form_part *p = srv_form_get(f, name);
  if (!p || p->is_file || memchr(p->data, 0, p->size)) return NULL;
  return (const char *)p->data; /* text values all live NUL-terminated in the arena */
}

int srv_form_check(const srv_form *f, const srv_form_rule *rules, int (*text_once)(const char *name)) {
  for (int i = 0; i < f->n; i++) {
    const srv_form_part *p = &f->parts[i];
    const srv_form_rule *r = rules;
    while (r && r->name && strcmp(r->name, p->name)) r++;
    unsigned flags;
    if (r && r->name)
      flags = r->flags;
    else if (text_once && text_once(p->name))
      flags = SRV_FORM_TEXT, r = NULL;
    else
      return dlut_errorc(DLUT_ERR_INPUT, "unknown field '%.64s' (see /v1/openapi.json)", p->name);
    if (!(flags & SRV_FORM_REPEAT))
      for (int k = 0; k < i; k++)
        if (!strcmp(f->parts[k].name, p->name)) return dlut_errorc(DLUT_ERR_INPUT, "field '%s' given twice", p->name);
    if ((flags & SRV_FORM_TEXT) && (p->is_file || memchr(p->data, 0, p->size)))
      return dlut_errorc(DLUT_ERR_INPUT, "field '%s' must be text%s", p->name, r && r->hint ? r->hint : "");
  }
  return 0;
}
