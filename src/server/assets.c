/* The page that `dlut serve` shows at / (web/), embedded in the binary
 * with the assembler's .incbin so the server needs no files beside it. The
 * Makefile rebuilds this file whenever anything in web/ changes. */
#include <string.h>

#include "server/server_internal.h"

/* sym[] .. sym_end[]: the bytes of FILE (paths from the repository root, where make runs) */
#define DLUT_INCBIN(sym, file)                                                                             \
  __asm__(".section .rodata\n.global " #sym "\n.balign 16\n" #sym ":\n.incbin \"" file "\"\n.global " #sym \
          "_end\n" #sym "_end:\n.byte 0\n.previous\n");                                                    \
  extern const unsigned char sym[], sym##_end[]

DLUT_INCBIN(dlut_web_index, "web/index.html");
DLUT_INCBIN(dlut_web_app, "web/app.js");
DLUT_INCBIN(dlut_web_style, "web/style.css");
DLUT_INCBIN(dlut_web_openapi, "web/openapi.json");
DLUT_INCBIN(dlut_web_icon, "web/icon.svg");

const srv_asset *srv_asset_find(const char *path) {
  static srv_asset k_assets[6];
  static int init;
  if (!init) { /* sizes are link-time constants, but not C constant expressions */
    const srv_asset a[] = {
        {"/", "text/html; charset=utf-8", dlut_web_index, (size_t)(dlut_web_index_end - dlut_web_index)},
        {"/index.html", "text/html; charset=utf-8", dlut_web_index, (size_t)(dlut_web_index_end - dlut_web_index)},
        {"/app.js", "text/javascript; charset=utf-8", dlut_web_app, (size_t)(dlut_web_app_end - dlut_web_app)},
        {"/style.css", "text/css; charset=utf-8", dlut_web_style, (size_t)(dlut_web_style_end - dlut_web_style)},
        {"/openapi.json", "application/json; charset=utf-8", dlut_web_openapi,
         (size_t)(dlut_web_openapi_end - dlut_web_openapi)},
        {"/icon.svg", "image/svg+xml", dlut_web_icon, (size_t)(dlut_web_icon_end - dlut_web_icon)},
    };
    memcpy(k_assets, a, sizeof a);
    init = 1;
  }
  for (size_t i = 0; i < sizeof k_assets / sizeof *k_assets; i++)
    if (k_assets[i].path && !strcmp(k_assets[i].path, path)) return &k_assets[i];
  return NULL;
}
