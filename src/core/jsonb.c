/* The failure-remembering JSON builder: see jsonb.h. */
#include "core/jsonb.h"

#include <math.h>

static cJSON *mark(jsonb *b, cJSON *item) {
  if (!item) b->failed = 1;
  return item;
}

cJSON *jsonb_root(jsonb *b) {
  return mark(b, cJSON_CreateObject());
}

cJSON *jsonb_root_array(jsonb *b) {
  return mark(b, cJSON_CreateArray());
}

cJSON *jsonb_add(jsonb *b, cJSON *parent, const char *key, cJSON *item) {
  if (!parent || !item) {
    cJSON_Delete(item);
    b->failed = 1;
    return NULL;
  }
  if (!(key ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item))) {
    cJSON_Delete(item);
    b->failed = 1;
    return NULL;
  }
  return item;
}

cJSON *jsonb_obj(jsonb *b, cJSON *parent, const char *key) {
  return parent ? jsonb_add(b, parent, key, cJSON_CreateObject()) : mark(b, NULL);
}

cJSON *jsonb_arr(jsonb *b, cJSON *parent, const char *key) {
  return parent ? jsonb_add(b, parent, key, cJSON_CreateArray()) : mark(b, NULL);
}

cJSON *jsonb_str(jsonb *b, cJSON *parent, const char *key, const char *s) {
  return parent && s ? jsonb_add(b, parent, key, cJSON_CreateString(s)) : mark(b, NULL);
}

cJSON *jsonb_num(jsonb *b, cJSON *parent, const char *key, double v) {
  return parent ? jsonb_add(b, parent, key, cJSON_CreateNumber(v)) : mark(b, NULL);
}

cJSON *jsonb_num_or_null(jsonb *b, cJSON *parent, const char *key, double v) {
  return isfinite(v) ? jsonb_num(b, parent, key, v) : jsonb_null(b, parent, key);
}

cJSON *jsonb_bool(jsonb *b, cJSON *parent, const char *key, int v) {
  return parent ? jsonb_add(b, parent, key, cJSON_CreateBool(v != 0)) : mark(b, NULL);
}

cJSON *jsonb_null(jsonb *b, cJSON *parent, const char *key) {
  return parent ? jsonb_add(b, parent, key, cJSON_CreateNull()) : mark(b, NULL);
}

char *jsonb_print(jsonb *b, cJSON *root, int formatted) {
  char *text = NULL;
  if (root && !b->failed) text = formatted ? cJSON_Print(root) : cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  if (!text) b->failed = 1;
  return text;
}
