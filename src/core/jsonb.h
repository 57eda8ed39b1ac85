/* A JSON builder that remembers failure. cJSON's Add and Create calls
 * return NULL when an allocation fails and the document goes on without
 * the member, so a report or a queued job's options could lose a field
 * and still be written. Every call here takes the builder, does nothing
 * once its parent is missing, and marks the builder failed; jsonb_print
 * then gives NULL instead of an incomplete document.
 *
 *   jsonb b = {0};
 *   cJSON *root = jsonb_root(&b);
 *   jsonb_str(&b, root, "prompt", p);
 *   cJSON *set = jsonb_obj(&b, root, "settings");
 *   jsonb_num(&b, set, "lut_size", 33);
 *   char *text = jsonb_print(&b, root, 1);   // NULL: out of memory
 *
 * A NULL key adds to an array. Strings must not be NULL (pass ""). */
#ifndef DLUT_CORE_JSONB_H
#define DLUT_CORE_JSONB_H

#include <cjson/cJSON.h>

typedef struct {
  int failed;
} jsonb;

cJSON *jsonb_root(jsonb *b);       /* a new object (NULL and failed when out of memory) */
cJSON *jsonb_root_array(jsonb *b); /* a new array */
/* Adds item (ownership passes, also on failure) to parent under key, or to
 * the array parent when key is NULL. Returns item, or NULL when it failed. */
cJSON *jsonb_add(jsonb *b, cJSON *parent, const char *key, cJSON *item);
cJSON *jsonb_obj(jsonb *b, cJSON *parent, const char *key);
cJSON *jsonb_arr(jsonb *b, cJSON *parent, const char *key);
cJSON *jsonb_str(jsonb *b, cJSON *parent, const char *key, const char *s);
cJSON *jsonb_num(jsonb *b, cJSON *parent, const char *key, double v);
cJSON *jsonb_num_or_null(jsonb *b, cJSON *parent, const char *key, double v); /* null when not finite */
cJSON *jsonb_bool(jsonb *b, cJSON *parent, const char *key, int v);
cJSON *jsonb_null(jsonb *b, cJSON *parent, const char *key);
/* The text of root (formatted or compact), root deleted; NULL when any
 * step failed or printing ran out of memory. */
char *jsonb_print(jsonb *b, cJSON *root, int formatted);

#endif
