/* server/form.h - request bodies and query strings as name/value parts.
 *
 * multipart/form-data (RFC 7578), application/x-www-form-urlencoded, query
 * strings, and flat JSON objects all become the same list of parts, so a
 * route reads "prompt" or "photo" the same way whatever the client sent.
 * Every input is hostile: sizes are capped, a malformed body is an error
 * (DLUT_ERR_INPUT, with a message that says what is wrong), never a crash.
 * Parts point into the body (multipart) or into the form's own arena
 * (decoded text), so the body must outlive the form. fuzz/fuzz_form.c
 * fuzzes all of it.
 */
#ifndef DLUT_SERVER_FORM_H
#define DLUT_SERVER_FORM_H

#include <stddef.h>
#include <stdint.h>

#define SRV_FORM_MAX_PARTS 128 /* a set of up to 64 photos, 8 masks with their prompts, the options */
#define SRV_FORM_MAX_NAME 64
#define SRV_FORM_MAX_HEADER 8192 /* bytes of headers per multipart part */

typedef struct srv_form_part {
  char name[SRV_FORM_MAX_NAME]; /* field name */
  char filename[256];           /* multipart filename="" ("" for plain fields) */
  char content_type[128];       /* multipart Content-Type ("" if none) */
  const uint8_t *data;          /* value bytes (NUL-terminated for text fields decoded into the arena) */
  size_t size;                  /* value length */
  int is_file;                  /* a multipart part with a filename */
} srv_form_part;

typedef struct srv_form {
  int n;
  srv_form_part parts[SRV_FORM_MAX_PARTS];
  char *arena; /* decoded values (owned) */
  size_t arena_used, arena_cap;
} srv_form;

void srv_form_init(srv_form *f);
void srv_form_free(srv_form *f);

/* Parse a body by its Content-Type (multipart/form-data, urlencoded,
 * application/json; NULL or empty = urlencoded). 0 or -1. */
int srv_form_parse(srv_form *f, const uint8_t *body, size_t n, const char *content_type);
int srv_form_parse_multipart(srv_form *f, const uint8_t *body, size_t n, const char *content_type);
int srv_form_parse_urlencoded(srv_form *f, const char *s, size_t n);
int srv_form_parse_json(srv_form *f, const char *s, size_t n);

/* The first part of that name, or NULL. */
const srv_form_part *srv_form_get(const srv_form *f, const char *name);
/* Its value as a NUL-terminated string (text fields only; NULL if absent,
 * a file, or holding a NUL byte). */
const char *srv_form_text(srv_form *f, const char *name);

/* What a route accepts of one field name, for srv_form_check. A field
 * without SRV_FORM_TEXT may be a file or text: the route judges its
 * content (a photo sent as text is "not a JPEG, PNG ..." image, 415). */
enum {
  SRV_FORM_TEXT = 1,   /* text only: not a multipart file part, no NUL byte */
  SRV_FORM_REPEAT = 2, /* may be given more than once (a set's photos, the masks and their prompts) */
};
typedef struct srv_form_rule {
  const char *name; /* field name; NULL ends a table */
  unsigned flags;   /* SRV_FORM_TEXT | SRV_FORM_REPEAT, or 0: once, a file or text */
  const char *hint; /* NULL, or text added to "field 'NAME' must be text" (" (\"WHERE=PROMPT\", one per line)") */
} srv_form_rule;

/* Refuse (DLUT_ERR_INPUT, naming the field) a part whose name has no rule
 * in `rules` and is not accepted by `text_once` (a job's options; NULL for
 * none), a name given twice unless SRV_FORM_REPEAT, and a text field
 * (SRV_FORM_TEXT, or a `text_once` name) that is a file or holds a NUL
 * byte. The messages every POST route answers with: "unknown field 'X'
 * (see /v1/openapi.json)", "field 'X' given twice", "field 'X' must be
 * text". 0 or -1. */
int srv_form_check(const srv_form *f, const srv_form_rule *rules, int (*text_once)(const char *name));

#endif
