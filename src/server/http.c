/* libmicrohttpd glue for `dlut serve` (dlut/server.h): start and stop,
 * requests buffered under the upload cap (413 before the body is read when
 * Content-Length says so), bearer-token checks, responses, the access log
 * and the latency histogram for /metrics.
 *
 * Why libmicrohttpd: it is GNU's small, long-maintained HTTP server library
 * in Debian (HTTP/1.1 parsing, keep-alive, chunked bodies, timeouts), it
 * runs one thread per connection so a Server-Sent Events stream can simply
 * wait for the next step in its own thread, and it leaves routing and
 * bodies to us. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "dlut/error.h"
#include "dlut/text.h"
#include "dlut/file.h"
#include "dlut/image.h"
#include "dlut/job.h"
#include "server/server_internal.h"

void dlut_server_opts_init(dlut_server_opts *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 8080;
  o->data_dir = "dlut-data";
  o->queue_size = 256;
  o->job_timeout_s = 900;
  o->max_upload_mb = 64;
  o->max_pixels = 50000000;
  o->max_steps = 2000;
  o->max_photos = 24;
  o->keep_hours = 168;
}

/* ==== Responses ==== */

static void common_headers(struct MHD_Response *r) {
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
}

int srv_respond(struct MHD_Connection *c, int status, const char *content_type, const void *data, size_t size,
                int copy) {
  struct MHD_Response *r =
      MHD_create_response_from_buffer(size, (void *)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
  if (!r) {
    if (!copy) free((void *)data);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", content_type);
  common_headers(r);
  int ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

/* Content-Disposition for a download (RFC 6266): filename="..." with every
 * character outside printable ASCII (and '"', '\\') as '_', and where the name
 * is not plain ASCII also filename*=UTF-8''... (RFC 8187 percent-encoding),
 * which browsers prefer, so a set's photo keeps its own (Chinese, accented)
 * name when saved. The name is a cleaned label (valid UTF-8, <= 255 bytes). */
static void content_disposition(char *out, size_t cap, const char *name) {
  static const char hex[] = "0123456789ABCDEF";
  size_t w = (size_t)snprintf(out, cap, "attachment; filename=\"");
  int ascii = 1;
  for (const unsigned char *p = (const unsigned char *)name; *p && w + 2 < cap; p++) {
    int plain = *p >= 0x20 && *p < 0x7F && *p != '"' && *p != '\\';
    ascii &= plain;
    if ((*p & 0xC0) != 0x80) out[w++] = plain ? (char)*p : '_'; /* one '_' per UTF-8 character */
  }
  if (w + 1 < cap) out[w++] = '"';
  if (!ascii && w + 20 < cap) {
    w += (size_t)snprintf(out + w, cap - w, "; filename*=UTF-8''");
    for (const unsigned char *p = (const unsigned char *)name; *p && w + 4 < cap; p++) {
      if ((*p >= '0' && *p <= '9') || ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || strchr("!#$&+-.^_`|~", *p)) {
        out[w++] = (char)*p;
      } else {
        out[w++] = '%';
        out[w++] = hex[*p >> 4];
        out[w++] = hex[*p & 15];
      }
    }
  }
  out[w < cap ? w : cap - 1] = 0;
}

int srv_respond_download(struct MHD_Connection *c, const char *content_type, void *data, size_t size,
                         const char *download_name) {
  struct MHD_Response *r = MHD_create_response_from_buffer(size, data, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(data);
    return MHD_NO;
  }
  char cd[1024];
  content_disposition(cd, sizeof cd, download_name);
  MHD_add_response_header(r, "Content-Type", content_type);
  MHD_add_response_header(r, "Content-Disposition", cd);
  common_headers(r);
  int ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

int srv_respond_json(struct MHD_Connection *c, int status, char *json) {
  if (!json) return srv_respond_error(c, 503, "out_of_memory", "out of memory");
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), json, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(json);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  common_headers(r);
  int ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

/* JSON string escaping for messages that may hold anything */
static void json_escape(const char *in, char *out, size_t cap) {
  size_t w = 0, n = strlen(in);
  const unsigned char *p = (const unsigned char *)in, *end = p + n;
  while (p < end && w + 7 < cap) {
    if (*p >= 0x80) { /* UTF-8 as it is (a prompt's or a file's name in Chinese); a broken byte as '?' */
      const int len = dlut_utf8_seq_len(p, (size_t)(end - p));
      if (len > 0 && w + (size_t)len + 7 < cap) {
        memcpy(out + w, p, (size_t)len);
        w += (size_t)len;
        p += len;
      } else {
        out[w++] = '?';
        p++;
      }
      continue;
    }
    if (*p == '"' || *p == '\\') {
      out[w++] = '\\';
      out[w++] = (char)*p;
    } else if (*p < 0x20 || *p == 0x7F) {
      w += (size_t)snprintf(out + w, cap - w, "\\u%04x", *p);
    } else {
      out[w++] = (char)*p;
    }
    p++;
  }
  out[w] = 0;
}

static int respond_error_v(struct MHD_Connection *c, int status, const char *code, const char *allow, const char *fmt,
                           va_list ap) {
  char msg[1024], esc[2100], *body = malloc(2300);
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (!body) return MHD_NO;
  json_escape(msg, esc, sizeof esc);
  snprintf(body, 2300, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\",\"status\":%d}}", code, esc, status);
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
  if (!r) {
    free(body);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
  MHD_add_response_header(r, "Cache-Control", "no-store");
  common_headers(r);
  if (status == 429 || status == 503) MHD_add_response_header(r, "Retry-After", "1");
  if (status == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
  if (allow) MHD_add_response_header(r, "Allow", allow);
  int ret = MHD_queue_response(c, (unsigned)status, r);
  MHD_destroy_response(r);
  return ret;
}

int srv_respond_error(struct MHD_Connection *c, int status, const char *code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = respond_error_v(c, status, code, NULL, fmt, ap);
  va_end(ap);
  return r;
}

int srv_respond_error_allow(struct MHD_Connection *c, const char *allow, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = respond_error_v(c, 405, "method_not_allowed", allow, fmt, ap);
  va_end(ap);
  return r;
}

int srv_respond_file(struct MHD_Connection *c, const char *path, const char *content_type, const char *download_name) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    if (fd >= 0) close(fd);
    return srv_respond_error(c, 404, "not_found", "no such file");
  }
  struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
  if (!r) {
    close(fd);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", content_type);
  common_headers(r);
  MHD_add_response_header(r, "Cache-Control", "private, max-age=3600");
  if (download_name) {
    char cd[1024];
    content_disposition(cd, sizeof cd, download_name);
    MHD_add_response_header(r, "Content-Disposition", cd);
  }
  int ret = MHD_queue_response(c, MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

int srv_status_for(int code) {
  switch ((dlut_error_code)code) {
    case DLUT_ERR_INPUT:
      return 400;
    case DLUT_ERR_TOO_LARGE:
      return 413;
    case DLUT_ERR_NOT_FOUND:
      return 404;
    case DLUT_ERR_UNSUPPORTED:
      return 415;
    case DLUT_ERR_NOMEM:
      return 503;
    case DLUT_ERR_CANCELLED:
      return 409;
    default:
      return 500;
  }
}

/* ==== Requests ==== */

static int hex_digit(char ch) {
  return ch >= '0' && ch <= '9'   ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                  : -1;
}

typedef struct req {
  uint8_t *body;
  size_t len, cap;
  int too_large;
  int answered;               /* a response was queued early (401, 413) */
  int refuse;                 /* 401 or 413 decided from the headers, answered once the body is read away */
  unsigned long long dropped; /* bytes of a refused body read away */
  double t0;
} req;

static double mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const double k_lat_bounds[SRV_LAT_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,   0.25,   0.5,   1,    2.5,   10};

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  srv *s = cls;
  req *r = *con_cls;
  if (!r) return;
  double dt = mono() - r->t0;
  pthread_mutex_lock(&s->mu);
  int b = 0;
  while (b < SRV_LAT_BUCKETS && dt > k_lat_bounds[b]) b++;
  s->lat_count[b]++;
  s->lat_sum += dt;
  s->requests_total++;
  pthread_mutex_unlock(&s->mu);
  free(r->body);
  free(r);
  *con_cls = NULL;
}

/* Constant-time comparison of the bearer token. */
static int token_ok(const srv *s, struct MHD_Connection *c) {
  if (!s->token[0]) return 1;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (!h || strncasecmp(h, "Bearer ", 7)) return 0;
  h += 7;
  size_t n = strlen(s->token), m = strlen(h);
  unsigned diff = (unsigned)(n ^ m);
  for (size_t i = 0; i < n; i++) diff |= (unsigned)(s->token[i] ^ (i < m ? h[i] : 0));
  return diff == 0;
}

/* How much of a refused body is read and dropped past the cap before the
 * answer instead of closing on it (see on_request). */
#define SRV_DRAIN_MAX (64ull << 20)

static int refuse(srv *s, struct MHD_Connection *c, int status) {
  if (status == 401) return srv_respond_error(c, 401, "unauthorized", "this server needs Authorization: Bearer TOKEN");
  return srv_respond_error(c, 413, "too_large", "the request body is larger than %d MB", s->o.max_upload_mb);
}

/* A request's Host and Origin, against DNS rebinding and cross-site forms
 * (both need a browser the user runs, and matter most to a server with no
 * token):
 * - a server on a loopback address answers only to a Host that is an IP
 *   address, localhost (or NAME.localhost) or one of --allow-host: a page
 *   of evil.example whose name an attacker re-points at 127.0.0.1 sends
 *   Host: evil.example, and is refused;
 * - a request that changes something (not GET, HEAD, OPTIONS) from a
 *   browser page of another origin (Origin: http://evil.example) is
 *   refused, whatever the address: a plain HTML form can POST across sites
 *   without a preflight.
 * Returns NULL when allowed, else the reason. */
static int host_name_eq(const char *a, size_t an, const char *b, size_t bn) {
  return an == bn && !strncasecmp(a, b, an);
}

/* host[:port] without the port; [v6]:port -> the v6 inside the brackets */
static void host_only(const char *h, const char **p, size_t *n) {
  if (*h == '[') {
    const char *e = strchr(h, ']');
    *p = h + 1;
    *n = e ? (size_t)(e - h - 1) : strlen(h + 1);
    return;
  }
  const char *c = strchr(h, ':');
  *p = h;
  *n = c ? (size_t)(c - h) : strlen(h);
}

/* 1 if name[0..n) is one of --allow-host's comma-separated names. */
static int allowed_host(const srv *s, const char *name, size_t n) {
  for (const char *a = s->o.allow_hosts; a && *a;) {
    const char *e = strchr(a, ',');
    const size_t an = e ? (size_t)(e - a) : strlen(a);
    if (an > 0 && host_name_eq(name, n, a, an)) return 1;
    a = e ? e + 1 : a + an;
  }
  return 0;
}

static const char *request_guard(const srv *s, struct MHD_Connection *c, const char *method) {
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  if (s->check_host && host) {
    const char *h;
    size_t n;
    host_only(host, &h, &n);
    char buf[256];
    unsigned char ip[16];
    int ok = n > 0 && n < sizeof buf;
    if (ok) {
      memcpy(buf, h, n);
      buf[n] = 0;
      ok = inet_pton(AF_INET, buf, ip) == 1 || inet_pton(AF_INET6, buf, ip) == 1 ||
           host_name_eq(buf, n, "localhost", 9) || (n > 10 && !strcasecmp(buf + n - 10, ".localhost")) ||
           allowed_host(s, buf, n);
    }
    if (!ok)
      return s->token[0]
                 ? "this server listens on a loopback address and answers only to Host: localhost or an IP "
                   "address (against DNS rebinding; dlut serve --allow-host NAME adds a name, such as a "
                   "reverse proxy's)"
                 : "this server answers only to Host: localhost or an IP address (against DNS rebinding; "
                   "dlut serve --allow-host NAME adds a name, such as a reverse proxy's, or --token T lifts it)";
  }
  if (strcmp(method, "GET") && strcmp(method, "HEAD") && strcmp(method, "OPTIONS")) {
    /* the browser's own word first: Sec-Fetch-Site (every current browser sends it) says whether the
     * page that sent this is of this server's origin, whatever name a proxy in front passes as Host */
    const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
    if (site) {
      if (!strcasecmp(site, "cross-site") || !strcasecmp(site, "same-site"))
        return "a request from a page of another site (Sec-Fetch-Site) is refused";
      return NULL; /* same-origin, or none (the user's own navigation) */
    }
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin) { /* an older browser: its Origin is http://HOST, HOST as in Host (or an --allow-host name) */
      const char *o = !strncasecmp(origin, "http://", 7)    ? origin + 7
                      : !strncasecmp(origin, "https://", 8) ? origin + 8
                                                            : NULL;
      int same = o && host && !strcasecmp(o, host);
      if (o && !same) { /* a name of --allow-host: the page behind a proxy that passes Host: 127.0.0.1:PORT */
        const char *oh;
        size_t on;
        host_only(o, &oh, &on);
        same = allowed_host(s, oh, on);
      }
      if (!same)
        return "a request from a page of another site (its Origin is not this server) is refused (behind a proxy "
               "that renames the server: dlut serve --allow-host NAME)";
    }
  }
  return NULL;
}

/* Requests whose framing two parsers could read apart (a proxy in front
 * and this server: request smuggling, RFC 9112 6.3 and 11.2), or that
 * HTTP/1.1 forbids: Content-Length given twice with different values, both
 * Content-Length and Transfer-Encoding, HTTP/1.1 without Host (RFC 9112
 * 3.2). NULL when the request is well framed. */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  const char **first = cls;
  (void)kind;
  if (strcasecmp(key, "Content-Length")) return MHD_YES;
  if (!first[0])
    first[0] = value ? value : "";
  else if (strcmp(first[0], value ? value : ""))
    first[1] = "differs";
  return MHD_YES;
}

/* The path of a request target: an absolute-form one (GET http://host/x,
 * which servers must accept: RFC 9112 3.2.2) as its origin-form /x. */
static const char *origin_form(const char *url) {
  const char *p = !strncasecmp(url, "http://", 7) ? url + 7 : !strncasecmp(url, "https://", 8) ? url + 8 : NULL;
  if (!p) return url;
  const char *slash = strchr(p, '/');
  return slash ? slash : "/";
}

static const char *framing_error(struct MHD_Connection *c, const char *version) {
  const char *cl[2] = {NULL, NULL};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, cl);
  if (cl[1]) return "Content-Length given twice with different values";
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  if (cl[0] && te) return "both Content-Length and Transfer-Encoding: send one";
  /* the library reads any other coding as a body that ends with the connection (RFC 9112 6.1: a 400) */
  if (te && strcasecmp(te, "chunked")) return "Transfer-Encoding must be chunked (no other coding is read)";
  if (te && version && !strcmp(version, "HTTP/1.0")) return "Transfer-Encoding is HTTP/1.1";
  if (version && strcmp(version, "HTTP/1.0") && !MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"))
    return "an HTTP/1.1 request needs a Host header";
  return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  srv *s = cls;
  req *r = *con_cls;
  url = origin_form(url);
  if (!r) { /* headers only: decide early what can be decided */
    if (!(r = calloc(1, sizeof *r))) return MHD_NO;
    r->t0 = mono();
    *con_cls = r;
    /* the health check and the page's own files (no data in them: a browser
     * cannot send the token header on a navigation; the page then sends it) */
    const int public_route =
        !strcmp(url, "/healthz") || ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) && srv_asset_find(url));
    /* A refusal decided from the headers (no token, Content-Length over the
     * cap) is answered at once only when the client waits for it (Expect:
     * 100-continue, or no body) or the body is too big to read away: the
     * library closes the connection with the body unread, and a client still
     * sending then meets a reset instead of the answer (RFC 9112 9.6). Else
     * the body is read and dropped, and the answer follows it. */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
    const char *ex = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect");
    unsigned long long declared = 0;
    int bad_length = 0;
    if (cl) {
      char *end;
      errno = 0;
      declared = strtoull(cl, &end, 10);
      bad_length = errno || *end;
    }
    const unsigned long long cap = (unsigned long long)s->o.max_upload_mb << 20;
    const char *bad = framing_error(c, version);
    if (bad) {
      r->answered = 1;
      return (enum MHD_Result)srv_respond_error(c, 400, "bad_request", "%s", bad);
    }
    const char *why = request_guard(s, c, method);
    if (why) {
      r->answered = 1;
      return (enum MHD_Result)srv_respond_error(c, 403, "forbidden", "%s", why);
    }
    if (!public_route && !token_ok(s, c))
      r->refuse = 401;
    else if (bad_length || declared > cap)
      r->refuse = 413;
    if (r->refuse) {
      const int waits = (ex && !strcasecmp(ex, "100-continue")) || (!te && declared == 0);
      if (waits || bad_length || declared > cap + SRV_DRAIN_MAX) {
        r->answered = 1;
        return (enum MHD_Result)refuse(s, c, r->refuse);
      }
      if (r->refuse == 413) r->too_large = 1;
    }
    return MHD_YES;
  }
  if (*upload_size) {                /* a piece of the body */
    if (r->refuse || r->too_large) { /* read away, up to a bound: past it the connection is closed */
      r->dropped += *upload_size;
      if (r->dropped > ((unsigned long long)s->o.max_upload_mb << 20) + SRV_DRAIN_MAX) return MHD_NO;
    }
    if (!r->answered && !r->too_large && !r->refuse) {
      size_t n = *upload_size, limit = (size_t)s->o.max_upload_mb << 20;
      if (r->len + n > limit) {
        r->too_large = 1;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
      } else {
        if (r->len + n + 1 > r->cap) {
          size_t cap = r->cap ? r->cap : 65536;
          while (cap < r->len + n + 1) cap *= 2;
          if (cap > limit + 1) cap = limit + 1;
          uint8_t *nb = realloc(r->body, cap);
          if (!nb) return MHD_NO;
          r->body = nb;
          r->cap = cap;
        }
        memcpy(r->body + r->len, upload, n);
        r->len += n;
      }
    }
    *upload_size = 0;
    return MHD_YES;
  }
  if (r->answered) return MHD_YES;
  if (r->refuse || r->too_large) {
    r->answered = 1;
    return (enum MHD_Result)refuse(s, c, r->refuse ? r->refuse : 413);
  }
  if (r->body) r->body[r->len] = 0;
  srv_request rq = {.conn = c,
                    .method = method,
                    .url = url,
                    .body = r->body ? r->body : (const uint8_t *)"",
                    .body_size = r->len,
                    .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type")};
  int ret = srv_route(s, &rq);
  if (!s->o.quiet) {
    const char *ip = "?";
    char buf[64];
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET)
      ip = inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, buf, sizeof buf);
    else if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET6)
      ip = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, buf, sizeof buf);
    fprintf(stderr, "%s %s %.200s %.1f ms\n", ip ? ip : "?", method, url, (mono() - r->t0) * 1e3);
  }
  return (enum MHD_Result)ret;
}

/* The unescape callback for the path and the query string (MHD's own,
 * MHD_http_unescape, decodes "%00" into a NUL that cuts the string: a
 * request for /v1/jobs/ID%00/look.cube would be routed as /v1/jobs/ID).
 * Percent escapes are decoded as MHD does ('+' is MHD's business before
 * this), but a decoded control character (%00-%1F, %7F) becomes DEL, which
 * srv_route refuses with a 400 wherever it appears. */
static size_t srv_unescape(void *cls, struct MHD_Connection *c, char *s) {
  (void)cls;
  (void)c;
  char *w = s;
  for (const char *p = s; *p; p++) {
    int h1, h2;
    if (*p == '%' && (h1 = hex_digit(p[1])) >= 0 && (h2 = hex_digit(p[2])) >= 0) {
      const unsigned char v = (unsigned char)(h1 * 16 + h2);
      *w++ = v < 0x20 || v == 0x7F ? 0x7F : (char)v;
      p += 2;
    } else {
      *w++ = *p;
    }
  }
  *w = 0;
  return (size_t)(w - s);
}

/* ==== Run ==== */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  srv *s = cls;
  if (s->o.quiet) return;
  fprintf(stderr, "dlut serve (http): ");
  vfprintf(stderr, fmt, ap);
}

/* One server per data folder: an exclusive lock on DATA/dlut.lock, held
 * while the process lives (the kernel drops it when the process ends,
 * however it ends). Two servers on one folder would run each other's jobs
 * and overwrite their results. Returns the descriptor, or -1 with the error
 * set; the lock file holds the owner's pid for the message. */
static int lock_data_dir(const char *dir) {
  char p[4200], pid[32];
  snprintf(p, sizeof p, "%s/dlut.lock", dir);
  int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return dlut_errorc(DLUT_ERR_IO, "cannot open %s: %s", p, strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = 0;
    pid[strcspn(pid, "\n")] = 0;
    close(fd);
    if (e == EWOULDBLOCK)
      return dlut_errorc(DLUT_ERR_INPUT,
                         "the data folder %s is in use by another dlut serve%s%s%s: stop it, or give this one "
                         "its own --data",
                         dir, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
    return dlut_errorc(DLUT_ERR_IO, "cannot lock %s: %s", p, strerror(e));
  }
  int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) { /* the pid is only for the message */
  }
  return fd;
}

/* The listening socket, bound before any job starts so that a port in use
 * stops the server before it touches the queue. SO_REUSEADDR lets a
 * restart bind while old connections linger in TIME_WAIT; SO_REUSEPORT is
 * not set, so a second server on a busy port fails instead of sharing it. */
static int listen_on(const struct sockaddr *addr, socklen_t len, const char *host, int port) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, zero = 0;
  if (fd < 0) return dlut_errorc(DLUT_ERR_IO, "cannot open a socket: %s", strerror(errno));
  /* "::" takes IPv4 clients too (dual stack), whatever the system's default */
  if (addr->sa_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 || bind(fd, addr, len) != 0 ||
      listen(fd, 128) != 0) {
    const int e = errno;
    close(fd);
    return dlut_errorc(DLUT_ERR_IO, "cannot listen on %s port %d: %s%s", host, port, strerror(e),
                       e == EADDRINUSE ? " (another program has this port: pick another with --port, or 0 for "
                                         "any free one)"
                                       : "");
  }
  return fd;
}

/* A loopback address: 127.0.0.0/8 or ::1 (no token needed there). */
/* A loopback address, from the parsed address (127.0.0.0/8, ::1 however
 * written, ::ffff:127.x.y.z): no token needed there. */
static int addr_is_loopback(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET) return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
  const struct in6_addr *x = &((const struct sockaddr_in6 *)a)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(x) || (IN6_IS_ADDR_V4MAPPED(x) && x->s6_addr[12] == 127);
}

int dlut_server_run(const dlut_server_opts *opts) {
  srv *s = calloc(1, sizeof *s);
  struct MHD_Daemon *d = NULL;
  int rc = -1, lock_fd = -1, listen_fd = -1, jobs_started = 0;
  if (!s) return dlut_errorc(DLUT_ERR_NOMEM, "out of memory");
  s->o = *opts;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->changed, NULL);
  pthread_cond_init(&s->work, NULL);
  s->started_at = srv_now();
  const char *tok = opts->token ? opts->token : getenv("DLUT_TOKEN");
  if (tok && strlen(tok) >= sizeof s->token) {
    dlut_errorc(DLUT_ERR_INPUT, "the token is longer than %zu bytes", sizeof s->token - 1);
    goto done;
  }
  snprintf(s->token, sizeof s->token, "%s", tok ? tok : "");
  /* an IPv4 address, or an IPv6 one (:: is every interface, both stacks) */
  const char *host = s->o.host && *s->o.host ? s->o.host : "127.0.0.1";
  struct sockaddr_storage addr;
  socklen_t alen;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
  const int v6 = strchr(host, ':') != NULL;
  if (v6) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)opts->port);
    alen = sizeof *a6;
  } else {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)opts->port);
    alen = sizeof *a4;
  }
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host, v6 ? (void *)&a6->sin6_addr : (void *)&a4->sin_addr) != 1) {
    dlut_errorc(DLUT_ERR_INPUT,
                "--host must be an IP address such as 127.0.0.1, 0.0.0.0 (every interface), ::1 or :: (every "
                "interface, IPv4 and IPv6), not '%s'",
                host);
    goto done;
  }
  /* every interface (or any address but loopback) with no token: anyone who reaches the port runs jobs
   * and reads every result; said on stderr whatever --quiet says */
  const int loopback = addr_is_loopback(&addr);
  /* the Host check (request_guard) where a browser page could reach the server unasked: on loopback,
   * and on any address without a token (a LAN server reached through the user's own browser) */
  s->check_host = loopback || !s->token[0];
  if (!s->token[0] && !loopback)
    fprintf(stderr,
            "dlut serve: warning: listening on %s with no --token (nor $DLUT_TOKEN): anyone who can reach this port "
            "can run jobs and read every result\n",
            host);
  if (s->o.queue_size < 1 || s->o.max_upload_mb < 1 || s->o.max_pixels < 1 || s->o.max_steps < 1 ||
      s->o.max_photos < 1 || s->o.max_photos > DLUT_SERVER_MAX_PHOTOS || !(s->o.keep_hours > 0)) {
    dlut_errorc(DLUT_ERR_INPUT, "server limits must be positive");
    goto done;
  }
  dlut_image_set_max_pixels(s->o.max_pixels);
  /* Jobs allocate the same large buffers over and over (decoded photos,
   * encodes); keeping blocks up to 32 MB in the heap instead of mapping and
   * unmapping them each time saves the page faults of every job. */
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  /* the data folder and the store */
  snprintf(s->data_dir, sizeof s->data_dir, "%s", opts->data_dir);
  char p[4200];
  snprintf(p, sizeof p, "%s/jobs", s->data_dir);
  if (dlut_file_mkdir_p(p, 0755) != 0) {
    dlut_errorc(DLUT_ERR_IO, "cannot create the data folder %s: %s", p, strerror(errno));
    goto done;
  }
  if ((lock_fd = lock_data_dir(s->data_dir)) < 0) goto done;
  snprintf(p, sizeof p, "%s/dlut.db", s->data_dir);
  if (!(s->store = srv_store_open(p))) goto done;

  /* the model, once per process (with a Redis queue the workers have their own) */
  const char *from = "";
  const int remote = s->o.queue_url && *s->o.queue_url;
  if (!remote && (!opts->model_dir || *opts->model_dir))
    dlut_job_find_model(opts->model_dir, "", s->model_path, sizeof s->model_path, &from);
  if (s->model_path[0]) {
    if (!(s->model = dlut_clip_load(s->model_path))) {
      dlut_error_prefix(s->model_path);
      goto done;
    }
  }
  if (s->o.concurrency <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    s->o.concurrency = s->model ? 1 : (int)(n > 0 ? n : 1);
  }
  if (s->model && s->o.concurrency > 1) {
    dlut_errorc(DLUT_ERR_INPUT,
                "with a model, jobs run one at a time per process (--concurrency 1); for more, run "
                "workers (dlut worker) on a Redis queue");
    goto done;
  }
  srv_asset_find("/"); /* builds the asset table before any request thread can */

  if ((listen_fd = listen_on((const struct sockaddr *)&addr, alen, host, opts->port)) < 0) goto done;
  struct sockaddr_storage bound;
  socklen_t bl = sizeof bound;
  int port = opts->port;
  if (getsockname(listen_fd, (struct sockaddr *)&bound, &bl) == 0)
    port = ntohs(v6 ? ((struct sockaddr_in6 *)&bound)->sin6_port : ((struct sockaddr_in *)&bound)->sin_port);
  char url[300];
  snprintf(url, sizeof url, v6 ? "http://[%s]:%d/" : "http://%s:%d/", host, port);
  jobs_started = 1;
  if (srv_jobs_start(s) != 0) goto stop;
  d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                           MHD_USE_POLL | (v6 ? MHD_USE_IPv6 : 0),
                       (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                       MHD_OPTION_UNESCAPE_CALLBACK, srv_unescape, s, MHD_OPTION_LISTEN_SOCKET, listen_fd,
                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                       MHD_OPTION_PER_IP_CONNECTION_LIMIT, 512u, MHD_OPTION_CONNECTION_LIMIT, 2000u, MHD_OPTION_END);
  /* the socket is the daemon's now (MHD_stop_daemon closes it); if the
   * start failed, the library's own clean-up may have closed it already:
   * never close it here, the process is about to end anyway */
  listen_fd = -1;
  if (!d) {
    dlut_errorc(DLUT_ERR_IO, "cannot start the HTTP server on %s:%d", host, port);
    goto stop;
  }
  if (opts->ready_file) { /* an error, not a warning: a script waiting for the file would wait for ever */
    char line[320];
    snprintf(line, sizeof line, "%s\n", url);
    dlut_atomic a;
    if (dlut_atomic_begin(&a, opts->ready_file) != 0) goto stop;
    fputs(line, a.fp);
    if (dlut_atomic_commit(&a) != 0) goto stop;
  }
  if (remote)
    fprintf(stderr, "dlut serve: open %s  (data %s, jobs on %s for 'dlut worker --queue %s'%s)\n", url, s->data_dir,
            s->o.queue_url, s->o.queue_url, s->token[0] ? ", token required" : "");
  else
    fprintf(stderr, "dlut serve: open %s  (data %s, %s, %d worker%s%s)\n", url, s->data_dir,
            s->model ? s->model_path : "no CLIP model: offline looks", s->o.concurrency,
            s->o.concurrency == 1 ? "" : "s", s->token[0] ? ", token required" : "");

  g_stop = 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  double last_janitor = 0;
  /* finished jobs are removed within a quarter of their keeping time (at most a minute late) */
  double every = s->o.keep_hours * 3600.0 / 4;
  if (every > 60) every = 60;
  if (every < 0.5) every = 0.5;
  while (!g_stop) {
    usleep(100000);
    if (srv_now() - last_janitor > every) {
      srv_janitor_run(s);
      last_janitor = srv_now();
    }
  }
  fprintf(stderr, "dlut serve: stopping (queued and running jobs resume on the next start)\n");
  rc = 0;
stop:
  /* workers first: SSE streams see shutdown and end, then the daemon can stop */
  if (jobs_started) srv_jobs_stop(s);
  if (d) MHD_stop_daemon(d);
done:
  if (listen_fd >= 0) close(listen_fd);
  if (s->store) srv_store_close(s->store);
  for (int i = 0; i < s->n_jobs; i++) srv_job_free(s->jobs[i]);
  free(s->jobs);
  free(s->by_id);
  dlut_clip_free(s->model);
  free(s);
  if (lock_fd >= 0) close(lock_fd); /* last: the folder is free once everything in it is closed */
  return rc;
}
